//! The points mall, tier benefits and the member's own profile edits.

use crate::common::{count, error_code, TestApp};
use serde_json::{json, Value};

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
    let coupon: Value = manager
        .post("/api/v1/mall/items", json!({ "kind": "coupon", "name_zh": "满减券", "name_en": "¥50 off", "points": 500, "value": "5000", "per_member_limit": 1 }))
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
    let (customer, id) = member_with_points(&app, "13652419000", 600).await;
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
    // The coupon is a benefit the member can use once.
    let b: Value = customer
        .get("/api/v1/me/benefits")
        .await
        .json()
        .await
        .unwrap();
    let grant = b["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["kind"] == "coupon")
        .unwrap()
        .clone();
    assert_eq!(grant["value"], 5000);
    let used = manager
        .post(
            &format!(
                "/api/v1/members/{id}/benefits/{}/use",
                grant["id"].as_str().unwrap()
            ),
            json!({ "used_for": "order:o-1" }),
        )
        .await;
    assert_eq!(used.status(), 200);
    let twice = manager
        .post(
            &format!(
                "/api/v1/members/{id}/benefits/{}/use",
                grant["id"].as_str().unwrap()
            ),
            json!({ "used_for": "order:o-2" }),
        )
        .await;
    assert_eq!(error_code(twice, 409).await, "benefit_used");
    let card: Value = customer
        .get("/api/v1/me/membership")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["points"]["available"], 100 + 600 - 500);
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
