//! HTTP clients for the Official Account / Mini Program server APIs ([`MpClient`]) and WeCom
//! customer contact ([`WeComClient`]), with configurable hosts ([`ApiBase`]), token injection,
//! one retry after a token rejection and bounded back-off on `45009` / `-1`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{is_token_errcode, Error, Result};
use crate::token::{Credential, TokenManager, TokenStore};

mod mp;
mod wecom;
mod wecom_kf;

pub use mp::{
    CustomBody, CustomMessage, FollowerInfo, MiniProgramLink, PhoneInfo, QrTicket, Session,
    SubscribeMessage, TemplateMessage, TextContent, Watermark, WxaCodeRequest,
};
pub use wecom::{
    ContactWay, ContactWayCreated, ExternalContactInfo, ExternalProfile, FollowUser, GroupChat,
    GroupChatMember, WelcomeMessage,
};
pub use wecom_kf::{
    valid_kf_msgid, KfMessage, KfOrigin, KfSyncPage, KfText, KF_MSGID_MAX_CHARS, KF_SYNC_LIMIT,
    KF_TEXT_MAX_BYTES,
};

/// API hosts; point them at a local stand-in in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase {
    /// Official Account / Mini Program API host.
    pub mp: String,
    /// WeCom API host.
    pub qyapi: String,
    /// WeChat Pay API host.
    pub pay: String,
}

impl Default for ApiBase {
    fn default() -> Self {
        Self {
            mp: "https://api.weixin.qq.com".to_owned(),
            qyapi: "https://qyapi.weixin.qq.com".to_owned(),
            pay: crate::pay::DEFAULT_PAY_BASE.to_owned(),
        }
    }
}

impl ApiBase {
    /// All three hosts pointing at one base URL (a local stand-in).
    pub fn all(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            mp: base.clone(),
            qyapi: base.clone(),
            pay: base,
        }
    }
}

/// Back-off for `45009` (frequency limit) and `-1` (system busy).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First delay; doubled on each retry.
    pub base_delay: Duration,
    /// Cap for one delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// A response that is either JSON or raw bytes (images).
enum Body {
    Json(Value),
    Bytes(Vec<u8>),
}

/// Shared machinery of both clients.
#[derive(Debug)]
struct Core {
    http: reqwest::Client,
    base: String,
    tokens: TokenManager,
    retry: RetryPolicy,
}

fn errcode(v: &Value) -> i64 {
    v.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

fn api_error(v: &Value) -> Error {
    Error::Api {
        errcode: errcode(v),
        errmsg: v
            .get("errmsg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    }
}

impl Core {
    fn new(
        http: reqwest::Client,
        base: &str,
        credential: Credential,
        store: Arc<dyn TokenStore>,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            tokens: TokenManager::new(http.clone(), base, credential, store),
            http,
            base: base.trim_end_matches('/').to_owned(),
            retry,
        }
    }

    /// Calls `path`, adding `access_token` when `with_token`; returns JSON with `errcode == 0`
    /// (or absent), or raw bytes when the answer is not JSON.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        with_token: bool,
    ) -> Result<Body> {
        let mut token = if with_token {
            Some(self.tokens.get().await?)
        } else {
            None
        };
        let mut token_retried = false;
        let mut attempt = 0u32;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{}", self.base, path))
                .query(query);
            if let Some(t) = &token {
                request = request.query(&[("access_token", t.as_str())]);
            }
            if let Some(b) = body {
                request = request.json(b);
            }
            let response = request.send().await?;
            let status = response.status();
            let is_json = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("json") || v.starts_with("text/plain"));
            let bytes = response.bytes().await?.to_vec();
            let looks_json = bytes.first().is_some_and(|b| *b == b'{');
            if !(is_json || looks_json) {
                if status.is_success() {
                    return Ok(Body::Bytes(bytes));
                }
                return Err(Error::HttpStatus {
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes).chars().take(512).collect(),
                });
            }
            let value: Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) if status.is_success() => return Err(e.into()),
                Err(_) => {
                    return Err(Error::HttpStatus {
                        status: status.as_u16(),
                        body: String::from_utf8_lossy(&bytes).chars().take(512).collect(),
                    })
                }
            };
            let code = errcode(&value);
            if code == 0 {
                if !status.is_success() {
                    return Err(Error::HttpStatus {
                        status: status.as_u16(),
                        body: value.to_string(),
                    });
                }
                return Ok(Body::Json(value));
            }
            if is_token_errcode(code) && !token_retried {
                if let Some(rejected) = &token {
                    token = Some(self.tokens.refresh_after_rejection(rejected).await?);
                    token_retried = true;
                    continue;
                }
            }
            if matches!(code, 45009 | -1) && attempt < self.retry.max_retries {
                tokio::time::sleep(self.retry.delay(attempt)).await;
                attempt += 1;
                continue;
            }
            return Err(api_error(&value));
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        with_token: bool,
    ) -> Result<T> {
        match self.call(method, path, query, body, with_token).await? {
            Body::Json(v) => Ok(serde_json::from_value(v)?),
            Body::Bytes(b) => Err(Error::HttpStatus {
                status: 200,
                body: format!("expected JSON, got {} bytes", b.len()),
            }),
        }
    }
}

/// Options shared by the client constructors.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Hosts.
    pub base: ApiBase,
    /// Back-off policy.
    pub retry: RetryPolicy,
    /// HTTP client to use (timeouts, proxies); a default one when `None`.
    pub http: Option<reqwest::Client>,
}

/// Client for one Official Account or Mini Program (AppID + AppSecret).
#[derive(Debug)]
pub struct MpClient {
    core: Core,
    appid: String,
    secret: String,
}

/// Client for one WeCom app secret (CorpID + secret).
#[derive(Debug)]
pub struct WeComClient {
    core: Core,
}

impl MpClient {
    /// Creates a client; tokens are shared through `store`.
    pub fn new(
        appid: &str,
        secret: &str,
        store: Arc<dyn TokenStore>,
        options: ClientOptions,
    ) -> Self {
        let http = options.http.unwrap_or_default();
        let credential = Credential::App {
            appid: appid.to_owned(),
            secret: secret.to_owned(),
        };
        Self {
            core: Core::new(http, &options.base.mp, credential, store, options.retry),
            appid: appid.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// The AppID.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The token manager (for sharing a token with other code).
    pub fn tokens(&self) -> &TokenManager {
        &self.core.tokens
    }

    /// Calls any token-authenticated JSON API under the `mp` host.
    pub async fn post_json<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        self.core
            .json(Method::POST, path, &[], Some(body), true)
            .await
    }
}

impl WeComClient {
    /// Creates a client; tokens are shared through `store`.
    pub fn new(
        corpid: &str,
        corpsecret: &str,
        store: Arc<dyn TokenStore>,
        options: ClientOptions,
    ) -> Self {
        let http = options.http.unwrap_or_default();
        let credential = Credential::WeCom {
            corpid: corpid.to_owned(),
            corpsecret: corpsecret.to_owned(),
        };
        Self {
            core: Core::new(http, &options.base.qyapi, credential, store, options.retry),
        }
    }

    /// The token manager.
    pub fn tokens(&self) -> &TokenManager {
        &self.core.tokens
    }

    /// Calls any token-authenticated JSON API under the `qyapi` host.
    pub async fn post_json<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        self.core
            .json(Method::POST, path, &[], Some(body), true)
            .await
    }
}

/// `{"errcode":0,"errmsg":"ok"}` only.
#[derive(Debug, Deserialize, Serialize)]
struct Empty {}
