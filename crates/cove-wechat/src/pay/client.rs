//! A WeChat Pay v3 HTTP client: signs the exact bytes it sends and verifies every response.

use std::sync::Arc;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use super::model::{JsapiPrepayRequest, PrepayResponse, Refund, RefundRequest, Transaction};
use super::signer::{nonce_str, MerchantSigner};
use super::verifier::{PayVerifier, SignedHeaders};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// The default WeChat Pay API host.
pub const DEFAULT_PAY_BASE: &str = "https://api.mch.weixin.qq.com";

/// WeChat Pay v3 client for one merchant.
#[derive(Debug, Clone)]
pub struct PayClient {
    http: reqwest::Client,
    base: String,
    signer: MerchantSigner,
    verifier: PayVerifier,
    clock: Arc<dyn Clock>,
}

impl PayClient {
    /// A client against `base` (normally [`DEFAULT_PAY_BASE`] or `ApiBase::pay`).
    pub fn new(base: &str, signer: MerchantSigner, verifier: PayVerifier) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            signer,
            verifier,
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses a custom `reqwest` client (timeouts, proxies).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Uses a custom clock for request timestamps.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The merchant id.
    pub fn mchid(&self) -> &str {
        self.signer.mchid()
    }

    /// Sends a signed request; `body` is serialised once and those exact bytes are signed and
    /// sent. Returns the verified raw response body (empty for 204).
    pub async fn send_raw(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let url = Url::parse(&format!("{}{}", self.base, path_and_query))
            .map_err(|e| Error::InvalidArgument(format!("bad URL: {e}")))?;
        let signed_url = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let body_bytes = body.unwrap_or_default();
        let body_str = std::str::from_utf8(body_bytes)
            .map_err(|_| Error::InvalidArgument("request body must be UTF-8 JSON".into()))?;
        let authorization = self.signer.authorization(
            method.as_str(),
            &signed_url,
            &self.clock.now_unix().to_string(),
            &nonce_str(),
            body_str,
        );
        let mut request = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static("cove-wechat"));
        if let Some(id) = self.verifier.public_key_id() {
            request = request.header("Wechatpay-Serial", id);
        }
        if let Some(b) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(b.to_vec());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = SignedHeaders::from_header_map(response.headers());
        let raw = response.bytes().await?.to_vec();
        if !(200..300).contains(&status) {
            let value: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
            return Err(Error::Pay {
                status,
                code: value["code"].as_str().unwrap_or("").to_owned(),
                message: value["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| String::from_utf8_lossy(&raw).chars().take(512).collect()),
            });
        }
        self.verifier.verify(&headers?, &raw)?;
        Ok(raw)
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<T> {
        let raw = self.send_raw(method, path, body).await?;
        Ok(serde_json::from_slice(&raw)?)
    }

    /// `POST /v3/pay/transactions/jsapi` → `prepay_id`.
    pub async fn jsapi_prepay(&self, request: &JsapiPrepayRequest) -> Result<String> {
        let body = serde_json::to_vec(request)?;
        let response: PrepayResponse = self
            .send_json(Method::POST, "/v3/pay/transactions/jsapi", Some(&body))
            .await?;
        Ok(response.prepay_id)
    }

    /// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`.
    pub async fn query_by_out_trade_no(&self, out_trade_no: &str) -> Result<Transaction> {
        super::model::check_out_no("out_trade_no", out_trade_no)?;
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}",
            self.signer.mchid()
        );
        self.send_json(Method::GET, &path, None).await
    }

    /// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` (204 on success).
    pub async fn close(&self, out_trade_no: &str) -> Result<()> {
        super::model::check_out_no("out_trade_no", out_trade_no)?;
        let body = serde_json::to_vec(&serde_json::json!({ "mchid": self.signer.mchid() }))?;
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        self.send_raw(Method::POST, &path, Some(&body)).await?;
        Ok(())
    }

    /// `POST /v3/refund/domestic/refunds`.
    pub async fn refund(&self, request: &RefundRequest) -> Result<Refund> {
        let body = serde_json::to_vec(request)?;
        self.send_json(Method::POST, "/v3/refund/domestic/refunds", Some(&body))
            .await
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}`.
    pub async fn query_refund(&self, out_refund_no: &str) -> Result<Refund> {
        super::model::check_out_no("out_refund_no", out_refund_no)?;
        let path = format!("/v3/refund/domestic/refunds/{out_refund_no}");
        self.send_json(Method::GET, &path, None).await
    }
}
