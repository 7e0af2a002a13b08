//! The wire protocol: call types, authentication, encodings, limits,
//! all-or-nothing validation, deduplication and clock-skew correction.

use crate::common::error_code;
use crate::Ingest;
use cove_core::audience::message::parse_timestamp;
use serde_json::{json, Value};
use std::io::Write;

#[tokio::test]
async fn every_call_type_is_stored() {
    let t = Ingest::start().await;
    t.ok(
        "identify",
        json!({"userId": "u1", "traits": {"name": "Ada"}, "messageId": "m-identify"}),
    )
    .await;
    t.ok("track", json!({"userId": "u1", "event": "Order Completed", "properties": {"total_fen": 100}, "messageId": "m-track"})).await;
    t.ok(
        "page",
        json!({"userId": "u1", "name": "Home", "messageId": "m-page"}),
    )
    .await;
    t.ok(
        "screen",
        json!({"userId": "u1", "name": "Cart", "messageId": "m-screen"}),
    )
    .await;
    t.ok("group", json!({"userId": "u1", "groupId": "company-9", "traits": {"size": 10}, "messageId": "m-group"})).await;
    t.ok(
        "alias",
        json!({"userId": "u1", "previousId": "anon-1", "messageId": "m-alias"}),
    )
    .await;
    t.ok(
        "batch",
        json!({"batch": [
            {"type": "track", "userId": "u1", "event": "Coupon Used", "messageId": "m-b1"},
            {"type": "page", "anonymousId": "anon-1", "name": "Help", "messageId": "m-b2"}
        ]}),
    )
    .await;
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT message_id, type, event FROM raw_events ORDER BY message_id")
            .fetch_all(t.app.db().pool())
            .await
            .unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .map(|(m, ty, e)| (m.as_str(), ty.as_str(), e.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("m-alias", "alias", None),
            ("m-b1", "track", Some("Coupon Used")),
            ("m-b2", "page", Some("Help")),
            ("m-group", "group", None),
            ("m-identify", "identify", None),
            ("m-page", "page", Some("Home")),
            ("m-screen", "screen", Some("Cart")),
            ("m-track", "track", Some("Order Completed")),
        ]
    );
    let profile = t.profile_of("user_id:u1").await.unwrap();
    assert_eq!(profile["traits"]["name"], "Ada");
    assert_eq!(
        profile["events"].as_array().unwrap().len(),
        8,
        "all on one profile: {profile}"
    );
    let group: (Option<String>, String) =
        sqlx::query_as("SELECT group_id, traits FROM raw_events WHERE message_id = 'm-group'")
            .fetch_one(t.app.db().pool())
            .await
            .unwrap();
    assert_eq!(group.0.as_deref(), Some("company-9"));
    assert_eq!(serde_json::from_str::<Value>(&group.1).unwrap()["size"], 10);
}

#[tokio::test]
async fn the_write_key_comes_from_basic_auth_or_the_body_and_a_wrong_one_is_401() {
    let t = Ingest::start().await;
    let body_key = t
        .app
        .client
        .post(t.app.url("/v1/track"))
        .json(&json!({"writeKey": t.key, "userId": "u1", "event": "E", "messageId": "m1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(body_key.status(), 200);
    for (auth, body) in [
        (
            Some("wk_not_a_key"),
            json!({"userId": "u1", "event": "E", "messageId": "m2"}),
        ),
        (
            None,
            json!({"userId": "u1", "event": "E", "messageId": "m3"}),
        ),
        (
            None,
            json!({"writeKey": "wk_wrong", "userId": "u1", "event": "E", "messageId": "m4"}),
        ),
    ] {
        let mut req = t.app.client.post(t.app.url("/v1/track")).json(&body);
        if let Some(k) = auth {
            req = req.basic_auth(k, Some(""));
        }
        let r = req.send().await.unwrap();
        assert!(r.headers().get("www-authenticate").is_some());
        assert_eq!(error_code(r, 401).await, "invalid_write_key");
    }
    // A disabled source's key stops working.
    cove_core::audience::sources::disable_source(
        t.app.db(),
        &cove_core::audit::Actor::system(),
        &t.source_id,
    )
    .await
    .unwrap();
    let r = t
        .send(
            "track",
            json!({"userId": "u1", "event": "E", "messageId": "m5"}),
        )
        .await;
    assert_eq!(error_code(r, 401).await, "invalid_write_key");
    assert_eq!(t.events().await, 1);
}

fn gzip(body: &Value) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&serde_json::to_vec(body).unwrap()).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn gzip_bodies_are_accepted_within_the_decompressed_limit() {
    let t = Ingest::start().await;
    let body = json!({"batch": [
        {"type": "identify", "userId": "gz", "traits": {"city": "Shanghai"}, "messageId": "gz-1"},
        {"type": "track", "userId": "gz", "event": "Viewed", "messageId": "gz-2"}
    ]});
    let r = t
        .app
        .client
        .post(t.app.url("/v1/batch"))
        .basic_auth(&t.key, Some(""))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.events().await, 2);
    // 600 KB of JSON compresses to almost nothing, but is over the batch limit once inflated.
    let big = json!({"batch": (0..30).map(|i| json!({"type": "track", "userId": "gz", "event": "E",
        "messageId": format!("big-{i}"), "properties": {"pad": "x".repeat(20_000)}})).collect::<Vec<_>>()});
    let compressed = gzip(&big);
    assert!(compressed.len() < 100_000);
    let r = t
        .app
        .client
        .post(t.app.url("/v1/batch"))
        .basic_auth(&t.key, Some(""))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 413).await, "batch_too_large");
    let r = t
        .app
        .client
        .post(t.app.url("/v1/track"))
        .basic_auth(&t.key, Some(""))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(b"not gzip at all".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 400).await, "invalid_gzip");
    assert_eq!(t.events().await, 2);
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_code_and_store_nothing() {
    let t = Ingest::start().await;
    let raw = |ct: &'static str, body: &'static str| {
        t.app
            .client
            .post(t.app.url("/v1/batch"))
            .basic_auth(&t.key, Some(""))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(
        error_code(raw("application/json", "{\"batch\": [").await.unwrap(), 400).await,
        "malformed_json"
    );
    assert_eq!(
        error_code(raw("text/plain", "{\"batch\": []}").await.unwrap(), 415).await,
        "unsupported_media_type"
    );
    let valid = json!({"type": "track", "userId": "u", "event": "E", "messageId": "ok-1"});
    let cases = [
        (
            "batch",
            json!({"batch": [valid, {"type": "track", "userId": "u", "messageId": "bad"}]}),
            400,
            "missing_event",
        ),
        (
            "batch",
            json!({"batch": [valid, {"type": "track", "event": "E", "messageId": "bad"}]}),
            400,
            "missing_identity",
        ),
        (
            "batch",
            json!({"batch": [valid, {"type": "track", "event": "E", "userId": "undefined"}]}),
            400,
            "missing_identity",
        ),
        (
            "batch",
            json!({"batch": [valid, {"userId": "u", "event": "E"}]}),
            400,
            "missing_type",
        ),
        (
            "batch",
            json!({"batch": [valid, {"type": "group", "userId": "u"}]}),
            400,
            "missing_group_id",
        ),
        (
            "batch",
            json!({"batch": [valid, {"type": "track", "userId": "u", "event": "E", "messageId": "x".repeat(101)}]}),
            400,
            "invalid_message_id",
        ),
        (
            "batch",
            json!({"batch": vec![valid.clone(); 2501]}),
            413,
            "batch_too_large",
        ),
        (
            "track",
            json!({"userId": "u", "event": "E", "properties": {"pad": "x".repeat(33 * 1024)}}),
            413,
            "event_too_large",
        ),
        (
            "batch",
            json!({"batch": [valid, {"type": "track", "userId": "u", "event": "E", "properties": {"pad": "x".repeat(33 * 1024)}}]}),
            413,
            "event_too_large",
        ),
        ("track", json!({"userId": "u"}), 400, "missing_event"),
        (
            "identify",
            json!({"traits": {"a": 1}}),
            400,
            "missing_identity",
        ),
    ];
    for (call, body, status, code) in cases {
        let r = t.send(call, body).await;
        assert_eq!(error_code(r, status).await, code, "{call} expecting {code}");
    }
    assert_eq!(
        t.events().await,
        0,
        "nothing from a refused request is stored"
    );
    assert_eq!(t.profiles().await, 0);
}

#[tokio::test]
async fn a_retried_batch_is_acknowledged_and_stored_once() {
    let t = Ingest::start().await;
    let batch = json!({"batch": (0..50).map(|i| json!({"type": "track", "anonymousId": "a-retry",
        "event": "Viewed", "messageId": format!("r-{i}")})).collect::<Vec<_>>()});
    t.ok("batch", batch.clone()).await;
    t.ok("batch", batch).await;
    // A message without a messageId, sent twice, dedupes on its content.
    t.ok(
        "track",
        json!({"userId": "u", "event": "No Id", "properties": {"a": 1}}),
    )
    .await;
    t.ok("track", json!({"userId": "u", "event": "No Id", "properties": {"a": 1}, "sentAt": "2024-05-01T10:00:00Z"})).await;
    // The same messageId twice inside one batch.
    t.ok(
        "batch",
        json!({"batch": [
            {"type": "track", "userId": "u", "event": "Dup", "messageId": "same"},
            {"type": "track", "userId": "u", "event": "Dup", "messageId": "same"}
        ]}),
    )
    .await;
    assert_eq!(t.events().await, 52);
}

#[tokio::test]
async fn clock_skew_is_corrected_from_sent_at() {
    let t = Ingest::start().await;
    // The client clock is two hours fast; the event happened 30 s before it was sent.
    let before = cove_core::clock::now();
    t.ok(
        "batch",
        json!({
            "batch": [{"type": "track", "userId": "u", "event": "Skewed", "messageId": "skew",
                       "originalTimestamp": "2030-01-01T12:00:00Z"}],
            "sentAt": "2030-01-01T12:00:30Z"
        }),
    )
    .await;
    let after = cove_core::clock::now();
    let row: (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT occurred_at, received_at, original_timestamp, sent_at FROM raw_events WHERE message_id = 'skew'",
    )
    .fetch_one(t.app.db().pool())
    .await
    .unwrap();
    assert!(row.1 >= before && row.1 <= after);
    assert_eq!(
        row.0,
        row.1 - 30_000_000,
        "timestamp = receivedAt - (sentAt - originalTimestamp)"
    );
    assert_eq!(row.2, parse_timestamp("2030-01-01T12:00:00Z"));
    assert_eq!(row.3, parse_timestamp("2030-01-01T12:00:30Z"));
    // A timestamp sent without sentAt (a historical import) is taken as given.
    t.ok(
        "track",
        json!({"userId": "u", "event": "Import", "messageId": "import",
        "timestamp": "2021-06-01T08:00:00+08:00"}),
    )
    .await;
    let occurred: i64 =
        sqlx::query_scalar("SELECT occurred_at FROM raw_events WHERE message_id = 'import'")
            .fetch_one(t.app.db().pool())
            .await
            .unwrap();
    assert_eq!(Some(occurred), parse_timestamp("2021-06-01T00:00:00Z"));
}

#[tokio::test]
async fn sources_are_listed_without_their_keys_and_need_the_audience_area() {
    let t = Ingest::start().await;
    let list: Value = t.admin.get("/api/v1/sources").await.json().await.unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["kind"], "mini_program");
    assert!(t
        .key
        .starts_with(list[0]["write_key_prefix"].as_str().unwrap()));
    assert!(!list[0].to_string().contains(&t.key));
    let staff = t.app.user("store_staff", Some("store-1")).await;
    assert_eq!(
        error_code(staff.get("/api/v1/sources").await, 403).await,
        "forbidden"
    );
    let analyst = t.app.user("data_analyst", None).await;
    let r = analyst
        .post(
            "/api/v1/sources",
            json!({"name": "POS", "kind": "offline_pos"}),
        )
        .await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let r = t
        .admin
        .post(
            "/api/v1/sources",
            json!({"name": "TV", "kind": "television"}),
        )
        .await;
    assert!(r.status().is_client_error());
}
