//! Factory import: validated rows, idempotent re-import, all-or-nothing by
//! default, partial on request, conflicts reported per row.

use crate::common::{count, TestApp};
use crate::fixtures::{catalog, date, row, DESKTOP, LAPTOP};
use cove_core::clock::{self, DAY};
use cove_core::service::import::{import, ImportRow};

/// Everything the registry stores, in a stable order.
async fn dump(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'd|' || service_tag || '|' || product_id || '|' || COALESCE(serial, '') || '|' || shipped_at \
         || '|' || warranty_ends_at || '|' || sales_channel || '|' || region || '|' || imported_at FROM devices \
         UNION ALL SELECT 'e|' || id || '|' || service_tag || '|' || kind || '|' || service_level || '|' \
         || starts_at || '|' || ends_at || '|' || origin || '|' || reference FROM device_entitlements \
         ORDER BY 1",
    )
    .fetch_all(app.db().pool())
    .await
    .unwrap()
}

fn numbered(rows: Vec<ImportRow>) -> Vec<(usize, ImportRow)> {
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| (i + 1, r))
        .collect()
}

#[tokio::test]
async fn import_registers_devices_with_their_factory_warranty_and_again_changes_nothing() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let shipped = date(clock::now() - 10 * DAY);
    let rows = vec![
        row("AB12CD3", LAPTOP, &shipped),
        row("ab12cd4", LAPTOP, &shipped),
        row("XY98ZW1", DESKTOP, &shipped),
    ];
    let report = import(app.db(), numbered(rows.clone()), false)
        .await
        .unwrap();
    assert!(report.committed);
    assert_eq!(
        (
            report.rows,
            report.inserted,
            report.unchanged,
            report.rejected
        ),
        (3, 3, 0, 0)
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM devices WHERE service_tag = 'AB12CD4'"
        )
        .await,
        1,
        "tags are stored upper-cased"
    );
    // The laptop's warranty runs from the ship date; the desktop's waits for activation.
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM device_entitlements WHERE kind = 'base' AND origin = 'shipped' AND service_level = 'CI'").await,
        2
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM device_entitlements WHERE service_tag = 'XY98ZW1'"
        )
        .await,
        0
    );
    let twelve_months: i64 = sqlx::query_scalar(
        "SELECT ends_at - starts_at FROM device_entitlements WHERE service_tag = 'AB12CD3'",
    )
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert!((365 * DAY..=366 * DAY).contains(&twelve_months));

    let before = dump(&app).await;
    let again = import(app.db(), numbered(rows), false).await.unwrap();
    assert!(again.committed);
    assert_eq!((again.inserted, again.unchanged, again.rejected), (0, 3, 0));
    assert_eq!(dump(&app).await, before, "a re-import changes nothing");
}

#[tokio::test]
async fn bad_rows_reject_the_whole_import_unless_partial_is_asked() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let today = date(clock::now());
    let tomorrow_plus = date(clock::now() + 5 * DAY);
    let mut dup_serial = row("DUPE002", LAPTOP, &today);
    dup_serial.serial = "SN-GOOD001".into();
    let mut bad_region = row("REGION1", LAPTOP, &today);
    bad_region.region = "China".into();
    let mut bad_channel = row("CHANNEL", LAPTOP, &today);
    bad_channel.sales_channel = "street".into();
    let rows = vec![
        row("GOOD001", LAPTOP, &today),
        row("BAD-TAG", LAPTOP, &today),
        row("MODEL01", "TOASTER", &today),
        row("DATE001", LAPTOP, "2026-13-01"),
        row("FUTURE1", LAPTOP, &tomorrow_plus),
        dup_serial,
        bad_region,
        bad_channel,
        row("GOOD002", DESKTOP, &today),
    ];
    let report = import(app.db(), numbered(rows.clone()), false)
        .await
        .unwrap();
    assert!(!report.committed);
    assert_eq!(report.rejected, 7);
    let codes: Vec<(usize, &str)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (2, "invalid_service_tag"),
            (3, "unknown_model"),
            (4, "invalid_date"),
            (5, "invalid_ship_date"),
            (6, "duplicate_in_file"),
            (7, "invalid_region"),
            (8, "invalid_sales_channel"),
        ]
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM devices").await,
        0,
        "nothing lands"
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM device_entitlements").await,
        0
    );

    let partial = import(app.db(), numbered(rows), true).await.unwrap();
    assert!(partial.committed);
    assert_eq!((partial.inserted, partial.rejected), (2, 7));
    let tags: Vec<String> =
        sqlx::query_scalar("SELECT service_tag FROM devices ORDER BY service_tag")
            .fetch_all(app.db().pool())
            .await
            .unwrap();
    assert_eq!(tags, ["GOOD001", "GOOD002"]);
}

#[tokio::test]
async fn rows_that_contradict_the_registry_are_conflicts() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let day = date(clock::now() - 3 * DAY);
    import(
        app.db(),
        numbered(vec![
            row("FIRST01", LAPTOP, &day),
            row("FIRST02", LAPTOP, &day),
        ]),
        false,
    )
    .await
    .unwrap();
    let before = dump(&app).await;

    let mut moved_serial = row("SECOND1", LAPTOP, &day);
    moved_serial.serial = "SN-FIRST02".into();
    let mut changed = row("FIRST01", LAPTOP, &day);
    changed.region = "US".into();
    let rows = vec![row("NEWONE1", LAPTOP, &day), changed, moved_serial];
    let report = import(app.db(), numbered(rows.clone()), false)
        .await
        .unwrap();
    assert!(!report.committed);
    let codes: Vec<(usize, &str)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![(2, "service_tag_conflict"), (3, "serial_conflict")]
    );
    assert_eq!(
        dump(&app).await,
        before,
        "a rejected import changes nothing"
    );

    let partial = import(app.db(), numbered(rows), true).await.unwrap();
    assert_eq!((partial.inserted, partial.rejected), (1, 2));
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM devices").await, 3);
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM devices WHERE service_tag = 'FIRST01' AND region = 'CN'"
        )
        .await,
        1,
        "the registered device is untouched"
    );
}
