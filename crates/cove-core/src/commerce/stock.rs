//! Stock reservations: placing an order reserves, payment commits,
//! timeout and cancellation release, refunds return.
//!
//! Every change is one guarded `UPDATE` on `stock_levels` whose `WHERE`
//! re-checks what is sellable (`on_hand - reserved`), and the table's
//! `CHECK (on_hand >= reserved AND reserved >= 0)` backs it: two buyers
//! can never take the same unit, on either database, whatever the
//! concurrency. SKUs are reserved in sorted order so transactions lock
//! rows in one order.

use crate::clock::Micros;
use crate::db::{backend_of, new_id, Conn, Multi};
use crate::error::{Error, Result};

/// What one order line needs: `quantity` units of `sku_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub line_id: String,
    pub sku_id: String,
    pub quantity: i64,
}

/// Reserves every need from the locations that ship online: the nearest
/// (lowest priority) that has all of it, or else split across locations
/// nearest first. Fails with `out_of_stock` (and the caller rolls back)
/// when the sellable total is short.
pub async fn reserve(conn: &mut Conn, order_id: &str, needs: &[Need], at: Micros) -> Result<()> {
    let mut needs = needs.to_vec();
    needs.sort_by(|a, b| a.sku_id.cmp(&b.sku_id));
    let mut taken = Vec::with_capacity(needs.len());
    for need in &needs {
        match take_whole(conn, need, at).await? {
            Some(location) => taken.push((need, location, need.quantity)),
            None => {
                for (location, quantity) in take_split(conn, need, at).await? {
                    taken.push((need, location, quantity));
                }
            }
        }
    }
    // One statement records every reservation of the order.
    let mut insert = Multi::new(
        backend_of(conn),
        "INSERT INTO stock_reservations (id, order_id, line_id, sku_id, location_id, quantity, status, created_at) VALUES ",
    );
    for (need, location, quantity) in taken {
        insert.row(|r| {
            r.bind(new_id())
                .bind(order_id.to_owned())
                .bind(need.line_id.clone())
                .bind(need.sku_id.clone())
                .bind(location)
                .bind(quantity)
                .bind("reserved")
                .bind(at);
        });
    }
    insert.execute(conn, "").await?;
    Ok(())
}

/// The usual case in one guarded statement: the nearest location holding
/// the whole need reserves it. `None` when no single location can (or a
/// concurrent buyer got there first).
async fn take_whole(conn: &mut Conn, need: &Need, at: Micros) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "UPDATE stock_levels SET reserved = reserved + $1, updated_at = $2 \
         WHERE sku_id = $3 AND on_hand - reserved >= $1 AND location_id = ( \
           SELECT l.location_id FROM stock_levels l JOIN stock_locations s ON s.id = l.location_id \
           WHERE l.sku_id = $3 AND s.ships_online = 1 AND l.on_hand - l.reserved >= $1 \
           ORDER BY s.priority, s.code LIMIT 1) \
         RETURNING location_id",
    )
    .bind(need.quantity)
    .bind(at)
    .bind(&need.sku_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The need split across locations, nearest first: (location, units) taken.
async fn take_split(conn: &mut Conn, need: &Need, at: Micros) -> Result<Vec<(String, i64)>> {
    let levels: Vec<(String, i64)> = sqlx::query_as(
        "SELECT l.location_id, l.on_hand - l.reserved FROM stock_levels l \
         JOIN stock_locations s ON s.id = l.location_id \
         WHERE l.sku_id = $1 AND s.ships_online = 1 AND l.on_hand > l.reserved \
         ORDER BY s.priority, s.code",
    )
    .bind(&need.sku_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut left = need.quantity;
    let mut taken = Vec::new();
    for (location, sellable) in levels {
        if left == 0 {
            break;
        }
        let take = sellable.min(left);
        let moved = sqlx::query(
            "UPDATE stock_levels SET reserved = reserved + $1, updated_at = $2 \
             WHERE sku_id = $3 AND location_id = $4 AND on_hand - reserved >= $1",
        )
        .bind(take)
        .bind(at)
        .bind(&need.sku_id)
        .bind(&location)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        // Zero: another buyer took units since the read; the next location may have some.
        if moved == 1 {
            taken.push((location, take));
            left -= take;
        }
    }
    if left > 0 {
        return Err(Error::conflict(
            "out_of_stock",
            "not enough stock for an item in this order",
        ));
    }
    Ok(taken)
}

/// Payment: reserved units leave stock for good. Returns the units committed.
pub async fn commit(conn: &mut Conn, order_id: &str, at: Micros) -> Result<i64> {
    settle(conn, order_id, "committed", at).await
}

/// Timeout or cancellation before payment: reserved units are sellable again.
pub async fn release(conn: &mut Conn, order_id: &str, at: Micros) -> Result<i64> {
    settle(conn, order_id, "released", at).await
}

async fn settle(conn: &mut Conn, order_id: &str, to: &str, at: Micros) -> Result<i64> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, sku_id, location_id, quantity FROM stock_reservations \
         WHERE order_id = $1 AND status = 'reserved' ORDER BY sku_id, location_id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let on_hand_change = if to == "committed" {
        "on_hand - $1"
    } else {
        "on_hand"
    };
    let mut units = 0;
    for (id, sku, location, quantity) in rows {
        // Guarded on the reservation's status, so a settle that races
        // another settle of the same order applies once.
        let moved = sqlx::query(
            "UPDATE stock_reservations SET status = $1, settled_at = $2 WHERE id = $3 AND status = 'reserved'",
        )
        .bind(to)
        .bind(at)
        .bind(&id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if moved == 0 {
            continue;
        }
        sqlx::query(&format!(
            "UPDATE stock_levels SET on_hand = {on_hand_change}, reserved = reserved - $1, updated_at = $2 \
             WHERE sku_id = $3 AND location_id = $4"
        ))
        .bind(quantity)
        .bind(at)
        .bind(&sku)
        .bind(&location)
        .execute(&mut *conn)
        .await?;
        if to == "committed" {
            movement(conn, &sku, &location, -quantity, "sale", order_id, at).await?;
        }
        units += quantity;
    }
    Ok(units)
}

/// A refund of `units` of an order line (out of the line's `line_quantity`)
/// puts the line's committed parts back on hand where they were taken.
pub async fn return_line(
    conn: &mut Conn,
    order_id: &str,
    line_id: &str,
    units: i64,
    line_quantity: i64,
    at: Micros,
) -> Result<i64> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT sku_id, location_id, quantity FROM stock_reservations \
         WHERE order_id = $1 AND line_id = $2 AND status = 'committed' ORDER BY sku_id, location_id",
    )
    .bind(order_id)
    .bind(line_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut returned = 0;
    for (sku, location, quantity) in rows {
        // The reservation holds `quantity` parts for `line_quantity` units.
        let back = quantity * units / line_quantity.max(1);
        if back == 0 {
            continue;
        }
        sqlx::query(
            "UPDATE stock_levels SET on_hand = on_hand + $1, updated_at = $2 WHERE sku_id = $3 AND location_id = $4",
        )
        .bind(back)
        .bind(at)
        .bind(&sku)
        .bind(&location)
        .execute(&mut *conn)
        .await?;
        movement(conn, &sku, &location, back, "refund", order_id, at).await?;
        returned += back;
    }
    Ok(returned)
}

async fn movement(
    conn: &mut Conn,
    sku: &str,
    location: &str,
    delta: i64,
    reason: &str,
    reference: &str,
    at: Micros,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO stock_movements (id, sku_id, location_id, delta, reason, reference, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(sku)
    .bind(location)
    .bind(delta)
    .bind(reason)
    .bind(reference)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
