//! The bitmap engine against PostgreSQL on the same synthetic population, in one run.
//!
//! ```text
//! cargo run --release -p cove-audience --example bench_pg -- \
//!     --url postgres://postgres@127.0.0.1/postgres --profiles 10000000 [--runs 5] [--seed 7] [--reuse]
//! ```
//!
//! The population has 200 tags: the 9 named tags of `bench.rs` (50 % down to 0.01 % density) and
//! 191 more at 2 %, 1 %, 0.5 %, 0.2 % and 0.1 % in turn, plus spend, order count, age and city
//! traits and 2 % deleted profiles. The same rows are loaded into PostgreSQL with COPY, in the
//! schema a row store would use: `audience_bench.profiles` (integer id, one column per trait,
//! indexes on city, spend, age) and `audience_bench.profile_tags (tag, profile)` with that
//! primary key and a `(profile, tag)` index, then ANALYZEd. Each expression is written as the
//! best SQL we know for it (the rarest positive tag drives a join to profiles, negated tags are
//! anti-joins through the primary key) and timed warm (one untimed run first), as `count(*)`, so
//! PostgreSQL does not even ship the member ids. The engine is timed producing the member bitmap.
//! Counts must agree. `--reuse` skips the load when the tables already hold the same scale
//! and seed.

mod support;

use std::process::ExitCode;
use std::time::{Duration, Instant};
use support::{median, mib, ms, Rng};

use cove_audience::{parse, Population, RoaringBitmap};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

const NAMED: [(&str, f64); 9] = [
    ("app_user", 0.50),
    ("wechat_follower", 0.30),
    ("warranty_active", 0.20),
    ("churn_risk", 0.10),
    ("gaming_laptop_viewer", 0.05),
    ("accessory_buyer", 0.01),
    ("optout_marketing", 0.01),
    ("vip_black_card", 0.0001),
    ("b2b_buyer", 0.0001),
];
const FILLER_DENSITIES: [f64; 5] = [0.02, 0.01, 0.005, 0.002, 0.001];
const TAG_COUNT: usize = 200;
const CITIES: [&str; 8] = [
    "Shanghai",
    "Beijing",
    "Shenzhen",
    "Guangzhou",
    "Chengdu",
    "Hangzhou",
    "Wuhan",
    "Nanjing",
];

/// The 200 tags: name and density.
fn tags() -> Vec<(String, f64)> {
    let mut tags: Vec<(String, f64)> = NAMED.iter().map(|(n, d)| (n.to_string(), *d)).collect();
    let mut i = 0;
    while tags.len() < TAG_COUNT {
        tags.push((
            format!("segment_{:03}", tags.len()),
            FILLER_DENSITIES[i % FILLER_DENSITIES.len()],
        ));
        i += 1;
    }
    tags
}

fn tag_id(name: &str) -> usize {
    NAMED
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap_or(usize::MAX)
}

struct Args {
    url: String,
    profiles: u32,
    runs: usize,
    seed: u64,
    reuse: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: std::env::var("COVE_BENCH_PG_URL").unwrap_or_default(),
        profiles: 1_000_000,
        runs: 5,
        seed: 7,
        reuse: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--reuse" {
            args.reuse = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--url" => args.url = value,
            "--profiles" => args.profiles = value.parse().map_err(bad)?,
            "--runs" => args.runs = value.parse::<usize>().map_err(bad)?.max(1),
            "--seed" => args.seed = value.parse().map_err(bad)?,
            _ => {
                return Err(format!(
                    "unknown flag {flag} (use --url, --profiles, --runs, --seed, --reuse)"
                ))
            }
        }
    }
    if args.url.is_empty() {
        return Err("--url postgres://... (or COVE_BENCH_PG_URL) is required".into());
    }
    Ok(args)
}

/// One profile's traits; `None` is SQL NULL and an absent bitmap entry.
struct Traits {
    live: bool,
    spend: Option<i64>,
    orders: Option<i64>,
    age: Option<i64>,
    city: Option<u8>,
}

struct Data {
    tags: Vec<(String, f64)>,
    members: Vec<Vec<u32>>,
    traits: Vec<Traits>,
}

fn generate(n: u32, seed: u64) -> Data {
    let tags = tags();
    let mut rng = Rng(seed);
    let mut members = vec![Vec::new(); tags.len()];
    let mut traits = Vec::with_capacity(n as usize);
    for o in 0..n {
        for (i, (_, density)) in tags.iter().enumerate() {
            if rng.unit() < *density {
                members[i].push(o);
            }
        }
        let (spend, orders) = if rng.unit() < 0.6 {
            let u = rng.unit();
            let spend = (u * u * u * 2_000_000.0) as i64;
            (
                Some(spend),
                Some(1 + (u * 30.0) as i64 + rng.below(3) as i64),
            )
        } else {
            (None, None)
        };
        let age = (rng.unit() < 0.7).then(|| 18 + rng.below(53) as i64);
        let city = (rng.unit() < 0.8).then(|| {
            // Skewed: Shanghai holds about a third of the known cities.
            let u = rng.unit();
            ((u * u) * CITIES.len() as f64) as u8
        });
        traits.push(Traits {
            live: rng.unit() >= 0.02,
            spend,
            orders,
            age,
            city,
        });
    }
    Data {
        tags,
        members,
        traits,
    }
}

fn build(data: &Data) -> Population {
    let mut p = Population::new();
    p.load_profiles(0..data.traits.len() as u32);
    for ((name, _), members) in data.tags.iter().zip(&data.members) {
        p.load_tag(name, members.iter().copied());
    }
    let column = |f: fn(&Traits) -> Option<i64>| {
        data.traits
            .iter()
            .enumerate()
            .filter_map(move |(o, t)| f(t).map(|v| (o as u32, v)))
    };
    p.load_numbers("total_spend_fen", column(|t| t.spend));
    p.load_numbers("order_count", column(|t| t.orders));
    p.load_numbers("age", column(|t| t.age));
    p.load_texts(
        "city",
        data.traits
            .iter()
            .enumerate()
            .filter_map(|(o, t)| t.city.map(|c| (o as u32, CITIES[c as usize]))),
    );
    let deleted: RoaringBitmap = data
        .traits
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.live)
        .map(|(o, _)| o as u32)
        .collect();
    p.remove_profiles(&deleted);
    p
}

const SCHEMA: &str = "
DROP SCHEMA IF EXISTS audience_bench CASCADE;
CREATE SCHEMA audience_bench;
CREATE TABLE audience_bench.meta (profiles BIGINT NOT NULL, seed BIGINT NOT NULL);
CREATE TABLE audience_bench.profiles (
    id BIGINT NOT NULL, live BOOLEAN NOT NULL, total_spend_fen BIGINT, order_count BIGINT,
    age BIGINT, city TEXT);
CREATE TABLE audience_bench.profile_tags (tag SMALLINT NOT NULL, profile BIGINT NOT NULL);
";
const INDEXES: &str = "
ALTER TABLE audience_bench.profiles ADD PRIMARY KEY (id);
CREATE INDEX ON audience_bench.profiles (city);
CREATE INDEX ON audience_bench.profiles (total_spend_fen);
CREATE INDEX ON audience_bench.profiles (age);
ALTER TABLE audience_bench.profile_tags ADD PRIMARY KEY (tag, profile);
CREATE INDEX ON audience_bench.profile_tags (profile, tag);
";

/// Streams text-format COPY rows in chunks of about 8 MiB.
async fn copy_rows(
    conn: &mut PgConnection,
    statement: &str,
    rows: impl Iterator<Item = String>,
) -> sqlx::Result<u64> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut buf = String::with_capacity(9 << 20);
    for row in rows {
        buf.push_str(&row);
        if buf.len() >= 8 << 20 {
            copy.send(buf.as_bytes()).await?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_bytes()).await?;
    }
    copy.finish().await
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "\\N".to_string(), |v| v.to_string())
}

async fn loaded(conn: &mut PgConnection, n: u32, seed: u64) -> bool {
    let row: Result<(i64, i64), _> =
        sqlx::query_as("SELECT profiles, seed FROM audience_bench.meta")
            .fetch_one(&mut *conn)
            .await;
    matches!(row, Ok((p, s)) if p == i64::from(n) && s == seed as i64)
}

async fn load(conn: &mut PgConnection, data: &Data, seed: u64) -> sqlx::Result<()> {
    conn.execute(SCHEMA).await?;
    let start = Instant::now();
    let profiles = copy_rows(
        conn,
        "COPY audience_bench.profiles FROM STDIN",
        data.traits.iter().enumerate().map(|(o, t)| {
            format!(
                "{o}\t{}\t{}\t{}\t{}\t{}\n",
                if t.live { "t" } else { "f" },
                opt(t.spend),
                opt(t.orders),
                opt(t.age),
                t.city.map_or("\\N", |c| CITIES[c as usize]),
            )
        }),
    )
    .await?;
    let tag_rows = copy_rows(
        conn,
        "COPY audience_bench.profile_tags FROM STDIN",
        data.members
            .iter()
            .enumerate()
            .flat_map(|(t, m)| m.iter().map(move |o| format!("{t}\t{o}\n"))),
    )
    .await?;
    println!(
        "postgres COPY                  {:>10.1} s ({profiles} profiles, {tag_rows} profile_tags rows)",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    conn.execute(INDEXES).await?;
    conn.execute("ANALYZE audience_bench.profiles").await?;
    conn.execute("ANALYZE audience_bench.profile_tags").await?;
    sqlx::query("INSERT INTO audience_bench.meta VALUES ($1, $2)")
        .bind(profiles as i64)
        .bind(seed as i64)
        .execute(&mut *conn)
        .await?;
    println!(
        "postgres indexes + ANALYZE     {:>10.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn sql_median(
    conn: &mut PgConnection,
    runs: usize,
    sql: &str,
) -> sqlx::Result<(Duration, i64)> {
    // One untimed run warms the buffer cache.
    let mut count: i64 = sqlx::query_scalar(sql).fetch_one(&mut *conn).await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        count = sqlx::query_scalar(sql).fetch_one(&mut *conn).await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], count))
}

/// The 5-term expressions, in the engine's syntax and as SQL over the row-store schema.
fn cases() -> Vec<(&'static str, String, String)> {
    let t = tag_id;
    let has = |tag: &str, alias: &str| {
        format!(
            "EXISTS (SELECT 1 FROM audience_bench.profile_tags x WHERE x.tag = {} AND x.profile = {alias}.profile)",
            t(tag)
        )
    };
    let lacks = |tag: &str, alias: &str| format!("NOT {}", has(tag, alias));
    vec![
        (
            "console example",
            "tag:gaming_laptop_viewer AND (trait:total_spend_fen >= 500000 OR NOT tag:churn_risk) \
             AND trait:city = \"Shanghai\" AND NOT tag:optout_marketing"
                .to_string(),
            format!(
                "SELECT count(*) FROM audience_bench.profile_tags g \
                 JOIN audience_bench.profiles p ON p.id = g.profile \
                 WHERE g.tag = {} AND p.live AND p.city = 'Shanghai' \
                 AND (p.total_spend_fen >= 500000 OR {}) AND {}",
                t("gaming_laptop_viewer"),
                lacks("churn_risk", "g"),
                lacks("optout_marketing", "g"),
            ),
        ),
        (
            "2 ranges + 3 tags",
            "trait:age BETWEEN 25 AND 34 AND trait:order_count >= 3 AND tag:warranty_active \
             AND NOT tag:churn_risk AND NOT tag:accessory_buyer"
                .to_string(),
            format!(
                "SELECT count(*) FROM audience_bench.profile_tags w \
                 JOIN audience_bench.profiles p ON p.id = w.profile \
                 WHERE w.tag = {} AND p.live AND p.age BETWEEN 25 AND 34 AND p.order_count >= 3 \
                 AND {} AND {}",
                t("warranty_active"),
                lacks("churn_risk", "w"),
                lacks("accessory_buyer", "w"),
            ),
        ),
        (
            "5 tags",
            "tag:app_user AND tag:wechat_follower AND tag:warranty_active \
             AND NOT tag:churn_risk AND NOT tag:optout_marketing"
                .to_string(),
            format!(
                "SELECT count(*) FROM audience_bench.profile_tags w \
                 JOIN audience_bench.profiles p ON p.id = w.profile \
                 WHERE w.tag = {} AND p.live AND {} AND {} AND {} AND {}",
                t("warranty_active"),
                has("wechat_follower", "w"),
                has("app_user", "w"),
                lacks("churn_risk", "w"),
                lacks("optout_marketing", "w"),
            ),
        ),
    ]
}

async fn run(args: Args) -> Result<bool, String> {
    let n = args.profiles;
    println!(
        "cove-audience vs PostgreSQL: {n} profiles, {TAG_COUNT} tags, median of {} runs, seed {}",
        args.runs, args.seed
    );
    let start = Instant::now();
    let data = generate(n, args.seed);
    let tag_rows: usize = data.members.iter().map(Vec::len).sum();
    println!(
        "generate synthetic data        {:>10.1} ms ({tag_rows} tag memberships)",
        ms(start.elapsed())
    );
    let start = Instant::now();
    let population = build(&data);
    println!(
        "build bitmap indexes           {:>10.1} ms",
        ms(start.elapsed())
    );
    let mem = population.memory();
    println!(
        "bitmap memory: universe {:.2} MiB, {TAG_COUNT} tags {:.2} MiB, numeric {:.2} MiB, \
         categorical {:.2} MiB, total {:.2} MiB",
        mib(mem.universe),
        mib(mem.tags),
        mib(mem.numeric),
        mib(mem.categorical),
        mib(mem.total()),
    );

    let db = |e: sqlx::Error| format!("postgres: {e}");
    let mut conn = PgConnection::connect(&args.url).await.map_err(db)?;
    if args.reuse && loaded(&mut conn, n, args.seed).await {
        println!("postgres: reusing audience_bench tables");
    } else {
        load(&mut conn, &data, args.seed).await.map_err(db)?;
    }
    let size: (i64, i64) = sqlx::query_as(
        "SELECT pg_total_relation_size('audience_bench.profiles'), \
                pg_total_relation_size('audience_bench.profile_tags')",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(db)?;
    println!(
        "postgres size: profiles {:.0} MiB, profile_tags {:.0} MiB (tables + indexes)",
        mib(size.0 as usize),
        mib(size.1 as usize)
    );
    drop(data);

    println!();
    println!(
        "{:<20} {:>9} {:>11} {:>12} {:>9}",
        "5-term expression", "members", "bitmap ms", "postgres ms", "x faster"
    );
    let mut agree = true;
    for (label, text, sql) in cases() {
        let expr = parse(&text).map_err(|e| format!("{label}: {e}"))?;
        let (bitmap_t, members) = median(args.runs, || population.evaluate(&expr));
        let (sql_t, count) = sql_median(&mut conn, args.runs, &sql).await.map_err(db)?;
        if count as u64 != members.len() {
            agree = false;
            eprintln!(
                "{label}: MISMATCH bitmap {} postgres {count}",
                members.len()
            );
        }
        println!(
            "{:<20} {:>9} {:>11.3} {:>12.1} {:>8.0}x",
            label,
            members.len(),
            ms(bitmap_t),
            ms(sql_t),
            sql_t.as_secs_f64() / bitmap_t.as_secs_f64()
        );
    }
    Ok(agree)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("the engine and PostgreSQL disagree");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
