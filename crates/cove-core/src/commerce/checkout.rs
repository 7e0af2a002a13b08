//! Checkout: a quote becomes an order in one transaction — lines, stock
//! reserved, promotions claimed, points frozen, a benefit used, the payment
//! timeout scheduled. The customer's idempotency key makes a retried
//! checkout return the order the first one placed.

use super::orders::{self, Status, PAYMENT_TIMEOUT};
use super::pricing::{self, Apply, Buyer, Item, Quote};
use super::{promotions, stock};
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::{self, Micros};
use crate::db::{new_id, Backend, Conn, Db, Multi};
use crate::error::{Error, Result};
use crate::jobs::{self, NewJob};
use crate::membership::{benefits, points};
use crate::service::tag::ServiceTag;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The job that cancels an order still unpaid at its deadline.
pub const EXPIRE_JOB: &str = "commerce.order.expire";

/// Where to ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    pub name: String,
    pub phone: String,
    /// Province, city, district.
    pub region: String,
    pub line: String,
    #[serde(default)]
    pub postcode: Option<String>,
}

/// The fapiao the customer wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invoice {
    /// personal | company
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub tax_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// Where the customer came from, as the storefront knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// mini_program | official_account | wechat_group | wecom | channels | moments_ad | offline_store | h5
    pub channel: Option<String>,
    /// A registered QR scene (store, staff member, campaign).
    pub scene: Option<String>,
    pub campaign: Option<String>,
}

pub const CHANNELS: [&str; 8] = [
    "mini_program",
    "official_account",
    "wechat_group",
    "wecom",
    "channels",
    "moments_ad",
    "offline_store",
    "h5",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckoutRequest {
    /// The client's idempotency key for this checkout (8–64 characters).
    pub key: String,
    pub items: Vec<Item>,
    #[serde(default)]
    pub apply: Apply,
    pub address: Option<Address>,
    pub invoice: Option<Invoice>,
    pub remark: Option<String>,
    #[serde(default)]
    pub entry: Entry,
    /// Remove the bought items from the cart.
    #[serde(default)]
    pub from_cart: bool,
}

/// The order a checkout placed (or had placed, on a retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Placed {
    pub order_id: String,
    pub order_no: String,
    pub payable_fen: i64,
    pub expires_at: Micros,
    /// False when the key had already placed this order.
    pub created: bool,
}

/// Places the order, or returns the one this key placed before.
pub async fn place(db: &Db, buyer: &Buyer, channel: &str, req: &CheckoutRequest) -> Result<Placed> {
    validate(req)?;
    // An order number is drawn at random; on the rare clash the whole
    // attempt runs again with a new one.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match place_once(db, buyer, channel, req).await {
            Err(e) if e.code() == "duplicate" && attempts < 3 => continue,
            outcome => return outcome,
        }
    }
}

async fn place_once(
    db: &Db,
    buyer: &Buyer,
    channel: &str,
    req: &CheckoutRequest,
) -> Result<Placed> {
    let at = clock::now();
    // The reads (price, checks, attribution) run on a read connection, so
    // the write transaction — on SQLite the single writer — holds only the
    // writes. What a concurrent order could change meanwhile (stock,
    // points, coupons, flash pools, benefits) is re-checked by the guarded
    // writes themselves.
    let prepared = {
        let mut conn = db.read().acquire().await?;
        if let Some(prior) = placed_by_key(&mut conn, &buyer.profile_id, &req.key).await? {
            return Ok(prior);
        }
        prepare(&mut conn, buyer, channel, req, at).await?
    };
    // A key that placed an order meanwhile fails the order's unique
    // (profile, key) index inside, and is answered below.
    let mut tx = db.begin().await?;
    match place_in(&mut tx, db.backend(), buyer, req, &prepared, at).await {
        Ok(placed) => {
            tx.commit().await?;
            Ok(placed)
        }
        Err(e) => {
            drop(tx);
            // A concurrent retry with the same key may have won the race.
            let mut conn = db.pool().acquire().await?;
            match placed_by_key(&mut conn, &buyer.profile_id, &req.key).await? {
                Some(prior) => Ok(prior),
                None => Err(e),
            }
        }
    }
}

fn validate(req: &CheckoutRequest) -> Result<()> {
    if !(8..=64).contains(&req.key.len()) || !req.key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "invalid_idempotency_key",
            "key must be 8 to 64 visible ASCII characters",
        ));
    }
    if let Some(a) = &req.address {
        validate_address(a)?;
    }
    if let Some(i) = &req.invoice {
        let company = i.kind == "company";
        if !(company || i.kind == "personal")
            || i.title.trim().is_empty()
            || i.title.chars().count() > 100
        {
            return Err(Error::invalid(
                "invalid_invoice",
                "an invoice is personal or company, with a title of up to 100 characters",
            ));
        }
        let tax_ok = i.tax_id.as_deref().is_some_and(|t| {
            (15..=20).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if company && !tax_ok {
            return Err(Error::invalid(
                "invalid_invoice",
                "a company invoice needs its 15–20 character taxpayer id",
            ));
        }
    }
    if req
        .remark
        .as_deref()
        .is_some_and(|r| r.chars().count() > 200)
    {
        return Err(Error::invalid(
            "invalid_remark",
            "a remark is at most 200 characters",
        ));
    }
    if let Some(c) = &req.entry.channel {
        if !CHANNELS.contains(&c.as_str()) {
            return Err(Error::invalid(
                "invalid_channel",
                format!("channel is one of {}", CHANNELS.join(", ")),
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_address(a: &Address) -> Result<()> {
    let phone_ok = a.phone.len() == 11
        && a.phone.starts_with('1')
        && a.phone.bytes().all(|b| b.is_ascii_digit());
    if a.name.trim().is_empty()
        || a.region.trim().is_empty()
        || a.line.trim().is_empty()
        || !phone_ok
    {
        return Err(Error::invalid(
            "invalid_address",
            "an address needs a name, an 11-digit mobile number, a region and a street line",
        ));
    }
    if [&a.name, &a.region, &a.line]
        .iter()
        .any(|s| s.chars().count() > 200)
        || a.postcode.as_deref().is_some_and(|p| p.len() > 10)
    {
        return Err(Error::invalid(
            "invalid_address",
            "address fields are at most 200 characters",
        ));
    }
    Ok(())
}

async fn placed_by_key(conn: &mut Conn, profile_id: &str, key: &str) -> Result<Option<Placed>> {
    let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, order_no, total_fen, expires_at FROM orders WHERE profile_id = $1 AND checkout_key = $2",
    )
    .bind(profile_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(
        row.map(|(order_id, order_no, payable_fen, expires_at)| Placed {
            order_id,
            order_no,
            payable_fen,
            expires_at: expires_at.unwrap_or_default(),
            created: false,
        }),
    )
}

/// What checkout decides before it writes.
struct Prepared {
    quote: Quote,
    touch: super::attribution::Touch,
}

async fn prepare(
    conn: &mut Conn,
    buyer: &Buyer,
    session_channel: &str,
    req: &CheckoutRequest,
    at: Micros,
) -> Result<Prepared> {
    let quote = pricing::quote(conn, Some(buyer), &req.items, &req.apply, at).await?;
    check_service_items(conn, buyer, &req.items, &quote).await?;
    let physical = quote.lines.iter().any(|l| l.item.kind != "service");
    if physical && req.address.is_none() {
        return Err(Error::invalid(
            "address_required",
            "where should we ship this order?",
        ));
    }
    let touch =
        super::attribution::resolve(conn, &buyer.profile_id, &req.entry, session_channel, at)
            .await?;
    Ok(Prepared { quote, touch })
}

async fn place_in(
    conn: &mut Conn,
    backend: Backend,
    buyer: &Buyer,
    req: &CheckoutRequest,
    prepared: &Prepared,
    at: Micros,
) -> Result<Placed> {
    let (quote, touch) = (&prepared.quote, &prepared.touch);
    let order_id = new_id();
    let order_no = order_number(at);
    let expires_at = at + PAYMENT_TIMEOUT;
    insert_order(
        conn, &order_id, &order_no, buyer, req, quote, touch, expires_at, at,
    )
    .await?;
    let line_ids: Vec<String> = (0..quote.lines.len())
        .map(|i| format!("{order_id}-{i:02}"))
        .collect();
    insert_lines(conn, backend, &order_id, &line_ids, quote, req).await?;
    let mut needs = Vec::new();
    for (line_id, line) in line_ids.iter().zip(&quote.lines) {
        needs.extend(line.item.stock.iter().map(|(sku, per_unit)| stock::Need {
            line_id: line_id.clone(),
            sku_id: sku.clone(),
            quantity: per_unit * line.quantity,
        }));
    }
    stock::reserve(conn, &order_id, &needs, at).await?;
    let pricing_lines: Vec<_> = quote.lines.iter().map(|l| l.pricing_line()).collect();
    promotions::claim(
        conn,
        backend,
        &order_id,
        buyer,
        &pricing_lines,
        &quote.discounts,
        at,
    )
    .await?;
    if let Some(member) = &buyer.member_id {
        if quote.points_used > 0 {
            points::freeze(
                conn,
                backend,
                member,
                quote.points_used,
                &points_key(&order_id),
                "order",
                at,
            )
            .await?;
        }
        if let Some(grant) = &quote.grant_id {
            benefits::use_grant(
                conn,
                backend,
                member,
                grant,
                &format!("order:{order_id}"),
                at,
            )
            .await?;
        }
    }
    orders::record(
        conn,
        &order_id,
        None,
        Status::PendingPayment,
        &format!("customer:{}", buyer.profile_id),
        None,
        at,
    )
    .await?;
    emit(
        conn,
        &DomainEvent::new(
            "order.placed",
            buyer.profile_id.clone(),
            format!("order.placed:{order_id}"),
            json!({ "order_id": order_id, "order_no": order_no, "total_fen": quote.payable_fen,
                    "items": quote.lines.iter().map(|l| json!({"sku": l.item.sku_code, "category": l.item.category_code, "quantity": l.quantity})).collect::<Vec<_>>(),
                    "channel": touch.channel, "campaign": touch.campaign }),
            at,
        ),
    )
    .await?;
    jobs::enqueue(
        conn,
        NewJob::new(EXPIRE_JOB, json!({ "order_id": order_id }))
            .at(expires_at)
            .dedupe(format!("order-expire:{order_id}")),
    )
    .await?;
    if req.from_cart {
        super::cart::remove_bought(conn, &buyer.profile_id, &req.items).await?;
    }
    Ok(Placed {
        order_id,
        order_no,
        payable_fen: quote.payable_fen,
        expires_at,
        created: true,
    })
}

/// The hold key of the points an order uses.
pub fn points_key(order_id: &str) -> String {
    format!("checkout:{order_id}")
}

/// Order numbers customers read out on the phone: time plus random digits.
fn order_number(at: Micros) -> String {
    let local = clock::to_datetime(at + 8 * clock::HOUR);
    format!(
        "{}{:08}",
        local.format("%y%m%d%H%M%S"),
        rand::random::<u32>() % 100_000_000
    )
}

/// A service product (warranty extension) is bought for a device the buyer owns.
async fn check_service_items(
    conn: &mut Conn,
    buyer: &Buyer,
    items: &[Item],
    quote: &Quote,
) -> Result<()> {
    for (item, line) in items.iter().zip(&quote.lines) {
        if line.item.service.is_none() {
            continue;
        }
        let tag = item.service_tag.as_deref().ok_or(Error::invalid(
            "service_tag_required",
            "which device is this service for?",
        ))?;
        let tag = ServiceTag::parse(tag)?;
        let owner: Option<Option<String>> =
            sqlx::query_scalar("SELECT member_id FROM devices WHERE service_tag = $1")
                .bind(tag.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        let owner = owner.ok_or(Error::not_found("device"))?;
        if owner.is_none() || owner != buyer.member_id {
            return Err(Error::invalid(
                "device_not_yours",
                "bind the device to your membership before buying service for it",
            ));
        }
        if line.quantity != 1 {
            return Err(Error::invalid(
                "invalid_quantity",
                "one service per device per line",
            ));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_order(
    conn: &mut Conn,
    order_id: &str,
    order_no: &str,
    buyer: &Buyer,
    req: &CheckoutRequest,
    quote: &Quote,
    touch: &super::attribution::Touch,
    expires_at: Micros,
    at: Micros,
) -> Result<()> {
    let to_json = |v: Option<Value>| v.map(|v| v.to_string());
    sqlx::query(
        "INSERT INTO orders (id, order_no, member_id, profile_id, checkout_key, channel, store_id, reseller_id, staff_id, \
         status, total_fen, list_fen, discount_fen, points_used, points_fen, shipping_fen, pricing, address, invoice, remark, \
         expires_at, campaign, scene, first_touch, last_touch, grant_id, placed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending_payment', $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21, $22, $23, $24, $25, $26)",
    )
    .bind(order_id)
    .bind(order_no)
    .bind(&buyer.member_id)
    .bind(&buyer.profile_id)
    .bind(&req.key)
    .bind(&touch.channel)
    .bind(&touch.store_id)
    .bind(&touch.reseller_id)
    .bind(&touch.staff_id)
    .bind(quote.payable_fen)
    .bind(quote.list_fen)
    .bind(quote.member_saving_fen + quote.discount_fen)
    .bind(quote.points_used)
    .bind(quote.points_fen)
    .bind(quote.shipping_fen)
    .bind(json!({ "explanation": quote.explanation, "discounts": quote.discounts, "benefit": quote.benefit }).to_string())
    .bind(to_json(req.address.as_ref().map(|a| json!(a))))
    .bind(to_json(req.invoice.as_ref().map(|i| json!(i))))
    .bind(&req.remark)
    .bind(expires_at)
    .bind(&touch.campaign)
    .bind(&touch.scene)
    .bind(to_json(touch.first.clone()))
    .bind(to_json(touch.last.clone()))
    .bind(&quote.grant_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every line of the order in one statement.
async fn insert_lines(
    conn: &mut Conn,
    backend: Backend,
    order_id: &str,
    line_ids: &[String],
    quote: &Quote,
    req: &CheckoutRequest,
) -> Result<()> {
    let mut insert = Multi::new(
        backend,
        "INSERT INTO order_lines (id, order_id, product_id, quantity, unit_price_fen, sku_id, title, options, \
         list_unit_fen, discount_fen, points_fen, paid_fen, service_tag) VALUES ",
    );
    for ((line_id, line), item) in line_ids.iter().zip(&quote.lines).zip(&req.items) {
        let service_tag = item
            .service_tag
            .as_deref()
            .map(|t| t.trim().to_ascii_uppercase());
        insert.row(|r| {
            r.bind(line_id.clone())
                .bind(order_id.to_owned())
                .bind(line.item.product_id.clone())
                .bind(line.quantity)
                .bind(line.unit_fen)
                .bind(line.item.sku_id.clone())
                .bind(line.item.title.clone())
                .bind(json!(line.item.options).to_string())
                .bind(line.list_unit_fen)
                .bind(line.discount_fen)
                .bind(line.points_fen)
                .bind(line.paid_fen)
                .bind(service_tag);
        });
    }
    insert.execute(conn, "").await?;
    Ok(())
}
