//! The part of the identity graph one request touches, held in memory.
//!
//! Resolving events one by one against the database costs several
//! statements per event. Instead, [`Graph::load`] reads every identifier the
//! request names (and the profiles holding them) in a few statements, the
//! events are resolved in order against that copy with the same rules
//! ([`super::resolve::plan`]), and [`Graph::flush`] writes what changed with
//! multi-row statements. Within the transaction nothing else writes these
//! rows: identifiers are advisory-locked and profile rows locked on
//! PostgreSQL, and SQLite has one writer; so the outcome is the one the
//! event-by-event resolution would store.

use super::identity::{IdType, Identifier};
use super::resolve::{merge_traits, plan, Match, Origin, ProfileFacts, Target};
use crate::clock::Micros;
use crate::db::{list_query, new_id, numbered, Backend, Conn, Multi};
use crate::error::Result;
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// Rows per multi-row statement: well under both databases' bind limits.
/// (Lookups by lists of keys go through `db::list_query`, which says why.)
const CHUNK: usize = 500;

#[derive(Debug, Clone)]
struct ProfileRow {
    ordinal: Option<i64>,
    created_at: Micros,
    updated_at: Micros,
    first_seen_at: Micros,
    last_seen_at: Micros,
    traits: Value,
    merged_into: Option<String>,
    /// Identifiers held, per type key.
    counts: BTreeMap<String, usize>,
    /// Created by this request (inserted, not updated, by the flush).
    new: bool,
    changed: bool,
}

struct NewIdentity {
    id: Identifier,
    source_id: String,
    at: Micros,
}

struct MergeRecord {
    survivor: String,
    loser: String,
    loser_was_stored: bool,
    source_id: String,
    message_id: String,
    at: Micros,
}

struct ConflictRecord {
    source_id: String,
    message_id: String,
    occurrences: i64,
    created_at: Micros,
    last_seen_at: Micros,
}

/// (profile, other profile, identifier type key, value)
type ConflictKey = (String, String, String, String);

pub struct Graph {
    backend: Backend,
    /// The surviving profile of each identifier known so far.
    owner: HashMap<Identifier, String>,
    profiles: HashMap<String, ProfileRow>,
    created: Vec<String>,
    attached: Vec<NewIdentity>,
    merges: Vec<MergeRecord>,
    conflicts: Vec<(ConflictKey, ConflictRecord)>,
}

/// The identifiers an event resolves with: its own, then an alias's
/// `previous_id` as a user id and as an anonymous id.
pub fn candidates(ids: &[Identifier], previous_id: Option<&str>) -> Vec<Identifier> {
    let mut out = ids.to_vec();
    for p in previous_identifiers(previous_id) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn previous_identifiers(previous_id: Option<&str>) -> Vec<Identifier> {
    previous_id
        .map(|p| {
            [IdType::UserId, IdType::AnonymousId]
                .into_iter()
                .filter_map(|t| Identifier::new(t, p).ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Graph {
    /// Reads the graph around `ids`: who holds each, and those profiles'
    /// rows and identifier counts (locked on PostgreSQL until the commit).
    pub async fn load(conn: &mut Conn, backend: Backend, ids: &[Identifier]) -> Result<Graph> {
        let mut graph = Graph {
            backend,
            owner: HashMap::new(),
            profiles: HashMap::new(),
            created: Vec::new(),
            attached: Vec::new(),
            merges: Vec::new(),
            conflicts: Vec::new(),
        };
        let mut wanted: Vec<&Identifier> = ids.iter().collect();
        wanted.sort();
        wanted.dedup();
        let by_key: HashMap<(String, &str), &Identifier> = wanted
            .iter()
            .map(|id| ((id.key(), id.value.as_str()), *id))
            .collect();
        // Sorted by type first, so each type's identifiers are adjacent.
        for chunk in wanted.chunks(CHUNK) {
            // One `type = ? AND value IN (…)` per type: an index scan each,
            // where an OR per identifier costs PostgreSQL a plan per arm.
            let mut groups: Vec<(String, Vec<&Identifier>)> = Vec::new();
            for id in chunk {
                match groups.last_mut() {
                    Some((key, ids)) if *key == id.key() => ids.push(id),
                    _ => groups.push((id.key(), vec![id])),
                }
            }
            let mut clauses = Vec::with_capacity(groups.len());
            let mut next = 1;
            for (_, ids) in &groups {
                clauses.push(format!(
                    "(i.type = ${next} AND i.value IN ({}))",
                    numbered(next + 1, ids.len())
                ));
                next += ids.len() + 1;
            }
            let sql = format!(
                "SELECT i.type, i.value, COALESCE(p.merged_into, p.id) \
                 FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE {}",
                clauses.join(" OR ")
            );
            let mut q = list_query(backend, &sql);
            for (key, ids) in &groups {
                q = q.bind(key.clone());
                for id in ids {
                    q = q.bind(id.value.clone());
                }
            }
            for row in q.fetch_all(&mut *conn).await? {
                let (t, v, p): (String, String, String) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                if let Some(id) = by_key.get(&(t, v.as_str())) {
                    graph.owner.insert((*id).clone(), p);
                }
            }
        }
        let mut held: Vec<String> = graph.owner.values().cloned().collect();
        held.sort();
        held.dedup();
        graph.load_profiles(conn, &held).await?;
        Ok(graph)
    }

    async fn load_profiles(&mut self, conn: &mut Conn, ids: &[String]) -> Result<()> {
        let lock = match self.backend {
            Backend::Postgres => " ORDER BY id FOR UPDATE",
            Backend::Sqlite => "",
        };
        for chunk in ids.chunks(CHUNK) {
            let list = numbered(1, chunk.len());
            let sql = format!(
                "SELECT id, ordinal, created_at, updated_at, first_seen_at, last_seen_at, traits, merged_into \
                 FROM profiles WHERE id IN ({list}){lock}"
            );
            let mut q = list_query(self.backend, &sql);
            for id in chunk {
                q = q.bind(id.clone());
            }
            for row in q.fetch_all(&mut *conn).await? {
                let traits: String = row.try_get(6)?;
                self.profiles.insert(
                    row.try_get(0)?,
                    ProfileRow {
                        ordinal: Some(row.try_get(1)?),
                        created_at: row.try_get(2)?,
                        updated_at: row.try_get(3)?,
                        first_seen_at: row.try_get(4)?,
                        last_seen_at: row.try_get(5)?,
                        traits: serde_json::from_str(&traits)
                            .unwrap_or(Value::Object(Default::default())),
                        merged_into: row.try_get(7)?,
                        counts: BTreeMap::new(),
                        new: false,
                        changed: false,
                    },
                );
            }
            let sql = format!(
                "SELECT profile_id, type, COUNT(*) FROM identities WHERE profile_id IN ({list}) \
                 GROUP BY profile_id, type"
            );
            let mut q = list_query(self.backend, &sql);
            for id in chunk {
                q = q.bind(id.clone());
            }
            for row in q.fetch_all(&mut *conn).await? {
                let (p, t, n): (String, String, i64) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                if let Some(profile) = self.profiles.get_mut(&p) {
                    profile.counts.insert(t, usize::try_from(n).unwrap_or(0));
                }
            }
        }
        Ok(())
    }

    fn facts(&self, profile: &str) -> ProfileFacts {
        let counts = self
            .profiles
            .get(profile)
            .map(|p| p.counts.clone())
            .unwrap_or_default();
        let registered = counts
            .iter()
            .any(|(t, n)| *n > 0 && IdType::parse(t).is_ok_and(|t| t.is_registered()));
        ProfileFacts { counts, registered }
    }

    /// Resolves one event (see [`super::resolve`] for the rules) and applies
    /// the outcome to the in-memory graph. `ids` must have been loaded.
    pub fn resolve(
        &mut self,
        ids: &[Identifier],
        previous_id: Option<&str>,
        origin: &Origin<'_>,
    ) -> String {
        let previous = previous_identifiers(previous_id);
        let mut incoming: Vec<Match> = ids
            .iter()
            .map(|id| Match {
                profile: self.owner.get(id).cloned(),
                id: id.clone(),
            })
            .collect();
        if !previous.is_empty() {
            // The previous id as a known user, else as a known or new anonymous id.
            let pick = previous
                .iter()
                .find(|p| self.owner.contains_key(*p))
                .or_else(|| previous.iter().find(|p| p.id_type == IdType::AnonymousId));
            if let Some(p) = pick {
                if !ids.contains(p) {
                    incoming.push(Match {
                        profile: self.owner.get(p).cloned(),
                        id: p.clone(),
                    });
                }
            }
        }
        let mut matched: Vec<String> = incoming.iter().filter_map(|m| m.profile.clone()).collect();
        matched.sort();
        matched.dedup();
        // As the database-backed rule did: facts only when they can matter.
        let needs_facts = matched.len() > 1
            || (!matched.is_empty() && incoming.iter().any(|m| m.profile.is_none()));
        let facts: HashMap<String, ProfileFacts> = if needs_facts {
            matched.iter().map(|p| (p.clone(), self.facts(p))).collect()
        } else {
            HashMap::new()
        };
        let plan = plan(&incoming, &facts);
        let target = match plan.target {
            Target::Existing(id) => id,
            Target::New => self.create_profile(origin.at),
        };
        for loser in &plan.merge {
            self.merge(&target, loser, origin);
        }
        for id in plan.attach {
            if self.owner.contains_key(&id) {
                continue;
            }
            if let Some(p) = self.profiles.get_mut(&target) {
                *p.counts.entry(id.key()).or_default() += 1;
            }
            self.owner.insert(id.clone(), target.clone());
            self.attached.push(NewIdentity {
                id,
                source_id: origin.source_id.to_owned(),
                at: origin.at,
            });
        }
        for (other, id) in plan.conflicts {
            let key = (target.clone(), other, id.key(), id.value);
            match self.conflicts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, c)) => {
                    c.occurrences += 1;
                    c.last_seen_at = origin.at;
                }
                None => self.conflicts.push((
                    key,
                    ConflictRecord {
                        source_id: origin.source_id.to_owned(),
                        message_id: origin.message_id.to_owned(),
                        occurrences: 1,
                        created_at: origin.at,
                        last_seen_at: origin.at,
                    },
                )),
            }
        }
        target
    }

    fn create_profile(&mut self, at: Micros) -> String {
        let id = new_id();
        self.profiles.insert(
            id.clone(),
            ProfileRow {
                ordinal: None,
                created_at: at,
                updated_at: at,
                first_seen_at: at,
                last_seen_at: at,
                traits: Value::Object(Default::default()),
                merged_into: None,
                counts: BTreeMap::new(),
                new: true,
                changed: true,
            },
        );
        self.created.push(id.clone());
        id
    }

    /// As [`super::resolve::merge_profiles`] does in the database.
    fn merge(&mut self, survivor: &str, loser: &str, origin: &Origin<'_>) {
        let (Some(l), Some(_)) = (
            self.profiles.get(loser).cloned(),
            self.profiles.get(survivor),
        ) else {
            return;
        };
        if let Some(s) = self.profiles.get_mut(survivor) {
            let mut combined = l.traits.clone();
            merge_traits(&mut combined, &s.traits);
            s.traits = combined;
            s.first_seen_at = s.first_seen_at.min(l.first_seen_at);
            s.last_seen_at = s.last_seen_at.max(l.last_seen_at);
            s.updated_at = origin.at;
            for (t, n) in &l.counts {
                *s.counts.entry(t.clone()).or_default() += n;
            }
            s.changed = true;
        }
        for (id, p) in self.profiles.iter_mut() {
            if id == loser || p.merged_into.as_deref() == Some(loser) {
                p.merged_into = Some(survivor.to_owned());
                p.updated_at = origin.at;
                p.changed = true;
                if id == loser {
                    p.counts.clear();
                }
            }
        }
        for p in self.owner.values_mut() {
            if p == loser {
                *p = survivor.to_owned();
            }
        }
        self.merges.push(MergeRecord {
            survivor: survivor.to_owned(),
            loser: loser.to_owned(),
            loser_was_stored: !l.new,
            source_id: origin.source_id.to_owned(),
            message_id: origin.message_id.to_owned(),
            at: origin.at,
        });
    }

    /// What an event does to its profile: first/last seen widen, identify
    /// traits merge in, and the profile counts as updated `now`.
    pub fn touch(&mut self, profile: &str, at: Micros, traits: Option<&Value>, now: Micros) {
        let Some(p) = self.profiles.get_mut(profile) else {
            return;
        };
        if let Some(traits) = traits {
            merge_traits(&mut p.traits, traits);
        }
        p.first_seen_at = p.first_seen_at.min(at);
        p.last_seen_at = p.last_seen_at.max(at);
        p.updated_at = now;
        p.changed = true;
    }

    /// Writes what changed: new and updated profiles, new identities,
    /// merges and conflicts, a few multi-row statements in all.
    pub async fn flush(mut self, conn: &mut Conn) -> Result<()> {
        self.assign_ordinals(conn).await?;
        // Surviving profiles first, so that a row's merged_into always names
        // a row already written (chains are never longer than one).
        let mut changed: Vec<(&String, &ProfileRow)> =
            self.profiles.iter().filter(|(_, p)| p.changed).collect();
        changed.sort_by_key(|(id, p)| (p.merged_into.is_some(), *id));
        for chunk in changed.chunks(CHUNK) {
            let mut rows = Multi::new(
                self.backend,
                "INSERT INTO profiles (id, ordinal, created_at, updated_at, first_seen_at, last_seen_at, \
                 traits, merged_into) VALUES ",
            );
            for (id, p) in chunk {
                rows.row(|r| {
                    r.bind((*id).clone())
                        .bind(p.ordinal.unwrap_or_default())
                        .bind(p.created_at)
                        .bind(p.updated_at)
                        .bind(p.first_seen_at)
                        .bind(p.last_seen_at)
                        .bind(p.traits.to_string())
                        .bind(p.merged_into.clone());
                });
            }
            rows.execute(
                conn,
                " ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, \
                 first_seen_at = excluded.first_seen_at, last_seen_at = excluded.last_seen_at, \
                 traits = excluded.traits, merged_into = excluded.merged_into",
            )
            .await?;
        }
        // Rows this request did not load that pointed at a stored loser go to
        // where the loser ends: its survivor may have been merged in turn by
        // a later event of this request.
        for m in self.merges.iter().filter(|m| m.loser_was_stored) {
            let survivor = self
                .profiles
                .get(&m.loser)
                .and_then(|p| p.merged_into.as_ref())
                .unwrap_or(&m.survivor);
            sqlx::query("UPDATE identities SET profile_id = $1 WHERE profile_id = $2")
                .bind(survivor)
                .bind(&m.loser)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE profiles SET merged_into = $1, updated_at = $2 WHERE merged_into = $3",
            )
            .bind(survivor)
            .bind(m.at)
            .bind(&m.loser)
            .execute(&mut *conn)
            .await?;
        }
        for chunk in self.attached.chunks(CHUNK) {
            let mut rows = Multi::new(
                self.backend,
                "INSERT INTO identities (type, value, profile_id, source_id, created_at) VALUES ",
            );
            for n in chunk {
                let owner = self.owner.get(&n.id).cloned().unwrap_or_default();
                rows.row(|r| {
                    r.bind(n.id.key())
                        .bind(n.id.value.clone())
                        .bind(owner)
                        .bind(n.source_id.clone())
                        .bind(n.at);
                });
            }
            rows.execute(conn, " ON CONFLICT (type, value) DO NOTHING")
                .await?;
        }
        for chunk in self.conflicts.chunks(CHUNK) {
            let mut rows = Multi::new(
                self.backend,
                "INSERT INTO identity_conflicts (id, profile_id, other_profile_id, identity_type, \
                 identity_value, source_id, message_id, occurrences, created_at, last_seen_at) VALUES ",
            );
            for ((profile, other, t, v), c) in chunk {
                rows.row(|r| {
                    r.bind(new_id())
                        .bind(profile.clone())
                        .bind(other.clone())
                        .bind(t.clone())
                        .bind(v.clone())
                        .bind(c.source_id.clone())
                        .bind(c.message_id.clone())
                        .bind(c.occurrences)
                        .bind(c.created_at)
                        .bind(c.last_seen_at);
                });
            }
            rows.execute(
                conn,
                " ON CONFLICT (profile_id, other_profile_id, identity_type, identity_value) DO UPDATE SET \
                 occurrences = identity_conflicts.occurrences + excluded.occurrences, \
                 last_seen_at = excluded.last_seen_at",
            )
            .await?;
        }
        for chunk in self.merges.chunks(CHUNK) {
            let mut rows = Multi::new(
                self.backend,
                "INSERT INTO profile_merges (id, survivor_id, merged_id, source_id, message_id, created_at) VALUES ",
            );
            for m in chunk {
                rows.row(|r| {
                    r.bind(new_id())
                        .bind(m.survivor.clone())
                        .bind(m.loser.clone())
                        .bind(m.source_id.clone())
                        .bind(m.message_id.clone())
                        .bind(m.at);
                });
            }
            rows.execute(conn, "").await?;
        }
        Ok(())
    }

    /// The next dense ordinals, one per profile created, in creation order.
    async fn assign_ordinals(&mut self, conn: &mut Conn) -> Result<()> {
        let n = self.created.len();
        if n == 0 {
            return Ok(());
        }
        let ordinals: Vec<i64> = match self.backend {
            Backend::Sqlite => {
                let last: i64 = sqlx::query_scalar(
                    "UPDATE counters SET value = value + $1 WHERE name = 'profile_ordinal' RETURNING value",
                )
                .bind(n as i64)
                .fetch_one(&mut *conn)
                .await?;
                (last - n as i64 + 1..=last).collect()
            }
            Backend::Postgres => {
                let mut v: Vec<i64> = sqlx::query_scalar(
                    "SELECT nextval('profile_ordinal_seq') FROM generate_series(1, $1)",
                )
                .bind(n as i64)
                .fetch_all(&mut *conn)
                .await?;
                v.sort_unstable();
                v
            }
        };
        for (id, ordinal) in self.created.iter().zip(ordinals) {
            if let Some(p) = self.profiles.get_mut(id) {
                p.ordinal = Some(ordinal);
            }
        }
        Ok(())
    }
}
