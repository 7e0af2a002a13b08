//! The identity graph through the API: anonymous activity joining the known
//! profile, alias, the never-merge-two-registered-people guard, blocked
//! values, and concurrent resolution of the same identities.

use crate::common::count;
use crate::{identities, message_ids, Ingest};
use serde_json::{json, Value};

#[tokio::test]
async fn anonymous_activity_joins_the_profile_identified_later() {
    let t = Ingest::start().await;
    t.ok(
        "track",
        json!({"anonymousId": "anon-1", "event": "Product Viewed", "messageId": "a1"}),
    )
    .await;
    t.ok(
        "page",
        json!({"anonymousId": "anon-1", "name": "Gaming", "messageId": "a2"}),
    )
    .await;
    let anonymous = t.profile_of("anonymous_id:anon-1").await.unwrap();
    t.ok(
        "identify",
        json!({"userId": "u-1", "anonymousId": "anon-1", "messageId": "a3",
        "traits": {"email": "Ada@Example.cn", "phone": "139 1234 0000", "name": "Ada"}}),
    )
    .await;
    t.ok(
        "track",
        json!({"userId": "u-1", "event": "Order Completed", "messageId": "a4"}),
    )
    .await;
    let profile = t.profile_of("user_id:u-1").await.unwrap();
    assert_eq!(
        profile["id"], anonymous["id"],
        "the anonymous profile became the user's"
    );
    assert_eq!(
        identities(&profile),
        [
            "anonymous_id:anon-1",
            "email:ada@example.cn",
            "phone:+8613912340000",
            "user_id:u-1"
        ]
    );
    assert_eq!(message_ids(&profile), ["a1", "a2", "a3", "a4"]);
    assert_eq!(profile["traits"]["name"], "Ada");
    assert_eq!(t.profiles().await, 1);

    // The same person on a second device: anonymous first, then signs in -> merged.
    t.ok(
        "track",
        json!({"anonymousId": "anon-2", "event": "Product Viewed", "messageId": "b1"}),
    )
    .await;
    let second = t.profile_of("anonymous_id:anon-2").await.unwrap();
    assert_ne!(second["id"], profile["id"]);
    t.ok("identify", json!({"userId": "u-1", "anonymousId": "anon-2", "messageId": "b2", "traits": {"city": "Xi'an"}})).await;
    let merged = t.profile_of("anonymous_id:anon-2").await.unwrap();
    assert_eq!(
        merged["id"], profile["id"],
        "the registered profile survives"
    );
    assert_eq!(message_ids(&merged), ["a1", "a2", "a3", "a4", "b1", "b2"]);
    assert_eq!(merged["merged_ids"], json!([second["id"]]));
    assert_eq!(merged["traits"]["city"], "Xi'an");
    assert_eq!(merged["traits"]["name"], "Ada");
    // The merged profile's id still answers, with the survivor.
    let via_old: Value = t
        .admin
        .get(&format!(
            "/api/v1/profiles/{}",
            second["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(via_old["id"], profile["id"]);
    assert_eq!(
        count(
            t.app.db(),
            "SELECT COUNT(*) FROM profiles WHERE merged_into IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(t.app.db(), "SELECT COUNT(*) FROM profile_merges").await,
        1
    );
    assert_eq!(
        count(t.app.db(), "SELECT COUNT(*) FROM identity_conflicts").await,
        0
    );
}

#[tokio::test]
async fn alias_links_a_previous_id_to_the_user() {
    let t = Ingest::start().await;
    t.ok(
        "track",
        json!({"anonymousId": "visitor-9", "event": "Scan QR", "messageId": "x1"}),
    )
    .await;
    t.ok("identify", json!({"userId": "member-9", "messageId": "x2"}))
        .await;
    assert_eq!(t.profiles().await, 2);
    t.ok(
        "alias",
        json!({"previousId": "visitor-9", "userId": "member-9", "messageId": "x3"}),
    )
    .await;
    let profile = t.profile_of("user_id:member-9").await.unwrap();
    assert_eq!(
        identities(&profile),
        ["anonymous_id:visitor-9", "user_id:member-9"]
    );
    assert_eq!(message_ids(&profile), ["x1", "x2", "x3"]);
    // An alias to an id never seen records it as the user's anonymous id.
    t.ok(
        "alias",
        json!({"previousId": "visitor-10", "userId": "member-9", "messageId": "x4"}),
    )
    .await;
    let profile = t.profile_of("anonymous_id:visitor-10").await.unwrap();
    assert!(identities(&profile).contains(&"user_id:member-9".to_owned()));
}

#[tokio::test]
async fn two_registered_profiles_are_not_merged_and_the_conflict_is_recorded() {
    let t = Ingest::start().await;
    t.ok("identify", json!({"userId": "alice", "messageId": "c1"}))
        .await;
    t.ok(
        "identify",
        json!({"userId": "bob", "messageId": "c2", "traits": {"phone": "13912340002"}}),
    )
    .await;
    // An event of Alice's claims Bob's phone.
    t.ok(
        "identify",
        json!({"userId": "alice", "messageId": "c3", "traits": {"phone": "+86 139 1234 0002"}}),
    )
    .await;
    // An alias between the two accounts.
    t.ok(
        "alias",
        json!({"previousId": "alice", "userId": "bob", "messageId": "c4"}),
    )
    .await;
    let alice = t.profile_of("user_id:alice").await.unwrap();
    let bob = t.profile_of("user_id:bob").await.unwrap();
    assert_ne!(alice["id"], bob["id"], "never merged");
    assert_eq!(identities(&alice), ["user_id:alice"]);
    assert_eq!(identities(&bob), ["phone:+8613912340002", "user_id:bob"]);
    assert_eq!(message_ids(&alice), ["c1", "c3"]);
    assert_eq!(message_ids(&bob), ["c2", "c4"]);
    let conflicts: Value = t
        .admin
        .get("/api/v1/identity-conflicts")
        .await
        .json()
        .await
        .unwrap();
    let mut got: Vec<(String, String, String)> = conflicts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = |id: &Value| if *id == alice["id"] { "alice" } else { "bob" };
            (
                name(&c["profile_id"]).to_owned(),
                name(&c["other_profile_id"]).to_owned(),
                format!(
                    "{}:{}",
                    c["identity_type"].as_str().unwrap(),
                    c["identity_value"].as_str().unwrap()
                ),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "alice".to_owned(),
                "bob".to_owned(),
                "phone:+8613912340002".to_owned()
            ),
            (
                "bob".to_owned(),
                "alice".to_owned(),
                "user_id:alice".to_owned()
            ),
        ]
    );
    assert_eq!(
        count(t.app.db(), "SELECT COUNT(*) FROM profile_merges").await,
        0
    );
}

#[tokio::test]
async fn a_shared_device_keeps_two_people_apart_without_a_conflict() {
    let t = Ingest::start().await;
    t.ok(
        "identify",
        json!({"userId": "p1", "anonymousId": "kiosk", "messageId": "s1"}),
    )
    .await;
    t.ok(
        "identify",
        json!({"userId": "p2", "anonymousId": "kiosk", "messageId": "s2"}),
    )
    .await;
    let p1 = t.profile_of("user_id:p1").await.unwrap();
    let p2 = t.profile_of("user_id:p2").await.unwrap();
    assert_ne!(p1["id"], p2["id"]);
    assert_eq!(message_ids(&p2), ["s2"]);
    assert_eq!(
        count(t.app.db(), "SELECT COUNT(*) FROM identity_conflicts").await,
        0
    );
}

#[tokio::test]
async fn a_blocklisted_phone_is_ignored() {
    let t = Ingest::start().await;
    t.ok(
        "identify",
        json!({"userId": "tester-1", "traits": {"phone": "13800138000"}, "messageId": "t1"}),
    )
    .await;
    t.ok(
        "identify",
        json!({"userId": "tester-2", "traits": {"phone": "138-0013-8000"}, "messageId": "t2"}),
    )
    .await;
    assert!(t.profile_of("phone:13912340003").await.is_none());
    let one = t.profile_of("user_id:tester-1").await.unwrap();
    let two = t.profile_of("user_id:tester-2").await.unwrap();
    assert_ne!(one["id"], two["id"]);
    assert_eq!(identities(&one), ["user_id:tester-1"]);
    assert_eq!(
        one["traits"]["phone"], "13800138000",
        "kept as a trait, not as an identity"
    );
    assert_eq!(
        count(
            t.app.db(),
            "SELECT COUNT(*) FROM identities WHERE type = 'phone'"
        )
        .await,
        0
    );
    assert_eq!(
        count(t.app.db(), "SELECT COUNT(*) FROM identity_conflicts").await,
        0
    );
    // The lookup refuses the blocked value itself.
    let r = t
        .admin
        .get("/api/v1/profiles?identity=phone:13800138000")
        .await;
    assert_eq!(crate::common::error_code(r, 400).await, "blocked_identity");
}

#[tokio::test]
async fn concurrent_requests_for_the_same_person_make_exactly_one_profile() {
    let t = Ingest::start().await;
    let t = std::sync::Arc::new(t);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let body = match i % 3 {
                0 => json!({"batch": [
                    {"type": "track", "anonymousId": "conc-anon", "event": "Viewed", "messageId": format!("c-{i}-a")},
                    {"type": "identify", "userId": "conc-user", "anonymousId": "conc-anon", "messageId": format!("c-{i}-b"),
                     "traits": {"phone": "13912340009"}}
                ]}),
                1 => json!({"batch": [{"type": "track", "userId": "conc-user", "event": "Paid", "messageId": format!("c-{i}-a"),
                    "context": {"device": {"id": "conc-device"}}}]}),
                _ => json!({"batch": [{"type": "page", "anonymousId": "conc-anon", "name": "Home", "messageId": format!("c-{i}-a")}]}),
            };
            let r = t.send("batch", body).await;
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let live = count(
        t.app.db(),
        "SELECT COUNT(*) FROM profiles WHERE merged_into IS NULL",
    )
    .await;
    assert_eq!(live, 1, "one person, one profile");
    let profile = t.profile_of("user_id:conc-user").await.unwrap();
    assert_eq!(
        identities(&profile),
        [
            "anonymous_id:conc-anon",
            "device_id:conc-device",
            "phone:+8613912340009",
            "user_id:conc-user"
        ]
    );
    assert_eq!(profile["events"].as_array().unwrap().len(), 27);
    assert_eq!(t.events().await, 27);
}

#[tokio::test]
async fn concurrent_first_sightings_of_one_person_create_one_profile() {
    let t = std::sync::Arc::new(Ingest::start().await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move {
                let r = t
                    .send(
                        "track",
                        json!({"userId": "first", "anonymousId": "first-anon", "event": "Opened",
                        "messageId": format!("f-{i}")}),
                    )
                    .await;
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        t.profiles().await,
        1,
        "no duplicate profile was ever created"
    );
    assert_eq!(
        count(t.app.db(), "SELECT COUNT(*) FROM identities").await,
        2
    );
    assert_eq!(t.events().await, 20);
}
