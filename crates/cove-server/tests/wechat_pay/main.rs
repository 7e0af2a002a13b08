//! WeChat Pay as the store's payment provider, end to end: Cove pays orders
//! through a local stand-in of WeChat Pay's host (which checks Cove's request
//! signatures), and receives notifications built independently by Python
//! `cryptography`; Python `wechatpayv3` verifies what Cove signs. The peer
//! script is `tests/wechat_pay/peer.py`; `COVE_PYTHON` names a Python with
//! `cryptography` and `wechatpayv3` (see `crates/cove-wechat/tests/compat/setup.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../commerce/fixtures.rs"]
mod fixtures;
mod standin;

use common::{count, error_code, eventually, TestApp, TestDb};
use cove_core::audience::{IdType, Identifier};
use cove_core::clock::{self, MINUTE};
use cove_core::commerce::wechat_pay;
use cove_core::config::WechatPayConfig;
use cove_core::jobs::Registry;
use cove_wechat::pay::MerchantSigner;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use standin::PayStand;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

const MCHID: &str = "1900000109";
const APPID: &str = "wxd678efh567hg6787";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const PUB_KEY_ID: &str = "PUB_KEY_ID_0000000000000024101100397200000006";
const APIV3_KEY: &str = "a7cde1ef52a06d9c1e38f8f8a29f9d8b";

struct Keys {
    merchant: RsaPrivateKey,
    wechat: RsaPrivateKey,
    merchant_pem: String,
    merchant_public_pem: String,
    wechat_pem: String,
    wechat_public_pem: String,
}

/// Two RSA-2048 key pairs, made once per test run: the merchant's and WeChat Pay's.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        let merchant = RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let wechat = RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let pem = |k: &RsaPrivateKey| k.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = |k: &RsaPrivateKey| {
            RsaPublicKey::from(k)
                .to_public_key_pem(LineEnding::LF)
                .unwrap()
        };
        Keys {
            merchant_pem: pem(&merchant),
            merchant_public_pem: public(&merchant),
            wechat_pem: pem(&wechat),
            wechat_public_pem: public(&wechat),
            merchant,
            wechat,
        }
    })
}

struct Shop {
    app: TestApp,
    _db: TestDb,
    stand: Arc<PayStand>,
    _files: tempfile::TempDir,
}

impl Shop {
    fn db(&self) -> &cove_core::db::Db {
        self.app.db()
    }

    /// The configured merchant, as the server holds it.
    fn pay(&self) -> Arc<wechat_pay::WechatPay> {
        self.app
            .server
            .as_ref()
            .unwrap()
            .state
            .wechat_pay
            .clone()
            .unwrap()
    }
}

/// Cove with WeChat Pay enabled against a fresh stand-in; keys are read from
/// files named in the configuration, as in production.
async fn shop() -> Shop {
    shop_verifying_with(None).await
}

/// As [`shop`]; `Some(certificate PEM)` verifies WeChat Pay by a platform
/// certificate (legacy mode) instead of the WeChat Pay public key.
async fn shop_verifying_with(certificate: Option<(&str, &str)>) -> Shop {
    let k = keys();
    let serial = certificate.map_or(PUB_KEY_ID, |(serial, _)| serial);
    let stand = PayStand::new(
        MCHID,
        SERIAL,
        RsaPublicKey::from(&k.merchant),
        MerchantSigner::new(MCHID, serial, k.wechat.clone()),
        serial,
    );
    let base = stand.serve().await;
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let path = files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let db = TestDb::new().await;
    let mut config = db.config();
    config.public_url = Some("https://shop.example.com".into());
    config.wechat_pay = WechatPayConfig {
        enabled: true,
        base_url: Some(base),
        mchid: MCHID.into(),
        appid: APPID.into(),
        serial_no: SERIAL.into(),
        private_key_file: Some(write("apiclient_key.pem", &k.merchant_pem)),
        api_v3_key_file: Some(write("apiv3.key", &format!("{APIV3_KEY}\n"))),
        ..Default::default()
    };
    match certificate {
        Some((_, pem)) => {
            config.wechat_pay.platform_cert_files = vec![write("wechatpay_cert.pem", pem)];
        }
        None => {
            config.wechat_pay.public_key_file = Some(write("pub_key.pem", &k.wechat_public_pem));
            config.wechat_pay.public_key_id = Some(PUB_KEY_ID.into());
        }
    }
    let app = TestApp::start(config, Registry::new()).await;
    Shop {
        app,
        _db: db,
        stand,
        _files: files,
    }
}

/// A Mini Program customer: a profile holding an openid under the shop's appid.
async fn payer(shop: &Shop) -> (String, String) {
    let openid = format!("o-{}", &uuid::Uuid::now_v7().simple().to_string()[16..]);
    let db = shop.db();
    let mut tx = db.begin().await.unwrap();
    let profile = cove_core::audience::domain::profile_for(
        &mut tx,
        db.backend(),
        &[Identifier::new(IdType::OpenId(APPID.into()), &openid).unwrap()],
        "test",
        clock::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (profile, openid)
}

/// An order placed through the store's checkout, waiting for payment of
/// `price_fen` (one laptop at that price).
async fn pending_order(shop: &Shop, profile: &str, price_fen: i64) -> String {
    fixtures::catalog(&shop.app).await;
    let code = format!("WX{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let sku = fixtures::sku(&shop.app, &code, price_fen, 5).await;
    let customer = shop.app.customer(profile).await;
    let placed = fixtures::place(
        &customer,
        &format!("key-{code}"),
        json!([{ "sku_id": sku, "quantity": 1 }]),
    )
    .await;
    let order = placed["order_id"].as_str().unwrap().to_owned();
    let total: i64 = sqlx::query_scalar("SELECT total_fen FROM orders WHERE id = $1")
        .bind(&order)
        .fetch_one(shop.db().pool())
        .await
        .unwrap();
    assert_eq!(total, price_fen, "the order's payable amount");
    order
}

/// The payer joins the membership: its member id.
async fn join(shop: &Shop, profile: &str) -> String {
    let phone = format!("139{:08}", rand::random::<u32>() % 100_000_000);
    let response = shop
        .app
        .customer(profile)
        .await
        .post(
            "/api/v1/me/membership",
            json!({ "name": "韩梅梅", "phone": phone }),
        )
        .await;
    assert_eq!(response.status(), 200, "join");
    let body: Value = response.json().await.unwrap();
    body["member"]["id"]
        .as_str()
        .or(body["id"].as_str())
        .unwrap()
        .to_owned()
}

async fn transitions(shop: &Shop, order: &str) -> i64 {
    count(
        shop.db(),
        &format!("SELECT COUNT(*) FROM order_transitions WHERE order_id = '{order}'"),
    )
    .await
}

async fn order_status(shop: &Shop, order: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(order)
        .fetch_one(shop.db().pool())
        .await
        .unwrap()
}

/// (out_trade_no, status) of the order's one payment.
async fn payment_of(shop: &Shop, order: &str) -> (String, String) {
    sqlx::query_as("SELECT out_trade_no, status FROM payments WHERE order_id = $1")
        .bind(order)
        .fetch_one(shop.db().pool())
        .await
        .unwrap()
}

fn python() -> String {
    std::env::var("COVE_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs operations through `peer.py`; each must succeed.
async fn py(ops: Value) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wechat_pay/peer.py");
        let mut child = Command::new(python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (set COVE_PYTHON)", python()));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ops.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        results
            .into_iter()
            .map(|r| match r.get("ok") {
                Some(v) => v.clone(),
                None => panic!(
                    "peer error: {} (COVE_PYTHON needs cryptography and wechatpayv3)",
                    r["error"]
                ),
            })
            .collect()
    })
    .await
    .unwrap()
}

fn unix_now() -> i64 {
    clock::now() / 1_000_000
}

/// What WeChat Pay would send for a successful payment; `edit` adjusts it.
fn transaction(out_trade_no: &str, total: i64, openid: &str) -> Value {
    json!({
        "appid": APPID, "mchid": MCHID, "out_trade_no": out_trade_no,
        "transaction_id": format!("42000{}", &out_trade_no[..12]), "trade_type": "JSAPI",
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
        "attach": "", "success_time": "2026-12-03T20:00:00+08:00",
        "payer": {"openid": openid},
        "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"}
    })
}

struct Delivery {
    id: String,
    event_type: &'static str,
    original_type: &'static str,
    plaintext: Value,
    timestamp: i64,
    serial: String,
}

impl Delivery {
    fn payment(id: &str, plaintext: Value) -> Delivery {
        Delivery {
            id: id.into(),
            event_type: "TRANSACTION.SUCCESS",
            original_type: "transaction",
            plaintext,
            timestamp: unix_now(),
            serial: PUB_KEY_ID.into(),
        }
    }

    fn refund(id: &str, event_type: &'static str, plaintext: Value) -> Delivery {
        Delivery {
            event_type,
            original_type: "refund",
            ..Delivery::payment(id, plaintext)
        }
    }

    fn op(&self) -> Value {
        json!({
            "op": "notification", "id": self.id, "event_type": self.event_type,
            "original_type": self.original_type, "plaintext": self.plaintext.to_string(),
            "apiv3_key": APIV3_KEY, "resource_nonce": &cove_wechat::pay::nonce_str()[..12],
            "timestamp": self.timestamp.to_string(), "nonce": cove_wechat::pay::nonce_str(),
            "serial": self.serial, "private_key_pem": keys().wechat_pem,
        })
    }
}

/// (headers, body) of notifications signed by the Python peer.
async fn build(deliveries: &[Delivery]) -> Vec<(Vec<(String, String)>, String)> {
    py(Value::Array(deliveries.iter().map(Delivery::op).collect()))
        .await
        .into_iter()
        .map(|n| {
            let headers = n["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            (headers, n["body"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn post_notification(
    shop: &Shop,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> reqwest::Response {
    let mut request = shop
        .app
        .client
        .post(shop.app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        request = request.header(k.as_str(), v.as_str());
    }
    request.send().await.unwrap()
}

async fn notify(shop: &Shop, headers: &[(String, String)], body: &str) -> reqwest::Response {
    post_notification(shop, wechat_pay::NOTIFY_PATH, headers, body).await
}

/// Asserts a refusal with `status` in WeChat Pay's `FAIL` form (so WeChat Pay retries).
async fn assert_refused(response: reqwest::Response, status: u16) {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "FAIL");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn pay(shop: &Shop, profile: &str, order: &str) -> Value {
    let customer = shop.app.customer(profile).await;
    let response = customer
        .post(&format!("/api/v1/me/orders/{order}/pay/wechat"), json!({}))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_mini_program_customer_pays_and_wechatpayv3_verifies_every_signature() {
    let shop = shop().await;
    let (profile, openid) = payer(&shop).await;
    let order = pending_order(&shop, &profile, 12_999).await;

    let params = pay(&shop, &profile, &order).await;
    let (out_trade_no, status) = payment_of(&shop, &order).await;
    assert_eq!(status, "created");
    assert_eq!(params["appId"], APPID);
    assert_eq!(params["signType"], "RSA");
    assert_eq!(params["package"], "prepay_id=wx2026prepay000001");
    assert_eq!(params["timeStamp"].as_str().unwrap().len(), 10);

    // What WeChat Pay received: the order in fen, the payer, the callback, the expiry in +08:00.
    let sent = shop.stand.orders.lock().unwrap()[&out_trade_no].clone();
    assert_eq!(sent["appid"], APPID);
    assert_eq!(sent["mchid"], MCHID);
    assert_eq!(sent["amount"], json!({"total": 12_999, "currency": "CNY"}));
    assert_eq!(sent["payer"]["openid"], openid.as_str());
    assert_eq!(
        sent["notify_url"],
        "https://shop.example.com/api/v1/pay/wechat/notify"
    );
    assert!(sent["time_expire"].as_str().unwrap().ends_with("+08:00"));
    assert!(sent["description"]
        .as_str()
        .unwrap()
        .starts_with("Laptop WX"));
    assert_eq!(
        shop.stand.refused.load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    // wechatpayv3 verifies the prepay request signature (with the merchant's
    // public key only) and the paySign, and signs the same paySign itself.
    let seen = shop.stand.seen("POST", "/v3/pay/transactions/jsapi");
    assert_eq!(seen.len(), 1);
    let auth = cove_wechat::pay::parse_authorization(&seen[0].authorization).unwrap();
    let get = |k: &str| auth.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let k = keys();
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    let checks = py(json!([
        {"op": "verify_lines", "public_key_pem": k.merchant_public_pem, "signature": get("signature"),
         "lines": ["POST", "/v3/pay/transactions/jsapi", get("timestamp"), get("nonce_str"), seen[0].body]},
        {"op": "verify_lines", "public_key_pem": k.merchant_public_pem, "signature": params["paySign"],
         "lines": [APPID, s(&params["timeStamp"]), s(&params["nonceStr"]), s(&params["package"])]},
        {"op": "pay_sign", "mchid": MCHID, "private_key_pem": k.merchant_pem, "serial_no": SERIAL,
         "appid": APPID, "apiv3_key": APIV3_KEY, "public_key_pem": k.wechat_public_pem,
         "public_key_id": PUB_KEY_ID,
         "data": [APPID, s(&params["timeStamp"]), s(&params["nonceStr"]), s(&params["package"])]},
    ]))
    .await;
    assert_eq!(
        checks[0], true,
        "wechatpayv3 refused Cove's request signature"
    );
    assert_eq!(checks[1], true, "wechatpayv3 refused Cove's paySign");
    assert_eq!(checks[2], params["paySign"]);

    // Paying again reuses the open payment and its prepay.
    let again = pay(&shop, &profile, &order).await;
    assert_eq!(again["package"], params["package"]);
    assert_eq!(
        shop.stand.prepays.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(
        count(
            shop.db(),
            &format!("SELECT COUNT(*) FROM payments WHERE order_id = '{order}'")
        )
        .await,
        1
    );

    // WeChat Pay's notification, built by Python `cryptography`, pays the order.
    let built = build(&[Delivery::payment(
        "EV-2026120300000001",
        transaction(&out_trade_no, 12_999, &openid),
    )])
    .await;
    let response = notify(&shop, &built[0].0, &built[0].1).await;
    assert_eq!(response.status(), 204);
    assert!(response.text().await.unwrap().is_empty());
    assert_eq!(order_status(&shop, &order).await, "paid");
    assert_eq!(payment_of(&shop, &order).await.1, "succeeded");

    // The order is no longer payable.
    let customer = shop.app.customer(&profile).await;
    let response = customer
        .post(&format!("/api/v1/me/orders/{order}/pay/wechat"), json!({}))
        .await;
    assert_eq!(error_code(response, 409).await, "order_not_payable");
}

#[tokio::test]
async fn payment_requests_are_refused_without_openid_order_or_configuration() {
    let shop = shop().await;
    // A customer who never signed in through the Mini Program.
    let visitor = shop.app.new_profile().await;
    let order = pending_order(&shop, &visitor, 10_000).await;
    let customer = shop.app.customer(&visitor).await;
    let response = customer
        .post(&format!("/api/v1/me/orders/{order}/pay/wechat"), json!({}))
        .await;
    assert_eq!(error_code(response, 400).await, "wechat_openid_missing");

    // Someone else's order is not found.
    let (other, _) = payer(&shop).await;
    let response = shop
        .app
        .customer(&other)
        .await
        .post(&format!("/api/v1/me/orders/{order}/pay/wechat"), json!({}))
        .await;
    assert_eq!(error_code(response, 404).await, "order_not_found");
    assert_eq!(count(shop.db(), "SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(
        shop.stand.prepays.load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    // Without `[wechat_pay]` the endpoint says so.
    let (plain, _db) = TestApp::spawn().await;
    let profile = plain.new_profile().await;
    let response = plain
        .customer(&profile)
        .await
        .post("/api/v1/me/orders/x/pay/wechat", json!({}))
        .await;
    assert_eq!(error_code(response, 503).await, "wechat_pay_disabled");

    // Reconciliation is scheduled only where WeChat Pay is configured.
    let scheduled = "SELECT COUNT(*) FROM schedules WHERE kind = 'payments.reconcile'";
    assert_eq!(count(shop.db(), scheduled).await, 1);
    assert_eq!(count(plain.db(), scheduled).await, 0);
}

#[tokio::test]
async fn forged_stale_or_mismatched_notifications_change_nothing() {
    let shop = shop().await;
    let (profile, openid) = payer(&shop).await;
    let order = pending_order(&shop, &profile, 15_000).await;
    pay(&shop, &profile, &order).await;
    let (otn, _) = payment_of(&shop, &order).await;
    let before = transitions(&shop, &order).await;

    let mut wrong_mchid = transaction(&otn, 15_000, &openid);
    wrong_mchid["mchid"] = json!("1900000999");
    let mut wrong_appid = transaction(&otn, 15_000, &openid);
    wrong_appid["appid"] = json!("wx0000000000000000");
    let mut stale = Delivery::payment("EV-stale", transaction(&otn, 15_000, &openid));
    stale.timestamp -= 600;
    let mut unknown_serial = Delivery::payment("EV-serial", transaction(&otn, 15_000, &openid));
    unknown_serial.serial = "PUB_KEY_ID_0000000000000024101100397200000999".into();
    let built = build(&[
        Delivery::payment("EV-tampered", transaction(&otn, 15_000, &openid)),
        unknown_serial,
        stale,
        Delivery::payment("EV-amount", transaction(&otn, 14_999, &openid)),
        Delivery::payment("EV-mchid", wrong_mchid),
        Delivery::payment("EV-appid", wrong_appid),
        Delivery::refund(
            "EV-wrong-door",
            "REFUND.SUCCESS",
            json!({"mchid": MCHID, "out_trade_no": otn, "out_refund_no": "nope000", "refund_status": "SUCCESS"}),
        ),
    ])
    .await;

    // A body changed after signing (the id, in place) no longer verifies.
    let (headers, body) = &built[0];
    let tampered = body.replace("EV-tampered", "EV-tampereD");
    assert_refused(notify(&shop, headers, &tampered).await, 401).await;
    // Unknown serial and stale timestamp do not verify; wrong amount, mchid
    // and appid verify but do not match the payment.
    for ((headers, body), status) in built[1..6].iter().zip([401, 401, 400, 400, 400]) {
        assert_refused(notify(&shop, headers, body).await, status).await;
    }
    // A refund notification posted to the payment address.
    assert_refused(notify(&shop, &built[6].0, &built[6].1).await, 400).await;
    // Signature probes: a bad signature, and no WeChat Pay headers at all.
    let mut probe = built[0].0.clone();
    for (k, v) in probe.iter_mut() {
        if k == "Wechatpay-Signature" {
            *v = format!("WECHATPAY/SIGNTEST/{v}");
        }
    }
    assert_refused(notify(&shop, &probe, &built[0].1).await, 401).await;
    assert_refused(notify(&shop, &[], &built[0].1).await, 401).await;

    assert_eq!(order_status(&shop, &order).await, "pending_payment");
    assert_eq!(payment_of(&shop, &order).await.1, "created");
    assert_eq!(
        count(shop.db(), "SELECT COUNT(*) FROM payment_notifications").await,
        0
    );
    assert_eq!(transitions(&shop, &order).await, before);

    // The untampered delivery itself is accepted: the refusals were for cause.
    assert_eq!(notify(&shop, &built[0].0, &built[0].1).await.status(), 204);
    assert_eq!(order_status(&shop, &order).await, "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_notification_delivered_five_times_at_once_pays_once() {
    let shop = shop().await;
    let (profile, openid) = payer(&shop).await;
    let member_id = join(&shop, &profile).await;
    let order = pending_order(&shop, &profile, 18_800).await;
    pay(&shop, &profile, &order).await;
    let (otn, _) = payment_of(&shop, &order).await;

    // WeChat Pay re-sends the same notification id with fresh signatures.
    let deliveries: Vec<Delivery> = (0..6)
        .map(|_| Delivery::payment("EV-2026120300000005", transaction(&otn, 18_800, &openid)))
        .collect();
    let built = build(&deliveries).await;
    let shop = Arc::new(shop);
    let tasks: Vec<_> = built[..5]
        .iter()
        .cloned()
        .map(|(headers, body)| {
            let shop = shop.clone();
            tokio::spawn(async move { notify(&shop, &headers, &body).await.status().as_u16() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 204);
    }
    assert_eq!(order_status(&shop, &order).await, "paid");
    let paid = count(
        shop.db(),
        &format!(
            "SELECT COUNT(*) FROM order_transitions WHERE order_id = '{order}' AND to_status = 'paid'"
        ),
    )
    .await;
    assert_eq!(paid, 1, "the order was paid more than once");
    let awards = count(
        shop.db(),
        &format!(
            "SELECT COUNT(*) FROM points_lots WHERE member_id = '{member_id}' AND source = 'order'"
        ),
    )
    .await;
    assert_eq!(awards, 1, "the purchase earned points more than once");
    let (on_hand, reserved): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(s.on_hand) AS BIGINT), CAST(SUM(s.reserved) AS BIGINT) FROM stock_levels s \
         JOIN order_lines l ON l.sku_id = s.sku_id WHERE l.order_id = $1",
    )
    .bind(&order)
    .fetch_one(shop.db().pool())
    .await
    .unwrap();
    assert_eq!((on_hand, reserved), (4, 0), "the stock left once");
    let outcomes: Vec<String> = sqlx::query_scalar("SELECT outcome FROM payment_notifications")
        .fetch_all(shop.db().pool())
        .await
        .unwrap();
    assert_eq!(outcomes, vec!["paid".to_owned()]);

    // A later delivery of the processed notification is acknowledged, and changes nothing.
    let settled = transitions(&shop, &order).await;
    let response = notify(&shop, &built[5].0, &built[5].1).await;
    assert_eq!(response.status(), 204);
    assert_eq!(transitions(&shop, &order).await, settled);
}

#[tokio::test]
async fn reconciliation_pays_an_order_whose_notification_never_came() {
    let shop = shop().await;
    let (profile, openid) = payer(&shop).await;
    let paid_quietly = pending_order(&shop, &profile, 12_500).await;
    pay(&shop, &profile, &paid_quietly).await;
    let (paid_otn, _) = payment_of(&shop, &paid_quietly).await;
    let abandoned = pending_order(&shop, &profile, 10_900).await;
    pay(&shop, &profile, &abandoned).await;
    let (abandoned_otn, _) = payment_of(&shop, &abandoned).await;
    let fresh = pending_order(&shop, &profile, 10_700).await;
    pay(&shop, &profile, &fresh).await;

    // WeChat Pay took the money but its notification was lost; the other
    // order timed out unpaid. Both payments are older than five minutes.
    shop.stand
        .transactions
        .lock()
        .unwrap()
        .insert(paid_otn.clone(), transaction(&paid_otn, 12_500, &openid));
    sqlx::query("UPDATE orders SET status = 'cancelled' WHERE id = $1")
        .bind(&abandoned)
        .execute(shop.db().pool())
        .await
        .unwrap();
    sqlx::query("UPDATE payments SET created_at = $1 WHERE order_id IN ($2, $3)")
        .bind(clock::now() - 10 * MINUTE)
        .bind(&paid_quietly)
        .bind(&abandoned)
        .execute(shop.db().pool())
        .await
        .unwrap();

    // The scheduled job runs now.
    let mut conn = shop.db().pool().acquire().await.unwrap();
    cove_core::jobs::enqueue(
        &mut conn,
        cove_core::jobs::NewJob::new(wechat_pay::RECONCILE_JOB, json!({})),
    )
    .await
    .unwrap();
    drop(conn);
    let db = shop.db().clone();
    let o = paid_quietly.clone();
    assert!(
        eventually(20, || {
            let db = db.clone();
            let o = o.clone();
            async move {
                sqlx::query_scalar::<_, String>("SELECT status FROM payments WHERE order_id = $1")
                    .bind(o)
                    .fetch_one(db.pool())
                    .await
                    .unwrap()
                    == "succeeded"
            }
        })
        .await,
        "reconciliation did not pay the order"
    );
    assert_eq!(order_status(&shop, &paid_quietly).await, "paid");
    assert!(
        eventually(10, || async {
            payment_of(&shop, &abandoned).await.1 == "closed"
        })
        .await
    );
    assert!(shop.stand.closed.lock().unwrap().contains(&abandoned_otn));
    // A payment younger than five minutes is left to its notification.
    assert_eq!(payment_of(&shop, &fresh).await.1, "created");

    // Running it again finds nothing more to do.
    let again = wechat_pay::reconcile(&shop.pay(), shop.db(), clock::now())
        .await
        .unwrap();
    assert_eq!(again, wechat_pay::Reconciled::default());
}

/// An order paid through WeChat Pay: (order, out_trade_no, payer's profile).
async fn paid_order(shop: &Shop, total_fen: i64) -> (String, String, String) {
    paid_order_with_serial(shop, total_fen, PUB_KEY_ID).await
}

/// As [`paid_order`], the notification signed under `serial`.
async fn paid_order_with_serial(
    shop: &Shop,
    total_fen: i64,
    serial: &str,
) -> (String, String, String) {
    let (profile, openid) = payer(shop).await;
    let order = pending_order(shop, &profile, total_fen).await;
    pay(shop, &profile, &order).await;
    let (otn, _) = payment_of(shop, &order).await;
    let id = format!("EV-{}", uuid::Uuid::now_v7().simple());
    let mut delivery = Delivery::payment(&id, transaction(&otn, total_fen, &openid));
    delivery.serial = serial.to_owned();
    let built = build(&[delivery]).await;
    assert_eq!(notify(shop, &built[0].0, &built[0].1).await.status(), 204);
    assert_eq!(order_status(shop, &order).await, "paid");
    (order, otn, profile)
}

/// An approved refund of `amount_fen` waiting to be sent: its out_refund_no.
async fn approved_refund(shop: &Shop, order: &str, amount_fen: i64, decided_at: i64) -> String {
    let out_refund_no = format!("RF{}", &uuid::Uuid::now_v7().simple().to_string()[8..]);
    sqlx::query(
        "INSERT INTO refunds (id, order_id, out_refund_no, amount_fen, reason, status, requested_by, \
         order_status_before, created_at, decided_at) \
         VALUES ($1, $2, $3, $4, '屏幕有坏点', 'processing', 'customer', 'paid', $5, $5)",
    )
    .bind(cove_core::db::new_id())
    .bind(order)
    .bind(&out_refund_no)
    .bind(amount_fen)
    .bind(decided_at)
    .execute(shop.db().pool())
    .await
    .unwrap();
    out_refund_no
}

async fn refund_status(shop: &Shop, out_refund_no: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, provider_refund_id FROM refunds WHERE out_refund_no = $1")
        .bind(out_refund_no)
        .fetch_one(shop.db().pool())
        .await
        .unwrap()
}

async fn send(shop: &Shop, out_refund_no: &str) -> cove_core::Result<()> {
    let db = shop.db();
    let id: String = sqlx::query_scalar("SELECT id FROM refunds WHERE out_refund_no = $1")
        .bind(out_refund_no)
        .fetch_one(db.pool())
        .await
        .unwrap();
    let (refund, payment) = cove_core::commerce::refunds::with_payment(db, &id)
        .await
        .unwrap();
    wechat_pay::send_refund(&shop.pay(), db, &refund, &payment).await
}

fn refund_plain(otn: &str, out_refund_no: &str, status: &str, refund: i64, total: i64) -> Value {
    json!({
        "mchid": MCHID, "out_trade_no": otn, "transaction_id": "4200000000000000000000000001",
        "out_refund_no": out_refund_no, "refund_id": format!("503{out_refund_no}"),
        "refund_status": status, "success_time": "2026-12-03T21:00:00+08:00",
        "user_received_account": "支付用户零钱",
        "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund}
    })
}

#[tokio::test]
async fn refunds_are_sent_then_settled_by_notification_or_by_query() {
    let shop = shop().await;
    let (order, otn, _) = paid_order(&shop, 15_000).await;

    // Sent: WeChat Pay takes it (PROCESSING); the refund waits for the notification.
    let first = approved_refund(&shop, &order, 1_000, clock::now()).await;
    send(&shop, &first).await.unwrap();
    let sent = shop.stand.refund_requests.lock().unwrap()[0].clone();
    assert_eq!(sent["out_trade_no"], otn.as_str());
    assert_eq!(sent["out_refund_no"], first.as_str());
    assert_eq!(
        sent["amount"],
        json!({"refund": 1_000, "total": 15_000, "currency": "CNY"})
    );
    assert_eq!(
        sent["notify_url"],
        "https://shop.example.com/api/v1/pay/wechat/refund-notify"
    );
    assert_eq!(sent["reason"], "屏幕有坏点");
    assert_eq!(refund_status(&shop, &first).await.0, "processing");

    // A refund notification with the wrong amount is refused; the right one settles it, once.
    let built = build(&[
        Delivery::refund(
            "EV-refund-amount",
            "REFUND.SUCCESS",
            refund_plain(&otn, &first, "SUCCESS", 999, 15_000),
        ),
        Delivery::refund(
            "EV-refund-1",
            "REFUND.SUCCESS",
            refund_plain(&otn, &first, "SUCCESS", 1_000, 15_000),
        ),
        Delivery::refund(
            "EV-refund-1",
            "REFUND.SUCCESS",
            refund_plain(&otn, &first, "SUCCESS", 1_000, 15_000),
        ),
    ])
    .await;
    let refund_notify = |i: usize| {
        post_notification(
            &shop,
            wechat_pay::REFUND_NOTIFY_PATH,
            &built[i].0,
            &built[i].1,
        )
    };
    assert_refused(refund_notify(0).await, 400).await;
    assert_eq!(refund_status(&shop, &first).await.0, "processing");
    assert_eq!(refund_notify(1).await.status(), 204);
    assert_eq!(
        refund_status(&shop, &first).await,
        ("succeeded".to_owned(), Some(format!("503{first}")))
    );
    assert_eq!(refund_notify(2).await.status(), 204);
    assert_eq!(
        count(
            shop.db(),
            "SELECT COUNT(*) FROM payment_notifications WHERE event_type = 'REFUND.SUCCESS'"
        )
        .await,
        1
    );

    // WeChat Pay refuses the refund outright: it fails, with the reason.
    let refused = approved_refund(&shop, &order, 500, clock::now()).await;
    shop.stand.refund_answers.lock().unwrap().push((
        403,
        json!({"code": "NOT_ENOUGH", "message": "基本账户余额不足"}),
    ));
    send(&shop, &refused).await.unwrap();
    assert_eq!(refund_status(&shop, &refused).await.0, "failed");

    // WeChat Pay is down: the send fails so the job retries; nothing changes.
    let retried = approved_refund(&shop, &order, 700, clock::now() - 10 * MINUTE).await;
    shop.stand
        .refund_answers
        .lock()
        .unwrap()
        .push((500, json!({"code": "SYSTEM_ERROR", "message": "系统繁忙"})));
    assert!(send(&shop, &retried).await.is_err());
    assert_eq!(refund_status(&shop, &retried).await.0, "processing");

    // Its notification never comes; reconciliation asks WeChat Pay and settles it.
    shop.stand.refunds.lock().unwrap().insert(retried.clone(), {
        let mut r = refund_plain(&otn, &retried, "SUCCESS", 700, 15_000);
        r["status"] = json!("SUCCESS");
        r
    });
    let done = wechat_pay::reconcile(&shop.pay(), shop.db(), clock::now())
        .await
        .unwrap();
    assert_eq!(done.refunds_settled, 1);
    assert_eq!(
        refund_status(&shop, &retried).await,
        ("succeeded".to_owned(), Some(format!("503{retried}")))
    );
}

#[tokio::test]
async fn an_approved_refund_reaches_wechat_pay_through_the_job_and_its_notification_refunds_the_order(
) {
    let shop = shop().await;
    let (order, otn, profile) = paid_order(&shop, 16_000).await;
    let customer = shop.app.customer(&profile).await;
    let response = customer
        .post(
            &format!("/api/v1/me/orders/{order}/refund"),
            json!({ "reason": "不想要了" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let refund: Value = response.json().await.unwrap();
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    let out_refund_no = refund["out_refund_no"].as_str().unwrap().to_owned();
    let manager = shop.app.user("store_manager", None).await;
    let response = manager
        .post(&format!("/api/v1/refunds/{refund_id}/approve"), json!({}))
        .await;
    assert_eq!(response.status(), 200);

    // The refund.send job hands it to WeChat Pay, signed.
    let stand = shop.stand.clone();
    assert!(
        eventually(20, || {
            let stand = stand.clone();
            async move { !stand.refund_requests.lock().unwrap().is_empty() }
        })
        .await,
        "the refund was never sent"
    );
    let sent = shop.stand.refund_requests.lock().unwrap()[0].clone();
    assert_eq!(sent["out_trade_no"], otn.as_str());
    assert_eq!(sent["out_refund_no"], out_refund_no.as_str());
    assert_eq!(
        sent["amount"],
        json!({"refund": 16_000, "total": 16_000, "currency": "CNY"})
    );
    assert_eq!(
        shop.stand.refused.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(refund_status(&shop, &out_refund_no).await.0, "processing");

    // WeChat Pay's refund notification completes it: the order is refunded.
    let built = build(&[Delivery::refund(
        "EV-refund-full",
        "REFUND.SUCCESS",
        refund_plain(&otn, &out_refund_no, "SUCCESS", 16_000, 16_000),
    )])
    .await;
    let response = post_notification(
        &shop,
        wechat_pay::REFUND_NOTIFY_PATH,
        &built[0].0,
        &built[0].1,
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(refund_status(&shop, &out_refund_no).await.0, "succeeded");
    assert_eq!(order_status(&shop, &order).await, "refunded");
}

#[tokio::test]
async fn a_merchant_on_platform_certificates_verifies_by_certificate_serial() {
    const CERT_SERIAL: &str = "5A2C9F8E7D6B4A31";
    let cert = py(json!([{ "op": "certificate", "serial_hex": CERT_SERIAL,
        "private_key_pem": keys().wechat_pem }]))
    .await
    .remove(0);
    let shop = shop_verifying_with(Some((CERT_SERIAL, cert.as_str().unwrap()))).await;
    let (order, otn, _) = paid_order_with_serial(&shop, 11_000, CERT_SERIAL).await;
    assert_eq!(order_status(&shop, &order).await, "paid");

    // The public key id is unknown to this merchant.
    let (profile, openid) = payer(&shop).await;
    let other = pending_order(&shop, &profile, 11_000).await;
    pay(&shop, &profile, &other).await;
    let (other_otn, _) = payment_of(&shop, &other).await;
    assert_ne!(other_otn, otn);
    let built = build(&[Delivery::payment(
        "EV-by-public-key",
        transaction(&other_otn, 11_000, &openid),
    )])
    .await;
    assert_refused(notify(&shop, &built[0].0, &built[0].1).await, 401).await;
    assert_eq!(order_status(&shop, &other).await, "pending_payment");
}

#[tokio::test]
async fn money_that_arrives_after_the_order_was_cancelled_goes_back_through_wechat_pay() {
    let shop = shop().await;
    let (profile, openid) = payer(&shop).await;
    let order = pending_order(&shop, &profile, 13_000).await;
    pay(&shop, &profile, &order).await;
    let (otn, _) = payment_of(&shop, &order).await;
    let customer = shop.app.customer(&profile).await;
    let response = customer
        .post(&format!("/api/v1/me/orders/{order}/cancel"), json!({}))
        .await;
    assert_eq!(response.status(), 200);

    // The customer had already paid in WeChat: the notification comes late.
    let built = build(&[Delivery::payment(
        "EV-late",
        transaction(&otn, 13_000, &openid),
    )])
    .await;
    assert_eq!(notify(&shop, &built[0].0, &built[0].1).await.status(), 204);
    let outcome: String =
        sqlx::query_scalar("SELECT outcome FROM payment_notifications WHERE id = 'EV-late'")
            .fetch_one(shop.db().pool())
            .await
            .unwrap();
    assert_eq!(outcome, "refunded_late");
    assert_eq!(order_status(&shop, &order).await, "cancelled");

    // The automatic full refund is sent to WeChat Pay by the refund job.
    let sent = first_refund_sent(&shop).await;
    assert_eq!(sent["out_trade_no"], otn.as_str());
    assert_eq!(
        sent["amount"],
        json!({"refund": 13_000, "total": 13_000, "currency": "CNY"})
    );
}

#[tokio::test]
async fn a_cancelled_order_is_closed_at_wechat_pay_unless_the_customer_had_just_paid() {
    let shop = shop().await;
    let (profile, openid) = payer(&shop).await;
    let customer = shop.app.customer(&profile).await;
    let unpaid = pending_order(&shop, &profile, 11_000).await;
    pay(&shop, &profile, &unpaid).await;
    let (unpaid_otn, _) = payment_of(&shop, &unpaid).await;
    // The customer paid this one in WeChat a moment before cancelling; the
    // notification has not come.
    let paid = pending_order(&shop, &profile, 11_500).await;
    pay(&shop, &profile, &paid).await;
    let (paid_otn, _) = payment_of(&shop, &paid).await;
    shop.stand
        .transactions
        .lock()
        .unwrap()
        .insert(paid_otn.clone(), transaction(&paid_otn, 11_500, &openid));

    for order in [&unpaid, &paid] {
        let response = customer
            .post(&format!("/api/v1/me/orders/{order}/cancel"), json!({}))
            .await;
        assert_eq!(response.status(), 200);
    }
    // Until WeChat Pay has closed it, the payment stays open.
    assert!(
        eventually(20, || async {
            payment_of(&shop, &unpaid).await.1 == "closed"
        })
        .await,
        "the cancelled order's payment was never closed"
    );
    assert_eq!(
        *shop.stand.closed.lock().unwrap(),
        vec![unpaid_otn],
        "only the unpaid payment is closed at WeChat Pay"
    );
    assert!(
        eventually(20, || async {
            payment_of(&shop, &paid).await.1 == "succeeded"
        })
        .await,
        "the money taken before the cancellation was not recorded"
    );
    assert_eq!(order_status(&shop, &paid).await, "cancelled");
    let sent = first_refund_sent(&shop).await;
    assert_eq!(sent["out_trade_no"], paid_otn.as_str());
    assert_eq!(sent["amount"]["refund"], 11_500);
}

/// The first refund request WeChat Pay received, once the refund job sent one.
async fn first_refund_sent(shop: &Shop) -> Value {
    let stand = shop.stand.clone();
    assert!(
        eventually(20, || {
            let stand = stand.clone();
            async move { !stand.refund_requests.lock().unwrap().is_empty() }
        })
        .await,
        "the money was never sent back"
    );
    let sent = shop.stand.refund_requests.lock().unwrap()[0].clone();
    sent
}
