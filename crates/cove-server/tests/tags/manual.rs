//! Tags given by people: manual assignment (audited, idempotent, safe under
//! concurrency), CSV import (all or nothing, re-import harmless), and who
//! may do what.

use crate::common::{self, error_code};
use crate::Harness;
use serde_json::{json, Value};

async fn import(h: &Harness, csv: &str) -> reqwest::Response {
    h.admin
        .client
        .post(h.app.url("/api/v1/tags/import"))
        .header("x-csrf-token", &h.admin.csrf)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn manual_assignment_is_audited_and_repeats_change_nothing() {
    let h = Harness::start().await;
    h.batch(vec![
        json!({"type": "identify", "userId": "ann", "traits": {"phone": "x"}, "messageId": "a1"}),
    ])
    .await;
    h.tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let ann = h.profile("user_id:ann").await;
    for expected in [true, false] {
        let r = h
            .admin
            .post(
                "/api/v1/tags/vip/members",
                json!({"identity": "user_id:ann"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["changed"], expected);
        assert_eq!(body["profile_id"], ann.as_str());
    }
    assert_eq!(h.members("vip").await, vec![ann.clone()]);
    assert_eq!(h.get_tag("vip").await["member_count"], 1);
    let delete = || async {
        h.admin
            .client
            .delete(h.app.url(&format!("/api/v1/tags/vip/members/{ann}")))
            .header("x-csrf-token", &h.admin.csrf)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(delete().await["changed"], true);
    assert_eq!(delete().await["changed"], false);
    assert_eq!(h.get_tag("vip").await["member_count"], 0);
    assert_eq!(
        h.tag_events("vip").await,
        vec![
            ("tag.added".to_owned(), ann.clone()),
            ("tag.removed".to_owned(), ann.clone())
        ]
    );
    let audited = common::count(
        h.app.db(),
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('tag.assign', 'tag.unassign')",
    )
    .await;
    assert_eq!(audited, 2);
    let nobody = h
        .admin
        .post(
            "/api/v1/tags/vip/members",
            json!({"identity": "user_id:ghost"}),
        )
        .await;
    assert_eq!(error_code(nobody, 404).await, "profile_not_found");
}

#[tokio::test]
async fn twenty_concurrent_assignments_tag_once() {
    let h = Harness::start().await;
    h.batch(vec![
        json!({"type": "identify", "userId": "cat", "traits": {}, "messageId": "c1"}),
    ])
    .await;
    h.tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let cat = h.profile("user_id:cat").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = h.admin.client.clone();
        let url = h.app.url("/api/v1/tags/vip/members");
        let csrf = h.admin.csrf.clone();
        let cat = cat.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("x-csrf-token", csrf)
                .json(&json!({"profile_id": cat}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            (status.as_u16(), body["changed"].as_bool())
        }));
    }
    let mut changed = 0;
    for t in tasks {
        let (status, c) = t.await.unwrap();
        assert_eq!(status, 200);
        if c == Some(true) {
            changed += 1;
        }
    }
    assert_eq!(changed, 1);
    assert_eq!(h.tag_events("vip").await.len(), 1);
    assert_eq!(h.get_tag("vip").await["member_count"], 1);
}

#[tokio::test]
async fn a_csv_import_applies_whole_and_a_reimport_changes_nothing() {
    let h = Harness::start().await;
    h.batch(vec![
        json!({"type": "identify", "userId": "u1", "traits": {}, "messageId": "i1"}),
        json!({"type": "identify", "userId": "u2", "traits": {}, "messageId": "i2"}),
    ])
    .await;
    h.tag(json!({"key": "expo_2026", "name": "Met at the expo", "kind": "import"}))
        .await;
    h.tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let csv = "identity,tag\nuser_id:u1,expo_2026\nuser_id:u2,expo_2026\nphone:13912340077,expo_2026\nuser_id:u1,vip\n";
    let r = import(&h, csv).await;
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(
        report,
        json!({"lines": 4, "assigned": 4, "unchanged": 0, "new_profiles": 1})
    );
    assert_eq!(h.members("expo_2026").await.len(), 3);
    assert_eq!(h.get_tag("expo_2026").await["member_count"], 3);
    let phone = h.profile("phone:+8613912340077").await;
    assert!(h.members("expo_2026").await.contains(&phone));

    let again: Value = import(&h, csv).await.json().await.unwrap();
    assert_eq!(
        again,
        json!({"lines": 4, "assigned": 0, "unchanged": 4, "new_profiles": 0})
    );
    assert_eq!(h.tag_events("expo_2026").await.len(), 3);

    // One bad line or unknown tag refuses the whole file.
    let before = common::count(h.app.db(), "SELECT COUNT(*) FROM profile_tags").await;
    let bad = import(&h, "user_id:u9,vip\nnonsense,vip\n").await;
    let message = {
        assert_eq!(bad.status(), 400);
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["code"], "invalid_csv");
        body["message"].as_str().unwrap().to_owned()
    };
    assert!(message.contains("line 2"), "{message}");
    let unknown = import(&h, "user_id:u9,vip\nuser_id:u9,no_such_tag\n").await;
    assert_eq!(error_code(unknown, 400).await, "unknown_tag");
    assert_eq!(
        common::count(h.app.db(), "SELECT COUNT(*) FROM profile_tags").await,
        before
    );
    assert_eq!(
        common::count(
            h.app.db(),
            "SELECT COUNT(*) FROM identities WHERE value = 'u9'"
        )
        .await,
        0
    );
    let json_body = h.admin.post("/api/v1/tags/import", json!({})).await;
    assert_eq!(error_code(json_body, 415).await, "unsupported_media_type");
}

#[tokio::test]
async fn analysts_read_tags_marketing_changes_them_store_staff_see_nothing() {
    let h = Harness::start().await;
    h.tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let analyst = h.app.user("data_analyst", None).await;
    assert_eq!(analyst.get("/api/v1/tags").await.status(), 200);
    let denied = analyst
        .post(
            "/api/v1/tags",
            json!({"key": "x", "name": "X", "kind": "manual"}),
        )
        .await;
    assert_eq!(error_code(denied, 403).await, "forbidden");
    let marketing = h.app.user("marketing", None).await;
    let created = marketing
        .post(
            "/api/v1/tags",
            json!({"key": "x", "name": "X", "kind": "manual"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let staff = h.app.user("store_staff", Some("store-1")).await;
    assert_eq!(staff.get("/api/v1/tags").await.status(), 403);
    let anonymous = h
        .app
        .client
        .get(h.app.url("/api/v1/tags"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
