//! What happens to an order after checkout, apart from payment and refunds:
//! cancellation (by the customer, staff, or the payment timeout),
//! shipping, delivery, completion and staff notes.

use super::orders::{self, Status};
use super::{payments, promotions, stock};
use crate::clock::{self, Micros};
use crate::db::{new_id, Backend, Conn, Db};
use crate::error::{Error, Result};
use crate::jobs::JobCtx;
use crate::membership::points;
use std::sync::Arc;

/// Cancels an unpaid order: stock, promotions, points and a used benefit go back.
pub async fn cancel(db: &Db, order_id: &str, actor: &str, reason: Option<&str>) -> Result<()> {
    let at = clock::now();
    let mut tx = db.begin().await?;
    let order = orders::lock(&mut tx, db.backend(), order_id).await?;
    cancel_in(&mut tx, db.backend(), &order, actor, reason, at).await?;
    tx.commit().await?;
    Ok(())
}

async fn cancel_in(
    conn: &mut Conn,
    backend: Backend,
    order: &orders::OrderHead,
    actor: &str,
    reason: Option<&str>,
    at: Micros,
) -> Result<()> {
    orders::transition(conn, order, Status::Cancelled, actor, reason, at).await?;
    stock::release(conn, &order.id, at).await?;
    promotions::release(conn, backend, &order.id, at).await?;
    payments::close_open(conn, &order.id).await?;
    if let Some(member) = &order.member_id {
        if order.points_used > 0 {
            points::release(
                conn,
                backend,
                member,
                &super::checkout::points_key(&order.id),
                at,
            )
            .await?;
        }
        if let Some(grant) = &order.grant_id {
            sqlx::query("UPDATE benefit_grants SET used_at = NULL, used_for = NULL WHERE id = $1 AND used_for = $2")
                .bind(grant)
                .bind(format!("order:{}", order.id))
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The payment timeout: an order still unpaid at its deadline is cancelled.
/// A late run or a retry finds it paid or cancelled and does nothing.
pub async fn expire_job(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let Some(order_id) = ctx.job.payload.get("order_id").and_then(|v| v.as_str()) else {
        return Ok(());
    };
    let at = clock::now();
    let mut tx = ctx.db.begin().await?;
    let order = orders::lock(&mut tx, ctx.db.backend(), order_id).await?;
    if order.status != Status::PendingPayment || order.expires_at.is_some_and(|e| e > at) {
        return Ok(());
    }
    cancel_in(
        &mut tx,
        ctx.db.backend(),
        &order,
        "system:timeout",
        Some("not paid in time"),
        at,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Staff ship a paid order with the carrier and tracking number.
pub async fn ship(
    db: &Db,
    order_id: &str,
    actor: &str,
    carrier: &str,
    tracking_no: &str,
) -> Result<()> {
    let (carrier, tracking_no) = (carrier.trim(), tracking_no.trim());
    if carrier.is_empty() || carrier.len() > 50 || tracking_no.len() < 6 || tracking_no.len() > 40 {
        return Err(Error::invalid(
            "invalid_tracking",
            "name the carrier and a tracking number of 6 to 40 characters",
        ));
    }
    let at = clock::now();
    let mut tx = db.begin().await?;
    let order = orders::lock(&mut tx, db.backend(), order_id).await?;
    // Tracking first: the shipping notification quotes it. A refused
    // transition rolls it back with everything else.
    sqlx::query("UPDATE orders SET carrier = $1, tracking_no = $2 WHERE id = $3")
        .bind(carrier)
        .bind(tracking_no)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    orders::transition(
        &mut tx,
        &order,
        Status::Shipped,
        actor,
        Some(&format!("{carrier} {tracking_no}")),
        at,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Delivered (the carrier or staff say so) or completed (the customer confirms receipt).
pub async fn advance(db: &Db, order_id: &str, to: Status, actor: &str) -> Result<()> {
    if !matches!(to, Status::Delivered | Status::Completed) {
        return Err(Error::invalid(
            "illegal_transition",
            "only delivery and completion advance an order here",
        ));
    }
    let at = clock::now();
    let mut tx = db.begin().await?;
    let mut order = orders::lock(&mut tx, db.backend(), order_id).await?;
    // Confirming receipt of a shipped order delivers and completes it.
    if to == Status::Completed && order.status == Status::Shipped {
        orders::transition(&mut tx, &order, Status::Delivered, actor, None, at).await?;
        order.status = Status::Delivered;
    }
    orders::transition(&mut tx, &order, to, actor, None, at).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn add_note(db: &Db, order_id: &str, author: &str, body: &str) -> Result<()> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > 2000 {
        return Err(Error::invalid(
            "invalid_note",
            "a note is 1 to 2000 characters",
        ));
    }
    let mut conn = db.pool().acquire().await?;
    orders::head_exists(&mut conn, order_id).await?;
    sqlx::query(
        "INSERT INTO order_notes (id, order_id, author, body, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(order_id)
    .bind(author)
    .bind(body)
    .bind(clock::now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
