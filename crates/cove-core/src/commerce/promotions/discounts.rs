//! Automatic discounts: 满减 (spend a threshold, get an amount off; tiered
//! or once per multiple) and percent off with a cap, by scope, priority and
//! exclusivity, within a budget.

use super::{json_list, name_check, window_check, PromotionKind, Scope, Status, ThresholdRule};
use crate::clock::Micros;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Promotion {
    pub id: String,
    pub name: String,
    pub kind: PromotionKind,
    /// threshold_amount_off: the steps, e.g. 满1000减100 and 满2000减250.
    pub rules: Vec<ThresholdRule>,
    /// threshold_amount_off with one step: once per multiple of it (每满).
    pub every_threshold: bool,
    /// percent_off: percent off (1–99), capped at `cap_fen`.
    pub percent: i64,
    pub cap_fen: Option<i64>,
    /// all | products | categories | tiers
    pub scope: String,
    pub scope_values: Vec<String>,
    /// Higher applies first.
    pub priority: i64,
    /// When it applies, no other automatic promotion does.
    pub exclusive: bool,
    pub stackable_with_coupons: bool,
    pub budget_fen: Option<i64>,
    pub spent_fen: i64,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub status: Status,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewPromotion {
    pub name: String,
    pub kind: PromotionKind,
    #[serde(default)]
    pub rules: Vec<ThresholdRule>,
    #[serde(default)]
    pub every_threshold: bool,
    #[serde(default)]
    pub percent: i64,
    pub cap_fen: Option<i64>,
    #[serde(default = "all")]
    pub scope: String,
    #[serde(default)]
    pub scope_values: Vec<String>,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub exclusive: bool,
    #[serde(default = "yes")]
    pub stackable_with_coupons: bool,
    pub budget_fen: Option<i64>,
    pub starts_at: Micros,
    pub ends_at: Micros,
}

fn all() -> String {
    "all".into()
}
fn yes() -> bool {
    true
}

impl NewPromotion {
    fn check(&self) -> Result<(String, Scope, Vec<ThresholdRule>)> {
        let name = name_check(&self.name)?;
        window_check(self.starts_at, self.ends_at)?;
        let mut rules = self.rules.clone();
        rules.sort_by_key(|r| r.threshold_fen);
        match self.kind {
            PromotionKind::ThresholdAmountOff => {
                if rules.is_empty() || rules.len() > 10 {
                    return Err(Error::invalid(
                        "invalid_rules",
                        "a threshold discount needs 1 to 10 steps",
                    ));
                }
                if rules
                    .iter()
                    .any(|r| r.threshold_fen <= 0 || r.off_fen <= 0 || r.off_fen > r.threshold_fen)
                {
                    return Err(Error::invalid(
                        "invalid_rules",
                        "each step needs a positive threshold and an amount off no larger than it",
                    ));
                }
                if rules.windows(2).any(|w| {
                    w[0].threshold_fen == w[1].threshold_fen || w[0].off_fen >= w[1].off_fen
                }) {
                    return Err(Error::invalid(
                        "invalid_rules",
                        "higher thresholds must give more off",
                    ));
                }
                if self.every_threshold && rules.len() != 1 {
                    return Err(Error::invalid(
                        "invalid_rules",
                        "once-per-multiple takes exactly one step",
                    ));
                }
            }
            PromotionKind::PercentOff => {
                if !(1..=99).contains(&self.percent) {
                    return Err(Error::invalid(
                        "invalid_percent",
                        "percent must be between 1 and 99",
                    ));
                }
                rules.clear();
            }
        }
        if self.cap_fen.is_some_and(|c| c <= 0) {
            return Err(Error::invalid("invalid_cap", "cap_fen must be above zero"));
        }
        if self.budget_fen.is_some_and(|b| b < 0) {
            return Err(Error::invalid(
                "invalid_budget",
                "budget_fen cannot be negative",
            ));
        }
        let scope = Scope::parse(&self.scope, self.scope_values.clone())?;
        Ok((name, scope, rules))
    }
}

const COLUMNS: &str = "id, name, kind, rules, every_threshold, percent, cap_fen, scope, \
     scope_values, priority, is_exclusive, stackable_with_coupons, budget_fen, spent_fen, \
     starts_at, ends_at, status, created_at";

fn from_row(r: &AnyRow) -> Result<Promotion> {
    Ok(Promotion {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: PromotionKind::parse(&r.try_get::<String, _>("kind")?),
        rules: serde_json::from_str(&r.try_get::<String, _>("rules")?).unwrap_or_default(),
        every_threshold: r.try_get::<i64, _>("every_threshold")? != 0,
        percent: r.try_get("percent")?,
        cap_fen: r.try_get("cap_fen")?,
        scope: r.try_get("scope")?,
        scope_values: json_list(&r.try_get::<String, _>("scope_values")?),
        priority: r.try_get("priority")?,
        exclusive: r.try_get::<i64, _>("is_exclusive")? != 0,
        stackable_with_coupons: r.try_get::<i64, _>("stackable_with_coupons")? != 0,
        budget_fen: r.try_get("budget_fen")?,
        spent_fen: r.try_get("spent_fen")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        status: Status::parse(&r.try_get::<String, _>("status")?),
        created_at: r.try_get("created_at")?,
    })
}

pub async fn create(conn: &mut Conn, new: &NewPromotion, at: Micros) -> Result<Promotion> {
    let (name, scope, rules) = new.check()?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO promotions (id, name, kind, rules, every_threshold, percent, cap_fen, scope, \
         scope_values, priority, is_exclusive, stackable_with_coupons, budget_fen, starts_at, \
         ends_at, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, 'active', $16, $16)",
    )
    .bind(&id)
    .bind(&name)
    .bind(new.kind.as_str())
    .bind(serde_json::to_string(&rules)?)
    .bind(i64::from(new.every_threshold))
    .bind(new.percent)
    .bind(new.cap_fen)
    .bind(scope.kind())
    .bind(serde_json::to_string(scope.values())?)
    .bind(new.priority)
    .bind(i64::from(new.exclusive))
    .bind(i64::from(new.stackable_with_coupons))
    .bind(new.budget_fen)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    get(conn, &id).await
}

pub async fn update(
    conn: &mut Conn,
    id: &str,
    new: &NewPromotion,
    at: Micros,
) -> Result<Promotion> {
    let (name, scope, rules) = new.check()?;
    let current = get(conn, id).await?;
    if new.budget_fen.is_some_and(|b| b < current.spent_fen) {
        return Err(Error::invalid(
            "invalid_budget",
            format!(
                "{} fen are already spent; budget_fen cannot be lower",
                current.spent_fen
            ),
        ));
    }
    sqlx::query(
        "UPDATE promotions SET name = $2, kind = $3, rules = $4, every_threshold = $5, percent = $6, \
         cap_fen = $7, scope = $8, scope_values = $9, priority = $10, is_exclusive = $11, \
         stackable_with_coupons = $12, budget_fen = $13, starts_at = $14, ends_at = $15, \
         updated_at = $16 WHERE id = $1 AND ($13 IS NULL OR spent_fen <= $13)",
    )
    .bind(id)
    .bind(&name)
    .bind(new.kind.as_str())
    .bind(serde_json::to_string(&rules)?)
    .bind(i64::from(new.every_threshold))
    .bind(new.percent)
    .bind(new.cap_fen)
    .bind(scope.kind())
    .bind(serde_json::to_string(scope.values())?)
    .bind(new.priority)
    .bind(i64::from(new.exclusive))
    .bind(i64::from(new.stackable_with_coupons))
    .bind(new.budget_fen)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    get(conn, id).await
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Promotion> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM promotions WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::not_found("promotion"))?;
    from_row(&row)
}

/// All promotions, highest priority first, then newest.
pub async fn list(conn: &mut Conn) -> Result<Vec<Promotion>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM promotions ORDER BY priority DESC, id DESC"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Promotions running at `at` (for the storefront's banners).
pub async fn live(conn: &mut Conn, at: Micros) -> Result<Vec<Promotion>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM promotions WHERE status = 'active' AND starts_at <= $1 \
         AND ends_at > $1 ORDER BY priority DESC, id DESC"
    ))
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}
