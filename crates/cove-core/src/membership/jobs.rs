//! Membership's durable jobs: points expiry (with its reminder beforehand)
//! and the tier retention review. Each works in batches, one transaction per
//! batch, and is safe to re-run: a lot already expired or a tier already
//! reviewed is not touched again.

use super::{points, tiers};
use crate::clock::{self, DAY};
use crate::jobs::JobCtx;
use std::sync::Arc;

pub const EXPIRE_POINTS: &str = "membership.points.expire";
pub const REMIND_EXPIRING: &str = "membership.points.remind";
pub const REVIEW_TIERS: &str = "membership.tiers.review";
pub const BIRTHDAYS: &str = "membership.birthdays";

/// Members are reminded this long before their points expire.
pub const REMINDER_WINDOW: crate::clock::Micros = 30 * DAY;
const BATCH: i64 = 500;

pub async fn expire_points(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let at = clock::now();
    loop {
        let mut tx = ctx.db.begin().await?;
        let before: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM points_lots WHERE expires_at <= $1 AND remaining > 0",
        )
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        if before == 0 {
            return Ok(());
        }
        points::expire_due(&mut tx, ctx.db.backend(), at, BATCH).await?;
        tx.commit().await?;
        if before <= BATCH {
            return Ok(());
        }
    }
}

pub async fn remind_expiring(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let mut tx = ctx.db.begin().await?;
    let sent = points::remind_expiring(&mut tx, clock::now(), REMINDER_WINDOW).await?;
    tx.commit().await?;
    tracing::info!(sent, "points expiry reminders");
    Ok(())
}

pub async fn review_tiers(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let at = clock::now();
    loop {
        let mut tx = ctx.db.begin().await?;
        let due: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM members m JOIN tiers t ON t.code = m.tier \
             WHERE t.rank > 0 AND m.tier_since <= $1 AND (m.paid_until IS NULL OR m.paid_until <= $2)",
        )
        .bind(at - tiers::PERIOD)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        if due == 0 {
            return Ok(());
        }
        tiers::review(&mut tx, ctx.db.backend(), at, BATCH).await?;
        tx.commit().await?;
        if due <= BATCH {
            return Ok(());
        }
    }
}

pub async fn birthdays(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let mut tx = ctx.db.begin().await?;
    let celebrated = super::benefits::birthdays(&mut tx, ctx.db.backend(), clock::now()).await?;
    tx.commit().await?;
    tracing::info!(celebrated, "birthday awards");
    Ok(())
}
