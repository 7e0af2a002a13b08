//! Request and response bodies of the WeChat Pay v3 APIs used here. Amounts are integers in fen.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `amount` of a JSAPI order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAmount {
    /// Total in fen (分).
    pub total: i64,
    /// Currency, `CNY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// `payer` of a JSAPI order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// The payer's OpenID under `appid`.
    pub openid: String,
}

/// `POST /v3/pay/transactions/jsapi` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsapiPrepayRequest {
    /// AppID of the Mini Program / Official Account.
    pub appid: String,
    /// Merchant id.
    pub mchid: String,
    /// Description (≤ 127 characters).
    pub description: String,
    /// Merchant order number: 6–32 of `[0-9A-Za-z_-|*]`, unique per mchid.
    pub out_trade_no: String,
    /// RFC 3339 expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    /// Attach data returned in notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    /// HTTPS notification URL without query.
    pub notify_url: String,
    /// Goods tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_tag: Option<String>,
    /// Amount.
    pub amount: OrderAmount,
    /// Payer.
    pub payer: Payer,
}

/// Checks an `out_trade_no` / `out_refund_no`: 6–32 characters of `[0-9A-Za-z_-|*]`.
pub fn check_out_no(field: &str, value: &str) -> Result<()> {
    let ok_len = (6..=32).contains(&value.len());
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{field} must be 6..=32 characters of [0-9A-Za-z_-|*]"
        )))
    }
}

impl JsapiPrepayRequest {
    /// A validated order for `total_fen` (> 0) paid by `openid`.
    pub fn new(
        appid: &str,
        mchid: &str,
        description: &str,
        out_trade_no: &str,
        notify_url: &str,
        total_fen: i64,
        openid: &str,
    ) -> Result<Self> {
        check_out_no("out_trade_no", out_trade_no)?;
        if description.is_empty() || description.chars().count() > 127 {
            return Err(Error::InvalidArgument(
                "description must be 1..=127 characters".into(),
            ));
        }
        if !notify_url.starts_with("https://") || notify_url.contains('?') {
            return Err(Error::InvalidArgument(
                "notify_url must be https without a query".into(),
            ));
        }
        if total_fen <= 0 {
            return Err(Error::InvalidArgument(
                "amount must be a positive number of fen".into(),
            ));
        }
        Ok(Self {
            appid: appid.to_owned(),
            mchid: mchid.to_owned(),
            description: description.to_owned(),
            out_trade_no: out_trade_no.to_owned(),
            time_expire: None,
            attach: None,
            notify_url: notify_url.to_owned(),
            goods_tag: None,
            amount: OrderAmount {
                total: total_fen,
                currency: Some("CNY".to_owned()),
            },
            payer: Payer {
                openid: openid.to_owned(),
            },
        })
    }
}

/// `{"prepay_id": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepayResponse {
    /// The prepay id for `package=prepay_id=…`.
    pub prepay_id: String,
}

/// `payer` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TransactionPayer {
    /// OpenID.
    #[serde(default)]
    pub openid: Option<String>,
}

/// `amount` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TransactionAmount {
    /// Order total in fen.
    #[serde(default)]
    pub total: Option<i64>,
    /// Paid by the user in fen.
    #[serde(default)]
    pub payer_total: Option<i64>,
    /// Currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Payer currency.
    #[serde(default)]
    pub payer_currency: Option<String>,
}

/// A transaction (payment notification plaintext or query result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Transaction {
    /// AppID.
    #[serde(default)]
    pub appid: Option<String>,
    /// Merchant id.
    #[serde(default)]
    pub mchid: Option<String>,
    /// Merchant order number.
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// WeChat transaction id.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// `JSAPI`, `NATIVE`, …
    #[serde(default)]
    pub trade_type: Option<String>,
    /// `SUCCESS`, `NOTPAY`, `CLOSED`, `REFUND`, …
    #[serde(default)]
    pub trade_state: Option<String>,
    /// Human-readable state.
    #[serde(default)]
    pub trade_state_desc: Option<String>,
    /// Bank type.
    #[serde(default)]
    pub bank_type: Option<String>,
    /// Attach data.
    #[serde(default)]
    pub attach: Option<String>,
    /// RFC 3339 success time.
    #[serde(default)]
    pub success_time: Option<String>,
    /// Payer.
    #[serde(default)]
    pub payer: Option<TransactionPayer>,
    /// Amount.
    #[serde(default)]
    pub amount: Option<TransactionAmount>,
}

/// `amount` of a refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequestAmount {
    /// Refund amount in fen.
    pub refund: i64,
    /// Original order total in fen.
    pub total: i64,
    /// Currency, `CNY`.
    pub currency: String,
}

/// `POST /v3/refund/domestic/refunds` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// WeChat transaction id (or use `out_trade_no`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Merchant order number (or use `transaction_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    /// Merchant refund number: the idempotency key.
    pub out_refund_no: String,
    /// Reason shown to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Refund notification URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// Funds account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funds_account: Option<String>,
    /// Amounts.
    pub amount: RefundRequestAmount,
}

impl RefundRequest {
    /// A validated refund of `refund_fen` out of `total_fen` for the order `out_trade_no`.
    pub fn by_out_trade_no(
        out_trade_no: &str,
        out_refund_no: &str,
        refund_fen: i64,
        total_fen: i64,
    ) -> Result<Self> {
        check_out_no("out_trade_no", out_trade_no)?;
        check_out_no("out_refund_no", out_refund_no)?;
        if refund_fen <= 0 || refund_fen > total_fen {
            return Err(Error::InvalidArgument(
                "refund must be in 1..=total fen".into(),
            ));
        }
        Ok(Self {
            transaction_id: None,
            out_trade_no: Some(out_trade_no.to_owned()),
            out_refund_no: out_refund_no.to_owned(),
            reason: None,
            notify_url: None,
            funds_account: None,
            amount: RefundRequestAmount {
                refund: refund_fen,
                total: total_fen,
                currency: "CNY".to_owned(),
            },
        })
    }
}

/// `amount` of a refund result or notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RefundAmount {
    /// Order total.
    #[serde(default)]
    pub total: Option<i64>,
    /// Refunded.
    #[serde(default)]
    pub refund: Option<i64>,
    /// Paid by the user.
    #[serde(default)]
    pub payer_total: Option<i64>,
    /// Refunded to the user.
    #[serde(default)]
    pub payer_refund: Option<i64>,
    /// Currency.
    #[serde(default)]
    pub currency: Option<String>,
}

/// A refund (API result) or refund notification plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Refund {
    /// Merchant id (notifications).
    #[serde(default)]
    pub mchid: Option<String>,
    /// WeChat refund id.
    #[serde(default)]
    pub refund_id: Option<String>,
    /// Merchant refund number.
    #[serde(default)]
    pub out_refund_no: Option<String>,
    /// WeChat transaction id.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Merchant order number.
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// Channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Account that received the refund.
    #[serde(default)]
    pub user_received_account: Option<String>,
    /// Success time.
    #[serde(default)]
    pub success_time: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub create_time: Option<String>,
    /// `status` in API results: `SUCCESS`, `CLOSED`, `PROCESSING`, `ABNORMAL`.
    #[serde(default)]
    pub status: Option<String>,
    /// `refund_status` in notifications.
    #[serde(default)]
    pub refund_status: Option<String>,
    /// Funds account.
    #[serde(default)]
    pub funds_account: Option<String>,
    /// Amounts.
    #[serde(default)]
    pub amount: Option<RefundAmount>,
}
