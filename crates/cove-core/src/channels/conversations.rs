//! Customer conversations as tickets.
//!
//! A follower's text to the Official Account, or a customer's message to the
//! brand's WeCom Customer Service (微信客服), opens a pre-sales ticket or is
//! added to their ticket still open from earlier messages ([`on_text`]). An
//! agent's public reply on that ticket goes back the way the customer came
//! through the outbox ([`on_agent_reply`]): a customer-service message, which
//! WeChat accepts only within 48 hours of the customer's last message, and
//! WeCom at most 5 times per customer message. Past that the reply stays on
//! the ticket and the outbox records why it was not sent.

use super::notifications::send::message_key;
use super::outbox::{self, MessageKind, NewMessage};
use crate::audience::domain::DomainEvent;
use crate::clock::{Micros, HOUR};
use crate::db::{Backend, Conn};
use crate::error::Result;
use crate::service::tickets::{self, Author, NewTicket};
use serde_json::json;

/// How long after the customer's last message WeChat lets the brand answer.
pub const REPLY_WINDOW: Micros = 48 * HOUR;
/// Replies WeCom Customer Service accepts per customer message.
pub const WECOM_REPLIES_PER_MESSAGE: i64 = 5;
/// Longest reply text WeChat and WeCom take, in bytes of UTF-8.
pub const REPLY_MAX_BYTES: usize = 2048;

const SUBJECT_CHARS: usize = 60;
const BODY_CHARS: usize = 10_000;

/// Where the customer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via<'a> {
    /// To the Official Account; the customer is an openid.
    OfficialAccount,
    /// To a WeCom Customer Service account; the customer is an external userid.
    WecomService { open_kfid: &'a str },
}

impl Via<'_> {
    fn ticket_channel(self) -> &'static str {
        match self {
            Via::OfficialAccount => "official_account",
            Via::WecomService { .. } => "wecom",
        }
    }

    fn open_kfid(self) -> Option<String> {
        match self {
            Via::OfficialAccount => None,
            Via::WecomService { open_kfid } => Some(open_kfid.to_owned()),
        }
    }
}

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

/// The reply as WeChat will take it: a reply longer than a message can hold
/// is cut at a character boundary and says where the rest is.
fn fit_reply(body: &str, ticket_number: &str) -> String {
    if body.len() <= REPLY_MAX_BYTES {
        return body.to_owned();
    }
    let tail = format!("…\n（回复较长，完整内容请在服务中心查看工单 {ticket_number}）");
    let room = REPLY_MAX_BYTES - tail.len();
    let mut end = room;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{tail}", body[..end].trim_end())
}

/// Files a customer's text message on their open ticket, or opens one.
/// Runs once per stored message (the caller holds its dedupe), in its
/// transaction; the conversation row is written first, which serialises two
/// messages of one customer processed at the same moment. `customer` is the
/// openid or external userid.
#[allow(clippy::too_many_arguments)]
pub async fn on_text(
    conn: &mut Conn,
    backend: Backend,
    account_id: &str,
    via: Via<'_>,
    customer: &str,
    profile_id: &str,
    text: &str,
    at: Micros,
) -> Result<()> {
    let body: String = text.trim().chars().take(BODY_CHARS).collect();
    if body.is_empty() {
        return Ok(());
    }
    let ticket_id: Option<String> = sqlx::query_scalar(
        "INSERT INTO conversations (account_id, open_id, profile_id, ticket_id, last_message_at, open_kfid) \
         VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT (account_id, open_id) DO UPDATE SET \
         profile_id = excluded.profile_id, open_kfid = excluded.open_kfid, replies_since_message = 0, \
         last_message_at = CASE WHEN conversations.last_message_at > excluded.last_message_at \
             THEN conversations.last_message_at ELSE excluded.last_message_at END \
         RETURNING ticket_id",
    )
    .bind(account_id)
    .bind(customer)
    .bind(profile_id)
    .bind(at)
    .bind(via.open_kfid())
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
    let author = Author::Customer {
        profile_id: profile_id.to_owned(),
    };
    if let (true, Some(id)) = (still_open, &ticket_id) {
        tickets::reply(conn, backend, id, &author, &body, false, &[], at).await?;
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
            channel: via.ticket_channel().into(),
            profile_id: profile_id.to_owned(),
            member_id,
            service_tag: None,
            order_id: None,
            team_id: None,
            attachments: Vec::new(),
            author,
        },
        at,
    )
    .await?;
    sqlx::query("UPDATE conversations SET ticket_id = $1 WHERE account_id = $2 AND open_id = $3")
        .bind(&ticket.id)
        .bind(account_id)
        .bind(customer)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Queues an agent's reply (event `ticket.replied`) back to the customer
/// when the ticket came from a conversation.
pub async fn on_agent_reply(conn: &mut Conn, event: &DomainEvent) -> Result<()> {
    let (Some(ticket_id), Some(message_id)) = (
        event.properties["ticket_id"].as_str(),
        event.properties["message_id"].as_str(),
    ) else {
        return Ok(());
    };
    let conversation: Option<(String, String, Micros, Option<String>)> = sqlx::query_as(
        "SELECT account_id, open_id, last_message_at, open_kfid FROM conversations WHERE ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((account_id, customer, last_message_at, open_kfid)) = conversation else {
        return Ok(());
    };
    let (body, number): (String, String) = sqlx::query_as(
        "SELECT m.body, t.number FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id WHERE m.id = $1",
    )
    .bind(message_id)
    .fetch_one(&mut *conn)
    .await?;
    let mut deadline = last_message_at + REPLY_WINDOW;
    let text = fit_reply(&body, &number);
    let (kind, prefix, payload) = match open_kfid {
        None => (
            MessageKind::CustomText,
            "oa_reply",
            json!({ "text": text, "ticket_id": ticket_id }),
        ),
        Some(open_kfid) => {
            // `emit` calls this once per event, so each reply counts once.
            let counted = sqlx::query(
                "UPDATE conversations SET replies_since_message = replies_since_message + 1 \
                 WHERE ticket_id = $1 AND replies_since_message < $2",
            )
            .bind(ticket_id)
            .bind(WECOM_REPLIES_PER_MESSAGE)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if counted == 0 {
                deadline = 0;
            }
            (
                MessageKind::WecomServiceText,
                "wecom_reply",
                json!({ "text": text, "ticket_id": ticket_id, "open_kfid": open_kfid }),
            )
        }
    };
    let message = NewMessage {
        account_id,
        kind,
        recipient: customer,
        profile_id: Some(event.profile_id.clone()),
        template_id: None,
        payload,
        client_msg_id: message_key(prefix, &event.key),
    };
    outbox::queue_until(conn, &message, Some(deadline)).await?;
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

    #[test]
    fn a_long_reply_is_cut_to_what_wechat_takes_and_points_at_the_ticket() {
        assert_eq!(fit_reply("您好，有现货", "T-1"), "您好，有现货");
        let long = "现货充足。".repeat(300);
        let fitted = fit_reply(&long, "T-20261204-0007");
        assert!(fitted.len() <= REPLY_MAX_BYTES, "{}", fitted.len());
        assert!(fitted.len() > REPLY_MAX_BYTES - 60);
        assert!(fitted.starts_with("现货充足。"));
        assert!(fitted.ends_with("查看工单 T-20261204-0007）"));
    }
}
