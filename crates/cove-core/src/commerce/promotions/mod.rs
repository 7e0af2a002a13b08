//! Promotions: coupon templates and the coupons issued from them
//! ([`coupons`]), automatic discounts such as 满减 ([`discounts`]), flash
//! sales with their own stock pool and per-person limits ([`flash`]), and how
//! they combine on one order ([`combine`]).
//!
//! Checkout calls, in its own transaction: [`discounts`] to price a cart,
//! [`claim`] when the order is placed (coupon locked, budgets and flash pool
//! taken by guarded updates), then [`settle`] on payment or [`release`] on
//! cancellation or timeout. Every limit — coupons issued, claims per person,
//! budget spent, units sold, units per person — is a counter changed only by
//! `UPDATE … WHERE counter + n <= limit`, so concurrent checkouts and claims
//! can never pass it.

pub mod combine;
pub mod coupons;
pub mod discounts;
pub mod flash;

use crate::clock::Micros;
use crate::commerce::pricing::{Buyer, Discount, DiscountKind, PricingLine};
use crate::db::{new_id, Backend, Conn};
use crate::error::{Error, Result};
use combine::{CouponRule, FlashItem, PromotionRule};
use serde::{Deserialize, Serialize};
use sqlx::Row;

pub use coupons::{Coupon, CouponTemplate, NewCouponTemplate};
pub use discounts::{NewPromotion, Promotion};
pub use flash::{FlashOffer, FlashSale, FlashSaleItem, NewFlashItem, NewFlashSale};

/// Who a coupon or promotion is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Only these product ids.
    Products(Vec<String>),
    /// Only products of these category codes.
    Categories(Vec<String>),
    /// Everything, but only for members of these tiers.
    Tiers(Vec<String>),
}

impl Scope {
    /// Reads the stored (or submitted) pair; a narrowing scope needs values.
    pub fn parse(kind: &str, values: Vec<String>) -> Result<Scope> {
        let values: Vec<String> = values
            .into_iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        let scope = match kind {
            "all" => return Ok(Scope::All),
            "products" => Scope::Products(values),
            "categories" => Scope::Categories(values),
            "tiers" => Scope::Tiers(values),
            _ => {
                return Err(Error::invalid(
                    "invalid_scope",
                    "scope is all, products, categories or tiers",
                ))
            }
        };
        if scope.values().is_empty() {
            return Err(Error::invalid(
                "invalid_scope",
                format!("a {kind} scope needs at least one value"),
            ));
        }
        Ok(scope)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Products(_) => "products",
            Scope::Categories(_) => "categories",
            Scope::Tiers(_) => "tiers",
        }
    }

    pub fn values(&self) -> &[String] {
        match self {
            Scope::All => &[],
            Scope::Products(v) | Scope::Categories(v) | Scope::Tiers(v) => v,
        }
    }

    /// Does it cover this line for a buyer of `tier`?
    pub fn covers(&self, line: &PricingLine, tier: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Products(ids) => ids.contains(&line.product_id),
            Scope::Categories(codes) => codes.contains(&line.category_code),
            Scope::Tiers(tiers) => tier.is_some_and(|t| tiers.iter().any(|x| x == t)),
        }
    }

    /// May a buyer of `tier` hold or use it at all?
    pub fn admits(&self, tier: Option<&str>) -> bool {
        match self {
            Scope::Tiers(tiers) => tier.is_some_and(|t| tiers.iter().any(|x| x == t)),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponKind {
    AmountOff,
    PercentOff,
}

impl CouponKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CouponKind::AmountOff => "amount_off",
            CouponKind::PercentOff => "percent_off",
        }
    }
    fn parse(s: &str) -> CouponKind {
        if s == "percent_off" {
            CouponKind::PercentOff
        } else {
            CouponKind::AmountOff
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromotionKind {
    /// 满减: spend at least a threshold, get an amount off.
    ThresholdAmountOff,
    PercentOff,
}

impl PromotionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionKind::ThresholdAmountOff => "threshold_amount_off",
            PromotionKind::PercentOff => "percent_off",
        }
    }
    fn parse(s: &str) -> PromotionKind {
        if s == "percent_off" {
            PromotionKind::PercentOff
        } else {
            PromotionKind::ThresholdAmountOff
        }
    }
}

/// One step of a 满减: spend `threshold_fen`, get `off_fen` off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ThresholdRule {
    pub threshold_fen: i64,
    pub off_fen: i64,
}

/// The state staff set on a template, promotion or flash sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Paused,
    Ended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Ended => "ended",
        }
    }
    fn parse(s: &str) -> Status {
        match s {
            "paused" => Status::Paused,
            "ended" => Status::Ended,
            _ => Status::Active,
        }
    }
}

/// A coupon the buyer can use on the lines now, and what it would save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UsableCoupon {
    pub coupon_id: String,
    pub template_id: String,
    pub name: String,
    pub amount_fen: i64,
    pub valid_until: Micros,
}

fn window_check(starts_at: Micros, ends_at: Micros) -> Result<()> {
    if ends_at <= starts_at {
        return Err(Error::invalid(
            "invalid_window",
            "ends_at must be after starts_at",
        ));
    }
    Ok(())
}

fn name_check(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a name of 1 to 100 characters is required",
        ));
    }
    Ok(name.to_owned())
}

fn json_list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

// ---- checkout --------------------------------------------------------------

async fn live_flash(conn: &mut Conn, profile_id: &str, at: Micros) -> Result<Vec<FlashItem>> {
    let rows = sqlx::query(
        "SELECT i.id, i.sale_id, s.name, i.sku_id, i.price_fen, i.per_person_limit, \
         COALESCE(b.bought, 0) AS bought \
         FROM flash_sale_items i JOIN flash_sales s ON s.id = i.sale_id \
         LEFT JOIN flash_sale_buyers b ON b.item_id = i.id AND b.profile_id = $1 \
         WHERE s.status = 'active' AND s.starts_at <= $2 AND s.ends_at > $2 \
         ORDER BY i.price_fen, s.starts_at",
    )
    .bind(profile_id)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(FlashItem {
                item_id: r.try_get("id")?,
                sale_id: r.try_get("sale_id")?,
                sale_name: r.try_get("name")?,
                sku_id: r.try_get("sku_id")?,
                price_fen: r.try_get("price_fen")?,
                per_person_limit: r.try_get("per_person_limit")?,
                bought: r.try_get("bought")?,
            })
        })
        .collect()
}

async fn live_promotions(conn: &mut Conn, at: Micros) -> Result<Vec<PromotionRule>> {
    let rows = sqlx::query(
        "SELECT id, name, kind, rules, every_threshold, percent, cap_fen, scope, scope_values, \
         priority, is_exclusive, stackable_with_coupons, budget_fen, spent_fen \
         FROM promotions WHERE status = 'active' AND starts_at <= $1 AND ends_at > $1",
    )
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let budget: Option<i64> = r.try_get("budget_fen")?;
        let spent: i64 = r.try_get("spent_fen")?;
        let rules: String = r.try_get("rules")?;
        let scope: String = r.try_get("scope")?;
        let values: String = r.try_get("scope_values")?;
        out.push(PromotionRule {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            kind: PromotionKind::parse(&r.try_get::<String, _>("kind")?),
            rules: serde_json::from_str(&rules).unwrap_or_default(),
            every_threshold: r.try_get::<i64, _>("every_threshold")? != 0,
            percent: r.try_get("percent")?,
            cap_fen: r.try_get("cap_fen")?,
            scope: Scope::parse(&scope, json_list(&values)).unwrap_or(Scope::Products(vec![])),
            priority: r.try_get("priority")?,
            exclusive: r.try_get::<i64, _>("is_exclusive")? != 0,
            stackable_with_coupons: r.try_get::<i64, _>("stackable_with_coupons")? != 0,
            budget_left: budget.map(|b| b - spent),
        });
    }
    Ok(out)
}

/// The buyer's coupon as `compute` needs it, refusing one that is not theirs,
/// not yet or no longer valid, or already taken.
async fn usable_coupon(
    conn: &mut Conn,
    buyer: &Buyer,
    coupon_id: &str,
    at: Micros,
) -> Result<CouponRule> {
    let row = sqlx::query(
        "SELECT c.profile_id, c.status, c.valid_from, c.valid_until, t.name, t.kind, t.amount_fen, \
         t.percent, t.cap_fen, t.threshold_fen, t.scope, t.scope_values, \
         t.stackable_with_promotions, t.budget_fen, t.spent_fen \
         FROM coupons c JOIN coupon_templates t ON t.id = c.template_id WHERE c.id = $1",
    )
    .bind(coupon_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::invalid("coupon_not_found", "there is no such coupon"))?;
    let owner: String = row.try_get("profile_id")?;
    if owner != buyer.profile_id {
        return Err(Error::invalid(
            "coupon_not_yours",
            "this coupon belongs to someone else",
        ));
    }
    let status: String = row.try_get("status")?;
    let valid_from: Micros = row.try_get("valid_from")?;
    let valid_until: Micros = row.try_get("valid_until")?;
    match status.as_str() {
        "issued" if valid_until <= at => {
            return Err(Error::invalid("coupon_expired", "this coupon has expired"))
        }
        "issued" if valid_from > at => {
            return Err(Error::invalid(
                "coupon_not_yet_valid",
                "this coupon cannot be used yet",
            ))
        }
        "issued" => {}
        "expired" => return Err(Error::invalid("coupon_expired", "this coupon has expired")),
        "void" => return Err(Error::invalid("coupon_void", "this coupon was withdrawn")),
        _ => {
            return Err(Error::invalid(
                "coupon_used",
                "this coupon has been used on another order",
            ))
        }
    }
    let scope: String = row.try_get("scope")?;
    let values: String = row.try_get("scope_values")?;
    let budget: Option<i64> = row.try_get("budget_fen")?;
    let spent: i64 = row.try_get("spent_fen")?;
    Ok(CouponRule {
        coupon_id: coupon_id.to_owned(),
        name: row.try_get("name")?,
        kind: CouponKind::parse(&row.try_get::<String, _>("kind")?),
        amount_fen: row.try_get("amount_fen")?,
        percent: row.try_get("percent")?,
        cap_fen: row.try_get("cap_fen")?,
        threshold_fen: row.try_get("threshold_fen")?,
        scope: Scope::parse(&scope, json_list(&values)).unwrap_or(Scope::Products(vec![])),
        stackable_with_promotions: row.try_get::<i64, _>("stackable_with_promotions")? != 0,
        budget_left: budget.map(|b| b - spent),
    })
}

/// The discounts for these lines (flash-sale prices for plain SKUs in a live
/// sale, then automatic promotions by priority and exclusivity, then at most
/// the buyer's own coupon). A coupon that cannot apply is an error with a
/// specific code, never silently dropped.
pub async fn discounts(
    conn: &mut Conn,
    buyer: &Buyer,
    lines: &[PricingLine],
    coupon_id: Option<&str>,
    at: Micros,
) -> Result<Vec<Discount>> {
    let flash = live_flash(conn, &buyer.profile_id, at).await?;
    let promotions = live_promotions(conn, at).await?;
    let coupon = match coupon_id {
        Some(id) => Some(usable_coupon(conn, buyer, id, at).await?),
        None => None,
    };
    combine::compute(
        buyer.tier.as_deref(),
        lines,
        &flash,
        &promotions,
        coupon.as_ref(),
    )
}

/// Coupons the buyer can use on these lines now, best first.
pub async fn usable_coupons(
    conn: &mut Conn,
    buyer: &Buyer,
    lines: &[PricingLine],
    at: Micros,
) -> Result<Vec<UsableCoupon>> {
    let flash = live_flash(conn, &buyer.profile_id, at).await?;
    let promotions = live_promotions(conn, at).await?;
    let held = sqlx::query(
        "SELECT id, template_id, valid_until FROM coupons \
         WHERE profile_id = $1 AND status = 'issued' AND valid_from <= $2 AND valid_until > $2",
    )
    .bind(&buyer.profile_id)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for r in &held {
        let id: String = r.try_get("id")?;
        let rule = usable_coupon(conn, buyer, &id, at).await?;
        let Ok(found) = combine::compute(
            buyer.tier.as_deref(),
            lines,
            &flash,
            &promotions,
            Some(&rule),
        ) else {
            continue;
        };
        let amount_fen = found
            .iter()
            .filter(|d| d.kind == DiscountKind::Coupon)
            .map(|d| d.amount_fen)
            .sum();
        if amount_fen > 0 {
            out.push(UsableCoupon {
                coupon_id: id,
                template_id: r.try_get("template_id")?,
                name: rule.name,
                amount_fen,
                valid_until: r.try_get("valid_until")?,
            });
        }
    }
    out.sort_by(|a, b| {
        b.amount_fen
            .cmp(&a.amount_fen)
            .then(a.valid_until.cmp(&b.valid_until))
    });
    Ok(out)
}

/// Claims what [`discounts`] computed for order `order_id`: the coupon goes
/// from issued to locked, budgets are spent, flash-sale units come out of the
/// pool and the buyer's allowance. Idempotent per order; on any conflict the
/// caller's transaction must be rolled back.
pub async fn claim(
    conn: &mut Conn,
    _backend: Backend,
    order_id: &str,
    buyer: &Buyer,
    lines: &[PricingLine],
    discounts: &[Discount],
    at: Micros,
) -> Result<()> {
    if discounts.is_empty() {
        return Ok(());
    }
    let prior = sqlx::query(
        "SELECT status FROM promotion_redemptions WHERE order_id = $1 \
         UNION ALL SELECT status FROM flash_sale_purchases WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    if !prior.is_empty() {
        if prior.iter().any(|r| {
            r.try_get::<String, _>("status")
                .is_ok_and(|s| s == "released")
        }) {
            return Err(Error::conflict(
                "promotions_released",
                "this order's promotions were released; place a new order",
            ));
        }
        return Ok(());
    }
    for d in discounts {
        if d.amount_fen < 0
            || d.allocations
                .iter()
                .any(|(i, a)| *i >= lines.len() || *a < 0)
        {
            return Err(Error::invalid(
                "invalid_discount",
                "a discount does not match the order's lines",
            ));
        }
        let mut template_id: Option<String> = None;
        match d.kind {
            DiscountKind::FlashSale => {
                claim_flash(conn, order_id, buyer, lines, d, at).await?;
            }
            DiscountKind::Promotion => {
                let n = sqlx::query(
                    "UPDATE promotions SET spent_fen = spent_fen + $2 \
                     WHERE id = $1 AND (budget_fen IS NULL OR spent_fen + $2 <= budget_fen)",
                )
                .bind(&d.reference)
                .bind(d.amount_fen)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(Error::conflict(
                        "promotion_budget_exhausted",
                        format!("{} has run out of budget", d.label),
                    ));
                }
            }
            DiscountKind::Coupon => {
                let n = sqlx::query(
                    "UPDATE coupons SET status = 'locked', order_id = $2, locked_at = $3 \
                     WHERE id = $1 AND profile_id = $4 AND status = 'issued' \
                     AND valid_from <= $3 AND valid_until > $3",
                )
                .bind(&d.reference)
                .bind(order_id)
                .bind(at)
                .bind(&buyer.profile_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(Error::conflict(
                        "coupon_used",
                        "this coupon was used on another order",
                    ));
                }
                let template: String =
                    sqlx::query_scalar("SELECT template_id FROM coupons WHERE id = $1")
                        .bind(&d.reference)
                        .fetch_one(&mut *conn)
                        .await?;
                let n = sqlx::query(
                    "UPDATE coupon_templates SET spent_fen = spent_fen + $2 \
                     WHERE id = $1 AND (budget_fen IS NULL OR spent_fen + $2 <= budget_fen)",
                )
                .bind(&template)
                .bind(d.amount_fen)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(Error::conflict(
                        "promotion_budget_exhausted",
                        format!("{} has run out of budget", d.label),
                    ));
                }
                template_id = Some(template);
            }
        }
        sqlx::query(
            "INSERT INTO promotion_redemptions (id, order_id, kind, reference, template_id, \
             amount_fen, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'applied', $7)",
        )
        .bind(new_id())
        .bind(order_id)
        .bind(kind_str(d.kind))
        .bind(&d.reference)
        .bind(template_id)
        .bind(d.amount_fen)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn kind_str(kind: DiscountKind) -> &'static str {
    match kind {
        DiscountKind::FlashSale => "flash_sale",
        DiscountKind::Promotion => "promotion",
        DiscountKind::Coupon => "coupon",
    }
}

/// Takes the flash-sale units of discount `d` out of the pool and the
/// buyer's allowance (both guarded) and records the purchase.
async fn claim_flash(
    conn: &mut Conn,
    order_id: &str,
    buyer: &Buyer,
    lines: &[PricingLine],
    d: &Discount,
    at: Micros,
) -> Result<()> {
    let mut per_sku: Vec<(&str, i64)> = Vec::new();
    for (i, _) in &d.allocations {
        let line = &lines[*i];
        match per_sku.iter_mut().find(|(s, _)| *s == line.sku_id) {
            Some((_, q)) => *q += line.quantity,
            None => per_sku.push((&line.sku_id, line.quantity)),
        }
    }
    for (sku_id, quantity) in per_sku {
        let item = sqlx::query(
            "SELECT i.id, i.per_person_limit FROM flash_sale_items i \
             JOIN flash_sales s ON s.id = i.sale_id \
             WHERE i.sale_id = $1 AND i.sku_id = $2 AND s.status = 'active' \
             AND s.starts_at <= $3 AND s.ends_at > $3",
        )
        .bind(&d.reference)
        .bind(sku_id)
        .bind(at)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::conflict("flash_sale_over", "this flash sale is no longer on"))?;
        let item_id: String = item.try_get("id")?;
        let limit: i64 = item.try_get("per_person_limit")?;
        let n = sqlx::query(
            "UPDATE flash_sale_items SET sold = sold + $2 WHERE id = $1 AND sold + $2 <= pool",
        )
        .bind(&item_id)
        .bind(quantity)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::conflict(
                "flash_sale_sold_out",
                format!("{} has sold out", d.label),
            ));
        }
        let n = sqlx::query(
            "INSERT INTO flash_sale_buyers (item_id, profile_id, bought) \
             SELECT $1, $2, $3 WHERE $3 <= $4 \
             ON CONFLICT (item_id, profile_id) DO UPDATE \
             SET bought = flash_sale_buyers.bought + excluded.bought \
             WHERE flash_sale_buyers.bought + excluded.bought <= $4",
        )
        .bind(&item_id)
        .bind(&buyer.profile_id)
        .bind(quantity)
        .bind(limit)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::conflict(
                "flash_sale_limit_reached",
                format!("{} allows {limit} per person", d.label),
            ));
        }
        sqlx::query(
            "INSERT INTO flash_sale_purchases (id, item_id, profile_id, order_id, quantity, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'reserved', $6)",
        )
        .bind(new_id())
        .bind(&item_id)
        .bind(&buyer.profile_id)
        .bind(order_id)
        .bind(quantity)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The order was paid: its locked coupons become used. Idempotent.
pub async fn settle(conn: &mut Conn, order_id: &str, at: Micros) -> Result<()> {
    sqlx::query(
        "UPDATE coupons SET status = 'used', used_at = $2 WHERE order_id = $1 AND status = 'locked'",
    )
    .bind(order_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The order was cancelled or timed out before payment: its coupon goes back
/// to issued (or expired, past its validity), and flash-sale units,
/// per-person counts and budgets are returned. Idempotent.
pub async fn release(conn: &mut Conn, _backend: Backend, order_id: &str, at: Micros) -> Result<()> {
    let used: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM coupons WHERE order_id = $1 AND status = 'used'")
            .bind(order_id)
            .fetch_one(&mut *conn)
            .await?;
    if used > 0 {
        return Err(Error::conflict(
            "order_settled",
            "the order was paid; its coupon stays used",
        ));
    }
    sqlx::query(
        "UPDATE coupons SET status = CASE WHEN valid_until > $2 THEN 'issued' ELSE 'expired' END, \
         order_id = NULL, locked_at = NULL WHERE order_id = $1 AND status = 'locked'",
    )
    .bind(order_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let redeemed = sqlx::query(
        "SELECT id, kind, reference, template_id, amount_fen FROM promotion_redemptions \
         WHERE order_id = $1 AND status = 'applied'",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    for r in &redeemed {
        let id: String = r.try_get("id")?;
        let n = sqlx::query(
            "UPDATE promotion_redemptions SET status = 'released', released_at = $2 \
             WHERE id = $1 AND status = 'applied'",
        )
        .bind(&id)
        .bind(at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n == 0 {
            continue;
        }
        let amount: i64 = r.try_get("amount_fen")?;
        let kind: String = r.try_get("kind")?;
        let (sql, target) = match kind.as_str() {
            "promotion" => (
                "UPDATE promotions SET spent_fen = spent_fen - $2 WHERE id = $1",
                r.try_get::<String, _>("reference")?,
            ),
            "coupon" => match r.try_get::<Option<String>, _>("template_id")? {
                Some(t) => (
                    "UPDATE coupon_templates SET spent_fen = spent_fen - $2 WHERE id = $1",
                    t,
                ),
                None => continue,
            },
            _ => continue,
        };
        sqlx::query(sql)
            .bind(target)
            .bind(amount)
            .execute(&mut *conn)
            .await?;
    }
    let held = sqlx::query(
        "SELECT id, item_id, profile_id, quantity FROM flash_sale_purchases \
         WHERE order_id = $1 AND status = 'reserved'",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    for r in &held {
        let id: String = r.try_get("id")?;
        let n = sqlx::query(
            "UPDATE flash_sale_purchases SET status = 'released', released_at = $2 \
             WHERE id = $1 AND status = 'reserved'",
        )
        .bind(&id)
        .bind(at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n == 0 {
            continue;
        }
        let item_id: String = r.try_get("item_id")?;
        let profile_id: String = r.try_get("profile_id")?;
        let quantity: i64 = r.try_get("quantity")?;
        sqlx::query("UPDATE flash_sale_items SET sold = sold - $2 WHERE id = $1")
            .bind(&item_id)
            .bind(quantity)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE flash_sale_buyers SET bought = bought - $3 WHERE item_id = $1 AND profile_id = $2",
        )
        .bind(&item_id)
        .bind(&profile_id)
        .bind(quantity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The live flash-sale offer for a SKU (product page, home).
pub async fn flash_offer(conn: &mut Conn, sku_id: &str, at: Micros) -> Result<Option<FlashOffer>> {
    flash::offer(conn, sku_id, at).await
}

/// Results of one campaign for the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CampaignResult {
    /// coupon_template | promotion | flash_sale
    pub kind: String,
    pub id: String,
    pub name: String,
    pub status: Status,
    /// Coupons issued (templates).
    pub issued: i64,
    /// Coupons used on paid orders (templates).
    pub used: i64,
    /// Orders holding a redemption now (not released).
    pub orders: i64,
    pub discount_fen: i64,
    pub budget_fen: Option<i64>,
    pub budget_left_fen: Option<i64>,
    /// Flash sales: units sold and the pool, over all items.
    pub sold: i64,
    pub pool: i64,
}

async fn redeemed(conn: &mut Conn, column: &str, id: &str) -> Result<(i64, i64)> {
    let sql = format!(
        "SELECT COUNT(DISTINCT order_id) AS orders, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS fen \
         FROM promotion_redemptions WHERE {column} = $1 AND status = 'applied'"
    );
    let r = sqlx::query(&sql).bind(id).fetch_one(&mut *conn).await?;
    Ok((r.try_get("orders")?, r.try_get("fen")?))
}

/// Results of every campaign, newest first.
pub async fn results(conn: &mut Conn) -> Result<Vec<CampaignResult>> {
    let mut out = Vec::new();
    for t in coupons::list_templates(conn).await? {
        let used: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM coupons WHERE template_id = $1 AND status = 'used'",
        )
        .bind(&t.id)
        .fetch_one(&mut *conn)
        .await?;
        let (orders, fen) = redeemed(conn, "template_id", &t.id).await?;
        out.push(CampaignResult {
            kind: "coupon_template".into(),
            budget_left_fen: t.budget_fen.map(|b| b - t.spent_fen),
            id: t.id,
            name: t.name,
            status: t.status,
            issued: t.issued_count,
            used,
            orders,
            discount_fen: fen,
            budget_fen: t.budget_fen,
            sold: 0,
            pool: 0,
        });
    }
    for p in discounts::list(conn).await? {
        let (orders, fen) = redeemed(conn, "reference", &p.id).await?;
        out.push(CampaignResult {
            kind: "promotion".into(),
            budget_left_fen: p.budget_fen.map(|b| b - p.spent_fen),
            id: p.id,
            name: p.name,
            status: p.status,
            issued: 0,
            used: 0,
            orders,
            discount_fen: fen,
            budget_fen: p.budget_fen,
            sold: 0,
            pool: 0,
        });
    }
    for s in flash::list(conn).await? {
        let (orders, fen) = redeemed(conn, "reference", &s.id).await?;
        out.push(CampaignResult {
            kind: "flash_sale".into(),
            sold: s.items.iter().map(|i| i.sold).sum(),
            pool: s.items.iter().map(|i| i.pool).sum(),
            id: s.id,
            name: s.name,
            status: s.status,
            issued: 0,
            used: 0,
            orders,
            discount_fen: fen,
            budget_fen: None,
            budget_left_fen: None,
        });
    }
    Ok(out)
}

/// Sets a template's, promotion's or flash sale's status (pause, resume, end).
pub async fn set_status(
    conn: &mut Conn,
    table: Campaign,
    id: &str,
    status: Status,
    at: Micros,
) -> Result<()> {
    let (sql, what) = match table {
        Campaign::CouponTemplate => (
            "UPDATE coupon_templates SET status = $2, updated_at = $3 WHERE id = $1 AND status <> 'ended'",
            "coupon template",
        ),
        Campaign::Promotion => (
            "UPDATE promotions SET status = $2, updated_at = $3 WHERE id = $1 AND status <> 'ended'",
            "promotion",
        ),
        Campaign::FlashSale => (
            "UPDATE flash_sales SET status = $2, updated_at = $3 WHERE id = $1 AND status <> 'ended'",
            "flash sale",
        ),
    };
    let n = sqlx::query(sql)
        .bind(id)
        .bind(status.as_str())
        .bind(at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 0 {
        let table = match table {
            Campaign::CouponTemplate => "coupon_templates",
            Campaign::Promotion => "promotions",
            Campaign::FlashSale => "flash_sales",
        };
        let exists: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE id = $1"))
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        if exists == 0 {
            return Err(Error::not_found(what));
        }
        return Err(Error::conflict(
            "campaign_ended",
            format!("the {what} has ended and cannot change"),
        ));
    }
    Ok(())
}

/// Which kind of campaign [`set_status`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Campaign {
    CouponTemplate,
    Promotion,
    FlashSale,
}

/// The buyer as promotions see them: the profile, and the member's tier.
pub async fn buyer(conn: &mut Conn, profile_id: &str, member_id: Option<&str>) -> Result<Buyer> {
    let tier: Option<String> = match member_id {
        Some(m) => {
            sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
                .bind(m)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    Ok(Buyer {
        profile_id: profile_id.to_owned(),
        member_id: member_id.map(str::to_owned),
        tier,
    })
}
