//! WeChat Pay API v3 as a payment provider of the store.
//!
//! - [`WechatPay::from_config`] loads the merchant key, the APIv3 key and the
//!   WeChat Pay public key or platform certificates named in configuration.
//! - [`prepay`] opens (or reuses) the payment of a pending order, asks WeChat
//!   Pay for a JSAPI prepay id and returns the signed `wx.requestPayment`
//!   parameters.
//! - [`handle_notification`] verifies, decrypts and applies payment and refund
//!   notifications, once per notification id; it makes no outbound call.
//! - [`send_refund`] is what the `refund.send` job calls for provider `wechat`.
//! - [`reconcile`] (job [`RECONCILE_JOB`]) asks WeChat Pay about payments and
//!   refunds whose notification has not come.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, FixedOffset};
use cove_wechat::pay::{
    ApiV3Key, JsapiPayParams, JsapiPrepayRequest, MerchantSigner, NotificationParser,
    NotificationPayload, NotifyAnswer, PayClient, PayVerifier, RefundRequest, SignedHeaders,
    Transaction, DEFAULT_PAY_BASE, PUB_KEY_ID_PREFIX,
};
use sqlx::Row;

use super::payments::{self, Confirmation, Confirmed, Payment, Provider};
use super::refunds::{self, Refund};
use crate::clock::{self, Micros, MINUTE};
use crate::config::WechatPayConfig;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::jobs::JobCtx;

/// Where WeChat Pay posts payment notifications (under `public_url`).
pub const NOTIFY_PATH: &str = "/api/v1/pay/wechat/notify";
/// Where WeChat Pay posts refund notifications (under `public_url`).
pub const REFUND_NOTIFY_PATH: &str = "/api/v1/pay/wechat/refund-notify";
/// The reconciliation job kind, scheduled every [`RECONCILE_EVERY_SECS`].
pub const RECONCILE_JOB: &str = "payments.reconcile";
pub const RECONCILE_EVERY_SECS: i64 = 300;
/// Payments and refunds are queried once their notification is this late.
pub const RECONCILE_AFTER: Micros = 5 * MINUTE;
/// A notification whose processing started this long ago and never finished
/// (the node died) is processed again by the next delivery.
const STALE_PROCESSING: Micros = MINUTE;
const PROVIDER: &str = "wechat";

/// A configured WeChat Pay merchant: client, signer and notification parser.
#[derive(Debug, Clone)]
pub struct WechatPay {
    client: PayClient,
    signer: MerchantSigner,
    parser: NotificationParser,
    appid: String,
    mchid: String,
    notify_url: String,
    refund_notify_url: String,
}

fn read_file(what: &str, path: Option<&std::path::Path>) -> anyhow::Result<String> {
    let path = path.with_context(|| format!("wechat_pay.{what} is not set"))?;
    std::fs::read_to_string(path)
        .with_context(|| format!("wechat_pay.{what}: cannot read {}", path.display()))
}

impl WechatPay {
    /// The merchant configured in `config`, or `None` when WeChat Pay is not
    /// enabled. Every missing setting or unreadable key is a startup error.
    pub fn from_config(config: &WechatPayConfig, public_url: &str) -> anyhow::Result<Option<Self>> {
        if !config.enabled {
            return Ok(None);
        }
        for (name, value) in [
            ("mchid", &config.mchid),
            ("appid", &config.appid),
            ("serial_no", &config.serial_no),
        ] {
            anyhow::ensure!(!value.trim().is_empty(), "wechat_pay.{name} is not set");
        }
        let public_url = public_url.trim_end_matches('/');
        anyhow::ensure!(
            public_url.starts_with("https://"),
            "wechat_pay needs an https public_url: WeChat Pay only notifies https addresses"
        );
        let key_pem = read_file("private_key_file", config.private_key_file.as_deref())?;
        let signer = MerchantSigner::from_pem(&config.mchid, &config.serial_no, &key_pem)
            .context("wechat_pay.private_key_file")?;
        let api_v3_key = match (&config.api_v3_key, &config.api_v3_key_file) {
            (Some(key), _) => key.expose().trim().to_owned(),
            (None, Some(path)) => read_file("api_v3_key_file", Some(path))?.trim().to_owned(),
            (None, None) => anyhow::bail!("wechat_pay.api_v3_key (or api_v3_key_file) is not set"),
        };
        let api_v3_key = ApiV3Key::new(&api_v3_key).context("wechat_pay.api_v3_key")?;
        let mut verifier = PayVerifier::new();
        match (&config.public_key_file, &config.public_key_id) {
            (Some(path), Some(id)) => {
                anyhow::ensure!(
                    id.starts_with(PUB_KEY_ID_PREFIX),
                    "wechat_pay.public_key_id must start with {PUB_KEY_ID_PREFIX}"
                );
                let pem = read_file("public_key_file", Some(path))?;
                verifier
                    .add_public_key(id, &pem)
                    .context("wechat_pay.public_key_file")?;
            }
            (None, None) => {}
            _ => anyhow::bail!("wechat_pay.public_key_file and public_key_id go together"),
        }
        for path in &config.platform_cert_files {
            let pem = read_file("platform_cert_files", Some(path))?;
            verifier
                .add_platform_certificate(&pem)
                .with_context(|| format!("wechat_pay.platform_cert_files: {}", path.display()))?;
        }
        anyhow::ensure!(
            config.public_key_file.is_some() || !config.platform_cert_files.is_empty(),
            "wechat_pay needs public_key_file + public_key_id or platform_cert_files to verify WeChat Pay"
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("HTTP client")?;
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_PAY_BASE);
        let client = PayClient::new(base, signer.clone(), verifier.clone()).with_http_client(http);
        Ok(Some(Self {
            client,
            signer,
            parser: NotificationParser::new(verifier, api_v3_key),
            appid: config.appid.clone(),
            mchid: config.mchid.clone(),
            notify_url: format!("{public_url}{NOTIFY_PATH}"),
            refund_notify_url: format!("{public_url}{REFUND_NOTIFY_PATH}"),
        }))
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    pub fn notify_url(&self) -> &str {
        &self.notify_url
    }

    pub fn refund_notify_url(&self) -> &str {
        &self.refund_notify_url
    }
}

/// A WeChat Pay call that failed: business errors become `wechat_pay_rejected`,
/// the rest (network, 5xx, unverifiable answers) an internal error to retry.
fn upstream(e: cove_wechat::Error) -> Error {
    match e {
        cove_wechat::Error::Pay {
            status,
            code,
            message,
        } if (400..500).contains(&status) => Error::Conflict {
            code: "wechat_pay_rejected".into(),
            message: format!("WeChat Pay refused: {code}: {message}"),
        },
        other => Error::Internal(anyhow::Error::new(other).context("WeChat Pay call failed")),
    }
}

/// RFC 3339 in China Standard Time, as WeChat Pay writes times.
fn rfc3339_cst(at: Micros) -> String {
    match FixedOffset::east_opt(8 * 3600) {
        Some(cst) => clock::to_datetime(at)
            .with_timezone(&cst)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => clock::to_rfc3339(at),
    }
}

fn parse_time(s: Option<&str>) -> Option<Micros> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_micros())
}

/// The goods description WeChat shows the payer: the order's line titles.
async fn description(db: &Db, order_id: &str, order_no: &str) -> Result<String> {
    let lines: Vec<(String, i64)> =
        sqlx::query_as("SELECT title, quantity FROM order_lines WHERE order_id = $1 ORDER BY id")
            .bind(order_id)
            .fetch_all(db.pool())
            .await?;
    let mut text = lines
        .iter()
        .filter(|(title, _)| !title.trim().is_empty())
        .map(|(title, qty)| {
            if *qty > 1 {
                format!("{} ×{qty}", title.trim())
            } else {
                title.trim().to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    if text.is_empty() {
        text = format!("订单 {order_no}");
    }
    if text.chars().count() > 127 {
        text = text.chars().take(126).collect::<String>() + "…";
    }
    Ok(text)
}

/// `wx.requestPayment` parameters for the pending order `order_id` of the
/// customer `profile_id`. Calling it again reuses the open payment and its
/// prepay id.
pub async fn prepay(
    db: &Db,
    wp: &WechatPay,
    profile_id: &str,
    order_id: &str,
) -> Result<JsapiPayParams> {
    let order = sqlx::query(
        "SELECT o.status, o.order_no, o.expires_at FROM orders o \
         WHERE o.id = $1 AND (o.profile_id = $2 OR o.profile_id IN \
         (SELECT id FROM profiles WHERE merged_into = $2))",
    )
    .bind(order_id)
    .bind(profile_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(Error::not_found("order"))?;
    let status: String = order.try_get(0).map_err(Error::from)?;
    let order_no: String = order.try_get(1).map_err(Error::from)?;
    let expires_at: Option<Micros> = order.try_get(2).map_err(Error::from)?;
    if status != "pending_payment" {
        return Err(Error::conflict(
            "order_not_payable",
            format!("the order is {status}, not waiting for payment"),
        ));
    }
    let openid = crate::channels::mini_program::open_id_of(db, &wp.appid, profile_id)
        .await
        .map_err(|e| match e {
            Error::Invalid { .. } => Error::invalid(
                "wechat_openid_missing",
                "sign in with the Mini Program to pay with WeChat Pay",
            ),
            other => other,
        })?;
    let payment = payments::start(db, order_id, Provider::Wechat).await?;
    let prepay_id = match payment.prepay_id {
        Some(id) => id,
        None => {
            let mut request = JsapiPrepayRequest::new(
                &wp.appid,
                &wp.mchid,
                &description(db, order_id, &order_no).await?,
                &payment.out_trade_no,
                &wp.notify_url,
                payment.amount_fen,
                &openid,
            )
            .map_err(|e| Error::invalid("wechat_pay_request_invalid", e.to_string()))?;
            request.time_expire = expires_at.filter(|t| *t > clock::now()).map(rfc3339_cst);
            let id = wp.client.jsapi_prepay(&request).await.map_err(upstream)?;
            payments::set_prepay_id(db, &payment.id, &id).await?;
            id
        }
    };
    Ok(wp.signer.jsapi_pay_params(&wp.appid, &prepay_id))
}

/// Which notification URL a delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    Payment,
    Refund,
}

/// Why a notification was refused (the answer tells WeChat Pay to retry).
#[derive(Debug)]
enum Refusal {
    /// Signature, serial or timestamp did not verify.
    Unverified(String),
    /// Verified, but its content does not match Cove's records.
    Mismatch(String),
    /// Processing failed; a retry may succeed.
    Failed(String),
}

impl Refusal {
    fn answer(self) -> NotifyAnswer {
        match self {
            Refusal::Unverified(m) => NotifyAnswer::unauthorized(&m),
            Refusal::Mismatch(m) => NotifyAnswer {
                status: 400,
                ..NotifyAnswer::fail(&m)
            },
            Refusal::Failed(m) => NotifyAnswer::fail(&m),
        }
    }
}

/// Verifies, decrypts and applies a notification delivered with `headers`
/// (looked up case-insensitively by canonical name) and its raw body.
/// Answers 204 on success, including for one already processed; a refusal
/// changes nothing.
pub async fn handle_notification<F>(
    db: &Db,
    wp: &WechatPay,
    kind: NotifyKind,
    header: F,
    raw_body: &[u8],
) -> NotifyAnswer
where
    F: Fn(&str) -> Option<String>,
{
    match notification(db, wp, kind, header, raw_body).await {
        Ok(outcome) => {
            tracing::info!(outcome, "WeChat Pay notification");
            NotifyAnswer::success()
        }
        Err(refusal) => {
            tracing::warn!(?refusal, "WeChat Pay notification refused");
            refusal.answer()
        }
    }
}

async fn notification<F>(
    db: &Db,
    wp: &WechatPay,
    kind: NotifyKind,
    header: F,
    raw_body: &[u8],
) -> std::result::Result<&'static str, Refusal>
where
    F: Fn(&str) -> Option<String>,
{
    let headers =
        SignedHeaders::from_lookup(header).map_err(|e| Refusal::Unverified(e.to_string()))?;
    let parsed = wp.parser.parse(&headers, raw_body).map_err(|e| match e {
        cove_wechat::Error::PaySignature(_)
        | cove_wechat::Error::UnknownSerial(_)
        | cove_wechat::Error::ReplayWindow { .. } => Refusal::Unverified(e.to_string()),
        other => Refusal::Mismatch(format!("unreadable notification: {other}")),
    })?;
    let id = parsed.envelope.id.clone();
    let event = parsed.envelope.event_type.clone();
    match (kind, parsed.payload) {
        (NotifyKind::Payment, NotificationPayload::Transaction(t)) => {
            if t.trade_state.as_deref() != Some("SUCCESS") {
                // Only successes are sent today; anything else needs no action.
                return Ok("ignored");
            }
            let checked = check_transaction(db, wp, &t).await?;
            once(db, &id, &event, &checked.out_trade_no, || {
                apply_transaction(db, &checked)
            })
            .await
        }
        (NotifyKind::Refund, NotificationPayload::Refund(r)) => {
            if r.mchid.as_deref() != Some(wp.mchid.as_str()) {
                return Err(Refusal::Mismatch("mchid does not match".into()));
            }
            let out_refund_no = r
                .out_refund_no
                .clone()
                .ok_or_else(|| Refusal::Mismatch("no out_refund_no".into()))?;
            let known: Option<i64> =
                sqlx::query_scalar("SELECT amount_fen FROM refunds WHERE out_refund_no = $1")
                    .bind(&out_refund_no)
                    .fetch_optional(db.pool())
                    .await
                    .map_err(|e| Refusal::Failed(e.to_string()))?;
            let amount = known.ok_or_else(|| Refusal::Mismatch("unknown out_refund_no".into()))?;
            if r.amount.as_ref().and_then(|a| a.refund) != Some(amount) {
                return Err(Refusal::Mismatch("refund amount does not match".into()));
            }
            let status = r.refund_status.clone().or_else(|| r.status.clone());
            once(db, &id, &event, &out_refund_no, || {
                apply_refund(db, &out_refund_no, &r, status.as_deref())
            })
            .await
        }
        _ => Err(Refusal::Mismatch(format!(
            "{event} was not expected at this address"
        ))),
    }
}

/// A successful transaction that matches Cove's payment.
struct CheckedTransaction {
    out_trade_no: String,
    transaction_id: String,
    amount_fen: i64,
    payer: Option<String>,
    paid_at: Micros,
}

async fn check_transaction(
    db: &Db,
    wp: &WechatPay,
    t: &Transaction,
) -> std::result::Result<CheckedTransaction, Refusal> {
    if t.mchid.as_deref() != Some(wp.mchid.as_str()) {
        return Err(Refusal::Mismatch("mchid does not match".into()));
    }
    if t.appid.as_deref() != Some(wp.appid.as_str()) {
        return Err(Refusal::Mismatch("appid does not match".into()));
    }
    let out_trade_no = t
        .out_trade_no
        .clone()
        .ok_or_else(|| Refusal::Mismatch("no out_trade_no".into()))?;
    let transaction_id = t
        .transaction_id
        .clone()
        .ok_or_else(|| Refusal::Mismatch("no transaction_id".into()))?;
    let known: Option<(i64, String)> =
        sqlx::query_as("SELECT amount_fen, provider FROM payments WHERE out_trade_no = $1")
            .bind(&out_trade_no)
            .fetch_optional(db.pool())
            .await
            .map_err(|e| Refusal::Failed(e.to_string()))?;
    let (amount_fen, provider) =
        known.ok_or_else(|| Refusal::Mismatch("unknown out_trade_no".into()))?;
    if provider != PROVIDER {
        return Err(Refusal::Mismatch("not a WeChat Pay payment".into()));
    }
    let total = t.amount.as_ref().and_then(|a| a.total);
    if total != Some(amount_fen) {
        return Err(Refusal::Mismatch(format!(
            "amount {total:?} does not match the payment's {amount_fen}"
        )));
    }
    Ok(CheckedTransaction {
        out_trade_no,
        transaction_id,
        amount_fen,
        payer: t.payer.as_ref().and_then(|p| p.openid.clone()),
        paid_at: parse_time(t.success_time.as_deref()).unwrap_or_else(clock::now),
    })
}

async fn apply_transaction(
    db: &Db,
    t: &CheckedTransaction,
) -> std::result::Result<&'static str, Refusal> {
    let confirmed = payments::confirm(
        db,
        &Confirmation {
            provider: Provider::Wechat,
            out_trade_no: &t.out_trade_no,
            transaction_id: &t.transaction_id,
            amount_fen: t.amount_fen,
            payer: t.payer.as_deref(),
            paid_at: t.paid_at,
        },
    )
    .await
    .map_err(|e| match e {
        Error::Invalid { .. } | Error::NotFound(_) => Refusal::Mismatch(e.to_string()),
        other => Refusal::Failed(other.to_string()),
    })?;
    Ok(match confirmed {
        Confirmed::Paid { .. } => "paid",
        Confirmed::AlreadyPaid { .. } => "already_paid",
        Confirmed::RefundedLate {
            order_id,
            refund_id,
        } => {
            tracing::warn!(
                order_id,
                refund_id,
                "paid after the order closed: refunding"
            );
            "refunded_late"
        }
    })
}

async fn apply_refund(
    db: &Db,
    out_refund_no: &str,
    r: &cove_wechat::pay::Refund,
    status: Option<&str>,
) -> std::result::Result<&'static str, Refusal> {
    let at = parse_time(r.success_time.as_deref()).unwrap_or_else(clock::now);
    let result = match status {
        Some("SUCCESS") => {
            let refund_id = r.refund_id.as_deref().unwrap_or_default();
            refunds::succeeded(db, out_refund_no, refund_id, at)
                .await
                .map(|()| "refund_succeeded")
        }
        Some(s @ ("CLOSED" | "ABNORMAL")) => {
            refunds::failed(db, out_refund_no, &format!("WeChat Pay: {s}"), at)
                .await
                .map(|()| "refund_failed")
        }
        _ => Ok("ignored"),
    };
    result.map_err(|e| match e {
        Error::Internal(_) => Refusal::Failed(e.to_string()),
        other => Refusal::Mismatch(other.to_string()),
    })
}

/// Runs `apply` once per notification id: the first delivery records the id
/// (`processing`) before applying, so concurrent deliveries wait for it
/// instead of applying again; a failed run forgets the id so a retry applies.
async fn once<'a, F, Fut>(
    db: &Db,
    id: &str,
    event_type: &str,
    reference: &str,
    apply: F,
) -> std::result::Result<&'static str, Refusal>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<&'static str, Refusal>> + 'a,
{
    let failed = |e: sqlx::Error| Refusal::Failed(e.to_string());
    let now = clock::now();
    let inserted = sqlx::query(
        "INSERT INTO payment_notifications (id, provider, event_type, reference, outcome, received_at) \
         VALUES ($1, $2, $3, $4, 'processing', $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(PROVIDER)
    .bind(event_type)
    .bind(reference)
    .bind(now)
    .execute(db.pool())
    .await
    .map_err(failed)?
    .rows_affected()
        == 1;
    let mut mine = inserted;
    let mut waited = 0;
    while !mine {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT outcome, received_at FROM payment_notifications WHERE id = $1")
                .bind(id)
                .fetch_optional(db.pool())
                .await
                .map_err(failed)?;
        match row {
            Some((outcome, _)) if outcome != "processing" => return Ok("duplicate"),
            Some((_, since)) if since < clock::now() - STALE_PROCESSING => {
                // The node that started it never finished: take it over.
                mine = sqlx::query(
                    "UPDATE payment_notifications SET received_at = $1 \
                     WHERE id = $2 AND outcome = 'processing' AND received_at = $3",
                )
                .bind(clock::now())
                .bind(id)
                .bind(since)
                .execute(db.pool())
                .await
                .map_err(failed)?
                .rows_affected()
                    == 1;
            }
            _ if waited >= 60 => {
                return Err(Refusal::Failed(
                    "the same notification is being processed".into(),
                ))
            }
            _ => {
                waited += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    match apply().await {
        Ok(outcome) => {
            sqlx::query("UPDATE payment_notifications SET outcome = $1 WHERE id = $2")
                .bind(outcome)
                .bind(id)
                .execute(db.pool())
                .await
                .map_err(failed)?;
            Ok(outcome)
        }
        Err(refusal) => {
            sqlx::query(
                "DELETE FROM payment_notifications WHERE id = $1 AND outcome = 'processing'",
            )
            .bind(id)
            .execute(db.pool())
            .await
            .map_err(failed)?;
            Err(refusal)
        }
    }
}

/// Sends an approved refund of a WeChat Pay payment; called by the
/// `refund.send` job. `SUCCESS` completes the refund now, `PROCESSING` waits
/// for the notification (or [`reconcile`]), a business refusal fails the
/// refund; network errors and WeChat Pay's own failures return `Err` so the
/// job retries (`out_refund_no` makes the retry safe).
pub async fn send_refund(
    wp: &WechatPay,
    db: &Db,
    refund: &Refund,
    payment: &Payment,
) -> Result<()> {
    if payment.provider != PROVIDER {
        return Err(Error::invalid(
            "not_a_wechat_payment",
            "this refund's payment is not a WeChat Pay payment",
        ));
    }
    let mut request = RefundRequest::by_out_trade_no(
        &payment.out_trade_no,
        &refund.out_refund_no,
        refund.amount_fen,
        payment.amount_fen,
    )
    .map_err(|e| Error::invalid("wechat_pay_request_invalid", e.to_string()))?;
    request.notify_url = Some(wp.refund_notify_url.clone());
    let reason: String = refund.reason.trim().chars().take(80).collect();
    request.reason = (!reason.is_empty()).then_some(reason);
    let now = clock::now();
    match wp.client.refund(&request).await {
        Ok(answer) => apply_refund_status(db, &refund.out_refund_no, &answer, now).await,
        Err(cove_wechat::Error::Pay {
            status,
            code,
            message,
        }) if (400..500).contains(&status)
            && !matches!(code.as_str(), "SYSTEM_ERROR" | "FREQUENCY_LIMITED") =>
        {
            refunds::failed(
                db,
                &refund.out_refund_no,
                &format!("WeChat Pay refused: {code}: {message}"),
                now,
            )
            .await
        }
        Err(e) => Err(upstream(e)),
    }
}

async fn apply_refund_status(
    db: &Db,
    out_refund_no: &str,
    answer: &cove_wechat::pay::Refund,
    now: Micros,
) -> Result<()> {
    match answer.status.as_deref() {
        Some("SUCCESS") => {
            let at = parse_time(answer.success_time.as_deref()).unwrap_or(now);
            refunds::succeeded(
                db,
                out_refund_no,
                answer.refund_id.as_deref().unwrap_or_default(),
                at,
            )
            .await
        }
        Some(s @ ("CLOSED" | "ABNORMAL")) => {
            refunds::failed(db, out_refund_no, &format!("WeChat Pay: {s}"), now).await
        }
        _ => Ok(()),
    }
}

/// What one reconciliation pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub paid: usize,
    pub closed: usize,
    pub refunds_settled: usize,
    pub errors: usize,
}

const RECONCILE_BATCH: i64 = 200;

/// Asks WeChat Pay about open payments and processing refunds older than
/// [`RECONCILE_AFTER`] at `now`: a paid one is confirmed as a notification
/// would, a closed or failed one (or one whose order is no longer waiting)
/// is closed, a settled refund completes. One failing query does not stop
/// the others.
pub async fn reconcile(wp: &WechatPay, db: &Db, now: Micros) -> Result<Reconciled> {
    let mut done = Reconciled::default();
    let open =
        payments::open_payments(db, Provider::Wechat, now - RECONCILE_AFTER, RECONCILE_BATCH)
            .await?;
    for payment in open {
        match reconcile_payment(wp, db, &payment).await {
            Ok(Some(true)) => done.paid += 1,
            Ok(Some(false)) => done.closed += 1,
            Ok(None) => {}
            Err(e) => {
                done.errors += 1;
                tracing::warn!(out_trade_no = payment.out_trade_no, error = %e, "payment reconciliation");
            }
        }
    }
    let stuck = sqlx::query(
        "SELECT r.out_refund_no FROM refunds r \
         WHERE r.status = 'processing' AND COALESCE(r.decided_at, r.created_at) < $1 \
         AND EXISTS (SELECT 1 FROM payments p WHERE p.order_id = r.order_id \
                     AND p.provider = $2 AND p.status = 'succeeded') \
         ORDER BY r.created_at LIMIT $3",
    )
    .bind(now - RECONCILE_AFTER)
    .bind(PROVIDER)
    .bind(RECONCILE_BATCH)
    .fetch_all(db.pool())
    .await?;
    for row in stuck {
        let out_refund_no: String = row.try_get(0).map_err(Error::from)?;
        match wp.client.query_refund(&out_refund_no).await {
            Ok(answer) => {
                let before = answer.status.clone();
                match apply_refund_status(db, &out_refund_no, &answer, now).await {
                    Ok(()) if before.as_deref() != Some("PROCESSING") => done.refunds_settled += 1,
                    Ok(()) => {}
                    Err(e) => {
                        done.errors += 1;
                        tracing::warn!(out_refund_no, error = %e, "refund reconciliation");
                    }
                }
            }
            // Not sent yet: the `refund.send` job is still retrying it.
            Err(cove_wechat::Error::Pay { status: 404, .. }) => {}
            Err(e) => {
                done.errors += 1;
                tracing::warn!(out_refund_no, error = %e, "refund query");
            }
        }
    }
    Ok(done)
}

/// `Some(true)` paid, `Some(false)` closed, `None` still open.
async fn reconcile_payment(wp: &WechatPay, db: &Db, payment: &Payment) -> Result<Option<bool>> {
    let order_status: Option<String> =
        sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(&payment.order_id)
            .fetch_optional(db.pool())
            .await?;
    let order_waiting = order_status.as_deref() == Some("pending_payment");
    let state = match wp.client.query_by_out_trade_no(&payment.out_trade_no).await {
        Ok(t) if t.trade_state.as_deref() == Some("SUCCESS") => {
            let checked = check_transaction(db, wp, &t)
                .await
                .map_err(|r| Error::Internal(anyhow::anyhow!("{r:?}")))?;
            apply_transaction(db, &checked)
                .await
                .map_err(|r| Error::Internal(anyhow::anyhow!("{r:?}")))?;
            return Ok(Some(true));
        }
        Ok(t) => t.trade_state.unwrap_or_default(),
        // WeChat Pay never saw it (no prepay was made).
        Err(cove_wechat::Error::Pay { status: 404, .. }) => "NOTEXIST".to_owned(),
        Err(e) => return Err(upstream(e)),
    };
    let finished = matches!(state.as_str(), "CLOSED" | "PAYERROR" | "REVOKED");
    if finished || !order_waiting {
        if !finished && state != "NOTEXIST" {
            // The order timed out while WeChat Pay still accepts payment: close it there first.
            wp.client
                .close(&payment.out_trade_no)
                .await
                .map_err(upstream)?;
        }
        payments::close(db, &payment.out_trade_no).await?;
        return Ok(Some(false));
    }
    Ok(None)
}

/// The [`payments::CLOSE_JOB`] handler: a payment whose order stopped
/// waiting is closed at WeChat Pay and then here — or, when the customer
/// paid just before, recorded as paid (and refunded, the order being over).
pub async fn close_job(wp: Arc<WechatPay>, ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let Some(payment_id) = ctx.job.payload.get("payment_id").and_then(|v| v.as_str()) else {
        return Ok(());
    };
    let payment = {
        let mut conn = ctx.db.pool().acquire().await?;
        payments::get(&mut conn, payment_id).await?
    };
    if payment.status == "created" {
        reconcile_payment(&wp, &ctx.db, &payment).await?;
    }
    Ok(())
}

/// The [`RECONCILE_JOB`] handler.
pub async fn reconcile_job(wp: Arc<WechatPay>, ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let done = reconcile(&wp, &ctx.db, clock::now()).await?;
    if done != Reconciled::default() {
        tracing::info!(?done, "WeChat Pay reconciliation");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SECOND;

    fn config(dir: &std::path::Path) -> WechatPayConfig {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let public = rsa::RsaPublicKey::from(&key);
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let key_file = dir.join("apiclient_key.pem");
        std::fs::write(
            &key_file,
            key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
        )
        .unwrap();
        let pub_file = dir.join("pub_key.pem");
        std::fs::write(&pub_file, public.to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
        WechatPayConfig {
            enabled: true,
            mchid: "1900000109".into(),
            appid: "wxd678efh567hg6787".into(),
            serial_no: "5157F09EFDC096DE".into(),
            private_key_file: Some(key_file),
            api_v3_key: Some(crate::secret::Secret::new(
                "a7cde1ef52a06d9c1e38f8f8a29f9d8b",
            )),
            public_key_file: Some(pub_file),
            public_key_id: Some("PUB_KEY_ID_0000000000000024101100397200000006".into()),
            ..Default::default()
        }
    }

    fn refusal(c: &WechatPayConfig, public_url: &str) -> String {
        format!("{:#}", WechatPay::from_config(c, public_url).unwrap_err())
    }

    #[test]
    fn configuration_loads_keys_from_files_and_explains_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let good = config(dir.path());
        let pay = WechatPay::from_config(&good, "https://shop.example.com/")
            .unwrap()
            .unwrap();
        assert_eq!(
            pay.notify_url(),
            "https://shop.example.com/api/v1/pay/wechat/notify"
        );
        assert_eq!(
            pay.refund_notify_url(),
            "https://shop.example.com/api/v1/pay/wechat/refund-notify"
        );
        assert!(
            !format!("{good:?}").contains("a7cde1ef"),
            "the APIv3 key leaked"
        );
        assert!(
            !format!("{pay:?}").contains("a7cde1ef"),
            "the APIv3 key leaked"
        );

        let off = WechatPayConfig::default();
        assert!(WechatPay::from_config(&off, "http://x").unwrap().is_none());

        assert!(refusal(&good, "http://127.0.0.1:8080").contains("https public_url"));
        let mut c = good.clone();
        c.mchid = String::new();
        assert!(refusal(&c, "https://x").contains("wechat_pay.mchid is not set"));
        let mut c = good.clone();
        c.private_key_file = Some(dir.path().join("missing.pem"));
        assert!(refusal(&c, "https://x").contains("missing.pem"));
        let mut c = good.clone();
        c.private_key_file = c.public_key_file.clone();
        assert!(refusal(&c, "https://x").contains("private_key_file"));
        let mut c = good.clone();
        c.api_v3_key = Some(crate::secret::Secret::new("short"));
        assert!(refusal(&c, "https://x").contains("32 bytes"));
        let mut c = good.clone();
        c.public_key_id = Some("0123".into());
        assert!(refusal(&c, "https://x").contains("PUB_KEY_ID_"));
        let mut c = good;
        c.public_key_file = None;
        c.public_key_id = None;
        assert!(refusal(&c, "https://x").contains("platform_cert_files"));
    }

    #[test]
    fn expiry_is_written_in_china_standard_time() {
        // 2024-01-01T00:00:00Z
        assert_eq!(
            rfc3339_cst(1_704_067_200 * SECOND),
            "2024-01-01T08:00:00+08:00"
        );
    }

    #[test]
    fn success_times_parse_with_their_offset() {
        assert_eq!(
            parse_time(Some("2024-01-01T08:00:00+08:00")),
            Some(1_704_067_200 * SECOND)
        );
        assert_eq!(parse_time(Some("yesterday")), None);
    }
}
