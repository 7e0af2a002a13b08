//! Ingestion throughput through the real HTTP endpoint (`POST /v1/batch`,
//! batches of 100 events, identity resolution included), against a baseline
//! in the same run: the same rows written with plain INSERTs, 100 per
//! transaction, into the same database.
//!
//!     cargo run --release -p cove-server --example ingest_bench -- [BATCHES] [CONCURRENCY] [postgres://admin-url]
//!
//! Runs on a SQLite file in a temp dir, and also on PostgreSQL when an admin
//! URL is given (it creates and drops a scratch database there). Events are
//! tracks from a pool of users, each first seen anonymously, so the run mixes
//! new profiles, known profiles and anonymous-to-known merges.

use cove_core::audit::Actor;
use cove_core::config::Config;
use cove_core::db::{new_id, Db};
use cove_core::secret::Secret;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 100;
const USERS: usize = 2_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let batches: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let pg = args.next();
    println!(
        "ingestion: {batches} batches x {BATCH} events, {concurrency} requests in flight, {USERS} users"
    );
    let dir = tempfile::tempdir()?;
    run(
        &format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
        dir.path(),
        batches,
        concurrency,
    )
    .await?;
    if let Some(admin) = pg {
        let name = format!("cove_bench_{}", &new_id().replace('-', "")[20..]);
        let admin_db = Db::connect_url(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin_db.pool())
            .await?;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let result = run(&format!("{base}/{name}"), dir.path(), batches, concurrency).await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(admin_db.pool())
            .await?;
        result?;
    }
    Ok(())
}

fn batch_body(b: usize, prefix: &str) -> Value {
    let items: Vec<Value> = (0..BATCH)
        .map(|i| {
            let n = b * BATCH + i;
            let user = n % USERS;
            // A user's first events are anonymous; later ones identified with the same anonymous id.
            let identified = n >= USERS;
            let mut item = json!({
                "type": if i % 10 == 0 { "identify" } else { "track" },
                "event": "Product Viewed",
                "messageId": format!("{prefix}-{n}"),
                "anonymousId": format!("anon-{user}"),
                "properties": {"sku": format!("SKU-{}", n % 97), "price_fen": 599_900},
                "context": {"library": {"name": "bench"}, "page": {"path": "/p/x1"}},
                "originalTimestamp": "2024-05-01T10:00:00Z"
            });
            if identified {
                item["userId"] = json!(format!("user-{user}"));
                item["traits"] = json!({"tier": "gold"});
            }
            item
        })
        .collect();
    json!({"batch": items, "sentAt": "2024-05-01T10:00:01Z"})
}

async fn run(
    url: &str,
    data_dir: &std::path::Path,
    batches: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut config = Config::for_data_dir(data_dir)?;
    config.database_url = Some(Secret::new(url.to_owned()));
    config.jobs.workers = 0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = cove_server::Server::start(
        config,
        listener,
        cove_core::jobs::Registry::new(),
        async move {
            let _ = stopped.await;
        },
    )
    .await?;
    let db = server.state.db.clone();
    let (source, key) = cove_core::audience::sources::create_source(
        &db,
        &Actor::system(),
        "bench",
        cove_core::audience::SourceKind::Server,
    )
    .await?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let bodies: Vec<Vec<u8>> = (0..batches)
        .map(|b| serde_json::to_vec(&batch_body(b, "h")))
        .collect::<Result<_, _>>()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, key, bodies, next) = (
            client.clone(),
            base.clone(),
            key.clone(),
            bodies.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/v1/batch"))
                    .basic_auth(&key, Some(""))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let status = r.status();
                if status != 200 {
                    anyhow::bail!("batch {i}: {status} {}", r.text().await.unwrap_or_default());
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let http = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let events = batches * BATCH;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM raw_events")
        .fetch_one(db.pool())
        .await?;
    let profiles: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM profiles WHERE merged_into IS NULL")
            .fetch_one(db.pool())
            .await?;
    anyhow::ensure!(stored as usize == events, "stored {stored} of {events}");

    // Baseline: the same rows, plain INSERTs, 100 per transaction, no HTTP, no resolution.
    let started = Instant::now();
    for b in 0..batches {
        let body = batch_body(b, "p");
        let mut tx = db.begin().await?;
        for item in body["batch"].as_array().into_iter().flatten() {
            sqlx::query(
                "INSERT INTO raw_events (id, source_id, message_id, type, event, anonymous_id, user_id, \
                 properties, traits, context, integrations, original_timestamp, sent_at, received_at, occurred_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '{}', $11, $11, $11, $11)",
            )
            .bind(new_id())
            .bind(&source.id)
            .bind(item["messageId"].as_str())
            .bind(item["type"].as_str())
            .bind(item["event"].as_str())
            .bind(item["anonymousId"].as_str())
            .bind(item["userId"].as_str())
            .bind(item["properties"].to_string())
            .bind(item["traits"].to_string())
            .bind(item["context"].to_string())
            .bind(cove_core::clock::now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    let plain = started.elapsed();
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!("\n{:?}", db.backend());
    println!(
        "  POST /v1/batch     {:>9.0} events/s  ({events} events in {:.2} s; per request p50 {:.1} ms, p99 {:.1} ms; {profiles} live profiles)",
        rate(http),
        http.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    println!(
        "  plain INSERT loop  {:>9.0} events/s  ({:.2} s)",
        rate(plain),
        plain.as_secs_f64()
    );
    println!(
        "  ratio              {:>9.2}  (HTTP ingestion with identity resolution / plain INSERT)",
        rate(http) / rate(plain)
    );
    let _ = stop.send(());
    server.wait().await?;
    Ok(())
}
