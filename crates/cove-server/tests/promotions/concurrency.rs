//! Limits under concurrency at the core: 200 checkouts race for a flash-sale
//! pool of 50, each in its own transaction with its own order.

use crate::fixtures::*;
use cove_core::commerce::promotions;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_hundred_checkouts_never_pass_the_pool_or_the_per_person_limit() {
    let shop = Arc::new(shop().await);
    let now = shop.now;
    flash_sale(&shop.db, &shop.mouse.1, 100, 50, 1, now).await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let shop = shop.clone();
        tasks.push(tokio::spawn(async move {
            // 100 people, each trying twice; the limit is one unit per person.
            let profile = format!("buyer-{}", n % 100);
            let b = buyer(&profile, None);
            let lines = vec![line(&shop.mouse, 1)];
            let mut tx = shop.db.begin().await.unwrap();
            let order = order(&mut tx, &profile, now).await;
            let found = match promotions::discounts(&mut tx, &b, &lines, None, now).await {
                Ok(found) => found,
                Err(e) => return Err(e.code().into_owned()),
            };
            assert_eq!(found.len(), 1, "the flash price applies until the limit");
            match promotions::claim(&mut tx, shop.db.backend(), &order, &b, &lines, &found, now)
                .await
            {
                Ok(()) => {
                    tx.commit().await.unwrap();
                    Ok(profile)
                }
                Err(e) => Err(e.code().into_owned()),
            }
        }));
    }
    let mut won = Vec::new();
    let mut codes = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => won.push(p),
            Err(c) => codes.push(c),
        }
    }
    assert_eq!(won.len(), 50, "failures: {codes:?}");
    let mut people = won.clone();
    people.sort();
    people.dedup();
    assert_eq!(people.len(), 50, "nobody wins twice");
    assert!(codes
        .iter()
        .all(|c| c == "flash_sale_sold_out" || c == "flash_sale_limit_reached"));
    let db = &shop.db;
    assert_eq!(scalar(db, "SELECT sold FROM flash_sale_items").await, 50);
    assert_eq!(scalar(db, "SELECT pool FROM flash_sale_items").await, 50);
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM flash_sale_purchases WHERE status = 'reserved'"
        )
        .await,
        50
    );
    assert_eq!(
        scalar(db, "SELECT COALESCE(MAX(bought), 0) FROM flash_sale_buyers").await,
        1
    );
    assert_eq!(
        scalar(
            db,
            "SELECT CAST(SUM(bought) AS BIGINT) FROM flash_sale_buyers"
        )
        .await,
        50
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM promotion_redemptions WHERE kind = 'flash_sale'"
        )
        .await,
        50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_orders_of_one_person_stay_within_the_limit() {
    let shop = Arc::new(shop().await);
    let now = shop.now;
    // Two units per person, a pool large enough never to run out.
    flash_sale(&shop.db, &shop.mouse.1, 100, 1_000, 2, now).await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let shop = shop.clone();
        tasks.push(tokio::spawn(async move {
            let b = buyer("greedy", None);
            let lines = vec![line(&shop.mouse, 1)];
            // Priced before anyone claims, as racing checkouts would be.
            let found = {
                let mut conn = shop.db.pool().acquire().await.unwrap();
                promotions::discounts(&mut conn, &b, &lines, None, now).await
            };
            let Ok(found) = found else { return false };
            let mut tx = shop.db.begin().await.unwrap();
            let order = order(&mut tx, "greedy", now).await;
            let ok = promotions::claim(&mut tx, shop.db.backend(), &order, &b, &lines, &found, now)
                .await
                .is_ok();
            if ok {
                tx.commit().await.unwrap();
            }
            ok
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 2);
    assert_eq!(
        scalar(&shop.db, "SELECT bought FROM flash_sale_buyers").await,
        2
    );
    assert_eq!(
        scalar(&shop.db, "SELECT sold FROM flash_sale_items").await,
        2
    );
}
