//! The demo's promotions: a welcome coupon new customers can claim, a 满减
//! on everything, and a flash sale running now on the first SKU.

use crate::clock::{Micros, DAY, HOUR};
use crate::commerce::promotions::{
    coupons, discounts, flash, CouponKind, NewCouponTemplate, NewFlashItem, NewFlashSale,
    NewPromotion, PromotionKind, ThresholdRule,
};
use crate::db::Db;

pub async fn seed(db: &Db, now: Micros) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    coupons::create_template(
        &mut tx,
        &NewCouponTemplate {
            name: "新人专享券".into(),
            description: "满 ¥500 减 ¥50，领取后 30 天内有效".into(),
            kind: CouponKind::AmountOff,
            amount_fen: 5_000,
            percent: 0,
            cap_fen: None,
            threshold_fen: 50_000,
            scope: "all".into(),
            scope_values: vec![],
            starts_at: now - DAY,
            ends_at: now + 365 * DAY,
            valid_days: Some(30),
            claimable: true,
            per_person_limit: 1,
            total_quantity: Some(100_000),
            budget_fen: Some(500_000_000),
            stackable_with_promotions: true,
        },
        now,
    )
    .await?;
    discounts::create(
        &mut tx,
        &NewPromotion {
            name: "年终满减".into(),
            kind: PromotionKind::ThresholdAmountOff,
            rules: vec![
                ThresholdRule {
                    threshold_fen: 100_000,
                    off_fen: 10_000,
                },
                ThresholdRule {
                    threshold_fen: 200_000,
                    off_fen: 25_000,
                },
            ],
            every_threshold: false,
            percent: 0,
            cap_fen: None,
            scope: "all".into(),
            scope_values: vec![],
            priority: 10,
            exclusive: false,
            stackable_with_coupons: true,
            budget_fen: Some(1_000_000_000),
            starts_at: now - DAY,
            ends_at: now + 30 * DAY,
        },
        now,
    )
    .await?;
    // The SKUs come with the catalog; without one there is nothing to sell fast.
    let sku: Option<(String, i64)> =
        sqlx::query_as("SELECT id, price_fen FROM skus ORDER BY CASE WHEN code = 'AUR-NB-X14' THEN 0 ELSE 1 END, code LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((sku_id, price_fen)) = sku {
        flash::create(
            &mut tx,
            &NewFlashSale {
                name: "限时秒杀".into(),
                starts_at: now - HOUR,
                ends_at: now + 3 * DAY,
                items: vec![NewFlashItem {
                    sku_id,
                    // 20% off, to the yuan.
                    price_fen: price_fen * 8 / 10 / 100 * 100,
                    pool: 50,
                    per_person_limit: 1,
                }],
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
