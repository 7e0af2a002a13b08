//! No oversell: many concurrent buyers of few units.

use super::fixtures::*;
use crate::common::{count, TestApp};
use serde_json::json;

#[tokio::test]
async fn a_thousand_buyers_for_fifty_units_get_exactly_fifty_orders() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "HOT", 100_000, 30).await;
    set_stock(&app, &laptop, "wh-2", 20).await;
    let mut customers = Vec::new();
    for _ in 0..1000 {
        customers.push(app.customer(&app.new_profile().await).await);
    }
    let tasks: Vec<_> = customers
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let sku = laptop.clone();
            tokio::spawn(async move {
                let r = checkout(
                    &c,
                    &format!("hot-buyer-{i:04}"),
                    json!([{ "sku_id": sku, "quantity": 1 }]),
                    json!({}),
                )
                .await;
                r.status().as_u16()
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&200), Some(&50), "{statuses:?}");
    assert_eq!(statuses.get(&409), Some(&950), "{statuses:?}");
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM orders WHERE status = 'pending_payment'"
        )
        .await,
        50
    );
    assert_eq!(stock_of(&app, &laptop).await, (50, 50));
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM stock_levels WHERE reserved > on_hand OR reserved < 0"
        )
        .await,
        0
    );
    assert_eq!(
        count(app.db(), "SELECT CAST(SUM(quantity) AS BIGINT) FROM stock_reservations WHERE status = 'reserved'").await,
        50
    );
}

#[tokio::test]
async fn a_flash_sale_pool_of_fifty_sells_fifty_to_a_thousand_concurrent_buyers_one_each() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let laptop = sku(&app, "FLASH", 500_000, 200).await;
    let manager = app.user("store_manager", None).await;
    let now = cove_core::clock::now();
    let r = manager
        .post(
            "/api/v1/promotions/flash-sales",
            json!({ "name": "Midnight sale", "starts_at": now, "ends_at": now + 3_600_000_000i64,
                    "items": [{ "sku_id": laptop, "price_fen": 299_900, "pool": 50, "per_person_limit": 1 }] }),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // 500 people, each trying twice at once: 1,000 concurrent checkouts.
    let mut customers = Vec::new();
    for _ in 0..500 {
        customers.push(std::sync::Arc::new(
            app.customer(&app.new_profile().await).await,
        ));
    }
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let c = customers[i % 500].clone();
            let sku = laptop.clone();
            tokio::spawn(async move {
                let r = checkout(
                    &c,
                    &format!("flash-buyer-{i:04}"),
                    json!([{ "sku_id": sku, "quantity": 1 }]),
                    json!({}),
                )
                .await;
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut placed = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => {
                placed += 1;
                assert_eq!(body["payable_fen"], 299_900, "the flash price");
            }
            // Sold out or over the limit: 409 when the race is lost at the
            // claim, 400 when an earlier order already used the limit.
            400 | 409 => assert!(
                ["flash_sale_sold_out", "flash_sale_limit_reached"]
                    .contains(&body["code"].as_str().unwrap()),
                "{body}"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(placed, 50);
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM orders WHERE status = 'pending_payment'"
        )
        .await,
        50
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM (SELECT profile_id FROM orders GROUP BY profile_id HAVING COUNT(*) > 1) twice").await,
        0,
        "nobody got two"
    );
    assert_eq!(stock_of(&app, &laptop).await, (200, 50));
}
