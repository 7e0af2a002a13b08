//! Factory import throughput: `service::import` (validation, multi-row
//! inserts in chunks inside one transaction, the factory warranty written
//! alongside) against a baseline in the same run — the same kind of rows
//! written with one plain INSERT per device (plus one per entitlement) in one
//! transaction. Then the same file again, which must change nothing.
//!
//!     cargo run --release -p cove-core --example device_import_bench -- [ROWS] [postgres://admin-url]
//!
//! ROWS defaults to 1,000,000. Runs on a SQLite file in a temp dir, and also
//! on PostgreSQL when an admin URL is given (it creates a scratch database).

use cove_core::clock::{self, DAY};
use cove_core::db::{new_id, Db};
use cove_core::service::import::{import, ImportRow};
use std::time::Instant;

/// Rows of the baseline run (extrapolated as rows per second).
const BASELINE_ROWS: usize = 50_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let pg = args.next();
    println!("device import: {rows} rows (baseline: {BASELINE_ROWS} plain single-row inserts)");
    let dir = tempfile::tempdir()?;
    run(
        "sqlite",
        &format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
        rows,
    )
    .await?;
    if let Some(admin) = pg {
        sqlx::any::install_default_drivers();
        let name = format!("cove_bench_{}", uuid::Uuid::now_v7().simple());
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await?;
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        run("postgres", &format!("{base}/{name}"), rows).await?;
    }
    Ok(())
}

fn tag(n: usize, salt: u64) -> String {
    const SPACE: u64 = 78_364_164_096; // 36^7
    let mut v = (n as u64 * 2_654_435_761 + salt) % SPACE;
    let mut out = [b'0'; 7];
    for c in out.iter_mut().rev() {
        *c = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(v % 36) as usize];
        v /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rows_of(count: usize, salt: u64, model: &str) -> Vec<(usize, ImportRow)> {
    let shipped = clock::to_datetime(clock::now() - 30 * DAY)
        .format("%Y-%m-%d")
        .to_string();
    (0..count)
        .map(|i| {
            let tag = tag(i, salt);
            (
                i + 1,
                ImportRow {
                    serial: format!("SN{salt}-{tag}"),
                    service_tag: tag,
                    model: model.to_owned(),
                    shipped_on: shipped.clone(),
                    sales_channel: "retail".into(),
                    region: "CN".into(),
                },
            )
        })
        .collect()
}

async fn run(label: &str, url: &str, rows: usize) -> anyhow::Result<()> {
    let db = Db::connect_url(url).await?;
    db.migrate().await?;
    let category = new_id();
    let product = new_id();
    sqlx::query(
        "INSERT INTO categories (id, code, name_zh, name_en) VALUES ($1, 'pc', '电脑', 'PCs')",
    )
    .bind(&category)
    .execute(db.pool())
    .await?;
    sqlx::query(
        "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) \
         VALUES ($1, 'BENCH-14', $2, '基准机', 'Bench 14', 'device', 100, 'active', 0)",
    )
    .bind(&product)
    .bind(&category)
    .execute(db.pool())
    .await?;

    // Same size first: the import against plain inserts of as many rows.
    let sample = rows_of(BASELINE_ROWS.min(rows), 7, "BENCH-14");
    let start = Instant::now();
    let report = import(&db, rows_of(sample.len(), 5, "BENCH-14"), false).await?;
    anyhow::ensure!(report.inserted == sample.len(), "import failed");
    let small = sample.len() as f64 / start.elapsed().as_secs_f64();
    // Baseline: plain inserts of different tags, one statement per row.
    let start = Instant::now();
    let mut tx = db.begin().await?;
    let now = clock::now();
    for (_, r) in &sample {
        sqlx::query(
            "INSERT INTO devices (service_tag, product_id, serial, shipped_at, warranty_ends_at, sales_channel, region, imported_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.service_tag)
        .bind(&product)
        .bind(&r.serial)
        .bind(now)
        .bind(now + 365 * DAY)
        .bind(&r.sales_channel)
        .bind(&r.region)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO device_entitlements (id, service_tag, kind, service_level, starts_at, ends_at, origin, reference, created_at) \
             VALUES ($1, $2, 'base', 'CI', $3, $4, 'shipped', 'factory', $3)",
        )
        .bind(new_id())
        .bind(&r.service_tag)
        .bind(now)
        .bind(now + 365 * DAY)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let baseline = sample.len() as f64 / start.elapsed().as_secs_f64();

    let file = rows_of(rows, 11, "BENCH-14");
    let start = Instant::now();
    let report = import(&db, file.clone(), false).await?;
    let first = start.elapsed();
    anyhow::ensure!(
        report.committed && report.inserted == rows,
        "import failed: {:?}",
        report.errors.first()
    );
    let start = Instant::now();
    let again = import(&db, file, false).await?;
    let second = start.elapsed();
    anyhow::ensure!(
        again.inserted == 0 && again.unchanged == rows,
        "a re-import changed something"
    );

    println!(
        "{label:>8}: {} rows: import {small:.0} rows/s vs plain single-row inserts {baseline:.0} rows/s = {:.1}x",
        sample.len(),
        small / baseline
    );
    println!(
        "{label:>8}: {rows} more rows: import in {:.1}s = {:.0} rows/s; the same file again (no change) in {:.1}s = {:.0} rows/s",
        first.as_secs_f64(),
        rows as f64 / first.as_secs_f64(),
        second.as_secs_f64(),
        rows as f64 / second.as_secs_f64()
    );
    db.close().await;
    Ok(())
}
