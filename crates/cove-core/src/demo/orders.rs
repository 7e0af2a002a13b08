//! A member's purchases: orders and their lines over the years, attributed to
//! the channel, store, reseller and staff member that made them, and the
//! devices shipped with them, some bound to the member by QR code.

use super::catalog::{Product, Service, Status};
use super::customers::{self, Draft};
use super::history::{Batch, Counters, DeviceRow, LineRow, MemberRow, OrderRow, World};
use crate::clock::{Micros, DAY, HOUR, MINUTE, SECOND};
use crate::db::new_id;
use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

const YEAR: Micros = 365 * DAY;
/// Chance that a buyer orders again after their first order, and after later ones.
const REPEAT_FIRST: f64 = 0.34;
const REPEAT_LATER: f64 = 0.65;
const MAX_ORDERS: usize = 8;
/// Mean days from joining online to a first order, and between orders.
const FIRST_GAP_DAYS: f64 = 18.0;
const REPEAT_GAP_DAYS: f64 = 200.0;
/// Chance that a buyer binds a device that came with an order.
const BIND_ONLINE: f64 = 0.26;
const BIND_IN_STORE: f64 = 0.22;

/// Weighted product choices per persona.
pub struct Shelf {
    computers: [Pick; 3],
    devices: [Pick; 3],
    monitors: [Pick; 3],
    accessories: [Pick; 3],
    services: [Pick; 3],
    /// Archived products are sold before this time only.
    archived_until: Micros,
    fallback: usize,
}

struct Pick {
    products: Vec<usize>,
    weights: WeightedIndex<u32>,
}

impl Pick {
    fn new(
        products: &[Product],
        persona: usize,
        filter: impl Fn(&Product) -> bool,
    ) -> anyhow::Result<Self> {
        let chosen: Vec<usize> = (0..products.len())
            .filter(|i| filter(&products[*i]) && products[*i].spec.status != Status::Draft)
            .collect();
        let weights = WeightedIndex::new(
            chosen
                .iter()
                .map(|i| products[*i].spec.appeal[persona].max(1)),
        )?;
        Ok(Self {
            products: chosen,
            weights,
        })
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        self.products[self.weights.sample(rng)]
    }
}

impl Shelf {
    pub fn new(products: &[Product], archived_until: Micros) -> anyhow::Result<Self> {
        let per_persona = |filter: &dyn Fn(&Product) -> bool| -> anyhow::Result<[Pick; 3]> {
            Ok([
                Pick::new(products, 0, filter)?,
                Pick::new(products, 1, filter)?,
                Pick::new(products, 2, filter)?,
            ])
        };
        let fallback = products
            .iter()
            .position(|p| p.spec.status == Status::Active && p.spec.kind() == "device")
            .unwrap_or(0);
        Ok(Self {
            computers: per_persona(&|p| matches!(p.spec.category, "laptops" | "desktops"))?,
            devices: per_persona(&|p| p.spec.kind() == "device")?,
            monitors: per_persona(&|p| p.spec.category == "monitors")?,
            accessories: per_persona(&|p| p.spec.kind() == "accessory")?,
            services: per_persona(&|p| p.spec.kind() == "service")?,
            archived_until,
            fallback,
        })
    }

    /// A product someone with `persona` looks at while browsing.
    pub fn browse(&self, persona: usize, rng: &mut impl Rng) -> usize {
        if rng.gen_bool(0.75) {
            self.devices[persona].sample(rng)
        } else {
            self.accessories[persona].sample(rng)
        }
    }

    /// A product from `pick` that is on sale at `at`.
    fn choose(
        &self,
        pick: &[Pick; 3],
        persona: usize,
        at: Micros,
        world: &World,
        rng: &mut impl Rng,
    ) -> usize {
        for _ in 0..6 {
            let p = pick[persona].sample(rng);
            if world.products[p].spec.status == Status::Active || at < self.archived_until {
                return p;
            }
        }
        self.fallback
    }
}

/// What the member's purchases add up to, for their tier, points and events.
pub struct History {
    pub orders: Vec<OrderNote>,
    /// Indices into the batch's devices.
    pub devices: Vec<usize>,
    pub spend_fen: i64,
}

pub struct OrderNote {
    pub id: String,
    pub order_no: String,
    pub channel: &'static str,
    pub store_id: Option<String>,
    pub status: &'static str,
    pub total_fen: i64,
    pub placed_at: Micros,
    pub paid_at: Option<Micros>,
    pub main: usize,
}

impl History {
    /// The member as stored: tier by completed spend, points earned less redeemed.
    pub fn member_row(
        &self,
        draft: Draft,
        world: &World,
        batch: &Batch,
        rng: &mut impl Rng,
    ) -> MemberRow {
        let bound = self
            .devices
            .iter()
            .filter(|d| batch.devices[**d].bound_at.is_some())
            .count();
        let spend_yuan = self.spend_fen / 100;
        let tier = customers::tier(spend_yuan);
        let multiplier = match tier {
            "diamond" => 2.0,
            "gold" => 1.5,
            "silver" => 1.2,
            _ => 1.0,
        };
        let earned = 200 + bound as i64 * 100 + (spend_yuan as f64 * multiplier) as i64;
        let redeemed = if earned > 1_000 {
            (earned as f64 * rng.gen_range(0.0..0.7)) as i64
        } else {
            0
        };
        MemberRow {
            store_id: draft
                .store
                .and_then(|s| world.network.stores.get(s))
                .map(|s| s.id.clone()),
            id: draft.id,
            member_no: draft.member_no,
            name: draft.name,
            phone: draft.phone,
            city: draft.city,
            tier,
            points: earned - redeemed,
            joined_channel: draft.joined_channel,
            staff_id: draft.staff_id,
            birthday: draft.birthday,
            joined_at: draft.joined_at,
        }
    }
}

fn in_store(channel: &str) -> bool {
    matches!(channel, "offline_store" | "reseller")
}

fn weighted(options: &[(&'static str, u32)], rng: &mut impl Rng) -> &'static str {
    let total: u32 = options.iter().map(|o| o.1).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (name, w) in options {
        if x < *w {
            return name;
        }
        x -= w;
    }
    options.first().map(|o| o.0).unwrap_or("mini_program")
}

fn order_channel(draft: &Draft, first: bool, rng: &mut impl Rng) -> &'static str {
    match (draft.joined_channel, first) {
        ("offline_store", true) => "offline_store",
        ("reseller", true) => "reseller",
        ("offline_store", false) => weighted(
            &[
                ("offline_store", 35),
                ("mini_program", 45),
                ("wecom", 12),
                ("h5", 8),
            ],
            rng,
        ),
        ("reseller", false) => weighted(
            &[
                ("reseller", 40),
                ("mini_program", 45),
                ("wecom", 5),
                ("h5", 10),
            ],
            rng,
        ),
        ("wecom", _) => weighted(&[("wecom", 55), ("mini_program", 40), ("h5", 5)], rng),
        _ => weighted(
            &[
                ("mini_program", 62),
                ("h5", 13),
                ("wecom", 8),
                ("offline_store", 12),
                ("reseller", 5),
            ],
            rng,
        ),
    }
}

/// Generates the member's orders, lines and devices into `batch`.
pub fn generate(
    draft: &Draft,
    world: &World,
    counters: &mut Counters,
    rng: &mut impl Rng,
    batch: &mut Batch,
) -> History {
    let cal = &world.calendar;
    let mut history = History {
        orders: Vec::new(),
        devices: Vec::new(),
        spend_fen: 0,
    };
    if draft.joined_channel == "device_qr" {
        // Bought elsewhere; joined by scanning the QR code on the computer.
        let product = world.shelf.choose(
            &world.shelf.computers,
            draft.persona,
            draft.joined_at,
            world,
            rng,
        );
        let shipped_at = draft.joined_at - rng.gen_range(2 * DAY..40 * DAY);
        let years = world.products[product].spec.warranty_years;
        history.devices.push(batch.devices.len());
        batch.devices.push(DeviceRow {
            service_tag: counters.service_tag(),
            product,
            shipped_at,
            base_ends_at: shipped_at + years * YEAR,
            warranty_ends_at: shipped_at + years * YEAR,
            sales_channel: "retail",
            bound_via: if rng.gen_bool(0.8) {
                "qr_chassis"
            } else {
                "qr_manual"
            },
            member_id: Some(draft.id.clone()),
            bound_at: Some(draft.joined_at),
        });
    }
    if !draft.buyer {
        return history;
    }
    let mut previous: Option<Micros> = None;
    for n in 0..MAX_ORDERS {
        let first = n == 0;
        let channel = order_channel(draft, first, rng);
        let at = match previous {
            None if in_store(draft.joined_channel) => Some(draft.joined_at),
            None => cal.next_purchase(draft.joined_at, FIRST_GAP_DAYS, in_store(channel), rng),
            Some(prev) => cal.next_purchase(prev, REPEAT_GAP_DAYS, in_store(channel), rng),
        };
        let Some(at) = at else { break };
        order(
            draft,
            world,
            counters,
            rng,
            batch,
            &mut history,
            channel,
            at,
            first,
        );
        previous = Some(at);
        let again = if first { REPEAT_FIRST } else { REPEAT_LATER };
        if !rng.gen_bool(again) {
            break;
        }
    }
    history
}

#[allow(clippy::too_many_arguments)]
fn order(
    draft: &Draft,
    world: &World,
    counters: &mut Counters,
    rng: &mut impl Rng,
    batch: &mut Batch,
    history: &mut History,
    channel: &'static str,
    at: Micros,
    first: bool,
) {
    let cal = &world.calendar;
    let network = &world.network;
    let shelf = &world.shelf;
    let persona = draft.persona;

    // Attribution.
    let mut store = None;
    let mut staff_id = None;
    match channel {
        "offline_store" | "reseller" => {
            let reseller = channel == "reseller";
            store = draft
                .store
                .filter(|s| network.stores[*s].reseller_id.is_some() == reseller)
                .or_else(|| world.pickers.store(network, reseller, draft.city, rng));
            if let Some(s) = store {
                staff_id = network.staff_at(&network.stores[s], rng.gen_bool(0.6));
            }
        }
        "wecom" => {
            if draft.staff_id.is_some() {
                staff_id = draft.staff_id.clone();
                store = draft.store;
            } else if let Some((user, s)) = &network.store_staff {
                if rng.gen_bool(0.7) {
                    staff_id = Some(user.clone());
                    store = Some(*s);
                }
            }
        }
        _ => {
            // Members a store or reseller brought in, buying online.
            if draft.store.is_some() && rng.gen_bool(0.6) {
                store = draft.store;
                if rng.gen_bool(0.5) {
                    staff_id = draft.staff_id.clone();
                }
            }
        }
    }
    let store_row = store.and_then(|s| network.stores.get(s));
    let store_id = store_row.map(|s| s.id.clone());
    let reseller_id = store_row.and_then(|s| s.reseller_id.clone());

    // Basket.
    let owns_device = history
        .devices
        .iter()
        .any(|d| batch.devices[*d].warranty_ends_at > at);
    let roll = rng.gen_range(0..100);
    let main = if first && draft.joined_channel != "device_qr" {
        if roll < 88 {
            shelf.choose(&shelf.devices, persona, at, world, rng)
        } else {
            shelf.choose(&shelf.accessories, persona, at, world, rng)
        }
    } else if roll < 50 {
        shelf.choose(&shelf.devices, persona, at, world, rng)
    } else if roll < 82 || !owns_device {
        shelf.choose(&shelf.accessories, persona, at, world, rng)
    } else {
        shelf.choose(&shelf.services, persona, at, world, rng)
    };
    let main_spec = world.products[main].spec;
    let business = main_spec.kind() == "device"
        && rng.gen_bool(match channel {
            "wecom" => 0.16,
            "offline_store" => 0.10,
            "reseller" => 0.08,
            _ => 0.03,
        });
    let main_quantity = if business {
        rng.gen_range(2..=12)
    } else if main_spec.kind() == "accessory" && rng.gen_bool(0.12) {
        2
    } else {
        1
    };
    let mut basket: Vec<(usize, i64)> = vec![(main, main_quantity)];
    let add = |p: usize, q: i64, basket: &mut Vec<(usize, i64)>| {
        if basket.len() < 3 && basket.iter().all(|(b, _)| *b != p) {
            basket.push((p, q));
        }
    };
    match main_spec.category {
        "laptops" | "desktops" => {
            if rng.gen_bool(0.5) {
                add(
                    shelf.choose(&shelf.accessories, persona, at, world, rng),
                    1,
                    &mut basket,
                );
            }
            if rng.gen_bool(0.4) {
                add(
                    shelf.choose(&shelf.services, persona, at, world, rng),
                    main_quantity,
                    &mut basket,
                );
            }
            if rng.gen_bool(0.2) {
                add(
                    shelf.choose(&shelf.monitors, persona, at, world, rng),
                    1,
                    &mut basket,
                );
            }
        }
        "monitors" | "accessories" if rng.gen_bool(0.3) => {
            add(
                shelf.choose(&shelf.accessories, persona, at, world, rng),
                1,
                &mut basket,
            );
        }
        _ => {}
    }

    // Status and payment.
    let age = cal.end - at;
    let online = !in_store(channel);
    let roll = rng.gen_range(0..100);
    let status = if roll < 4 {
        "cancelled"
    } else if roll < 7 {
        "refunded"
    } else if online && age < 2 * DAY {
        if rng.gen_bool(0.55) {
            "paid"
        } else {
            "shipped"
        }
    } else if online && age < 6 * DAY && rng.gen_bool(0.65) {
        "shipped"
    } else {
        "completed"
    };
    let paid_at = (status != "cancelled").then(|| {
        if online {
            at + rng.gen_range(20 * SECOND..20 * MINUTE)
        } else {
            at + rng.gen_range(10 * SECOND..3 * MINUTE)
        }
        .min(cal.end - SECOND)
    });

    // Lines.
    counters.orders += 1;
    let order_id = new_id();
    let order_no = format!(
        "AU{}{:08}",
        super::calendar::local_date(at).format("%Y%m%d"),
        counters.orders
    );
    let promotion = cal.promotion(at);
    let mut total_fen = 0;
    let mut extension_years = 0;
    for (product, quantity) in &basket {
        let spec = world.products[*product].spec;
        let mut unit_price_fen = spec.price_fen();
        if promotion && spec.kind() == "device" && spec.price_yuan >= 1_000 {
            // 10% off, priced to end in 9: 8,999 becomes 7,999.
            unit_price_fen = ((spec.price_yuan * 9 / 10) / 100 * 100 - 1) * 100;
        }
        if let Service::Extension(years) = spec.service {
            extension_years = (extension_years + years).min(2);
        }
        total_fen += unit_price_fen * quantity;
        batch.lines.push(LineRow {
            id: new_id(),
            order_id: order_id.clone(),
            product: *product,
            quantity: *quantity,
            unit_price_fen,
        });
    }

    // Devices ship with completed and shipped orders.
    if let (Some(paid), "completed" | "shipped") = (paid_at, status) {
        let shipped_at = if online {
            (paid + rng.gen_range(8 * HOUR..60 * HOUR)).min(cal.end - SECOND)
        } else {
            paid
        };
        let bind = if online { BIND_ONLINE } else { BIND_IN_STORE };
        for (product, quantity) in &basket {
            let spec = world.products[*product].spec;
            if spec.kind() != "device" {
                continue;
            }
            for unit in 0..*quantity {
                let bound_at = (unit == 0 && rng.gen_bool(bind))
                    .then(|| {
                        shipped_at
                            + HOUR
                            + (super::calendar::exponential(5.0, rng) * DAY as f64) as Micros
                    })
                    .filter(|t| *t < cal.end);
                if unit == 0 {
                    history.devices.push(batch.devices.len());
                }
                batch.devices.push(DeviceRow {
                    service_tag: counters.service_tag(),
                    product: *product,
                    shipped_at,
                    base_ends_at: shipped_at + spec.warranty_years * YEAR,
                    warranty_ends_at: shipped_at + (spec.warranty_years + extension_years) * YEAR,
                    sales_channel: if in_store(channel) {
                        "retail"
                    } else {
                        "direct"
                    },
                    bound_via: if in_store(channel) {
                        "qr_chassis"
                    } else {
                        "purchase"
                    },
                    member_id: bound_at.map(|_| draft.id.clone()),
                    bound_at,
                });
            }
        }
        // A warranty extension bought on its own extends the latest device in warranty.
        if main_spec.kind() == "service" {
            if let Service::Extension(years) = main_spec.service {
                if let Some(d) = history
                    .devices
                    .iter()
                    .rev()
                    .find(|d| batch.devices[**d].warranty_ends_at > at)
                {
                    let device = &mut batch.devices[*d];
                    device.warranty_ends_at =
                        (device.warranty_ends_at + years * YEAR).min(device.shipped_at + 5 * YEAR);
                }
            }
        }
    }
    if status == "completed" {
        history.spend_fen += total_fen;
    }
    history.orders.push(OrderNote {
        id: order_id.clone(),
        order_no: order_no.clone(),
        channel,
        store_id: store_id.clone(),
        status,
        total_fen,
        placed_at: at,
        paid_at,
        main,
    });
    batch.orders.push(OrderRow {
        id: order_id,
        order_no,
        member_id: draft.id.clone(),
        channel,
        store_id,
        reseller_id,
        staff_id,
        status,
        total_fen,
        placed_at: at,
        paid_at,
    });
}

impl Counters {
    /// A unique seven-character service tag: a keyed permutation of the
    /// device sequence in base 36.
    pub fn service_tag(&mut self) -> String {
        const SPACE: u128 = 36u128.pow(7);
        // Coprime with 36, so the map is a bijection on 0..36^7.
        const STEP: u128 = 2_654_435_761;
        let n = (self.devices as u128 * STEP + self.tag_offset as u128) % SPACE;
        self.devices += 1;
        let mut n = n as u64;
        let mut tag = [b'0'; 7];
        for c in tag.iter_mut().rev() {
            *c = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(n % 36) as usize];
            n /= 36;
        }
        String::from_utf8_lossy(&tag).into_owned()
    }
}
