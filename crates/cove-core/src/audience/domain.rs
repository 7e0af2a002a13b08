//! Cove's own domain events — orders, points, tier changes, bindings,
//! tickets, WeChat follows and scans — enter the same stream as the events
//! clients send through the Tracking API: one `raw_events` table, one
//! timeline per profile, one input for tags and journeys.
//!
//! They are stored under the built-in source [`COVE_SOURCE`] (created by a
//! migration; it has no usable write key) as `track` calls. Each carries a
//! caller-chosen `key` (e.g. `points.awarded:<ledger id>`) used as its
//! messageId, so emitting twice for one fact — a retried job, a replayed
//! request — stores it once. Emit in the same transaction as the change the
//! event describes: both commit, or neither — and so does the WeChat message
//! a notification rule sends for it.

use super::identity::Identifier;
use super::resolve::{self, Origin};
use crate::clock::Micros;
use crate::db::{new_id, Backend, Conn};
use crate::error::Result;
use serde_json::Value;

/// The source id of Cove's own events.
pub const COVE_SOURCE: &str = "cove";

/// One fact Cove recorded about a person.
#[derive(Debug, Clone)]
pub struct DomainEvent {
    /// Event name, `area.fact` in snake case: `points.awarded`, `device.bound`.
    pub name: String,
    /// The (surviving) profile the fact is about.
    pub profile_id: String,
    pub properties: Value,
    pub at: Micros,
    /// Unique per fact; a second emit with the same key is a no-op.
    pub key: String,
}

impl DomainEvent {
    pub fn new(
        name: impl Into<String>,
        profile_id: impl Into<String>,
        key: impl Into<String>,
        properties: Value,
        at: Micros,
    ) -> Self {
        DomainEvent {
            name: name.into(),
            profile_id: profile_id.into(),
            properties,
            at,
            key: key.into(),
        }
    }
}

/// Stores `event` in the caller's transaction. Returns false when an event
/// with the same key was already stored.
pub async fn emit(conn: &mut Conn, event: &DomainEvent) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO raw_events (id, source_id, message_id, type, event, profile_id, properties, \
         received_at, occurred_at) VALUES ($1, $2, $3, 'track', $4, $5, $6, $7, $7) \
         ON CONFLICT (source_id, message_id) DO NOTHING",
    )
    .bind(new_id())
    .bind(COVE_SOURCE)
    .bind(&event.key)
    .bind(&event.name)
    .bind(&event.profile_id)
    .bind(event.properties.to_string())
    .bind(event.at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        sqlx::query(
            "UPDATE profiles SET \
             first_seen_at = CASE WHEN first_seen_at > $1 THEN $1 ELSE first_seen_at END, \
             last_seen_at = CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END \
             WHERE id = $2",
        )
        .bind(event.at)
        .bind(&event.profile_id)
        .execute(&mut *conn)
        .await?;
        // The message that tells the customer, queued with the fact itself.
        crate::channels::notifications::send::on_event(conn, event).await?;
    }
    Ok(n == 1)
}

/// The profile of the person holding `ids` (e.g. an openid and a unionid
/// from a WeChat callback, a phone from registration), creating or linking
/// through the identity graph exactly as ingestion does — so a follower, a
/// member and a device owner are one profile. `key` names the fact that
/// revealed the identifiers, for the graph's provenance.
pub async fn profile_for(
    conn: &mut Conn,
    backend: Backend,
    ids: &[Identifier],
    key: &str,
    at: Micros,
) -> Result<String> {
    super::lock_identifiers(conn, backend, ids).await?;
    let origin = Origin {
        source_id: COVE_SOURCE,
        message_id: key,
        at,
    };
    resolve::resolve(conn, backend, ids, None, &origin).await
}
