//! Behaviour tags end to end: rules over ingested and domain events and
//! traits, recomputation with exactly-once tag events, re-evaluation as
//! events arrive, manual assignment and CSV import, access control.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

#[path = "../common/mod.rs"]
mod common;

mod audiences;
mod computed;
mod manual;
mod pages;
mod population;
mod reach;
mod rules;
mod throttle;

use common::{Session, TestApp, TestDb};
use cove_core::clock::{self, Micros, DAY};
use serde_json::{json, Value};

/// A server, an admin session and a source's write key.
pub struct Harness {
    pub app: TestApp,
    pub _db: TestDb,
    pub admin: Session,
    pub key: String,
}

impl Harness {
    pub async fn start() -> Harness {
        let (app, db) = TestApp::spawn().await;
        let admin = app.user("admin", None).await;
        let created = admin
            .post(
                "/api/v1/sources",
                json!({"name": "Mini Program", "kind": "mini_program"}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        // The hourly recompute runs once at start; let it pass so that it
        // does not race the steps of a test.
        let started = common::eventually(20, || async {
            common::count(
                app.db(),
                "SELECT COUNT(*) FROM jobs WHERE kind IN ('audience.tag.recompute_all', \
                 'audience.audience.recompute_all') AND state = 'done'",
            )
            .await
                >= 2
        })
        .await;
        assert!(started, "the scheduled recompute did not run");
        Harness {
            key: created["write_key"].as_str().unwrap().to_owned(),
            app,
            _db: db,
            admin,
        }
    }

    /// Sends a batch through the Tracking API and expects 200.
    pub async fn batch(&self, events: Vec<Value>) {
        let r = self
            .app
            .client
            .post(self.app.url("/v1/batch"))
            .basic_auth(&self.key, Some(""))
            .json(&json!({ "batch": events }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(status, 200, "{}", r.text().await.unwrap());
    }

    /// Creates a tag through the API and returns it.
    pub async fn tag(&self, body: Value) -> Value {
        let r = self.admin.post("/api/v1/tags", body).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 201, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn get_tag(&self, key: &str) -> Value {
        let r = self.admin.get(&format!("/api/v1/tags/{key}")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Waits until the tag's computation reaches `n`.
    pub async fn computed(&self, key: &str, n: i64) -> Value {
        let ok = common::eventually(20, || async {
            self.get_tag(key).await["computation"].as_i64().unwrap() >= n
        })
        .await;
        assert!(ok, "tag {key} was not computed {n} times");
        self.get_tag(key).await
    }

    /// The surviving profile holding `identity`.
    pub async fn profile(&self, identity: &str) -> String {
        let (t, v) = identity.split_once(':').unwrap();
        let id: String =
            sqlx::query_scalar("SELECT p.id FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE i.type = $1 AND i.value = $2")
                .bind(t)
                .bind(v)
                .fetch_one(self.app.db().pool())
                .await
                .unwrap();
        let survivor: String =
            sqlx::query_scalar("SELECT COALESCE(merged_into, id) FROM profiles WHERE id = $1")
                .bind(&id)
                .fetch_one(self.app.db().pool())
                .await
                .unwrap();
        survivor
    }

    /// Member profile ids of a tag, sorted.
    pub async fn members(&self, key: &str) -> Vec<String> {
        let r = self
            .admin
            .get(&format!("/api/v1/tags/{key}/members?limit=500"))
            .await;
        assert_eq!(r.status(), 200);
        let list: Value = r.json().await.unwrap();
        let mut ids: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["profile_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    /// (event name, profile id) of every tag event about `tag`, sorted.
    pub async fn tag_events(&self, tag: &str) -> Vec<(String, String)> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT event, profile_id, properties FROM raw_events WHERE source_id = 'cove' \
             AND event IN ('tag.added', 'tag.removed')",
        )
        .fetch_all(self.app.db().pool())
        .await
        .unwrap();
        let mut out: Vec<(String, String)> = rows
            .into_iter()
            .filter(|(_, _, props)| {
                serde_json::from_str::<Value>(props).unwrap()["tag"].as_str() == Some(tag)
            })
            .map(|(e, p, _)| (e, p))
            .collect();
        out.sort();
        out
    }
}

/// An RFC 3339 time `days` from now (negative: in the past).
pub fn days_from_now(days: i64) -> String {
    clock::to_rfc3339(clock::now() + days * DAY)
}

/// A date `YYYY-MM-DD` `days` from now, in China time.
pub fn date_from_now(days: i64) -> String {
    let at: Micros = clock::now() + days * DAY + cove_core::insight::REPORT_OFFSET;
    clock::to_datetime(at).format("%Y-%m-%d").to_string()
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
