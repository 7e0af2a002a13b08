//! A member's behaviour stream in the shape of Segment `track` and `page`
//! calls: joining, following the service account, visits to the Mini Program
//! and H5 store, product views and carts, orders, device binding and tickets.

use super::customers::Draft;
use super::history::{Batch, EventRow, World};
use super::orders::History;
use crate::clock::{Micros, MINUTE, SECOND};
use crate::db::new_id;
use rand::Rng;
use serde_json::json;

/// Visits per member are capped so the demo stays quick at any size.
const MAX_VISITS: usize = 40;
/// And so are events per member.
pub const MAX_EVENTS: usize = 64;

/// Mini Program entry scenes: (scene, weight).
const SCENES: &[(u32, u32)] = &[
    (1089, 30), // recently used
    (1001, 20), // discover menu
    (1035, 12), // service account menu
    (1047, 8),  // scanned a Mini Program code
    (1011, 6),  // scanned a QR code
    (1007, 10), // shared in a chat
    (1008, 6),  // shared in a group
    (1043, 8),  // service account template message
];

fn scene(rng: &mut impl Rng) -> u32 {
    let mut x = rng.gen_range(0..100);
    for (s, w) in SCENES {
        if x < *w {
            return *s;
        }
        x -= w;
    }
    1089
}

fn join_channel_event(joined_channel: &str) -> &'static str {
    match joined_channel {
        "service_account" => "service_account",
        "wecom" => "wecom",
        "offline_store" => "offline_store",
        "reseller" => "reseller",
        _ => "mini_program",
    }
}

struct Stream<'a> {
    member_id: &'a str,
    events: Vec<EventRow>,
}

impl Stream<'_> {
    fn push(
        &mut self,
        kind: &'static str,
        name: &'static str,
        channel: &'static str,
        store_id: Option<String>,
        properties: serde_json::Value,
        occurred_at: Micros,
    ) {
        self.events.push(EventRow {
            id: new_id(),
            kind,
            name,
            member_id: self.member_id.to_owned(),
            channel,
            store_id,
            properties: properties.to_string(),
            occurred_at,
        });
    }
}

fn product_props(world: &World, product: usize) -> serde_json::Value {
    let p = &world.products[product];
    json!({
        "product_id": p.id,
        "sku": p.spec.code,
        "name": p.spec.name_zh,
        "category": p.spec.category,
        "price": p.spec.price_yuan,
        "line": p.spec.line(),
    })
}

/// Generates the member's events, in time order, into `batch`.
pub fn generate(
    draft: &Draft,
    history: &History,
    world: &World,
    rng: &mut impl Rng,
    batch: &mut Batch,
) {
    let cal = &world.calendar;
    let end = cal.end;
    let store_id = draft
        .store
        .and_then(|s| world.network.stores.get(s))
        .map(|s| s.id.clone());
    let mut s = Stream {
        member_id: &draft.id,
        events: Vec::with_capacity(32),
    };

    // Joining.
    let join_channel = join_channel_event(draft.joined_channel);
    s.push(
        "track",
        "Signed Up",
        join_channel,
        matches!(draft.joined_channel, "offline_store" | "reseller")
            .then(|| store_id.clone())
            .flatten(),
        json!({ "joined_channel": draft.joined_channel, "member_no": draft.member_no }),
        draft.joined_at,
    );
    let follows = draft.joined_channel == "service_account" || rng.gen_bool(0.35);
    if follows {
        let at = if draft.joined_channel == "service_account" {
            draft.joined_at - rng.gen_range(MINUTE..60 * MINUTE)
        } else {
            cal.random_time(draft.joined_at, end, rng)
        };
        let via = match draft.joined_channel {
            "offline_store" | "reseller" => "store_qr",
            "device_qr" => "device_manual",
            _ => ["search", "article", "mini_program", "moments_ad"][rng.gen_range(0..4)],
        };
        s.push(
            "track",
            "Service Account Followed",
            "service_account",
            None,
            json!({ "via": via }),
            at,
        );
    }

    // Purchases.
    for order in &history.orders {
        let online = !matches!(order.channel, "offline_store" | "reseller");
        let channel = match order.channel {
            "h5" => "h5",
            "wecom" => "wecom",
            "offline_store" => "offline_store",
            "reseller" => "reseller",
            _ => "mini_program",
        };
        if online {
            let viewed = order.placed_at - rng.gen_range(5 * MINUTE..90 * MINUTE);
            s.push(
                "track",
                "Product Viewed",
                channel,
                None,
                product_props(world, order.main),
                viewed,
            );
            s.push(
                "track",
                "Product Added",
                channel,
                None,
                product_props(world, order.main),
                order.placed_at - rng.gen_range(SECOND..5 * MINUTE),
            );
        }
        if order.status == "cancelled" {
            continue;
        }
        let props = json!({
            "order_id": order.id,
            "order_no": order.order_no,
            "revenue": order.total_fen as f64 / 100.0,
            "currency": "CNY",
            "channel": order.channel,
        });
        s.push(
            "track",
            "Order Completed",
            channel,
            order.store_id.clone(),
            props,
            order.paid_at.unwrap_or(order.placed_at),
        );
        if order.status == "refunded" {
            let at =
                order.paid_at.unwrap_or(order.placed_at) + rng.gen_range(2..15) * crate::clock::DAY;
            if at < end {
                s.push(
                    "track",
                    "Order Refunded",
                    channel,
                    order.store_id.clone(),
                    json!({ "order_id": order.id, "order_no": order.order_no }),
                    at,
                );
            }
        }
    }

    // Devices: binding and tickets.
    for d in &history.devices {
        let device = &batch.devices[*d];
        let product = &world.products[device.product];
        if let Some(bound_at) = device.bound_at {
            s.push(
                "track",
                "Device Bound",
                "mini_program",
                None,
                json!({
                    "service_tag": device.service_tag,
                    "product_id": product.id,
                    "sku": product.spec.code,
                    "via": "qr",
                    "warranty_ends_at": crate::clock::to_rfc3339(device.warranty_ends_at),
                }),
                bound_at,
            );
        }
        if rng.gen_bool(0.12) {
            let from = device.bound_at.unwrap_or(device.shipped_at);
            let to = device.warranty_ends_at.min(end);
            if from < to {
                let kind =
                    ["repair", "repair", "question", "question", "onsite"][rng.gen_range(0..5)];
                s.push(
                    "track",
                    "Ticket Opened",
                    if rng.gen_bool(0.7) {
                        "mini_program"
                    } else {
                        "service_account"
                    },
                    None,
                    json!({ "service_tag": device.service_tag, "ticket_kind": kind }),
                    cal.random_time(from, to, rng),
                );
            }
        }
    }

    // Visits: more the longer someone has been a member.
    let tenure = (end - draft.joined_at) as f64 / (end - cal.start) as f64;
    let mean = (2.0 + 19.0 * tenure.max(0.0).sqrt()) * if draft.buyer { 1.1 } else { 0.8 };
    let visits = (1 + super::calendar::exponential(mean, rng) as usize).min(MAX_VISITS);
    for _ in 0..visits {
        if s.events.len() + 3 > MAX_EVENTS {
            break;
        }
        let at = cal.random_time(draft.joined_at, end, rng);
        let roll = rng.gen_range(0..100);
        let channel = if roll < 72 {
            s.push(
                "track",
                "Mini Program Opened",
                "mini_program",
                None,
                json!({ "scene": scene(rng) }),
                at,
            );
            "mini_program"
        } else {
            let (channel, referrer) = if roll < 90 {
                (
                    "h5",
                    ["search", "direct", "moments_ad"][rng.gen_range(0..3)],
                )
            } else {
                ("service_account", "service_account_menu")
            };
            s.push(
                "page",
                "Home",
                channel,
                None,
                json!({ "path": "/", "title": "极光电脑官方商城", "referrer": referrer }),
                at,
            );
            channel
        };
        let mut t = at;
        if rng.gen_bool(0.5) {
            t += rng.gen_range(10 * SECOND..3 * MINUTE);
            let product = world.shelf.browse(draft.persona, rng);
            s.push(
                "track",
                "Product Viewed",
                channel,
                None,
                product_props(world, product),
                t,
            );
            if rng.gen_bool(0.12) {
                t += rng.gen_range(10 * SECOND..3 * MINUTE);
                s.push(
                    "track",
                    "Product Added",
                    channel,
                    None,
                    product_props(world, product),
                    t,
                );
            }
        }
        if rng.gen_bool(0.1) {
            t += rng.gen_range(10 * SECOND..3 * MINUTE);
            let (name, path) = if rng.gen_bool(0.5) {
                ("Member Center", "/member")
            } else {
                ("Service Center", "/service")
            };
            s.push("page", name, channel, None, json!({ "path": path }), t);
        }
    }
    let mut events = s.events;
    events.retain(|e| e.occurred_at < end);
    events.sort_by_key(|e| e.occurred_at);
    events.truncate(MAX_EVENTS);
    batch.events.extend(events);
}
