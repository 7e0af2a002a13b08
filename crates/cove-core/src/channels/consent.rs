//! Consent to subscription messages.
//!
//! A Mini Program asks with `wx.requestSubscribeMessage` and reports the
//! answers ([`record`]). Each one-time accept allows exactly one send of that
//! template to that person; [`spend`] takes one in the transaction that
//! queues the message (a conditional decrement, so two messages never share
//! one grant). A long-term subscription allows sends until refused.
//! WeChat's callbacks correct the record ([`apply_event`]): a subscription
//! turned off in the person's settings, or a send refused for lack of one.

use crate::clock;
use crate::db::Conn;
use crate::error::{Error, Result};
use cove_wechat::xml::{SubscribeMsgItem, SubscribeMsgKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the person answered for one template (`wx.requestSubscribeMessage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Accept,
    Reject,
    /// The template was banned by WeChat.
    Ban,
    /// Filtered by WeChat (e.g. the template title is duplicated).
    Filter,
}

/// One report of answers from a Mini Program.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// Unique per `wx.requestSubscribeMessage` call; a replayed report changes nothing.
    pub report_key: String,
    /// Template id → answer.
    pub results: BTreeMap<String, Answer>,
    /// The templates are long-term subscriptions (an accept holds until refused).
    #[serde(default)]
    pub long_term: bool,
}

/// A person's consent for one template.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Grant {
    pub account_id: String,
    pub open_id: String,
    pub template_id: String,
    pub profile_id: Option<String>,
    /// One-time sends left.
    pub remaining: i64,
    pub long_term_at: Option<i64>,
    pub rejected_at: Option<i64>,
    pub updated_at: i64,
}

/// Stores the answers of one report; returns false for a replayed report.
pub async fn record(
    conn: &mut Conn,
    account_id: &str,
    open_id: &str,
    profile_id: Option<&str>,
    report: &Report,
) -> Result<bool> {
    let key = report.report_key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(Error::invalid(
            "invalid_report_key",
            "report_key must be 1 to 100 characters",
        ));
    }
    if report.results.is_empty()
        || report.results.len() > 20
        || report
            .results
            .keys()
            .any(|t| t.trim().is_empty() || t.len() > 128)
    {
        return Err(Error::invalid(
            "invalid_results",
            "results map 1 to 20 template ids to accept, reject, ban or filter",
        ));
    }
    let now = clock::now();
    let fresh = sqlx::query(
        "INSERT INTO subscription_reports (account_id, report_key, open_id, results, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, report_key) DO NOTHING",
    )
    .bind(account_id)
    .bind(key)
    .bind(open_id)
    .bind(serde_json::to_string(&report.results)?)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(false);
    }
    for (template_id, answer) in &report.results {
        let (add, long_term, rejected) = match answer {
            Answer::Accept if report.long_term => (0, Some(now), None),
            Answer::Accept => (1, None, None),
            Answer::Reject | Answer::Ban => (0, None, Some(now)),
            Answer::Filter => continue,
        };
        sqlx::query(
            "INSERT INTO subscription_grants (account_id, open_id, template_id, profile_id, remaining, \
             long_term_at, rejected_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (account_id, open_id, template_id) DO UPDATE SET \
             remaining = subscription_grants.remaining + $5, \
             long_term_at = CASE WHEN $7 IS NOT NULL THEN NULL \
                 ELSE COALESCE($6, subscription_grants.long_term_at) END, \
             rejected_at = $7, \
             profile_id = COALESCE($4, subscription_grants.profile_id), updated_at = $8",
        )
        .bind(account_id)
        .bind(open_id)
        .bind(template_id.trim())
        .bind(profile_id)
        .bind(add)
        .bind(long_term)
        .bind(rejected)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// WeChat's own word on a person's subscriptions, from a callback event.
/// Applied once per stored callback (the caller's job is exactly-once).
///
/// - Popup answers count like a report, but only for Official Accounts: a
///   Mini Program's page reports the same answers itself ([`record`]), and
///   counting both would allow two sends for one accept.
/// - A change in the person's settings: reject stops every send of that
///   template; accept lifts the stop (a long-term subscription holds again).
/// - A send WeChat refused because the person had not subscribed (43101)
///   means no one-time send is left.
pub async fn apply_event(
    conn: &mut Conn,
    account_id: &str,
    official_account: bool,
    open_id: &str,
    profile_id: Option<&str>,
    kind: SubscribeMsgKind,
    items: &[SubscribeMsgItem],
) -> Result<usize> {
    let now = clock::now();
    let mut applied = 0;
    for item in items {
        let template = item.template_id.trim();
        if template.is_empty() || template.len() > 128 {
            continue;
        }
        let accept = item.subscribe_status.as_deref() == Some("accept");
        let (add, rejected, clear_remaining) = match kind {
            SubscribeMsgKind::Popup if !official_account => continue,
            SubscribeMsgKind::Popup | SubscribeMsgKind::Change if !accept => (0, Some(now), true),
            SubscribeMsgKind::Popup => (1_i64, None, false),
            SubscribeMsgKind::Change => (0, None, false),
            SubscribeMsgKind::Sent if item.error_code.as_deref() == Some("43101") => {
                (0, None, true)
            }
            SubscribeMsgKind::Sent => continue,
        };
        let keep_rejection = kind == SubscribeMsgKind::Sent;
        sqlx::query(
            "INSERT INTO subscription_grants (account_id, open_id, template_id, profile_id, remaining, \
             long_term_at, rejected_at, updated_at) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7) \
             ON CONFLICT (account_id, open_id, template_id) DO UPDATE SET \
             remaining = CASE WHEN $8 THEN 0 ELSE subscription_grants.remaining + $5 END, \
             rejected_at = CASE WHEN $9 THEN subscription_grants.rejected_at ELSE $6 END, \
             profile_id = COALESCE($4, subscription_grants.profile_id), updated_at = $7",
        )
        .bind(account_id)
        .bind(open_id)
        .bind(template)
        .bind(profile_id)
        .bind(add)
        .bind(rejected)
        .bind(now)
        .bind(clear_remaining)
        .bind(keep_rejection)
        .execute(&mut *conn)
        .await?;
        applied += 1;
    }
    Ok(applied)
}

/// Which consent a message was sent under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    OneTime,
    LongTerm,
    None,
}

/// Takes one send of `template_id` to `open_id`, if the person allowed it.
pub async fn spend(
    conn: &mut Conn,
    account_id: &str,
    open_id: &str,
    template_id: &str,
) -> Result<Spent> {
    let long_term: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT long_term_at FROM subscription_grants \
         WHERE account_id = $1 AND open_id = $2 AND template_id = $3 AND rejected_at IS NULL",
    )
    .bind(account_id)
    .bind(open_id)
    .bind(template_id)
    .fetch_optional(&mut *conn)
    .await?;
    if long_term.flatten().is_some() {
        return Ok(Spent::LongTerm);
    }
    let taken = sqlx::query(
        "UPDATE subscription_grants SET remaining = remaining - 1, updated_at = $1 \
         WHERE account_id = $2 AND open_id = $3 AND template_id = $4 AND remaining > 0",
    )
    .bind(clock::now())
    .bind(account_id)
    .bind(open_id)
    .bind(template_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(if taken == 1 {
        Spent::OneTime
    } else {
        Spent::None
    })
}

/// Returns a one-time send that was taken for a message WeChat never accepted.
pub async fn give_back(
    conn: &mut Conn,
    account_id: &str,
    open_id: &str,
    template_id: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE subscription_grants SET remaining = remaining + 1, updated_at = $1 \
         WHERE account_id = $2 AND open_id = $3 AND template_id = $4",
    )
    .bind(clock::now())
    .bind(account_id)
    .bind(open_id)
    .bind(template_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The consent records of one person (by openid) or of everyone, newest first.
pub async fn list(db: &crate::db::Db, open_id: Option<&str>, limit: i64) -> Result<Vec<Grant>> {
    Ok(sqlx::query_as::<_, Grant>(
        "SELECT account_id, open_id, template_id, profile_id, remaining, long_term_at, rejected_at, updated_at \
         FROM subscription_grants WHERE ($1 IS NULL OR open_id = $1) ORDER BY updated_at DESC LIMIT $2",
    )
    .bind(open_id)
    .bind(limit.clamp(1, 500))
    .fetch_all(db.read())
    .await?)
}
