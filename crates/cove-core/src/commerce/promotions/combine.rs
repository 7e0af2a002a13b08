//! How discounts combine, without the database: flash-sale prices first,
//! then automatic promotions by priority (an exclusive one stands alone),
//! then at most one coupon. Each discount is spread over the lines it covers
//! in proportion to what is left of them (largest remainder), so no line
//! ever goes below zero and the allocations sum to the discount exactly.

use super::{CouponKind, PromotionKind, Scope, ThresholdRule};
use crate::commerce::pricing::{Discount, DiscountKind, PricingLine};
use crate::error::{Error, Result};

/// A live flash-sale item as `compute` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashItem {
    pub sale_id: String,
    pub sale_name: String,
    pub item_id: String,
    pub sku_id: String,
    pub price_fen: i64,
    pub per_person_limit: i64,
    /// Units the buyer already holds of this item (other orders).
    pub bought: i64,
}

/// A live automatic promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRule {
    pub id: String,
    pub name: String,
    pub kind: PromotionKind,
    pub rules: Vec<ThresholdRule>,
    pub every_threshold: bool,
    pub percent: i64,
    pub cap_fen: Option<i64>,
    pub scope: Scope,
    pub priority: i64,
    pub exclusive: bool,
    pub stackable_with_coupons: bool,
    /// What is left of its budget; `None` is unlimited.
    pub budget_left: Option<i64>,
}

/// The buyer's chosen coupon, already checked for owner, status and validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponRule {
    pub coupon_id: String,
    pub name: String,
    pub kind: CouponKind,
    pub amount_fen: i64,
    pub percent: i64,
    pub cap_fen: Option<i64>,
    pub threshold_fen: i64,
    pub scope: Scope,
    pub stackable_with_promotions: bool,
    pub budget_left: Option<i64>,
}

/// A flash sale's id, name and allocations while they are gathered.
type SaleDiscount = (String, String, Vec<(usize, i64)>);

/// The discounts for `lines`; `promotions` in any order (sorted here by
/// priority, highest first, ties by id).
pub fn compute(
    tier: Option<&str>,
    lines: &[PricingLine],
    flash: &[FlashItem],
    promotions: &[PromotionRule],
    coupon: Option<&CouponRule>,
) -> Result<Vec<Discount>> {
    let mut left: Vec<i64> = lines.iter().map(|l| l.subtotal_fen().max(0)).collect();
    let mut flashed = vec![false; lines.len()];
    let mut out = Vec::new();

    // Flash-sale prices for plain SKUs; one discount per sale.
    let mut by_sale: Vec<SaleDiscount> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.configured || line.quantity <= 0 {
            continue;
        }
        let Some(item) = flash.iter().find(|f| f.sku_id == line.sku_id) else {
            continue;
        };
        let per_unit = line.unit_fen - item.price_fen;
        if per_unit <= 0 {
            continue;
        }
        let wanted: i64 = lines
            .iter()
            .filter(|l| !l.configured && l.sku_id == line.sku_id)
            .map(|l| l.quantity.max(0))
            .sum();
        if item.bought + wanted > item.per_person_limit {
            return Err(Error::invalid(
                "flash_sale_limit_reached",
                format!(
                    "{} allows {} per person; {} already bought",
                    item.sale_name, item.per_person_limit, item.bought
                ),
            ));
        }
        flashed[i] = true;
        let amount = (per_unit * line.quantity).min(left[i]);
        left[i] -= amount;
        match by_sale.iter_mut().find(|(id, _, _)| *id == item.sale_id) {
            Some((_, _, allocations)) => allocations.push((i, amount)),
            None => by_sale.push((
                item.sale_id.clone(),
                item.sale_name.clone(),
                vec![(i, amount)],
            )),
        }
    }
    for (sale_id, name, allocations) in by_sale {
        let amount_fen = allocations.iter().map(|(_, a)| a).sum();
        out.push(Discount {
            kind: DiscountKind::FlashSale,
            reference: sale_id,
            label: name,
            allocations,
            amount_fen,
        });
    }

    // Automatic promotions, highest priority first.
    let mut ordered: Vec<&PromotionRule> = promotions.iter().collect();
    ordered.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    let mut applied: Vec<&PromotionRule> = Vec::new();
    for p in ordered {
        if applied.iter().any(|a| a.exclusive) {
            break;
        }
        if p.exclusive && !applied.is_empty() {
            continue;
        }
        let eligible: Vec<usize> = (0..lines.len())
            .filter(|&i| !flashed[i] && p.scope.covers(&lines[i], tier))
            .collect();
        let subtotal: i64 = eligible.iter().map(|&i| lines[i].subtotal_fen()).sum();
        let base: i64 = eligible.iter().map(|&i| left[i]).sum();
        let amount = match p.kind {
            PromotionKind::ThresholdAmountOff => {
                threshold_off(&p.rules, p.every_threshold, subtotal)
            }
            PromotionKind::PercentOff => percent_off(base, p.percent, p.cap_fen),
        }
        .min(base);
        if amount <= 0 || p.budget_left.is_some_and(|b| b < amount) {
            continue;
        }
        let allocations = allocate(amount, &eligible, &mut left);
        out.push(Discount {
            kind: DiscountKind::Promotion,
            reference: p.id.clone(),
            label: p.name.clone(),
            allocations,
            amount_fen: amount,
        });
        applied.push(p);
    }

    if let Some(c) = coupon {
        if !applied.is_empty()
            && (!c.stackable_with_promotions || applied.iter().any(|p| !p.stackable_with_coupons))
        {
            return Err(Error::invalid(
                "coupon_not_combinable",
                format!(
                    "{} cannot be combined with {}",
                    c.name,
                    applied
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Scope::Tiers(tiers) = &c.scope {
            if !tier.is_some_and(|t| tiers.iter().any(|x| x == t)) {
                return Err(Error::invalid(
                    "coupon_out_of_scope",
                    format!("{} is for members of other tiers", c.name),
                ));
            }
        }
        let eligible: Vec<usize> = (0..lines.len())
            .filter(|&i| !flashed[i] && c.scope.covers(&lines[i], tier) && lines[i].quantity > 0)
            .collect();
        if eligible.is_empty() {
            return Err(Error::invalid(
                "coupon_out_of_scope",
                format!("{} does not cover anything in this order", c.name),
            ));
        }
        let base: i64 = eligible.iter().map(|&i| left[i]).sum();
        if base < c.threshold_fen || base <= 0 {
            return Err(Error::invalid(
                "coupon_threshold_not_met",
                format!(
                    "{} needs {} fen of eligible goods; this order has {}",
                    c.name, c.threshold_fen, base
                ),
            ));
        }
        let amount = match c.kind {
            CouponKind::AmountOff => c.amount_fen,
            CouponKind::PercentOff => percent_off(base, c.percent, c.cap_fen),
        }
        .min(base);
        if c.budget_left.is_some_and(|b| b < amount) {
            return Err(Error::invalid(
                "coupon_budget_exhausted",
                format!("{} has run out of budget", c.name),
            ));
        }
        if amount > 0 {
            let allocations = allocate(amount, &eligible, &mut left);
            out.push(Discount {
                kind: DiscountKind::Coupon,
                reference: c.coupon_id.clone(),
                label: c.name.clone(),
                allocations,
                amount_fen: amount,
            });
        }
    }
    Ok(out)
}

/// 满减: the highest rule met, or with `every` one rule per multiple.
pub fn threshold_off(rules: &[ThresholdRule], every: bool, subtotal: i64) -> i64 {
    if every {
        return rules
            .first()
            .filter(|r| r.threshold_fen > 0)
            .map(|r| (subtotal / r.threshold_fen) * r.off_fen)
            .unwrap_or(0);
    }
    rules
        .iter()
        .filter(|r| subtotal >= r.threshold_fen)
        .map(|r| r.off_fen)
        .max()
        .unwrap_or(0)
}

/// `percent`% of `base`, rounded down, at most `cap`.
pub fn percent_off(base: i64, percent: i64, cap: Option<i64>) -> i64 {
    let raw = (i128::from(base.max(0)) * i128::from(percent.clamp(0, 100)) / 100) as i64;
    cap.map_or(raw, |c| raw.min(c.max(0)))
}

/// Spreads `amount` (at most the sum of `left` over `eligible`) over those
/// lines in proportion to what is left of each, largest remainder first,
/// and takes it off `left`.
pub fn allocate(amount: i64, eligible: &[usize], left: &mut [i64]) -> Vec<(usize, i64)> {
    let total: i128 = eligible.iter().map(|&i| i128::from(left[i])).sum();
    let amount = i128::from(amount).min(total).max(0);
    if amount == 0 || total == 0 {
        return Vec::new();
    }
    let mut shares: Vec<(usize, i128, i128)> = eligible
        .iter()
        .map(|&i| {
            let exact = amount * i128::from(left[i]);
            (i, exact / total, exact % total)
        })
        .collect();
    let mut rest = amount - shares.iter().map(|s| s.1).sum::<i128>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    // Largest remainder first; ties go to the earlier line.
    order.sort_by(|&a, &b| shares[b].2.cmp(&shares[a].2).then(a.cmp(&b)));
    for k in order {
        if rest == 0 {
            break;
        }
        if shares[k].2 > 0 {
            shares[k].1 += 1;
            rest -= 1;
        }
    }
    shares
        .into_iter()
        .filter(|s| s.1 > 0)
        .map(|(i, share, _)| {
            let share = share as i64;
            left[i] -= share;
            (i, share)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn allocation_is_exact_and_bounded() {
        let mut left = vec![333, 333, 334, 0];
        let a = allocate(100, &[0, 1, 2, 3], &mut left);
        assert_eq!(a.iter().map(|x| x.1).sum::<i64>(), 100);
        assert!(left.iter().all(|&l| l >= 0));
        let mut left = vec![5, 5];
        let a = allocate(10, &[0, 1], &mut left);
        assert_eq!(a, vec![(0, 5), (1, 5)]);
        assert_eq!(left, vec![0, 0]);
    }

    #[test]
    fn tiers_of_threshold() {
        let rules = vec![
            ThresholdRule {
                threshold_fen: 100_000,
                off_fen: 10_000,
            },
            ThresholdRule {
                threshold_fen: 200_000,
                off_fen: 25_000,
            },
        ];
        assert_eq!(threshold_off(&rules, false, 99_999), 0);
        assert_eq!(threshold_off(&rules, false, 150_000), 10_000);
        assert_eq!(threshold_off(&rules, false, 250_000), 25_000);
        assert_eq!(threshold_off(&rules[..1], true, 350_000), 30_000);
        assert_eq!(percent_off(1000, 15, Some(100)), 100);
        assert_eq!(percent_off(999, 10, None), 99);
    }
}
