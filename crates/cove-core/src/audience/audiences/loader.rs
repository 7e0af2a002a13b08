//! Builds the bitmap population of the `cove-audience` engine from the
//! database: live (surviving) profiles by ordinal, their tags, and their
//! traits — numbers as numeric columns, strings as categorical ones, the
//! computed traits overriding same-named client traits.
//!
//! Every node keeps its own copy ([`Cache`]) and brings it up to date
//! before use, so nodes need not talk to each other. After the first full
//! build an update reads only what moved: tags whose `members_version`
//! changed are reloaded whole, and profiles whose `updated_at` is past the
//! last watermark (new, identified, computed, merged away) are reloaded
//! one by one with their tags. A full rebuild still runs every
//! [`Cache::FULL_EVERY`] as the fallback for anything a watermark can miss.

use crate::clock::{self, Micros};
use crate::db::{backend_of, list_query_as, numbered, Conn, Db};
use crate::error::Result;
use cove_audience::{Engine, Population, RoaringBitmap};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAGE: i64 = 10_000;
/// Profiles whose tags are read by one statement in an update.
const CHUNK: usize = 500;
/// Longest string kept as a categorical value.
const MAX_TEXT: usize = 200;
/// How far back each update looks again: a transaction that stamped
/// `updated_at` before the last update but committed after it is still seen.
const OVERLAP: Micros = 60_000_000;

/// A trait value as the engine indexes it.
enum TraitValue {
    Number(i64),
    Text(String),
}

/// The indexable traits of one profile: client traits, computed ones on top.
fn trait_values(traits: &str, computed: &str) -> Vec<(String, TraitValue)> {
    let mut merged: serde_json::Map<String, Value> =
        serde_json::from_str(traits).unwrap_or_default();
    let computed: serde_json::Map<String, Value> =
        serde_json::from_str(computed).unwrap_or_default();
    merged.extend(computed);
    merged
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                Value::Number(n) => TraitValue::Number(
                    n.as_i64()
                        .or_else(|| n.as_f64().map(|f| f.round() as i64))?,
                ),
                Value::String(s) if s.len() <= MAX_TEXT => TraitValue::Text(s),
                Value::Bool(b) => TraitValue::Text(b.to_string()),
                _ => return None,
            };
            Some((key, value))
        })
        .collect()
}

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
            for (key, value) in trait_values(&traits, &computed) {
                match value {
                    TraitValue::Number(v) => numbers.entry(key).or_default().push((ordinal, v)),
                    TraitValue::Text(s) => texts.entry(key).or_default().push((ordinal, s)),
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
        population.load_tag_bitmap(&key, tag_members(conn, &id).await?);
    }
    population.optimize();
    Ok(population)
}

/// Ordinals carrying tag `tag_id`; a merged-away holder counts as its survivor.
async fn tag_members(conn: &mut Conn, tag_id: &str) -> Result<RoaringBitmap> {
    let ordinals: Vec<i64> = sqlx::query_scalar(
        "SELECT COALESCE(s.ordinal, p.ordinal) FROM profile_tags pt JOIN profiles p ON p.id = pt.profile_id \
         LEFT JOIN profiles s ON s.id = p.merged_into WHERE pt.tag_id = $1",
    )
    .bind(tag_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ordinals
        .into_iter()
        .filter_map(|o| u32::try_from(o).ok())
        .collect())
}

/// Tag id → (key, members_version), as of one read.
type TagVersions = HashMap<String, (String, i64)>;

async fn tag_versions(conn: &mut Conn) -> Result<TagVersions> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT id, key, members_version FROM tags")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, key, version)| (id, (key, version)))
        .collect())
}

/// One surviving profile as reloaded by an update.
struct Reloaded {
    ordinal: u32,
    traits: Vec<(String, TraitValue)>,
    tags: Vec<String>,
}

/// What an update read: tags to replace or forget, profiles to drop or reload.
#[derive(Default)]
struct Changes {
    tags: Vec<(String, RoaringBitmap)>,
    dropped_tags: Vec<String>,
    gone: RoaringBitmap,
    profiles: Vec<Reloaded>,
}

impl Changes {
    fn apply(self, population: &mut Population) {
        population.remove_profiles(&self.gone);
        for key in self.dropped_tags {
            population.drop_tag(&key);
        }
        for profile in self.profiles {
            population.remove_profile(profile.ordinal);
            population.add_profile(profile.ordinal);
            for (key, value) in profile.traits {
                match value {
                    TraitValue::Number(v) => population.set_number(profile.ordinal, &key, v),
                    TraitValue::Text(s) => population.set_text(profile.ordinal, &key, &s),
                }
            }
            for tag in profile.tags {
                population.add_tag(profile.ordinal, &tag);
            }
        }
        for (key, bitmap) in self.tags {
            population.drop_tag(&key);
            population.load_tag_bitmap(&key, bitmap);
        }
    }
}

/// Reads the changes since `state` was taken and advances it.
async fn changes(conn: &mut Conn, state: &mut Loaded) -> Result<Changes> {
    let started = clock::now();
    let mut out = Changes::default();
    let versions = tag_versions(conn).await?;
    for (id, (key, version)) in &versions {
        if state.tags.get(id) != Some(&(key.clone(), *version)) {
            out.tags.push((key.clone(), tag_members(conn, id).await?));
        }
    }
    for (id, (key, _)) in &state.tags {
        if !versions.contains_key(id) || versions.get(id).is_some_and(|(k, _)| k != key) {
            out.dropped_tags.push(key.clone());
        }
    }
    let moved: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT ordinal, id, merged_into FROM profiles WHERE updated_at >= $1 ORDER BY ordinal",
    )
    .bind(state.since)
    .fetch_all(&mut *conn)
    .await?;
    // Survivors to reload: moved profiles still live, and whoever absorbed a moved one.
    let mut survivors: BTreeSet<String> = BTreeSet::new();
    for (ordinal, id, merged_into) in moved {
        match merged_into {
            Some(survivor) => {
                if let Ok(o) = u32::try_from(ordinal) {
                    out.gone.insert(o);
                }
                survivors.insert(survivor);
            }
            None => {
                survivors.insert(id);
            }
        }
    }
    let survivors: Vec<String> = survivors.into_iter().collect();
    for chunk in survivors.chunks(CHUNK) {
        out.profiles.extend(reload(conn, chunk).await?);
    }
    state.tags = versions;
    state.since = started - OVERLAP;
    Ok(out)
}

/// Traits and tags of surviving profiles `ids` (tags of profiles merged into them included).
async fn reload(conn: &mut Conn, ids: &[String]) -> Result<Vec<Reloaded>> {
    let list = numbered(1, ids.len());
    let sql = format!(
        "SELECT id, ordinal, traits, computed FROM profiles WHERE merged_into IS NULL AND id IN ({list})"
    );
    let backend = backend_of(conn);
    let mut q = list_query_as::<(String, i64, String, String)>(backend, &sql);
    for id in ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let sql = format!(
        "SELECT COALESCE(p.merged_into, p.id), t.key FROM profile_tags pt \
         JOIN profiles p ON p.id = pt.profile_id JOIN tags t ON t.id = pt.tag_id \
         WHERE p.id IN ({list}) OR p.merged_into IN ({list})"
    );
    let mut q = list_query_as::<(String, String)>(backend, &sql);
    for id in ids {
        q = q.bind(id);
    }
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    for (profile, key) in q.fetch_all(&mut *conn).await? {
        tags.entry(profile).or_default().push(key);
    }
    Ok(rows
        .into_iter()
        .filter_map(|(id, ordinal, traits, computed)| {
            Some(Reloaded {
                ordinal: u32::try_from(ordinal).ok()?,
                traits: trait_values(&traits, &computed),
                tags: tags.remove(&id).unwrap_or_default(),
            })
        })
        .collect())
}

/// What the population was built from.
struct Loaded {
    built_at: Instant,
    tags: TagVersions,
    /// Profiles stamped at or after this are reloaded by the next update.
    since: Micros,
}

/// How often this node's population was built in full and updated in place.
#[derive(Debug, Default)]
pub struct Builds {
    full: AtomicU64,
    updates: AtomicU64,
}

impl Builds {
    pub fn full(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::Relaxed)
    }
}

/// This node's population, kept up to date.
#[derive(Clone, Default)]
pub struct Cache {
    engine: Engine,
    state: Arc<tokio::sync::Mutex<Option<Loaded>>>,
    builds: Arc<Builds>,
}

impl Cache {
    /// A full rebuild at least this often, whatever the updates saw.
    pub const FULL_EVERY: Duration = Duration::from_secs(600);

    /// The engine, first brought up to date with the database.
    pub async fn fresh(&self, db: &Db) -> Result<Engine> {
        let mut state = self.state.lock().await;
        let mut conn = db.read().acquire().await?;
        match state.as_mut() {
            Some(loaded) if loaded.built_at.elapsed() < Self::FULL_EVERY => {
                let changes = changes(&mut conn, loaded).await?;
                self.engine.update(|p| changes.apply(p));
                self.builds.updates.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                // Read the versions and the watermark first: what moves during the
                // build is read again by the next update.
                let since = clock::now() - OVERLAP;
                let tags = tag_versions(&mut conn).await?;
                let population = load(&mut conn).await?;
                self.engine.replace(population);
                *state = Some(Loaded {
                    built_at: Instant::now(),
                    tags,
                    since,
                });
                self.builds.full.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(self.engine.clone())
    }

    /// Counts of full builds and in-place updates so far.
    pub fn builds(&self) -> &Builds {
        &self.builds
    }

    /// Forces the next [`Cache::fresh`] to rebuild in full.
    pub async fn invalidate(&self) {
        *self.state.lock().await = None;
    }
}
