//! Integration tests against a local stand-in of WeChat's APIs (axum on 127.0.0.1:0).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are the failure report

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{s, vectors};
use cove_wechat::client::{
    ApiBase, ClientOptions, ContactWay, CustomMessage, KfOrigin, MpClient, RetryPolicy,
    SubscribeMessage, TemplateMessage, WeComClient, WelcomeMessage, WxaCodeRequest,
};
use cove_wechat::pay::{
    parse_authorization, request_message, JsapiPrepayRequest, MerchantSigner, PayClient,
    PayVerifier, RefundRequest,
};
use cove_wechat::qr::QrCreate;
use cove_wechat::token::{AccessToken, MemoryTokenStore, TokenStore};
use cove_wechat::Error;
use serde_json::{json, Value};

#[derive(Default)]
struct Stand {
    stable_token_calls: AtomicUsize,
    gettoken_calls: AtomicUsize,
    latest: Mutex<String>,
    /// Calls per path.
    calls: Mutex<HashMap<String, usize>>,
    /// Number of 45009 answers still to give on template/send.
    rate_limit_left: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
}

type St = Arc<Stand>;

impl Stand {
    fn count(&self, path: &str) -> usize {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.entry(path.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn token_ok(&self, q: &HashMap<String, String>) -> bool {
        q.get("access_token").map(String::as_str) == Some(self.latest.lock().unwrap().as_str())
    }
}

fn invalid_token() -> Json<Value> {
    Json(
        json!({"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest"}),
    )
}

async fn stable_token(State(st): State<St>, Json(body): Json<Value>) -> Json<Value> {
    let n = st.stable_token_calls.fetch_add(1, Ordering::SeqCst) + 1;
    assert_eq!(body["grant_type"], "client_credential");
    if body["secret"] != "secret" {
        return Json(json!({"errcode":40125,"errmsg":"invalid appsecret"}));
    }
    // Slow enough that concurrent callers overlap.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let token = format!("TOKEN_{n}");
    *st.latest.lock().unwrap() = token.clone();
    Json(json!({"access_token": token, "expires_in": 7200}))
}

async fn gettoken(State(st): State<St>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let n = st.gettoken_calls.fetch_add(1, Ordering::SeqCst) + 1;
    if q.get("corpsecret").map(String::as_str) != Some("corpsecret") {
        return Json(json!({"errcode":40001,"errmsg":"invalid credential"}));
    }
    let token = format!("WECOM_{n}");
    *st.latest.lock().unwrap() = token.clone();
    Json(json!({"errcode":0,"errmsg":"ok","access_token": token, "expires_in": 7200}))
}

async fn jscode2session(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let ok = q.get("appid").map(String::as_str) == Some("wx_app")
        && q.get("secret").map(String::as_str) == Some("secret")
        && q.get("grant_type").map(String::as_str) == Some("authorization_code");
    match q.get("js_code").map(String::as_str) {
        Some("good") if ok => Json(
            json!({"openid":"oUser1","session_key":"tiihtNczf5v6AKRyjwEUhQ==","unionid":"uUnion1"}),
        ),
        _ => Json(json!({"errcode":40029,"errmsg":"invalid code"})),
    }
}

async fn subscribe_send(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    st.count("subscribe");
    if !st.token_ok(&q) {
        return invalid_token();
    }
    st.bodies.lock().unwrap().push(body);
    Json(json!({"errcode":0,"errmsg":"ok"}))
}

/// Customer-service messages: the follower `oSilent` last wrote more than
/// 48 hours ago, so WeChat refuses with 45015.
async fn custom_send(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    st.count("custom");
    if !st.token_ok(&q) {
        return invalid_token();
    }
    if body["touser"] == "oSilent" {
        return Json(
            json!({"errcode":45015,"errmsg":"response out of time limit or subscription is canceled"}),
        );
    }
    st.bodies.lock().unwrap().push(body);
    Json(json!({"errcode":0,"errmsg":"ok"}))
}

async fn template_send(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    st.count("template");
    if !st.token_ok(&q) {
        return invalid_token();
    }
    if st
        .rate_limit_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return Json(json!({"errcode":45009,"errmsg":"reach max api daily quota limit"}));
    }
    st.bodies.lock().unwrap().push(body);
    Json(json!({"errcode":0,"errmsg":"ok","msgid":200228332}))
}

async fn qrcode_create(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    let mut out = json!({"ticket": format!("gQH4-{}", body["action_name"].as_str().unwrap_or("")), "url":"http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI"});
    if let Some(e) = body.get("expire_seconds") {
        out["expire_seconds"] = e.clone();
    }
    st.bodies.lock().unwrap().push(body);
    Json(out)
}

async fn wxacode(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if !st.token_ok(&q) {
        return invalid_token().into_response();
    }
    if body["page"] == "pages/missing" {
        return Json(json!({"errcode":41030,"errmsg":"invalid page"})).into_response();
    }
    (
        [("content-type", "image/jpeg")],
        vec![0xFFu8, 0xD8, 0xFF, 0xE0, 1, 2, 3],
    )
        .into_response()
}

async fn phone(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    let appid = if body["code"] == "foreign" {
        "wx_other"
    } else {
        "wx_app"
    };
    Json(
        json!({"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800000000","purePhoneNumber":"13800000000","countryCode":"86","watermark":{"timestamp":1637744274,"appid":appid}}}),
    )
}

async fn ext_get(State(st): State<St>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    Json(
        json!({"errcode":0,"errmsg":"ok","external_contact":{"external_userid":q.get("external_userid"),"name":"李四","type":1,"unionid":"u1"},
        "follow_user":[{"userid":"rocky","remark":"r","createtime":1525779812,"state":"外联二维码1","add_way":1}]}),
    )
}

async fn add_contact_way(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    st.bodies.lock().unwrap().push(body);
    Json(
        json!({"errcode":0,"errmsg":"ok","config_id":"42b34949e138eb6e027c123cba77fAAA","qr_code":"http://p.qpic.cn/wwhead/duc2TvpEgS"}),
    )
}

async fn welcome(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    if st.count(&format!("welcome:{}", body["welcome_code"])) > 1 {
        return Json(json!({"errcode":41051,"errmsg":"externaluser has started chatting"}));
    }
    Json(json!({"errcode":0,"errmsg":"ok"}))
}

async fn groupchat(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    Json(
        json!({"errcode":0,"errmsg":"ok","group_chat":{"chat_id":body["chat_id"],"name":"销售客服群","owner":"ZhuShengBen","create_time":1572505490,
        "member_list":[{"userid":"abel","type":1,"join_time":1572505491,"join_scene":1},{"userid":"wmHAAAA","type":2,"join_time":1572505491,"join_scene":3,"unionid":"u2"}]}}),
    )
}

async fn user_info(State(st): State<St>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    Json(
        json!({"subscribe":1,"openid":q.get("openid"),"language":"zh_CN","subscribe_time":1382694957,
        "unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL","remark":"","groupid":0,"tagid_list":[128,2],
        "subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":98765,"qr_scene_str":""}),
    )
}

/// Two pages of customer-service messages; the second needs the first's cursor.
async fn kf_sync(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    st.bodies.lock().unwrap().push(body.clone());
    let message = |id: &str, text: &str| {
        json!({"msgid": id, "open_kfid": body["open_kfid"], "external_userid": "wmCustomer1",
               "send_time": 1615478585, "origin": 3, "msgtype": "text", "text": {"content": text}})
    };
    match body["cursor"].as_str() {
        None => Json(
            json!({"errcode":0,"errmsg":"ok","next_cursor":"C1","has_more":1,"msg_list":[message("m1", "你好")]}),
        ),
        Some("C1") => Json(
            json!({"errcode":0,"errmsg":"ok","next_cursor":"C2","has_more":0,"msg_list":[message("m2", "在吗")]}),
        ),
        Some(_) => Json(json!({"errcode":95001,"errmsg":"invalid cursor"})),
    }
}

async fn kf_send(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !st.token_ok(&q) {
        return invalid_token();
    }
    if st.count(&format!("kf_send:{}", body["msgid"])) > 1 {
        return Json(json!({"errcode":95016,"errmsg":"duplicate msgid"}));
    }
    st.bodies.lock().unwrap().push(body.clone());
    Json(json!({"errcode":0,"errmsg":"ok","msgid":body["msgid"]}))
}

// ----- WeChat Pay stand-in -----

const PUB_KEY_ID: &str = "PUB_KEY_ID_0000000000000024101100397200000006";

fn key_pem() -> String {
    s(
        &vectors()["pay_v3"]["test_key_pkcs8_relabelled"],
        "private_key_pem",
    )
    .replace("TESTING KEY", "PRIVATE KEY")
}

fn pay_signer() -> MerchantSigner {
    MerchantSigner::from_pem("1900000109", "F5765756002FDD77", &key_pem()).unwrap()
}

fn pay_verifier() -> PayVerifier {
    let mut v = PayVerifier::new();
    v.add_public_key(
        PUB_KEY_ID,
        s(
            &vectors()["pay_v3"]["test_key_pkcs8_relabelled"],
            "public_key_pem",
        ),
    )
    .unwrap();
    v
}

/// Checks the merchant's Authorization over the exact bytes received and answers signed.
fn pay_answer(
    headers: &HeaderMap,
    method: &str,
    uri: &str,
    body: &[u8],
    status: StatusCode,
    answer: Value,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let params: HashMap<String, String> = parse_authorization(auth)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let msg = request_message(
        method,
        uri,
        &params["timestamp"],
        &params["nonce_str"],
        std::str::from_utf8(body).unwrap(),
    );
    let signer = pay_signer();
    let serial_ok = headers
        .get("wechatpay-serial")
        .and_then(|v| v.to_str().ok())
        == Some(PUB_KEY_ID);
    if signer.sign(msg.as_bytes()) != params["signature"]
        || params["mchid"] != "1900000109"
        || !serial_ok
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code":"SIGN_ERROR","message":"签名错误"})),
        )
            .into_response();
    }
    let body = answer.to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let sig = signer.sign(format!("{ts}\nRESPNONCE\n{body}\n").as_bytes());
    (
        status,
        [
            ("content-type", "application/json".to_owned()),
            ("wechatpay-timestamp", ts),
            ("wechatpay-nonce", "RESPNONCE".to_owned()),
            ("wechatpay-signature", sig),
            ("wechatpay-serial", PUB_KEY_ID.to_owned()),
            (
                "wechatpay-signature-type",
                "WECHATPAY2-SHA256-RSA2048".to_owned(),
            ),
        ],
        body,
    )
        .into_response()
}

async fn pay_jsapi(headers: HeaderMap, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["amount"]["total"].is_i64(), "amount in integer fen");
    pay_answer(
        &headers,
        "POST",
        "/v3/pay/transactions/jsapi",
        &body,
        StatusCode::OK,
        json!({"prepay_id":"wx201410272009395522657a690389285100"}),
    )
}

async fn pay_query(
    headers: HeaderMap,
    Path(no): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let uri = format!(
        "/v3/pay/transactions/out-trade-no/{no}?mchid={}",
        q["mchid"]
    );
    if no == "ORDER_FORGED" {
        // A response whose signature does not match the body.
        let mut r = pay_answer(
            &headers,
            "GET",
            &uri,
            b"",
            StatusCode::OK,
            json!({"trade_state":"SUCCESS"}),
        );
        *r.body_mut() = axum::body::Body::from(r#"{"trade_state":"NOTPAY"}"#);
        return r;
    }
    pay_answer(
        &headers,
        "GET",
        &uri,
        b"",
        StatusCode::OK,
        json!({"appid":"wx1","mchid":"1900000109","out_trade_no":no,"transaction_id":"4200","trade_state":"SUCCESS","amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"},"payer":{"openid":"o1"}}),
    )
}

async fn pay_refund(headers: HeaderMap, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap();
    pay_answer(
        &headers,
        "POST",
        "/v3/refund/domestic/refunds",
        &body,
        StatusCode::OK,
        json!({"refund_id":"5030","out_refund_no":v["out_refund_no"],"out_trade_no":v["out_trade_no"],"status":"PROCESSING","amount":{"total":v["amount"]["total"],"refund":v["amount"]["refund"]}}),
    )
}

async fn pay_refund_query(headers: HeaderMap, Path(no): Path<String>) -> Response {
    let uri = format!("/v3/refund/domestic/refunds/{no}");
    if no == "REFUND_MISSING" {
        return pay_answer(
            &headers,
            "GET",
            &uri,
            b"",
            StatusCode::NOT_FOUND,
            json!({"code":"RESOURCE_NOT_EXISTS","message":"退款单不存在"}),
        );
    }
    pay_answer(
        &headers,
        "GET",
        &uri,
        b"",
        StatusCode::OK,
        json!({"refund_id":"5030","out_refund_no":no,"status":"SUCCESS"}),
    )
}

async fn spawn() -> (String, St) {
    let st: St = Arc::new(Stand::default());
    let app = Router::new()
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/sns/jscode2session", get(jscode2session))
        .route("/cgi-bin/message/subscribe/send", post(subscribe_send))
        .route("/cgi-bin/message/template/send", post(template_send))
        .route("/cgi-bin/message/custom/send", post(custom_send))
        .route("/cgi-bin/qrcode/create", post(qrcode_create))
        .route("/wxa/getwxacodeunlimit", post(wxacode))
        .route("/wxa/business/getuserphonenumber", post(phone))
        .route("/cgi-bin/externalcontact/get", get(ext_get))
        .route(
            "/cgi-bin/externalcontact/add_contact_way",
            post(add_contact_way),
        )
        .route("/cgi-bin/externalcontact/send_welcome_msg", post(welcome))
        .route("/cgi-bin/externalcontact/groupchat/get", post(groupchat))
        .route("/cgi-bin/kf/sync_msg", post(kf_sync))
        .route("/cgi-bin/user/info", get(user_info))
        .route("/cgi-bin/kf/send_msg", post(kf_send))
        .route("/v3/pay/transactions/jsapi", post(pay_jsapi))
        .route("/v3/pay/transactions/out-trade-no/{no}", get(pay_query))
        .route("/v3/refund/domestic/refunds", post(pay_refund))
        .route("/v3/refund/domestic/refunds/{no}", get(pay_refund_query))
        .with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), st)
}

fn options(base: &str) -> ClientOptions {
    ClientOptions {
        base: ApiBase::all(base),
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        http: None,
    }
}

fn mp(base: &str, store: Arc<dyn TokenStore>) -> MpClient {
    MpClient::new("wx_app", "secret", store, options(base))
}

#[tokio::test]
async fn token_is_fetched_once_and_cached() {
    let (base, st) = spawn().await;
    let store = Arc::new(MemoryTokenStore::default());
    let client = mp(&base, store.clone());
    assert_eq!(client.tokens().get().await.unwrap(), "TOKEN_1");
    assert_eq!(client.tokens().get().await.unwrap(), "TOKEN_1");
    assert_eq!(st.stable_token_calls.load(Ordering::SeqCst), 1);
    // Another client (another "process") sharing the store reuses it.
    let other = mp(&base, store.clone());
    assert_eq!(other.tokens().get().await.unwrap(), "TOKEN_1");
    assert_eq!(st.stable_token_calls.load(Ordering::SeqCst), 1);
    // A token inside the early-refresh margin is refreshed.
    store
        .put(
            "mp:wx_app",
            &AccessToken {
                token: "TOKEN_1".into(),
                expires_at: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(client.tokens().get().await.unwrap(), "TOKEN_2");
}

#[tokio::test]
async fn bad_secret_is_a_typed_error() {
    let (base, _st) = spawn().await;
    let client = MpClient::new(
        "wx_app",
        "wrong",
        Arc::new(MemoryTokenStore::default()),
        options(&base),
    );
    let err = client.tokens().get().await.unwrap_err();
    assert!(matches!(err, Error::Api { errcode: 40125, .. }), "{err}");
}

#[tokio::test]
async fn concurrent_callers_make_exactly_one_stable_token_request() {
    let (base, st) = spawn().await;
    let client = Arc::new(mp(&base, Arc::new(MemoryTokenStore::default())));
    let (a, b) = (client.clone(), client.clone());
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { a.tokens().get().await }),
        tokio::spawn(async move { b.tokens().get().await })
    );
    let (ta, tb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
    assert_eq!(ta, tb);
    assert_eq!(st.stable_token_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn token_expiry_mid_flight_refreshes_and_retries_once() {
    let (base, st) = spawn().await;
    let store = Arc::new(MemoryTokenStore::default());
    // The cache still believes in a token the platform no longer accepts.
    store
        .put(
            "mp:wx_app",
            &AccessToken {
                token: "STALE".into(),
                expires_at: i64::MAX,
            },
        )
        .await
        .unwrap();
    let client = mp(&base, store.clone());
    client
        .send_subscribe_message(&SubscribeMessage::new(
            "oUser1",
            "TPL",
            &[("thing1", "维修完成")],
        ))
        .await
        .unwrap();
    assert_eq!(st.stable_token_calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        st.calls.lock().unwrap()["subscribe"],
        2,
        "one rejected call, one retry"
    );
    assert_eq!(
        store.get("mp:wx_app").await.unwrap().unwrap().token,
        "TOKEN_1"
    );
    assert_eq!(
        st.bodies.lock().unwrap()[0]["data"]["thing1"]["value"],
        "维修完成"
    );
}

#[tokio::test]
async fn a_customer_service_text_is_sent_as_wechat_expects_and_45015_is_typed() {
    let (base, st) = spawn().await;
    let client = mp(&base, Arc::new(MemoryTokenStore::default()));
    client
        .send_custom_message(&CustomMessage::text("oUser1", "您好，Pro 16 有现货"))
        .await
        .unwrap();
    assert_eq!(
        st.bodies.lock().unwrap()[0],
        json!({"touser":"oUser1","msgtype":"text","text":{"content":"您好，Pro 16 有现货"}})
    );
    let err = client
        .send_custom_message(&CustomMessage::text("oSilent", "还在吗？"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { errcode: 45015, .. }), "{err}");
    assert_eq!(
        st.calls.lock().unwrap()["custom"],
        2,
        "45015 is final: not retried"
    );
}

#[tokio::test]
async fn rate_limit_45009_backs_off_then_succeeds_and_is_bounded() {
    let (base, st) = spawn().await;
    let client = mp(&base, Arc::new(MemoryTokenStore::default()));
    let message = TemplateMessage {
        touser: "oUser1".into(),
        template_id: "TPL".into(),
        url: None,
        miniprogram: None,
        client_msg_id: Some("MSG_000001".into()),
        data: [("keyword1".to_owned(), json!({"value":"ok"}))]
            .into_iter()
            .collect(),
    };
    st.rate_limit_left.store(2, Ordering::SeqCst);
    assert_eq!(
        client.send_template_message(&message).await.unwrap(),
        200228332
    );
    assert_eq!(st.calls.lock().unwrap()["template"], 3);
    assert_eq!(st.bodies.lock().unwrap()[0]["client_msg_id"], "MSG_000001");
    // More 45009s than the policy allows: surfaced as a typed error.
    st.rate_limit_left.store(10, Ordering::SeqCst);
    let err = client.send_template_message(&message).await.unwrap_err();
    assert!(matches!(err, Error::Api { errcode: 45009, .. }), "{err}");
    assert_eq!(
        st.calls.lock().unwrap()["template"],
        6,
        "1 + max_retries attempts"
    );
}

#[tokio::test]
async fn jscode2session_and_phone_number() {
    let (base, _st) = spawn().await;
    let client = mp(&base, Arc::new(MemoryTokenStore::default()));
    let session = client.code2session("good").await.unwrap();
    assert_eq!(session.openid, "oUser1");
    assert_eq!(session.unionid.as_deref(), Some("uUnion1"));
    assert!(
        !format!("{session:?}").contains("tiiht"),
        "session_key redacted in Debug"
    );
    let err = client.code2session("bad").await.unwrap_err();
    assert!(matches!(err, Error::Api { errcode: 40029, .. }), "{err}");
    assert_eq!(
        client.phone_number("c1").await.unwrap().pure_phone_number,
        "13800000000"
    );
    assert!(matches!(
        client.phone_number("foreign").await,
        Err(Error::WatermarkMismatch { .. })
    ));
}

#[tokio::test]
async fn qr_create_and_wxacode() {
    let (base, st) = spawn().await;
    let client = mp(&base, Arc::new(MemoryTokenStore::default()));
    let ticket = client
        .create_qrcode(&QrCreate::temporary_str("store:42", 604_800).unwrap())
        .await
        .unwrap();
    assert_eq!(ticket.ticket, "gQH4-QR_STR_SCENE");
    assert_eq!(ticket.expire_seconds, Some(604_800));
    let permanent = client
        .create_qrcode(&QrCreate::permanent_id(7).unwrap())
        .await
        .unwrap();
    assert_eq!(permanent.ticket, "gQH4-QR_LIMIT_SCENE");
    assert_eq!(permanent.expire_seconds, None);
    assert_eq!(
        st.bodies.lock().unwrap()[0]["action_info"]["scene"]["scene_str"],
        "store:42"
    );
    let image = client
        .wxacode_unlimit(&WxaCodeRequest::new("d=SN1.abc", Some("pages/device")))
        .await
        .unwrap();
    assert_eq!(&image[..2], &[0xFF, 0xD8]);
    let err = client
        .wxacode_unlimit(&WxaCodeRequest::new("d=1", Some("pages/missing")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { errcode: 41030, .. }), "{err}");
    let too_long = "x".repeat(33);
    assert!(matches!(
        client
            .wxacode_unlimit(&WxaCodeRequest::new(&too_long, None))
            .await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn wecom_customer_contact_apis() {
    let (base, st) = spawn().await;
    let client = WeComClient::new(
        "ww_corp",
        "corpsecret",
        Arc::new(MemoryTokenStore::default()),
        options(&base),
    );
    let info = client
        .external_contact("woAJ2GCAAAXtWyujaWJHDDGi0mAAAA")
        .await
        .unwrap();
    assert_eq!(
        info.external_contact.external_userid,
        "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA"
    );
    assert_eq!(info.follow_user[0].state.as_deref(), Some("外联二维码1"));
    let way = client
        .add_contact_way(&ContactWay::qr(&["rocky"], "c:spring24:s17").unwrap())
        .await
        .unwrap();
    assert_eq!(way.config_id, "42b34949e138eb6e027c123cba77fAAA");
    assert_eq!(st.bodies.lock().unwrap()[0]["state"], "c:spring24:s17");
    assert!(ContactWay::qr(&["rocky"], &"s".repeat(31)).is_err());
    client
        .send_welcome_msg(&WelcomeMessage::text("WC1", "欢迎"))
        .await
        .unwrap();
    let err = client
        .send_welcome_msg(&WelcomeMessage::text("WC1", "欢迎"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { errcode: 41051, .. }), "{err}");
    let chat = client
        .group_chat("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", true)
        .await
        .unwrap();
    assert_eq!(chat.member_list.len(), 2);
    assert_eq!(chat.member_list[1].join_scene, Some(3));
    assert_eq!(st.gettoken_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_followers_unionid_comes_from_user_info() {
    let (base, _st) = spawn().await;
    let client = mp(&base, Arc::new(MemoryTokenStore::default()));
    let info = client
        .follower_info("oLVPpjqs9BhvzwPj5A-vTYAX3GLc")
        .await
        .unwrap();
    assert_eq!(info.subscribe, 1);
    assert_eq!(info.openid, "oLVPpjqs9BhvzwPj5A-vTYAX3GLc");
    assert_eq!(
        info.unionid.as_deref(),
        Some("o6_bmasdasdsad6_2sgVt7hMZOPfL")
    );
    assert_eq!(info.subscribe_scene.as_deref(), Some("ADD_SCENE_QR_CODE"));
    assert!(client.follower_info("").await.is_err());
}

#[tokio::test]
async fn wecom_customer_service_sync_pages_and_send() {
    let (base, st) = spawn().await;
    let client = WeComClient::new(
        "ww_corp",
        "corpsecret",
        Arc::new(MemoryTokenStore::default()),
        options(&base),
    );
    let first = client
        .kf_sync_msg("wkSERVICE", None, Some("EVT_TOKEN"), 1000)
        .await
        .unwrap();
    assert_eq!((first.has_more, first.next_cursor.as_str()), (1, "C1"));
    assert_eq!(first.msg_list[0].origin(), KfOrigin::Customer);
    let second = client
        .kf_sync_msg("wkSERVICE", Some(&first.next_cursor), None, 1000)
        .await
        .unwrap();
    assert_eq!(second.has_more, 0);
    assert_eq!(second.msg_list[0].text.as_ref().unwrap().content, "在吗");
    {
        let bodies = st.bodies.lock().unwrap();
        assert_eq!(bodies[0]["token"], "EVT_TOKEN");
        assert!(bodies[0].get("cursor").is_none());
        assert_eq!(bodies[1]["cursor"], "C1");
        assert!(bodies[1].get("token").is_none());
    }
    assert!(client
        .kf_sync_msg("wkSERVICE", None, None, 0)
        .await
        .is_err());
    let sent = client
        .kf_send_text("wkSERVICE", "wmCustomer1", "reply0001", "您好，有现货")
        .await
        .unwrap();
    assert_eq!(sent, "reply0001");
    assert_eq!(
        st.bodies.lock().unwrap()[2]["text"]["content"],
        "您好，有现货"
    );
    let again = client
        .kf_send_text("wkSERVICE", "wmCustomer1", "reply0001", "您好，有现货")
        .await
        .unwrap_err();
    assert!(
        matches!(again, Error::Api { errcode: 95016, .. }),
        "{again}"
    );
    for (msgid, text) in [("bad id!", "x"), ("ok", ""), ("ok", &"长".repeat(700))] {
        let err = client
            .kf_send_text("wkSERVICE", "wmCustomer1", msgid, text)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
    assert_eq!(
        st.bodies.lock().unwrap().len(),
        3,
        "refused calls never reach WeCom"
    );
}

#[tokio::test]
async fn pay_client_signs_requests_and_verifies_responses() {
    let (base, _st) = spawn().await;
    let client = PayClient::new(&base, pay_signer(), pay_verifier());
    let order = JsapiPrepayRequest::new(
        "wx8888888888888888",
        "1900000109",
        "Image形象店-深圳腾大-QQ公仔",
        "ORDER_000123",
        "https://x.example/notify",
        100,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )
    .unwrap();
    let prepay = client.jsapi_prepay(&order).await.unwrap();
    assert_eq!(prepay, "wx201410272009395522657a690389285100");
    let tx = client.query_by_out_trade_no("ORDER_000123").await.unwrap();
    assert_eq!(tx.trade_state.as_deref(), Some("SUCCESS"));
    assert_eq!(tx.amount.unwrap().total, Some(100));
    let err = client
        .query_by_out_trade_no("ORDER_FORGED")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PaySignature(_)), "{err}");
    let refund = client
        .refund(&RefundRequest::by_out_trade_no("ORDER_000123", "REFUND_0001", 50, 100).unwrap())
        .await
        .unwrap();
    assert_eq!(refund.status.as_deref(), Some("PROCESSING"));
    assert_eq!(refund.amount.unwrap().refund, Some(50));
    assert_eq!(
        client
            .query_refund("REFUND_0001")
            .await
            .unwrap()
            .status
            .as_deref(),
        Some("SUCCESS")
    );
    let err = client.query_refund("REFUND_MISSING").await.unwrap_err();
    assert!(
        matches!(err, Error::Pay { status: 404, ref code, .. } if code == "RESOURCE_NOT_EXISTS"),
        "{err}"
    );
    // A client with another merchant key is refused by the stand-in (SIGN_ERROR).
    let other_key = s(&vectors()["pay_v3"]["S4_wechatpy_sign"], "private_key_pem");
    let wrong = PayClient::new(
        &base,
        MerchantSigner::from_pem("1900000109", "X", other_key).unwrap(),
        pay_verifier(),
    );
    let err = wrong.jsapi_prepay(&order).await.unwrap_err();
    assert!(
        matches!(err, Error::Pay { status: 401, ref code, .. } if code == "SIGN_ERROR"),
        "{err}"
    );
}
