//! Rule tags: the three examples marketing starts with, merges, windows
//! sliding, retries, and re-evaluation as events arrive.

use crate::common::{self, error_code};
use crate::{date_from_now, days_from_now, sorted, Harness};
use cove_core::audience::domain::{emit, DomainEvent};
use cove_core::audience::tags;
use cove_core::clock::{self, DAY};
use serde_json::{json, Value};

fn viewed(user: &str, category: &str, days_ago: i64, n: usize) -> Value {
    json!({"type": "track", "userId": user, "event": "Product Viewed",
           "properties": {"category": category, "sku": format!("sku-{n}")},
           "timestamp": days_from_now(-days_ago), "messageId": format!("{user}-{category}-{days_ago}-{n}")})
}

fn gaming_rule() -> Value {
    json!({"match": "all", "conditions": [{
        "type": "event", "events": ["Product Viewed"],
        "filters": [{"property": "category", "op": "=", "value": "gaming_laptop"}],
        "count": {"op": ">=", "value": 3}, "within_days": 30
    }]})
}

#[tokio::test]
async fn viewed_gaming_laptops_three_times_in_thirty_days() {
    let h = Harness::start().await;
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(viewed("ada", "gaming_laptop", 2 + n as i64, n));
    }
    for n in 0..2 {
        events.push(viewed("bo", "gaming_laptop", 1, n));
        events.push(viewed("bo", "office_laptop", 1, n + 10));
        events.push(viewed("bo", "office_laptop", 1, n + 20));
    }
    for n in 0..3 {
        events.push(viewed("cy", "gaming_laptop", 40, n));
    }
    h.batch(events).await;
    h.tag(json!({"key": "gaming_laptop_fan", "name": "Gaming laptop fan", "kind": "rule", "rule": gaming_rule()}))
        .await;
    let tag = h.computed("gaming_laptop_fan", 1).await;
    let ada = h.profile("user_id:ada").await;
    assert_eq!(h.members("gaming_laptop_fan").await, vec![ada.clone()]);
    assert_eq!(tag["member_count"], 1);
    assert!(tag["last_computed_at"].as_i64().is_some());
    assert_eq!(
        h.tag_events("gaming_laptop_fan").await,
        vec![("tag.added".to_owned(), ada.clone())]
    );

    // A third gaming view brings Bo in as it arrives, without a recompute.
    h.batch(vec![viewed("bo", "gaming_laptop", 0, 99)]).await;
    let bo = h.profile("user_id:bo").await;
    let joined = common::eventually(20, || async {
        h.members("gaming_laptop_fan").await.contains(&bo)
    })
    .await;
    assert!(joined, "Bo was not tagged as his third view arrived");
    assert_eq!(h.get_tag("gaming_laptop_fan").await["member_count"], 2);
    assert_eq!(
        h.tag_events("gaming_laptop_fan").await,
        sorted_pairs(vec![("tag.added", &ada), ("tag.added", &bo)])
    );

    // Thirty-one days on, Ada's views fall out of the window: she loses the tag.
    let tag_id = tag["id"].as_str().unwrap().to_owned();
    let db = h.app.db();
    let mut tx = db.begin().await.unwrap();
    let later = clock::now() + 31 * DAY;
    let out = tags::recompute(&mut tx, db.backend(), &tag_id, later)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((out.added, out.removed, out.members), (0, 2, 0));
    assert!(h.members("gaming_laptop_fan").await.is_empty());
    assert_eq!(
        h.tag_events("gaming_laptop_fan").await,
        sorted_pairs(vec![
            ("tag.added", &ada),
            ("tag.added", &bo),
            ("tag.removed", &ada),
            ("tag.removed", &bo)
        ])
    );
}

fn sorted_pairs(v: Vec<(&str, &String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.clone()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn bought_within_three_years_counts_domain_and_client_orders() {
    let h = Harness::start().await;
    h.batch(vec![
        json!({"type": "track", "userId": "old", "event": "Order Completed", "timestamp": days_from_now(-4 * 365), "messageId": "o1"}),
        json!({"type": "track", "userId": "recent", "event": "Order Completed", "timestamp": days_from_now(-400), "messageId": "o2"}),
        json!({"type": "identify", "userId": "paid", "traits": {"name": "Pay"}, "messageId": "o3"}),
        json!({"type": "track", "userId": "browser", "event": "Product Viewed", "messageId": "o4"}),
    ])
    .await;
    // Cove's own order event, as commerce emits it.
    let paid = h.profile("user_id:paid").await;
    let db = h.app.db();
    let mut tx = db.begin().await.unwrap();
    emit(
        &mut tx,
        &DomainEvent::new(
            "order.paid",
            &paid,
            "order.paid:o-1",
            json!({"total_fen": 699900}),
            clock::now() - 2 * 365 * DAY,
        ),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    h.tag(json!({"key": "bought_3y", "name": "Bought within 3 years", "kind": "rule", "rule": {
        "conditions": [{"type": "event", "events": ["order.paid", "Order Completed"], "within_days": 1095}]
    }}))
    .await;
    h.computed("bought_3y", 1).await;
    let recent = h.profile("user_id:recent").await;
    assert_eq!(h.members("bought_3y").await, sorted(vec![paid, recent]));
}

#[tokio::test]
async fn warranty_ends_within_sixty_days_reads_a_date_trait() {
    let h = Harness::start().await;
    h.batch(vec![
        json!({"type": "identify", "userId": "soon", "traits": {"warranty_ends_at": date_from_now(30)}, "messageId": "w1"}),
        json!({"type": "identify", "userId": "later", "traits": {"warranty_ends_at": date_from_now(90)}, "messageId": "w2"}),
        json!({"type": "identify", "userId": "over", "traits": {"warranty_ends_at": date_from_now(-5)}, "messageId": "w3"}),
        json!({"type": "identify", "userId": "stamp", "traits": {"warranty_ends_at": format!("{}T10:00:00Z", date_from_now(59))}, "messageId": "w4"}),
        json!({"type": "identify", "userId": "nodevice", "traits": {"name": "No device"}, "messageId": "w5"}),
    ])
    .await;
    h.tag(json!({"key": "warranty_ending", "name": "Warranty ends within 60 days", "kind": "rule", "rule": {
        "conditions": [{"type": "trait", "trait": "warranty_ends_at", "op": "within_next_days", "value": 60}]
    }}))
    .await;
    h.computed("warranty_ending", 1).await;
    let soon = h.profile("user_id:soon").await;
    let stamp = h.profile("user_id:stamp").await;
    assert_eq!(
        h.members("warranty_ending").await,
        sorted(vec![soon, stamp])
    );

    // An identify that moves the date in range re-evaluates that person.
    h.batch(vec![json!({"type": "identify", "userId": "later", "traits": {"warranty_ends_at": date_from_now(10)}, "messageId": "w6"})])
        .await;
    let later = h.profile("user_id:later").await;
    let joined = common::eventually(20, || async {
        h.members("warranty_ending").await.contains(&later)
    })
    .await;
    assert!(joined, "the new warranty date was not picked up");
}

#[tokio::test]
async fn events_of_merged_profiles_count_for_the_survivor() {
    let h = Harness::start().await;
    h.batch(vec![
        viewed_anon("anon-7", 0),
        viewed_anon("anon-7", 1),
        json!({"type": "identify", "userId": "dee", "anonymousId": "anon-7", "traits": {"name": "Dee"}, "messageId": "m-id"}),
        viewed("dee", "gaming_laptop", 0, 5),
    ])
    .await;
    h.tag(
        json!({"key": "gaming_laptop_fan", "name": "Fan", "kind": "rule", "rule": gaming_rule()}),
    )
    .await;
    h.computed("gaming_laptop_fan", 1).await;
    let dee = h.profile("user_id:dee").await;
    assert_eq!(h.members("gaming_laptop_fan").await, vec![dee.clone()]);
    // The profile page shows it.
    let r = h.admin.get(&format!("/api/v1/profiles/{dee}/tags")).await;
    let tags: Value = r.json().await.unwrap();
    assert_eq!(tags[0]["key"], "gaming_laptop_fan");
    assert_eq!(tags[0]["origin"], "rule");
}

fn viewed_anon(anon: &str, n: usize) -> Value {
    json!({"type": "track", "anonymousId": anon, "event": "Product Viewed",
           "properties": {"category": "gaming_laptop"}, "messageId": format!("{anon}-{n}")})
}

#[tokio::test]
async fn a_recompute_cut_short_and_run_again_emits_each_change_once() {
    let h = Harness::start().await;
    let mut events = Vec::new();
    for user in ["u1", "u2", "u3"] {
        for n in 0..3 {
            events.push(viewed(user, "gaming_laptop", 1, n));
        }
    }
    h.batch(events).await;
    let created = h
        .tag(json!({"key": "fan", "name": "Fan", "kind": "rule", "rule": gaming_rule()}))
        .await;
    h.computed("fan", 1).await;
    let tag_id = created["id"].as_str().unwrap().to_owned();
    // Take everyone out (by hand), then recompute: it adds three back.
    for m in h.members("fan").await {
        let r = h
            .admin
            .client
            .delete(h.app.url(&format!("/api/v1/tags/fan/members/{m}")))
            .header("x-csrf-token", &h.admin.csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let db = h.app.db();
    // The first run dies before its commit (the node crashed): nothing stays.
    let mut tx = db.begin().await.unwrap();
    let out = tags::recompute(&mut tx, db.backend(), &tag_id, clock::now())
        .await
        .unwrap();
    assert_eq!(out.added, 3);
    tx.rollback().await.unwrap();
    // The retry applies it; a further run finds nothing to do.
    for expected in [3, 0] {
        let mut tx = db.begin().await.unwrap();
        let out = tags::recompute(&mut tx, db.backend(), &tag_id, clock::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(out.added, expected);
    }
    let added = h
        .tag_events("fan")
        .await
        .into_iter()
        .filter(|(e, _)| e == "tag.added")
        .count();
    // Three from the first job, three from the retried recompute.
    assert_eq!(added, 6);
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT message_id FROM raw_events WHERE event = 'tag.added' ORDER BY message_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(keys, unique);
    assert_eq!(h.get_tag("fan").await["member_count"], 3);
}

#[tokio::test]
async fn the_recompute_button_runs_a_job_and_retries_do_not_pile_up() {
    let h = Harness::start().await;
    h.tag(json!({"key": "fan", "name": "Fan", "kind": "rule", "rule": gaming_rule()}))
        .await;
    h.computed("fan", 1).await;
    let r = h.admin.post("/api/v1/tags/fan/recompute", json!({})).await;
    assert_eq!(r.status(), 202);
    h.computed("fan", 2).await;
    let audited = common::count(
        h.app.db(),
        "SELECT COUNT(*) FROM audit_log WHERE action = 'tag.recompute'",
    )
    .await;
    assert_eq!(audited, 1);
    let missing = h.admin.post("/api/v1/tags/nope/recompute", json!({})).await;
    assert_eq!(error_code(missing, 404).await, "tag_not_found");
}

#[tokio::test]
async fn rules_are_checked_before_anything_is_saved() {
    let h = Harness::start().await;
    let bad = h
        .admin
        .post(
            "/api/v1/tags",
            json!({"key": "x", "name": "X", "kind": "rule", "rule": {"conditions": [
                {"type": "event", "events": ["A"], "within_days": 99999}
            ]}}),
        )
        .await;
    assert_eq!(error_code(bad, 400).await, "invalid_rule");
    let no_rule = h
        .admin
        .post(
            "/api/v1/tags",
            json!({"key": "x", "name": "X", "kind": "rule"}),
        )
        .await;
    assert_eq!(error_code(no_rule, 400).await, "rule_required");
    let bad_key = h
        .admin
        .post(
            "/api/v1/tags",
            json!({"key": "Bad Key", "name": "X", "kind": "manual"}),
        )
        .await;
    assert_eq!(error_code(bad_key, 400).await, "invalid_tag_key");
    assert_eq!(
        common::count(h.app.db(), "SELECT COUNT(*) FROM tags").await,
        0
    );
    h.tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let dup = h
        .admin
        .post(
            "/api/v1/tags",
            json!({"key": "vip", "name": "VIP", "kind": "manual"}),
        )
        .await;
    assert_eq!(error_code(dup, 409).await, "tag_exists");
}

#[tokio::test]
async fn the_preview_counts_without_saving() {
    let h = Harness::start().await;
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(viewed("p1", "gaming_laptop", 1, n));
    }
    events.push(viewed("p2", "gaming_laptop", 1, 0));
    h.batch(events).await;
    let r = h
        .admin
        .post("/api/v1/tags/preview", json!({"rule": gaming_rule()}))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["count"], 1);
    assert_eq!(body["sample"][0], h.profile("user_id:p1").await.as_str());
    // "Fewer than 3 views" includes people who never viewed one.
    let r = h
        .admin
        .post(
            "/api/v1/tags/preview",
            json!({"rule": {"conditions": [{"type": "event", "events": ["Product Viewed"],
                "count": {"op": "<", "value": 3}}]}}),
        )
        .await;
    let body: Value = r.json().await.unwrap();
    let profiles = common::count(
        h.app.db(),
        "SELECT COUNT(*) FROM profiles WHERE merged_into IS NULL",
    )
    .await;
    assert_eq!(body["count"].as_i64().unwrap(), profiles - 1);
}

#[tokio::test]
async fn a_tag_on_a_profile_merged_away_moves_to_the_survivor_without_events() {
    let h = Harness::start().await;
    h.batch(vec![viewed_anon("anon-9", 0)]).await;
    let anon = h.profile("anonymous_id:anon-9").await;
    let created = h
        .tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let r = h
        .admin
        .post("/api/v1/tags/vip/members", json!({"profile_id": anon}))
        .await;
    assert_eq!(r.status(), 200);
    // The visitor signs in: the anonymous profile merges into the user's.
    h.batch(vec![
        json!({"type": "identify", "userId": "fay", "traits": {}, "messageId": "f0"}),
        json!({"type": "identify", "userId": "fay", "anonymousId": "anon-9", "traits": {}, "messageId": "f1"}),
    ])
    .await;
    let fay = h.profile("user_id:fay").await;
    assert_ne!(fay, anon, "the registered profile survives");
    let db = h.app.db();
    let mut tx = db.begin().await.unwrap();
    let out = tags::recompute(
        &mut tx,
        db.backend(),
        created["id"].as_str().unwrap(),
        clock::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((out.added, out.removed, out.members), (0, 0, 1));
    assert_eq!(h.members("vip").await, vec![fay.clone()]);
    assert_eq!(
        h.tag_events("vip").await,
        vec![("tag.added".to_owned(), anon)]
    );
}
