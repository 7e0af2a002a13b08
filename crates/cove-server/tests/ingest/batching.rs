//! A batch is resolved in memory and written with a few multi-row
//! statements; what it stores must be exactly what the same events store
//! when each is sent in a request of its own.

use crate::Ingest;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::BTreeMap;

/// Events in arrival order: new anonymous visitors, identifies linking them
/// to users (a merge), an alias, a shared device, two registered people
/// claiming one phone (a conflict, twice), and retried messageIds.
fn events() -> Vec<Value> {
    let at = |minute: u32| format!("2024-05-01T10:{minute:02}:00Z");
    vec![
        json!({"type": "track", "anonymousId": "anon-1", "event": "Product Viewed", "messageId": "m1", "timestamp": at(1)}),
        json!({"type": "page", "anonymousId": "anon-2", "name": "Home", "messageId": "m2", "timestamp": at(2)}),
        json!({"type": "track", "anonymousId": "anon-1", "event": "Product Viewed", "messageId": "m1", "timestamp": at(3)}),
        json!({"type": "identify", "userId": "u-1", "anonymousId": "anon-1", "messageId": "m3", "timestamp": at(4),
               "traits": {"name": "Ada", "tier": "silver", "phone": "139 1234 0001"}}),
        json!({"type": "track", "anonymousId": "anon-3", "event": "Cart Viewed", "messageId": "m4", "timestamp": at(0),
               "context": {"device": {"id": "dev-9"}}}),
        json!({"type": "identify", "userId": "u-1", "anonymousId": "anon-2", "messageId": "m5", "timestamp": at(5),
               "traits": {"tier": "gold", "city": null}}),
        json!({"type": "alias", "previousId": "anon-3", "userId": "u-1", "messageId": "m6", "timestamp": at(6)}),
        json!({"type": "identify", "userId": "u-2", "anonymousId": "anon-1", "messageId": "m7", "timestamp": at(7),
               "traits": {"name": "Bo"}}),
        json!({"type": "identify", "userId": "u-2", "messageId": "m8", "timestamp": at(8),
               "traits": {"phone": "139 1234 0001"}}),
        json!({"type": "track", "userId": "u-2", "event": "Order Completed", "messageId": "m9", "timestamp": at(9),
               "context": {"traits": {"phone": "139 1234 0001"}}}),
        json!({"type": "identify", "userId": "u-1", "anonymousId": "anon-2", "messageId": "m5", "timestamp": at(10)}),
        json!({"type": "track", "anonymousId": "anon-4", "event": "Product Viewed", "messageId": "m10", "timestamp": at(11)}),
        json!({"type": "group", "anonymousId": "anon-4", "groupId": "g-1", "messageId": "m11", "timestamp": at(12)}),
        json!({"type": "identify", "userId": "u-3", "anonymousId": "anon-4", "messageId": "m12", "timestamp": at(13),
               "traits": {"email": "c@example.cn"}}),
        json!({"type": "track", "anonymousId": "anon-2", "event": "Product Viewed", "messageId": "m2", "timestamp": at(14)}),
    ]
}

/// Everything the graph and the event log hold, with database ids replaced
/// by the identities of the profile they name.
async fn stored(t: &Ingest) -> Value {
    let db = t.app.db().pool();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let rows = sqlx::query("SELECT profile_id, type, value FROM identities ORDER BY type, value")
        .fetch_all(db)
        .await
        .unwrap();
    for r in rows {
        let (p, ty, v): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let name = names.entry(p).or_default();
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(&format!("{ty}:{v}"));
    }
    let profiles = sqlx::query(
        "SELECT id, merged_into, traits, first_seen_at, last_seen_at FROM profiles ORDER BY ordinal",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let survivor_name = |id: &str| names.get(id).cloned().unwrap_or_else(|| "(none)".into());
    let mut name_of: BTreeMap<String, String> = BTreeMap::new();
    let mut profile_rows = Vec::new();
    for (ordinal, r) in profiles.iter().enumerate() {
        let (id, merged, traits, first, last): (String, Option<String>, String, i64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let name = match &merged {
            Some(s) => format!("#{ordinal} merged into {}", survivor_name(s)),
            None => survivor_name(&id),
        };
        name_of.insert(id, name.clone());
        profile_rows.push(json!([
            name,
            serde_json::from_str::<Value>(&traits).unwrap(),
            first,
            last
        ]));
    }
    let events = sqlx::query(
        "SELECT message_id, type, event, profile_id, occurred_at FROM raw_events ORDER BY message_id",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let (m, ty, e, p, at): (String, String, Option<String>, String, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        json!([m, ty, e, name_of[&p], at])
    })
    .collect::<Vec<_>>();
    let conflicts = sqlx::query(
        "SELECT profile_id, other_profile_id, identity_type, identity_value, message_id, occurrences \
         FROM identity_conflicts ORDER BY identity_type, identity_value",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let (p, o, ty, v, m, n): (String, String, String, String, String, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        json!([name_of[&p], name_of[&o], ty, v, m, n])
    })
    .collect::<Vec<_>>();
    let merges = sqlx::query(
        "SELECT survivor_id, merged_id, message_id FROM profile_merges ORDER BY message_id",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let (s, m, msg): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        json!([name_of[&s], name_of[&m], msg])
    })
    .collect::<Vec<_>>();
    json!({"profiles": profile_rows, "events": events, "conflicts": conflicts, "merges": merges})
}

#[tokio::test]
async fn batches_store_exactly_what_one_request_per_event_stores() {
    let events = events();
    let one_by_one = Ingest::start().await;
    for e in &events {
        one_by_one.ok("batch", json!({ "batch": [e] })).await;
    }
    let batched = Ingest::start().await;
    let (first, second) = events.split_at(9);
    batched.ok("batch", json!({ "batch": first })).await;
    batched.ok("batch", json!({ "batch": second })).await;
    // A retried request changes nothing.
    batched.ok("batch", json!({ "batch": second })).await;

    let expected = stored(&one_by_one).await;
    assert_eq!(stored(&batched).await, expected);
    // The scenario did what it is meant to exercise.
    assert_eq!(expected["events"].as_array().unwrap().len(), 12);
    assert!(
        !expected["merges"].as_array().unwrap().is_empty(),
        "{expected:#}"
    );
    assert!(
        !expected["conflicts"].as_array().unwrap().is_empty(),
        "{expected:#}"
    );
    let profiles = expected["profiles"].as_array().unwrap();
    assert!(profiles
        .iter()
        .any(|p| p[0].as_str().unwrap().contains("user_id:u-3")));
}
