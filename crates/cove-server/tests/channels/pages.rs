//! The console's channels pages render for staff who may read channels,
//! show no secrets, and are closed to everyone else.

use crate::common::{count, error_code, Session};
use crate::outbox::{account, app_with_standin};
use serde_json::{json, Value};

async fn post_form(
    session: &Session,
    base: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    session
        .client
        .post(format!("{base}{path}"))
        .header("x-csrf-token", &session.csrf)
        .header("hx-request", "true")
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn qr_codes_and_contact_ways_are_created_in_the_console() {
    let (app, _db, stand) = app_with_standin().await;
    let admin = app.user("admin", None).await;
    let live = account(&admin, "official_account", "wx_oa_live", false).await;
    let sandbox = account(&admin, "official_account", "wx_oa_box", true).await;
    let wecom = account(&admin, "wecom", "ww_live_corp", false).await;
    let store_id = cove_core::db::new_id();
    sqlx::query("INSERT INTO stores (id, code, name, kind, city, created_at) VALUES ($1, 'BJ-02', '北京三里屯店', 'store', '北京', 0)")
        .bind(&store_id)
        .execute(app.db().pool())
        .await
        .unwrap();
    let marketing = app.user("marketing", None).await;
    let page = marketing
        .get("/admin/channels?tab=scenes")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"new-scene\"") && page.contains("北京三里屯店"),
        "the form offers the stores"
    );

    // A store's code on the live account is issued by WeChat.
    let r = post_form(
        &marketing,
        &app.base,
        "/admin/channels/scenes",
        &[
            ("account_id", &live),
            ("kind", "store"),
            ("name", "三里屯桌牌"),
            ("store_id", &store_id),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["hx-redirect"], "/admin/channels?tab=scenes");
    let scenes: Value = admin
        .get("/api/v1/channels/qr-scenes")
        .await
        .json()
        .await
        .unwrap();
    let scene = &scenes[0];
    assert_eq!(scene["store_id"], store_id.as_str());
    let code = scene["scene"].as_str().unwrap();
    assert_eq!(scene["qr_url"], format!("http://weixin.qq.com/q/{code}"));
    let asked = stand.delivered("qrcode_create");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["action_name"], "QR_LIMIT_STR_SCENE");
    assert_eq!(asked[0]["action_info"]["scene"]["scene_str"], code);
    let png = marketing
        .get(&format!(
            "/api/v1/channels/qr-scenes/{}/qr.png",
            scene["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let page = marketing
        .get("/admin/channels?tab=scenes")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("三里屯桌牌") && page.contains("/qr.png"));

    // A campaign code on the sandbox account never reaches WeChat.
    let r = post_form(
        &marketing,
        &app.base,
        "/admin/channels/scenes",
        &[
            ("account_id", &sandbox),
            ("kind", "campaign"),
            ("name", "双十一海报"),
            ("campaign", "double11"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let scenes: Value = admin
        .get("/api/v1/channels/qr-scenes")
        .await
        .json()
        .await
        .unwrap();
    let boxed = scenes
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "双十一海报")
        .unwrap();
    assert!(boxed["qr_url"].is_null());
    assert_eq!(stand.delivered("qrcode_create").len(), 1);
    let png = marketing
        .get(&format!(
            "/api/v1/channels/qr-scenes/{}/qr.png",
            boxed["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(error_code(png, 409).await, "qr_not_issued");

    // Refused input is shown on the form and creates nothing.
    for (form, code) in [
        (
            vec![
                ("account_id", live.as_str()),
                ("kind", "store"),
                ("name", "无门店"),
            ],
            "store_required",
        ),
        (
            vec![
                ("account_id", live.as_str()),
                ("kind", "campaign"),
                ("name", ""),
            ],
            "invalid_name",
        ),
        (
            vec![
                ("account_id", live.as_str()),
                ("kind", "poster"),
                ("name", "x"),
            ],
            "invalid_kind",
        ),
        (
            vec![
                ("account_id", wecom.as_str()),
                ("kind", "campaign"),
                ("name", "x"),
                ("campaign", "c"),
            ],
            "not_a_code_account",
        ),
    ] {
        let r = post_form(&marketing, &app.base, "/admin/channels/scenes", &form).await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(
            body.contains(&format!("data-code=\"{code}\"")),
            "{code}: {body}"
        );
    }
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM qr_scenes").await, 2);

    // A campaign's Mini Program code: WeChat draws it, and a visit through it
    // is attributed to the campaign at sign-in.
    let mp = account(&admin, "mini_program", "wx_mp_codes", false).await;
    let r = post_form(
        &marketing,
        &app.base,
        "/admin/channels/scenes",
        &[
            ("account_id", &mp),
            ("kind", "campaign"),
            ("name", "门店海报小程序码"),
            ("campaign", "spring-poster"),
            ("page", "pages/service/index"),
        ],
    )
    .await;
    assert_eq!(r.headers()["hx-redirect"], "/admin/channels?tab=scenes");
    let scenes: Value = admin
        .get("/api/v1/channels/qr-scenes")
        .await
        .json()
        .await
        .unwrap();
    let poster = scenes
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "门店海报小程序码")
        .unwrap();
    assert_eq!(poster["page"], "pages/service/index");
    assert_eq!(poster["issued"], true);
    let code = poster["scene"].as_str().unwrap();
    let drawn = stand.delivered("wxacode");
    assert_eq!(
        (drawn[0]["scene"].as_str(), drawn[0]["page"].as_str()),
        (Some(code), Some("pages/service/index"))
    );
    let png = marketing
        .get(&format!(
            "/api/v1/channels/qr-scenes/{}/qr.png",
            poster["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        png.bytes().await.unwrap().as_ref(),
        format!("\u{89}PNG scene={code} page=pages/service/index").as_bytes(),
        "the image WeChat drew is served as drawn"
    );
    let login: Value = reqwest::Client::new()
        .post(app.url("/api/v1/store/mp/login"))
        .json(&json!({ "account_id": mp, "code": "code-oPoster", "scene": 1047, "path": "pages/service/index", "query": { "scene": code } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let props: String = sqlx::query_scalar(
        "SELECT properties FROM raw_events WHERE event = 'mp.opened' AND profile_id = $1",
    )
    .bind(login["profile_id"].as_str().unwrap())
    .fetch_one(app.db().pool())
    .await
    .unwrap();
    let props: Value = serde_json::from_str(&props).unwrap();
    assert_eq!(props["campaign"], "spring-poster", "{props}");
    let r = post_form(
        &marketing,
        &app.base,
        "/admin/channels/scenes",
        &[
            ("account_id", &live),
            ("kind", "campaign"),
            ("name", "x"),
            ("campaign", "c"),
            ("page", "pages/index/index"),
        ],
    )
    .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("data-code=\"invalid_page\""),
        "an Official Account code opens no page"
    );
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM qr_scenes").await, 3);

    // A salesperson's contact way, registered with WeCom.
    let r = post_form(
        &marketing,
        &app.base,
        "/admin/channels/ways",
        &[
            ("account_id", &wecom),
            ("name", "王顾问名片"),
            ("wecom_user_id", "wang.gw"),
            ("store_id", &store_id),
            ("welcome_text", "您好，我是极光电脑王顾问"),
        ],
    )
    .await;
    assert_eq!(r.headers()["hx-redirect"], "/admin/channels?tab=ways");
    let ways: Value = admin
        .get("/api/v1/channels/contact-ways")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ways[0]["wecom_user_id"], "wang.gw");
    assert_eq!(ways[0]["welcome_text"], "您好，我是极光电脑王顾问");
    assert_eq!(stand.delivered("add_contact_way").len(), 1);
    let r = post_form(
        &marketing,
        &app.base,
        "/admin/channels/ways",
        &[("account_id", &wecom), ("name", "无人")],
    )
    .await;
    assert!(r.text().await.unwrap().contains("invalid_wecom_user_id"));
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM wecom_contact_ways").await,
        1
    );

    // Staff without channel access cannot post them.
    let store_manager = app.user("store_manager", None).await;
    let r = post_form(
        &store_manager,
        &app.base,
        "/admin/channels/scenes",
        &[
            ("account_id", &live),
            ("kind", "campaign"),
            ("name", "x"),
            ("campaign", "c"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM qr_scenes").await, 3);
}

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
