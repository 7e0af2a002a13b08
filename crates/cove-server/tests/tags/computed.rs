//! Computed traits: derived per person from events (merged profiles
//! included), written next to the traits, and usable in tag rules and
//! audience expressions.

use crate::common;
use crate::{date_from_now, days_from_now, Harness};
use serde_json::{json, Value};

async fn define(h: &Harness, key: &str, definition: Value) {
    let r = h
        .admin
        .post(
            "/api/v1/computed-traits",
            json!({"key": key, "name": key, "definition": definition}),
        )
        .await;
    let status = r.status();
    assert_eq!(status, 201, "{}", r.text().await.unwrap());
}

async fn computed_of(h: &Harness, identity: &str) -> Value {
    let id = h.profile(identity).await;
    let p: Value = h
        .admin
        .get(&format!("/api/v1/profiles/{id}"))
        .await
        .json()
        .await
        .unwrap();
    p["computed_traits"].clone()
}

#[tokio::test]
async fn spend_favourite_category_recency_and_warranty_are_computed() {
    let h = Harness::start().await;
    h.batch(vec![
        json!({"type": "track", "anonymousId": "a-1", "event": "Product Viewed", "properties": {"category": "gaming_laptop"}, "messageId": "v1"}),
        json!({"type": "track", "anonymousId": "a-1", "event": "Product Viewed", "properties": {"category": "gaming_laptop"}, "messageId": "v2"}),
        json!({"type": "identify", "userId": "eve", "anonymousId": "a-1", "traits": {}, "messageId": "i1"}),
        json!({"type": "track", "userId": "eve", "event": "Product Viewed", "properties": {"category": "monitor"}, "messageId": "v3"}),
        json!({"type": "track", "userId": "eve", "event": "Order Completed", "properties": {"total_fen": 699900}, "timestamp": days_from_now(-10), "messageId": "o1"}),
        json!({"type": "track", "userId": "eve", "event": "Order Completed", "properties": {"total_fen": 19900.4}, "timestamp": days_from_now(-3), "messageId": "o2"}),
        json!({"type": "track", "userId": "eve", "event": "Warranty Activated", "properties": {"ends_at": date_from_now(20)}, "timestamp": days_from_now(-2), "messageId": "w1"}),
        json!({"type": "track", "userId": "eve", "event": "Warranty Activated", "properties": {"ends_at": date_from_now(400)}, "timestamp": days_from_now(-300), "messageId": "w0"}),
        json!({"type": "track", "userId": "max", "event": "Product Viewed", "properties": {"category": "monitor"}, "messageId": "v9"}),
    ])
    .await;
    let orders = json!(["Order Completed", "order.paid"]);
    define(
        &h,
        "total_spend_fen",
        json!({"kind": "event_sum", "events": orders, "property": "total_fen"}),
    )
    .await;
    define(&h, "favourite_category", json!({"kind": "most_frequent", "events": ["Product Viewed"], "property": "category", "within_days": 90})).await;
    define(
        &h,
        "days_since_last_purchase",
        json!({"kind": "days_since_last", "events": orders}),
    )
    .await;
    define(
        &h,
        "views_30d",
        json!({"kind": "event_count", "events": ["Product Viewed"], "within_days": 30}),
    )
    .await;
    define(
        &h,
        "warranty_end",
        json!({"kind": "latest_value", "events": ["Warranty Activated"], "property": "ends_at"}),
    )
    .await;
    define(&h, "first_seen", json!({"kind": "first_seen"})).await;
    let done = common::eventually(20, || async {
        computed_of(&h, "user_id:eve")
            .await
            .as_object()
            .is_some_and(|o| o.len() == 6)
    })
    .await;
    assert!(done, "{}", computed_of(&h, "user_id:eve").await);
    let eve = computed_of(&h, "user_id:eve").await;
    assert_eq!(eve["total_spend_fen"], 719800);
    assert_eq!(eve["favourite_category"], "gaming_laptop");
    assert_eq!(eve["days_since_last_purchase"], 3);
    assert_eq!(eve["views_30d"], 3);
    assert_eq!(eve["warranty_end"], date_from_now(20).as_str());
    assert_eq!(eve["first_seen"], date_from_now(-300).as_str());
    let max = computed_of(&h, "user_id:max").await;
    assert_eq!(max["favourite_category"], "monitor");
    assert!(max.get("total_spend_fen").is_none());

    // Usable in a tag rule and in an audience expression.
    h.tag(json!({"key": "warranty_ending", "name": "Warranty ending", "kind": "rule", "rule": {
        "conditions": [{"type": "trait", "trait": "warranty_end", "op": "within_next_days", "value": 60}]}}))
        .await;
    h.computed("warranty_ending", 1).await;
    assert_eq!(
        h.members("warranty_ending").await,
        vec![h.profile("user_id:eve").await]
    );
    let r = h
        .admin
        .post(
            "/api/v1/audiences/preview",
            json!({"expression": "trait:total_spend_fen >= 500000 AND trait:favourite_category = \"gaming_laptop\""}),
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["count"], 1, "{body}");

    let bad = h
        .admin
        .post(
            "/api/v1/computed-traits",
            json!({"key": "x", "name": "x", "definition": {"kind": "event_sum", "events": [], "property": "total_fen"}}),
        )
        .await;
    assert_eq!(common::error_code(bad, 400).await, "invalid_definition");
}
