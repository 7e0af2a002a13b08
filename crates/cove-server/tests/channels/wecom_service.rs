//! WeCom Customer Service (微信客服): customers' messages, read from WeCom
//! after its callback, become tickets; agents' replies go back within
//! WeCom's limits (48 hours, 5 replies per customer message).

use crate::common::{count, eventually, TestApp};
use crate::standin::Stand;
use crate::wecom::{crypt, deliver, now_secs, processed, wecom_app, CORP_ID};
use serde_json::{json, Value};

const KF: &str = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q";

fn kf_event(token: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><CreateTime>{}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>\
         <Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{KF}]]></OpenKfId></xml>",
        now_secs()
    )
}

fn customer(stand: &Stand, msgid: &str, external: &str, msgtype: &str, text: &str) {
    let mut m = json!({ "msgid": msgid, "open_kfid": KF, "external_userid": external,
        "send_time": now_secs(), "origin": 3, "msgtype": msgtype });
    if msgtype == "text" {
        m["text"] = json!({ "content": text });
    }
    stand.kf_inbox.lock().unwrap().push(m);
}

async fn wecom_tickets(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT t.id, t.subject, i.value FROM tickets t JOIN identities i ON i.profile_id = t.profile_id \
         AND i.type = 'wecom_external_id' WHERE t.channel = 'wecom' ORDER BY t.created_at",
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

#[tokio::test]
async fn customer_service_messages_open_tickets_once_and_agent_replies_go_back_within_limits() {
    let (app, _db, stand) = crate::outbox::app_with_standin().await;
    let admin = app.user("admin", None).await;
    let account = wecom_app(&admin, false).await;
    let crypt = crypt();

    customer(
        &stand,
        "m1",
        "wmAlice",
        "text",
        "请问 Pro 16 可以上门维修吗？",
    );
    customer(&stand, "m2", "wmAlice", "image", "");
    stand.kf_inbox.lock().unwrap().push(json!({ "msgid": "e1", "open_kfid": KF,
        "send_time": now_secs(), "origin": 4, "msgtype": "event", "event": { "event_type": "enter_session" } }));
    stand.kf_inbox.lock().unwrap().push(json!({ "msgid": "s1", "open_kfid": KF, "external_userid": "wmAlice",
        "servicer_userid": "zhangsan", "send_time": now_secs(), "origin": 5, "msgtype": "text", "text": { "content": "在的" } }));
    // WeCom retries a callback it got no answer to: stored and read once.
    for _ in 0..2 {
        assert_eq!(
            deliver(&app, &account, &crypt, &kf_event("TOKEN_A"))
                .await
                .status(),
            200
        );
    }
    assert!(processed(&app, 1).await);
    let tickets = wecom_tickets(&app).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].1, "请问 Pro 16 可以上门维修吗？");
    assert_eq!(tickets[0].2, "wmAlice");
    let alice = tickets[0].0.clone();
    assert_eq!(
        customer_messages(&app, &alice).await,
        ["请问 Pro 16 可以上门维修吗？", "[图片]"],
        "system events and the servicer's own messages are not the customer's"
    );
    let kind: String = sqlx::query_scalar("SELECT kind FROM tickets WHERE id = $1")
        .bind(&alice)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(kind, "pre_sales");
    assert_eq!(stand.calls("kf_sync"), 1);

    // The next callback reads on from the cursor: Alice's follow-up joins her
    // ticket, Bob gets his own, and nothing already read is filed again.
    customer(&stand, "m3", "wmAlice", "text", "型号是 AX-2041");
    customer(&stand, "m4", "wmBob", "text", "发票怎么开？");
    deliver(&app, &account, &crypt, &kf_event("TOKEN_B")).await;
    assert!(processed(&app, 2).await);
    assert_eq!(wecom_tickets(&app).await.len(), 2);
    assert_eq!(customer_messages(&app, &alice).await.len(), 3);
    let cursor: String = sqlx::query_scalar("SELECT next_cursor FROM wecom_kf_cursors")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(cursor, "6");
    // Reading everything again (a lost cursor) files nothing twice.
    sqlx::query("DELETE FROM wecom_kf_cursors")
        .execute(app.db().pool())
        .await
        .unwrap();
    let api = app.server.as_ref().unwrap().state.wechat.clone();
    let filed = cove_core::channels::wecom_service::sync(&api, app.db(), &account, KF, "TOKEN_C")
        .await
        .unwrap();
    assert_eq!(filed, 0);
    assert_eq!(customer_messages(&app, &alice).await.len(), 3);
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM raw_events WHERE event = 'wecom.message_received'"
        )
        .await,
        4
    );

    // Agent replies go back through kf/send_msg, at most 5 per customer message.
    let agent = app.user("service_agent", None).await;
    for i in 1..=6 {
        let r = agent
            .post(
                &format!("/api/v1/tickets/{alice}/messages"),
                json!({ "body": format!("第 {i} 条回复") }),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    assert!(eventually(20, || async { stand.delivered("kf_send").len() == 5 }).await);
    let sent = stand.delivered("kf_send");
    assert_eq!(sent[0]["touser"], "wmAlice");
    assert_eq!(sent[0]["open_kfid"], KF);
    let mut texts: Vec<&str> = sent
        .iter()
        .map(|m| m["text"]["content"].as_str().unwrap())
        .collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        [
            "第 1 条回复",
            "第 2 条回复",
            "第 3 条回复",
            "第 4 条回复",
            "第 5 条回复"
        ]
    );
    let msgid = sent[0]["msgid"].as_str().unwrap();
    assert!(msgid.len() == 32 && msgid.bytes().all(|b| b.is_ascii_alphanumeric()));
    let (status, error): (String, Option<String>) = sqlx::query_as(
        "SELECT status, error FROM wechat_messages WHERE kind = 'wecom_service_text' AND payload LIKE '%第 6 条回复%'",
    )
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(status, "skipped_window_closed");
    assert!(error.unwrap().contains("5 replies"));
    // The customer writes again: the agent may answer again.
    customer(&stand, "m5", "wmAlice", "text", "好的，谢谢");
    deliver(&app, &account, &crypt, &kf_event("TOKEN_D")).await;
    assert!(processed(&app, 3).await);
    agent
        .post(
            &format!("/api/v1/tickets/{alice}/messages"),
            json!({ "body": "不客气" }),
        )
        .await;
    assert!(eventually(20, || async { stand.delivered("kf_send").len() == 6 }).await);
    let messages: Vec<Value> = stand.delivered("kf_send");
    assert!(
        messages.iter().all(|m| m["touser"] == "wmAlice"),
        "Bob got no reply he was not sent"
    );
}

#[tokio::test]
async fn a_sandbox_app_reads_nothing_from_wecom() {
    let (app, _db, stand) = crate::outbox::app_with_standin().await;
    let admin = app.user("admin", None).await;
    let account = wecom_app(&admin, true).await;
    customer(&stand, "m1", "wmAlice", "text", "你好");
    deliver(&app, &account, &crypt(), &kf_event("TOKEN_A")).await;
    assert!(processed(&app, 1).await);
    assert_eq!(stand.calls("kf_sync"), 0);
    assert!(wecom_tickets(&app).await.is_empty());
}
