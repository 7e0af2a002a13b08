//! On-site repair over HTTP: slots with capacity and buffers, booking,
//! rescheduling and cancelling (signed in and by link), dispatch, the
//! engineer's contact on the day only, completion with parts, one rating,
//! and 50 customers racing for the last slot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../service/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use chrono::{Days, NaiveDate, TimeZone, Utc};
use common::{count, error_code, CustomerClient, Session, TestApp};
use cove_core::clock::{self, Micros, DAY, HOUR};
use cove_core::service::entitlements::{Kind, Origin};
use cove_core::service::field::{appointments, view};
use cove_core::service::tickets::Author;
use cove_core::service::{warranty, ServiceTag};
use serde_json::{json, Value};

const SH: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A member who is also a profile: (member_id, profile_id).
async fn member(app: &TestApp) -> (String, String) {
    let owner = fixtures::member(app, "客户").await;
    (owner.member_id, owner.profile_id)
}

/// Registers laptops (the test catalog must exist), binds each to its
/// member and, when `onsite`, grants a year of on-site cover.
async fn devices(app: &TestApp, owned: &[(String, String)], onsite: bool) {
    let rows = owned
        .iter()
        .enumerate()
        .map(|(i, (tag, _))| (i + 1, fixtures::row(tag, fixtures::LAPTOP, "2026-01-10")))
        .collect();
    let report = cove_core::service::import::import(app.db(), rows, false)
        .await
        .unwrap();
    assert!(report.committed, "{report:?}");
    let pool = app.db().pool();
    for (tag, member_id) in owned {
        sqlx::query("UPDATE devices SET member_id = $1 WHERE service_tag = $2")
            .bind(member_id)
            .bind(tag)
            .execute(pool)
            .await
            .unwrap();
        if onsite {
            let mut conn = pool.acquire().await.unwrap();
            warranty::grant(
                &mut conn,
                &ServiceTag::parse(tag).unwrap(),
                Kind::Onsite,
                12,
                Origin::Purchased,
                "onsite-test",
                None,
                clock::now() - DAY,
            )
            .await
            .unwrap();
        }
    }
}

/// A member with one device, signed in: (client, member_id, profile_id).
async fn customer_with(app: &TestApp, tag: &str, onsite: bool) -> (CustomerClient, String, String) {
    let (member_id, profile) = member(app).await;
    devices(app, &[(tag.to_owned(), member_id.clone())], onsite).await;
    (app.customer(&profile).await, member_id, profile)
}

/// A started app with the test catalog and a service agent.
async fn start() -> (TestApp, common::TestDb, Session) {
    let (app, db) = TestApp::spawn().await;
    fixtures::catalog(&app).await;
    let agent = app.user("service_agent", None).await;
    (app, db, agent)
}

async fn put_engineer(app: &TestApp, agent: &Session, id: &str, body: &Value) {
    let response = agent
        .client
        .put(app.url(&format!("/api/v1/field/engineers/{id}")))
        .header("x-csrf-token", &agent.csrf)
        .json(body)
        .send()
        .await
        .unwrap();
    json_of(response, 200).await;
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let code = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code, status, "{body}");
    body
}

fn engineer(code: &str, territories: &[&str], skills: &[&str], day_start: u32) -> Value {
    json!({
        "code": code, "name": format!("工程师 {code}"), "phone": "+86 138 0000 0000",
        "skills": skills, "territories": territories, "timezone": "Asia/Shanghai",
        "working_days": [1, 2, 3, 4, 5, 6, 7], "day_start_minute": day_start, "day_end_minute": 1080,
    })
}

async fn add_engineer(agent: &Session, body: Value) -> Value {
    json_of(agent.post("/api/v1/field/engineers", body).await, 201).await
}

/// The local date `days` after today in Shanghai.
fn day(days: u64) -> NaiveDate {
    Utc::now()
        .with_timezone(&SH)
        .date_naive()
        .checked_add_days(Days::new(days))
        .unwrap()
}

fn at(date: NaiveDate, h: u32, m: u32) -> Micros {
    SH.from_local_datetime(&date.and_hms_opt(h, m, 0).unwrap())
        .unwrap()
        .timestamp_micros()
}

async fn slots(client: &CustomerClient, territory: &str, date: NaiveDate) -> Vec<(Micros, i64)> {
    let body = json_of(
        client
            .get(&format!(
                "/api/v1/store/slots?territory={territory}&from={date}&to={date}"
            ))
            .await,
        200,
    )
    .await;
    body.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["starts_at"].as_i64().unwrap(),
                s["capacity"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn booking(tag: &str, starts_at: Micros) -> Value {
    json!({"service_tag": tag, "territory": "sh", "address": "上海市徐汇区漕溪北路 1 号",
           "starts_at": starts_at})
}

#[tokio::test]
async fn booking_takes_capacity_and_keeps_travel_buffers() {
    let (app, _db, agent) = start().await;
    let a = add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    add_engineer(
        &agent,
        engineer("E-B", &["SH", "SZ"], &["laptop", "server"], 540),
    )
    .await;
    add_engineer(&agent, engineer("E-C", &["BJ"], &["laptop"], 540)).await;
    let (first, _, _) = customer_with(&app, "FSA0001", true).await;
    let (second, _, _) = customer_with(&app, "FSA0002", true).await;
    let (third, _, _) = customer_with(&app, "FSA0003", true).await;
    let d = day(1);
    let nine = at(d, 9, 0);

    // 09:00, 11:30 and 14:00 with two engineers each.
    assert_eq!(
        slots(&first, "SH", d).await,
        vec![(nine, 2), (at(d, 11, 30), 2), (at(d, 14, 0), 2)]
    );
    // Server work needs E-B only.
    let server = json_of(
        first
            .get(&format!(
                "/api/v1/store/slots?territory=SH&skill=server&from={d}&to={d}"
            ))
            .await,
        200,
    )
    .await;
    assert_eq!(server[0]["capacity"], 1);

    let booked = json_of(
        first
            .post("/api/v1/me/appointments", booking("FSA0001", nine))
            .await,
        201,
    )
    .await;
    assert_eq!(booked["appointment"]["status"], "scheduled");
    assert!(booked["token"].as_str().unwrap().len() >= 32);
    assert_eq!(slots(&first, "SH", d).await[0], (nine, 1));
    json_of(
        second
            .post("/api/v1/me/appointments", booking("FSA0002", nine))
            .await,
        201,
    )
    .await;
    assert_eq!(slots(&first, "SH", d).await[0], (at(d, 11, 30), 2));
    let full = third
        .post("/api/v1/me/appointments", booking("FSA0003", nine))
        .await;
    assert_eq!(error_code(full, 409).await, "slot_full");
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM field_appointments").await,
        2
    );
    // Each booking opened a ticket about the device.
    let tickets = count(
        app.db(),
        "SELECT COUNT(*) FROM tickets WHERE service_tag IN ('FSA0001', 'FSA0002') AND kind = 'after_sales'",
    )
    .await;
    assert_eq!(tickets, 2);

    // E-A's plan moves to start at 11:00: their 11:00 start lies inside the
    // travel buffer after the 09:00–11:00 visit, so only E-B's 11:30 is left
    // besides E-A's 13:30.
    let mut moved = engineer("E-A", &["SH"], &["laptop"], 660);
    moved["days_off"] = json!([]);
    let id = a["id"].as_str().unwrap();
    put_engineer(&app, &agent, id, &moved).await;
    let after: Vec<Micros> = slots(&first, "SH", d).await.iter().map(|s| s.0).collect();
    assert!(
        !after.contains(&at(d, 11, 0)),
        "11:00 is within the buffer: {after:?}"
    );
    assert!(after.contains(&at(d, 13, 30)) && after.contains(&at(d, 11, 30)));

    // A day off removes the engineer's slots.
    moved["day_start_minute"] = json!(540);
    moved["days_off"] = json!([d.succ_opt().unwrap().to_string()]);
    put_engineer(&app, &agent, id, &moved).await;
    let next = slots(&first, "SH", d.succ_opt().unwrap()).await;
    assert!(next.iter().all(|s| s.1 == 1), "{next:?}");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (app, _db, agent) = start().await;
    add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let (client, _, _) = customer_with(&app, "FSB0001", true).await;
    let (_, _, _) = customer_with(&app, "FSB0002", true).await;
    let (uncovered, _, _) = customer_with(&app, "FSB0003", false).await;
    let d = day(1);

    let backwards = client
        .get(&format!(
            "/api/v1/store/slots?territory=SH&from={d}&to={}",
            day(0)
        ))
        .await;
    assert_eq!(error_code(backwards, 400).await, "invalid_date_range");
    let garbled = client
        .get("/api/v1/store/slots?territory=SH&from=tomorrow&to=2026-13-01")
        .await;
    assert_eq!(error_code(garbled, 400).await, "invalid_date");
    let nowhere = client
        .get(&format!("/api/v1/store/slots?territory=XX&from={d}&to={d}"))
        .await;
    assert_eq!(error_code(nowhere, 400).await, "unknown_territory");

    let past = client
        .post(
            "/api/v1/me/appointments",
            booking("FSB0001", clock::now() - HOUR),
        )
        .await;
    assert_eq!(error_code(past, 400).await, "slot_too_soon");
    let mut elsewhere = booking("FSB0001", at(d, 9, 0));
    elsewhere["territory"] = json!("XX");
    let r = client.post("/api/v1/me/appointments", elsewhere).await;
    assert_eq!(error_code(r, 400).await, "unknown_territory");
    // 10:00 is not a slot start.
    let r = client
        .post("/api/v1/me/appointments", booking("FSB0001", at(d, 10, 0)))
        .await;
    assert_eq!(error_code(r, 409).await, "slot_full");
    let r = client
        .post("/api/v1/me/appointments", booking("FSB0002", at(d, 9, 0)))
        .await;
    assert_eq!(error_code(r, 400).await, "device_not_yours");
    let r = uncovered
        .post("/api/v1/me/appointments", booking("FSB0003", at(d, 9, 0)))
        .await;
    assert_eq!(error_code(r, 400).await, "no_onsite_entitlement");
    let mut blank = booking("FSB0001", at(d, 9, 0));
    blank["address"] = json!("  ");
    let r = client.post("/api/v1/me/appointments", blank).await;
    assert_eq!(error_code(r, 400).await, "invalid_address");
    let bad = agent
        .post(
            "/api/v1/field/engineers",
            engineer("E-X", &["SH"], &["laptop"], 1200),
        )
        .await;
    assert_eq!(error_code(bad, 400).await, "invalid_working_hours");

    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM field_appointments").await,
        0
    );
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM field_engineers").await,
        1
    );
}

#[tokio::test]
async fn reschedule_and_cancel_follow_the_rules() {
    let (app, _db, agent) = start().await;
    let e = add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let (client, _, _) = customer_with(&app, "FSC0001", true).await;
    let d = day(1);
    let booked = json_of(
        client
            .post("/api/v1/me/appointments", booking("FSC0001", at(d, 9, 0)))
            .await,
        201,
    )
    .await;
    let id = booked["appointment"]["id"].as_str().unwrap().to_owned();

    let moved = json_of(
        client
            .post(
                &format!("/api/v1/me/appointments/{id}/reschedule"),
                json!({"starts_at": at(d, 14, 0)}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(moved["starts_at"], at(d, 14, 0));
    assert_eq!(
        slots(&client, "SH", d).await,
        vec![(at(d, 9, 0), 1), (at(d, 11, 30), 1)]
    );
    let same = client
        .post(
            &format!("/api/v1/me/appointments/{id}/reschedule"),
            json!({"starts_at": at(d, 14, 0)}),
        )
        .await;
    assert_eq!(error_code(same, 400).await, "same_slot");
    let off_grid = client
        .post(
            &format!("/api/v1/me/appointments/{id}/reschedule"),
            json!({"starts_at": at(d, 15, 0)}),
        )
        .await;
    assert_eq!(error_code(off_grid, 409).await, "slot_full");

    // Once dispatched and rescheduled to a slot where the engineer is free,
    // the engineer stays.
    json_of(
        agent
            .post(
                &format!("/api/v1/field/appointments/{id}/dispatch"),
                json!({"engineer_id": e["id"]}),
            )
            .await,
        200,
    )
    .await;
    let kept = json_of(
        client
            .post(
                &format!("/api/v1/me/appointments/{id}/reschedule"),
                json!({"starts_at": at(d, 11, 30)}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(kept["status"], "dispatched");

    // A visit that has started cannot be moved or cancelled by the customer.
    let mut tx = app.db().begin().await.unwrap();
    let customer = Author::Customer {
        profile_id: "p".into(),
    };
    let late = at(d, 12, 0);
    let err = appointments::reschedule(
        &mut tx,
        app.db().backend(),
        &id,
        at(d, 14, 0),
        &customer,
        late,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "appointment_past");
    let err = appointments::cancel(&mut tx, app.db().backend(), &id, &customer, None, late)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "appointment_past");
    drop(tx);

    let cancelled = json_of(
        client
            .post(
                &format!("/api/v1/me/appointments/{id}/cancel"),
                json!({"reason": "fixed it myself"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["can_change"], false);
    assert_eq!(slots(&client, "SH", d).await.len(), 3);
    let again = client
        .post(&format!("/api/v1/me/appointments/{id}/cancel"), json!({}))
        .await;
    assert_eq!(error_code(again, 409).await, "illegal_transition");
    let moved = client
        .post(
            &format!("/api/v1/me/appointments/{id}/reschedule"),
            json!({"starts_at": at(d, 9, 0)}),
        )
        .await;
    assert_eq!(error_code(moved, 409).await, "not_reschedulable");

    // Someone else's visit does not exist for me.
    let (other, _, _) = customer_with(&app, "FSC0002", true).await;
    let r = other.get(&format!("/api/v1/me/appointments/{id}")).await;
    assert_eq!(error_code(r, 404).await, "appointment_not_found");

    let history = json_of(
        agent.get(&format!("/api/v1/field/appointments/{id}")).await,
        200,
    )
    .await;
    let moves: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        moves,
        [
            "scheduled",
            "scheduled",
            "dispatched",
            "dispatched",
            "cancelled"
        ]
    );
    let events = count(
        app.db(),
        "SELECT COUNT(*) FROM raw_events WHERE event IN ('appointment.booked', 'appointment.rescheduled', \
         'appointment.dispatched', 'appointment.cancelled')",
    )
    .await;
    assert_eq!(events, 5);
}

#[tokio::test]
async fn the_link_token_views_moves_and_cancels_without_signing_in() {
    let (app, _db, agent) = start().await;
    add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let (client, _, _) = customer_with(&app, "FSD0001", true).await;
    let d = day(2);
    let booked = json_of(
        client
            .post("/api/v1/me/appointments", booking("FSD0001", at(d, 9, 0)))
            .await,
        201,
    )
    .await;
    let token = booked["token"].as_str().unwrap();
    let anonymous = reqwest::Client::new();
    let url = |path: &str| app.url(&format!("/api/v1/appointments/by-token/{token}{path}"));

    let seen: Value = anonymous
        .get(url(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["number"], booked["appointment"]["number"]);
    assert!(seen.get("profile_id").is_none());
    let wrong = anonymous
        .get(app.url("/api/v1/appointments/by-token/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong, 404).await, "appointment_not_found");

    let moved = anonymous
        .post(url("/reschedule"))
        .json(&json!({"starts_at": at(d, 11, 30)}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(moved, 200).await["starts_at"], at(d, 11, 30));
    let rated = anonymous
        .post(url("/rating"))
        .json(&json!({"rating": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(rated, 409).await, "not_completed");
    let cancelled = anonymous
        .post(url("/cancel"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(cancelled, 200).await["status"], "cancelled");
    // Only the hash of the token is stored.
    let stored = count(
        app.db(),
        &format!("SELECT COUNT(*) FROM field_appointments WHERE token_hash = '{token}'"),
    )
    .await;
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn the_engineer_shows_on_the_day_of_the_visit_only() {
    let (app, _db, agent) = start().await;
    let e = add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let (client, _, _) = customer_with(&app, "FSE0001", true).await;
    let d = day(3);
    let starts_at = at(d, 14, 0);
    let booked = json_of(
        client
            .post("/api/v1/me/appointments", booking("FSE0001", starts_at))
            .await,
        201,
    )
    .await;
    let id = booked["appointment"]["id"].as_str().unwrap().to_owned();
    assert!(booked["appointment"]["engineer"].is_null());
    json_of(
        agent
            .post(
                &format!("/api/v1/field/appointments/{id}/dispatch"),
                json!({"engineer_id": e["id"]}),
            )
            .await,
        200,
    )
    .await;
    // Three days ahead: dispatched, but not the day yet.
    let mine = json_of(
        client.get(&format!("/api/v1/me/appointments/{id}")).await,
        200,
    )
    .await;
    assert_eq!(mine["status"], "dispatched");
    assert!(mine["engineer"].is_null(), "{mine}");

    let mut conn = app.db().pool().acquire().await.unwrap();
    let a = appointments::get(&mut conn, &id).await.unwrap();
    let mut seen_at = async |now: Micros| {
        view::for_customer(&mut conn, a.clone(), now)
            .await
            .unwrap()
            .engineer
    };
    assert!(
        seen_at(at(d, 0, 0) - HOUR).await.is_none(),
        "the evening before"
    );
    let contact = seen_at(at(d, 0, 5)).await.expect("just after midnight");
    assert_eq!(contact.name, "工程师 E-A");
    assert_eq!(contact.phone, "+86 138 0000 0000");
    assert!(seen_at(at(d, 23, 55)).await.is_some());
    assert!(
        seen_at(at(d, 23, 55) + HOUR).await.is_none(),
        "the day after"
    );
}

#[tokio::test]
async fn completion_reports_parts_and_the_visit_is_rated_once() {
    let (app, _db, agent) = start().await;
    let a = add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let b = add_engineer(&agent, engineer("E-B", &["SH"], &["laptop"], 540)).await;
    let far = add_engineer(&agent, engineer("E-C", &["BJ"], &["laptop"], 540)).await;
    let (client, _, profile) = customer_with(&app, "FSF0001", true).await;
    let (other, _, _) = customer_with(&app, "FSF0002", true).await;
    let d = day(1);
    let booked = json_of(
        client
            .post("/api/v1/me/appointments", booking("FSF0001", at(d, 9, 0)))
            .await,
        201,
    )
    .await;
    let id = booked["appointment"]["id"].as_str().unwrap().to_owned();
    json_of(
        other
            .post("/api/v1/me/appointments", booking("FSF0002", at(d, 9, 0)))
            .await,
        201,
    )
    .await;
    let path = |what: &str| format!("/api/v1/field/appointments/{id}/{what}");

    // The board: visits awaiting dispatch.
    let board = json_of(
        agent
            .get("/api/v1/field/appointments?status=scheduled")
            .await,
        200,
    )
    .await;
    assert_eq!(board.as_array().unwrap().len(), 2);

    let r = agent
        .post(&path("dispatch"), json!({"engineer_id": far["id"]}))
        .await;
    assert_eq!(error_code(r, 400).await, "engineer_not_qualified");
    // Both SH engineers hold a 09:00 visit; the one not on this visit is busy.
    let this: Value = json_of(
        agent.get(&format!("/api/v1/field/appointments/{id}")).await,
        200,
    )
    .await;
    let engineer_id = this["appointment"]["engineer_id"].clone();
    let busy = if engineer_id == a["id"] {
        b["id"].clone()
    } else {
        a["id"].clone()
    };
    let r = agent
        .post(&path("dispatch"), json!({"engineer_id": busy}))
        .await;
    assert_eq!(error_code(r, 409).await, "engineer_unavailable");
    let r = agent
        .post(&path("complete"), json!({"notes": "done"}))
        .await;
    assert_eq!(error_code(r, 409).await, "illegal_transition");

    let dispatched = json_of(
        agent
            .post(&path("dispatch"), json!({"engineer_id": engineer_id}))
            .await,
        200,
    )
    .await;
    assert_eq!(dispatched["status"], "dispatched");
    for step in ["en_route", "on_site"] {
        let r = json_of(
            agent.post(&path("progress"), json!({"status": step})).await,
            200,
        )
        .await;
        assert_eq!(r["status"], step);
    }
    let early = client
        .post(
            &format!("/api/v1/me/appointments/{id}/rating"),
            json!({"rating": 4}),
        )
        .await;
    assert_eq!(error_code(early, 409).await, "not_completed");
    let bad = agent
        .post(
            &path("complete"),
            json!({"notes": "swapped board", "parts": [{"part_number": "MB-1", "qty": 0}]}),
        )
        .await;
    assert_eq!(error_code(bad, 400).await, "invalid_part");
    let report = json!({"notes": "replaced the keyboard", "parts": [
        {"part_number": "KB-US-14", "qty": 1, "serial": "PPID123"}, {"part_number": "SCREW-M2", "qty": 4}]});
    let done = json_of(agent.post(&path("complete"), report).await, 200).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["report"]["parts"][0]["serial"], "PPID123");

    let mine = json_of(
        client.get(&format!("/api/v1/me/appointments/{id}")).await,
        200,
    )
    .await;
    assert_eq!(mine["report"]["parts"][1]["qty"], 4);
    assert_eq!(mine["can_rate"], true);
    let r = client
        .post(
            &format!("/api/v1/me/appointments/{id}/rating"),
            json!({"rating": 6}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_rating");
    let rated = json_of(
        client
            .post(
                &format!("/api/v1/me/appointments/{id}/rating"),
                json!({"rating": 5, "comment": "快"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(rated["rating"], 5);
    let twice = client
        .post(
            &format!("/api/v1/me/appointments/{id}/rating"),
            json!({"rating": 1}),
        )
        .await;
    assert_eq!(error_code(twice, 409).await, "already_rated");

    let history = json_of(
        agent.get(&format!("/api/v1/field/appointments/{id}")).await,
        200,
    )
    .await;
    let moves: Vec<(Value, Value)> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from_status"].clone(), t["to_status"].clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (Value::Null, json!("scheduled")),
            (json!("scheduled"), json!("dispatched")),
            (json!("dispatched"), json!("en_route")),
            (json!("en_route"), json!("on_site")),
            (json!("on_site"), json!("completed")),
        ]
    );
    for name in [
        "appointment.booked",
        "appointment.dispatched",
        "appointment.completed",
        "appointment.rated",
    ] {
        assert_eq!(fixtures::events(&app, name, &profile).await, 1, "{name}");
    }
}

#[tokio::test]
async fn fifty_customers_booking_the_last_slot_get_one_booking() {
    let (app, _db, agent) = start().await;
    add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let mut owned = Vec::new();
    let mut profiles = Vec::new();
    for i in 0..50 {
        let (member_id, profile) = member(&app).await;
        owned.push((format!("FSG{i:04}"), member_id));
        profiles.push(profile);
    }
    devices(&app, &owned, true).await;
    let mut clients = Vec::new();
    for p in &profiles {
        clients.push(app.customer(p).await);
    }
    let d = day(1);
    let last = at(d, 14, 0);
    let mut tasks = Vec::new();
    for (client, (tag, _)) in clients.into_iter().zip(owned.iter()) {
        let body = booking(tag, last);
        tasks.push(tokio::spawn(async move {
            let response = client.post("/api/v1/me/appointments", body).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or("").to_owned())
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let won = outcomes.iter().filter(|o| o.0 == 201).count();
    // Losers are told the slot is full (the engineer lock), not a storage clash.
    let full = outcomes
        .iter()
        .filter(|o| o.0 == 409 && o.1 == "slot_full")
        .count();
    assert_eq!((won, full), (1, 49), "{outcomes:?}");
    let booked = count(
        app.db(),
        &format!("SELECT COUNT(*) FROM field_appointments WHERE starts_at = {last} AND status = 'scheduled'"),
    )
    .await;
    assert_eq!(booked, 1);
    // The losers opened no ticket either.
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM tickets").await, 1);
}

#[tokio::test]
async fn pages_show_the_board_my_visits_and_the_link() {
    let (app, _db, agent) = start().await;
    let e = add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let (client, _, _) = customer_with(&app, "FSH0001", true).await;
    let d = day(1);
    let booked = json_of(
        client
            .post("/api/v1/me/appointments", booking("FSH0001", at(d, 9, 0)))
            .await,
        201,
    )
    .await;
    let number = booked["appointment"]["number"].as_str().unwrap();
    let id = booked["appointment"]["id"].as_str().unwrap();

    let page = agent.get("/admin/service/dispatch").await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        body.contains("工程师 E-A") && body.contains(number),
        "{body}"
    );
    assert!(body.contains(&format!("/api/v1/field/appointments/{id}/dispatch")));
    let bad = agent.get("/admin/service/dispatch?from=12/07").await;
    assert_eq!(bad.status(), 400);

    let token = booked["token"].as_str().unwrap();
    let anonymous = reqwest::Client::new();
    let link = anonymous
        .get(app.url(&format!("/a/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 200);
    let body = link.text().await.unwrap();
    assert!(body.contains(number) && body.contains("reschedule-form"));
    let wrong = anonymous.get(app.url("/a/nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 404);

    let signed_out = anonymous
        .get(app.url("/service/appointments"))
        .send()
        .await
        .unwrap();
    assert!(signed_out.text().await.unwrap().contains("signed-out"));
    // Once dispatched, the board lists the visit in the engineer's lane.
    json_of(
        agent
            .post(
                &format!("/api/v1/field/appointments/{id}/dispatch"),
                json!({"engineer_id": e["id"]}),
            )
            .await,
        200,
    )
    .await;
    let body = agent
        .get("/admin/service/dispatch")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains(&format!("/api/v1/field/appointments/{id}/progress")));
}

#[tokio::test]
async fn the_desk_books_a_paid_visit_for_a_device_without_cover() {
    let (app, _db, agent) = start().await;
    add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let taken = agent
        .post(
            "/api/v1/field/engineers",
            engineer("E-A", &["BJ"], &["laptop"], 540),
        )
        .await;
    assert_eq!(error_code(taken, 409).await, "engineer_code_taken");
    let (_, member_id, _) = customer_with(&app, "FSI0001", false).await;
    let d = day(1);
    let mut body = booking("FSI0001", at(d, 9, 0));
    body["member_id"] = json!(member_id);
    let refused = agent.post("/api/v1/field/appointments", body.clone()).await;
    assert_eq!(error_code(refused, 400).await, "no_onsite_entitlement");
    body["billable"] = json!(true);
    let booked = json_of(agent.post("/api/v1/field/appointments", body).await, 201).await;
    assert_eq!(booked["appointment"]["billable"], true);
    assert_eq!(booked["appointment"]["member_id"], json!(member_id));
    let ticket = booked["appointment"]["ticket_id"].as_str().unwrap();
    let channel: String = sqlx::query_scalar("SELECT channel FROM tickets WHERE id = $1")
        .bind(ticket)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(channel, "staff");
    let unknown = agent
        .post(
            "/api/v1/field/appointments",
            json!({"member_id": "nobody", "service_tag": "FSI0001", "territory": "SH",
                   "address": "x", "starts_at": at(d, 11, 30)}),
        )
        .await;
    assert_eq!(error_code(unknown, 400).await, "unknown_member");
}

#[tokio::test]
async fn a_booked_visit_is_announced_by_the_brands_notification_rule() {
    let (app, _db, agent) = start().await;
    add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let (client, _, profile) = customer_with(&app, "FSN0001", true).await;
    let admin = app.user("admin", None).await;
    let oa = json_of(
        admin
            .post(
                "/api/v1/channels/accounts",
                json!({ "kind": "official_account", "name": "Aurora OA", "app_id": "wx_oa_field",
                        "token": "CoveToken2026", "secret": "app-secret", "sandbox": true }),
            )
            .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sqlx::query(
        "INSERT INTO followers (account_id, open_id, followed_at, last_event_at, profile_id) \
         VALUES ($1, 'o_field_fan', 0, 0, $2)",
    )
    .bind(&oa)
    .bind(&profile)
    .execute(app.db().pool())
    .await
    .unwrap();
    let rule = json!({ "event_name": "appointment.booked", "channels": [{
        "via": "template", "account_id": oa, "template_id": "TPL_VISIT",
        "url": "https://aurora.example/service/appointments",
        "fields": [
            { "key": "character_string1", "value": "{number}" },
            { "key": "time2", "value": "{starts_at}" },
            { "key": "character_string3", "value": "{service_tag}" },
        ] }] });
    json_of(admin.post("/api/v1/notification-rules", rule).await, 200).await;

    let starts = at(day(2), 9, 0);
    let booked = json_of(
        client
            .post("/api/v1/me/appointments", booking("FSN0001", starts))
            .await,
        201,
    )
    .await;
    let sent: Vec<(String, String)> = sqlx::query_as(
        "SELECT recipient, payload FROM wechat_messages WHERE client_msg_id LIKE 'notify:appointment.booked:%'",
    )
    .fetch_all(app.db().pool())
    .await
    .unwrap();
    assert_eq!(sent.len(), 1, "one message for one booking");
    assert_eq!(sent[0].0, "o_field_fan");
    let payload: Value = serde_json::from_str(&sent[0].1).unwrap();
    let data = &payload["data"];
    assert_eq!(data["character_string1"], booked["appointment"]["number"]);
    assert_eq!(
        data["time2"],
        format!("{} 09:00", day(2).format("%Y-%m-%d")).as_str()
    );
    assert_eq!(data["character_string3"], "FSN0001");
}

async fn put_settings(app: &TestApp, agent: &Session, body: Value) -> reqwest::Response {
    agent
        .client
        .put(app.url("/api/v1/field/settings"))
        .header("x-csrf-token", &agent.csrf)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn scheduling_settings_change_the_offered_slots() {
    let (app, _db, agent) = start().await;
    add_engineer(&agent, engineer("E-A", &["SH"], &["laptop"], 540)).await;
    let (client, _, _) = customer_with(&app, "FSS0001", true).await;
    let d = day(2);
    let defaults = json_of(agent.get("/api/v1/field/settings").await, 200).await;
    assert_eq!(
        defaults,
        json!({"slot_minutes": 120, "buffer_minutes": 30, "lead_minutes": 120, "horizon_days": 60})
    );
    let starts = |slots: Vec<(Micros, i64)>| slots.into_iter().map(|s| s.0).collect::<Vec<_>>();
    assert_eq!(
        starts(slots(&client, "SH", d).await),
        vec![at(d, 9, 0), at(d, 11, 30), at(d, 14, 0)]
    );
    // A 10:00 visit is no slot under the defaults.
    let refused = client
        .post("/api/v1/me/appointments", booking("FSS0001", at(d, 10, 0)))
        .await;
    assert_eq!(error_code(refused, 409).await, "slot_full");

    // Hour-long visits without a travel buffer: nine a day, 10:00 among them.
    let hourly =
        json!({"slot_minutes": 60, "buffer_minutes": 0, "lead_minutes": 120, "horizon_days": 60});
    assert_eq!(
        json_of(put_settings(&app, &agent, hourly.clone()).await, 200).await,
        hourly
    );
    let offered = starts(slots(&client, "SH", d).await);
    assert_eq!(offered.len(), 9);
    assert_eq!(offered[1], at(d, 10, 0));
    let booked = json_of(
        client
            .post("/api/v1/me/appointments", booking("FSS0001", at(d, 10, 0)))
            .await,
        201,
    )
    .await;
    assert_eq!(booked["appointment"]["ends_at"], at(d, 11, 0));
    // With no buffer the 11:00 visit right after stays open.
    let offered = starts(slots(&client, "SH", d).await);
    assert!(!offered.contains(&at(d, 10, 0)) && offered.contains(&at(d, 11, 0)));

    // A week's lead time leaves nothing in two days; a horizon of one day
    // leaves nothing the day after tomorrow either.
    let week_lead =
        json!({"slot_minutes": 60, "buffer_minutes": 0, "lead_minutes": 10080, "horizon_days": 60});
    json_of(put_settings(&app, &agent, week_lead).await, 200).await;
    assert!(slots(&client, "SH", d).await.is_empty());
    let short_horizon =
        json!({"slot_minutes": 60, "buffer_minutes": 0, "lead_minutes": 0, "horizon_days": 1});
    json_of(put_settings(&app, &agent, short_horizon.clone()).await, 200).await;
    assert!(slots(&client, "SH", d).await.is_empty());
    let too_far = client
        .post("/api/v1/me/appointments", booking("FSS0001", at(d, 14, 0)))
        .await;
    assert_eq!(error_code(too_far, 400).await, "slot_too_far");

    // Nonsense is refused and changes nothing.
    for bad in [
        json!({"slot_minutes": 0, "buffer_minutes": 0, "lead_minutes": 0, "horizon_days": 1}),
        json!({"slot_minutes": 61, "buffer_minutes": 0, "lead_minutes": 0, "horizon_days": 1}),
        json!({"slot_minutes": 60, "buffer_minutes": -1, "lead_minutes": 0, "horizon_days": 1}),
        json!({"slot_minutes": 60, "buffer_minutes": 0, "lead_minutes": 0, "horizon_days": 0}),
        json!({"slot_minutes": 60, "buffer_minutes": 0, "lead_minutes": 999999, "horizon_days": 1}),
    ] {
        let response = put_settings(&app, &agent, bad).await;
        assert_eq!(error_code(response, 400).await, "invalid_field_settings");
    }
    let missing = put_settings(&app, &agent, json!({"slot_minutes": 60})).await;
    assert!(missing.status().is_client_error());
    assert_eq!(
        json_of(agent.get("/api/v1/field/settings").await, 200).await,
        short_horizon
    );
    let analyst = app.user("data_analyst", None).await;
    assert_eq!(put_settings(&app, &analyst, hourly).await.status(), 403);
}

/// Posts a console form as htmx does; returns (hx-redirect, body).
async fn post_form(
    app: &TestApp,
    who: &Session,
    path: &str,
    fields: &[(&str, &str)],
) -> (Option<String>, String) {
    let response = who
        .client
        .post(app.url(path))
        .header("x-csrf-token", &who.csrf)
        .header("hx-request", "true")
        .form(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let redirect = response
        .headers()
        .get("hx-redirect")
        .map(|v| v.to_str().unwrap().to_owned());
    (redirect, response.text().await.unwrap())
}

fn refused(outcome: &(Option<String>, String), code: &str) {
    assert!(outcome.0.is_none(), "{outcome:?}");
    assert!(
        outcome.1.contains("alert-error") && outcome.1.contains(&format!("data-code=\"{code}\"")),
        "{outcome:?}"
    );
}

async fn engineer_row(
    app: &TestApp,
    code: &str,
) -> (String, String, String, String, i64, String, i64) {
    sqlx::query_as(
        "SELECT id, skills, territories, working_days, day_start_minute, days_off, active \
         FROM field_engineers WHERE code = $1",
    )
    .bind(code)
    .fetch_one(app.db().pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn the_console_manages_engineers_rules_and_completion_reports() {
    let (app, _db, agent) = start().await;
    let page = agent.get("/admin/service/dispatch/engineers").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("id=\"new-engineer\"") && page.contains("id=\"scheduling-form\""));
    let board = agent
        .get("/admin/service/dispatch")
        .await
        .text()
        .await
        .unwrap();
    assert!(board.contains("href=\"/admin/service/dispatch/engineers\""));

    let mut fields = vec![
        ("code", "E-P1"),
        ("name", "王工"),
        ("phone", "+86 139 0000 0001"),
        ("skills", "laptop, Server"),
        ("territories", "sh bj"),
        ("timezone", "Asia/Shanghai"),
        ("working_days", "1,2,3,4,5,6,7"),
        ("day_start", "09:00"),
        ("day_end", "18:00"),
        ("days_off", "2027-01-01"),
    ];
    // Bad input says why and adds nobody.
    for (field, value, code) in [
        ("day_start", "25:00", "invalid_hours"),
        ("working_days", "Mon", "invalid_working_days"),
        ("territories", "", "invalid_engineer"),
        ("timezone", "Mars/Olympus", "invalid_timezone"),
    ] {
        let mut bad = fields.clone();
        bad.iter_mut().find(|f| f.0 == field).unwrap().1 = value;
        let outcome = post_form(&app, &agent, "/admin/service/dispatch/engineers", &bad).await;
        assert!(
            outcome.0.is_none() && outcome.1.contains("alert-error"),
            "{field}: {outcome:?}"
        );
        if field != "timezone" {
            refused(&outcome, code);
        }
    }
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM field_engineers").await,
        0
    );

    let (to, _) = post_form(&app, &agent, "/admin/service/dispatch/engineers", &fields).await;
    assert_eq!(to.as_deref(), Some("/admin/service/dispatch/engineers"));
    let (id, skills, territories, days, start_minute, days_off, active) =
        engineer_row(&app, "E-P1").await;
    assert_eq!(
        (skills.as_str(), territories.as_str()),
        ("laptop,server", "SH,BJ")
    );
    assert_eq!(
        (days.as_str(), start_minute, active),
        ("1,2,3,4,5,6,7", 540, 1)
    );
    assert!(days_off.contains("2027-01-01"));
    let list = agent
        .get("/admin/service/dispatch/engineers")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&format!("data-id=\"{id}\"")) && list.contains("王工"));
    let edit = agent
        .get(&format!("/admin/service/dispatch/engineers/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(edit.contains("id=\"edit-engineer\"") && edit.contains("value=\"09:00\""));

    // Editing replaces territories, hours and days off; bad input keeps them.
    let edit_path = format!("/admin/service/dispatch/engineers/{id}");
    let mut bad = fields.clone();
    bad.iter_mut().find(|f| f.0 == "phone").unwrap().1 = "call me";
    bad.iter_mut().find(|f| f.0 == "territories").unwrap().1 = "GZ";
    refused(
        &post_form(&app, &agent, &edit_path, &bad).await,
        "invalid_phone",
    );
    assert_eq!(engineer_row(&app, "E-P1").await.2, "SH,BJ");
    fields.iter_mut().find(|f| f.0 == "territories").unwrap().1 = "SH";
    fields.iter_mut().find(|f| f.0 == "day_start").unwrap().1 = "10:30";
    fields.iter_mut().find(|f| f.0 == "days_off").unwrap().1 = "2027-01-01\n2027-01-02";
    let (to, _) = post_form(&app, &agent, &edit_path, &fields).await;
    assert!(to.is_some());
    let row = engineer_row(&app, "E-P1").await;
    assert_eq!((row.2.as_str(), row.4), ("SH", 630));
    assert!(row.5.contains("2027-01-02"));

    // The scheduling rules from the console; nonsense changes nothing.
    let rules = |slot: &'static str| {
        vec![
            ("slot_minutes", slot),
            ("buffer_minutes", "0"),
            ("lead_minutes", "60"),
            ("horizon_days", "30"),
        ]
    };
    refused(
        &post_form(
            &app,
            &agent,
            "/admin/service/dispatch/settings",
            &rules("abc"),
        )
        .await,
        "invalid_field_settings",
    );
    refused(
        &post_form(
            &app,
            &agent,
            "/admin/service/dispatch/settings",
            &rules("5"),
        )
        .await,
        "invalid_field_settings",
    );
    assert_eq!(
        json_of(agent.get("/api/v1/field/settings").await, 200).await["slot_minutes"],
        120
    );
    let (to, _) = post_form(
        &app,
        &agent,
        "/admin/service/dispatch/settings",
        &rules("90"),
    )
    .await;
    assert!(to.is_some());
    let set = json_of(agent.get("/api/v1/field/settings").await, 200).await;
    assert_eq!(
        set,
        json!({"slot_minutes": 90, "buffer_minutes": 0, "lead_minutes": 60, "horizon_days": 30})
    );

    // A visit on site is completed from the board with the parts used.
    let (client, _, _) = customer_with(&app, "FSP0001", true).await;
    let d = day(2);
    let booked = json_of(
        client
            .post("/api/v1/me/appointments", booking("FSP0001", at(d, 10, 30)))
            .await,
        201,
    )
    .await;
    let visit = booked["appointment"]["id"].as_str().unwrap().to_owned();
    let api = |what: &str| format!("/api/v1/field/appointments/{visit}/{what}");
    json_of(
        agent
            .post(&api("dispatch"), json!({"engineer_id": id}))
            .await,
        200,
    )
    .await;
    for step in ["en_route", "on_site"] {
        json_of(
            agent.post(&api("progress"), json!({"status": step})).await,
            200,
        )
        .await;
    }
    let board = agent
        .get(&format!("/admin/service/dispatch?from={d}"))
        .await
        .text()
        .await
        .unwrap();
    let complete = format!("/admin/service/dispatch/visits/{visit}/complete");
    assert!(
        board.contains(&format!("hx-post=\"{complete}\"")),
        "{board}"
    );
    let status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM field_appointments WHERE id = $1")
            .bind(&visit)
            .fetch_one(app.db().pool())
            .await
            .unwrap()
    };
    for (parts, code) in [
        ("MB-X1 | Motherboard", "invalid_part"),
        ("MB-X1 | Motherboard | many", "invalid_part"),
        ("MB-X1 | Motherboard | 0", "invalid_part"),
    ] {
        let outcome = post_form(
            &app,
            &agent,
            &complete,
            &[("notes", "换主板"), ("parts", parts)],
        )
        .await;
        refused(&outcome, code);
    }
    refused(
        &post_form(&app, &agent, &complete, &[("notes", " "), ("parts", "")]).await,
        "invalid_report",
    );
    assert_eq!(status().await, "on_site");
    let (to, _) = post_form(
        &app,
        &agent,
        &complete,
        &[
            ("notes", "换主板和风扇"),
            (
                "parts",
                "MB-X1 | Motherboard | 1\nFAN-22 | Cooling fan | 2\n",
            ),
        ],
    )
    .await;
    assert_eq!(to.as_deref(), Some("/admin/service/dispatch"));
    assert_eq!(status().await, "completed");
    let done = json_of(
        agent
            .get(&format!("/api/v1/field/appointments/{visit}"))
            .await,
        200,
    )
    .await;
    assert_eq!(
        done["appointment"]["report"]["parts"],
        json!([{"part_number": "MB-X1", "description": "Motherboard", "qty": 1, "serial": null},
               {"part_number": "FAN-22", "description": "Cooling fan", "qty": 2, "serial": null}])
    );

    // Deactivating keeps the engineer but offers no more slots.
    refused(
        &post_form(
            &app,
            &agent,
            &format!("{edit_path}/active"),
            &[("active", "maybe")],
        )
        .await,
        "invalid_active",
    );
    assert_eq!(engineer_row(&app, "E-P1").await.6, 1);
    let (to, _) = post_form(
        &app,
        &agent,
        &format!("{edit_path}/active"),
        &[("active", "false")],
    )
    .await;
    assert!(to.is_some());
    assert_eq!(engineer_row(&app, "E-P1").await.6, 0);
    let d3 = day(3);
    let none = client
        .get(&format!(
            "/api/v1/store/slots?territory=SH&from={d3}&to={d3}"
        ))
        .await;
    assert_eq!(error_code(none, 400).await, "unknown_territory");

    // Read-only staff see the pages but may not post.
    let analyst = app.user("data_analyst", None).await;
    let list = analyst
        .get("/admin/service/dispatch/engineers")
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains("id=\"new-engineer\""));
    let r = analyst
        .client
        .post(app.url("/admin/service/dispatch/engineers"))
        .header("x-csrf-token", &analyst.csrf)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM field_engineers").await,
        1
    );
}
