//! On-site visits: booking into a slot (the engineer is picked under a lock
//! so the last slot is booked once), rescheduling, cancelling, dispatch,
//! the visit's progress, the completion report and the customer's rating.

use super::engineers::{self, Engineer};
use super::settings::{self, Scheduling};
use super::slots;
use super::status::Status;
use crate::access::{random_token, token_hash};
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::{Micros, MINUTE};
use crate::db::{new_id, Backend, Conn};
use crate::error::{Error, Result};
use crate::service::entitlements::Kind;
use crate::service::tickets::{self, Author, NewTicket};
use crate::service::{devices, ServiceTag};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

const MAX_ADDRESS: usize = 300;
const MAX_NOTES: usize = 2000;
const MAX_PARTS: usize = 50;

/// A part used on a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartUsed {
    pub part_number: String,
    /// What the part is, e.g. "Motherboard".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub qty: i64,
    /// The part's own serial (PPID), when it has one.
    #[serde(default)]
    pub serial: Option<String>,
}

/// What the engineer reports when the visit is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    #[serde(default)]
    pub parts: Vec<PartUsed>,
    pub notes: String,
}

impl Report {
    fn check(&self) -> Result<()> {
        if self.notes.trim().is_empty() || self.notes.chars().count() > MAX_NOTES {
            return Err(Error::invalid(
                "invalid_report",
                format!("a completion report has notes of 1 to {MAX_NOTES} characters"),
            ));
        }
        if self.parts.len() > MAX_PARTS {
            return Err(Error::invalid(
                "invalid_report",
                format!("at most {MAX_PARTS} parts per report"),
            ));
        }
        for p in &self.parts {
            let number = p.part_number.trim();
            let description_ok = p
                .description
                .as_deref()
                .is_none_or(|d| d.chars().count() <= 200);
            if number.is_empty()
                || number.len() > 40
                || !(1..=100).contains(&p.qty)
                || !description_ok
            {
                return Err(Error::invalid(
                    "invalid_part",
                    "a part has a part number (1–40 characters), a description of at most 200 characters and a quantity of 1 to 100",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Appointment {
    pub id: String,
    /// What the customer quotes, e.g. V200001.
    pub number: String,
    pub status: Status,
    pub profile_id: String,
    pub member_id: Option<String>,
    pub service_tag: String,
    pub ticket_id: Option<String>,
    pub territory: String,
    pub skill: Option<String>,
    pub address: String,
    pub engineer_id: Option<String>,
    pub engineer_name: Option<String>,
    pub starts_at: Micros,
    pub ends_at: Micros,
    /// A paid visit rather than one an on-site entitlement covers.
    pub billable: bool,
    pub report: Option<Report>,
    pub completed_at: Option<Micros>,
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

const COLUMNS: &str = "a.id, a.number, a.status, a.profile_id, a.member_id, a.service_tag, a.ticket_id, \
    a.territory, a.skill, a.address, a.engineer_id, e.name, a.starts_at, a.ends_at, a.billable, a.report, \
    a.completed_at, a.rating, a.rating_comment, a.rated_at, a.created_at, a.updated_at";
const FROM: &str = "field_appointments a LEFT JOIN field_engineers e ON e.id = a.engineer_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Appointment> {
    let billable: i64 = r.try_get(14)?;
    let report: Option<String> = r.try_get(15)?;
    Ok(Appointment {
        id: r.try_get(0)?,
        number: r.try_get(1)?,
        status: Status::parse(&r.try_get::<String, _>(2)?)?,
        profile_id: r.try_get(3)?,
        member_id: r.try_get(4)?,
        service_tag: r.try_get(5)?,
        ticket_id: r.try_get(6)?,
        territory: r.try_get(7)?,
        skill: r.try_get(8)?,
        address: r.try_get(9)?,
        engineer_id: r.try_get(10)?,
        engineer_name: r.try_get(11)?,
        starts_at: r.try_get(12)?,
        ends_at: r.try_get(13)?,
        billable: billable != 0,
        report: report.and_then(|s| serde_json::from_str(&s).ok()),
        completed_at: r.try_get(16)?,
        rating: r.try_get(17)?,
        rating_comment: r.try_get(18)?,
        rated_at: r.try_get(19)?,
        created_at: r.try_get(20)?,
        updated_at: r.try_get(21)?,
    })
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Appointment> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(Error::not_found("appointment")),
    }
}

/// The appointment a customer's link token opens.
pub async fn by_token(conn: &mut Conn, token: &str) -> Result<Appointment> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM field_appointments WHERE token_hash = $1")
            .bind(token_hash(token.trim()))
            .fetch_optional(&mut *conn)
            .await?;
    match id {
        Some(id) => get(conn, &id).await,
        None => Err(Error::not_found("appointment")),
    }
}

/// Filters of the dispatch board.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct Filter {
    /// Visits starting at or after (micros).
    pub from: Option<Micros>,
    /// Visits starting before (micros).
    pub to: Option<Micros>,
    pub status: Option<String>,
    /// An engineer id, or `none` for visits without one.
    pub engineer: Option<String>,
    /// The customer's profile (their own list).
    #[serde(skip)]
    pub profile_id: Option<String>,
    pub limit: Option<i64>,
}

pub async fn list(conn: &mut Conn, filter: &Filter) -> Result<Vec<Appointment>> {
    let mut sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE true");
    let mut texts: Vec<String> = Vec::new();
    let mut n = 0;
    let mut param = || {
        n += 1;
        format!("${n}")
    };
    let from_p = filter.from.map(|_| param());
    let to_p = filter.to.map(|_| param());
    if let Some(p) = &from_p {
        sql.push_str(&format!(" AND a.starts_at >= {p}"));
    }
    if let Some(p) = &to_p {
        sql.push_str(&format!(" AND a.starts_at < {p}"));
    }
    if let Some(s) = filter.status.as_deref().filter(|s| !s.is_empty()) {
        Status::parse(s)?;
        sql.push_str(&format!(" AND a.status = {}", param()));
        texts.push(s.to_owned());
    }
    match filter.engineer.as_deref() {
        Some("none") => sql.push_str(" AND a.engineer_id IS NULL"),
        Some(e) if !e.is_empty() => {
            sql.push_str(&format!(" AND a.engineer_id = {}", param()));
            texts.push(e.to_owned());
        }
        _ => {}
    }
    if let Some(p) = &filter.profile_id {
        sql.push_str(&format!(" AND a.profile_id = {}", param()));
        texts.push(p.clone());
    }
    let limit = filter.limit.unwrap_or(200).clamp(1, 1000);
    sql.push_str(&format!(" ORDER BY a.starts_at, a.id LIMIT {limit}"));
    let mut query = sqlx::query(&sql);
    if let Some(from) = filter.from {
        query = query.bind(from);
    }
    if let Some(to) = filter.to {
        query = query.bind(to);
    }
    for t in &texts {
        query = query.bind(t);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// Takes the engineer's row lock (PostgreSQL; SQLite has one writer) so that
/// the free-time check and the booking that follows cannot interleave with
/// another booking of the same engineer.
async fn lock_engineer(conn: &mut Conn, backend: Backend, engineer_id: &str) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT id FROM field_engineers WHERE id = $1 FOR UPDATE")
            .bind(engineer_id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A visit's time under the brand's scheduling rules.
#[derive(Debug, Clone, Copy)]
struct Planned {
    starts_at: Micros,
    ends_at: Micros,
    rules: Scheduling,
    /// A new time must be one of the engineer's slots; a visit already
    /// booked (perhaps under other rules) only needs them working then.
    on_grid: bool,
}

impl Planned {
    /// A new slot of the rules' length.
    fn slot(starts_at: Micros, rules: Scheduling) -> Self {
        Self {
            starts_at,
            ends_at: starts_at + rules.slot_minutes * MINUTE,
            rules,
            on_grid: true,
        }
    }

    fn ends_at(&self) -> Micros {
        self.ends_at
    }
}

/// Whether `engineer` can take a visit at `slot`, checked under the
/// engineer's lock.
async fn can_take(
    conn: &mut Conn,
    backend: Backend,
    engineer: &Engineer,
    slot: Planned,
    except: Option<&str>,
) -> Result<bool> {
    let calendar = engineer.calendar()?;
    let fits = if slot.on_grid {
        slots::offers(&calendar, slot.starts_at, &slot.rules)
    } else {
        slots::works_through(&calendar, slot.starts_at, slot.ends_at)
    };
    if !engineer.active || !fits {
        return Ok(false);
    }
    lock_engineer(conn, backend, &engineer.id).await?;
    let span = (slot.starts_at, slot.ends_at());
    Ok(!slots::busy(conn, &engineer.id, span, slot.rules.buffer_minutes, except).await?)
}

/// The first engineer of the territory (and skill) free for `slot`,
/// trying `prefer` first.
async fn pick_engineer(
    conn: &mut Conn,
    backend: Backend,
    territory: &str,
    skill: Option<&str>,
    slot: Planned,
    except: Option<&str>,
    prefer: Option<&str>,
) -> Result<Engineer> {
    let mut candidates = engineers::covering(conn, territory, skill).await?;
    if let Some(p) = prefer {
        // Stable: the preferred engineer first, the rest by id.
        candidates.sort_by_key(|e| e.id != p);
    }
    for engineer in candidates {
        if can_take(conn, backend, &engineer, slot, except).await? {
            return Ok(engineer);
        }
    }
    Err(Error::conflict(
        "slot_full",
        "no engineer is free in this slot any more; pick another",
    ))
}

/// What booking a visit takes. `billable` books a paid visit for a device
/// without on-site cover (staff only).
#[derive(Debug, Clone)]
pub struct Booking {
    pub service_tag: String,
    pub territory: String,
    pub skill: Option<String>,
    pub address: String,
    pub starts_at: Micros,
    /// An existing ticket of the customer's; a new one is opened otherwise.
    pub ticket_id: Option<String>,
    pub billable: bool,
    /// The customer; the device must be bound to `member_id`.
    pub profile_id: String,
    pub member_id: Option<String>,
    pub author: Author,
}

/// A booked visit with the customer's link token (shown only now).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Booked {
    pub appointment: Appointment,
    /// Opens `/a/{token}` without signing in; only its hash is stored.
    pub token: String,
}

async fn check_device(conn: &mut Conn, b: &Booking) -> Result<ServiceTag> {
    let tag = ServiceTag::parse(&b.service_tag)?;
    let device = devices::get(conn, &tag).await?;
    if device.member_id.is_none() || device.member_id != b.member_id {
        return Err(Error::invalid(
            "device_not_yours",
            "the device is not bound to this member",
        ));
    }
    if !b.billable {
        let covered = devices::entitlements(conn, &tag, b.starts_at)
            .await?
            .iter()
            .any(|e| e.kind == Kind::Onsite && e.active);
        if !covered {
            return Err(Error::invalid(
                "no_onsite_entitlement",
                "the device has no on-site cover on that day; the service desk can book a paid visit",
            ));
        }
    }
    Ok(tag)
}

async fn ticket_for(conn: &mut Conn, backend: Backend, b: &Booking, at: Micros) -> Result<String> {
    if let Some(id) = &b.ticket_id {
        let ticket = tickets::get(conn, id).await?;
        if ticket.profile_id != b.profile_id {
            return Err(Error::invalid(
                "ticket_not_yours",
                "the ticket is not this customer's",
            ));
        }
        return Ok(ticket.id);
    }
    let channel = match b.author {
        Author::Customer { .. } => "storefront",
        _ => "staff",
    };
    let ticket = tickets::open(
        conn,
        backend,
        NewTicket {
            kind: "after_sales".into(),
            subject: format!("On-site repair {}", b.service_tag.trim().to_uppercase()),
            body: format!(
                "On-site visit requested at {} ({}).",
                b.address.trim(),
                crate::clock::to_rfc3339(b.starts_at)
            ),
            priority: None,
            channel: channel.into(),
            profile_id: b.profile_id.clone(),
            member_id: b.member_id.clone(),
            service_tag: Some(b.service_tag.trim().to_uppercase()),
            order_id: None,
            team_id: None,
            attachments: Vec::new(),
            author: b.author.clone(),
        },
        at,
    )
    .await?;
    Ok(ticket.id)
}

/// Books a visit: checks the device and its cover, picks a free engineer
/// under lock, opens (or links) the ticket and emits `appointment.booked`.
pub async fn book(conn: &mut Conn, backend: Backend, b: Booking, now: Micros) -> Result<Booked> {
    let address = b.address.trim();
    if address.is_empty() || address.chars().count() > MAX_ADDRESS {
        return Err(Error::invalid(
            "invalid_address",
            format!("an address is 1 to {MAX_ADDRESS} characters"),
        ));
    }
    let rules = settings::load(conn).await?;
    slots::check_bookable(b.starts_at, now, &rules)?;
    let slot = Planned::slot(b.starts_at, rules);
    let (territory, skill) = slots::resolve(conn, &b.territory, b.skill.as_deref()).await?;
    let tag = check_device(conn, &b).await?;
    let engineer = pick_engineer(
        conn,
        backend,
        &territory,
        skill.as_deref(),
        slot,
        None,
        None,
    )
    .await?;
    let ticket_id = ticket_for(conn, backend, &b, now).await?;
    let seq: i64 = sqlx::query_scalar(
        "UPDATE field_appointment_numbers SET next_value = next_value + 1 WHERE id = 1 \
         RETURNING next_value - 1",
    )
    .fetch_one(&mut *conn)
    .await?;
    let id = new_id();
    let token = random_token();
    sqlx::query(
        "INSERT INTO field_appointments (id, number, status, profile_id, member_id, service_tag, ticket_id, \
         territory, skill, address, engineer_id, starts_at, ends_at, billable, token_hash, created_at, updated_at) \
         VALUES ($1, $2, 'scheduled', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
    )
    .bind(&id)
    .bind(format!("V{seq}"))
    .bind(&b.profile_id)
    .bind(&b.member_id)
    .bind(tag.as_str())
    .bind(&ticket_id)
    .bind(&territory)
    .bind(&skill)
    .bind(address)
    .bind(&engineer.id)
    .bind(b.starts_at)
    .bind(slot.ends_at())
    .bind(i64::from(b.billable))
    .bind(token_hash(&token))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let data =
        json!({"starts_at": b.starts_at, "engineer_id": engineer.id, "ticket_id": ticket_id});
    record(conn, &id, &b.author, None, Status::Scheduled, &data, now).await?;
    let appointment = get(conn, &id).await?;
    announce(conn, "appointment.booked", &id, &appointment, now).await?;
    Ok(Booked { appointment, token })
}

/// Locks and reads an appointment for a change.
async fn lock(conn: &mut Conn, backend: Backend, id: &str) -> Result<Appointment> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT id FROM field_appointments WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    get(conn, id).await
}

fn not_started(a: &Appointment, now: Micros) -> Result<()> {
    if a.starts_at <= now {
        return Err(Error::conflict(
            "appointment_past",
            "the visit has already started or passed; contact the service desk",
        ));
    }
    Ok(())
}

/// Moves a visit to another slot, keeping its engineer when they are free
/// then (otherwise it goes back to awaiting dispatch with another one).
pub async fn reschedule(
    conn: &mut Conn,
    backend: Backend,
    id: &str,
    starts_at: Micros,
    author: &Author,
    now: Micros,
) -> Result<Appointment> {
    let a = lock(conn, backend, id).await?;
    if !a.status.is_plannable() {
        return Err(Error::conflict(
            "not_reschedulable",
            format!("a {} visit cannot be rescheduled", a.status.as_str()),
        ));
    }
    not_started(&a, now)?;
    let rules = settings::load(conn).await?;
    slots::check_bookable(starts_at, now, &rules)?;
    let slot = Planned::slot(starts_at, rules);
    if starts_at == a.starts_at {
        return Err(Error::invalid(
            "same_slot",
            "the visit is already in that slot",
        ));
    }
    let engineer = pick_engineer(
        conn,
        backend,
        &a.territory,
        a.skill.as_deref(),
        slot,
        Some(id),
        a.engineer_id.as_deref(),
    )
    .await?;
    let status = if Some(&engineer.id) == a.engineer_id.as_ref() {
        a.status
    } else {
        Status::Scheduled
    };
    let n = sqlx::query(
        "UPDATE field_appointments SET starts_at = $2, ends_at = $3, engineer_id = $4, status = $5, \
         updated_at = $6 WHERE id = $1 AND status = $7",
    )
    .bind(id)
    .bind(starts_at)
    .bind(slot.ends_at())
    .bind(&engineer.id)
    .bind(status.as_str())
    .bind(now)
    .bind(a.status.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(changed());
    }
    let data = json!({
        "from_starts_at": a.starts_at, "to_starts_at": starts_at,
        "from_engineer_id": a.engineer_id, "to_engineer_id": engineer.id,
    });
    let event = record(conn, id, author, Some(a.status), status, &data, now).await?;
    let appointment = get(conn, id).await?;
    announce(conn, "appointment.rescheduled", &event, &appointment, now).await?;
    Ok(appointment)
}

fn changed() -> Error {
    Error::conflict(
        "appointment_changed",
        "the appointment changed meanwhile; reload it",
    )
}

/// Moves the status with a conditional update and records the move.
async fn move_to(
    conn: &mut Conn,
    a: &Appointment,
    to: Status,
    author: &Author,
    data: &Value,
    now: Micros,
) -> Result<String> {
    a.status.check_move(to)?;
    let n = sqlx::query(
        "UPDATE field_appointments SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4",
    )
    .bind(&a.id)
    .bind(to.as_str())
    .bind(now)
    .bind(a.status.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(changed());
    }
    record(conn, &a.id, author, Some(a.status), to, data, now).await
}

/// Cancels a visit. Customers can cancel only before it starts.
pub async fn cancel(
    conn: &mut Conn,
    backend: Backend,
    id: &str,
    author: &Author,
    reason: Option<&str>,
    now: Micros,
) -> Result<Appointment> {
    let a = lock(conn, backend, id).await?;
    if matches!(author, Author::Customer { .. }) {
        not_started(&a, now)?;
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let data = json!({"reason": reason});
    move_to(conn, &a, Status::Cancelled, author, &data, now).await?;
    let appointment = get(conn, id).await?;
    announce(conn, "appointment.cancelled", id, &appointment, now).await?;
    Ok(appointment)
}

/// The service desk confirms (or reassigns) the engineer of a visit.
pub async fn dispatch(
    conn: &mut Conn,
    backend: Backend,
    id: &str,
    engineer_id: &str,
    author: &Author,
    now: Micros,
) -> Result<Appointment> {
    let engineer = engineers::get(conn, engineer_id)
        .await
        .map_err(|_| Error::invalid("unknown_engineer", format!("no engineer {engineer_id}")))?;
    let a = lock(conn, backend, id).await?;
    if !a.status.is_plannable() {
        return Err(Error::conflict(
            "illegal_transition",
            format!("a {} visit cannot be dispatched", a.status.as_str()),
        ));
    }
    let covers = engineer.territories.contains(&a.territory)
        && a.skill.as_ref().is_none_or(|s| engineer.skills.contains(s));
    if !covers {
        return Err(Error::invalid(
            "engineer_not_qualified",
            format!(
                "{} does not cover {} for this repair",
                engineer.name, a.territory
            ),
        ));
    }
    let booked = Planned {
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        rules: settings::load(conn).await?,
        on_grid: false,
    };
    if !can_take(conn, backend, &engineer, booked, Some(id)).await? {
        return Err(Error::conflict(
            "engineer_unavailable",
            format!("{} is not free at that time", engineer.name),
        ));
    }
    // Any plannable visit may be (re)dispatched: requested and scheduled ones
    // get their engineer, dispatched ones change it.
    let to = Status::Dispatched;
    let n = sqlx::query(
        "UPDATE field_appointments SET engineer_id = $2, status = 'dispatched', updated_at = $3 \
         WHERE id = $1 AND status = $4",
    )
    .bind(id)
    .bind(&engineer.id)
    .bind(now)
    .bind(a.status.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(changed());
    }
    let data = json!({"from_engineer_id": a.engineer_id, "to_engineer_id": engineer.id});
    let event = record(conn, id, author, Some(a.status), to, &data, now).await?;
    let appointment = get(conn, id).await?;
    announce(conn, "appointment.dispatched", &event, &appointment, now).await?;
    Ok(appointment)
}

/// The visit's progress on the day: en route, on site, no show.
pub async fn progress(
    conn: &mut Conn,
    backend: Backend,
    id: &str,
    to: Status,
    author: &Author,
    now: Micros,
) -> Result<Appointment> {
    if !matches!(to, Status::EnRoute | Status::OnSite | Status::NoShow) {
        return Err(Error::invalid(
            "invalid_progress",
            "progress is en_route, on_site or no_show; use dispatch, complete or cancel for the rest",
        ));
    }
    let a = lock(conn, backend, id).await?;
    move_to(conn, &a, to, author, &json!({}), now).await?;
    get(conn, id).await
}

/// Closes the visit with the engineer's report and emits `appointment.completed`.
pub async fn complete(
    conn: &mut Conn,
    backend: Backend,
    id: &str,
    report: &Report,
    author: &Author,
    now: Micros,
) -> Result<Appointment> {
    report.check()?;
    let a = lock(conn, backend, id).await?;
    let json = serde_json::to_string(report).map_err(|e| Error::Internal(e.into()))?;
    move_to(conn, &a, Status::Completed, author, &json!({}), now).await?;
    sqlx::query("UPDATE field_appointments SET report = $2, completed_at = $3 WHERE id = $1")
        .bind(id)
        .bind(json)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let appointment = get(conn, id).await?;
    announce(conn, "appointment.completed", id, &appointment, now).await?;
    Ok(appointment)
}

/// The customer's 1–5 rating of a completed visit, accepted once.
pub async fn rate(
    conn: &mut Conn,
    id: &str,
    rating: i64,
    comment: Option<&str>,
    now: Micros,
) -> Result<Appointment> {
    if !(1..=5).contains(&rating) {
        return Err(Error::invalid("invalid_rating", "a rating is 1 to 5 stars"));
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > MAX_NOTES) {
        return Err(Error::invalid(
            "invalid_rating",
            format!("a comment is at most {MAX_NOTES} characters"),
        ));
    }
    let n = sqlx::query(
        "UPDATE field_appointments SET rating = $2, rating_comment = $3, rated_at = $4 \
         WHERE id = $1 AND status = 'completed' AND rated_at IS NULL",
    )
    .bind(id)
    .bind(rating)
    .bind(comment)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let a = get(conn, id).await?;
    if n != 1 {
        return Err(if a.status != Status::Completed {
            Error::conflict("not_completed", "only a completed visit can be rated")
        } else {
            Error::conflict("already_rated", "this visit was already rated")
        });
    }
    announce(conn, "appointment.rated", id, &a, now).await?;
    Ok(a)
}

/// One recorded status change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Transition {
    pub actor: String,
    pub from_status: Option<String>,
    pub to_status: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub at: Micros,
}

async fn record(
    conn: &mut Conn,
    appointment_id: &str,
    author: &Author,
    from: Option<Status>,
    to: Status,
    data: &Value,
    at: Micros,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO field_appointment_events (id, appointment_id, actor, from_status, to_status, data, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(appointment_id)
    .bind(author.actor())
    .bind(from.map(Status::as_str))
    .bind(to.as_str())
    .bind(data.to_string())
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn history(conn: &mut Conn, id: &str) -> Result<Vec<Transition>> {
    let rows = sqlx::query(
        "SELECT actor, from_status, to_status, data, at FROM field_appointment_events \
         WHERE appointment_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let data: String = r.try_get(3)?;
            Ok(Transition {
                actor: r.try_get(0)?,
                from_status: r.try_get(1)?,
                to_status: r.try_get(2)?,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
                at: r.try_get(4)?,
            })
        })
        .collect()
}

/// Emits a domain event about the visit; `key` makes it unique.
async fn announce(
    conn: &mut Conn,
    name: &str,
    key: &str,
    a: &Appointment,
    at: Micros,
) -> Result<()> {
    emit(
        conn,
        &DomainEvent::new(
            name,
            a.profile_id.clone(),
            format!("{name}:{key}"),
            json!({
                "appointment_id": a.id, "number": a.number, "status": a.status.as_str(),
                "service_tag": a.service_tag, "ticket_id": a.ticket_id, "territory": a.territory,
                "starts_at": a.starts_at, "engineer_id": a.engineer_id, "rating": a.rating,
            }),
            at,
        ),
    )
    .await?;
    Ok(())
}
