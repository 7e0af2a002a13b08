//! Computed traits: values Cove derives per person from their events —
//! counts and sums in windows, favourite category, days since the last
//! purchase, first and last seen, the latest value of a property (warranty
//! end). Each definition is recomputed by a job ([`RECOMPUTE_JOB`], hourly
//! and on demand) into `profiles.computed`, a JSON object read exactly like
//! the traits clients send: by tag rules (`{"type": "trait", ...}`) and by
//! audience expressions (`trait:total_spend_fen >= 500000`).

use super::tags::rule::{self, event_scan, Param, PropertyFilter, ScanValue};
use crate::audit::{self, Actor};
use crate::clock::{self, Micros, DAY};
use crate::db::{backend_of, list_query_as, new_id, numbered, Backend, Conn, Db};
use crate::error::{Error, Result};
use crate::jobs::{self, JobCtx, NewJob};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

pub const RECOMPUTE_JOB: &str = "audience.computed_traits.recompute";

/// What a computed trait computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Definition {
    /// How many of these events (in the window).
    EventCount {
        events: Vec<String>,
        #[serde(default)]
        filters: Vec<PropertyFilter>,
        #[serde(default)]
        within_days: Option<i64>,
    },
    /// The sum of a numeric property (total spend: `total_fen` of orders).
    EventSum {
        events: Vec<String>,
        property: String,
        #[serde(default)]
        filters: Vec<PropertyFilter>,
        #[serde(default)]
        within_days: Option<i64>,
    },
    /// The most frequent value of a property (favourite category).
    MostFrequent {
        events: Vec<String>,
        property: String,
        #[serde(default)]
        within_days: Option<i64>,
    },
    /// The value of a property on the latest such event (warranty end).
    LatestValue {
        events: Vec<String>,
        property: String,
    },
    /// Whole days since the latest such event (days since last purchase).
    DaysSinceLast { events: Vec<String> },
    /// The day the person was first seen (`YYYY-MM-DD`).
    FirstSeen,
    /// The day the person was last seen.
    LastSeen,
}

impl Definition {
    fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::invalid("invalid_definition", m.to_owned()));
        let (events, property, window) = match self {
            Definition::EventCount {
                events,
                within_days,
                ..
            } => (Some(events), None, *within_days),
            Definition::EventSum {
                events,
                property,
                within_days,
                ..
            }
            | Definition::MostFrequent {
                events,
                property,
                within_days,
            } => (Some(events), Some(property), *within_days),
            Definition::LatestValue { events, property } => (Some(events), Some(property), None),
            Definition::DaysSinceLast { events } => (Some(events), None, None),
            Definition::FirstSeen | Definition::LastSeen => (None, None, None),
        };
        if let Some(events) = events {
            if events.is_empty() || events.len() > 20 || events.iter().any(|e| e.trim().is_empty())
            {
                return bad("name 1 to 20 events");
            }
        }
        if let Some(p) = property {
            if !rule::valid_key(p) {
                return bad("the property is not a valid key");
            }
        }
        if window.is_some_and(|d| !(1..=rule::MAX_WINDOW_DAYS).contains(&d)) {
            return bad("within_days is between 1 and 3650");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComputedTrait {
    pub id: String,
    /// The trait key profiles carry it under.
    pub key: String,
    pub name: String,
    pub description: String,
    pub definition: Definition,
    pub last_computed_at: Option<Micros>,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputedTraitInput {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub definition: Definition,
}

/// Creates a definition (audited) and enqueues its computation.
pub async fn create(db: &Db, actor: &Actor, input: &ComputedTraitInput) -> Result<ComputedTrait> {
    if !rule::valid_key(&input.key) || input.key.contains('.') {
        return Err(Error::invalid(
            "invalid_trait_key",
            "a trait key is 1 to 64 letters, digits, _ or -",
        ));
    }
    if input.name.trim().is_empty() || input.name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a name of 1 to 100 characters is required",
        ));
    }
    input.definition.check()?;
    let id = new_id();
    let now = clock::now();
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "INSERT INTO computed_traits (id, key, name, description, definition, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&id)
    .bind(&input.key)
    .bind(input.name.trim())
    .bind(input.description.trim())
    .bind(serde_json::to_string(&input.definition)?)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::conflict(
            "trait_exists",
            format!("a computed trait '{}' exists", input.key),
        ));
    }
    audit::record(
        &mut tx,
        actor,
        "computed_trait.create",
        "computed_trait",
        Some(&id),
        json!({"key": input.key, "definition": input.definition}),
    )
    .await?;
    enqueue(&mut tx, &id).await?;
    tx.commit().await?;
    list(db)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| Error::not_found("computed trait"))
}

pub async fn list(db: &Db) -> Result<Vec<ComputedTrait>> {
    let rows = sqlx::query(
        "SELECT id, key, name, description, definition, last_computed_at, created_at FROM computed_traits ORDER BY key",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let definition: String = r.try_get("definition")?;
            Ok(ComputedTrait {
                id: r.try_get("id")?,
                key: r.try_get("key")?,
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                definition: serde_json::from_str(&definition)?,
                last_computed_at: r.try_get("last_computed_at")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Enqueues a computation of one definition, or of all (`id` empty).
pub async fn enqueue(conn: &mut Conn, id: &str) -> Result<Option<String>> {
    let bucket = clock::now() / clock::SECOND;
    jobs::enqueue(
        conn,
        NewJob::new(RECOMPUTE_JOB, json!({ "id": id }))
            .dedupe(format!("{RECOMPUTE_JOB}:{id}:{bucket}"))
            .max_attempts(5),
    )
    .await
}

async fn rows(conn: &mut Conn, q: &rule::Query, sql: &str) -> Result<Vec<sqlx::any::AnyRow>> {
    let mut query = sqlx::query(sql);
    for p in &q.params {
        query = match p {
            Param::Text(s) => query.bind(s.clone()),
            Param::Int(i) => query.bind(*i),
            Param::Float(f) => query.bind(*f),
        };
    }
    Ok(query.fetch_all(&mut *conn).await?)
}

fn day(at: Micros) -> String {
    clock::to_datetime(at + crate::insight::REPORT_OFFSET)
        .format("%Y-%m-%d")
        .to_string()
}

/// Each surviving profile's value of `definition` now (people without one are absent).
pub async fn evaluate(
    conn: &mut Conn,
    backend: Backend,
    definition: &Definition,
    now: Micros,
) -> Result<HashMap<String, Value>> {
    let mut out = HashMap::new();
    match definition {
        Definition::EventCount {
            events,
            filters,
            within_days,
        } => {
            let q = event_scan(backend, events, filters, *within_days, ScanValue::None, now);
            let sql = format!(
                "SELECT pid, COUNT(*) AS n FROM ({}) AS s GROUP BY pid",
                q.sql
            );
            for r in rows(conn, &q, &sql).await? {
                let n: i64 = r.try_get("n")?;
                out.insert(r.try_get("pid")?, json!(n));
            }
        }
        Definition::EventSum {
            events,
            property,
            filters,
            within_days,
        } => {
            let q = event_scan(
                backend,
                events,
                filters,
                *within_days,
                ScanValue::Number(property),
                now,
            );
            let sql = format!(
                "SELECT pid, CAST(ROUND(SUM(v)) AS BIGINT) AS n FROM ({}) AS s WHERE v IS NOT NULL GROUP BY pid",
                q.sql
            );
            for r in rows(conn, &q, &sql).await? {
                let n: i64 = r.try_get("n")?;
                out.insert(r.try_get("pid")?, json!(n));
            }
        }
        Definition::MostFrequent {
            events,
            property,
            within_days,
        } => {
            let q = event_scan(
                backend,
                events,
                &[],
                *within_days,
                ScanValue::Text(property),
                now,
            );
            let sql = format!(
                "SELECT pid, v, COUNT(*) AS n, MAX(at) AS latest FROM ({}) AS s WHERE v IS NOT NULL GROUP BY pid, v",
                q.sql
            );
            // Most events wins; a tie goes to the value seen most recently.
            let mut best: HashMap<String, (i64, i64, String)> = HashMap::new();
            for r in rows(conn, &q, &sql).await? {
                let pid: String = r.try_get("pid")?;
                let v: String = r.try_get("v")?;
                let n: i64 = r.try_get("n")?;
                let latest: i64 = r.try_get("latest")?;
                let better = best
                    .get(&pid)
                    .is_none_or(|(bn, bl, _)| (n, latest) > (*bn, *bl));
                if better {
                    best.insert(pid, (n, latest, v));
                }
            }
            out.extend(best.into_iter().map(|(p, (_, _, v))| (p, json!(v))));
        }
        Definition::LatestValue { events, property } => {
            let q = event_scan(backend, events, &[], None, ScanValue::Text(property), now);
            let sql = format!(
                "SELECT pid, v, at FROM ({}) AS s WHERE v IS NOT NULL",
                q.sql
            );
            let mut latest: HashMap<String, (i64, String)> = HashMap::new();
            for r in rows(conn, &q, &sql).await? {
                let pid: String = r.try_get("pid")?;
                let at: i64 = r.try_get("at")?;
                let v: String = r.try_get("v")?;
                if latest.get(&pid).is_none_or(|(a, _)| at > *a) {
                    latest.insert(pid, (at, v));
                }
            }
            out.extend(latest.into_iter().map(|(p, (_, v))| (p, json!(v))));
        }
        Definition::DaysSinceLast { events } => {
            let q = event_scan(backend, events, &[], None, ScanValue::None, now);
            let sql = format!(
                "SELECT pid, MAX(at) AS latest FROM ({}) AS s GROUP BY pid",
                q.sql
            );
            for r in rows(conn, &q, &sql).await? {
                let latest: i64 = r.try_get("latest")?;
                out.insert(r.try_get("pid")?, json!(((now - latest) / DAY).max(0)));
            }
        }
        Definition::FirstSeen | Definition::LastSeen => {
            let column = if matches!(definition, Definition::FirstSeen) {
                "first_seen_at"
            } else {
                "last_seen_at"
            };
            let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
                "SELECT id, {column} FROM profiles WHERE merged_into IS NULL"
            ))
            .fetch_all(&mut *conn)
            .await?;
            out.extend(rows.into_iter().map(|(p, at)| (p, json!(day(at)))));
        }
    }
    Ok(out)
}

/// Recomputes one definition into `profiles.computed` on `conn`; returns
/// how many profiles' values changed.
pub async fn recompute(conn: &mut Conn, backend: Backend, id: &str, now: Micros) -> Result<usize> {
    // Each run rewrites whole `computed` objects: runs of different
    // definitions must not interleave, or one would undo the other's key.
    sqlx::query("UPDATE computed_traits SET updated_at = updated_at")
        .execute(&mut *conn)
        .await?;
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT key, definition FROM computed_traits WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((key, definition)) = row else {
        return Ok(0);
    };
    let definition: Definition = serde_json::from_str(&definition)?;
    let mut values = evaluate(conn, backend, &definition, now).await?;
    // Everyone who has a value now or had one before.
    let needle = format!("%\"{key}\"%");
    let current: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, computed FROM profiles WHERE merged_into IS NULL AND computed LIKE $1",
    )
    .bind(&needle)
    .fetch_all(&mut *conn)
    .await?;
    let mut current: HashMap<String, String> = current.into_iter().collect();
    let missing: Vec<String> = values
        .keys()
        .filter(|p| !current.contains_key(*p))
        .cloned()
        .collect();
    for chunk in missing.chunks(500) {
        let sql = format!(
            "SELECT id, computed FROM profiles WHERE id IN ({})",
            numbered(1, chunk.len())
        );
        let mut q = list_query_as::<(String, String)>(backend_of(conn), &sql);
        for p in chunk {
            q = q.bind(p);
        }
        current.extend(q.fetch_all(&mut *conn).await?);
    }
    let mut changed = 0;
    for (profile, text) in current {
        let mut computed: Map<String, Value> = serde_json::from_str(&text).unwrap_or_default();
        let new = values.remove(&profile);
        if computed.get(&key) == new.as_ref() {
            continue;
        }
        match new {
            Some(v) => computed.insert(key.clone(), v),
            None => computed.remove(&key),
        };
        // updated_at moves so node populations reload this profile.
        sqlx::query("UPDATE profiles SET computed = $1, updated_at = $2 WHERE id = $3")
            .bind(Value::Object(computed).to_string())
            .bind(now)
            .bind(&profile)
            .execute(&mut *conn)
            .await?;
        changed += 1;
    }
    sqlx::query("UPDATE computed_traits SET last_computed_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(changed)
}

/// Job [`RECOMPUTE_JOB`]: `{"id"}` (empty: every definition).
pub async fn recompute_job(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let id = ctx.job.payload["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ids: Vec<String> = if id.is_empty() {
        sqlx::query_scalar("SELECT id FROM computed_traits ORDER BY key")
            .fetch_all(ctx.db.pool())
            .await?
    } else {
        vec![id]
    };
    let mut tx = ctx.db.begin().await?;
    let now = clock::now();
    for id in ids {
        recompute(&mut tx, ctx.db.backend(), &id, now).await?;
    }
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
