//! Test harness: a real Cove on port 0 against a fresh database — SQLite in a
//! temp dir, or a new PostgreSQL database when `COVE_TEST_PG_URL` names a
//! server (e.g. `postgres://postgres@127.0.0.1/postgres`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use cove_core::config::Config;
use cove_core::jobs::Registry;
use cove_server::Server;
use reqwest::{Client, Response};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct-horse-battery";

/// A fresh database URL for one test (or for several servers sharing it).
pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = match std::env::var("COVE_TEST_PG_URL") {
            Ok(admin) if !admin.is_empty() => {
                let name = format!("cove_t_{}", uuid::Uuid::now_v7().simple());
                sqlx::any::install_default_drivers();
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap();
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                format!("{base}/{name}")
            }
            _ => format!("sqlite://{}/cove.db?mode=rwc", dir.path().display()),
        };
        TestDb { url, _dir: dir }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    pub fn config(&self) -> Config {
        let mut config = Config::for_data_dir(self._dir.path()).unwrap();
        config.database_url = Some(cove_core::secret::Secret::new(self.url.clone()));
        config.jobs.poll_ms = 25;
        config.jobs.retry_base_ms = 50;
        config.jobs.lease_secs = 30;
        config
    }
}

pub struct TestApp {
    pub server: Option<Server>,
    pub base: String,
    pub client: Client,
    stop: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn start(config: Config, jobs: Registry) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::start(config, listener, jobs, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        let base = format!("http://{}", server.addr);
        TestApp {
            server: Some(server),
            base,
            client: client(),
            stop: Some(stop),
        }
    }

    /// A fresh database and a server on it.
    pub async fn spawn() -> (TestApp, TestDb) {
        let db = TestDb::new().await;
        let app = TestApp::start(db.config(), Registry::new()).await;
        (app, db)
    }

    pub fn db(&self) -> &cove_core::db::Db {
        &self.server.as_ref().unwrap().state.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops taking requests, finishes what is in flight and waits.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.wait().await.unwrap();
        }
    }

    /// Creates a user directly (as the system) and returns a signed-in session.
    pub async fn user(&self, role: &str, scope: Option<&str>) -> Session {
        let email = format!(
            "{role}.{}@test.cove",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let new = cove_core::access::NewUser {
            email: email.clone(),
            name: role.into(),
            password: PASSWORD.into(),
            role: role.parse().unwrap(),
            store_id: scope.map(str::to_owned),
            reseller_id: scope.map(str::to_owned),
            locale: None,
        };
        cove_core::access::create_user(self.db(), &cove_core::audit::Actor::system(), new)
            .await
            .unwrap();
        self.sign_in(&email, PASSWORD).await.unwrap()
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Session, Response> {
        let client = client();
        let response = client
            .post(self.url("/api/v1/auth/sign-in"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            return Err(response);
        }
        let body: Value = response.json().await.unwrap();
        Ok(Session {
            client,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
            base: self.base.clone(),
        })
    }
}

impl TestApp {
    /// A new profile holding a fresh anonymous id (a storefront visitor).
    pub async fn new_profile(&self) -> String {
        let id = cove_core::audience::Identifier::new(
            cove_core::audience::IdType::AnonymousId,
            &uuid::Uuid::now_v7().to_string(),
        )
        .unwrap();
        self.profile_with(&[id]).await
    }

    /// The profile holding `ids`, created or linked as the identity graph does.
    pub async fn profile_with(&self, ids: &[cove_core::audience::Identifier]) -> String {
        let mut tx = self.db().begin().await.unwrap();
        let profile = cove_core::audience::domain::profile_for(
            &mut tx,
            self.db().backend(),
            ids,
            "test",
            cove_core::clock::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        profile
    }

    /// A storefront customer signed in as `profile_id` (bearer token).
    pub async fn customer(&self, profile_id: &str) -> CustomerClient {
        let mut conn = self.db().pool().acquire().await.unwrap();
        let token = cove_core::access::customers::create_session(
            &mut conn,
            profile_id,
            "mini_program",
            cove_core::clock::now(),
        )
        .await
        .unwrap();
        CustomerClient {
            client: client(),
            token,
            base: self.base.clone(),
        }
    }
}

/// A storefront customer's client: every request carries the bearer token.
pub struct CustomerClient {
    pub client: Client,
    pub token: String,
    base: String,
}

impl CustomerClient {
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn request_patch(&self, path: &str, body: Value) -> Response {
        self.client
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A signed-in console session: cookie jar plus CSRF token.
pub struct Session {
    pub client: Client,
    pub csrf: String,
    pub email: String,
    base: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// The JSON error body's code, asserting the status on the way.
pub async fn error_code(response: Response, status: u16) -> String {
    assert_eq!(response.status(), status, "unexpected status");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without message: {body}"
    );
    body["code"].as_str().unwrap().to_owned()
}

/// Polls `check` until it returns true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub async fn count(db: &cove_core::db::Db, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.pool())
        .await
        .unwrap()
}
