//! Tickets with SLAs: the storefront and service desk flows over HTTP,
//! business-time due dates, pauses, and breaches recorded exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use chrono::TimeZone;
use common::{count, error_code, Session, TestApp};
use cove_core::audience::domain::profile_for;
use cove_core::audience::{IdType, Identifier};
use cove_core::clock::{self, Micros, DAY};
use cove_core::db::new_id;
use cove_core::service::tickets::{self, Author, NewTicket, Ticket, Timer};
use serde_json::{json, Value};

/// A member who is also a profile: (member_id, profile_id).
async fn member(app: &TestApp) -> (String, String) {
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
        "INSERT INTO members (id, member_no, name, city, tier, joined_channel, joined_at, profile_id, tier_since) \
         VALUES ($1, $2, '客户', '上海', 'silver', 'mini_program', 0, $3, $4)",
    )
    .bind(&member_id)
    .bind(format!("M{}", &member_id[24..]))
    .bind(&profile_id)
    .bind(clock::now())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (member_id, profile_id)
}

/// Registers a device and binds it to `member_id` directly.
async fn device_of(app: &TestApp, tag: &str, member_id: &str) {
    let pool = app.db().pool();
    let category = new_id();
    sqlx::query(
        "INSERT INTO categories (id, code, name_zh, name_en) VALUES ($1, $2, '电脑', 'PCs')",
    )
    .bind(&category)
    .bind(format!("pc-{tag}"))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) \
         VALUES ($1, $2, $3, '极光', 'Aurora', 'device', 699900, 'active', 0)",
    )
    .bind(new_id())
    .bind(format!("M-{tag}"))
    .bind(&category)
    .execute(pool)
    .await
    .unwrap();
    let row = cove_core::service::import::ImportRow {
        service_tag: tag.into(),
        model: format!("M-{tag}"),
        serial: format!("SN-{tag}"),
        shipped_on: "2026-01-10".into(),
        sales_channel: "direct".into(),
        region: "CN".into(),
    };
    let report = cove_core::service::import::import(app.db(), vec![(1, row)], false)
        .await
        .unwrap();
    assert!(report.committed, "{report:?}");
    sqlx::query("UPDATE devices SET member_id = $1 WHERE service_tag = $2")
        .bind(member_id)
        .bind(tag)
        .execute(pool)
        .await
        .unwrap();
}

async fn user_id(app: &TestApp, session: &Session) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&session.email)
        .fetch_one(app.db().pool())
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let code = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code, status, "{body}");
    body
}

/// A local Shanghai time as micros.
fn sh(y: i32, m: u32, d: u32, h: u32, min: u32) -> Micros {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .timestamp_micros()
}

async fn open_in(
    conn: &mut cove_core::db::Conn,
    backend: cove_core::db::Backend,
    profile_id: &str,
    priority: &str,
    at: Micros,
) -> Ticket {
    tickets::open(
        conn,
        backend,
        NewTicket {
            kind: "after_sales".into(),
            subject: "屏幕闪烁".into(),
            body: "开机后屏幕闪烁".into(),
            priority: Some(priority.into()),
            channel: "wecom".into(),
            profile_id: profile_id.into(),
            member_id: None,
            service_tag: None,
            order_id: None,
            team_id: None,
            attachments: Vec::new(),
            author: Author::Customer {
                profile_id: profile_id.into(),
            },
        },
        at,
    )
    .await
    .unwrap()
}

async fn open_at(app: &TestApp, profile_id: &str, priority: &str, at: Micros) -> Ticket {
    let mut tx = app.db().begin().await.unwrap();
    let ticket = open_in(&mut tx, app.db().backend(), profile_id, priority, at).await;
    tx.commit().await.unwrap();
    ticket
}

async fn timers(app: &TestApp, ticket_id: &str) -> (Timer, Timer) {
    let mut conn = app.db().pool().acquire().await.unwrap();
    let all = tickets::ticket::timers(&mut conn, ticket_id).await.unwrap();
    let first = all
        .iter()
        .find(|t| t.metric == "first_response")
        .unwrap()
        .clone();
    let resolution = all
        .iter()
        .find(|t| t.metric == "resolution")
        .unwrap()
        .clone();
    (first, resolution)
}

async fn status_at(app: &TestApp, ticket_id: &str, status: &str, at: Micros) -> Ticket {
    let mut tx = app.db().begin().await.unwrap();
    let t = tickets::set_status(
        &mut tx,
        app.db().backend(),
        ticket_id,
        status,
        &Author::System,
        at,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    t
}

async fn events(app: &TestApp, name: &str, profile_id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM raw_events WHERE event = $1 AND profile_id = $2")
        .bind(name)
        .bind(profile_id)
        .fetch_one(app.db().pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn customer_opens_agent_replies_customer_sees_no_notes() {
    let (app, _db) = TestApp::spawn().await;
    let (member_id, profile) = member(&app).await;
    device_of(&app, "CV7K2M9", &member_id).await;
    let customer = app.customer(&profile).await;
    let agent = app.user("service_agent", None).await;

    let ticket = json_of(
        customer
            .post(
                "/api/v1/me/tickets",
                json!({"kind": "after_sales", "subject": "键盘失灵", "body": "部分按键无反应", "service_tag": "CV7K2M9",
                       "attachments": [{"name": "photo.jpg", "url": "https://cdn.example.com/p.jpg", "size": 12345, "content_type": "image/jpeg"}]}),
            )
            .await,
        201,
    )
    .await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    assert!(ticket["number"].as_str().unwrap().starts_with('T'));
    assert_eq!(ticket["status"], "new");
    assert_eq!(ticket["channel"], "storefront");
    assert_eq!(ticket["member_id"], member_id.as_str());
    assert_eq!(events(&app, "ticket.opened", &profile).await, 1);

    // The agent's queue shows it; an internal note first, then a reply.
    let queue = json_of(agent.get("/api/v1/tickets?status=new").await, 200).await;
    assert!(queue
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id.as_str()));
    json_of(
        agent
            .post(
                &format!("/api/v1/tickets/{id}/messages"),
                json!({"body": "疑似排线松动", "internal": true}),
            )
            .await,
        201,
    )
    .await;
    let (first, _) = timers(&app, &id).await;
    assert!(first.met_at.is_none(), "an internal note is no response");
    json_of(
        agent
            .post(
                &format!("/api/v1/tickets/{id}/messages"),
                json!({"body": "您好，请寄回检测"}),
            )
            .await,
        201,
    )
    .await;
    let (first, resolution) = timers(&app, &id).await;
    assert!(
        first.met_at.is_some(),
        "the first public reply meets the first response"
    );
    assert!(resolution.met_at.is_none());

    let detail = json_of(agent.get(&format!("/api/v1/tickets/{id}")).await, 200).await;
    assert_eq!(
        detail["ticket"]["status"], "open",
        "a reply opens a new ticket"
    );
    assert!(detail["ticket"]["first_responded_at"].is_i64());
    assert_eq!(detail["messages"].as_array().unwrap().len(), 3);
    assert_eq!(detail["timers"].as_array().unwrap().len(), 2);
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "note_added", "replied", "status_changed"]);

    // The customer sees their message and the reply, not the note.
    let mine = json_of(customer.get(&format!("/api/v1/me/tickets/{id}")).await, 200).await;
    let bodies: Vec<&str> = mine["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["部分按键无反应", "您好，请寄回检测"]);
    assert_eq!(mine["messages"][0]["attachments"][0]["name"], "photo.jpg");
    assert!(mine["events"].as_array().unwrap().is_empty());
    assert!(mine["timers"].as_array().unwrap().is_empty());
    assert_eq!(events(&app, "ticket.replied", &profile).await, 1);
    assert_eq!(events(&app, "ticket.status_changed", &profile).await, 1);

    // Someone else sees nothing of it.
    let (_, other_profile) = member(&app).await;
    let other = app.customer(&other_profile).await;
    assert_eq!(
        error_code(other.get(&format!("/api/v1/me/tickets/{id}")).await, 404).await,
        "ticket_not_found"
    );
    assert_eq!(
        error_code(
            other
                .post(
                    &format!("/api/v1/me/tickets/{id}/messages"),
                    json!({"body": "hi"})
                )
                .await,
            404
        )
        .await,
        "ticket_not_found"
    );
    let list = json_of(other.get("/api/v1/me/tickets").await, 200).await;
    assert!(list.as_array().unwrap().is_empty());
    let list = json_of(customer.get("/api/v1/me/tickets").await, 200).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Nor can they name a device that is not theirs.
    assert_eq!(
        error_code(
            other
                .post("/api/v1/me/tickets", json!({"kind": "after_sales", "subject": "x", "body": "y", "service_tag": "CV7K2M9"}))
                .await,
            400
        )
        .await,
        "device_not_yours"
    );
}

#[tokio::test]
async fn statuses_drive_timers_and_notify() {
    let (app, _db) = TestApp::spawn().await;
    let (_, profile) = member(&app).await;
    let customer = app.customer(&profile).await;
    let agent = app.user("service_agent", None).await;
    let ticket = json_of(
        customer
            .post(
                "/api/v1/me/tickets",
                json!({"kind": "pre_sales", "subject": "选购咨询", "body": "哪款适合设计？"}),
            )
            .await,
        201,
    )
    .await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let status = |s: &str| json!({ "status": s });

    let t = json_of(
        agent
            .post(
                &format!("/api/v1/tickets/{id}/status"),
                status("waiting_customer"),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(t["status_kind"], "pending");
    let (first, resolution) = timers(&app, &id).await;
    assert!(resolution.paused_at.is_some(), "pending pauses resolution");
    assert!(
        first.paused_at.is_none(),
        "the first response does not pause"
    );
    let paused = json_of(agent.get("/api/v1/tickets?status=kind:pending").await, 200).await;
    assert_eq!(paused.as_array().unwrap().len(), 1);

    json_of(
        agent
            .post(&format!("/api/v1/tickets/{id}/status"), status("open"))
            .await,
        200,
    )
    .await;
    let (_, resolution) = timers(&app, &id).await;
    assert!(resolution.paused_at.is_none());

    let t = json_of(
        agent
            .post(&format!("/api/v1/tickets/{id}/status"), status("solved"))
            .await,
        200,
    )
    .await;
    assert!(t["solved_at"].is_i64());
    let (_, resolution) = timers(&app, &id).await;
    assert!(resolution.met_at.is_some(), "solved meets resolution");

    // The customer's reply reopens it and restarts the clock.
    json_of(
        customer
            .post(
                &format!("/api/v1/me/tickets/{id}/messages"),
                json!({"body": "还有一个问题"}),
            )
            .await,
        201,
    )
    .await;
    let mine = json_of(customer.get(&format!("/api/v1/me/tickets/{id}")).await, 200).await;
    assert_eq!(mine["ticket"]["status"], "open");
    assert!(mine["ticket"]["solved_at"].is_null());
    let (_, resolution) = timers(&app, &id).await;
    assert!(resolution.met_at.is_none(), "reopening restarts resolution");

    json_of(
        agent
            .post(&format!("/api/v1/tickets/{id}/status"), status("closed"))
            .await,
        200,
    )
    .await;
    assert_eq!(
        error_code(
            customer
                .post(
                    &format!("/api/v1/me/tickets/{id}/messages"),
                    json!({"body": "?"})
                )
                .await,
            409
        )
        .await,
        "ticket_closed"
    );
    assert_eq!(
        error_code(
            agent
                .post(&format!("/api/v1/tickets/{id}/status"), status("open"))
                .await,
            409
        )
        .await,
        "ticket_closed"
    );
    // open → pending → open → solved → open (reopen) → closed.
    assert_eq!(events(&app, "ticket.status_changed", &profile).await, 5);
    let props: String = sqlx::query_scalar(
        "SELECT properties FROM raw_events WHERE event = 'ticket.status_changed' AND profile_id = $1 ORDER BY occurred_at LIMIT 1",
    )
    .bind(&profile)
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    let props: Value = serde_json::from_str(&props).unwrap();
    assert_eq!(props["old_status"], "new");
    assert_eq!(props["new_status"], "waiting_customer");
    assert_eq!(props["new_kind"], "pending");
}

#[tokio::test]
async fn business_hours_due_dates_across_a_weekend_and_a_holiday() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let (_, profile) = member(&app).await;
    // The standard policy with the National Day holiday (Oct 1–7).
    let mut policy = json_of(admin.get("/api/v1/sla-policies").await, 200).await[0].clone();
    policy["holidays"] = json!((1..=7)
        .map(|d| format!("2026-10-{d:02}"))
        .collect::<Vec<_>>());
    json_of(admin.post("/api/v1/sla-policies", policy).await, 200).await;

    // Saturday 17:00, urgent (30 / 240): Sunday is off.
    let t = open_at(&app, &profile, "urgent", sh(2026, 9, 26, 17, 0)).await;
    let (first, resolution) = timers(&app, &t.id).await;
    assert_eq!(first.due_at, sh(2026, 9, 26, 17, 30));
    // 60 on Saturday, 180 from Monday 09:00.
    assert_eq!(resolution.due_at, sh(2026, 9, 28, 12, 0));

    // Lowered to low (480 / 2880), recomputed from the start.
    let mut tx = app.db().begin().await.unwrap();
    tickets::set_priority(
        &mut tx,
        app.db().backend(),
        &t.id,
        "low",
        &Author::System,
        sh(2026, 9, 26, 17, 10),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (first, resolution) = timers(&app, &t.id).await;
    // 60 Saturday + 420 Monday.
    assert_eq!(first.due_at, sh(2026, 9, 28, 16, 0));
    // 60 Saturday, 540 each Mon–Wed (Sept 28–30), Oct 1–7 holidays, 540
    // Thursday Oct 8, 540 Friday, the last 120 on Saturday Oct 10.
    assert_eq!(resolution.due_at, sh(2026, 10, 10, 11, 0));

    // Wednesday Sept 30 17:00, high (60 / 480): the day's last hour, then the holiday.
    let t = open_at(&app, &profile, "high", sh(2026, 9, 30, 17, 0)).await;
    let (first, resolution) = timers(&app, &t.id).await;
    assert_eq!(first.due_at, sh(2026, 9, 30, 18, 0));
    assert_eq!(resolution.due_at, sh(2026, 10, 8, 16, 0));
}

#[tokio::test]
async fn a_pause_pushes_the_due_date_by_business_time() {
    let (app, _db) = TestApp::spawn().await;
    let (_, profile) = member(&app).await;
    // Tuesday Sept 15 10:00, normal (240 / 1440).
    let t = open_at(&app, &profile, "normal", sh(2026, 9, 15, 10, 0)).await;
    let (first, resolution) = timers(&app, &t.id).await;
    assert_eq!(first.due_at, sh(2026, 9, 15, 14, 0));
    // 480 Tuesday + 540 Wednesday + 420 Thursday.
    assert_eq!(resolution.due_at, sh(2026, 9, 17, 16, 0));

    // Waiting on parts from Tuesday 11:00 to Saturday 10:00 (2 days + 7h +
    // 1h of business time: 420 + 540 + 540 + 540 + 60 = 2100 minutes).
    status_at(&app, &t.id, "waiting_parts", sh(2026, 9, 15, 11, 0)).await;
    let (first, resolution) = timers(&app, &t.id).await;
    assert!(first.paused_at.is_none());
    assert_eq!(resolution.paused_at, Some(sh(2026, 9, 15, 11, 0)));
    status_at(&app, &t.id, "open", sh(2026, 9, 19, 10, 0)).await;
    let (_, resolution) = timers(&app, &t.id).await;
    assert_eq!(resolution.paused_at, None);
    assert_eq!(resolution.paused_total, 2100);
    // Thursday 16:00 + 2100: 120 Thu, 540 Fri, 540 Sat, Sunday off, 540
    // Mon, 360 Tue → Tuesday Sept 22 15:00.
    assert_eq!(resolution.due_at, sh(2026, 9, 22, 15, 0));
    let history: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ticket_events WHERE ticket_id = $1 AND kind = 'status_changed'",
    )
    .bind(&t.id)
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(history, 2);
}

#[tokio::test]
async fn breaches_are_recorded_once_under_concurrent_checks() {
    let (app, _db) = TestApp::spawn().await;
    let (_, profile) = member(&app).await;
    let long_ago = clock::now() - 30 * DAY;
    let late = open_at(&app, &profile, "urgent", long_ago).await;
    // A paused ticket past due is not breached; neither is a met timer.
    // (Set up in one transaction: the scheduled check runs meanwhile.)
    let agent = app.user("service_agent", None).await;
    let agent_id = user_id(&app, &agent).await;
    let backend = app.db().backend();
    let mut tx = app.db().begin().await.unwrap();
    let paused = open_in(&mut tx, backend, &profile, "urgent", long_ago).await;
    tickets::set_status(
        &mut tx,
        backend,
        &paused.id,
        "waiting_customer",
        &Author::System,
        long_ago + 1,
    )
    .await
    .unwrap();
    let agent = Author::Agent { user_id: agent_id };
    tickets::reply(
        &mut tx,
        backend,
        &paused.id,
        &agent,
        "在的",
        false,
        &[],
        long_ago + 2,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // More late tickets of another customer, checked by four at once.
    let (_, crowd) = member(&app).await;
    for _ in 0..10 {
        open_at(&app, &crowd, "normal", long_ago).await;
    }
    let now = clock::now();
    let (a, b, c, d) = tokio::join!(
        tickets::check_breaches(app.db(), now),
        tickets::check_breaches(app.db(), now),
        tickets::check_breaches(app.db(), now),
        tickets::check_breaches(app.db(), now)
    );
    // The scheduled check may have taken some of them first.
    let recorded = a.unwrap() + b.unwrap() + c.unwrap() + d.unwrap();
    assert!(recorded <= 22, "{recorded}");
    assert_eq!(tickets::check_breaches(app.db(), now).await.unwrap(), 0);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM sla_breaches").await,
        22
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(DISTINCT timer_id) FROM sla_breaches"
        )
        .await,
        22
    );
    assert_eq!(events(&app, "ticket.sla_breached", &crowd).await, 20);
    let breaches = |id: String| {
        let db = app.db().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sla_breaches WHERE ticket_id = $1")
                .bind(id)
                .fetch_one(db.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(breaches(late.id.clone()).await, 2, "both timers, once each");
    assert_eq!(breaches(paused.id.clone()).await, 0);
    assert_eq!(events(&app, "ticket.sla_breached", &profile).await, 2);
    let (first, resolution) = timers(&app, &late.id).await;
    assert!(first.breached_at.is_some() && resolution.breached_at.is_some());

    let admin = app.user("admin", None).await;
    let breached = json_of(admin.get("/api/v1/tickets?breached=true").await, 200).await;
    let ids = ids_of(&breached);
    assert_eq!(ids.len(), 11);
    assert!(ids.contains(&late.id.as_str()) && !ids.contains(&paused.id.as_str()));
    let fine = json_of(admin.get("/api/v1/tickets?breached=false").await, 200).await;
    assert_eq!(fine.as_array().unwrap().len(), 1);
    assert_eq!(fine[0]["id"], paused.id.as_str());
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ticket_events WHERE ticket_id = $1 AND kind = 'sla_breached'",
    )
    .bind(&late.id)
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    assert_eq!(events, 2);
}

#[tokio::test]
async fn assignment_teams_and_search() {
    let (app, _db) = TestApp::spawn().await;
    let (member_id, profile) = member(&app).await;
    let lead = app.user("service_agent", None).await;
    let engineer = app.user("service_agent", None).await;
    let engineer_id = user_id(&app, &engineer).await;
    let lead_id = user_id(&app, &lead).await;

    let team = json_of(
        lead.post("/api/v1/teams", json!({"code": "l2", "name": "二线支持"}))
            .await,
        200,
    )
    .await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    let team = json_of(
        lead.post(
            &format!("/api/v1/teams/{team_id}/members"),
            json!({"user_ids": [engineer_id]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(team["members"], json!([engineer_id]));

    let ticket = json_of(
        lead.post(
            "/api/v1/tickets",
            json!({"kind": "after_sales", "subject": "电池鼓包", "body": "客户来电", "member_id": member_id, "priority": "high"}),
        )
        .await,
        201,
    )
    .await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let number = ticket["number"].as_str().unwrap().to_owned();
    assert_eq!(ticket["channel"], "staff");
    assert_eq!(ticket["profile_id"], profile.as_str());

    assert_eq!(
        error_code(
            lead.post(
                &format!("/api/v1/tickets/{id}/assign"),
                json!({"assignee_id": lead_id, "team_id": team_id})
            )
            .await,
            400
        )
        .await,
        "assignee_not_in_team"
    );
    let t = json_of(
        lead.post(
            &format!("/api/v1/tickets/{id}/assign"),
            json!({"assignee_id": engineer_id, "team_id": team_id}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["assignee_id"], engineer_id.as_str());

    let by = |q: String| {
        let lead = &lead;
        async move {
            json_of(lead.get(&format!("/api/v1/tickets?{q}")).await, 200)
                .await
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(by(format!("assignee={engineer_id}")).await, 1);
    assert_eq!(by(format!("assignee={lead_id}")).await, 0);
    assert_eq!(by("assignee=none".into()).await, 0);
    assert_eq!(by(format!("team={team_id}")).await, 1);
    assert_eq!(by(format!("q={number}")).await, 1);
    assert_eq!(by(format!("q={}", number.to_lowercase())).await, 1);
    assert_eq!(by("q=%E7%94%B5%E6%B1%A0".into()).await, 1); // 电池
    assert_eq!(by("q=nothing-like-it".into()).await, 0);
    assert_eq!(by("breached=false".into()).await, 1);

    let t = json_of(
        lead.post(
            &format!("/api/v1/tickets/{id}/priority"),
            json!({"priority": "urgent"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["priority"], "urgent");
    let detail = json_of(lead.get(&format!("/api/v1/tickets/{id}")).await, 200).await;
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "assigned", "priority_changed"]);
}

#[tokio::test]
async fn brand_statuses_over_fixed_kinds() {
    let (app, _db) = TestApp::spawn().await;
    let admin = app.user("admin", None).await;
    let status = json!({"code": "waiting_engineer", "name_zh": "等待工程师", "name_en": "Waiting on engineer", "kind": "pending", "position": 45});
    json_of(admin.post("/api/v1/ticket-statuses", status).await, 200).await;
    let list = json_of(admin.get("/api/v1/ticket-statuses").await, 200).await;
    let codes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "new",
            "open",
            "waiting_customer",
            "waiting_parts",
            "waiting_engineer",
            "solved",
            "closed"
        ]
    );

    let (_, profile) = member(&app).await;
    let t = open_at(&app, &profile, "normal", clock::now()).await;
    let t = status_at(&app, &t.id, "waiting_engineer", clock::now()).await;
    assert_eq!(t.status_kind, "pending");
    let (_, resolution) = timers(&app, &t.id).await;
    assert!(resolution.paused_at.is_some());

    // A status in use keeps its kind.
    let changed = json!({"code": "waiting_engineer", "name_zh": "等待工程师", "name_en": "Waiting on engineer", "kind": "open"});
    assert_eq!(
        error_code(admin.post("/api/v1/ticket-statuses", changed).await, 409).await,
        "status_in_use"
    );
    let last = json!({"code": "new", "name_zh": "新建", "name_en": "New", "kind": "open"});
    assert_eq!(
        error_code(admin.post("/api/v1/ticket-statuses", last).await, 409).await,
        "last_status_of_kind"
    );
    let bad = json!({"code": "x", "name_zh": "x", "name_en": "x", "kind": "waiting"});
    assert_eq!(
        error_code(admin.post("/api/v1/ticket-statuses", bad).await, 400).await,
        "invalid_status_kind"
    );
    let bad = json!({"code": "Bad Code", "name_zh": "x", "name_en": "x", "kind": "open"});
    assert_eq!(
        error_code(admin.post("/api/v1/ticket-statuses", bad).await, 400).await,
        "invalid_status_code"
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM ticket_statuses").await,
        7
    );
}

#[tokio::test]
async fn access_control() {
    let (app, _db) = TestApp::spawn().await;
    let (_, profile) = member(&app).await;
    let t = open_at(&app, &profile, "normal", clock::now()).await;
    let analyst = app.user("data_analyst", None).await;
    let marketing = app.user("marketing", None).await;
    let customer = app.customer(&profile).await;

    json_of(analyst.get("/api/v1/tickets").await, 200).await;
    json_of(analyst.get(&format!("/api/v1/tickets/{}", t.id)).await, 200).await;
    assert_eq!(
        error_code(
            analyst
                .post(
                    &format!("/api/v1/tickets/{}/messages", t.id),
                    json!({"body": "hi"})
                )
                .await,
            403
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        error_code(
            analyst
                .post(
                    &format!("/api/v1/tickets/{}/status", t.id),
                    json!({"status": "solved"})
                )
                .await,
            403
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        error_code(marketing.get("/api/v1/tickets").await, 403).await,
        "forbidden"
    );
    assert_eq!(
        error_code(marketing.get("/api/v1/sla-policies").await, 403).await,
        "forbidden"
    );
    assert_eq!(customer.get("/api/v1/tickets").await.status(), 401);
    let anonymous = reqwest::Client::new();
    assert_eq!(
        anonymous
            .get(app.url("/api/v1/me/tickets"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM ticket_messages").await,
        1
    );
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let (app, _db) = TestApp::spawn().await;
    let (member_id, profile) = member(&app).await;
    let customer = app.customer(&profile).await;
    let agent = app.user("service_agent", None).await;
    let open = |body: Value| customer.post("/api/v1/me/tickets", body);

    let cases = [
        (
            json!({"kind": "complaint", "subject": "s", "body": "b"}),
            "invalid_ticket_kind",
        ),
        (
            json!({"kind": "pre_sales", "subject": "  ", "body": "b"}),
            "invalid_subject",
        ),
        (
            json!({"kind": "pre_sales", "subject": "s", "body": ""}),
            "invalid_message",
        ),
        (
            json!({"kind": "pre_sales", "subject": "s", "body": "b", "order_id": "nope"}),
            "order_not_yours",
        ),
        (
            json!({"kind": "pre_sales", "subject": "s", "body": "b", "service_tag": "NOPE123"}),
            "device_not_yours",
        ),
        (
            json!({"kind": "pre_sales", "subject": "s", "body": "b",
                   "attachments": [{"name": "x", "url": "javascript:alert(1)", "size": 1, "content_type": "text/plain"}]}),
            "invalid_attachment",
        ),
    ];
    for (body, code) in cases {
        assert_eq!(error_code(open(body).await, 400).await, code);
    }
    let staff = |body: Value| agent.post("/api/v1/tickets", body);
    assert_eq!(
        error_code(
            staff(json!({"kind": "pre_sales", "subject": "s", "body": "b", "member_id": member_id, "priority": "asap"})).await,
            400
        )
        .await,
        "invalid_priority"
    );
    assert_eq!(
        error_code(
            staff(json!({"kind": "pre_sales", "subject": "s", "body": "b", "member_id": "nobody"}))
                .await,
            400
        )
        .await,
        "unknown_member"
    );
    assert_eq!(
        error_code(
            staff(json!({"kind": "pre_sales", "subject": "s", "body": "b", "member_id": member_id, "channel": "fax"})).await,
            400
        )
        .await,
        "invalid_channel"
    );
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM ticket_messages").await,
        0
    );
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM sla_timers").await, 0);

    let t = open_at(&app, &profile, "normal", clock::now()).await;
    let id = t.id.clone();
    assert_eq!(
        error_code(
            agent
                .post(
                    &format!("/api/v1/tickets/{id}/status"),
                    json!({"status": "archived"})
                )
                .await,
            400
        )
        .await,
        "unknown_status"
    );
    assert_eq!(
        error_code(
            agent
                .post(
                    &format!("/api/v1/tickets/{id}/priority"),
                    json!({"priority": "asap"})
                )
                .await,
            400
        )
        .await,
        "invalid_priority"
    );
    assert_eq!(
        error_code(
            agent
                .post(
                    &format!("/api/v1/tickets/{id}/assign"),
                    json!({"assignee_id": "nobody"})
                )
                .await,
            400
        )
        .await,
        "unknown_agent"
    );
    assert_eq!(
        error_code(
            agent
                .post(
                    &format!("/api/v1/tickets/{id}/messages"),
                    json!({"body": " "})
                )
                .await,
            400
        )
        .await,
        "invalid_message"
    );
    assert_eq!(
        error_code(agent.get("/api/v1/tickets/nope").await, 404).await,
        "ticket_not_found"
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM ticket_events").await,
        1
    );
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM ticket_messages").await,
        1
    );

    // SLA policies and teams.
    let mut policy = json_of(agent.get("/api/v1/sla-policies").await, 200).await[0].clone();
    let cases = [
        ("timezone", json!("Mars/Olympus"), "invalid_timezone"),
        ("working_days", json!([]), "invalid_working_days"),
        ("day_end_minute", json!(300), "invalid_working_hours"),
        ("holidays", json!(["2026-02-30"]), "invalid_holiday"),
        (
            "targets",
            json!({"normal": {"first_response": 10, "resolution": 5}}),
            "invalid_targets",
        ),
    ];
    for (field, value, code) in cases {
        let mut bad = policy.clone();
        bad[field] = value;
        assert_eq!(
            error_code(agent.post("/api/v1/sla-policies", bad).await, 400).await,
            code
        );
    }
    policy["code"] = json!("vip");
    policy["is_default"] = json!(false);
    json_of(agent.post("/api/v1/sla-policies", policy).await, 200).await;
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM sla_policies").await,
        2
    );
    assert_eq!(
        count(
            app.db(),
            "SELECT COUNT(*) FROM sla_policies WHERE is_default = 1"
        )
        .await,
        1
    );
    assert_eq!(
        error_code(
            agent
                .post("/api/v1/teams", json!({"code": "", "name": "x"}))
                .await,
            400
        )
        .await,
        "invalid_team"
    );
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM teams").await, 0);
}

#[tokio::test]
async fn console_queue_and_ticket_pages_and_the_customers_list() {
    let (app, _db) = TestApp::spawn().await;
    let (_, profile) = member(&app).await;
    let agent = app.user("service_agent", None).await;
    let t = open_at(&app, &profile, "high", clock::now()).await;
    let note = agent
        .post(
            &format!("/api/v1/tickets/{}/messages", t.id),
            json!({"body": "内部：需要换主板", "internal": true}),
        )
        .await;
    json_of(note, 201).await;

    let queue = agent.get("/admin/service/tickets").await;
    assert_eq!(queue.status(), 200);
    let queue = queue.text().await.unwrap();
    assert!(
        queue.contains(&t.number) && queue.contains("屏幕闪烁"),
        "{queue}"
    );
    let filtered = agent
        .get("/admin/service/tickets?status=solved")
        .await
        .text()
        .await
        .unwrap();
    assert!(!filtered.contains(&format!("data-id=\"{}\"", t.id)));

    let page = agent.get(&format!("/admin/service/tickets/{}", t.id)).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("内部：需要换主板") && page.contains("id=\"reply-form\""));
    assert!(page.contains("id=\"status-form\"") && page.contains("id=\"assign-form\""));

    // Read-only staff see the ticket without the controls; others not at all.
    let analyst = app.user("data_analyst", None).await;
    let page = analyst
        .get(&format!("/admin/service/tickets/{}", t.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&t.number) && !page.contains("id=\"reply-form\""));
    let marketing = app.user("marketing", None).await;
    assert_eq!(marketing.get("/admin/service/tickets").await.status(), 403);

    // The customer's storefront list shows the status, not the note.
    let customer = app.customer(&profile).await;
    let store = customer
        .client
        .get(app.url("/service/tickets"))
        .header("cookie", format!("cove_customer={}", customer.token))
        .send()
        .await
        .unwrap();
    assert_eq!(store.status(), 200);
    let store = store.text().await.unwrap();
    assert!(
        store.contains(&t.number) && store.contains("新建") && !store.contains("换主板"),
        "{store}"
    );
    let anonymous = reqwest::get(app.url("/service/tickets"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(anonymous.contains("id=\"signed-out\""));
}

/// The value of the first `attr="..."` in `html`.
fn attr<'a>(html: &'a str, attr: &str) -> &'a str {
    let start = html.find(&format!("{attr}=\"")).expect(attr) + attr.len() + 2;
    let len = html[start..].find('"').unwrap();
    &html[start..start + len]
}

#[tokio::test]
async fn customers_open_and_follow_tickets_in_the_storefront() {
    let (app, _db) = TestApp::spawn().await;
    let (member_id, profile) = member(&app).await;
    device_of(&app, "ST4RF01", &member_id).await;
    let agent = app.user("service_agent", None).await;
    let customer = app.customer(&profile).await;
    let cookie = format!("cove_customer={}", customer.token);
    let page = |path: String| {
        customer
            .client
            .get(app.url(&path))
            .header("cookie", &cookie)
            .send()
    };

    // The form offers the member's bound devices.
    let form = page("/service/tickets/new".into()).await.unwrap();
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(form.contains("id=\"open-ticket\"") && form.contains("value=\"ST4RF01\""));
    let csrf = attr(&form, "data-csrf").to_owned();

    // What the form's script does: upload the photo, then open the ticket,
    // both with the storefront cookie and its CSRF token.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let part = reqwest::multipart::Part::bytes(png)
        .file_name("screen.png")
        .mime_str("image/png")
        .unwrap();
    let upload = customer
        .client
        .post(app.url("/api/v1/me/files"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let photo = json_of(upload, 201).await;
    let opened = customer
        .client
        .post(app.url("/api/v1/me/tickets"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(
            &json!({"kind": "after_sales", "subject": "屏幕闪烁", "body": "开机后闪烁",
                      "service_tag": "ST4RF01", "attachments": [{"url": photo["url"]}]}),
        )
        .send()
        .await
        .unwrap();
    let ticket = json_of(opened, 201).await;
    let id = ticket["id"].as_str().unwrap();
    assert_eq!(ticket["service_tag"], "ST4RF01");

    for (body, internal) in [("请重启试试", false), ("内部：疑似排线", true)] {
        let r = agent
            .post(
                &format!("/api/v1/tickets/{id}/messages"),
                json!({"body": body, "internal": internal}),
            )
            .await;
        json_of(r, 201).await;
    }

    let list = page("/service/tickets".into())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains(&format!("href=\"/service/tickets/{id}\""))
            && list.contains("id=\"new-ticket\"")
    );
    let detail = page(format!("/service/tickets/{id}")).await.unwrap();
    assert_eq!(detail.status(), 200);
    let detail = detail.text().await.unwrap();
    assert!(
        detail.contains("开机后闪烁") && detail.contains("请重启试试"),
        "{detail}"
    );
    assert!(!detail.contains("疑似排线"), "internal notes stay internal");
    assert!(detail.contains(&format!("src=\"{}\"", photo["url"].as_str().unwrap())));
    assert!(detail.contains("id=\"reply-ticket\"") && detail.contains("处理中"));

    // Someone else's ticket does not exist for this customer.
    let (_, stranger) = member(&app).await;
    let other = app.customer(&stranger).await;
    let r = other
        .client
        .get(app.url(&format!("/service/tickets/{id}")))
        .header("cookie", format!("cove_customer={}", other.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A closed ticket shows no reply form.
    let r = agent
        .post(
            &format!("/api/v1/tickets/{id}/status"),
            json!({"status": "closed"}),
        )
        .await;
    json_of(r, 200).await;
    let detail = page(format!("/service/tickets/{id}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(detail.contains("id=\"ticket-closed\"") && !detail.contains("id=\"reply-ticket\""));

    // The service desk links to the queue.
    let desk = agent.get("/admin/service").await.text().await.unwrap();
    assert!(desk.contains("href=\"/admin/service/tickets\""));
}

/// A storefront ticket of `profile` (through the API) and its SLA targets.
async fn open_as_customer(app: &TestApp, profile: &str) -> (Value, Value) {
    let customer = app.customer(profile).await;
    let ticket = json_of(
        customer
            .post(
                "/api/v1/me/tickets",
                json!({"kind": "after_sales", "subject": "无法开机", "body": "按电源键没有反应"}),
            )
            .await,
        201,
    )
    .await;
    let admin = app.user("service_agent", None).await;
    let id = ticket["id"].as_str().unwrap();
    let detail = json_of(admin.get(&format!("/api/v1/tickets/{id}")).await, 200).await;
    let targets = detail["timers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["metric"].as_str().unwrap().to_owned(),
                t["target_minutes"].clone(),
            )
        })
        .collect::<serde_json::Map<_, _>>();
    (detail["ticket"].clone(), Value::Object(targets))
}

#[tokio::test]
async fn priority_service_members_get_tighter_slas() {
    let (app, _db) = TestApp::spawn().await;
    let (_, ordinary) = member(&app).await;
    let (diamond_id, diamond) = member(&app).await;
    sqlx::query("UPDATE members SET tier = 'diamond' WHERE id = $1")
        .bind(&diamond_id)
        .execute(app.db().pool())
        .await
        .unwrap();

    // With only the standard policy, the benefit raises the priority.
    let (t, targets) = open_as_customer(&app, &ordinary).await;
    assert_eq!(t["priority"], "normal");
    assert_eq!(t["priority_service"], false);
    assert_eq!(targets, json!({"first_response": 240, "resolution": 1440}));
    let (t, targets) = open_as_customer(&app, &diamond).await;
    assert_eq!(t["priority"], "high");
    assert_eq!(t["priority_service"], true);
    assert_eq!(t["member_tier"], "diamond");
    assert_eq!(targets, json!({"first_response": 60, "resolution": 480}));
    let first_priority_ticket = t["id"].as_str().unwrap().to_owned();

    // The brand's priority policy applies to priority members only.
    let admin = app.user("admin", None).await;
    let policy = json_of(
        admin
            .post(
                "/api/v1/sla-policies",
                json!({"code": "priority", "name": "Priority service", "timezone": "Asia/Shanghai",
                       "working_days": [1, 2, 3, 4, 5, 6, 7], "day_start_minute": 480, "day_end_minute": 1320,
                       "for_priority_service": true,
                       "targets": {"urgent": {"first_response": 10, "resolution": 120},
                                   "high": {"first_response": 15, "resolution": 180},
                                   "normal": {"first_response": 30, "resolution": 360},
                                   "low": {"first_response": 60, "resolution": 720}}}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(policy["for_priority_service"], true);
    let (t, targets) = open_as_customer(&app, &diamond).await;
    assert_eq!(t["sla_policy_id"], policy["id"]);
    assert_eq!(targets, json!({"first_response": 15, "resolution": 180}));
    let (t, targets) = open_as_customer(&app, &ordinary).await;
    assert_eq!(t["sla_policy_id"], "default");
    assert_eq!(targets, json!({"first_response": 240, "resolution": 1440}));

    // Staff opening for the member keep the priority they chose, under the
    // member's policy.
    let agent = app.user("service_agent", None).await;
    let opened = json_of(
        agent
            .post(
                "/api/v1/tickets",
                json!({"kind": "pre_sales", "subject": "咨询", "body": "电话咨询", "member_id": diamond_id,
                       "priority": "low"}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(opened["priority"], "low");
    assert_eq!(opened["sla_policy_id"], policy["id"]);

    // A member who loses the tier loses the benefit on new tickets.
    sqlx::query("UPDATE members SET tier = 'gold' WHERE id = $1")
        .bind(&diamond_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let (t, targets) = open_as_customer(&app, &diamond).await;
    assert_eq!(t["priority_service"], false);
    assert_eq!(targets, json!({"first_response": 240, "resolution": 1440}));

    // The queue marks priority-service tickets and shows the member's tier.
    let queue = agent
        .get("/admin/service/tickets")
        .await
        .text()
        .await
        .unwrap();
    let row = |id: &str| {
        let start = queue.find(&format!("data-id=\"{id}\"")).unwrap();
        let end = start + queue[start..].find("</tr>").unwrap();
        queue[start..end].to_owned()
    };
    assert!(row(&first_priority_ticket).contains("priority-service"));
    assert!(!row(t["id"].as_str().unwrap()).contains("priority-service"));
    assert!(row(t["id"].as_str().unwrap()).contains("class=\"badge badge-grey tier\""));
}

/// The ids of a list of tickets, in order.
fn ids_of(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect()
}

/// Sets the running timers of a ticket to fall due at `due_at`.
async fn due_at(app: &TestApp, ticket_id: &str, due_at: Micros) {
    sqlx::query("UPDATE sla_timers SET due_at = $2 WHERE ticket_id = $1")
        .bind(ticket_id)
        .bind(due_at)
        .execute(app.db().pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_queue_puts_priority_then_due_time_then_age_first() {
    let (app, _db) = TestApp::spawn().await;
    let (_, profile) = member(&app).await;
    let now = clock::now();
    let old_normal = open_at(&app, &profile, "normal", now - 5 * DAY).await;
    let young_normal = open_at(&app, &profile, "normal", now - 4 * DAY).await;
    let high_due_late = open_at(&app, &profile, "high", now - 3 * DAY).await;
    let high_due_soon = open_at(&app, &profile, "high", now - 2 * DAY).await;
    let urgent = open_at(&app, &profile, "urgent", now - DAY).await;
    let low = open_at(&app, &profile, "low", now - 6 * DAY).await;
    let solved = open_at(&app, &profile, "urgent", now - 7 * DAY).await;
    status_at(&app, &solved.id, "solved", now - 6 * DAY).await;
    // The younger high ticket falls due first; the two normal ones together.
    due_at(&app, &high_due_late.id, now + 3 * DAY).await;
    due_at(&app, &high_due_soon.id, now + DAY).await;
    due_at(&app, &old_normal.id, now + 2 * DAY).await;
    due_at(&app, &young_normal.id, now + 2 * DAY).await;

    // A diamond member's ticket opens at high priority and lands among the
    // high ones, ahead of every normal ticket.
    let (diamond_id, diamond) = member(&app).await;
    sqlx::query("UPDATE members SET tier = 'diamond' WHERE id = $1")
        .bind(&diamond_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let (member_ticket, _) = open_as_customer(&app, &diamond).await;
    let member_ticket = member_ticket["id"].as_str().unwrap().to_owned();
    due_at(&app, &member_ticket, now + 2 * DAY).await;

    let expected = [
        urgent.id.as_str(),
        high_due_soon.id.as_str(),
        member_ticket.as_str(),
        high_due_late.id.as_str(),
        old_normal.id.as_str(),
        young_normal.id.as_str(),
        low.id.as_str(),
        solved.id.as_str(),
    ];
    let agent = app.user("service_agent", None).await;
    let listed = json_of(agent.get("/api/v1/tickets").await, 200).await;
    let ids = ids_of(&listed);
    assert_eq!(ids, expected);

    // The console queue shows the same order.
    let queue = agent
        .get("/admin/service/tickets")
        .await
        .text()
        .await
        .unwrap();
    let positions: Vec<usize> = expected
        .iter()
        .map(|id| queue.find(&format!("data-id=\"{id}\"")).expect(id))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

    // The customer's own list stays newest first.
    let mine = json_of(
        app.customer(&profile).await.get("/api/v1/me/tickets").await,
        200,
    )
    .await;
    let first = mine[0]["id"].as_str().unwrap();
    assert_eq!(first, urgent.id);
    let last = mine.as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap();
    assert_eq!(last, solved.id);
}
