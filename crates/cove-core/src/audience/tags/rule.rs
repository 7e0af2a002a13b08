//! Tag rules: what a behaviour tag means, as JSON, and its translation into
//! one SQL query (the same text for SQLite and PostgreSQL, apart from how a
//! JSON field is read).
//!
//! ```json
//! {"match": "all", "conditions": [
//!   {"type": "event", "events": ["Product Viewed"],
//!    "filters": [{"property": "category", "op": "=", "value": "gaming_laptop"}],
//!    "count": {"op": ">=", "value": 3}, "within_days": 30},
//!   {"type": "trait", "trait": "warranty_ends_at", "op": "within_next_days", "value": 60}
//! ]}
//! ```
//!
//! An event condition counts the events of a person — the surviving profile
//! and every profile merged into it — so history follows merges. A count
//! that zero satisfies (`< 3`, `= 0`) includes people with no such event at
//! all. Trait conditions read the computed traits first, then the traits
//! clients sent (`identify`).

use crate::clock::{Micros, DAY};
use crate::db::Backend;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest look-back a condition may use (ten years).
pub const MAX_WINDOW_DAYS: i64 = 3650;
const MAX_CONDITIONS: usize = 20;
const MAX_EVENTS: usize = 20;
const MAX_FILTERS: usize = 10;

/// A trait condition makes a rule depend on `identify` calls: this trigger
/// name stands for them.
pub const IDENTIFY_TRIGGER: &str = "$identify";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `all`: every condition holds; `any`: at least one does.
    #[serde(default, rename = "match")]
    pub matches: Match,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    #[default]
    All,
    Any,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    Event(EventCondition),
    Trait(TraitCondition),
}

/// "Did these events happen N times (in the last D days)?"
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventCondition {
    /// Event names; any of them counts (`Order Completed`, `order.paid`).
    pub events: Vec<String>,
    /// Property filters, all of which an event must pass to count.
    #[serde(default)]
    pub filters: Vec<PropertyFilter>,
    /// How many matching events; at least one when omitted.
    #[serde(default)]
    pub count: Count,
    /// Only events of the last this many days; all history when omitted.
    #[serde(default)]
    pub within_days: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Count {
    pub op: CmpOp,
    pub value: i64,
}

impl Default for Count {
    fn default() -> Self {
        Count {
            op: CmpOp::Ge,
            value: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CmpOp {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
}

impl CmpOp {
    fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }

    fn holds(self, left: i64, right: i64) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
        }
    }
}

/// `properties.<property> <op> <value>`; strings compare for (in)equality,
/// numbers in any order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyFilter {
    pub property: String,
    pub op: CmpOp,
    #[schema(value_type = Object)]
    pub value: Value,
}

/// A condition on a profile trait (computed or sent by `identify`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraitCondition {
    #[serde(rename = "trait")]
    pub key: String,
    pub op: TraitOp,
    /// A string or number for comparisons, a number of days for date
    /// operators, nothing for `exists` / `not_exists`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TraitOp {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "exists")]
    Exists,
    #[serde(rename = "not_exists")]
    NotExists,
    /// A date (`YYYY-MM-DD…`) from today to today + N days.
    #[serde(rename = "within_next_days")]
    WithinNextDays,
    /// A date from today − N days to today.
    #[serde(rename = "within_last_days")]
    WithinLastDays,
    /// A date before today − N days.
    #[serde(rename = "before_days_ago")]
    BeforeDaysAgo,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid("invalid_rule", message)
}

/// Keys of traits and properties: letters, digits, `_`, `-`, `.` (a dot
/// reads a nested field).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..")
}

impl Rule {
    /// Reads a rule from JSON, refusing anything it would not evaluate exactly.
    pub fn from_json(value: &Value) -> Result<Rule> {
        let rule: Rule = serde_json::from_value(value.clone())
            .map_err(|e| invalid(format!("the rule cannot be read: {e}")))?;
        rule.check()?;
        Ok(rule)
    }

    pub fn check(&self) -> Result<()> {
        if self.conditions.is_empty() || self.conditions.len() > MAX_CONDITIONS {
            return Err(invalid(format!(
                "a rule has 1 to {MAX_CONDITIONS} conditions"
            )));
        }
        for (i, c) in self.conditions.iter().enumerate() {
            let at = |m: String| invalid(format!("conditions[{i}]: {m}"));
            match c {
                Condition::Event(e) => {
                    if e.events.is_empty() || e.events.len() > MAX_EVENTS {
                        return Err(at(format!("name 1 to {MAX_EVENTS} events")));
                    }
                    if e.events
                        .iter()
                        .any(|n| n.trim().is_empty() || n.len() > 200)
                    {
                        return Err(at("an event name is empty or too long".into()));
                    }
                    if e.filters.len() > MAX_FILTERS {
                        return Err(at(format!("at most {MAX_FILTERS} filters")));
                    }
                    for f in &e.filters {
                        if !valid_key(&f.property) {
                            return Err(at(format!("'{}' is not a property key", f.property)));
                        }
                        match &f.value {
                            Value::String(_) if !matches!(f.op, CmpOp::Eq | CmpOp::Ne) => {
                                return Err(at(format!(
                                    "property '{}': strings compare with = or != only",
                                    f.property
                                )))
                            }
                            Value::String(_) => {}
                            Value::Number(n) if n.as_f64().is_some() => {}
                            _ => {
                                return Err(at(format!(
                                    "property '{}': compare with a string or a number",
                                    f.property
                                )))
                            }
                        }
                    }
                    if !(0..=1_000_000).contains(&e.count.value) {
                        return Err(at("the count is between 0 and 1,000,000".into()));
                    }
                    if let Some(d) = e.within_days {
                        if !(1..=MAX_WINDOW_DAYS).contains(&d) {
                            return Err(at(format!(
                                "within_days is between 1 and {MAX_WINDOW_DAYS}"
                            )));
                        }
                    }
                }
                Condition::Trait(t) => {
                    if !valid_key(&t.key) {
                        return Err(at(format!("'{}' is not a trait key", t.key)));
                    }
                    match t.op {
                        TraitOp::Exists | TraitOp::NotExists => {
                            if !t.value.is_null() {
                                return Err(at(format!("{:?} takes no value", t.op)));
                            }
                        }
                        TraitOp::WithinNextDays
                        | TraitOp::WithinLastDays
                        | TraitOp::BeforeDaysAgo => {
                            if !t
                                .value
                                .as_i64()
                                .is_some_and(|d| (0..=MAX_WINDOW_DAYS).contains(&d))
                            {
                                return Err(at(format!(
                                    "the value is a number of days, 0 to {MAX_WINDOW_DAYS}"
                                )));
                            }
                        }
                        TraitOp::Eq | TraitOp::Ne => {
                            if !(t.value.is_string() || t.value.as_f64().is_some()) {
                                return Err(at("compare with a string or a number".into()));
                            }
                        }
                        TraitOp::Gt | TraitOp::Ge | TraitOp::Lt | TraitOp::Le => {
                            if t.value.as_f64().is_none() {
                                return Err(at(
                                    "ordering compares numbers; for dates use the day operators"
                                        .into(),
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// What may change this rule's answer for a person when it arrives: the
    /// event names it counts, and [`IDENTIFY_TRIGGER`] for trait conditions.
    pub fn triggers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.conditions {
            match c {
                Condition::Event(e) => out.extend(e.events.iter().cloned()),
                Condition::Trait(_) => out.push(IDENTIFY_TRIGGER.to_owned()),
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// A bound parameter of a generated query.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Float(f64),
}

/// SQL selecting the `pid` (surviving profile id) of everyone the rule
/// holds for, and its parameters. With `scope`, only that surviving profile
/// is considered (re-evaluation as events arrive).
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
}

struct Builder {
    backend: Backend,
    params: Vec<Param>,
}

impl Builder {
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    fn path(&mut self, key: &str) -> String {
        match self.backend {
            Backend::Sqlite => {
                let path = key
                    .split('.')
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(".");
                self.bind(Param::Text(format!("$.{path}")))
            }
            Backend::Postgres => {
                let parts = key.split('.').collect::<Vec<_>>().join(",");
                self.bind(Param::Text(format!("{{{parts}}}")))
            }
        }
    }

    /// The field `key` of the JSON text columns `cols` (first present wins), as text.
    fn json_text(&mut self, cols: &[&str], key: &str) -> String {
        let p = self.path(key);
        let parts: Vec<String> = cols
            .iter()
            .map(|c| match self.backend {
                Backend::Sqlite => format!(
                    "CASE WHEN json_type({c}, {p}) IN ('text', 'integer', 'real') THEN CAST(json_extract({c}, {p}) AS TEXT) END"
                ),
                Backend::Postgres => format!(
                    "CASE WHEN jsonb_typeof({c}::jsonb #> CAST({p} AS TEXT[])) IN ('string', 'number') THEN {c}::jsonb #>> CAST({p} AS TEXT[]) END"
                ),
            })
            .collect();
        coalesce(parts)
    }

    /// The field `key` as a number, NULL when it is not one.
    fn json_number(&mut self, cols: &[&str], key: &str) -> String {
        let p = self.path(key);
        let parts: Vec<String> = cols
            .iter()
            .map(|c| match self.backend {
                Backend::Sqlite => format!(
                    "CASE WHEN json_type({c}, {p}) IN ('integer', 'real') THEN CAST(json_extract({c}, {p}) AS REAL) END"
                ),
                Backend::Postgres => format!(
                    "CASE WHEN jsonb_typeof({c}::jsonb #> CAST({p} AS TEXT[])) = 'number' THEN CAST({c}::jsonb #>> CAST({p} AS TEXT[]) AS DOUBLE PRECISION) END"
                ),
            })
            .collect();
        coalesce(parts)
    }

    /// Whether the field is present with any non-null value.
    fn json_present(&mut self, cols: &[&str], key: &str) -> String {
        let p = self.path(key);
        let parts: Vec<String> = cols
            .iter()
            .map(|c| match self.backend {
                Backend::Sqlite => format!("COALESCE(json_type({c}, {p}), 'null') <> 'null'"),
                Backend::Postgres => format!(
                    "COALESCE(jsonb_typeof({c}::jsonb #> CAST({p} AS TEXT[])), 'null') <> 'null'"
                ),
            })
            .collect();
        format!("({})", parts.join(" OR "))
    }

    fn compare(&mut self, cols: &[&str], key: &str, op: CmpOp, value: &Value) -> String {
        match value {
            Value::String(s) => {
                let left = self.json_text(cols, key);
                let right = self.bind(Param::Text(s.clone()));
                format!("{left} {} {right}", op.sql())
            }
            other => {
                let left = self.json_number(cols, key);
                let right = self.bind(Param::Float(other.as_f64().unwrap_or(0.0)));
                format!("{left} {} {right}", op.sql())
            }
        }
    }
}

/// `COALESCE` of the parts (SQLite wants at least two arguments).
fn coalesce(parts: Vec<String>) -> String {
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        format!("COALESCE({})", parts.join(", "))
    }
}

/// The date `days` from `now` in the brand's zone, as `YYYY-MM-DD`.
fn day(now: Micros, days: i64) -> String {
    crate::clock::to_datetime(now + crate::insight::REPORT_OFFSET + days * DAY)
        .format("%Y-%m-%d")
        .to_string()
}

/// Builds the query for `rule` as of `now`.
pub fn query(rule: &Rule, backend: Backend, now: Micros, scope: Option<&str>) -> Query {
    let mut b = Builder {
        backend,
        params: Vec::new(),
    };
    let mut parts: Vec<String> = Vec::new();
    for (i, c) in rule.conditions.iter().enumerate() {
        let sql = match c {
            Condition::Event(e) => event_sql(&mut b, e, now, scope),
            Condition::Trait(t) => trait_sql(&mut b, t, now, scope),
        };
        parts.push(format!("SELECT pid FROM ({sql}) AS c{i}"));
    }
    let joiner = match rule.matches {
        Match::All => " INTERSECT ",
        Match::Any => " UNION ",
    };
    Query {
        sql: parts.join(joiner),
        params: b.params,
    }
}

/// What an event scan reads from each matching event besides its person.
#[derive(Debug, Clone, Copy)]
pub enum ScanValue<'a> {
    None,
    /// A property as text.
    Text(&'a str),
    /// A property as a number.
    Number(&'a str),
}

/// SQL listing `pid, v, at` for every event of `events` passing `filters`
/// in the last `within_days` (all history when `None`), where `pid` is the
/// surviving profile and `v` the chosen property (NULL without one).
pub fn event_scan(
    backend: Backend,
    events: &[String],
    filters: &[PropertyFilter],
    within_days: Option<i64>,
    value: ScanValue<'_>,
    now: Micros,
) -> Query {
    let mut b = Builder {
        backend,
        params: Vec::new(),
    };
    let v = match value {
        ScanValue::None => "NULL".to_owned(),
        ScanValue::Text(key) => b.json_text(&["e.properties"], key),
        ScanValue::Number(key) => b.json_number(&["e.properties"], key),
    };
    let names: Vec<String> = events
        .iter()
        .map(|n| b.bind(Param::Text(n.clone())))
        .collect();
    let mut conditions = vec![format!("e.event IN ({})", names.join(", "))];
    if let Some(days) = within_days {
        let since = b.bind(Param::Int(now - days * DAY));
        conditions.push(format!("e.occurred_at >= {since}"));
    }
    for f in filters {
        conditions.push(b.compare(&["e.properties"], &f.property, f.op, &f.value));
    }
    Query {
        sql: format!(
            "SELECT COALESCE(p.merged_into, p.id) AS pid, {v} AS v, e.occurred_at AS at \
             FROM raw_events e JOIN profiles p ON p.id = e.profile_id WHERE {}",
            conditions.join(" AND ")
        ),
        params: b.params,
    }
}

fn event_sql(b: &mut Builder, e: &EventCondition, now: Micros, scope: Option<&str>) -> String {
    let names: Vec<String> = e
        .events
        .iter()
        .map(|n| b.bind(Param::Text(n.clone())))
        .collect();
    let mut filters = vec![format!("e.event IN ({})", names.join(", "))];
    if let Some(days) = e.within_days {
        let since = b.bind(Param::Int(now - days * DAY));
        filters.push(format!("e.occurred_at >= {since}"));
    }
    for f in &e.filters {
        filters.push(b.compare(&["e.properties"], &f.property, f.op, &f.value));
    }
    if let Some(s) = scope {
        let s = b.bind(Param::Text(s.to_owned()));
        filters.push(format!(
            "e.profile_id IN (SELECT id FROM profiles WHERE id = {s} OR merged_into = {s})"
        ));
    }
    let n = b.bind(Param::Int(e.count.value));
    let op = e.count.op.sql();
    let counted = format!(
        "SELECT COALESCE(p.merged_into, p.id) AS pid FROM raw_events e JOIN profiles p ON p.id = e.profile_id \
         WHERE {} GROUP BY COALESCE(p.merged_into, p.id)",
        filters.join(" AND ")
    );
    if e.count.op.holds(0, e.count.value) {
        // Zero satisfies the count: everyone except those whose count fails it.
        let scope_filter = match scope {
            Some(s) => format!(" AND p.id = {}", b.bind(Param::Text(s.to_owned()))),
            None => String::new(),
        };
        format!(
            "SELECT p.id AS pid FROM profiles p WHERE p.merged_into IS NULL{scope_filter} \
             AND p.id NOT IN ({counted} HAVING NOT (COUNT(*) {op} {n}))"
        )
    } else {
        format!("{counted} HAVING COUNT(*) {op} {n}")
    }
}

fn trait_sql(b: &mut Builder, t: &TraitCondition, now: Micros, scope: Option<&str>) -> String {
    let cols = ["p.computed", "p.traits"];
    let predicate = match t.op {
        TraitOp::Exists => b.json_present(&cols, &t.key),
        TraitOp::NotExists => format!("NOT {}", b.json_present(&cols, &t.key)),
        TraitOp::Eq => b.compare(&cols, &t.key, CmpOp::Eq, &t.value),
        TraitOp::Ne => b.compare(&cols, &t.key, CmpOp::Ne, &t.value),
        TraitOp::Gt => b.compare(&cols, &t.key, CmpOp::Gt, &t.value),
        TraitOp::Ge => b.compare(&cols, &t.key, CmpOp::Ge, &t.value),
        TraitOp::Lt => b.compare(&cols, &t.key, CmpOp::Lt, &t.value),
        TraitOp::Le => b.compare(&cols, &t.key, CmpOp::Le, &t.value),
        TraitOp::WithinNextDays | TraitOp::WithinLastDays | TraitOp::BeforeDaysAgo => {
            let days = t.value.as_i64().unwrap_or(0);
            let date = format!("substr({}, 1, 10)", b.json_text(&cols, &t.key));
            let today = day(now, 0);
            match t.op {
                TraitOp::WithinNextDays => {
                    let from = b.bind(Param::Text(today));
                    let to = b.bind(Param::Text(day(now, days)));
                    format!("{date} >= {from} AND {date} <= {to}")
                }
                TraitOp::WithinLastDays => {
                    let from = b.bind(Param::Text(day(now, -days)));
                    let to = b.bind(Param::Text(today));
                    format!("{date} >= {from} AND {date} <= {to}")
                }
                _ => {
                    let before = b.bind(Param::Text(day(now, -days)));
                    format!("{date} < {before}")
                }
            }
        }
    };
    let scope_filter = match scope {
        Some(s) => format!(" AND p.id = {}", b.bind(Param::Text(s.to_owned()))),
        None => String::new(),
    };
    format!(
        "SELECT p.id AS pid FROM profiles p WHERE p.merged_into IS NULL{scope_filter} AND ({predicate})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_rules_read_and_name_their_triggers() {
        let rule = Rule::from_json(&json!({"match": "all", "conditions": [
            {"type": "event", "events": ["Product Viewed"],
             "filters": [{"property": "category", "op": "=", "value": "gaming_laptop"}],
             "count": {"op": ">=", "value": 3}, "within_days": 30},
            {"type": "trait", "trait": "warranty_ends_at", "op": "within_next_days", "value": 60}
        ]}))
        .unwrap();
        assert_eq!(
            rule.triggers(),
            vec![IDENTIFY_TRIGGER.to_owned(), "Product Viewed".to_owned()]
        );
    }

    #[test]
    fn bad_rules_are_refused_with_the_place_named() {
        for (rule, needle) in [
            (json!({"conditions": []}), "1 to 20"),
            (
                json!({"conditions": [{"type": "event", "events": []}]}),
                "conditions[0]",
            ),
            (
                json!({"conditions": [{"type": "event", "events": ["x"], "within_days": 0}]}),
                "within_days",
            ),
            (
                json!({"conditions": [{"type": "trait", "trait": "a b", "op": "exists"}]}),
                "not a trait key",
            ),
            (
                json!({"conditions": [{"type": "trait", "trait": "city", "op": ">", "value": "x"}]}),
                "ordering",
            ),
            (
                json!({"conditions": [{"type": "event", "events": ["x"], "filters": [{"property": "c", "op": ">", "value": "a"}]}]}),
                "= or !=",
            ),
            (json!({"conditions": [{"type": "sql"}]}), "cannot be read"),
            (
                json!({"conditions": [{"type": "event", "events": ["x"], "bogus": 1}]}),
                "cannot be read",
            ),
        ] {
            let err = Rule::from_json(&rule).unwrap_err();
            assert_eq!(err.code(), "invalid_rule");
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn a_count_that_zero_satisfies_includes_people_without_events() {
        let rule = Rule::from_json(&json!({"conditions": [
            {"type": "event", "events": ["Order Completed"], "count": {"op": "<", "value": 1}}
        ]}))
        .unwrap();
        let q = query(&rule, Backend::Sqlite, 0, None);
        assert!(q.sql.contains("NOT IN"), "{}", q.sql);
        let rule = Rule::from_json(&json!({"conditions": [
            {"type": "event", "events": ["Order Completed"]}
        ]}))
        .unwrap();
        assert!(!query(&rule, Backend::Sqlite, 0, None)
            .sql
            .contains("NOT IN"));
    }

    #[test]
    fn days_are_counted_in_the_brands_zone() {
        // 2026-01-31 20:00 UTC is already 1 February in China.
        let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 31)
            .and_then(|d| d.and_hms_opt(20, 0, 0))
            .map(|t| t.and_utc().timestamp_micros())
            .unwrap();
        assert_eq!(day(at, 0), "2026-02-01");
        assert_eq!(day(at, 60), "2026-04-02");
    }
}
