//! The points mall, tier benefits and the member's own profile edits.

use crate::commerce_fixtures::{catalog, checkout, sku};
use crate::common::{count, error_code, TestApp};
use cove_core::clock::{self, DAY, HOUR};
use cove_core::commerce::promotions::{coupons, CouponKind, NewCouponTemplate};
use serde_json::{json, Value};

/// A coupon template staff cannot claim from, `fen` off orders over twice
/// that, with `total` coupons; returns its id.
async fn coupon_template(app: &TestApp, fen: i64, total: Option<i64>) -> String {
    let now = clock::now();
    let mut tx = app.db().begin().await.unwrap();
    let t = coupons::create_template(
        &mut tx,
        &NewCouponTemplate {
            name: format!("积分券 {fen}"),
            description: String::new(),
            kind: CouponKind::AmountOff,
            amount_fen: fen,
            percent: 0,
            cap_fen: None,
            threshold_fen: 2 * fen,
            scope: "all".into(),
            scope_values: vec![],
            starts_at: now - HOUR,
            ends_at: now + 30 * DAY,
            valid_days: Some(7),
            claimable: false,
            per_person_limit: 1,
            total_quantity: total,
            budget_fen: None,
            stackable_with_promotions: true,
        },
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    t.id
}

async fn member_with_points(
    app: &TestApp,
    phone: &str,
    points: i64,
) -> (crate::common::CustomerClient, String) {
    let profile = app.new_profile().await;
    let customer = app.customer(&profile).await;
    let joined: Value = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "顾客", "phone": phone }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = joined["member"]["id"].as_str().unwrap().to_owned();
    if points == 0 {
        return (customer, id);
    }
    let mut tx = app.db().begin().await.unwrap();
    let now = cove_core::clock::now();
    let award = cove_core::membership::points::Award {
        member_id: &id,
        amount: points,
        source: "test",
        key: &format!("seed:{id}"),
        reference: None,
        reason: None,
        unlock_at: now,
        expires_at: now + 100 * cove_core::clock::DAY,
        at: now,
    };
    cove_core::membership::points::award(&mut tx, app.db().backend(), &award)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (customer, id)
}

#[tokio::test]
async fn a_limited_mall_item_is_never_oversold_and_points_are_spent_once() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let item: Value = manager
        .post("/api/v1/mall/items", json!({ "kind": "product", "name_zh": "游戏鼠标", "name_en": "Gaming mouse", "points": 300, "stock": 5 }))
        .await
        .json()
        .await
        .unwrap();
    let item_id = item["id"].as_str().unwrap().to_owned();
    // 12 members race for 5 units.
    let mut customers = Vec::new();
    for i in 0..12 {
        customers.push(member_with_points(&app, &format!("1365241{:04}", 1000 + i), 1000).await);
    }
    let mut tasks = Vec::new();
    for (customer, _) in customers.into_iter() {
        let item_id = item_id.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({ "item_id": item_id, "key": "r1" });
            let first = customer
                .post("/api/v1/me/mall/redemptions", body.clone())
                .await
                .status()
                .as_u16();
            // The client retries the same redemption: no second unit, no second spend.
            let retry = customer
                .post("/api/v1/me/mall/redemptions", body)
                .await
                .status()
                .as_u16();
            (first, retry)
        }));
    }
    let mut won = 0;
    for t in tasks {
        let (first, retry) = t.await.unwrap();
        match first {
            200 => {
                won += 1;
                assert_eq!(retry, 200);
            }
            409 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 5);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM mall_redemptions").await,
        5
    );
    assert_eq!(
        count(
            app.db(),
            &format!("SELECT stock FROM mall_items WHERE id = '{item_id}'")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM points_holds WHERE status = 'consumed' AND purpose LIKE 'mall:%'"
        )
        .await,
        5
    );
    let (late, _) = member_with_points(&app, "13652419999", 1000).await;
    let sold_out = late
        .post(
            "/api/v1/me/mall/redemptions",
            json!({ "item_id": item_id, "key": "r1" }),
        )
        .await;
    assert_eq!(error_code(sold_out, 409).await, "sold_out");
}

#[tokio::test]
async fn mall_rules_refuse_and_change_nothing() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let bad = manager
        .post(
            "/api/v1/mall/items",
            json!({ "kind": "car", "name_zh": "x", "name_en": "x", "points": 1 }),
        )
        .await;
    assert_eq!(error_code(bad, 400).await, "invalid_kind");
    let template = coupon_template(&app, 5000, None).await;
    let coupon: Value = manager
        .post("/api/v1/mall/items", json!({ "kind": "coupon", "name_zh": "满减券", "name_en": "¥50 off", "points": 500, "value": template, "per_member_limit": 1 }))
        .await
        .json()
        .await
        .unwrap();
    let vip: Value = manager
        .post("/api/v1/mall/items", json!({ "kind": "product", "name_zh": "钻石礼盒", "name_en": "Diamond box", "points": 10, "min_tier_rank": 3 }))
        .await
        .json()
        .await
        .unwrap();
    let (customer, _) = member_with_points(&app, "13652419000", 600).await;
    let r: Value = customer
        .post(
            "/api/v1/me/mall/redemptions",
            json!({ "item_id": coupon["id"], "key": "c1" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "issued");
    let again = customer
        .post(
            "/api/v1/me/mall/redemptions",
            json!({ "item_id": coupon["id"], "key": "c2" }),
        )
        .await;
    assert_eq!(error_code(again, 409).await, "limit_reached");
    let low = customer
        .post(
            "/api/v1/me/mall/redemptions",
            json!({ "item_id": vip["id"], "key": "v1" }),
        )
        .await;
    assert_eq!(error_code(low, 409).await, "tier_too_low");
    // The coupon is a promotions coupon in the member's wallet.
    let mine: Value = customer
        .get("/api/v1/me/coupons")
        .await
        .json()
        .await
        .unwrap();
    let held = mine["coupons"].as_array().unwrap();
    assert_eq!(held.len(), 1, "{mine}");
    assert_eq!(held[0]["template_id"], template);
    assert_eq!(held[0]["amount_fen"], 5000);
    assert_eq!(held[0]["status"], "issued");
    assert_eq!(available_points(&customer).await, 100 + 600 - 500);
}

#[tokio::test]
async fn tier_benefits_are_issued_once_per_year_and_birthdays_are_celebrated_once() {
    let (app, _db) = TestApp::spawn().await;
    let (customer, id) = member_with_points(&app, "13652419001", 0).await;
    let b: Value = customer
        .get("/api/v1/me/benefits")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        b["member_price_pct"],
        Value::Null,
        "regular members pay list prices"
    );
    sqlx::query("UPDATE members SET tier = 'diamond' WHERE id = $1")
        .bind(&id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let b: Value = customer
        .get("/api/v1/me/benefits")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["member_price_pct"], 92);
    assert_eq!(b["priority_service"], true);
    let manager = app.user("membership_manager", None).await;
    let g1: Value = manager
        .post(&format!("/api/v1/members/{id}/benefits/issue"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let g2: Value = manager
        .post(&format!("/api/v1/members/{id}/benefits/issue"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g1[0]["kind"], "warranty_extension");
    assert_eq!(g1[0]["value"], 12);
    assert_eq!(g1[0]["id"], g2[0]["id"], "issued once per membership year");

    // Birthday today (China time): points and the tier's offer, once.
    let today = cove_core::clock::to_datetime(cove_core::clock::now() + 8 * cove_core::clock::HOUR)
        .format("1990-%m-%d")
        .to_string();
    let edited = customer
        .request_patch(
            "/api/v1/me/membership",
            json!({ "birthday": today, "preferences": { "store": "SH-01" } }),
        )
        .await;
    assert_eq!(edited.status(), 200);
    let locked = customer
        .request_patch("/api/v1/me/membership", json!({ "birthday": "1991-01-01" }))
        .await;
    assert_eq!(error_code(locked, 409).await, "birthday_locked");
    for _ in 0..2 {
        let mut tx = app.db().begin().await.unwrap();
        cove_core::membership::benefits::birthdays(
            &mut tx,
            app.db().backend(),
            cove_core::clock::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(count(app.db(), &format!("SELECT COUNT(*) FROM points_lots WHERE member_id = '{id}' AND source = 'action:birthday'")).await, 1);
    assert_eq!(count(app.db(), &format!("SELECT COUNT(*) FROM benefit_grants WHERE member_id = '{id}' AND kind = 'birthday_offer'")).await, 1);
}

async fn redeem(
    customer: &crate::common::CustomerClient,
    item: &Value,
    key: &str,
) -> reqwest::Response {
    customer
        .post(
            "/api/v1/me/mall/redemptions",
            json!({ "item_id": item["id"], "key": key }),
        )
        .await
}

async fn available_points(customer: &crate::common::CustomerClient) -> i64 {
    let card: Value = customer
        .get("/api/v1/me/membership")
        .await
        .json()
        .await
        .unwrap();
    card["points"]["available"].as_i64().unwrap()
}

async fn coupons_of(customer: &crate::common::CustomerClient) -> Vec<Value> {
    let mine: Value = customer
        .get("/api/v1/me/coupons")
        .await
        .json()
        .await
        .unwrap();
    mine["coupons"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_mall_coupon_is_a_real_coupon_checkout_applies() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "MC1", 100_000, 10).await;
    let manager = app.user("membership_manager", None).await;
    let template = coupon_template(&app, 8_000, Some(1)).await;

    // A coupon item names an active coupon template.
    for value in [
        json!("8000"),
        json!(""),
        json!("0190a0a0-0000-7000-8000-000000000000"),
    ] {
        let bad = manager
            .post("/api/v1/mall/items", json!({ "kind": "coupon", "name_zh": "券", "name_en": "Coupon", "points": 100, "value": value }))
            .await;
        assert_eq!(error_code(bad, 400).await, "invalid_value");
    }
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM mall_items").await, 0);
    let item: Value = manager
        .post("/api/v1/mall/items", json!({ "kind": "coupon", "name_zh": "满 160 减 80", "name_en": "¥80 off", "points": 400, "stock": 5, "value": template }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["value"], template);

    let (customer, _) = member_with_points(&app, "13652419100", 500).await;
    let first: Value = redeem(&customer, &item, "mc-1").await.json().await.unwrap();
    assert_eq!(first["status"], "issued");
    // A retry with the same key returns the same redemption and issues nothing more.
    let retry: Value = redeem(&customer, &item, "mc-1").await.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    let held = coupons_of(&customer).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["template_id"], template);
    assert_eq!(available_points(&customer).await, 100 + 500 - 400);
    let source: String = sqlx::query_scalar("SELECT source FROM coupons WHERE template_id = $1")
        .bind(&template)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(source, format!("mall:{}", first["id"].as_str().unwrap()));

    // Checkout applies it: ¥80 off ¥1,000.
    let coupon_id = held[0]["id"].as_str().unwrap().to_owned();
    let items = json!([{ "sku_id": laptop, "quantity": 1 }]);
    let plain = checkout(&customer, "mall-plain-01", items.clone(), json!({})).await;
    let plain: Value = plain.json().await.unwrap();
    assert_eq!(plain["payable_fen"], 100_000);
    let with = checkout(
        &customer,
        "mall-coupon-01",
        items,
        json!({ "coupon_id": coupon_id }),
    )
    .await;
    assert_eq!(with.status(), 200);
    let with: Value = with.json().await.unwrap();
    assert_eq!(with["payable_fen"], 100_000 - 8_000);
    let status: String = sqlx::query_scalar("SELECT status FROM coupons WHERE id = $1")
        .bind(&coupon_id)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_ne!(status, "issued", "the order holds the coupon");

    // Without the points, nothing is spent, taken or issued.
    let stock = || async {
        sqlx::query_scalar::<_, i64>("SELECT stock FROM mall_items WHERE id = $1")
            .bind(item["id"].as_str().unwrap())
            .fetch_one(app.db().pool())
            .await
            .unwrap()
    };
    assert_eq!(stock().await, 4);
    let poor = redeem(&customer, &item, "mc-2").await;
    assert_eq!(error_code(poor, 409).await, "insufficient_points");
    assert_eq!(stock().await, 4);
    assert_eq!(coupons_of(&customer).await.len(), 1);

    // The template's last coupon went to the first redemption: a second
    // member with points gets nothing, and keeps points and stock.
    let (rich, _) = member_with_points(&app, "13652419101", 1_000).await;
    let sold_out = redeem(&rich, &item, "mc-3").await;
    assert_eq!(error_code(sold_out, 409).await, "coupon_sold_out");
    assert_eq!(stock().await, 4);
    assert!(coupons_of(&rich).await.is_empty());
    assert_eq!(available_points(&rich).await, 100 + 1_000);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM mall_redemptions").await,
        1
    );

    // An item out of stock issues nothing either.
    let open_template = coupon_template(&app, 1_000, None).await;
    let last: Value = manager
        .post("/api/v1/mall/items", json!({ "kind": "coupon", "name_zh": "券", "name_en": "Coupon", "points": 10, "stock": 0, "value": open_template }))
        .await
        .json()
        .await
        .unwrap();
    let none = redeem(&rich, &last, "mc-4").await;
    assert_eq!(error_code(none, 409).await, "sold_out");
    assert!(coupons_of(&rich).await.is_empty());
}

/// 100 redemptions race against a balance that covers exactly 10: ten win,
/// ninety are refused for want of points, and the balance ends at what was
/// left over. Then one redemption retried 20 times at once spends once.
#[tokio::test]
async fn a_hundred_racing_redemptions_spend_a_balance_of_ten_exactly_and_a_retried_key_spends_once()
{
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let item: Value = manager
        .post("/api/v1/mall/items", json!({ "kind": "product", "name_zh": "鼠标垫", "name_en": "Mouse pad", "points": 1000 }))
        .await
        .json()
        .await
        .unwrap();
    assert!(item["id"].is_string(), "{item}");
    let (customer, _) = member_with_points(&app, "13652417001", 10_000).await;
    let before = available_points(&customer).await;
    assert!(
        (10_000..11_000).contains(&before),
        "the seed and the welcome points cover ten: {before}"
    );
    let customer = std::sync::Arc::new(customer);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (customer, item) = (customer.clone(), item.clone());
        tasks.push(tokio::spawn(async move {
            let r = redeem(&customer, &item, &format!("race-{i}")).await;
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => won += 1,
            (409, code) => assert_eq!(code, "insufficient_points"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 10);
    assert_eq!(available_points(&customer).await, before - 10_000);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM mall_redemptions").await,
        10
    );

    let (retrier, member) = member_with_points(&app, "13652417002", 5_000).await;
    let before = available_points(&retrier).await;
    let retrier = std::sync::Arc::new(retrier);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (retrier, item) = (retrier.clone(), item.clone());
        tasks.push(tokio::spawn(async move {
            let r = redeem(&retrier, &item, "the-one").await;
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            body["id"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry answers with the one redemption");
    assert_eq!(available_points(&retrier).await, before - 1000);
    assert_eq!(
        count(
            app.db(),
            &format!("SELECT COUNT(*) FROM mall_redemptions WHERE member_id = '{member}'")
        )
        .await,
        1
    );
}
