//! The customer's cart: one line per SKU and option set, priced on demand
//! by [`super::pricing::quote`] so it always shows today's prices.

use super::catalog::configure;
use super::pricing::{Item, MAX_ITEMS, MAX_QUANTITY};
use crate::clock::Micros;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};

fn options_key(options: &[String]) -> String {
    let mut sorted = options.to_vec();
    sorted.sort();
    serde_json::Value::from(sorted).to_string()
}

/// Adds `item` (validated as a configuration) or raises its quantity.
pub async fn add(conn: &mut Conn, profile_id: &str, item: &Item, at: Micros) -> Result<()> {
    if !(1..=MAX_QUANTITY).contains(&item.quantity) {
        return Err(Error::invalid(
            "invalid_quantity",
            format!("quantity is 1 to {MAX_QUANTITY}"),
        ));
    }
    configure(conn, &item.sku_id, &item.options).await?;
    let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cart_lines WHERE profile_id = $1")
        .bind(profile_id)
        .fetch_one(&mut *conn)
        .await?;
    let key = options_key(&item.options);
    // PostgreSQL spells the two-argument minimum LEAST, SQLite MIN.
    let least = match crate::db::backend_of(conn) {
        crate::db::Backend::Postgres => "LEAST",
        crate::db::Backend::Sqlite => "MIN",
    };
    let raised = sqlx::query(&format!(
        "UPDATE cart_lines SET quantity = {least}(quantity + $1, $2) \
         WHERE profile_id = $3 AND sku_id = $4 AND options = $5"
    ))
    .bind(item.quantity)
    .bind(MAX_QUANTITY)
    .bind(profile_id)
    .bind(&item.sku_id)
    .bind(&key)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if raised > 0 {
        return Ok(());
    }
    if lines >= MAX_ITEMS as i64 {
        return Err(Error::invalid(
            "cart_full",
            format!("a cart holds at most {MAX_ITEMS} lines"),
        ));
    }
    sqlx::query(
        "INSERT INTO cart_lines (id, profile_id, sku_id, options, quantity, added_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(profile_id)
    .bind(&item.sku_id)
    .bind(&key)
    .bind(item.quantity)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CartLine {
    pub id: String,
    pub item: Item,
}

pub async fn lines(conn: &mut Conn, profile_id: &str) -> Result<Vec<CartLine>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, sku_id, options, quantity FROM cart_lines WHERE profile_id = $1 ORDER BY added_at, id",
    )
    .bind(profile_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, sku_id, options, quantity)| CartLine {
            id,
            item: Item {
                sku_id,
                options: serde_json::from_str(&options).unwrap_or_default(),
                quantity,
                service_tag: None,
            },
        })
        .collect())
}

/// Sets a line's quantity (0 removes it).
pub async fn set_quantity(
    conn: &mut Conn,
    profile_id: &str,
    line_id: &str,
    quantity: i64,
) -> Result<()> {
    if !(0..=MAX_QUANTITY).contains(&quantity) {
        return Err(Error::invalid(
            "invalid_quantity",
            format!("quantity is 0 to {MAX_QUANTITY}"),
        ));
    }
    let changed = if quantity == 0 {
        sqlx::query("DELETE FROM cart_lines WHERE id = $1 AND profile_id = $2")
            .bind(line_id)
            .bind(profile_id)
            .execute(&mut *conn)
            .await?
    } else {
        sqlx::query("UPDATE cart_lines SET quantity = $1 WHERE id = $2 AND profile_id = $3")
            .bind(quantity)
            .bind(line_id)
            .bind(profile_id)
            .execute(&mut *conn)
            .await?
    };
    if changed.rows_affected() == 0 {
        return Err(Error::not_found("cart line"));
    }
    Ok(())
}

/// After checkout: the bought items leave the cart.
pub async fn remove_bought(conn: &mut Conn, profile_id: &str, items: &[Item]) -> Result<()> {
    for item in items {
        sqlx::query(
            "DELETE FROM cart_lines WHERE profile_id = $1 AND sku_id = $2 AND options = $3",
        )
        .bind(profile_id)
        .bind(&item.sku_id)
        .bind(options_key(&item.options))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
