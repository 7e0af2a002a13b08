//! SLA policies: first-response and resolution targets per priority, in
//! business minutes of the policy's calendar.

use super::sla::Calendar;
use crate::clock::Micros;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

pub const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = SlaTarget)]
pub struct Target {
    /// Business minutes to the first public reply of an agent.
    pub first_response: i64,
    /// Business minutes to solved, not counting pauses.
    pub resolution: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = SlaPolicy)]
pub struct Policy {
    #[serde(default)]
    pub id: String,
    pub code: String,
    pub name: String,
    /// Targets per priority: low, normal, high, urgent (all four).
    pub targets: BTreeMap<String, Target>,
    pub timezone: String,
    /// ISO weekdays, 1 = Monday.
    pub working_days: Vec<u32>,
    /// Minutes after local midnight, e.g. 540 for 09:00.
    pub day_start_minute: u32,
    pub day_end_minute: u32,
    /// Local dates "YYYY-MM-DD".
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub is_default: bool,
    /// The policy for tickets of members whose tier has priority service
    /// (at most one; without it they get the default policy).
    #[serde(default)]
    pub for_priority_service: bool,
}

impl Policy {
    pub fn calendar(&self) -> Result<Calendar> {
        Calendar::new(
            &self.timezone,
            &self.working_days,
            self.day_start_minute,
            self.day_end_minute,
            &self.holidays,
        )
    }

    pub fn target(&self, priority: &str) -> Result<Target> {
        self.targets.get(priority).copied().ok_or_else(|| {
            Error::invalid(
                "invalid_priority",
                format!("no SLA target for priority {priority:?}"),
            )
        })
    }

    fn validate(&self) -> Result<()> {
        self.calendar()?;
        if self.code.trim().is_empty() || self.name.trim().is_empty() {
            return Err(Error::invalid(
                "invalid_policy",
                "a policy needs a code and a name",
            ));
        }
        for p in PRIORITIES {
            let t = self.targets.get(*p).ok_or_else(|| {
                Error::invalid(
                    "invalid_targets",
                    format!("targets need every priority: missing {p}"),
                )
            })?;
            if t.first_response <= 0 || t.resolution <= 0 || t.first_response > t.resolution {
                return Err(Error::invalid(
                    "invalid_targets",
                    format!("{p}: targets are positive minutes, first response no later than resolution"),
                ));
            }
        }
        if self.targets.len() != PRIORITIES.len() {
            return Err(Error::invalid(
                "invalid_targets",
                "targets are for low, normal, high and urgent only",
            ));
        }
        Ok(())
    }
}

const COLUMNS: &str = "id, code, name, targets, timezone, working_days, day_start_minute, day_end_minute, holidays, is_default, for_priority_service";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Policy> {
    let targets: String = row.try_get(3)?;
    let days: String = row.try_get(5)?;
    let holidays: String = row.try_get(8)?;
    let start: i64 = row.try_get(6)?;
    let end: i64 = row.try_get(7)?;
    let is_default: i64 = row.try_get(9)?;
    let for_priority_service: i64 = row.try_get(10)?;
    Ok(Policy {
        id: row.try_get(0)?,
        code: row.try_get(1)?,
        name: row.try_get(2)?,
        targets: serde_json::from_str(&targets).map_err(|e| Error::Internal(e.into()))?,
        timezone: row.try_get(4)?,
        working_days: days
            .split(',')
            .filter_map(|d| d.trim().parse().ok())
            .collect(),
        day_start_minute: u32::try_from(start).unwrap_or(0),
        day_end_minute: u32::try_from(end).unwrap_or(0),
        holidays: serde_json::from_str(&holidays).map_err(|e| Error::Internal(e.into()))?,
        is_default: is_default != 0,
        for_priority_service: for_priority_service != 0,
    })
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Policy>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM sla_policies ORDER BY code"))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Policy> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sla_policies WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => from_row(&row),
        None => Err(Error::not_found("sla_policy")),
    }
}

/// The policy new tickets get.
pub async fn default_policy(conn: &mut Conn) -> Result<Option<Policy>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sla_policies WHERE is_default = 1 ORDER BY code LIMIT 1"
    ))
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The policy a new ticket gets: the priority-service policy for a member
/// entitled to it, when the brand has one; the default otherwise.
pub async fn for_new_ticket(conn: &mut Conn, priority_service: bool) -> Result<Option<Policy>> {
    if priority_service {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sla_policies WHERE for_priority_service = 1 ORDER BY code LIMIT 1"
        ))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            return from_row(&row).map(Some);
        }
    }
    default_policy(conn).await
}

/// Creates a policy or replaces the one with the same code. Existing tickets
/// keep the due dates they were given.
pub async fn upsert(conn: &mut Conn, policy: &Policy, at: Micros) -> Result<Policy> {
    policy.validate()?;
    let targets = serde_json::to_string(&policy.targets).map_err(|e| Error::Internal(e.into()))?;
    let holidays =
        serde_json::to_string(&policy.holidays).map_err(|e| Error::Internal(e.into()))?;
    let mut days = policy.working_days.clone();
    days.sort_unstable();
    days.dedup();
    let days = days
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM sla_policies WHERE code = $1")
            .bind(policy.code.trim())
            .fetch_optional(&mut *conn)
            .await?;
    if policy.is_default {
        sqlx::query("UPDATE sla_policies SET is_default = 0 WHERE is_default = 1")
            .execute(&mut *conn)
            .await?;
    }
    if policy.for_priority_service {
        sqlx::query(
            "UPDATE sla_policies SET for_priority_service = 0 WHERE for_priority_service = 1",
        )
        .execute(&mut *conn)
        .await?;
    }
    let id = existing.unwrap_or_else(new_id);
    sqlx::query(
        "INSERT INTO sla_policies (id, code, name, targets, timezone, working_days, day_start_minute, \
         day_end_minute, holidays, is_default, for_priority_service, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $11, $11) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, targets = excluded.targets, \
         timezone = excluded.timezone, working_days = excluded.working_days, \
         day_start_minute = excluded.day_start_minute, day_end_minute = excluded.day_end_minute, \
         holidays = excluded.holidays, is_default = excluded.is_default, \
         for_priority_service = excluded.for_priority_service, updated_at = excluded.updated_at",
    )
    .bind(&id)
    .bind(policy.code.trim())
    .bind(policy.name.trim())
    .bind(targets)
    .bind(&policy.timezone)
    .bind(days)
    .bind(i64::from(policy.day_start_minute))
    .bind(i64::from(policy.day_end_minute))
    .bind(holidays)
    .bind(i64::from(policy.is_default))
    .bind(at)
    .bind(i64::from(policy.for_priority_service))
    .execute(&mut *conn)
    .await?;
    get(conn, &id).await
}
