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

#[tokio::test]
async fn the_storefront_signs_in_links_a_phone_and_reports_consent_over_http() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_live", false).await;
    let http = reqwest::Client::new();
    let login = http
        .post(app.url("/api/v1/store/mp/login"))
        .json(&json!({ "code": "code-oHTTP-uHTTP", "scene": 1011, "path": "pages/index/index", "query": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    assert_eq!(login["open_id"], "oHTTP");
    assert!(
        !login.to_string().contains("tiihtNczf5v6AKRyjwEUhQ=="),
        "the session key stays on the server"
    );

    let phone = http
        .post(app.url("/api/v1/store/mp/phone"))
        .bearer_auth(&token)
        .json(&json!({ "code": "phone-13912345670-wx_mp_live" }))
        .send()
        .await
        .unwrap();
    assert_eq!(phone.status(), 200);
    let phone: Value = phone.json().await.unwrap();
    assert_eq!(phone["phone_masked"], "139****5670");
    assert_eq!(phone["profile_id"], login["profile_id"]);
    let anonymous = http
        .post(app.url("/api/v1/store/mp/phone"))
        .json(&json!({ "code": "phone-13912345670-wx_mp_live" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let report = json!({ "report_key": "rq-1", "results": { "TPL_APPOINTMENT": "accept", "TPL_OTHER": "reject" } });
    for expected in [true, false] {
        let r: Value = http
            .post(app.url("/api/v1/store/mp/subscriptions"))
            .bearer_auth(&token)
            .json(&report)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["recorded"], expected, "a replayed report changes nothing");
    }
    let grants: Value = admin
        .get("/api/v1/channels/subscriptions?open_id=oHTTP")
        .await
        .json()
        .await
        .unwrap();
    let accepted = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["template_id"] == "TPL_APPOINTMENT")
        .unwrap();
    assert_eq!(accepted["remaining"], 1);
    assert_eq!(accepted["profile_id"], login["profile_id"]);
    let queued = admin
        .post(
            "/api/v1/channels/messages",
            json!({ "account_id": mp, "kind": "subscribe", "recipient": "oHTTP", "template_id": "TPL_APPOINTMENT",
                    "profile_id": login["profile_id"], "payload": { "data": { "thing1": "预约成功" } },
                    "client_msg_id": "appointment.booked:HTTP-1" }),
        )
        .await;
    let queued: Value = queued.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    assert!(
        crate::common::eventually(20, || async { stand.delivered("subscribe").len() == 1 }).await
    );
}

#[tokio::test]
async fn a_follower_of_the_live_official_account_is_the_person_known_from_the_mini_program() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_live", false).await;
    let oa = account(&admin, "official_account", "wx_oa_union", false).await;
    let login = mini_program::login(&api(&app), &mp, "code-oMpShared-uShared", &Entry::default())
        .await
        .unwrap();
    // The follow arrives encrypted (safe mode), as WeChat sends it.
    let crypt =
        cove_wechat::msgcrypt::MsgCrypt::new(crate::TOKEN, crate::AES_KEY, "wx_oa_union").unwrap();
    let follow = "<xml><ToUserName><![CDATA[gh_union]]></ToUserName><FromUserName><![CDATA[oShared]]></FromUserName>\
        <CreateTime>1796300000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>";
    let encrypt = crypt.encrypt(follow).unwrap();
    let (timestamp, nonce) = ("1796300000", "n0nce9");
    let msg_signature = crypt.msg_signature(timestamp, nonce, &encrypt);
    let signature = cove_wechat::msgcrypt::sorted_sha1(&[crate::TOKEN, timestamp, nonce]);
    let r = reqwest::Client::new()
        .post(app.url(&format!(
            "/wechat/oa/{oa}?signature={signature}&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_signature}"
        )))
        .body(format!("<xml><ToUserName><![CDATA[gh_union]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        crate::common::eventually(20, || async {
            count(
                app.db(),
                "SELECT COUNT(*) FROM followers WHERE profile_id IS NOT NULL",
            )
            .await
                == 1
        })
        .await
    );
    let follower: String =
        sqlx::query_scalar("SELECT profile_id FROM followers WHERE open_id = 'oShared'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(
        follower, login.profile_id,
        "one person across the Mini Program and the account"
    );
    assert_eq!(stand.calls("user_info"), 1);
}
