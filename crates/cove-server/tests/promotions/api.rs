//! The staff and customer endpoints: validation changes nothing, access
//! follows roles, concurrent claims never pass a per-person limit or a
//! total, and results add up.

use crate::common::{count, error_code, TestApp};
use crate::fixtures::catalog;
use cove_core::clock::{self, DAY, HOUR};
use serde_json::{json, Value};

fn template(now: i64) -> Value {
    json!({
        "name": "新人券",
        "kind": "amount_off",
        "amount_fen": 5000,
        "threshold_fen": 50000,
        "starts_at": now - HOUR,
        "ends_at": now + 30 * DAY,
        "valid_days": 7,
        "claimable": true,
        "per_person_limit": 1,
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (app, _db) = TestApp::spawn().await;
    let staff = app.user("store_manager", None).await;
    let now = clock::now();
    let cases = [
        (
            with(template(now), "kind", json!("percent_off")),
            "invalid_percent",
        ),
        (
            with(template(now), "ends_at", json!(now - 2 * HOUR)),
            "invalid_window",
        ),
        (
            with(template(now), "scope", json!("products")),
            "invalid_scope",
        ),
        (
            with(template(now), "scope", json!("stores")),
            "invalid_scope",
        ),
        (with(template(now), "name", json!("  ")), "invalid_name"),
        (
            with(template(now), "amount_fen", json!(0)),
            "invalid_amount",
        ),
        (
            with(template(now), "amount_fen", json!(60000)),
            "invalid_amount",
        ),
        (
            with(template(now), "per_person_limit", json!(0)),
            "invalid_limit",
        ),
        (
            with(template(now), "valid_days", json!(0)),
            "invalid_validity",
        ),
        (
            with(template(now), "budget_fen", json!(-1)),
            "invalid_budget",
        ),
    ];
    for (body, code) in cases {
        let r = staff
            .post("/api/v1/promotions/coupon-templates", body)
            .await;
        assert_eq!(error_code(r, 400).await, code);
    }
    let promo = json!({
        "name": "满减", "kind": "threshold_amount_off",
        "rules": [{"threshold_fen": 100000, "off_fen": 10000}, {"threshold_fen": 200000, "off_fen": 5000}],
        "starts_at": now, "ends_at": now + DAY,
    });
    let r = staff
        .post("/api/v1/promotions/discounts", promo.clone())
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_rules");
    let r = staff
        .post(
            "/api/v1/promotions/discounts",
            with(promo.clone(), "rules", json!([])),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_rules");
    let r = staff
        .post(
            "/api/v1/promotions/discounts",
            json!({"name": "折扣", "kind": "percent_off", "percent": 100, "starts_at": now, "ends_at": now + DAY}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_percent");
    let sale = json!({"name": "秒杀", "starts_at": now, "ends_at": now + HOUR,
        "items": [{"sku_id": "nope", "price_fen": 100, "pool": 10}]});
    let r = staff.post("/api/v1/promotions/flash-sales", sale).await;
    assert_eq!(error_code(r, 400).await, "unknown_sku");
    let sale = json!({"name": "秒杀", "starts_at": now, "ends_at": now + HOUR,
        "items": [{"sku_id": "nope", "price_fen": 100, "pool": -1}]});
    let r = staff.post("/api/v1/promotions/flash-sales", sale).await;
    assert_eq!(error_code(r, 400).await, "invalid_pool");
    let r = staff.get("/api/v1/promotions/coupon-templates/nope").await;
    assert_eq!(error_code(r, 404).await, "coupon_template_not_found");
    let r = staff
        .post(
            "/api/v1/promotions/coupon-templates/nope/issue",
            json!({"profile_ids": ["x"]}),
        )
        .await;
    assert_eq!(error_code(r, 404).await, "coupon_template_not_found");

    // Issuing to an unknown profile issues nothing, not even to the known one.
    let r = staff
        .post("/api/v1/promotions/coupon-templates", template(now))
        .await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let profile = app.new_profile().await;
    let r = staff
        .post(
            &format!(
                "/api/v1/promotions/coupon-templates/{}/issue",
                t["id"].as_str().unwrap()
            ),
            json!({"profile_ids": [profile, "ghost"]}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "unknown_profile");
    let db = app.db();
    assert_eq!(count(db, "SELECT COUNT(*) FROM coupon_templates").await, 1);
    assert_eq!(
        count(db, "SELECT issued_count FROM coupon_templates").await,
        0
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM coupons").await, 0);
    assert_eq!(count(db, "SELECT COUNT(*) FROM promotions").await, 0);
    assert_eq!(count(db, "SELECT COUNT(*) FROM flash_sales").await, 0);

    // Customers: unknown template, and a template staff issue only.
    let customer = app.customer(&profile).await;
    let r = customer
        .post("/api/v1/me/coupons", json!({"template_id": "nope"}))
        .await;
    assert_eq!(error_code(r, 404).await, "coupon_template_not_found");
    let r = staff
        .post(
            "/api/v1/promotions/coupon-templates",
            with(template(now), "claimable", json!(false)),
        )
        .await;
    let staff_only: Value = r.json().await.unwrap();
    let r = customer
        .post(
            "/api/v1/me/coupons",
            json!({"template_id": staff_only["id"]}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "coupon_not_claimable");
    assert_eq!(count(db, "SELECT COUNT(*) FROM coupons").await, 0);
}

#[tokio::test]
async fn access_follows_roles() {
    let (app, _db) = TestApp::spawn().await;
    let now = clock::now();
    for role in ["store_manager", "marketing", "admin"] {
        let s = app.user(role, None).await;
        let r = s
            .post("/api/v1/promotions/coupon-templates", template(now))
            .await;
        assert_eq!(r.status(), 200, "{role} runs promotions");
    }
    let analyst = app.user("data_analyst", None).await;
    assert_eq!(
        analyst
            .get("/api/v1/promotions/coupon-templates")
            .await
            .status(),
        200
    );
    let r = analyst
        .post("/api/v1/promotions/coupon-templates", template(now))
        .await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let engineer = app.user("field_engineer", None).await;
    let r = engineer.get("/api/v1/promotions/results").await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let r = app
        .client
        .get(app.url("/api/v1/promotions/results"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM coupon_templates").await,
        3
    );

    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/promotions/coupon-templates",
        "/api/v1/promotions/flash-sales/{id}/items/{item_id}",
        "/api/v1/promotions/results",
        "/api/v1/me/coupons",
        "/api/v1/store/flash-sales",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    for schema in [
        "CouponTemplate",
        "Promotion",
        "FlashSale",
        "ThresholdRule",
        "CampaignResult",
    ] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
}

#[tokio::test]
async fn concurrent_claims_never_pass_the_per_person_limit_or_the_total() {
    let (app, _db) = TestApp::spawn().await;
    let staff = app.user("marketing", None).await;
    let now = clock::now();
    let r = staff
        .post(
            "/api/v1/promotions/coupon-templates",
            with(template(now), "per_person_limit", json!(3)),
        )
        .await;
    let per_person: Value = r.json().await.unwrap();
    let profile = app.new_profile().await;
    let customer = app.customer(&profile).await;
    let body = json!({"template_id": per_person["id"]});
    let responses = futures_util::future::join_all(
        (0..20).map(|_| customer.post("/api/v1/me/coupons", body.clone())),
    )
    .await;
    let mut ok = 0;
    for r in responses {
        match r.status().as_u16() {
            200 => ok += 1,
            409 => assert_eq!(error_code(r, 409).await, "coupon_limit_reached"),
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM coupons").await, 3);

    // A total of 5 among 20 people claiming at once.
    let r = staff
        .post(
            "/api/v1/promotions/coupon-templates",
            with(template(now), "total_quantity", json!(5)),
        )
        .await;
    let limited: Value = r.json().await.unwrap();
    let mut customers = Vec::new();
    for _ in 0..20 {
        let p = app.new_profile().await;
        customers.push(app.customer(&p).await);
    }
    let body = json!({"template_id": limited["id"]});
    let responses = futures_util::future::join_all(
        customers
            .iter()
            .map(|c| c.post("/api/v1/me/coupons", body.clone())),
    )
    .await;
    let mut ok = 0;
    for r in responses {
        match r.status().as_u16() {
            200 => ok += 1,
            409 => assert_eq!(error_code(r, 409).await, "coupon_sold_out"),
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(ok, 5);
    let id = limited["id"].as_str().unwrap();
    let t: Value = staff
        .get(&format!("/api/v1/promotions/coupon-templates/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["issued_count"], 5);
    assert_eq!(
        count(
            app.db(),
            &format!("SELECT COUNT(*) FROM coupons WHERE template_id = '{id}'")
        )
        .await,
        5
    );
    // Sold out: no longer offered to claim.
    let mine: Value = customers[0]
        .get("/api/v1/me/coupons")
        .await
        .json()
        .await
        .unwrap();
    assert!(mine["claimable"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["template"]["id"] != limited["id"]));
}

#[tokio::test]
async fn staff_run_campaigns_and_customers_see_them() {
    let (app, _db) = TestApp::spawn().await;
    let staff = app.user("store_manager", None).await;
    let now = clock::now();
    let skus = catalog(app.db(), now).await;
    let profile = app.new_profile().await;
    let customer = app.customer(&profile).await;

    // A staff-issued coupon, a claimable one, a 满减 and a flash sale.
    let r = staff
        .post(
            "/api/v1/promotions/coupon-templates",
            with(template(now), "claimable", json!(false)),
        )
        .await;
    let gift: Value = r.json().await.unwrap();
    let gift_id = gift["id"].as_str().unwrap();
    let r = staff
        .post(
            &format!("/api/v1/promotions/coupon-templates/{gift_id}/issue"),
            json!({"profile_ids": [profile]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let issued: Value = r.json().await.unwrap();
    assert_eq!(issued[0]["status"], "issued");
    assert_eq!(
        issued[0]["valid_until"].as_i64().unwrap() - issued[0]["valid_from"].as_i64().unwrap(),
        7 * DAY
    );
    let r = staff
        .post("/api/v1/promotions/coupon-templates", template(now))
        .await;
    let welcome: Value = r.json().await.unwrap();

    let r = staff
        .post(
            "/api/v1/promotions/discounts",
            json!({"name": "满1000减100", "kind": "threshold_amount_off",
                "rules": [{"threshold_fen": 100000, "off_fen": 10000}, {"threshold_fen": 200000, "off_fen": 25000}],
                "priority": 10, "budget_fen": 1000000, "starts_at": now - HOUR, "ends_at": now + DAY}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let promo: Value = r.json().await.unwrap();
    assert_eq!(promo["rules"][1]["off_fen"], 25000);

    let r = staff
        .post(
            "/api/v1/promotions/flash-sales",
            json!({"name": "鼠标秒杀", "starts_at": now - HOUR, "ends_at": now + HOUR,
                "items": [{"sku_id": skus[2].1, "price_fen": 990, "pool": 50, "per_person_limit": 2}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let sale: Value = r.json().await.unwrap();
    let sale_id = sale["id"].as_str().unwrap();
    let item_id = sale["items"][0]["id"].as_str().unwrap();
    assert_eq!(sale["items"][0]["sku_code"], "MS1");
    // Items: add, change, refuse a duplicate, remove an unsold one.
    let r = staff
        .post(
            &format!("/api/v1/promotions/flash-sales/{sale_id}/items"),
            json!({"sku_id": skus[0].1, "price_fen": 500000, "pool": 5}),
        )
        .await;
    let with_two: Value = r.json().await.unwrap();
    assert_eq!(with_two["items"].as_array().unwrap().len(), 2);
    let r = staff
        .post(
            &format!("/api/v1/promotions/flash-sales/{sale_id}/items"),
            json!({"sku_id": skus[0].1, "price_fen": 500000, "pool": 5}),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "flash_item_exists");
    let laptop_item = with_two["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku_code"] == "LT1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = staff
        .client
        .delete(app.url(&format!(
            "/api/v1/promotions/flash-sales/{sale_id}/items/{laptop_item}"
        )))
        .header("x-csrf-token", &staff.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = staff
        .client
        .put(app.url(&format!(
            "/api/v1/promotions/flash-sales/{sale_id}/items/{item_id}"
        )))
        .header("x-csrf-token", &staff.csrf)
        .json(&json!({"sku_id": skus[2].1, "price_fen": 890, "pool": 60, "per_person_limit": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["items"][0]["price_fen"], 890);
    assert_eq!(changed["items"][0]["pool"], 60);

    // Customers see the live sale, their coupon and what they may claim.
    let live: Value = app
        .client
        .get(app.url("/api/v1/store/flash-sales"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live[0]["id"], sale["id"]);
    let mine: Value = customer
        .get("/api/v1/me/coupons")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["coupons"].as_array().unwrap().len(), 1);
    assert_eq!(mine["coupons"][0]["template_id"], gift["id"]);
    assert_eq!(mine["claimable"].as_array().unwrap().len(), 1);
    assert_eq!(mine["claimable"][0]["template"]["id"], welcome["id"]);
    let r = customer
        .post("/api/v1/me/coupons", json!({"template_id": welcome["id"]}))
        .await;
    assert_eq!(r.status(), 200);
    let mine: Value = customer
        .get("/api/v1/me/coupons")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["coupons"].as_array().unwrap().len(), 2);
    assert!(mine["claimable"].as_array().unwrap().is_empty());
    // Analytics and journeys hear of both.
    let events = count(
        app.db(),
        &format!(
            "SELECT COUNT(*) FROM raw_events WHERE profile_id = '{profile}' \
             AND event IN ('coupon.issued', 'coupon.claimed')"
        ),
    )
    .await;
    assert_eq!(events, 2);

    // Pause stops claims; ended is final.
    let welcome_id = welcome["id"].as_str().unwrap();
    let r = staff
        .post(
            &format!("/api/v1/promotions/coupon-templates/{welcome_id}/status"),
            json!({"status": "paused"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let other = app.customer(&app.new_profile().await).await;
    let r = other
        .post("/api/v1/me/coupons", json!({"template_id": welcome_id}))
        .await;
    assert_eq!(error_code(r, 409).await, "coupon_template_inactive");
    let promo_id = promo["id"].as_str().unwrap();
    let r = staff
        .post(
            &format!("/api/v1/promotions/discounts/{promo_id}/status"),
            json!({"status": "ended"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = staff
        .post(
            &format!("/api/v1/promotions/discounts/{promo_id}/status"),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "campaign_ended");

    // Staff list and withdraw coupons.
    let listed: Value = staff
        .get(&format!("/api/v1/promotions/coupons?profile_id={profile}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let coupon_id = issued[0]["id"].as_str().unwrap();
    let r = staff
        .post(
            &format!("/api/v1/promotions/coupons/{coupon_id}/void"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = staff
        .post(
            &format!("/api/v1/promotions/coupons/{coupon_id}/void"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "coupon_not_voidable");

    let results: Value = staff
        .get("/api/v1/promotions/results")
        .await
        .json()
        .await
        .unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 4);
    let gift_result = results.iter().find(|r| r["id"] == gift["id"]).unwrap();
    assert_eq!(gift_result["issued"], 1);
    let sale_result = results.iter().find(|r| r["id"] == sale["id"]).unwrap();
    assert_eq!(
        (sale_result["sold"].as_i64(), sale_result["pool"].as_i64()),
        (Some(0), Some(60))
    );
    let promo_result = results.iter().find(|r| r["id"] == promo["id"]).unwrap();
    assert_eq!(promo_result["budget_left_fen"], 1000000);
    assert_eq!(promo_result["status"], "ended");
}

#[tokio::test]
async fn updates_never_take_back_what_was_given() {
    let (app, _db) = TestApp::spawn().await;
    let staff = app.user("store_manager", None).await;
    let now = clock::now();
    let skus = catalog(app.db(), now).await;
    let put = |path: String, body: Value| {
        staff
            .client
            .put(app.url(&path))
            .header("x-csrf-token", &staff.csrf)
            .json(&body)
            .send()
    };
    let t: Value = staff
        .post(
            "/api/v1/promotions/coupon-templates",
            with(template(now), "total_quantity", json!(10)),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = t["id"].as_str().unwrap();
    let profiles = vec![app.new_profile().await, app.new_profile().await];
    let r = staff
        .post(
            &format!("/api/v1/promotions/coupon-templates/{id}/issue"),
            json!({ "profile_ids": profiles }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let path = format!("/api/v1/promotions/coupon-templates/{id}");
    let r = put(
        path.clone(),
        with(template(now), "total_quantity", json!(1)),
    )
    .await
    .unwrap();
    assert_eq!(error_code(r, 400).await, "invalid_quantity");
    let r = put(path.clone(), with(template(now), "name", json!("新人礼券")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["name"], "新人礼券");
    assert_eq!(changed["issued_count"], 2);
    assert_eq!(changed["total_quantity"], Value::Null);

    // A promotion's budget cannot go below what it has spent.
    let promo = json!({"name": "满减", "kind": "threshold_amount_off",
        "rules": [{"threshold_fen": 100000, "off_fen": 10000}], "budget_fen": 50000,
        "starts_at": now - HOUR, "ends_at": now + DAY});
    let p: Value = staff
        .post("/api/v1/promotions/discounts", promo.clone())
        .await
        .json()
        .await
        .unwrap();
    let pid = p["id"].as_str().unwrap();
    let mut tx = app.db().begin().await.unwrap();
    sqlx::query("UPDATE promotions SET spent_fen = 30000 WHERE id = $1")
        .bind(pid)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let r = put(
        format!("/api/v1/promotions/discounts/{pid}"),
        with(promo.clone(), "budget_fen", json!(20000)),
    )
    .await
    .unwrap();
    assert_eq!(error_code(r, 400).await, "invalid_budget");
    let r = put(
        format!("/api/v1/promotions/discounts/{pid}"),
        with(promo, "priority", json!(7)),
    )
    .await
    .unwrap();
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        (p["priority"].as_i64(), p["spent_fen"].as_i64()),
        (Some(7), Some(30000))
    );

    // A flash item's pool cannot go below what is sold, nor can a sold item be removed.
    let sale: Value = staff
        .post(
            "/api/v1/promotions/flash-sales",
            json!({"name": "秒杀", "starts_at": now - HOUR, "ends_at": now + HOUR,
                "items": [{"sku_id": skus[0].1, "price_fen": 100, "pool": 10}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let sale_id = sale["id"].as_str().unwrap();
    let item_id = sale["items"][0]["id"].as_str().unwrap();
    let mut tx = app.db().begin().await.unwrap();
    sqlx::query("UPDATE flash_sale_items SET sold = 6 WHERE id = $1")
        .bind(item_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let item_path = format!("/api/v1/promotions/flash-sales/{sale_id}/items/{item_id}");
    let r = put(
        item_path.clone(),
        json!({"sku_id": skus[0].1, "price_fen": 100, "pool": 5}),
    )
    .await
    .unwrap();
    assert_eq!(error_code(r, 400).await, "invalid_pool");
    let r = staff
        .client
        .delete(app.url(&item_path))
        .header("x-csrf-token", &staff.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 409).await, "flash_item_sold");
    let r = put(
        format!("/api/v1/promotions/flash-sales/{sale_id}"),
        json!({"name": "周末秒杀", "starts_at": now - HOUR, "ends_at": now + 2 * HOUR}),
    )
    .await
    .unwrap();
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["name"], "周末秒杀");
    assert_eq!(s["items"][0]["pool"], 10);
}
