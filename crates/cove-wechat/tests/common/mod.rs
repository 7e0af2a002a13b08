//! Shared helpers for the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are the failure report
#![allow(dead_code)]

use std::sync::OnceLock;

use serde_json::Value;

/// The vectors file copied into `tests/data/`.
pub fn vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| {
        serde_json::from_str(include_str!("../data/wechat-test-vectors.json"))
            .expect("vectors parse")
    })
}

/// A string field of a vector (panics with the field name when missing).
pub fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} missing"))
}
