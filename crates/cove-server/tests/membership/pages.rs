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
