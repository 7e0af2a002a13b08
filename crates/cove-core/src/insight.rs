//! Insight: KPIs, funnels and reports over the brand's data.
//!
//! Every query takes a [`Scope`] so a store's staff or a reseller sees only
//! the members and orders attributed to them. An order counts once paid
//! (`paid_at` set) unless cancelled or refunded; GMV is the sum of those
//! orders' totals in fen. Months are
//! calendar months in the brand's zone (China, UTC+8, no daylight saving).

use crate::clock::{Micros, DAY, HOUR};
use crate::db::Db;
use crate::error::Result;
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// The brand's reporting zone, as an offset from UTC.
pub const REPORT_OFFSET: Micros = 8 * HOUR;

/// Whose figures: everything, one store, or one reseller's stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    pub store: Option<&'a str>,
    pub reseller: Option<&'a str>,
}

impl<'a> Scope<'a> {
    pub const ALL: Scope<'static> = Scope {
        store: None,
        reseller: None,
    };

    /// The scope a principal works in: store staff their store, resellers
    /// their reseller, everyone else the whole brand. A scoped role without
    /// its store or reseller sees nothing rather than everything.
    pub fn of(principal: &'a crate::access::Principal) -> Scope<'a> {
        use crate::access::Role;
        match principal.role {
            Role::StoreStaff => Scope {
                store: Some(principal.store_id.as_deref().unwrap_or("")),
                reseller: None,
            },
            Role::Reseller => Scope {
                store: None,
                reseller: Some(principal.reseller_id.as_deref().unwrap_or("")),
            },
            _ => Scope::ALL,
        }
    }

    pub fn is_all(&self) -> bool {
        self.store.is_none() && self.reseller.is_none()
    }
}

/// Members within a scope (alias `m`), placeholders `$1` (store) and `$2` (reseller).
const MEMBER_SCOPE: &str = "($1 IS NULL OR m.store_id = $1) \
     AND ($2 IS NULL OR m.store_id IN (SELECT s.id FROM stores s WHERE s.reseller_id = $2))";

/// Orders within a scope (alias `o`), placeholders `$1` (store) and `$2` (reseller).
const ORDER_SCOPE: &str = "($1 IS NULL OR o.store_id = $1) \
     AND ($2 IS NULL OR o.reseller_id = $2 \
          OR o.store_id IN (SELECT s.id FROM stores s WHERE s.reseller_id = $2))";

/// Orders that count (alias `o`): paid, and not cancelled or refunded since.
const COUNTED_ORDER: &str = "o.paid_at IS NOT NULL AND o.status NOT IN ('cancelled', 'refunded')";

/// The headline figures of the console's home page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Kpis {
    pub members: i64,
    pub new_members_30d: i64,
    pub orders_30d: i64,
    pub gmv_30d_fen: i64,
    /// Members with at least one paid order in the past three years.
    pub buyers_3y: i64,
    /// Of those, members with two or more.
    pub repeat_buyers_3y: i64,
    /// Members who have bound at least one device.
    pub members_with_device: i64,
}

impl Kpis {
    /// Three-year repeat purchase rate, 0–1; `None` without buyers.
    pub fn repeat_rate(&self) -> Option<f64> {
        ratio(self.repeat_buyers_3y, self.buyers_3y)
    }

    /// Share of members who bound a device, 0–1; `None` without members.
    pub fn binding_rate(&self) -> Option<f64> {
        ratio(self.members_with_device, self.members)
    }
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

pub async fn kpis(db: &Db, scope: Scope<'_>, now: Micros) -> Result<Kpis> {
    let since_30d = now - 30 * DAY;
    let since_3y = now - 3 * 365 * DAY;
    let members = sqlx::query(&format!(
        "SELECT COUNT(*) AS members, \
                CAST(COALESCE(SUM(CASE WHEN m.joined_at >= $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS new_members \
         FROM members m WHERE {MEMBER_SCOPE}"
    ))
    .bind(scope.store)
    .bind(scope.reseller)
    .bind(since_30d)
    .fetch_one(db.read())
    .await?;
    let orders = sqlx::query(&format!(
        "SELECT COUNT(*) AS orders, CAST(COALESCE(SUM(o.total_fen), 0) AS BIGINT) AS gmv \
         FROM orders o WHERE {COUNTED_ORDER} AND o.placed_at >= $3 AND {ORDER_SCOPE}"
    ))
    .bind(scope.store)
    .bind(scope.reseller)
    .bind(since_30d)
    .fetch_one(db.read())
    .await?;
    let repeat = sqlx::query(&format!(
        "SELECT COUNT(*) AS buyers, \
                CAST(COALESCE(SUM(CASE WHEN b.n >= 2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS repeaters \
         FROM (SELECT o.member_id, COUNT(*) AS n FROM orders o \
               WHERE o.member_id IS NOT NULL AND {COUNTED_ORDER} AND o.placed_at >= $3 AND {ORDER_SCOPE} \
               GROUP BY o.member_id) b"
    ))
    .bind(scope.store)
    .bind(scope.reseller)
    .bind(since_3y)
    .fetch_one(db.read())
    .await?;
    let members_with_device: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM members m WHERE {MEMBER_SCOPE} \
         AND EXISTS (SELECT 1 FROM devices d WHERE d.member_id = m.id AND d.bound_at IS NOT NULL)"
    ))
    .bind(scope.store)
    .bind(scope.reseller)
    .fetch_one(db.read())
    .await?;
    Ok(Kpis {
        members: members.try_get("members")?,
        new_members_30d: members.try_get("new_members")?,
        orders_30d: orders.try_get("orders")?,
        gmv_30d_fen: orders.try_get("gmv")?,
        buyers_3y: repeat.try_get("buyers")?,
        repeat_buyers_3y: repeat.try_get("repeaters")?,
        members_with_device,
    })
}

/// One calendar month in the reporting zone: `[start, end)` in UTC microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Month {
    /// `YYYY-MM`.
    pub label: String,
    pub start: Micros,
    pub end: Micros,
}

fn month_start(year: i32, month: u32) -> Option<Micros> {
    let date = NaiveDate::from_ymd_opt(year, month, 1)?;
    let utc = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros();
    Some(utc - REPORT_OFFSET)
}

/// The last `count` calendar months up to and including the one holding `now`, oldest first.
pub fn months_until(now: Micros, count: usize) -> Vec<Month> {
    let local = crate::clock::to_datetime(now + REPORT_OFFSET);
    let current = local.year() * 12 + local.month0() as i32;
    (0..count as i32)
        .rev()
        .filter_map(|back| {
            let index = current - back;
            let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
            let next = index + 1;
            let end = month_start(next.div_euclid(12), next.rem_euclid(12) as u32 + 1)?;
            Some(Month {
                label: format!("{year:04}-{month:02}"),
                start: month_start(year, month)?,
                end,
            })
        })
        .collect()
}

/// Paid orders and GMV per month, one series per sales channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthlySales {
    pub months: Vec<Month>,
    pub channels: Vec<ChannelSales>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelSales {
    pub channel: String,
    /// Aligned with [`MonthlySales::months`].
    pub orders: Vec<i64>,
    pub gmv_fen: Vec<i64>,
}

/// Paid orders and GMV by month and channel over the last `months` months.
pub async fn monthly_sales(
    db: &Db,
    scope: Scope<'_>,
    now: Micros,
    months: usize,
) -> Result<MonthlySales> {
    let months = months_until(now, months);
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok(MonthlySales {
            months,
            channels: Vec::new(),
        });
    };
    // Bucket by comparing against month starts bound as parameters: portable
    // across both databases, and each bucket is an index range on placed_at.
    let mut bucket = String::from("CASE");
    for (i, _) in months.iter().enumerate().skip(1).rev() {
        bucket.push_str(&format!(" WHEN o.placed_at >= ${} THEN {i}", i + 4));
    }
    bucket.push_str(" ELSE 0 END");
    let sql = format!(
        "SELECT CAST({bucket} AS BIGINT) AS bucket, o.channel AS channel, COUNT(*) AS orders, \
                CAST(COALESCE(SUM(o.total_fen), 0) AS BIGINT) AS gmv \
         FROM orders o WHERE {COUNTED_ORDER} AND o.placed_at >= $3 AND o.placed_at < $4 AND {ORDER_SCOPE} \
         GROUP BY 1, 2"
    );
    let mut query = sqlx::query(&sql)
        .bind(scope.store)
        .bind(scope.reseller)
        .bind(first.start)
        .bind(last.end);
    for month in months.iter().skip(1) {
        query = query.bind(month.start);
    }
    let rows = query.fetch_all(db.read()).await?;
    let mut by_channel: BTreeMap<String, ChannelSales> = BTreeMap::new();
    for row in rows {
        let bucket: i64 = row.try_get("bucket")?;
        let channel: String = row.try_get("channel")?;
        let series = by_channel
            .entry(channel.clone())
            .or_insert_with(|| ChannelSales {
                channel,
                orders: vec![0; months.len()],
                gmv_fen: vec![0; months.len()],
            });
        let i = usize::try_from(bucket).unwrap_or(0);
        if let (Some(o), Some(g)) = (series.orders.get_mut(i), series.gmv_fen.get_mut(i)) {
            *o += row.try_get::<i64, _>("orders")?;
            *g += row.try_get::<i64, _>("gmv")?;
        }
    }
    let mut channels: Vec<ChannelSales> = by_channel.into_values().collect();
    channels.sort_by_key(|c| std::cmp::Reverse(c.gmv_fen.iter().sum::<i64>()));
    Ok(MonthlySales { months, channels })
}

/// Members by the channel they joined through, largest first.
pub async fn members_by_channel(db: &Db, scope: Scope<'_>) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(&format!(
        "SELECT m.joined_channel AS channel, COUNT(*) AS n FROM members m WHERE {MEMBER_SCOPE} \
         GROUP BY m.joined_channel ORDER BY n DESC, channel"
    ))
    .bind(scope.store)
    .bind(scope.reseller)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("channel")?, r.try_get("n")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::new_id;

    #[test]
    fn months_are_calendar_months_in_china_time() {
        // 2026-03-01 00:30 in Shanghai is still February in UTC.
        let now = NaiveDate::from_ymd_opt(2026, 2, 28)
            .unwrap()
            .and_hms_opt(16, 30, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        let months = months_until(now, 14);
        assert_eq!(months.len(), 14);
        assert_eq!(months.last().unwrap().label, "2026-03");
        assert_eq!(months.first().unwrap().label, "2025-02");
        assert!(months.windows(2).all(|w| w[0].end == w[1].start));
        let march = months.last().unwrap();
        assert!(march.start <= now && now < march.end);
        // February 2025 has 28 days.
        assert_eq!(months[0].end - months[0].start, 28 * DAY);
    }

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect_url(&url).await.unwrap();
        db.migrate().await.unwrap();
        (dir, db)
    }

    async fn exec(db: &Db, sql: &str) {
        sqlx::query(sql).execute(db.pool()).await.unwrap();
    }

    #[tokio::test]
    async fn empty_tables_give_zeros_and_no_rates() {
        let (_dir, db) = db().await;
        let k = kpis(&db, Scope::ALL, crate::clock::now()).await.unwrap();
        assert_eq!(k, Kpis::default());
        assert_eq!(k.repeat_rate(), None);
        assert_eq!(k.binding_rate(), None);
        let sales = monthly_sales(&db, Scope::ALL, crate::clock::now(), 36)
            .await
            .unwrap();
        assert_eq!(sales.months.len(), 36);
        assert!(sales.channels.is_empty());
        assert!(members_by_channel(&db, Scope::ALL)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn figures_respect_store_and_reseller_scopes() {
        let (_dir, db) = db().await;
        let now = crate::clock::now();
        exec(&db, "INSERT INTO resellers (id, code, name, city, created_at) VALUES ('r1', 'R1', 'R', 'X', 0)").await;
        exec(&db, "INSERT INTO stores (id, code, name, kind, city, reseller_id, created_at) VALUES ('s1', 'S1', 'A', 'store', 'X', NULL, 0), ('s2', 'S2', 'B', 'reseller_store', 'X', 'r1', 0)").await;
        exec(&db, "INSERT INTO categories (id, code, name_zh, name_en) VALUES ('c', 'laptops', '笔记本', 'Laptops')").await;
        exec(&db, "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) VALUES ('p', 'P', 'c', 'P', 'P', 'device', 100, 'active', 0)").await;
        // m1 at store s1 (joined long ago), m2 and m3 at the reseller's store s2 (joined recently).
        let old = now - 400 * DAY;
        let recent = now - 2 * DAY;
        for (id, store, joined, channel) in [
            ("m1", "s1", old, "store"),
            ("m2", "s2", recent, "mini_program"),
            ("m3", "s2", recent, "mini_program"),
        ] {
            sqlx::query("INSERT INTO members (id, member_no, name, city, tier, joined_channel, store_id, joined_at) VALUES ($1, $1, 'n', 'X', 'silver', $2, $3, $4)")
                .bind(id).bind(channel).bind(store).bind(joined)
                .execute(db.pool()).await.unwrap();
        }
        exec(&db, &format!("INSERT INTO devices (service_tag, product_id, shipped_at, warranty_ends_at, member_id, bound_at) VALUES ('T1', 'p', 0, 0, 'm2', {recent}), ('T2', 'p', 0, 0, 'm2', {recent}), ('T3', 'p', 0, 0, NULL, NULL)")).await;
        // m1 buys twice at s1 (one long ago), m2 once through the reseller; one unpaid order.
        for (member, store, reseller, total, placed, paid) in [
            ("m1", Some("s1"), None, 1000, old, true),
            ("m1", Some("s1"), None, 2000, recent, true),
            ("m2", Some("s2"), Some("r1"), 5000, recent, true),
            ("m3", Some("s2"), Some("r1"), 7000, recent, false),
        ] {
            let id = new_id();
            sqlx::query("INSERT INTO orders (id, order_no, member_id, channel, store_id, reseller_id, status, total_fen, placed_at, paid_at) VALUES ($1, $1, $2, 'store', $3, $4, 'paid', $5, $6, $7)")
                .bind(&id).bind(member).bind(store).bind(reseller).bind(total as i64).bind(placed).bind(paid.then_some(placed))
                .execute(db.pool()).await.unwrap();
        }

        let all = kpis(&db, Scope::ALL, now).await.unwrap();
        assert_eq!(
            all,
            Kpis {
                members: 3,
                new_members_30d: 2,
                orders_30d: 2,
                gmv_30d_fen: 7000,
                buyers_3y: 2,
                repeat_buyers_3y: 1,
                members_with_device: 1,
            }
        );
        assert_eq!(all.repeat_rate(), Some(0.5));

        let store = kpis(
            &db,
            Scope {
                store: Some("s1"),
                reseller: None,
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            (store.members, store.orders_30d, store.gmv_30d_fen),
            (1, 1, 2000)
        );
        assert_eq!(store.binding_rate(), Some(0.0));

        let reseller = kpis(
            &db,
            Scope {
                store: None,
                reseller: Some("r1"),
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            (
                reseller.members,
                reseller.new_members_30d,
                reseller.gmv_30d_fen
            ),
            (2, 2, 5000)
        );
        assert_eq!(reseller.binding_rate(), Some(0.5));

        let nobody = kpis(
            &db,
            Scope {
                store: Some(""),
                reseller: None,
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!(nobody, Kpis::default());

        let sales = monthly_sales(&db, Scope::ALL, now, 36).await.unwrap();
        assert_eq!(sales.channels.len(), 1);
        let store_channel = &sales.channels[0];
        assert_eq!(store_channel.orders.iter().sum::<i64>(), 3);
        assert_eq!(store_channel.gmv_fen.iter().sum::<i64>(), 8000);
        assert_eq!(
            *store_channel.gmv_fen.last().unwrap()
                + *store_channel.gmv_fen.iter().rev().nth(1).unwrap(),
            7000,
            "recent orders fall in the last two months"
        );

        let joined = members_by_channel(
            &db,
            Scope {
                store: None,
                reseller: Some("r1"),
            },
        )
        .await
        .unwrap();
        assert_eq!(joined, vec![("mini_program".to_owned(), 2)]);
    }
}
