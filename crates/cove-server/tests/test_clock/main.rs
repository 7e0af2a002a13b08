//! The test clock (`clock.adjustable`, `POST /api/v1/test-clock/advance`).
//!
//! A binary of its own: the clock offset is process-wide, and every test
//! binary runs its servers in one process. Moving it a week here cannot
//! expire a session or fire a job in another binary's tests. Within this
//! binary, the tests that sign in and then advance are one sequence, so no
//! session here is cut short by a parallel test's jump; the disabled server
//! answers before any sign-in is read, so it does not care when it runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use common::{error_code, CustomerClient, TestApp, TestDb, PASSWORD};
use cove_core::clock::{self, SECOND};
use cove_core::jobs::Registry;
use cove_core::membership::earn::RETURN_WINDOW;
use serde_json::{json, Value};

async fn documents_the_test_clock(app: &TestApp) -> bool {
    let url = app.url("/openapi.json");
    let openapi: Value = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    openapi["paths"].get("/api/v1/test-clock/advance").is_some()
}

async fn points(customer: &CustomerClient) -> Value {
    let card: Value = customer
        .get("/api/v1/me/membership")
        .await
        .json()
        .await
        .unwrap();
    card["points"].clone()
}

#[tokio::test]
async fn without_the_setting_there_is_no_test_clock() {
    let (app, _db) = TestApp::spawn().await;
    assert!(!app.server.as_ref().unwrap().state.config.clock.adjustable);
    let anonymous = reqwest::Client::new()
        .post(app.url("/api/v1/test-clock/advance"))
        .json(&json!({ "seconds": 60 }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(anonymous, 404).await, "route_not_found");
    let admin = app.user("admin", None).await;
    let refused = admin
        .post("/api/v1/test-clock/advance", json!({ "seconds": 60 }))
        .await;
    assert_eq!(error_code(refused, 404).await, "route_not_found");
    assert!(!documents_the_test_clock(&app).await);
}

#[tokio::test]
async fn an_admin_moves_the_clock_and_locked_points_unlock() {
    let db = TestDb::new().await;
    let mut config = db.config();
    config.clock.adjustable = true;
    let app = TestApp::start(config, Registry::new()).await;
    assert!(documents_the_test_clock(&app).await);

    // Only an admin, and only forward by a sane step.
    let marketing = app.user("marketing", None).await;
    let denied = marketing
        .post("/api/v1/test-clock/advance", json!({ "seconds": 60 }))
        .await;
    assert_eq!(error_code(denied, 403).await, "forbidden");
    let admin = app.user("admin", None).await;
    for seconds in [json!(-60), json!(0), json!(400 * 86_400), json!(i64::MAX)] {
        let bad = admin
            .post("/api/v1/test-clock/advance", json!({ "seconds": seconds }))
            .await;
        assert_eq!(error_code(bad, 400).await, "invalid_seconds", "{seconds}");
    }
    // Not a whole number of seconds at all: the body does not fit.
    for body in [
        json!({ "seconds": "a week" }),
        json!({ "seconds": 1.5 }),
        json!({}),
    ] {
        let bad = admin.post("/api/v1/test-clock/advance", body.clone()).await;
        assert_eq!(error_code(bad, 422).await, "invalid_body", "{body}");
    }
    assert_eq!(clock::offset(), 0, "refused requests leave the clock alone");

    // A member buys in store: the points stay locked through the return window.
    let customer = app.customer(&app.new_profile().await).await;
    let joined: Value = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "林夏", "phone": "+8613700001234" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let member = joined["member"]["id"].as_str().unwrap().to_owned();
    let earned: Value = admin
        .post(
            &format!("/api/v1/members/{member}/purchases"),
            json!({ "receipt_no": "R-1", "store_id": "store-1",
                    "lines": [{ "category": "monitors", "amount_fen": 99_900 }] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(earned["points"], 999);
    let frozen = points(&customer).await;
    assert_eq!(frozen["locked"], 999);
    let available = frozen["available"].as_i64().unwrap();

    // Past the window, by the clock.
    let step = RETURN_WINDOW / SECOND + 60;
    let before = clock::now();
    let moved = admin
        .post("/api/v1/test-clock/advance", json!({ "seconds": step }))
        .await;
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(moved["offset_seconds"], step);
    let now = moved["now"].as_i64().unwrap();
    assert!(now >= before + step * SECOND && now < before + (step + 60) * SECOND);
    assert!(moved["now_rfc3339"].as_str().unwrap().ends_with('Z'));
    let unlocked = points(&customer).await;
    assert_eq!(unlocked["locked"], 0);
    assert_eq!(unlocked["available"], available + 999);

    // A week on, the admin's idle session has expired (12 hours): sign in again.
    let stale = admin.get("/api/v1/auth/me").await;
    assert_eq!(stale.status(), 401);
    let again = app.sign_in(&admin.email, PASSWORD).await.ok().unwrap();
    let audit: Value = again.get("/api/v1/audit").await.json().await.unwrap();
    assert!(
        audit.to_string().contains("test_clock.advance"),
        "the move is audited: {audit}"
    );
}
