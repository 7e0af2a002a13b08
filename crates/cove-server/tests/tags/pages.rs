//! The audience console pages render for the team and only for those
//! allowed; the expression editor's live count answers as one types.

use crate::common::TestApp;
use crate::Harness;
use serde_json::json;

async fn post_form(
    s: &crate::common::Session,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    s.client
        .post(app.url(path))
        .header("x-csrf-token", &s.csrf)
        .header("hx-request", "true")
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn tags_audiences_and_profile_pages_render_with_their_data() {
    let h = Harness::start().await;
    h.batch(vec![json!({"type": "identify", "userId": "zoe", "traits": {"city": "Wuhan", "phone": "13912340099"}, "messageId": "z1"}),
        json!({"type": "track", "userId": "zoe", "event": "Product Viewed", "properties": {"category": "monitor"}, "messageId": "z2"})])
        .await;
    h.tag(json!({"key": "vip", "name": "VIP customers", "kind": "manual"}))
        .await;
    let zoe = h.profile("user_id:zoe").await;
    h.admin
        .post("/api/v1/tags/vip/members", json!({"profile_id": zoe}))
        .await;

    let page = h.admin.get("/admin/audience").await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        body.contains("VIP customers") && body.contains("data-tag=\"vip\""),
        "{body}"
    );

    let profile = h
        .admin
        .get(&format!("/admin/audience/profiles/{zoe}"))
        .await;
    assert_eq!(profile.status(), 200);
    let body = profile.text().await.unwrap();
    assert!(body.contains("Product Viewed"), "timeline missing");
    assert!(body.contains("Wuhan"), "traits missing");
    assert!(body.contains(">vip<"), "tags missing");
    assert!(
        body.contains("user_id") && body.contains(">zoe<"),
        "identities missing"
    );

    let rule = r#"{"conditions": [{"type": "event", "events": ["Product Viewed"]}]}"#;
    let previewed = post_form(
        &h.admin,
        &h.app,
        "/admin/audience/tags/preview",
        &[("rule", rule)],
    )
    .await;
    assert!(previewed
        .text()
        .await
        .unwrap()
        .contains("id=\"count-value\">1<"));
    let bad = post_form(
        &h.admin,
        &h.app,
        "/admin/audience/tags/preview",
        &[("rule", "{\"conditions\": []}")],
    )
    .await;
    assert!(bad.text().await.unwrap().contains("expression-error"));
    let made = post_form(
        &h.admin,
        &h.app,
        "/admin/audience/tags",
        &[
            ("key", "viewer"),
            ("name", "Viewer"),
            ("kind", "rule"),
            ("rule", rule),
        ],
    )
    .await;
    assert_eq!(made.status(), 200);
    h.computed("viewer", 1).await;
    assert_eq!(h.members("viewer").await, vec![zoe.clone()]);

    let editor = h.admin.get("/admin/audience/audiences").await;
    assert_eq!(editor.status(), 200);
    let counted = post_form(
        &h.admin,
        &h.app,
        "/admin/audience/audiences/count",
        &[("expression", "tag:vip AND trait:city = \"Wuhan\"")],
    )
    .await;
    assert_eq!(counted.status(), 200);
    let fragment = counted.text().await.unwrap();
    assert!(fragment.contains("id=\"count-value\">1<"), "{fragment}");
    let broken = post_form(
        &h.admin,
        &h.app,
        "/admin/audience/audiences/count",
        &[("expression", "tag:vip AND")],
    )
    .await;
    let fragment = broken.text().await.unwrap();
    assert!(
        fragment.contains("expression-error") && fragment.contains("column"),
        "{fragment}"
    );
    let saved = post_form(
        &h.admin,
        &h.app,
        "/admin/audience/audiences",
        &[("expression", "tag:vip"), ("name", "VIPs")],
    )
    .await;
    assert_eq!(saved.status(), 200);
    let list = h
        .admin
        .get("/admin/audience/audiences")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("VIPs") && list.contains("tag:vip"), "{list}");
}

#[tokio::test]
async fn audience_pages_are_closed_to_others() {
    let h = Harness::start().await;
    let staff = h.app.user("store_staff", Some("store-1")).await;
    for path in ["/admin/audience", "/admin/audience/audiences"] {
        assert_eq!(staff.get(path).await.status(), 403, "{path}");
    }
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anonymous
        .get(h.app.url("/admin/audience"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let analyst = h.app.user("data_analyst", None).await;
    assert_eq!(analyst.get("/admin/audience").await.status(), 200);
    let denied = post_form(
        &analyst,
        &h.app,
        "/admin/audience/audiences",
        &[("expression", "ALL"), ("name", "All")],
    )
    .await;
    assert_eq!(denied.status(), 403);
}
