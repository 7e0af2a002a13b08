//! The points ledger against a model: for any sequence of awards, freezes,
//! consumes, releases, refunds, reversals, expiries and retries, the ledger
//! sums to what the lots and holds hold, no lot goes negative, expired or
//! locked points are never spent, and failed operations change nothing.

use crate::common::TestDb;
use cove_core::clock::DAY;
use cove_core::db::{Backend, Db};
use cove_core::membership::points::{self, Award};
use cove_core::membership::{self, NewMember};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
enum Op {
    Award {
        amount: i64,
        lock_days: i64,
        expire_days: i64,
    },
    Freeze {
        key: u8,
        amount: i64,
    },
    Consume {
        key: u8,
    },
    Release {
        key: u8,
    },
    RefundSpend {
        key: u8,
        amount: i64,
        op: u8,
    },
    ReverseAward {
        award: u8,
        amount: i64,
        op: u8,
    },
    Advance {
        days: i64,
    },
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..500i64, 0..10i64, 1..200i64).prop_map(|(amount, lock_days, expire_days)| Op::Award { amount, lock_days, expire_days }),
        3 => (0..4u8, 1..700i64).prop_map(|(key, amount)| Op::Freeze { key, amount }),
        2 => (0..4u8).prop_map(|key| Op::Consume { key }),
        1 => (0..4u8).prop_map(|key| Op::Release { key }),
        1 => (0..4u8, 1..300i64, 0..3u8).prop_map(|(key, amount, op)| Op::RefundSpend { key, amount, op }),
        1 => (0..6u8, 1..300i64, 0..3u8).prop_map(|(award, amount, op)| Op::ReverseAward { award, amount, op }),
        2 => (0..60i64).prop_map(|days| Op::Advance { days }),
        1 => Just(Op::Expire),
    ]
}

async fn new_member(db: &Db, phone: &str) -> String {
    let mut tx = db.begin().await.unwrap();
    let profile = cove_core::audience::domain::profile_for(
        &mut tx,
        db.backend(),
        &[cove_core::audience::Identifier::new(
            cove_core::audience::IdType::AnonymousId,
            &uuid::Uuid::now_v7().to_string(),
        )
        .unwrap()],
        "t",
        cove_core::clock::now(),
    )
    .await
    .unwrap();
    let new = NewMember {
        name: "Li Lei".into(),
        phone: phone.into(),
        channel: "mini_program".into(),
        store_id: None,
        staff_id: None,
        birthday: None,
    };
    let joined = membership::join(
        &mut tx,
        db.backend(),
        &profile,
        &new,
        cove_core::clock::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    joined.member.id
}

/// Σ ledger, Σ remaining, Σ held, debt.
async fn sums(db: &Db, member: &str) -> (i64, i64, i64, i64) {
    let q = |sql: &'static str| {
        let member = member.to_owned();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(member)
                .fetch_one(db.pool())
                .await
                .unwrap()
        }
    };
    (
        q("SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_ledger WHERE member_id = $1").await,
        q("SELECT COALESCE(CAST(SUM(remaining) AS BIGINT), 0) FROM points_lots WHERE member_id = $1").await,
        q("SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_holds WHERE member_id = $1 AND status = 'held'").await,
        q("SELECT points_debt FROM members WHERE id = $1").await,
    )
}

async fn check_invariants(db: &Db, member: &str, now: i64) {
    let (ledger, remaining, held, debt) = sums(db, member).await;
    assert_eq!(
        ledger,
        remaining + held - debt,
        "ledger sum must equal lots + holds - debt"
    );
    let bad_lots: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM points_lots WHERE member_id = $1 AND (remaining < 0 OR remaining > amount)")
        .bind(member).fetch_one(db.pool()).await.unwrap();
    assert_eq!(bad_lots, 0, "a lot went negative or above its award");
    // Every point a hold took was spendable (unlocked, unexpired) when taken.
    let bad_takes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM points_hold_lots hl JOIN points_holds h ON h.id = hl.hold_id \
         JOIN points_lots l ON l.id = hl.lot_id WHERE h.member_id = $1 \
         AND (l.expires_at <= h.created_at OR l.unlock_at > h.created_at)",
    )
    .bind(member)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(bad_takes, 0, "expired or locked points were spent");
    let mut conn = db.pool().acquire().await.unwrap();
    let b = points::balance(&mut conn, member, now).await.unwrap();
    assert_eq!(b.total, ledger);
    assert!(b.available >= 0 && b.locked >= 0 && b.held >= 0 && b.debt >= 0);
}

async fn run(db: &Db, member: &str, ops: Vec<Op>) {
    let backend: Backend = db.backend();
    let mut now = cove_core::clock::now();
    let mut awards: Vec<String> = Vec::new();
    // The model: what the member's ledger total must be.
    let mut expected_total = sums(db, member).await.0;
    for op in ops {
        let before = sums(db, member).await;
        let mut tx = db.begin().await.unwrap();
        let outcome: Result<i64, cove_core::Error> = match &op {
            Op::Award {
                amount,
                lock_days,
                expire_days,
            } => {
                let key = format!("award:{member}:{}", awards.len());
                let a = Award {
                    member_id: member,
                    amount: *amount,
                    source: "test",
                    key: &key,
                    reference: None,
                    reason: None,
                    unlock_at: now + lock_days * DAY,
                    expires_at: now + expire_days * DAY,
                    at: now,
                };
                let r = points::award(&mut tx, backend, &a).await;
                if r.is_ok() {
                    awards.push(key);
                }
                r.map(|_| *amount)
            }
            Op::Freeze { key, amount } => points::freeze(
                &mut tx,
                backend,
                member,
                *amount,
                &format!("s{key}"),
                "test",
                now,
            )
            .await
            .map(|_| 0),
            Op::Consume { key } => {
                // Consuming an already consumed hold changes nothing.
                let was_held: Option<i64> = sqlx::query_scalar("SELECT amount FROM points_holds WHERE member_id = $1 AND key = $2 AND status = 'held'")
                    .bind(member).bind(format!("s{key}")).fetch_optional(&mut *tx).await.unwrap();
                points::consume(&mut tx, backend, member, &format!("s{key}"), now)
                    .await
                    .map(|_| -was_held.unwrap_or(0))
            }
            Op::Release { key } => {
                points::release(&mut tx, backend, member, &format!("s{key}"), now)
                    .await
                    .map(|_| 0)
            }
            Op::RefundSpend { key, amount, op } => {
                let op_key = format!("refund:{member}:{key}:{op}");
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT amount FROM points_ops WHERE key = $1")
                        .bind(&op_key)
                        .fetch_optional(&mut *tx)
                        .await
                        .unwrap();
                points::refund_spend(
                    &mut tx,
                    backend,
                    member,
                    &format!("s{key}"),
                    *amount,
                    &op_key,
                    now,
                )
                .await
                .map(|n| if done.is_some() { 0 } else { n })
            }
            Op::ReverseAward { award, amount, op } => match awards.get(*award as usize) {
                None => Err(cove_core::Error::not_found("award")),
                Some(award_key) => {
                    let op_key = format!("reverse:{member}:{award}:{op}");
                    let done: Option<i64> =
                        sqlx::query_scalar("SELECT amount FROM points_ops WHERE key = $1")
                            .bind(&op_key)
                            .fetch_optional(&mut *tx)
                            .await
                            .unwrap();
                    points::reverse_award(
                        &mut tx, backend, member, award_key, *amount, &op_key, now,
                    )
                    .await
                    .map(|n| if done.is_some() { 0 } else { -n })
                }
            },
            Op::Advance { days } => {
                now += days * DAY;
                Ok(0)
            }
            Op::Expire => {
                // Other members' lots expire too; the model counts this member's.
                let due: i64 = sqlx::query_scalar("SELECT COALESCE(CAST(SUM(remaining) AS BIGINT), 0) FROM points_lots WHERE member_id = $1 AND expires_at <= $2")
                    .bind(member).bind(now).fetch_one(&mut *tx).await.unwrap();
                points::expire_due(&mut tx, backend, now, 100_000)
                    .await
                    .map(|_| -due)
            }
        };
        match outcome {
            Ok(delta) => {
                tx.commit().await.unwrap();
                expected_total += delta;
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        cove_core::Error::Conflict { .. } | cove_core::Error::NotFound(_)
                    ),
                    "{op:?} failed unexpectedly: {e:?}"
                );
                tx.rollback().await.unwrap();
                assert_eq!(
                    sums(db, member).await,
                    before,
                    "a failed {op:?} changed the ledger"
                );
            }
        }
        if matches!(op, Op::Expire) {
            let live_expired: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM points_lots WHERE member_id = $1 AND expires_at <= $2 AND remaining > 0")
                .bind(member).bind(now).fetch_one(db.pool()).await.unwrap();
            assert_eq!(live_expired, 0, "expired points left spendable");
        }
        check_invariants(db, member, now).await;
        assert_eq!(
            sums(db, member).await.0,
            expected_total,
            "ledger differs from the model after {op:?}"
        );
    }
}

#[test]
fn the_ledger_holds_its_invariants_for_any_sequence() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let test_db = rt.block_on(TestDb::new());
    let db = rt.block_on(async {
        let db = Db::connect_url(&test_db.url).await.unwrap();
        db.migrate().await.unwrap();
        db
    });
    let cases = if test_db.is_postgres() { 24 } else { 48 };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let counter = std::sync::atomic::AtomicU64::new(0);
    runner
        .run(&proptest::collection::vec(op(), 1..40), |ops| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(async {
                let member = new_member(&db, &format!("139{:08}", 10_000_000 + n)).await;
                run(&db, &member, ops).await;
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn concurrent_spends_never_take_the_same_points_twice() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let test_db = TestDb::new().await;
        let db = Db::connect_url(&test_db.url).await.unwrap();
        db.migrate().await.unwrap();
        let member = new_member(&db, "13700000001").await;
        let now = cove_core::clock::now();
        let mut tx = db.begin().await.unwrap();
        // Registration already awarded its welcome points; add 1,000 more.
        points::award(
            &mut tx,
            db.backend(),
            &Award {
                member_id: &member,
                amount: 1000,
                source: "test",
                key: "seed",
                reference: None,
                reason: None,
                unlock_at: now,
                expires_at: now + 100 * DAY,
                at: now,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let start = points::balance(&mut conn, &member, now)
            .await
            .unwrap()
            .available;
        drop(conn);
        // 20 spends of 100 race, 5 of them twice with the same key (a retry).
        let mut tasks = Vec::new();
        for i in 0..25 {
            let db = db.clone();
            let member = member.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("race-{}", i % 20);
                for attempt in 0..10 {
                    let mut tx = db.begin().await.unwrap();
                    match points::spend(
                        &mut tx,
                        db.backend(),
                        &member,
                        100,
                        &key,
                        "test",
                        cove_core::clock::now(),
                    )
                    .await
                    {
                        Ok(_) => {
                            tx.commit().await.unwrap();
                            return true;
                        }
                        Err(cove_core::Error::Conflict { code, .. })
                            if code == "insufficient_points" =>
                        {
                            return false
                        }
                        Err(e) if attempt < 9 => {
                            drop(tx);
                            tracing::debug!("retrying after {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                        Err(e) => panic!("{e:?}"),
                    }
                }
                false
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut conn = db.pool().acquire().await.unwrap();
        let spends: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM points_holds WHERE member_id = $1 AND status = 'consumed'",
        )
        .bind(&member)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let expected = (start / 100).min(20);
        assert_eq!(
            spends, expected,
            "each distinct key spends once, never beyond the balance"
        );
        let after = points::balance(&mut conn, &member, cove_core::clock::now())
            .await
            .unwrap();
        assert_eq!(after.available, start - 100 * expected);
        drop(conn);
        let (ledger, remaining, held, debt) = sums(&db, &member).await;
        assert_eq!(ledger, remaining + held - debt);
    });
}
