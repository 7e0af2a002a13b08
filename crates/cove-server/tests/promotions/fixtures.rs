//! A small shop (two categories, three products with one SKU each) on a
//! fresh database, and builders for lines, orders and campaigns.

use crate::common::TestDb;
use cove_core::clock::{self, Micros, DAY, HOUR};
use cove_core::commerce::pricing::{Buyer, PricingLine};
use cove_core::commerce::promotions::{
    coupons, discounts, flash, CouponKind, NewCouponTemplate, NewFlashItem, NewFlashSale,
    NewPromotion, PromotionKind, ThresholdRule,
};
use cove_core::db::{new_id, Db};

pub struct Shop {
    pub db: Db,
    pub _test_db: TestDb,
    pub now: Micros,
    /// (product id, sku id, category code, unit fen)
    pub laptop: (String, String, &'static str, i64),
    pub monitor: (String, String, &'static str, i64),
    pub mouse: (String, String, &'static str, i64),
}

pub async fn shop() -> Shop {
    let test_db = TestDb::new().await;
    let db = Db::connect_url(&test_db.url).await.unwrap();
    db.migrate().await.unwrap();
    let now = clock::now();
    let mut made = catalog(&db, now).await;
    let mouse = made.pop().unwrap();
    let monitor = made.pop().unwrap();
    let laptop = made.pop().unwrap();
    Shop {
        db,
        _test_db: test_db,
        now,
        laptop,
        monitor,
        mouse,
    }
}

/// Categories pc and acc; laptop LT1 and monitor MN1 (pc), mouse MS1 (acc).
pub async fn catalog(db: &Db, now: Micros) -> Vec<(String, String, &'static str, i64)> {
    let mut tx = db.begin().await.unwrap();
    for (code, name) in [("pc", "电脑"), ("acc", "配件")] {
        sqlx::query("INSERT INTO categories (id, code, name_zh, name_en, position) VALUES ($1, $2, $3, $2, 0)")
            .bind(new_id())
            .bind(code)
            .bind(name)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let mut made = Vec::new();
    for (code, cat, price) in [
        ("LT1", "pc", 600_000i64),
        ("MN1", "pc", 200_000),
        ("MS1", "acc", 10_000),
    ] {
        let product = new_id();
        let sku = new_id();
        sqlx::query(
            "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) \
             SELECT $1, $2, id, $2, $2, 'device', $3, 'active', $4 FROM categories WHERE code = $5",
        )
        .bind(&product)
        .bind(code)
        .bind(price)
        .bind(now)
        .bind(cat)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO skus (id, product_id, code, name_zh, name_en, price_fen, created_at, updated_at) \
             VALUES ($1, $2, $3, $3, $3, $4, $5, $5)",
        )
        .bind(&sku)
        .bind(&product)
        .bind(code)
        .bind(price)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
        made.push((product, sku, cat, price));
    }
    tx.commit().await.unwrap();
    made
}

pub fn line(item: &(String, String, &'static str, i64), quantity: i64) -> PricingLine {
    PricingLine {
        product_id: item.0.clone(),
        sku_id: item.1.clone(),
        category_code: item.2.to_owned(),
        quantity,
        list_unit_fen: item.3,
        unit_fen: item.3,
        configured: false,
    }
}

pub fn buyer(profile: &str, tier: Option<&str>) -> Buyer {
    Buyer {
        profile_id: profile.to_owned(),
        member_id: None,
        tier: tier.map(str::to_owned),
    }
}

/// An order row for the claim to belong to.
pub async fn order(conn: &mut cove_core::db::Conn, profile: &str, now: Micros) -> String {
    let id = new_id();
    sqlx::query(
        "INSERT INTO orders (id, order_no, channel, status, total_fen, placed_at, profile_id) \
         VALUES ($1, $2, 'mini_program', 'pending_payment', 0, $3, $4)",
    )
    .bind(&id)
    .bind(format!("T{}", &id[24..]))
    .bind(now)
    .bind(profile)
    .execute(&mut *conn)
    .await
    .unwrap();
    id
}

pub fn template(name: &str, kind: CouponKind, now: Micros) -> NewCouponTemplate {
    NewCouponTemplate {
        name: name.into(),
        description: String::new(),
        kind,
        amount_fen: 0,
        percent: 0,
        cap_fen: None,
        threshold_fen: 0,
        scope: "all".into(),
        scope_values: vec![],
        starts_at: now - HOUR,
        ends_at: now + 30 * DAY,
        valid_days: None,
        claimable: true,
        per_person_limit: 1,
        total_quantity: None,
        budget_fen: None,
        stackable_with_promotions: false,
    }
}

pub fn promotion(name: &str, kind: PromotionKind, now: Micros) -> NewPromotion {
    NewPromotion {
        name: name.into(),
        kind,
        rules: vec![],
        every_threshold: false,
        percent: 0,
        cap_fen: None,
        scope: "all".into(),
        scope_values: vec![],
        priority: 0,
        exclusive: false,
        stackable_with_coupons: true,
        budget_fen: None,
        starts_at: now - HOUR,
        ends_at: now + DAY,
    }
}

pub fn step(threshold_fen: i64, off_fen: i64) -> ThresholdRule {
    ThresholdRule {
        threshold_fen,
        off_fen,
    }
}

/// Creates a template and gives `profile` one coupon of it (by claim).
pub async fn coupon_for(db: &Db, new: &NewCouponTemplate, profile: &str, now: Micros) -> String {
    let mut tx = db.begin().await.unwrap();
    let t = coupons::create_template(&mut tx, new, now).await.unwrap();
    let c = coupons::claim_coupon(&mut tx, &buyer(profile, Some("gold")), &t.id, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    c.id
}

pub async fn create_promotion(db: &Db, new: &NewPromotion, now: Micros) -> String {
    let mut tx = db.begin().await.unwrap();
    let p = discounts::create(&mut tx, new, now).await.unwrap();
    tx.commit().await.unwrap();
    p.id
}

pub async fn flash_sale(
    db: &Db,
    sku: &str,
    price_fen: i64,
    pool: i64,
    limit: i64,
    now: Micros,
) -> String {
    let mut tx = db.begin().await.unwrap();
    let s = flash::create(
        &mut tx,
        &NewFlashSale {
            name: "秒杀".into(),
            starts_at: now - HOUR,
            ends_at: now + HOUR,
            items: vec![NewFlashItem {
                sku_id: sku.to_owned(),
                price_fen,
                pool,
                per_person_limit: limit,
            }],
        },
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    s.id
}

pub async fn scalar(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.pool())
        .await
        .unwrap()
}
