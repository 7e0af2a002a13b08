//! Time as Cove stores it: UTC microseconds since the Unix epoch in an `i64`.
//!
//! Both databases compare and index plain integers identically, which keeps
//! every due-time query (jobs, sessions, lockouts) portable.

use chrono::{DateTime, TimeZone, Utc};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

pub const SECOND: Micros = 1_000_000;
pub const MINUTE: Micros = 60 * SECOND;
pub const HOUR: Micros = 60 * MINUTE;
pub const DAY: Micros = 24 * HOUR;

pub fn now() -> Micros {
    Utc::now().timestamp_micros()
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
    fn formats_as_utc_rfc3339() {
        assert_eq!(to_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            to_rfc3339(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
