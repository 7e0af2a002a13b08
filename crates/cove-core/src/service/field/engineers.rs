//! Field engineers: who goes on site, what they can repair (skills), where
//! they go (territories) and when they work (a weekly plan in their time
//! zone minus days off).

use crate::clock::Micros;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use crate::service::tickets::sla::Calendar;
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Engineer {
    pub id: String,
    pub code: String,
    pub name: String,
    pub phone: String,
    pub skills: Vec<String>,
    /// Region or city codes the engineer covers, e.g. SH.
    pub territories: Vec<String>,
    pub timezone: String,
    /// ISO weekdays, 1 = Monday.
    pub working_days: Vec<u32>,
    /// Minutes after local midnight.
    pub day_start_minute: u32,
    pub day_end_minute: u32,
    /// Local dates (YYYY-MM-DD) off work: leave, public holidays.
    pub days_off: Vec<String>,
    pub active: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Engineer {
    /// The working plan as a calendar (days off are its holidays).
    pub fn calendar(&self) -> Result<Calendar> {
        Calendar::new(
            &self.timezone,
            &self.working_days,
            self.day_start_minute,
            self.day_end_minute,
            &self.days_off,
        )
    }
}

/// What creating or replacing an engineer takes.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct EngineerInput {
    pub code: String,
    pub name: String,
    pub phone: String,
    pub skills: Vec<String>,
    pub territories: Vec<String>,
    pub timezone: String,
    pub working_days: Vec<u32>,
    pub day_start_minute: u32,
    pub day_end_minute: u32,
    #[serde(default)]
    pub days_off: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A skill or territory code: 1–32 letters, digits, `-` or `_`, kept as upper
/// case for territories and lower case for skills.
fn codes(values: &[String], upper: bool, what: &'static str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let v = v.trim();
        let ok = (1..=32).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(Error::invalid(
                what,
                format!("{v:?} is not a code (1–32 letters, digits, - or _)"),
            ));
        }
        let v = if upper {
            v.to_ascii_uppercase()
        } else {
            v.to_ascii_lowercase()
        };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// A territory code as stored (upper case).
pub fn territory_code(raw: &str) -> Result<String> {
    let mut v = codes(&[raw.to_owned()], true, "invalid_territory")?;
    v.pop()
        .ok_or_else(|| Error::invalid("invalid_territory", "a territory is required"))
}

/// A skill code as stored (lower case).
pub fn skill_code(raw: &str) -> Result<String> {
    let mut v = codes(&[raw.to_owned()], false, "invalid_skill")?;
    v.pop()
        .ok_or_else(|| Error::invalid("invalid_skill", "a skill is required"))
}

struct Checked {
    skills: Vec<String>,
    territories: Vec<String>,
}

fn check(input: &EngineerInput) -> Result<Checked> {
    let code_ok = (1..=32).contains(&input.code.trim().len());
    if !code_ok || input.name.trim().is_empty() || input.name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_engineer",
            "an engineer has a code (1–32 characters) and a name (1–100 characters)",
        ));
    }
    let phone = input.phone.trim();
    if phone.len() < 5
        || phone.len() > 20
        || !phone
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+- ".contains(&b))
    {
        return Err(Error::invalid(
            "invalid_phone",
            "a phone number is 5–20 digits, spaces, + or -",
        ));
    }
    let skills = codes(&input.skills, false, "invalid_skill")?;
    let territories = codes(&input.territories, true, "invalid_territory")?;
    if skills.is_empty() || territories.is_empty() {
        return Err(Error::invalid(
            "invalid_engineer",
            "an engineer needs at least one skill and one territory",
        ));
    }
    Calendar::new(
        &input.timezone,
        &input.working_days,
        input.day_start_minute,
        input.day_end_minute,
        &input.days_off,
    )?;
    Ok(Checked {
        skills,
        territories,
    })
}

fn days_text(days: &[u32]) -> String {
    days.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds an engineer's columns as $1 (id) to $13 (time) in table order.
fn bind_input<'q>(
    query: Query<'q>,
    id: &str,
    input: &EngineerInput,
    c: &Checked,
    at: Micros,
) -> Query<'q> {
    query
        .bind(id.to_owned())
        .bind(input.code.trim().to_owned())
        .bind(input.name.trim().to_owned())
        .bind(input.phone.trim().to_owned())
        .bind(c.skills.join(","))
        .bind(c.territories.join(","))
        .bind(input.timezone.clone())
        .bind(days_text(&input.working_days))
        .bind(i64::from(input.day_start_minute))
        .bind(i64::from(input.day_end_minute))
        .bind(serde_json::Value::from(input.days_off.clone()).to_string())
        .bind(i64::from(input.active))
        .bind(at)
}

fn code_taken(e: sqlx::Error, input: &EngineerInput) -> Error {
    match Error::from(e) {
        Error::Conflict { .. } => Error::conflict(
            "engineer_code_taken",
            format!("an engineer with code {} exists", input.code.trim()),
        ),
        other => other,
    }
}

pub async fn create(conn: &mut Conn, input: &EngineerInput, at: Micros) -> Result<Engineer> {
    let c = check(input)?;
    let id = new_id();
    bind_input(
        sqlx::query(
            "INSERT INTO field_engineers (id, code, name, phone, skills, territories, timezone, working_days, \
             day_start_minute, day_end_minute, days_off, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        ),
        &id,
        input,
        &c,
        at,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| code_taken(e, input))?;
    get(conn, &id).await
}

/// Replaces an engineer's details. Booked appointments stay where they are.
pub async fn update(
    conn: &mut Conn,
    id: &str,
    input: &EngineerInput,
    at: Micros,
) -> Result<Engineer> {
    let c = check(input)?;
    get(conn, id).await?;
    bind_input(
        sqlx::query(
            "UPDATE field_engineers SET code = $2, name = $3, phone = $4, skills = $5, territories = $6, \
             timezone = $7, working_days = $8, day_start_minute = $9, day_end_minute = $10, days_off = $11, \
             active = $12, updated_at = $13 WHERE id = $1",
        ),
        id,
        input,
        &c,
        at,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| code_taken(e, input))?;
    get(conn, id).await
}

const COLUMNS: &str = "id, code, name, phone, skills, territories, timezone, working_days, \
    day_start_minute, day_end_minute, days_off, active, created_at, updated_at";

fn split(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Engineer> {
    let int = |i: usize| -> Result<u32> {
        let v: i64 = r.try_get(i)?;
        u32::try_from(v).map_err(|e| Error::Internal(e.into()))
    };
    let days: String = r.try_get(7)?;
    let days_off: String = r.try_get(10)?;
    let active: i64 = r.try_get(11)?;
    Ok(Engineer {
        id: r.try_get(0)?,
        code: r.try_get(1)?,
        name: r.try_get(2)?,
        phone: r.try_get(3)?,
        skills: split(&r.try_get::<String, _>(4)?),
        territories: split(&r.try_get::<String, _>(5)?),
        timezone: r.try_get(6)?,
        working_days: days.split(',').filter_map(|d| d.parse().ok()).collect(),
        day_start_minute: int(8)?,
        day_end_minute: int(9)?,
        days_off: serde_json::from_str(&days_off).unwrap_or_default(),
        active: active != 0,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
    })
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Engineer> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM field_engineers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(Error::not_found("engineer")),
    }
}

/// All engineers, by code.
pub async fn list(conn: &mut Conn) -> Result<Vec<Engineer>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM field_engineers ORDER BY code"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Active engineers covering `territory` (and `skill`, when given), by id so
/// that locks are always taken in the same order.
pub async fn covering(
    conn: &mut Conn,
    territory: &str,
    skill: Option<&str>,
) -> Result<Vec<Engineer>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM field_engineers WHERE active = 1 ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let e = from_row(r)?;
        let in_territory = e.territories.iter().any(|t| t == territory);
        let skilled = skill.is_none_or(|s| e.skills.iter().any(|k| k == s));
        if in_territory && skilled {
            out.push(e);
        }
    }
    Ok(out)
}

/// Whether any active engineer covers the territory at all.
pub async fn territory_known(conn: &mut Conn, territory: &str) -> Result<bool> {
    Ok(!covering(conn, territory, None).await?.is_empty())
}
