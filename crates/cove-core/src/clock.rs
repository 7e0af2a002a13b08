//! Time as Cove stores it: UTC microseconds since the Unix epoch in an `i64`.
//!
//! Both databases compare and index plain integers identically, which keeps
//! every due-time query (jobs, sessions, lockouts) portable.
//!
//! A test clock: [`advance`] moves this process's time forward so that
//! time-based behaviour (return windows, expiry, SLAs) can be shown end to
//! end. Only the `clock.adjustable` setting exposes it (`/api/v1/test-clock`);
//! otherwise the offset stays zero and `now` is the real time.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

pub const SECOND: Micros = 1_000_000;
pub const MINUTE: Micros = 60 * SECOND;
pub const HOUR: Micros = 60 * MINUTE;
pub const DAY: Micros = 24 * HOUR;

/// Process-wide because every caller reads time through the free function
/// [`now`]; a per-request clock would have to reach every due-time query.
static OFFSET: AtomicI64 = AtomicI64::new(0);

pub fn now() -> Micros {
    Utc::now().timestamp_micros() + OFFSET.load(Ordering::Relaxed)
}

/// How far the test clock runs ahead of real time (zero unless advanced).
pub fn offset() -> Micros {
    OFFSET.load(Ordering::Relaxed)
}

/// Moves this process's clock forward by `by` (negative: back, to restore
/// an earlier offset); returns the new offset. Saturates rather than wraps.
pub fn advance(by: Micros) -> Micros {
    bump(&OFFSET, by)
}

fn bump(cell: &AtomicI64, by: Micros) -> Micros {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let next = current.saturating_add(by);
        match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => current = seen,
        }
    }
}

pub fn to_datetime(us: Micros) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

/// RFC 3339 with millisecond precision, as the API and console show times.
pub fn to_rfc3339(us: Micros) -> String {
    to_datetime(us).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_add_up_and_saturate() {
        // A cell of its own: the process clock is shared by every test here.
        let cell = AtomicI64::new(0);
        assert_eq!(bump(&cell, DAY), DAY);
        assert_eq!(bump(&cell, HOUR), DAY + HOUR);
        assert_eq!(bump(&cell, -DAY), HOUR);
        assert_eq!(bump(&cell, i64::MAX), i64::MAX);
    }

    #[test]
    fn formats_as_utc_rfc3339() {
        assert_eq!(to_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            to_rfc3339(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
