use crate::common::{count, error_code, TestApp, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn bad_input_gets_a_stable_code_and_changes_nothing() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let users = count(app.db(), "SELECT COUNT(*) FROM users").await;
    let post_raw = |body: &'static str, content_type: &'static str| {
        admin
            .client
            .post(app.url("/api/v1/users"))
            .header("x-csrf-token", &admin.csrf)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_eq!(
        error_code(
            post_raw("{\"email\":", "application/json").await.unwrap(),
            400
        )
        .await,
        "malformed_json"
    );
    assert_eq!(
        error_code(
            post_raw("{\"email\": 42}", "application/json")
                .await
                .unwrap(),
            422
        )
        .await,
        "invalid_body"
    );
    assert_eq!(
        error_code(post_raw("email=a", "text/plain").await.unwrap(), 415).await,
        "unsupported_media_type"
    );
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let too_large = admin
        .client
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", &admin.csrf)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(too_large, 413).await, "body_too_large");
    let cases = [
        (
            json!({ "email": "not-an-email", "name": "A", "password": PASSWORD, "role": "admin" }),
            "invalid_email",
        ),
        (
            json!({ "email": "a@b.cn", "name": "A", "password": "short", "role": "admin" }),
            "weak_password",
        ),
        (
            json!({ "email": "a@b.cn", "name": "", "password": PASSWORD, "role": "admin" }),
            "invalid_name",
        ),
        (
            json!({ "email": "a@b.cn", "name": "A", "password": PASSWORD, "role": "store_staff" }),
            "store_required",
        ),
    ];
    for (body, code) in cases {
        assert_eq!(
            error_code(admin.post("/api/v1/users", body).await, 400).await,
            code
        );
    }
    let bad_role = admin
        .post(
            "/api/v1/users",
            json!({ "email": "a@b.cn", "name": "A", "password": PASSWORD, "role": "king" }),
        )
        .await;
    assert_eq!(error_code(bad_role, 422).await, "invalid_body");
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM users").await,
        users,
        "nothing was created"
    );
    let dup = admin
        .post(
            "/api/v1/users",
            json!({ "email": admin.email, "name": "A", "password": PASSWORD, "role": "admin" }),
        )
        .await;
    assert_eq!(error_code(dup, 409).await, "email_taken");
}

#[tokio::test]
async fn unknown_routes_methods_and_queries_answer_in_json() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    assert_eq!(
        error_code(
            reqwest::get(app.url("/api/v1/nothing-here")).await.unwrap(),
            404
        )
        .await,
        "route_not_found"
    );
    let wrong_method = reqwest::Client::new()
        .delete(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong_method, 405).await, "method_not_allowed");
    assert_eq!(
        error_code(admin.get("/api/v1/jobs?state=sleeping").await, 400).await,
        "invalid_query"
    );
    assert_eq!(
        error_code(admin.get("/api/v1/audit?limit=lots").await, 400).await,
        "invalid_query"
    );
    let missing = admin
        .client
        .delete(app.url("/api/v1/tokens/nope"))
        .header("x-csrf-token", &admin.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(missing, 404).await, "api_token_not_found");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let (app, _db) = TestApp::spawn().await;
    let r = reqwest::get(app.url("/healthz")).await.unwrap();
    let id = r.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let given = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        given.headers().get("x-request-id").unwrap(),
        "trace-me-123",
        "a caller's id is kept"
    );
}
