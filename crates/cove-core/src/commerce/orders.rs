//! Orders and their state machine. Every move is a guarded update from the
//! status the caller saw, recorded as a transition row and a domain event,
//! so concurrent moves of one order apply once and illegal moves are errors.
//!
//! ```text
//! pending_payment ─▶ paid ─▶ shipped ─▶ delivered ─▶ completed
//!        │             └──────────┴──────────┴───────────┴─▶ refund_requested ─▶ refunded
//!        ▼                                                   (back on rejection or a partial refund)
//!    cancelled
//! ```

use crate::audience::domain::{emit, DomainEvent};
use crate::clock::Micros;
use crate::db::{new_id, Backend, Conn};
use crate::error::{Error, Result};
use crate::insight::Scope;
use crate::service::entitlements::string_enum;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

string_enum!(
    /// Where an order is in its life.
    Status, "invalid_order_status", {
    PendingPayment = "pending_payment",
    Paid = "paid",
    Shipped = "shipped",
    Delivered = "delivered",
    Completed = "completed",
    Cancelled = "cancelled",
    RefundRequested = "refund_requested",
    Refunded = "refunded",
});

impl Status {
    /// The legal moves. A refund request returns to the status it came from.
    pub fn can_move_to(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (PendingPayment, Paid | Cancelled)
                | (Paid, Shipped | RefundRequested | Refunded)
                | (Shipped, Delivered | RefundRequested)
                | (Delivered, Completed | RefundRequested)
                | (Completed, RefundRequested)
                | (
                    RefundRequested,
                    Paid | Shipped | Delivered | Completed | Refunded
                )
        )
    }

    /// Paid for and not (wholly) given back.
    pub fn is_paid(self) -> bool {
        use Status::*;
        matches!(
            self,
            Paid | Shipped | Delivered | Completed | RefundRequested
        )
    }
}

/// How long an unpaid order keeps its stock.
pub const PAYMENT_TIMEOUT: Micros = 30 * crate::clock::MINUTE;

/// The order columns the state machine and payments need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderHead {
    pub id: String,
    pub order_no: String,
    pub profile_id: Option<String>,
    pub member_id: Option<String>,
    pub status: Status,
    pub total_fen: i64,
    pub points_used: i64,
    pub points_earned: i64,
    pub refunded_fen: i64,
    pub shipping_fen: i64,
    pub grant_id: Option<String>,
    pub expires_at: Option<Micros>,
    pub placed_at: Micros,
}

const HEAD_COLUMNS: &str =
    "id, order_no, profile_id, member_id, status, total_fen, points_used, points_earned, \
     refunded_fen, shipping_fen, grant_id, expires_at, placed_at";

fn head_of(r: &sqlx::any::AnyRow) -> Result<OrderHead> {
    Ok(OrderHead {
        id: r.try_get(0)?,
        order_no: r.try_get(1)?,
        profile_id: r.try_get(2)?,
        member_id: r.try_get(3)?,
        status: Status::parse(&r.try_get::<String, _>(4)?)?,
        total_fen: r.try_get(5)?,
        points_used: r.try_get(6)?,
        points_earned: r.try_get(7)?,
        refunded_fen: r.try_get(8)?,
        shipping_fen: r.try_get(9)?,
        grant_id: r.try_get(10)?,
        expires_at: r.try_get(11)?,
        placed_at: r.try_get(12)?,
    })
}

/// Reads an order, locking it for the transaction on PostgreSQL.
pub async fn lock(conn: &mut Conn, backend: Backend, order_id: &str) -> Result<OrderHead> {
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS} FROM orders WHERE id = $1{lock}"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("order"))?;
    head_of(&row)
}

/// The order `order_id` if it belongs to `profile_id` (customers see only their own).
pub async fn head_for(conn: &mut Conn, order_id: &str, profile_id: &str) -> Result<OrderHead> {
    let row = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS} FROM orders WHERE id = $1 AND profile_id = $2"
    ))
    .bind(order_id)
    .bind(profile_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("order"))?;
    head_of(&row)
}

/// Moves `order` from the status it was read with to `to`; a concurrent
/// move in between is a conflict and changes nothing.
pub async fn transition(
    conn: &mut Conn,
    order: &OrderHead,
    to: Status,
    actor: &str,
    note: Option<&str>,
    at: Micros,
) -> Result<()> {
    if !order.status.can_move_to(to) {
        return Err(Error::conflict(
            "illegal_transition",
            format!(
                "an order that is {} cannot become {}",
                order.status.as_str(),
                to.as_str()
            ),
        ));
    }
    let stamp = match to {
        Status::Paid if order.status == Status::PendingPayment => Some("paid_at"),
        Status::Shipped => Some("shipped_at"),
        Status::Delivered => Some("delivered_at"),
        Status::Completed => Some("completed_at"),
        Status::Cancelled => Some("cancelled_at"),
        _ => None,
    };
    let set = stamp.map(|c| format!(", {c} = $4")).unwrap_or_default();
    let update = format!("UPDATE orders SET status = $1{set} WHERE id = $2 AND status = $3");
    let mut query = sqlx::query(&update)
        .bind(to.as_str())
        .bind(&order.id)
        .bind(order.status.as_str());
    if stamp.is_some() {
        query = query.bind(at);
    }
    let moved = query.execute(&mut *conn).await?.rows_affected();
    if moved == 0 {
        return Err(Error::conflict(
            "order_changed",
            "the order changed meanwhile; reload it",
        ));
    }
    record(conn, &order.id, Some(order.status), to, actor, note, at).await?;
    if let Some(profile) = &order.profile_id {
        let event = DomainEvent::new(
            format!("order.{}", to.as_str()),
            profile.clone(),
            format!("order.{}:{}:{}", to.as_str(), order.id, at),
            json!({ "order_id": order.id, "order_no": order.order_no, "from": order.status.as_str(),
                    "total_fen": order.total_fen }),
            at,
        );
        emit(conn, &event).await?;
    }
    Ok(())
}

pub(crate) async fn record(
    conn: &mut Conn,
    order_id: &str,
    from: Option<Status>,
    to: Status,
    actor: &str,
    note: Option<&str>,
    at: Micros,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO order_transitions (id, order_id, from_status, to_status, actor, note, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(order_id)
    .bind(from.map(Status::as_str))
    .bind(to.as_str())
    .bind(actor)
    .bind(note)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One order as the customer and staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    #[serde(flatten)]
    pub head: OrderHead,
    pub channel: String,
    pub list_fen: i64,
    pub discount_fen: i64,
    pub points_fen: i64,
    pub pricing: Value,
    pub address: Option<Value>,
    pub invoice: Option<Value>,
    pub remark: Option<String>,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
    pub paid_at: Option<Micros>,
    pub shipped_at: Option<Micros>,
    pub attribution: Value,
    pub lines: Vec<LineView>,
    pub transitions: Vec<TransitionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LineView {
    pub id: String,
    pub sku_id: Option<String>,
    pub title: String,
    pub options: Value,
    pub quantity: i64,
    pub list_unit_fen: i64,
    pub unit_price_fen: i64,
    pub discount_fen: i64,
    pub points_fen: i64,
    pub paid_fen: i64,
    pub refunded_quantity: i64,
    pub refunded_fen: i64,
    pub service_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TransitionView {
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub note: Option<String>,
    pub at: Micros,
}

fn json_col(s: Option<String>) -> Option<Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

/// The full order.
pub async fn view(conn: &mut Conn, order_id: &str) -> Result<OrderView> {
    let r = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS}, channel, list_fen, discount_fen, points_fen, pricing, address, invoice, remark, \
                carrier, tracking_no, paid_at, shipped_at, store_id, reseller_id, staff_id, campaign, scene, \
                first_touch, last_touch FROM orders WHERE id = $1"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("order"))?;
    let head = head_of(&r)?;
    let attribution = json!({
        "channel": r.try_get::<String, _>(13)?,
        "store_id": r.try_get::<Option<String>, _>(25)?,
        "reseller_id": r.try_get::<Option<String>, _>(26)?,
        "staff_id": r.try_get::<Option<String>, _>(27)?,
        "campaign": r.try_get::<Option<String>, _>(28)?,
        "scene": r.try_get::<Option<String>, _>(29)?,
        "first_touch": json_col(r.try_get(30)?),
        "last_touch": json_col(r.try_get(31)?),
    });
    let lines = sqlx::query(
        "SELECT id, sku_id, title, options, quantity, list_unit_fen, unit_price_fen, discount_fen, points_fen, \
                paid_fen, refunded_quantity, refunded_fen, service_tag FROM order_lines WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|l| {
        Ok(LineView {
            id: l.try_get(0)?,
            sku_id: l.try_get(1)?,
            title: l.try_get(2)?,
            options: json_col(l.try_get(3)?).unwrap_or(Value::Null),
            quantity: l.try_get(4)?,
            list_unit_fen: l.try_get(5)?,
            unit_price_fen: l.try_get(6)?,
            discount_fen: l.try_get(7)?,
            points_fen: l.try_get(8)?,
            paid_fen: l.try_get(9)?,
            refunded_quantity: l.try_get(10)?,
            refunded_fen: l.try_get(11)?,
            service_tag: l.try_get(12)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let transitions = sqlx::query_as::<_, (Option<String>, String, String, Option<String>, i64)>(
        "SELECT from_status, to_status, actor, note, at FROM order_transitions WHERE order_id = $1 ORDER BY at, id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(from_status, to_status, actor, note, at)| TransitionView { from_status, to_status, actor, note, at })
    .collect();
    Ok(OrderView {
        head,
        channel: r.try_get(13)?,
        list_fen: r.try_get(14)?,
        discount_fen: r.try_get(15)?,
        points_fen: r.try_get(16)?,
        pricing: json_col(r.try_get(17)?).unwrap_or(Value::Null),
        address: json_col(r.try_get(18)?),
        invoice: json_col(r.try_get(19)?),
        remark: r.try_get(20)?,
        carrier: r.try_get(21)?,
        tracking_no: r.try_get(22)?,
        paid_at: r.try_get(23)?,
        shipped_at: r.try_get(24)?,
        attribution,
        lines,
        transitions,
    })
}

/// A row of an order listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct OrderRow {
    pub id: String,
    pub order_no: String,
    pub status: String,
    pub channel: String,
    pub total_fen: i64,
    pub placed_at: Micros,
    pub title: String,
    pub items: i64,
}

/// Orders newest first, for a customer (`profile_id`) or for staff (`status` filter).
/// Orders newest first: of one customer (`profile_id`), in one status, and
/// within what `scope` (store staff, resellers) may see.
pub async fn list(
    conn: &mut Conn,
    profile_id: Option<&str>,
    status: Option<Status>,
    scope: Scope<'_>,
    limit: i64,
) -> Result<Vec<OrderRow>> {
    Ok(sqlx::query_as::<_, OrderRow>(
        "SELECT o.id, o.order_no, o.status, o.channel, o.total_fen, o.placed_at, \
                COALESCE((SELECT MIN(l.title) FROM order_lines l WHERE l.order_id = o.id), '') AS title, \
                CAST(COALESCE((SELECT SUM(l.quantity) FROM order_lines l WHERE l.order_id = o.id), 0) AS BIGINT) AS items \
         FROM orders o WHERE ($1 IS NULL OR o.profile_id = $1) AND ($2 IS NULL OR o.status = $2) \
           AND ($3 IS NULL OR o.store_id = $3) AND ($4 IS NULL OR o.reseller_id = $4) \
         ORDER BY o.placed_at DESC, o.id DESC LIMIT $5",
    )
    .bind(profile_id)
    .bind(status.map(Status::as_str))
    .bind(scope.store)
    .bind(scope.reseller)
    .bind(limit.clamp(1, 500))
    .fetch_all(&mut *conn)
    .await?)
}

/// Not found unless the order is within `scope`: staff of one store or
/// reseller never learn of another's orders.
pub async fn in_scope(conn: &mut Conn, order_id: &str, scope: Scope<'_>) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM orders WHERE id = $1 AND ($2 IS NULL OR store_id = $2) \
         AND ($3 IS NULL OR reseller_id = $3)",
    )
    .bind(order_id)
    .bind(scope.store)
    .bind(scope.reseller)
    .fetch_optional(&mut *conn)
    .await?;
    found.map(|_| ()).ok_or(Error::not_found("order"))
}

pub(crate) async fn head_exists(conn: &mut Conn, order_id: &str) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or(Error::not_found("order"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::Status;

    #[test]
    fn terminal_states_go_nowhere_and_refunds_come_back() {
        for to in Status::ALL {
            assert!(!Status::Cancelled.can_move_to(*to));
            assert!(!Status::Refunded.can_move_to(*to));
        }
        assert!(Status::RefundRequested.can_move_to(Status::Shipped));
        assert!(!Status::PendingPayment.can_move_to(Status::Shipped));
        assert!(!Status::Shipped.can_move_to(Status::Paid));
    }
}
