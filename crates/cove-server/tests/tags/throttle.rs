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

/// Single-event batches sent to one node; how many it admitted.
async fn admitted(app: &TestApp, key: &str, tag: &str, n: usize) -> usize {
    let mut ok = 0;
    for i in 0..n {
        let r = app
            .client
            .post(app.url("/v1/batch"))
            .basic_auth(key, Some(""))
            .json(&json!({"batch": [{"type": "track", "userId": "t", "event": "Tick", "messageId": format!("{tag}-{i}")}]}))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {}
            other => panic!("unexpected status {other}: {}", r.text().await.unwrap()),
        }
    }
    ok
}

#[tokio::test]
async fn nodes_sharing_a_database_split_a_source_limit_and_a_silent_node_drops_out() {
    let db = TestDb::new().await;
    let mut config = db.config();
    config.ingest.events_per_second = 10;
    config.ingest.burst = 10;
    config.ingest.heartbeat_ms = 0; // heartbeats driven by the test, with its own times
    let a = TestApp::start(config.clone(), Registry::new()).await;
    let b = TestApp::start(config, Registry::new()).await;
    let admin = a.user("admin", None).await;
    let created: Value = admin
        .post("/api/v1/sources", json!({"name": "H5", "kind": "h5"}))
        .await
        .json()
        .await
        .unwrap();
    let key = created["write_key"].as_str().unwrap().to_owned();
    let throttle = |app: &TestApp| app.server.as_ref().unwrap().state.ingest_throttle.clone();
    let t0 = cove_core::clock::now();
    throttle(&b).heartbeat(a.db(), t0).await.unwrap();
    assert_eq!(throttle(&a).heartbeat(a.db(), t0).await.unwrap(), 2);
    assert_eq!(throttle(&b).heartbeat(b.db(), t0).await.unwrap(), 2);

    // Both nodes in turn (two SQLite nodes cannot write one file at once):
    // together no more than the burst plus the rate over the window.
    let started = std::time::Instant::now();
    let from_a = admitted(&a, &key, "a", 20).await;
    let from_b = admitted(&b, &key, "b", 20).await;
    assert!(
        from_a >= 5 && from_b >= 5,
        "each node admits its half of the burst: {from_a}, {from_b}"
    );
    let window = started.elapsed().as_secs_f64();
    let allowed = 10.0 + 10.0 * window;
    assert!(
        ((from_a + from_b) as f64) <= allowed + 1.0,
        "{from_a} + {from_b} admitted in {window:.2} s; at most {allowed:.1}"
    );
    let stored = common::count(
        a.db(),
        "SELECT COUNT(*) FROM raw_events WHERE event = 'Tick'",
    )
    .await;
    assert_eq!(stored as usize, from_a + from_b);

    // B stops heartbeating; once its last heartbeat is older than the
    // liveness window, A alone takes the whole limit.
    let later = t0 + cove_core::audience::throttle::LIVE_FOR + cove_core::clock::SECOND;
    assert_eq!(throttle(&a).heartbeat(a.db(), later).await.unwrap(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        admitted(&a, &key, "a-alone", 10).await,
        10,
        "the whole burst of 10, not half of it"
    );
}
