//! End-to-end tests of Segment-compatible ingestion and the identity graph:
//! a real server on port 0 against a fresh SQLite or PostgreSQL database
//! (see `common`), and real Segment client libraries pointed at it (`compat`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

#[path = "../common/mod.rs"]
mod common;

mod api;
mod batching;
mod compat;
mod identity;
mod properties;

use common::{Session, TestApp, TestDb};
use reqwest::Response;
use serde_json::{json, Value};

/// A server, an admin session and a source's write key.
pub struct Ingest {
    pub app: TestApp,
    pub _db: TestDb,
    pub admin: Session,
    pub key: String,
    pub source_id: String,
}

impl Ingest {
    pub async fn start() -> Ingest {
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
        Ingest {
            key: created["write_key"].as_str().unwrap().to_owned(),
            source_id: created["source"]["id"].as_str().unwrap().to_owned(),
            app,
            _db: db,
            admin,
        }
    }

    /// POST /v1/{call} with the write key in HTTP Basic.
    pub async fn send(&self, call: &str, body: Value) -> Response {
        self.app
            .client
            .post(self.app.url(&format!("/v1/{call}")))
            .basic_auth(&self.key, Some(""))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn ok(&self, call: &str, body: Value) {
        let r = self.send(call, body).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"success": true})
        );
    }

    pub async fn events(&self) -> i64 {
        common::count(self.app.db(), "SELECT COUNT(*) FROM raw_events").await
    }

    pub async fn profiles(&self) -> i64 {
        common::count(self.app.db(), "SELECT COUNT(*) FROM profiles").await
    }

    /// Profiles found by `type:value` (0 or 1).
    pub async fn profile_of(&self, identity: &str) -> Option<Value> {
        let r = self
            .admin
            .get(&format!(
                "/api/v1/profiles?identity={}&events=200",
                urlencode(identity)
            ))
            .await;
        assert_eq!(r.status(), 200);
        let list: Value = r.json().await.unwrap();
        list.as_array().unwrap().first().cloned()
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `type:value` pairs of a profile's identities.
pub fn identities(profile: &Value) -> Vec<String> {
    profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["type"].as_str().unwrap(),
                i["value"].as_str().unwrap()
            )
        })
        .collect()
}

/// The message ids of a profile's timeline.
pub fn message_ids(profile: &Value) -> Vec<String> {
    let mut ids: Vec<String> = profile["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}
