//! Message-callback crypto against `tests/data/wechat-test-vectors.json` plus negative cases.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are the failure report

mod common;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{s, vectors};
use cove_wechat::msgcrypt::{self, MsgCrypt};
use cove_wechat::xml::{parse_inbound, Inbound};
use cove_wechat::{wxa, Error, XmlError};
use serde_json::Value;

fn mc(name: &str) -> Value {
    vectors()["msgcrypt"][name].clone()
}

fn crypt(v: &Value) -> MsgCrypt {
    MsgCrypt::new(s(v, "token"), s(v, "encoding_aes_key"), s(v, "receiveid")).unwrap()
}

fn random16(v: &Value) -> [u8; 16] {
    s(v, "random").as_bytes().try_into().unwrap()
}

#[test]
fn a1_a2_encrypt_with_fixed_random_matches_official_sample() {
    for name in ["A1_encrypt", "A2_encrypt"] {
        let v = mc(name);
        let c = crypt(&v);
        let enc = c
            .encrypt_with_random(s(&v, "msg").as_bytes(), &random16(&v))
            .unwrap();
        assert_eq!(enc, s(&v, "encrypt"), "{name}");
        assert_eq!(c.decrypt(&enc).unwrap(), s(&v, "msg"), "{name} round trip");
    }
}

#[test]
fn b_wecom_url_verification_returns_plain_echostr() {
    let v = mc("B_wecom_verify_url");
    let plain = crypt(&v)
        .verify_url(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            s(&v, "echostr"),
        )
        .unwrap();
    assert_eq!(plain, s(&v, "expect_plain"));
}

#[test]
fn b2_wecom_decrypts_worked_example() {
    let v = mc("B2_wecom_decrypt");
    let body = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>",
        s(&v, "receiveid"),
        s(&v, "encrypt")
    );
    let c = crypt(&v);
    let env = c.parse_envelope(&body).unwrap();
    assert_eq!(env.agent_id.as_deref(), Some("218"));
    let plain = c
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &body,
        )
        .unwrap();
    assert_eq!(plain, s(&v, "expect_plain"));
    // Same payload through the WeCom JSON envelope.
    let json = serde_json::json!({"tousername": s(&v, "receiveid"), "encrypt": s(&v, "encrypt"), "agentid": 218}).to_string();
    let plain_json = c
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &json,
        )
        .unwrap();
    assert_eq!(plain_json, s(&v, "expect_plain"));
    assert_eq!(
        c.parse_envelope(&json).unwrap().agent_id.as_deref(),
        Some("218")
    );
}

#[test]
fn c_oa_compat_mode_body_decrypts_to_its_plaintext_fields() {
    let v = mc("C_oa_decrypt_compat_mode");
    let expect = s(&v, "expect_plain");
    let body = expect.replace(
        "</xml>",
        &format!(
            "<Encrypt><![CDATA[{}]]></Encrypt>\n</xml>",
            s(&v, "encrypt")
        ),
    );
    let plain = crypt(&v)
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &body,
        )
        .unwrap();
    assert_eq!(plain, expect);
    match parse_inbound(&plain).unwrap() {
        Inbound::Text {
            content, msg_id, ..
        } => {
            assert_eq!(content, "abcdteT");
            assert_eq!(msg_id.as_deref(), Some("6054768590064713728"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn d_oa_decrypt_verifies_and_yields_a_message_for_the_account() {
    let v = mc("D_oa_decrypt");
    let body = format!(
        "<xml><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        s(&v, "encrypt")
    );
    let plain = crypt(&v)
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &body,
        )
        .unwrap();
    let inbound = parse_inbound(&plain).unwrap();
    assert!(inbound.header().create_time > 1_400_000_000, "{plain}");
    assert!(!inbound.header().from_user_name.is_empty(), "{plain}");
}

#[test]
fn e_open_platform_push_with_pad_22() {
    let v = mc("E_component_push_decrypt");
    msgcrypt::verify_oa_signature(
        s(&v, "token"),
        s(&v, "url_signature"),
        s(&v, "timestamp"),
        s(&v, "nonce"),
    )
    .unwrap();
    let c = crypt(&v);
    c.verify_msg_signature(
        s(&v, "msg_signature"),
        s(&v, "timestamp"),
        s(&v, "nonce"),
        s(&v, "encrypt"),
    )
    .unwrap();
    let plain = c.decrypt(s(&v, "encrypt")).unwrap();
    assert_eq!(plain.len(), 292);
    // Independently confirm the pad byte really is 22 (> 16).
    let key = msgcrypt::decode_encoding_aes_key(s(&v, "encoding_aes_key")).unwrap();
    let mut raw = STANDARD.decode(s(&v, "encrypt")).unwrap();
    let dec = cbc::Decryptor::<aes::Aes256>::new((&key).into(), key[..16].into())
        .decrypt_padded_mut::<NoPadding>(&mut raw)
        .unwrap();
    assert_eq!(*dec.last().unwrap(), 22);
}

#[test]
fn e2_reply_encrypted_with_fixed_random_and_signed() {
    let v = mc("E2_component_reply_encrypt");
    let c = crypt(&v);
    let enc = c
        .encrypt_with_random(s(&v, "msg").as_bytes(), &random16(&v))
        .unwrap();
    assert_eq!(enc, s(&v, "encrypt"));
    assert_eq!(
        c.msg_signature(s(&v, "timestamp"), s(&v, "nonce"), &enc),
        s(&v, "msg_signature")
    );
    let envelope = c.reply_envelope(&enc, s(&v, "timestamp"), s(&v, "nonce"));
    assert_eq!(
        envelope,
        format!(
            "<xml>\n<Encrypt><![CDATA[{}]]></Encrypt>\n<MsgSignature><![CDATA[{}]]></MsgSignature>\n<TimeStamp>{}</TimeStamp>\n<Nonce><![CDATA[{}]]></Nonce>\n</xml>",
            s(&v, "encrypt"),
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce")
        )
    );
}

#[test]
fn w1_echostr_check_and_negative_nonce() {
    let v = mc("W1_wechatpy_check_signature");
    let c = crypt(&v);
    let plain = c
        .verify_url(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            s(&v, "echostr"),
        )
        .unwrap();
    assert_eq!(plain, s(&v, "expect_plain"));
    let bad_nonce = s(&v["negative"], "nonce");
    let err = c
        .verify_url(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            bad_nonce,
            s(&v, "echostr"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::ValidateSignature));
    assert_eq!(err.code(), Some(-40001));
}

#[test]
fn w2_encrypt_matches_wechatpy() {
    let v = mc("W2_wechatpy_encrypt");
    let c = crypt(&v);
    let enc = c
        .encrypt_with_random(s(&v, "msg").as_bytes(), &random16(&v))
        .unwrap();
    assert_eq!(enc, s(&v, "encrypt"));
    assert_eq!(
        c.msg_signature(s(&v, "timestamp"), s(&v, "nonce"), &enc),
        s(&v, "msg_signature")
    );
}

#[test]
fn w3_decrypt_matches_wechatpy() {
    let v = mc("W3_wechatpy_decrypt");
    let body = format!(
        "<xml><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        s(&v, "encrypt")
    );
    let plain = crypt(&v)
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &body,
        )
        .unwrap();
    let inbound = parse_inbound(&plain).unwrap();
    assert_eq!(inbound.header().msg_type, "text", "{plain}");
}

#[test]
fn p_and_n_plain_signatures() {
    let p = mc("P_plain_url_signature");
    assert_eq!(
        msgcrypt::sorted_sha1(&[s(&p, "token"), s(&p, "timestamp"), s(&p, "nonce")]),
        s(&p, "signature")
    );
    assert_eq!(
        msgcrypt::verify_oa_url(
            s(&p, "token"),
            s(&p, "signature"),
            s(&p, "timestamp"),
            s(&p, "nonce"),
            "echo"
        )
        .unwrap(),
        "echo"
    );
    let n = mc("N_node_webot_signature");
    assert_eq!(
        msgcrypt::sorted_sha1(&[
            s(&n, "token"),
            s(&n, "timestamp"),
            s(&n, "nonce"),
            s(&n, "encrypt")
        ]),
        s(&n, "signature")
    );
}

#[test]
fn wxa_encrypted_data_decrypts_and_checks_watermark() {
    let v = vectors()["wxa_encrypted_data"].clone();
    let out = wxa::decrypt_user_data(
        s(&v, "appid"),
        s(&v, "session_key"),
        s(&v, "iv"),
        s(&v, "encrypted_data"),
    )
    .unwrap();
    assert_eq!(out["openId"], s(&v, "expect_openId"));
    assert_eq!(out["watermark"]["appid"], s(&v, "expect_watermark_appid"));
    let err = wxa::decrypt_user_data(
        "wx_other",
        s(&v, "session_key"),
        s(&v, "iv"),
        s(&v, "encrypted_data"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::WatermarkMismatch { .. }));
}

// ---------- negative cases ----------

fn w3() -> (Value, MsgCrypt) {
    let v = mc("W3_wechatpy_decrypt");
    let c = crypt(&v);
    (v, c)
}

/// Encrypts `plain` (already a multiple of 16 bytes) with the account's key and no padding.
fn raw_encrypt(v: &Value, plain: &[u8]) -> String {
    let key = msgcrypt::decode_encoding_aes_key(s(v, "encoding_aes_key")).unwrap();
    let mut buf = plain.to_vec();
    let len = buf.len();
    let out = cbc::Encryptor::<aes::Aes256>::new((&key).into(), key[..16].into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .unwrap();
    STANDARD.encode(out)
}

fn plaintext(msg: &[u8], receive_id: &str) -> Vec<u8> {
    let mut p = b"0123456789abcdef".to_vec();
    p.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    p.extend_from_slice(msg);
    p.extend_from_slice(receive_id.as_bytes());
    p
}

#[test]
fn forged_signature_is_rejected_before_decryption() {
    let (v, c) = w3();
    let body = format!(
        "<xml><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        s(&v, "encrypt")
    );
    let mut forged = s(&v, "msg_signature").to_owned();
    forged.replace_range(0..1, if forged.starts_with('0') { "1" } else { "0" });
    let err = c
        .decrypt_message(&forged, s(&v, "timestamp"), s(&v, "nonce"), &body)
        .unwrap_err();
    assert!(matches!(err, Error::ValidateSignature), "{err}");
    // A signature over a different Encrypt (tampered body) also fails.
    let tampered = body.replace(&s(&v, "encrypt")[..4], "AAAA");
    let err = c
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &tampered,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ValidateSignature), "{err}");
}

#[test]
fn wrong_receive_id_is_rejected_with_40005() {
    let v = mc("W3_wechatpy_decrypt");
    let other =
        MsgCrypt::new(s(&v, "token"), s(&v, "encoding_aes_key"), "wx_someone_else").unwrap();
    let err = other.decrypt(s(&v, "encrypt")).unwrap_err();
    assert!(
        matches!(err, Error::ValidateReceiveId { ref found, .. } if found == s(&v, "receiveid"))
    );
    assert_eq!(err.code(), Some(-40005));
    // decrypt_unchecked reports the id instead.
    assert_eq!(
        other
            .decrypt_unchecked(s(&v, "encrypt"))
            .unwrap()
            .receive_id,
        s(&v, "receiveid")
    );
}

#[test]
fn bad_padding_is_rejected() {
    let (v, c) = w3();
    // Grows the message until the plaintext plus `extra` pad bytes fills whole 32-byte blocks.
    let to_block = |extra: usize| -> Vec<u8> {
        let mut msg = b"<xml/>".to_vec();
        loop {
            let p = plaintext(&msg, s(&v, "receiveid"));
            if (p.len() + extra) % 32 == 0 {
                return p;
            }
            msg.push(b' ');
        }
    };
    // pad byte 0
    let mut zero = to_block(16);
    zero.extend_from_slice(&[0u8; 16]);
    // pad byte 33 (> 32)
    let mut big = to_block(0);
    big.extend_from_slice(&[33u8; 32]);
    // inconsistent pad bytes: last byte says 8, one of the 8 differs
    let mut mixed = to_block(16);
    mixed.extend_from_slice(&[9, 9, 9, 9, 9, 9, 9, 9, 8, 8, 8, 7, 8, 8, 8, 8]);
    for (name, p) in [("zero", zero), ("over 32", big), ("inconsistent", mixed)] {
        let err = c.decrypt(&raw_encrypt(&v, &p)).unwrap_err();
        assert!(matches!(err, Error::BadPadding(_)), "{name}: {err}");
        assert_eq!(err.code(), Some(-40007), "{name}");
    }
    // A valid pad of 32 (a whole extra block) is accepted.
    let mut full = to_block(0);
    full.extend_from_slice(&[32u8; 32]);
    assert_eq!(
        c.decrypt(&raw_encrypt(&v, &full)).unwrap().trim_end(),
        "<xml/>"
    );
}

#[test]
fn truncated_or_malformed_ciphertext_is_rejected() {
    let (v, c) = w3();
    let mut raw = STANDARD.decode(s(&v, "encrypt")).unwrap();
    raw.truncate(raw.len() - 5);
    let err = c.decrypt(&STANDARD.encode(&raw)).unwrap_err();
    assert!(matches!(err, Error::DecryptAes(_)), "{err}");
    raw.truncate(raw.len() - (raw.len() % 16) - 16);
    // whole blocks but the padding/last block is gone
    let err = c.decrypt(&STANDARD.encode(&raw)).unwrap_err();
    assert!(
        matches!(err, Error::BadPadding(_) | Error::IllegalBuffer(_)),
        "{err}"
    );
    assert!(matches!(c.decrypt("").unwrap_err(), Error::DecryptAes(_)));
    let err = c.decrypt("not base64!").unwrap_err();
    assert!(matches!(err, Error::DecodeBase64));
    assert_eq!(err.code(), Some(-40010));
    // A length prefix larger than the plaintext.
    let mut p = b"0123456789abcdef".to_vec();
    p.extend_from_slice(&1000u32.to_be_bytes());
    p.extend_from_slice(b"short");
    let pad = 32 - p.len() % 32;
    p.extend(std::iter::repeat_n(u8::try_from(pad).unwrap(), pad));
    let err = c.decrypt(&raw_encrypt(&v, &p)).unwrap_err();
    assert!(matches!(err, Error::IllegalBuffer(_)), "{err}");
    assert_eq!(err.code(), Some(-40008));
}

#[test]
fn illegal_key_is_rejected_with_40004() {
    let err = MsgCrypt::new("t", "tooshort", "wx").unwrap_err();
    assert_eq!(err.code(), Some(-40004));
}

#[test]
fn oversized_and_doctype_envelopes_are_rejected() {
    let (v, c) = w3();
    let huge = format!(
        "<xml><Encrypt><![CDATA[{}]]></Encrypt><Pad>{}</Pad></xml>",
        s(&v, "encrypt"),
        "a".repeat(cove_wechat::xml::DEFAULT_MAX_BYTES)
    );
    let err = c
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &huge,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::ParseXml(XmlError::TooLarge { .. })),
        "{err}"
    );
    assert_eq!(err.code(), Some(-40002));

    let doctype = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><xml><Encrypt>{}</Encrypt><X>&xxe;</X></xml>",
        s(&v, "encrypt")
    );
    let err = c
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &doctype,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ParseXml(XmlError::Doctype)), "{err}");

    let entity = format!(
        "<xml><Encrypt>{}</Encrypt><X>&xxe;</X></xml>",
        s(&v, "encrypt")
    );
    let err = c
        .decrypt_message(
            s(&v, "msg_signature"),
            s(&v, "timestamp"),
            s(&v, "nonce"),
            &entity,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::ParseXml(XmlError::Entity(ref e)) if e == "&xxe;"),
        "{err}"
    );

    let missing = "<xml><ToUserName>gh</ToUserName></xml>";
    let err = c.parse_envelope(missing).unwrap_err();
    assert!(
        matches!(err, Error::ParseXml(XmlError::MissingField("Encrypt"))),
        "{err}"
    );
}

#[test]
fn json_reply_envelope_round_trips() {
    let (v, c) = w3();
    let reply = c
        .encrypt_reply_json("<xml>ok</xml>", "1411525903", "n")
        .unwrap();
    let value: Value = serde_json::from_str(&reply).unwrap();
    let enc = value["encrypt"].as_str().unwrap();
    assert_eq!(
        value["msgsignature"],
        c.msg_signature("1411525903", "n", enc)
    );
    assert_eq!(c.decrypt(enc).unwrap(), "<xml>ok</xml>");
    assert_eq!(c.receive_id(), s(&v, "receiveid"));
}
