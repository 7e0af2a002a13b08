//! Offline member import: `membership::import` (every row checked first,
//! then each card joined through the identity graph with its tier and
//! opening points, in committed chunks) on a generated file, then the same file again, which must
//! change nothing. Beside it, a baseline in the same run: the same number of
//! rows written with one plain INSERT each in one transaction.
//!
//!     cargo run --release -p cove-core --example member_import_bench -- [ROWS] [postgres://admin-url]
//!
//! ROWS defaults to 100,000 (the most one file may hold). Runs on a SQLite
//! file in a temp dir, and also on PostgreSQL when an admin URL is given (it
//! creates a scratch database). Exits with an error if the second import
//! changed anything.

use cove_core::clock;
use cove_core::db::Db;
use cove_core::membership::import::import;
use std::fmt::Write;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let pg = args.next();
    println!("member import: {rows} members, imported twice");
    let csv = file(rows);
    let dir = tempfile::tempdir()?;
    run(
        "sqlite",
        &format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
        &csv,
        rows,
    )
    .await?;
    if let Some(admin) = pg {
        sqlx::any::install_default_drivers();
        let name = format!("cove_bench_{}", uuid::Uuid::now_v7().simple());
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await?;
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        run("postgres", &format!("{base}/{name}"), &csv, rows).await?;
    }
    Ok(())
}

/// Members of every tier, most with opening points, some with a birthday.
fn file(rows: usize) -> String {
    const TIERS: [&str; 5] = ["", "regular", "silver", "gold", "diamond"];
    let mut csv = String::from("card_no,name,phone,tier,points,joined_on,birthday,store_code\n");
    for n in 0..rows {
        let birthday = if n % 3 == 0 {
            format!("19{:02}-{:02}-{:02}", 60 + n % 40, 1 + n % 12, 1 + n % 28)
        } else {
            String::new()
        };
        let _ = writeln!(
            csv,
            "AUR{n:08},会员{n},139{:08},{},{},20{:02}-{:02}-01,{birthday},",
            n,
            TIERS[n % TIERS.len()],
            (n * 37) % 20_000,
            15 + n % 10,
            1 + n % 12,
        );
    }
    csv
}

/// What an import leaves behind, to compare the two passes.
async fn state(db: &Db) -> anyhow::Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for (what, sql) in [
        ("members", "SELECT COUNT(*) FROM members"),
        ("identities", "SELECT COUNT(*) FROM identities"),
        ("ledger rows", "SELECT COUNT(*) FROM points_ledger"),
        (
            "points held",
            "SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) FROM points_lots",
        ),
        ("tier changes", "SELECT COUNT(*) FROM tier_changes"),
        ("events", "SELECT COUNT(*) FROM raw_events"),
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(db.pool()).await?;
        out.push((what.to_owned(), n));
    }
    Ok(out)
}

async fn run(label: &str, url: &str, csv: &str, rows: usize) -> anyhow::Result<()> {
    let db = Db::connect_url(url).await?;
    db.migrate().await?;
    let mut passes = Vec::new();
    for pass in 1..=2 {
        let start = Instant::now();
        let report = import(&db, csv, clock::now()).await?;
        let secs = start.elapsed().as_secs_f64();
        anyhow::ensure!(
            report.errors.is_empty(),
            "refused: {:?}",
            report.errors.first()
        );
        passes.push((report, secs, state(&db).await?));
        println!(
            "  {label} pass {pass}: {:>7.0} rows/s ({secs:.1} s; created {}, unchanged {})",
            rows as f64 / secs,
            passes[pass - 1].0.created,
            passes[pass - 1].0.unchanged
        );
    }
    anyhow::ensure!(
        passes[0].0.created == rows,
        "the first pass created every member"
    );
    anyhow::ensure!(
        passes[1].0.unchanged == rows,
        "the second pass left every card as it was"
    );
    anyhow::ensure!(
        passes[0].2 == passes[1].2,
        "the second pass changed the state"
    );
    let summary: Vec<String> = passes[1]
        .2
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "  {label} state after both passes (identical): {}",
        summary.join(", ")
    );

    // Baseline: one plain INSERT per row into a table of the same width.
    sqlx::query(
        "CREATE TABLE bench_members (card_no TEXT PRIMARY KEY, name TEXT, phone TEXT, tier TEXT, points BIGINT)",
    )
    .execute(db.pool())
    .await?;
    let start = Instant::now();
    let mut tx = db.begin().await?;
    for n in 0..rows {
        sqlx::query("INSERT INTO bench_members (card_no, name, phone, tier, points) VALUES ($1, $2, $3, $4, $5)")
            .bind(format!("AUR{n:08}"))
            .bind(format!("会员{n}"))
            .bind(format!("139{n:08}"))
            .bind("gold")
            .bind((n * 37 % 20_000) as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let baseline = rows as f64 / start.elapsed().as_secs_f64();
    let first = rows as f64 / passes[0].1;
    println!(
        "  {label} baseline (plain INSERT per row): {baseline:>7.0} rows/s; import/baseline {:.2}",
        first / baseline
    );
    Ok(())
}
