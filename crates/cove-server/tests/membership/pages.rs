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
