//! Payments: a payment is opened for a pending order with a provider (the
//! built-in sandbox, or WeChat Pay) and confirmed exactly once — by the
//! provider's notification, a query, or the sandbox's pay button. A payment
//! that arrives after its order timed out or was cancelled is refunded in
//! full automatically (the stock it reserved may be sold by then).

use super::checkout::points_key;
use super::orders::{self, OrderHead, Status};
use super::{promotions, refunds, stock};
use crate::clock::{self, Micros};
use crate::db::{new_id, Backend, Conn, Db};
use crate::error::{Error, Result};
use crate::jobs::{self, NewJob};
use crate::membership::{earn, points};
use crate::service::entitlements::{string_enum, Kind, Origin};
use crate::service::tag::ServiceTag;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The job that closes, at WeChat Pay, the payment of an order that was
/// cancelled or timed out, so the customer can no longer pay it there.
pub const CLOSE_JOB: &str = "payments.wechat.close";

string_enum!(
    /// Who takes the money.
    Provider, "invalid_provider", {
    Sandbox = "sandbox",
    Wechat = "wechat",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Payment {
    pub id: String,
    pub order_id: String,
    pub provider: String,
    pub out_trade_no: String,
    pub amount_fen: i64,
    pub status: String,
    pub prepay_id: Option<String>,
    pub transaction_id: Option<String>,
    pub created_at: Micros,
    pub paid_at: Option<Micros>,
}

const COLUMNS: &str =
    "id, order_id, provider, out_trade_no, amount_fen, status, prepay_id, transaction_id, created_at, paid_at";

/// Opens a payment of a pending order for its payable amount, or returns
/// the open one of the same provider.
pub async fn start(db: &Db, order_id: &str, provider: Provider) -> Result<Payment> {
    let at = clock::now();
    let mut tx = db.begin().await?;
    let order = orders::lock(&mut tx, db.backend(), order_id).await?;
    if order.status != Status::PendingPayment {
        return Err(Error::conflict(
            "order_not_payable",
            format!("the order is {}", order.status.as_str()),
        ));
    }
    if order.expires_at.is_some_and(|e| e <= at) {
        return Err(Error::conflict(
            "order_expired",
            "the time to pay this order has passed",
        ));
    }
    let open = sqlx::query_as::<_, Payment>(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = $1 AND provider = $2 AND status = 'created' \
         AND amount_fen = $3 ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(order_id)
    .bind(provider.as_str())
    .bind(order.total_fen)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(open) = open {
        return Ok(open);
    }
    let attempts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
    let payment = Payment {
        id: new_id(),
        order_id: order_id.to_owned(),
        provider: provider.as_str().to_owned(),
        // What the provider knows the order by: 6–32 of [A-Za-z0-9_-].
        out_trade_no: format!("{}P{}", order.order_no, attempts + 1),
        amount_fen: order.total_fen,
        status: "created".into(),
        prepay_id: None,
        transaction_id: None,
        created_at: at,
        paid_at: None,
    };
    sqlx::query(
        "INSERT INTO payments (id, order_id, provider, out_trade_no, amount_fen, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'created', $6)",
    )
    .bind(&payment.id)
    .bind(order_id)
    .bind(provider.as_str())
    .bind(&payment.out_trade_no)
    .bind(payment.amount_fen)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(payment)
}

pub async fn set_prepay_id(db: &Db, payment_id: &str, prepay_id: &str) -> Result<()> {
    sqlx::query("UPDATE payments SET prepay_id = $1 WHERE id = $2")
        .bind(prepay_id)
        .bind(payment_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, payment_id: &str) -> Result<Payment> {
    sqlx::query_as::<_, Payment>(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(payment_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::not_found("payment"))
}

/// The payment that paid `order_id`, if any.
pub async fn paid_for(conn: &mut Conn, order_id: &str) -> Result<Option<Payment>> {
    Ok(sqlx::query_as::<_, Payment>(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = $1 AND status = 'succeeded' ORDER BY paid_at LIMIT 1"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// What a provider says was paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation<'a> {
    pub provider: Provider,
    pub out_trade_no: &'a str,
    pub transaction_id: &'a str,
    pub amount_fen: i64,
    pub payer: Option<&'a str>,
    pub paid_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Confirmed {
    Paid {
        order_id: String,
    },
    AlreadyPaid {
        order_id: String,
    },
    /// The order had timed out or been cancelled: the money goes back.
    RefundedLate {
        order_id: String,
        refund_id: String,
    },
}

/// Records the payment exactly once. The payment row is locked first, so
/// concurrent deliveries of one notification queue and the later ones see
/// it settled. An amount other than the payment's changes nothing.
pub async fn confirm(db: &Db, c: &Confirmation<'_>) -> Result<Confirmed> {
    let mut tx = db.begin().await?;
    let outcome = confirm_in(&mut tx, db.backend(), c).await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn confirm_in(conn: &mut Conn, backend: Backend, c: &Confirmation<'_>) -> Result<Confirmed> {
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let payment = sqlx::query_as::<_, Payment>(&format!(
        "SELECT {COLUMNS} FROM payments WHERE out_trade_no = $1{lock}"
    ))
    .bind(c.out_trade_no)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("payment"))?;
    if payment.provider != c.provider.as_str() {
        return Err(Error::invalid(
            "provider_mismatch",
            "this payment belongs to another provider",
        ));
    }
    if payment.amount_fen != c.amount_fen {
        return Err(Error::invalid(
            "amount_mismatch",
            format!(
                "paid {} fen for a payment of {} fen",
                c.amount_fen, payment.amount_fen
            ),
        ));
    }
    if payment.status == "succeeded" {
        return Ok(Confirmed::AlreadyPaid {
            order_id: payment.order_id,
        });
    }
    let at = clock::now();
    let moved = sqlx::query(
        "UPDATE payments SET status = 'succeeded', transaction_id = $1, payer = $2, paid_at = $3 \
         WHERE id = $4 AND status <> 'succeeded'",
    )
    .bind(c.transaction_id)
    .bind(c.payer)
    .bind(c.paid_at)
    .bind(&payment.id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(Confirmed::AlreadyPaid {
            order_id: payment.order_id,
        });
    }
    let order = orders::lock(conn, backend, &payment.order_id).await?;
    if order.status == Status::PendingPayment {
        mark_paid(conn, backend, &order, c.provider, at).await?;
        return Ok(Confirmed::Paid { order_id: order.id });
    }
    let refund_id = refunds::open_late_payment(conn, &order, &payment, at).await?;
    Ok(Confirmed::RefundedLate {
        order_id: order.id,
        refund_id,
    })
}

/// (line id, category, paid fen, service tag, service kind, service months).
type PaidLine = (
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// Paid: the stock leaves, coupons are used, held points are consumed,
/// the purchase earns points and growth, bought services cover the device.
async fn mark_paid(
    conn: &mut Conn,
    backend: Backend,
    order: &OrderHead,
    provider: Provider,
    at: Micros,
) -> Result<()> {
    orders::transition(
        conn,
        order,
        Status::Paid,
        &format!("payment:{}", provider.as_str()),
        None,
        at,
    )
    .await?;
    stock::commit(conn, &order.id, at).await?;
    promotions::settle(conn, &order.id, at).await?;
    let lines: Vec<PaidLine> = sqlx::query_as(
        "SELECT l.id, c.code, l.paid_fen, l.service_tag, p.service_kind, p.service_months \
         FROM order_lines l JOIN products p ON p.id = l.product_id JOIN categories c ON c.id = p.category_id \
         WHERE l.order_id = $1 ORDER BY l.id",
    )
    .bind(&order.id)
    .fetch_all(&mut *conn)
    .await?;
    if let Some(member) = &order.member_id {
        if order.points_used > 0 {
            points::consume(conn, backend, member, &points_key(&order.id), at).await?;
        }
        let purchase: Vec<earn::PurchaseLine> = lines
            .iter()
            .map(|(_, category, paid, ..)| earn::PurchaseLine {
                category: category.clone(),
                amount_fen: *paid,
            })
            .collect();
        let earned = earn::purchase(
            conn,
            backend,
            member,
            &award_key(&order.id),
            "order",
            &purchase,
            at + earn::RETURN_WINDOW,
            at,
        )
        .await?;
        sqlx::query("UPDATE orders SET points_earned = $1 WHERE id = $2")
            .bind(earned.points)
            .bind(&order.id)
            .execute(&mut *conn)
            .await?;
    }
    for (line_id, _, _, tag, kind, months) in &lines {
        let (Some(tag), Some(kind), Some(months)) = (tag, kind, months) else {
            continue;
        };
        let kind = if kind == "onsite_upgrade" {
            Kind::Onsite
        } else {
            Kind::Extended
        };
        crate::service::warranty::grant_entitlement(
            conn,
            &ServiceTag::parse(tag)?,
            kind,
            *months,
            Origin::Purchased,
            &service_grant_reference(line_id),
        )
        .await?;
    }
    Ok(())
}

/// The reference of the cover a paid service line granted.
pub fn service_grant_reference(line_id: &str) -> String {
    format!("order:{line_id}")
}

/// The key of the points a paid order earned.
pub fn award_key(order_id: &str) -> String {
    format!("order:{order_id}")
}

/// Marks an unpaid payment closed (its order timed out or was cancelled).
pub async fn close(db: &Db, out_trade_no: &str) -> Result<()> {
    sqlx::query(
        "UPDATE payments SET status = 'closed' WHERE out_trade_no = $1 AND status = 'created'",
    )
    .bind(out_trade_no)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Closes the open payments of an order that is no longer waiting for
/// money. One that reached WeChat Pay (it has a prepay id the customer may
/// still pay with) stays open until WeChat Pay has closed it too: the
/// [`CLOSE_JOB`] asks, in this transaction's wake.
pub(crate) async fn close_open(conn: &mut Conn, order_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE payments SET status = 'closed' WHERE order_id = $1 AND status = 'created' \
         AND (provider <> 'wechat' OR prepay_id IS NULL)",
    )
    .bind(order_id)
    .execute(&mut *conn)
    .await?;
    let at_wechat: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM payments WHERE order_id = $1 AND status = 'created' AND provider = 'wechat'",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    for payment_id in at_wechat {
        jobs::enqueue(
            conn,
            NewJob::new(CLOSE_JOB, json!({ "payment_id": payment_id }))
                .dedupe(format!("payment-close:{payment_id}")),
        )
        .await?;
    }
    Ok(())
}

/// Payments still open after `older_than` (for reconciliation by query).
pub async fn open_payments(
    db: &Db,
    provider: Provider,
    older_than: Micros,
    limit: i64,
) -> Result<Vec<Payment>> {
    Ok(sqlx::query_as::<_, Payment>(&format!(
        "SELECT {COLUMNS} FROM payments WHERE provider = $1 AND status = 'created' AND created_at <= $2 \
         ORDER BY created_at LIMIT $3"
    ))
    .bind(provider.as_str())
    .bind(older_than)
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?)
}

/// The sandbox provider's pay button: the customer confirms and the
/// sandbox notifies at once, through the same path as WeChat Pay.
pub async fn sandbox_pay(db: &Db, payment_id: &str) -> Result<Confirmed> {
    let payment = {
        let mut conn = db.pool().acquire().await?;
        get(&mut conn, payment_id).await?
    };
    if payment.provider != Provider::Sandbox.as_str() {
        return Err(Error::invalid("provider_mismatch", "not a sandbox payment"));
    }
    confirm(
        db,
        &Confirmation {
            provider: Provider::Sandbox,
            out_trade_no: &payment.out_trade_no,
            transaction_id: &format!("SANDBOX{}", payment.id.replace('-', "")),
            amount_fen: payment.amount_fen,
            payer: None,
            paid_at: clock::now(),
        },
    )
    .await
}
