//! Durable jobs and the outbox, in the database.
//!
//! A job is written in the same transaction as the change that causes it
//! ([`enqueue`]), so it exists exactly when the change does. Workers on any
//! number of nodes claim due jobs under a lease; a claim is one conditional
//! `UPDATE`, so two nodes never hold the same job. A handler that writes to
//! the database calls [`JobCtx::complete`] inside its own transaction: its
//! effect and the job's completion commit together, so the effect happens
//! exactly once even if a node dies mid-run (the lease expires, another node
//! retries, and the retry finds the job either finished or untouched).
//! Work that leaves the process (messages, webhooks) is retried with
//! exponential backoff and carries an idempotency key for the far side.
//! After `max_attempts` a job is dead-lettered for a person to look at.

use crate::clock::{self, Micros, SECOND};
use crate::db::{new_id, Backend, Conn, Db, Multi};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Ready,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ready" => JobState::Ready,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dead" => JobState::Dead,
            _ => return None,
        })
    }
}

/// A job to write; see [`enqueue`].
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub run_at: Micros,
    pub max_attempts: i64,
    /// A second job with the same key is not created (e.g. one timeout per order).
    pub dedupe_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            run_at: clock::now(),
            max_attempts: 10,
            dedupe_key: None,
        }
    }

    pub fn at(mut self, run_at: Micros) -> Self {
        self.run_at = run_at;
        self
    }

    pub fn max_attempts(mut self, n: i64) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

/// Writes a job on the caller's connection, normally inside its transaction.
/// Returns `None` when a job with the same dedupe key already exists.
pub async fn enqueue(conn: &mut Conn, job: NewJob) -> Result<Option<String>> {
    let id = new_id();
    let now = clock::now();
    let inserted = sqlx::query(
        "INSERT INTO jobs (id, kind, payload, state, run_at, attempts, max_attempts, dedupe_key, created_at, updated_at) \
         VALUES ($1, $2, $3, 'ready', $4, 0, $5, $6, $7, $7) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(&id)
    .bind(&job.kind)
    .bind(job.payload.to_string())
    .bind(job.run_at)
    .bind(job.max_attempts)
    .bind(&job.dedupe_key)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((inserted == 1).then_some(id))
}

/// Writes many jobs with multi-row statements; returns how many were created
/// (jobs whose dedupe key already exists are not).
pub async fn enqueue_many(conn: &mut Conn, backend: Backend, jobs: &[NewJob]) -> Result<u64> {
    let now = clock::now();
    let mut created = 0;
    for chunk in jobs.chunks(500) {
        let mut rows = Multi::new(
            backend,
            "INSERT INTO jobs (id, kind, payload, state, run_at, attempts, max_attempts, dedupe_key, \
             created_at, updated_at) VALUES ",
        );
        for job in chunk {
            rows.row(|r| {
                r.bind(new_id())
                    .bind(job.kind.clone())
                    .bind(job.payload.to_string())
                    .bind("ready")
                    .bind(job.run_at)
                    .bind(0_i64)
                    .bind(job.max_attempts)
                    .bind(job.dedupe_key.clone())
                    .bind(now)
                    .bind(now);
            });
        }
        created += rows
            .execute(conn, " ON CONFLICT (dedupe_key) DO NOTHING")
            .await?;
    }
    Ok(created)
}

/// A claimed job as a handler sees it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: Value,
    /// 1 on the first run.
    pub attempt: i64,
    pub max_attempts: i64,
}

/// What a handler gets: the job, the database and a way to finish atomically.
pub struct JobCtx {
    pub job: Job,
    pub db: Db,
    node: Arc<str>,
    completed: AtomicBool,
}

impl JobCtx {
    /// Marks the job done on `conn` (the handler's transaction). Fails if this
    /// node no longer holds the lease, which rolls the handler's work back.
    pub async fn complete(&self, conn: &mut Conn) -> Result<()> {
        mark_done(conn, &self.job, &self.node).await?;
        self.completed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

async fn mark_done(conn: &mut Conn, job: &Job, node: &str) -> Result<()> {
    let now = clock::now();
    let updated = sqlx::query(
        "UPDATE jobs SET state = 'done', finished_at = $1, updated_at = $1, locked_until = NULL, last_error = NULL \
         WHERE id = $2 AND state = 'running' AND locked_by = $3 AND attempts = $4",
    )
    .bind(now)
    .bind(&job.id)
    .bind(node)
    .bind(job.attempt)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 1 {
        Ok(())
    } else {
        Err(Error::conflict(
            "job_lease_lost",
            format!("job {} is no longer held by this node", job.id),
        ))
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
type HandlerFn = Arc<dyn Fn(Arc<JobCtx>) -> BoxFuture + Send + Sync>;

/// Handlers by job kind, and recurring schedules.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, HandlerFn>,
    schedules: Vec<(String, String, i64)>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler for `kind`. A handler returning `Err` is retried with backoff.
    pub fn handle<F, Fut>(mut self, kind: &str, f: F) -> Self
    where
        F: Fn(Arc<JobCtx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.handlers
            .insert(kind.to_owned(), Arc::new(move |ctx| Box::pin(f(ctx))));
        self
    }

    /// Runs a job of `kind` every `every_secs`, once across all nodes.
    pub fn every(mut self, name: &str, kind: &str, every_secs: i64) -> Self {
        self.schedules
            .push((name.to_owned(), kind.to_owned(), every_secs.max(1)));
        self
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.handlers.keys().cloned().collect();
        kinds.sort();
        kinds
    }
}

/// Delay before the retry that follows failed run `attempt` (1-based):
/// `base` doubled per attempt, capped at one hour, plus up to 25% jitter so
/// failed jobs do not retry in lockstep.
pub fn backoff(attempt: i64, base: Micros) -> Micros {
    let delay = base
        .saturating_mul(1i64 << (attempt - 1).clamp(0, 20))
        .min(3600 * SECOND);
    delay + (rand::random::<u64>() % ((delay / 4).max(1) as u64)) as i64
}

/// Claims up to `limit` due jobs of the registered kinds for `node`.
///
/// A running job's `run_at` is its lease end, so one index range on
/// `(state, run_at)` finds both the jobs that are due and those whose node
/// died mid-run.
pub async fn claim(
    db: &Db,
    node: &str,
    kinds: &[String],
    limit: i64,
    lease: Micros,
) -> Result<Vec<Job>> {
    if kinds.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    let now = clock::now();
    let kind_params: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 5)).collect();
    let sql = format!(
        "UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, run_at = $2, attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT id FROM jobs \
            WHERE state IN ('ready', 'running') AND run_at <= $3 \
            AND kind IN ({}) ORDER BY run_at LIMIT $4{}) \
         RETURNING id, kind, payload, attempts, max_attempts",
        kind_params.join(", "),
        db.skip_locked()
    );
    let mut query = sqlx::query(&sql)
        .bind(node)
        .bind(now + lease)
        .bind(now)
        .bind(limit);
    for kind in kinds {
        query = query.bind(kind);
    }
    let rows = query.fetch_all(db.pool()).await?;
    rows.into_iter()
        .map(|row| {
            let payload: String = row.try_get("payload")?;
            Ok(Job {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                attempt: row.try_get("attempts")?,
                max_attempts: row.try_get("max_attempts")?,
            })
        })
        .collect()
}

/// Records a failed run: back to `ready` after a backoff, or `dead` when out of attempts.
async fn record_failure(
    db: &Db,
    job: &Job,
    node: &str,
    error: &str,
    retry_base: Micros,
) -> Result<()> {
    let now = clock::now();
    let dead = job.attempt >= job.max_attempts;
    let (state, run_at) = if dead {
        ("dead", now)
    } else {
        ("ready", now + backoff(job.attempt, retry_base))
    };
    let message: String = error.chars().take(2000).collect();
    sqlx::query(
        "UPDATE jobs SET state = $1, run_at = $2, last_error = $3, locked_until = NULL, updated_at = $4, \
         finished_at = CASE WHEN $1 = 'dead' THEN $4 ELSE NULL END \
         WHERE id = $5 AND state = 'running' AND locked_by = $6 AND attempts = $7",
    )
    .bind(state)
    .bind(run_at)
    .bind(message)
    .bind(now)
    .bind(&job.id)
    .bind(node)
    .bind(job.attempt)
    .execute(db.pool())
    .await?;
    if dead {
        tracing::error!(job = %job.id, kind = %job.kind, attempts = job.attempt, error, "job dead-lettered");
    } else {
        tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempt, error, "job failed; will retry");
    }
    Ok(())
}

/// Sends a dead or waiting job back to the queue now (a person's retry).
pub async fn retry_now(conn: &mut Conn, id: &str) -> Result<()> {
    let now = clock::now();
    let updated = sqlx::query(
        "UPDATE jobs SET state = 'ready', run_at = $1, attempts = 0, updated_at = $1, finished_at = NULL \
         WHERE id = $2 AND state IN ('dead', 'ready')",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 1 {
        Ok(())
    } else {
        Err(Error::conflict(
            "job_not_retryable",
            "only dead or waiting jobs can be retried",
        ))
    }
}

/// Creates the rows of the schedules this node knows of (existing ones are kept).
pub async fn register_schedules(db: &Db, registry: &Registry) -> Result<()> {
    for (name, kind, every) in &registry.schedules {
        sqlx::query(
            "INSERT INTO schedules (name, kind, every_secs, next_run_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(kind)
        .bind(every)
        .bind(clock::now())
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// Enqueues the scheduled runs that are due. The conditional `UPDATE` on
/// `next_run_at` lets exactly one node enqueue each run.
pub async fn tick_schedules(db: &Db, registry: &Registry) -> Result<usize> {
    let now = clock::now();
    let mut enqueued = 0;
    for (name, kind, every) in &registry.schedules {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT next_run_at FROM schedules WHERE name = $1 AND next_run_at <= $2",
        )
        .bind(name)
        .bind(now)
        .fetch_optional(db.pool())
        .await?;
        let Some(due) = due else { continue };
        let mut tx = db.begin().await?;
        let won = sqlx::query("UPDATE schedules SET next_run_at = $1, last_run_at = $2 WHERE name = $3 AND next_run_at = $4")
            .bind(now + every * SECOND)
            .bind(now)
            .bind(name)
            .bind(due)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if won == 1 {
            let job = NewJob::new(
                kind.clone(),
                serde_json::json!({ "schedule": name, "due": due }),
            )
            .dedupe(format!("schedule:{name}:{due}"))
            .max_attempts(3);
            enqueue(&mut tx, job).await?;
            enqueued += 1;
        }
        tx.commit().await?;
    }
    Ok(enqueued)
}

/// Counts of jobs per state, for `/metrics` and the console.
pub async fn depth(db: &Db) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query("SELECT kind, state, COUNT(*) AS n FROM jobs WHERE state <> 'done' GROUP BY kind, state ORDER BY kind, state")
        .fetch_all(db.read())
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("kind")?, r.try_get("state")?, r.try_get("n")?)))
        .collect()
}

/// Runs jobs on this node until `shutdown` turns true, then waits for the
/// jobs in hand to finish. Nothing accepted is lost: a job not yet claimed
/// stays in the table, and one whose run is cut short is retried after its lease.
pub struct Worker {
    db: Db,
    registry: Registry,
    node: Arc<str>,
    concurrency: usize,
    poll: Duration,
    lease: Micros,
    retry_base: Micros,
}

impl Worker {
    pub fn new(
        db: Db,
        registry: Registry,
        concurrency: usize,
        poll: Duration,
        lease_secs: u64,
    ) -> Self {
        let node: Arc<str> = Arc::from(format!("node-{}", &new_id()[24..]));
        Self {
            db,
            registry,
            node,
            concurrency: concurrency.max(1),
            poll,
            lease: lease_secs as i64 * SECOND,
            retry_base: 2 * SECOND,
        }
    }

    /// Sets the first retry delay (tests shorten it).
    pub fn retry_base_ms(mut self, ms: u64) -> Self {
        self.retry_base = ms as i64 * 1000;
        self
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let kinds = self.registry.kinds();
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        tracing::info!(node = %self.node, kinds = ?kinds, "job worker started");
        if let Err(e) = register_schedules(&self.db, &self.registry).await {
            tracing::warn!(error = %e, "registering schedules failed");
        }
        let mut last_tick: Option<std::time::Instant> = None;
        while !*shutdown.borrow() {
            if last_tick.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                last_tick = Some(std::time::Instant::now());
                if let Err(e) = tick_schedules(&self.db, &self.registry).await {
                    tracing::warn!(error = %e, "schedule tick failed");
                }
            }
            let free = permits.available_permits() as i64;
            let claimed = match claim(&self.db, &self.node, &kinds, free, self.lease).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed");
                    Vec::new()
                }
            };
            let idle = claimed.is_empty();
            for job in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let Some(handler) = self.registry.handlers.get(&job.kind).cloned() else {
                    continue;
                };
                let db = self.db.clone();
                let node = self.node.clone();
                let retry_base = self.retry_base;
                tasks.spawn(async move {
                    run_one(db, node, handler, job, retry_base).await;
                    drop(permit);
                });
            }
            while tasks.try_join_next().is_some() {}
            if idle || permits.available_permits() == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = shutdown.changed() => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
        }
        tracing::info!(node = %self.node, in_flight = tasks.len(), "job worker draining");
        while tasks.join_next().await.is_some() {}
        tracing::info!(node = %self.node, "job worker stopped");
    }
}

async fn run_one(db: Db, node: Arc<str>, handler: HandlerFn, job: Job, retry_base: Micros) {
    let ctx = Arc::new(JobCtx {
        job: job.clone(),
        db: db.clone(),
        node: node.clone(),
        completed: AtomicBool::new(false),
    });
    let span = tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempt);
    let outcome = handler(ctx.clone()).instrument(span).await;
    let result = match outcome {
        Ok(()) if ctx.completed.load(Ordering::SeqCst) => Ok(()),
        Ok(()) => {
            async {
                let mut conn = db.pool().acquire().await?;
                mark_done(&mut conn, &job, &node).await
            }
            .await
        }
        Err(e) => record_failure(&db, &job, &node, &format!("{e:#}"), retry_base).await,
    };
    if let Err(e) = result {
        tracing::warn!(job = %job.id, error = %e, "could not record the job's outcome");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_with_bounded_jitter_and_a_cap() {
        for attempt in 1..=6 {
            let expected = SECOND << (attempt - 1);
            let d = backoff(attempt, SECOND);
            assert!(
                d >= expected && d <= expected + expected / 4,
                "attempt {attempt}: {d}"
            );
        }
        assert!(backoff(40, SECOND) <= 3600 * SECOND * 5 / 4);
    }
}
