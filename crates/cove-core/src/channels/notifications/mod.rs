//! Transactional notifications: the brand decides, per domain event
//! (`order.paid`, `ticket.status_changed`…), which WeChat message tells the
//! customer about it.
//!
//! A rule lists message options in order of preference — a Mini Program
//! subscription message, an Official Account template message, a WeCom text
//! from the customer's salesperson — each with its template and the mapping
//! from event properties to the template's typed fields. When the event is
//! recorded ([`crate::audience::domain::emit`]), [`send::on_event`] queues the
//! first option the person can be reached on, in the same transaction, under
//! a key derived from the event's key: one fact, at most one message.

pub mod fields;
pub mod send;

use super::accounts::{self, AccountKind};
use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{new_id, Db};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;

/// An event a rule can be written for, and the properties its fields may use.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct EventSpec {
    #[schema(value_type = String)]
    pub name: &'static str,
    #[schema(value_type = Vec<String>)]
    pub properties: &'static [&'static str],
}

/// Every rule may also use `at`, the moment of the event.
const ORDER: &[&str] = &[
    "order_id",
    "order_no",
    "total_fen",
    "from",
    "carrier",
    "tracking_no",
    "at",
];

const APPOINTMENT: &[&str] = &[
    "appointment_id",
    "number",
    "status",
    "service_tag",
    "territory",
    "starts_at",
    "at",
];

/// The events a rule can be written for.
pub const EVENTS: &[EventSpec] = &[
    EventSpec {
        name: "order.paid",
        properties: ORDER,
    },
    EventSpec {
        name: "order.shipped",
        properties: ORDER,
    },
    EventSpec {
        name: "order.delivered",
        properties: ORDER,
    },
    EventSpec {
        name: "order.cancelled",
        properties: ORDER,
    },
    EventSpec {
        name: "refund.succeeded",
        properties: &["order_id", "order_no", "refund_id", "amount_fen", "at"],
    },
    EventSpec {
        name: "ticket.status_changed",
        properties: &[
            "ticket_id",
            "number",
            "subject",
            "old_status",
            "new_status",
            "new_kind",
            "name_zh",
            "name_en",
            "at",
        ],
    },
    EventSpec {
        // Only an agent's public reply notifies the customer.
        name: "ticket.replied",
        properties: &["ticket_id", "number", "subject", "at"],
    },
    EventSpec {
        name: "appointment.booked",
        properties: APPOINTMENT,
    },
    EventSpec {
        name: "appointment.rescheduled",
        properties: APPOINTMENT,
    },
    EventSpec {
        name: "appointment.dispatched",
        properties: APPOINTMENT,
    },
    EventSpec {
        name: "appointment.cancelled",
        properties: APPOINTMENT,
    },
    EventSpec {
        name: "appointment.completed",
        properties: APPOINTMENT,
    },
    EventSpec {
        name: "points.expiring",
        properties: &["amount", "expires_at", "member_id", "at"],
    },
];

pub fn spec(event_name: &str) -> Option<&'static EventSpec> {
    EVENTS.iter().find(|e| e.name == event_name)
}

/// How a message reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Mini Program subscription message (needs the person's consent).
    Subscribe,
    /// Official Account template message (to a follower).
    Template,
    /// WeCom text from the customer's salesperson.
    WecomText,
}

impl Via {
    fn account_kind(self) -> AccountKind {
        match self {
            Via::Subscribe => AccountKind::MiniProgram,
            Via::Template => AccountKind::OfficialAccount,
            Via::WecomText => AccountKind::Wecom,
        }
    }
}

/// One template field: its typed key and the pattern of its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Field {
    /// `thing1`, `character_string2`, `time3`, `amount4`…
    pub key: String,
    /// `{order_no}`, or text with placeholders: `订单 {order_no} 已发货`.
    pub value: String,
}

/// One way of sending, in the rule's order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelOption {
    pub via: Via,
    pub account_id: String,
    /// Subscription and template messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// The Mini Program page a subscription message opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The web page a template message opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// WeCom: the text, with placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Sends only when one of the event's properties has one of these values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Condition {
    pub property: String,
    pub values: Vec<String>,
}

impl Condition {
    /// Whether the event's properties meet it; numbers and booleans compare
    /// as written (`3`, `true`), and a missing property never does.
    pub fn holds(&self, properties: &serde_json::Value) -> bool {
        let value = match &properties[self.property.as_str()] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return false,
        };
        self.values.contains(&value)
    }
}

const MAX_CONDITION_VALUES: usize = 20;

fn check_condition(spec: &EventSpec, condition: &Condition) -> Result<()> {
    let property = condition.property.as_str();
    if property == "at" || !spec.properties.contains(&property) {
        return Err(Error::invalid(
            "unknown_property",
            format!(
                "{} has no property {property:?} to send on; use one of {}",
                spec.name,
                spec.properties
                    .iter()
                    .filter(|p| **p != "at")
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if condition.values.is_empty()
        || condition.values.len() > MAX_CONDITION_VALUES
        || !condition.values.iter().all(|v| printable(v, 100))
    {
        return Err(Error::invalid(
            "invalid_condition",
            format!("a condition lists 1 to {MAX_CONDITION_VALUES} values of 1 to 100 characters"),
        ));
    }
    Ok(())
}

/// What the console sends to create or replace the rule of an event.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RuleInput {
    pub event_name: String,
    pub channels: Vec<ChannelOption>,
    /// Send only for these values of one property; every event when absent.
    #[serde(default)]
    pub only_when: Option<Condition>,
    /// IANA zone for `time` and `date` fields; Asia/Shanghai when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default = "enabled_default")]
    pub enabled: bool,
}

fn enabled_default() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: String,
    pub event_name: String,
    pub channels: Vec<ChannelOption>,
    pub only_when: Option<Condition>,
    pub time_zone: String,
    pub enabled: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: String,
    event_name: String,
    channels: String,
    only_when: Option<String>,
    time_zone: String,
    enabled: i64,
    created_at: Micros,
    updated_at: Micros,
}

impl RuleRow {
    fn into_rule(self) -> Rule {
        Rule {
            id: self.id,
            event_name: self.event_name,
            channels: serde_json::from_str(&self.channels).unwrap_or_default(),
            only_when: self
                .only_when
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok()),
            time_zone: self.time_zone,
            enabled: self.enabled == 1,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const MAX_OPTIONS: usize = 3;
const MAX_FIELDS: usize = 10;
const DEFAULT_ZONE: &str = "Asia/Shanghai";

fn printable(s: &str, max: usize) -> bool {
    let s = s.trim();
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

fn check_pattern(spec: &EventSpec, pattern: &str, max: usize) -> Result<()> {
    if !printable(pattern, max) {
        return Err(Error::invalid(
            "invalid_field_value",
            format!("a value is 1 to {max} printable characters"),
        ));
    }
    if let Some(unknown) = fields::placeholders(pattern)
        .into_iter()
        .find(|p| !spec.properties.contains(p))
    {
        return Err(Error::invalid(
            "unknown_property",
            format!(
                "{} has no property {{{unknown}}}; use {}",
                spec.name,
                spec.properties.join(", ")
            ),
        ));
    }
    Ok(())
}

fn check_template(spec: &EventSpec, option: &ChannelOption) -> Result<()> {
    if !option
        .template_id
        .as_deref()
        .is_some_and(|t| printable(t, 128) && !t.trim().contains(char::is_whitespace))
    {
        return Err(Error::invalid(
            "invalid_template_id",
            "a subscription or template message needs its template_id (1 to 128 characters, no spaces)",
        ));
    }
    if option.fields.is_empty() || option.fields.len() > MAX_FIELDS {
        return Err(Error::invalid(
            "invalid_fields",
            format!("a template message maps 1 to {MAX_FIELDS} fields"),
        ));
    }
    let mut keys = BTreeSet::new();
    for field in &option.fields {
        if fields::key_type(&field.key).is_none() {
            return Err(Error::invalid(
                "unknown_field_type",
                format!(
                    "{:?} is not a WeChat field key: write its type and number, e.g. thing1, \
                     character_string2, time3, amount4",
                    field.key
                ),
            ));
        }
        if !keys.insert(field.key.as_str()) {
            return Err(Error::invalid(
                "duplicate_field",
                format!("the field {} is mapped twice", field.key),
            ));
        }
        check_pattern(spec, &field.value, 200)?;
    }
    let link_ok = match option.via {
        Via::Subscribe => option.page.as_deref().is_none_or(|p| printable(p, 200)),
        _ => option
            .url
            .as_deref()
            .is_none_or(|u| u.starts_with("https://") && printable(u, 500)),
    };
    if !link_ok {
        return Err(Error::invalid(
            "invalid_link",
            "page is a Mini Program path of at most 200 characters; url is an https:// address",
        ));
    }
    Ok(())
}

/// Checks a rule completely before anything is stored.
async fn check(db: &Db, input: &RuleInput) -> Result<String> {
    let spec = spec(input.event_name.trim()).ok_or_else(|| {
        Error::invalid(
            "unknown_event",
            format!(
                "notifications exist for {}",
                EVENTS.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    if input.channels.is_empty() || input.channels.len() > MAX_OPTIONS {
        return Err(Error::invalid(
            "invalid_channels",
            format!("a rule has 1 to {MAX_OPTIONS} channel options in order of preference"),
        ));
    }
    for option in &input.channels {
        match option.via {
            Via::Subscribe | Via::Template => check_template(spec, option)?,
            Via::WecomText => {
                let text = option.text.as_deref().unwrap_or_default();
                check_pattern(spec, text, 1000)?;
            }
        }
        let account = accounts::get(db, &option.account_id)
            .await
            .map_err(|_| Error::invalid("unknown_account", "no such WeChat account"))?;
        if account.kind != option.via.account_kind() {
            return Err(Error::invalid(
                "wrong_account_kind",
                format!(
                    "this message is sent through a {} account",
                    option.via.account_kind().as_str()
                ),
            ));
        }
    }
    if let Some(condition) = &input.only_when {
        check_condition(spec, condition)?;
    }
    let zone = input.time_zone.as_deref().unwrap_or(DEFAULT_ZONE).trim();
    zone.parse::<chrono_tz::Tz>().map_err(|_| {
        Error::invalid(
            "invalid_time_zone",
            "use an IANA time zone such as Asia/Shanghai",
        )
    })?;
    Ok(zone.to_owned())
}

/// Creates or replaces the rule of `input.event_name`.
pub async fn save(db: &Db, actor: &Actor, input: RuleInput) -> Result<Rule> {
    let zone = check(db, &input).await?;
    let event_name = input.event_name.trim();
    let channels = serde_json::to_string(&input.channels)?;
    let only_when = match &input.only_when {
        Some(c) => Some(serde_json::to_string(&Condition {
            property: c.property.trim().to_owned(),
            values: c.values.iter().map(|v| v.trim().to_owned()).collect(),
        })?),
        None => None,
    };
    let now = clock::now();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO notification_rules (id, event_name, channels, time_zone, enabled, created_at, updated_at, only_when) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (event_name) DO UPDATE SET \
         channels = excluded.channels, time_zone = excluded.time_zone, enabled = excluded.enabled, \
         updated_at = excluded.updated_at, only_when = excluded.only_when",
    )
    .bind(new_id())
    .bind(event_name)
    .bind(&channels)
    .bind(&zone)
    .bind(i64::from(input.enabled))
    .bind(now)
    .bind(&only_when)
    .execute(&mut *tx)
    .await?;
    let rule = get_in(&mut tx, event_name).await?;
    audit::record(
        &mut tx,
        actor,
        "notification_rule.save",
        "notification_rule",
        Some(&rule.id),
        json!({ "event_name": event_name, "channels": input.channels.len(), "enabled": input.enabled,
                "only_when": input.only_when }),
    )
    .await?;
    tx.commit().await?;
    Ok(rule)
}

async fn get_in(conn: &mut crate::db::Conn, event_name: &str) -> Result<Rule> {
    sqlx::query_as::<_, RuleRow>(
        "SELECT id, event_name, channels, only_when, time_zone, enabled, created_at, updated_at \
         FROM notification_rules WHERE event_name = $1",
    )
    .bind(event_name)
    .fetch_optional(&mut *conn)
    .await?
    .map(RuleRow::into_rule)
    .ok_or(Error::not_found("notification rule"))
}

/// The rule of one event.
pub async fn get(db: &Db, event_name: &str) -> Result<Rule> {
    let mut conn = db.pool().acquire().await?;
    get_in(&mut conn, event_name).await
}

/// Every rule, by event name.
pub async fn list(db: &Db) -> Result<Vec<Rule>> {
    Ok(sqlx::query_as::<_, RuleRow>(
        "SELECT id, event_name, channels, only_when, time_zone, enabled, created_at, updated_at \
         FROM notification_rules ORDER BY event_name",
    )
    .fetch_all(db.read())
    .await?
    .into_iter()
    .map(RuleRow::into_rule)
    .collect())
}

/// Removes the rule of one event; its event then sends nothing.
pub async fn delete(db: &Db, actor: &Actor, event_name: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    let rule = get_in(&mut tx, event_name).await?;
    sqlx::query("DELETE FROM notification_rules WHERE id = $1")
        .bind(&rule.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "notification_rule.delete",
        "notification_rule",
        Some(&rule.id),
        json!({ "event_name": rule.event_name }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_holds_for_its_values_only() {
        let solved = Condition {
            property: "new_kind".into(),
            values: vec!["solved".into(), "closed".into()],
        };
        assert!(solved.holds(&json!({ "new_kind": "solved" })));
        assert!(!solved.holds(&json!({ "new_kind": "pending" })));
        assert!(!solved.holds(&json!({})), "a missing property never holds");
        let count = Condition {
            property: "amount".into(),
            values: vec!["100".into()],
        };
        assert!(count.holds(&json!({ "amount": 100 })));
        assert!(!count.holds(&json!({ "amount": null })));
    }

    #[test]
    fn a_condition_names_a_property_of_its_event() {
        let spec = spec("ticket.status_changed").unwrap();
        let check = |property: &str, values: &[&str]| {
            check_condition(
                spec,
                &Condition {
                    property: property.into(),
                    values: values.iter().map(|v| v.to_string()).collect(),
                },
            )
            .map_err(|e| e.code().to_string())
        };
        assert_eq!(check("new_kind", &["solved"]), Ok(()));
        assert_eq!(check("carrier", &["SF"]).unwrap_err(), "unknown_property");
        assert_eq!(check("at", &["1"]).unwrap_err(), "unknown_property");
        assert_eq!(check("new_kind", &[]).unwrap_err(), "invalid_condition");
        assert_eq!(check("new_kind", &[" "]).unwrap_err(), "invalid_condition");
    }
}
