//! WeChat Pay v3 against `tests/data/wechat-test-vectors.json` plus negative cases.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are the failure report

mod common;

use std::sync::Arc;

use common::{s, vectors};
use cove_wechat::clock::ManualClock;
use cove_wechat::pay::{
    aes_gcm_decrypt, parse_authorization, request_message, ApiV3Key, EncryptedResource,
    JsapiPrepayRequest, MerchantSigner, NotificationParser, NotificationPayload, NotifyAnswer,
    PayVerifier, RefundRequest, SignedHeaders,
};
use cove_wechat::Error;
use serde_json::Value;

fn pv(name: &str) -> &'static Value {
    &vectors()["pay_v3"][name]
}

/// The wechatpay-go test key with its SDK-specific label replaced by `PRIVATE KEY`.
fn go_key_pem() -> String {
    s(pv("test_key_pkcs8_relabelled"), "private_key_pem").replace("TESTING KEY", "PRIVATE KEY")
}

fn go_signer() -> MerchantSigner {
    let serial = s(
        pv("test_key_pkcs8_relabelled"),
        "serial_or_pubkey_id_in_go_tests",
    );
    MerchantSigner::from_pem("1900000109", serial, &go_key_pem()).unwrap()
}

fn headers_of(v: &Value) -> SignedHeaders {
    SignedHeaders::from_lookup(|name| v[name].as_str().map(str::to_owned)).unwrap()
}

#[test]
fn s1_signs_source() {
    let v = pv("S1_sign_source");
    assert_eq!(
        go_signer().sign(s(v, "message").as_bytes()),
        s(v, "signature")
    );
}

#[test]
fn s2_get_certificates_message_and_authorization() {
    let v = pv("S2_request_get_certificates");
    let msg = request_message(
        s(v, "method"),
        s(v, "url"),
        s(v, "timestamp"),
        s(v, "nonce_str"),
        s(v, "body"),
    );
    assert_eq!(msg, s(v, "message"));
    let signer = go_signer();
    assert_eq!(signer.sign(msg.as_bytes()), s(v, "signature"));
    let auth = signer.authorization(
        s(v, "method"),
        s(v, "url"),
        s(v, "timestamp"),
        s(v, "nonce_str"),
        s(v, "body"),
    );
    // Parameter order may differ between SDKs: compare as sets, and also the scheme.
    let mut ours = parse_authorization(&auth).unwrap();
    let mut theirs = parse_authorization(s(v, "authorization")).unwrap();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn s3_post_jsapi_message_and_signature() {
    let v = pv("S3_request_post_jsapi");
    let msg = request_message(
        s(v, "method"),
        s(v, "url"),
        s(v, "timestamp"),
        s(v, "nonce_str"),
        s(v, "body"),
    );
    assert_eq!(msg, s(v, "message"));
    assert_eq!(go_signer().sign(msg.as_bytes()), s(v, "signature"));
    // The builder serialises to the same bytes as the vector body.
    let body: Value = serde_json::from_str(s(v, "body")).unwrap();
    let req = JsapiPrepayRequest::new(
        body["appid"].as_str().unwrap(),
        body["mchid"].as_str().unwrap(),
        body["description"].as_str().unwrap(),
        body["out_trade_no"].as_str().unwrap(),
        body["notify_url"].as_str().unwrap(),
        body["amount"]["total"].as_i64().unwrap(),
        body["payer"]["openid"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(serde_json::to_string(&req).unwrap(), s(v, "body"));
}

#[test]
fn s4_pkcs1_key_signs_like_wechatpy() {
    let v = pv("S4_wechatpy_sign");
    let signer = MerchantSigner::from_pem("1900000109", "SERIAL", s(v, "private_key_pem")).unwrap();
    let msg = request_message(
        s(v, "method"),
        s(v, "url"),
        s(v, "timestamp"),
        s(v, "nonce_str"),
        s(v, "body"),
    );
    assert_eq!(signer.sign(msg.as_bytes()), s(v, "signature"));
}

#[test]
fn s5_pay_sign_for_request_payment() {
    let v = pv("S5_paysign_doc_example");
    let prepay_id = s(v, "package").strip_prefix("prepay_id=").unwrap();
    let params = go_signer().jsapi_pay_params_with(
        s(v, "appId"),
        s(v, "timeStamp"),
        s(v, "nonceStr"),
        prepay_id,
    );
    assert_eq!(params.package, s(v, "package"));
    assert_eq!(params.sign_type, s(v, "signType"));
    assert_eq!(params.pay_sign, s(v, "paySign"));
    let json = serde_json::to_value(&params).unwrap();
    assert_eq!(json["timeStamp"], s(v, "timeStamp"));
    assert_eq!(json["paySign"], s(v, "paySign"));
}

fn n1_verifier(now: i64) -> PayVerifier {
    let v = pv("N1_notification_go");
    let mut verifier = PayVerifier::new().with_clock(Arc::new(ManualClock::new(now)));
    let serial = verifier
        .add_platform_certificate(s(v, "platform_cert_pem"))
        .unwrap();
    assert_eq!(serial, s(v, "platform_cert_serial_hex"));
    verifier
}

#[test]
fn n1_notification_verifies_with_injected_clock_and_decrypts_with_its_16_byte_key() {
    let v = pv("N1_notification_go");
    let headers = headers_of(&v["headers"]);
    n1_verifier(1_624_523_846 + 60)
        .verify(&headers, s(v, "body").as_bytes())
        .unwrap();
    // Its APIv3 key is 16 bytes (AES-128-GCM): the strict production type refuses it ...
    assert!(matches!(
        ApiV3Key::new(s(v, "apiv3_key")),
        Err(Error::InvalidArgument(_))
    ));
    // ... and the low-level function decrypts it.
    let body: Value = serde_json::from_str(s(v, "body")).unwrap();
    let r = &body["resource"];
    let plain = aes_gcm_decrypt(
        s(v, "apiv3_key").as_bytes(),
        r["nonce"].as_str().unwrap().as_bytes(),
        r["associated_data"].as_str().unwrap().as_bytes(),
        r["ciphertext"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(String::from_utf8(plain).unwrap(), s(v, "expect_plaintext"));
}

#[test]
fn n1_is_rejected_outside_the_replay_window() {
    let v = pv("N1_notification_go");
    let headers = headers_of(&v["headers"]);
    let err = n1_verifier(1_624_523_846 + 301)
        .verify(&headers, s(v, "body").as_bytes())
        .unwrap_err();
    assert!(matches!(err, Error::ReplayWindow { .. }), "{err}");
    let err = n1_verifier(1_624_523_846 - 301)
        .verify(&headers, s(v, "body").as_bytes())
        .unwrap_err();
    assert!(matches!(err, Error::ReplayWindow { .. }), "{err}");
    // The real clock is years later.
    let mut real = PayVerifier::new();
    real.add_platform_certificate(s(v, "platform_cert_pem"))
        .unwrap();
    assert!(matches!(
        real.verify(&headers, s(v, "body").as_bytes()),
        Err(Error::ReplayWindow { .. })
    ));
}

#[test]
fn n1_tampered_reserialised_or_probe_bodies_fail() {
    let v = pv("N1_notification_go");
    let verifier = n1_verifier(1_624_523_846);
    let headers = headers_of(&v["headers"]);
    let body = s(v, "body");
    let tampered = body.replace("签约成功", "签约失败");
    assert!(matches!(
        verifier.verify(&headers, tampered.as_bytes()),
        Err(Error::PaySignature(_))
    ));
    let reserialised =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(body).unwrap()).unwrap();
    assert!(matches!(
        verifier.verify(&headers, reserialised.as_bytes()),
        Err(Error::PaySignature(_))
    ));
    let mut probe = headers.clone();
    probe.signature = "WECHATPAY/SIGNTEST/abcdef".into();
    assert!(matches!(
        verifier.verify(&probe, body.as_bytes()),
        Err(Error::PaySignature(_))
    ));
    let mut unknown = headers.clone();
    unknown.serial = "PUB_KEY_ID_0000000000000024101100397200000006".into();
    assert!(matches!(
        verifier.verify(&unknown, body.as_bytes()),
        Err(Error::UnknownSerial(_))
    ));
    let mut wrong_type = headers;
    wrong_type.signature_type = Some("WECHATPAY2-SM2-WITH-SM3".into());
    assert!(matches!(
        verifier.verify(&wrong_type, body.as_bytes()),
        Err(Error::PaySignature(_))
    ));
}

#[test]
fn g1_16_byte_key_decrypts_only_through_the_low_level_function() {
    let v = pv("G1_gcm_go");
    let plain = aes_gcm_decrypt(
        s(v, "key").as_bytes(),
        s(v, "nonce").as_bytes(),
        s(v, "associated_data").as_bytes(),
        s(v, "ciphertext"),
    )
    .unwrap();
    assert_eq!(plain, s(v, "plaintext").as_bytes());
    assert!(ApiV3Key::new(s(v, "key")).is_err());
}

#[test]
fn g2_16_byte_iv_decrypts_only_through_the_low_level_function() {
    let v = pv("G2_gcm_axios_plugin");
    let key = ApiV3Key::new(s(v, "key")).unwrap();
    for case in v["vectors"].as_array().unwrap() {
        let plain = aes_gcm_decrypt(
            s(v, "key").as_bytes(),
            s(v, "nonce").as_bytes(),
            s(case, "associated_data").as_bytes(),
            s(case, "ciphertext"),
        )
        .unwrap();
        assert_eq!(plain, s(case, "plaintext").as_bytes());
        let resource = EncryptedResource {
            original_type: None,
            algorithm: "AEAD_AES_256_GCM".into(),
            ciphertext: s(case, "ciphertext").into(),
            associated_data: Some(s(case, "associated_data").into()),
            nonce: s(v, "nonce").into(),
        };
        assert!(matches!(
            key.decrypt_resource(&resource),
            Err(Error::Gcm(_))
        ));
    }
}

#[test]
fn g3_aes_256_gcm_resource() {
    let v = pv("G3_gcm_256_12");
    let key = ApiV3Key::new(s(v, "key")).unwrap();
    let resource = EncryptedResource {
        original_type: Some("transaction".into()),
        algorithm: "AEAD_AES_256_GCM".into(),
        ciphertext: s(v, "ciphertext").into(),
        associated_data: Some(s(v, "associated_data").into()),
        nonce: s(v, "nonce").into(),
    };
    assert_eq!(
        key.decrypt_resource(&resource).unwrap(),
        s(v, "plaintext").as_bytes()
    );
    let again = key
        .encrypt_resource(
            "transaction",
            s(v, "associated_data"),
            s(v, "nonce"),
            s(v, "plaintext").as_bytes(),
        )
        .unwrap();
    assert_eq!(again.ciphertext, s(v, "ciphertext"));
    // Wrong associated data or a flipped byte fails authentication.
    let mut wrong_aad = resource.clone();
    wrong_aad.associated_data = Some("other".into());
    assert!(matches!(
        key.decrypt_resource(&wrong_aad),
        Err(Error::Gcm(_))
    ));
}

/// A synthetic transaction notification signed with the test key (public-key mode).
#[test]
fn synthetic_transaction_and_refund_notifications_parse_end_to_end() {
    let signer = go_signer();
    let now = 1_700_000_000;
    let mut verifier = PayVerifier::new().with_clock(Arc::new(ManualClock::new(now)));
    let pub_pem = s(pv("test_key_pkcs8_relabelled"), "public_key_pem");
    verifier
        .add_public_key("PUB_KEY_ID_0000000000000024101100397200000006", pub_pem)
        .unwrap();
    let key = ApiV3Key::new("0123456789abcdef0123456789abcdef").unwrap();
    let parser = NotificationParser::new(verifier, key.clone());
    let cases = [
        (
            "TRANSACTION.SUCCESS",
            "transaction",
            r#"{"appid":"wx1","mchid":"1900000109","out_trade_no":"ORDER_000123","transaction_id":"4200","trade_state":"SUCCESS","payer":{"openid":"o1"},"amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}"#,
        ),
        (
            "REFUND.SUCCESS",
            "refund",
            r#"{"mchid":"1900000109","out_trade_no":"ORDER_000123","out_refund_no":"REFUND_0001","refund_id":"5030","refund_status":"SUCCESS","amount":{"total":100,"refund":100,"payer_total":100,"payer_refund":100}}"#,
        ),
    ];
    for (event, original, plain) in cases {
        let resource = key
            .encrypt_resource(original, original, "gZiqzlfayUu2", plain.as_bytes())
            .unwrap();
        let body = serde_json::json!({"id":"EV-1","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":event,"summary":"s","resource":resource}).to_string();
        let ts = now.to_string();
        let sig = signer.sign(format!("{ts}\nNONCE\n{body}\n").as_bytes());
        let headers = SignedHeaders {
            timestamp: ts,
            nonce: "NONCE".into(),
            signature: sig,
            serial: "PUB_KEY_ID_0000000000000024101100397200000006".into(),
            signature_type: Some("WECHATPAY2-SHA256-RSA2048".into()),
        };
        let n = parser.parse(&headers, body.as_bytes()).unwrap();
        assert_eq!(n.plaintext, plain);
        match (event, n.payload) {
            ("TRANSACTION.SUCCESS", NotificationPayload::Transaction(t)) => {
                assert_eq!(t.out_trade_no.as_deref(), Some("ORDER_000123"));
                assert_eq!(t.amount.unwrap().total, Some(100));
            }
            ("REFUND.SUCCESS", NotificationPayload::Refund(r)) => {
                assert_eq!(r.out_refund_no.as_deref(), Some("REFUND_0001"));
                assert_eq!(r.refund_status.as_deref(), Some("SUCCESS"));
            }
            (e, p) => panic!("{e}: unexpected payload {p:?}"),
        }
    }
}

#[test]
fn notify_answers_and_builders() {
    assert_eq!(NotifyAnswer::success().status, 204);
    assert!(NotifyAnswer::success().body.is_empty());
    let fail = NotifyAnswer::fail("失败");
    assert_eq!(fail.status, 500);
    assert_eq!(
        serde_json::from_str::<Value>(&fail.body).unwrap(),
        serde_json::json!({"code":"FAIL","message":"失败"})
    );
    assert!(JsapiPrepayRequest::new("wx", "1", "d", "bad no", "https://x/n", 1, "o").is_err());
    assert!(JsapiPrepayRequest::new("wx", "1", "d", "ORDER_1", "https://x/n", 0, "o").is_err());
    assert!(JsapiPrepayRequest::new("wx", "1", "d", "ORDER_1", "https://x/n?a=1", 1, "o").is_err());
    assert!(RefundRequest::by_out_trade_no("ORDER_1", "REFUND_1", 101, 100).is_err());
    let ok = RefundRequest::by_out_trade_no("ORDER_1", "REFUND_1", 50, 100).unwrap();
    assert_eq!(
        serde_json::to_value(&ok).unwrap()["amount"],
        serde_json::json!({"refund":50,"total":100,"currency":"CNY"})
    );
}
