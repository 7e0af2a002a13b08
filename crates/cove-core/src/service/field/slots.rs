//! Appointment slots: each engineer's working day is cut into visits of a
//! fixed length separated by a travel buffer; a slot is offered for a
//! territory (and skill) while at least one engineer covering it is free,
//! and its capacity is how many are.

use super::engineers::{self, Engineer};
use crate::clock::{Micros, DAY, MINUTE};
use crate::db::Conn;
use crate::error::{Error, Result};
use crate::service::tickets::sla::Calendar;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a visit is booked for.
pub const SLOT_MINUTES: i64 = 120;
/// Travel time kept free between two visits of one engineer.
pub const BUFFER_MINUTES: i64 = 30;
/// How soon a visit may start after it is booked or moved.
pub const LEAD_MINUTES: i64 = 120;
/// How far ahead visits can be booked.
pub const HORIZON_DAYS: i64 = 60;
/// The longest date range one slot query covers.
pub const MAX_RANGE_DAYS: u64 = 31;

/// Appointments in these statuses hold their engineer's time.
pub(crate) const HOLDING: &str = "status NOT IN ('cancelled', 'no_show')";

/// Visit start instants of one local date in an engineer's plan.
pub fn starts_on(calendar: &Calendar, date: NaiveDate) -> Vec<Micros> {
    let Some((start, end)) = calendar.window(date) else {
        return Vec::new();
    };
    let step = (SLOT_MINUTES + BUFFER_MINUTES) * MINUTE;
    let mut out = Vec::new();
    let mut at = start;
    while at + SLOT_MINUTES * MINUTE <= end {
        out.push(at);
        at += step;
    }
    out
}

/// Whether `starts_at` is one of the engineer's visit starts.
pub fn offers(calendar: &Calendar, starts_at: Micros) -> bool {
    starts_on(calendar, calendar.local_date(starts_at)).contains(&starts_at)
}

/// Refuses a start too soon or too far ahead.
pub fn check_bookable(starts_at: Micros, now: Micros) -> Result<()> {
    if starts_at < now + LEAD_MINUTES * MINUTE {
        return Err(Error::invalid(
            "slot_too_soon",
            format!("a visit must start at least {LEAD_MINUTES} minutes from now"),
        ));
    }
    if starts_at > now + HORIZON_DAYS * DAY {
        return Err(Error::invalid(
            "slot_too_far",
            format!("visits can be booked up to {HORIZON_DAYS} days ahead"),
        ));
    }
    Ok(())
}

/// Whether the engineer has a visit within the buffer of `[starts_at, ends_at)`
/// (other than `except`).
pub async fn busy(
    conn: &mut Conn,
    engineer_id: &str,
    starts_at: Micros,
    ends_at: Micros,
    except: Option<&str>,
) -> Result<bool> {
    let buffer = BUFFER_MINUTES * MINUTE;
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM field_appointments WHERE engineer_id = $1 AND {HOLDING} \
         AND starts_at < $2 AND ends_at > $3 AND id <> $4"
    ))
    .bind(engineer_id)
    .bind(ends_at + buffer)
    .bind(starts_at - buffer)
    .bind(except.unwrap_or(""))
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct SlotQuery {
    /// Region or city code, e.g. SH.
    pub territory: String,
    /// A skill the visit needs (any engineer of the territory when absent).
    pub skill: Option<String>,
    /// First local date, YYYY-MM-DD.
    pub from: String,
    /// Last local date, YYYY-MM-DD (at most 31 days after `from`).
    pub to: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Slot {
    pub starts_at: Micros,
    pub ends_at: Micros,
    /// How many engineers are free for it.
    pub capacity: i64,
}

fn date(raw: &str, field: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
        Error::invalid(
            "invalid_date",
            format!("{field} must be a YYYY-MM-DD date, got {raw:?}"),
        )
    })
}

/// The territory and skill codes of a query, refusing a territory no active
/// engineer covers.
pub async fn resolve(
    conn: &mut Conn,
    territory: &str,
    skill: Option<&str>,
) -> Result<(String, Option<String>)> {
    let territory = engineers::territory_code(territory)?;
    let skill = skill
        .filter(|s| !s.trim().is_empty())
        .map(engineers::skill_code)
        .transpose()?;
    if !engineers::territory_known(conn, &territory).await? {
        return Err(Error::invalid(
            "unknown_territory",
            format!("no engineer covers territory {territory}"),
        ));
    }
    Ok((territory, skill))
}

/// Free slots of a territory between two local dates, earliest first.
pub async fn available(conn: &mut Conn, query: &SlotQuery, now: Micros) -> Result<Vec<Slot>> {
    let from = date(&query.from, "from")?;
    let to = date(&query.to, "to")?;
    if to < from {
        return Err(Error::invalid(
            "invalid_date_range",
            "the last date comes before the first",
        ));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS as i64 {
        return Err(Error::invalid(
            "invalid_date_range",
            format!("ask for at most {MAX_RANGE_DAYS} days at a time"),
        ));
    }
    let (territory, skill) = resolve(conn, &query.territory, query.skill.as_deref()).await?;
    let mut capacity: BTreeMap<Micros, i64> = BTreeMap::new();
    for engineer in engineers::covering(conn, &territory, skill.as_deref()).await? {
        for starts_at in engineer_starts(&engineer, from, to)? {
            if check_bookable(starts_at, now).is_err() {
                continue;
            }
            let ends_at = starts_at + SLOT_MINUTES * MINUTE;
            if !busy(conn, &engineer.id, starts_at, ends_at, None).await? {
                *capacity.entry(starts_at).or_default() += 1;
            }
        }
    }
    Ok(capacity
        .into_iter()
        .map(|(starts_at, capacity)| Slot {
            starts_at,
            ends_at: starts_at + SLOT_MINUTES * MINUTE,
            capacity,
        })
        .collect())
}

/// Every visit start of an engineer over local dates `from..=to`.
fn engineer_starts(engineer: &Engineer, from: NaiveDate, to: NaiveDate) -> Result<Vec<Micros>> {
    let calendar = engineer.calendar()?;
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        out.extend(starts_on(&calendar, day));
        day = match day.checked_add_days(Days::new(1)) {
            Some(d) => d,
            None => break,
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shanghai_9_to_18() -> Calendar {
        Calendar::new(
            "Asia/Shanghai",
            &[1, 2, 3, 4, 5],
            540,
            1080,
            &["2026-12-25".into()],
        )
        .unwrap()
    }

    fn sh(d: u32, h: u32, m: u32) -> Micros {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 12, d, h, m, 0)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn a_day_is_cut_into_visits_with_buffers() {
        let cal = shanghai_9_to_18();
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        // 09:00, 11:30, 14:00 fit (14:00–16:00); 16:30–18:30 would end after 18:00.
        assert_eq!(
            starts_on(&cal, day),
            vec![sh(7, 9, 0), sh(7, 11, 30), sh(7, 14, 0)]
        );
        assert!(offers(&cal, sh(7, 11, 30)));
        assert!(!offers(&cal, sh(7, 10, 0)));
    }

    #[test]
    fn weekends_and_days_off_have_no_visits() {
        let cal = shanghai_9_to_18();
        let saturday = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let day_off = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        assert!(starts_on(&cal, saturday).is_empty());
        assert!(starts_on(&cal, day_off).is_empty());
    }

    #[test]
    fn bookable_between_lead_time_and_horizon() {
        let now = sh(7, 8, 0);
        assert_eq!(
            check_bookable(sh(7, 9, 0), now).unwrap_err().code(),
            "slot_too_soon"
        );
        assert!(check_bookable(sh(7, 11, 30), now).is_ok());
        assert_eq!(
            check_bookable(now + 61 * DAY, now).unwrap_err().code(),
            "slot_too_far"
        );
    }
}
