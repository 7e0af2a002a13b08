//! The console's promotions page (tabs, create forms, status buttons,
//! results) and the storefront's coupon page.

use crate::common::{count, TestApp};
use crate::fixtures::catalog;
use cove_core::clock::{self, DAY, HOUR};
use serde_json::json;

fn local(us: i64) -> String {
    cove_core::clock::to_datetime(us + cove_core::insight::REPORT_OFFSET)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

#[tokio::test]
async fn staff_create_and_run_campaigns_from_the_console() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("store_manager", None).await;
    let now = clock::now();
    let skus = catalog(app.db(), now).await;
    let form = |path: &str, fields: Vec<(&str, String)>| {
        manager
            .client
            .post(app.url(path))
            .header("x-csrf-token", &manager.csrf)
            .header("hx-request", "true")
            .form(&fields)
            .send()
    };

    let page = manager.get("/admin/commerce/promotions").await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("id=\"new-template\"") && body.contains("id=\"coupon-templates\""));

    // A refused input says why and creates nothing.
    let bad = vec![
        ("name", "新人券".to_owned()),
        ("kind", "amount_off".to_owned()),
        ("amount_yuan", "5o".to_owned()),
        ("starts_at", local(now)),
        ("ends_at", local(now + DAY)),
    ];
    let r = form("/admin/commerce/promotions/coupon-templates", bad)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("hx-redirect").is_none());
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("data-code=\"invalid_amount\""));
    let bad = vec![
        ("name", "新人券".to_owned()),
        ("amount_yuan", "50".to_owned()),
        ("starts_at", "2026-02-31T10:00".to_owned()),
        ("ends_at", local(now + DAY)),
    ];
    let r = form("/admin/commerce/promotions/coupon-templates", bad)
        .await
        .unwrap();
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("data-code=\"invalid_time\""));
    assert_eq!(
        count(app.db(), "SELECT COUNT(*) FROM coupon_templates").await,
        0
    );

    let good = vec![
        ("name", "新人券".to_owned()),
        ("kind", "amount_off".to_owned()),
        ("amount_yuan", "49.90".to_owned()),
        ("threshold_yuan", "500".to_owned()),
        ("scope", "all".to_owned()),
        ("starts_at", local(now)),
        ("ends_at", local(now + 30 * DAY)),
        ("valid_days", "7".to_owned()),
        ("per_person_limit", "1".to_owned()),
        ("total_quantity", "100".to_owned()),
        ("claimable", "1".to_owned()),
    ];
    let r = form("/admin/commerce/promotions/coupon-templates", good)
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("hx-redirect").unwrap(),
        "/admin/commerce/promotions?tab=coupons"
    );
    let (amount, threshold, total): (i64, i64, Option<i64>) =
        sqlx::query_as("SELECT amount_fen, threshold_fen, total_quantity FROM coupon_templates")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!((amount, threshold, total), (4_990, 50_000, Some(100)));
    let body = manager
        .get("/admin/commerce/promotions")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("新人券") && body.contains("≥¥500 -¥49.90"));
    assert!(body.contains("id=\"issue-coupons\""));

    // Issue to a profile from the console.
    let template_id: String = sqlx::query_scalar("SELECT id FROM coupon_templates")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    let profile = app.new_profile().await;
    let r = form(
        "/admin/commerce/promotions/issue",
        vec![
            ("template_id", template_id.clone()),
            ("profile_ids", profile.clone()),
        ],
    )
    .await
    .unwrap();
    assert!(r.headers().get("hx-redirect").is_some());
    assert_eq!(count(app.db(), "SELECT COUNT(*) FROM coupons").await, 1);

    // A tiered 满减 and a flash sale.
    let r = form(
        "/admin/commerce/promotions/discounts",
        vec![
            ("name", "满减".to_owned()),
            ("kind", "threshold_amount_off".to_owned()),
            ("steps", "1000:100, 2000:250".to_owned()),
            ("priority", "5".to_owned()),
            ("stackable_with_coupons", "1".to_owned()),
            ("starts_at", local(now)),
            ("ends_at", local(now + DAY)),
        ],
    )
    .await
    .unwrap();
    assert!(r.headers().get("hx-redirect").is_some());
    let rules: String = sqlx::query_scalar("SELECT rules FROM promotions")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&rules).unwrap(),
        json!([{"threshold_fen": 100000, "off_fen": 10000}, {"threshold_fen": 200000, "off_fen": 25000}])
    );
    let body = manager
        .get("/admin/commerce/promotions?tab=discounts")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("id=\"promotions\"") && body.contains("¥1,000 -¥100"));

    let r = form(
        "/admin/commerce/promotions/flash-sales",
        vec![
            ("name", "鼠标秒杀".to_owned()),
            ("starts_at", local(now - HOUR)),
            ("ends_at", local(now + HOUR)),
            ("sku_id", skus[2].1.clone()),
            ("price_yuan", "9.9".to_owned()),
            ("pool", "30".to_owned()),
            ("per_person_limit", "2".to_owned()),
        ],
    )
    .await
    .unwrap();
    assert!(r.headers().get("hx-redirect").is_some());
    let body = manager
        .get("/admin/commerce/promotions?tab=flash")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("鼠标秒杀") && body.contains("¥9.90") && body.contains("0 / 30"));

    // Pause the coupon, then see the results.
    let r = form(
        "/admin/commerce/promotions/status",
        vec![
            ("campaign", "coupons".to_owned()),
            ("id", template_id.clone()),
            ("status", "paused".to_owned()),
        ],
    )
    .await
    .unwrap();
    assert!(r.headers().get("hx-redirect").is_some());
    let status: String = sqlx::query_scalar("SELECT status FROM coupon_templates")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(status, "paused");
    let body = manager
        .get("/admin/commerce/promotions?tab=results")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("id=\"promotion-results\""));
    assert!(body.contains("新人券") && body.contains("满减") && body.contains("鼠标秒杀"));

    // Viewers see the campaigns without forms and cannot post them.
    let analyst = app.user("data_analyst", None).await;
    let body = analyst
        .get("/admin/commerce/promotions")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("新人券") && !body.contains("id=\"new-template\""));
    let r = analyst
        .client
        .post(app.url("/admin/commerce/promotions/status"))
        .header("x-csrf-token", &analyst.csrf)
        .form(&[
            ("campaign", "coupons"),
            ("id", template_id.as_str()),
            ("status", "ended"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let engineer = app.user("field_engineer", None).await;
    assert_eq!(
        engineer.get("/admin/commerce/promotions").await.status(),
        403
    );
}

#[tokio::test]
async fn the_storefront_coupon_page_lists_coupons_to_use_and_to_claim() {
    let (app, _db) = TestApp::spawn().await;
    let staff = app.user("marketing", None).await;
    let now = clock::now();
    let anonymous = app.client.get(app.url("/coupons")).send().await.unwrap();
    assert_eq!(anonymous.status(), 200);
    assert!(anonymous
        .text()
        .await
        .unwrap()
        .contains("id=\"signed-out\""));

    let template = |name: &str, claimable: bool| {
        json!({"name": name, "kind": "amount_off", "amount_fen": 5000, "threshold_fen": 50000,
            "starts_at": now - HOUR, "ends_at": now + DAY, "claimable": claimable})
    };
    let gift: serde_json::Value = staff
        .post(
            "/api/v1/promotions/coupon-templates",
            template("店长赠券", false),
        )
        .await
        .json()
        .await
        .unwrap();
    staff
        .post(
            "/api/v1/promotions/coupon-templates",
            template("新人券", true),
        )
        .await;
    let profile = app.new_profile().await;
    let r = staff
        .post(
            &format!(
                "/api/v1/promotions/coupon-templates/{}/issue",
                gift["id"].as_str().unwrap()
            ),
            json!({"profile_ids": [profile]}),
        )
        .await;
    assert_eq!(r.status(), 200);

    let mut conn = app.db().pool().acquire().await.unwrap();
    let token = cove_core::access::customers::create_link(&mut conn, &profile, HOUR, now)
        .await
        .unwrap();
    drop(conn);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    client
        .get(app.url(&format!("/me/link/{token}")))
        .send()
        .await
        .unwrap();
    let body = client
        .get(app.url("/coupons"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("id=\"my-coupons\"") && body.contains("店长赠券"));
    assert!(body.contains("data-status=\"issued\""));
    assert!(
        body.contains("id=\"claimable\"")
            && body.contains("新人券")
            && body.contains("data-claim=")
    );
    assert!(body.contains("满¥500"));
}
