//! Appointment slots: each engineer's working day is cut into visits of the
//! brand's slot length separated by its travel buffer; a slot is offered for
//! a territory (and skill) while at least one engineer covering it is free,
//! and its capacity is how many are.

use super::engineers::{self, Engineer};
use super::settings::{self, Scheduling};
use crate::clock::{Micros, DAY, MINUTE};
use crate::db::Conn;
use crate::error::{Error, Result};
use crate::service::tickets::sla::Calendar;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest date range one slot query covers.
pub const MAX_RANGE_DAYS: u64 = 31;

/// Appointments in these statuses hold their engineer's time.
pub(crate) const HOLDING: &str = "status NOT IN ('cancelled', 'no_show')";

/// Visit start instants of one local date in an engineer's plan.
pub fn starts_on(calendar: &Calendar, date: NaiveDate, rules: &Scheduling) -> Vec<Micros> {
    let Some((start, end)) = calendar.window(date) else {
        return Vec::new();
    };
    let length = rules.slot_minutes * MINUTE;
    let step = length + rules.buffer_minutes * MINUTE;
    let mut out = Vec::new();
    let mut at = start;
    while at + length <= end {
        out.push(at);
        at += step;
    }
    out
}

/// Whether `starts_at` is one of the engineer's visit starts.
pub fn offers(calendar: &Calendar, starts_at: Micros, rules: &Scheduling) -> bool {
    starts_on(calendar, calendar.local_date(starts_at), rules).contains(&starts_at)
}

/// Whether the engineer works through all of `[starts_at, ends_at)`.
pub fn works_through(calendar: &Calendar, starts_at: Micros, ends_at: Micros) -> bool {
    calendar
        .window(calendar.local_date(starts_at))
        .is_some_and(|(start, end)| start <= starts_at && ends_at <= end)
}

/// Refuses a start too soon or too far ahead.
pub fn check_bookable(starts_at: Micros, now: Micros, rules: &Scheduling) -> Result<()> {
    if starts_at < now + rules.lead_minutes * MINUTE {
        return Err(Error::invalid(
            "slot_too_soon",
            format!(
                "a visit must start at least {} minutes from now",
                rules.lead_minutes
            ),
        ));
    }
    if starts_at > now + rules.horizon_days * DAY {
        return Err(Error::invalid(
            "slot_too_far",
            format!(
                "visits can be booked up to {} days ahead",
                rules.horizon_days
            ),
        ));
    }
    Ok(())
}

/// Whether the engineer has a visit within `buffer_minutes` of
/// `[starts_at, ends_at)` (other than `except`).
pub async fn busy(
    conn: &mut Conn,
    engineer_id: &str,
    (starts_at, ends_at): (Micros, Micros),
    buffer_minutes: i64,
    except: Option<&str>,
) -> Result<bool> {
    let buffer = buffer_minutes * MINUTE;
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
    let rules = settings::load(conn).await?;
    let length = rules.slot_minutes * MINUTE;
    let mut capacity: BTreeMap<Micros, i64> = BTreeMap::new();
    for engineer in engineers::covering(conn, &territory, skill.as_deref()).await? {
        for starts_at in engineer_starts(&engineer, from, to, &rules)? {
            if check_bookable(starts_at, now, &rules).is_err() {
                continue;
            }
            let span = (starts_at, starts_at + length);
            if !busy(conn, &engineer.id, span, rules.buffer_minutes, None).await? {
                *capacity.entry(starts_at).or_default() += 1;
            }
        }
    }
    Ok(capacity
        .into_iter()
        .map(|(starts_at, capacity)| Slot {
            starts_at,
            ends_at: starts_at + length,
            capacity,
        })
        .collect())
}

/// Every visit start of an engineer over local dates `from..=to`.
fn engineer_starts(
    engineer: &Engineer,
    from: NaiveDate,
    to: NaiveDate,
    rules: &Scheduling,
) -> Result<Vec<Micros>> {
    let calendar = engineer.calendar()?;
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        out.extend(starts_on(&calendar, day, rules));
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
        let rules = Scheduling::default();
        assert_eq!(
            starts_on(&cal, day, &rules),
            vec![sh(7, 9, 0), sh(7, 11, 30), sh(7, 14, 0)]
        );
        assert!(offers(&cal, sh(7, 11, 30), &rules));
        assert!(!offers(&cal, sh(7, 10, 0), &rules));
        // Hour-long visits without a buffer fill the day.
        let hourly = Scheduling {
            slot_minutes: 60,
            buffer_minutes: 0,
            ..rules
        };
        assert_eq!(starts_on(&cal, day, &hourly).len(), 9);
        assert!(offers(&cal, sh(7, 10, 0), &hourly));
    }

    #[test]
    fn weekends_and_days_off_have_no_visits() {
        let cal = shanghai_9_to_18();
        let saturday = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let day_off = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        let rules = Scheduling::default();
        assert!(starts_on(&cal, saturday, &rules).is_empty());
        assert!(starts_on(&cal, day_off, &rules).is_empty());
    }

    #[test]
    fn bookable_between_lead_time_and_horizon() {
        let now = sh(7, 8, 0);
        let rules = Scheduling::default();
        assert_eq!(
            check_bookable(sh(7, 9, 0), now, &rules).unwrap_err().code(),
            "slot_too_soon"
        );
        assert!(check_bookable(sh(7, 11, 30), now, &rules).is_ok());
        assert_eq!(
            check_bookable(now + 61 * DAY, now, &rules)
                .unwrap_err()
                .code(),
            "slot_too_far"
        );
        let short_lead = Scheduling {
            lead_minutes: 30,
            ..rules
        };
        assert!(check_bookable(sh(7, 9, 0), now, &short_lead).is_ok());
    }
}
