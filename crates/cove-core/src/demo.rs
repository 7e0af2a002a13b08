//! The demo brand: Aurora Computing (极光电脑), a fictional computer maker with
//! its stores, resellers, team, catalog, members, devices, orders and events
//! over the past three years. Deterministic for a given seed.

mod audience;
mod bulk;
mod calendar;
mod catalog;
mod channels;
mod customers;
mod events;
mod field;
mod history;
mod membership;
mod network;
mod notifications;
mod orders;
mod promotions;
mod team;
#[cfg(test)]
mod tests;

use crate::clock::DAY;
use crate::db::Db;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The password of every demo sign-in (demo data only).
pub const DEMO_PASSWORD: &str = "aurora-demo-2026";

pub struct Options {
    pub members: usize,
    pub seed: u64,
    /// Base URL printed in the summary and written to `demo.json`.
    pub public_url: String,
    /// Seals the demo's channel secrets.
    pub vault: crate::vault::Vault,
}

pub struct Report {
    /// What `demo.json` holds: URLs, sign-ins, keys, channel credentials.
    pub manifest: Value,
    /// What the command prints.
    pub summary: String,
}

/// Seeds the brand once; a second run leaves the data as it is and reports it again.
pub async fn seed(db: &Db, options: &Options) -> anyhow::Result<Report> {
    let already: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'demo.seeded'")
            .fetch_optional(db.pool())
            .await?;
    let started = Instant::now();
    let mut phases = Vec::new();
    if already.is_none() {
        phases = seed_brand(db, options).await?;
        sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('demo.seeded', $1, $2)")
            .bind(json!({ "members": options.members, "seed": options.seed }).to_string())
            .bind(crate::clock::now())
            .execute(db.pool())
            .await?;
    }
    let channels = channels::seed(db, options).await?;
    let t = Instant::now();
    let counts = Counts::load(db).await?;
    phases.push(("counts".to_owned(), t.elapsed()));
    let sign_ins = team::sign_ins();
    let url = options.public_url.trim_end_matches('/').to_owned();
    let member_link = member_sign_in(db, &url, 0).await?;
    let shopper_link = member_sign_in(db, &url, 1).await?;
    let support_link = member_sign_in(db, &url, 2).await?;
    let service_link = sign_in_link(db, &url, field::service_member(db).await?).await?;
    let guest_link = guest_sign_in(db, &url, &channels).await?;
    let device_code = device_code_url(db, options, &url).await?;
    let manifest = json!({
        "brand": { "name_zh": "极光电脑", "name_en": "Aurora Computing" },
        "urls": {
            "console": format!("{url}/admin"),
            "storefront": format!("{url}/"),
            "api_docs": format!("{url}/api/docs"),
            "openapi": format!("{url}/openapi.json"),
        },
        "counts": counts,
        "sources": channels["sources"],
        "wechat": channels["wechat"],
        "qr_scenes": channels["qr_scenes"],
        "password": DEMO_PASSWORD,
        "member_sign_in": member_link,
        // A second member's link, so trying the shop leaves the first one unused.
        "shopper_sign_in": shopper_link,
        // A third, for opening a ticket from the storefront.
        "support_sign_in": support_link,
        // A member whose device has on-site cover, to book a repair.
        "service_sign_in": service_link,
        // A customer known from the Mini Program (phone verified) who has not joined yet.
        "guest_sign_in": guest_link,
        // The printed QR code of a device nobody has bound yet, as a phone would open it.
        "device_code_url": device_code,
        "sign_ins": sign_ins.iter().map(|(role, email)| json!({ "role": role, "email": email, "password": DEMO_PASSWORD })).collect::<Vec<_>>(),
    });
    let mut summary = String::new();
    if already.is_some() {
        summary.push_str("The demo brand was already seeded; its data is unchanged.\n");
    } else {
        summary.push_str(&format!(
            "Seeded Aurora Computing (极光电脑) in {:.1} s.\n",
            started.elapsed().as_secs_f64()
        ));
    }
    summary.push_str(&counts.describe());
    if !phases.is_empty() {
        summary.push_str("Phases:");
        for (name, took) in &phases {
            summary.push_str(&format!(" {name} {:.2} s", took.as_secs_f64()));
            summary.push_str(if name == "events" { ")," } else { "," });
        }
        summary.pop();
        summary.push_str(".\n");
    }
    summary.push_str(&format!(
        "Console: {url}/admin   Storefront: {url}/   API: {url}/api/docs\n"
    ));
    summary.push_str(&format!(
        "Sign in with any of these (password {DEMO_PASSWORD}):\n"
    ));
    for (role, email) in &sign_ins {
        summary.push_str(&format!("  {role:<20} {email}\n"));
    }
    if let Some(url) = member_link["url"].as_str() {
        summary.push_str(&format!(
            "Storefront as a member (one-time link, 7 days): {url}\n"
        ));
    }
    Ok(Report { manifest, summary })
}

/// (member no, name, profile) of the demo's best member (`rank` 0), the second best (1), ...
async fn ranked_member(db: &Db, rank: i64) -> anyhow::Result<Option<(String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT m.member_no, m.name, m.profile_id FROM members m JOIN tiers t ON t.code = m.tier \
         WHERE m.profile_id IS NOT NULL AND m.merged_into IS NULL ORDER BY t.rank DESC, m.growth DESC, m.id LIMIT 1 OFFSET $1",
    )
    .bind(rank)
    .fetch_optional(db.pool())
    .await?)
}

/// A fresh one-time storefront sign-in link for the demo's best member
/// (`rank` 0), the second best (1), ...
async fn member_sign_in(db: &Db, url: &str, rank: i64) -> anyhow::Result<Value> {
    let member = ranked_member(db, rank).await?;
    sign_in_link(db, url, member).await
}

/// A one-time storefront sign-in link (7 days) for (member_no, name, profile).
async fn sign_in_link(
    db: &Db,
    url: &str,
    member: Option<(String, String, String)>,
) -> anyhow::Result<Value> {
    let Some((member_no, name, profile)) = member else {
        return Ok(Value::Null);
    };
    let mut conn = db.pool().acquire().await?;
    let token =
        crate::access::customers::create_link(&mut conn, &profile, 7 * DAY, crate::clock::now())
            .await?;
    Ok(json!({ "member_no": member_no, "name": name, "url": format!("{url}/me/link/{token}") }))
}

/// The demo's customer who has not joined: a carrier prefix no generated
/// member uses, so the number is free to join with.
const GUEST_PHONE: &str = "+8617012345678";
const GUEST_OPEN_ID: &str = "oAuroraDemoGuest";

/// A one-time storefront sign-in link (7 days) for a customer the Mini
/// Program knows by openid and verified phone, not a member: the same
/// profile on every run, so it joins once.
async fn guest_sign_in(db: &Db, url: &str, channels: &Value) -> anyhow::Result<Value> {
    use crate::audience::{domain, IdType, Identifier};
    let mut ids = vec![Identifier::new(IdType::Phone, GUEST_PHONE)?];
    if let Some(app_id) = channels["wechat"]["mini_program"]["app_id"].as_str() {
        ids.push(Identifier::new(
            IdType::OpenId(app_id.to_owned()),
            GUEST_OPEN_ID,
        )?);
    }
    let now = crate::clock::now();
    let mut tx = db.begin().await?;
    let profile = domain::profile_for(&mut tx, db.backend(), &ids, "demo.guest", now).await?;
    let token = crate::access::customers::create_link(&mut tx, &profile, 7 * DAY, now).await?;
    tx.commit().await?;
    Ok(json!({ "phone": GUEST_PHONE, "url": format!("{url}/me/link/{token}") }))
}

/// Seeds the network, team, catalog and three years of history; returns the
/// time each phase took.
async fn seed_brand(db: &Db, options: &Options) -> anyhow::Result<Vec<(String, Duration)>> {
    anyhow::ensure!(
        options.members <= 50_000_000,
        "the demo brand has at most 50,000,000 members"
    );
    let mut phases = Vec::new();
    let now = crate::clock::now();
    let t = Instant::now();
    team::seed(db, options).await?;
    phases.push(("team".to_owned(), t.elapsed()));
    let t = Instant::now();
    let calendar = calendar::Calendar::new(now)?;
    let products = catalog::seed(db, calendar.start).await?;
    let network = network::Network::load(db).await?;
    catalog::seed_commerce(db, &products, calendar.start).await?;
    phases.push(("catalog".to_owned(), t.elapsed()));
    let world = history::World {
        pickers: customers::Pickers::new(&network, options.seed)?,
        shelf: orders::Shelf::new(&products, calendar.start + 540 * DAY)?,
        calendar,
        products,
        network,
    };
    let timings = history::seed(db, world, options.members, options.seed).await?;
    phases.extend([
        ("history".to_owned(), timings.total),
        ("(within it: generating".to_owned(), timings.generate),
        ("writing members".to_owned(), timings.members),
        ("orders".to_owned(), timings.orders),
        ("order lines".to_owned(), timings.lines),
        ("devices".to_owned(), timings.devices),
        ("events".to_owned(), timings.events),
    ]);
    let t = Instant::now();
    membership::seed(db, now).await?;
    phases.push(("membership".to_owned(), t.elapsed()));
    let t = Instant::now();
    promotions::seed(db, now).await?;
    phases.push(("promotions".to_owned(), t.elapsed()));
    let t = Instant::now();
    field::seed(db, now).await?;
    phases.push(("field service".to_owned(), t.elapsed()));
    let t = Instant::now();
    audience::seed(db, now).await?;
    phases.push(("tags and audiences".to_owned(), t.elapsed()));
    Ok(phases)
}

/// What the demo holds, as `demo.json` and the summary report it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counts {
    pub members: i64,
    /// Members with at least one paid order (completed, shipped or paid).
    pub buyers: i64,
    /// Buyers with two or more paid orders.
    pub repeat_buyers: i64,
    pub repeat_purchase_rate: f64,
    pub orders: i64,
    pub paid_orders: i64,
    /// Gross merchandise value of paid orders.
    pub gmv_fen: i64,
    pub average_order_value_fen: i64,
    /// GMV per buyer over the three years.
    pub lifetime_value_fen: i64,
    pub devices: i64,
    pub devices_bound: i64,
    pub members_with_bound_device: i64,
    pub events: i64,
    /// Visits: Mini Program opens and storefront home pages.
    pub visits: i64,
    pub visits_per_member: f64,
    pub tiers: std::collections::BTreeMap<String, i64>,
    pub joined_channels: std::collections::BTreeMap<String, i64>,
    pub order_channels: std::collections::BTreeMap<String, i64>,
}

const PAID: &str = "status IN ('completed', 'shipped', 'paid')";

impl Counts {
    pub async fn load(db: &Db) -> anyhow::Result<Self> {
        let pool = db.pool();
        let count =
            |sql: String| async move { sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await };
        let groups = |sql: &'static str| async move {
            let rows: Vec<(String, i64)> = sqlx::query_as(sql).fetch_all(pool).await?;
            Ok::<_, sqlx::Error>(
                rows.into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>(),
            )
        };
        let members = count("SELECT COUNT(*) FROM members".into()).await?;
        let (buyers, repeat_buyers): (i64, i64) = sqlx::query_as(&format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM (SELECT member_id, COUNT(*) AS n FROM orders WHERE {PAID} AND member_id IS NOT NULL GROUP BY member_id) per_member"
        ))
        .fetch_one(pool)
        .await?;
        let orders = count("SELECT COUNT(*) FROM orders".into()).await?;
        let (paid_orders, gmv_fen): (i64, i64) = sqlx::query_as(&format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(total_fen), 0) AS BIGINT) FROM orders WHERE {PAID}"
        ))
        .fetch_one(pool)
        .await?;
        let devices = count("SELECT COUNT(*) FROM devices".into()).await?;
        let devices_bound =
            count("SELECT COUNT(*) FROM devices WHERE member_id IS NOT NULL".into()).await?;
        let members_with_bound_device = count(
            "SELECT COUNT(DISTINCT member_id) FROM devices WHERE member_id IS NOT NULL".into(),
        )
        .await?;
        let events = count("SELECT COUNT(*) FROM events".into()).await?;
        let visits = count(
            "SELECT COUNT(*) FROM events WHERE name IN ('Mini Program Opened', 'Home')".into(),
        )
        .await?;
        let ratio = |a: i64, b: i64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        Ok(Self {
            members,
            buyers,
            repeat_buyers,
            repeat_purchase_rate: (ratio(repeat_buyers, buyers) * 10_000.0).round() / 10_000.0,
            orders,
            paid_orders,
            gmv_fen,
            average_order_value_fen: ratio(gmv_fen, paid_orders) as i64,
            lifetime_value_fen: ratio(gmv_fen, buyers) as i64,
            devices,
            devices_bound,
            members_with_bound_device,
            events,
            visits,
            visits_per_member: (ratio(visits, members) * 100.0).round() / 100.0,
            tiers: groups("SELECT tier, COUNT(*) FROM members GROUP BY tier").await?,
            joined_channels: groups(
                "SELECT joined_channel, COUNT(*) FROM members GROUP BY joined_channel",
            )
            .await?,
            order_channels: groups("SELECT channel, COUNT(*) FROM orders GROUP BY channel").await?,
        })
    }

    /// The counts as summary lines.
    pub fn describe(&self) -> String {
        let pct = |a: i64, b: i64| {
            if b > 0 {
                100.0 * a as f64 / b as f64
            } else {
                0.0
            }
        };
        let tiers = ["regular", "silver", "gold", "diamond"]
            .iter()
            .map(|t| {
                let n = self.tiers.get(*t).copied().unwrap_or(0);
                format!("{t} {:.1}%", pct(n, self.members))
            })
            .collect::<Vec<_>>()
            .join(", ");
        // An indicative rate for the case's US-dollar figure.
        const CNY_PER_USD: f64 = 7.2;
        format!(
            "Members {} ({tiers}); {:.1}% bound a device; {:.1} visits each, {} events.\n\
             Orders {} ({} paid) from {} buyers; GMV ¥{}; average order ¥{}; \
             repeat purchase rate {:.1}%; lifetime value ¥{} (about US${}).\n\
             Devices {} ({} bound, {:.1}%).\n",
            thousands(self.members),
            pct(self.members_with_bound_device, self.members),
            self.visits_per_member,
            thousands(self.events),
            thousands(self.orders),
            thousands(self.paid_orders),
            thousands(self.buyers),
            thousands(self.gmv_fen / 100),
            thousands(self.average_order_value_fen / 100),
            100.0 * self.repeat_purchase_rate,
            thousands(self.lifetime_value_fen / 100),
            thousands((self.lifetime_value_fen as f64 / 100.0 / CNY_PER_USD) as i64),
            thousands(self.devices),
            thousands(self.devices_bound),
            pct(self.devices_bound, self.devices),
        )
    }
}

/// 1234567 as "1,234,567".
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The signed code URL of an unbound, not yet activated demo device.
async fn device_code_url(db: &Db, options: &Options, url: &str) -> anyhow::Result<Option<String>> {
    let tag: Option<String> = sqlx::query_scalar(
        "SELECT service_tag FROM devices WHERE member_id IS NULL AND activated_at IS NULL \
         ORDER BY service_tag LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await?;
    let Some(tag) = tag else {
        return Ok(None);
    };
    let key = crate::service::qr::SigningKey::load(db, &options.vault).await?;
    Ok(Some(key.device_url(
        url,
        &crate::service::ServiceTag::parse(&tag)?,
    )))
}
