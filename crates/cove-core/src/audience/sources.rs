//! Event sources: one per channel (Mini Program, H5, service account, WeCom,
//! offline POS, server), each with its own write key. The key is shown once
//! at creation and stored only as a SHA-256 digest.

use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{new_id, Db};
use crate::error::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    MiniProgram,
    H5,
    ServiceAccount,
    Wecom,
    OfflinePos,
    Server,
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] = [
        SourceKind::MiniProgram,
        SourceKind::H5,
        SourceKind::ServiceAccount,
        SourceKind::Wecom,
        SourceKind::OfflinePos,
        SourceKind::Server,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::MiniProgram => "mini_program",
            SourceKind::H5 => "h5",
            SourceKind::ServiceAccount => "service_account",
            SourceKind::Wecom => "wecom",
            SourceKind::OfflinePos => "offline_pos",
            SourceKind::Server => "server",
        }
    }
}

impl FromStr for SourceKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SourceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid("invalid_source_kind", format!("unknown source kind '{s}'"))
            })
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The first characters of the write key, to recognise it.
    pub write_key_prefix: String,
    pub created_at: Micros,
    pub disabled_at: Option<Micros>,
}

const COLUMNS: &str = "id, name, kind, write_key_prefix, created_at, disabled_at";

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates a source; returns it with its write key (shown only now).
pub async fn create_source(
    db: &Db,
    actor: &Actor,
    name: &str,
    kind: SourceKind,
) -> Result<(Source, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a source name of 1 to 100 characters is required",
        ));
    }
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let key = format!("wk_{}", URL_SAFE_NO_PAD.encode(bytes));
    let id = new_id();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO sources (id, name, kind, write_key_hash, write_key_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(name)
    .bind(kind.as_str())
    .bind(key_hash(&key))
    .bind(&key[..10])
    .bind(clock::now())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "source.create",
        "source",
        Some(&id),
        serde_json::json!({ "name": name, "kind": kind.as_str() }),
    )
    .await?;
    tx.commit().await?;
    let source =
        sqlx::query_as::<_, Source>(&format!("SELECT {COLUMNS} FROM sources WHERE id = $1"))
            .bind(&id)
            .fetch_one(db.pool())
            .await?;
    Ok((source, key))
}

pub async fn list_sources(db: &Db) -> Result<Vec<Source>> {
    Ok(
        sqlx::query_as::<_, Source>(&format!("SELECT {COLUMNS} FROM sources WHERE id <> '{}' ORDER BY id", super::domain::COVE_SOURCE))
            .fetch_all(db.read())
            .await?,
    )
}

/// The enabled source holding `write_key`, if any.
pub async fn by_write_key(db: &Db, write_key: &str) -> Result<Option<Source>> {
    if write_key.is_empty() || write_key.len() > 200 {
        return Ok(None);
    }
    let source = sqlx::query_as::<_, Source>(&format!(
        "SELECT {COLUMNS} FROM sources WHERE write_key_hash = $1"
    ))
    .bind(key_hash(write_key))
    .fetch_optional(db.read())
    .await?;
    Ok(source.filter(|s| s.disabled_at.is_none()))
}

/// Disables a source: its write key stops working at once.
pub async fn disable_source(db: &Db, actor: &Actor, id: &str) -> Result<()> {
    if id == super::domain::COVE_SOURCE {
        return Err(Error::conflict(
            "builtin_source",
            "Cove's own event source cannot be disabled",
        ));
    }
    let mut tx = db.begin().await?;
    let n =
        sqlx::query("UPDATE sources SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
            .bind(clock::now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if n == 0 {
        return Err(Error::not_found("source"));
    }
    audit::record(
        &mut tx,
        actor,
        "source.disable",
        "source",
        Some(id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The write key of an `Authorization: Basic base64(key:)` header value.
pub fn write_key_from_basic(header: &str) -> Option<String> {
    let encoded = header.trim().strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
    (!user.is_empty()).then(|| user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_carries_the_write_key_as_user() {
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("wk_abc:")
        );
        assert_eq!(write_key_from_basic(&h).as_deref(), Some("wk_abc"));
        let no_colon = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("wk_abc")
        );
        assert_eq!(write_key_from_basic(&no_colon).as_deref(), Some("wk_abc"));
        assert_eq!(write_key_from_basic("Bearer x"), None);
        assert_eq!(write_key_from_basic("Basic !!!"), None);
        assert!("mini_program".parse::<SourceKind>().is_ok());
        assert!("tv".parse::<SourceKind>().is_err());
    }
}
