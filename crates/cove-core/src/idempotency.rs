//! Idempotency keys: a retried write returns the first answer instead of
//! acting twice. The key is claimed inside the caller's transaction, so the
//! claim and the work commit or roll back together; a concurrent duplicate
//! waits on the key's row (PostgreSQL) or the single writer (SQLite), then
//! sees the stored response.

use crate::clock;
use crate::db::Conn;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

pub enum Claim {
    /// First time this key is seen: do the work, then [`store`] the response.
    New,
    /// Seen before with the same request: return this response.
    Replay(String),
}

/// A digest of the request, so the same key reused for a different request is refused.
pub fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Claims `key` in `scope` (e.g. `checkout:<member>`).
pub async fn claim(conn: &mut Conn, scope: &str, key: &str, request_hash: &str) -> Result<Claim> {
    if key.is_empty() || key.len() > 200 {
        return Err(Error::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 200 characters",
        ));
    }
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(request_hash)
    .bind(clock::now())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::New);
    }
    let (stored_hash, response): (String, Option<String>) = sqlx::query_as(
        "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    if stored_hash != request_hash {
        return Err(Error::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        ));
    }
    match response {
        Some(r) => Ok(Claim::Replay(r)),
        None => Err(Error::conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is in progress",
        )),
    }
}

/// Stores the response for a key claimed with [`claim`], in the same transaction.
pub async fn store(conn: &mut Conn, scope: &str, key: &str, response: &str) -> Result<()> {
    sqlx::query("UPDATE idempotency_keys SET response = $1 WHERE scope = $2 AND key = $3")
        .bind(response)
        .bind(scope)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
