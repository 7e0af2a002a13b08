//! Mini Program sign-in and phone number, against the WeChat stand-in.

use crate::common::{count, TestApp};
use crate::outbox::{account, app_with_standin};
use cove_core::channels::mini_program::{self, Entry};
use serde_json::{json, Value};

fn api(app: &TestApp) -> cove_core::channels::WechatApi {
    app.server.as_ref().unwrap().state.wechat.clone()
}

#[tokio::test]
async fn a_login_makes_one_profile_and_records_the_attributed_entry() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_live", false).await;
    let oa = account(&admin, "official_account", "wx_oa_live", true).await;
    let store_id = cove_core::db::new_id();
    sqlx::query("INSERT INTO stores (id, code, name, kind, city, created_at) VALUES ($1, 'BJ-02', '北京店', 'store', '北京', 0)")
        .bind(&store_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let scene: Value = admin
        .post("/api/v1/channels/qr-scenes", json!({ "account_id": oa, "kind": "store", "name": "北京店柜台", "store_id": store_id }))
        .await
        .json()
        .await
        .unwrap();
    let scene = scene["scene"].as_str().unwrap();
    let entry = Entry {
        scene: Some(1047),
        path: Some("pages/index/index".into()),
        query: Some(
            json!({ "scene": scene, "utm": "counter" })
                .as_object()
                .unwrap()
                .clone(),
        ),
    };
    let login = mini_program::login(&api(&app), &mp, "code-oMP1-uUNION1", &entry)
        .await
        .unwrap();
    assert_eq!(login.open_id, "oMP1");
    assert_eq!(login.union_id.as_deref(), Some("uUNION1"));
    assert_eq!(login.attribution["store_id"], store_id.as_str());
    let held: Vec<(String, String)> =
        sqlx::query_as("SELECT type, profile_id FROM identities ORDER BY type")
            .fetch_all(app.db().pool())
            .await
            .unwrap();
    assert_eq!(
        held,
        vec![
            ("openid:wx_mp_live".to_owned(), login.profile_id.clone()),
            ("unionid".to_owned(), login.profile_id.clone())
        ]
    );
    let props: String = sqlx::query_scalar(
        "SELECT properties FROM raw_events WHERE event = 'mp.opened' AND profile_id = $1",
    )
    .bind(&login.profile_id)
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    let props: Value = serde_json::from_str(&props).unwrap();
    assert_eq!(props["wechat_scene"], 1047);
    assert_eq!(props["store_id"], store_id.as_str());
    assert_eq!(props["query"]["utm"], "counter");
    assert_eq!(
        count(app.db(), "SELECT scans FROM qr_scenes").await,
        1,
        "the scan is counted"
    );

    // The same person again (a new code, same unionid): the same profile.
    let again = mini_program::login(&api(&app), &mp, "code-oMP1-uUNION1", &Entry::default())
        .await
        .unwrap();
    assert_eq!(again.profile_id, login.profile_id);

    // A bad code is refused and records nothing.
    let events = count(app.db(), "SELECT COUNT(*) FROM raw_events").await;
    let bad = mini_program::login(&api(&app), &mp, "expired", &Entry::default())
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "invalid_login_code");
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM raw_events").await,
        events
    );
    assert_eq!(stand.calls("jscode2session"), 3);
}

#[tokio::test]
async fn a_phone_already_held_by_another_registered_person_is_a_conflict_not_a_merge() {
    let (app, _db, _stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_live", false).await;
    let first = mini_program::login(&api(&app), &mp, "code-oA-uA", &Entry::default())
        .await
        .unwrap();
    let linked = mini_program::link_phone(
        &api(&app),
        &mp,
        &first.profile_id,
        "phone-13812345678-wx_mp_live",
    )
    .await
    .unwrap();
    assert_eq!(linked.phone_masked, "138****5678");
    assert!(!linked.conflict);
    let holder: String = sqlx::query_scalar(
        "SELECT profile_id FROM identities WHERE type = 'phone' AND value = '+8613812345678'",
    )
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(holder, first.profile_id);

    let second = mini_program::login(&api(&app), &mp, "code-oB-uB", &Entry::default())
        .await
        .unwrap();
    assert_ne!(second.profile_id, first.profile_id);
    let clash = mini_program::link_phone(
        &api(&app),
        &mp,
        &second.profile_id,
        "phone-13812345678-wx_mp_live",
    )
    .await
    .unwrap();
    assert!(clash.conflict);
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM profiles WHERE merged_into IS NOT NULL"
        )
        .await,
        0,
        "never merged silently"
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM identity_conflicts").await,
        1
    );
    let still: String = sqlx::query_scalar(
        "SELECT profile_id FROM identities WHERE type = 'phone' AND value = '+8613812345678'",
    )
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(still, first.profile_id);

    // Linking needs a Mini Program sign-in first.
    let stranger = mini_program::link_phone(
        &api(&app),
        &mp,
        &cove_core::db::new_id(),
        "phone-13912340000-wx_mp_live",
    )
    .await
    .unwrap_err();
    assert_eq!(stranger.code(), "not_signed_in_with_mini_program");
}
