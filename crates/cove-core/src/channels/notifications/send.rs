//! Turning a recorded domain event into a queued WeChat message.

use super::fields;
use super::{spec, ChannelOption, Via};
use crate::audience::domain::DomainEvent;
use crate::channels::outbox::{self, MessageKind, NewMessage};
use crate::db::Conn;
use crate::error::{Error, Result};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The outbox key of the message an event sends: derived from the event's
/// own key, so a fact makes at most one message however often it is replayed.
pub fn message_key(prefix: &str, event_key: &str) -> String {
    let key = format!("{prefix}:{event_key}");
    if key.chars().count() <= 200 {
        key
    } else {
        format!(
            "{prefix}:{}",
            hex::encode(Sha256::digest(event_key.as_bytes()))
        )
    }
}

/// Called by `emit` for every newly recorded event, in its transaction.
/// Events no rule can exist for cost nothing; the others one indexed query
/// when no rule is set.
pub async fn on_event(conn: &mut Conn, event: &DomainEvent) -> Result<()> {
    if spec(&event.name).is_none() {
        return Ok(());
    }
    if event.name == "ticket.replied" {
        if event.properties["author_kind"] != "agent" {
            return Ok(());
        }
        crate::channels::conversations::on_agent_reply(conn, event).await?;
    }
    let rule: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT channels, time_zone, only_when FROM notification_rules WHERE event_name = $1 AND enabled = 1",
    )
    .bind(&event.name)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((channels, zone, only_when)) = rule else {
        return Ok(());
    };
    let condition: Option<super::Condition> = only_when
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    if condition.is_some_and(|c| !c.holds(&event.properties)) {
        return Ok(());
    }
    let options: Vec<ChannelOption> = serde_json::from_str(&channels).unwrap_or_default();
    let tz: Tz = zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let Some((option, recipient)) = choose(conn, &event.profile_id, &options).await? else {
        tracing::debug!(event = %event.name, profile = %event.profile_id, "no channel reaches this person");
        return Ok(());
    };
    let props = properties(conn, event).await?;
    let message = build(event, option, recipient, &props, tz);
    match outbox::queue(conn, &message).await {
        Ok(_) => Ok(()),
        // A rule gone stale (an account changed kind) must not undo the fact itself.
        Err(e @ (Error::Invalid { .. } | Error::NotFound(_))) => {
            tracing::warn!(event = %event.name, error = %e, "notification not queued");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Who receives the message on one channel.
struct Recipient {
    address: String,
    /// The WeCom salesperson who sends it.
    sender: Option<String>,
}

/// The first option that reaches the person with their consent; failing
/// that, the first subscription option that reaches them without it (the
/// outbox keeps it as `skipped_no_consent`, so the console shows why
/// nothing was sent).
async fn choose<'a>(
    conn: &mut Conn,
    profile_id: &str,
    options: &'a [ChannelOption],
) -> Result<Option<(&'a ChannelOption, Recipient)>> {
    let mut unconsented = None;
    for option in options {
        let Some(recipient) = reach(conn, profile_id, option).await? else {
            continue;
        };
        if option.via == Via::Subscribe && !consented(conn, option, &recipient.address).await? {
            unconsented = unconsented.or(Some((option, recipient)));
            continue;
        }
        return Ok(Some((option, recipient)));
    }
    Ok(unconsented)
}

async fn reach(
    conn: &mut Conn,
    profile_id: &str,
    option: &ChannelOption,
) -> Result<Option<Recipient>> {
    let found: Option<(String, Option<String>)> = match option.via {
        Via::Subscribe => {
            sqlx::query_as(
                "SELECT i.value, CAST(NULL AS TEXT) FROM identities i JOIN channel_accounts a ON i.type = 'openid:' || a.app_id \
                 WHERE a.id = $1 AND i.profile_id = $2 ORDER BY i.created_at DESC LIMIT 1",
            )
            .bind(&option.account_id)
            .bind(profile_id)
            .fetch_optional(&mut *conn)
            .await?
        }
        Via::Template => {
            sqlx::query_as(
                "SELECT open_id, CAST(NULL AS TEXT) FROM followers WHERE account_id = $1 AND profile_id = $2 \
                 AND unfollowed_at IS NULL ORDER BY last_event_at DESC LIMIT 1",
            )
            .bind(&option.account_id)
            .bind(profile_id)
            .fetch_optional(&mut *conn)
            .await?
        }
        Via::WecomText => {
            sqlx::query_as(
                "SELECT external_user_id, wecom_user_id FROM wecom_contacts WHERE account_id = $1 \
                 AND profile_id = $2 AND removed_at IS NULL ORDER BY added_at DESC LIMIT 1",
            )
            .bind(&option.account_id)
            .bind(profile_id)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    Ok(found.map(|(address, sender)| Recipient { address, sender }))
}

async fn consented(conn: &mut Conn, option: &ChannelOption, open_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscription_grants WHERE account_id = $1 AND open_id = $2 \
         AND template_id = $3 AND (remaining > 0 OR long_term_at IS NOT NULL)",
    )
    .bind(&option.account_id)
    .bind(open_id)
    .bind(option.template_id.as_deref().unwrap_or_default())
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// The event's properties a field may use: its own, its moment, and for an
/// order the carrier and tracking number (set before the order ships).
async fn properties(conn: &mut Conn, event: &DomainEvent) -> Result<Map<String, Value>> {
    let mut props = event.properties.as_object().cloned().unwrap_or_default();
    props.insert("at".into(), json!(event.at));
    let wants_order = event.name.starts_with("order.") || event.name == "refund.succeeded";
    if let (true, Some(order_id)) = (wants_order, event.properties["order_id"].as_str()) {
        let order: Option<(String, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT order_no, carrier, tracking_no FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some((order_no, carrier, tracking_no)) = order {
            props.entry("order_no").or_insert(json!(order_no));
            props.insert("carrier".into(), json!(carrier));
            props.insert("tracking_no".into(), json!(tracking_no));
        }
    }
    Ok(props)
}

fn build(
    event: &DomainEvent,
    option: &ChannelOption,
    recipient: Recipient,
    props: &Map<String, Value>,
    tz: Tz,
) -> NewMessage {
    let data: Map<String, Value> = option
        .fields
        .iter()
        .map(|f| {
            let kind = fields::key_type(&f.key).unwrap_or("thing");
            (
                f.key.clone(),
                json!(fields::render(kind, &f.value, props, tz)),
            )
        })
        .collect();
    let (kind, payload) = match option.via {
        Via::Subscribe => (
            MessageKind::Subscribe,
            json!({ "data": data, "page": option.page, "event": event.name }),
        ),
        Via::Template => (
            MessageKind::Template,
            json!({ "data": data, "url": option.url, "event": event.name }),
        ),
        Via::WecomText => {
            let text = fields::render(
                "text",
                option.text.as_deref().unwrap_or_default(),
                props,
                tz,
            );
            (
                MessageKind::WecomText,
                json!({ "text": text, "sender": recipient.sender, "event": event.name }),
            )
        }
    };
    NewMessage {
        account_id: option.account_id.clone(),
        kind,
        recipient: recipient.address,
        profile_id: Some(event.profile_id.clone()),
        template_id: option.template_id.clone(),
        payload,
        client_msg_id: message_key("notify", &event.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_follow_the_event_key_and_stay_short() {
        assert_eq!(
            message_key("notify", "order.paid:o1:5"),
            "notify:order.paid:o1:5"
        );
        let long = "x".repeat(300);
        let key = message_key("notify", &long);
        assert!(key.len() <= 200);
        assert_eq!(key, message_key("notify", &long));
        assert_ne!(key, message_key("notify", &"y".repeat(300)));
    }
}
