//! Access tokens: `stable_token` (Official Account / Mini Program) and WeCom `gettoken`, kept in
//! a pluggable shared [`TokenStore`], refreshed early, single-flight within the process and
//! under the store's lock across processes.
//!
//! ```
//! use std::sync::Arc;
//! use cove_wechat::token::{AccessToken, MemoryTokenStore, TokenStore};
//!
//! # tokio_test_block_on(async {
//! let store = MemoryTokenStore::default();
//! store.put("mp:wx1", &AccessToken { token: "T".into(), expires_at: i64::MAX }).await?;
//! assert_eq!(store.get("mp:wx1").await?.map(|t| t.token), Some("T".to_owned()));
//! # Ok::<(), cove_wechat::Error>(())
//! # })?;
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let waker = std::task::Waker::noop();
//! #     let mut cx = std::task::Context::from_waker(&waker);
//! #     let mut f = std::pin::pin!(f);
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! # Ok::<(), cove_wechat::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// A cached access token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token (store at least 512 characters).
    pub token: String,
    /// Expiry in Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Shared token storage, so several processes use one token and one refresher.
///
/// Back it with a database or cache; `try_lock` must be atomic across processes (for example an
/// `INSERT … ON CONFLICT DO NOTHING` row with an expiry) and expire on its own after `ttl`.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Reads the token stored under `key`.
    async fn get(&self, key: &str) -> Result<Option<AccessToken>>;
    /// Stores a token under `key`.
    async fn put(&self, key: &str, token: &AccessToken) -> Result<()>;
    /// Tries to take the refresh lock for `key` for at most `ttl`; `true` when taken.
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<bool>;
    /// Releases the refresh lock for `key`.
    async fn unlock(&self, key: &str) -> Result<()>;
}

/// An in-process [`TokenStore`].
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, AccessToken>>,
    locks: Mutex<HashMap<String, std::time::Instant>>,
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn get(&self, key: &str) -> Result<Option<AccessToken>> {
        let map = self
            .tokens
            .lock()
            .map_err(|_| Error::TokenStore("poisoned".into()))?;
        Ok(map.get(key).cloned())
    }

    async fn put(&self, key: &str, token: &AccessToken) -> Result<()> {
        let mut map = self
            .tokens
            .lock()
            .map_err(|_| Error::TokenStore("poisoned".into()))?;
        map.insert(key.to_owned(), token.clone());
        Ok(())
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<bool> {
        let mut locks = self
            .locks
            .lock()
            .map_err(|_| Error::TokenStore("poisoned".into()))?;
        let now = std::time::Instant::now();
        match locks.get(key) {
            Some(until) if *until > now => Ok(false),
            _ => {
                locks.insert(key.to_owned(), now + ttl);
                Ok(true)
            }
        }
    }

    async fn unlock(&self, key: &str) -> Result<()> {
        let mut locks = self
            .locks
            .lock()
            .map_err(|_| Error::TokenStore("poisoned".into()))?;
        locks.remove(key);
        Ok(())
    }
}

/// Which credential a token is for.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Official Account or Mini Program: `stable_token` with AppID and AppSecret.
    App {
        /// AppID.
        appid: String,
        /// AppSecret.
        secret: String,
    },
    /// WeCom: `gettoken` with CorpID and the app's (or customer-contact) secret.
    WeCom {
        /// CorpID.
        corpid: String,
        /// Secret of the app.
        corpsecret: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::App { appid, .. } => f
                .debug_struct("App")
                .field("appid", appid)
                .finish_non_exhaustive(),
            Credential::WeCom { corpid, .. } => f
                .debug_struct("WeCom")
                .field("corpid", corpid)
                .finish_non_exhaustive(),
        }
    }
}

impl Credential {
    /// The store key: `mp:<appid>` or `wecom:<corpid>:<sha-prefix of the secret>` (one token per
    /// secret).
    pub fn store_key(&self) -> String {
        match self {
            Credential::App { appid, .. } => format!("mp:{appid}"),
            Credential::WeCom { corpid, corpsecret } => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(corpsecret.as_bytes());
                let short = crate::msgcrypt::hex_lower(digest.get(..6).unwrap_or_default());
                format!("wecom:{corpid}:{short}")
            }
        }
    }
}

/// Token refresh tuning.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Refresh this many seconds before expiry.
    pub refresh_margin_secs: i64,
    /// Lifetime of the cross-process refresh lock.
    pub lock_ttl: Duration,
    /// How long to wait for another process's refresh before fetching anyway.
    pub lock_wait: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            refresh_margin_secs: 300,
            lock_ttl: Duration::from_secs(10),
            lock_wait: Duration::from_secs(3),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

/// Fetches and caches access tokens for one credential.
pub struct TokenManager {
    http: reqwest::Client,
    base: String,
    credential: Credential,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    config: TokenConfig,
    flight: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("base", &self.base)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager calling `base` (the `mp` host for [`Credential::App`], the `qyapi` host for
    /// [`Credential::WeCom`]).
    pub fn new(
        http: reqwest::Client,
        base: &str,
        credential: Credential,
        store: Arc<dyn TokenStore>,
    ) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            credential,
            store,
            clock: Arc::new(SystemClock),
            config: TokenConfig::default(),
            flight: tokio::sync::Mutex::new(()),
        }
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the tuning.
    pub fn with_config(mut self, config: TokenConfig) -> Self {
        self.config = config;
        self
    }

    /// The credential.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    fn fresh(&self, token: &AccessToken) -> bool {
        token.expires_at - self.config.refresh_margin_secs > self.clock.now_unix()
    }

    /// A valid token: from the store when fresh, otherwise refreshed (single-flight).
    pub async fn get(&self) -> Result<String> {
        let key = self.credential.store_key();
        if let Some(t) = self.store.get(&key).await? {
            if self.fresh(&t) {
                return Ok(t.token);
            }
        }
        let _guard = self.flight.lock().await;
        if let Some(t) = self.store.get(&key).await? {
            if self.fresh(&t) {
                return Ok(t.token);
            }
        }
        self.refresh_locked(&key, false).await
    }

    /// Called after an API rejected `rejected` (`40001` / `40014` / `42001`): re-reads the store
    /// and, if it still holds the rejected token, refreshes (forcing a new `stable_token` when the
    /// platform returns the same one). Returns the token to retry with.
    pub async fn refresh_after_rejection(&self, rejected: &str) -> Result<String> {
        let key = self.credential.store_key();
        let _guard = self.flight.lock().await;
        if let Some(t) = self.store.get(&key).await? {
            if t.token != rejected && self.fresh(&t) {
                return Ok(t.token);
            }
        }
        let token = self.refresh_locked(&key, false).await?;
        if token != rejected {
            return Ok(token);
        }
        self.refresh_locked(&key, true).await
    }

    async fn refresh_locked(&self, key: &str, force: bool) -> Result<String> {
        let acquired = self.store.try_lock(key, self.config.lock_ttl).await?;
        if !acquired {
            // Another process is refreshing: wait for its result for a while.
            let deadline = tokio::time::Instant::now() + self.config.lock_wait;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(t) = self.store.get(key).await? {
                    if self.fresh(&t) && !force {
                        return Ok(t.token);
                    }
                }
            }
        }
        let fetched = self.fetch(force).await;
        if acquired {
            self.store.unlock(key).await?;
        }
        let token = fetched?;
        self.store.put(key, &token).await?;
        Ok(token.token)
    }

    async fn fetch(&self, force: bool) -> Result<AccessToken> {
        let request = match &self.credential {
            Credential::App { appid, secret } => self
                .http
                .post(format!("{}/cgi-bin/stable_token", self.base))
                .json(&serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": appid,
                    "secret": secret,
                    "force_refresh": force,
                })),
            Credential::WeCom { corpid, corpsecret } => self
                .http
                .get(format!("{}/cgi-bin/gettoken", self.base))
                .query(&[
                    ("corpid", corpid.as_str()),
                    ("corpsecret", corpsecret.as_str()),
                ]),
        };
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(Error::HttpStatus {
                status: status.as_u16(),
                body: text.chars().take(512).collect(),
            });
        }
        let parsed: TokenResponse = serde_json::from_str(&text)?;
        if let Some(code) = parsed.errcode.filter(|c| *c != 0) {
            return Err(Error::Api {
                errcode: code,
                errmsg: parsed.errmsg.unwrap_or_default(),
            });
        }
        let token = parsed
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or(Error::Api {
                errcode: -1,
                errmsg: "token response without access_token".into(),
            })?;
        Ok(AccessToken {
            token,
            expires_at: self.clock.now_unix() + parsed.expires_in.unwrap_or(7200),
        })
    }
}
