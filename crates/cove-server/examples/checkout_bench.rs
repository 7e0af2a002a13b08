//! Checkout throughput through the real HTTP API (`POST /api/v1/me/checkout`:
//! validation, pricing, stock reservation, the order and its lines in one
//! transaction), against a baseline in the same run: the same order and line
//! rows written with plain INSERTs, one transaction per order, at the same
//! concurrency.
//!
//!     cargo run --release -p cove-server --example checkout_bench -- [ORDERS] [CONCURRENCY] [postgres://admin-url]
//!
//! Runs on a SQLite file in a temp dir, and also on PostgreSQL when an admin
//! URL is given (it creates and drops a scratch database there). The catalog
//! has 200 SKUs with ample stock in one warehouse; buyers are signed-in
//! customers (bearer tokens), half of them members. Scenarios:
//!
//! - checkout: 1–3 random SKUs per order, a unique key and an address each;
//! - hot SKU: every buyer wants the same SKU, stocked for a tenth of the
//!   orders, so most are refused with `409 out_of_stock`; at the end exactly
//!   the stock must be reserved, never more;
//! - flash sale: every buyer wants the SKU of a live flash sale whose pool is
//!   a tenth of the orders (at most 200) with one per person; exactly the
//!   pool is sold and nobody buys twice;
//! - plain INSERT: the baseline;
//! - checkout + pay: checkout, open a sandbox payment, confirm it.

use cove_core::config::Config;
use cove_core::db::{new_id, Db};
use cove_core::secret::Secret;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SKUS: usize = 200;
const CUSTOMERS: usize = 400;
const HOT: &str = "s-HOT";
const FLASH: &str = "s-FLS";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let orders: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(16);
    let pg = args.next();
    println!(
        "checkout: {orders} orders per scenario, {concurrency} requests in flight, {SKUS} SKUs, {CUSTOMERS} customers (half members)"
    );
    let dir = tempfile::tempdir()?;
    run(
        &format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
        dir.path(),
        orders,
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
        let result = run(&format!("{base}/{name}"), dir.path(), orders, concurrency).await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(admin_db.pool())
            .await?;
        result?;
    }
    Ok(())
}

/// What the scenarios share: the server, its database and the buyers.
struct Ctx {
    base: String,
    db: Db,
    client: reqwest::Client,
    /// Bearer tokens of the signed-in customers.
    tokens: Vec<String>,
    /// Prefix of this run's checkout keys, so scenarios never collide.
    run: String,
}

impl Ctx {
    async fn post(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    fn token(&self, i: usize) -> &str {
        &self.tokens[i % self.tokens.len()]
    }

    /// A checkout of `items` with a key unique to (`scenario`, `i`).
    async fn checkout(
        &self,
        scenario: &str,
        i: usize,
        items: Value,
    ) -> anyhow::Result<(u16, Value)> {
        let body = json!({
            "key": format!("{}-{scenario}-{i:08}", self.run),
            "items": items,
            "address": { "name": "李雷", "phone": "13800138000", "region": "上海市 浦东新区", "line": "世纪大道 100 号" },
        });
        self.post(self.token(i), "/api/v1/me/checkout", &body).await
    }
}

/// A small deterministic generator: the same run picks the same SKUs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// 1–3 distinct SKUs, one or two units each.
fn basket(i: usize) -> Vec<(String, i64)> {
    let r = mix(i as u64);
    let n = 1 + (r % 3) as usize;
    let mut skus: Vec<usize> = Vec::new();
    for k in 0..n {
        let s = (mix(r.wrapping_add(k as u64 + 1)) % SKUS as u64) as usize;
        if !skus.contains(&s) {
            skus.push(s);
        }
    }
    skus.into_iter()
        .enumerate()
        .map(|(k, s)| (format!("s-{s:03}"), 1 + ((r >> (8 + k)) & 1) as i64))
        .collect()
}

fn price_of(sku: usize) -> i64 {
    // ¥49 to ¥9,999, in whole yuan.
    (49 + (mix(sku as u64 + 7) % 9_951) as i64) * 100
}

/// Per-request outcomes of one scenario.
struct Figures {
    elapsed: Duration,
    /// When the last successful request finished, from the start.
    last_ok: Duration,
    latencies: Vec<Duration>,
    /// Outcomes by status and error code: `200`, `409 out_of_stock`, …
    statuses: BTreeMap<String, usize>,
}

impl Figures {
    fn pct(&self, p: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    fn ok(&self) -> usize {
        self.statuses.get("200").copied().unwrap_or(0)
    }

    fn rate(&self, n: usize) -> f64 {
        n as f64 / self.elapsed.as_secs_f64()
    }

    fn others(&self) -> String {
        let others: Vec<String> = self
            .statuses
            .iter()
            .filter(|(s, _)| s.as_str() != "200")
            .map(|(s, n)| format!("{n}×{s}"))
            .collect();
        if others.is_empty() {
            "no errors".to_owned()
        } else {
            others.join(", ")
        }
    }
}

/// Runs `job(0..n)` with `concurrency` in flight; each job returns how it
/// ended: `200`, or the status and error code of the failing request.
async fn drive<F, Fut>(n: usize, concurrency: usize, job: F) -> anyhow::Result<Figures>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<String>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                let status = job(i).await?;
                out.push((t.elapsed(), started.elapsed(), status));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut figures = Figures {
        elapsed: Duration::ZERO,
        last_ok: Duration::ZERO,
        latencies: Vec::with_capacity(n),
        statuses: BTreeMap::new(),
    };
    for t in tasks {
        for (latency, done, status) in t.await?? {
            figures.latencies.push(latency);
            if status == "200" {
                figures.last_ok = figures.last_ok.max(done);
            }
            *figures.statuses.entry(status).or_default() += 1;
        }
    }
    figures.elapsed = started.elapsed();
    Ok(figures)
}

async fn run(
    url: &str,
    data_dir: &std::path::Path,
    orders: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut config = Config::for_data_dir(data_dir)?;
    config.database_url = Some(Secret::new(url.to_owned()));
    // No background jobs: unpaid orders stay reserved for the whole run.
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
    let base = format!("http://{}", server.addr);
    catalog(&db, orders).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let tokens = customers(&db, &client, &base).await?;
    let ctx = Arc::new(Ctx {
        base,
        db: db.clone(),
        client,
        tokens,
        run: new_id()[24..].to_owned(),
    });
    println!("\n{:?}", db.backend());

    let c = ctx.clone();
    let normal = drive(orders, concurrency, move |i| {
        let c = c.clone();
        async move {
            let items: Vec<Value> = basket(i)
                .into_iter()
                .map(|(sku, q)| json!({ "sku_id": sku, "quantity": q }))
                .collect();
            let (status, body) = c.checkout("a", i, json!(items)).await?;
            Ok(outcome(status, &body))
        }
    })
    .await?;
    println!(
        "  checkout           {:>8.0} orders/s  ({} orders in {:.2} s; p50 {:.1} ms, p99 {:.1} ms; {})",
        normal.rate(normal.ok()),
        normal.ok(),
        normal.elapsed.as_secs_f64(),
        normal.pct(0.50),
        normal.pct(0.99),
        normal.others(),
    );

    let c = ctx.clone();
    let hot = drive(orders, concurrency, move |i| {
        let c = c.clone();
        async move {
            let (status, body) = c
                .checkout("b", i, json!([{ "sku_id": HOT, "quantity": 1 }]))
                .await?;
            Ok(outcome(status, &body))
        }
    })
    .await?;
    let (on_hand, reserved): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(on_hand) AS BIGINT), CAST(SUM(reserved) AS BIGINT) FROM stock_levels WHERE sku_id = $1",
    )
    .bind(HOT)
    .fetch_one(db.pool())
    .await?;
    let negative: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stock_levels WHERE reserved > on_hand OR reserved < 0 OR on_hand < 0",
    )
    .fetch_one(db.pool())
    .await?;
    println!(
        "  hot SKU            {:>8.0} orders/s  ({} sold of {on_hand}, sold out after {:.2} s; {:.0} requests/s over {:.2} s; p50 {:.1} ms, p99 {:.1} ms; {})",
        hot.ok() as f64 / hot.last_ok.as_secs_f64().max(1e-6),
        hot.ok(),
        hot.last_ok.as_secs_f64(),
        hot.rate(orders),
        hot.elapsed.as_secs_f64(),
        hot.pct(0.50),
        hot.pct(0.99),
        hot.others(),
    );
    anyhow::ensure!(
        reserved == on_hand && hot.ok() as i64 == on_hand && negative == 0,
        "hot SKU oversold or undersold: {} orders, on hand {on_hand}, reserved {reserved}, {negative} bad stock rows",
        hot.ok()
    );
    println!("                     stock check: reserved {reserved} == on hand {on_hand}, no level over-reserved or negative");
    flash_sale(ctx.clone(), orders, concurrency).await?;

    let c = ctx.clone();
    let plain = drive(orders, concurrency, move |i| {
        let c = c.clone();
        async move {
            plain_insert(&c.db, i).await?;
            Ok("200".to_owned())
        }
    })
    .await?;
    println!(
        "  plain INSERT       {:>8.0} orders/s  ({:.2} s; p50 {:.1} ms, p99 {:.1} ms)",
        plain.rate(plain.ok()),
        plain.elapsed.as_secs_f64(),
        plain.pct(0.50),
        plain.pct(0.99),
    );
    println!(
        "  ratio              {:>8.2}  (checkout over HTTP / plain INSERT of the same rows)",
        normal.rate(normal.ok()) / plain.rate(plain.ok())
    );

    let c = ctx.clone();
    let paid = drive(orders, concurrency, move |i| {
        let c = c.clone();
        async move { checkout_and_pay(&c, i).await }
    })
    .await?;
    println!(
        "  checkout + pay     {:>8.0} orders/s  ({} paid in {:.2} s; 3 requests each, p50 {:.1} ms, p99 {:.1} ms per order; {})",
        paid.rate(paid.ok()),
        paid.ok(),
        paid.elapsed.as_secs_f64(),
        paid.pct(0.50),
        paid.pct(0.99),
        paid.others(),
    );
    let _ = stop.send(());
    server.wait().await?;
    Ok(())
}

/// The catalog: SKUs `s-000`… with ample stock in one warehouse, and the
/// hot SKU stocked for a tenth of the orders.
async fn catalog(db: &Db, orders: usize) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    for sql in [
        "INSERT INTO categories (id, code, name_zh, name_en, position) VALUES ('cat-b', 'bench', '压测', 'Bench', 1)",
        "INSERT INTO stock_locations (id, code, name, kind, ships_online, priority, created_at) VALUES ('wh-b', 'WH-B', 'Bench warehouse', 'warehouse', 1, 0, 0)",
    ] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    let skus = (0..SKUS)
        .map(|s| (format!("{s:03}"), price_of(s), 1_000_000))
        .chain(std::iter::once((
            "HOT".to_owned(),
            99_900,
            (orders / 10) as i64,
        )))
        .chain(std::iter::once(("FLS".to_owned(), 99_900, 1_000_000)));
    for (code, price, stock) in skus {
        sqlx::query(
            "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) \
             VALUES ($1, $2, 'cat-b', $3, $3, 'device', $4, 'active', 0)",
        )
        .bind(format!("p-{code}"))
        .bind(format!("B-{code}"))
        .bind(format!("Bench {code}"))
        .bind(price)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO skus (id, product_id, code, name_zh, name_en, price_fen, created_at, updated_at) \
             VALUES ($1, $2, $3, '', '', $4, 0, 0)",
        )
        .bind(format!("s-{code}"))
        .bind(format!("p-{code}"))
        .bind(format!("B-{code}"))
        .bind(price)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO stock_levels (sku_id, location_id, on_hand, reserved, updated_at) VALUES ($1, 'wh-b', $2, 0, 0)",
        )
        .bind(format!("s-{code}"))
        .bind(stock)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Signed-in customers; every other one joins the membership.
async fn customers(db: &Db, client: &reqwest::Client, base: &str) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::with_capacity(CUSTOMERS);
    for c in 0..CUSTOMERS {
        let anon = cove_core::audience::Identifier::new(
            cove_core::audience::IdType::AnonymousId,
            &new_id(),
        )?;
        let at = cove_core::clock::now();
        let mut tx = db.begin().await?;
        let profile =
            cove_core::audience::domain::profile_for(&mut tx, db.backend(), &[anon], "bench", at)
                .await?;
        let token =
            cove_core::access::customers::create_session(&mut tx, &profile, "mini_program", at)
                .await?;
        tx.commit().await?;
        if c % 2 == 0 {
            let r = client
                .post(format!("{base}/api/v1/me/membership"))
                .bearer_auth(&token)
                .json(&json!({ "name": format!("会员{c}"), "phone": format!("139{c:08}") }))
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "join: {}", r.text().await?);
        }
        tokens.push(token);
    }
    Ok(tokens)
}

/// The baseline: the order row and its line rows as checkout writes them,
/// with plain INSERTs in one transaction and nothing else.
async fn plain_insert(db: &Db, i: usize) -> anyhow::Result<()> {
    let basket = basket(i);
    let lines: Vec<(String, i64, i64)> = basket
        .into_iter()
        .map(|(sku, q)| {
            let n: usize = sku[2..].parse().unwrap_or(0);
            (sku, q, price_of(n))
        })
        .collect();
    let total: i64 = lines.iter().map(|(_, q, p)| q * p).sum();
    let order_id = new_id();
    let at = cove_core::clock::now();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO orders (id, order_no, checkout_key, channel, status, total_fen, list_fen, pricing, address, \
         expires_at, placed_at) VALUES ($1, $2, $3, 'mini_program', 'pending_payment', $4, $4, $5, $6, $7, $8)",
    )
    .bind(&order_id)
    .bind(format!("P{i:012}"))
    .bind(format!("plain-{i:08}"))
    .bind(total)
    .bind(json!({ "explanation": [{ "kind": "list", "label": "list price", "amount_fen": total }] }).to_string())
    .bind(json!({ "name": "李雷", "phone": "13800138000", "region": "上海市 浦东新区", "line": "世纪大道 100 号" }).to_string())
    .bind(at + cove_core::commerce::orders::PAYMENT_TIMEOUT)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    for (sku, q, price) in lines {
        sqlx::query(
            "INSERT INTO order_lines (id, order_id, product_id, quantity, unit_price_fen, sku_id, title, options, \
             list_unit_fen, paid_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, '[]', $5, $8)",
        )
        .bind(new_id())
        .bind(&order_id)
        .bind(format!("p-{}", &sku[2..]))
        .bind(q)
        .bind(price)
        .bind(&sku)
        .bind(format!("Bench {}", &sku[2..]))
        .bind(q * price)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `200`, or the status and error code of a failed request.
fn outcome(status: u16, body: &Value) -> String {
    match body["code"].as_str() {
        Some(code) if status != 200 => format!("{status} {code}"),
        _ => status.to_string(),
    }
}

/// Checkout, open a sandbox payment, confirm it; the first failure.
async fn checkout_and_pay(c: &Ctx, i: usize) -> anyhow::Result<String> {
    let (sku, q) = basket(i).swap_remove(0);
    let (status, placed) = c
        .checkout("d", i, json!([{ "sku_id": sku, "quantity": q }]))
        .await?;
    if status != 200 {
        return Ok(outcome(status, &placed));
    }
    let order = placed["order_id"].as_str().unwrap_or_default();
    let (status, started) = c
        .post(
            c.token(i),
            &format!("/api/v1/me/orders/{order}/pay/sandbox"),
            &json!({}),
        )
        .await?;
    if status != 200 {
        return Ok(outcome(status, &started));
    }
    let payment = started["payment"]["id"].as_str().unwrap_or_default();
    let (status, body) = c
        .post(
            c.token(i),
            &format!("/api/v1/me/payments/{payment}/sandbox-confirm"),
            &json!({}),
        )
        .await?;
    Ok(outcome(status, &body))
}

/// Flash sale: every request at once for a SKU whose sale pool is small and
/// limited to one per person; prints orders/s while the pool lasts, and
/// checks that exactly the pool was sold and nobody bought twice.
async fn flash_sale(ctx: Arc<Ctx>, orders: usize, concurrency: usize) -> anyhow::Result<()> {
    use cove_core::commerce::promotions::flash::{self, NewFlashItem, NewFlashSale};
    let pool = (orders / 10).min(CUSTOMERS / 2) as i64;
    let now = cove_core::clock::now();
    let mut tx = ctx.db.begin().await?;
    flash::create(
        &mut tx,
        &NewFlashSale {
            name: "Bench flash sale".into(),
            starts_at: now,
            ends_at: now + 3_600_000_000,
            items: vec![NewFlashItem {
                sku_id: FLASH.into(),
                price_fen: 49_900,
                pool,
                per_person_limit: 1,
            }],
        },
        now,
    )
    .await?;
    tx.commit().await?;
    let c = ctx.clone();
    let sale = drive(orders, concurrency, move |i| {
        let c = c.clone();
        async move {
            let (status, body) = c
                .checkout("f", i, json!([{ "sku_id": FLASH, "quantity": 1 }]))
                .await?;
            Ok(outcome(status, &body))
        }
    })
    .await?;
    let twice: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT o.profile_id FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE l.sku_id = $1 GROUP BY o.profile_id HAVING COUNT(*) > 1) t",
    )
    .bind(FLASH)
    .fetch_one(ctx.db.pool())
    .await?;
    println!(
        "  flash sale         {:>8.0} orders/s  ({} sold of a pool of {pool}, sold out after {:.2} s; {:.0} requests/s over {:.2} s; p50 {:.1} ms, p99 {:.1} ms; {})",
        sale.ok() as f64 / sale.last_ok.as_secs_f64().max(1e-6),
        sale.ok(),
        sale.last_ok.as_secs_f64(),
        sale.rate(orders),
        sale.elapsed.as_secs_f64(),
        sale.pct(0.50),
        sale.pct(0.99),
        sale.others(),
    );
    anyhow::ensure!(
        sale.ok() as i64 == pool && twice == 0,
        "flash sale oversold or a buyer bought twice: {} orders of {pool}, {twice} buyers twice",
        sale.ok()
    );
    println!("                     pool check: {pool} sold, no buyer bought twice");
    Ok(())
}
