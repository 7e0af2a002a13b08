//! Keeping rule tags current.
//!
//! - **Recompute** ([`recompute`], job [`RECOMPUTE_JOB`]): evaluates a rule
//!   over everyone, diffs with the current members and applies the diff in
//!   one transaction, emitting `tag.added` / `tag.removed` keyed by
//!   (tag, profile, computation). The computation number advances in that
//!   same transaction, so a retried job emits nothing twice. A schedule
//!   recomputes every rule tag hourly ([`RECOMPUTE_ALL_JOB`]): windows slide
//!   and dates come closer without any event arriving.
//! - **Re-evaluation as events arrive** ([`enqueue_reevaluations`], job
//!   [`REEVALUATE_JOB`]): after an ingestion commits, profiles whose events
//!   name a rule's events (or who sent `identify`, for trait conditions) get
//!   one debounced job that evaluates the rules for that person only. The
//!   ingesting transaction itself does no evaluation.
//!
//! Both paths lock the tag row before touching its members, so a recompute
//! and a re-evaluation of the same tag do not interleave their writes.

use super::rule::{self, Param, Rule, IDENTIFY_TRIGGER};
use super::{get_by_id, TagKind};
use crate::audience::domain::{emit, DomainEvent};
use crate::audience::CallType;
use crate::clock::{self, Micros, SECOND};
use crate::db::{backend_of, list_query_scalar, numbered, Backend, Conn, Db, Multi};
use crate::error::Result;
use crate::jobs::{self, JobCtx, NewJob};
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

pub const RECOMPUTE_JOB: &str = "audience.tag.recompute";
pub const RECOMPUTE_ALL_JOB: &str = "audience.tag.recompute_all";
pub const REEVALUATE_JOB: &str = "audience.profile.reevaluate";

/// Events of one profile arriving within this window share one re-evaluation.
const DEBOUNCE: Micros = SECOND;

/// Runs a rule's query on `conn` and returns the surviving profile ids it holds for.
pub async fn evaluate(
    conn: &mut Conn,
    backend: Backend,
    rule: &Rule,
    now: Micros,
    scope: Option<&str>,
) -> Result<Vec<String>> {
    let q = rule::query(rule, backend, now, scope);
    let mut query = sqlx::query_scalar::<_, String>(&q.sql);
    for p in &q.params {
        query = match p {
            Param::Text(s) => query.bind(s.clone()),
            Param::Int(i) => query.bind(*i),
            Param::Float(f) => query.bind(*f),
        };
    }
    Ok(query.fetch_all(&mut *conn).await?)
}

/// How many people a rule would tag now, and a few of them (the rule editor's preview).
pub async fn preview(db: &Db, rule: &Rule, sample: usize) -> Result<(usize, Vec<String>)> {
    let mut conn = db.read().acquire().await?;
    let mut ids = evaluate(&mut conn, db.backend(), rule, clock::now(), None).await?;
    let n = ids.len();
    ids.sort();
    ids.truncate(sample);
    Ok((n, ids))
}

/// Moves the tags of profiles merged into others to their survivors, without
/// events: the person already carried the tag. `survivor` limits it to one person.
async fn absorb_merged(
    conn: &mut Conn,
    tag_id: Option<&str>,
    survivor: Option<&str>,
) -> Result<()> {
    let filter = match (tag_id, survivor) {
        (Some(_), _) => "pt.tag_id = $1",
        (None, Some(_)) => "p.merged_into = $1",
        (None, None) => "1 = 1",
    };
    let arg = tag_id.or(survivor).unwrap_or("");
    sqlx::query(&format!(
        "INSERT INTO profile_tags (tag_id, profile_id, since, origin) \
         SELECT pt.tag_id, p.merged_into, pt.since, pt.origin FROM profile_tags pt \
         JOIN profiles p ON p.id = pt.profile_id \
         WHERE p.merged_into IS NOT NULL AND {filter} AND $1 = $1 \
         ON CONFLICT (tag_id, profile_id) DO NOTHING"
    ))
    .bind(arg)
    .execute(&mut *conn)
    .await?;
    let delete_filter = match (tag_id, survivor) {
        (Some(_), _) => {
            "tag_id = $1 AND profile_id IN (SELECT id FROM profiles WHERE merged_into IS NOT NULL)"
        }
        (None, Some(_)) => "profile_id IN (SELECT id FROM profiles WHERE merged_into = $1)",
        (None, None) => {
            "profile_id IN (SELECT id FROM profiles WHERE merged_into IS NOT NULL) AND $1 = $1"
        }
    };
    sqlx::query(&format!("DELETE FROM profile_tags WHERE {delete_filter}"))
        .bind(arg)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Serialises writers of one tag's members (a no-op write that takes the row lock).
async fn lock_tag(conn: &mut Conn, tag_id: &str) -> Result<()> {
    sqlx::query("UPDATE tags SET member_count = member_count WHERE id = $1")
        .bind(tag_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Adds `tag` to `profile` and emits `tag.added` once; false if it was already there.
pub(crate) async fn add(
    conn: &mut Conn,
    tag: &super::Tag,
    profile: &str,
    origin: &str,
    key_suffix: &str,
    at: Micros,
) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO profile_tags (tag_id, profile_id, since, origin) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tag_id, profile_id) DO NOTHING",
    )
    .bind(&tag.id)
    .bind(profile)
    .bind(at)
    .bind(origin)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        emit(
            conn,
            &membership_event(tag, profile, true, origin, key_suffix, at),
        )
        .await?;
    }
    Ok(n == 1)
}

/// Removes `tag` from `profile` (only an assignment of `origin`, when given)
/// and emits `tag.removed` once; false if there was nothing to remove.
pub(crate) async fn remove(
    conn: &mut Conn,
    tag: &super::Tag,
    profile: &str,
    origin: Option<&str>,
    key_suffix: &str,
    at: Micros,
) -> Result<bool> {
    let n = sqlx::query(
        "DELETE FROM profile_tags WHERE tag_id = $1 AND profile_id = $2 AND ($3 = '' OR origin = $3)",
    )
    .bind(&tag.id)
    .bind(profile)
    .bind(origin.unwrap_or(""))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        emit(
            conn,
            &membership_event(tag, profile, false, "", key_suffix, at),
        )
        .await?;
    }
    Ok(n == 1)
}

/// `tag.added` (with its origin) or `tag.removed`, keyed once per change.
fn membership_event(
    tag: &super::Tag,
    profile: &str,
    added: bool,
    origin: &str,
    key_suffix: &str,
    at: Micros,
) -> DomainEvent {
    let name = if added { "tag.added" } else { "tag.removed" };
    let properties = if added {
        json!({"tag": tag.key, "tag_name": tag.name, "origin": origin})
    } else {
        json!({"tag": tag.key, "tag_name": tag.name})
    };
    DomainEvent::new(
        name,
        profile,
        format!("{name}:{}:{profile}:{key_suffix}", tag.id),
        properties,
        at,
    )
}

/// Rows per multi-row membership statement.
const WRITE_CHUNK: usize = 500;

/// Adds rule members with multi-row statements; returns those actually added.
async fn insert_members(
    conn: &mut Conn,
    backend: Backend,
    tag_id: &str,
    profiles: &[&String],
    at: Micros,
) -> Result<Vec<String>> {
    let mut added = Vec::with_capacity(profiles.len());
    for chunk in profiles.chunks(WRITE_CHUNK) {
        let mut insert = Multi::new(
            backend,
            "INSERT INTO profile_tags (tag_id, profile_id, since, origin) VALUES ",
        );
        for p in chunk {
            let (tag, profile) = (tag_id.to_owned(), (*p).clone());
            insert.row(|r| {
                r.bind(tag).bind(profile).bind(at).bind("rule");
            });
        }
        added.extend(
            insert
                .returning(
                    conn,
                    " ON CONFLICT (tag_id, profile_id) DO NOTHING RETURNING profile_id",
                )
                .await?,
        );
    }
    added.sort();
    Ok(added)
}

/// Removes rule assignments of `profiles` in chunks; returns those actually removed.
async fn delete_rule_members(
    conn: &mut Conn,
    tag_id: &str,
    profiles: &[&String],
) -> Result<Vec<String>> {
    let mut removed = Vec::with_capacity(profiles.len());
    for chunk in profiles.chunks(WRITE_CHUNK) {
        let list = numbered(2, chunk.len());
        let sql = format!(
            "DELETE FROM profile_tags WHERE tag_id = $1 AND origin = 'rule' AND profile_id IN ({list}) \
             RETURNING profile_id"
        );
        let mut q = list_query_scalar::<String>(backend_of(conn), &sql).bind(tag_id);
        for p in chunk {
            q = q.bind(*p);
        }
        removed.extend(q.fetch_all(&mut *conn).await?);
    }
    removed.sort();
    Ok(removed)
}

/// What one recompute changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Recomputed {
    pub added: usize,
    pub removed: usize,
    pub members: i64,
    /// The computation number this run recorded.
    pub computation: i64,
}

/// Recomputes tag `tag_id` on `conn` (the caller's transaction): diff,
/// events, member count and `last_computed_at`. A tag that is not a rule
/// tag only has its merged members moved and its count refreshed.
pub async fn recompute(
    conn: &mut Conn,
    backend: Backend,
    tag_id: &str,
    now: Micros,
) -> Result<Recomputed> {
    lock_tag(conn, tag_id).await?;
    let Some(tag) = get_by_id(conn, tag_id).await? else {
        return Ok(Recomputed::default());
    };
    absorb_merged(conn, Some(tag_id), None).await?;
    let computation = tag.computation + 1;
    let suffix = format!("c{computation}");
    let mut out = Recomputed {
        computation,
        ..Recomputed::default()
    };
    if let (TagKind::Rule, Some(value)) = (tag.kind, &tag.rule) {
        let rule = Rule::from_json(value)?;
        let wanted: HashSet<String> = evaluate(conn, backend, &rule, now, None)
            .await?
            .into_iter()
            .collect();
        let current: Vec<(String, String)> =
            sqlx::query_as("SELECT profile_id, origin FROM profile_tags WHERE tag_id = $1")
                .bind(tag_id)
                .fetch_all(&mut *conn)
                .await?;
        let present: HashSet<&str> = current.iter().map(|(p, _)| p.as_str()).collect();
        let mut gained: Vec<&String> = wanted
            .iter()
            .filter(|p| !present.contains(p.as_str()))
            .collect();
        gained.sort();
        let lost: Vec<&String> = current
            .iter()
            .filter(|(p, origin)| origin == "rule" && !wanted.contains(p))
            .map(|(p, _)| p)
            .collect();
        let added = insert_members(conn, backend, tag_id, &gained, now).await?;
        let removed = delete_rule_members(conn, tag_id, &lost).await?;
        out.added = added.len();
        out.removed = removed.len();
        // Events last: they touch the profiles, which then stay locked only until the commit.
        for p in &added {
            emit(conn, &membership_event(&tag, p, true, "rule", &suffix, now)).await?;
        }
        for p in &removed {
            emit(
                conn,
                &membership_event(&tag, p, false, "rule", &suffix, now),
            )
            .await?;
        }
    }
    out.members = sqlx::query_scalar("SELECT COUNT(*) FROM profile_tags WHERE tag_id = $1")
        .bind(tag_id)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE tags SET member_count = $1, computation = $2, last_computed_at = $3, \
         members_version = members_version + 1 WHERE id = $4",
    )
    .bind(out.members)
    .bind(computation)
    .bind(now)
    .bind(tag_id)
    .execute(&mut *conn)
    .await?;
    Ok(out)
}

/// Evaluates every rule tag for one person (the survivor of `profile_id`)
/// and applies the changes; events are keyed by `run_key` (the job id), so
/// a retried run emits nothing twice. Returns how many tags changed.
pub async fn reevaluate_profile(
    conn: &mut Conn,
    backend: Backend,
    profile_id: &str,
    run_key: &str,
    now: Micros,
) -> Result<usize> {
    let survivor: Option<String> =
        sqlx::query_scalar("SELECT COALESCE(merged_into, id) FROM profiles WHERE id = $1")
            .bind(profile_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(survivor) = survivor else {
        return Ok(0);
    };
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM tags WHERE kind = 'rule' ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
    // Decide first, then lock and write tag by tag in id order.
    let mut changes: Vec<(super::Tag, bool)> = Vec::new();
    for id in ids {
        let Some(tag) = get_by_id(conn, &id).await? else {
            continue;
        };
        let Some(rule) = tag.rule.as_ref().and_then(|r| Rule::from_json(r).ok()) else {
            continue;
        };
        let holds = !evaluate(conn, backend, &rule, now, Some(&survivor))
            .await?
            .is_empty();
        let origin: Option<String> = sqlx::query_scalar(
            "SELECT origin FROM profile_tags WHERE tag_id = $1 AND profile_id IN \
             (SELECT id FROM profiles WHERE id = $2 OR merged_into = $2) ORDER BY origin LIMIT 1",
        )
        .bind(&tag.id)
        .bind(&survivor)
        .fetch_optional(&mut *conn)
        .await?;
        match (holds, origin.as_deref()) {
            (true, None) => changes.push((tag, true)),
            (false, Some("rule")) => changes.push((tag, false)),
            _ => {}
        }
    }
    if changes.is_empty() {
        return Ok(0);
    }
    absorb_merged(conn, None, Some(&survivor)).await?;
    let suffix = format!("r{run_key}");
    let mut changed = 0;
    for (tag, gained) in changes {
        lock_tag(conn, &tag.id).await?;
        let done = if gained {
            add(conn, &tag, &survivor, "rule", &suffix, now).await?
        } else {
            remove(conn, &tag, &survivor, Some("rule"), &suffix, now).await?
        };
        if done {
            changed += 1;
            sqlx::query("UPDATE tags SET member_count = member_count + $1, members_version = members_version + 1 WHERE id = $2")
                .bind(if gained { 1i64 } else { -1i64 })
                .bind(&tag.id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(changed)
}

/// Enqueues a recompute of one tag; at most one waits per computation and `reason`.
pub async fn enqueue_recompute(
    conn: &mut Conn,
    tag_id: &str,
    computation: i64,
) -> Result<Option<String>> {
    enqueue_recompute_for(conn, tag_id, computation, "").await
}

pub async fn enqueue_recompute_for(
    conn: &mut Conn,
    tag_id: &str,
    computation: i64,
    reason: &str,
) -> Result<Option<String>> {
    jobs::enqueue(
        conn,
        NewJob::new(RECOMPUTE_JOB, json!({ "tag_id": tag_id }))
            .dedupe(format!("{RECOMPUTE_JOB}:{tag_id}:{computation}:{reason}"))
            .max_attempts(5),
    )
    .await
}

/// Job [`RECOMPUTE_JOB`]: `{"tag_id"}`.
pub async fn recompute_job(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let tag_id = ctx.job.payload["tag_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut tx = ctx.db.begin().await?;
    let outcome = recompute(&mut tx, ctx.db.backend(), &tag_id, clock::now()).await?;
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(tag = %tag_id, added = outcome.added, removed = outcome.removed,
        members = outcome.members, "tag recomputed");
    Ok(())
}

/// Job [`RECOMPUTE_ALL_JOB`] (scheduled): one recompute job per rule tag.
pub async fn recompute_all_job(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let tags: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, computation FROM tags WHERE kind = 'rule' ORDER BY id")
            .fetch_all(ctx.db.pool())
            .await?;
    let mut tx = ctx.db.begin().await?;
    for (id, computation) in tags {
        enqueue_recompute_for(&mut tx, &id, computation, "scheduled").await?;
    }
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Job [`REEVALUATE_JOB`]: `{"profile_id"}`.
pub async fn reevaluate_job(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let profile = ctx.job.payload["profile_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut tx = ctx.db.begin().await?;
    reevaluate_profile(
        &mut tx,
        ctx.db.backend(),
        &profile,
        &ctx.job.id,
        clock::now(),
    )
    .await?;
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The event names (and [`IDENTIFY_TRIGGER`]) that rule tags react to,
/// cached per node for a few seconds so ingestion does not read the tag
/// table per request. A change made on this node is seen at once
/// ([`Triggers::invalidate`]); one made on another node within [`Triggers::TTL`].
/// When the trigger names were read, and the names.
type Loaded = (Instant, Arc<HashSet<String>>);

#[derive(Debug, Clone, Default)]
pub struct Triggers {
    inner: Arc<RwLock<Option<Loaded>>>,
}

impl Triggers {
    pub const TTL: Duration = Duration::from_secs(5);

    pub fn invalidate(&self) {
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    pub async fn current(&self, db: &Db) -> Result<Arc<HashSet<String>>> {
        if let Some((at, set)) = &*self.inner.read().unwrap_or_else(PoisonError::into_inner) {
            if at.elapsed() < Self::TTL {
                return Ok(set.clone());
            }
        }
        let rows: Vec<String> = sqlx::query_scalar("SELECT triggers FROM tags WHERE kind = 'rule'")
            .fetch_all(db.read())
            .await?;
        let mut set = HashSet::new();
        for r in rows {
            let names: Vec<String> = serde_json::from_str(&r).unwrap_or_default();
            set.extend(names);
        }
        let set = Arc::new(set);
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), set.clone()));
        Ok(set)
    }
}

/// An event just stored: whose it is, and what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub profile_id: String,
    pub call: CallType,
    pub event: Option<String>,
}

/// After an ingestion committed: one debounced re-evaluation job per
/// profile whose events may change a rule tag. Returns the jobs created.
pub async fn enqueue_reevaluations(
    db: &Db,
    triggers: &Triggers,
    touched: &[Touched],
) -> Result<usize> {
    if touched.is_empty() {
        return Ok(0);
    }
    let names = triggers.current(db).await?;
    if names.is_empty() {
        return Ok(0);
    }
    let identify = names.contains(IDENTIFY_TRIGGER);
    let mut profiles: Vec<&str> = touched
        .iter()
        .filter(|t| {
            (identify && t.call == CallType::Identify)
                || t.event.as_ref().is_some_and(|e| names.contains(e))
        })
        .map(|t| t.profile_id.as_str())
        .collect();
    profiles.sort_unstable();
    profiles.dedup();
    if profiles.is_empty() {
        return Ok(0);
    }
    let now = clock::now();
    let bucket = now / DEBOUNCE;
    let run_at = (bucket + 1) * DEBOUNCE;
    let jobs: Vec<NewJob> = profiles
        .into_iter()
        .map(|p| {
            NewJob::new(REEVALUATE_JOB, json!({ "profile_id": p }))
                .at(run_at)
                .max_attempts(5)
                .dedupe(format!("{REEVALUATE_JOB}:{p}:{bucket}"))
        })
        .collect();
    let mut tx = db.begin().await?;
    let created = jobs::enqueue_many(&mut tx, db.backend(), &jobs).await?;
    tx.commit().await?;
    Ok(usize::try_from(created).unwrap_or(usize::MAX))
}
