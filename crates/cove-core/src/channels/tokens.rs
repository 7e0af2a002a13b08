//! Access tokens shared by every node through the database.
//!
//! WeChat keeps one valid `access_token` per app (a refresh invalidates the
//! previous one after a short grace), so nodes must not refresh on their
//! own: the token lives in `wechat_tokens`, sealed with the vault key, and
//! the refresh lock is one conditional upsert that at most one node wins
//! until it expires.

use crate::clock;
use crate::db::Db;
use crate::vault::Vault;
use async_trait::async_trait;
use cove_wechat::token::{AccessToken, TokenStore};
use cove_wechat::{Error as WxError, Result as WxResult};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DbTokenStore {
    db: Db,
    vault: Vault,
}

impl DbTokenStore {
    pub fn new(db: Db, vault: Vault) -> Self {
        Self { db, vault }
    }
}

fn store_error(e: impl std::fmt::Display) -> WxError {
    WxError::TokenStore(e.to_string())
}

#[async_trait]
impl TokenStore for DbTokenStore {
    async fn get(&self, key: &str) -> WxResult<Option<AccessToken>> {
        let row: Option<(Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT token_sealed, expires_at FROM wechat_tokens WHERE key = $1")
                .bind(key)
                .fetch_optional(self.db.pool())
                .await
                .map_err(store_error)?;
        match row {
            Some((Some(sealed), Some(expires_at))) => {
                let token = self.vault.open_sealed(&sealed).map_err(store_error)?;
                Ok(Some(AccessToken {
                    token: token.expose().to_owned(),
                    expires_at,
                }))
            }
            _ => Ok(None),
        }
    }

    async fn put(&self, key: &str, token: &AccessToken) -> WxResult<()> {
        let sealed = self.vault.seal(&token.token).map_err(store_error)?;
        sqlx::query(
            "INSERT INTO wechat_tokens (key, token_sealed, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET token_sealed = $2, expires_at = $3",
        )
        .bind(key)
        .bind(sealed)
        .bind(token.expires_at)
        .execute(self.db.pool())
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> WxResult<bool> {
        let now = clock::now();
        let until = now + i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
        let taken = sqlx::query(
            "INSERT INTO wechat_tokens (key, locked_until) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET locked_until = $2 \
             WHERE wechat_tokens.locked_until IS NULL OR wechat_tokens.locked_until < $3",
        )
        .bind(key)
        .bind(until)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn unlock(&self, key: &str) -> WxResult<()> {
        sqlx::query("UPDATE wechat_tokens SET locked_until = NULL WHERE key = $1")
            .bind(key)
            .execute(self.db.pool())
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
