//! Storefront customer sessions. The customer is a profile of the identity
//! graph (anonymous, known or a member); the Mini Program signs in with
//! `wx.login` (channels), H5 and tokenised links with their own proofs.
//! Only a SHA-256 of the token is stored; a session follows merges, so a
//! customer whose profile was merged stays signed in as the survivor.

use super::{random_token, token_hash};
use crate::clock::{self, Micros, DAY};
use crate::db::{Conn, Db};
use crate::error::Result;

/// How long a customer stays signed in.
pub const SESSION_TTL: Micros = 30 * DAY;

pub const CHANNELS: [&str; 4] = ["mini_program", "h5", "link", "store"];

/// A signed-in customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSession {
    pub profile_id: String,
    /// Set when the profile has joined the membership.
    pub member_id: Option<String>,
    pub channel: String,
    pub csrf: String,
}

/// A new session for `profile_id`; returns the bearer token (shown once).
pub async fn create_session(
    conn: &mut Conn,
    profile_id: &str,
    channel: &str,
    at: Micros,
) -> Result<String> {
    let token = format!("cs_{}", random_token());
    sqlx::query(
        "INSERT INTO customer_sessions (id_hash, profile_id, channel, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash(&token))
    .bind(profile_id)
    .bind(channel)
    .bind(random_token())
    .bind(at)
    .bind(at + SESSION_TTL)
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// The live session holding `token`, with the surviving profile and its member.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<CustomerSession>> {
    if !token.starts_with("cs_") || token.len() > 100 {
        return Ok(None);
    }
    let row: Option<(String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT COALESCE(p.merged_into, p.id), m.id, s.channel, s.csrf_token \
         FROM customer_sessions s JOIN profiles p ON p.id = s.profile_id \
         LEFT JOIN members m ON m.profile_id = COALESCE(p.merged_into, p.id) AND m.merged_into IS NULL \
         WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(clock::now())
    .fetch_optional(db.read())
    .await?;
    Ok(
        row.map(|(profile_id, member_id, channel, csrf)| CustomerSession {
            profile_id,
            member_id,
            channel,
            csrf,
        }),
    )
}

/// Signs the session out; false when it was not live.
pub async fn end_session(db: &Db, token: &str) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE customer_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL",
    )
    .bind(clock::now())
    .bind(token_hash(token))
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A one-time sign-in link token for `profile_id`, valid for `ttl`.
pub async fn create_link(
    conn: &mut Conn,
    profile_id: &str,
    ttl: Micros,
    at: Micros,
) -> Result<String> {
    let token = format!("cl_{}", random_token());
    sqlx::query(
        "INSERT INTO customer_links (id_hash, profile_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&token))
    .bind(profile_id)
    .bind(at)
    .bind(at + ttl)
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// Exchanges a link token for a new session token, once; `None` when the
/// link is unknown, used or expired.
pub async fn redeem_link(conn: &mut Conn, link: &str, at: Micros) -> Result<Option<String>> {
    if !link.starts_with("cl_") || link.len() > 100 {
        return Ok(None);
    }
    let profile: Option<String> = sqlx::query_scalar(
        "UPDATE customer_links SET used_at = $1 WHERE id_hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING profile_id",
    )
    .bind(at)
    .bind(token_hash(link))
    .fetch_optional(&mut *conn)
    .await?;
    match profile {
        Some(p) => Ok(Some(create_session(conn, &p, "link", at).await?)),
        None => Ok(None),
    }
}
