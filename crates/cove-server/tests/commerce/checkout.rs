//! Cart, quote and checkout: configurations validated and priced on the
//! server, the explanation, idempotent checkout, bad input refused.

use super::fixtures::*;
use crate::common::{count, error_code, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn a_configured_laptop_is_priced_validated_and_reserved() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let (base, _o16, o32, rtx) = configurable(&app).await;
    let (customer, _member) = member(&app, "13900000001").await;

    // The RTX needs 32 GB: refused with the rule's message, nothing added.
    let r = customer
        .post(
            "/api/v1/me/cart",
            json!({ "sku_id": base, "options": [rtx], "quantity": 1 }),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "option_requires");
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM cart_lines").await, 0);
    // Two options of one group, an option of another product: refused.
    let r = customer
        .post(
            "/api/v1/me/cart",
            json!({ "sku_id": base, "options": ["o-16", o32], "quantity": 1 }),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "one_option_per_group");
    let r = customer
        .post(
            "/api/v1/me/cart",
            json!({ "sku_id": base, "options": ["nope"], "quantity": 1 }),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "unknown_option");

    let r = customer
        .post(
            "/api/v1/me/cart",
            json!({ "sku_id": base, "options": [o32, rtx], "quantity": 1 }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let cart: Value = r.json().await.unwrap();
    let quote = &cart["quote"];
    // 8000 + 1000 + 2500 yuan, list price; shipping free above the threshold.
    assert_eq!(quote["list_fen"], 1_150_000);
    assert_eq!(quote["payable_fen"], 1_150_000);
    assert_eq!(quote["shipping_fen"], 0);
    let kinds: Vec<&str> = quote["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["list", "shipping", "payable"]);

    let items = json!([{ "sku_id": base, "options": [o32, rtx], "quantity": 1 }]);
    let placed = place(&customer, "checkout-0001", items.clone()).await;
    assert_eq!(placed["payable_fen"], 1_150_000);
    // Base and the 32 GB module are reserved; the RTX has no stock of its own.
    assert_eq!(stock_of(&app, &base).await, (10, 1));
    assert_eq!(stock_of(&app, "s-MEM-32").await, (2, 1));

    // A retry with the same key returns the same order and reserves nothing more.
    let again = place(&customer, "checkout-0001", items.clone()).await;
    assert_eq!(again["order_id"], placed["order_id"]);
    assert_eq!(again["created"], false);
    assert_eq!(stock_of(&app, "s-MEM-32").await, (2, 1));

    let order = order(&customer, placed["order_id"].as_str().unwrap()).await;
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["lines"][0]["options"].as_array().unwrap().len(), 2);
    assert_eq!(order["transitions"][0]["to_status"], "pending_payment");
}

#[tokio::test]
async fn members_pay_member_prices_and_points_within_the_rules() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "X1", 500_000, 5).await;
    let (customer, member_id) = member(&app, "13900000002").await;
    sqlx::query("UPDATE members SET tier = 'gold' WHERE id = $1")
        .bind(&member_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO sku_tier_prices (sku_id, tier, price_fen) VALUES ($1, 'gold', 450000)",
    )
    .bind(&laptop)
    .execute(app.db().pool())
    .await
    .unwrap();
    give_points(&app, &member_id, 300_000).await;
    let items = json!([{ "sku_id": laptop, "quantity": 1 }]);

    // Points pay at most half of the order.
    let r = customer
        .post(
            "/api/v1/me/quote",
            json!({ "items": items, "apply": { "points": 300_000 } }),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "points_exceed_limit");
    let r = customer
        .post(
            "/api/v1/me/quote",
            json!({ "items": items, "apply": { "points": 20_000 } }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let q: Value = r.json().await.unwrap();
    assert_eq!(q["member_saving_fen"], 50_000);
    assert_eq!(q["points_max"], 225_000);
    assert_eq!(q["payable_fen"], 450_000 - 20_000);

    let r = checkout(
        &customer,
        "checkout-pts-1",
        items.clone(),
        json!({ "points": 20_000 }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let placed: Value = r.json().await.unwrap();
    assert_eq!(held(&customer).await, 20_000);

    // Cancelling gives the points and the stock back.
    let id = placed["order_id"].as_str().unwrap();
    let r = customer
        .post(&format!("/api/v1/me/orders/{id}/cancel"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(held(&customer).await, 0);
    assert_eq!(stock_of(&app, &laptop).await, (5, 0));
    // A cancelled order cannot be paid or cancelled again.
    let r = customer
        .post(&format!("/api/v1/me/orders/{id}/pay/sandbox"), json!({}))
        .await;
    assert_eq!(error_code(r, 409).await, "order_not_payable");
    let r = customer
        .post(&format!("/api/v1/me/orders/{id}/cancel"), json!({}))
        .await;
    assert_eq!(error_code(r, 409).await, "illegal_transition");
}

#[tokio::test]
async fn bad_checkouts_are_refused_and_change_nothing() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "X2", 500_000, 1).await;
    sqlx::query("UPDATE products SET member_only = 1 WHERE code = 'X2'")
        .execute(app.db().pool())
        .await
        .unwrap();
    let visitor = app.customer(&app.new_profile().await).await;
    let items = json!([{ "sku_id": laptop, "quantity": 1 }]);
    assert_eq!(
        error_code(
            checkout(&visitor, "visitor-key-1", items.clone(), json!({})).await,
            400
        )
        .await,
        "members_only"
    );

    let (customer, _) = member(&app, "13900000003").await;
    let cases = [
        (
            json!({ "key": "short", "items": items, "address": address() }),
            "invalid_idempotency_key",
        ),
        (
            json!({ "key": "key-000001", "items": [], "address": address() }),
            "invalid_items",
        ),
        (
            json!({ "key": "key-000002", "items": [{ "sku_id": laptop, "quantity": 0 }], "address": address() }),
            "invalid_quantity",
        ),
        (
            json!({ "key": "key-000003", "items": items }),
            "address_required",
        ),
        (
            json!({ "key": "key-000004", "items": items, "address": { "name": "x", "phone": "123", "region": "r", "line": "l" } }),
            "invalid_address",
        ),
        (
            json!({ "key": "key-000005", "items": items, "address": address(), "invoice": { "kind": "company", "title": "Acme" } }),
            "invalid_invoice",
        ),
        (
            json!({ "key": "key-000006", "items": [{ "sku_id": laptop, "quantity": 2 }], "address": address() }),
            "out_of_stock",
        ),
        (
            json!({ "key": "key-000007", "items": items, "address": address(), "apply": { "points": 10_000_000 } }),
            "points_exceed_limit",
        ),
    ];
    for (body, code) in cases {
        let r = customer.post("/api/v1/me/checkout", body).await;
        let status = r.status().as_u16();
        assert!(status == 400 || status == 409, "{code}: {status}");
        assert_eq!(error_code(r, status).await, code);
    }
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM orders").await, 0);
    assert_eq!(stock_of(&app, &laptop).await, (1, 0));
    // Another customer's order is not found.
    let placed = place(&customer, "key-000008", items.clone()).await;
    let other = app.customer(&app.new_profile().await).await;
    let r = other
        .get(&format!(
            "/api/v1/me/orders/{}",
            placed["order_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), 404);
}
