//! WeChat's subscription-message events keep Cove's consent record true:
//! popups on the Official Account, settings changes and refused sends.

use crate::common::{count, Session, TestApp};
use crate::wecom::processed;
use crate::{AES_KEY, TOKEN};
use cove_wechat::msgcrypt::{sorted_sha1, MsgCrypt};
use serde_json::Value;

fn subscribe_event(open_id: &str, at: i64, event: &str, wrapper: &str, items: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_aurora]]></ToUserName><FromUserName><![CDATA[{open_id}]]></FromUserName>\
         <CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>\
         <{wrapper}>{items}</{wrapper}></xml>"
    )
}

fn item(template: &str, status: &str) -> String {
    format!(
        "<List><TemplateId><![CDATA[{template}]]></TemplateId><SubscribeStatusString><![CDATA[{status}]]></SubscribeStatusString><PopupScene>2</PopupScene></List>"
    )
}

const MP_APP_ID: &str = "wx_mp_consent";

/// Posts a callback as WeChat does to `/wechat/{path}/{account}`: plain for
/// the Official Account, encrypted for the Mini Program (always safe mode).
async fn deliver(app: &TestApp, path: &str, account: &str, xml: String) {
    let (timestamp, nonce) = ("1796300000", "n0nce42");
    let signature = sorted_sha1(&[TOKEN, timestamp, nonce]);
    let mut url = format!(
        "/wechat/{path}/{account}?signature={signature}&timestamp={timestamp}&nonce={nonce}"
    );
    let body = if path == "mp" {
        let crypt = MsgCrypt::new(TOKEN, AES_KEY, MP_APP_ID).unwrap();
        let encrypt = crypt.encrypt(&xml).unwrap();
        let msg_signature = crypt.msg_signature(timestamp, nonce, &encrypt);
        url.push_str(&format!("&encrypt_type=aes&msg_signature={msg_signature}"));
        format!("<xml><ToUserName><![CDATA[gh_mp]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    } else {
        xml
    };
    let r = reqwest::Client::new()
        .post(app.url(&url))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn plain_account(admin: &Session, kind: &str, app_id: &str) -> String {
    let mut body = serde_json::json!({ "kind": kind, "name": app_id, "app_id": app_id, "token": TOKEN, "sandbox": true });
    if kind == "mini_program" {
        body["encoding_aes_key"] = AES_KEY.into();
    }
    let created = admin.post("/api/v1/channels/accounts", body).await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn grant(
    app: &TestApp,
    open_id: &str,
    template: &str,
) -> Option<(i64, Option<i64>, Option<i64>)> {
    sqlx::query_as(
        "SELECT remaining, long_term_at, rejected_at FROM subscription_grants WHERE open_id = $1 AND template_id = $2",
    )
    .bind(open_id)
    .bind(template)
    .fetch_optional(app.db().pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn official_account_popups_grant_and_settings_changes_stop_and_restore_sends() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let oa = plain_account(&admin, "official_account", "wx_oa_consent").await;
    let popup = subscribe_event(
        "o_fan_c",
        1796300000,
        "subscribe_msg_popup_event",
        "SubscribeMsgPopupEvent",
        &(item("TPL_SHIP", "accept") + &item("TPL_PROMO", "reject")),
    );
    // WeChat retries: the popup counts once.
    deliver(&app, "oa", &oa, popup.clone()).await;
    deliver(&app, "oa", &oa, popup).await;
    assert!(processed(&app, 1).await);
    assert_eq!(grant(&app, "o_fan_c", "TPL_SHIP").await.unwrap().0, 1);
    let promo = grant(&app, "o_fan_c", "TPL_PROMO").await.unwrap();
    assert_eq!(promo.0, 0);
    assert!(promo.2.is_some(), "a refusal is recorded");

    // Turned off in settings: no send is left.
    let off = subscribe_event(
        "o_fan_c",
        1796300100,
        "subscribe_msg_change_event",
        "SubscribeMsgChangeEvent",
        &item("TPL_SHIP", "reject"),
    );
    deliver(&app, "oa", &oa, off).await;
    assert!(processed(&app, 2).await);
    let ship = grant(&app, "o_fan_c", "TPL_SHIP").await.unwrap();
    assert_eq!((ship.0, ship.2.is_some()), (0, true));
    let mut conn = app.db().pool().acquire().await.unwrap();
    let spent = cove_core::channels::consent::spend(&mut conn, &oa, "o_fan_c", "TPL_SHIP")
        .await
        .unwrap();
    assert_eq!(spent, cove_core::channels::consent::Spent::None);
    drop(conn);
    // The event is in the person's timeline.
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM raw_events WHERE event = 'wechat.subscriptions_changed'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn mini_program_pushes_correct_consent_without_counting_popups_twice() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let mp = plain_account(&admin, "mini_program", MP_APP_ID).await;
    // Long-term consent reported by the Mini Program page.
    let mut tx = app.db().begin().await.unwrap();
    let report: cove_core::channels::consent::Report = serde_json::from_value(serde_json::json!({
        "report_key": "r1", "results": { "TPL_REPAIR": "accept", "TPL_ONCE": "accept" }, "long_term": false }))
    .unwrap();
    cove_core::channels::consent::record(&mut tx, &mp, "o_mp_c", None, &report)
        .await
        .unwrap();
    sqlx::query("UPDATE subscription_grants SET long_term_at = 1, remaining = 0 WHERE template_id = 'TPL_REPAIR'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // The same popup pushed by WeChat is not a second accept.
    let popup = subscribe_event(
        "o_mp_c",
        1796300000,
        "subscribe_msg_popup_event",
        "SubscribeMsgPopupEvent",
        &item("TPL_ONCE", "accept"),
    );
    deliver(&app, "mp", &mp, popup).await;
    // Off, then on again in settings: long-term consent holds again.
    let off = subscribe_event(
        "o_mp_c",
        1796300100,
        "subscribe_msg_change_event",
        "SubscribeMsgChangeEvent",
        &item("TPL_REPAIR", "reject"),
    );
    deliver(&app, "mp", &mp, off).await;
    assert!(processed(&app, 2).await);
    let mut conn = app.db().pool().acquire().await.unwrap();
    let spent = cove_core::channels::consent::spend(&mut conn, &mp, "o_mp_c", "TPL_REPAIR")
        .await
        .unwrap();
    assert_eq!(
        spent,
        cove_core::channels::consent::Spent::None,
        "switched off"
    );
    drop(conn);
    let on = subscribe_event(
        "o_mp_c",
        1796300200,
        "subscribe_msg_change_event",
        "SubscribeMsgChangeEvent",
        &item("TPL_REPAIR", "accept"),
    );
    deliver(&app, "mp", &mp, on).await;
    // A send WeChat refused for lack of a subscription leaves nothing to spend.
    let sent = subscribe_event(
        "o_mp_c",
        1796300300,
        "subscribe_msg_sent_event",
        "SubscribeMsgSentEvent",
        "<List><TemplateId><![CDATA[TPL_ONCE]]></TemplateId><MsgID>1700</MsgID><ErrorCode>43101</ErrorCode><ErrorStatus><![CDATA[user refuse to accept the msg]]></ErrorStatus></List>",
    );
    deliver(&app, "mp", &mp, sent).await;
    assert!(processed(&app, 4).await);
    let mut conn = app.db().pool().acquire().await.unwrap();
    let spent = cove_core::channels::consent::spend(&mut conn, &mp, "o_mp_c", "TPL_REPAIR")
        .await
        .unwrap();
    assert_eq!(
        spent,
        cove_core::channels::consent::Spent::LongTerm,
        "switched on again"
    );
    drop(conn);
    assert_eq!(grant(&app, "o_mp_c", "TPL_ONCE").await.unwrap().0, 0);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM tickets").await,
        0,
        "Mini Program pushes open no tickets"
    );
}
