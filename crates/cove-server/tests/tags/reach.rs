//! The console profile page and the member 360 page show how Cove can reach
//! the person (Mini Program, Official Account, WeCom salesperson, phone),
//! their subscription-message consent and the outbox; the member page also
//! lists the member's tags with links to them.

use crate::Harness;
use cove_core::channels::consent::{self, Answer, Report};
use cove_core::db::Db;
use serde_json::json;

async fn exec(db: &Db, sql: &str, profile: &str) {
    sqlx::query(sql)
        .bind(profile)
        .execute(db.pool())
        .await
        .unwrap();
}

/// A member whose profile follows the Official Account, has a Mini Program
/// openid with one consent to TPL_REPAIR, a WeCom salesperson, a phone and a
/// sandboxed message in the outbox. Returns (profile, member id).
async fn reachable_member(h: &Harness) -> (String, String) {
    let db = h.app.db();
    let profile = h.app.new_profile().await;
    let customer = h.app.customer(&profile).await;
    let r = customer
        .post(
            "/api/v1/me/membership",
            json!({"name": "韩梅梅", "phone": "13812345678"}),
        )
        .await;
    assert_eq!(r.status(), 200, "join");
    let member: String = sqlx::query_scalar("SELECT id FROM members WHERE profile_id = $1")
        .bind(&profile)
        .fetch_one(db.pool())
        .await
        .unwrap();
    for (id, kind, name, app_id) in [
        ("ca-mp", "mini_program", "Aurora Mini Program", "wxmp1"),
        (
            "ca-oa",
            "official_account",
            "Aurora Service Account",
            "wxoa1",
        ),
        ("ca-wc", "wecom", "Aurora WeCom", "wwcorp1"),
    ] {
        sqlx::query(
            "INSERT INTO channel_accounts (id, kind, name, app_id, token_sealed, created_at) VALUES ($1, $2, $3, $4, 'x', 0)",
        )
        .bind(id)
        .bind(kind)
        .bind(name)
        .bind(app_id)
        .execute(db.pool())
        .await
        .unwrap();
    }
    exec(db, "INSERT INTO identities (type, value, profile_id, source_id, created_at) VALUES ('openid:wxmp1', 'o-mp-123', $1, NULL, 0)", &profile).await;
    exec(db, "INSERT INTO identities (type, value, profile_id, source_id, created_at) VALUES ('phone', '13812345678', $1, NULL, 0) ON CONFLICT DO NOTHING", &profile).await;
    exec(db, "INSERT INTO followers (account_id, open_id, followed_at, last_event_at, profile_id) VALUES ('ca-oa', 'o-oa-456', 0, 0, $1)", &profile).await;
    // One who unfollowed no longer reaches the person.
    exec(db, "INSERT INTO followers (account_id, open_id, followed_at, unfollowed_at, last_event_at, profile_id) VALUES ('ca-oa', 'o-oa-gone', 0, 1, 1, $1)", &profile).await;
    exec(db, "INSERT INTO wecom_contacts (account_id, external_user_id, wecom_user_id, profile_id, added_at, last_event_at) \
               VALUES ('ca-wc', 'wm-ext-789', 'zhang.wei', $1, 0, 0)", &profile).await;
    exec(db, "INSERT INTO wechat_messages (id, account_id, kind, recipient, profile_id, template_id, payload, client_msg_id, status, created_at, updated_at) \
               VALUES ('msg-1', 'ca-mp', 'subscribe', 'o-mp-123', $1, 'TPL_REPAIR', '{}', 'repair:1', 'sandboxed', 0, 0)", &profile).await;
    let mut tx = db.begin().await.unwrap();
    consent::record(
        &mut tx,
        "ca-mp",
        "o-mp-123",
        Some(&profile),
        &Report {
            report_key: "r1".to_owned(),
            results: [("TPL_REPAIR".to_owned(), Answer::Accept)]
                .into_iter()
                .collect(),
            long_term: false,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (profile, member)
}

fn assert_reach(body: &str) {
    for shown in [
        "data-channel=\"mini_program\"",
        "o-mp-123",
        "Aurora Mini Program",
        "data-channel=\"official_account\"",
        "o-oa-456",
        "data-channel=\"wecom\"",
        "wm-ext-789",
        "zhang.wei",
        "data-channel=\"phone\"",
        "138****5678",
        "data-template=\"TPL_REPAIR\"",
        "<td class=\"num\">1 ",
        "sandboxed",
    ] {
        assert!(body.contains(shown), "{shown} missing");
    }
    assert!(
        !body.contains("o-oa-gone"),
        "an unfollowed account is shown"
    );
}

#[tokio::test]
async fn the_profile_page_shows_channels_consent_and_outbox() {
    let h = Harness::start().await;
    let (profile, _) = reachable_member(&h).await;
    let page = h
        .admin
        .get(&format!("/admin/audience/profiles/{profile}"))
        .await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert_reach(&body);
    assert!(!body.contains("13812345678"), "the phone is shown unmasked");
}

#[tokio::test]
async fn the_member_page_shows_tags_with_links_and_consent() {
    let h = Harness::start().await;
    let (profile, member) = reachable_member(&h).await;
    h.tag(json!({"key": "vip", "name": "VIP customers", "kind": "manual"}))
        .await;
    let r = h
        .admin
        .post("/api/v1/tags/vip/members", json!({"profile_id": profile}))
        .await;
    assert_eq!(r.status(), 200);
    let page = h
        .admin
        .get(&format!("/admin/membership/members/{member}"))
        .await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        body.contains("href=\"/admin/audience#tag-vip\""),
        "tag link missing"
    );
    assert!(body.contains("VIP customers"));
    assert_reach(&body);
    // The link lands on the tag's row.
    let tags = h.admin.get("/admin/audience").await.text().await.unwrap();
    assert!(tags.contains("id=\"tag-vip\""));
}
