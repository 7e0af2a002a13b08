//! Transactional notifications: rules that turn domain events into WeChat
//! messages queued with the event, and Official Account conversations that
//! open tickets and carry the agent's replies back within WeChat's window.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod conversations;
#[path = "../commerce/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use common::{count, error_code, eventually, Session, TestApp};
use cove_core::audience::domain::{self, DomainEvent};
use cove_core::channels::consent::{self, Answer, Report};
use cove_core::channels::notifications::send;
use serde_json::{json, Value};

pub const TOKEN: &str = "CoveToken2026";

/// A sandbox account; the Official Account in plain mode, so tests post plain callbacks.
pub async fn account(admin: &Session, kind: &str, app_id: &str) -> String {
    let mut body = json!({ "kind": kind, "name": format!("{kind} {app_id}"), "app_id": app_id, "token": TOKEN,
                           "secret": "app-secret", "sandbox": true });
    if kind != "official_account" {
        body["encoding_aes_key"] = json!("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    }
    let created = admin.post("/api/v1/channels/accounts", body).await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Gives `profile` the openid `open_id` in the Mini Program `app_id`.
async fn mp_openid(app: &TestApp, profile: &str, app_id: &str, open_id: &str) {
    sqlx::query(
        "INSERT INTO identities (type, value, profile_id, source_id, created_at) VALUES ($1, $2, $3, NULL, 0)",
    )
    .bind(format!("openid:{app_id}"))
    .bind(open_id)
    .bind(profile)
    .execute(app.db().pool())
    .await
    .unwrap();
}

async fn grant(app: &TestApp, account: &str, open_id: &str, profile: &str, template: &str) {
    let mut tx = app.db().begin().await.unwrap();
    consent::record(
        &mut tx,
        account,
        open_id,
        Some(profile),
        &Report {
            report_key: uuid::Uuid::now_v7().to_string(),
            results: [(template.to_owned(), Answer::Accept)]
                .into_iter()
                .collect(),
            long_term: false,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// An Official Account follower of `profile`.
async fn follower(app: &TestApp, account: &str, open_id: &str, profile: &str) {
    sqlx::query(
        "INSERT INTO followers (account_id, open_id, followed_at, last_event_at, profile_id) VALUES ($1, $2, 0, 0, $3)",
    )
    .bind(account)
    .bind(open_id)
    .bind(profile)
    .execute(app.db().pool())
    .await
    .unwrap();
}

/// A signed-in customer who joined as a member, with their profile.
async fn member(app: &TestApp, phone: &str) -> (String, common::CustomerClient) {
    let profile = app.new_profile().await;
    let customer = app.customer(&profile).await;
    let r = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "韩梅梅", "phone": phone }),
        )
        .await;
    assert_eq!(r.status(), 200, "join");
    (profile, customer)
}

fn paid_rule(mp: &str) -> Value {
    json!({ "event_name": "order.paid", "channels": [{
        "via": "subscribe", "account_id": mp, "template_id": "TPL_ORDER_PAID", "page": "pages/orders/detail",
        "fields": [
            { "key": "character_string1", "value": "{order_no}" },
            { "key": "amount2", "value": "{total_fen}" },
            { "key": "time3", "value": "{at}" },
            { "key": "thing4", "value": "您的订单已付款，我们会在二十四小时内为您安排顺丰发货" },
        ] }] })
}

/// (status, payload) of the messages an event kind caused, oldest first.
async fn messages(app: &TestApp, prefix: &str) -> Vec<(String, Value)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT status, payload FROM wechat_messages WHERE client_msg_id LIKE $1 ORDER BY created_at, id",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(app.db().pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(s, p)| (s, serde_json::from_str(&p).unwrap()))
        .collect()
}

async fn stored_event(app: &TestApp, name: &str) -> DomainEvent {
    let (key, profile, props, at): (String, String, String, i64) = sqlx::query_as(
        "SELECT message_id, profile_id, properties, occurred_at FROM raw_events \
         WHERE source_id = 'cove' AND event = $1 ORDER BY occurred_at DESC LIMIT 1",
    )
    .bind(name)
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    DomainEvent::new(
        name,
        profile,
        key,
        serde_json::from_str(&props).unwrap(),
        at,
    )
}

#[tokio::test]
async fn an_order_paid_in_the_sandbox_sends_one_subscription_message_with_its_data() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_aurora").await;
    let saved = admin
        .post("/api/v1/notification-rules", paid_rule(&mp))
        .await;
    assert_eq!(saved.status(), 200);
    fixtures::catalog(&app).await;
    let laptop = fixtures::sku(&app, "PRO16", 1_299_950, 5).await;
    let (profile, customer) = member(&app, "13900000021").await;
    mp_openid(&app, &profile, "wx_mp_aurora", "o_buyer_1").await;
    grant(&app, &mp, "o_buyer_1", &profile, "TPL_ORDER_PAID").await;

    let placed = fixtures::place(
        &customer,
        "notify-0001",
        json!([{ "sku_id": laptop, "quantity": 1 }]),
    )
    .await;
    let order_id = placed["order_id"].as_str().unwrap();
    fixtures::pay(&customer, order_id).await;
    let order = fixtures::order(&customer, order_id).await;
    assert!(
        eventually(20, || async {
            messages(&app, "notify:order.paid:")
                .await
                .first()
                .map(|m| m.0.as_str())
                == Some("sandboxed")
        })
        .await
    );
    let sent = messages(&app, "notify:order.paid:").await;
    assert_eq!(sent.len(), 1);
    let data = &sent[0].1["data"];
    assert_eq!(data["character_string1"], order["order_no"]);
    let total = order["total_fen"].as_i64().unwrap();
    assert_eq!(
        data["amount2"],
        format!("¥{}.{:02}", total / 100, total % 100)
    );
    let time = data["time3"].as_str().unwrap();
    assert_eq!(time.len(), 16, "yyyy-mm-dd hh:mm: {time}");
    let thing = data["thing4"].as_str().unwrap();
    assert_eq!(thing.chars().count(), 20, "cut to the thing limit: {thing}");
    assert!(thing.ends_with('…'));
    assert_eq!(sent[0].1["page"], "pages/orders/detail");
    let recipient: String = sqlx::query_scalar(
        "SELECT recipient FROM wechat_messages WHERE client_msg_id LIKE 'notify:order.paid:%'",
    )
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(recipient, "o_buyer_1");

    // The fact replayed (a retried job re-emitting it, or the hook run again): still one message.
    let event = stored_event(&app, "order.paid").await;
    let mut tx = app.db().begin().await.unwrap();
    assert!(!domain::emit(&mut tx, &event).await.unwrap());
    send::on_event(&mut tx, &event).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(messages(&app, "notify:order.paid:").await.len(), 1);
    assert_eq!(
        count(
            app.db(),
            "SELECT remaining FROM subscription_grants WHERE template_id = 'TPL_ORDER_PAID'"
        )
        .await,
        0,
        "the one-time grant was spent once"
    );

    // The grant is spent: the next paid order is recorded, never sent.
    let placed = fixtures::place(
        &customer,
        "notify-0002",
        json!([{ "sku_id": laptop, "quantity": 1 }]),
    )
    .await;
    fixtures::pay(&customer, placed["order_id"].as_str().unwrap()).await;
    let all = messages(&app, "notify:order.paid:").await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].0, "skipped_no_consent");
}

#[tokio::test]
async fn a_replayed_event_hook_run_concurrently_still_makes_one_message() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_aurora").await;
    let rule = json!({ "event_name": "refund.succeeded", "channels": [{
        "via": "template", "account_id": oa, "template_id": "TPL_REFUND",
        "fields": [{ "key": "amount1", "value": "{amount_fen}" }, { "key": "thing2", "value": "退款已原路退回" }] }] });
    assert_eq!(
        admin
            .post("/api/v1/notification-rules", rule)
            .await
            .status(),
        200
    );
    let profile = app.new_profile().await;
    follower(&app, &oa, "o_fan_refund", &profile).await;
    let event = DomainEvent::new(
        "refund.succeeded",
        &profile,
        "refund.succeeded:r-1",
        json!({ "order_id": "missing", "refund_id": "r-1", "amount_fen": 4990 }),
        cove_core::clock::now(),
    );
    let runs = (0..8).map(|_| {
        let db = app.db().clone();
        let event = event.clone();
        tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            send::on_event(&mut tx, &event).await.unwrap();
            tx.commit().await.unwrap();
        })
    });
    for run in runs.collect::<Vec<_>>() {
        run.await.unwrap();
    }
    let sent = messages(&app, "notify:refund.succeeded:").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1["data"]["amount1"], "¥49.90");
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM jobs WHERE kind = 'wechat.send'"
        )
        .await,
        1
    );
}

/// Records `points.expiring` for a member, as the reminder job does.
async fn expiring(app: &TestApp, profile: &str, member: &str, amount: i64, expires_at: i64) {
    let event = DomainEvent::new(
        "points.expiring",
        profile,
        format!("points.expiring:{member}:2026-12-04"),
        json!({ "amount": amount, "expires_at": expires_at, "member_id": member }),
        cove_core::clock::now(),
    );
    let mut tx = app.db().begin().await.unwrap();
    assert!(domain::emit(&mut tx, &event).await.unwrap());
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_first_reachable_channel_with_consent_is_used() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_fallback").await;
    let oa = account(&admin, "official_account", "wx_oa_fallback").await;
    let rule = json!({ "event_name": "points.expiring", "channels": [
        { "via": "subscribe", "account_id": mp, "template_id": "TPL_POINTS",
          "fields": [{ "key": "number1", "value": "{amount}" }, { "key": "date2", "value": "{expires_at}" }] },
        { "via": "template", "account_id": oa, "template_id": "TPL_POINTS_OA",
          "fields": [{ "key": "number1", "value": "{amount}" }, { "key": "date2", "value": "{expires_at}" }] },
    ] });
    assert_eq!(
        admin
            .post("/api/v1/notification-rules", rule)
            .await
            .status(),
        200
    );
    // Reachable in the Mini Program without consent, and a follower: the template message goes.
    let profile = app.new_profile().await;
    mp_openid(&app, &profile, "wx_mp_fallback", "o_mp_2").await;
    follower(&app, &oa, "o_oa_2", &profile).await;
    let expires_at = 1_796_350_800_000_000i64; // 2026-12-04 10:20 in Shanghai
    expiring(&app, &profile, "m-2", 1200, expires_at).await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, recipient FROM wechat_messages WHERE client_msg_id LIKE 'notify:points.expiring:%'",
    )
    .fetch_all(app.db().pool())
    .await
    .unwrap();
    assert_eq!(rows, vec![("template".to_owned(), "o_oa_2".to_owned())]);
    let sent = messages(&app, "notify:points.expiring:").await;
    assert_eq!(sent[0].1["data"]["number1"], "1200");
    assert_eq!(sent[0].1["data"]["date2"], "2026-12-04");

    // Someone reachable nowhere gets nothing, and the event is still recorded.
    let stranger = app.new_profile().await;
    expiring(&app, &stranger, "m-3", 10, expires_at).await;
    assert_eq!(messages(&app, "notify:points.expiring:").await.len(), 1);
}

#[tokio::test]
async fn a_ticket_status_change_tells_the_customer() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_tickets").await;
    let rule = json!({ "event_name": "ticket.status_changed", "channels": [{
        "via": "template", "account_id": oa, "template_id": "TPL_TICKET", "url": "https://aurora.example/tickets",
        "fields": [
            { "key": "character_string1", "value": "{number}" },
            { "key": "thing2", "value": "{subject}" },
            { "key": "phrase3", "value": "{name_zh}" },
            { "key": "time4", "value": "{at}" },
        ] }] });
    assert_eq!(
        admin
            .post("/api/v1/notification-rules", rule.clone())
            .await
            .status(),
        200
    );
    let (profile, customer) = member(&app, "13900000031").await;
    follower(&app, &oa, "o_fan_ticket", &profile).await;
    let r = customer
        .post(
            "/api/v1/me/tickets",
            json!({"kind": "after_sales", "subject": "键盘部分按键失灵需要维修检测", "body": "部分按键无反应"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let ticket: Value = r.json().await.unwrap();
    let id = ticket["id"].as_str().unwrap();
    assert!(
        messages(&app, "notify:").await.is_empty(),
        "opening is no status change"
    );
    let agent = app.user("service_agent", None).await;
    let r = agent
        .post(
            &format!("/api/v1/tickets/{id}/status"),
            json!({ "status": "waiting_customer" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let sent = messages(&app, "notify:ticket.status_changed:").await;
    assert_eq!(sent.len(), 1);
    let data = &sent[0].1["data"];
    assert_eq!(data["character_string1"], ticket["number"]);
    assert_eq!(data["thing2"], "键盘部分按键失灵需要维修检测");
    assert!(data["phrase3"].as_str().unwrap().chars().count() <= 5);
    assert_eq!(sent[0].1["url"], "https://aurora.example/tickets");
    assert!(
        eventually(20, || async {
            messages(&app, "notify:ticket.status_changed:").await[0].0 == "sandboxed"
        })
        .await
    );

    // The brand tells customers only when their ticket is solved.
    let mut only_solved = rule.clone();
    only_solved["only_when"] = json!({ "property": "new_kind", "values": ["solved"] });
    let saved: Value = admin
        .post("/api/v1/notification-rules", only_solved)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(saved["only_when"]["values"], json!(["solved"]));
    for (status, expected) in [("open", 1), ("waiting_parts", 1), ("solved", 2)] {
        let r = agent
            .post(
                &format!("/api/v1/tickets/{id}/status"),
                json!({ "status": status }),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            messages(&app, "notify:ticket.status_changed:").await.len(),
            expected,
            "after {status}"
        );
    }
    let mut unknown = rule.clone();
    unknown["only_when"] = json!({ "property": "carrier", "values": ["SF"] });
    let r = admin.post("/api/v1/notification-rules", unknown).await;
    assert_eq!(error_code(r, 400).await, "unknown_property");
    let kept: Value = admin
        .get("/api/v1/notification-rules/ticket.status_changed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        kept["only_when"]["property"], "new_kind",
        "a refused rule changes nothing"
    );
}

#[tokio::test]
async fn bad_rules_are_refused_and_change_nothing() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_rules").await;
    let oa = account(&admin, "official_account", "wx_oa_rules").await;
    assert_eq!(
        admin
            .post("/api/v1/notification-rules", paid_rule(&mp))
            .await
            .status(),
        200
    );
    let before: Value = admin
        .get("/api/v1/notification-rules")
        .await
        .json()
        .await
        .unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut rule = paid_rule(&mp);
        f(&mut rule);
        rule
    };
    let cases = [
        (
            with(&|r| r["channels"][0]["fields"][0]["key"] = json!("colour1")),
            "unknown_field_type",
        ),
        (
            with(&|r| r["channels"][0]["template_id"] = json!("T".repeat(129))),
            "invalid_template_id",
        ),
        (
            with(&|r| r["event_name"] = json!("order.teleported")),
            "unknown_event",
        ),
        (
            with(&|r| r["channels"][0]["fields"][1]["value"] = json!("{price}")),
            "unknown_property",
        ),
        (
            with(&|r| r["channels"][0]["account_id"] = json!(oa)),
            "wrong_account_kind",
        ),
        (
            with(&|r| r["channels"][0]["fields"][1]["key"] = json!("character_string1")),
            "duplicate_field",
        ),
        (with(&|r| r["channels"] = json!([])), "invalid_channels"),
        (
            with(&|r| r["time_zone"] = json!("Mars/Olympus")),
            "invalid_time_zone",
        ),
    ];
    for (rule, code) in cases {
        let r = admin.post("/api/v1/notification-rules", rule).await;
        assert_eq!(error_code(r, 400).await, code);
    }
    let after: Value = admin
        .get("/api/v1/notification-rules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after);
    let audit = count(
        app.db(),
        "SELECT COUNT(*) FROM audit_log WHERE action = 'notification_rule.save'",
    )
    .await;
    assert_eq!(audit, 1);
    // Staff without the channels area may not change rules.
    let agent = app.user("service_agent", None).await;
    let r = agent
        .post("/api/v1/notification-rules", paid_rule(&mp))
        .await;
    assert_eq!(r.status(), 403);
    let events: Value = admin
        .get("/api/v1/notification-rules/events")
        .await
        .json()
        .await
        .unwrap();
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "ticket.status_changed"));
    let r = admin.get("/api/v1/notification-rules/order.shipped").await;
    assert_eq!(error_code(r, 404).await, "notification_rule_not_found");
}

#[tokio::test]
async fn the_console_lists_and_edits_rules() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let mp = account(&admin, "mini_program", "wx_mp_page").await;
    assert_eq!(
        admin
            .post("/api/v1/notification-rules", paid_rule(&mp))
            .await
            .status(),
        200
    );
    let marketing = app.user("marketing", None).await;
    let page = marketing.get("/admin/channels/notifications").await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        body.contains("id=\"notification-rules\"") && body.contains("subscribe TPL_ORDER_PAID")
    );
    let edit = marketing
        .get("/admin/channels/notifications?event=order.paid")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        edit.contains("character_string1"),
        "the form holds the rule"
    );

    let form = |fields: Vec<(&str, String)>| {
        marketing
            .client
            .post(app.url("/admin/channels/notifications"))
            .header("x-csrf-token", &marketing.csrf)
            .header("hx-request", "true")
            .form(&fields)
            .send()
    };
    let shipped = json!([{ "via": "subscribe", "account_id": mp, "template_id": "TPL_SHIPPED",
        "fields": [{ "key": "character_string1", "value": "{tracking_no}" }, { "key": "thing2", "value": "{carrier}" }] }]);
    let r = form(vec![
        ("event_name", "order.shipped".into()),
        ("channels", shipped.to_string()),
        ("time_zone", String::new()),
        ("enabled", "on".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("subscribe TPL_SHIPPED") && body.contains("alert-ok"));
    // Only express parcels: the condition is saved and shown.
    let r = form(vec![
        ("event_name", "order.shipped".into()),
        ("channels", shipped.to_string()),
        ("only_when_property", "carrier".into()),
        ("only_when_values", "SF, JD".into()),
        ("enabled", "on".into()),
    ])
    .await
    .unwrap();
    assert!(r.text().await.unwrap().contains("carrier = SF, JD"));
    let saved: Value = admin
        .get("/api/v1/notification-rules/order.shipped")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        saved["only_when"],
        json!({ "property": "carrier", "values": ["SF", "JD"] })
    );

    // Refused input says why and stores nothing.
    let bad = json!([{ "via": "subscribe", "account_id": mp, "template_id": "TPL_SHIPPED",
        "fields": [{ "key": "colour1", "value": "{carrier}" }] }]);
    let r = form(vec![
        ("event_name", "order.cancelled".into()),
        ("channels", bad.to_string()),
        ("enabled", "on".into()),
    ])
    .await
    .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("alert-error") && body.contains("colour1"));
    let r = form(vec![
        ("event_name", "order.cancelled".into()),
        ("channels", "not json".into()),
    ])
    .await
    .unwrap();
    assert!(r.text().await.unwrap().contains("alert-error"));
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM notification_rules").await,
        2
    );
    let analyst = app.user("data_analyst", None).await;
    assert_eq!(
        analyst.get("/admin/channels/notifications").await.status(),
        403
    );
}
