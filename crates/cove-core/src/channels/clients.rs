//! API clients for the brand's accounts, built from their sealed secrets,
//! sharing access tokens through [`DbTokenStore`] and pointed at the hosts
//! the configuration names (a local stand-in in tests).

use super::accounts::{self, Account, AccountKind};
use super::tokens::DbTokenStore;
use crate::config::WechatConfig;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::vault::Vault;
use cove_wechat::client::{ApiBase, ClientOptions, MpClient, RetryPolicy, WeComClient};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Clients per account, cached so each keeps its in-process single-flight refresh.
#[derive(Clone)]
pub struct WechatApi {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    vault: Vault,
    options: ClientOptions,
    tokens: Arc<DbTokenStore>,
    mp: Mutex<HashMap<String, Arc<MpClient>>>,
    wecom: Mutex<HashMap<String, Arc<WeComClient>>>,
}

impl std::fmt::Debug for WechatApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatApi")
            .field("base", &self.inner.options.base)
            .finish()
    }
}

impl WechatApi {
    pub fn new(db: Db, vault: Vault, config: &WechatConfig) -> Result<Self> {
        let base = config
            .api_base
            .as_deref()
            .map(ApiBase::all)
            .unwrap_or_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Internal(anyhow::anyhow!("HTTP client: {e}")))?;
        // One quick in-call retry on 45009 / -1; longer waits are the outbox's backoff.
        let retry = RetryPolicy {
            max_retries: 1,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                tokens: Arc::new(DbTokenStore::new(db.clone(), vault.clone())),
                db,
                vault,
                options: ClientOptions {
                    base,
                    retry,
                    http: Some(http),
                },
                mp: Mutex::new(HashMap::new()),
                wecom: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The client of an Official Account or Mini Program.
    pub async fn mp(&self, account_id: &str) -> Result<(Account, Arc<MpClient>)> {
        let (account, secret) =
            accounts::api_credentials(&self.inner.db, &self.inner.vault, account_id).await?;
        if account.kind == AccountKind::Wecom {
            return Err(Error::invalid(
                "wrong_account_kind",
                "this is a WeCom app, not an Official Account or Mini Program",
            ));
        }
        let mut cache = self
            .inner
            .mp
            .lock()
            .map_err(|_| Error::Internal(anyhow::anyhow!("client cache poisoned")))?;
        let client = cache
            .entry(account.id.clone())
            .or_insert_with(|| {
                Arc::new(MpClient::new(
                    &account.app_id,
                    secret.expose(),
                    self.inner.tokens.clone(),
                    self.inner.options.clone(),
                ))
            })
            .clone();
        Ok((account, client))
    }

    /// The client of a WeCom app (CorpID + app secret).
    pub async fn wecom(&self, account_id: &str) -> Result<(Account, Arc<WeComClient>)> {
        let (account, secret) =
            accounts::api_credentials(&self.inner.db, &self.inner.vault, account_id).await?;
        if account.kind != AccountKind::Wecom {
            return Err(Error::invalid(
                "wrong_account_kind",
                "this account is not a WeCom app",
            ));
        }
        let mut cache = self
            .inner
            .wecom
            .lock()
            .map_err(|_| Error::Internal(anyhow::anyhow!("client cache poisoned")))?;
        let client = cache
            .entry(account.id.clone())
            .or_insert_with(|| {
                Arc::new(WeComClient::new(
                    &account.app_id,
                    secret.expose(),
                    self.inner.tokens.clone(),
                    self.inner.options.clone(),
                ))
            })
            .clone();
        Ok((account, client))
    }
}
