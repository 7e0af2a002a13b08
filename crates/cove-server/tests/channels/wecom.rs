//! WeCom callbacks through Cove, encrypted exactly as WeCom does.

use crate::common::{count, error_code, eventually, Session, TestApp};
use crate::outbox::{account, app_with_standin};
use cove_wechat::msgcrypt::MsgCrypt;
use serde_json::{json, Value};

pub const CORP_ID: &str = "ww_aurora_corp";
const TOKEN: &str = "CoveToken2026";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

pub fn crypt() -> MsgCrypt {
    MsgCrypt::new(TOKEN, AES_KEY, CORP_ID).unwrap()
}

pub fn now_secs() -> i64 {
    cove_core::clock::now() / 1_000_000
}

fn contact_event(change: &str, user: &str, external: &str, at: i64, extra: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
         <CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>\
         <UserID><![CDATA[{user}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>{extra}</xml>"
    )
}

pub async fn deliver(
    app: &TestApp,
    account_id: &str,
    crypt: &MsgCrypt,
    plain: &str,
) -> reqwest::Response {
    let (timestamp, nonce) = (now_secs().to_string(), "n0nce7");
    let encrypt = crypt.encrypt(plain).unwrap();
    let signature = crypt.msg_signature(&timestamp, nonce, &encrypt);
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    reqwest::Client::new()
        .post(app.url(&format!(
            "/wechat/wecom/{account_id}?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"
        )))
        .body(body)
        .send()
        .await
        .unwrap()
}

pub async fn processed(app: &TestApp, n: i64) -> bool {
    eventually(20, || async {
        count(
            app.db(),
            "SELECT COUNT(*) FROM wechat_inbound WHERE processed_at IS NOT NULL",
        )
        .await
            == n
    })
    .await
}

pub async fn wecom_app(admin: &Session, sandbox: bool) -> String {
    account(admin, "wecom", CORP_ID, sandbox).await
}

#[tokio::test]
async fn the_url_check_answers_the_decrypted_echostr_only_when_signed() {
    let (app, _db, _stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let id = wecom_app(&admin, true).await;
    let c = crypt();
    let echostr = c.encrypt("echo-4711").unwrap();
    let signature = c.msg_signature("1796300000", "n1", &echostr);
    let url = |sig: &str| {
        let mut u = reqwest::Url::parse(&app.url(&format!("/wechat/wecom/{id}"))).unwrap();
        u.query_pairs_mut()
            .append_pair("msg_signature", sig)
            .append_pair("timestamp", "1796300000")
            .append_pair("nonce", "n1")
            .append_pair("echostr", &echostr);
        u
    };
    let ok = reqwest::get(url(&signature)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "echo-4711");
    let forged = reqwest::get(url("0000000000000000000000000000000000000000"))
        .await
        .unwrap();
    assert_eq!(error_code(forged, 400).await, "invalid_signature");
}

#[tokio::test]
async fn a_contact_added_through_a_contact_way_is_attributed_welcomed_and_tracked() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let wecom = wecom_app(&admin, false).await;
    let store_id = cove_core::db::new_id();
    sqlx::query("INSERT INTO stores (id, code, name, kind, city, created_at) VALUES ($1, 'SZ-03', '深圳店', 'store', '深圳', 0)")
        .bind(&store_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let way = admin
        .post(
            "/api/v1/channels/contact-ways",
            json!({ "account_id": wecom, "name": "张三的名片", "wecom_user_id": "zhangsan", "store_id": store_id,
                    "campaign": "双十一", "welcome_text": "您好，我是极光电脑的张三" }),
        )
        .await;
    assert_eq!(way.status(), 201);
    let way: Value = way.json().await.unwrap();
    let state = way["state"].as_str().unwrap().to_owned();
    assert!(state.len() <= 30);

    let add = contact_event(
        "add_external_contact",
        "zhangsan",
        "wmCUSTOMER1",
        now_secs(),
        &format!(
            "<State><![CDATA[{state}]]></State><WelcomeCode><![CDATA[WELCOME-1]]></WelcomeCode>"
        ),
    );
    for _ in 0..3 {
        assert_eq!(deliver(&app, &wecom, &crypt(), &add).await.status(), 200);
    }
    assert!(processed(&app, 1).await);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM wechat_inbound").await,
        1,
        "retries stored once"
    );

    let contacts: Value = admin
        .get("/api/v1/channels/wecom/contacts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(contacts.as_array().unwrap().len(), 1);
    assert_eq!(contacts[0]["store_id"], store_id.as_str());
    assert_eq!(contacts[0]["campaign"], "双十一");
    let profile = contacts[0]["profile_id"].as_str().unwrap().to_owned();
    let holder: String = sqlx::query_scalar(
        "SELECT profile_id FROM identities WHERE type = 'wecom_external_id' AND value = 'wmCUSTOMER1'",
    )
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(holder, profile);
    let unionid: String = sqlx::query_scalar(
        "SELECT value FROM identities WHERE type = 'unionid' AND profile_id = $1",
    )
    .bind(&profile)
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(
        unionid, "uCUSTOMER1",
        "linked through WeCom's contact detail"
    );
    assert!(
        way["qr_code"].as_str().unwrap().contains(&state),
        "registered with WeCom"
    );
    let ways: Value = admin
        .get("/api/v1/channels/contact-ways")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ways[0]["adds"], 1);

    // The welcome message goes out at once, once.
    assert!(
        eventually(20, || async { stand.delivered("welcome").len() == 1 }).await,
        "welcome sent"
    );
    let welcome = &stand.delivered("welcome")[0];
    assert_eq!(welcome["welcome_code"], "WELCOME-1");
    assert_eq!(welcome["text"]["content"], "您好，我是极光电脑的张三");
    assert!(
        eventually(20, || async {
            count(
                app.db(),
                "SELECT COUNT(*) FROM wechat_messages WHERE kind = 'wecom_welcome' AND status = 'sent'",
            )
            .await
                == 1
        })
        .await
    );

    // Transfer to lisi, then the customer deletes lisi: one history, three steps.
    let t0 = now_secs();
    let out = contact_event(
        "del_external_contact",
        "zhangsan",
        "wmCUSTOMER1",
        t0 + 10,
        "<Source><![CDATA[DELETE_BY_TRANSFER]]></Source>",
    );
    deliver(&app, &wecom, &crypt(), &out).await;
    assert!(processed(&app, 2).await);
    let into = contact_event("add_external_contact", "lisi", "wmCUSTOMER1", t0 + 11, "");
    deliver(&app, &wecom, &crypt(), &into).await;
    assert!(processed(&app, 3).await);
    let gone = contact_event("del_follow_user", "lisi", "wmCUSTOMER1", t0 + 20, "");
    deliver(&app, &wecom, &crypt(), &gone).await;
    assert!(processed(&app, 4).await);
    let history: Value = admin
        .get("/api/v1/channels/wecom/contacts/wmCUSTOMER1/history")
        .await
        .json()
        .await
        .unwrap();
    let steps: Vec<(String, String, Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["change"].as_str().unwrap().to_owned(),
                h["wecom_user_id"].as_str().unwrap().to_owned(),
                h["detail"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            ("started".into(), "zhangsan".into(), Value::Null),
            ("ended".into(), "zhangsan".into(), json!("transfer")),
            ("transferred".into(), "lisi".into(), json!("zhangsan")),
            ("ended".into(), "lisi".into(), json!("customer")),
        ]
    );
    assert!(history
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["profile_id"] == profile.as_str()));
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT event FROM raw_events WHERE source_id = 'cove' AND profile_id = $1 ORDER BY occurred_at",
    )
    .bind(&profile)
    .fetch_all(app.db().pool())
    .await
    .unwrap();
    assert_eq!(
        names,
        [
            "wecom.contact_added",
            "wecom.contact_removed",
            "wecom.contact_transferred",
            "wecom.contact_removed"
        ]
    );
    assert_eq!(
        stand.delivered("welcome").len(),
        1,
        "no welcome without a code"
    );
}

#[tokio::test]
async fn an_expired_welcome_code_is_never_sent() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let wecom = wecom_app(&admin, false).await;
    let way: Value = admin
        .post(
            "/api/v1/channels/contact-ways",
            json!({ "account_id": wecom, "name": "门店名片", "wecom_user_id": "wangwu", "welcome_text": "欢迎" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let state = way["state"].as_str().unwrap();
    // The add happened 30 seconds ago (a backlog): its welcome code is dead.
    let add = contact_event(
        "add_external_contact",
        "wangwu",
        "wmLATE",
        now_secs() - 30,
        &format!("<State><![CDATA[{state}]]></State><WelcomeCode><![CDATA[OLD]]></WelcomeCode>"),
    );
    deliver(&app, &wecom, &crypt(), &add).await;
    assert!(processed(&app, 1).await);
    assert!(
        eventually(20, || async {
            count(
                app.db(),
                "SELECT COUNT(*) FROM wechat_messages WHERE status = 'failed'",
            )
            .await
                == 1
        })
        .await
    );
    assert_eq!(stand.calls("welcome"), 0);
}

#[tokio::test]
async fn group_joins_and_leaves_record_membership() {
    let (app, _db, _stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let wecom = wecom_app(&admin, true).await;
    let chat = |detail: &str, at: i64, members: &str| {
        format!(
            "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
             <CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
             <Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrGROUP1]]></ChatId>\
             <ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[{detail}]]></UpdateDetail>\
             <JoinScene>3</JoinScene><MemChangeCnt>2</MemChangeCnt><MemChangeList>{members}</MemChangeList></xml>"
        )
    };
    let t = now_secs();
    deliver(
        &app,
        &wecom,
        &crypt(),
        &chat("add_member", t, "<Item>wmFAN1</Item><Item>zhangsan</Item>"),
    )
    .await;
    assert!(processed(&app, 1).await);
    deliver(
        &app,
        &wecom,
        &crypt(),
        &chat("del_member", t + 5, "<Item>wmFAN1</Item>"),
    )
    .await;
    assert!(processed(&app, 2).await);
    let members: Vec<(String, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT member_id, profile_id, left_at FROM wecom_group_members ORDER BY member_id",
    )
    .fetch_all(app.db().pool())
    .await
    .unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].0, "wmFAN1");
    assert!(
        members[0].1.is_some() && members[0].2.is_some(),
        "the customer joined and left"
    );
    assert_eq!(members[1].0, "zhangsan");
    assert!(
        members[1].1.is_none() && members[1].2.is_none(),
        "staff: no profile, still in"
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM raw_events WHERE event IN ('wecom.group_joined', 'wecom.group_left')").await,
        2
    );
}

#[tokio::test]
async fn forged_or_foreign_wecom_callbacks_change_nothing() {
    let (app, _db, _stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let wecom = wecom_app(&admin, true).await;
    let add = contact_event("add_external_contact", "zhangsan", "wmX", now_secs(), "");
    let other_corp = MsgCrypt::new(TOKEN, AES_KEY, "ww_other_corp").unwrap();
    assert_eq!(
        error_code(deliver(&app, &wecom, &other_corp, &add).await, 400).await,
        "invalid_message",
        "wrong receive id"
    );
    let wrong_token = MsgCrypt::new("OtherToken", AES_KEY, CORP_ID).unwrap();
    assert_eq!(
        error_code(deliver(&app, &wecom, &wrong_token, &add).await, 400).await,
        "invalid_signature"
    );
    let doctype = format!("<!DOCTYPE xml [<!ENTITY x \"y\">]>{add}");
    assert_eq!(
        error_code(deliver(&app, &wecom, &crypt(), &doctype).await, 400).await,
        "invalid_message"
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM wechat_inbound").await,
        0
    );
}
