//! Merchant-side signing: the request message, the `Authorization` header and JSAPI `paySign`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// The `Authorization` scheme of WeChat Pay API v3.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// Builds the request message: `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`.
///
/// `url` is the path plus `?query` exactly as sent; `body` is the exact bytes sent (empty for GET).
pub fn request_message(
    method: &str,
    url: &str,
    timestamp: &str,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n")
}

/// Loads an RSA private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
/// (`BEGIN RSA PRIVATE KEY`).
pub fn load_private_key(pem: &str) -> Result<RsaPrivateKey> {
    let pem = pem.trim();
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| Error::Key(format!("not a PKCS#8 or PKCS#1 RSA private key: {e}")))
}

/// A random 32-character alphanumeric nonce.
pub fn nonce_str() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Parameters for `wx.requestPayment` (Mini Program) / `chooseWXPay` (JSAPI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsapiPayParams {
    /// `appId` (signed; must equal the prepay `appid`). Not passed to `wx.requestPayment`.
    pub app_id: String,
    /// `timeStamp`: 10-digit Unix seconds as a string.
    pub time_stamp: String,
    /// `nonceStr`.
    pub nonce_str: String,
    /// `package`: `prepay_id=…`.
    pub package: String,
    /// `signType`: always `RSA` (not signed).
    pub sign_type: String,
    /// `paySign`.
    pub pay_sign: String,
}

/// The merchant's signing identity: `mchid`, certificate serial and private key.
#[derive(Clone)]
pub struct MerchantSigner {
    mchid: String,
    serial_no: String,
    key: SigningKey<Sha256>,
}

impl std::fmt::Debug for MerchantSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantSigner")
            .field("mchid", &self.mchid)
            .field("serial_no", &self.serial_no)
            .finish_non_exhaustive()
    }
}

impl MerchantSigner {
    /// Creates a signer from the `apiclient_key.pem` contents (PKCS#8 or PKCS#1).
    pub fn from_pem(mchid: &str, serial_no: &str, private_key_pem: &str) -> Result<Self> {
        Ok(Self::new(
            mchid,
            serial_no,
            load_private_key(private_key_pem)?,
        ))
    }

    /// Creates a signer from a loaded key.
    pub fn new(mchid: &str, serial_no: &str, key: RsaPrivateKey) -> Self {
        Self {
            mchid: mchid.to_owned(),
            serial_no: serial_no.to_ascii_uppercase(),
            key: SigningKey::<Sha256>::new(key),
        }
    }

    /// The merchant id.
    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// The merchant certificate serial (uppercase hex).
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// Base64 of RSASSA-PKCS1-v1_5 / SHA-256 over `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.key.sign(message).to_bytes())
    }

    /// The `Authorization` header value for a request (parameters in the order of the official
    /// Go SDK, with `signature` last but one as in the doc example).
    pub fn authorization(
        &self,
        method: &str,
        url: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> String {
        let signature = self.sign(request_message(method, url, timestamp, nonce, body).as_bytes());
        format!(
            "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            self.mchid, self.serial_no
        )
    }

    /// `Authorization` with a fresh nonce and the current time.
    pub fn authorization_now(
        &self,
        method: &str,
        url: &str,
        body: &str,
        clock: &dyn Clock,
    ) -> String {
        self.authorization(
            method,
            url,
            &clock.now_unix().to_string(),
            &nonce_str(),
            body,
        )
    }

    /// `wx.requestPayment` parameters for `prepay_id` with the current time and a fresh nonce.
    pub fn jsapi_pay_params(&self, app_id: &str, prepay_id: &str) -> JsapiPayParams {
        self.jsapi_pay_params_with(
            app_id,
            &SystemClock.now_unix().to_string(),
            &nonce_str(),
            prepay_id,
        )
    }

    /// `wx.requestPayment` parameters with a given timestamp and nonce:
    /// `paySign = sign(appId\ntimeStamp\nnonceStr\npackage\n)`.
    pub fn jsapi_pay_params_with(
        &self,
        app_id: &str,
        time_stamp: &str,
        nonce_str: &str,
        prepay_id: &str,
    ) -> JsapiPayParams {
        let package = format!("prepay_id={prepay_id}");
        let message = format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n");
        JsapiPayParams {
            app_id: app_id.to_owned(),
            time_stamp: time_stamp.to_owned(),
            nonce_str: nonce_str.to_owned(),
            pay_sign: self.sign(message.as_bytes()),
            package,
            sign_type: "RSA".to_owned(),
        }
    }
}

/// Parses an `Authorization` header into `(name, value)` pairs, accepting any parameter order.
/// Returns `None` when the scheme is not [`AUTH_SCHEME`].
pub fn parse_authorization(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.strip_prefix(AUTH_SCHEME)?.trim_start();
    let mut out = Vec::new();
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
        out.push((name.trim().to_owned(), value.to_owned()));
    }
    Some(out)
}
