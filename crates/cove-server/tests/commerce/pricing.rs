//! Property test of the server's price: for random carts, prices, tier
//! prices and points requests, the quote is never negative, member prices
//! never exceed list prices, points never pay more than the rules allow
//! (half of the order, the member's balance), and the explanation adds up.

use super::fixtures::*;
use crate::common::TestApp;
use cove_core::clock;
use cove_core::commerce::pricing::{self, Apply, Buyer, Item, POINTS_MAX_PCT};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
struct Case {
    prices: Vec<i64>,
    lines: Vec<(usize, i64)>,
    tier_price: Option<(usize, i64)>,
    points: i64,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(0i64..2_000_000, 5),
        proptest::collection::vec((0usize..5, 1i64..5), 1..4),
        proptest::option::of((0usize..5, 50i64..120)),
        0i64..1_500_000,
    )
        .prop_map(|(prices, lines, tier_price, points)| Case {
            prices,
            lines,
            tier_price,
            points,
        })
}

#[tokio::test]
async fn quotes_are_never_negative_and_points_stay_within_the_rules() {
    let (app, _db) = TestApp::spawn().await;
    catalog(&app).await;
    let mut skus = Vec::new();
    for i in 0..5 {
        skus.push(sku(&app, &format!("PP{i}"), 100, 1_000).await);
    }
    let (_customer, member_id) = member(&app, "13900000041").await;
    give_points(&app, &member_id, 1_000_000).await;
    let buyer = Buyer {
        profile_id: "p".into(),
        member_id: Some(member_id.clone()),
        tier: Some("regular".into()),
    };
    let pool = app.db().pool();
    let mut runner = TestRunner::new(Config::with_cases(150));
    let strategy = cases();
    for _ in 0..150 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        for (sku, price) in skus.iter().zip(&case.prices) {
            sqlx::query("UPDATE skus SET price_fen = $1 WHERE id = $2")
                .bind(price)
                .bind(sku)
                .execute(pool)
                .await
                .unwrap();
        }
        sqlx::query("DELETE FROM sku_tier_prices")
            .execute(pool)
            .await
            .unwrap();
        if let Some((i, pct)) = case.tier_price {
            sqlx::query(
                "INSERT INTO sku_tier_prices (sku_id, tier, price_fen) VALUES ($1, 'regular', $2)",
            )
            .bind(&skus[i])
            .bind(case.prices[i] * pct / 100)
            .execute(pool)
            .await
            .unwrap();
        }
        let items: Vec<Item> = case
            .lines
            .iter()
            .map(|(i, q)| Item {
                sku_id: skus[*i].clone(),
                options: vec![],
                quantity: *q,
                service_tag: None,
            })
            .collect();
        let mut conn = pool.acquire().await.unwrap();
        let apply = Apply {
            points: case.points,
            ..Apply::default()
        };
        let result = pricing::quote(&mut conn, Some(&buyer), &items, &apply, clock::now()).await;
        let free = pricing::quote(
            &mut conn,
            Some(&buyer),
            &items,
            &Apply::default(),
            clock::now(),
        )
        .await
        .unwrap();
        let goods_before_points: i64 = free
            .lines
            .iter()
            .map(|l| l.unit_fen * l.quantity - l.discount_fen)
            .sum();
        let allowed = (goods_before_points * POINTS_MAX_PCT / 100).min(free.points_max.max(0));
        assert!(
            free.points_max <= goods_before_points * POINTS_MAX_PCT / 100,
            "{case:?}"
        );
        match result {
            Err(e) => {
                assert_eq!(e.code(), "points_exceed_limit", "{case:?}");
                assert!(
                    case.points > allowed,
                    "refused an allowed request: {case:?}"
                );
            }
            Ok(q) => {
                assert!(case.points <= allowed, "{case:?}");
                assert!(q.payable_fen >= 0, "{case:?}");
                assert!(
                    q.points_fen <= goods_before_points * POINTS_MAX_PCT / 100,
                    "{case:?}"
                );
                for l in &q.lines {
                    assert!(l.unit_fen <= l.list_unit_fen && l.unit_fen >= 0, "{case:?}");
                    assert!(l.paid_fen >= 0, "{case:?}");
                }
                let explained: i64 = q
                    .explanation
                    .iter()
                    .filter(|e| e.kind != "payable")
                    .map(|e| e.amount_fen)
                    .sum();
                assert_eq!(
                    explained, q.payable_fen,
                    "the explanation adds up: {case:?}"
                );
                let lines: i64 = q.lines.iter().map(|l| l.paid_fen).sum();
                assert_eq!(lines + q.shipping_fen, q.payable_fen, "{case:?}");
            }
        }
    }
}
