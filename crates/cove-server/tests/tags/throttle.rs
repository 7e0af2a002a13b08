//! Ingestion is throttled per source: past its rate a source gets 429 with
//! `Retry-After`, nothing of that request is stored, and other sources go on.

use crate::common::{self, TestApp, TestDb};
use cove_core::jobs::Registry;
use serde_json::{json, Value};

#[tokio::test]
async fn a_source_past_its_rate_gets_429_with_retry_after_and_others_go_on() {
    let db = TestDb::new().await;
    let mut config = db.config();
    config.ingest.events_per_second = 1;
    config.ingest.burst = 5;
    let app = TestApp::start(config, Registry::new()).await;
    let admin = app.user("admin", None).await;
    let mut keys = Vec::new();
    for name in ["H5", "POS"] {
        let created: Value = admin
            .post("/api/v1/sources", json!({"name": name, "kind": "h5"}))
            .await
            .json()
            .await
            .unwrap();
        keys.push(created["write_key"].as_str().unwrap().to_owned());
    }
    let send = |key: &str, from: usize, n: usize| {
        let batch: Vec<Value> = (from..from + n)
            .map(|i| json!({"type": "track", "userId": "t", "event": "Tick", "messageId": format!("{key}-{i}")}))
            .collect();
        app.client
            .post(app.url("/v1/batch"))
            .basic_auth(key, Some(""))
            .json(&json!({ "batch": batch }))
            .send()
    };
    assert_eq!(send(&keys[0], 0, 5).await.unwrap().status(), 200);
    let refused = send(&keys[0], 5, 3).await.unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        common::error_code(refused, 429).await,
        "source_rate_limited"
    );
    assert_eq!(send(&keys[1], 0, 5).await.unwrap().status(), 200);
    let stored = common::count(
        app.db(),
        "SELECT COUNT(*) FROM raw_events WHERE event = 'Tick'",
    )
    .await;
    assert_eq!(stored, 10);
}
