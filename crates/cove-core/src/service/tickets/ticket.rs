//! Opening tickets, the conversation, status, assignment and priority
//! changes, the SLA timers they drive, and the breach check.

use super::policies::{self, Policy};
use super::sla::Calendar;
use super::statuses::{self, Status};
use super::teams;
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::Micros;
use crate::db::{new_id, Backend, Conn, Db};
use crate::error::{Error, Result};
use crate::files;
use crate::membership::benefits;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

/// The durable job that records SLA breaches (every minute).
pub const CHECK_JOB: &str = "service.sla.check";

pub const KINDS: &[&str] = &["pre_sales", "after_sales"];
pub const CHANNELS: &[&str] = &["storefront", "wecom", "staff", "official_account"];
const MAX_SUBJECT: usize = 200;
const MAX_BODY: usize = 10_000;
const MAX_ATTACHMENTS: usize = 10;

/// Who acts on a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// The customer, by their profile.
    Customer {
        profile_id: String,
    },
    /// A console user.
    Agent {
        user_id: String,
    },
    System,
}

impl Author {
    fn kind(&self) -> &'static str {
        match self {
            Author::Customer { .. } => "customer",
            Author::Agent { .. } => "agent",
            Author::System => "system",
        }
    }

    fn id(&self) -> Option<&str> {
        match self {
            Author::Customer { profile_id } => Some(profile_id),
            Author::Agent { user_id } => Some(user_id),
            Author::System => None,
        }
    }

    /// How the history names who acted.
    pub(crate) fn actor(&self) -> String {
        match self {
            Author::Customer { profile_id } => format!("customer:{profile_id}"),
            Author::Agent { user_id } => format!("user:{user_id}"),
            Author::System => "system".into(),
        }
    }
}

/// A file attached to a message; the file itself lives at `url`. An
/// uploaded file is named by its `/files/{id}/{name}` URL, and its name,
/// size and type are taken from the upload, not from the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = TicketAttachment)]
pub struct Attachment {
    #[serde(default)]
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub content_type: String,
}

/// Checks the attachments of a message by `author`. Uploaded files must be
/// there, and a customer may attach only their own uploads.
async fn resolve_attachments(
    conn: &mut Conn,
    author: &Author,
    attachments: &[Attachment],
) -> Result<Vec<Attachment>> {
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(Error::invalid(
            "too_many_attachments",
            format!("at most {MAX_ATTACHMENTS} attachments per message"),
        ));
    }
    let mut resolved = Vec::with_capacity(attachments.len());
    for a in attachments {
        if let Some(file_id) = files::id_in_url(&a.url) {
            let file = files::get(conn, file_id).await.map_err(|_| {
                Error::invalid("unknown_file", format!("no uploaded file {file_id}"))
            })?;
            if let Author::Customer { profile_id } = author {
                if file.owner_profile_id.as_deref() != Some(profile_id.as_str()) {
                    return Err(Error::invalid(
                        "file_not_yours",
                        "attach only files you uploaded yourself",
                    ));
                }
            }
            resolved.push(Attachment {
                name: file.name,
                url: file.url,
                size: file.size,
                content_type: file.content_type,
            });
            continue;
        }
        let url_ok = a.url.starts_with("https://") || a.url.starts_with('/');
        if a.name.trim().is_empty() || !url_ok || a.size < 0 || a.content_type.trim().is_empty() {
            return Err(Error::invalid(
                "invalid_attachment",
                "an attachment is an uploaded file's url, or has a name, an https:// or site-relative url, a size and a content type",
            ));
        }
        resolved.push(a.clone());
    }
    Ok(resolved)
}

fn check_body(body: &str) -> Result<()> {
    if body.trim().is_empty() || body.chars().count() > MAX_BODY {
        return Err(Error::invalid(
            "invalid_message",
            format!("a message is 1 to {MAX_BODY} characters"),
        ));
    }
    Ok(())
}

fn check_priority(priority: &str) -> Result<()> {
    if !policies::PRIORITIES.contains(&priority) {
        return Err(Error::invalid(
            "invalid_priority",
            format!(
                "priority must be one of {}",
                policies::PRIORITIES.join(", ")
            ),
        ));
    }
    Ok(())
}

/// What opening a ticket needs. The opener is `author`; the customer is
/// `profile_id` (and `member_id` when they are a member). A device or an
/// order must be the member's.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub priority: Option<String>,
    pub channel: String,
    pub profile_id: String,
    pub member_id: Option<String>,
    pub service_tag: Option<String>,
    pub order_id: Option<String>,
    pub team_id: Option<String>,
    pub attachments: Vec<Attachment>,
    pub author: Author,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: String,
    /// What the customer quotes, e.g. T100001.
    pub number: String,
    pub kind: String,
    pub subject: String,
    pub status: String,
    pub status_kind: String,
    pub priority: String,
    pub channel: String,
    pub profile_id: String,
    pub member_id: Option<String>,
    pub service_tag: Option<String>,
    pub order_id: Option<String>,
    pub team_id: Option<String>,
    pub assignee_id: Option<String>,
    pub sla_policy_id: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub first_responded_at: Option<Micros>,
    pub solved_at: Option<Micros>,
    pub closed_at: Option<Micros>,
    /// The earliest due date of a running timer (for queue countdowns).
    pub next_due_at: Option<Micros>,
    /// Whether any timer of the ticket was breached.
    pub breached: bool,
    /// The member's tier carried priority service when the ticket opened.
    pub priority_service: bool,
    /// The member's tier now (code), if the customer is a member.
    pub member_tier: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TicketMessage)]
pub struct Message {
    pub id: String,
    pub author_kind: String,
    pub author_id: Option<String>,
    pub body: String,
    pub internal: bool,
    pub attachments: Vec<Attachment>,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketEvent {
    pub id: String,
    pub actor: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub at: Micros,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SlaTimer)]
pub struct Timer {
    pub id: String,
    /// first_response or resolution.
    pub metric: String,
    pub started_at: Micros,
    pub target_minutes: i64,
    pub due_at: Micros,
    pub paused_at: Option<Micros>,
    /// Business minutes spent paused so far.
    pub paused_total: i64,
    pub met_at: Option<Micros>,
    pub breached_at: Option<Micros>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TicketDetail)]
pub struct Detail {
    pub ticket: Ticket,
    pub messages: Vec<Message>,
    pub events: Vec<TicketEvent>,
    pub timers: Vec<Timer>,
}

const TICKET_COLUMNS: &str = "t.id, t.number, t.kind, t.subject, t.status, t.status_kind, t.priority, t.channel, \
    t.profile_id, t.member_id, t.service_tag, t.order_id, t.team_id, t.assignee_id, t.sla_policy_id, \
    t.created_at, t.updated_at, t.first_responded_at, t.solved_at, t.closed_at, \
    (SELECT MIN(s.due_at) FROM sla_timers s WHERE s.ticket_id = t.id AND s.met_at IS NULL AND s.paused_at IS NULL), \
    (SELECT COUNT(*) FROM sla_timers s WHERE s.ticket_id = t.id AND s.breached_at IS NOT NULL), \
    t.priority_service, (SELECT m.tier FROM members m WHERE m.id = t.member_id)";

fn ticket_from_row(row: &sqlx::any::AnyRow) -> Result<Ticket> {
    let breaches: i64 = row.try_get(21)?;
    let priority_service: i64 = row.try_get(22)?;
    Ok(Ticket {
        id: row.try_get(0)?,
        number: row.try_get(1)?,
        kind: row.try_get(2)?,
        subject: row.try_get(3)?,
        status: row.try_get(4)?,
        status_kind: row.try_get(5)?,
        priority: row.try_get(6)?,
        channel: row.try_get(7)?,
        profile_id: row.try_get(8)?,
        member_id: row.try_get(9)?,
        service_tag: row.try_get(10)?,
        order_id: row.try_get(11)?,
        team_id: row.try_get(12)?,
        assignee_id: row.try_get(13)?,
        sla_policy_id: row.try_get(14)?,
        created_at: row.try_get(15)?,
        updated_at: row.try_get(16)?,
        first_responded_at: row.try_get(17)?,
        solved_at: row.try_get(18)?,
        closed_at: row.try_get(19)?,
        next_due_at: row.try_get(20)?,
        breached: breaches > 0,
        priority_service: priority_service != 0,
        member_tier: row.try_get(23)?,
    })
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Ticket> {
    let row = sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => ticket_from_row(&row),
        None => Err(Error::not_found("ticket")),
    }
}

/// Locks the ticket row for a change (PostgreSQL; SQLite has one writer).
async fn lock(conn: &mut Conn, backend: Backend, id: &str) -> Result<Ticket> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT id FROM tickets WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    get(conn, id).await
}

/// Filters of the staff queue.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct Filter {
    /// A status code, or a kind prefixed with `kind:` (e.g. `kind:pending`).
    pub status: Option<String>,
    /// A user id, or `none` for unassigned tickets.
    pub assignee: Option<String>,
    pub team: Option<String>,
    /// Only tickets with (true) or without (false) a breached timer.
    pub breached: Option<bool>,
    /// A ticket number or words of the subject.
    pub q: Option<String>,
    /// The customer's profile (the storefront's own list).
    #[serde(skip)]
    pub profile_id: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Staff work the queue top down: unfinished tickets first, the most urgent
/// priority, then the nearest running SLA due time, then the oldest; solved
/// and closed tickets follow, newest first.
const QUEUE_ORDER: &str = "CASE WHEN t.status_kind IN ('solved', 'closed') THEN 1 ELSE 0 END, \
    CASE WHEN t.status_kind IN ('solved', 'closed') THEN 0 \
         WHEN t.priority = 'urgent' THEN 3 WHEN t.priority = 'high' THEN 2 \
         WHEN t.priority = 'normal' THEN 1 ELSE 0 END DESC, \
    CASE WHEN t.status_kind IN ('solved', 'closed') THEN 0 ELSE COALESCE( \
        (SELECT MIN(s.due_at) FROM sla_timers s WHERE s.ticket_id = t.id AND s.met_at IS NULL AND s.paused_at IS NULL), \
        9223372036854775807) END, \
    CASE WHEN t.status_kind IN ('solved', 'closed') THEN -t.created_at ELSE t.created_at END, t.id";

/// A customer reads their own tickets newest first.
const CUSTOMER_ORDER: &str = "t.created_at DESC, t.id DESC";

pub async fn list(conn: &mut Conn, filter: &Filter) -> Result<Vec<Ticket>> {
    let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE true");
    let mut binds: Vec<String> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, value: String| {
        binds.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(status) = filter.status.as_deref().filter(|s| !s.is_empty()) {
        match status.strip_prefix("kind:") {
            Some(kind) => push(&mut sql, " AND t.status_kind = ?", kind.to_owned()),
            None => push(&mut sql, " AND t.status = ?", status.to_owned()),
        }
    }
    match filter.assignee.as_deref() {
        Some("none") => sql.push_str(" AND t.assignee_id IS NULL"),
        Some(a) if !a.is_empty() => push(&mut sql, " AND t.assignee_id = ?", a.to_owned()),
        _ => {}
    }
    if let Some(team) = filter.team.as_deref().filter(|s| !s.is_empty()) {
        push(&mut sql, " AND t.team_id = ?", team.to_owned());
    }
    if let Some(profile) = &filter.profile_id {
        push(&mut sql, " AND t.profile_id = ?", profile.clone());
    }
    match filter.breached {
        Some(true) => sql.push_str(
            " AND EXISTS (SELECT 1 FROM sla_timers s WHERE s.ticket_id = t.id AND s.breached_at IS NOT NULL)",
        ),
        Some(false) => sql.push_str(
            " AND NOT EXISTS (SELECT 1 FROM sla_timers s WHERE s.ticket_id = t.id AND s.breached_at IS NOT NULL)",
        ),
        None => {}
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        binds.push(q.to_uppercase());
        let n = binds.len();
        binds.push(format!("%{}%", q.to_lowercase()));
        sql.push_str(&format!(
            " AND (t.number = ${n} OR LOWER(t.subject) LIKE ${})",
            n + 1
        ));
    }
    let limit = filter.limit.unwrap_or(50).clamp(1, 200);
    let offset = filter.offset.unwrap_or(0).max(0);
    let order = if filter.profile_id.is_some() {
        CUSTOMER_ORDER
    } else {
        QUEUE_ORDER
    };
    sql.push_str(&format!(" ORDER BY {order} LIMIT {limit} OFFSET {offset}"));
    let mut query = sqlx::query(&sql);
    for b in &binds {
        query = query.bind(b);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(ticket_from_row).collect()
}

/// The ticket with its conversation, history and timers. `public_only`
/// leaves out internal notes, the history and the timers (what the
/// customer sees).
pub async fn detail(conn: &mut Conn, id: &str, public_only: bool) -> Result<Detail> {
    let ticket = get(conn, id).await?;
    let rows = sqlx::query(
        "SELECT id, author_kind, author_id, body, internal, attachments, created_at FROM ticket_messages \
         WHERE ticket_id = $1 AND (internal = 0 OR $2 = 0) ORDER BY created_at, id",
    )
    .bind(id)
    .bind(i64::from(public_only))
    .fetch_all(&mut *conn)
    .await?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        let internal: i64 = row.try_get(4)?;
        let attachments: String = row.try_get(5)?;
        messages.push(Message {
            id: row.try_get(0)?,
            author_kind: row.try_get(1)?,
            author_id: row.try_get(2)?,
            body: row.try_get(3)?,
            internal: internal != 0,
            attachments: serde_json::from_str(&attachments).unwrap_or_default(),
            created_at: row.try_get(6)?,
        });
    }
    if public_only {
        return Ok(Detail {
            ticket,
            messages,
            events: Vec::new(),
            timers: Vec::new(),
        });
    }
    let rows = sqlx::query(
        "SELECT id, actor, kind, data, at FROM ticket_events WHERE ticket_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let data: String = row.try_get(3)?;
        events.push(TicketEvent {
            id: row.try_get(0)?,
            actor: row.try_get(1)?,
            kind: row.try_get(2)?,
            data: serde_json::from_str(&data).unwrap_or(Value::Null),
            at: row.try_get(4)?,
        });
    }
    let timers = timers(conn, id).await?;
    Ok(Detail {
        ticket,
        messages,
        events,
        timers,
    })
}

pub async fn timers(conn: &mut Conn, ticket_id: &str) -> Result<Vec<Timer>> {
    let rows = sqlx::query(
        "SELECT id, metric, started_at, target_minutes, due_at, paused_at, paused_total, met_at, breached_at \
         FROM sla_timers WHERE ticket_id = $1 ORDER BY metric",
    )
    .bind(ticket_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Timer {
                id: row.try_get(0)?,
                metric: row.try_get(1)?,
                started_at: row.try_get(2)?,
                target_minutes: row.try_get(3)?,
                due_at: row.try_get(4)?,
                paused_at: row.try_get(5)?,
                paused_total: row.try_get(6)?,
                met_at: row.try_get(7)?,
                breached_at: row.try_get(8)?,
            })
        })
        .collect()
}

async fn record(
    conn: &mut Conn,
    ticket_id: &str,
    actor: &Author,
    kind: &str,
    data: Value,
    at: Micros,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO ticket_events (id, ticket_id, actor, kind, data, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(ticket_id)
    .bind(actor.actor())
    .bind(kind)
    .bind(data.to_string())
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

async fn touch(conn: &mut Conn, ticket_id: &str, at: Micros) -> Result<()> {
    sqlx::query("UPDATE tickets SET updated_at = $2 WHERE id = $1")
        .bind(ticket_id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Checks that the device and the order named on a ticket are the member's.
async fn check_links(conn: &mut Conn, new: &NewTicket) -> Result<()> {
    if let Some(tag) = &new.service_tag {
        let owner: Option<Option<String>> =
            sqlx::query_scalar("SELECT member_id FROM devices WHERE service_tag = $1")
                .bind(tag)
                .fetch_optional(&mut *conn)
                .await?;
        let owner = owner.flatten();
        if owner.is_none() || owner != new.member_id {
            return Err(Error::invalid(
                "device_not_yours",
                "the device is not bound to this member",
            ));
        }
    }
    if let Some(order) = &new.order_id {
        let buyer: Option<Option<String>> =
            sqlx::query_scalar("SELECT member_id FROM orders WHERE id = $1")
                .bind(order)
                .fetch_optional(&mut *conn)
                .await?;
        let buyer = buyer.flatten();
        if buyer.is_none() || buyer != new.member_id {
            return Err(Error::invalid(
                "order_not_yours",
                "the order is not this member's",
            ));
        }
    }
    Ok(())
}

/// Opens a ticket with its first message, starts its SLA timers under the
/// default policy and emits `ticket.opened`.
pub async fn open(
    conn: &mut Conn,
    _backend: Backend,
    new: NewTicket,
    at: Micros,
) -> Result<Ticket> {
    if !KINDS.contains(&new.kind.as_str()) {
        return Err(Error::invalid(
            "invalid_ticket_kind",
            "kind must be pre_sales or after_sales",
        ));
    }
    if !CHANNELS.contains(&new.channel.as_str()) {
        return Err(Error::invalid(
            "invalid_channel",
            format!("channel must be one of {}", CHANNELS.join(", ")),
        ));
    }
    let subject = new.subject.trim();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT {
        return Err(Error::invalid(
            "invalid_subject",
            format!("a subject is 1 to {MAX_SUBJECT} characters"),
        ));
    }
    check_body(&new.body)?;
    let attachments = resolve_attachments(conn, &new.author, &new.attachments).await?;
    // Priority service is a tier benefit: the member's tickets start at
    // high priority (unless staff chose one) under the brand's priority
    // policy, if it has one.
    let priority_service = match &new.member_id {
        Some(member) => benefits::has_priority_service(conn, member).await?,
        None => false,
    };
    let priority = new
        .priority
        .clone()
        .unwrap_or_else(|| if priority_service { "high" } else { "normal" }.into());
    check_priority(&priority)?;
    if new.profile_id.is_empty() {
        return Err(Error::invalid(
            "invalid_profile",
            "a ticket needs its customer",
        ));
    }
    check_links(conn, &new).await?;
    if let Some(team) = &new.team_id {
        teams::get(conn, team)
            .await
            .map_err(|_| Error::invalid("unknown_team", format!("no team {team}")))?;
    }
    let status = statuses::first_of_kind(conn, "new").await?;
    let policy = policies::for_new_ticket(conn, priority_service).await?;
    let seq: i64 = sqlx::query_scalar(
        "UPDATE ticket_numbers SET next_value = next_value + 1 WHERE id = 1 RETURNING next_value - 1",
    )
    .fetch_one(&mut *conn)
    .await?;
    let id = new_id();
    let number = format!("T{seq}");
    sqlx::query(
        "INSERT INTO tickets (id, number, kind, subject, status, status_kind, priority, channel, profile_id, \
         member_id, service_tag, order_id, team_id, assignee_id, sla_policy_id, created_at, updated_at, priority_service) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, $14, $15, $15, $16)",
    )
    .bind(&id)
    .bind(&number)
    .bind(&new.kind)
    .bind(subject)
    .bind(&status.code)
    .bind(&status.kind)
    .bind(&priority)
    .bind(&new.channel)
    .bind(&new.profile_id)
    .bind(&new.member_id)
    .bind(&new.service_tag)
    .bind(&new.order_id)
    .bind(&new.team_id)
    .bind(policy.as_ref().map(|p| p.id.clone()))
    .bind(at)
    .bind(i64::from(priority_service))
    .execute(&mut *conn)
    .await?;
    if let Some(policy) = &policy {
        let calendar = policy.calendar()?;
        let target = policy.target(&priority)?;
        for (metric, minutes) in [
            ("first_response", target.first_response),
            ("resolution", target.resolution),
        ] {
            sqlx::query(
                "INSERT INTO sla_timers (id, ticket_id, metric, started_at, target_minutes, due_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new_id())
            .bind(&id)
            .bind(metric)
            .bind(at)
            .bind(minutes)
            .bind(calendar.add(at, minutes))
            .execute(&mut *conn)
            .await?;
        }
    }
    insert_message(conn, &id, &new.author, &new.body, false, &attachments, at).await?;
    record(
        conn,
        &id,
        &new.author,
        "opened",
        json!({"number": number, "kind": new.kind, "channel": new.channel, "priority": priority,
               "status": status.code, "priority_service": priority_service}),
        at,
    )
    .await?;
    emit(
        conn,
        &DomainEvent::new(
            "ticket.opened",
            new.profile_id.clone(),
            format!("ticket.opened:{id}"),
            json!({
                "ticket_id": id, "number": number, "kind": new.kind, "channel": new.channel,
                "subject": subject, "priority": priority, "service_tag": new.service_tag,
                "order_id": new.order_id,
            }),
            at,
        ),
    )
    .await?;
    get(conn, &id).await
}

async fn insert_message(
    conn: &mut Conn,
    ticket_id: &str,
    author: &Author,
    body: &str,
    internal: bool,
    attachments: &[Attachment],
    at: Micros,
) -> Result<Message> {
    let id = new_id();
    let attachments_json =
        serde_json::to_string(attachments).map_err(|e| Error::Internal(e.into()))?;
    sqlx::query(
        "INSERT INTO ticket_messages (id, ticket_id, author_kind, author_id, body, internal, attachments, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(ticket_id)
    .bind(author.kind())
    .bind(author.id())
    .bind(body)
    .bind(i64::from(internal))
    .bind(attachments_json)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    // Who may read an uploaded attachment follows the messages carrying it.
    for file_id in attachments.iter().filter_map(|a| files::id_in_url(&a.url)) {
        sqlx::query(
            "INSERT INTO ticket_files (file_id, ticket_id, message_id, internal) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (file_id, message_id) DO NOTHING",
        )
        .bind(file_id)
        .bind(ticket_id)
        .bind(&id)
        .bind(i64::from(internal))
        .execute(&mut *conn)
        .await?;
    }
    Ok(Message {
        id,
        author_kind: author.kind().into(),
        author_id: author.id().map(str::to_owned),
        body: body.to_owned(),
        internal,
        attachments: attachments.to_vec(),
        created_at: at,
    })
}

async fn calendar_of(conn: &mut Conn, ticket: &Ticket) -> Result<Option<(Policy, Calendar)>> {
    match &ticket.sla_policy_id {
        Some(id) => {
            let policy = policies::get(conn, id).await?;
            let calendar = policy.calendar()?;
            Ok(Some((policy, calendar)))
        }
        None => Ok(None),
    }
}

async fn timer(conn: &mut Conn, ticket_id: &str, metric: &str) -> Result<Option<Timer>> {
    Ok(timers(conn, ticket_id)
        .await?
        .into_iter()
        .find(|t| t.metric == metric))
}

async fn pause(conn: &mut Conn, ticket_id: &str, metric: &str, at: Micros) -> Result<()> {
    sqlx::query(
        "UPDATE sla_timers SET paused_at = $3 WHERE ticket_id = $1 AND metric = $2 \
         AND paused_at IS NULL AND met_at IS NULL",
    )
    .bind(ticket_id)
    .bind(metric)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends a pause: the due date moves by the business time spent paused.
async fn resume(
    conn: &mut Conn,
    calendar: &Calendar,
    ticket_id: &str,
    metric: &str,
    at: Micros,
) -> Result<()> {
    let Some(t) = timer(conn, ticket_id, metric).await? else {
        return Ok(());
    };
    let (Some(paused_at), None) = (t.paused_at, t.met_at) else {
        return Ok(());
    };
    let paused = calendar.minutes_between(paused_at, at);
    sqlx::query(
        "UPDATE sla_timers SET paused_at = NULL, paused_total = paused_total + $2, due_at = $3 WHERE id = $1",
    )
    .bind(&t.id)
    .bind(paused)
    .bind(calendar.add(t.due_at, paused))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn meet(conn: &mut Conn, ticket_id: &str, metric: &str, at: Micros) -> Result<()> {
    sqlx::query(
        "UPDATE sla_timers SET met_at = $3, paused_at = NULL WHERE ticket_id = $1 AND metric = $2 AND met_at IS NULL",
    )
    .bind(ticket_id)
    .bind(metric)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Restarts a met resolution timer (a solved ticket reopened): the time it
/// spent solved counts as a pause.
async fn unmeet(conn: &mut Conn, calendar: &Calendar, ticket_id: &str, at: Micros) -> Result<()> {
    let Some(t) = timer(conn, ticket_id, "resolution").await? else {
        return Ok(());
    };
    let Some(met_at) = t.met_at else {
        return Ok(());
    };
    let paused = calendar.minutes_between(met_at, at);
    sqlx::query(
        "UPDATE sla_timers SET met_at = NULL, paused_total = paused_total + $2, due_at = $3 WHERE id = $1",
    )
    .bind(&t.id)
    .bind(paused)
    .bind(calendar.add(t.due_at, paused))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves a locked ticket to `to`, driving the timers by the kinds.
async fn transition(
    conn: &mut Conn,
    ticket: &Ticket,
    to: &Status,
    actor: &Author,
    at: Micros,
) -> Result<()> {
    if ticket.status_kind == "closed" {
        return Err(Error::conflict(
            "ticket_closed",
            "a closed ticket cannot change; open a new one",
        ));
    }
    if ticket.status == to.code {
        return Ok(());
    }
    let from_kind = ticket.status_kind.as_str();
    let sla = calendar_of(conn, ticket).await?;
    if let Some((_, calendar)) = &sla {
        if from_kind == "pending" && to.kind != "pending" {
            resume(conn, calendar, &ticket.id, "resolution", at).await?;
        }
        if from_kind == "solved" && matches!(to.kind.as_str(), "new" | "open" | "pending") {
            unmeet(conn, calendar, &ticket.id, at).await?;
        }
    }
    match to.kind.as_str() {
        "pending" if from_kind != "pending" => pause(conn, &ticket.id, "resolution", at).await?,
        "solved" => meet(conn, &ticket.id, "resolution", at).await?,
        "closed" => {
            // Closing stops every clock: nothing is due on a closed ticket.
            meet(conn, &ticket.id, "resolution", at).await?;
            meet(conn, &ticket.id, "first_response", at).await?;
        }
        _ => {}
    }
    sqlx::query(
        "UPDATE tickets SET status = $2, status_kind = $3, updated_at = $4, \
         solved_at = CASE WHEN $3 = 'solved' THEN $4 WHEN $3 = 'closed' THEN solved_at ELSE NULL END, \
         closed_at = CASE WHEN $3 = 'closed' THEN $4 ELSE NULL END WHERE id = $1",
    )
    .bind(&ticket.id)
    .bind(&to.code)
    .bind(&to.kind)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let data = json!({
        "from": ticket.status, "from_kind": ticket.status_kind, "to": to.code, "to_kind": to.kind,
    });
    let event_id = record(conn, &ticket.id, actor, "status_changed", data, at).await?;
    emit(
        conn,
        &DomainEvent::new(
            "ticket.status_changed",
            ticket.profile_id.clone(),
            format!("ticket.status_changed:{event_id}"),
            json!({
                "ticket_id": ticket.id, "number": ticket.number, "subject": ticket.subject,
                "old_status": ticket.status, "old_kind": ticket.status_kind,
                "new_status": to.code, "new_kind": to.kind,
                "name_zh": to.name_zh, "name_en": to.name_en,
            }),
            at,
        ),
    )
    .await?;
    Ok(())
}

/// Changes the status. Pending kinds pause the resolution timer, leaving
/// them resumes it, solved meets it, closed is final.
pub async fn set_status(
    conn: &mut Conn,
    backend: Backend,
    ticket_id: &str,
    status: &str,
    actor: &Author,
    at: Micros,
) -> Result<Ticket> {
    let to = statuses::get(conn, status).await?;
    let ticket = lock(conn, backend, ticket_id).await?;
    transition(conn, &ticket, &to, actor, at).await?;
    get(conn, ticket_id).await
}

/// Adds a message. A customer's reply reopens a solved ticket; an agent's
/// first public reply meets the first-response timer and moves a new
/// ticket to open. Internal notes are for agents only and change no timer.
#[allow(clippy::too_many_arguments)]
pub async fn reply(
    conn: &mut Conn,
    backend: Backend,
    ticket_id: &str,
    author: &Author,
    body: &str,
    internal: bool,
    attachments: &[Attachment],
    at: Micros,
) -> Result<Message> {
    check_body(body)?;
    let attachments = &resolve_attachments(conn, author, attachments).await?;
    if internal && !matches!(author, Author::Agent { .. }) {
        return Err(Error::invalid(
            "internal_note_forbidden",
            "only agents write internal notes",
        ));
    }
    let ticket = lock(conn, backend, ticket_id).await?;
    if ticket.status_kind == "closed" {
        return Err(Error::conflict(
            "ticket_closed",
            "a closed ticket cannot change; open a new one",
        ));
    }
    let message = insert_message(conn, ticket_id, author, body, internal, attachments, at).await?;
    record(
        conn,
        ticket_id,
        author,
        if internal { "note_added" } else { "replied" },
        json!({"message_id": message.id, "author_kind": author.kind()}),
        at,
    )
    .await?;
    touch(conn, ticket_id, at).await?;
    if internal {
        return Ok(message);
    }
    match author {
        Author::Customer { .. } if ticket.status_kind == "solved" => {
            let open = statuses::first_of_kind(conn, "open").await?;
            transition(conn, &ticket, &open, author, at).await?;
        }
        Author::Agent { .. } => {
            if ticket.first_responded_at.is_none() {
                meet(conn, ticket_id, "first_response", at).await?;
                sqlx::query("UPDATE tickets SET first_responded_at = $2 WHERE id = $1")
                    .bind(ticket_id)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
            }
            if ticket.status_kind == "new" {
                let open = statuses::first_of_kind(conn, "open").await?;
                transition(conn, &ticket, &open, author, at).await?;
            }
        }
        _ => {}
    }
    emit(
        conn,
        &DomainEvent::new(
            "ticket.replied",
            ticket.profile_id.clone(),
            format!("ticket.replied:{}", message.id),
            json!({
                "ticket_id": ticket.id, "number": ticket.number, "subject": ticket.subject,
                "message_id": message.id, "author_kind": author.kind(),
            }),
            at,
        ),
    )
    .await?;
    Ok(message)
}

/// Assigns the ticket to an agent and/or a team (`None` clears). An agent
/// given with a team must be one of its members.
pub async fn assign(
    conn: &mut Conn,
    backend: Backend,
    ticket_id: &str,
    assignee_id: Option<&str>,
    team_id: Option<&str>,
    actor: &Author,
    at: Micros,
) -> Result<Ticket> {
    if let Some(user) = assignee_id {
        teams::require_user(conn, user).await?;
    }
    if let Some(team) = team_id {
        teams::get(conn, team)
            .await
            .map_err(|_| Error::invalid("unknown_team", format!("no team {team}")))?;
        if let Some(user) = assignee_id {
            if !teams::is_member(conn, team, user).await? {
                return Err(Error::invalid(
                    "assignee_not_in_team",
                    "the agent is not a member of the team",
                ));
            }
        }
    }
    let ticket = lock(conn, backend, ticket_id).await?;
    if ticket.status_kind == "closed" {
        return Err(Error::conflict(
            "ticket_closed",
            "a closed ticket cannot change; open a new one",
        ));
    }
    sqlx::query("UPDATE tickets SET assignee_id = $2, team_id = $3, updated_at = $4 WHERE id = $1")
        .bind(ticket_id)
        .bind(assignee_id)
        .bind(team_id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    record(
        conn,
        ticket_id,
        actor,
        "assigned",
        json!({
            "from_assignee": ticket.assignee_id, "to_assignee": assignee_id,
            "from_team": ticket.team_id, "to_team": team_id,
        }),
        at,
    )
    .await?;
    get(conn, ticket_id).await
}

/// Changes the priority; running timers get the new targets from their
/// start (plus the time they spent paused).
pub async fn set_priority(
    conn: &mut Conn,
    backend: Backend,
    ticket_id: &str,
    priority: &str,
    actor: &Author,
    at: Micros,
) -> Result<Ticket> {
    check_priority(priority)?;
    let ticket = lock(conn, backend, ticket_id).await?;
    if ticket.status_kind == "closed" {
        return Err(Error::conflict(
            "ticket_closed",
            "a closed ticket cannot change; open a new one",
        ));
    }
    if ticket.priority == priority {
        return Ok(ticket);
    }
    if let Some((policy, calendar)) = calendar_of(conn, &ticket).await? {
        let target = policy.target(priority)?;
        for t in timers(conn, ticket_id).await? {
            if t.met_at.is_some() {
                continue;
            }
            let minutes = if t.metric == "first_response" {
                target.first_response
            } else {
                target.resolution
            };
            sqlx::query("UPDATE sla_timers SET target_minutes = $2, due_at = $3 WHERE id = $1")
                .bind(&t.id)
                .bind(minutes)
                .bind(calendar.add(t.started_at, minutes + t.paused_total))
                .execute(&mut *conn)
                .await?;
        }
    }
    sqlx::query("UPDATE tickets SET priority = $2, updated_at = $3 WHERE id = $1")
        .bind(ticket_id)
        .bind(priority)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    record(
        conn,
        ticket_id,
        actor,
        "priority_changed",
        json!({"from": ticket.priority, "to": priority}),
        at,
    )
    .await?;
    get(conn, ticket_id).await
}

/// Records a breach for every running timer past due at `at`: once per
/// timer, however many checks run at the same time (the guarded update on
/// `breached_at` decides). Returns how many this call recorded.
pub async fn check_breaches(db: &Db, at: Micros) -> Result<u64> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sla_timers WHERE due_at <= $1 AND met_at IS NULL AND paused_at IS NULL \
         AND breached_at IS NULL ORDER BY due_at LIMIT 1000",
    )
    .bind(at)
    .fetch_all(db.pool())
    .await?;
    let mut recorded = 0;
    for timer_id in due {
        let mut tx = db.begin().await?;
        let won = sqlx::query(
            "UPDATE sla_timers SET breached_at = $2 WHERE id = $1 AND breached_at IS NULL \
             AND met_at IS NULL AND paused_at IS NULL AND due_at <= $2",
        )
        .bind(&timer_id)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !won {
            continue;
        }
        let row = sqlx::query(
            "SELECT s.ticket_id, s.metric, s.due_at, t.profile_id, t.number, t.priority \
             FROM sla_timers s JOIN tickets t ON t.id = s.ticket_id WHERE s.id = $1",
        )
        .bind(&timer_id)
        .fetch_one(&mut *tx)
        .await?;
        let ticket_id: String = row.try_get(0)?;
        let metric: String = row.try_get(1)?;
        let due_at: Micros = row.try_get(2)?;
        let profile_id: String = row.try_get(3)?;
        let number: String = row.try_get(4)?;
        let priority: String = row.try_get(5)?;
        sqlx::query(
            "INSERT INTO sla_breaches (id, timer_id, ticket_id, metric, due_at, breached_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(&timer_id)
        .bind(&ticket_id)
        .bind(&metric)
        .bind(due_at)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            &ticket_id,
            &Author::System,
            "sla_breached",
            json!({"metric": metric, "due_at": due_at}),
            at,
        )
        .await?;
        emit(
            &mut tx,
            &DomainEvent::new(
                "ticket.sla_breached",
                profile_id,
                format!("ticket.sla_breached:{timer_id}"),
                json!({"ticket_id": ticket_id, "number": number, "metric": metric, "due_at": due_at, "priority": priority}),
                at,
            ),
        )
        .await?;
        tx.commit().await?;
        recorded += 1;
    }
    Ok(recorded)
}
