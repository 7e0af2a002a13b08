//! How Cove can reach one person, and what they agreed to: Mini Program
//! openids, Official Account follows, WeCom salespeople who hold them as a
//! contact, phone numbers, subscription-message consent per template, and
//! the latest messages the outbox queued for them.
//!
//! Everything is read for the surviving profile and every profile merged
//! into it, the same people the notification sender reaches.

use crate::clock::Micros;
use crate::db::Db;
use crate::error::Result;
use serde::Serialize;

/// One way to reach the person.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Channel {
    /// `mini_program` | `official_account` | `wecom` | `phone`.
    pub kind: String,
    /// The channel account's name (empty for a phone number).
    pub account: String,
    /// openid, WeCom external userid, or the phone number.
    pub address: String,
    /// The WeCom salesperson (userid, and name when they are a Cove user).
    pub via: Option<String>,
    /// Since when (follow, contact added, identity seen).
    pub since: Micros,
}

/// Subscription-message consent for one template.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Consent {
    pub account: String,
    pub template_id: String,
    /// One-time sends left.
    pub remaining: i64,
    pub long_term: bool,
    pub rejected: bool,
    pub updated_at: Micros,
}

/// A message the outbox holds for the person.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    pub kind: String,
    pub template_id: Option<String>,
    /// queued | sent | sandboxed | failed | skipped_no_consent
    pub status: String,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Reachability {
    pub channels: Vec<Channel>,
    pub consents: Vec<Consent>,
    pub messages: Vec<OutboxMessage>,
}

/// account, template, remaining, long-term since, rejected since, updated.
type GrantRow = (String, String, i64, Option<i64>, Option<i64>, Micros);

/// The profiles that are this person: the survivor and those merged into it.
const SAME_PERSON: &str = "(SELECT id FROM profiles WHERE id = $1 OR merged_into = $1)";

/// Channels, consent and recent outbox messages of surviving profile `profile_id`.
pub async fn of_profile(db: &Db, profile_id: &str) -> Result<Reachability> {
    let pool = db.read();
    let mut channels: Vec<Channel> = Vec::new();
    let rows: Vec<(String, String, String, Micros)> = sqlx::query_as(&format!(
        "SELECT a.kind, a.name, i.value, i.created_at FROM identities i \
         JOIN channel_accounts a ON a.kind = 'mini_program' AND i.type = 'openid:' || a.app_id \
         WHERE i.profile_id IN {SAME_PERSON} ORDER BY i.created_at"
    ))
    .bind(profile_id)
    .fetch_all(pool)
    .await?;
    channels.extend(
        rows.into_iter()
            .map(|(kind, account, address, since)| Channel {
                kind,
                account,
                address,
                via: None,
                since,
            }),
    );
    let rows: Vec<(String, String, Micros)> = sqlx::query_as(&format!(
        "SELECT a.name, f.open_id, f.followed_at FROM followers f JOIN channel_accounts a ON a.id = f.account_id \
         WHERE f.profile_id IN {SAME_PERSON} AND f.unfollowed_at IS NULL ORDER BY f.followed_at"
    ))
    .bind(profile_id)
    .fetch_all(pool)
    .await?;
    channels.extend(rows.into_iter().map(|(account, address, since)| Channel {
        kind: "official_account".to_owned(),
        account,
        address,
        via: None,
        since,
    }));
    let rows: Vec<(String, String, String, Option<String>, Micros)> = sqlx::query_as(&format!(
        "SELECT a.name, c.external_user_id, c.wecom_user_id, u.name, c.added_at FROM wecom_contacts c \
         JOIN channel_accounts a ON a.id = c.account_id LEFT JOIN users u ON u.id = c.staff_id \
         WHERE c.profile_id IN {SAME_PERSON} AND c.removed_at IS NULL ORDER BY c.added_at"
    ))
    .bind(profile_id)
    .fetch_all(pool)
    .await?;
    channels.extend(
        rows.into_iter()
            .map(|(account, address, user_id, staff, since)| Channel {
                kind: "wecom".to_owned(),
                account,
                address,
                via: Some(match staff {
                    Some(name) => format!("{name} ({user_id})"),
                    None => user_id,
                }),
                since,
            }),
    );
    let rows: Vec<(String, Micros)> = sqlx::query_as(&format!(
        "SELECT value, created_at FROM identities WHERE type = 'phone' AND profile_id IN {SAME_PERSON} \
         ORDER BY created_at"
    ))
    .bind(profile_id)
    .fetch_all(pool)
    .await?;
    channels.extend(rows.into_iter().map(|(address, since)| Channel {
        kind: "phone".to_owned(),
        account: String::new(),
        address,
        via: None,
        since,
    }));

    // Grants are stored by openid; one reported before the openid was tied
    // to this profile still belongs to the person.
    let rows: Vec<GrantRow> =
        sqlx::query_as(&format!(
            "SELECT a.name, g.template_id, g.remaining, g.long_term_at, g.rejected_at, g.updated_at \
             FROM subscription_grants g JOIN channel_accounts a ON a.id = g.account_id \
             WHERE g.profile_id IN {SAME_PERSON} OR g.open_id IN \
             (SELECT i.value FROM identities i WHERE i.type = 'openid:' || a.app_id AND i.profile_id IN {SAME_PERSON}) \
             ORDER BY g.updated_at DESC LIMIT 100"
        ))
        .bind(profile_id)
        .fetch_all(pool)
        .await?;
    let consents = rows
        .into_iter()
        .map(
            |(account, template_id, remaining, long_term, rejected, updated_at)| Consent {
                account,
                template_id,
                remaining,
                long_term: long_term.is_some(),
                rejected: rejected.is_some(),
                updated_at,
            },
        )
        .collect();
    let rows: Vec<(String, Option<String>, String, Micros)> = sqlx::query_as(&format!(
        "SELECT kind, template_id, status, created_at FROM wechat_messages \
         WHERE profile_id IN {SAME_PERSON} ORDER BY created_at DESC LIMIT 20"
    ))
    .bind(profile_id)
    .fetch_all(pool)
    .await?;
    let messages = rows
        .into_iter()
        .map(|(kind, template_id, status, created_at)| OutboxMessage {
            kind,
            template_id,
            status,
            created_at,
        })
        .collect();
    Ok(Reachability {
        channels,
        consents,
        messages,
    })
}
