//! The storefront's buying pages render for a signed-in customer.

use super::fixtures::*;
use crate::common::{CustomerClient, TestApp};
use serde_json::{json, Value};

async fn page(app: &TestApp, customer: &CustomerClient, path: &str) -> String {
    let r = customer
        .client
        .get(app.url(path))
        .header("cookie", format!("cove_customer={}", customer.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn cart_checkout_pay_and_order_pages_render() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let (base, _, o32, _) = configurable(&app).await;
    let (customer, _) = member(&app, "13900000031").await;
    let r = customer
        .post(
            "/api/v1/me/cart",
            json!({ "sku_id": base, "options": [o32], "quantity": 1 }),
        )
        .await;
    assert_eq!(r.status(), 200);

    let cart = page(&app, &customer, "/cart").await;
    assert!(
        cart.contains("id=\"to-checkout\"") && cart.contains("32GB"),
        "{cart}"
    );
    assert!(cart.contains("¥9,000"), "the configured price shows");
    let checkout = page(&app, &customer, "/checkout").await;
    assert!(checkout.contains("id=\"checkout-form\"") && checkout.contains(&base));

    let placed = place(
        &customer,
        "page-key-001",
        json!([{ "sku_id": base, "options": [o32], "quantity": 1 }]),
    )
    .await;
    let id = placed["order_id"].as_str().unwrap();
    let started: Value = customer
        .post(&format!("/api/v1/me/orders/{id}/pay/sandbox"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let pay = page(&app, &customer, started["pay_url"].as_str().unwrap()).await;
    assert!(pay.contains("id=\"pay-now\"") && pay.contains("¥9,000"));

    let orders = page(&app, &customer, "/orders").await;
    assert!(orders.contains(id));
    let order = page(&app, &customer, &format!("/orders/{id}")).await;
    assert!(
        order.contains("data-status=\"pending_payment\"") && order.contains("id=\"pay-order\"")
    );

    // Signed out: the pages ask to sign in rather than fail.
    let visitor = reqwest::get(app.url("/cart")).await.unwrap();
    assert_eq!(visitor.status(), 200);
    assert!(visitor.text().await.unwrap().contains("id=\"signed-out\""));
    // Another customer's order is not theirs to see.
    let other = app.customer(&app.new_profile().await).await;
    let r = other
        .client
        .get(app.url(&format!("/orders/{id}")))
        .header("cookie", format!("cove_customer={}", other.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
