//! What the customer sees of a visit: everything but the engineer's
//! contact, which shows only on the day of the visit (in the engineer's
//! time zone) once the service desk has dispatched them.

use super::appointments::{Appointment, Report};
use super::engineers::{self, Engineer};
use super::status::Status;
use crate::clock::Micros;
use crate::db::Conn;
use crate::error::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngineerContact {
    pub name: String,
    pub phone: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerAppointment {
    pub id: String,
    pub number: String,
    pub status: Status,
    pub service_tag: String,
    pub ticket_id: Option<String>,
    pub territory: String,
    pub address: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
    /// The IANA zone the visit's times are planned in.
    pub timezone: Option<String>,
    /// The engineer, on the day of the visit only.
    pub engineer: Option<EngineerContact>,
    pub report: Option<Report>,
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    /// Whether the customer may still move or cancel the visit.
    pub can_change: bool,
    /// Whether the customer may rate it now.
    pub can_rate: bool,
}

/// Whether `now` falls on the visit's local date in the engineer's zone.
pub fn on_the_day(engineer: &Engineer, starts_at: Micros, now: Micros) -> Result<bool> {
    let calendar = engineer.calendar()?;
    Ok(calendar.local_date(now) == calendar.local_date(starts_at))
}

/// The customer's view of `a` as of `now`.
pub async fn for_customer(
    conn: &mut Conn,
    a: Appointment,
    now: Micros,
) -> Result<CustomerAppointment> {
    let engineer = match &a.engineer_id {
        Some(id) => Some(engineers::get(conn, id).await?),
        None => None,
    };
    let mut contact = None;
    if let Some(e) = &engineer {
        if a.status.engineer_confirmed() && on_the_day(e, a.starts_at, now)? {
            contact = Some(EngineerContact {
                name: e.name.clone(),
                phone: e.phone.clone(),
            });
        }
    }
    Ok(CustomerAppointment {
        can_change: a.status.is_plannable() && a.starts_at > now,
        can_rate: a.status == Status::Completed && a.rated_at.is_none(),
        timezone: engineer.map(|e| e.timezone),
        engineer: contact,
        id: a.id,
        number: a.number,
        status: a.status,
        service_tag: a.service_tag,
        ticket_id: a.ticket_id,
        territory: a.territory,
        address: a.address,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        report: a.report,
        rating: a.rating,
        rating_comment: a.rating_comment,
    })
}
