//! The Segment Tracking API wire format: parsing and validating
//! identify/track/page/screen/group/alias calls and batches, clock-skew
//! correction, and the identifiers each message carries.
//!
//! A request is all-or-nothing: if any item of a batch is invalid the whole
//! request is refused with the first problem (naming the item's index) and
//! nothing from it is stored, so a client never has to guess which half of a
//! batch landed.

use super::identity::{IdType, Identifier};
use crate::clock::Micros;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// At most this many events in one `/v1/batch` request.
pub const MAX_BATCH_EVENTS: usize = 2_500;
/// At most this many bytes (after decompression) in one single-call request.
pub const MAX_CALL_BYTES: usize = 32 * 1024;
/// At most this many bytes (after decompression) in one `/v1/batch` request.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// At most this many bytes per event inside a batch.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Longest `messageId` accepted.
pub const MAX_MESSAGE_ID_LEN: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallType {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl CallType {
    pub const ALL: [CallType; 6] = [
        CallType::Identify,
        CallType::Track,
        CallType::Page,
        CallType::Screen,
        CallType::Group,
        CallType::Alias,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Identify => "identify",
            CallType::Track => "track",
            CallType::Page => "page",
            CallType::Screen => "screen",
            CallType::Group => "group",
            CallType::Alias => "alias",
        }
    }

    pub fn parse(s: &str) -> Option<CallType> {
        CallType::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One validated message, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub call: CallType,
    pub message_id: String,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// track: the event; page/screen: the name.
    pub event: Option<String>,
    pub group_id: Option<String>,
    pub previous_id: Option<String>,
    pub properties: Value,
    pub traits: Value,
    pub context: Value,
    pub integrations: Value,
    pub original_timestamp: Option<Micros>,
    pub sent_at: Option<Micros>,
    /// When Cove received the request (server clock).
    pub received_at: Micros,
    /// The event time on the server clock (see [`corrected_timestamp`]).
    pub timestamp: Micros,
}

/// `timestamp = receivedAt − (sentAt − originalTimestamp)`: the client-side
/// delay, measured on one clock, subtracted from the server's receive time.
/// Without `sentAt` the client's time is taken as given; without any client
/// time, the receive time.
pub fn corrected_timestamp(
    original: Option<Micros>,
    sent_at: Option<Micros>,
    received_at: Micros,
) -> Micros {
    match (original, sent_at) {
        (Some(original), Some(sent)) => received_at.saturating_sub(sent.saturating_sub(original)),
        (Some(original), None) => original,
        (None, _) => received_at,
    }
}

/// Parses the body of `/v1/{call}` (`call` = `None` for `/v1/batch`).
/// Returns the messages and the body's `writeKey`, if any.
pub fn parse_request(
    call: Option<CallType>,
    body: &Value,
    received_at: Micros,
) -> Result<(Vec<Message>, Option<String>)> {
    let Value::Object(top) = body else {
        return Err(Error::invalid(
            "invalid_message",
            "the body must be a JSON object",
        ));
    };
    let write_key = top
        .get("writeKey")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let top_sent_at = timestamp_field(top, "sentAt", "")?;
    let messages = match call {
        Some(call) => vec![parse_item(
            top,
            Some(call),
            top_sent_at,
            None,
            received_at,
            "",
        )?],
        None => {
            let Some(items) = top.get("batch").and_then(Value::as_array) else {
                return Err(Error::invalid(
                    "missing_batch",
                    "a batch request carries its events in a \"batch\" array",
                ));
            };
            if items.len() > MAX_BATCH_EVENTS {
                return Err(Error::invalid(
                    "batch_too_large",
                    format!(
                        "a batch holds at most {MAX_BATCH_EVENTS} events; this one has {}",
                        items.len()
                    ),
                ));
            }
            let shared = Shared {
                context: top.get("context").and_then(Value::as_object),
                integrations: top.get("integrations").and_then(Value::as_object),
            };
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let at = format!("batch[{i}]: ");
                    let Value::Object(obj) = item else {
                        return Err(Error::invalid(
                            "invalid_message",
                            format!("{at}each batch item must be a JSON object"),
                        ));
                    };
                    let size = serde_json::to_vec(item).map(|v| v.len()).unwrap_or(0);
                    if size > MAX_EVENT_BYTES {
                        return Err(Error::invalid(
                            "event_too_large",
                            format!("{at}an event is at most {MAX_EVENT_BYTES} bytes; this one has {size}"),
                        ));
                    }
                    parse_item(obj, None, top_sent_at, Some(&shared), received_at, &at)
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    Ok((messages, write_key))
}

struct Shared<'a> {
    context: Option<&'a Map<String, Value>>,
    integrations: Option<&'a Map<String, Value>>,
}

/// Batch-level keys overlaid by the item's own keys.
fn merged(shared: Option<&Map<String, Value>>, own: Option<&Value>) -> Value {
    let mut out = shared.cloned().unwrap_or_default();
    if let Some(Value::Object(own)) = own {
        for (k, v) in own {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn parse_item(
    obj: &Map<String, Value>,
    call: Option<CallType>,
    batch_sent_at: Option<Micros>,
    shared: Option<&Shared<'_>>,
    received_at: Micros,
    at: &str,
) -> Result<Message> {
    let call = match call {
        Some(c) => c,
        None => {
            let Some(t) = obj.get("type").and_then(Value::as_str) else {
                return Err(Error::invalid(
                    "missing_type",
                    format!("{at}each batch item needs a \"type\""),
                ));
            };
            CallType::parse(t).ok_or_else(|| {
                Error::invalid(
                    "invalid_type",
                    format!("{at}unknown type '{t}' (identify, track, page, screen, group, alias)"),
                )
            })?
        }
    };
    let user_id = id_field(obj, "userId", at)?;
    let anonymous_id = id_field(obj, "anonymousId", at)?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(Error::invalid(
            "missing_identity",
            format!("{at}every call needs a userId or an anonymousId"),
        ));
    }
    let event = match call {
        CallType::Track => {
            let Some(e) = string_field(obj, "event", at)?.filter(|e| !e.trim().is_empty()) else {
                return Err(Error::invalid(
                    "missing_event",
                    format!("{at}a track call needs an \"event\" name"),
                ));
            };
            if e.chars().count() > 200 {
                return Err(Error::invalid(
                    "invalid_event",
                    format!("{at}an event name is at most 200 characters"),
                ));
            }
            Some(e)
        }
        CallType::Page | CallType::Screen => string_field(obj, "name", at)?,
        _ => None,
    };
    let group_id = id_field(obj, "groupId", at)?;
    if call == CallType::Group && group_id.is_none() {
        return Err(Error::invalid(
            "missing_group_id",
            format!("{at}a group call needs a \"groupId\""),
        ));
    }
    let previous_id = id_field(obj, "previousId", at)?;
    if call == CallType::Alias {
        if previous_id.is_none() {
            return Err(Error::invalid(
                "missing_previous_id",
                format!("{at}an alias call needs a \"previousId\""),
            ));
        }
        if user_id.is_none() {
            return Err(Error::invalid(
                "missing_user_id",
                format!("{at}an alias call needs a \"userId\""),
            ));
        }
    }
    let properties = object_field(obj, "properties", at)?;
    let traits = object_field(obj, "traits", at)?;
    let (context, integrations) = match shared {
        Some(s) => (
            merged(s.context, obj.get("context")),
            merged(s.integrations, obj.get("integrations")),
        ),
        None => (
            object_field(obj, "context", at)?,
            object_field(obj, "integrations", at)?,
        ),
    };
    if !context.is_object() || !integrations.is_object() {
        return Err(Error::invalid(
            "invalid_message",
            format!("{at}context and integrations must be objects"),
        ));
    }
    let original_timestamp = match timestamp_field(obj, "originalTimestamp", at)? {
        Some(t) => Some(t),
        None => timestamp_field(obj, "timestamp", at)?,
    };
    let sent_at = timestamp_field(obj, "sentAt", at)?.or(batch_sent_at);
    let message_id = match obj.get("messageId") {
        None | Some(Value::Null) => derived_message_id(obj),
        Some(Value::String(m)) if !m.trim().is_empty() => {
            if m.chars().count() > MAX_MESSAGE_ID_LEN {
                return Err(Error::invalid(
                    "invalid_message_id",
                    format!("{at}a messageId is at most {MAX_MESSAGE_ID_LEN} characters"),
                ));
            }
            m.clone()
        }
        Some(_) => {
            return Err(Error::invalid(
                "invalid_message_id",
                format!("{at}messageId must be a non-empty string"),
            ))
        }
    };
    Ok(Message {
        call,
        message_id,
        user_id,
        anonymous_id,
        event,
        group_id,
        previous_id,
        properties,
        traits,
        context,
        integrations,
        original_timestamp,
        sent_at,
        received_at,
        timestamp: corrected_timestamp(original_timestamp, sent_at, received_at),
    })
}

/// A stable id for a message sent without one, so a retry of the same body
/// deduplicates: a digest of the item without the fields a retry changes.
fn derived_message_id(obj: &Map<String, Value>) -> String {
    let mut sorted: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "sentAt" | "writeKey" | "messageId"))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut hasher = Sha256::new();
    for (k, v) in sorted {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(canonical(v).as_bytes());
        hasher.update([0]);
    }
    format!("cove-{}", &hex::encode(hasher.finalize())[..40])
}

/// JSON text with object keys sorted, whatever map order serde_json uses.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn string_field(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid(
            "invalid_message",
            format!("{at}\"{key}\" must be a string"),
        )),
    }
}

/// An id field: a string or a number (some clients send numeric user ids);
/// empty strings count as absent.
fn id_field(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>> {
    let value = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(Error::invalid(
                "invalid_message",
                format!("{at}\"{key}\" must be a string"),
            ))
        }
    };
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > super::identity::MAX_VALUE_LEN {
        return Err(Error::invalid(
            "invalid_identity",
            format!(
                "{at}\"{key}\" is at most {} characters",
                super::identity::MAX_VALUE_LEN
            ),
        ));
    }
    Ok(Some(value))
}

fn object_field(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Value> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(Error::invalid(
            "invalid_message",
            format!("{at}\"{key}\" must be an object"),
        )),
    }
}

fn timestamp_field(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<Micros>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_timestamp(s).map(Some).ok_or_else(|| {
            Error::invalid(
                "invalid_timestamp",
                format!("{at}\"{key}\" is not an ISO-8601 time: '{s}'"),
            )
        }),
        Some(_) => Err(Error::invalid(
            "invalid_timestamp",
            format!("{at}\"{key}\" must be an ISO-8601 string"),
        )),
    }
}

/// RFC 3339 / ISO-8601 with an offset; a time without one is taken as UTC.
pub fn parse_timestamp(s: &str) -> Option<Micros> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_micros())
}

/// The identifiers a message carries, strongest first, deduplicated.
/// Malformed or blocked optional identifiers (a bad phone in traits) are
/// skipped rather than refused: they stay in the stored traits.
///
/// `previousId` of an alias is returned separately: whether it names a user
/// or an anonymous visitor is decided against the graph.
pub fn identifiers(m: &Message) -> Vec<Identifier> {
    let mut out: Vec<Identifier> = Vec::new();
    let mut push = |t: IdType, v: &str| {
        if let Ok(id) = Identifier::new(t, v) {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    };
    if let Some(u) = &m.user_id {
        push(IdType::UserId, u);
    }
    if let Some(a) = &m.anonymous_id {
        push(IdType::AnonymousId, a);
    }
    let trait_sources: Vec<&Value> = match m.call {
        CallType::Identify => vec![&m.traits, &m.context["traits"]],
        _ => vec![&m.context["traits"]],
    };
    for traits in trait_sources {
        for (key, t) in [
            ("email", IdType::Email),
            ("phone", IdType::Phone),
            ("unionid", IdType::UnionId),
            ("member_card", IdType::MemberCard),
        ] {
            if let Some(v) = traits.get(key).and_then(Value::as_str) {
                push(t, v);
            }
        }
    }
    if let Some(device) = m.context["device"]["id"].as_str() {
        push(IdType::DeviceId, device);
    }
    if let Some(external) = m.context["externalIds"].as_array() {
        for e in external {
            let (Some(t), Some(v)) = (e["type"].as_str(), e["id"].as_str()) else {
                continue;
            };
            if let Ok(t) = IdType::parse(t) {
                push(t, v);
            }
        }
    }
    out.sort_by_key(|id| id.id_type.priority());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RECEIVED: Micros = 1_714_557_600_000_000; // 2024-05-01T10:00:00Z

    fn one(call: CallType, body: Value) -> Result<Message> {
        parse_request(Some(call), &body, RECEIVED).map(|(mut m, _)| m.remove(0))
    }

    fn code(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().code().into_owned()
    }

    #[test]
    fn clock_skew_is_corrected_with_the_client_side_delay() {
        // The client clock is an hour fast; the event happened 5 s before sending.
        let m = one(
            CallType::Track,
            json!({"userId": "u", "event": "E", "messageId": "m",
                   "originalTimestamp": "2024-05-01T11:00:00Z", "sentAt": "2024-05-01T11:00:05Z"}),
        )
        .unwrap();
        assert_eq!(m.timestamp, RECEIVED - 5_000_000);
        assert_eq!(m.original_timestamp, Some(RECEIVED + 3_600_000_000));
        // A timestamp without sentAt is taken as given.
        let m = one(
            CallType::Track,
            json!({"userId": "u", "event": "E", "timestamp": "2020-01-01T00:00:00+08:00"}),
        )
        .unwrap();
        assert_eq!(
            m.timestamp,
            parse_timestamp("2019-12-31T16:00:00Z").unwrap()
        );
        let m = one(CallType::Track, json!({"userId": "u", "event": "E"})).unwrap();
        assert_eq!(m.timestamp, RECEIVED);
    }

    #[test]
    fn each_call_type_is_validated() {
        assert_eq!(
            code(one(CallType::Track, json!({"userId": "u"}))),
            "missing_event"
        );
        assert_eq!(
            code(one(CallType::Track, json!({"event": "E"}))),
            "missing_identity"
        );
        assert_eq!(
            code(one(
                CallType::Track,
                json!({"event": "E", "userId": "", "anonymousId": null})
            )),
            "missing_identity"
        );
        assert_eq!(
            code(one(CallType::Group, json!({"userId": "u"}))),
            "missing_group_id"
        );
        assert_eq!(
            code(one(CallType::Alias, json!({"userId": "u"}))),
            "missing_previous_id"
        );
        assert_eq!(
            code(one(
                CallType::Track,
                json!({"userId": "u", "event": "E", "messageId": "x".repeat(101)})
            )),
            "invalid_message_id"
        );
        assert_eq!(
            code(one(
                CallType::Track,
                json!({"userId": "u", "event": "E", "timestamp": "yesterday"})
            )),
            "invalid_timestamp"
        );
        assert_eq!(
            code(one(
                CallType::Identify,
                json!({"userId": "u", "traits": [1]})
            )),
            "invalid_message"
        );
        let numeric = one(CallType::Identify, json!({"userId": 42})).unwrap();
        assert_eq!(numeric.user_id.as_deref(), Some("42"));
        let page = one(CallType::Page, json!({"anonymousId": "a", "name": "Home"})).unwrap();
        assert_eq!(page.event.as_deref(), Some("Home"));
    }

    #[test]
    fn batches_need_types_share_context_and_are_bounded() {
        let body = json!({
            "batch": [
                {"type": "identify", "userId": "u", "context": {"ip": "1.2.3.4"}},
                {"type": "track", "userId": "u", "event": "E"}
            ],
            "context": {"ip": "9.9.9.9", "library": {"name": "x"}},
            "integrations": {"All": false},
            "writeKey": "wk",
            "sentAt": "2024-05-01T10:00:00Z"
        });
        let (ms, key) = parse_request(None, &body, RECEIVED).unwrap();
        assert_eq!(key.as_deref(), Some("wk"));
        assert_eq!(
            ms[0].context["ip"], "1.2.3.4",
            "the item's own context wins"
        );
        assert_eq!(ms[0].context["library"]["name"], "x");
        assert_eq!(ms[1].context["ip"], "9.9.9.9");
        assert_eq!(ms[1].integrations["All"], false);
        assert_eq!(ms[1].sent_at, Some(RECEIVED));

        let untyped = json!({"batch": [{"userId": "u", "event": "E"}]});
        assert_eq!(
            code(parse_request(None, &untyped, RECEIVED)),
            "missing_type"
        );
        let bad = json!({"batch": [{"type": "track", "userId": "u", "event": "E"}, {"type": "track", "userId": "u"}]});
        let err = parse_request(None, &bad, RECEIVED).unwrap_err();
        assert_eq!(err.code(), "missing_event");
        assert!(err.to_string().starts_with("batch[1]"), "{err}");
        let many = json!({"batch": vec![json!({"type": "track", "userId": "u", "event": "E"}); MAX_BATCH_EVENTS + 1]});
        assert_eq!(
            code(parse_request(None, &many, RECEIVED)),
            "batch_too_large"
        );
        let big = json!({"batch": [{"type": "track", "userId": "u", "event": "E", "properties": {"x": "y".repeat(MAX_EVENT_BYTES)}}]});
        assert_eq!(code(parse_request(None, &big, RECEIVED)), "event_too_large");
    }

    #[test]
    fn a_missing_message_id_is_derived_stably_from_the_body() {
        let a = json!({"userId": "u", "event": "E", "properties": {"a": 1, "b": 2}, "sentAt": "2024-05-01T10:00:00Z"});
        let b = json!({"properties": {"b": 2, "a": 1}, "event": "E", "userId": "u", "sentAt": "2024-05-01T10:09:00Z"});
        let c = json!({"userId": "u", "event": "E", "properties": {"a": 1, "b": 3}});
        let id = |v| one(CallType::Track, v).unwrap().message_id;
        assert_eq!(id(a.clone()), id(b));
        assert_ne!(id(a.clone()), id(c));
        assert!(id(a).len() <= MAX_MESSAGE_ID_LEN);
    }

    #[test]
    fn identifiers_come_from_ids_traits_device_and_external_ids() {
        let m = one(
            CallType::Identify,
            json!({"userId": "u-1", "anonymousId": "anon-1",
                   "traits": {"email": "A@B.CN", "phone": "13800138000"},
                   "context": {"device": {"id": "dev-1"},
                               "externalIds": [{"id": "oAbc", "type": "openid:wx123", "collection": "users"},
                                               {"id": "un-1", "type": "unionid"},
                                               {"id": "x", "type": "unknown_kind"}]}}),
        )
        .unwrap();
        let ids: Vec<String> = identifiers(&m).iter().map(ToString::to_string).collect();
        assert_eq!(
            ids,
            [
                "unionid:un-1",
                "user_id:u-1",
                "openid:wx123:oAbc",
                "email:a@b.cn",
                "device_id:dev-1",
                "anonymous_id:anon-1"
            ],
            "blocked test phone skipped, strongest first"
        );
        let t = one(CallType::Track, json!({"anonymousId": "undefined", "userId": "u", "event": "E", "traits": {"phone": "13912340000"}})).unwrap();
        let ids: Vec<String> = identifiers(&t).iter().map(ToString::to_string).collect();
        assert_eq!(
            ids,
            ["user_id:u"],
            "track traits are not identity claims; blocked anonymousId dropped"
        );
    }
}
