//! A small catalog, members with profiles, and registered devices.

use crate::common::TestApp;
use cove_core::audience::domain::profile_for;
use cove_core::audience::{IdType, Identifier};
use cove_core::clock::{self, Micros, DAY};
use cove_core::db::new_id;
use cove_core::service::import::{self, ImportRow};
use cove_core::service::{Owner, ServiceTag};

pub const LAPTOP: &str = "AURORA-14";
pub const DESKTOP: &str = "AURORA-TOWER";

/// Two device models: the laptop's warranty starts at shipping (default
/// policy), the desktop's at activation within 30 days (24 months, NBD).
pub async fn catalog(app: &TestApp) {
    let pool = app.db().pool();
    let category = new_id();
    sqlx::query("INSERT INTO categories (id, code, name_zh, name_en) VALUES ($1, 'pc', '电脑', 'Computers')")
        .bind(&category)
        .execute(pool)
        .await
        .unwrap();
    for (code, zh, en) in [
        (LAPTOP, "极光 14", "Aurora 14"),
        (DESKTOP, "极光塔式机", "Aurora Tower"),
    ] {
        sqlx::query(
            "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'device', 699900, 'active', 0)",
        )
        .bind(new_id())
        .bind(code)
        .bind(&category)
        .bind(zh)
        .bind(en)
        .execute(pool)
        .await
        .unwrap();
    }
    let desktop = product_id(app, DESKTOP).await;
    let mut conn = pool.acquire().await.unwrap();
    cove_core::service::policy::set(
        &mut conn,
        &desktop,
        cove_core::service::policy::Policy {
            base_months: 24,
            service_level: "NBD".into(),
            start_from: cove_core::service::policy::StartFrom::Activation,
            activation_window_days: 30,
        },
        clock::now(),
    )
    .await
    .unwrap();
}

pub async fn product_id(app: &TestApp, code: &str) -> String {
    sqlx::query_scalar("SELECT id FROM products WHERE code = $1")
        .bind(code)
        .fetch_one(app.db().pool())
        .await
        .unwrap()
}

/// A member who is also a profile in the identity graph.
pub async fn member(app: &TestApp, name: &str) -> Owner {
    let db = app.db();
    let mut tx = db.begin().await.unwrap();
    let member_id = new_id();
    let profile_id = profile_for(
        &mut tx,
        db.backend(),
        &[Identifier::new(IdType::UserId, &member_id).unwrap()],
        &format!("test:{member_id}"),
        clock::now(),
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO members (id, member_no, name, city, tier, joined_channel, joined_at, profile_id) \
         VALUES ($1, $2, $3, '上海', 'silver', 'mini_program', 0, $4)",
    )
    .bind(&member_id)
    .bind(format!("M{}", &member_id[24..]))
    .bind(name)
    .bind(&profile_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Owner {
        member_id,
        profile_id,
    }
}

pub fn row(tag: &str, model: &str, shipped_on: &str) -> ImportRow {
    ImportRow {
        service_tag: tag.into(),
        model: model.into(),
        serial: format!("SN-{tag}"),
        shipped_on: shipped_on.into(),
        sales_channel: "direct".into(),
        region: "CN".into(),
    }
}

pub fn date(micros: Micros) -> String {
    clock::to_datetime(micros).format("%Y-%m-%d").to_string()
}

/// Registers one device shipped `days_ago` days ago.
pub async fn device(app: &TestApp, tag: &str, model: &str, days_ago: i64) -> ServiceTag {
    let shipped = date(clock::now() - days_ago * DAY);
    let report = import::import(app.db(), vec![(1, row(tag, model, &shipped))], false)
        .await
        .unwrap();
    assert!(report.committed && report.inserted == 1, "{report:?}");
    ServiceTag::parse(tag).unwrap()
}

pub async fn events(app: &TestApp, name: &str, profile_id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM raw_events WHERE event = $1 AND profile_id = $2")
        .bind(name)
        .bind(profile_id)
        .fetch_one(app.db().read())
        .await
        .unwrap()
}

/// A count through the read pool (tests that hold SQLite's one write connection use this).
pub async fn read_count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.db().read())
        .await
        .unwrap()
}
