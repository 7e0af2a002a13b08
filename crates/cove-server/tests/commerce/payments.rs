//! Payments: the sandbox flow end to end, exactly-once confirmation under
//! concurrent deliveries, amounts checked, late payments refunded, the
//! payment timeout releasing stock.

use super::fixtures::*;
use crate::common::{count, error_code, eventually, TestApp};
use cove_core::clock;
use cove_core::commerce::payments::{self, Confirmation, Confirmed, Provider};
use serde_json::{json, Value};

#[tokio::test]
async fn a_paid_order_commits_stock_earns_points_and_ships() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "P1", 600_000, 3).await;
    let (customer, _member) = member(&app, "13900000011").await;
    let placed = place(
        &customer,
        "pay-key-0001",
        json!([{ "sku_id": laptop, "quantity": 2 }]),
    )
    .await;
    let id = placed["order_id"].as_str().unwrap();
    let confirmed = pay(&customer, id).await;
    assert_eq!(confirmed["outcome"], "paid");
    assert_eq!(stock_of(&app, &laptop).await, (1, 0));
    let o = order(&customer, id).await;
    assert_eq!(o["status"], "paid");
    assert!(
        o["points_earned"].as_i64().unwrap() > 0,
        "a purchase earns points: {o}"
    );
    // Paying again is refused; the order is no longer pending.
    let r = customer
        .post(&format!("/api/v1/me/orders/{id}/pay/sandbox"), json!({}))
        .await;
    assert_eq!(error_code(r, 409).await, "order_not_payable");

    let manager = app.user("store_manager", None).await;
    let r = manager
        .post(
            &format!("/api/v1/orders/{id}/ship"),
            json!({ "carrier": "SF", "tracking_no": "x" }),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_tracking");
    let r = manager
        .post(
            &format!("/api/v1/orders/{id}/ship"),
            json!({ "carrier": "SF Express", "tracking_no": "SF1234567890" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = manager
        .post(
            &format!("/api/v1/orders/{id}/ship"),
            json!({ "carrier": "SF Express", "tracking_no": "SF1234567890" }),
        )
        .await;
    assert_eq!(error_code(r, 409).await, "illegal_transition");
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{id}/confirm-receipt"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let o = order(&customer, id).await;
    assert_eq!(o["status"], "completed");
    assert_eq!(o["tracking_no"], "SF1234567890");
    let path: Vec<&str> = o["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        [
            "pending_payment",
            "paid",
            "shipped",
            "delivered",
            "completed"
        ]
    );
    // A marketing user may not ship; a customer cannot reach staff routes.
    let marketing = app.user("marketing", None).await;
    assert_eq!(
        marketing
            .post(&format!("/api/v1/orders/{id}/deliver"), json!({}))
            .await
            .status(),
        403
    );
    assert_eq!(customer.get("/api/v1/orders").await.status(), 401);
}

#[tokio::test]
async fn five_concurrent_deliveries_of_one_payment_pay_the_order_once() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "P2", 300_000, 5).await;
    let (customer, member_id) = member(&app, "13900000012").await;
    let placed = place(
        &customer,
        "pay-key-0002",
        json!([{ "sku_id": laptop, "quantity": 1 }]),
    )
    .await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    let payment = payments::start(app.db(), &id, Provider::Wechat)
        .await
        .unwrap();

    // A wrong amount changes nothing.
    let wrong = Confirmation {
        provider: Provider::Wechat,
        out_trade_no: &payment.out_trade_no,
        transaction_id: "4200000001",
        amount_fen: 1,
        payer: None,
        paid_at: clock::now(),
    };
    assert_eq!(
        payments::confirm(app.db(), &wrong)
            .await
            .unwrap_err()
            .code(),
        "amount_mismatch"
    );
    assert_eq!(order(&customer, &id).await["status"], "pending_payment");

    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let db = app.db().clone();
            let out = payment.out_trade_no.clone();
            tokio::spawn(async move {
                payments::confirm(
                    &db,
                    &Confirmation {
                        provider: Provider::Wechat,
                        out_trade_no: &out,
                        transaction_id: "4200000002",
                        amount_fen: 300_000,
                        payer: Some("openid-1"),
                        paid_at: clock::now(),
                    },
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut paid = 0;
    for t in tasks {
        match t.await.unwrap() {
            Confirmed::Paid { .. } => paid += 1,
            Confirmed::AlreadyPaid { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(paid, 1);
    let transitions = count(
        app.db(),
        &format!(
            "SELECT COUNT(*) FROM order_transitions WHERE order_id = '{id}' AND to_status = 'paid'"
        ),
    )
    .await;
    assert_eq!(transitions, 1);
    let awards = count(
        app.db(),
        &format!(
            "SELECT COUNT(*) FROM points_lots WHERE member_id = '{member_id}' AND source = 'order'"
        ),
    )
    .await;
    assert_eq!(awards, 1);
    assert_eq!(stock_of(&app, &laptop).await, (4, 0));
}

#[tokio::test]
async fn unpaid_orders_time_out_and_a_late_payment_is_refunded() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "P3", 200_000, 1).await;
    let (customer, _) = member(&app, "13900000013").await;
    let placed = place(
        &customer,
        "pay-key-0003",
        json!([{ "sku_id": laptop, "quantity": 1 }]),
    )
    .await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    let payment = payments::start(app.db(), &id, Provider::Sandbox)
        .await
        .unwrap();
    assert_eq!(stock_of(&app, &laptop).await, (1, 1));

    // The deadline passes: the durable job cancels the order and frees the unit.
    let past = clock::now() - 1;
    sqlx::query("UPDATE orders SET expires_at = $1 WHERE id = $2")
        .bind(past)
        .bind(&id)
        .execute(app.db().pool())
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET run_at = $1 WHERE kind = 'commerce.order.expire'")
        .bind(past)
        .execute(app.db().pool())
        .await
        .unwrap();
    let db = app.db().clone();
    assert!(
        eventually(20, || async {
            count(
                &db,
                "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'",
            )
            .await
                == 1
        })
        .await,
        "the order timed out"
    );
    assert_eq!(stock_of(&app, &laptop).await, (1, 0));
    let o = order(&customer, &id).await;
    assert_eq!(o["transitions"][1]["actor"], "system:timeout");

    // The payment still arrives: recorded, and refunded in full at once.
    let confirmed = payments::sandbox_pay(app.db(), &payment.id).await.unwrap();
    assert!(matches!(confirmed, Confirmed::RefundedLate { .. }));
    assert!(
        eventually(20, || async {
            count(
                &db,
                "SELECT COUNT(*) FROM refunds WHERE status = 'succeeded' AND amount_fen = 200000",
            )
            .await
                == 1
        })
        .await,
        "the late payment was refunded"
    );
    let o: Value = order(&customer, &id).await;
    assert_eq!(o["status"], "cancelled");
    assert_eq!(o["refunded_fen"], 200_000);
    assert_eq!(
        stock_of(&app, &laptop).await,
        (1, 0),
        "the unit stays sellable"
    );
}
