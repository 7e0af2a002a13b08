//! Official Account text messages become pre-sales tickets; an agent's reply
//! goes back as a customer-service message within WeChat's 48-hour window.

use crate::common::{count, eventually, TestApp};
use crate::{account, TOKEN};
use cove_wechat::msgcrypt::sorted_sha1;
use serde_json::{json, Value};

fn text_xml(open_id: &str, create_time: i64, content: &str, msg_id: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_aurora]]></ToUserName><FromUserName><![CDATA[{open_id}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

/// Posts a plain-mode callback as WeChat does.
async fn deliver(app: &TestApp, account: &str, xml: &str) {
    let (timestamp, nonce) = ("1796300000", "n0nce42");
    let signature = sorted_sha1(&[TOKEN, timestamp, nonce]);
    let r = reqwest::Client::new()
        .post(app.url(&format!(
            "/wechat/oa/{account}?signature={signature}&timestamp={timestamp}&nonce={nonce}"
        )))
        .header("content-type", "text/xml")
        .body(xml.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "success");
}

async fn processed(app: &TestApp, n: i64) -> bool {
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

async fn oa_tickets(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT id, kind, subject FROM tickets WHERE channel = 'official_account' ORDER BY created_at",
    )
    .fetch_all(app.db().pool())
    .await
    .unwrap()
}

async fn customer_messages(app: &TestApp, ticket: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT body FROM ticket_messages WHERE ticket_id = $1 AND author_kind = 'customer' ORDER BY created_at, id",
    )
    .bind(ticket)
    .fetch_all(app.db().pool())
    .await
    .unwrap()
}

fn now_secs() -> i64 {
    cove_core::clock::now() / cove_core::clock::SECOND
}

#[tokio::test]
async fn texts_open_one_pre_sales_ticket_and_the_agent_reply_goes_back_within_48_hours() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_chat").await;
    let now = now_secs();
    let first = text_xml(
        "o_fan_chat",
        now - 60,
        "请问 Pro 16 有 32G 内存的现货吗？",
        9001,
    );
    // WeChat retries a callback it got no answer for: one message all the same.
    for _ in 0..3 {
        deliver(&app, &oa, &first).await;
    }
    assert!(processed(&app, 1).await);
    let tickets = oa_tickets(&app).await;
    assert_eq!(tickets.len(), 1);
    let (ticket_id, kind, subject) = tickets[0].clone();
    assert_eq!(kind, "pre_sales");
    assert_eq!(subject, "请问 Pro 16 有 32G 内存的现货吗？");

    deliver(
        &app,
        &oa,
        &text_xml("o_fan_chat", now - 30, "想今天下单", 9002),
    )
    .await;
    assert!(processed(&app, 2).await);
    assert_eq!(oa_tickets(&app).await.len(), 1, "the same ticket");
    assert_eq!(
        customer_messages(&app, &ticket_id).await,
        vec!["请问 Pro 16 有 32G 内存的现货吗？", "想今天下单"]
    );

    let agent = app.user("service_agent", None).await;
    let r = agent
        .post(
            &format!("/api/v1/tickets/{ticket_id}/messages"),
            json!({ "body": "您好，32G 版本有现货，今天下单明天发货。" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    // An internal note stays inside.
    let r = agent
        .post(
            &format!("/api/v1/tickets/{ticket_id}/messages"),
            json!({ "body": "客户很着急", "internal": true }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT kind, recipient, payload FROM wechat_messages WHERE client_msg_id LIKE 'oa_reply:%'",
    )
    .fetch_all(app.db().pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("custom_text", "o_fan_chat")
    );
    let payload: Value = serde_json::from_str(&rows[0].2).unwrap();
    assert_eq!(payload["text"], "您好，32G 版本有现货，今天下单明天发货。");
    assert!(
        eventually(20, || async {
            count(
                app.db(),
                "SELECT COUNT(*) FROM wechat_messages WHERE kind = 'custom_text' AND status = 'sandboxed'",
            )
            .await
                == 1
        })
        .await
    );

    // A follower who last wrote 49 hours ago: the reply stays on the ticket.
    let old = text_xml("o_fan_quiet", now - 49 * 3600, "发票怎么开？", 9003);
    deliver(&app, &oa, &old).await;
    assert!(processed(&app, 3).await);
    let quiet = oa_tickets(&app)
        .await
        .into_iter()
        .find(|t| t.2 == "发票怎么开？")
        .unwrap()
        .0;
    let r = agent
        .post(
            &format!("/api/v1/tickets/{quiet}/messages"),
            json!({ "body": "您好，电子发票会发到您的邮箱。" }),
        )
        .await;
    assert_eq!(r.status(), 201, "the reply is kept on the ticket");
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, error FROM wechat_messages WHERE recipient = 'o_fan_quiet'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(status, "skipped_window_closed");
    assert!(error.unwrap().contains("48 hours"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM wechat_messages WHERE recipient = 'o_fan_quiet' AND status = 'skipped_window_closed'",
        )
        .await,
        1,
        "never sent later"
    );
}

#[tokio::test]
async fn a_closed_conversation_ticket_makes_the_next_text_open_a_new_one() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_closed").await;
    let now = now_secs();
    deliver(
        &app,
        &oa,
        &text_xml("o_fan_c", now - 120, "屏幕有亮点", 7001),
    )
    .await;
    assert!(processed(&app, 1).await);
    let first = oa_tickets(&app).await[0].0.clone();
    let agent = app.user("service_agent", None).await;
    for status in ["solved", "closed"] {
        let r = agent
            .post(
                &format!("/api/v1/tickets/{first}/status"),
                json!({ "status": status }),
            )
            .await;
        assert_eq!(r.status(), 200, "{status}");
    }
    deliver(
        &app,
        &oa,
        &text_xml("o_fan_c", now - 60, "还有一个问题", 7002),
    )
    .await;
    assert!(processed(&app, 2).await);
    let tickets = oa_tickets(&app).await;
    assert_eq!(tickets.len(), 2);
    assert_eq!(
        customer_messages(&app, &tickets[1].0).await,
        vec!["还有一个问题"]
    );
}

#[tokio::test]
async fn two_texts_of_one_follower_filed_at_once_share_one_ticket() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_race").await;
    let profile = app.new_profile().await;
    let at = cove_core::clock::now();
    let runs: Vec<_> = (0..6)
        .map(|i| {
            let (db, oa, profile) = (app.db().clone(), oa.clone(), profile.clone());
            tokio::spawn(async move {
                let mut tx = db.begin().await.unwrap();
                cove_core::channels::conversations::on_text(
                    &mut tx,
                    db.backend(),
                    &oa,
                    cove_core::channels::conversations::Via::OfficialAccount,
                    "o_fan_race",
                    &profile,
                    &format!("第 {i} 条消息"),
                    at + i,
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
            })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    let tickets = oa_tickets(&app).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(customer_messages(&app, &tickets[0].0).await.len(), 6);
}
