//! Refunds: requested by the customer or staff (whole order or some units
//! of some lines), approved by staff, sent to the provider by a durable
//! job, and settled exactly once when the provider says it succeeded —
//! returning the units to stock, the points used, and taking back in
//! proportion the points the order earned. Coupons used are not returned.

use super::checkout::points_key;
use super::orders::{self, OrderHead, Status};
use super::payments::{self, award_key, Payment};
use super::stock;
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::{self, Micros};
use crate::db::{new_id, Backend, Conn, Db};
use crate::error::{Error, Result};
use crate::jobs::{self, NewJob};
use crate::membership::points;
use crate::service::entitlements::Origin;
use crate::service::tag::ServiceTag;
use crate::service::warranty;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The job that sends an approved refund to its provider.
pub const SEND_JOB: &str = "commerce.refund.send";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundLine {
    pub line_id: String,
    pub quantity: i64,
    #[serde(default)]
    pub amount_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Refund {
    pub id: String,
    pub order_id: String,
    pub out_refund_no: String,
    pub amount_fen: i64,
    pub lines: String,
    pub reason: String,
    pub status: String,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub provider_refund_id: Option<String>,
    pub order_status_before: String,
    pub created_at: Micros,
    pub succeeded_at: Option<Micros>,
}

const COLUMNS: &str =
    "id, order_id, out_refund_no, amount_fen, lines, reason, status, requested_by, decided_by, \
     provider_refund_id, order_status_before, created_at, succeeded_at";

pub async fn get(conn: &mut Conn, refund_id: &str) -> Result<Refund> {
    sqlx::query_as::<_, Refund>(&format!("SELECT {COLUMNS} FROM refunds WHERE id = $1"))
        .bind(refund_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::not_found("refund"))
}

pub async fn for_order(conn: &mut Conn, order_id: &str) -> Result<Vec<Refund>> {
    Ok(sqlx::query_as::<_, Refund>(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE order_id = $1 ORDER BY created_at"
    ))
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Asks for a refund of `lines` (None: everything not yet refunded). The
/// order waits in `refund_requested` until staff decide. `approve_now`:
/// staff refunding directly.
pub async fn request(
    db: &Db,
    order_id: &str,
    actor: &str,
    lines: Option<&[RefundLine]>,
    reason: &str,
    approve_now: bool,
) -> Result<Refund> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid(
            "invalid_reason",
            "say why, in up to 500 characters",
        ));
    }
    let at = clock::now();
    let mut tx = db.begin().await?;
    let order = orders::lock(&mut tx, db.backend(), order_id).await?;
    if order.status == Status::RefundRequested {
        return Err(Error::conflict(
            "refund_pending",
            "a refund of this order is already being decided",
        ));
    }
    if !order.status.is_paid() {
        return Err(Error::conflict(
            "order_not_refundable",
            format!(
                "an order that is {} cannot be refunded",
                order.status.as_str()
            ),
        ));
    }
    let (picked, amount) = price_lines(&mut tx, &order, lines).await?;
    let payment = payments::paid_for(&mut tx, order_id)
        .await?
        .ok_or(Error::conflict(
            "not_paid",
            "the order has no successful payment",
        ))?;
    let refund_id = new_id();
    let out_refund_no = format!("{}R{}", order.order_no, count(&mut tx, order_id).await? + 1);
    sqlx::query(
        "INSERT INTO refunds (id, order_id, out_refund_no, amount_fen, lines, reason, status, requested_by, \
         order_status_before, created_at, payment_id) VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9, $10)",
    )
    .bind(&refund_id)
    .bind(order_id)
    .bind(&out_refund_no)
    .bind(amount)
    .bind(json!(picked).to_string())
    .bind(reason)
    .bind(actor)
    .bind(order.status.as_str())
    .bind(at)
    .bind(&payment.id)
    .execute(&mut *tx)
    .await?;
    orders::transition(
        &mut tx,
        &order,
        Status::RefundRequested,
        actor,
        Some(reason),
        at,
    )
    .await?;
    if approve_now {
        approve_in(&mut tx, &refund_id, actor, at).await?;
    }
    let refund = get(&mut tx, &refund_id).await?;
    tx.commit().await?;
    Ok(refund)
}

async fn count(conn: &mut Conn, order_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM refunds WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The lines and fen a refund covers: a share of what each line paid, and
/// everything left (shipping too) when it covers all that remains.
async fn price_lines(
    conn: &mut Conn,
    order: &OrderHead,
    wanted: Option<&[RefundLine]>,
) -> Result<(Vec<RefundLine>, i64)> {
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT id, quantity, paid_fen, refunded_quantity, refunded_fen FROM order_lines WHERE order_id = $1 ORDER BY id",
    )
    .bind(&order.id)
    .fetch_all(&mut *conn)
    .await?;
    let mut picked = Vec::new();
    for (id, quantity, paid, refunded_q, refunded_fen) in &rows {
        let left = quantity - refunded_q;
        let q = match wanted {
            None => left,
            Some(w) => w
                .iter()
                .filter(|l| &l.line_id == id)
                .map(|l| l.quantity)
                .sum(),
        };
        if q < 0 || q > left {
            return Err(Error::invalid(
                "invalid_refund_quantity",
                format!("at most {left} units of line {id} can be refunded"),
            ));
        }
        if q == 0 {
            continue;
        }
        let amount = if q == left {
            paid - refunded_fen
        } else {
            paid * q / quantity
        };
        picked.push(RefundLine {
            line_id: id.clone(),
            quantity: q,
            amount_fen: amount,
        });
    }
    if let Some(w) = wanted {
        if w.iter().any(|l| !rows.iter().any(|r| r.0 == l.line_id)) {
            return Err(Error::invalid(
                "unknown_line",
                "a line is not part of this order",
            ));
        }
    }
    let all_left = rows.iter().all(|(id, quantity, _, refunded_q, _)| {
        quantity - refunded_q
            == picked
                .iter()
                .find(|p| &p.line_id == id)
                .map_or(0, |p| p.quantity)
    });
    let amount = if all_left {
        order.total_fen - order.refunded_fen
    } else {
        picked.iter().map(|p| p.amount_fen).sum()
    };
    if amount <= 0 {
        return Err(Error::invalid(
            "nothing_to_refund",
            "nothing is left to refund on this order",
        ));
    }
    Ok((picked, amount))
}

/// Staff approve: the refund goes to the provider.
pub async fn approve(db: &Db, refund_id: &str, actor: &str) -> Result<Refund> {
    let at = clock::now();
    let mut tx = db.begin().await?;
    approve_in(&mut tx, refund_id, actor, at).await?;
    let refund = get(&mut tx, refund_id).await?;
    tx.commit().await?;
    Ok(refund)
}

async fn approve_in(conn: &mut Conn, refund_id: &str, actor: &str, at: Micros) -> Result<()> {
    let moved = sqlx::query(
        "UPDATE refunds SET status = 'processing', decided_by = $1, decided_at = $2 WHERE id = $3 AND status = 'requested'",
    )
    .bind(actor)
    .bind(at)
    .bind(refund_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved == 0 {
        return Err(Error::conflict(
            "refund_decided",
            "this refund was already decided",
        ));
    }
    enqueue_send(conn, refund_id).await
}

async fn enqueue_send(conn: &mut Conn, refund_id: &str) -> Result<()> {
    jobs::enqueue(
        conn,
        NewJob::new(SEND_JOB, json!({ "refund_id": refund_id }))
            .dedupe(format!("refund-send:{refund_id}")),
    )
    .await?;
    Ok(())
}

/// Staff reject: the order returns to where it was.
pub async fn reject(db: &Db, refund_id: &str, actor: &str, note: &str) -> Result<Refund> {
    let at = clock::now();
    let mut tx = db.begin().await?;
    let refund = get(&mut tx, refund_id).await?;
    let moved = sqlx::query(
        "UPDATE refunds SET status = 'rejected', decided_by = $1, decided_at = $2 WHERE id = $3 AND status = 'requested'",
    )
    .bind(actor)
    .bind(at)
    .bind(refund_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Err(Error::conflict(
            "refund_decided",
            "this refund was already decided",
        ));
    }
    let order = orders::lock(&mut tx, db.backend(), &refund.order_id).await?;
    let back = Status::parse(&refund.order_status_before)?;
    orders::transition(&mut tx, &order, back, actor, Some(note), at).await?;
    let refund = get(&mut tx, refund_id).await?;
    tx.commit().await?;
    Ok(refund)
}

/// A payment that came after its order was cancelled: refunded in full at once.
pub(crate) async fn open_late_payment(
    conn: &mut Conn,
    order: &OrderHead,
    payment: &Payment,
    at: Micros,
) -> Result<String> {
    let refund_id = new_id();
    sqlx::query(
        "INSERT INTO refunds (id, order_id, out_refund_no, amount_fen, lines, reason, status, requested_by, \
         decided_by, order_status_before, created_at, decided_at, payment_id) \
         VALUES ($1, $2, $3, $4, '[]', 'paid after the order was closed', 'processing', 'system', 'system', $5, $6, $6, $7)",
    )
    .bind(&refund_id)
    .bind(&order.id)
    .bind(format!("{}R", payment.out_trade_no))
    .bind(payment.amount_fen)
    .bind(order.status.as_str())
    .bind(at)
    .bind(&payment.id)
    .execute(&mut *conn)
    .await?;
    orders::record(
        conn,
        &order.id,
        Some(order.status),
        order.status,
        "system",
        Some("late payment refunded"),
        at,
    )
    .await?;
    enqueue_send(conn, &refund_id).await?;
    Ok(refund_id)
}

/// The refund and the payment it returns money from (for the send job).
pub async fn with_payment(db: &Db, refund_id: &str) -> Result<(Refund, Payment)> {
    let mut conn = db.pool().acquire().await?;
    let refund = get(&mut conn, refund_id).await?;
    let payment = payments::paid_for(&mut conn, &refund.order_id)
        .await?
        .ok_or(Error::conflict(
            "not_paid",
            "the order has no successful payment",
        ))?;
    Ok((refund, payment))
}

/// The provider refunded: settles once.
pub async fn succeeded(
    db: &Db,
    out_refund_no: &str,
    provider_refund_id: &str,
    at: Micros,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let backend = db.backend();
    let refund = sqlx::query_as::<_, Refund>(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE out_refund_no = $1"
    ))
    .bind(out_refund_no)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::not_found("refund"))?;
    let moved = sqlx::query(
        "UPDATE refunds SET status = 'succeeded', provider_refund_id = $1, succeeded_at = $2 \
         WHERE id = $3 AND status = 'processing'",
    )
    .bind(provider_refund_id)
    .bind(at)
    .bind(&refund.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(());
    }
    let order = orders::lock(&mut tx, backend, &refund.order_id).await?;
    sqlx::query("UPDATE orders SET refunded_fen = refunded_fen + $1 WHERE id = $2")
        .bind(refund.amount_fen)
        .bind(&order.id)
        .execute(&mut *tx)
        .await?;
    if order.status == Status::RefundRequested {
        settle_goods(&mut tx, backend, &order, &refund, at).await?;
        let to = if order.refunded_fen + refund.amount_fen >= order.total_fen {
            Status::Refunded
        } else {
            Status::parse(&refund.order_status_before)?
        };
        orders::transition(&mut tx, &order, to, "refund", None, at).await?;
    }
    if let Some(profile) = &order.profile_id {
        let event = DomainEvent::new(
            "refund.succeeded",
            profile.clone(),
            format!("refund.succeeded:{}", refund.id),
            json!({ "order_id": order.id, "refund_id": refund.id, "amount_fen": refund.amount_fen }),
            at,
        );
        emit(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Units back to stock, points used back to the member, earned points taken back in proportion.
async fn settle_goods(
    conn: &mut Conn,
    backend: Backend,
    order: &OrderHead,
    refund: &Refund,
    at: Micros,
) -> Result<()> {
    let lines: Vec<RefundLine> = serde_json::from_str(&refund.lines).unwrap_or_default();
    let mut points_back = 0;
    for l in &lines {
        let (quantity, points_fen): (i64, i64) =
            sqlx::query_as("SELECT quantity, points_fen FROM order_lines WHERE id = $1")
                .bind(&l.line_id)
                .fetch_one(&mut *conn)
                .await?;
        stock::return_line(conn, &order.id, &l.line_id, l.quantity, quantity, at).await?;
        withdraw_service(conn, &l.line_id, at).await?;
        sqlx::query(
            "UPDATE order_lines SET refunded_quantity = refunded_quantity + $1, refunded_fen = refunded_fen + $2 WHERE id = $3",
        )
        .bind(l.quantity)
        .bind(l.amount_fen)
        .bind(&l.line_id)
        .execute(&mut *conn)
        .await?;
        points_back += points_fen * l.quantity / quantity.max(1);
    }
    let Some(member) = &order.member_id else {
        return Ok(());
    };
    let points_back = points_back / super::pricing::FEN_PER_POINT;
    if points_back > 0 {
        points::refund_spend(
            conn,
            backend,
            member,
            &points_key(&order.id),
            points_back,
            &format!("refund:{}", refund.id),
            at,
        )
        .await?;
    }
    let earned_back = order.points_earned * refund.amount_fen / order.total_fen.max(1);
    if earned_back > 0 {
        points::reverse_award(
            conn,
            backend,
            member,
            &award_key(&order.id),
            earned_back,
            &format!("refund:{}:earned", refund.id),
            at,
        )
        .await?;
    }
    Ok(())
}

/// A refunded service (a warranty extension, an on-site upgrade) no
/// longer covers the device it was bought for.
async fn withdraw_service(conn: &mut Conn, line_id: &str, at: Micros) -> Result<()> {
    let tag: Option<Option<String>> =
        sqlx::query_scalar("SELECT service_tag FROM order_lines WHERE id = $1")
            .bind(line_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(Some(tag)) = tag {
        let tag = ServiceTag::parse(&tag)?;
        let reference = payments::service_grant_reference(line_id);
        warranty::withdraw(conn, &tag, Origin::Purchased, &reference, at).await?;
    }
    Ok(())
}

/// The provider refused the refund: staff see it failed and may retry.
pub async fn failed(db: &Db, out_refund_no: &str, reason: &str, at: Micros) -> Result<()> {
    let mut tx = db.begin().await?;
    let moved = sqlx::query(
        "UPDATE refunds SET status = 'failed', decided_at = $1, reason = reason || ' — failed: ' || $2 \
         WHERE out_refund_no = $3 AND status = 'processing'",
    )
    .bind(at)
    .bind(reason)
    .bind(out_refund_no)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved > 0 {
        tracing::warn!(out_refund_no, reason, "refund failed at the provider");
    }
    tx.commit().await?;
    Ok(())
}

/// Sends an approved refund: the sandbox refunds at once; other providers
/// are sent by `send_other` (the server wires WeChat Pay in).
pub async fn send_sandbox(db: &Db, refund: &Refund) -> Result<()> {
    succeeded(
        db,
        &refund.out_refund_no,
        &format!("SANDBOX{}", refund.id.replace('-', "")),
        clock::now(),
    )
    .await
}
