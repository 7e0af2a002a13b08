//! Throughput of the durable job queue, against plain SQL doing the same
//! writes on the same database in the same run.
//!
//!     cargo run --release -p cove-core --example jobs_bench -- [JOBS] [postgres://admin-url]
//!
//! With a PostgreSQL URL it creates (and drops) a scratch database there;
//! otherwise it uses a SQLite file in a temp dir.

use cove_core::db::{new_id, Db};
use cove_core::jobs::{self, NewJob, Registry, Worker};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let pg = args.next();
    let dir = tempfile::tempdir()?;
    let (url, scratch) = match &pg {
        Some(admin) => {
            let name = format!("cove_bench_{}", &new_id().replace('-', "")[20..]);
            let admin_db = Db::connect_url(admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(admin_db.pool())
                .await?;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
            (format!("{base}/{name}"), Some((admin_db, name)))
        }
        None => (
            format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
            None,
        ),
    };
    let db = Db::connect_url(&url).await?;
    db.migrate().await?;
    println!("job queue on {:?}, {n} jobs", db.backend());

    // Baseline: the same rows with plain INSERTs, 1,000 per transaction.
    sqlx::query("CREATE TABLE bench_plain (id TEXT PRIMARY KEY, payload TEXT NOT NULL, state TEXT NOT NULL)")
        .execute(db.pool())
        .await?;
    let t = Instant::now();
    for chunk in 0..n.div_ceil(1000) {
        let mut tx = db.begin().await?;
        for _ in 0..1000.min(n - chunk * 1000) {
            sqlx::query("INSERT INTO bench_plain (id, payload, state) VALUES ($1, $2, 'ready')")
                .bind(new_id())
                .bind(json!({ "order": 1 }).to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    let plain_insert = t.elapsed();

    let t = Instant::now();
    for chunk in 0..n.div_ceil(1000) {
        let mut tx = db.begin().await?;
        for _ in 0..1000.min(n - chunk * 1000) {
            jobs::enqueue(&mut tx, NewJob::new("bench.noop", json!({ "order": 1 }))).await?;
        }
        tx.commit().await?;
    }
    let enqueue = t.elapsed();

    // Baseline for running: mark each row done in its own transaction, one at a time.
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM bench_plain")
        .fetch_all(db.pool())
        .await?;
    let t = Instant::now();
    for id in &ids {
        sqlx::query("UPDATE bench_plain SET state = 'done' WHERE id = $1")
            .bind(id)
            .execute(db.pool())
            .await?;
    }
    let plain_update = t.elapsed();

    let registry = Registry::new().handle("bench.noop", |_| async { Ok(()) });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = Worker::new(db.clone(), registry, 8, Duration::from_millis(5), 60);
    let t = Instant::now();
    let running = tokio::spawn(worker.run(stop_rx));
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE state = 'done' AND kind = 'bench.noop'",
        )
        .fetch_one(db.read())
        .await?;
        if done as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain = t.elapsed();
    let _ = stop_tx.send(true);
    running.await?;

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{:<44} {:>10.0} /s",
        "plain INSERT, 1,000 per transaction",
        rate(plain_insert)
    );
    println!(
        "{:<44} {:>10.0} /s  ({:.2}x plain)",
        "jobs::enqueue, 1,000 per transaction",
        rate(enqueue),
        rate(enqueue) / rate(plain_insert)
    );
    println!(
        "{:<44} {:>10.0} /s",
        "plain UPDATE, one per transaction",
        rate(plain_update)
    );
    println!(
        "{:<44} {:>10.0} /s  ({:.2}x plain)",
        "worker: claim + run + complete (8 at once)",
        rate(drain),
        rate(drain) / rate(plain_update)
    );
    db.close().await;
    if let Some((admin_db, name)) = scratch {
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(admin_db.pool())
            .await?;
    }
    Ok(())
}
