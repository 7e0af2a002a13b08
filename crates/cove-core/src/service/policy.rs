//! Warranty policy per device model: how long the factory warranty runs, at
//! which service level, and whether it starts at shipping or at online
//! activation (within a window after shipping).

use super::entitlements::{parse_service_level, string_enum};
use crate::clock::Micros;
use crate::db::{Conn, Db};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;

string_enum!(
    /// When the factory warranty starts.
    StartFrom, "invalid_start_from", {
    /// On the ship date, whether or not the owner activates.
    Ship = "ship",
    /// On online activation; an activation after the window starts at the window's end.
    Activation = "activation",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub base_months: i64,
    pub service_level: String,
    pub start_from: StartFrom,
    /// Days after shipping within which activation starts the warranty on the activation day.
    pub activation_window_days: i64,
}

/// Models without a policy of their own: one year carry-in from the ship date.
pub fn default_policy() -> Policy {
    Policy {
        base_months: 12,
        service_level: "CI".into(),
        start_from: StartFrom::Ship,
        activation_window_days: 90,
    }
}

impl Policy {
    pub fn validated(mut self) -> Result<Self> {
        if !(1..=120).contains(&self.base_months) {
            return Err(Error::invalid(
                "invalid_policy",
                "base_months must be 1–120",
            ));
        }
        if !(0..=3650).contains(&self.activation_window_days) {
            return Err(Error::invalid(
                "invalid_policy",
                "activation_window_days must be 0–3650",
            ));
        }
        self.service_level = parse_service_level(&self.service_level)?;
        Ok(self)
    }
}

/// Every model's policy, by product id.
pub async fn all(db: &Db) -> Result<HashMap<String, Policy>> {
    let rows = sqlx::query(
        "SELECT product_id, base_months, service_level, start_from, activation_window_days \
         FROM warranty_policies",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>(0)?,
                Policy {
                    base_months: r.try_get(1)?,
                    service_level: r.try_get(2)?,
                    start_from: StartFrom::parse(&r.try_get::<String, _>(3)?)?,
                    activation_window_days: r.try_get(4)?,
                },
            ))
        })
        .collect()
}

pub fn for_product<'p>(
    policies: &'p HashMap<String, Policy>,
    product_id: &str,
) -> std::borrow::Cow<'p, Policy> {
    policies
        .get(product_id)
        .map(std::borrow::Cow::Borrowed)
        .unwrap_or_else(|| std::borrow::Cow::Owned(default_policy()))
}

/// The policy of one model.
pub async fn of_product(conn: &mut Conn, product_id: &str) -> Result<Policy> {
    let row = sqlx::query(
        "SELECT base_months, service_level, start_from, activation_window_days \
         FROM warranty_policies WHERE product_id = $1",
    )
    .bind(product_id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(default_policy()),
        Some(r) => Ok(Policy {
            base_months: r.try_get(0)?,
            service_level: r.try_get(1)?,
            start_from: StartFrom::parse(&r.try_get::<String, _>(2)?)?,
            activation_window_days: r.try_get(3)?,
        }),
    }
}

/// Sets a model's policy (for devices registered from now on).
pub async fn set(conn: &mut Conn, product_id: &str, policy: Policy, at: Micros) -> Result<Policy> {
    let policy = policy.validated()?;
    sqlx::query(
        "INSERT INTO warranty_policies (product_id, base_months, service_level, start_from, \
         activation_window_days, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (product_id) DO UPDATE SET base_months = excluded.base_months, \
         service_level = excluded.service_level, start_from = excluded.start_from, \
         activation_window_days = excluded.activation_window_days, updated_at = excluded.updated_at",
    )
    .bind(product_id)
    .bind(policy.base_months)
    .bind(&policy.service_level)
    .bind(policy.start_from.as_str())
    .bind(policy.activation_window_days)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(policy)
}
