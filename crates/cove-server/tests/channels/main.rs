//! WeChat Official Account callbacks through Cove, with messages encrypted
//! exactly as WeChat does (the protocol crate's own crypto is checked against
//! independent implementations in cove-wechat's tests).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod consent_events;
mod mini_program;
mod outbox;
mod pages;
mod standin;
mod wecom;
mod wecom_service;

use common::{count, error_code, eventually, Session, TestApp};
use cove_wechat::msgcrypt::{sorted_sha1, MsgCrypt};
use serde_json::json;

const APP_ID: &str = "wx5823bf96d3bd56c7";
const TOKEN: &str = "CoveToken2026";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

struct Oa {
    id: String,
    crypt: MsgCrypt,
}

async fn setup(app: &TestApp, admin: &Session) -> (Oa, String, String) {
    let created = admin
        .post(
            "/api/v1/channels/accounts",
            json!({ "kind": "official_account", "name": "极光电脑服务号", "app_id": APP_ID, "token": TOKEN, "encoding_aes_key": AES_KEY, "secret": "app-secret-xyz", "sandbox": true }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let account: serde_json::Value = created.json().await.unwrap();
    assert_eq!(account["safe_mode"], true);
    assert!(
        !account.to_string().contains(TOKEN) && !account.to_string().contains("app-secret-xyz")
    );
    let id = account["id"].as_str().unwrap().to_owned();
    let store_id = cove_core::db::new_id();
    sqlx::query("INSERT INTO stores (id, code, name, kind, city, created_at) VALUES ($1, 'SH-01', '上海店', 'store', '上海', 0)")
        .bind(&store_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let scene = admin
        .post("/api/v1/channels/qr-scenes", json!({ "account_id": id, "kind": "store", "name": "上海店桌牌", "store_id": store_id }))
        .await;
    assert_eq!(scene.status(), 201);
    let scene: serde_json::Value = scene.json().await.unwrap();
    let crypt = MsgCrypt::new(TOKEN, AES_KEY, APP_ID).unwrap();
    (
        Oa { id, crypt },
        store_id,
        scene["scene"].as_str().unwrap().to_owned(),
    )
}

fn event_xml(open_id: &str, create_time: i64, event: &str, key: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_aurora]]></ToUserName><FromUserName><![CDATA[{open_id}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>\
         <EventKey><![CDATA[{key}]]></EventKey></xml>"
    )
}

/// Posts `plain` the way WeChat does in safe mode; returns the response.
async fn deliver(app: &TestApp, oa: &Oa, plain: &str, forge: bool) -> reqwest::Response {
    let (timestamp, nonce) = ("1796300000", "n0nce42");
    let encrypt = oa.crypt.encrypt(plain).unwrap();
    let mut msg_signature = oa.crypt.msg_signature(timestamp, nonce, &encrypt);
    if forge {
        msg_signature = msg_signature.replace(&msg_signature[..2], "00");
    }
    let signature = sorted_sha1(&[TOKEN, timestamp, nonce]);
    let body = format!("<xml><ToUserName><![CDATA[gh_aurora]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    reqwest::Client::new()
        .post(app.url(&format!(
            "/wechat/oa/{}?signature={signature}&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_signature}&openid=o1",
            oa.id
        )))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_url_check_echoes_only_when_signed_with_the_token() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let (oa, _, _) = setup(&app, &admin).await;
    let signature = sorted_sha1(&[TOKEN, "1796300000", "abc"]);
    let ok = reqwest::get(app.url(&format!(
        "/wechat/oa/{}?signature={signature}&timestamp=1796300000&nonce=abc&echostr=hello123",
        oa.id
    )))
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "hello123");
    let forged = reqwest::get(app.url(&format!(
        "/wechat/oa/{}?signature=deadbeef&timestamp=1796300000&nonce=abc&echostr=hello123",
        oa.id
    )))
    .await
    .unwrap();
    assert_eq!(error_code(forged, 400).await, "invalid_signature");
    let unknown = reqwest::get(app.url(&format!(
        "/wechat/oa/nope?signature={signature}&timestamp=1796300000&nonce=abc&echostr=x"
    )))
    .await
    .unwrap();
    assert_eq!(error_code(unknown, 404).await, "channel_account_not_found");
}

#[tokio::test]
async fn a_store_qr_follow_delivered_three_times_makes_one_attributed_follower() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let (oa, store_id, scene) = setup(&app, &admin).await;
    let follow = event_xml(
        "o_fan_1",
        1796300000,
        "subscribe",
        &format!("qrscene_{scene}"),
    );
    for _ in 0..3 {
        let r = deliver(&app, &oa, &follow, false).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "success");
    }
    let processed = eventually(20, || async {
        count(
            app.db(),
            "SELECT COUNT(*) FROM wechat_inbound WHERE processed_at IS NOT NULL",
        )
        .await
            == 1
    })
    .await;
    assert!(processed);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM wechat_inbound").await,
        1,
        "retries are stored once"
    );
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM followers").await, 1);
    // The follower is a profile of the identity graph, and the follow one domain event.
    let profile: String = sqlx::query_scalar(
        "SELECT profile_id FROM identities WHERE type = 'openid:wx5823bf96d3bd56c7' AND value = 'o_fan_1'",
    )
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    let follower_profile: Option<String> =
        sqlx::query_scalar("SELECT profile_id FROM followers WHERE open_id = 'o_fan_1'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(follower_profile.as_deref(), Some(profile.as_str()));
    let (event_profile, props): (String, String) = sqlx::query_as(
        "SELECT profile_id, properties FROM raw_events WHERE source_id = 'cove' AND event = 'wechat.followed'",
    )
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(event_profile, profile);
    let props: serde_json::Value = serde_json::from_str(&props).unwrap();
    assert_eq!(props["store_id"], store_id.as_str());
    assert_eq!(props["scene"], scene.as_str());
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM raw_events WHERE event = 'wechat.followed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM events WHERE name = 'Service Account Followed'"
        )
        .await,
        1
    );
    let followers: serde_json::Value = admin
        .get(&format!("/api/v1/channels/followers?store_id={store_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(followers.as_array().unwrap().len(), 1);
    assert_eq!(followers[0]["open_id"], "o_fan_1");
    assert_eq!(followers[0]["scene"], scene.as_str());
    let store_of_event: Option<String> =
        sqlx::query_scalar("SELECT store_id FROM events WHERE name = 'Service Account Followed'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(store_of_event.as_deref(), Some(store_id.as_str()));
    let scenes: serde_json::Value = admin
        .get("/api/v1/channels/qr-scenes")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(scenes[0]["follows"], 1);
    assert_eq!(scenes[0]["scans"], 1);

    // Unfollow, then a return through a plain follow keeps the first attribution.
    deliver(
        &app,
        &oa,
        &event_xml("o_fan_1", 1796300100, "unsubscribe", ""),
        false,
    )
    .await;
    assert!(
        eventually(20, || async {
            count(
                app.db(),
                "SELECT COUNT(*) FROM followers WHERE unfollowed_at IS NOT NULL",
            )
            .await
                == 1
        })
        .await
    );
    deliver(
        &app,
        &oa,
        &event_xml("o_fan_1", 1796300200, "subscribe", ""),
        false,
    )
    .await;
    assert!(
        eventually(20, || async {
            count(
                app.db(),
                "SELECT COUNT(*) FROM followers WHERE unfollowed_at IS NULL",
            )
            .await
                == 1
        })
        .await
    );
    let still: Option<String> =
        sqlx::query_scalar("SELECT store_id FROM followers WHERE open_id = 'o_fan_1'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(
        still.as_deref(),
        Some(store_id.as_str()),
        "first touch is kept"
    );
    let timeline: Vec<(String, String)> = sqlx::query_as(
        "SELECT event, profile_id FROM raw_events WHERE source_id = 'cove' ORDER BY occurred_at",
    )
    .fetch_all(app.db().pool())
    .await
    .unwrap();
    let names: Vec<&str> = timeline.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        ["wechat.followed", "wechat.unfollowed", "wechat.followed"]
    );
    assert!(
        timeline.iter().all(|(_, p)| *p == profile),
        "one person, one profile"
    );
}

#[tokio::test]
async fn forged_malformed_or_unencrypted_callbacks_are_refused_and_change_nothing() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let (oa, _, scene) = setup(&app, &admin).await;
    let follow = event_xml(
        "o_fan_2",
        1796300000,
        "subscribe",
        &format!("qrscene_{scene}"),
    );
    assert_eq!(
        error_code(deliver(&app, &oa, &follow, true).await, 400).await,
        "invalid_signature"
    );
    let doctype = format!("<!DOCTYPE xml [<!ENTITY x \"y\">]>{follow}");
    assert_eq!(
        error_code(deliver(&app, &oa, &doctype, false).await, 400).await,
        "invalid_message"
    );
    assert_eq!(
        error_code(deliver(&app, &oa, "<xml><unclosed>", false).await, 400).await,
        "invalid_message"
    );
    let other = MsgCrypt::new(TOKEN, AES_KEY, "wx_other_app_0001").unwrap();
    let wrong_app = Oa {
        id: oa.id.clone(),
        crypt: other,
    };
    assert_eq!(
        error_code(deliver(&app, &wrong_app, &follow, false).await, 400).await,
        "invalid_message",
        "wrong receive id"
    );
    let signature = sorted_sha1(&[TOKEN, "1796300000", "n"]);
    let plain = reqwest::Client::new()
        .post(app.url(&format!(
            "/wechat/oa/{}?signature={signature}&timestamp=1796300000&nonce=n",
            oa.id
        )))
        .body(follow.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(plain, 400).await, "encryption_required");
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM wechat_inbound").await,
        0
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM jobs WHERE kind = 'wechat.oa.inbound'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn account_secrets_are_sealed_and_input_is_checked() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let (_oa, _, _) = setup(&app, &admin).await;
    let stored: (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT token_sealed, aes_key_sealed, secret_sealed FROM channel_accounts")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert!(!stored.0.contains(TOKEN) && stored.0.starts_with("v1:"));
    assert!(!stored.1.unwrap().contains(AES_KEY));
    assert!(!stored.2.unwrap().contains("app-secret-xyz"));
    let dup = admin
        .post(
            "/api/v1/channels/accounts",
            json!({ "kind": "official_account", "name": "x", "app_id": APP_ID, "token": TOKEN }),
        )
        .await;
    assert_eq!(error_code(dup, 409).await, "account_exists");
    let bad_key = admin.post("/api/v1/channels/accounts", json!({ "kind": "official_account", "name": "x", "app_id": "wx2", "token": TOKEN, "encoding_aes_key": "short" })).await;
    assert_eq!(error_code(bad_key, 400).await, "invalid_encoding_aes_key");
    let wecom_plain = admin
        .post(
            "/api/v1/channels/accounts",
            json!({ "kind": "wecom", "name": "x", "app_id": "ww1", "token": TOKEN }),
        )
        .await;
    assert_eq!(
        error_code(wecom_plain, 400).await,
        "encoding_aes_key_required"
    );
    let marketing = app.user("marketing", None).await;
    assert_eq!(
        marketing.get("/api/v1/channels/accounts").await.status(),
        200
    );
    let analyst = app.user("data_analyst", None).await;
    assert_eq!(
        error_code(analyst.get("/api/v1/channels/accounts").await, 403).await,
        "forbidden"
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM channel_accounts").await,
        1
    );
}
