//! Refunds: partial and full, requested by the customer and decided by
//! staff, returning stock and points exactly once.

use super::fixtures::*;
use crate::common::{error_code, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn partial_then_full_refund_returns_stock_and_points_in_proportion() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "R1", 400_000, 5).await;
    let (customer, member_id) = member(&app, "13900000021").await;
    give_points(&app, &member_id, 100_000).await;
    let start = available(&customer).await;
    let r = checkout(
        &customer,
        "refund-key-01",
        json!([{ "sku_id": laptop, "quantity": 2 }]),
        json!({ "points": 80_000 }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let placed: Value = r.json().await.unwrap();
    let id = placed["order_id"].as_str().unwrap().to_owned();
    assert_eq!(placed["payable_fen"], 800_000 - 80_000);
    pay(&customer, &id).await;
    assert_eq!(available(&customer).await, start - 80_000);
    let o = order(&customer, &id).await;
    let line = o["lines"][0]["id"].as_str().unwrap().to_owned();

    // The customer asks for one unit back; a second request waits for the first.
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{id}/refund"),
            json!({ "lines": [{ "line_id": line, "quantity": 1 }], "reason": "one too many" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let refund: Value = r.json().await.unwrap();
    assert_eq!(refund["amount_fen"], 360_000);
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{id}/refund"),
            json!({ "reason": "all" }),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "refund_pending");
    assert_eq!(order(&customer, &id).await["status"], "refund_requested");

    let manager = app.user("store_manager", None).await;
    let rid = refund["id"].as_str().unwrap();
    assert_eq!(
        manager
            .post(&format!("/api/v1/refunds/{rid}/approve"), json!({}))
            .await
            .status(),
        200
    );
    let r = manager
        .post(&format!("/api/v1/refunds/{rid}/approve"), json!({}))
        .await;
    assert_eq!(error_code(r, 409).await, "refund_decided");
    refunds_succeeded(&app, 1).await;
    let o = order(&customer, &id).await;
    assert_eq!(
        o["status"], "paid",
        "a partial refund returns the order to where it was"
    );
    assert_eq!(o["refunded_fen"], 360_000);
    assert_eq!(stock_of(&app, &laptop).await, (4, 0));
    // Half the points used come back.
    assert_eq!(available(&customer).await, start - 40_000);

    // Staff refund the rest at once.
    let r = manager
        .post(
            &format!("/api/v1/orders/{id}/refund"),
            json!({ "reason": "customer returned it" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    refunds_succeeded(&app, 2).await;
    let o = order(&customer, &id).await;
    assert_eq!(o["status"], "refunded");
    assert_eq!(o["refunded_fen"], 720_000);
    assert_eq!(stock_of(&app, &laptop).await, (5, 0));
    assert_eq!(
        available(&customer).await,
        start,
        "all points used came back, earned points were taken back"
    );
    let r = manager
        .post(
            &format!("/api/v1/orders/{id}/refund"),
            json!({ "reason": "again" }),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "order_not_refundable");
}

#[tokio::test]
async fn a_rejected_refund_puts_the_order_back() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "R2", 100_000, 5).await;
    let (customer, _) = member(&app, "13900000022").await;
    let placed = place(
        &customer,
        "refund-key-02",
        json!([{ "sku_id": laptop, "quantity": 1 }]),
    )
    .await;
    let id = placed["order_id"].as_str().unwrap();
    // An unpaid order cannot be refunded.
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{id}/refund"),
            json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "order_not_refundable");
    pay(&customer, id).await;
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{id}/refund"),
            json!({ "reason": "" }),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_reason");
    let refund: Value = customer
        .post(
            &format!("/api/v1/me/orders/{id}/refund"),
            json!({ "reason": "changed my mind" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let manager = app.user("store_manager", None).await;
    let r = manager
        .post(
            &format!("/api/v1/refunds/{}/reject", refund["id"].as_str().unwrap()),
            json!({ "reason": "used" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let o = order(&customer, id).await;
    assert_eq!(o["status"], "paid");
    assert_eq!(o["refunded_fen"], 0);
    assert_eq!(stock_of(&app, &laptop).await, (4, 0));
}
