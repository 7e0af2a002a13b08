use crate::common::TestApp;
use cove_core::idempotency::{self, Claim};

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let (app, _db) = TestApp::spawn().await;
    let health: serde_json::Value = reqwest::get(app.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let _ = reqwest::get(app.url("/api/v1/stores")).await.unwrap();
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "cove_http_requests_total{method=\"GET\",route=\"/api/v1/stores\",status=\"401\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("cove_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("cove_jobs"), "{metrics}");
    let spec: serde_json::Value = reqwest::get(app.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/auth/sign-in",
        "/api/v1/jobs",
        "/healthz",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
    let docs = reqwest::get(app.url("/api/docs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(docs.contains("/openapi.json") && docs.contains("/assets/vendor/swagger-ui-bundle.js"));
    let bundle = reqwest::get(app.url("/assets/vendor/swagger-ui-bundle.js"))
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let (app, _db) = TestApp::spawn().await;
    app.db().close().await;
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "alive even when not ready");
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let (app, _db) = TestApp::spawn().await;
    app.db().migrate().await.unwrap();
    app.db().migrate().await.unwrap();
    let tables = [
        "users",
        "sessions",
        "api_tokens",
        "audit_log",
        "jobs",
        "schedules",
        "members",
        "orders",
        "events",
    ];
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(app.db().pool())
            .await
            .unwrap();
        assert!(n >= 0);
    }
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_request() {
    let (app, _db) = TestApp::spawn().await;
    let db = app.db();
    let hash = idempotency::request_hash(b"{\"amount\":100}");
    let mut tx = db.begin().await.unwrap();
    assert!(matches!(
        idempotency::claim(&mut tx, "checkout:m1", "k1", &hash)
            .await
            .unwrap(),
        Claim::New
    ));
    idempotency::store(&mut tx, "checkout:m1", "k1", "{\"order\":\"o1\"}")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = db.begin().await.unwrap();
    match idempotency::claim(&mut tx, "checkout:m1", "k1", &hash)
        .await
        .unwrap()
    {
        Claim::Replay(r) => assert_eq!(r, "{\"order\":\"o1\"}"),
        Claim::New => panic!("a retried key must replay"),
    }
    let other = idempotency::request_hash(b"{\"amount\":999}");
    let err = idempotency::claim(&mut tx, "checkout:m1", "k1", &other)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "idempotency_key_reused");
    assert!(
        matches!(
            idempotency::claim(&mut tx, "checkout:m2", "k1", &hash)
                .await
                .unwrap(),
            Claim::New
        ),
        "keys are per scope"
    );
    tx.rollback().await.unwrap();

    // A claim rolled back with its transaction leaves the key free.
    let mut tx = db.begin().await.unwrap();
    assert!(matches!(
        idempotency::claim(&mut tx, "checkout:m2", "k1", &hash)
            .await
            .unwrap(),
        Claim::New
    ));
}
