//! The membership console pages render real data and are access-controlled.

use crate::common::TestApp;
use serde_json::{json, Value};

#[tokio::test]
async fn the_member_360_page_shows_identifiers_points_and_history() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let joined: Value = manager
        .post(
            "/api/v1/members",
            json!({ "name": "赵敏", "phone": "13652430001", "birthday": "1992-07-01" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = joined["member"]["id"].as_str().unwrap();
    let no = joined["member"]["member_no"].as_str().unwrap();
    manager
        .post(
            &format!("/api/v1/members/{id}/points/adjust"),
            json!({ "amount": 321, "reason": "线下活动补录", "key": "p1" }),
        )
        .await;

    let search = manager.get("/admin/membership?q=13652430001").await;
    assert_eq!(search.status(), 200);
    let body = search.text().await.unwrap();
    assert!(
        body.contains(no) && body.contains(&format!("/admin/membership/members/{id}")),
        "the search finds the member"
    );
    assert!(body.contains("id=\"tiers\"") && body.contains("钻石会员"));

    let page = manager
        .get(&format!("/admin/membership/members/{id}"))
        .await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("赵敏"));
    assert!(
        body.contains("phone: +8613652430001"),
        "identifiers are listed"
    );
    assert!(body.contains(&format!("member_card: {no}")));
    assert!(
        body.contains("线下活动补录"),
        "the ledger shows the adjustment's reason"
    );
    assert!(
        body.contains(">421<"),
        "available points: 100 welcome + 321"
    );

    // A role without membership access gets the forbidden page; no session goes to sign-in.
    let engineer = app.user("field_engineer", None).await;
    assert_eq!(
        engineer
            .get(&format!("/admin/membership/members/{id}"))
            .await
            .status(),
        403
    );
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anonymous
        .get(app.url("/admin/membership"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn a_one_time_link_signs_the_member_in_to_their_storefront_card() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let joined: Value = manager
        .post(
            "/api/v1/members",
            json!({ "name": "周芷若", "phone": "13652430002" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = joined["member"]["id"].as_str().unwrap();
    let link: Value = manager
        .post(&format!("/api/v1/members/{id}/sign-in-link"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let path = link["url"]
        .as_str()
        .unwrap()
        .split_once("/me/link/")
        .map(|(_, t)| format!("/me/link/{t}"))
        .unwrap();

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let signed_out = browser
        .get(app.url("/me"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(signed_out.contains("id=\"signed-out\""));
    let card = browser.get(app.url(&path)).send().await.unwrap();
    assert_eq!(card.url().path(), "/me");
    let body = card.text().await.unwrap();
    assert!(body.contains("id=\"member-card\"") && body.contains("周芷若"));
    assert!(body.contains(">100<"), "the welcome points");
    assert!(body.contains("<svg"), "the member code");
    // Once only: a second browser gets nothing from the same link.
    let other = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let body = other
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("id=\"signed-out\"") && !body.contains("id=\"member-card\""));
    assert_eq!(count_links_used(&app).await, 1);
}

async fn count_links_used(app: &TestApp) -> i64 {
    crate::common::count(
        app.db(),
        "SELECT COUNT(*) FROM customer_links WHERE used_at IS NOT NULL",
    )
    .await
}

/// A browser signed in through a one-time link to `profile`.
async fn storefront_browser(app: &TestApp, profile: &str) -> reqwest::Client {
    let mut conn = app.db().pool().acquire().await.unwrap();
    let token = cove_core::access::customers::create_link(
        &mut conn,
        profile,
        cove_core::clock::DAY,
        cove_core::clock::now(),
    )
    .await
    .unwrap();
    // SQLite has one writer: give the connection back before the server writes.
    drop(conn);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let landed = browser
        .get(app.url(&format!("/me/link/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(landed.url().path(), "/me");
    browser
}

async fn page_text(browser: &reqwest::Client, url: String) -> String {
    let r = browser.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_customer_joins_from_the_form_and_redeems_in_the_mall() {
    use cove_core::audience::{IdType, Identifier};
    let (app, _db) = TestApp::spawn().await;
    // Known from the Mini Program by a verified phone, not a member yet.
    let phone = Identifier::new(IdType::Phone, "13652430003").unwrap();
    let profile = app.profile_with(&[phone]).await;
    let browser = storefront_browser(&app, &profile).await;
    let me = page_text(&browser, app.url("/me")).await;
    assert!(me.contains("id=\"join-form\""), "the join form");
    assert!(
        me.contains("value=\"+8613652430003\""),
        "the verified phone is offered"
    );
    let mall = page_text(&browser, app.url("/mall")).await;
    assert!(mall.contains("id=\"not-member\"") && !mall.contains("data-redeem"));

    // The form's request: no phone typed joins with the verified one; a bad name is refused.
    let customer = app.customer(&profile).await;
    let refused = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": " ", "phone": null }),
        )
        .await;
    assert_eq!(
        crate::common::error_code(refused, 400).await,
        "invalid_name"
    );
    let joined: Value = customer
        .post(
            "/api/v1/me/membership",
            json!({ "name": "殷离", "phone": null, "birthday": null }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(joined["member"]["phone"], "+8613652430003");
    let id = joined["member"]["id"].as_str().unwrap();
    let me = page_text(&browser, app.url("/me")).await;
    assert!(me.contains("id=\"member-card\"") && me.contains("殷离"));
    let window = cove_core::membership::earn::RETURN_WINDOW / cove_core::clock::SECOND;
    assert!(
        me.contains(&format!("data-seconds=\"{window}\"")),
        "the return window is stated"
    );
    assert!(me.contains("href=\"/mall\""));

    // A gift for 500 points: out of reach at 100, redeemable at 1,100.
    let manager = app.user("membership_manager", None).await;
    let item: Value = manager
        .post(
            "/api/v1/mall/items",
            json!({ "kind": "product", "name_zh": "极光贴纸", "name_en": "Aurora stickers", "points": 500, "stock": 3 }),
        )
        .await
        .json()
        .await
        .unwrap();
    let item_id = item["id"].as_str().unwrap();
    let mall = page_text(&browser, app.url("/mall")).await;
    assert!(mall.contains("极光贴纸") && !mall.contains(&format!("data-redeem=\"{item_id}\"")));
    manager
        .post(
            &format!("/api/v1/members/{id}/points/adjust"),
            json!({ "amount": 1000, "reason": "到店活动", "key": "mall-test" }),
        )
        .await;
    let mall = page_text(&browser, app.url("/mall")).await;
    assert!(mall.contains(&format!("data-redeem=\"{item_id}\"")));
    assert!(mall.contains(">1100<"), "available points");
    let redeemed: Value = customer
        .post(
            "/api/v1/me/mall/redemptions",
            json!({ "item_id": item_id, "key": "k-1" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let rid = redeemed["id"].as_str().unwrap();
    let mall = page_text(&browser, app.url(&format!("/mall?redeemed={rid}"))).await;
    assert!(mall.contains(&format!("id=\"redeemed\" data-redemption=\"{rid}\"")));
    assert!(mall.contains(">600<"), "1,100 − 500");
    assert!(mall.contains("待发货"), "a gift waits to be shipped");
}

#[tokio::test]
async fn the_till_is_for_those_who_record_purchases() {
    let (app, _db) = TestApp::spawn().await;
    let manager = app.user("membership_manager", None).await;
    let index = page_text(&manager.client, app.url("/admin/membership")).await;
    assert!(index.contains("id=\"to-till\""));
    assert!(index.contains("id=\"import-members\""));
    let till = page_text(&manager.client, app.url("/admin/membership/till")).await;
    assert!(till.contains("id=\"till-scan\"") && till.contains("id=\"till-purchase\""));
    assert!(
        till.contains("id=\"till-store\""),
        "unscoped staff pick the store"
    );
    let staff = app.user("store_staff", Some("store-1")).await;
    let till = page_text(&staff.client, app.url("/admin/membership/till")).await;
    assert!(
        !till.contains("id=\"till-store\""),
        "store staff record for their store"
    );
    // Reading members is not enough to award points.
    let analyst = app.user("data_analyst", None).await;
    let index = page_text(&analyst.client, app.url("/admin/membership")).await;
    assert!(!index.contains("id=\"to-till\""));
    assert!(
        !index.contains("id=\"import-members\""),
        "nor to import members"
    );
    assert_eq!(analyst.get("/admin/membership/till").await.status(), 403);
}
