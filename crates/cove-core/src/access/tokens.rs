//! API tokens for integrations, limited to scopes the owner's role holds.

use super::sessions::{principal_from, PrincipalRow, PRINCIPAL_COLUMNS};
use super::{random_token, token_hash, Principal, Scope, Via};
use crate::audit::{self, Actor};
use crate::clock::{self, Micros, MINUTE};
use crate::db::{new_id, Db};
use crate::error::{Error, Result};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub scopes: String,
    pub created_by: String,
    pub created_at: Micros,
    pub expires_at: Option<Micros>,
    pub last_used_at: Option<Micros>,
    pub revoked_at: Option<Micros>,
}

/// Creates an API token for `owner`; the secret is returned once and stored only as a hash.
pub async fn create_token(
    db: &Db,
    actor: &Actor,
    owner: &Principal,
    name: &str,
    scopes: &[String],
    expires_at: Option<Micros>,
) -> Result<(ApiToken, String)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a token name of 1 to 100 characters is required",
        ));
    }
    if scopes.is_empty() {
        return Err(Error::invalid(
            "invalid_scope",
            "a token needs at least one scope",
        ));
    }
    let parsed: Vec<Scope> = scopes.iter().map(|s| s.parse()).collect::<Result<_>>()?;
    for scope in &parsed {
        if owner
            .role
            .grant(scope.area)
            .is_none_or(|g| g < scope.access)
        {
            return Err(Error::Forbidden(
                format!("the {} role cannot grant {scope}", owner.role).into(),
            ));
        }
    }
    let secret = format!("cove_{}", random_token());
    let id = new_id();
    let scopes_text = parsed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO api_tokens (id, name, token_hash, prefix, scopes, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(name)
    .bind(token_hash(&secret))
    .bind(&secret[..12])
    .bind(&scopes_text)
    .bind(&owner.user_id)
    .bind(clock::now())
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "token.create",
        "api_token",
        Some(&id),
        serde_json::json!({ "name": name, "scopes": scopes_text }),
    )
    .await?;
    tx.commit().await?;
    let token = sqlx::query_as::<_, ApiToken>("SELECT id, name, prefix, scopes, created_by, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE id = $1")
        .bind(&id)
        .fetch_one(db.pool())
        .await?;
    Ok((token, secret))
}

pub async fn list_tokens(db: &Db) -> Result<Vec<ApiToken>> {
    Ok(sqlx::query_as::<_, ApiToken>(
        "SELECT id, name, prefix, scopes, created_by, created_at, expires_at, last_used_at, revoked_at FROM api_tokens ORDER BY id DESC",
    )
    .fetch_all(db.read())
    .await?)
}

pub async fn revoke_token(db: &Db, actor: &Actor, id: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    let n =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(clock::now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if n == 0 {
        return Err(Error::not_found("api token"));
    }
    audit::record(
        &mut tx,
        actor,
        "token.revoke",
        "api_token",
        Some(id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_id: String,
    scopes: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    #[sqlx(flatten)]
    user: PrincipalRow,
}

/// The principal behind a bearer token.
pub async fn token_principal(db: &Db, secret: &str) -> Result<Principal> {
    let now = clock::now();
    let row: Option<TokenRow> = sqlx::query_as(&format!(
        "SELECT t.id AS token_id, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, {PRINCIPAL_COLUMNS} \
         FROM api_tokens t JOIN users u ON u.id = t.created_by WHERE t.token_hash = $1"
    ))
    .bind(token_hash(secret))
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else {
        return Err(Error::Unauthenticated);
    };
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return Err(Error::Unauthenticated);
    }
    if row.last_used_at.is_none_or(|t| now - t > MINUTE) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&row.token_id)
            .execute(db.pool())
            .await?;
    }
    let scopes = row
        .scopes
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    principal_from(
        row.user,
        Via::Token {
            id: row.token_id,
            scopes,
        },
    )
}
