//! Business time: SLA targets count only working minutes of the policy's
//! calendar (working days and hours in its timezone, minus holidays).

use crate::clock::Micros;
use crate::error::{Error, Result};
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;

const MINUTE: Micros = 60_000_000;
/// A calendar with no working day at all within this many days is refused at
/// validation; the walk stops here in any case.
const MAX_DAYS: u64 = 3660;

/// Working hours in a timezone, e.g. Asia/Shanghai 09:00–18:00 Mon–Sat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub timezone: Tz,
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub working_days: BTreeSet<u32>,
    /// Minutes after local midnight.
    pub day_start: u32,
    pub day_end: u32,
    pub holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// Validates the parts of a calendar as they come from the API or a row.
    pub fn new(
        timezone: &str,
        working_days: &[u32],
        day_start: u32,
        day_end: u32,
        holidays: &[String],
    ) -> Result<Calendar> {
        let timezone: Tz = timezone.parse().map_err(|_| {
            Error::invalid(
                "invalid_timezone",
                format!("unknown timezone {timezone:?}; use an IANA name such as Asia/Shanghai"),
            )
        })?;
        if working_days.is_empty() || working_days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(Error::invalid(
                "invalid_working_days",
                "working days are ISO weekdays 1 (Monday) to 7 (Sunday), at least one",
            ));
        }
        if day_start >= day_end || day_end > 24 * 60 {
            return Err(Error::invalid(
                "invalid_working_hours",
                "the working day must start before it ends, within one day",
            ));
        }
        let holidays = holidays
            .iter()
            .map(|h| {
                NaiveDate::parse_from_str(h, "%Y-%m-%d").map_err(|_| {
                    Error::invalid("invalid_holiday", format!("{h:?} is not a YYYY-MM-DD date"))
                })
            })
            .collect::<Result<BTreeSet<_>>>()?;
        Ok(Calendar {
            timezone,
            working_days: working_days.iter().copied().collect(),
            day_start,
            day_end,
            holidays,
        })
    }

    fn works_on(&self, date: NaiveDate) -> bool {
        self.working_days
            .contains(&date.weekday().number_from_monday())
            && !self.holidays.contains(&date)
    }

    /// The working window of a local date as instants, if it is a working day.
    pub fn window(&self, date: NaiveDate) -> Option<(Micros, Micros)> {
        if !self.works_on(date) {
            return None;
        }
        let at = |minute: u32| -> Option<Micros> {
            let local = date.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(i64::from(minute));
            // A DST gap or fold takes the earliest valid instant.
            let instant = self.timezone.from_local_datetime(&local).earliest()?;
            Some(instant.timestamp_micros())
        };
        Some((at(self.day_start)?, at(self.day_end)?))
    }

    /// The local date of an instant in the calendar's timezone.
    pub fn local_date(&self, at: Micros) -> NaiveDate {
        let utc = DateTime::<Utc>::from_timestamp_micros(at).unwrap_or_default();
        utc.with_timezone(&self.timezone).date_naive()
    }

    /// `at` plus `minutes` working minutes. Zero minutes is `at` itself.
    pub fn add(&self, at: Micros, minutes: i64) -> Micros {
        let mut left = minutes.max(0) * MINUTE;
        if left == 0 {
            return at;
        }
        let mut date = self.local_date(at);
        let mut cursor = at;
        for _ in 0..MAX_DAYS {
            if let Some((start, end)) = self.window(date) {
                let from = cursor.max(start);
                if from < end {
                    if end - from >= left {
                        return from + left;
                    }
                    left -= end - from;
                    cursor = end;
                }
            }
            date = match date.checked_add_days(Days::new(1)) {
                Some(d) => d,
                None => break,
            };
        }
        cursor
    }

    /// Working minutes between two instants (0 if `to` is not after `from`),
    /// rounded down.
    pub fn minutes_between(&self, from: Micros, to: Micros) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total: Micros = 0;
        let mut date = self.local_date(from);
        let last = self.local_date(to);
        for _ in 0..MAX_DAYS {
            if let Some((start, end)) = self.window(date) {
                let a = from.max(start);
                let b = to.min(end);
                if b > a {
                    total += b - a;
                }
            }
            if date >= last {
                break;
            }
            date = match date.checked_add_days(Days::new(1)) {
                Some(d) => d,
                None => break,
            };
        }
        total / MINUTE
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn shanghai() -> Calendar {
        // 2026-10-01..07 is the National Day holiday; Mon–Sat 09:00–18:00.
        let holidays: Vec<String> = (1..=7).map(|d| format!("2026-10-{d:02}")).collect();
        Calendar::new("Asia/Shanghai", &[1, 2, 3, 4, 5, 6], 540, 1080, &holidays).unwrap()
    }

    /// A local Shanghai time as micros.
    fn sh(y: i32, m: u32, d: u32, h: u32, min: u32) -> Micros {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn within_one_day() {
        let cal = shanghai();
        // Tuesday 2026-09-15 10:00 + 60 → 11:00.
        assert_eq!(cal.add(sh(2026, 9, 15, 10, 0), 60), sh(2026, 9, 15, 11, 0));
    }

    #[test]
    fn overnight_and_before_hours() {
        let cal = shanghai();
        // 17:30 + 60: 30 today, 30 tomorrow from 09:00.
        assert_eq!(cal.add(sh(2026, 9, 15, 17, 30), 60), sh(2026, 9, 16, 9, 30));
        // 07:00 starts counting at 09:00.
        assert_eq!(cal.add(sh(2026, 9, 15, 7, 0), 30), sh(2026, 9, 15, 9, 30));
        // 20:00 starts counting at 09:00 the next day.
        assert_eq!(cal.add(sh(2026, 9, 15, 20, 0), 30), sh(2026, 9, 16, 9, 30));
    }

    #[test]
    fn skips_sunday() {
        let cal = shanghai();
        // Saturday 2026-09-19 17:00 + 120: 60 on Saturday, Sunday off, 60 Monday.
        assert_eq!(cal.add(sh(2026, 9, 19, 17, 0), 120), sh(2026, 9, 21, 10, 0));
    }

    #[test]
    fn skips_holidays() {
        let cal = shanghai();
        // Wednesday 2026-09-30 16:00 + 240: 120 that day, Oct 1–7 holidays
        // (Oct 4 is a Sunday anyway), then 120 on Thursday Oct 8.
        assert_eq!(cal.add(sh(2026, 9, 30, 16, 0), 240), sh(2026, 10, 8, 11, 0));
        assert_eq!(
            cal.minutes_between(sh(2026, 9, 30, 16, 0), sh(2026, 10, 8, 11, 0)),
            240
        );
    }

    #[test]
    fn a_full_day_is_nine_hours() {
        let cal = shanghai();
        assert_eq!(cal.add(sh(2026, 9, 15, 9, 0), 540), sh(2026, 9, 15, 18, 0));
        assert_eq!(cal.add(sh(2026, 9, 15, 9, 0), 541), sh(2026, 9, 16, 9, 1));
    }

    #[test]
    fn validation() {
        let code = |e: Error| match e {
            Error::Invalid { code, .. } => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(Calendar::new("Mars/Base", &[1], 0, 60, &[]).unwrap_err()),
            "invalid_timezone"
        );
        assert_eq!(
            code(Calendar::new("UTC", &[], 0, 60, &[]).unwrap_err()),
            "invalid_working_days"
        );
        assert_eq!(
            code(Calendar::new("UTC", &[8], 0, 60, &[]).unwrap_err()),
            "invalid_working_days"
        );
        assert_eq!(
            code(Calendar::new("UTC", &[1], 60, 60, &[]).unwrap_err()),
            "invalid_working_hours"
        );
        assert_eq!(
            code(Calendar::new("UTC", &[1], 0, 60, &["2026-13-01".into()]).unwrap_err()),
            "invalid_holiday"
        );
    }

    proptest! {
        #[test]
        fn adding_is_additive(start in 1_780_000_000i64..1_800_000_000, a in 0i64..5000, b in 0i64..5000) {
            let cal = shanghai();
            let t = start * 1_000_000;
            prop_assert_eq!(cal.add(cal.add(t, a), b), cal.add(t, a + b));
        }

        #[test]
        fn due_is_in_working_hours_never_on_a_holiday(start in 1_780_000_000i64..1_800_000_000, m in 1i64..10_000) {
            let cal = shanghai();
            let t = start * 1_000_000;
            let due = cal.add(t, m);
            let date = cal.local_date(due);
            prop_assert!(cal.works_on(date));
            let (open, close) = cal.window(date).unwrap();
            prop_assert!(due > open && due <= close);
            prop_assert_eq!(cal.minutes_between(t, due), m);
        }
    }
}
