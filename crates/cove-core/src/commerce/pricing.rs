//! The price of a cart, computed on the server and explained line by line:
//! list price, member price, promotions, coupon, points, shipping.

use super::catalog::{configure, Configured};
use crate::clock::Micros;
use crate::db::Conn;
use crate::error::{Error, Result};
use crate::membership::{benefits, points};
use serde::{Deserialize, Serialize};

/// A line as promotions see it: what is bought and its price after the
/// member price, before any promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PricingLine {
    pub product_id: String,
    pub sku_id: String,
    pub category_code: String,
    pub quantity: i64,
    /// List price of one unit (base plus option deltas).
    pub list_unit_fen: i64,
    /// What one unit costs this customer before promotions (member price).
    pub unit_fen: i64,
    /// Configured with options (flash sales apply to plain SKUs only).
    pub configured: bool,
}

impl PricingLine {
    pub fn subtotal_fen(&self) -> i64 {
        self.unit_fen * self.quantity
    }
}

/// Where a discount comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    FlashSale,
    Promotion,
    Coupon,
}

/// One discount, allocated to the lines it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Discount {
    pub kind: DiscountKind,
    /// The flash sale, promotion or issued coupon id.
    pub reference: String,
    pub label: String,
    /// (line index, fen off that line); the amounts sum to `amount_fen`.
    pub allocations: Vec<(usize, i64)>,
    pub amount_fen: i64,
}

/// Who is buying, as promotions need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    pub profile_id: String,
    pub member_id: Option<String>,
    pub tier: Option<String>,
}

/// What one point is worth at checkout, and how much of an order points may pay.
pub const FEN_PER_POINT: i64 = 1;
pub const POINTS_MAX_PCT: i64 = 50;
/// Shipping: free for members with the benefit and from the threshold.
pub const SHIPPING_FEN: i64 = 1_000;
pub const FREE_SHIPPING_FROM_FEN: i64 = 9_900;

/// One item to price: a SKU, its options, how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    pub sku_id: String,
    #[serde(default)]
    pub options: Vec<String>,
    pub quantity: i64,
    /// Service products: the customer's device the cover is for.
    #[serde(default)]
    pub service_tag: Option<String>,
}

/// What the customer asks to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Apply {
    /// An issued coupon of the buyer.
    pub coupon_id: Option<String>,
    /// A membership benefit grant worth fen off (birthday offer).
    pub grant_id: Option<String>,
    /// Points to pay with.
    #[serde(default)]
    pub points: i64,
}

/// A priced line: the configuration and where its price went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuoteLine {
    pub item: Configured,
    pub quantity: i64,
    pub list_unit_fen: i64,
    /// Member price of one unit (the list price for non-members).
    pub unit_fen: i64,
    /// Promotions, coupon and benefit allocated to this line.
    pub discount_fen: i64,
    pub points_fen: i64,
    /// What the line costs after everything.
    pub paid_fen: i64,
}

/// One row of the explanation a customer reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explained {
    /// list | member_price | flash_sale | promotion | coupon | benefit | points | shipping | payable
    pub kind: String,
    pub label: String,
    /// Positive adds, negative takes off.
    pub amount_fen: i64,
}

/// The server's price of a set of items for a buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quote {
    pub lines: Vec<QuoteLine>,
    /// Flash sales, promotions and the coupon (claimed by promotions at checkout).
    pub discounts: Vec<Discount>,
    /// A membership benefit used on the order (birthday offer).
    pub benefit: Option<Discount>,
    pub explanation: Vec<Explained>,
    pub list_fen: i64,
    pub member_saving_fen: i64,
    pub discount_fen: i64,
    pub points_used: i64,
    pub points_fen: i64,
    /// The most points this order may use.
    pub points_max: i64,
    pub shipping_fen: i64,
    pub payable_fen: i64,
    pub grant_id: Option<String>,
}

pub const MAX_ITEMS: usize = 50;
pub const MAX_QUANTITY: i64 = 99;

/// Prices `items` for `buyer` (None: a visitor, list prices): member
/// prices, then promotions and the coupon, then a benefit, then points,
/// then shipping. What the buyer asks for that the rules do not allow is an
/// error naming the rule, never silently reduced.
pub async fn quote(
    conn: &mut Conn,
    buyer: Option<&Buyer>,
    items: &[Item],
    apply: &Apply,
    at: Micros,
) -> Result<Quote> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(Error::invalid(
            "invalid_items",
            format!("an order has 1 to {MAX_ITEMS} items"),
        ));
    }
    if let Some(q) = items
        .iter()
        .map(|i| i.quantity)
        .find(|q| !(1..=MAX_QUANTITY).contains(q))
    {
        return Err(Error::invalid(
            "invalid_quantity",
            format!("quantity {q} is not between 1 and {MAX_QUANTITY}"),
        ));
    }
    if apply.points < 0 {
        return Err(Error::invalid(
            "invalid_points",
            "points cannot be negative",
        ));
    }
    let member_id = buyer.and_then(|b| b.member_id.as_deref());
    let perks = match member_id {
        Some(m) => Some(benefits::for_member(conn, m).await?),
        None => None,
    };
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        let configured = configure(conn, &item.sku_id, &item.options).await?;
        check_eligible(conn, &configured, perks.as_ref()).await?;
        let unit_fen = member_unit_price(conn, &configured, perks.as_ref()).await?;
        lines.push(QuoteLine {
            list_unit_fen: configured.list_unit_fen,
            unit_fen,
            quantity: item.quantity,
            item: configured,
            discount_fen: 0,
            points_fen: 0,
            paid_fen: 0,
        });
    }
    let pricing_lines: Vec<PricingLine> = lines.iter().map(QuoteLine::pricing_line).collect();
    let discounts = match buyer {
        Some(b) => {
            promotion_discounts(conn, b, &pricing_lines, apply.coupon_id.as_deref(), at).await?
        }
        None if apply.coupon_id.is_some() => {
            return Err(Error::invalid(
                "coupon_not_yours",
                "sign in to use a coupon",
            ))
        }
        None => Vec::new(),
    };
    for d in &discounts {
        for &(i, fen) in &d.allocations {
            if let Some(line) = lines.get_mut(i) {
                line.discount_fen += fen;
            }
        }
    }
    let benefit = match &apply.grant_id {
        Some(grant_id) => {
            let d = benefit_discount(perks.as_ref(), grant_id, &lines)?;
            for &(i, fen) in &d.allocations {
                lines[i].discount_fen += fen;
            }
            Some(d)
        }
        None => None,
    };
    let after_discounts: i64 = lines
        .iter()
        .map(|l| l.unit_fen * l.quantity - l.discount_fen)
        .sum();
    let points_max = match (member_id, perks.as_ref()) {
        (Some(m), Some(_)) => {
            let available = points::balance(conn, m, at).await?.available;
            available.min(after_discounts * POINTS_MAX_PCT / 100 / FEN_PER_POINT)
        }
        _ => 0,
    };
    if apply.points > points_max {
        return Err(Error::invalid(
            "points_exceed_limit",
            format!("at most {points_max} points can be used on this order"),
        ));
    }
    let points_fen = apply.points * FEN_PER_POINT;
    let weights: Vec<i64> = lines
        .iter()
        .map(|l| l.unit_fen * l.quantity - l.discount_fen)
        .collect();
    for (i, fen) in allocate(points_fen, &weights).into_iter().enumerate() {
        lines[i].points_fen = fen;
    }
    for l in &mut lines {
        l.paid_fen = l.unit_fen * l.quantity - l.discount_fen - l.points_fen;
    }
    let goods_fen: i64 = lines.iter().map(|l| l.paid_fen).sum();
    let shipping_fen = shipping(&lines, perks.as_ref(), after_discounts);
    let list_fen: i64 = lines.iter().map(|l| l.list_unit_fen * l.quantity).sum();
    let member_saving_fen: i64 = lines
        .iter()
        .map(|l| (l.list_unit_fen - l.unit_fen) * l.quantity)
        .sum();
    let discount_fen: i64 = discounts.iter().chain(&benefit).map(|d| d.amount_fen).sum();
    let payable_fen = goods_fen + shipping_fen;
    let explanation = explain(
        list_fen,
        member_saving_fen,
        discounts.iter().chain(&benefit),
        apply.points,
        points_fen,
        shipping_fen,
        payable_fen,
    );
    Ok(Quote {
        lines,
        discounts,
        benefit,
        explanation,
        list_fen,
        member_saving_fen,
        discount_fen,
        points_used: apply.points,
        points_fen,
        points_max,
        shipping_fen,
        payable_fen,
        grant_id: apply.grant_id.clone(),
    })
}

impl QuoteLine {
    pub fn pricing_line(&self) -> PricingLine {
        PricingLine {
            product_id: self.item.product_id.clone(),
            sku_id: self.item.sku_id.clone(),
            category_code: self.item.category_code.clone(),
            quantity: self.quantity,
            list_unit_fen: self.list_unit_fen,
            unit_fen: self.unit_fen,
            configured: !self.item.options.is_empty(),
        }
    }
}

async fn promotion_discounts(
    conn: &mut Conn,
    buyer: &Buyer,
    lines: &[PricingLine],
    coupon_id: Option<&str>,
    at: Micros,
) -> Result<Vec<Discount>> {
    super::promotions::discounts(conn, buyer, lines, coupon_id, at).await
}

/// Member-only products need a member of at least their tier.
async fn check_eligible(
    conn: &mut Conn,
    item: &Configured,
    perks: Option<&benefits::MemberBenefits>,
) -> Result<()> {
    if !item.member_only {
        return Ok(());
    }
    let Some(perks) = perks else {
        return Err(Error::invalid(
            "members_only",
            format!("{} is for members only", item.title),
        ));
    };
    if let Some(min) = &item.min_tier {
        let ranks: Vec<(String, i64)> =
            sqlx::query_as("SELECT code, rank FROM tiers WHERE code = $1 OR code = $2")
                .bind(min)
                .bind(&perks.tier)
                .fetch_all(&mut *conn)
                .await?;
        let rank = |code: &str| ranks.iter().find(|(c, _)| c == code).map(|(_, r)| *r);
        if rank(&perks.tier).unwrap_or(-1) < rank(min).unwrap_or(i64::MAX) {
            return Err(Error::invalid(
                "tier_too_low",
                format!("{} is for {min} members and above", item.title),
            ));
        }
    }
    Ok(())
}

/// The tier's own price for the base SKU when set, else the tier's member
/// percent of the base; option deltas take the member percent. Never above list.
async fn member_unit_price(
    conn: &mut Conn,
    item: &Configured,
    perks: Option<&benefits::MemberBenefits>,
) -> Result<i64> {
    let Some(perks) = perks else {
        return Ok(item.list_unit_fen);
    };
    let tier_price: Option<i64> =
        sqlx::query_scalar("SELECT price_fen FROM sku_tier_prices WHERE sku_id = $1 AND tier = $2")
            .bind(&item.sku_id)
            .bind(&perks.tier)
            .fetch_optional(&mut *conn)
            .await?;
    let pct = perks.member_price_pct.unwrap_or(100);
    let deltas = item.list_unit_fen - item.base_fen;
    let base = tier_price.unwrap_or_else(|| benefits::member_price(item.base_fen, pct));
    let options = if deltas > 0 {
        benefits::member_price(deltas, pct)
    } else {
        deltas
    };
    Ok((base + options).clamp(0, item.list_unit_fen))
}

/// A birthday offer (or another fen-off grant) of the member, spread over the lines.
fn benefit_discount(
    perks: Option<&benefits::MemberBenefits>,
    grant_id: &str,
    lines: &[QuoteLine],
) -> Result<Discount> {
    let grant = perks
        .and_then(|p| p.grants.iter().find(|g| g.id == grant_id))
        .ok_or(Error::invalid(
            "benefit_not_usable",
            "this benefit is not yours or was used",
        ))?;
    if grant.kind != "birthday_offer" {
        return Err(Error::invalid(
            "benefit_not_usable",
            "this benefit does not take money off an order",
        ));
    }
    let weights: Vec<i64> = lines
        .iter()
        .map(|l| l.unit_fen * l.quantity - l.discount_fen)
        .collect();
    let amount = grant.value.min(weights.iter().sum());
    let allocations: Vec<(usize, i64)> = allocate(amount, &weights)
        .into_iter()
        .enumerate()
        .filter(|(_, fen)| *fen > 0)
        .collect();
    Ok(Discount {
        kind: DiscountKind::Promotion,
        reference: format!("benefit:{grant_id}"),
        label: "birthday offer".into(),
        allocations,
        amount_fen: amount,
    })
}

fn shipping(lines: &[QuoteLine], perks: Option<&benefits::MemberBenefits>, goods_fen: i64) -> i64 {
    let physical = lines.iter().any(|l| l.item.kind != "service");
    let free = perks.is_some_and(|p| p.free_shipping) || goods_fen >= FREE_SHIPPING_FROM_FEN;
    if physical && !free {
        SHIPPING_FEN
    } else {
        0
    }
}

fn explain<'a>(
    list_fen: i64,
    member_saving_fen: i64,
    discounts: impl Iterator<Item = &'a Discount>,
    points: i64,
    points_fen: i64,
    shipping_fen: i64,
    payable_fen: i64,
) -> Vec<Explained> {
    let row = |kind: &str, label: String, amount_fen: i64| Explained {
        kind: kind.into(),
        label,
        amount_fen,
    };
    let mut rows = vec![row("list", "list price".into(), list_fen)];
    if member_saving_fen > 0 {
        rows.push(row(
            "member_price",
            "member price".into(),
            -member_saving_fen,
        ));
    }
    for d in discounts {
        let kind = if d.reference.starts_with("benefit:") {
            "benefit"
        } else {
            match d.kind {
                DiscountKind::FlashSale => "flash_sale",
                DiscountKind::Promotion => "promotion",
                DiscountKind::Coupon => "coupon",
            }
        };
        rows.push(row(kind, d.label.clone(), -d.amount_fen));
    }
    if points_fen > 0 {
        rows.push(row("points", format!("{points} points"), -points_fen));
    }
    rows.push(row("shipping", "shipping".into(), shipping_fen));
    rows.push(row("payable", "to pay".into(), payable_fen));
    rows
}

/// Splits `amount` over `weights` in proportion, exactly (largest
/// remainder), never giving a line more than its weight.
pub fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    let total: i64 = weights.iter().map(|w| (*w).max(0)).sum();
    if total <= 0 || amount <= 0 {
        return vec![0; weights.len()];
    }
    let amount = amount.min(total);
    let mut shares: Vec<i64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = i128::from(amount) * i128::from((*w).max(0));
        shares.push((exact / i128::from(total)) as i64);
        remainders.push((exact % i128::from(total), i));
    }
    let mut left = amount - shares.iter().sum::<i64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        if shares[i] < weights[i] {
            shares[i] += 1;
            left -= 1;
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::allocate;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn allocation_is_exact_and_bounded(amount in 0i64..10_000_000, weights in proptest::collection::vec(0i64..5_000_000, 1..8)) {
            let shares = allocate(amount, &weights);
            let total: i64 = weights.iter().sum();
            prop_assert_eq!(shares.iter().sum::<i64>(), amount.min(total));
            for (s, w) in shares.iter().zip(&weights) {
                prop_assert!(*s >= 0 && s <= w);
            }
        }
    }
}
