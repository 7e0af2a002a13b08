//! Builds the bitmap population of the `cove-audience` engine from the
//! database: live (surviving) profiles by ordinal, their tags, and their
//! traits — numbers as numeric columns, strings as categorical ones, the
//! computed traits overriding same-named client traits.
//!
//! Every node builds its own copy ([`Cache`]) and rebuilds it when the
//! tags' state changes or after [`Cache::MAX_AGE`], so nodes need not talk
//! to each other.

use crate::db::{Conn, Db};
use crate::error::Result;
use cove_audience::{Engine, Population};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAGE: i64 = 10_000;
/// Longest string kept as a categorical value.
const MAX_TEXT: usize = 200;

/// Reads the whole population on `conn` (inside a transaction, a consistent view).
pub async fn load(conn: &mut Conn) -> Result<Population> {
    let mut population = Population::new();
    let mut numbers: HashMap<String, Vec<(u32, i64)>> = HashMap::new();
    let mut texts: HashMap<String, Vec<(u32, String)>> = HashMap::new();
    let mut after: i64 = -1;
    loop {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT ordinal, traits, computed FROM profiles WHERE merged_into IS NULL AND ordinal > $1 \
             ORDER BY ordinal LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        for (ordinal, traits, computed) in rows {
            let Ok(ordinal) = u32::try_from(ordinal) else {
                continue;
            };
            population.add_profile(ordinal);
            let mut merged: serde_json::Map<String, Value> =
                serde_json::from_str(&traits).unwrap_or_default();
            let computed: serde_json::Map<String, Value> =
                serde_json::from_str(&computed).unwrap_or_default();
            merged.extend(computed);
            for (key, value) in merged {
                match value {
                    Value::Number(n) => {
                        let v = n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64));
                        if let Some(v) = v {
                            numbers.entry(key).or_default().push((ordinal, v));
                        }
                    }
                    Value::String(s) if s.len() <= MAX_TEXT => {
                        texts.entry(key).or_default().push((ordinal, s));
                    }
                    Value::Bool(b) => {
                        texts.entry(key).or_default().push((ordinal, b.to_string()));
                    }
                    _ => {}
                }
            }
        }
    }
    for (key, pairs) in numbers {
        population.load_numbers(&key, pairs);
    }
    for (key, pairs) in texts {
        population.load_texts(&key, pairs);
    }
    let tags: Vec<(String, String)> = sqlx::query_as("SELECT id, key FROM tags ORDER BY key")
        .fetch_all(&mut *conn)
        .await?;
    for (id, key) in tags {
        population.define_tag(&key);
        let ordinals: Vec<i64> = sqlx::query_scalar(
            "SELECT COALESCE(s.ordinal, p.ordinal) FROM profile_tags pt JOIN profiles p ON p.id = pt.profile_id \
             LEFT JOIN profiles s ON s.id = p.merged_into WHERE pt.tag_id = $1",
        )
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?;
        population.load_tag(
            &key,
            ordinals.into_iter().filter_map(|o| u32::try_from(o).ok()),
        );
    }
    population.optimize();
    Ok(population)
}

/// A cheap fingerprint of what the population depends on, read before a reuse.
async fn version(db: &Db) -> Result<String> {
    type Row = (Option<i64>, Option<i64>, i64, Option<i64>);
    let (computed, members, tags, updated): Row = sqlx::query_as(
        "SELECT MAX(last_computed_at), CAST(SUM(member_count) AS BIGINT), COUNT(*), MAX(updated_at) FROM tags",
    )
    .fetch_one(db.read())
    .await?;
    let ordinal: Option<i64> = sqlx::query_scalar("SELECT MAX(ordinal) FROM profiles")
        .fetch_one(db.read())
        .await?;
    Ok(format!(
        "{}:{}:{tags}:{}:{}",
        computed.unwrap_or(0),
        members.unwrap_or(0),
        updated.unwrap_or(0),
        ordinal.unwrap_or(0)
    ))
}

/// This node's population, rebuilt when stale.
#[derive(Clone, Default)]
pub struct Cache {
    engine: Engine,
    state: Arc<tokio::sync::Mutex<Option<(Instant, String)>>>,
}

impl Cache {
    /// Rebuilt at least this often even when the fingerprint did not move
    /// (traits sent by `identify` do not move it).
    pub const MAX_AGE: Duration = Duration::from_secs(60);

    /// The engine, rebuilt first if the database moved on since the last build.
    pub async fn fresh(&self, db: &Db) -> Result<Engine> {
        let mut state = self.state.lock().await;
        let now_version = version(db).await?;
        let stale = match &*state {
            Some((at, v)) => *v != now_version || at.elapsed() > Self::MAX_AGE,
            None => true,
        };
        if stale {
            let mut conn = db.read().acquire().await?;
            let population = load(&mut conn).await?;
            self.engine.replace(population);
            *state = Some((Instant::now(), now_version));
        }
        Ok(self.engine.clone())
    }

    /// Forces the next [`Cache::fresh`] to rebuild.
    pub async fn invalidate(&self) {
        *self.state.lock().await = None;
    }
}
