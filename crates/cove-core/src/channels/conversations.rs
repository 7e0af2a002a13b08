//! Official Account conversations as tickets.
//!
//! A follower's text message opens a pre-sales ticket (channel
//! `official_account`), or is added to their ticket still open from earlier
//! messages ([`on_text`]). An agent's public reply on that ticket goes back
//! to the follower as a customer-service message through the outbox
//! ([`on_agent_reply`]) — WeChat accepts those only within 48 hours of the
//! follower's last message, so past that the reply stays on the ticket and
//! the outbox records why it was not sent.

use super::notifications::send::message_key;
use super::outbox::{self, MessageKind, NewMessage};
use crate::audience::domain::DomainEvent;
use crate::clock::{Micros, HOUR};
use crate::db::{Backend, Conn};
use crate::error::Result;
use crate::service::tickets::{self, Author, NewTicket};
use serde_json::json;

/// How long after the follower's last message WeChat lets the account answer.
pub const REPLY_WINDOW: Micros = 48 * HOUR;

const SUBJECT_CHARS: usize = 60;
const BODY_CHARS: usize = 10_000;

fn subject_of(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text);
    let line = line.trim();
    if line.chars().count() <= SUBJECT_CHARS {
        line.to_owned()
    } else {
        let mut s: String = line.chars().take(SUBJECT_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// Files a follower's text message on their open ticket, or opens one.
/// Runs once per stored callback (the caller holds its dedupe), in its
/// transaction; the conversation row is written first, which serialises two
/// messages of one follower processed at the same moment.
pub async fn on_text(
    conn: &mut Conn,
    backend: Backend,
    account_id: &str,
    open_id: &str,
    profile_id: &str,
    text: &str,
    at: Micros,
) -> Result<()> {
    let body: String = text.trim().chars().take(BODY_CHARS).collect();
    if body.is_empty() {
        return Ok(());
    }
    let ticket_id: Option<String> = sqlx::query_scalar(
        "INSERT INTO oa_conversations (account_id, open_id, profile_id, ticket_id, last_message_at) \
         VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (account_id, open_id) DO UPDATE SET \
         profile_id = excluded.profile_id, \
         last_message_at = CASE WHEN oa_conversations.last_message_at > excluded.last_message_at \
             THEN oa_conversations.last_message_at ELSE excluded.last_message_at END \
         RETURNING ticket_id",
    )
    .bind(account_id)
    .bind(open_id)
    .bind(profile_id)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?;
    let still_open = match &ticket_id {
        Some(id) => {
            let kind: Option<String> =
                sqlx::query_scalar("SELECT status_kind FROM tickets WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            kind.is_some_and(|k| k != "closed")
        }
        None => false,
    };
    let customer = Author::Customer {
        profile_id: profile_id.to_owned(),
    };
    if let (true, Some(id)) = (still_open, &ticket_id) {
        tickets::reply(conn, backend, id, &customer, &body, false, &[], at).await?;
        return Ok(());
    }
    let member_id: Option<String> =
        sqlx::query_scalar("SELECT id FROM members WHERE profile_id = $1")
            .bind(profile_id)
            .fetch_optional(&mut *conn)
            .await?;
    let ticket = tickets::open(
        conn,
        backend,
        NewTicket {
            kind: "pre_sales".into(),
            subject: subject_of(&body),
            body,
            priority: None,
            channel: "official_account".into(),
            profile_id: profile_id.to_owned(),
            member_id,
            service_tag: None,
            order_id: None,
            team_id: None,
            attachments: Vec::new(),
            author: customer,
        },
        at,
    )
    .await?;
    sqlx::query(
        "UPDATE oa_conversations SET ticket_id = $1 WHERE account_id = $2 AND open_id = $3",
    )
    .bind(&ticket.id)
    .bind(account_id)
    .bind(open_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues an agent's reply (event `ticket.replied`) as a customer-service
/// message when the ticket came from an Official Account conversation.
pub async fn on_agent_reply(conn: &mut Conn, event: &DomainEvent) -> Result<()> {
    let (Some(ticket_id), Some(message_id)) = (
        event.properties["ticket_id"].as_str(),
        event.properties["message_id"].as_str(),
    ) else {
        return Ok(());
    };
    let conversation: Option<(String, String, Micros)> = sqlx::query_as(
        "SELECT account_id, open_id, last_message_at FROM oa_conversations WHERE ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((account_id, open_id, last_message_at)) = conversation else {
        return Ok(());
    };
    let body: String = sqlx::query_scalar("SELECT body FROM ticket_messages WHERE id = $1")
        .bind(message_id)
        .fetch_one(&mut *conn)
        .await?;
    let message = NewMessage {
        account_id,
        kind: MessageKind::CustomText,
        recipient: open_id,
        profile_id: Some(event.profile_id.clone()),
        template_id: None,
        payload: json!({ "text": body, "ticket_id": ticket_id }),
        client_msg_id: message_key("oa_reply", &event.key),
    };
    outbox::queue_until(conn, &message, Some(last_message_at + REPLY_WINDOW)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_is_the_first_line_kept_short() {
        assert_eq!(
            subject_of("\n  请问 Pro 16 有现货吗？\n谢谢"),
            "请问 Pro 16 有现货吗？"
        );
        let long = "很".repeat(100);
        let subject = subject_of(&long);
        assert_eq!(subject.chars().count(), SUBJECT_CHARS);
        assert!(subject.ends_with('…'));
    }
}
