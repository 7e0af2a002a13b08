//! The customer's service center over HTTP: scan, bind, activate, register
//! international warranty, transfer.

use crate::common::{error_code, TestApp};
use crate::fixtures::{catalog, device, member, DESKTOP};
use crate::ownership::key;
use cove_core::audience::domain::profile_for;
use cove_core::audience::{IdType, Identifier};
use cove_core::clock;
use cove_core::service::qr::parse_scan;
use serde_json::{json, Value};

#[tokio::test]
async fn a_customer_scans_binds_activates_and_transfers_a_device() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let tag = device(&app, "SCAN001", DESKTOP, 5).await;
    let alice = member(&app, "Alice").await;
    let bob = member(&app, "Bob").await;
    let alice_app = app.customer(&alice.profile_id).await;
    let bob_app = app.customer(&bob.profile_id).await;

    // The code on the device carries the signature the bind needs.
    let url = key(&app).await.device_url(&app.base, &tag);
    let signature = parse_scan(&url).unwrap().signature.unwrap();
    let forged = alice_app
        .post(
            "/api/v1/store/devices/SCAN001/bind",
            json!({ "proof": { "kind": "qr_signature", "signature": "AAAAAAAAAAA" } }),
        )
        .await;
    assert_eq!(error_code(forged, 400).await, "invalid_signature");
    let bound = alice_app
        .post("/api/v1/store/devices/scan001/bind", json!({ "proof": { "kind": "qr_signature", "signature": signature }, "bound_via": "qr_manual" }))
        .await;
    assert_eq!(bound.status(), 200);
    let taken = bob_app
        .post(
            "/api/v1/store/devices/SCAN001/bind",
            json!({ "proof": { "kind": "qr_signature", "signature": signature } }),
        )
        .await;
    assert_eq!(error_code(taken, 409).await, "device_already_bound");

    let mine: Value = alice_app
        .get("/api/v1/store/devices")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["service_tag"], "SCAN001");
    let seen_by_bob: Value = bob_app
        .get("/api/v1/store/devices/SCAN001")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            seen_by_bob["bound"].as_bool(),
            seen_by_bob["mine"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert!(
        seen_by_bob["warranty"]["device"]["member_id"].is_null(),
        "the owner is not disclosed"
    );
    assert_eq!(seen_by_bob["warranty"]["status"], "not_activated");

    assert_eq!(
        error_code(
            bob_app
                .post("/api/v1/store/devices/SCAN001/activate", json!({}))
                .await,
            409
        )
        .await,
        "not_device_owner"
    );
    let activated: Value = alice_app
        .post("/api/v1/store/devices/SCAN001/activate", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            activated["warranty"]["status"].as_str(),
            activated["mine"].as_bool()
        ),
        (Some("in_warranty"), Some(true))
    );
    let intl: Value = alice_app
        .post("/api/v1/store/devices/SCAN001/international", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(intl["warranty"]["international"], true);

    let bob_no: String = sqlx::query_scalar("SELECT member_no FROM members WHERE id = $1")
        .bind(&bob.member_id)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    let nobody = alice_app
        .post(
            "/api/v1/store/devices/SCAN001/transfer",
            json!({ "to_member_no": "M-NOPE" }),
        )
        .await;
    assert_eq!(error_code(nobody, 404).await, "member_not_found");
    let moved = alice_app
        .post(
            "/api/v1/store/devices/SCAN001/transfer",
            json!({ "to_member_no": bob_no, "to_region": "SG" }),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let bobs: Value = bob_app
        .get("/api/v1/store/devices")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (bobs[0]["service_tag"].as_str(), bobs[0]["region"].as_str()),
        (Some("SCAN001"), Some("SG"))
    );
    assert_eq!(
        bob_app
            .post("/api/v1/store/devices/SCAN001/unbind", json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(
        error_code(
            bob_app
                .post("/api/v1/store/devices/SCAN001/unbind", json!({}))
                .await,
            409
        )
        .await,
        "not_device_owner"
    );

    // A visitor who has not joined cannot bind.
    let mut tx = app.db().begin().await.unwrap();
    let visitor = profile_for(
        &mut tx,
        app.db().backend(),
        &[Identifier::new(IdType::UserId, "visitor-1").unwrap()],
        "test:visitor",
        clock::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let visitor_app = app.customer(&visitor).await;
    let refused = visitor_app
        .post(
            "/api/v1/store/devices/SCAN001/bind",
            json!({ "proof": { "kind": "qr_signature", "signature": signature } }),
        )
        .await;
    assert_eq!(error_code(refused, 403).await, "not_a_member");
    assert_eq!(
        error_code(
            app.client
                .get(app.url("/api/v1/store/devices"))
                .send()
                .await
                .unwrap(),
            401
        )
        .await,
        "unauthenticated"
    );
}
