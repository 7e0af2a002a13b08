//! The job handlers this server runs, and its recurring schedules.

use crate::state::AppState;
use cove_core::audience::{audiences, computed, tags};
use cove_core::clock::{self, DAY};
use cove_core::commerce::payments::{self, Provider};
use cove_core::commerce::wechat_pay;
use cove_core::commerce::{checkout, lifecycle, refunds};
use cove_core::files;
use cove_core::jobs::JobCtx;
use cove_core::jobs::Registry;
use cove_core::membership::jobs as membership;
use cove_core::service::tickets;
use std::sync::Arc;

/// Cove's own handlers plus `extra` (tests and embedders add theirs).
pub fn registry(state: &AppState, extra: Registry) -> Registry {
    let wechat = state.wechat.clone();
    let wecom = state.wechat.clone();
    let refund_pay = state.wechat_pay.clone();
    let extra = match state.wechat_pay.clone() {
        Some(pay) => extra
            .handle(payments::CLOSE_JOB, {
                let pay = pay.clone();
                move |ctx| wechat_pay::close_job(pay.clone(), ctx)
            })
            .handle(wechat_pay::RECONCILE_JOB, move |ctx| {
                wechat_pay::reconcile_job(pay.clone(), ctx)
            })
            .every(
                "payments.reconcile.wechat",
                wechat_pay::RECONCILE_JOB,
                wechat_pay::RECONCILE_EVERY_SECS,
            ),
        None => extra,
    };
    extra
        .handle("system.prune", |ctx| async move {
            let now = clock::now();
            let pool = ctx.db.pool();
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM login_failures WHERE window_start < $1")
                .bind(now - DAY)
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM jobs WHERE state = 'done' AND finished_at < $1")
                .bind(now - 7 * DAY)
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(now - 30 * DAY)
                .execute(pool)
                .await?;
            Ok(())
        })
        .every("system.prune.hourly", "system.prune", 3600)
        .handle(checkout::EXPIRE_JOB, lifecycle::expire_job)
        .handle(refunds::SEND_JOB, move |ctx| {
            send_refund(refund_pay.clone(), ctx)
        })
        .handle(cove_core::channels::official_account::PROCESS_JOB, {
            let wechat = wechat.clone();
            move |ctx| cove_core::channels::official_account::process(wechat.clone(), ctx)
        })
        .handle(cove_core::channels::outbox::SEND_JOB, move |ctx| {
            cove_core::channels::outbox::send(wechat.clone(), ctx)
        })
        .handle(cove_core::channels::wecom::PROCESS_JOB, move |ctx| {
            cove_core::channels::wecom::process(wecom.clone(), ctx)
        })
        .handle(tags::RECOMPUTE_JOB, tags::compute::recompute_job)
        .handle(tags::RECOMPUTE_ALL_JOB, tags::compute::recompute_all_job)
        .handle(tags::REEVALUATE_JOB, tags::compute::reevaluate_job)
        .every("audience.tags.hourly", tags::RECOMPUTE_ALL_JOB, 3600)
        .handle(computed::RECOMPUTE_JOB, computed::recompute_job)
        .every(
            "audience.computed_traits.hourly",
            computed::RECOMPUTE_JOB,
            3600,
        )
        .handle(audiences::RECOMPUTE_JOB, {
            let cache = state.audience_cache.clone();
            move |ctx| audiences::recompute_job(cache.clone(), ctx)
        })
        .handle(audiences::RECOMPUTE_ALL_JOB, audiences::recompute_all_job)
        .every(
            "audience.audiences.hourly",
            audiences::RECOMPUTE_ALL_JOB,
            3600,
        )
        .handle(membership::EXPIRE_POINTS, membership::expire_points)
        .every(
            "membership.points.expire.hourly",
            membership::EXPIRE_POINTS,
            3600,
        )
        .handle(membership::REMIND_EXPIRING, membership::remind_expiring)
        .every(
            "membership.points.remind.daily",
            membership::REMIND_EXPIRING,
            86_400,
        )
        .handle(membership::REVIEW_TIERS, membership::review_tiers)
        .every(
            "membership.tiers.review.daily",
            membership::REVIEW_TIERS,
            86_400,
        )
        .handle(tickets::CHECK_JOB, check_sla)
        .every("service.sla.check.minutely", tickets::CHECK_JOB, 60)
        .handle(files::SWEEP_JOB, sweep_files)
        .every("files.sweep.hourly", files::SWEEP_JOB, 3600)
}

/// Deletes uploads never attached to anything within their grace period.
async fn sweep_files(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let deleted = files::sweep_unattached(&ctx.db, clock::now()).await?;
    if deleted > 0 {
        tracing::info!(deleted, "unattached uploads deleted");
    }
    Ok(())
}

/// Records the SLA breaches due by now.
async fn check_sla(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let recorded = tickets::check_breaches(&ctx.db, clock::now()).await?;
    if recorded > 0 {
        tracing::info!(recorded, "SLA breaches recorded");
    }
    Ok(())
}

/// Sends an approved refund to the provider that took the payment.
async fn send_refund(
    wechat_pay: Option<Arc<wechat_pay::WechatPay>>,
    ctx: Arc<JobCtx>,
) -> anyhow::Result<()> {
    let refund_id = ctx
        .job
        .payload
        .get("refund_id")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let (refund, payment) = refunds::with_payment(&ctx.db, refund_id).await?;
    if refund.status != "processing" {
        return Ok(());
    }
    match Provider::parse(&payment.provider)? {
        Provider::Sandbox => refunds::send_sandbox(&ctx.db, &refund).await?,
        Provider::Wechat => match wechat_pay {
            Some(pay) => wechat_pay::send_refund(&pay, &ctx.db, &refund, &payment).await?,
            None => anyhow::bail!("WeChat Pay refunds need WeChat Pay configured"),
        },
    }
    Ok(())
}
