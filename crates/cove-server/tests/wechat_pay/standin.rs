//! A local stand-in for WeChat Pay's API host: it checks the merchant's
//! `Authorization` signature on every request with the merchant's public key,
//! answers prepay, query, close and refund calls, and signs every answer with
//! "WeChat Pay's" private key as the real host does.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cove_wechat::pay::{parse_authorization, request_message, MerchantSigner};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub body: String,
    pub authorization: String,
}

pub struct PayStand {
    mchid: String,
    merchant_serial: String,
    merchant_key: VerifyingKey<Sha256>,
    /// Signs answers as WeChat Pay (its `sign` is plain RSA-SHA256).
    wechat: MerchantSigner,
    public_key_id: String,
    pub seen: Mutex<Vec<Seen>>,
    pub refused: AtomicUsize,
    pub prepays: AtomicUsize,
    /// Prepay request bodies by out_trade_no.
    pub orders: Mutex<HashMap<String, Value>>,
    /// Query answers by out_trade_no (absent: NOTPAY for a known order).
    pub transactions: Mutex<HashMap<String, Value>>,
    pub closed: Mutex<Vec<String>>,
    /// The next answers to refund requests (status, body); empty: PROCESSING.
    pub refund_answers: Mutex<Vec<(u16, Value)>>,
    pub refund_requests: Mutex<Vec<Value>>,
    /// Refund query answers by out_refund_no.
    pub refunds: Mutex<HashMap<String, Value>>,
}

impl PayStand {
    pub fn new(
        mchid: &str,
        merchant_serial: &str,
        merchant_public: RsaPublicKey,
        wechat: MerchantSigner,
        public_key_id: &str,
    ) -> Arc<PayStand> {
        Arc::new(PayStand {
            mchid: mchid.into(),
            merchant_serial: merchant_serial.into(),
            merchant_key: VerifyingKey::new(merchant_public),
            wechat,
            public_key_id: public_key_id.into(),
            seen: Default::default(),
            refused: Default::default(),
            prepays: Default::default(),
            orders: Default::default(),
            transactions: Default::default(),
            closed: Default::default(),
            refund_answers: Default::default(),
            refund_requests: Default::default(),
            refunds: Default::default(),
        })
    }

    /// Serves on a free port; answers its base URL.
    pub async fn serve(self: &Arc<Self>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    pub fn seen(&self, method: &str, path_prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path_and_query.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    /// Checks the merchant's signature as WeChat Pay does.
    fn authorized(&self, method: &str, path: &str, headers: &HeaderMap, body: &str) -> bool {
        let Some(header) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some(params) = parse_authorization(header) else {
            return false;
        };
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let ts: i64 = get("timestamp").parse().unwrap_or(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let Ok(sig) = STANDARD.decode(get("signature")) else {
            return false;
        };
        let Ok(sig) = Signature::try_from(sig.as_slice()) else {
            return false;
        };
        let message = request_message(method, path, get("timestamp"), get("nonce_str"), body);
        get("mchid") == self.mchid
            && get("serial_no") == self.merchant_serial
            && (now - ts).abs() <= 300
            && self.merchant_key.verify(message.as_bytes(), &sig).is_ok()
    }

    fn signed(&self, status: u16, body: Option<&Value>) -> Response {
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let nonce = cove_wechat::pay::nonce_str();
        let signature = self
            .wechat
            .sign(format!("{ts}\n{nonce}\n{text}\n").as_bytes());
        let mut response = (StatusCode::from_u16(status).unwrap(), text).into_response();
        let h = response.headers_mut();
        h.insert("Wechatpay-Timestamp", ts.parse().unwrap());
        h.insert("Wechatpay-Nonce", nonce.parse().unwrap());
        h.insert("Wechatpay-Signature", signature.parse().unwrap());
        h.insert("Wechatpay-Serial", self.public_key_id.parse().unwrap());
        h.insert(
            "Wechatpay-Signature-Type",
            "WECHATPAY2-SHA256-RSA2048".parse().unwrap(),
        );
        if body.is_some() {
            h.insert("content-type", "application/json".parse().unwrap());
        }
        response
    }
}

fn error(status: u16, code: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({ "code": code, "message": code })),
    )
        .into_response()
}

async fn handle(
    State(stand): State<Arc<PayStand>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8(body.to_vec()).unwrap();
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    stand.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path_and_query: path_and_query.clone(),
        body: body.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    });
    if !stand.authorized(method.as_str(), &path_and_query, &headers, &body) {
        stand.refused.fetch_add(1, Ordering::SeqCst);
        return error(401, "SIGN_ERROR");
    }
    let path = uri.path();
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    match (method.as_str(), path) {
        ("POST", "/v3/pay/transactions/jsapi") => {
            let n = stand.prepays.fetch_add(1, Ordering::SeqCst) + 1;
            let otn = json["out_trade_no"].as_str().unwrap_or("").to_owned();
            stand.orders.lock().unwrap().insert(otn, json);
            stand.signed(
                200,
                Some(&json!({ "prepay_id": format!("wx2026prepay{n:06}") })),
            )
        }
        ("POST", "/v3/refund/domestic/refunds") => {
            stand.refund_requests.lock().unwrap().push(json.clone());
            let next = {
                let mut answers = stand.refund_answers.lock().unwrap();
                (!answers.is_empty()).then(|| answers.remove(0))
            };
            match next {
                Some((200, answer)) => stand.signed(200, Some(&answer)),
                Some((status, answer)) => (
                    StatusCode::from_u16(status).unwrap(),
                    axum::Json(answer),
                )
                    .into_response(),
                None => stand.signed(
                    200,
                    Some(&json!({
                        "refund_id": format!("50300{}", json["out_refund_no"].as_str().unwrap_or("")),
                        "out_refund_no": json["out_refund_no"],
                        "out_trade_no": json["out_trade_no"],
                        "status": "PROCESSING",
                        "amount": json["amount"],
                    })),
                ),
            }
        }
        ("GET", p) if p.starts_with("/v3/refund/domestic/refunds/") => {
            let no = p.trim_start_matches("/v3/refund/domestic/refunds/");
            match stand.refunds.lock().unwrap().get(no) {
                Some(r) => stand.signed(200, Some(r)),
                None => error(404, "RESOURCE_NOT_EXISTS"),
            }
        }
        ("GET", p) if p.starts_with("/v3/pay/transactions/out-trade-no/") => {
            let otn = p.trim_start_matches("/v3/pay/transactions/out-trade-no/");
            if let Some(t) = stand.transactions.lock().unwrap().get(otn) {
                return stand.signed(200, Some(t));
            }
            match stand.orders.lock().unwrap().get(otn) {
                Some(order) => stand.signed(
                    200,
                    Some(&json!({
                        "appid": order["appid"], "mchid": order["mchid"], "out_trade_no": otn,
                        "trade_state": "NOTPAY", "trade_state_desc": "未支付",
                    })),
                ),
                None => error(404, "ORDER_NOT_EXIST"),
            }
        }
        ("POST", p)
            if p.starts_with("/v3/pay/transactions/out-trade-no/") && p.ends_with("/close") =>
        {
            let otn = p
                .trim_start_matches("/v3/pay/transactions/out-trade-no/")
                .trim_end_matches("/close");
            stand.closed.lock().unwrap().push(otn.to_owned());
            stand.signed(204, None)
        }
        _ => error(404, "NOT_FOUND"),
    }
}
