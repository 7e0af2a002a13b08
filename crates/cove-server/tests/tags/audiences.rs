//! Audiences on the bitmap engine: live counts with precise parse errors,
//! saved audiences with entered/exited events exactly once, samples,
//! export and personas.

use crate::common::{self, error_code};
use crate::Harness;
use cove_core::audience::audiences;
use cove_core::clock;
use serde_json::{json, Value};

/// Five customers with spend and city traits; three of them VIP.
async fn customers(h: &Harness) -> Vec<String> {
    let mut events = Vec::new();
    for (i, (spend, city)) in [
        (900_000, "Shanghai"),
        (10_000, "Shanghai"),
        (600_000, "Wuhan"),
        (0, "Beijing"),
        (700_000, "Shanghai"),
    ]
    .into_iter()
    .enumerate()
    {
        events.push(json!({"type": "identify", "userId": format!("c{i}"),
            "traits": {"total_spend_fen": spend, "city": city}, "messageId": format!("c{i}")}));
    }
    h.batch(events).await;
    h.tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(h.profile(&format!("user_id:c{i}")).await);
    }
    for i in [0, 1, 4] {
        let r = h
            .admin
            .post("/api/v1/tags/vip/members", json!({"profile_id": ids[i]}))
            .await;
        assert_eq!(r.status(), 200);
    }
    ids
}

async fn audience_events(h: &Harness) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT event, profile_id FROM raw_events WHERE event IN ('audience.entered', 'audience.exited')",
    )
    .fetch_all(h.app.db().pool())
    .await
    .unwrap();
    rows.sort();
    rows
}

#[tokio::test]
async fn the_live_count_follows_the_expression_and_names_parse_errors() {
    let h = Harness::start().await;
    customers(&h).await;
    let count = |expression: Value| {
        let h = &h;
        async move {
            let r = h
                .admin
                .post(
                    "/api/v1/audiences/preview",
                    json!({"expression": expression}),
                )
                .await;
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let body = count(json!("tag:vip AND trait:total_spend_fen >= 500000")).await;
    assert_eq!(body["count"], 2);
    assert_eq!(body["total"], 5);
    let body = count(json!(
        "(tag:vip OR trait:city = \"Wuhan\") AND NOT trait:city = \"Shanghai\""
    ))
    .await;
    assert_eq!(body["count"], 1);
    let tree = json!({"and": [{"tag": "vip"}, {"not": {"cmp": {"trait": "city", "op": "=", "value": "Shanghai"}}}]});
    assert_eq!(count(tree).await["count"], 0);
    let warned = count(json!("tag:vip OR trait:age > 30")).await;
    assert_eq!(warned["issues"][0]["kind"], "unknown_trait");

    let bad = h
        .admin
        .post(
            "/api/v1/audiences/preview",
            json!({"expression": "tag:vip AND (trait:city = "}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["code"], "invalid_expression");
    assert!(
        body["message"].as_str().unwrap().contains("column"),
        "{body}"
    );
    let unknown = h
        .admin
        .post(
            "/api/v1/audiences",
            json!({"name": "Ghosts", "expression": "tag:ghost"}),
        )
        .await;
    assert_eq!(error_code(unknown, 400).await, "unknown_tag");
    assert_eq!(
        common::count(h.app.db(), "SELECT COUNT(*) FROM audiences").await,
        0
    );
}

#[tokio::test]
async fn membership_changes_emit_entered_and_exited_once() {
    let h = Harness::start().await;
    let ids = customers(&h).await;
    let r = h
        .admin
        .post(
            "/api/v1/audiences",
            json!({"name": "Big spending VIPs", "expression": "tag:vip AND trait:total_spend_fen >= 500000", "persona": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let audience: Value = r.json().await.unwrap();
    let id = audience["id"].as_str().unwrap().to_owned();
    let computed = |n: i64| {
        let h = &h;
        let id = id.clone();
        async move {
            common::eventually(20, || async {
                let a: Value = h
                    .admin
                    .get(&format!("/api/v1/audiences/{id}"))
                    .await
                    .json()
                    .await
                    .unwrap();
                a["computation"].as_i64().unwrap() >= n
            })
            .await
        }
    };
    assert!(computed(1).await);
    let mut entered = vec![
        ("audience.entered".to_owned(), ids[0].clone()),
        ("audience.entered".to_owned(), ids[4].clone()),
    ];
    entered.sort();
    assert_eq!(audience_events(&h).await, entered);

    // c4 loses VIP: the next recompute lets them exit, once.
    let r = h
        .admin
        .client
        .delete(h.app.url(&format!("/api/v1/tags/vip/members/{}", ids[4])))
        .header("x-csrf-token", &h.admin.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let db = h.app.db();
    // A run that dies before its commit leaves nothing; the retry emits once.
    let engine = audiences::Cache::default().fresh(db).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let out = audiences::recompute(&mut tx, &engine, &id, clock::now())
        .await
        .unwrap();
    assert_eq!((out.entered, out.exited), (0, 1));
    tx.rollback().await.unwrap();
    let r = h
        .admin
        .post(&format!("/api/v1/audiences/{id}/recompute"), json!({}))
        .await;
    assert_eq!(r.status(), 202);
    assert!(computed(2).await);
    let engine = audiences::Cache::default().fresh(db).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let again = audiences::recompute(&mut tx, &engine, &id, clock::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((again.entered, again.exited, again.members), (0, 0, 1));
    let mut expected = entered.clone();
    expected.push(("audience.exited".to_owned(), ids[4].clone()));
    expected.sort();
    assert_eq!(audience_events(&h).await, expected);
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT profile_id FROM audience_members WHERE audience_id = $1")
            .bind(&id)
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(stored, vec![ids[0].clone()]);

    // Sample, export and persona read the same membership.
    let sample: Vec<String> = h
        .admin
        .get(&format!("/api/v1/audiences/{id}/sample?n=5"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sample, vec![ids[0].clone()]);
    let export = h.admin.get(&format!("/api/v1/audiences/{id}/export")).await;
    assert_eq!(export.status(), 200);
    assert!(export.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = export.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with(&format!("{},c0,", ids[0])), "{text}");
    let persona: Value = h
        .admin
        .get(&format!("/api/v1/audiences/{id}/persona"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(persona["size"], 1);
    let subjects: Vec<&str> = persona["distinctions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["subject"].as_str().unwrap())
        .collect();
    assert!(subjects.contains(&"vip"), "{persona}");
    assert!(subjects.contains(&"city = Shanghai"), "{persona}");
}

#[tokio::test]
async fn audiences_are_read_by_analysts_and_changed_by_marketing_only() {
    let h = Harness::start().await;
    customers(&h).await;
    let analyst = h.app.user("data_analyst", None).await;
    let r = analyst
        .post(
            "/api/v1/audiences/preview",
            json!({"expression": "tag:vip"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let denied = analyst
        .post(
            "/api/v1/audiences",
            json!({"name": "X", "expression": "tag:vip"}),
        )
        .await;
    assert_eq!(error_code(denied, 403).await, "forbidden");
    let staff = h.app.user("store_staff", Some("store-1")).await;
    assert_eq!(staff.get("/api/v1/audiences").await.status(), 403);
}
