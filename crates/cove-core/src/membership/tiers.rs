//! Tiers by growth value. Growth is earned from spending and actions and is
//! never spent. A member moves up at once when the growth earned in the last
//! [`PERIOD`] reaches a higher tier; once per period after the last change
//! the retention review keeps the tier if the period's growth reached its
//! `retain_growth`, otherwise moves the member one tier down.

use super::lock_member;
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::{Micros, DAY};
use crate::db::{new_id, Backend, Conn};
use crate::error::Result;
use serde::Serialize;
use serde_json::json;

/// The qualifying and review period.
pub const PERIOD: Micros = 365 * DAY;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Tier {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub rank: i64,
    pub growth_min: i64,
    pub retain_growth: i64,
    /// Points multiplier in percent.
    pub points_pct: i64,
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Tier>> {
    Ok(sqlx::query_as(
        "SELECT code, name_zh, name_en, rank, growth_min, retain_growth, points_pct FROM tiers ORDER BY rank",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// A change of tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TierChange {
    pub from_tier: String,
    pub to_tier: String,
    pub reason: String,
    pub at: Micros,
}

/// Adds growth for one fact (`key` unique); upgrades the tier when the
/// period's growth reaches a higher one. Returns the change, if any.
pub async fn add_growth(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    amount: i64,
    source: &str,
    key: &str,
    at: Micros,
) -> Result<Option<TierChange>> {
    if amount <= 0 {
        return Ok(None);
    }
    lock_member(conn, backend, member_id).await?;
    let inserted = sqlx::query(
        "INSERT INTO growth_ledger (id, member_id, amount, source, key, at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(new_id())
    .bind(member_id)
    .bind(amount)
    .bind(source)
    .bind(key)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    sqlx::query("UPDATE members SET growth = growth + $1 WHERE id = $2")
        .bind(amount)
        .bind(member_id)
        .execute(&mut *conn)
        .await?;
    let earned = period_growth(conn, member_id, at).await?;
    let tiers = list(conn).await?;
    let current = current_tier(conn, member_id, &tiers).await?;
    let Some(target) = tiers.iter().rev().find(|t| t.growth_min <= earned) else {
        return Ok(None);
    };
    if target.rank <= current.rank {
        return Ok(None);
    }
    change(conn, member_id, &current.code, &target.code, "upgrade", at)
        .await
        .map(Some)
}

/// Growth earned in the period ending at `at`.
pub async fn period_growth(conn: &mut Conn, member_id: &str, at: Micros) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM growth_ledger \
         WHERE member_id = $1 AND at > $2 AND at <= $3",
    )
    .bind(member_id)
    .bind(at - PERIOD)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?)
}

async fn current_tier(conn: &mut Conn, member_id: &str, tiers: &[Tier]) -> Result<Tier> {
    let code: String = sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
        .bind(member_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(tiers
        .iter()
        .find(|t| t.code == code)
        .or_else(|| tiers.first())
        .cloned()
        .unwrap_or(Tier {
            code,
            name_zh: String::new(),
            name_en: String::new(),
            rank: 0,
            growth_min: 0,
            retain_growth: 0,
            points_pct: 100,
        }))
}

/// Records a tier change, its history row and its event.
pub async fn change(
    conn: &mut Conn,
    member_id: &str,
    from: &str,
    to: &str,
    reason: &str,
    at: Micros,
) -> Result<TierChange> {
    sqlx::query("UPDATE members SET tier = $1, tier_since = $2 WHERE id = $3")
        .bind(to)
        .bind(at)
        .bind(member_id)
        .execute(&mut *conn)
        .await?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO tier_changes (id, member_id, from_tier, to_tier, reason, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(member_id)
    .bind(from)
    .bind(to)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let profile: Option<String> =
        sqlx::query_scalar("SELECT profile_id FROM members WHERE id = $1")
            .bind(member_id)
            .fetch_one(&mut *conn)
            .await?;
    if let Some(profile) = profile {
        let props = json!({ "from": from, "to": to, "reason": reason, "member_id": member_id });
        emit(
            conn,
            &DomainEvent::new(
                "tier.changed",
                profile,
                format!("tier.changed:{id}"),
                props,
                at,
            ),
        )
        .await?;
    }
    Ok(TierChange {
        from_tier: from.to_owned(),
        to_tier: to.to_owned(),
        reason: reason.to_owned(),
        at,
    })
}

/// The retention review: members whose tier is at least one period old keep
/// it if they earned its `retain_growth` in the period (their tier is then
/// renewed for another period), else move one tier down. Reviews up to
/// `limit` members; returns how many were moved down.
pub async fn review(conn: &mut Conn, backend: Backend, at: Micros, limit: i64) -> Result<usize> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT m.id FROM members m JOIN tiers t ON t.code = m.tier \
         WHERE t.rank > 0 AND m.tier_since <= $1 AND (m.paid_until IS NULL OR m.paid_until <= $2) \
         ORDER BY m.tier_since LIMIT $3",
    )
    .bind(at - PERIOD)
    .bind(at)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let tiers = list(conn).await?;
    let mut downgraded = 0;
    for member_id in due {
        lock_member(conn, backend, &member_id).await?;
        // Another node's review may have changed the tier while we waited for
        // the lock: review only members still due.
        let since: i64 = sqlx::query_scalar("SELECT tier_since FROM members WHERE id = $1")
            .bind(&member_id)
            .fetch_one(&mut *conn)
            .await?;
        if since > at - PERIOD {
            continue;
        }
        let current = current_tier(conn, &member_id, &tiers).await?;
        if period_growth(conn, &member_id, at).await? >= current.retain_growth {
            sqlx::query("UPDATE members SET tier_since = $1 WHERE id = $2")
                .bind(at)
                .bind(&member_id)
                .execute(&mut *conn)
                .await?;
            continue;
        }
        if let Some(lower) = tiers.iter().rev().find(|t| t.rank < current.rank) {
            change(
                conn,
                &member_id,
                &current.code,
                &lower.code,
                "retention_downgrade",
                at,
            )
            .await?;
            downgraded += 1;
        }
    }
    Ok(downgraded)
}

pub async fn history(conn: &mut Conn, member_id: &str) -> Result<Vec<TierChange>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT from_tier, to_tier, reason, at FROM tier_changes WHERE member_id = $1 ORDER BY at DESC, id DESC",
    )
    .bind(member_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(from_tier, to_tier, reason, at)| TierChange {
            from_tier,
            to_tier,
            reason,
            at,
        })
        .collect())
}
