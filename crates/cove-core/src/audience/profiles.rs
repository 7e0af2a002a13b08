//! Reading profiles: the profile with its identities, traits and timeline,
//! lookup by identity, and the identity conflicts awaiting review.
//!
//! A merged profile's id still resolves: reads follow `merged_into` to the
//! survivor, and the timeline gathers the events of the survivor and of every
//! profile merged into it (merges keep `merged_into` one level deep).

use super::identity::Identifier;
use crate::clock::Micros;
use crate::db::Db;
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub id: String,
    /// Dense integer id used by the audience bitmaps.
    pub ordinal: i64,
    /// Profiles merged into this one.
    pub merged_ids: Vec<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub first_seen_at: Micros,
    pub last_seen_at: Micros,
    #[schema(value_type = Object)]
    pub traits: Value,
    /// Traits Cove computes from events (see `computed`).
    #[schema(value_type = Object)]
    pub computed_traits: Value,
    pub identities: Vec<ProfileIdentity>,
    /// The latest events, newest first.
    pub events: Vec<TimelineEvent>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ProfileIdentity {
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub id_type: String,
    pub value: String,
    pub source_id: Option<String>,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    pub id: String,
    pub source_id: String,
    pub message_id: String,
    #[serde(rename = "type")]
    pub call_type: String,
    pub event: Option<String>,
    pub profile_id: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    #[schema(value_type = Object)]
    pub properties: Value,
    #[schema(value_type = Object)]
    pub traits: Value,
    #[schema(value_type = Object)]
    pub context: Value,
    pub original_timestamp: Option<Micros>,
    pub sent_at: Option<Micros>,
    pub received_at: Micros,
    /// The clock-skew-corrected event time.
    pub timestamp: Micros,
}

/// The surviving profile for `id` (itself unless it was merged).
pub async fn surviving_id(db: &Db, id: &str) -> Result<String> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT id, merged_into FROM profiles WHERE id = $1")
            .bind(id)
            .fetch_optional(db.read())
            .await?;
    match row {
        Some((id, merged)) => Ok(merged.unwrap_or(id)),
        None => Err(Error::not_found("profile")),
    }
}

/// The profile `id` (or its survivor) with identities, traits and its latest `limit` events.
pub async fn get_profile(db: &Db, id: &str, limit: i64) -> Result<Profile> {
    let id = surviving_id(db, id).await?;
    let row = sqlx::query(
        "SELECT id, ordinal, created_at, updated_at, first_seen_at, last_seen_at, traits, computed FROM profiles WHERE id = $1",
    )
    .bind(&id)
    .fetch_one(db.read())
    .await?;
    let traits: String = row.try_get("traits")?;
    let computed: String = row.try_get("computed")?;
    let merged_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM profiles WHERE merged_into = $1 ORDER BY id")
            .bind(&id)
            .fetch_all(db.read())
            .await?;
    let identities = sqlx::query_as::<_, ProfileIdentity>(
        "SELECT type, value, source_id, created_at FROM identities WHERE profile_id = $1 ORDER BY type, value",
    )
    .bind(&id)
    .fetch_all(db.read())
    .await?;
    Ok(Profile {
        ordinal: row.try_get("ordinal")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        first_seen_at: row.try_get("first_seen_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        traits: serde_json::from_str(&traits).unwrap_or_else(|_| serde_json::json!({})),
        computed_traits: serde_json::from_str(&computed).unwrap_or_else(|_| serde_json::json!({})),
        events: timeline(db, &id, limit).await?,
        id,
        merged_ids,
        identities,
    })
}

/// The events of profile `id` and of the profiles merged into it, newest first.
pub async fn timeline(db: &Db, id: &str, limit: i64) -> Result<Vec<TimelineEvent>> {
    let rows = sqlx::query(
        "SELECT id, source_id, message_id, type, event, profile_id, user_id, anonymous_id, properties, traits, \
         context, original_timestamp, sent_at, received_at, occurred_at FROM raw_events \
         WHERE profile_id IN (SELECT p.id FROM profiles p WHERE p.id = $1 OR p.merged_into = $1) \
         ORDER BY occurred_at DESC, id DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.read())
    .await?;
    let json = |s: String| serde_json::from_str(&s).unwrap_or_else(|_| serde_json::json!({}));
    rows.into_iter()
        .map(|r| {
            Ok(TimelineEvent {
                id: r.try_get("id")?,
                source_id: r.try_get("source_id")?,
                message_id: r.try_get("message_id")?,
                call_type: r.try_get("type")?,
                event: r.try_get("event")?,
                profile_id: r.try_get("profile_id")?,
                user_id: r.try_get("user_id")?,
                anonymous_id: r.try_get("anonymous_id")?,
                properties: json(r.try_get("properties")?),
                traits: json(r.try_get("traits")?),
                context: json(r.try_get("context")?),
                original_timestamp: r.try_get("original_timestamp")?,
                sent_at: r.try_get("sent_at")?,
                received_at: r.try_get("received_at")?,
                timestamp: r.try_get("occurred_at")?,
            })
        })
        .collect()
}

/// The profile holding `identity`, if any.
pub async fn find_by_identity(
    db: &Db,
    identity: &Identifier,
    limit: i64,
) -> Result<Option<Profile>> {
    let profile: Option<String> =
        sqlx::query_scalar("SELECT profile_id FROM identities WHERE type = $1 AND value = $2")
            .bind(identity.key())
            .bind(&identity.value)
            .fetch_optional(db.read())
            .await?;
    match profile {
        Some(id) => Ok(Some(get_profile(db, &id, limit).await?)),
        None => Ok(None),
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct IdentityConflict {
    pub id: String,
    /// The profile the event was attributed to.
    pub profile_id: String,
    /// The other registered profile the event pointed at.
    pub other_profile_id: String,
    pub identity_type: String,
    pub identity_value: String,
    pub source_id: Option<String>,
    pub message_id: Option<String>,
    pub occurrences: i64,
    pub created_at: Micros,
    pub last_seen_at: Micros,
    pub resolved_at: Option<Micros>,
}

/// Open conflicts, newest first.
pub async fn list_conflicts(
    db: &Db,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<IdentityConflict>> {
    Ok(sqlx::query_as::<_, IdentityConflict>(
        "SELECT id, profile_id, other_profile_id, identity_type, identity_value, source_id, message_id, \
         occurrences, created_at, last_seen_at, resolved_at FROM identity_conflicts \
         WHERE resolved_at IS NULL AND ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(before.unwrap_or(""))
    .bind(limit.clamp(1, 500))
    .fetch_all(db.read())
    .await?)
}
