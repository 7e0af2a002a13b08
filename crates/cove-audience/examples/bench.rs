//! Benchmark of the audience engine against naive row scans on a synthetic population.
//!
//! ```text
//! cargo run --release -p cove-audience --example bench -- --profiles 10000000 [--runs 5] [--seed 7]
//! ```
//!
//! The population has tags at 50 %, 30 %, 20 %, 10 %, 5 %, 1 % and 0.01 % density, a skewed
//! spend trait, an order count, an age and a city (Zipf-like over 20 cities), with 2 % of
//! ordinals deleted. Every expression is evaluated three ways on the same data and the counts
//! are checked to agree: the bitmap engine, a scan of `Vec<Row>` that interprets the same
//! expression tree per row (what a generic "naive" engine does), and a scan with the predicate
//! hand-written in Rust (the fastest a row scan can be).

mod support;

use std::process::ExitCode;
use std::time::Instant;
use support::{median, mib, ms, Rng};

use cove_audience::{diff, parse, sample, CmpOp, Expr, Population, RoaringBitmap, Value};

const TAGS: [(&str, f64); 9] = [
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
const CITIES: [&str; 20] = [
    "Shanghai",
    "Beijing",
    "Shenzhen",
    "Guangzhou",
    "Chengdu",
    "Hangzhou",
    "Wuhan",
    "Nanjing",
    "Chongqing",
    "Xian",
    "Suzhou",
    "Tianjin",
    "Changsha",
    "Zhengzhou",
    "Dongguan",
    "Qingdao",
    "Shenyang",
    "Ningbo",
    "Kunming",
    "Hefei",
];

/// One profile as a row store would hold it. Absent values use `i64::MIN` / `u8::MAX`.
#[derive(Clone, Copy)]
struct Row {
    live: bool,
    tags: u16,
    city: u8,
    spend: i64,
    orders: i64,
    age: i64,
}

const NONE: i64 = i64::MIN;
const NO_CITY: u8 = u8::MAX;

struct Args {
    profiles: u32,
    runs: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        profiles: 1_000_000,
        runs: 5,
        seed: 7,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--profiles" => args.profiles = value.parse().map_err(bad)?,
            "--runs" => args.runs = value.parse::<usize>().map_err(bad)?.max(1),
            "--seed" => args.seed = value.parse().map_err(bad)?,
            _ => {
                return Err(format!(
                    "unknown flag {flag} (use --profiles, --runs, --seed)"
                ))
            }
        }
    }
    Ok(args)
}

/// The synthetic data, generated once and fed to both the engine and the row store.
struct Data {
    rows: Vec<Row>,
    tag_members: Vec<Vec<u32>>,
    spend: Vec<(u32, i64)>,
    orders: Vec<(u32, i64)>,
    age: Vec<(u32, i64)>,
    city: Vec<(u32, &'static str)>,
    deleted: Vec<u32>,
}

fn generate(n: u32, seed: u64) -> Data {
    let mut rng = Rng(seed);
    let mut data = Data {
        rows: Vec::with_capacity(n as usize),
        tag_members: vec![Vec::new(); TAGS.len()],
        spend: Vec::new(),
        orders: Vec::new(),
        age: Vec::new(),
        city: Vec::new(),
        deleted: Vec::new(),
    };
    // Zipf-like city weights: city k has weight 1/(k+1).
    let weights: Vec<f64> = (0..CITIES.len()).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let total: f64 = weights.iter().sum();
    for o in 0..n {
        let mut row = Row {
            live: true,
            tags: 0,
            city: NO_CITY,
            spend: NONE,
            orders: NONE,
            age: NONE,
        };
        for (i, (_, density)) in TAGS.iter().enumerate() {
            if rng.unit() < *density {
                row.tags |= 1 << i;
                data.tag_members[i].push(o);
            }
        }
        if rng.unit() < 0.6 {
            // Skewed spend: most buyers spend little, a few spend a lot (up to 2,000,000 fen).
            let u = rng.unit();
            row.spend = (u * u * u * 2_000_000.0) as i64;
            data.spend.push((o, row.spend));
            row.orders = 1 + (u * 30.0) as i64 + rng.below(3) as i64;
            data.orders.push((o, row.orders));
        }
        if rng.unit() < 0.7 {
            row.age = 18 + rng.below(53) as i64;
            data.age.push((o, row.age));
        }
        if rng.unit() < 0.8 {
            let mut pick = rng.unit() * total;
            let mut city = 0;
            while city + 1 < CITIES.len() && pick >= weights[city] {
                pick -= weights[city];
                city += 1;
            }
            row.city = city as u8;
            data.city.push((o, CITIES[city]));
        }
        if rng.unit() < 0.02 {
            row.live = false;
            data.deleted.push(o);
        }
        data.rows.push(row);
    }
    data
}

fn build(data: &Data, n: u32) -> Population {
    let mut p = Population::new();
    p.load_profiles(0..n);
    for ((name, _), members) in TAGS.iter().zip(&data.tag_members) {
        p.load_tag(name, members.iter().copied());
    }
    p.load_numbers("total_spend_fen", data.spend.iter().copied());
    p.load_numbers("order_count", data.orders.iter().copied());
    p.load_numbers("age", data.age.iter().copied());
    p.load_texts("city", data.city.iter().copied());
    let deleted: RoaringBitmap = data.deleted.iter().copied().collect();
    p.remove_profiles(&deleted);
    p
}

/// The expression tree compiled against the row layout: what a generic row-scan engine runs.
enum Compiled {
    All,
    Tag(u16),
    Num(fn(&Row) -> i64, CmpOp, i64),
    Between(fn(&Row) -> i64, i64, i64),
    NumSet(fn(&Row) -> i64),
    City(CmpOp, u8),
    CitySet,
    Nothing,
    And(Vec<Compiled>),
    Or(Vec<Compiled>),
    Not(Box<Compiled>),
}

fn column(key: &str) -> Option<fn(&Row) -> i64> {
    match key {
        "total_spend_fen" => Some(|r| r.spend),
        "order_count" => Some(|r| r.orders),
        "age" => Some(|r| r.age),
        _ => None,
    }
}

fn compile(expr: &Expr) -> Compiled {
    match expr {
        Expr::All => Compiled::All,
        Expr::Tag(name) => TAGS
            .iter()
            .position(|(t, _)| t == name)
            .map_or(Compiled::Nothing, |i| Compiled::Tag(1 << i)),
        Expr::Cmp(c) => match (&c.value, column(&c.key)) {
            (Value::Int(v), Some(col)) => Compiled::Num(col, c.op, *v),
            (Value::Str(s), None) if c.key == "city" && !c.op.is_ordering() => {
                match CITIES.iter().position(|x| x == s) {
                    Some(i) => Compiled::City(c.op, i as u8),
                    None if c.op == CmpOp::Ne => Compiled::CitySet,
                    None => Compiled::Nothing,
                }
            }
            _ => Compiled::Nothing,
        },
        Expr::Between(b) => column(&b.key).map_or(Compiled::Nothing, |col| {
            Compiled::Between(col, b.low, b.high)
        }),
        Expr::IsSet(key) if key == "city" => Compiled::CitySet,
        Expr::IsSet(key) => column(key).map_or(Compiled::Nothing, Compiled::NumSet),
        Expr::And(items) => Compiled::And(items.iter().map(compile).collect()),
        Expr::Or(items) => Compiled::Or(items.iter().map(compile).collect()),
        Expr::Not(inner) => Compiled::Not(Box::new(compile(inner))),
    }
}

fn run(c: &Compiled, r: &Row) -> bool {
    match c {
        Compiled::All => true,
        Compiled::Tag(mask) => r.tags & mask != 0,
        Compiled::Num(col, op, v) => {
            let x = col(r);
            x != NONE && op.holds(&x, v)
        }
        Compiled::Between(col, lo, hi) => {
            let x = col(r);
            x != NONE && *lo <= x && x <= *hi
        }
        Compiled::NumSet(col) => col(r) != NONE,
        Compiled::City(op, city) => r.city != NO_CITY && op.holds(&r.city, city),
        Compiled::CitySet => r.city != NO_CITY,
        Compiled::Nothing => false,
        Compiled::And(items) => items.iter().all(|i| run(i, r)),
        Compiled::Or(items) => items.iter().any(|i| run(i, r)),
        Compiled::Not(inner) => !run(inner, r),
    }
}

fn scan(rows: &[Row], keep: impl Fn(&Row) -> bool) -> Vec<u32> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| r.live && keep(r))
        .map(|(o, _)| o as u32)
        .collect()
}

fn tag_bit(name: &str) -> u16 {
    TAGS.iter()
        .position(|(t, _)| *t == name)
        .map_or(0, |i| 1 << i)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let n = args.profiles;
    println!(
        "cove-audience bench: {n} profiles, median of {} runs, seed {}",
        args.runs, args.seed
    );

    let start = Instant::now();
    let data = generate(n, args.seed);
    println!(
        "generate synthetic data        {:>10.1} ms",
        ms(start.elapsed())
    );

    let start = Instant::now();
    let population = build(&data, n);
    let build_time = start.elapsed();
    let mem = population.memory();
    let rows_bytes = data.rows.len() * std::mem::size_of::<Row>();
    println!("build bitmap indexes           {:>10.1} ms", ms(build_time));
    println!(
        "memory: universe {:.2} MiB, tags {:.2} MiB, numeric {:.2} MiB, categorical {:.2} MiB, \
         total {:.2} MiB ({:.1} bytes/profile); row store {:.2} MiB",
        mib(mem.universe),
        mib(mem.tags),
        mib(mem.numeric),
        mib(mem.categorical),
        mib(mem.total()),
        mem.total() as f64 / f64::from(n.max(1)),
        mib(rows_bytes),
    );
    for (name, _) in TAGS {
        if let Some(b) = population.tag(name) {
            println!(
                "  tag {name:<22} {:>9} members {:>9.1} KiB",
                b.len(),
                b.serialized_size() as f64 / 1024.0
            );
        }
    }

    let sh = CITIES.iter().position(|c| *c == "Shanghai").unwrap_or(0) as u8;
    let app = tag_bit("app_user");
    let wechat = tag_bit("wechat_follower");
    let warranty = tag_bit("warranty_active");
    let churn = tag_bit("churn_risk");
    let gaming = tag_bit("gaming_laptop_viewer");
    let accessory = tag_bit("accessory_buyer");
    let optout = tag_bit("optout_marketing");
    let vip = tag_bit("vip_black_card");
    type Hand = Box<dyn Fn(&Row) -> bool>;
    let cases: Vec<(&str, &str, Hand)> = vec![
        (
            "2-tag AND (50% x 30%)",
            "tag:app_user AND tag:wechat_follower",
            Box::new(move |r| r.tags & app != 0 && r.tags & wechat != 0),
        ),
        (
            "rare AND (0.01% x 50%)",
            "tag:vip_black_card AND tag:app_user",
            Box::new(move |r| r.tags & vip != 0 && r.tags & app != 0),
        ),
        (
            "console example, 5 terms",
            "tag:gaming_laptop_viewer AND (trait:total_spend_fen >= 500000 OR NOT tag:churn_risk) \
             AND trait:city = \"Shanghai\" AND NOT tag:optout_marketing",
            Box::new(move |r| {
                r.tags & gaming != 0
                    && ((r.spend != NONE && r.spend >= 500_000) || r.tags & churn == 0)
                    && r.city == sh
                    && r.tags & optout == 0
            }),
        ),
        (
            "5 terms, 2 numeric ranges",
            "trait:age BETWEEN 25 AND 34 AND trait:order_count >= 3 AND tag:warranty_active \
             AND NOT tag:churn_risk AND NOT tag:accessory_buyer",
            Box::new(move |r| {
                r.age != NONE
                    && (25..=34).contains(&r.age)
                    && r.orders != NONE
                    && r.orders >= 3
                    && r.tags & warranty != 0
                    && r.tags & churn == 0
                    && r.tags & accessory == 0
            }),
        ),
        (
            "OR + numeric + NOT set",
            "(tag:wechat_follower OR tag:app_user) AND trait:total_spend_fen < 100000 \
             AND NOT trait:city IS SET",
            Box::new(move |r| {
                r.tags & (wechat | app) != 0
                    && r.spend != NONE
                    && r.spend < 100_000
                    && r.city == NO_CITY
            }),
        ),
        (
            "numeric only: spend >= 500000",
            "trait:total_spend_fen >= 500000",
            Box::new(|r| r.spend != NONE && r.spend >= 500_000),
        ),
    ];

    println!();
    println!(
        "{:<30} {:>9} {:>10} {:>10} {:>11} {:>11} {:>9} {:>9}",
        "expression",
        "members",
        "eval ms",
        "count ms",
        "interp ms",
        "hand ms",
        "x interp",
        "x hand"
    );
    let mut failures = 0;
    let mut example_expr = None;
    for (label, text, hand) in &cases {
        let expr = match parse(text) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{label}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let issues = population.validate(&expr);
        if !issues.is_empty() {
            eprintln!("{label}: unexpected issues {issues:?}");
        }
        let (eval_t, bitmap) = median(args.runs, || population.evaluate(&expr));
        let (count_t, count) = median(args.runs, || population.count(&expr));
        let compiled = compile(&expr);
        let (interp_t, interp) = median(args.runs, || scan(&data.rows, |r| run(&compiled, r)));
        let (hand_t, by_hand) = median(args.runs, || scan(&data.rows, hand));
        let agree = count == bitmap.len()
            && interp.len() as u64 == count
            && by_hand == interp
            && bitmap.iter().eq(interp.iter().copied());
        if !agree {
            failures += 1;
            eprintln!(
                "{label}: MISMATCH bitmap {} count {count} interp {} hand {}",
                bitmap.len(),
                interp.len(),
                by_hand.len()
            );
        }
        println!(
            "{:<30} {:>9} {:>10.3} {:>10.3} {:>11.1} {:>11.1} {:>8.0}x {:>8.1}x",
            label,
            count,
            ms(eval_t),
            ms(count_t),
            ms(interp_t),
            ms(hand_t),
            interp_t.as_secs_f64() / eval_t.as_secs_f64(),
            hand_t.as_secs_f64() / eval_t.as_secs_f64(),
        );
        if label.starts_with("console") {
            example_expr = Some((expr, bitmap, compiled));
        }
    }

    // Membership change: 1 % of live profiles get an event that moves a tag or the spend,
    // then the console-example audience is re-evaluated and diffed.
    if let Some((expr, before, compiled)) = example_expr {
        let mut population = population;
        let mut rows = data.rows;
        let mut rng = Rng(args.seed ^ 0xd1ff);
        let changes = (n / 100).max(1);
        let mut updates = Vec::with_capacity(changes as usize);
        for _ in 0..changes {
            let o = rng.below(u64::from(n.max(1))) as u32;
            updates.push((o, rng.below(3), rng.below(1_000_000) as i64));
        }
        let start = Instant::now();
        for (o, kind, value) in &updates {
            let row = &mut rows[*o as usize];
            if !row.live {
                continue;
            }
            match kind {
                0 => {
                    population.add_tag(*o, "churn_risk");
                    row.tags |= churn;
                }
                1 => {
                    population.remove_tag(*o, "churn_risk");
                    row.tags &= !churn;
                }
                _ => {
                    population.set_number(*o, "total_spend_fen", *value);
                    row.spend = *value;
                }
            }
        }
        let update_t = start.elapsed();
        let (eval_t, after) = median(args.runs, || population.evaluate(&expr));
        let (diff_t, change) = median(args.runs, || diff(&before, &after));
        // Naive: membership flags from two scans, compared row by row.
        let before_rows: Vec<bool> = {
            let set: std::collections::HashSet<u32> = before.iter().collect();
            (0..n).map(|o| set.contains(&o)).collect()
        };
        let (naive_t, (entered, exited)) = median(args.runs, || {
            let mut entered = Vec::new();
            let mut exited = Vec::new();
            for (o, r) in rows.iter().enumerate() {
                let now = r.live && run(&compiled, r);
                match (before_rows[o], now) {
                    (false, true) => entered.push(o as u32),
                    (true, false) => exited.push(o as u32),
                    _ => {}
                }
            }
            (entered, exited)
        });
        let agree = change.entered.iter().eq(entered.iter().copied())
            && change.exited.iter().eq(exited.iter().copied());
        if !agree {
            failures += 1;
            eprintln!("diff: MISMATCH with the row scan");
        }
        println!();
        println!(
            "{changes} single-profile updates        {:>10.1} ms ({:.2} us each)",
            ms(update_t),
            update_t.as_secs_f64() * 1e6 / f64::from(changes)
        );
        println!(
            "re-evaluate + diff              {:>10.3} ms + {:.3} ms: {} entered, {} exited; \
             naive re-scan + compare {:.1} ms ({:.0}x)",
            ms(eval_t),
            ms(diff_t),
            change.entered.len(),
            change.exited.len(),
            ms(naive_t),
            naive_t.as_secs_f64() / (eval_t + diff_t).as_secs_f64()
        );

        let (sample_t, picked) = median(args.runs, || sample(&after, 1000, 42));
        println!(
            "sample 1000 of {}             {:>10.3} ms (first {:?})",
            after.len(),
            ms(sample_t),
            picked.iter().take(3).collect::<Vec<_>>()
        );
        let probes: Vec<u32> = (0..100_000)
            .map(|_| rng.below(u64::from(n.max(1))) as u32)
            .collect();
        let start = Instant::now();
        let hits = probes
            .iter()
            .filter(|o| population.matches(&expr, **o))
            .count();
        let match_t = start.elapsed();
        println!(
            "single-profile matches          {:>10.0} checks/s ({hits} of {} matched)",
            probes.len() as f64 / match_t.as_secs_f64(),
            probes.len()
        );
        let start = Instant::now();
        let mut snapshot = Vec::new();
        if let Err(e) = population.write_snapshot(&mut snapshot) {
            eprintln!("snapshot: {e}");
            return ExitCode::FAILURE;
        }
        let write_t = start.elapsed();
        let start = Instant::now();
        let restored = Population::read_snapshot(snapshot.as_slice());
        let read_t = start.elapsed();
        println!(
            "snapshot                        {:>10.1} MiB, write {:.1} ms, read {:.1} ms ({})",
            mib(snapshot.len()),
            ms(write_t),
            ms(read_t),
            if restored.is_ok_and(|r| r.evaluate(&expr) == after) {
                "round trip ok"
            } else {
                "ROUND TRIP FAILED"
            }
        );
    }

    if failures > 0 {
        eprintln!("{failures} mismatches between the engine and the row scans");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
