//! The demo's three years in China Standard Time: a brand that grows, shopping
//! peaks (618 in June, Double 11 in November), a Spring Festival dip, and the
//! hours people shop at.

use crate::clock::{Micros, DAY, HOUR, MINUTE};
use chrono::{Datelike, NaiveDate, Weekday};
use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

/// China Standard Time is UTC+8 all year.
const CST: Micros = 8 * HOUR;
/// The demo covers this many days up to the anchor.
pub const DAYS: usize = 3 * 365;
/// Joins per day grow threefold over the period.
const GROWTH: f64 = 3.0;
/// The highest seasonal weight (Double 11 itself), for rejection sampling.
const PEAK: f64 = 5.0;

/// Spring Festival (lunar new year's day), 2022–2030.
const SPRING_FESTIVALS: &[(i32, u32, u32)] = &[
    (2022, 2, 1),
    (2023, 1, 22),
    (2024, 2, 10),
    (2025, 1, 29),
    (2026, 2, 17),
    (2027, 2, 6),
    (2028, 1, 26),
    (2029, 2, 13),
    (2030, 2, 3),
];

/// Relative activity by local hour, online.
const ONLINE_HOURS: [f64; 24] = [
    0.35, 0.18, 0.08, 0.05, 0.04, 0.06, 0.15, 0.35, 0.6, 0.8, 1.0, 1.0, 1.1, 1.0, 0.95, 1.0, 1.0,
    1.0, 1.1, 1.3, 1.6, 1.8, 1.5, 0.8,
];
/// Relative activity by local hour in stores (open 10:00–22:00).
const STORE_HOURS: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6, 0.9, 1.0, 1.0, 1.2, 1.4, 1.4, 1.3, 1.2,
    1.4, 1.5, 1.0, 0.0, 0.0,
];

pub struct Calendar {
    /// Local midnight at the start of the first day.
    pub start: Micros,
    /// Local midnight today: nothing happens at or after it, so two runs on
    /// the same day produce the same data.
    pub end: Micros,
    season: Vec<f64>,
    joins_cumulative: Vec<f64>,
    online_hours: WeightedIndex<f64>,
    store_hours: WeightedIndex<f64>,
}

impl Calendar {
    pub fn new(now: Micros) -> anyhow::Result<Self> {
        let end = (now + CST).div_euclid(DAY) * DAY - CST;
        let start = end - DAYS as i64 * DAY;
        let season: Vec<f64> = (0..DAYS)
            .map(|d| season_weight(local_date(start + d as i64 * DAY)))
            .collect();
        let mut total = 0.0;
        let joins_cumulative = season
            .iter()
            .enumerate()
            .map(|(d, w)| {
                total += w * GROWTH.powf(d as f64 / DAYS as f64);
                total
            })
            .collect();
        Ok(Self {
            start,
            end,
            season,
            joins_cumulative,
            online_hours: WeightedIndex::new(ONLINE_HOURS)?,
            store_hours: WeightedIndex::new(STORE_HOURS)?,
        })
    }

    /// The day index of `t` (0 = first day), clamped to the period.
    fn day(&self, t: Micros) -> usize {
        (((t - self.start).div_euclid(DAY)).max(0) as usize).min(DAYS - 1)
    }

    /// The seasonal weight of the day `t` falls on (1.0 an ordinary weekday).
    pub fn season(&self, t: Micros) -> f64 {
        self.season[self.day(t)]
    }

    /// A time on day `day` at an hour people are active (online or in store).
    pub fn time_on_day(&self, day: usize, in_store: bool, rng: &mut impl Rng) -> Micros {
        let hour = if in_store {
            self.store_hours.sample(rng)
        } else {
            self.online_hours.sample(rng)
        } as i64;
        self.start + day as i64 * DAY + hour * HOUR + rng.gen_range(0..HOUR)
    }

    /// The join time at quantile `q` in [0, 1): later quantiles join later, and
    /// joins grow over the period and follow the shopping seasons.
    pub fn join_time(&self, q: f64, in_store: bool, rng: &mut impl Rng) -> Micros {
        let total = self.joins_cumulative.last().copied().unwrap_or(1.0);
        let target = q.clamp(0.0, 1.0) * total;
        let day = self
            .joins_cumulative
            .partition_point(|c| *c < target)
            .min(DAYS - 1);
        self.time_on_day(day, in_store, rng)
    }

    /// A time some `mean_days` (exponentially distributed) after `after`,
    /// drawn towards the shopping peaks; `None` when it falls past the end.
    pub fn next_purchase(
        &self,
        after: Micros,
        mean_days: f64,
        in_store: bool,
        rng: &mut impl Rng,
    ) -> Option<Micros> {
        let mut t = after;
        for attempt in 0..8 {
            let gap = exponential(mean_days, rng) * DAY as f64;
            t = after + gap as Micros;
            if t >= self.end {
                return None;
            }
            if attempt == 7 || rng.gen::<f64>() * PEAK < self.season(t) {
                break;
            }
        }
        let at = self.time_on_day(self.day(t), in_store, rng);
        Some(at.max(after + 10 * MINUTE)).filter(|t| *t < self.end)
    }

    /// A time between `from` and `to` (exclusive) at an hour people are online.
    pub fn random_time(&self, from: Micros, to: Micros, rng: &mut impl Rng) -> Micros {
        if to <= from {
            return from;
        }
        let t = rng.gen_range(from..to);
        let at = self.time_on_day(self.day(t), false, rng);
        if at >= from && at < to {
            at
        } else {
            t
        }
    }

    /// Is `t` within a promotion (the 618 and Double 11 seasons)?
    pub fn promotion(&self, t: Micros) -> bool {
        let date = local_date(t);
        matches!(
            (date.month(), date.day()),
            (6, 1..=18) | (10, 20..=31) | (11, 1..=11)
        )
    }
}

/// An exponentially distributed value with the given mean.
pub fn exponential(mean: f64, rng: &mut impl Rng) -> f64 {
    -mean * (1.0 - rng.gen::<f64>()).ln()
}

/// The local (CST) date of `t`.
pub fn local_date(t: Micros) -> NaiveDate {
    crate::clock::to_datetime(t + CST).date_naive()
}

/// How busy a day is relative to an ordinary weekday.
fn season_weight(date: NaiveDate) -> f64 {
    let mut w: f64 = match (date.month(), date.day()) {
        (6, 1..=15) => 1.6,
        (6, 16..=18) => 3.4,
        (6, 19..=20) => 1.3,
        (10, 20..=31) | (11, 1..=10) => 1.7,
        (11, 11) => PEAK,
        (11, 12..=13) => 1.4,
        (12, 12) => 1.8,
        // Back to school.
        (8, 15..=31) | (9, 1..=10) => 1.3,
        _ => 1.0,
    };
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        w *= 1.15;
    }
    for (y, m, d) in SPRING_FESTIVALS {
        if let Some(festival) = NaiveDate::from_ymd_opt(*y, *m, *d) {
            let offset = (date - festival).num_days();
            if (-7..=7).contains(&offset) {
                w *= 0.4;
            } else if (-14..-7).contains(&offset) || (8..=12).contains(&offset) {
                w *= 0.75;
            }
        }
    }
    w.min(PEAK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_and_dips() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        let ordinary = season_weight(d(2025, 3, 12));
        assert!(season_weight(d(2025, 11, 11)) > 3.0 * ordinary);
        assert!(season_weight(d(2025, 6, 18)) > 2.0 * ordinary);
        assert!(season_weight(d(2025, 1, 29)) < 0.5 * ordinary);
        assert!(season_weight(d(2026, 2, 17)) < 0.5 * ordinary);
    }

    #[test]
    fn join_times_are_ordered_and_within_the_period() {
        use rand::SeedableRng;
        let cal = Calendar::new(1_780_000_000_000_000).unwrap_or_else(|e| panic!("{e}"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut last_day = 0;
        let mut first_year = 0;
        for i in 0..1000 {
            let t = cal.join_time(i as f64 / 1000.0, false, &mut rng);
            assert!(t >= cal.start && t < cal.end);
            let day = cal.day(t);
            assert!(day >= last_day);
            last_day = day;
            if day < 365 {
                first_year += 1;
            }
        }
        // Growth: the first year holds well under a third of the joins.
        assert!(first_year < 300, "{first_year}");
    }
}
