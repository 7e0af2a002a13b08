//! The brand's scheduling rules for on-site visits: how long a visit is
//! booked for, the travel time kept free between two visits, and how soon
//! and how far ahead a visit may be booked. Kept in the shared `settings`
//! table so every node offers the same slots.

use crate::clock::Micros;
use crate::db::Conn;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

const KEY: &str = "field.scheduling";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = FieldScheduling)]
pub struct Scheduling {
    /// How long a visit is booked for (15–720 minutes, a multiple of 5).
    pub slot_minutes: i64,
    /// Travel time kept free between two visits of one engineer (0–240).
    pub buffer_minutes: i64,
    /// How soon a visit may start after it is booked or moved (0–10080).
    pub lead_minutes: i64,
    /// How far ahead visits can be booked (1–365 days).
    pub horizon_days: i64,
}

impl Default for Scheduling {
    fn default() -> Self {
        Self {
            slot_minutes: 120,
            buffer_minutes: 30,
            lead_minutes: 120,
            horizon_days: 60,
        }
    }
}

fn within(value: i64, range: std::ops::RangeInclusive<i64>, what: &str) -> Result<()> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(Error::invalid(
        "invalid_field_settings",
        format!(
            "{what} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        ),
    ))
}

impl Scheduling {
    /// Refuses rules that would offer no sensible visits.
    pub fn check(&self) -> Result<()> {
        within(self.slot_minutes, 15..=720, "slot_minutes")?;
        if self.slot_minutes % 5 != 0 {
            return Err(Error::invalid(
                "invalid_field_settings",
                "slot_minutes must be a multiple of 5",
            ));
        }
        within(self.buffer_minutes, 0..=240, "buffer_minutes")?;
        within(self.lead_minutes, 0..=7 * 24 * 60, "lead_minutes")?;
        within(self.horizon_days, 1..=365, "horizon_days")
    }
}

/// The brand's rules, or the defaults until it sets its own.
pub async fn load(conn: &mut Conn) -> Result<Scheduling> {
    let raw: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(KEY)
        .fetch_optional(&mut *conn)
        .await?;
    match raw {
        Some(raw) => Ok(serde_json::from_str(&raw)?),
        None => Ok(Scheduling::default()),
    }
}

/// Replaces the brand's rules after checking them; visits already booked
/// keep their times.
pub async fn save(conn: &mut Conn, rules: &Scheduling, now: Micros) -> Result<Scheduling> {
    rules.check()?;
    let value = serde_json::to_string(rules)?;
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(KEY)
    .bind(value)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(*rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_nonsense_is_refused() {
        assert!(Scheduling::default().check().is_ok());
        let bad = [
            Scheduling {
                slot_minutes: 0,
                ..Scheduling::default()
            },
            Scheduling {
                slot_minutes: 62,
                ..Scheduling::default()
            },
            Scheduling {
                buffer_minutes: -5,
                ..Scheduling::default()
            },
            Scheduling {
                lead_minutes: 20_000,
                ..Scheduling::default()
            },
            Scheduling {
                horizon_days: 0,
                ..Scheduling::default()
            },
        ];
        for rules in bad {
            assert_eq!(
                rules.check().unwrap_err().code(),
                "invalid_field_settings",
                "{rules:?}"
            );
        }
    }
}
