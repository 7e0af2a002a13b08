//! Warranty: status by policy, online activation (in and after the window),
//! idempotent grants that stack, international registration.

use crate::common::TestApp;
use crate::fixtures::{catalog, device, events, member, read_count, DESKTOP, LAPTOP};
use crate::ownership::bind_by_qr;
use cove_core::clock::{self, DAY};
use cove_core::service::entitlements::add_months;
use cove_core::service::warranty::{
    activate, grant_entitlement, lookup, register_international, Status,
};
use cove_core::service::{Kind, Origin, ServiceTag};

#[tokio::test]
async fn ship_date_policies_cover_from_shipping_and_expire() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let fresh = device(&app, "SHIP001", LAPTOP, 20).await;
    let old = device(&app, "SHIP002", LAPTOP, 400).await;
    let mut conn = app.db().pool().acquire().await.unwrap();
    let now = clock::now();
    let w = lookup(&mut conn, &fresh, now).await.unwrap();
    assert_eq!(w.status, Status::InWarranty);
    assert!(
        (340..=346).contains(&w.days_remaining),
        "{}",
        w.days_remaining
    );
    assert_eq!(
        w.ends_at,
        Some(add_months(w.device.shipped_at, 12).unwrap())
    );
    let w = lookup(&mut conn, &old, now).await.unwrap();
    assert_eq!((w.status, w.days_remaining), (Status::Expired, 0));
    let err = lookup(&mut conn, &ServiceTag::parse("NOPE000").unwrap(), now)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "device_not_found");

    // International registration needs an active warranty and the owner.
    // (SQLite has one write connection: give it back before binding.)
    drop(conn);
    let alice = member(&app, "Alice").await;
    bind_by_qr(&app, &old, &alice).await.unwrap();
    let mut conn = app.db().pool().acquire().await.unwrap();
    let err = register_international(&mut conn, &old, &alice, now)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "warranty_not_active");
    let err = register_international(&mut conn, &fresh, &alice, now)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_device_owner");
}

#[tokio::test]
async fn activation_starts_the_warranty_on_the_day_or_at_the_windows_end() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let early = device(&app, "ACTV001", DESKTOP, 10).await;
    let late = device(&app, "ACTV002", DESKTOP, 100).await;
    let alice = member(&app, "Alice").await;
    let bob = member(&app, "Bob").await;
    let mut conn = app.db().pool().acquire().await.unwrap();
    let now = clock::now();

    let w = lookup(&mut conn, &early, now).await.unwrap();
    assert_eq!(w.status, Status::NotActivated);
    assert_eq!(w.activation_due_by, Some(w.device.shipped_at + 30 * DAY));
    assert_eq!(
        activate(&mut conn, &early, &alice, now)
            .await
            .unwrap_err()
            .code(),
        "not_device_owner"
    );
    drop(conn);
    bind_by_qr(&app, &early, &alice).await.unwrap();
    bind_by_qr(&app, &late, &bob).await.unwrap();
    let mut conn = app.db().pool().acquire().await.unwrap();
    let w = activate(&mut conn, &early, &alice, now).await.unwrap();
    assert_eq!(w.status, Status::InWarranty);
    let base: Vec<_> = w
        .entitlements
        .iter()
        .filter(|e| e.kind == Kind::Base)
        .collect();
    assert_eq!(base.len(), 1);
    assert_eq!(
        (base[0].starts_at, base[0].service_level.as_str()),
        (now, "NBD")
    );
    assert_eq!(base[0].ends_at, add_months(now, 24).unwrap());
    assert_eq!(
        w.device.warranty_ends_at, base[0].ends_at,
        "the device row shows the cover's end"
    );
    // Activating again changes nothing.
    let again = activate(&mut conn, &early, &alice, now + DAY)
        .await
        .unwrap();
    assert_eq!(again.entitlements.len(), 1);
    assert_eq!(again.device.activated_at, Some(now));
    assert_eq!(
        events(&app, "warranty.activated", &alice.profile_id).await,
        1
    );

    // Late: the warranty starts at the window's end, not on the activation day.
    let w = activate(&mut conn, &late, &bob, now).await.unwrap();
    let base = w
        .entitlements
        .iter()
        .find(|e| e.kind == Kind::Base)
        .unwrap();
    assert_eq!(base.starts_at, w.device.shipped_at + 30 * DAY);
}

#[tokio::test]
async fn granted_entitlements_stack_and_are_idempotent_on_their_reference() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let tag = device(&app, "GRANT01", LAPTOP, 30).await;
    let mut conn = app.db().pool().acquire().await.unwrap();
    let base_end = lookup(&mut conn, &tag, clock::now())
        .await
        .unwrap()
        .ends_at
        .unwrap();

    let bought = grant_entitlement(
        &mut conn,
        &tag,
        Kind::Extended,
        12,
        Origin::Purchased,
        "order-1",
    )
    .await
    .unwrap();
    assert_eq!(
        bought.starts_at, base_end,
        "an extension continues the warranty"
    );
    assert_eq!(bought.ends_at, add_months(base_end, 12).unwrap());
    assert_eq!(
        bought.service_level, "CI",
        "at the level of the cover it extends"
    );
    let replay = grant_entitlement(
        &mut conn,
        &tag,
        Kind::Extended,
        12,
        Origin::Purchased,
        "order-1",
    )
    .await
    .unwrap();
    assert_eq!(replay.id, bought.id);
    let benefit = grant_entitlement(
        &mut conn,
        &tag,
        Kind::Extended,
        6,
        Origin::MemberBenefit,
        "benefit-gold-2026",
    )
    .await
    .unwrap();
    assert_eq!(benefit.starts_at, bought.ends_at);
    assert_eq!(
        read_count(
            &app,
            "SELECT COUNT(*) FROM device_entitlements WHERE kind = 'extended'"
        )
        .await,
        2
    );
    let w = lookup(&mut conn, &tag, clock::now()).await.unwrap();
    assert_eq!(w.ends_at, Some(benefit.ends_at));
    assert_eq!(w.device.warranty_ends_at, benefit.ends_at);

    let adp = grant_entitlement(
        &mut conn,
        &tag,
        Kind::AccidentalDamage,
        12,
        Origin::PointsRedemption,
        "redeem-9",
    )
    .await
    .unwrap();
    assert_eq!(adp.service_level, "ADP");
    assert!(adp.active);

    for (kind, months, origin, reference, code) in [
        (
            Kind::Extended,
            0,
            Origin::Purchased,
            "order-2",
            "invalid_months",
        ),
        (
            Kind::Extended,
            121,
            Origin::Purchased,
            "order-2",
            "invalid_months",
        ),
        (
            Kind::Base,
            12,
            Origin::Purchased,
            "order-2",
            "base_not_grantable",
        ),
        (
            Kind::Extended,
            12,
            Origin::Shipped,
            "order-2",
            "base_not_grantable",
        ),
        (
            Kind::Extended,
            12,
            Origin::Purchased,
            "  ",
            "invalid_reference",
        ),
    ] {
        let err = grant_entitlement(&mut conn, &tag, kind, months, origin, reference)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code);
    }
    let unknown = ServiceTag::parse("NOPE000").unwrap();
    let err = grant_entitlement(
        &mut conn,
        &unknown,
        Kind::Extended,
        12,
        Origin::Purchased,
        "order-3",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "device_not_found");
    assert_eq!(
        read_count(&app, "SELECT COUNT(*) FROM device_entitlements").await,
        4
    );
}
