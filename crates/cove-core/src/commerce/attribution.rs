//! Where an order came from: the channel, store, reseller, staff member,
//! campaign and QR scene — from the storefront's entry context when it
//! names one, else from the customer's last touch — plus the first and the
//! last touch from the event stream, kept on the order for subsidies and
//! analytics.

use super::checkout::Entry;
use crate::clock::Micros;
use crate::db::Conn;
use crate::error::Result;
use serde_json::{json, Value};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touch {
    pub channel: String,
    pub store_id: Option<String>,
    pub reseller_id: Option<String>,
    pub staff_id: Option<String>,
    pub campaign: Option<String>,
    pub scene: Option<String>,
    pub first: Option<Value>,
    pub last: Option<Value>,
}

const KEYS: [&str; 5] = ["channel", "scene", "campaign", "store_id", "staff_id"];

pub async fn resolve(
    conn: &mut Conn,
    profile_id: &str,
    entry: &Entry,
    session_channel: &str,
    at: Micros,
) -> Result<Touch> {
    let recent: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT event, properties, occurred_at FROM raw_events WHERE profile_id = $1 AND occurred_at <= $2 \
         ORDER BY occurred_at DESC LIMIT 50",
    )
    .bind(profile_id)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    let first: Option<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT event, properties, occurred_at FROM raw_events WHERE profile_id = $1 ORDER BY occurred_at LIMIT 1",
    )
    .bind(profile_id)
    .fetch_optional(&mut *conn)
    .await?;
    let last = recent.iter().find_map(touch_of);
    let first = first.as_ref().and_then(touch_of).or_else(|| last.clone());
    let from_last = |key: &str| {
        last.as_ref()
            .and_then(|t| t.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };

    let mut touch = Touch {
        channel: entry
            .channel
            .clone()
            .or_else(|| session_channel_name(session_channel))
            .or_else(|| from_last("channel"))
            .unwrap_or_else(|| "h5".into()),
        scene: entry.scene.clone().or_else(|| from_last("scene")),
        campaign: entry.campaign.clone().or_else(|| from_last("campaign")),
        store_id: from_last("store_id"),
        staff_id: from_last("staff_id"),
        first,
        last,
        ..Touch::default()
    };
    if let Some(scene) = &entry.scene {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT store_id, staff_id, campaign FROM qr_scenes WHERE scene = $1 ORDER BY created_at LIMIT 1",
        )
        .bind(scene)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((store, staff, campaign)) = row {
            touch.store_id = store;
            touch.staff_id = staff;
            touch.campaign = touch.campaign.or(campaign);
        }
    }
    if let Some(store) = &touch.store_id {
        touch.reseller_id = sqlx::query_scalar("SELECT reseller_id FROM stores WHERE id = $1")
            .bind(store)
            .fetch_optional(&mut *conn)
            .await?
            .flatten();
    }
    Ok(touch)
}

fn session_channel_name(session: &str) -> Option<String> {
    match session {
        "mini_program" => Some("mini_program".into()),
        "store" => Some("offline_store".into()),
        _ => None,
    }
}

/// An event that says where the customer came from, reduced to its attribution.
fn touch_of((event, properties, at): &(Option<String>, String, i64)) -> Option<Value> {
    let props: Value = serde_json::from_str(properties).ok()?;
    let mut touch = serde_json::Map::new();
    for key in KEYS {
        if let Some(v) = props.get(key).filter(|v| !v.is_null()) {
            touch.insert(key.into(), v.clone());
        }
    }
    if touch.is_empty() {
        return None;
    }
    touch.insert("event".into(), json!(event));
    touch.insert("at".into(), json!(at));
    Some(Value::Object(touch))
}
