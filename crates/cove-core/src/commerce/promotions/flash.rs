//! Flash sales: a window, and per SKU a price, a pool of units of its own
//! and a per-person limit. Units leave the pool when an order claims them
//! (`sold + q <= pool`, guarded) and come back when it is released.

use super::{name_check, window_check, Status};
use crate::clock::Micros;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FlashSale {
    pub id: String,
    pub name: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub status: Status,
    pub created_at: Micros,
    pub items: Vec<FlashSaleItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FlashSaleItem {
    pub id: String,
    pub sale_id: String,
    pub sku_id: String,
    pub sku_code: String,
    pub sku_name: String,
    /// The SKU's own price, for comparison.
    pub list_fen: i64,
    pub price_fen: i64,
    pub pool: i64,
    pub sold: i64,
    pub per_person_limit: i64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewFlashSale {
    pub name: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
    #[serde(default)]
    pub items: Vec<NewFlashItem>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewFlashItem {
    pub sku_id: String,
    pub price_fen: i64,
    pub pool: i64,
    #[serde(default = "one")]
    pub per_person_limit: i64,
}

fn one() -> i64 {
    1
}

/// A SKU's live flash-sale offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FlashOffer {
    pub sale_id: String,
    pub sale_name: String,
    pub item_id: String,
    pub sku_id: String,
    pub price_fen: i64,
    pub pool: i64,
    pub sold: i64,
    pub remaining: i64,
    pub per_person_limit: i64,
    pub starts_at: Micros,
    pub ends_at: Micros,
}

impl NewFlashItem {
    fn check(&self) -> Result<()> {
        if self.price_fen < 0 {
            return Err(Error::invalid(
                "invalid_price",
                "price_fen cannot be negative",
            ));
        }
        if self.pool < 0 {
            return Err(Error::invalid("invalid_pool", "pool cannot be negative"));
        }
        if self.per_person_limit < 1 {
            return Err(Error::invalid(
                "invalid_limit",
                "per_person_limit must be at least 1",
            ));
        }
        Ok(())
    }
}

pub async fn create(conn: &mut Conn, new: &NewFlashSale, at: Micros) -> Result<FlashSale> {
    let name = name_check(&new.name)?;
    window_check(new.starts_at, new.ends_at)?;
    for item in &new.items {
        item.check()?;
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO flash_sales (id, name, starts_at, ends_at, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'active', $5, $5)",
    )
    .bind(&id)
    .bind(&name)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    for item in &new.items {
        insert_item(conn, &id, item).await?;
    }
    get(conn, &id).await
}

/// Renames or moves the window of a sale.
pub async fn update(
    conn: &mut Conn,
    id: &str,
    new: &NewFlashSale,
    at: Micros,
) -> Result<FlashSale> {
    let name = name_check(&new.name)?;
    window_check(new.starts_at, new.ends_at)?;
    let n = sqlx::query(
        "UPDATE flash_sales SET name = $2, starts_at = $3, ends_at = $4, updated_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(&name)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::not_found("flash sale"));
    }
    get(conn, id).await
}

async fn insert_item(conn: &mut Conn, sale_id: &str, item: &NewFlashItem) -> Result<String> {
    item.check()?;
    let sku: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM skus WHERE id = $1")
        .bind(&item.sku_id)
        .fetch_one(&mut *conn)
        .await?;
    if sku == 0 {
        return Err(Error::invalid(
            "unknown_sku",
            format!("there is no SKU {}", item.sku_id),
        ));
    }
    let taken: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM flash_sale_items WHERE sale_id = $1 AND sku_id = $2",
    )
    .bind(sale_id)
    .bind(&item.sku_id)
    .fetch_one(&mut *conn)
    .await?;
    if taken > 0 {
        return Err(Error::conflict(
            "flash_item_exists",
            "this SKU is already in the sale",
        ));
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO flash_sale_items (id, sale_id, sku_id, price_fen, pool, sold, per_person_limit) \
         VALUES ($1, $2, $3, $4, $5, 0, $6)",
    )
    .bind(&id)
    .bind(sale_id)
    .bind(&item.sku_id)
    .bind(item.price_fen)
    .bind(item.pool)
    .bind(item.per_person_limit)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn add_item(conn: &mut Conn, sale_id: &str, item: &NewFlashItem) -> Result<FlashSale> {
    get(conn, sale_id).await?;
    insert_item(conn, sale_id, item).await?;
    get(conn, sale_id).await
}

/// Changes an item's price, pool (never below what is sold) or limit.
pub async fn update_item(
    conn: &mut Conn,
    sale_id: &str,
    item_id: &str,
    item: &NewFlashItem,
) -> Result<FlashSale> {
    item.check()?;
    let n = sqlx::query(
        "UPDATE flash_sale_items SET price_fen = $3, pool = $4, per_person_limit = $5 \
         WHERE id = $1 AND sale_id = $2 AND sold <= $4",
    )
    .bind(item_id)
    .bind(sale_id)
    .bind(item.price_fen)
    .bind(item.pool)
    .bind(item.per_person_limit)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        let sold: Option<i64> =
            sqlx::query_scalar("SELECT sold FROM flash_sale_items WHERE id = $1 AND sale_id = $2")
                .bind(item_id)
                .bind(sale_id)
                .fetch_optional(&mut *conn)
                .await?;
        return Err(match sold {
            None => Error::not_found("flash sale item"),
            Some(sold) => Error::invalid(
                "invalid_pool",
                format!("{sold} units are already sold; the pool cannot be smaller"),
            ),
        });
    }
    get(conn, sale_id).await
}

/// Removes an item nobody has bought.
pub async fn remove_item(conn: &mut Conn, sale_id: &str, item_id: &str) -> Result<FlashSale> {
    let n = sqlx::query(
        "DELETE FROM flash_sale_items WHERE id = $1 AND sale_id = $2 AND sold = 0 \
         AND NOT EXISTS (SELECT 1 FROM flash_sale_purchases p WHERE p.item_id = $1)",
    )
    .bind(item_id)
    .bind(sale_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        let known: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM flash_sale_items WHERE id = $1 AND sale_id = $2",
        )
        .bind(item_id)
        .bind(sale_id)
        .fetch_one(&mut *conn)
        .await?;
        return Err(if known == 0 {
            Error::not_found("flash sale item")
        } else {
            Error::conflict(
                "flash_item_sold",
                "units of this item were bought; lower its pool instead",
            )
        });
    }
    get(conn, sale_id).await
}

fn sale_from(r: &AnyRow) -> Result<FlashSale> {
    Ok(FlashSale {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        status: Status::parse(&r.try_get::<String, _>("status")?),
        created_at: r.try_get("created_at")?,
        items: Vec::new(),
    })
}

async fn items(conn: &mut Conn, sale_id: &str) -> Result<Vec<FlashSaleItem>> {
    let rows = sqlx::query(
        "SELECT i.id, i.sale_id, i.sku_id, k.code, k.name_zh, k.price_fen AS list_fen, i.price_fen, \
         i.pool, i.sold, i.per_person_limit FROM flash_sale_items i JOIN skus k ON k.id = i.sku_id \
         WHERE i.sale_id = $1 ORDER BY k.code",
    )
    .bind(sale_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(FlashSaleItem {
                id: r.try_get("id")?,
                sale_id: r.try_get("sale_id")?,
                sku_id: r.try_get("sku_id")?,
                sku_code: r.try_get("code")?,
                sku_name: r.try_get("name_zh")?,
                list_fen: r.try_get("list_fen")?,
                price_fen: r.try_get("price_fen")?,
                pool: r.try_get("pool")?,
                sold: r.try_get("sold")?,
                per_person_limit: r.try_get("per_person_limit")?,
            })
        })
        .collect()
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<FlashSale> {
    let row = sqlx::query(
        "SELECT id, name, starts_at, ends_at, status, created_at FROM flash_sales WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("flash sale"))?;
    let mut sale = sale_from(&row)?;
    sale.items = items(conn, id).await?;
    Ok(sale)
}

/// All sales, latest start first.
pub async fn list(conn: &mut Conn) -> Result<Vec<FlashSale>> {
    let rows = sqlx::query(
        "SELECT id, name, starts_at, ends_at, status, created_at FROM flash_sales \
         ORDER BY starts_at DESC, id DESC",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut sale = sale_from(r)?;
        sale.items = items(conn, &sale.id).await?;
        out.push(sale);
    }
    Ok(out)
}

/// Active sales running now or starting later, soonest first.
pub async fn live_and_upcoming(conn: &mut Conn, at: Micros) -> Result<Vec<FlashSale>> {
    let rows = sqlx::query(
        "SELECT id, name, starts_at, ends_at, status, created_at FROM flash_sales \
         WHERE status = 'active' AND ends_at > $1 ORDER BY starts_at, id LIMIT 50",
    )
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut sale = sale_from(r)?;
        sale.items = items(conn, &sale.id).await?;
        out.push(sale);
    }
    Ok(out)
}

/// A SKU's live offer: the lowest price among live sales.
pub async fn offer(conn: &mut Conn, sku_id: &str, at: Micros) -> Result<Option<FlashOffer>> {
    let row = sqlx::query(
        "SELECT s.id AS sale_id, s.name, i.id, i.sku_id, i.price_fen, i.pool, i.sold, \
         i.per_person_limit, s.starts_at, s.ends_at FROM flash_sale_items i \
         JOIN flash_sales s ON s.id = i.sale_id WHERE i.sku_id = $1 AND s.status = 'active' \
         AND s.starts_at <= $2 AND s.ends_at > $2 ORDER BY i.price_fen, s.starts_at LIMIT 1",
    )
    .bind(sku_id)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let pool: i64 = r.try_get("pool")?;
    let sold: i64 = r.try_get("sold")?;
    Ok(Some(FlashOffer {
        sale_id: r.try_get("sale_id")?,
        sale_name: r.try_get("name")?,
        item_id: r.try_get("id")?,
        sku_id: r.try_get("sku_id")?,
        price_fen: r.try_get("price_fen")?,
        pool,
        sold,
        remaining: pool - sold,
        per_person_limit: r.try_get("per_person_limit")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
    }))
}
