//! The console's channels pages render for staff who may read channels,
//! show no secrets, and are closed to everyone else.

use crate::outbox::{account, app_with_standin};
use serde_json::json;

#[tokio::test]
async fn channel_pages_render_for_channel_staff_only_and_never_show_secrets() {
    let (app, _db, _stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let oa = account(&admin, "official_account", "wx_oa_demo", true).await;
    let wecom = account(&admin, "wecom", "ww_demo_corp", true).await;
    admin
        .post(
            "/api/v1/channels/messages",
            json!({ "account_id": oa, "kind": "template", "recipient": "o_page_fan", "template_id": "TPL_PAGE",
                    "payload": { "data": { "first": "hi" } }, "client_msg_id": "page.test:1" }),
        )
        .await;
    admin
        .post(
            "/api/v1/channels/contact-ways",
            json!({ "account_id": wecom, "name": "页面测试名片", "wecom_user_id": "page_sales" }),
        )
        .await;
    let marketing = app.user("marketing", None).await;
    for (tab, expect) in [
        ("accounts", "wx_oa_demo"),
        ("scenes", "channel-table"),
        ("followers", "channel-table"),
        ("contacts", "channel-table"),
        ("ways", "页面测试名片"),
        ("outbox", "o_page_fan"),
    ] {
        let page = marketing.get(&format!("/admin/channels?tab={tab}")).await;
        assert_eq!(page.status(), 200, "{tab}");
        let body = page.text().await.unwrap();
        assert!(body.contains(expect), "{tab} shows {expect}");
        assert!(
            !body.contains("app-secret") && !body.contains("CoveToken2026"),
            "no secrets on {tab}"
        );
    }
    let analyst = app.user("data_analyst", None).await;
    assert_eq!(
        analyst.get("/admin/channels?tab=outbox").await.status(),
        403
    );
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/admin/channels"))
        .send()
        .await
        .unwrap();
    assert!(anonymous.status().is_redirection(), "sign-in first");
}
