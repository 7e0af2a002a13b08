//! Outgoing WeChat messages: subscription messages (Mini Program), template
//! messages (Official Account) and WeCom messages to external contacts.
//!
//! [`queue`] writes the message and its `wechat.send` job in the caller's
//! transaction, under the key of the fact that causes it (`client_msg_id`),
//! so a fact makes one message however often it is queued. Subscription
//! messages spend one of the person's one-time grants at that moment (or are
//! kept as `skipped_no_consent`, never sent). The job ([`send`]) calls WeChat
//! with retries and backoff, or, for an account in sandbox mode, only marks
//! the message `sandboxed` so the console outbox shows what would be sent.

use super::accounts::{self, AccountKind};
use super::clients::WechatApi;
use super::consent;
use crate::clock::{self, Micros, SECOND};
use crate::db::{new_id, Conn, Db};
use crate::error::{Error, Result};
use crate::jobs::{self, JobCtx, NewJob};
use cove_wechat::client::{
    CustomMessage, MiniProgramLink, SubscribeMessage, TemplateMessage, WelcomeMessage,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const SEND_JOB: &str = "wechat.send";

/// How long a WeCom welcome code can be used after the add event.
pub const WELCOME_WINDOW: Micros = 20 * SECOND;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Mini Program subscription message; needs the person's consent.
    Subscribe,
    /// Official Account template message.
    Template,
    /// WeCom message from a salesperson to an external contact.
    WecomText,
    /// WeCom welcome message, within 20 seconds of the contact being added.
    WecomWelcome,
    /// Official Account customer-service text, within 48 hours of the
    /// follower's last message.
    CustomText,
    /// WeCom Customer Service (微信客服) text, within 48 hours of the
    /// customer's last message and at most 5 per message.
    WecomServiceText,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Subscribe => "subscribe",
            MessageKind::Template => "template",
            MessageKind::WecomText => "wecom_text",
            MessageKind::WecomWelcome => "wecom_welcome",
            MessageKind::CustomText => "custom_text",
            MessageKind::WecomServiceText => "wecom_service_text",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "subscribe" => MessageKind::Subscribe,
            "template" => MessageKind::Template,
            "wecom_text" => MessageKind::WecomText,
            "wecom_welcome" => MessageKind::WecomWelcome,
            "custom_text" => MessageKind::CustomText,
            "wecom_service_text" => MessageKind::WecomServiceText,
            _ => return None,
        })
    }

    fn account_kind(self) -> AccountKind {
        match self {
            MessageKind::Subscribe => AccountKind::MiniProgram,
            MessageKind::Template | MessageKind::CustomText => AccountKind::OfficialAccount,
            MessageKind::WecomText | MessageKind::WecomWelcome | MessageKind::WecomServiceText => {
                AccountKind::Wecom
            }
        }
    }

    /// Replies to a customer's message, sendable only while its window is open.
    fn is_reply(self) -> bool {
        matches!(
            self,
            MessageKind::CustomText | MessageKind::WecomServiceText
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sent,
    /// The account is in sandbox mode: kept in the outbox, not sent.
    Sandboxed,
    Failed,
    /// A subscription message without the person's consent: never sent.
    SkippedNoConsent,
    /// A customer-service message after WeChat's 48-hour window: never sent.
    SkippedWindowClosed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Sandboxed => "sandboxed",
            MessageStatus::Failed => "failed",
            MessageStatus::SkippedNoConsent => "skipped_no_consent",
            MessageStatus::SkippedWindowClosed => "skipped_window_closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => MessageStatus::Queued,
            "sent" => MessageStatus::Sent,
            "sandboxed" => MessageStatus::Sandboxed,
            "failed" => MessageStatus::Failed,
            "skipped_no_consent" => MessageStatus::SkippedNoConsent,
            "skipped_window_closed" => MessageStatus::SkippedWindowClosed,
            _ => return None,
        })
    }
}

/// A message to queue.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewMessage {
    pub account_id: String,
    pub kind: MessageKind,
    /// OpenID (subscribe, template) or WeCom external userid.
    pub recipient: String,
    pub profile_id: Option<String>,
    /// Required for subscribe and template messages.
    pub template_id: Option<String>,
    /// Subscribe / template: `{"data": {"thing1": "…"}, "page"?, "url"?, "miniprogram"?}`;
    /// WeCom: `{"text": "…", "sender"?: userid, "welcome_code"?: code}`.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Names the fact causing the message (`order.shipped:<order id>`): one fact, one message.
    pub client_msg_id: String,
}

/// What [`queue`] did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Queued {
    pub id: String,
    pub status: MessageStatus,
    /// False when a message for this fact already existed (nothing new was written).
    pub created: bool,
}

fn check(new: &NewMessage) -> Result<()> {
    let key = new.client_msg_id.trim();
    if key.is_empty() || key.chars().count() > 200 || key.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_client_msg_id",
            "client_msg_id must be 1 to 200 printable characters",
        ));
    }
    if new.recipient.trim().is_empty() || new.recipient.len() > 128 {
        return Err(Error::invalid(
            "invalid_recipient",
            "the recipient openid or external userid is required",
        ));
    }
    if matches!(new.kind, MessageKind::Subscribe | MessageKind::Template)
        && new
            .template_id
            .as_deref()
            .is_none_or(|t| t.trim().is_empty() || t.len() > 128)
    {
        return Err(Error::invalid(
            "template_required",
            "subscription and template messages need a template_id",
        ));
    }
    if !new.payload.is_object() {
        return Err(Error::invalid(
            "invalid_payload",
            "the payload must be a JSON object",
        ));
    }
    match new.kind {
        MessageKind::Subscribe | MessageKind::Template => {
            if !new.payload["data"].is_object() {
                return Err(Error::invalid(
                    "invalid_payload",
                    "the payload needs the template's data as an object",
                ));
            }
        }
        MessageKind::WecomText
        | MessageKind::WecomWelcome
        | MessageKind::CustomText
        | MessageKind::WecomServiceText => {
            if new.payload["text"]
                .as_str()
                .is_none_or(|t| t.trim().is_empty())
            {
                return Err(Error::invalid(
                    "invalid_payload",
                    "a text message needs its text",
                ));
            }
            if new.kind == MessageKind::WecomWelcome
                && new.payload["welcome_code"].as_str().is_none()
            {
                return Err(Error::invalid(
                    "invalid_payload",
                    "a welcome message needs the welcome_code of the add event",
                ));
            }
            if new.kind == MessageKind::WecomServiceText
                && new.payload["open_kfid"]
                    .as_str()
                    .is_none_or(|k| k.trim().is_empty())
            {
                return Err(Error::invalid(
                    "invalid_payload",
                    "a customer-service message needs the open_kfid the customer wrote to",
                ));
            }
        }
    }
    Ok(())
}

/// Writes the message and its send job in the caller's transaction. A second
/// call for the same `client_msg_id` changes nothing and returns the first.
pub async fn queue(conn: &mut Conn, new: &NewMessage) -> Result<Queued> {
    queue_until(conn, new, None).await
}

/// [`queue`], for a message worth sending only until `deadline` (a welcome
/// message: 20 seconds after the add event, whenever it is processed).
pub async fn queue_until(
    conn: &mut Conn,
    new: &NewMessage,
    deadline: Option<Micros>,
) -> Result<Queued> {
    check(new)?;
    let client_msg_id = new.client_msg_id.trim();
    let account_kind: Option<String> =
        sqlx::query_scalar("SELECT kind FROM channel_accounts WHERE id = $1")
            .bind(&new.account_id)
            .fetch_optional(&mut *conn)
            .await?;
    let account_kind = account_kind.ok_or(Error::not_found("channel account"))?;
    if account_kind != new.kind.account_kind().as_str() {
        return Err(Error::invalid(
            "wrong_account_kind",
            format!(
                "a {} message is sent through a {} account",
                new.kind.as_str(),
                new.kind.account_kind().as_str()
            ),
        ));
    }
    let id = new_id();
    let now = clock::now();
    let expires_at = match (new.kind, deadline) {
        (MessageKind::WecomWelcome, Some(d)) => Some(d.min(now + WELCOME_WINDOW)),
        (MessageKind::WecomWelcome, None) => Some(now + WELCOME_WINDOW),
        (_, d) => d,
    };
    let inserted = sqlx::query(
        "INSERT INTO wechat_messages (id, account_id, kind, recipient, profile_id, template_id, payload, \
         client_msg_id, status, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10, $10) \
         ON CONFLICT (client_msg_id) DO NOTHING",
    )
    .bind(&id)
    .bind(&new.account_id)
    .bind(new.kind.as_str())
    .bind(new.recipient.trim())
    .bind(&new.profile_id)
    .bind(new.template_id.as_deref().map(str::trim))
    .bind(new.payload.to_string())
    .bind(client_msg_id)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        let (id, status): (String, String) =
            sqlx::query_as("SELECT id, status FROM wechat_messages WHERE client_msg_id = $1")
                .bind(client_msg_id)
                .fetch_one(&mut *conn)
                .await?;
        return Ok(Queued {
            id,
            status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Queued),
            created: false,
        });
    }
    // The window closed before the message was written: kept, never sent.
    if new.kind.is_reply() && expires_at.is_some_and(|at| at <= now) {
        sqlx::query(
            "UPDATE wechat_messages SET status = 'skipped_window_closed', \
             error = 'the reply window is closed: 48 hours since the customer last wrote, \
             or (WeCom) 5 replies since' WHERE id = $1",
        )
        .bind(&id)
        .execute(&mut *conn)
        .await?;
        return Ok(Queued {
            id,
            status: MessageStatus::SkippedWindowClosed,
            created: true,
        });
    }
    if new.kind == MessageKind::Subscribe {
        let template_id = new.template_id.as_deref().unwrap_or_default().trim();
        match consent::spend(conn, &new.account_id, new.recipient.trim(), template_id).await? {
            consent::Spent::OneTime => {
                sqlx::query("UPDATE wechat_messages SET grant_used = 1 WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            consent::Spent::LongTerm => {}
            consent::Spent::None => {
                sqlx::query(
                    "UPDATE wechat_messages SET status = 'skipped_no_consent', \
                     error = 'no subscription grant for this template' WHERE id = $1",
                )
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                return Ok(Queued {
                    id,
                    status: MessageStatus::SkippedNoConsent,
                    created: true,
                });
            }
        }
    }
    let job = NewJob::new(SEND_JOB, json!({ "message": id }))
        .dedupe(format!("{SEND_JOB}:{id}"))
        .max_attempts(if new.kind == MessageKind::WecomWelcome {
            3
        } else {
            8
        });
    jobs::enqueue(conn, job).await?;
    Ok(Queued {
        id,
        status: MessageStatus::Queued,
        created: true,
    })
}

#[derive(Debug, sqlx::FromRow)]
struct MessageRow {
    id: String,
    account_id: String,
    kind: String,
    recipient: String,
    template_id: Option<String>,
    payload: String,
    status: String,
    grant_used: i64,
    expires_at: Option<i64>,
}

/// WeChat answers worth another try later: transport errors, busy or
/// rate-limited, rejected tokens (refreshed on the next run), 5xx.
fn retryable(e: &cove_wechat::Error) -> bool {
    use cove_wechat::Error as E;
    match e {
        E::Http(_) | E::TokenStore(_) => true,
        E::HttpStatus { status, .. } => *status >= 500 || *status == 429,
        E::Api { errcode, .. } => matches!(errcode, -1 | 45009 | 45011 | 40001 | 40014 | 42001),
        _ => false,
    }
}

/// `{"k": "v"}` or `{"k": {"value": "v"}}` → `{"k": {"value": "v"}}`.
fn template_data(payload: &Value) -> BTreeMap<String, Value> {
    payload["data"]
        .as_object()
        .map(|data| {
            data.iter()
                .map(|(k, v)| {
                    let v = if v.get("value").is_some() {
                        v.clone()
                    } else {
                        json!({ "value": v })
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn text(payload: &Value) -> &str {
    payload["text"].as_str().unwrap_or_default()
}

async fn deliver(api: &WechatApi, m: &MessageRow, payload: &Value) -> cove_wechat::Result<()> {
    let wx = |e: Error| cove_wechat::Error::InvalidArgument(format!("account: {e}"));
    match MessageKind::parse(&m.kind) {
        Some(MessageKind::Subscribe) => {
            let (_, client) = api.mp(&m.account_id).await.map_err(wx)?;
            let message = SubscribeMessage {
                touser: m.recipient.clone(),
                template_id: m.template_id.clone().unwrap_or_default(),
                page: payload["page"].as_str().map(str::to_owned),
                data: template_data(payload),
                miniprogram_state: payload["miniprogram_state"].as_str().map(str::to_owned),
                lang: payload["lang"].as_str().map(str::to_owned),
            };
            client.send_subscribe_message(&message).await
        }
        Some(MessageKind::Template) => {
            let (_, client) = api.mp(&m.account_id).await.map_err(wx)?;
            let miniprogram = match (
                payload["miniprogram"]["appid"].as_str(),
                payload["miniprogram"]["pagepath"].as_str(),
            ) {
                (Some(appid), Some(pagepath)) => Some(MiniProgramLink {
                    appid: appid.to_owned(),
                    pagepath: pagepath.to_owned(),
                }),
                _ => None,
            };
            let message = TemplateMessage {
                touser: m.recipient.clone(),
                template_id: m.template_id.clone().unwrap_or_default(),
                url: payload["url"].as_str().map(str::to_owned),
                miniprogram,
                // WeChat drops a second send with the same id: a retry after a
                // lost answer does not reach the person twice.
                client_msg_id: Some(m.id.clone()),
                data: template_data(payload),
            };
            client.send_template_message(&message).await.map(|_| ())
        }
        Some(MessageKind::CustomText) => {
            let (_, client) = api.mp(&m.account_id).await.map_err(wx)?;
            client
                .send_custom_message(&CustomMessage::text(&m.recipient, text(payload)))
                .await
        }
        Some(MessageKind::WecomServiceText) => {
            let (_, client) = api.wecom(&m.account_id).await.map_err(wx)?;
            let open_kfid = payload["open_kfid"].as_str().unwrap_or_default();
            // WeCom takes a msgid of 32 [0-9a-zA-Z_-]: the message id without
            // hyphens, so a retry after a lost answer is refused, not resent.
            let msgid = m.id.replace('-', "");
            client
                .kf_send_text(open_kfid, &m.recipient, &msgid, text(payload))
                .await
                .map(|_| ())
        }
        Some(MessageKind::WecomWelcome) => {
            let (_, client) = api.wecom(&m.account_id).await.map_err(wx)?;
            let code = payload["welcome_code"].as_str().unwrap_or_default();
            client
                .send_welcome_msg(&WelcomeMessage::text(code, text(payload)))
                .await
        }
        Some(MessageKind::WecomText) => {
            let (_, client) = api.wecom(&m.account_id).await.map_err(wx)?;
            let mut body = json!({
                "chat_type": "single",
                "external_userid": [m.recipient],
                "text": { "content": text(payload) },
            });
            if let Some(sender) = payload["sender"].as_str() {
                body["sender"] = json!(sender);
            }
            client
                .post_json::<Value>("/cgi-bin/externalcontact/add_msg_template", &body)
                .await
                .map(|_| ())
        }
        None => Err(cove_wechat::Error::InvalidArgument(format!(
            "unknown message kind {}",
            m.kind
        ))),
    }
}

/// Sets the final status of a message and completes its job, together.
async fn finish(
    ctx: &JobCtx,
    m: &MessageRow,
    status: MessageStatus,
    error: Option<&str>,
    attempted: bool,
) -> anyhow::Result<()> {
    let now = clock::now();
    let mut tx = ctx.db.begin().await?;
    let updated = sqlx::query(
        "UPDATE wechat_messages SET status = $1, error = $2, attempts = attempts + $3, updated_at = $4, \
         sent_at = CASE WHEN $1 = 'sent' THEN $4 ELSE sent_at END \
         WHERE id = $5 AND status = 'queued'",
    )
    .bind(status.as_str())
    .bind(error.map(|e| e.chars().take(500).collect::<String>()))
    .bind(i64::from(attempted))
    .bind(now)
    .bind(&m.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // A one-time grant spent on a message that never reached WeChat is given back.
    if updated == 1 && status == MessageStatus::Failed && m.grant_used == 1 {
        consent::give_back(
            &mut tx,
            &m.account_id,
            &m.recipient,
            m.template_id.as_deref().unwrap_or_default(),
        )
        .await?;
        sqlx::query("UPDATE wechat_messages SET grant_used = 0 WHERE id = $1")
            .bind(&m.id)
            .execute(&mut *tx)
            .await?;
    }
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Job handler of [`SEND_JOB`].
pub async fn send(api: WechatApi, ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let id = ctx.job.payload["message"].as_str().unwrap_or_default();
    let row: Option<MessageRow> = sqlx::query_as(
        "SELECT id, account_id, kind, recipient, template_id, payload, status, grant_used, expires_at \
         FROM wechat_messages WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(ctx.db.pool())
    .await?;
    let Some(m) = row.filter(|m| m.status == "queued") else {
        let mut conn = ctx.db.pool().acquire().await?;
        ctx.complete(&mut conn).await?;
        return Ok(());
    };
    let account = accounts::get(&ctx.db, &m.account_id).await?;
    if account.sandbox {
        return finish(&ctx, &m, MessageStatus::Sandboxed, None, false).await;
    }
    let now = clock::now();
    if m.expires_at.is_some_and(|at| at < now) {
        return finish(
            &ctx,
            &m,
            MessageStatus::Failed,
            Some("expired before it could be sent"),
            false,
        )
        .await;
    }
    let payload: Value = serde_json::from_str(&m.payload).unwrap_or(Value::Null);
    match deliver(&api, &m, &payload).await {
        Ok(()) => finish(&ctx, &m, MessageStatus::Sent, None, true).await,
        Err(e) => {
            let message = e.to_string();
            let last = ctx.job.attempt >= ctx.job.max_attempts;
            // A welcome code dies 20 s after the add event: no retry past that.
            let expired = m.expires_at.is_some_and(|at| at < clock::now() + SECOND);
            if !retryable(&e) || last || expired {
                return finish(&ctx, &m, MessageStatus::Failed, Some(&message), true).await;
            }
            sqlx::query(
                "UPDATE wechat_messages SET attempts = attempts + 1, error = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'queued'",
            )
            .bind(message.chars().take(500).collect::<String>())
            .bind(clock::now())
            .bind(&m.id)
            .execute(ctx.db.pool())
            .await?;
            Err(anyhow::anyhow!(
                "sending message {} failed: {message}",
                m.id
            ))
        }
    }
}

/// A message as the console outbox shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct OutboxMessage {
    pub id: String,
    pub account_id: String,
    pub account_name: String,
    pub kind: String,
    pub recipient: String,
    pub profile_id: Option<String>,
    pub template_id: Option<String>,
    #[schema(value_type = Object)]
    #[sqlx(try_from = "String")]
    pub payload: JsonText,
    pub client_msg_id: String,
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: Micros,
    pub sent_at: Option<Micros>,
}

/// JSON stored as text, shown as JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct JsonText(pub Value);

impl From<String> for JsonText {
    fn from(s: String) -> Self {
        JsonText(serde_json::from_str(&s).unwrap_or(Value::String(s)))
    }
}

/// Outgoing messages, newest first, optionally of one status or profile.
pub async fn list(
    db: &Db,
    status: Option<MessageStatus>,
    profile_id: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxMessage>> {
    Ok(sqlx::query_as::<_, OutboxMessage>(
        "SELECT m.id, m.account_id, a.name AS account_name, m.kind, m.recipient, m.profile_id, \
         m.template_id, m.payload, m.client_msg_id, m.status, m.attempts, m.error, m.created_at, m.sent_at \
         FROM wechat_messages m JOIN channel_accounts a ON a.id = m.account_id \
         WHERE ($1 IS NULL OR m.status = $1) AND ($2 IS NULL OR m.profile_id = $2) \
         ORDER BY m.created_at DESC, m.id DESC LIMIT $3",
    )
    .bind(status.map(MessageStatus::as_str))
    .bind(profile_id)
    .bind(limit.clamp(1, 500))
    .fetch_all(db.read())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_data_accepts_plain_and_wrapped_values() {
        let data = template_data(
            &json!({ "data": { "thing1": "维修完成", "time2": { "value": "2026-12-03" } } }),
        );
        assert_eq!(data["thing1"], json!({ "value": "维修完成" }));
        assert_eq!(data["time2"], json!({ "value": "2026-12-03" }));
    }

    #[test]
    fn only_transient_wechat_errors_are_retried() {
        let api = |errcode| cove_wechat::Error::Api {
            errcode,
            errmsg: String::new(),
        };
        assert!(retryable(&api(-1)));
        assert!(retryable(&api(45009)));
        assert!(!retryable(&api(43101)), "the person refused: never retried");
        assert!(!retryable(&api(40003)), "invalid openid");
        assert!(retryable(&cove_wechat::Error::HttpStatus {
            status: 503,
            body: String::new()
        }));
        assert!(!retryable(&cove_wechat::Error::HttpStatus {
            status: 404,
            body: String::new()
        }));
    }
}
