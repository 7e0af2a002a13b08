//! Callback parsing as Cove's WeChat endpoints run it, on arbitrary bytes.
//!
//! Every input goes through each stage: the hardened XML parser, typed messages and events,
//! the XML / JSON envelope with signature check and decryption, the padding and layout of the
//! decrypted buffer, and an encrypt → decrypt round trip of the input as the message. Nothing
//! may panic, and whatever is accepted must agree with the other stages and with a plain
//! model of the format.
#![no_main]

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cove_wechat::msgcrypt::{decode_encoding_aes_key, sorted_sha1, Decrypted, MsgCrypt};
use cove_wechat::qr::scene_from_event_key;
use cove_wechat::xml::{self, parse_inbound, Element, Inbound};
use cove_wechat::{Error, XmlError};
use libfuzzer_sys::fuzz_target;

// The official sample account (test vector A): the seeds' ciphertexts decrypt under it.
const TOKEN: &str = "pamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const RECEIVE_ID: &str = "wxb11529c136998cb6";
const TIMESTAMP: &str = "1409304348";
const NONCE: &str = "xxxxxx";
const RANDOM: [u8; 16] = *b"aaaabbbbccccdddd";

fuzz_target!(|data: &[u8]| {
    let crypt = MsgCrypt::new(TOKEN, AES_KEY, RECEIVE_ID).expect("the sample key is valid");
    let body = String::from_utf8_lossy(data);
    xml_tree(&body);
    typed(&body);
    query_signature(&body);
    envelope(&crypt, &body);
    encrypt_value(&crypt, &body);
    round_trip(&crypt, data);
    plaintext_layout(&crypt, data);
});

/// The element tree respects the limits and survives writing out and parsing again; a DOCTYPE
/// or an unknown entity added to an accepted document gets it refused.
fn xml_tree(body: &str) {
    let Ok(doc) = xml::parse(body) else { return };
    assert!(depth(&doc) <= xml::MAX_DEPTH, "nesting beyond the limit");
    assert!(
        count(&doc) <= xml::MAX_ELEMENTS,
        "more elements than allowed"
    );
    if !names_are_plain(&doc) || count(&doc) >= xml::MAX_ELEMENTS {
        return;
    }
    let written = write(&doc);
    if written.len() + 100 > xml::DEFAULT_MAX_BYTES {
        return; // written out longer than the size limit
    }
    let again = xml::parse(&written).unwrap_or_else(|e| panic!("{written:?} refused: {e}"));
    assert_eq!(again, normalized(&doc), "tree changed through {written:?}");
    let doctype = format!("<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{written}");
    assert!(matches!(
        xml::parse(&doctype),
        Err(Error::ParseXml(XmlError::Doctype))
    ));
    // An entity reference other than the predefined ones, in a new last child.
    let closing = format!("</{}>", doc.name);
    let open = written
        .strip_suffix(&closing)
        .expect("written with its end tag");
    let written = format!("{open}<Injected>&xxe;</Injected>{closing}");
    assert!(matches!(
        xml::parse(&written),
        Err(Error::ParseXml(XmlError::Entity(_)))
    ));
}

/// A typed message agrees with the element tree it came from.
fn typed(body: &str) {
    let doc = xml::parse(body);
    let msg = parse_inbound(body);
    let (doc, msg) = match (doc, msg) {
        (Ok(doc), Ok(msg)) => (doc, msg),
        (Ok(doc), Err(e)) => {
            let create_time = doc.text("CreateTime").unwrap_or_default().trim();
            assert!(create_time.parse::<i64>().is_err(), "refused: {e}");
            return;
        }
        (Err(a), Err(b)) => return assert_eq!(a.to_string(), b.to_string()),
        (Err(e), Ok(msg)) => panic!("the tree was refused ({e}) but the message parsed: {msg:?}"),
    };
    let header = msg.header();
    assert_eq!(
        header.to_user_name,
        doc.text("ToUserName").unwrap_or_default()
    );
    assert_eq!(
        header.from_user_name,
        doc.text("FromUserName").unwrap_or_default()
    );
    assert_eq!(header.msg_type, doc.text("MsgType").unwrap_or_default());
    match &msg {
        Inbound::Text { content, .. } => assert_eq!(Some(content.as_str()), doc.text("Content")),
        Inbound::Subscribe {
            scene, event_key, ..
        } => {
            assert_eq!(
                *scene,
                scene_from_event_key("subscribe", event_key.as_deref())
            );
        }
        Inbound::Scan { scene, .. } => {
            assert_eq!(
                Some(scene.clone()),
                scene_from_event_key("SCAN", Some(scene))
            );
        }
        _ => {}
    }
    // The same document written out again reads as the same message.
    if names_are_plain(&doc) && normalized(&doc) == doc {
        let written = write(&doc);
        if written.len() <= xml::DEFAULT_MAX_BYTES {
            let again = parse_inbound(&written).expect("a written document parses");
            assert_eq!(format!("{again:?}"), format!("{msg:?}"));
        }
    }
}

/// The query-string signatures: the right one passes (in any case, with blanks), others fail.
fn query_signature(body: &str) {
    let mut parts = body.splitn(3, '\n');
    let (given, timestamp, nonce) = match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => return,
    };
    let expected = sorted_sha1(&[TOKEN, timestamp, nonce]);
    let padded = format!(" {}\t", expected.to_ascii_uppercase());
    assert!(cove_wechat::msgcrypt::verify_oa_signature(TOKEN, &padded, timestamp, nonce).is_ok());
    let echo = cove_wechat::msgcrypt::verify_oa_url(TOKEN, &expected, timestamp, nonce, given);
    assert_eq!(echo.ok(), Some(given));
    let verdict = cove_wechat::msgcrypt::verify_oa_signature(TOKEN, given, timestamp, nonce);
    assert_eq!(
        verdict.is_ok(),
        given.trim().eq_ignore_ascii_case(&expected)
    );
}

/// An accepted envelope decrypts the same whether reached through the callback entry point, the
/// WeCom URL check or directly; a wrong signature is refused before decryption.
fn envelope(crypt: &MsgCrypt, body: &str) {
    let Ok(envelope) = crypt.parse_envelope(body) else {
        return;
    };
    assert!(!envelope.encrypt.is_empty());
    if body.trim_start().starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(body).expect("accepted as JSON");
        let encrypt = match &json["encrypt"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(envelope.encrypt, encrypt);
    }
    let sig = crypt.msg_signature(TIMESTAMP, NONCE, &envelope.encrypt);
    let direct = outcome(crypt.decrypt(&envelope.encrypt));
    let via_body = outcome(crypt.decrypt_message(&sig, TIMESTAMP, NONCE, body));
    assert_eq!(via_body, direct);
    let via_url = outcome(crypt.verify_url(
        &sig.to_ascii_uppercase(),
        TIMESTAMP,
        NONCE,
        &envelope.encrypt,
    ));
    assert_eq!(via_url, direct);
    let wrong = crypt.msg_signature(TIMESTAMP, "another nonce", &envelope.encrypt);
    let refused = crypt.decrypt_message(&wrong, TIMESTAMP, NONCE, body);
    assert!(matches!(refused, Err(Error::ValidateSignature)));
}

/// A decryptable `Encrypt` value is the canonical encryption of what it decrypts to.
fn encrypt_value(crypt: &MsgCrypt, body: &str) {
    let unchecked = crypt.decrypt_unchecked(body);
    let checked = crypt.decrypt(body);
    let Ok(found) = unchecked else {
        assert!(checked.is_err());
        return;
    };
    match checked {
        Ok(message) => {
            assert_eq!(found.receive_id, RECEIVE_ID);
            assert_eq!(message, found.message);
        }
        Err(e) => {
            assert_ne!(found.receive_id, RECEIVE_ID);
            assert!(matches!(e, Error::ValidateReceiveId { .. }));
        }
    }
    let same_account = MsgCrypt::new(TOKEN, AES_KEY, &found.receive_id).expect("valid key");
    let again = same_account
        .encrypt_with_random(found.message.as_bytes(), &found.random)
        .expect("encrypts");
    assert_eq!(again, body.trim());
}

/// The input as the message: it comes back through every envelope form, or is refused as not
/// UTF-8.
fn round_trip(crypt: &MsgCrypt, data: &[u8]) {
    let encrypt = crypt.encrypt_with_random(data, &RANDOM).expect("encrypts");
    let decrypted = crypt.decrypt_unchecked(&encrypt);
    let Ok(msg) = std::str::from_utf8(data) else {
        assert!(matches!(decrypted, Err(Error::IllegalBuffer(_))));
        return;
    };
    assert_eq!(
        decrypted.ok(),
        Some(Decrypted {
            random: RANDOM,
            message: msg.to_owned(),
            receive_id: RECEIVE_ID.to_owned(),
        })
    );
    if encrypt.len() + 200 > xml::DEFAULT_MAX_BYTES {
        return; // the envelopes would be refused as too large
    }
    let sig = crypt.msg_signature(TIMESTAMP, NONCE, &encrypt);
    let xml_form = crypt.reply_envelope(&encrypt, TIMESTAMP, NONCE);
    assert_eq!(
        outcome(crypt.decrypt_message(&sig, TIMESTAMP, NONCE, &xml_form)),
        Ok(msg.to_owned())
    );
    let json_form =
        serde_json::json!({ "tousername": RECEIVE_ID, "agentid": 1000002, "encrypt": encrypt })
            .to_string();
    let envelope = crypt.parse_envelope(&json_form).expect("JSON envelope");
    assert_eq!(envelope.agent_id.as_deref(), Some("1000002"));
    assert_eq!(
        outcome(crypt.decrypt_message(&sig, TIMESTAMP, NONCE, &json_form)),
        Ok(msg.to_owned())
    );
    let reply: serde_json::Value = serde_json::from_str(
        &crypt
            .encrypt_reply_json(msg, TIMESTAMP, NONCE)
            .expect("encrypts"),
    )
    .expect("a JSON reply");
    let reply_sig = reply["msgsignature"].as_str().expect("msgsignature");
    let reply_body = reply.to_string();
    assert_eq!(
        outcome(crypt.decrypt_message(reply_sig, TIMESTAMP, NONCE, &reply_body)),
        Ok(msg.to_owned())
    );
}

/// The input as the decrypted buffer itself: padding and layout are read as the format says.
fn plaintext_layout(crypt: &MsgCrypt, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut plain = data.to_vec();
    plain.resize(data.len().div_ceil(16) * 16, 0);
    let key = decode_encoding_aes_key(AES_KEY).expect("valid key");
    let len = plain.len();
    let iv: [u8; 16] = key[..16].try_into().expect("16 bytes");
    let cipher = cbc::Encryptor::<aes::Aes256>::new((&key).into(), (&iv).into());
    let encrypted = cipher
        .encrypt_padded_mut::<NoPadding>(&mut plain, len)
        .expect("whole blocks");
    let encrypt = STANDARD.encode(encrypted);
    let mut padded = data.to_vec();
    padded.resize(len, 0);
    assert_eq!(crypt.decrypt_unchecked(&encrypt).ok(), model(&padded));
}

/// `random(16) ‖ BE32(len) ‖ msg ‖ receive id`, PKCS#7-padded to 32-byte blocks.
fn model(plain: &[u8]) -> Option<Decrypted> {
    let n = usize::from(*plain.last()?);
    if n == 0 || n > 32 || n > plain.len() {
        return None;
    }
    let (body, pad) = plain.split_at(plain.len() - n);
    if pad.iter().any(|&b| usize::from(b) != n) || body.len() < 20 {
        return None;
    }
    let random: [u8; 16] = body[..16].try_into().ok()?;
    let len = u32::from_be_bytes(body[16..20].try_into().ok()?) as usize;
    let rest = &body[20..];
    if len > rest.len() {
        return None;
    }
    Some(Decrypted {
        random,
        message: String::from_utf8(rest[..len].to_vec()).ok()?,
        receive_id: String::from_utf8(rest[len..].to_vec()).ok()?,
    })
}

fn outcome(result: cove_wechat::Result<String>) -> Result<String, String> {
    result.map_err(|e| e.to_string())
}

fn depth(e: &Element) -> usize {
    1 + e.children.iter().map(depth).max().unwrap_or(0)
}

fn count(e: &Element) -> usize {
    1 + e.children.iter().map(count).sum::<usize>()
}

/// Names that write out unchanged (the parser keeps whatever name the tag carried).
fn names_are_plain(e: &Element) -> bool {
    let plain = e
        .name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && e.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    plain && e.children.iter().all(names_are_plain)
}

/// The tree as [`write`] can carry it: characters XML forbids dropped, and blank text beside
/// child elements cleared, as the parser clears it.
fn normalized(e: &Element) -> Element {
    let children: Vec<Element> = e.children.iter().map(normalized).collect();
    let mut text: String = e.text.chars().filter(|&c| is_xml_char(c)).collect();
    if !children.is_empty() && text.trim().is_empty() {
        text.clear();
    }
    Element {
        name: e.name.clone(),
        text,
        children,
    }
}

fn write(e: &Element) -> String {
    let mut out = format!("<{}>", e.name);
    if !e.text.is_empty() {
        out.push_str(&format!("<![CDATA[{}]]>", xml::cdata_escape(&e.text)));
    }
    for child in &e.children {
        out.push_str(&write(child));
    }
    out.push_str(&format!("</{}>", e.name));
    out
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}
