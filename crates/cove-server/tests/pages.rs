//! The console and storefront pages, over HTTP against a fresh SQLite database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cove_core::access::{self, NewUser, Role};
use cove_core::audit::Actor;
use cove_core::config::Config;
use cove_server::Server;
use reqwest::header::{HeaderMap, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery";

struct App {
    _dir: tempfile::TempDir,
    server: Server,
    base: String,
}

impl App {
    async fn start() -> App {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path()).unwrap();
        config.jobs.workers = 0;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::start(
            config,
            listener,
            cove_core::jobs::Registry::new(),
            std::future::pending(),
        )
        .await
        .unwrap();
        let base = format!("http://{}", server.addr);
        App {
            _dir: dir,
            server,
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn exec(&self, sql: &str) {
        sqlx::query(sql)
            .execute(self.server.state.db.pool())
            .await
            .unwrap();
    }

    async fn user(&self, email: &str, role: Role, store: Option<&str>) {
        access::create_user(
            &self.server.state.db,
            &Actor::system(),
            NewUser {
                email: email.into(),
                name: email.split('@').next().unwrap().into(),
                password: PASSWORD.into(),
                role,
                store_id: store.map(Into::into),
                reseller_id: None,
                locale: Some("en".into()),
            },
        )
        .await
        .unwrap();
    }

    /// A browser-like client (cookies kept, redirects not followed), signed in as `email`.
    async fn signed_in(&self, email: &str) -> (reqwest::Client, String) {
        let client = browser();
        let res = client
            .post(self.url("/admin/login"))
            .form(&[("email", email), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()[LOCATION], "/admin");
        let body = client
            .get(self.url("/admin"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = body
            .split("\"X-CSRF-Token\": \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the console body carries the CSRF token for htmx")
            .to_owned();
        (client, csrf)
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn cookie_names(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn console_pages_send_strangers_to_sign_in() {
    let app = App::start().await;
    let client = browser();
    let res = client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/admin/login?next=/admin");
    let res = client
        .get(app.url("/admin/system/jobs?state=dead"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()[LOCATION],
        "/admin/login?next=/admin/system/jobs%3Fstate%3Ddead"
    );
    // htmx requests are told where to go instead of receiving the sign-in page.
    let res = client
        .get(app.url("/admin/network"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["hx-redirect"],
        "/admin/login?next=/admin/network"
    );

    let res = client
        .get(app.url("/admin/login?next=/admin/network"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains(r#"<form class="auth-form" method="post" action="/admin/login""#));
    assert!(body.contains(r#"name="next" value="/admin/network""#));
}

#[tokio::test]
async fn sign_in_failures_are_explained_and_keep_the_email() {
    let app = App::start().await;
    app.user("ada@aurora.test", Role::Admin, None).await;
    let client = browser();
    let res = client
        .post(app.url("/admin/login"))
        .form(&[("email", "ada@aurora.test"), ("password", "wrong password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        cookie_names(res.headers()).is_empty(),
        "no session on failure"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("邮箱或密码错误"), "{body}");
    assert!(body.contains(r#"value="ada@aurora.test""#));

    // Five failures lock the account (the default), and the page says so.
    for _ in 0..5 {
        client
            .post(app.url("/admin/login"))
            .form(&[("email", "ada@aurora.test"), ("password", "wrong password")])
            .send()
            .await
            .unwrap();
    }
    let res = client
        .post(app.url("/admin/login"))
        .form(&[("email", "ada@aurora.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("账号已暂时锁定"));
}

#[tokio::test]
async fn sign_in_from_another_site_is_refused() {
    let app = App::start().await;
    app.user("ada@aurora.test", Role::Admin, None).await;
    let client = browser();
    let res = client
        .post(app.url("/admin/login"))
        .header(ORIGIN, "https://evil.example")
        .form(&[("email", "ada@aurora.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(cookie_names(res.headers()).is_empty());
    // The same form from this site's own origin works.
    let res = client
        .post(app.url("/admin/login"))
        .header(ORIGIN, app.base.as_str())
        .form(&[("email", "ada@aurora.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookies = cookie_names(res.headers());
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("cove_session=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
}

#[tokio::test]
async fn admin_sees_dashboard_and_every_area() {
    let app = App::start().await;
    app.user("ada@aurora.test", Role::Admin, None).await;
    let (client, _) = app.signed_in("ada@aurora.test").await;
    let body = client
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for kpi in [
        "members",
        "new-members",
        "orders",
        "gmv",
        "repeat",
        "binding",
    ] {
        assert!(body.contains(&format!(r#"data-kpi="{kpi}""#)), "{kpi}");
    }
    assert!(body.contains(r#"data-chart="sales""#));
    assert!(body.contains(r#"href="/admin/system""#));
    assert!(
        body.contains("Repeat purchase rate"),
        "English: the user's locale"
    );
    let res = client.get(app.url("/admin/journeys")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains(r#"id="coming-soon""#));
    let res = client.get(app.url("/admin/nowhere")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    for page in [
        "/admin/network",
        "/admin/system/users",
        "/admin/system/tokens",
        "/admin/system/audit",
        "/admin/system/jobs",
    ] {
        let res = client.get(app.url(page)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{page}");
    }
    let audit = client
        .get(app.url("/admin/system/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        audit.contains("auth.sign_in"),
        "the sign-in is in the audit log"
    );
}

#[tokio::test]
async fn roles_see_only_their_areas() {
    let app = App::start().await;
    app.user("mia@aurora.test", Role::Marketing, None).await;
    let (client, _) = app.signed_in("mia@aurora.test").await;
    let body = client
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains(r#"href="/admin/journeys""#));
    assert!(!body.contains(r#"href="/admin/system""#));
    assert!(!body.contains(r#"href="/admin/privacy""#));
    let res = client
        .get(app.url("/admin/system/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains(r#"id="forbidden""#));
    let res = client.get(app.url("/admin/privacy")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_writes_need_the_csrf_token() {
    let app = App::start().await;
    app.user("ada@aurora.test", Role::Admin, None).await;
    let (client, csrf) = app.signed_in("ada@aurora.test").await;
    let form = [
        ("name", "Bo"),
        ("email", "bo@aurora.test"),
        ("password", "another long password"),
        ("role", "data_analyst"),
        ("store_id", ""),
        ("reseller_id", ""),
        ("locale", "zh"),
    ];
    let res = client
        .post(app.url("/admin/system/users"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client
        .post(app.url("/admin/system/users"))
        .header("X-CSRF-Token", "not-the-token")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(access::list_users(&app.server.state.db)
        .await
        .unwrap()
        .iter()
        .all(|u| u.email != "bo@aurora.test"));

    let res = client
        .post(app.url("/admin/system/users"))
        .header("X-CSRF-Token", &csrf)
        .header("HX-Request", "true")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let panel = res.text().await.unwrap();
    assert!(
        panel.starts_with(r#"<div id="users-panel""#),
        "a fragment for htmx"
    );
    assert!(panel.contains("bo@aurora.test"));
    // A second time the email is taken, and the form says so.
    let res = client
        .post(app.url("/admin/system/users"))
        .header("X-CSRF-Token", &csrf)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("already exists"));

    // Tokens: the secret is shown once, then only its prefix.
    let res = client
        .post(app.url("/admin/system/tokens"))
        .header("X-CSRF-Token", &csrf)
        .form(&[("name", "CRM sync"), ("scopes", "audience:write")])
        .send()
        .await
        .unwrap();
    let panel = res.text().await.unwrap();
    let secret = panel
        .split("<code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("cove_"));
    let list = client
        .get(app.url("/admin/system/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("CRM sync") && !list.contains(&secret));

    // Signing out needs the token too, then ends the session.
    let res = client.post(app.url("/admin/logout")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client
        .post(app.url("/admin/logout"))
        .header("X-CSRF-Token", &csrf)
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["hx-redirect"], "/admin/login");
    let res = client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn dead_jobs_are_listed_with_a_retry_that_works() {
    let app = App::start().await;
    app.user("ada@aurora.test", Role::Admin, None).await;
    app.exec("INSERT INTO jobs (id, kind, payload, state, run_at, attempts, max_attempts, last_error, created_at, updated_at) \
        VALUES ('0190a000-0000-7000-8000-00000000dead', 'webhook.deliver', '{}', 'dead', 0, 5, 5, 'connection refused', 0, 0)").await;
    let (client, csrf) = app.signed_in("ada@aurora.test").await;
    let page = client
        .get(app.url("/admin/system/jobs?state=dead"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let retry = r#"hx-post="/api/v1/jobs/0190a000-0000-7000-8000-00000000dead/retry""#;
    assert!(page.contains(retry), "{page}");
    assert!(page.contains("connection refused"));
    assert!(page.contains(r#"data-state="dead">Dead <b>1</b>"#));
    let res = client
        .post(app.url("/api/v1/jobs/0190a000-0000-7000-8000-00000000dead/retry"))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let page = client
        .get(app.url("/admin/system/jobs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(retry), "no longer a dead letter");
    assert!(page.contains(r#"data-state="ready">Ready <b>1</b>"#));
}

#[tokio::test]
async fn store_staff_see_their_own_store_only() {
    let app = App::start().await;
    app.exec("INSERT INTO stores (id, code, name, kind, city, created_at) VALUES ('s1', 'SH-01', '上海一号店', 'store', '上海', 0), ('s2', 'BJ-01', '北京一号店', 'store', '北京', 0)").await;
    app.exec("INSERT INTO members (id, member_no, name, city, tier, joined_channel, store_id, joined_at) VALUES ('m1', 'M1', 'a', '上海', 'silver', 'store', 's1', 0), ('m2', 'M2', 'b', '北京', 'silver', 'store', 's2', 0), ('m3', 'M3', 'c', '北京', 'silver', 'store', 's2', 0)").await;
    app.user("wu@aurora.test", Role::StoreStaff, Some("s1"))
        .await;
    app.user("ada@aurora.test", Role::Admin, None).await;

    let kpi = |body: &str| {
        body.split(r#"data-kpi="members""#)
            .nth(1)
            .and_then(|s| s.split(r#"<div class="kpi-value">"#).nth(1))
            .and_then(|s| s.split('<').next())
            .unwrap()
            .to_owned()
    };
    let (staff, _) = app.signed_in("wu@aurora.test").await;
    let body = staff
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(kpi(&body), "1");
    assert!(body.contains(r#"id="scope-note""#));
    let network = staff
        .get(app.url("/admin/network"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(network.contains("上海一号店") && !network.contains("北京一号店"));

    let (admin, _) = app.signed_in("ada@aurora.test").await;
    let body = admin
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(kpi(&body), "3");
}

#[tokio::test]
async fn storefront_shows_catalog_in_the_chosen_language() {
    let app = App::start().await;
    let client = browser();
    // Empty catalog: a friendly page, not an error.
    let res = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains(r#"id="catalog-empty""#));

    app.exec("INSERT INTO categories (id, code, name_zh, name_en, position) VALUES ('c1', 'laptops', '笔记本电脑', 'Laptops', 1), ('c2', 'monitors', '显示器', 'Monitors', 2)").await;
    app.exec("INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) VALUES \
        ('p1', 'AUR-PRO-14', 'c1', '极光 Pro 14', 'Aurora Pro 14', 'device', 699900, 'active', 0), \
        ('p2', 'AUR-27', 'c2', '极光 27 英寸显示器', 'Aurora 27\" monitor', 'device', 189950, 'active', 0), \
        ('p3', 'AUR-OLD', 'c1', '旧款', 'Old model', 'device', 100, 'archived', 0)").await;
    let body = client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("极光电脑 Aurora"));
    assert!(body.contains(r#"data-category="laptops""#) && body.contains("笔记本电脑"));
    assert!(body.contains("¥6,999") && body.contains("¥1,899.50"));
    assert!(
        !body.contains("AUR-OLD"),
        "archived products are not for sale"
    );

    let res = client
        .get(app.url("/lang/en?next=/categories?c=monitors"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/categories?c=monitors");
    let body = client
        .get(app.url("/categories?c=monitors"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Aurora 27&#34; monitor") || body.contains("Aurora 27&quot; monitor"));
    assert!(!body.contains("Aurora Pro 14"), "only the chosen category");

    for (path, marker) in [
        (
            "/service",
            "Sign in to see your devices, tickets and visits",
        ),
        ("/me", "Sign in to see your membership"),
    ] {
        let body = client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains(marker), "{path}");
    }

    // The language switch never sends anyone off the site.
    let res = client
        .get(app.url("/lang/zh?next=//evil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/");
}
