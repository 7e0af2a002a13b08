//! Days as the dispatch board and the booking pages draw them: local dates
//! of the service team's zone turned into UTC ranges.

use crate::clock::{self, Micros};
use crate::error::{Error, Result};
use chrono::{Days, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// The service team's zone (the board's days and the booking date picker).
pub const TEAM_ZONE: Tz = chrono_tz::Asia::Shanghai;

#[derive(Debug)]
pub struct BoardDay {
    /// e.g. "12-07 Mon".
    pub label: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
}

#[derive(Debug)]
pub struct Window {
    pub days: Vec<BoardDay>,
    /// The first date of the window before and after, YYYY-MM-DD.
    pub previous: String,
    pub next: String,
}

impl Window {
    /// Which of the window's days `at` falls on.
    pub fn day_of(&self, at: Micros) -> Option<usize> {
        self.days
            .iter()
            .position(|d| d.starts_at <= at && at < d.ends_at)
    }

    pub fn starts_at(&self) -> Micros {
        self.days.first().map(|d| d.starts_at).unwrap_or_default()
    }

    pub fn ends_at(&self) -> Micros {
        self.days.last().map(|d| d.ends_at).unwrap_or_default()
    }
}

fn today(now: Micros) -> NaiveDate {
    clock::to_datetime(now)
        .with_timezone(&TEAM_ZONE)
        .date_naive()
}

fn midnight(day: NaiveDate) -> Micros {
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| TEAM_ZONE.from_local_datetime(&t).earliest())
        .map(|t| t.timestamp_micros())
        .unwrap_or_default()
}

/// `count` days from `from` (YYYY-MM-DD; today when absent).
pub fn window(from: Option<&str>, count: u64, now: Micros) -> Result<Window> {
    let first = match from.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| Error::invalid("invalid_date", "from must be a YYYY-MM-DD date"))?,
        None => today(now),
    };
    let mut days = Vec::new();
    for i in 0..count {
        let Some(day) = first.checked_add_days(Days::new(i)) else {
            break;
        };
        let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
        days.push(BoardDay {
            label: day.format("%m-%d %a").to_string(),
            starts_at: midnight(day),
            ends_at: midnight(next),
        });
    }
    let shift = |d: Option<NaiveDate>| d.unwrap_or(first).to_string();
    Ok(Window {
        days,
        previous: shift(first.checked_sub_days(Days::new(count))),
        next: shift(first.checked_add_days(Days::new(count))),
    })
}

/// Tomorrow's date in the team's zone, YYYY-MM-DD (the first bookable day
/// the pages offer).
pub fn tomorrow(now: Micros) -> String {
    let d = today(now);
    d.checked_add_days(Days::new(1)).unwrap_or(d).to_string()
}

/// `at` as local "MM-DD HH:MM" in the team's zone.
pub fn local_time(at: Micros) -> String {
    clock::to_datetime(at)
        .with_timezone(&TEAM_ZONE)
        .format("%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_local_midnights() {
        // 2026-12-06 20:00 UTC is 12-07 04:00 in Shanghai.
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 12, 6, 20, 0, 0)
            .unwrap()
            .timestamp_micros();
        let w = window(None, 3, now).unwrap();
        assert_eq!(w.days.len(), 3);
        assert_eq!(w.days[0].label, "12-07 Mon");
        assert_eq!(w.days[0].ends_at - w.days[0].starts_at, clock::DAY);
        assert_eq!(w.day_of(now), Some(0));
        assert_eq!(
            (w.previous.as_str(), w.next.as_str()),
            ("2026-12-04", "2026-12-10")
        );
        assert_eq!(tomorrow(now), "2026-12-08");
        assert_eq!(
            window(Some("12/07"), 3, now).unwrap_err().code(),
            "invalid_date"
        );
    }
}
