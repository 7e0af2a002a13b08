//! Properties of how discounts combine, for arbitrary carts, flash sales,
//! promotions and coupons: the total never exceeds the subtotal, no line is
//! discounted below zero, allocations sum exactly, percent caps hold, and a
//! coupon never applies below its threshold.

use cove_core::commerce::pricing::{DiscountKind, PricingLine};
use cove_core::commerce::promotions::combine::{compute, CouponRule, FlashItem, PromotionRule};
use cove_core::commerce::promotions::{CouponKind, PromotionKind, Scope, ThresholdRule};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::atomic::{AtomicUsize, Ordering};

fn arb_line() -> impl Strategy<Value = PricingLine> {
    (0..4usize, 0..6i64, 0..800_000i64, any::<bool>()).prop_map(
        |(p, quantity, unit, configured)| PricingLine {
            product_id: format!("p{p}"),
            sku_id: format!("s{p}"),
            category_code: if p < 2 { "pc".into() } else { "acc".into() },
            quantity,
            list_unit_fen: unit,
            unit_fen: unit,
            configured,
        },
    )
}

fn arb_scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::All),
        (0..4usize).prop_map(|p| Scope::Products(vec![format!("p{p}")])),
        Just(Scope::Categories(vec!["acc".into()])),
        Just(Scope::Tiers(vec!["gold".into()])),
    ]
}

fn arb_rules() -> impl Strategy<Value = Vec<ThresholdRule>> {
    prop::collection::vec((1..2_000_000i64, 1..300_000i64), 1..4).prop_map(|steps| {
        steps
            .into_iter()
            .map(|(t, off)| ThresholdRule {
                threshold_fen: t,
                off_fen: off.min(t),
            })
            .collect()
    })
}

fn arb_promotion() -> impl Strategy<Value = PromotionRule> {
    (
        (0..1000u32, any::<bool>(), arb_rules(), any::<bool>()),
        (1..100i64, prop::option::of(1..200_000i64), arb_scope()),
        (
            -5..5i64,
            any::<bool>(),
            any::<bool>(),
            prop::option::of(0..300_000i64),
        ),
    )
        .prop_map(
            |(
                (id, pct, rules, every),
                (percent, cap_fen, scope),
                (priority, exclusive, stack, budget),
            )| {
                let every = every && rules.len() == 1;
                PromotionRule {
                    id: format!("promo{id}"),
                    name: format!("promo{id}"),
                    kind: if pct {
                        PromotionKind::PercentOff
                    } else {
                        PromotionKind::ThresholdAmountOff
                    },
                    rules,
                    every_threshold: every,
                    percent,
                    cap_fen,
                    scope,
                    priority,
                    exclusive,
                    stackable_with_coupons: stack,
                    budget_left: budget,
                }
            },
        )
}

fn arb_coupon() -> impl Strategy<Value = CouponRule> {
    (
        any::<bool>(),
        1..500_000i64,
        1..100i64,
        prop::option::of(1..100_000i64),
        0..1_500_000i64,
        arb_scope(),
        any::<bool>(),
        prop::option::of(0..400_000i64),
    )
        .prop_map(
            |(pct, amount_fen, percent, cap_fen, threshold_fen, scope, stack, budget)| CouponRule {
                coupon_id: "coupon".into(),
                name: "coupon".into(),
                kind: if pct {
                    CouponKind::PercentOff
                } else {
                    CouponKind::AmountOff
                },
                amount_fen,
                percent,
                cap_fen,
                threshold_fen,
                scope,
                stackable_with_promotions: stack,
                budget_left: budget,
            },
        )
}

fn arb_flash() -> impl Strategy<Value = Vec<FlashItem>> {
    prop::collection::vec((0..4usize, 0..800_000i64, 5..12i64, 0..2i64), 0..3).prop_map(|items| {
        items
            .into_iter()
            .map(|(p, price, limit, bought)| FlashItem {
                sale_id: "sale".into(),
                sale_name: "sale".into(),
                item_id: format!("item{p}"),
                sku_id: format!("s{p}"),
                price_fen: price,
                per_person_limit: limit,
                bought,
            })
            .collect()
    })
}

/// How many cases gave each kind of discount, so the property is seen to
/// hold over carts where they really apply.
static FLASH: AtomicUsize = AtomicUsize::new(0);
static PROMOTION: AtomicUsize = AtomicUsize::new(0);
static COUPON: AtomicUsize = AtomicUsize::new(0);

#[test]
fn discounts_stay_within_the_lines() {
    let strategy = (
        prop::collection::vec(arb_line(), 1..6),
        arb_flash(),
        prop::collection::vec(arb_promotion(), 0..4),
        prop::option::of(arb_coupon()),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        ..Config::default()
    });
    runner
        .run(&strategy, |(lines, flash, promotions, coupon, gold)| {
            within_the_lines(lines, flash, promotions, coupon, gold)
        })
        .unwrap();
    for (kind, n) in [
        ("flash", &FLASH),
        ("promotion", &PROMOTION),
        ("coupon", &COUPON),
    ] {
        let n = n.load(Ordering::Relaxed);
        assert!(n >= 150, "only {n} of 3000 cases gave a {kind} discount");
    }
}

fn within_the_lines(
    lines: Vec<PricingLine>,
    flash: Vec<FlashItem>,
    promotions: Vec<PromotionRule>,
    coupon: Option<CouponRule>,
    gold: bool,
) -> Result<(), TestCaseError> {
    {
        let tier = if gold { Some("gold") } else { None };
        let promotions: Vec<PromotionRule> = promotions
            .into_iter()
            .enumerate()
            .map(|(i, mut p)| {
                p.id = format!("promo{i}");
                p
            })
            .collect();
        let Ok(found) = compute(tier, &lines, &flash, &promotions, coupon.as_ref()) else {
            return Ok(());
        };
        let subtotal: i64 = lines.iter().map(|l| l.subtotal_fen()).sum();
        let total: i64 = found.iter().map(|d| d.amount_fen).sum();
        prop_assert!(total <= subtotal);
        let mut taken = vec![0i64; lines.len()];
        for d in &found {
            prop_assert!(d.amount_fen >= 0);
            prop_assert_eq!(d.allocations.iter().map(|a| a.1).sum::<i64>(), d.amount_fen);
            for (i, a) in &d.allocations {
                prop_assert!(*a >= 0);
                taken[*i] += a;
                prop_assert!(taken[*i] <= lines[*i].subtotal_fen());
            }
            match d.kind {
                DiscountKind::Promotion => {
                    let p = promotions.iter().find(|p| p.id == d.reference).unwrap();
                    if p.kind == PromotionKind::PercentOff {
                        if let Some(cap) = p.cap_fen {
                            prop_assert!(d.amount_fen <= cap);
                        }
                    }
                    if let Some(budget) = p.budget_left {
                        prop_assert!(d.amount_fen <= budget);
                    }
                    for (i, _) in &d.allocations {
                        prop_assert!(p.scope.covers(&lines[*i], tier));
                    }
                }
                DiscountKind::Coupon => {
                    let c = coupon.as_ref().unwrap();
                    if c.kind == CouponKind::PercentOff {
                        if let Some(cap) = c.cap_fen {
                            prop_assert!(d.amount_fen <= cap);
                        }
                    } else {
                        prop_assert!(d.amount_fen <= c.amount_fen);
                    }
                    for (i, _) in &d.allocations {
                        prop_assert!(c.scope.covers(&lines[*i], tier));
                    }
                }
                DiscountKind::FlashSale => {}
            }
        }
        // The coupon comes last: what its eligible lines had left before it
        // reached its threshold.
        if let Some(c) = coupon.as_ref() {
            if let Some(pos) = found.iter().position(|d| d.kind == DiscountKind::Coupon) {
                let mut before = vec![0i64; lines.len()];
                let mut flashed = vec![false; lines.len()];
                for d in &found[..pos] {
                    for (i, a) in &d.allocations {
                        before[*i] += a;
                        if d.kind == DiscountKind::FlashSale {
                            flashed[*i] = true;
                        }
                    }
                }
                let eligible: i64 = (0..lines.len())
                    .filter(|&i| !flashed[i] && c.scope.covers(&lines[i], tier))
                    .map(|i| lines[i].subtotal_fen() - before[i])
                    .sum();
                prop_assert!(eligible >= c.threshold_fen);
                prop_assert!(found[pos].amount_fen <= eligible);
            }
        }
        // An exclusive promotion that applied stands alone among promotions.
        let applied: Vec<_> = found
            .iter()
            .filter(|d| d.kind == DiscountKind::Promotion)
            .collect();
        if applied.iter().any(|d| {
            promotions
                .iter()
                .any(|p| p.id == d.reference && p.exclusive)
        }) {
            prop_assert_eq!(applied.len(), 1);
        }
        for (kind, counter) in [
            (DiscountKind::FlashSale, &FLASH),
            (DiscountKind::Promotion, &PROMOTION),
            (DiscountKind::Coupon, &COUPON),
        ] {
            if found.iter().any(|d| d.kind == kind) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_coupon_below_its_threshold_is_refused(
        lines in prop::collection::vec(arb_line(), 1..6),
        coupon in arb_coupon(),
    ) {
        let eligible: i64 = lines
            .iter()
            .filter(|l| coupon.scope.covers(l, Some("gold")))
            .map(|l| l.subtotal_fen())
            .sum();
        let result = compute(Some("gold"), &lines, &[], &[], Some(&coupon));
        if eligible < coupon.threshold_fen {
            let err = result.unwrap_err();
            prop_assert!(matches!(
                err.code().as_ref(),
                "coupon_threshold_not_met" | "coupon_out_of_scope"
            ));
        }
    }
}

/// The same properties through `discounts` itself, with the campaigns read
/// from the database: a tiered 满减, a capped percent off accessories, an
/// exclusive gold-member discount, a flash sale and two coupons.
#[test]
fn discounts_read_from_the_database_keep_the_properties() {
    use crate::fixtures::*;
    use cove_core::commerce::promotions;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let shop = rt.block_on(shop());
    let now = shop.now;
    let (coupon_amount, coupon_percent) = rt.block_on(async {
        let mut manjian = promotion("满减", PromotionKind::ThresholdAmountOff, now);
        manjian.rules = vec![step(100_000, 10_000), step(200_000, 25_000)];
        manjian.priority = 10;
        create_promotion(&shop.db, &manjian, now).await;
        let mut acc = promotion("配件9折", PromotionKind::PercentOff, now);
        acc.percent = 10;
        acc.cap_fen = Some(5_000);
        acc.priority = 5;
        acc.scope = "categories".into();
        acc.scope_values = vec!["acc".into()];
        create_promotion(&shop.db, &acc, now).await;
        let mut gold = promotion("金卡8折", PromotionKind::PercentOff, now);
        gold.percent = 20;
        gold.cap_fen = Some(30_000);
        gold.priority = 100;
        gold.exclusive = true;
        gold.scope = "tiers".into();
        gold.scope_values = vec!["gold".into()];
        create_promotion(&shop.db, &gold, now).await;
        flash_sale(&shop.db, &shop.mouse.1, 1_000, 1_000, 3, now).await;
        let mut a = template("满500减50", CouponKind::AmountOff, now);
        a.amount_fen = 5_000;
        a.threshold_fen = 50_000;
        a.stackable_with_promotions = true;
        let mut p = template("电脑85折", CouponKind::PercentOff, now);
        p.percent = 15;
        p.cap_fen = Some(20_000);
        p.scope = "categories".into();
        p.scope_values = vec!["pc".into()];
        p.stackable_with_promotions = true;
        (
            coupon_for(&shop.db, &a, "p", now).await,
            coupon_for(&shop.db, &p, "p", now).await,
        )
    });
    let items = [&shop.laptop, &shop.monitor, &shop.mouse];
    let strategy = (
        prop::collection::vec((0..3usize, 0..4i64, any::<bool>()), 1..5),
        any::<bool>(),
        0..3usize,
    );
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    let applied = AtomicUsize::new(0);
    runner
        .run(&strategy, |(picked, gold, which)| {
            let lines: Vec<PricingLine> = picked
                .iter()
                .map(|(i, q, configured)| {
                    let mut l = line(items[*i], *q);
                    l.configured = *configured;
                    l
                })
                .collect();
            let coupon = match which {
                1 => Some(coupon_amount.as_str()),
                2 => Some(coupon_percent.as_str()),
                _ => None,
            };
            let found = rt.block_on(async {
                let mut conn = shop.db.pool().acquire().await.unwrap();
                promotions::discounts(
                    &mut conn,
                    &buyer("p", gold.then_some("gold")),
                    &lines,
                    coupon,
                    now,
                )
                .await
            });
            let found = match found {
                Ok(found) => found,
                Err(e) => {
                    prop_assert!(
                        matches!(
                            e.code().as_ref(),
                            "coupon_threshold_not_met"
                                | "coupon_out_of_scope"
                                | "flash_sale_limit_reached"
                        ),
                        "{}",
                        e.code()
                    );
                    return Ok(());
                }
            };
            if found.iter().any(|d| d.kind == DiscountKind::Coupon) {
                applied.fetch_add(1, Ordering::Relaxed);
            }
            let mut taken = vec![0i64; lines.len()];
            for d in &found {
                prop_assert_eq!(d.allocations.iter().map(|a| a.1).sum::<i64>(), d.amount_fen);
                for (i, a) in &d.allocations {
                    prop_assert!(*a > 0);
                    taken[*i] += a;
                }
                match d.label.as_str() {
                    "配件9折" => prop_assert!(d.amount_fen <= 5_000),
                    "金卡8折" => prop_assert!(d.amount_fen <= 30_000),
                    "电脑85折" => prop_assert!(d.amount_fen <= 20_000),
                    "满500减50" => prop_assert!(d.amount_fen <= 5_000),
                    _ => {}
                }
            }
            for (i, l) in lines.iter().enumerate() {
                prop_assert!(taken[i] <= l.subtotal_fen());
            }
            // The amount coupon's threshold: what its lines had left before it.
            if let Some(c) = found.iter().find(|d| d.label == "满500减50") {
                let before: i64 = found
                    .iter()
                    .filter(|d| d.kind != DiscountKind::Coupon)
                    .flat_map(|d| d.allocations.iter())
                    .filter(|(i, _)| !flash_line(&found, *i))
                    .map(|(_, a)| a)
                    .sum();
                let eligible: i64 = (0..lines.len())
                    .filter(|&i| !flash_line(&found, i))
                    .map(|i| lines[i].subtotal_fen())
                    .sum();
                prop_assert!(eligible - before >= 50_000);
                prop_assert!(c.amount_fen == 5_000);
            }
            Ok(())
        })
        .unwrap();
    assert!(
        applied.load(Ordering::Relaxed) >= 20,
        "coupons rarely applied"
    );
}

fn flash_line(found: &[cove_core::commerce::pricing::Discount], i: usize) -> bool {
    found
        .iter()
        .any(|d| d.kind == DiscountKind::FlashSale && d.allocations.iter().any(|a| a.0 == i))
}
