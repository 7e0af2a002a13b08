//! The member's own API and the staff/till API, over HTTP on a real server.

use crate::common::{count, error_code, TestApp};
use cove_core::clock::{self, DAY};
use serde_json::{json, Value};

async fn join(app: &TestApp, phone: &str) -> (crate::common::CustomerClient, Value) {
    let profile = app.new_profile().await;
    let customer = app.customer(&profile).await;
    let r = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "韩梅梅", "phone": phone, "birthday": "1995-04-12" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    (customer, body)
}

async fn add_store(app: &TestApp) {
    sqlx::query("INSERT INTO stores (id, code, name, kind, city, created_at) VALUES ('s1', 'SH-01', '上海一号店', 'store', '上海', 0)")
        .execute(app.db().pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_customer_joins_once_and_sees_their_card() {
    let (app, _db) = TestApp::spawn().await;
    let profile = app.new_profile().await;
    let customer = app.customer(&profile).await;
    assert_eq!(
        error_code(customer.get("/api/v1/me/membership").await, 403).await,
        "not_a_member"
    );

    let r = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "韩梅梅", "phone": "136 5241 8890" }),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["created"], true);
    assert_eq!(first["member"]["phone"], "+8613652418890");
    assert_eq!(first["member"]["tier"], "regular");
    // Joining again returns the same member, and grants no second welcome.
    let again: Value = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "韩梅梅", "phone": "13652418890" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["created"], false);
    assert_eq!(again["member"]["id"], first["member"]["id"]);

    let card: Value = customer
        .get("/api/v1/me/membership")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        card["points"]["available"], 100,
        "the registration award: {card}"
    );
    assert_eq!(card["tier"]["code"], "regular");
    assert_eq!(card["next_tier"]["code"], "silver");
    assert_eq!(card["growth_to_next"], 7000 - 10);
    let history: Value = customer
        .get("/api/v1/me/points")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["kind"], "award");

    // The joining and the award are events on the member's profile.
    let events = count(app.db(), &format!(
        "SELECT COUNT(*) FROM raw_events WHERE source_id = 'cove' AND profile_id = '{profile}' AND event IN ('member.joined', 'points.awarded')"
    )).await;
    assert_eq!(events, 2);
    // The phone and the card number are identities of the profile.
    let ids = count(app.db(), &format!("SELECT COUNT(*) FROM identities WHERE profile_id = '{profile}' AND type IN ('phone', 'member_card')")).await;
    assert_eq!(ids, 2);
}

#[tokio::test]
async fn bad_input_and_a_taken_phone_change_nothing() {
    let (app, _db) = TestApp::spawn().await;
    join(&app, "13652418890").await;
    let members_before = count(app.db(), "SELECT COUNT(*) FROM members").await;
    let profile = app.new_profile().await;
    let other = app.customer(&profile).await;
    let taken = other
        .post(
            "/api/v1/me/membership",
            json!({ "name": "李雷", "phone": "+86 136-5241-8890" }),
        )
        .await;
    assert_eq!(error_code(taken, 409).await, "phone_taken");
    for (body, code) in [
        (json!({ "name": "李雷", "phone": "12345" }), "invalid_phone"),
        (
            json!({ "name": "", "phone": "13800000000" }),
            "invalid_name",
        ),
        (
            json!({ "name": "李雷", "phone": "13800000000", "birthday": "1995-13-01" }),
            "invalid_birthday",
        ),
        (json!({ "name": "李雷" }), "phone_required"),
    ] {
        assert_eq!(
            error_code(other.post("/api/v1/me/membership", body).await, 400).await,
            code
        );
    }
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM members").await,
        members_before
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM identities WHERE type = 'phone' AND value = '+8613800000000'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn an_offline_purchase_earns_once_locked_through_the_return_window_and_upgrades() {
    let (app, _db) = TestApp::spawn().await;
    add_store(&app).await;
    let (customer, joined) = join(&app, "13652418890").await;
    let id = joined["member"]["id"].as_str().unwrap().to_owned();
    let staff = app.user("store_staff", Some("s1")).await;
    let purchase = json!({ "receipt_no": "R-0001", "lines": [
        { "category": "gaming_laptop", "amount_fen": 899_900 },
        { "category": "accessory", "amount_fen": 19_900 }
    ]});
    let r = staff
        .post(&format!("/api/v1/members/{id}/purchases"), purchase.clone())
        .await;
    assert_eq!(r.status(), 200);
    let earned: Value = r.json().await.unwrap();
    assert_eq!(earned["points"], 8999 + 199);
    assert_eq!(earned["applied"], true);
    assert_eq!(earned["tier_change"]["to_tier"], "silver");
    // The till retries: nothing more is earned.
    let retry: Value = staff
        .post(&format!("/api/v1/members/{id}/purchases"), purchase)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retry["applied"], false);
    let card: Value = customer
        .get("/api/v1/me/membership")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["member"]["tier"], "silver");
    assert_eq!(card["points"]["available"], 100);
    assert_eq!(
        card["points"]["locked"], 9198,
        "purchase points stay locked through the return window"
    );
    assert_eq!(card["tier_history"][0]["reason"], "upgrade");
    // The points of the next purchase are multiplied by the silver tier (110%).
    let r: Value = staff.post(&format!("/api/v1/members/{id}/purchases"), json!({ "receipt_no": "R-0002", "lines": [{ "category": "accessory", "amount_fen": 10_000 }] })).await.json().await.unwrap();
    assert_eq!(r["points"], 110);
    // Bad lines are refused.
    let bad = staff
        .post(
            &format!("/api/v1/members/{id}/purchases"),
            json!({ "receipt_no": "R-3", "lines": [] }),
        )
        .await;
    assert_eq!(error_code(bad, 400).await, "invalid_lines");
}

#[tokio::test]
async fn staff_adjust_and_spend_at_the_till_exactly_once() {
    let (app, _db) = TestApp::spawn().await;
    let (_customer, joined) = join(&app, "13652418890").await;
    let id = joined["member"]["id"].as_str().unwrap().to_owned();
    let manager = app.user("membership_manager", None).await;
    let adjust = json!({ "amount": 500, "reason": "补偿：配送延迟", "key": "ticket-77" });
    let b: Value = manager
        .post(
            &format!("/api/v1/members/{id}/points/adjust"),
            adjust.clone(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["available"], 600);
    let b: Value = manager
        .post(&format!("/api/v1/members/{id}/points/adjust"), adjust)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["available"], 600, "a retried adjustment applies once");
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM audit_log WHERE action = 'points.adjust'"
        )
        .await,
        1
    );
    let too_much = manager
        .post(
            &format!("/api/v1/members/{id}/points/adjust"),
            json!({ "amount": -10_000, "reason": "x", "key": "k2" }),
        )
        .await;
    assert_eq!(error_code(too_much, 409).await, "insufficient_points");
    let no_reason = manager
        .post(
            &format!("/api/v1/members/{id}/points/adjust"),
            json!({ "amount": 5, "reason": " ", "key": "k3" }),
        )
        .await;
    assert_eq!(error_code(no_reason, 400).await, "invalid_reason");

    let spend = json!({ "amount": 250, "key": "till-1", "purpose": "till:R-9" });
    let h: Value = manager
        .post(&format!("/api/v1/members/{id}/points/spend"), spend.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "consumed");
    let h2: Value = manager
        .post(&format!("/api/v1/members/{id}/points/spend"), spend)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h2["id"], h["id"]);
    let detail: Value = manager
        .get(&format!("/api/v1/members/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["points"]["available"], 350);
    assert!(detail["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i == "phone:+8613652418890"));
    // A service agent may read members but not change points.
    let agent = app.user("service_agent", None).await;
    let denied = agent
        .post(
            &format!("/api/v1/members/{id}/points/adjust"),
            json!({ "amount": 5, "reason": "x", "key": "k4" }),
        )
        .await;
    assert_eq!(denied.status(), 403);
}

#[tokio::test]
async fn concurrent_till_spends_never_overdraw() {
    let (app, _db) = TestApp::spawn().await;
    let (_customer, joined) = join(&app, "13652418890").await;
    let id = joined["member"]["id"].as_str().unwrap().to_owned();
    let staff = std::sync::Arc::new(app.user("membership_manager", None).await);
    staff
        .post(
            &format!("/api/v1/members/{id}/points/adjust"),
            json!({ "amount": 300, "reason": "seed", "key": "seed" }),
        )
        .await;
    // 400 available; 20 spends of 30 race: exactly 13 succeed.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let staff = staff.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            staff
                .post(
                    &format!("/api/v1/members/{id}/points/spend"),
                    json!({ "amount": 30, "key": format!("race-{i}"), "purpose": "till" }),
                )
                .await
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 13);
    let detail: Value = staff
        .get(&format!("/api/v1/members/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["points"]["available"], 10);
}

#[tokio::test]
async fn the_member_code_identifies_the_member_at_the_till() {
    let (app, _db) = TestApp::spawn().await;
    let (customer, joined) = join(&app, "13652418890").await;
    let code: Value = customer
        .get("/api/v1/me/member-code")
        .await
        .json()
        .await
        .unwrap();
    let staff = app.user("membership_manager", None).await;
    let found: Value = staff
        .post("/api/v1/members/scan", json!({ "code": code["code"] }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["id"], joined["member"]["id"]);
    let forged = code["code"].as_str().unwrap().replace(
        joined["member"]["member_no"].as_str().unwrap(),
        "AUR0000000001",
    );
    assert_eq!(
        error_code(
            staff
                .post("/api/v1/members/scan", json!({ "code": forged }))
                .await,
            400
        )
        .await,
        "invalid_member_code"
    );
    let by_phone: Value = staff
        .get("/api/v1/members?q=13652418890")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_phone[0]["id"], joined["member"]["id"]);
}

#[tokio::test]
async fn the_retention_review_moves_a_member_down_one_tier() {
    let (app, _db) = TestApp::spawn().await;
    let (_customer, joined) = join(&app, "13652418890").await;
    let id = joined["member"]["id"].as_str().unwrap().to_owned();
    let (_c2, j2) = join(&app, "13652418891").await;
    let keeper = j2["member"]["id"].as_str().unwrap().to_owned();
    let db = app.db();
    let long_ago = clock::now() - 400 * DAY;
    // Both become gold a year ago in one transaction, the second having earned
    // enough this period to keep it, so that the server's own daily review
    // (which may run at any moment) sees either none of this or all of it.
    let mut tx = db.begin().await.unwrap();
    for member in [&id, &keeper] {
        sqlx::query("UPDATE members SET tier = 'gold', tier_since = $1 WHERE id = $2")
            .bind(long_ago)
            .bind(member)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    cove_core::membership::tiers::add_growth(
        &mut tx,
        db.backend(),
        &keeper,
        6000,
        "test",
        "g1",
        clock::now() - DAY,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // The server's review may run concurrently: a member is still reviewed once.
    let mut tx = db.begin().await.unwrap();
    cove_core::membership::tiers::review(&mut tx, db.backend(), clock::now(), 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tier: String = sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
        .bind(&id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(tier, "silver");
    let kept: String = sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
        .bind(&keeper)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(kept, "gold");
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM raw_events WHERE event = 'tier.changed'"
        )
        .await,
        1
    );
    // Reviewed members are not reviewed again within the period.
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        cove_core::membership::tiers::review(&mut tx, db.backend(), clock::now(), 100)
            .await
            .unwrap(),
        0
    );
    tx.commit().await.unwrap();
}
