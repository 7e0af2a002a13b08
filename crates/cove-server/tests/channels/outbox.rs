//! Outgoing messages through the outbox, against the WeChat stand-in.

use crate::common::{count, eventually, Session, TestApp, TestDb};
use crate::standin::{self, Stand};
use cove_core::channels::consent::{self, Answer, Report};
use cove_core::channels::outbox::{self, MessageKind, NewMessage};
use cove_core::jobs::Registry;
use serde_json::{json, Value};
use std::sync::Arc;

/// An app whose WeChat calls go to a fresh stand-in.
pub async fn app_with_standin() -> (TestApp, TestDb, Arc<Stand>) {
    let (stand, base) = standin::start().await;
    let db = TestDb::new().await;
    let mut config = db.config();
    config.wechat.api_base = Some(base);
    let app = TestApp::start(config, Registry::new()).await;
    (app, db, stand)
}

pub async fn account(admin: &Session, kind: &str, app_id: &str, sandbox: bool) -> String {
    let created = admin
        .post(
            "/api/v1/channels/accounts",
            json!({ "kind": kind, "name": format!("{kind} {app_id}"), "app_id": app_id, "token": "CoveToken2026",
                    "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "secret": "app-secret", "sandbox": sandbox }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

fn template(account_id: &str, fact: &str) -> Value {
    json!({ "account_id": account_id, "kind": "template", "recipient": "o_fan_1", "template_id": "TPL_REPAIR_DONE",
            "payload": { "data": { "first": "您的维修已完成", "keyword1": "AX-2041" }, "url": "https://aurora.example/t/1" },
            "client_msg_id": fact })
}

async fn status_of(app: &TestApp, fact: &str) -> String {
    sqlx::query_scalar("SELECT status FROM wechat_messages WHERE client_msg_id = $1")
        .bind(fact)
        .fetch_one(app.db().pool())
        .await
        .unwrap()
}

async fn settled(app: &TestApp, fact: &str, status: &str) -> bool {
    eventually(20, || async { status_of(app, fact).await == status }).await
}

#[tokio::test]
async fn a_fact_queued_many_times_at_once_makes_one_message_and_one_send() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_live", false).await;
    let fact = "ticket.resolved:T-1001";
    let responses = futures_join(20, |_| {
        admin.post("/api/v1/channels/messages", template(&oa, fact))
    })
    .await;
    let created = responses.iter().filter(|s| **s == 201).count();
    let replayed = responses.iter().filter(|s| **s == 200).count();
    assert_eq!((created, replayed), (1, 19), "{responses:?}");
    assert!(settled(&app, fact, "sent").await);
    // A later replay (the job long done) still sends nothing.
    assert_eq!(
        admin
            .post("/api/v1/channels/messages", template(&oa, fact))
            .await
            .status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM wechat_messages").await,
        1
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM jobs WHERE kind = 'wechat.send'"
        )
        .await,
        1
    );
    let sent = stand.delivered("template");
    assert_eq!(sent.len(), 1, "one send reached WeChat");
    assert_eq!(sent[0]["touser"], "o_fan_1");
    assert_eq!(sent[0]["data"]["keyword1"]["value"], "AX-2041");
    let id: String = sqlx::query_scalar("SELECT id FROM wechat_messages")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(
        sent[0]["client_msg_id"],
        id.as_str(),
        "WeChat can drop a resend"
    );
}

/// Runs `n` requests concurrently; returns their statuses.
async fn futures_join<F, Fut>(n: usize, f: F) -> Vec<u16>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    futures_util::future::join_all((0..n).map(f))
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect()
}

#[tokio::test]
async fn a_send_failing_then_succeeding_is_delivered_exactly_once() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_live", false).await;
    stand
        .failures_left
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let fact = "order.shipped:O-77";
    assert_eq!(
        admin
            .post("/api/v1/channels/messages", template(&oa, fact))
            .await
            .status(),
        201
    );
    assert!(settled(&app, fact, "sent").await);
    assert_eq!(stand.calls("template"), 3, "two failures, then the send");
    assert_eq!(stand.delivered("template").len(), 1);
    let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM wechat_messages")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(attempts, 3);
    let outbox: Value = admin
        .get("/api/v1/channels/messages?status=sent")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outbox.as_array().unwrap().len(), 1);
    assert_eq!(
        outbox[0]["error"],
        Value::Null,
        "the last error is cleared once sent"
    );
}

fn subscribe(account_id: &str, fact: &str) -> NewMessage {
    NewMessage {
        account_id: account_id.to_owned(),
        kind: MessageKind::Subscribe,
        recipient: "o_mp_user".into(),
        profile_id: None,
        template_id: Some("TPL_APPOINTMENT".into()),
        payload: json!({ "data": { "thing1": "上门维修", "time2": "2026-12-05 10:00" }, "page": "pages/ticket/index" }),
        client_msg_id: fact.to_owned(),
    }
}

async fn queue(app: &TestApp, message: &NewMessage) -> outbox::Queued {
    let mut tx = app.db().begin().await.unwrap();
    let queued = outbox::queue(&mut tx, message).await.unwrap();
    tx.commit().await.unwrap();
    queued
}

async fn grant(app: &TestApp, mp: &str, key: &str, answer: Answer) -> bool {
    let report = Report {
        report_key: key.into(),
        results: [("TPL_APPOINTMENT".to_owned(), answer)]
            .into_iter()
            .collect(),
        long_term: false,
    };
    let mut tx = app.db().begin().await.unwrap();
    let fresh = consent::record(&mut tx, mp, "o_mp_user", None, &report)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    fresh
}

#[tokio::test]
async fn subscription_messages_are_sent_only_under_a_grant_each() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_live", false).await;

    let none = queue(&app, &subscribe(&mp, "appointment.booked:A-1")).await;
    assert_eq!(none.status, outbox::MessageStatus::SkippedNoConsent);
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM jobs WHERE kind = 'wechat.send'"
        )
        .await,
        0
    );

    // One accept, reported twice (a replayed report): one send allowed.
    assert!(grant(&app, &mp, "req-1", Answer::Accept).await);
    assert!(!grant(&app, &mp, "req-1", Answer::Accept).await);
    let first = queue(&app, &subscribe(&mp, "appointment.booked:A-2")).await;
    let second = queue(&app, &subscribe(&mp, "appointment.booked:A-3")).await;
    assert_eq!(first.status, outbox::MessageStatus::Queued);
    assert_eq!(second.status, outbox::MessageStatus::SkippedNoConsent);
    assert!(settled(&app, "appointment.booked:A-2", "sent").await);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sent = stand.delivered("subscribe");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["touser"], "o_mp_user");
    assert_eq!(sent[0]["page"], "pages/ticket/index");
    assert_eq!(sent[0]["data"]["thing1"]["value"], "上门维修");

    // A refusal after an accept leaves no send.
    assert!(grant(&app, &mp, "req-2", Answer::Reject).await);
    let refused = queue(&app, &subscribe(&mp, "appointment.booked:A-4")).await;
    assert_eq!(refused.status, outbox::MessageStatus::SkippedNoConsent);

    let skipped: Value = admin
        .get("/api/v1/channels/messages?status=skipped_no_consent")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(skipped.as_array().unwrap().len(), 3);
    assert_eq!(stand.calls("subscribe"), 1);
}

#[tokio::test]
async fn concurrent_messages_never_share_one_grant() {
    let (app, _db, _stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_sandbox", true).await;
    for i in 0..5 {
        assert!(grant(&app, &mp, &format!("req-{i}"), Answer::Accept).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let db = app.db().clone();
        let message = subscribe(&mp, &format!("points.expiring:{i}"));
        tasks.spawn(async move {
            loop {
                let mut tx = db.begin().await.unwrap();
                match outbox::queue(&mut tx, &message).await {
                    Ok(q) => match tx.commit().await {
                        Ok(()) => return q.status,
                        Err(_) => continue,
                    },
                    // SQLite's single writer may refuse a concurrent upgrade: try again.
                    Err(_) => continue,
                }
            }
        });
    }
    let mut queued = 0;
    while let Some(status) = tasks.join_next().await {
        if status.unwrap() == outbox::MessageStatus::Queued {
            queued += 1;
        }
    }
    assert_eq!(queued, 5, "five grants, five messages");
    assert_eq!(
        count(
            app.db(),
            "SELECT CAST(SUM(remaining) AS BIGINT) FROM subscription_grants"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_sandbox_account_keeps_messages_in_the_outbox_without_calling_wechat() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_demo", true).await;
    let fact = "member.joined:M-9";
    assert_eq!(
        admin
            .post("/api/v1/channels/messages", template(&oa, fact))
            .await
            .status(),
        201
    );
    assert!(settled(&app, fact, "sandboxed").await);
    assert_eq!(stand.total_calls(), 0, "no token, no send");
    let outbox: Value = admin
        .get("/api/v1/channels/messages")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outbox[0]["status"], "sandboxed");
    assert_eq!(outbox[0]["payload"]["data"]["keyword1"], "AX-2041");
    assert_eq!(outbox[0]["account_name"], "official_account wx_oa_demo");
    let analyst = app.user("data_analyst", None).await;
    assert_eq!(analyst.get("/api/v1/channels/messages").await.status(), 403);
}

#[tokio::test]
async fn bad_messages_are_refused_and_write_nothing() {
    let (app, _db, _stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_demo", true).await;
    let mp = account(&admin, "mini_program", "wx_mp_demo", true).await;
    let mut no_template = template(&oa, "f1");
    no_template["template_id"] = Value::Null;
    let wrong_kind = template(&mp, "f2");
    let mut no_data = template(&oa, "f3");
    no_data["payload"] = json!({ "url": "x" });
    let empty_key = template(&oa, " ");
    for (body, code) in [
        (no_template, "template_required"),
        (wrong_kind, "wrong_account_kind"),
        (no_data, "invalid_payload"),
        (empty_key, "invalid_client_msg_id"),
    ] {
        let r = admin.post("/api/v1/channels/messages", body).await;
        assert_eq!(crate::common::error_code(r, 400).await, code);
    }
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM wechat_messages").await,
        0
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM jobs WHERE kind = 'wechat.send'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn two_nodes_share_one_access_token() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_live", false).await;
    let config = app.server.as_ref().unwrap().state.config.wechat.clone();
    let vault = app.server.as_ref().unwrap().state.vault.clone();
    // Two independent client sets, as on two nodes, over one database.
    let node_a =
        cove_core::channels::WechatApi::new(app.db().clone(), vault.clone(), &config).unwrap();
    let node_b = cove_core::channels::WechatApi::new(app.db().clone(), vault, &config).unwrap();
    let (_, a) = node_a.mp(&oa).await.unwrap();
    let (_, b) = node_b.mp(&oa).await.unwrap();
    let (ta, tb) = tokio::join!(a.tokens().get(), b.tokens().get());
    assert_eq!(ta.unwrap(), tb.unwrap());
    assert_eq!(
        stand.token_calls.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let stored: String = sqlx::query_scalar("SELECT token_sealed FROM wechat_tokens")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert!(!stored.contains("TOKEN_"), "tokens are sealed at rest");
}
