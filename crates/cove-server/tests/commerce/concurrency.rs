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
