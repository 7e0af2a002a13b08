//! Compatibility with independent implementations (no network):
//!
//! * Python `wechatpy` (OA / WeCom callback crypto and message parsing),
//! * npm `@wecom/crypto` (WeCom callback crypto),
//! * Python `wechatpayv3` in public-key mode, and `cryptography` playing WeChat Pay.
//!
//! Peers are small scripts in `tests/compat/` exchanging JSON on stdin/stdout. Install them with
//! `crates/cove-wechat/tests/compat/setup.sh`. Environment: `COVE_PYTHON` (default `python3`),
//! `COVE_NODE` (default `node`), `COVE_NODE_MODULES` (default
//! `crates/cove-wechat/tests/compat/node_modules`). A missing peer fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are the failure report

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{s, vectors};
use cove_wechat::clock::ManualClock;
use cove_wechat::msgcrypt::{self, MsgCrypt};
use cove_wechat::pay::{
    ApiV3Key, MerchantSigner, NotificationParser, NotificationPayload, PayVerifier, SignedHeaders,
};
use cove_wechat::xml::{parse_inbound, ExternalChatChange, ExternalContactChange, Inbound};
use serde_json::{json, Value};

const INSTALL: &str = "install the peers with `bash crates/cove-wechat/tests/compat/setup.sh` \
     and run with COVE_PYTHON=<repo>/target/py/bin/python \
     (and COVE_NODE / COVE_NODE_MODULES if node or node_modules live elsewhere)";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> String {
    std::env::var("COVE_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn node() -> String {
    std::env::var("COVE_NODE").unwrap_or_else(|_| "node".to_owned())
}

fn node_modules() -> PathBuf {
    match std::env::var("COVE_NODE_MODULES") {
        Ok(p) => {
            let p = PathBuf::from(p);
            if p.is_absolute() || p.exists() {
                p
            } else {
                // Relative paths are taken from the repository root.
                manifest_dir().join("../..").join(p)
            }
        }
        Err(_) => manifest_dir().join("tests/compat/node_modules"),
    }
}

/// Runs `program script` with `ops` as JSON on stdin; returns one result per op.
fn run_peer(
    program: &str,
    script: &Path,
    envs: &[(&str, &Path)],
    ops: &Value,
) -> Vec<Result<Value, String>> {
    let mut cmd = Command::new(program);
    cmd.arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start peer `{program}`: {e}; {INSTALL}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ops.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peer `{program} {}` failed: {}; {INSTALL}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "peer output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(
        results.len(),
        ops.as_array().unwrap().len(),
        "one result per op"
    );
    results
        .into_iter()
        .map(|r| match r.get("ok") {
            Some(v) => Ok(v.clone()),
            None => Err(r["error"].as_str().unwrap_or("unknown error").to_owned()),
        })
        .collect()
}

fn py(ops: Value) -> Vec<Result<Value, String>> {
    let program = python();
    let probe = Command::new(&program)
        .args([
            "-c",
            "import wechatpy, wechatpayv3, cryptography, xmltodict",
        ])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "Python peer `{program}` lacks wechatpy/wechatpayv3/cryptography ({}); {INSTALL}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("Python `{program}` not found ({e}); {INSTALL}"),
    }
    run_peer(
        &program,
        &manifest_dir().join("tests/compat/peer.py"),
        &[],
        &ops,
    )
}

fn js(ops: Value) -> Vec<Result<Value, String>> {
    let modules = node_modules();
    assert!(
        modules.join("@wecom/crypto/package.json").exists(),
        "@wecom/crypto not found under {}; {INSTALL}",
        modules.display()
    );
    run_peer(
        &node(),
        &manifest_dir().join("tests/compat/peer.mjs"),
        &[("COVE_NODE_MODULES", &modules)],
        &ops,
    )
}

fn ok(r: &Result<Value, String>) -> &Value {
    r.as_ref().unwrap_or_else(|e| panic!("peer error: {e}"))
}

const OA: (&str, &str, &str) = (
    "pamtest",
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "wxb11529c136998cb6",
);
const WECOM: (&str, &str, &str) = (
    "QDG6eK",
    "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "wx5823bf96d3bd56c7",
);

fn messages() -> Vec<String> {
    vec![
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，Cove ]]]]><![CDATA[> & <tag>]]></Content><MsgId>1</MsgId></xml>".to_owned(),
        "x".to_owned(),
        "a".repeat(15),
        "b".repeat(16),
        format!("<xml><Content><![CDATA[{}]]></Content></xml>", "长".repeat(700)),
    ]
}

fn envelope_fields(xml: &str) -> (String, String, String, String) {
    let doc = cove_wechat::xml::parse(xml).unwrap();
    (
        doc.text("Encrypt").unwrap().to_owned(),
        doc.text("MsgSignature").unwrap().to_owned(),
        doc.text("TimeStamp").unwrap().to_owned(),
        doc.text("Nonce").unwrap().to_owned(),
    )
}

fn callback_crypto_round_trips(work: bool) {
    let (token, key, id) = if work { WECOM } else { OA };
    let crypt = MsgCrypt::new(token, key, id).unwrap();
    let msgs = messages();
    // wechatpy encrypts → Cove decrypts.
    let ops: Vec<Value> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"op":"encrypt","work":work,"token":token,"key":key,"receiveid":id,"msg":m,"nonce":format!("n{i}"),"timestamp":"1700000000"}))
        .collect();
    let results = py(Value::Array(ops));
    for (msg, r) in msgs.iter().zip(&results) {
        let envelope = ok(r).as_str().unwrap();
        let (_, sig, ts, nonce) = envelope_fields(envelope);
        let plain = crypt.decrypt_message(&sig, &ts, &nonce, envelope).unwrap();
        assert_eq!(&plain, msg);
    }
    // Cove encrypts → wechatpy decrypts.
    let ops: Vec<Value> = msgs
        .iter()
        .map(|m| {
            let envelope = crypt.encrypt_reply(m, "1700000001", "cove-nonce").unwrap();
            let (_, sig, _, _) = envelope_fields(&envelope);
            json!({"op":"decrypt","work":work,"token":token,"key":key,"receiveid":id,"xml":envelope,"signature":sig,"timestamp":"1700000001","nonce":"cove-nonce"})
        })
        .collect();
    for (msg, r) in msgs.iter().zip(&py(Value::Array(ops))) {
        assert_eq!(ok(r).as_str().unwrap(), msg);
    }
    // A Cove envelope with a wrong receive id is refused by wechatpy.
    let other = MsgCrypt::new(token, key, "wx_not_this_one").unwrap();
    let envelope = other.encrypt_reply("<xml/>", "1700000001", "n").unwrap();
    let (_, sig, _, _) = envelope_fields(&envelope);
    let r = py(
        json!([{"op":"decrypt","work":work,"token":token,"key":key,"receiveid":id,"xml":envelope,"signature":sig,"timestamp":"1700000001","nonce":"n"}]),
    );
    assert!(
        r[0].is_err(),
        "wechatpy accepted a foreign receive id: {:?}",
        r[0]
    );
}

#[test]
fn wechatpy_and_cove_exchange_official_account_messages() {
    callback_crypto_round_trips(false);
}

#[test]
fn wechatpy_and_cove_exchange_wecom_messages() {
    callback_crypto_round_trips(true);
}

#[test]
fn wechatpy_and_cove_agree_on_signatures_and_wecom_echostr() {
    let (token, key, id) = WECOM;
    let crypt = MsgCrypt::new(token, key, id).unwrap();
    // Cove-made echostr is checked by wechatpy's work crypto.
    let echostr = crypt.encrypt("8675309").unwrap();
    let sig = crypt.msg_signature("1700000000", "e1", &echostr);
    // wechatpy-made envelope's Encrypt used as an echostr for Cove.
    let results = py(json!([
        {"op":"check_echostr","token":token,"key":key,"receiveid":id,"signature":sig,"timestamp":"1700000000","nonce":"e1","echostr":echostr},
        {"op":"encrypt","work":true,"token":token,"key":key,"receiveid":id,"msg":"1616140317555161061","nonce":"e2","timestamp":"1700000002"},
        {"op":"check_signature","token":"pamtest","signature":msgcrypt::sorted_sha1(&["pamtest","1409304348","xxxxxx"]),"timestamp":"1409304348","nonce":"xxxxxx"},
        {"op":"check_signature","token":"pamtest","signature":msgcrypt::sorted_sha1(&["pamtest","1409304348","xxxxxy"]),"timestamp":"1409304348","nonce":"xxxxxx"},
    ]));
    assert_eq!(ok(&results[0]), "8675309");
    let (encrypt, sig2, ts, nonce) = envelope_fields(ok(&results[1]).as_str().unwrap());
    assert_eq!(
        crypt.verify_url(&sig2, &ts, &nonce, &encrypt).unwrap(),
        "1616140317555161061"
    );
    assert_eq!(ok(&results[2]), &json!(true));
    assert_eq!(ok(&results[3]), &json!(false));
}

#[test]
fn wechatpy_parses_events_as_cove_does() {
    let h = |t: &str| {
        format!("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>{t}</xml>")
    };
    let oa = [
        h("<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_store:42]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>"),
        h("<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[store:42]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>"),
        h("<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[MENU_1]]></EventKey>"),
        h("<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://x.example/a]]></EventKey>"),
        h("<Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>"),
        h("<Event><![CDATA[subscribe]]></Event>"),
    ];
    let work = [
        "<xml><ToUserName><![CDATA[corp]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID><State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>".to_owned(),
        "<xml><ToUserName><![CDATA[corp]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId><ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>1</JoinScene><MemChangeCnt>2</MemChangeCnt><MemChangeList><Item>Jack</Item><Item>Rose</Item></MemChangeList></xml>".to_owned(),
    ];
    let mut ops: Vec<Value> = oa.iter().map(|x| json!({"op":"parse","xml":x})).collect();
    ops.extend(
        work.iter()
            .map(|x| json!({"op":"parse","work":true,"xml":x})),
    );
    let results = py(Value::Array(ops));
    let peer: Vec<&Value> = results.iter().map(ok).collect();

    match parse_inbound(&oa[0]).unwrap() {
        Inbound::Subscribe { scene, ticket, .. } => {
            assert_eq!(peer[0]["event"], "subscribe_scan");
            assert_eq!(scene.as_deref(), peer[0]["scene_id"].as_str());
            assert_eq!(ticket.as_deref(), peer[0]["ticket"].as_str());
        }
        other => panic!("{other:?}"),
    }
    match parse_inbound(&oa[1]).unwrap() {
        Inbound::Scan { scene, .. } => {
            assert_eq!(peer[1]["event"], "scan");
            assert_eq!(Some(scene.as_str()), peer[1]["scene_id"].as_str());
        }
        other => panic!("{other:?}"),
    }
    match parse_inbound(&oa[2]).unwrap() {
        Inbound::Click { key, .. } => assert_eq!(Some(key.as_str()), peer[2]["key"].as_str()),
        other => panic!("{other:?}"),
    }
    match parse_inbound(&oa[3]).unwrap() {
        Inbound::View { url, .. } => assert_eq!(Some(url.as_str()), peer[3]["url"].as_str()),
        other => panic!("{other:?}"),
    }
    match parse_inbound(&oa[4]).unwrap() {
        Inbound::LocationReport {
            latitude,
            longitude,
            ..
        } => {
            assert_eq!(peer[4]["event"], "location");
            assert!((latitude - peer[4]["latitude"].as_f64().unwrap()).abs() < 1e-9);
            assert!((longitude - peer[4]["longitude"].as_f64().unwrap()).abs() < 1e-9);
        }
        other => panic!("{other:?}"),
    }
    match parse_inbound(&oa[5]).unwrap() {
        Inbound::Subscribe { scene: None, .. } => assert_eq!(peer[5]["event"], "subscribe"),
        other => panic!("{other:?}"),
    }
    match parse_inbound(&work[0]).unwrap() {
        Inbound::ExternalContact {
            change,
            user_id,
            external_user_id,
            state,
            welcome_code,
            ..
        } => {
            assert_eq!(change, ExternalContactChange::Add);
            assert_eq!(peer[6]["change_type"], "add_external_contact");
            assert_eq!(Some(user_id.as_str()), peer[6]["user_id"].as_str());
            assert_eq!(
                Some(external_user_id.as_str()),
                peer[6]["external_user_id"].as_str()
            );
            assert_eq!(state.as_deref(), peer[6]["state"].as_str());
            assert_eq!(welcome_code.as_deref(), peer[6]["welcome_code"].as_str());
        }
        other => panic!("{other:?}"),
    }
    match parse_inbound(&work[1]).unwrap() {
        Inbound::ExternalChat {
            change,
            chat_id,
            mem_change_list,
            ..
        } => {
            assert_eq!(change, ExternalChatChange::Update("add_member".into()));
            assert_eq!(Some(chat_id.as_str()), peer[7]["chat_id"].as_str());
            assert_eq!(peer[7]["change_type"], "update");
            assert_eq!(mem_change_list, ["Jack", "Rose"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wecom_crypto_npm_and_cove_exchange_messages() {
    let (token, key, id) = WECOM;
    let crypt = MsgCrypt::new(token, key, id).unwrap();
    let a1 = &vectors()["msgcrypt"]["A1_encrypt"];
    let e = &vectors()["msgcrypt"]["E_component_push_decrypt"];
    let msgs = messages();
    let cove_encrypts: Vec<String> = msgs.iter().map(|m| crypt.encrypt(m).unwrap()).collect();
    let mut ops = vec![
        json!({"op":"version"}),
        json!({"op":"encrypt","key":s(a1,"encoding_aes_key"),"msg":s(a1,"msg"),"receiveid":s(a1,"receiveid"),"random":s(a1,"random")}),
        json!({"op":"decrypt","key":s(e,"encoding_aes_key"),"encrypt":s(e,"encrypt")}),
    ];
    for m in &msgs {
        ops.push(json!({"op":"encrypt","key":key,"msg":m,"receiveid":id}));
    }
    for enc in &cove_encrypts {
        ops.push(json!({"op":"decrypt","key":key,"encrypt":enc}));
        ops.push(json!({"op":"signature","token":token,"timestamp":"1700000000","nonce":"n","encrypt":enc}));
    }
    let results = js(Value::Array(ops));
    assert_eq!(ok(&results[0]), "1.0.1");
    // Golden: Node and Cove produce the same bytes for the fixed-random official vector.
    let cove_a1 = MsgCrypt::new(
        s(a1, "token"),
        s(a1, "encoding_aes_key"),
        s(a1, "receiveid"),
    )
    .unwrap()
    .encrypt_with_random(
        s(a1, "msg").as_bytes(),
        s(a1, "random").as_bytes().try_into().unwrap(),
    )
    .unwrap();
    assert_eq!(ok(&results[1]).as_str().unwrap(), cove_a1);
    // Pad-22 vector: Node and Cove agree.
    let cove_e = MsgCrypt::new(s(e, "token"), s(e, "encoding_aes_key"), s(e, "receiveid"))
        .unwrap()
        .decrypt(s(e, "encrypt"))
        .unwrap();
    assert_eq!(ok(&results[2])["message"], cove_e);
    let mut rest = results[3..].iter();
    for m in &msgs {
        let enc = ok(rest.next().unwrap()).as_str().unwrap();
        assert_eq!(&crypt.decrypt(enc).unwrap(), m);
    }
    for (m, enc) in msgs.iter().zip(&cove_encrypts) {
        let dec = ok(rest.next().unwrap());
        assert_eq!(dec["message"].as_str().unwrap(), m);
        assert_eq!(dec["id"], id);
        let sig = ok(rest.next().unwrap());
        assert_eq!(
            sig.as_str().unwrap(),
            crypt.msg_signature("1700000000", "n", enc)
        );
    }
}

// ---------- WeChat Pay ----------

const PUB_KEY_ID: &str = "PUB_KEY_ID_0000000000000024101100397200000006";
const APIV3: &str = "0123456789abcdef0123456789abcdef";

fn key_pem() -> String {
    s(
        &vectors()["pay_v3"]["test_key_pkcs8_relabelled"],
        "private_key_pem",
    )
    .replace("TESTING KEY", "PRIVATE KEY")
}

fn pub_pem() -> &'static str {
    s(
        &vectors()["pay_v3"]["test_key_pkcs8_relabelled"],
        "public_key_pem",
    )
}

fn pay_op(op: &str) -> Value {
    json!({"op":op,"mchid":"1900000109","serial_no":"F5765756002FDD77","private_key_pem":key_pem(),
           "appid":"wx8888888888888888","apiv3_key":APIV3,"public_key_pem":pub_pem(),"public_key_id":PUB_KEY_ID})
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// Cove plays WeChat Pay (signing with the test key, which is also the "platform" key here).
fn cove_notification(signer: &MerchantSigner, ts: &str, body_plain: &str) -> (Value, String) {
    let key = ApiV3Key::new(APIV3).unwrap();
    let resource = key
        .encrypt_resource(
            "transaction",
            "transaction",
            "gZiqzlfayUu2",
            body_plain.as_bytes(),
        )
        .unwrap();
    let body = json!({"id":"EV-1","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"支付成功","resource":resource}).to_string();
    let sig = signer.sign(format!("{ts}\nNONCE123\n{body}\n").as_bytes());
    let headers = json!({"Wechatpay-Timestamp":ts,"Wechatpay-Nonce":"NONCE123","Wechatpay-Signature":sig,"Wechatpay-Serial":PUB_KEY_ID,"Wechatpay-Signature-Type":"WECHATPAY2-SHA256-RSA2048"});
    (headers, body)
}

#[test]
fn wechatpayv3_checks_cove_signing_verification_and_decryption() {
    let signer = MerchantSigner::from_pem("1900000109", "F5765756002FDD77", &key_pem()).unwrap();
    let body = r#"{"appid":"wx8888888888888888","mchid":"1900000109","description":"测试","out_trade_no":"ORDER_000123","notify_url":"https://x/n","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"o1"}}"#;
    let cove_auth = signer.authorization(
        "POST",
        "/v3/pay/transactions/jsapi",
        "1700000000",
        "NONCEABC",
        body,
    );
    let cove_get_auth = signer.authorization(
        "GET",
        "/v3/pay/transactions/out-trade-no/ORDER_000123?mchid=1900000109",
        "1700000000",
        "NONCEDEF",
        "",
    );
    let response_sig = signer.sign(b"1700000000\nRESPNONCE\n{\"prepay_id\":\"wx2014\"}\n");
    let pay = signer.jsapi_pay_params_with(
        "wx8888888888888888",
        "1414561699",
        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        "wx201410272009395522657a690389285100",
    );
    let plain = r#"{"appid":"wx8888888888888888","mchid":"1900000109","out_trade_no":"ORDER_000123","transaction_id":"4200","trade_state":"SUCCESS","amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"},"payer":{"openid":"o1"}}"#;
    let (headers, notif) = cove_notification(&signer, "1700000000", plain);
    let tampered = notif.replace("支付成功", "支付失败");
    let resource: Value = serde_json::from_str::<Value>(&notif).unwrap()["resource"].clone();
    let mut no_type = headers.clone();
    no_type
        .as_object_mut()
        .unwrap()
        .remove("Wechatpay-Signature-Type");

    let results = py(json!([
        {"op":"versions"},
        with(pay_op("pay_build_authorization"), json!({"path":"/v3/pay/transactions/jsapi","method":"POST","body":body,"nonce_str":"NONCEABC","timestamp":"1700000000"})),
        with(pay_op("pay_build_authorization"), json!({"path":"/v3/pay/transactions/out-trade-no/ORDER_000123?mchid=1900000109","method":"GET","body":"","nonce_str":"NONCEDEF","timestamp":"1700000000"})),
        {"op":"pay_rsa_verify","public_key_pem":pub_pem(),"timestamp":"1700000000","nonce":"RESPNONCE","body":"{\"prepay_id\":\"wx2014\"}","signature":response_sig},
        with(pay_op("pay_sign"), json!({"data":[pay.app_id, pay.time_stamp, pay.nonce_str, pay.package]})),
        with(pay_op("pay_callback"), json!({"headers":headers,"body":notif})),
        with(pay_op("pay_callback"), json!({"headers":headers,"body":tampered})),
        {"op":"pay_aes_decrypt","nonce":resource["nonce"],"ciphertext":resource["ciphertext"],"associated_data":resource["associated_data"],"apiv3_key":APIV3},
        with(pay_op("pay_callback"), json!({"headers":no_type,"body":notif})),
    ]));
    assert_eq!(ok(&results[0])["wechatpayv3"], "2.0.4");
    assert_eq!(
        ok(&results[1]).as_str().unwrap(),
        cove_auth,
        "POST Authorization"
    );
    assert_eq!(
        ok(&results[2]).as_str().unwrap(),
        cove_get_auth,
        "GET Authorization"
    );
    assert_eq!(ok(&results[3]), &json!(true), "response signature");
    assert_eq!(ok(&results[4]).as_str().unwrap(), pay.pay_sign, "paySign");
    let callback = ok(&results[5]);
    assert_eq!(
        callback["resource"],
        serde_json::from_str::<Value>(plain).unwrap()
    );
    assert_eq!(callback["event_type"], "TRANSACTION.SUCCESS");
    assert_eq!(
        ok(&results[6]),
        &Value::Null,
        "tampered body must not verify"
    );
    assert_eq!(ok(&results[7]).as_str().unwrap(), plain);
    assert!(
        results[8].is_err(),
        "missing signature type must be refused"
    );
}

#[test]
fn cove_verifies_and_decrypts_notifications_made_by_python_cryptography() {
    let now = 1_700_000_000;
    let plains = [
        (
            "TRANSACTION.SUCCESS",
            "transaction",
            r#"{"mchid":"1900000109","appid":"wx8888888888888888","out_trade_no":"ORDER_000999","transaction_id":"4201","trade_state":"SUCCESS","amount":{"total":2999,"payer_total":2999,"currency":"CNY","payer_currency":"CNY"},"payer":{"openid":"o2"}}"#,
        ),
        (
            "REFUND.SUCCESS",
            "refund",
            r#"{"mchid":"1900000109","out_trade_no":"ORDER_000999","transaction_id":"4201","out_refund_no":"REFUND_0999","refund_id":"5031","refund_status":"SUCCESS","amount":{"total":2999,"refund":999,"payer_total":2999,"payer_refund":999}}"#,
        ),
    ];
    let ops: Vec<Value> = plains
        .iter()
        .map(|(event, original, plain)| json!({"op":"wechat_notification","private_key_pem":key_pem(),"apiv3_key":APIV3,
            "resource_nonce":"abcdefghijkl","associated_data":original,"plaintext":plain,"timestamp":now.to_string(),
            "nonce":"PYNONCE","event_type":event,"original_type":original,"serial":PUB_KEY_ID}))
        .collect();
    let results = py(Value::Array(ops));
    let mut verifier = PayVerifier::new().with_clock(Arc::new(ManualClock::new(now + 10)));
    verifier.add_public_key(PUB_KEY_ID, pub_pem()).unwrap();
    let parser = NotificationParser::new(verifier.clone(), ApiV3Key::new(APIV3).unwrap());
    for ((_, _, plain), r) in plains.iter().zip(&results) {
        let made = ok(r);
        let headers =
            SignedHeaders::from_lookup(|n| made["headers"][n].as_str().map(str::to_owned)).unwrap();
        let body = made["body"].as_str().unwrap();
        let n = parser.parse(&headers, body.as_bytes()).unwrap();
        assert_eq!(n.plaintext, *plain);
        match n.payload {
            NotificationPayload::Transaction(t) => assert_eq!(t.amount.unwrap().total, Some(2999)),
            NotificationPayload::Refund(r) => assert_eq!(r.amount.unwrap().refund, Some(999)),
            other => panic!("{other:?}"),
        }
        // Outside the replay window it is refused even though the signature is right.
        let late = PayVerifier::new().with_clock(Arc::new(ManualClock::new(now + 301)));
        let mut late = late;
        late.add_public_key(PUB_KEY_ID, pub_pem()).unwrap();
        assert!(matches!(
            late.verify(&headers, body.as_bytes()),
            Err(cove_wechat::Error::ReplayWindow { .. })
        ));
    }
}
