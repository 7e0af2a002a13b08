//! Console sessions: only a hash of the cookie value is stored, with the
//! session's CSRF token.

use super::{random_token, token_hash, Principal, Via};
use crate::clock::{self, SECOND};
use crate::config::AuthConfig;
use crate::db::Db;
use crate::error::{Error, Result};

/// A new session: the cookie value (shown once, stored only as a hash) and its CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf: String,
}

pub async fn create_session(
    db: &Db,
    cfg: &AuthConfig,
    user_id: &str,
    ip: &str,
    user_agent: &str,
) -> Result<NewSession> {
    let token = random_token();
    let csrf = random_token();
    let now = clock::now();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(&csrf)
    .bind(now)
    .bind(now + cfg.session_ttl_secs * SECOND)
    .bind(ip)
    .bind(user_agent.chars().take(300).collect::<String>())
    .execute(db.pool())
    .await?;
    Ok(NewSession { token, csrf })
}

/// The user columns a principal is built from.
#[derive(sqlx::FromRow)]
pub(super) struct PrincipalRow {
    user_id: String,
    email: String,
    name: String,
    role: String,
    store_id: Option<String>,
    reseller_id: Option<String>,
    locale: String,
    disabled_at: Option<i64>,
}

pub(super) const PRINCIPAL_COLUMNS: &str =
    "u.id AS user_id, u.email, u.name, u.role, u.store_id, u.reseller_id, u.locale, u.disabled_at";

pub(super) fn principal_from(row: PrincipalRow, via: Via) -> Result<Principal> {
    if row.disabled_at.is_some() {
        return Err(Error::Unauthenticated);
    }
    Ok(Principal {
        user_id: row.user_id,
        email: row.email,
        name: row.name,
        role: row.role.parse()?,
        store_id: row.store_id,
        reseller_id: row.reseller_id,
        locale: row.locale,
        via,
    })
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    csrf_token: String,
    expires_at: i64,
    #[sqlx(flatten)]
    user: PrincipalRow,
}

/// The principal behind a session cookie; slides the expiry forward when half used.
pub async fn session_principal(db: &Db, cfg: &AuthConfig, token: &str) -> Result<Principal> {
    let now = clock::now();
    let hash = token_hash(token);
    let row: Option<SessionRow> = sqlx::query_as(&format!(
        "SELECT s.csrf_token, s.expires_at, {PRINCIPAL_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1"
    ))
    .bind(&hash)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row.filter(|r| r.expires_at > now) else {
        return Err(Error::Unauthenticated);
    };
    let ttl = cfg.session_ttl_secs * SECOND;
    if row.expires_at - now < ttl / 2 {
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id_hash = $2")
            .bind(now + ttl)
            .bind(&hash)
            .execute(db.pool())
            .await?;
    }
    principal_from(
        row.user,
        Via::Session {
            csrf: row.csrf_token,
        },
    )
}

pub async fn end_session(db: &Db, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(token_hash(token))
        .execute(db.pool())
        .await?;
    Ok(())
}
