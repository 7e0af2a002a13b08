//! Stock staff manage: locations (warehouses and offline stores), on-hand
//! counts per SKU and location, and every change to them as a movement.
//! Reservations (what orders hold) are [`super::stock`]'s; a change here
//! never takes on hand below what is reserved.

use super::products::{check_code, skus};
use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{backend_of, list_query_as, new_id, numbered, Backend, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Location {
    pub id: String,
    pub code: String,
    pub name: String,
    /// `warehouse` or `store`.
    pub kind: String,
    pub store_id: Option<String>,
    pub store_code: Option<String>,
    /// Online orders draw on it.
    pub ships_online: bool,
    /// Lower is drawn on first.
    pub priority: i64,
    pub created_at: Micros,
}

#[derive(sqlx::FromRow)]
struct LocationRow {
    id: String,
    code: String,
    name: String,
    kind: String,
    store_id: Option<String>,
    store_code: Option<String>,
    ships_online: i64,
    priority: i64,
    created_at: i64,
}

impl From<LocationRow> for Location {
    fn from(r: LocationRow) -> Self {
        Location {
            id: r.id,
            code: r.code,
            name: r.name,
            kind: r.kind,
            store_id: r.store_id,
            store_code: r.store_code,
            ships_online: r.ships_online != 0,
            priority: r.priority,
            created_at: r.created_at,
        }
    }
}

const LOCATION_SELECT: &str =
    "SELECT l.id, l.code, l.name, l.kind, l.store_id, s.code AS store_code, l.ships_online, \
     l.priority, l.created_at FROM stock_locations l LEFT JOIN stores s ON s.id = l.store_id";

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LocationInput {
    pub code: String,
    pub name: String,
    pub kind: String,
    /// For a store location, the store's code.
    #[serde(default)]
    pub store_code: Option<String>,
    #[serde(default = "yes")]
    pub ships_online: bool,
    #[serde(default)]
    pub priority: i64,
}

fn yes() -> bool {
    true
}

pub async fn list_locations(conn: &mut Conn) -> Result<Vec<Location>> {
    let rows =
        sqlx::query_as::<_, LocationRow>(&format!("{LOCATION_SELECT} ORDER BY l.priority, l.code"))
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(Location::from).collect())
}

pub async fn find_location(conn: &mut Conn, code: &str) -> Result<Option<Location>> {
    let row = sqlx::query_as::<_, LocationRow>(&format!("{LOCATION_SELECT} WHERE l.code = $1"))
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(Location::from))
}

async fn store_id(conn: &mut Conn, input: &LocationInput) -> Result<Option<String>> {
    match (
        input.kind.as_str(),
        input.store_code.as_deref().filter(|s| !s.is_empty()),
    ) {
        ("warehouse", None) => Ok(None),
        ("warehouse", Some(_)) => Err(Error::invalid(
            "store_not_allowed",
            "a warehouse is not a store",
        )),
        ("store", Some(code)) => {
            let id: Option<String> = sqlx::query_scalar("SELECT id FROM stores WHERE code = $1")
                .bind(code)
                .fetch_optional(&mut *conn)
                .await?;
            id.map(Some)
                .ok_or_else(|| Error::invalid("unknown_store", format!("no store {code}")))
        }
        ("store", None) => Err(Error::invalid(
            "store_required",
            "a store location names its store",
        )),
        _ => Err(Error::invalid(
            "invalid_kind",
            "a location is a warehouse or a store",
        )),
    }
}

/// Creates the location or updates the one with this code.
pub async fn save_location(
    conn: &mut Conn,
    actor: &Actor,
    input: &LocationInput,
) -> Result<Location> {
    check_code(&input.code, "a location")?;
    if input.name.trim().is_empty() || input.name.chars().count() > 200 {
        return Err(Error::invalid(
            "name_required",
            "a location has a name of 1–200 characters",
        ));
    }
    let store = store_id(conn, input).await?;
    sqlx::query(
        "INSERT INTO stock_locations (id, code, name, kind, store_id, ships_online, priority, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (code) DO UPDATE SET name = excluded.name, \
         kind = excluded.kind, store_id = excluded.store_id, ships_online = excluded.ships_online, priority = excluded.priority",
    )
    .bind(new_id())
    .bind(&input.code)
    .bind(&input.name)
    .bind(&input.kind)
    .bind(&store)
    .bind(i64::from(input.ships_online))
    .bind(input.priority)
    .bind(clock::now())
    .execute(&mut *conn)
    .await?;
    let location = find_location(conn, &input.code)
        .await?
        .ok_or(Error::not_found("location"))?;
    audit::record(
        conn,
        actor,
        "catalog.location.save",
        "stock_location",
        Some(&location.id),
        json!({ "code": input.code, "kind": input.kind, "store": input.store_code, "ships_online": input.ships_online }),
    )
    .await?;
    Ok(location)
}

/// Why on hand changes when staff change it.
pub const REASONS: [&str; 4] = ["receipt", "damage", "count", "correction"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Level {
    pub sku_id: String,
    pub sku_code: String,
    pub product_code: String,
    pub name_zh: String,
    pub name_en: String,
    pub location_id: String,
    pub location_code: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub sellable: i64,
    pub updated_at: Micros,
}

const LEVEL_SELECT: &str = "SELECT k.sku_id, s.code AS sku_code, p.code AS product_code, s.name_zh, s.name_en, \
     k.location_id, l.code AS location_code, k.on_hand, k.reserved, k.on_hand - k.reserved AS sellable, k.updated_at \
     FROM stock_levels k JOIN skus s ON s.id = k.sku_id JOIN products p ON p.id = s.product_id \
     JOIN stock_locations l ON l.id = k.location_id";

/// Stock levels, optionally of one SKU or location, or only those whose
/// sellable count is at most `low` (the low-stock list).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct LevelFilter {
    pub sku: Option<String>,
    pub location: Option<String>,
    pub low: Option<i64>,
}

pub async fn levels(conn: &mut Conn, filter: &LevelFilter) -> Result<Vec<Level>> {
    Ok(sqlx::query_as::<_, Level>(&format!(
        "{LEVEL_SELECT} WHERE ($1 IS NULL OR s.code = $1) AND ($2 IS NULL OR l.code = $2) \
         AND ($3 IS NULL OR k.on_hand - k.reserved <= $3) ORDER BY s.code, l.priority, l.code LIMIT 2000"
    ))
    .bind(filter.sku.as_deref().filter(|s| !s.is_empty()))
    .bind(filter.location.as_deref().filter(|s| !s.is_empty()))
    .bind(filter.low)
    .fetch_all(&mut *conn)
    .await?)
}

/// Active SKUs sellable online at most `threshold`, summed over the
/// locations that ship online: (sku code, product code, sellable).
pub async fn low_stock(conn: &mut Conn, threshold: i64) -> Result<Vec<(String, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT s.code, p.code, CAST(COALESCE(SUM(CASE WHEN l.ships_online = 1 THEN k.on_hand - k.reserved ELSE 0 END), 0) AS BIGINT) AS sellable \
         FROM skus s JOIN products p ON p.id = s.product_id \
         LEFT JOIN stock_levels k ON k.sku_id = s.id LEFT JOIN stock_locations l ON l.id = k.location_id \
         WHERE s.status = 'active' AND p.status = 'active' AND p.kind IN ('device', 'accessory') \
         GROUP BY s.code, p.code \
         HAVING CAST(COALESCE(SUM(CASE WHEN l.ships_online = 1 THEN k.on_hand - k.reserved ELSE 0 END), 0) AS BIGINT) <= $1 \
         ORDER BY 3, s.code LIMIT 500",
    )
    .bind(threshold)
    .fetch_all(&mut *conn)
    .await?)
}

/// Sellable units per SKU id over the locations that ship online.
pub async fn sellable_online(conn: &mut Conn, sku_ids: &[String]) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    for chunk in sku_ids.chunks(500) {
        let sql = format!(
            "SELECT k.sku_id, CAST(SUM(k.on_hand - k.reserved) AS BIGINT) FROM stock_levels k \
             JOIN stock_locations l ON l.id = k.location_id WHERE l.ships_online = 1 AND k.sku_id IN ({}) GROUP BY k.sku_id",
            numbered(1, chunk.len())
        );
        let mut q = list_query_as::<(String, i64)>(backend_of(conn), &sql);
        for id in chunk {
            q = q.bind(id);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Adjustment {
    pub sku: String,
    pub location: String,
    /// Units added (a receipt) or removed (damage), non-zero.
    pub delta: i64,
    pub reason: String,
    /// The document behind the change (a delivery note, a damage report).
    /// It is also the idempotency key: a retried adjustment with the same
    /// SKU, location, reason and reference is applied once.
    #[serde(default)]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Count {
    pub sku: String,
    pub location: String,
    /// The counted units on hand.
    pub on_hand: i64,
    #[serde(default)]
    pub reference: Option<String>,
}

/// The SKU and location ids, with the level's row present and locked.
async fn lock_level(
    conn: &mut Conn,
    sku: &str,
    location: &str,
) -> Result<(String, String, i64, i64)> {
    let sku = skus::find(conn, sku)
        .await?
        .ok_or_else(|| Error::invalid("unknown_sku", format!("no SKU {sku}")))?;
    let location = find_location(conn, location)
        .await?
        .ok_or_else(|| Error::invalid("unknown_location", format!("no location {location}")))?;
    // Writing first takes SQLite's write lock, so the read below is current.
    sqlx::query(
        "INSERT INTO stock_levels (sku_id, location_id, on_hand, reserved, updated_at) VALUES ($1, $2, 0, 0, $3) \
         ON CONFLICT (sku_id, location_id) DO NOTHING",
    )
    .bind(&sku.id)
    .bind(&location.id)
    .bind(clock::now())
    .execute(&mut *conn)
    .await?;
    let lock = if backend_of(conn) == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let (on_hand, reserved): (i64, i64) = sqlx::query_as(&format!(
        "SELECT on_hand, reserved FROM stock_levels WHERE sku_id = $1 AND location_id = $2{lock}"
    ))
    .bind(&sku.id)
    .bind(&location.id)
    .fetch_one(&mut *conn)
    .await?;
    Ok((sku.id, location.id, on_hand, reserved))
}

/// Adds `delta` to on hand (a receipt, damage, a count difference) and
/// records the movement. Refuses to take on hand below what is reserved.
pub async fn adjust(conn: &mut Conn, actor: &Actor, a: &Adjustment) -> Result<Level> {
    if !REASONS.contains(&a.reason.as_str()) {
        return Err(Error::invalid(
            "invalid_reason",
            format!("reason is one of {}", REASONS.join(", ")),
        ));
    }
    let wrong_sign =
        (a.reason == "receipt" && a.delta < 0) || (a.reason == "damage" && a.delta > 0);
    if a.delta == 0 || wrong_sign || a.delta.abs() > 1_000_000_000 {
        return Err(Error::invalid(
            "invalid_delta",
            "a change is non-zero; receipts add, damage removes",
        ));
    }
    let (sku_id, location_id, _, _) = lock_level(conn, &a.sku, &a.location).await?;
    if let Some(reference) = a.reference.as_deref().filter(|r| !r.is_empty()) {
        if applied(conn, &sku_id, &location_id, &a.reason, reference).await? {
            return level(conn, &sku_id, &location_id).await;
        }
    }
    apply(
        conn,
        actor,
        &sku_id,
        &location_id,
        a.delta,
        &a.reason,
        a.reference.as_deref(),
    )
    .await?;
    level(conn, &sku_id, &location_id).await
}

async fn applied(
    conn: &mut Conn,
    sku_id: &str,
    location_id: &str,
    reason: &str,
    reference: &str,
) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stock_movements WHERE sku_id = $1 AND location_id = $2 AND reason = $3 AND reference = $4",
    )
    .bind(sku_id)
    .bind(location_id)
    .bind(reason)
    .bind(reference)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Sets on hand to a counted figure; the difference is the movement.
pub async fn set_on_hand(conn: &mut Conn, actor: &Actor, c: &Count) -> Result<Level> {
    if !(0..=1_000_000_000).contains(&c.on_hand) {
        return Err(Error::invalid("invalid_quantity", "on hand is 0 or more"));
    }
    let (sku_id, location_id, on_hand, _) = lock_level(conn, &c.sku, &c.location).await?;
    let delta = c.on_hand - on_hand;
    if delta != 0 {
        apply(
            conn,
            actor,
            &sku_id,
            &location_id,
            delta,
            "count",
            c.reference.as_deref(),
        )
        .await?;
    }
    level(conn, &sku_id, &location_id).await
}

/// The guarded change and its movement row.
async fn apply(
    conn: &mut Conn,
    actor: &Actor,
    sku_id: &str,
    location_id: &str,
    delta: i64,
    reason: &str,
    reference: Option<&str>,
) -> Result<()> {
    let now = clock::now();
    let done = sqlx::query(
        "UPDATE stock_levels SET on_hand = on_hand + $1, updated_at = $2 \
         WHERE sku_id = $3 AND location_id = $4 AND on_hand + $1 >= reserved",
    )
    .bind(delta)
    .bind(now)
    .bind(sku_id)
    .bind(location_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::conflict(
            "stock_below_reserved",
            "on hand cannot drop below the units orders have reserved",
        ));
    }
    sqlx::query(
        "INSERT INTO stock_movements (id, sku_id, location_id, delta, reason, reference, actor, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(sku_id)
    .bind(location_id)
    .bind(delta)
    .bind(reason)
    .bind(reference)
    .bind(&actor.label)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        "catalog.stock.change",
        "sku",
        Some(sku_id),
        json!({ "location_id": location_id, "delta": delta, "reason": reason, "reference": reference }),
    )
    .await
}

pub async fn level(conn: &mut Conn, sku_id: &str, location_id: &str) -> Result<Level> {
    sqlx::query_as::<_, Level>(&format!(
        "{LEVEL_SELECT} WHERE k.sku_id = $1 AND k.location_id = $2"
    ))
    .bind(sku_id)
    .bind(location_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("stock level"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Movement {
    pub id: String,
    pub sku_code: String,
    pub location_code: String,
    pub delta: i64,
    pub reason: String,
    pub reference: Option<String>,
    pub actor: Option<String>,
    pub at: Micros,
}

/// The latest movements, of one SKU when named.
pub async fn movements(conn: &mut Conn, sku: Option<&str>, limit: i64) -> Result<Vec<Movement>> {
    Ok(sqlx::query_as::<_, Movement>(
        "SELECT m.id, s.code AS sku_code, l.code AS location_code, m.delta, m.reason, m.reference, m.actor, m.at \
         FROM stock_movements m JOIN skus s ON s.id = m.sku_id JOIN stock_locations l ON l.id = m.location_id \
         WHERE ($1 IS NULL OR s.code = $1) ORDER BY m.at DESC, m.id DESC LIMIT $2",
    )
    .bind(sku)
    .bind(limit.clamp(1, 500))
    .fetch_all(&mut *conn)
    .await?)
}
