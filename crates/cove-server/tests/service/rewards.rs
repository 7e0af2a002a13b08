//! Service and membership together: binding and activation earn points once,
//! and points or a tier benefit extend the warranty of the member's device.

use crate::common::TestApp;
use crate::fixtures::{catalog, device, member, read_count, DESKTOP, LAPTOP};
use crate::ownership::bind_by_qr;
use cove_core::clock::{self, DAY};
use cove_core::membership::{benefits, mall, points};
use cove_core::service::warranty::activate;

async fn lots(app: &TestApp, member_id: &str, source: &str) -> (i64, i64) {
    let n = read_count(app, &format!("SELECT COUNT(*) FROM points_lots WHERE member_id = '{member_id}' AND source = '{source}'")).await;
    let sum = read_count(app, &format!("SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_lots WHERE member_id = '{member_id}' AND source = '{source}'")).await;
    (n, sum)
}

#[tokio::test]
async fn binding_and_activation_earn_points_once() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let alice = member(&app, "Alice").await;
    let tag = device(&app, "BIND001", DESKTOP, 5).await;
    bind_by_qr(&app, &tag, &alice).await.unwrap();
    bind_by_qr(&app, &tag, &alice).await.unwrap();
    // Silver members earn 110% of the binding's 200 points.
    assert_eq!(
        lots(&app, &alice.member_id, "action:device_binding").await,
        (1, 220)
    );
    let growth = read_count(&app, &format!("SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM growth_ledger WHERE member_id = '{}'", alice.member_id)).await;
    assert_eq!(growth, 20);
    let mut tx = app.db().begin().await.unwrap();
    activate(&mut tx, &tag, &alice, clock::now()).await.unwrap();
    activate(&mut tx, &tag, &alice, clock::now() + DAY)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        lots(&app, &alice.member_id, "action:warranty_activation").await,
        (1, 110)
    );
}

#[tokio::test]
async fn points_and_the_tier_benefit_extend_the_members_own_device() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let alice = member(&app, "Alice").await;
    let bob = member(&app, "Bob").await;
    let tag = device(&app, "EXTN001", LAPTOP, 30).await;
    let other = device(&app, "EXTN002", LAPTOP, 30).await;
    bind_by_qr(&app, &tag, &alice).await.unwrap();
    bind_by_qr(&app, &other, &bob).await.unwrap();
    let db = app.db();
    let now = clock::now();
    let mut tx = db.begin().await.unwrap();
    let award = points::Award {
        member_id: &alice.member_id,
        amount: 10_000,
        source: "test",
        key: "seed",
        reference: None,
        reason: None,
        unlock_at: now,
        expires_at: now + 400 * DAY,
        at: now,
    };
    points::award(&mut tx, db.backend(), &award).await.unwrap();
    let item = mall::create_item(
        &mut tx,
        &mall::NewItem {
            kind: "warranty_extension".into(),
            name_zh: "延保".into(),
            name_en: "Extension".into(),
            points: 6000,
            stock: Some(10),
            per_member_limit: None,
            min_tier_rank: 0,
            value: "12".into(),
            starts_at: None,
            ends_at: None,
        },
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let before = read_count(
        &app,
        "SELECT warranty_ends_at FROM devices WHERE service_tag = 'EXTN001'",
    )
    .await;

    // Someone else's device: refused, and nothing is spent or taken from stock.
    let mut tx = db.begin().await.unwrap();
    let err = mall::redeem(
        &mut tx,
        db.backend(),
        &alice.member_id,
        &item.id,
        "r0",
        Some("EXTN002"),
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "not_device_owner");
    tx.rollback().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let r = mall::redeem(
        &mut tx,
        db.backend(),
        &alice.member_id,
        &item.id,
        "r1",
        Some("EXTN001"),
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(r.status, "applied");
    let after = read_count(
        &app,
        "SELECT warranty_ends_at FROM devices WHERE service_tag = 'EXTN001'",
    )
    .await;
    assert!(after > before + 360 * DAY, "twelve more months of cover");
    assert_eq!(read_count(&app, "SELECT COUNT(*) FROM device_entitlements WHERE service_tag = 'EXTN001' AND origin = 'points_redemption'").await, 1);
    assert_eq!(read_count(&app, "SELECT stock FROM mall_items").await, 9);

    // A diamond member's yearly free extension, used on their device, once.
    sqlx::query("UPDATE members SET tier = 'diamond' WHERE id = $1")
        .bind(&alice.member_id)
        .execute(db.pool())
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    let grants = benefits::issue_tier_benefits(&mut tx, db.backend(), &alice.member_id, now)
        .await
        .unwrap();
    benefits::use_grant(
        &mut tx,
        db.backend(),
        &alice.member_id,
        &grants[0].id,
        "EXTN001",
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read_count(&app, "SELECT COUNT(*) FROM device_entitlements WHERE service_tag = 'EXTN001' AND origin = 'member_benefit'").await, 1);
    let mut tx = db.begin().await.unwrap();
    let again = benefits::use_grant(
        &mut tx,
        db.backend(),
        &alice.member_id,
        &grants[0].id,
        "EXTN002",
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(again.code(), "benefit_used");
}
