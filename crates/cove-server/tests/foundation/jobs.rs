use crate::common::{count, eventually, TestApp, TestDb};
use cove_core::jobs::{self, JobCtx, NewJob, Registry};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

async fn create_runs_table(db: &cove_core::db::Db) {
    sqlx::query("CREATE TABLE IF NOT EXISTS test_runs (job_id TEXT NOT NULL, node TEXT NOT NULL, attempt BIGINT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
}

/// Records the run in the same transaction that completes the job.
async fn record_run(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let delay = ctx.job.payload["sleep_ms"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let mut tx = ctx.db.begin().await?;
    sqlx::query("INSERT INTO test_runs (job_id, node, attempt) VALUES ($1, $2, $3)")
        .bind(&ctx.job.id)
        .bind(ctx.job.payload["tag"].as_str().unwrap_or(""))
        .bind(ctx.job.attempt)
        .execute(&mut *tx)
        .await?;
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn enqueue_many(
    db: &cove_core::db::Db,
    kind: &str,
    n: usize,
    payload: serde_json::Value,
) -> Vec<String> {
    let mut tx = db.begin().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(
            jobs::enqueue(&mut tx, NewJob::new(kind, payload.clone()))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    ids
}

#[tokio::test]
async fn two_servers_on_one_database_run_each_job_exactly_once() {
    let db = TestDb::new().await;
    let registry = || {
        Registry::new()
            .handle("test.record", record_run)
            .every("test.tick", "test.noop", 1)
            .handle("test.noop", |_| async { Ok(()) })
    };
    let mut a = TestApp::start(db.config(), registry()).await;
    let mut b = TestApp::start(db.config(), registry()).await;
    create_runs_table(a.db()).await;
    let total = 300;
    enqueue_many(a.db(), "test.record", total, json!({})).await;
    let done = eventually(60, || async {
        count(
            a.db(),
            "SELECT COUNT(*) FROM jobs WHERE kind = 'test.record' AND state = 'done'",
        )
        .await
            == total as i64
    })
    .await;
    assert!(done, "all jobs finish");
    assert_eq!(
        count(a.db(), "SELECT COUNT(*) FROM test_runs").await,
        total as i64,
        "no job ran twice"
    );
    assert_eq!(
        count(a.db(), "SELECT COUNT(DISTINCT job_id) FROM test_runs").await,
        total as i64
    );
    let nodes = count(
        a.db(),
        "SELECT COUNT(DISTINCT locked_by) FROM jobs WHERE kind = 'test.record'",
    )
    .await;
    assert!(nodes >= 1);
    // Both nodes tick the one-second schedule; each due time is enqueued once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ticks = count(a.db(), "SELECT COUNT(*) FROM jobs WHERE kind = 'test.noop'").await;
    let dues = count(
        a.db(),
        "SELECT COUNT(DISTINCT dedupe_key) FROM jobs WHERE kind = 'test.noop'",
    )
    .await;
    assert!(ticks >= 2, "the schedule ran: {ticks}");
    assert_eq!(ticks, dues, "one job per due time");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_then_dead_lettered() {
    let db = TestDb::new().await;
    let registry = Registry::new()
        .handle("test.flaky", |ctx: Arc<JobCtx>| async move {
            if ctx.job.attempt < 3 {
                anyhow::bail!("far side unavailable (attempt {})", ctx.job.attempt)
            }
            Ok(())
        })
        .handle("test.broken", |_| async { anyhow::bail!("always fails") });
    let mut app = TestApp::start(db.config(), registry).await;
    let started = std::time::Instant::now();
    let mut tx = app.db().begin().await.unwrap();
    let flaky = jobs::enqueue(&mut tx, NewJob::new("test.flaky", json!({})))
        .await
        .unwrap()
        .unwrap();
    let broken = jobs::enqueue(
        &mut tx,
        NewJob::new("test.broken", json!({})).max_attempts(3),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let state = |id: String| {
        let db = app.db().clone();
        async move {
            sqlx::query_as::<_, (String, i64, Option<String>)>(
                "SELECT state, attempts, last_error FROM jobs WHERE id = $1",
            )
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap()
        }
    };
    assert!(eventually(30, || async { state(flaky.clone()).await.0 == "done" }).await);
    let (_, attempts, error) = state(flaky.clone()).await;
    assert_eq!(attempts, 3);
    assert_eq!(error, None, "a success clears the last error");
    // Retries wait 50 ms, then 100 ms (plus jitter): at least 150 ms in all.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );

    assert!(eventually(30, || async { state(broken.clone()).await.0 == "dead" }).await);
    let (_, attempts, error) = state(broken.clone()).await;
    assert_eq!(attempts, 3);
    assert!(error.unwrap().contains("always fails"));

    let admin = app.user("admin", None).await;
    let dead: serde_json::Value = admin
        .get("/api/v1/jobs?state=dead")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead.as_array().unwrap().len(), 1);
    assert_eq!(dead[0]["id"], broken.as_str());
    let retried = admin
        .post(&format!("/api/v1/jobs/{broken}/retry"), json!({}))
        .await;
    assert_eq!(retried.status(), 204);
    assert!(
        eventually(30, || async {
            state(broken.clone()).await.0 == "dead" && state(broken.clone()).await.1 == 3
        })
        .await,
        "retried from zero and dead again"
    );
    let again = admin
        .post(&format!("/api/v1/jobs/{flaky}/retry"), json!({}))
        .await;
    assert_eq!(again.status(), 409, "a finished job is not retried");
    app.shutdown().await;
}

#[tokio::test]
async fn a_dedupe_key_makes_one_job_and_a_job_commits_with_its_cause() {
    let (app, _db) = TestApp::spawn().await;
    let db = app.db();
    let mut tx = db.begin().await.unwrap();
    let first = jobs::enqueue(
        &mut tx,
        NewJob::new("order.timeout", json!({ "order": "o1" })).dedupe("order.timeout:o1"),
    )
    .await
    .unwrap();
    let second = jobs::enqueue(
        &mut tx,
        NewJob::new("order.timeout", json!({ "order": "o1" })).dedupe("order.timeout:o1"),
    )
    .await
    .unwrap();
    assert!(first.is_some() && second.is_none());
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    jobs::enqueue(
        &mut tx,
        NewJob::new("order.timeout", json!({ "order": "o2" })),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM jobs WHERE kind = 'order.timeout'").await,
        1,
        "a rolled-back cause leaves no job"
    );
}

#[tokio::test]
async fn shutdown_finishes_jobs_in_hand_and_loses_none() {
    let db = TestDb::new().await;
    let registry = || Registry::new().handle("test.record", record_run);
    let mut config = db.config();
    config.jobs.workers = 2;
    let mut first = TestApp::start(config.clone(), registry()).await;
    create_runs_table(first.db()).await;
    let total = 8;
    enqueue_many(first.db(), "test.record", total, json!({ "sleep_ms": 400 })).await;
    assert!(
        eventually(20, || async {
            count(
                first.db(),
                "SELECT COUNT(*) FROM jobs WHERE kind = 'test.record' AND state = 'running'",
            )
            .await
                > 0
        })
        .await
    );
    first.shutdown().await;
    let probe = TestApp::start(
        {
            let mut c = config.clone();
            c.jobs.workers = 0;
            c
        },
        Registry::new(),
    )
    .await;
    let running = count(
        probe.db(),
        "SELECT COUNT(*) FROM jobs WHERE kind = 'test.record' AND state = 'running'",
    )
    .await;
    assert_eq!(
        running, 0,
        "jobs in hand finished before the worker stopped"
    );
    let finished_early = count(probe.db(), "SELECT COUNT(*) FROM test_runs").await;
    assert!(
        finished_early >= 1 && finished_early < total as i64,
        "shutdown came mid-queue: {finished_early}"
    );
    drop(probe);

    let mut second = TestApp::start(config, registry()).await;
    assert!(
        eventually(30, || async {
            count(
                second.db(),
                "SELECT COUNT(*) FROM jobs WHERE kind = 'test.record' AND state = 'done'",
            )
            .await
                == total as i64
        })
        .await
    );
    assert_eq!(
        count(second.db(), "SELECT COUNT(*) FROM test_runs").await,
        total as i64,
        "every accepted job ran exactly once"
    );
    assert_eq!(
        count(second.db(), "SELECT COUNT(DISTINCT job_id) FROM test_runs").await,
        total as i64
    );
    second.shutdown().await;
}

#[tokio::test]
async fn a_job_whose_node_died_is_taken_over_after_its_lease() {
    let db = TestDb::new().await;
    let mut config = db.config();
    config.jobs.lease_secs = 1;
    let mut app = TestApp::start(config, Registry::new().handle("test.record", record_run)).await;
    create_runs_table(app.db()).await;
    // A job claimed by a node that vanished: running, lease already expired.
    let mut tx = app.db().begin().await.unwrap();
    let id = jobs::enqueue(&mut tx, NewJob::new("test.record", json!({})))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE jobs SET state = 'running', locked_by = 'node-gone', locked_until = 0, attempts = 1 WHERE id = $1")
        .bind(&id)
        .execute(app.db().pool())
        .await
        .unwrap();
    assert!(
        eventually(20, || async {
            count(
                app.db(),
                "SELECT COUNT(*) FROM jobs WHERE kind = 'test.record' AND state = 'done'",
            )
            .await
                == 1
        })
        .await
    );
    let attempt: i64 = sqlx::query_scalar("SELECT attempt FROM test_runs WHERE job_id = $1")
        .bind(&id)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(attempt, 2, "the takeover counts as a second attempt");
    app.shutdown().await;
}
