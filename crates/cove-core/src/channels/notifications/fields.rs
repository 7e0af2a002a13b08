//! Template fields: WeChat's typed data keys (`thing1`, `amount4`…) and how
//! a value from an event is written into them.
//!
//! A field's value is a pattern such as `{order_no}` or `订单 {order_no} 已发货`.
//! A pattern that is a single placeholder of a number keeps its meaning:
//! fen become `¥12.50` in an `amount` field, micros become
//! `2026-12-04 10:00` in a `time` field (in the rule's time zone). Every
//! value is then cut to the limit WeChat sets for its type, so a long
//! product name never makes WeChat refuse the whole message (errcode 47003).

use crate::clock::{self, Micros};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// The data key types of subscription and template messages, with the
/// longest value WeChat accepts for each (in characters).
const TYPES: &[(&str, usize)] = &[
    ("thing", 20),
    ("character_string", 32),
    ("time", 32),
    ("date", 32),
    ("amount", 32),
    ("number", 32),
    ("phrase", 5),
    ("name", 10),
    ("letter", 32),
    ("symbol", 5),
    ("phone_number", 17),
    ("car_number", 8),
];

/// The type of a data key: `thing1` → `thing`; None for an unknown type.
pub fn key_type(key: &str) -> Option<&'static str> {
    let name = key.trim_end_matches(|c: char| c.is_ascii_digit());
    if name.len() == key.len() || key.len() - name.len() > 2 {
        return None;
    }
    TYPES.iter().find(|(t, _)| *t == name).map(|(t, _)| *t)
}

/// Free text (a WeCom message) has no field type; it is kept within 2,000 characters.
fn limit(kind: &str) -> usize {
    TYPES
        .iter()
        .find(|(t, _)| *t == kind)
        .map_or(2000, |(_, n)| *n)
}

/// The placeholders of a pattern, in order: `a {x} b {y}` → `["x", "y"]`.
pub fn placeholders(pattern: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        names.push(&rest[start + 1..start + len]);
        rest = &rest[start + len + 1..];
    }
    names
}

/// `1250` fen → `¥12.50`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", fen / 100, fen % 100)
}

fn local(us: Micros, tz: Tz) -> chrono::DateTime<Tz> {
    clock::to_datetime(us).with_timezone(&tz)
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Keeps the first `max` characters; a cut text ends with `…` (within the limit).
fn cut(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(max.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// Renders `pattern` for a field of type `kind` from `props`.
pub fn render(kind: &str, pattern: &str, props: &Map<String, Value>, tz: Tz) -> String {
    let names = placeholders(pattern);
    let whole = names.len() == 1 && pattern.trim() == format!("{{{}}}", names[0]);
    let typed = match (whole, names.first().and_then(|n| props.get(*n))) {
        (true, Some(Value::Number(n))) => n.as_i64().and_then(|n| match kind {
            "amount" => Some(yuan(n)),
            "time" => Some(local(n, tz).format("%Y-%m-%d %H:%M").to_string()),
            "date" => Some(local(n, tz).format("%Y-%m-%d").to_string()),
            _ => None,
        }),
        _ => None,
    };
    let text = typed.unwrap_or_else(|| {
        let mut out = pattern.to_owned();
        for name in names {
            let value = props.get(name).map(plain).unwrap_or_default();
            out = out.replacen(&format!("{{{name}}}"), &value, 1);
        }
        out
    });
    let text = match kind {
        // Only characters WeChat accepts in these types.
        "character_string" | "letter" => text
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .collect::<String>(),
        "number" => text
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '.')
            .collect(),
        _ => text,
    };
    cut(&text, limit(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props() -> Map<String, Value> {
        json!({ "order_no": "C20261204-0001", "total_fen": 1250, "at": 1_796_350_800_000_000i64,
                "subject": "极光 Pro 16 笔记本电脑开机后屏幕闪烁并且无法进入系统" })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn knows_the_wechat_field_types() {
        assert_eq!(key_type("thing1"), Some("thing"));
        assert_eq!(key_type("character_string12"), Some("character_string"));
        assert_eq!(key_type("amount4"), Some("amount"));
        assert_eq!(key_type("thing"), None, "a key ends with its number");
        assert_eq!(key_type("colour1"), None);
        assert_eq!(key_type("keyword1"), None);
    }

    #[test]
    fn numbers_become_money_and_local_times() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(render("amount", "{total_fen}", &props(), tz), "¥12.50");
        // 2026-12-04 02:20 UTC is 10:20 in Shanghai.
        assert_eq!(render("time", "{at}", &props(), tz), "2026-12-04 10:20");
        assert_eq!(render("date", "{at}", &props(), tz), "2026-12-04");
        assert_eq!(yuan(-5), "-¥0.05");
        assert_eq!(yuan(100_000_099), "¥1000000.99");
    }

    #[test]
    fn values_fit_their_type() {
        let tz = chrono_tz::Asia::Shanghai;
        let thing = render("thing", "{subject}", &props(), tz);
        assert_eq!(thing.chars().count(), 20);
        assert!(thing.ends_with('…'));
        assert_eq!(
            render("character_string", "单号 {order_no}", &props(), tz),
            "C20261204-0001"
        );
        assert_eq!(
            render("thing", "订单{order_no}已付款", &props(), tz),
            "订单C20261204-0001已付款"
        );
        assert_eq!(render("thing", "{missing}", &props(), tz), "");
    }

    #[test]
    fn finds_placeholders() {
        assert_eq!(placeholders("a {x} b {y} {"), vec!["x", "y"]);
        assert!(placeholders("no placeholders").is_empty());
    }
}
