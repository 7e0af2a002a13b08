//! What earns points and growth: spending (per yuan, by product category)
//! and actions (registration, device binding, warranty activation, review,
//! birthday), from the `earn_rules` table; points are multiplied by the
//! member's tier and by a running campaign. Each earning is keyed by its
//! fact, so a retried order payment or binding earns once.

use super::points::{self, Award};
use super::tiers::{self, TierChange};
use crate::clock::{Micros, HOUR};
use crate::db::{Backend, Conn};
use crate::error::{Error, Result};
use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The return window: points of a purchase unlock after it.
pub const RETURN_WINDOW: Micros = 7 * crate::clock::DAY;

/// Points expire at the end of the calendar year after the year they were
/// earned (China time), the usual rule of Chinese loyalty programmes.
pub fn expiry_for(at: Micros) -> Micros {
    let local_year = crate::clock::to_datetime(at + 8 * HOUR).year();
    Utc.with_ymd_and_hms(local_year + 2, 1, 1, 0, 0, 0)
        .single()
        .map(|d| d.timestamp_micros() - 8 * HOUR)
        .unwrap_or(at + 2 * 365 * crate::clock::DAY)
}

/// One line of a purchase: its category and what was paid for it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurchaseLine {
    /// Category code, e.g. `gaming_laptop`.
    pub category: String,
    pub amount_fen: i64,
}

/// What one fact earned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Earned {
    pub points: i64,
    pub growth: i64,
    /// False when the fact had already earned (a retry).
    pub applied: bool,
    pub tier_change: Option<TierChange>,
}

struct Rule {
    points: i64,
    growth: i64,
    campaign_pct: i64,
}

/// points, growth, campaign_pct, starts_at, ends_at
type RuleRow = (i64, i64, i64, Option<i64>, Option<i64>);

async fn rule(conn: &mut Conn, trigger: &str, subject: &str, at: Micros) -> Result<Option<Rule>> {
    let row: Option<RuleRow> = sqlx::query_as(
        "SELECT points, growth, campaign_pct, starts_at, ends_at FROM earn_rules \
         WHERE trigger = $1 AND subject IN ($2, '*') ORDER BY CASE WHEN subject = '*' THEN 1 ELSE 0 END LIMIT 1",
    )
    .bind(trigger)
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(points, growth, pct, starts, ends)| {
        let running = starts.is_none_or(|s| s <= at) && ends.is_none_or(|e| at < e);
        Rule {
            points,
            growth,
            campaign_pct: if running { pct } else { 100 },
        }
    }))
}

async fn tier_pct(conn: &mut Conn, member_id: &str) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT COALESCE(t.points_pct, 100) FROM members m LEFT JOIN tiers t ON t.code = m.tier WHERE m.id = $1",
    )
    .bind(member_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("member"))
}

/// Points and growth for a paid purchase (online order or till receipt),
/// keyed `key` (e.g. `order:<id>`); the points unlock after `unlock_at`.
#[allow(clippy::too_many_arguments)]
pub async fn purchase(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    key: &str,
    source: &str,
    lines: &[PurchaseLine],
    unlock_at: Micros,
    at: Micros,
) -> Result<Earned> {
    if lines.is_empty() || lines.iter().any(|l| l.amount_fen < 0) {
        return Err(Error::invalid(
            "invalid_lines",
            "a purchase needs lines with amounts of zero or more",
        ));
    }
    let pct = tier_pct(conn, member_id).await?;
    let (mut base_points, mut growth) = (0i64, 0i64);
    for line in lines {
        if let Some(r) = rule(conn, "spend", &line.category, at).await? {
            let yuan = line.amount_fen / 100;
            base_points += yuan * r.points * r.campaign_pct / 100;
            growth += yuan * r.growth;
        }
    }
    let points = base_points * pct / 100;
    apply(
        conn, backend, member_id, key, source, points, growth, unlock_at, at,
    )
    .await
}

/// Points and growth for an action (registration, device_binding, …) keyed
/// by its fact (e.g. `device_binding:<service tag>`).
pub async fn action(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    action: &str,
    key: &str,
    at: Micros,
) -> Result<Earned> {
    let Some(r) = rule(conn, "action", action, at).await? else {
        return Ok(Earned::default());
    };
    let pct = tier_pct(conn, member_id).await?;
    let points = r.points * r.campaign_pct / 100 * pct / 100;
    let source = format!("action:{action}");
    apply(
        conn, backend, member_id, key, &source, points, r.growth, at, at,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    key: &str,
    source: &str,
    points: i64,
    growth: i64,
    unlock_at: Micros,
    at: Micros,
) -> Result<Earned> {
    let mut applied = true;
    if points > 0 {
        let award = Award {
            member_id,
            amount: points,
            source,
            key,
            reference: Some(key),
            reason: None,
            unlock_at,
            expires_at: expiry_for(at),
            at,
        };
        applied = points::award(conn, backend, &award).await?.applied;
    }
    let tier_change = if applied {
        tiers::add_growth(conn, backend, member_id, growth, source, key, at).await?
    } else {
        None
    };
    Ok(Earned {
        points,
        growth,
        applied,
        tier_change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_expire_at_the_end_of_the_next_year_china_time() {
        // 2026-06-01 12:00 UTC → expires 2028-01-01 00:00 +08:00.
        let at = Utc
            .with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
            .unwrap()
            .timestamp_micros();
        let want = Utc
            .with_ymd_and_hms(2027, 12, 31, 16, 0, 0)
            .unwrap()
            .timestamp_micros();
        assert_eq!(expiry_for(at), want);
        // 2026-12-31 17:00 UTC is already 2027 in China.
        let late = Utc
            .with_ymd_and_hms(2026, 12, 31, 17, 0, 0)
            .unwrap()
            .timestamp_micros();
        let want = Utc
            .with_ymd_and_hms(2028, 12, 31, 16, 0, 0)
            .unwrap()
            .timestamp_micros();
        assert_eq!(expiry_for(late), want);
    }
}
