//! A small catalog and signed-in customers for the commerce tests.

use crate::common::{count, eventually, CustomerClient, TestApp};
use cove_core::clock;
use serde_json::{json, Value};

/// A category `laptop`, a warehouse, and SKUs made by [`sku`].
pub async fn catalog(app: &TestApp) {
    let pool = app.db().pool();
    for sql in [
        "INSERT INTO categories (id, code, name_zh, name_en, position) VALUES ('cat-l', 'laptop', '笔记本', 'Laptops', 1) ON CONFLICT DO NOTHING",
        "INSERT INTO categories (id, code, name_zh, name_en, position) VALUES ('cat-s', 'service', '服务', 'Services', 2) ON CONFLICT DO NOTHING",
        "INSERT INTO stock_locations (id, code, name, kind, ships_online, priority, created_at) VALUES ('wh-1', 'WH-1', 'Main warehouse', 'warehouse', 1, 0, 0) ON CONFLICT DO NOTHING",
        "INSERT INTO stock_locations (id, code, name, kind, ships_online, priority, created_at) VALUES ('wh-2', 'WH-2', 'Second warehouse', 'warehouse', 1, 1, 0) ON CONFLICT DO NOTHING",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
}

/// A product with one SKU (same code) priced `price_fen`, with `stock`
/// units in WH-1. Returns the SKU id.
pub async fn sku(app: &TestApp, code: &str, price_fen: i64, stock: i64) -> String {
    let pool = app.db().pool();
    let (pid, sid) = (format!("p-{code}"), format!("s-{code}"));
    sqlx::query(
        "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) \
         VALUES ($1, $2, 'cat-l', $3, $3, 'device', $4, 'active', 0)",
    )
    .bind(&pid)
    .bind(code)
    .bind(format!("Laptop {code}"))
    .bind(price_fen)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO skus (id, product_id, code, name_zh, name_en, price_fen, created_at, updated_at) \
         VALUES ($1, $2, $3, '', '', $4, 0, 0)",
    )
    .bind(&sid)
    .bind(&pid)
    .bind(code)
    .bind(price_fen)
    .execute(pool)
    .await
    .unwrap();
    set_stock(app, &sid, "wh-1", stock).await;
    sid
}

pub async fn set_stock(app: &TestApp, sku_id: &str, location: &str, on_hand: i64) {
    sqlx::query(
        "INSERT INTO stock_levels (sku_id, location_id, on_hand, reserved, updated_at) VALUES ($1, $2, $3, 0, 0) \
         ON CONFLICT (sku_id, location_id) DO UPDATE SET on_hand = excluded.on_hand",
    )
    .bind(sku_id)
    .bind(location)
    .bind(on_hand)
    .execute(app.db().pool())
    .await
    .unwrap();
}

/// (on_hand, reserved) of a SKU summed over locations.
pub async fn stock_of(app: &TestApp, sku_id: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(on_hand), 0) AS BIGINT), CAST(COALESCE(SUM(reserved), 0) AS BIGINT) \
         FROM stock_levels WHERE sku_id = $1",
    )
    .bind(sku_id)
    .fetch_one(app.db().pool())
    .await
    .unwrap()
}

/// A configurable laptop: base SKU plus memory options drawing on their own stock.
/// Returns (base sku, option 16 GB, option 32 GB, option RTX) ids.
pub async fn configurable(app: &TestApp) -> (String, String, String, String) {
    let base = sku(app, "CTO-15", 800_000, 10).await;
    let mem32 = sku(app, "MEM-32", 0, 2).await;
    let pool = app.db().pool();
    for sql in [
        "INSERT INTO option_groups (id, product_id, code, name_zh, name_en, required, position) VALUES ('g-mem', 'p-CTO-15', 'memory', '内存', 'Memory', 1, 1)",
        "INSERT INTO option_groups (id, product_id, code, name_zh, name_en, required, position) VALUES ('g-gpu', 'p-CTO-15', 'gpu', '显卡', 'Graphics', 0, 2)",
        "INSERT INTO product_options (id, group_id, code, name_zh, name_en, price_delta_fen, is_default, position) VALUES ('o-16', 'g-mem', '16', '16GB', '16 GB', 0, 1, 1)",
        "INSERT INTO product_options (id, group_id, code, name_zh, name_en, price_delta_fen, component_sku_id, position) VALUES ('o-32', 'g-mem', '32', '32GB', '32 GB', 100000, 's-MEM-32', 2)",
        "INSERT INTO product_options (id, group_id, code, name_zh, name_en, price_delta_fen, position) VALUES ('o-rtx', 'g-gpu', 'rtx', 'RTX', 'RTX 4070', 250000, 1)",
        "INSERT INTO option_rules (id, product_id, option_id, kind, other_option_id, message) VALUES ('r-1', 'p-CTO-15', 'o-rtx', 'requires', 'o-32', 'the RTX 4070 needs 32 GB of memory')",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    let _ = mem32;
    (base, "o-16".into(), "o-32".into(), "o-rtx".into())
}

/// A signed-in customer who joined as a member (tier regular).
pub async fn member(app: &TestApp, phone: &str) -> (CustomerClient, String) {
    let profile = app.new_profile().await;
    let customer = app.customer(&profile).await;
    let r = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "李雷", "phone": phone }),
        )
        .await;
    assert_eq!(r.status(), 200, "join");
    let body: Value = r.json().await.unwrap();
    (
        customer,
        body["member"]["id"]
            .as_str()
            .or(body["id"].as_str())
            .unwrap()
            .to_owned(),
    )
}

/// Gives a member spendable points.
pub async fn give_points(app: &TestApp, member_id: &str, amount: i64) {
    let at = clock::now();
    let mut tx = app.db().begin().await.unwrap();
    cove_core::membership::points::award(
        &mut tx,
        app.db().backend(),
        &cove_core::membership::points::Award {
            member_id,
            amount,
            source: "adjustment",
            key: &format!("test:{}", uuid::Uuid::now_v7()),
            reference: None,
            reason: Some("test"),
            unlock_at: at - 1,
            expires_at: at + 365 * clock::DAY,
            at: at - 1,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

pub fn address() -> Value {
    json!({ "name": "李雷", "phone": "13800138000", "region": "上海市 浦东新区", "line": "世纪大道 100 号" })
}

/// Checks out `items` with key `key`; returns the response body.
pub async fn checkout(
    customer: &CustomerClient,
    key: &str,
    items: Value,
    apply: Value,
) -> reqwest::Response {
    customer
        .post(
            "/api/v1/me/checkout",
            json!({ "key": key, "items": items, "apply": apply, "address": address() }),
        )
        .await
}

pub async fn place(customer: &CustomerClient, key: &str, items: Value) -> Value {
    let r = checkout(customer, key, items, json!({})).await;
    assert_eq!(r.status(), 200, "checkout: {}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// Pays an order through the sandbox; returns the confirmation.
pub async fn pay(customer: &CustomerClient, order_id: &str) -> Value {
    let r = customer
        .post(
            &format!("/api/v1/me/orders/{order_id}/pay/sandbox"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    let payment = started["payment"]["id"].as_str().unwrap();
    let r = customer
        .post(
            &format!("/api/v1/me/payments/{payment}/sandbox-confirm"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

pub async fn order(customer: &CustomerClient, order_id: &str) -> Value {
    customer
        .get(&format!("/api/v1/me/orders/{order_id}"))
        .await
        .json()
        .await
        .unwrap()
}

/// Points held by unsettled spends, from the member's card.
pub async fn held(customer: &CustomerClient) -> i64 {
    let card: Value = customer
        .get("/api/v1/me/membership")
        .await
        .json()
        .await
        .unwrap();
    card["points"]["held"].as_i64().unwrap()
}

pub async fn available(customer: &CustomerClient) -> i64 {
    let card: Value = customer
        .get("/api/v1/me/membership")
        .await
        .json()
        .await
        .unwrap();
    card["points"]["available"].as_i64().unwrap()
}

/// Waits until `n` refunds have succeeded.
pub async fn refunds_succeeded(app: &TestApp, n: i64) {
    let db = app.db().clone();
    assert!(
        eventually(20, || async {
            count(
                &db,
                "SELECT COUNT(*) FROM refunds WHERE status = 'succeeded'",
            )
            .await
                == n
        })
        .await,
        "{n} refunds never succeeded"
    );
}
