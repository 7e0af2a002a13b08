//! A local stand-in for WeChat's API hosts: it issues tokens, accepts
//! messages and counts every call, and can be told to fail.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Stand {
    pub token_calls: AtomicUsize,
    latest: Mutex<HashMap<String, String>>,
    /// Calls per API (token calls excluded).
    calls: Mutex<HashMap<&'static str, usize>>,
    /// Messages accepted, as WeChat received them.
    pub delivered: Mutex<Vec<(&'static str, Value)>>,
    /// Answers of HTTP 503 still to give on message sends.
    pub failures_left: AtomicUsize,
    /// Customer-service messages WeCom holds; a cursor is how many were read.
    pub kf_inbox: Mutex<Vec<Value>>,
}

impl Stand {
    pub fn calls(&self, api: &str) -> usize {
        self.calls.lock().unwrap().get(api).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> usize {
        self.calls.lock().unwrap().values().sum::<usize>() + self.token_calls.load(Ordering::SeqCst)
    }

    pub fn delivered(&self, api: &str) -> Vec<Value> {
        self.delivered
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| *a == api)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn token_ok(&self, q: &HashMap<String, String>) -> bool {
        q.get("access_token")
            .is_some_and(|t| self.latest.lock().unwrap().values().any(|l| l == t))
    }

    /// Counts the call; answers the failure to give, if any.
    fn enter(&self, api: &'static str, q: &HashMap<String, String>) -> Option<Response> {
        *self.calls.lock().unwrap().entry(api).or_default() += 1;
        if !self.token_ok(q) {
            return Some(
                Json(json!({"errcode": 40001, "errmsg": "invalid credential"})).into_response(),
            );
        }
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Some((StatusCode::SERVICE_UNAVAILABLE, "busy").into_response());
        }
        None
    }

    fn accept(&self, api: &'static str, body: Value) {
        self.delivered.lock().unwrap().push((api, body));
    }
}

type St = Arc<Stand>;

async fn stable_token(State(st): State<St>, Json(body): Json<Value>) -> Json<Value> {
    let n = st.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
    if body["secret"].as_str() != Some("app-secret") {
        return Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
    }
    // Slow enough that concurrent refreshes overlap.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let token = format!("TOKEN_{n}");
    st.latest.lock().unwrap().insert(
        body["appid"].as_str().unwrap_or_default().to_owned(),
        token.clone(),
    );
    Json(json!({"access_token": token, "expires_in": 7200}))
}

async fn gettoken(State(st): State<St>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let n = st.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
    if q.get("corpsecret").map(String::as_str) != Some("app-secret") {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let token = format!("WECOM_{n}");
    st.latest
        .lock()
        .unwrap()
        .insert(q.get("corpid").cloned().unwrap_or_default(), token.clone());
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}))
}

async fn subscribe_send(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("subscribe", &q) {
        return r;
    }
    st.accept("subscribe", body);
    Json(json!({"errcode": 0, "errmsg": "ok"})).into_response()
}

async fn template_send(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("template", &q) {
        return r;
    }
    st.accept("template", body);
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": 200228332})).into_response()
}

async fn welcome(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("welcome", &q) {
        return r;
    }
    st.accept("welcome", body);
    Json(json!({"errcode": 0, "errmsg": "ok"})).into_response()
}

async fn jscode2session(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    *st.calls
        .lock()
        .unwrap()
        .entry("jscode2session")
        .or_default() += 1;
    if q.get("secret").map(String::as_str) != Some("app-secret") {
        return Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
    }
    // Codes look like `code-<openid>[-<unionid>]`.
    match q.get("js_code").and_then(|c| c.strip_prefix("code-")) {
        Some(rest) => {
            let mut parts = rest.splitn(2, '-');
            let openid = parts.next().unwrap_or_default();
            let mut out = json!({"openid": openid, "session_key": "tiihtNczf5v6AKRyjwEUhQ=="});
            if let Some(unionid) = parts.next() {
                out["unionid"] = json!(unionid);
            }
            Json(out)
        }
        None => Json(json!({"errcode": 40029, "errmsg": "invalid code"})),
    }
}

async fn phone(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("phone", &q) {
        return r;
    }
    // Codes look like `phone-<11 digits>-<appid>`.
    let code = body["code"].as_str().unwrap_or_default();
    let Some((number, appid)) = code
        .strip_prefix("phone-")
        .and_then(|rest| rest.split_once('-'))
    else {
        return Json(json!({"errcode": 40029, "errmsg": "invalid code"})).into_response();
    };
    Json(json!({"errcode": 0, "errmsg": "ok", "phone_info": {
        "phoneNumber": number, "purePhoneNumber": number, "countryCode": "86",
        "watermark": {"timestamp": 1796300000, "appid": appid}
    }}))
    .into_response()
}

async fn add_contact_way(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("add_contact_way", &q) {
        return r;
    }
    let state = body["state"].as_str().unwrap_or_default().to_owned();
    st.accept("add_contact_way", body);
    Json(
        json!({"errcode": 0, "errmsg": "ok", "config_id": format!("cfg-{state}"),
                "qr_code": format!("https://wework.qpic.cn/wwpic/{state}")}),
    )
    .into_response()
}

/// Customers `wm<NAME>` have the unionid `u<NAME>`.
async fn external_contact(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = st.enter("external_contact", &q) {
        return r;
    }
    let id = q.get("external_userid").cloned().unwrap_or_default();
    let unionid = id.strip_prefix("wm").map(|n| format!("u{n}"));
    Json(json!({"errcode": 0, "errmsg": "ok",
        "external_contact": {"external_userid": id, "name": "顾客", "type": 1, "unionid": unionid},
        "follow_user": []}))
    .into_response()
}

/// `qrcode/create`: the code's URL names its scene.
async fn qrcode_create(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("qrcode_create", &q) {
        return r;
    }
    let scene = body["action_info"]["scene"]["scene_str"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    st.accept("qrcode_create", body);
    Json(
        json!({"ticket": format!("gQH47joAAAAAAAAAASxodHRwOi8v{scene}"),
                "url": format!("http://weixin.qq.com/q/{scene}")}),
    )
    .into_response()
}

/// `user/info`: follower `o<NAME>` has the unionid `u<NAME>`.
async fn user_info(State(st): State<St>, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = st.enter("user_info", &q) {
        return r;
    }
    let openid = q.get("openid").cloned().unwrap_or_default();
    let unionid = openid.strip_prefix('o').map(|n| format!("u{n}"));
    Json(
        json!({"subscribe": 1, "openid": openid, "unionid": unionid, "subscribe_time": 1796300000,
                "subscribe_scene": "ADD_SCENE_QR_CODE"}),
    )
    .into_response()
}

/// `getwxacodeunlimit`: an image that names its scene and page.
async fn wxacode(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("wxacode", &q) {
        return r;
    }
    let image = format!(
        "\u{89}PNG scene={} page={}",
        body["scene"].as_str().unwrap_or_default(),
        body["page"].as_str().unwrap_or_default()
    );
    st.accept("wxacode", body);
    ([("content-type", "image/jpeg")], image.into_bytes()).into_response()
}

/// `kf/sync_msg`: up to `limit` messages after the cursor.
async fn kf_sync(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("kf_sync", &q) {
        return r;
    }
    let inbox = st.kf_inbox.lock().unwrap();
    let from: usize = body["cursor"]
        .as_str()
        .map_or(0, |c| c.parse().unwrap_or(usize::MAX));
    if from > inbox.len() {
        return Json(json!({"errcode": 95001, "errmsg": "invalid cursor"})).into_response();
    }
    let limit = body["limit"].as_u64().unwrap_or(1000) as usize;
    let page: Vec<Value> = inbox.iter().skip(from).take(limit).cloned().collect();
    let next = from + page.len();
    Json(
        json!({"errcode": 0, "errmsg": "ok", "next_cursor": next.to_string(),
                "has_more": i32::from(next < inbox.len()), "msg_list": page}),
    )
    .into_response()
}

async fn kf_send(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = st.enter("kf_send", &q) {
        return r;
    }
    let msgid = body["msgid"].clone();
    st.accept("kf_send", body);
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": msgid})).into_response()
}

/// Starts the stand-in on 127.0.0.1:0; returns its state and base URL.
pub async fn start() -> (Arc<Stand>, String) {
    let st: St = Arc::new(Stand::default());
    let router = Router::new()
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/cgi-bin/message/subscribe/send", post(subscribe_send))
        .route("/cgi-bin/message/template/send", post(template_send))
        .route("/cgi-bin/externalcontact/send_welcome_msg", post(welcome))
        .route("/sns/jscode2session", get(jscode2session))
        .route(
            "/cgi-bin/externalcontact/add_contact_way",
            post(add_contact_way),
        )
        .route("/cgi-bin/externalcontact/get", get(external_contact))
        .route("/wxa/business/getuserphonenumber", post(phone))
        .route("/cgi-bin/qrcode/create", post(qrcode_create))
        .route("/wxa/getwxacodeunlimit", post(wxacode))
        .route("/cgi-bin/user/info", get(user_info))
        .route("/cgi-bin/kf/sync_msg", post(kf_sync))
        .route("/cgi-bin/kf/send_msg", post(kf_send))
        .with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (st, format!("http://{addr}"))
}
