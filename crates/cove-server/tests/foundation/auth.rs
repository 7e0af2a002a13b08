use crate::common::{count, error_code, TestApp, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn sign_in_with_a_wrong_password_is_refused_and_audited() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let refused = app
        .sign_in(&admin.email, "not-the-password")
        .await
        .err()
        .unwrap();
    assert_eq!(error_code(refused, 400).await, "invalid_credentials");
    let unknown = app
        .sign_in("nobody@test.cove", PASSWORD)
        .await
        .err()
        .unwrap();
    assert_eq!(
        error_code(unknown, 400).await,
        "invalid_credentials",
        "unknown emails look the same"
    );
    let audit: serde_json::Value = admin.get("/api/v1/audit").await.json().await.unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"auth.sign_in_failed"), "{actions:?}");
    assert!(actions.contains(&"auth.sign_in"), "{actions:?}");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_even_against_the_right_password() {
    let (app, _db) = TestApp::spawn().await;
    let user = app.user("marketing", None).await;
    for _ in 0..5 {
        let r = app
            .sign_in(&user.email, "wrong-password!")
            .await
            .err()
            .unwrap();
        assert_eq!(error_code(r, 400).await, "invalid_credentials");
    }
    let locked = app.sign_in(&user.email, PASSWORD).await.err().unwrap();
    assert!(locked.headers().get("retry-after").is_some());
    assert_eq!(error_code(locked, 429).await, "account_locked");
    // The session signed in before the lockout still works; the lockout guards new sign-ins.
    assert_eq!(user.get("/api/v1/auth/me").await.status(), 200);
}

#[tokio::test]
async fn unsafe_requests_in_a_session_need_the_csrf_token() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let users_before = count(app.db(), "SELECT COUNT(*) FROM users").await;
    let body = json!({ "email": "new@test.cove", "name": "New", "password": PASSWORD, "role": "data_analyst" });
    let without = admin
        .client
        .post(app.url("/api/v1/users"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(without, 403).await, "forbidden");
    let wrong = admin
        .client
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", "guess")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong, 403).await, "forbidden");
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM users").await,
        users_before,
        "refused requests change nothing"
    );
    let with = admin.post("/api/v1/users", body).await;
    assert_eq!(with.status(), 201);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM users").await,
        users_before + 1
    );
}

#[tokio::test]
async fn roles_are_enforced_on_every_endpoint() {
    let (app, _db) = TestApp::spawn().await;
    let marketing = app.user("marketing", None).await;
    assert_eq!(
        error_code(marketing.get("/api/v1/users").await, 403).await,
        "forbidden"
    );
    assert_eq!(
        error_code(marketing.get("/api/v1/jobs").await, 403).await,
        "forbidden"
    );
    assert_eq!(
        marketing.get("/api/v1/stores").await.status(),
        200,
        "marketing may read the network"
    );
    let engineer = app.user("field_engineer", None).await;
    assert_eq!(
        error_code(engineer.get("/api/v1/stores").await, 403).await,
        "forbidden"
    );
    let anonymous = reqwest::get(app.url("/api/v1/stores")).await.unwrap();
    assert_eq!(error_code(anonymous, 401).await, "unauthenticated");
}

#[tokio::test]
async fn api_tokens_are_limited_to_their_scopes_and_die_when_revoked() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let created = admin
        .post(
            "/api/v1/tokens",
            json!({ "name": "pos", "scopes": ["network:read"] }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["token"]["id"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let stores = http
        .get(app.url("/api/v1/stores"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(stores.status(), 200);
    let users = http
        .get(app.url("/api/v1/users"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(users, 403).await,
        "forbidden",
        "admin's token still only has network:read"
    );
    let listed: serde_json::Value = admin.get("/api/v1/tokens").await.json().await.unwrap();
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is never shown again"
    );

    let bad_scope = admin
        .post(
            "/api/v1/tokens",
            json!({ "name": "x", "scopes": ["billing:read"] }),
        )
        .await;
    assert_eq!(error_code(bad_scope, 400).await, "invalid_scope");
    let marketing = app.user("marketing", None).await;
    let too_much = marketing
        .post(
            "/api/v1/tokens",
            json!({ "name": "x", "scopes": ["system:write"] }),
        )
        .await;
    assert_eq!(error_code(too_much, 403).await, "forbidden");

    let revoke = admin
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .header("x-csrf-token", &admin.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    let after = http
        .get(app.url("/api/v1/stores"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(after, 401).await, "unauthenticated");
    let forged = http
        .get(app.url("/api/v1/stores"))
        .bearer_auth("cove_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(forged, 401).await, "unauthenticated");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let (app, _db) = TestApp::spawn().await;
    let analyst = app.user("data_analyst", None).await;
    let me: serde_json::Value = analyst.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["role"], "data_analyst");
    let areas: Vec<&str> = me["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["area"].as_str().unwrap())
        .collect();
    assert!(
        areas.contains(&"insight") && !areas.contains(&"system"),
        "{areas:?}"
    );
    assert_eq!(
        analyst
            .post("/api/v1/auth/sign-out", json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(
        error_code(analyst.get("/api/v1/auth/me").await, 401).await,
        "unauthenticated"
    );
}

#[tokio::test]
async fn session_cookies_are_http_only_and_same_site() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/sign-in"))
        .json(&json!({ "email": admin.email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("cove_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let stored = count(app.db(), "SELECT COUNT(*) FROM sessions").await;
    assert_eq!(stored, 2);
    let raw = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("cove_session=")
        .to_owned();
    let leaked = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions WHERE id_hash = $1")
        .bind(&raw)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(leaked, 0, "only a hash of the session id is stored");
}
