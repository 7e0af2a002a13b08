//! What `discounts` computes, and how `claim`, `settle` and `release` move
//! coupons, budgets and flash-sale units for an order.

use crate::fixtures::*;
use cove_core::clock::{DAY, HOUR};
use cove_core::commerce::pricing::{Discount, DiscountKind, PricingLine};
use cove_core::commerce::promotions::{self, coupons, CouponKind, PromotionKind};
use cove_core::Error;

fn code(e: Error) -> String {
    e.code().into_owned()
}

fn check_allocations(lines: &[PricingLine], found: &[Discount]) {
    let mut taken = vec![0i64; lines.len()];
    for d in found {
        assert_eq!(d.allocations.iter().map(|a| a.1).sum::<i64>(), d.amount_fen);
        for (i, a) in &d.allocations {
            assert!(*a > 0);
            taken[*i] += a;
        }
    }
    for (i, l) in lines.iter().enumerate() {
        assert!(taken[i] <= l.subtotal_fen(), "line {i} over-discounted");
    }
}

async fn run(
    shop: &Shop,
    profile: &str,
    tier: Option<&str>,
    lines: &[PricingLine],
    coupon: Option<&str>,
) -> Result<Vec<Discount>, Error> {
    let mut conn = shop.db.pool().acquire().await.unwrap();
    let found =
        promotions::discounts(&mut conn, &buyer(profile, tier), lines, coupon, shop.now).await;
    if let Ok(found) = &found {
        check_allocations(lines, found);
    }
    found
}

#[tokio::test]
async fn coupons_by_amount_percent_threshold_and_scope() {
    let shop = shop().await;
    let now = shop.now;
    let lines = vec![line(&shop.laptop, 1), line(&shop.mouse, 2)];

    // ¥100 off above ¥5,000, spread over both lines in proportion.
    let mut t = template("满5000减100", CouponKind::AmountOff, now);
    t.amount_fen = 10_000;
    t.threshold_fen = 500_000;
    let c = coupon_for(&shop.db, &t, "p1", now).await;
    let found = run(&shop, "p1", None, &lines, Some(&c)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, DiscountKind::Coupon);
    assert_eq!(found[0].amount_fen, 10_000);
    assert_eq!(found[0].allocations, vec![(0, 9_677), (1, 323)]);

    // Below the threshold it is an error, not silently dropped.
    let small = vec![line(&shop.mouse, 3)];
    assert_eq!(
        code(run(&shop, "p1", None, &small, Some(&c)).await.unwrap_err()),
        "coupon_threshold_not_met"
    );

    // 10% off capped at ¥200: 10% of ¥6,200 is ¥620, the cap wins.
    let mut t = template("九折券", CouponKind::PercentOff, now);
    t.percent = 10;
    t.cap_fen = Some(20_000);
    let c = coupon_for(&shop.db, &t, "p2", now).await;
    let found = run(&shop, "p2", None, &lines, Some(&c)).await.unwrap();
    assert_eq!(found[0].amount_fen, 20_000);
    let found = run(&shop, "p2", None, &small, Some(&c)).await.unwrap();
    assert_eq!(found[0].amount_fen, 3_000);

    // Products scope: only the mouse line is eligible.
    let mut t = template("鼠标券", CouponKind::AmountOff, now);
    t.amount_fen = 5_000;
    t.scope = "products".into();
    t.scope_values = vec![shop.mouse.0.clone()];
    let c = coupon_for(&shop.db, &t, "p3", now).await;
    let found = run(&shop, "p3", None, &lines, Some(&c)).await.unwrap();
    assert_eq!(found[0].allocations, vec![(1, 5_000)]);
    let laptop_only = vec![line(&shop.laptop, 1)];
    assert_eq!(
        code(
            run(&shop, "p3", None, &laptop_only, Some(&c))
                .await
                .unwrap_err()
        ),
        "coupon_out_of_scope"
    );

    // Categories scope: the amount is capped by what the eligible line costs.
    let mut t = template("配件券", CouponKind::AmountOff, now);
    t.amount_fen = 50_000;
    t.scope = "categories".into();
    t.scope_values = vec!["acc".into()];
    let c = coupon_for(&shop.db, &t, "p4", now).await;
    let found = run(&shop, "p4", None, &lines, Some(&c)).await.unwrap();
    assert_eq!(found[0].allocations, vec![(1, 20_000)]);

    // Tiers scope: only gold members may use it.
    let mut t = template("金卡券", CouponKind::AmountOff, now);
    t.amount_fen = 1_000;
    t.scope = "tiers".into();
    t.scope_values = vec!["gold".into()];
    let c = coupon_for(&shop.db, &t, "p5", now).await;
    assert_eq!(
        run(&shop, "p5", Some("gold"), &lines, Some(&c))
            .await
            .unwrap()[0]
            .amount_fen,
        1_000
    );
    assert_eq!(
        code(
            run(&shop, "p5", Some("silver"), &lines, Some(&c))
                .await
                .unwrap_err()
        ),
        "coupon_out_of_scope"
    );
    // Somebody else's coupon, or none at all.
    assert_eq!(
        code(
            run(&shop, "p1", Some("gold"), &lines, Some(&c))
                .await
                .unwrap_err()
        ),
        "coupon_not_yours"
    );
    assert_eq!(
        code(
            run(&shop, "p1", None, &lines, Some("nope"))
                .await
                .unwrap_err()
        ),
        "coupon_not_found"
    );
}

#[tokio::test]
async fn expired_coupons_and_claim_limits() {
    let shop = shop().await;
    let now = shop.now;
    let mut t = template("过期券", CouponKind::AmountOff, now - 3 * DAY);
    t.amount_fen = 100;
    t.starts_at = now - 3 * DAY;
    t.ends_at = now + DAY;
    t.valid_days = Some(1);
    // Claimed two days ago with one day of validity: expired now.
    let c = coupon_for(&shop.db, &t, "p1", now - 2 * DAY).await;
    let lines = vec![line(&shop.mouse, 1)];
    assert_eq!(
        code(run(&shop, "p1", None, &lines, Some(&c)).await.unwrap_err()),
        "coupon_expired"
    );
    let mut conn = shop.db.pool().acquire().await.unwrap();
    let listed = coupons::for_profile(&mut conn, "p1", now).await.unwrap();
    assert_eq!(listed[0].status, "expired");
    // The template allows one claim per person.
    let t = coupons::list_templates(&mut conn).await.unwrap().remove(0);
    let err = coupons::claim_coupon(&mut conn, &buyer("p1", None), &t.id, now)
        .await
        .unwrap_err();
    assert_eq!(code(err), "coupon_limit_reached");
}

#[tokio::test]
async fn promotions_by_priority_exclusivity_and_budget() {
    let shop = shop().await;
    let now = shop.now;
    // 满1000减100, 满2000减250 on everything.
    let mut manjian = promotion("满减", PromotionKind::ThresholdAmountOff, now);
    manjian.rules = vec![step(100_000, 10_000), step(200_000, 25_000)];
    manjian.priority = 10;
    let manjian_id = create_promotion(&shop.db, &manjian, now).await;

    let one_monitor = vec![line(&shop.monitor, 1)];
    let found = run(&shop, "p", None, &one_monitor, None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reference, manjian_id);
    assert_eq!(found[0].amount_fen, 25_000);
    let under = vec![line(&shop.mouse, 9)];
    assert!(run(&shop, "p", None, &under, None)
        .await
        .unwrap()
        .is_empty());

    // 5% off accessories (priority 5) stacks after the 满减.
    let mut pct = promotion("配件95折", PromotionKind::PercentOff, now);
    pct.percent = 5;
    pct.priority = 5;
    pct.scope = "categories".into();
    pct.scope_values = vec!["acc".into()];
    create_promotion(&shop.db, &pct, now).await;
    let lines = vec![line(&shop.monitor, 1), line(&shop.mouse, 2)];
    let found = run(&shop, "p", None, &lines, None).await.unwrap();
    assert_eq!(found.len(), 2);
    // The 满减 took 25,000 over 220,000 (mouse line: 2,273); 5% of the mouse line's rest.
    let mouse_left = 20_000 - found[0].allocations.iter().find(|a| a.0 == 1).unwrap().1;
    assert_eq!(found[1].amount_fen, mouse_left * 5 / 100);
    assert_eq!(found[1].allocations.len(), 1);

    // An exclusive promotion of higher priority stands alone.
    let mut vip = promotion("金卡专享8折", PromotionKind::PercentOff, now);
    vip.percent = 20;
    vip.cap_fen = Some(30_000);
    vip.priority = 100;
    vip.exclusive = true;
    vip.scope = "tiers".into();
    vip.scope_values = vec!["gold".into()];
    let vip_id = create_promotion(&shop.db, &vip, now).await;
    let found = run(&shop, "p", Some("gold"), &lines, None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reference, vip_id);
    assert_eq!(found[0].amount_fen, 30_000);
    // Not gold: the exclusive one does not apply, the others do.
    assert_eq!(
        run(&shop, "p", Some("silver"), &lines, None)
            .await
            .unwrap()
            .len(),
        2
    );

    // A budget smaller than the discount keeps the promotion out.
    let mut tx = shop.db.begin().await.unwrap();
    sqlx::query("UPDATE promotions SET budget_fen = 20000 WHERE id = $1")
        .bind(&manjian_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let found = run(&shop, "p", None, &one_monitor, None).await.unwrap();
    assert!(found.is_empty(), "{found:?}");
}

#[tokio::test]
async fn coupons_combine_only_when_both_sides_allow() {
    let shop = shop().await;
    let now = shop.now;
    let mut manjian = promotion("满减", PromotionKind::ThresholdAmountOff, now);
    manjian.rules = vec![step(100_000, 10_000)];
    manjian.stackable_with_coupons = true;
    let pid = create_promotion(&shop.db, &manjian, now).await;
    let lines = vec![line(&shop.laptop, 1)];

    let mut lone = template("独享券", CouponKind::AmountOff, now);
    lone.amount_fen = 5_000;
    let c = coupon_for(&shop.db, &lone, "p", now).await;
    assert_eq!(
        code(run(&shop, "p", None, &lines, Some(&c)).await.unwrap_err()),
        "coupon_not_combinable"
    );

    let mut stack = template("叠加券", CouponKind::AmountOff, now);
    stack.amount_fen = 5_000;
    stack.stackable_with_promotions = true;
    let c2 = coupon_for(&shop.db, &stack, "p", now).await;
    let found = run(&shop, "p", None, &lines, Some(&c2)).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].kind, DiscountKind::Coupon);
    assert_eq!(found.iter().map(|d| d.amount_fen).sum::<i64>(), 15_000);

    // The promotion refuses coupons: even a stackable coupon is refused.
    let mut tx = shop.db.begin().await.unwrap();
    sqlx::query("UPDATE promotions SET stackable_with_coupons = 0 WHERE id = $1")
        .bind(&pid)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        code(run(&shop, "p", None, &lines, Some(&c2)).await.unwrap_err()),
        "coupon_not_combinable"
    );

    // Usable coupons for the lines: none now (both conflict with the promotion).
    let mut conn = shop.db.pool().acquire().await.unwrap();
    let usable = promotions::usable_coupons(&mut conn, &buyer("p", None), &lines, now)
        .await
        .unwrap();
    assert!(usable.is_empty());
}

#[tokio::test]
async fn usable_coupons_best_first() {
    let shop = shop().await;
    let now = shop.now;
    let mut a = template("减50", CouponKind::AmountOff, now);
    a.amount_fen = 5_000;
    let small = coupon_for(&shop.db, &a, "p", now).await;
    let mut b = template("减300", CouponKind::AmountOff, now);
    b.amount_fen = 30_000;
    b.threshold_fen = 500_000;
    let big = coupon_for(&shop.db, &b, "p", now).await;
    let mut conn = shop.db.pool().acquire().await.unwrap();
    let lines = vec![line(&shop.laptop, 1)];
    let usable = promotions::usable_coupons(&mut conn, &buyer("p", None), &lines, now)
        .await
        .unwrap();
    assert_eq!(
        usable
            .iter()
            .map(|u| (u.coupon_id.as_str(), u.amount_fen))
            .collect::<Vec<_>>(),
        vec![(big.as_str(), 30_000), (small.as_str(), 5_000)]
    );
    // Below the big one's threshold only the small one is usable.
    let lines = vec![line(&shop.mouse, 1)];
    let usable = promotions::usable_coupons(&mut conn, &buyer("p", None), &lines, now)
        .await
        .unwrap();
    assert_eq!(usable.len(), 1);
    assert_eq!(usable[0].coupon_id, small);
}

#[tokio::test]
async fn claim_settle_and_release_are_idempotent() {
    let shop = shop().await;
    let now = shop.now;
    let db = &shop.db;
    let mut manjian = promotion("满减", PromotionKind::ThresholdAmountOff, now);
    manjian.rules = vec![step(100_000, 10_000)];
    manjian.budget_fen = Some(1_000_000);
    let pid = create_promotion(db, &manjian, now).await;
    let mut t = template("叠加券", CouponKind::AmountOff, now);
    t.amount_fen = 5_000;
    t.stackable_with_promotions = true;
    t.budget_fen = Some(100_000);
    let c = coupon_for(db, &t, "p", now).await;
    flash_sale(db, &shop.mouse.1, 1_000, 10, 2, now).await;
    let lines = vec![line(&shop.laptop, 1), line(&shop.mouse, 2)];
    let b = buyer("p", None);

    let mut tx = db.begin().await.unwrap();
    let order = order(&mut tx, "p", now).await;
    let found = promotions::discounts(&mut tx, &b, &lines, Some(&c), now)
        .await
        .unwrap();
    let kinds: Vec<_> = found.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        vec![
            DiscountKind::FlashSale,
            DiscountKind::Promotion,
            DiscountKind::Coupon
        ]
    );
    // Flash price ¥10 instead of ¥100 on both mice; the promotions only see the laptop.
    assert_eq!(found[0].allocations, vec![(1, 18_000)]);
    assert_eq!(found[1].allocations, vec![(0, 10_000)]);
    assert_eq!(found[2].allocations, vec![(0, 5_000)]);
    promotions::claim(&mut tx, db.backend(), &order, &b, &lines, &found, now)
        .await
        .unwrap();
    // Twice is once.
    promotions::claim(&mut tx, db.backend(), &order, &b, &lines, &found, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM promotion_redemptions").await,
        3
    );
    assert_eq!(scalar(db, "SELECT sold FROM flash_sale_items").await, 2);
    assert_eq!(scalar(db, "SELECT bought FROM flash_sale_buyers").await, 2);
    assert_eq!(scalar(db, "SELECT spent_fen FROM promotions").await, 10_000);
    assert_eq!(
        scalar(db, "SELECT spent_fen FROM coupon_templates").await,
        5_000
    );
    let status = |db: cove_core::db::Db, c: String| async move {
        sqlx::query_scalar::<_, String>("SELECT status FROM coupons WHERE id = $1")
            .bind(c)
            .fetch_one(db.pool())
            .await
            .unwrap()
    };
    assert_eq!(status(db.clone(), c.clone()).await, "locked");

    // Another order cannot take the locked coupon.
    let mut tx = db.begin().await.unwrap();
    let other = crate::fixtures::order(&mut tx, "p", now).await;
    let err = promotions::discounts(&mut tx, &b, &lines[..1], Some(&c), now)
        .await
        .unwrap_err();
    assert_eq!(code(err), "coupon_used");
    let err = promotions::claim(&mut tx, db.backend(), &other, &b, &lines, &found[2..], now)
        .await
        .unwrap_err();
    assert_eq!(code(err), "coupon_used");
    drop(tx);

    // Released twice: everything comes back once.
    for _ in 0..2 {
        let mut tx = db.begin().await.unwrap();
        promotions::release(&mut tx, db.backend(), &order, now + HOUR)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(status(db.clone(), c.clone()).await, "issued");
    assert_eq!(scalar(db, "SELECT sold FROM flash_sale_items").await, 0);
    assert_eq!(scalar(db, "SELECT bought FROM flash_sale_buyers").await, 0);
    assert_eq!(scalar(db, "SELECT spent_fen FROM promotions").await, 0);
    assert_eq!(
        scalar(db, "SELECT spent_fen FROM coupon_templates").await,
        0
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM promotion_redemptions WHERE status = 'released'"
        )
        .await,
        3
    );
    // A released order cannot claim again.
    let mut tx = db.begin().await.unwrap();
    let err = promotions::claim(&mut tx, db.backend(), &order, &b, &lines, &found, now)
        .await
        .unwrap_err();
    assert_eq!(code(err), "promotions_released");
    drop(tx);

    // A new order takes the coupon and pays: the coupon is used, for good.
    let mut tx = db.begin().await.unwrap();
    let paid = crate::fixtures::order(&mut tx, "p", now).await;
    let found = promotions::discounts(&mut tx, &b, &lines, Some(&c), now)
        .await
        .unwrap();
    promotions::claim(&mut tx, db.backend(), &paid, &b, &lines, &found, now)
        .await
        .unwrap();
    promotions::settle(&mut tx, &paid, now).await.unwrap();
    promotions::settle(&mut tx, &paid, now).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(status(db.clone(), c.clone()).await, "used");
    let mut tx = db.begin().await.unwrap();
    let err = promotions::release(&mut tx, db.backend(), &paid, now)
        .await
        .unwrap_err();
    assert_eq!(code(err), "order_settled");
    drop(tx);
    let mut conn = db.pool().acquire().await.unwrap();
    let results = promotions::results(&mut conn).await.unwrap();
    let coupon = results
        .iter()
        .find(|r| r.kind == "coupon_template")
        .unwrap();
    assert_eq!((coupon.issued, coupon.used, coupon.orders), (1, 1, 1));
    assert_eq!(coupon.discount_fen, 5_000);
    assert_eq!(coupon.budget_left_fen, Some(95_000));
    let promo = results.iter().find(|r| r.id == pid).unwrap();
    assert_eq!((promo.orders, promo.discount_fen), (1, 10_000));
    let sale = results.iter().find(|r| r.kind == "flash_sale").unwrap();
    assert_eq!((sale.sold, sale.pool, sale.orders), (2, 10, 1));
}

#[tokio::test]
async fn released_coupon_past_validity_expires() {
    let shop = shop().await;
    let now = shop.now;
    let db = &shop.db;
    let mut t = template("短券", CouponKind::AmountOff, now);
    t.amount_fen = 100;
    t.ends_at = now + HOUR;
    let c = coupon_for(db, &t, "p", now).await;
    let lines = vec![line(&shop.mouse, 1)];
    let b = buyer("p", None);
    let mut tx = db.begin().await.unwrap();
    let order = order(&mut tx, "p", now).await;
    let found = promotions::discounts(&mut tx, &b, &lines, Some(&c), now)
        .await
        .unwrap();
    promotions::claim(&mut tx, db.backend(), &order, &b, &lines, &found, now)
        .await
        .unwrap();
    promotions::release(&mut tx, db.backend(), &order, now + 2 * HOUR)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM coupons WHERE status = 'expired' AND order_id IS NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn flash_sales_price_plain_skus_within_the_limit() {
    let shop = shop().await;
    let now = shop.now;
    let db = &shop.db;
    let sale = flash_sale(db, &shop.laptop.1, 450_000, 5, 1, now).await;
    let b = buyer("p", None);
    let mut conn = db.pool().acquire().await.unwrap();
    let offer = promotions::flash_offer(&mut conn, &shop.laptop.1, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (offer.sale_id.as_str(), offer.price_fen, offer.remaining),
        (sale.as_str(), 450_000, 5)
    );
    assert!(promotions::flash_offer(&mut conn, &shop.mouse.1, now)
        .await
        .unwrap()
        .is_none());
    assert!(
        promotions::flash_offer(&mut conn, &shop.laptop.1, now + 2 * HOUR)
            .await
            .unwrap()
            .is_none()
    );

    let found = promotions::discounts(&mut conn, &b, &[line(&shop.laptop, 1)], None, now)
        .await
        .unwrap();
    assert_eq!(found[0].amount_fen, 150_000);
    // Over the per-person limit.
    let err = promotions::discounts(&mut conn, &b, &[line(&shop.laptop, 2)], None, now)
        .await
        .unwrap_err();
    assert_eq!(code(err), "flash_sale_limit_reached");
    // A configured laptop pays its own price; a member price below the flash price is kept.
    let mut configured = line(&shop.laptop, 2);
    configured.configured = true;
    assert!(
        promotions::discounts(&mut conn, &b, &[configured], None, now)
            .await
            .unwrap()
            .is_empty()
    );
    let mut cheap = line(&shop.laptop, 1);
    cheap.unit_fen = 400_000;
    assert!(promotions::discounts(&mut conn, &b, &[cheap], None, now)
        .await
        .unwrap()
        .is_empty());
    // A coupon does not reach flash-sale lines.
    drop(conn);
    let mut t = template("券", CouponKind::AmountOff, now);
    t.amount_fen = 100;
    let c = coupon_for(db, &t, "p", now).await;
    let mut conn = db.pool().acquire().await.unwrap();
    let err = promotions::discounts(&mut conn, &b, &[line(&shop.laptop, 1)], Some(&c), now)
        .await
        .unwrap_err();
    assert_eq!(code(err), "coupon_out_of_scope");
}

#[tokio::test]
async fn budgets_run_out_under_claims() {
    let shop = shop().await;
    let now = shop.now;
    let db = &shop.db;
    let mut manjian = promotion("满减", PromotionKind::ThresholdAmountOff, now);
    manjian.rules = vec![step(100_000, 10_000)];
    manjian.budget_fen = Some(25_000);
    create_promotion(db, &manjian, now).await;
    let lines = vec![line(&shop.monitor, 1)];
    let b = buyer("p", None);
    let mut claimed = 0;
    let mut exhausted = 0;
    // Price both orders first (both see budget), then claim: the second finds it spent.
    let mut priced = Vec::new();
    for _ in 0..3 {
        let mut conn = db.pool().acquire().await.unwrap();
        priced.push(
            promotions::discounts(&mut conn, &b, &lines, None, now)
                .await
                .unwrap(),
        );
    }
    for found in priced {
        assert_eq!(found.len(), 1);
        let mut tx = db.begin().await.unwrap();
        let order = order(&mut tx, "p", now).await;
        match promotions::claim(&mut tx, db.backend(), &order, &b, &lines, &found, now).await {
            Ok(()) => {
                tx.commit().await.unwrap();
                claimed += 1;
            }
            Err(e) => {
                assert_eq!(code(e), "promotion_budget_exhausted");
                exhausted += 1;
            }
        }
    }
    assert_eq!((claimed, exhausted), (2, 1));
    assert_eq!(scalar(db, "SELECT spent_fen FROM promotions").await, 20_000);
    // With 5,000 left the promotion no longer applies.
    let mut conn = db.pool().acquire().await.unwrap();
    assert!(promotions::discounts(&mut conn, &b, &lines, None, now)
        .await
        .unwrap()
        .is_empty());
}
