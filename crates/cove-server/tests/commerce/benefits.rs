//! What checkout takes from the rest of Cove: attribution from the entry
//! scene and the last touch, membership benefits (birthday offer, tier
//! gates), and service products that extend the buyer's device cover.

use super::fixtures::*;
use crate::common::{count, error_code, TestApp};
use cove_core::audience::domain::{emit, DomainEvent};
use cove_core::clock;
use serde_json::{json, Value};

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(app.db().pool()).await.unwrap();
}

#[tokio::test]
async fn orders_record_where_they_came_from() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "A1", 100_000, 10).await;
    exec(&app, "INSERT INTO resellers (id, code, name, city, created_at) VALUES ('rs-1', 'R-01', '华东经销', '上海', 0)").await;
    exec(&app, "INSERT INTO stores (id, code, name, kind, city, reseller_id, created_at) VALUES ('st-1', 'SH-09', '徐汇店', 'reseller', '上海', 'rs-1', 0)").await;
    exec(&app, "INSERT INTO channel_accounts (id, kind, name, app_id, token_sealed, created_at) VALUES ('ca-1', 'mini_program', 'MP', 'wx1', 'x', 0)").await;
    exec(&app, "INSERT INTO qr_scenes (id, account_id, scene, kind, name, store_id, campaign, created_at) VALUES ('qs-1', 'ca-1', 'st-SH09', 'store', '徐汇店码', 'st-1', 'spring-launch', 0)").await;
    let (customer, _) = member(&app, "13900000051").await;

    // The storefront names the entry scene: store, reseller and campaign follow.
    let r = customer
        .post(
            "/api/v1/me/checkout",
            json!({ "key": "attr-key-001", "items": [{ "sku_id": laptop, "quantity": 1 }], "address": address(),
                    "entry": { "channel": "wecom", "scene": "st-SH09" } }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let placed: Value = r.json().await.unwrap();
    let o = order(&customer, placed["order_id"].as_str().unwrap()).await;
    assert_eq!(o["attribution"]["channel"], "wecom");
    assert_eq!(o["attribution"]["store_id"], "st-1");
    assert_eq!(o["attribution"]["reseller_id"], "rs-1");
    assert_eq!(o["attribution"]["campaign"], "spring-launch");
    assert_eq!(o["attribution"]["scene"], "st-SH09");

    // No entry context: the last touch in the event stream attributes it.
    let profile: String = sqlx::query_scalar("SELECT profile_id FROM orders WHERE id = $1")
        .bind(placed["order_id"].as_str().unwrap())
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    let mut tx = app.db().begin().await.unwrap();
    let event = DomainEvent::new(
        "mp.opened",
        profile,
        "test-open-1",
        json!({ "channel": "moments_ad", "campaign": "double-11", "store_id": "st-1" }),
        clock::now() - 1,
    );
    emit(&mut tx, &event).await.unwrap();
    tx.commit().await.unwrap();
    let placed = place(
        &customer,
        "attr-key-002",
        json!([{ "sku_id": laptop, "quantity": 1 }]),
    )
    .await;
    let o = order(&customer, placed["order_id"].as_str().unwrap()).await;
    assert_eq!(o["attribution"]["campaign"], "double-11");
    assert_eq!(o["attribution"]["store_id"], "st-1");
    assert_eq!(o["attribution"]["last_touch"]["event"], "mp.opened");
    assert!(o["attribution"]["first_touch"].is_object());
    // An unknown channel name is refused.
    let r = customer
        .post(
            "/api/v1/me/checkout",
            json!({ "key": "attr-key-003", "items": [{ "sku_id": laptop, "quantity": 1 }], "address": address(), "entry": { "channel": "tv" } }),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_channel");
}

#[tokio::test]
async fn a_birthday_offer_pays_part_of_an_order_once_and_comes_back_on_cancel() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "B1", 100_000, 10).await;
    let (customer, member_id) = member(&app, "13900000052").await;
    sqlx::query("INSERT INTO benefit_grants (id, member_id, kind, period, value, origin, granted_at) VALUES ('g-1', $1, 'birthday_offer', '2026', 5000, 'tier', 0)")
        .bind(&member_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let items = json!([{ "sku_id": laptop, "quantity": 1 }]);
    let r = checkout(
        &customer,
        "bday-key-01",
        items.clone(),
        json!({ "grant_id": "g-1" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let placed: Value = r.json().await.unwrap();
    assert_eq!(placed["payable_fen"], 100_000 - 5_000);
    // Used: a second order cannot use it.
    let r = checkout(
        &customer,
        "bday-key-02",
        items.clone(),
        json!({ "grant_id": "g-1" }),
    )
    .await;
    assert_eq!(error_code(r, 400).await, "benefit_not_usable");
    // Cancelling the first order gives it back.
    let id = placed["order_id"].as_str().unwrap();
    assert_eq!(
        customer
            .post(&format!("/api/v1/me/orders/{id}/cancel"), json!({}))
            .await
            .status(),
        200
    );
    let r = checkout(
        &customer,
        "bday-key-03",
        items,
        json!({ "grant_id": "g-1" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    // Someone else's grant is not theirs.
    let (other, _) = member(&app, "13900000053").await;
    let r = checkout(
        &other,
        "bday-key-04",
        json!([{ "sku_id": laptop, "quantity": 1 }]),
        json!({ "grant_id": "g-1" }),
    )
    .await;
    assert_eq!(error_code(r, 400).await, "benefit_not_usable");
}

#[tokio::test]
async fn member_only_products_need_the_tier_and_a_bought_extension_covers_the_device() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "M1", 100_000, 10).await;
    exec(
        &app,
        "UPDATE products SET member_only = 1, min_tier = 'gold' WHERE code = 'M1'",
    )
    .await;
    let (customer, member_id) = member(&app, "13900000054").await;
    let items = json!([{ "sku_id": laptop, "quantity": 1 }]);
    assert_eq!(
        error_code(
            checkout(&customer, "tier-key-01", items.clone(), json!({})).await,
            400
        )
        .await,
        "tier_too_low"
    );
    sqlx::query("UPDATE members SET tier = 'gold' WHERE id = $1")
        .bind(&member_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let r = checkout(&customer, "tier-key-02", items, json!({})).await;
    assert_eq!(r.status(), 200);
    let placed: Value = r.json().await.unwrap();
    // Gold: 95% member price, free shipping.
    assert_eq!(placed["payable_fen"], 95_000);

    // A 12-month extension for the member's own device.
    exec(&app, "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at, service_kind, service_months) VALUES ('p-EXT', 'EXT-12', 'cat-s', '延保一年', 'Extended warranty 1 year', 'service', 49900, 'active', 0, 'warranty_extension', 12)").await;
    exec(&app, "INSERT INTO skus (id, product_id, code, name_zh, name_en, price_fen, created_at, updated_at) VALUES ('s-EXT', 'p-EXT', 'EXT-12', '', '', 49900, 0, 0)").await;
    let now = clock::now();
    sqlx::query("INSERT INTO devices (service_tag, product_id, shipped_at, warranty_ends_at, member_id, bound_at) VALUES ('ABC1234', 'p-M1', $1, $2, $3, $1)")
        .bind(now - 100 * clock::DAY)
        .bind(now + 265 * clock::DAY)
        .bind(&member_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO device_entitlements (id, service_tag, kind, service_level, starts_at, ends_at, origin, reference, created_at) VALUES ('e-base', 'ABC1234', 'base', 'CI', $1, $2, 'shipped', 'factory', $1)")
        .bind(now - 100 * clock::DAY)
        .bind(now + 265 * clock::DAY)
        .execute(app.db().pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO devices (service_tag, product_id, shipped_at, warranty_ends_at) VALUES ('ZZZ9999', 'p-M1', $1, $2)")
        .bind(now - 100 * clock::DAY)
        .bind(now + 265 * clock::DAY)
        .execute(app.db().pool())
        .await
        .unwrap();
    let service =
        |tag: Option<&str>| json!([{ "sku_id": "s-EXT", "quantity": 1, "service_tag": tag }]);
    assert_eq!(
        error_code(
            checkout(&customer, "ext-key-01", service(None), json!({})).await,
            400
        )
        .await,
        "service_tag_required"
    );
    assert_eq!(
        error_code(
            checkout(&customer, "ext-key-02", service(Some("ZZZ9999")), json!({})).await,
            400
        )
        .await,
        "device_not_yours"
    );
    let r = customer
        .post(
            "/api/v1/me/checkout",
            json!({ "key": "ext-key-03", "items": service(Some("abc1234")) }),
        )
        .await;
    assert_eq!(r.status(), 200, "a service needs no shipping address");
    let placed: Value = r.json().await.unwrap();
    let ext_order = placed["order_id"].as_str().unwrap().to_owned();
    pay(&customer, &ext_order).await;
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM device_entitlements WHERE service_tag = 'ABC1234' AND kind = 'extended' AND origin = 'purchased'").await,
        1
    );
    let warranty_end = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT warranty_ends_at FROM devices WHERE service_tag = 'ABC1234'",
        )
        .fetch_one(app.db().pool())
        .await
        .unwrap()
    };
    assert!(
        warranty_end().await > now + 600 * clock::DAY,
        "a year after the factory warranty"
    );

    // Refunded, the extension no longer covers the device.
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{ext_order}/refund"),
            json!({ "reason": "changed my mind" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let refund: Value = r.json().await.unwrap();
    let manager = app.user("store_manager", None).await;
    let approve = format!("/api/v1/refunds/{}/approve", refund["id"].as_str().unwrap());
    assert_eq!(manager.post(&approve, json!({})).await.status(), 200);
    refunds_succeeded(&app, 1).await;
    assert_eq!(warranty_end().await, now + 265 * clock::DAY);
    let lookup: Value = customer
        .get("/api/v1/store/devices/ABC1234")
        .await
        .json()
        .await
        .unwrap();
    let extended_active = lookup["warranty"]["entitlements"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "extended" && e["active"] == true);
    assert!(!extended_active, "{lookup}");
}
