//! Each node's bitmap population follows the database in place: after the
//! first full build, tag and profile changes are read incrementally, and a
//! profile merged away leaves the population.

use crate::Harness;
use cove_audience::parse;
use cove_core::audience::audiences::{loader, Cache};
use cove_core::db::Db;
use serde_json::json;

fn count(engine: &cove_audience::Engine, expression: &str) -> u64 {
    engine.count(&parse(expression).unwrap())
}

async fn ordinal(db: &Db, profile: &str) -> u32 {
    let o: i64 = sqlx::query_scalar("SELECT ordinal FROM profiles WHERE id = $1")
        .bind(profile)
        .fetch_one(db.pool())
        .await
        .unwrap();
    u32::try_from(o).unwrap()
}

/// The population a full build reads now, to compare an updated one with.
async fn rebuilt(db: &Db) -> cove_audience::Population {
    let mut conn = db.read().acquire().await.unwrap();
    loader::load(&mut conn).await.unwrap()
}

#[tokio::test]
async fn tag_and_trait_changes_after_the_first_build_are_read_in_place() {
    let h = Harness::start().await;
    let db = h.app.db();
    h.batch(vec![
        json!({"type": "identify", "userId": "p0", "traits": {"total_spend_fen": 900_000}, "messageId": "p0"}),
        json!({"type": "identify", "userId": "p1", "traits": {"total_spend_fen": 1_000}, "messageId": "p1"}),
    ])
    .await;
    h.tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let p0 = h.profile("user_id:p0").await;
    let p1 = h.profile("user_id:p1").await;
    let r = h
        .admin
        .post("/api/v1/tags/vip/members", json!({"profile_id": p0}))
        .await;
    assert_eq!(r.status(), 200);

    let cache = Cache::default();
    let engine = cache.fresh(db).await.unwrap();
    assert_eq!(count(&engine, "tag:vip"), 1);
    assert_eq!(count(&engine, "trait:total_spend_fen >= 500000"), 1);
    assert_eq!((cache.builds().full(), cache.builds().updates()), (1, 0));

    // A manual assignment, a trait change and a new person, after the build.
    let r = h
        .admin
        .post("/api/v1/tags/vip/members", json!({"profile_id": p1}))
        .await;
    assert_eq!(r.status(), 200);
    h.batch(vec![
        json!({"type": "identify", "userId": "p1", "traits": {"total_spend_fen": 800_000}, "messageId": "p1b"}),
        json!({"type": "identify", "userId": "p2", "traits": {"city": "Wuhan"}, "messageId": "p2"}),
    ])
    .await;
    let engine = cache.fresh(db).await.unwrap();
    assert_eq!(count(&engine, "tag:vip"), 2);
    assert_eq!(count(&engine, "trait:total_spend_fen >= 500000"), 2);
    assert_eq!(count(&engine, "trait:city = \"Wuhan\""), 1);
    assert!(engine.matches(&parse("tag:vip").unwrap(), ordinal(db, &p1).await));
    assert_eq!((cache.builds().full(), cache.builds().updates()), (1, 1));

    // Removing the tag again is seen too (the count alone returns to where it was).
    let r = h
        .admin
        .client
        .delete(h.app.url(&format!("/api/v1/tags/vip/members/{p0}")))
        .header("x-csrf-token", &h.admin.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let engine = cache.fresh(db).await.unwrap();
    assert!(!engine.matches(&parse("tag:vip").unwrap(), ordinal(db, &p0).await));
    assert_eq!(cache.builds().full(), 1, "no full rebuild");
    // The updated population answers as a fresh full build does.
    let full = rebuilt(db).await;
    for expression in [
        "tag:vip",
        "trait:total_spend_fen >= 500000",
        "trait:city = \"Wuhan\"",
        "ALL",
    ] {
        let expr = parse(expression).unwrap();
        assert_eq!(engine.evaluate(&expr), full.evaluate(&expr), "{expression}");
    }
}

#[tokio::test]
async fn a_profile_merged_away_leaves_the_population_and_its_tag_follows_the_survivor() {
    let h = Harness::start().await;
    let db = h.app.db();
    h.batch(vec![
        json!({"type": "track", "anonymousId": "anon-3", "event": "Product Viewed", "messageId": "a0"}),
        json!({"type": "identify", "userId": "gus", "traits": {}, "messageId": "g0"}),
    ])
    .await;
    let anon = h.profile("anonymous_id:anon-3").await;
    let gus = h.profile("user_id:gus").await;
    h.tag(json!({"key": "vip", "name": "VIP", "kind": "manual"}))
        .await;
    let r = h
        .admin
        .post("/api/v1/tags/vip/members", json!({"profile_id": anon}))
        .await;
    assert_eq!(r.status(), 200);
    let cache = Cache::default();
    let engine = cache.fresh(db).await.unwrap();
    let (anon_o, gus_o) = (ordinal(db, &anon).await, ordinal(db, &gus).await);
    assert!(engine.read().is_live(anon_o));
    let vip = parse("tag:vip").unwrap();
    assert!(engine.matches(&vip, anon_o));
    assert!(!engine.matches(&vip, gus_o));

    // The visitor signs in: the anonymous profile merges into gus.
    h.batch(vec![json!({"type": "identify", "userId": "gus", "anonymousId": "anon-3", "traits": {}, "messageId": "g1"})])
        .await;
    assert_eq!(h.profile("anonymous_id:anon-3").await, gus);
    let engine = cache.fresh(db).await.unwrap();
    assert!(!engine.read().is_live(anon_o), "the merged profile left");
    assert!(
        engine.matches(&vip, gus_o),
        "its tag counts for the survivor"
    );
    assert_eq!(count(&engine, "tag:vip"), 1);
    assert_eq!(cache.builds().full(), 1, "no full rebuild");
    let full = rebuilt(db).await;
    assert_eq!(engine.read().universe(), full.universe());
}
