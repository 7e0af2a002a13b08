//! Three years of members, orders, devices and events, generated on a
//! blocking thread in chunks of members and written by the async side as they
//! arrive, each chunk in one transaction: memory stays bounded at any size.

use super::calendar::Calendar;
use super::catalog::Product;
use super::customers::{self, Pickers};
use super::network::Network;
use super::{bulk, events, orders};
use crate::clock::Micros;
use crate::db::{Backend, Db};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::time::{Duration, Instant};

/// Members per chunk (one transaction each).
const CHUNK: usize = 2_000;

pub struct MemberRow {
    pub id: String,
    pub member_no: String,
    pub name: String,
    pub phone: String,
    pub city: &'static str,
    pub tier: &'static str,
    pub points: i64,
    pub joined_channel: &'static str,
    pub store_id: Option<String>,
    pub staff_id: Option<String>,
    pub birthday: Option<String>,
    pub joined_at: Micros,
}

pub struct OrderRow {
    pub id: String,
    pub order_no: String,
    pub member_id: String,
    pub channel: &'static str,
    pub store_id: Option<String>,
    pub reseller_id: Option<String>,
    pub staff_id: Option<String>,
    pub status: &'static str,
    pub total_fen: i64,
    pub placed_at: Micros,
    pub paid_at: Option<Micros>,
}

pub struct LineRow {
    pub id: String,
    pub order_id: String,
    pub product: usize,
    pub quantity: i64,
    pub unit_price_fen: i64,
}

pub struct DeviceRow {
    pub service_tag: String,
    pub product: usize,
    pub shipped_at: Micros,
    /// End of the factory warranty; `warranty_ends_at` is later when extended.
    pub base_ends_at: Micros,
    pub warranty_ends_at: Micros,
    /// `direct` (bought from the brand) or `retail` (a store or a reseller).
    pub sales_channel: &'static str,
    /// How the owner bound it: the code on the chassis, in the manual, or the order.
    pub bound_via: &'static str,
    pub member_id: Option<String>,
    pub bound_at: Option<Micros>,
}

pub struct EventRow {
    pub id: String,
    pub kind: &'static str,
    pub name: &'static str,
    pub member_id: String,
    pub channel: &'static str,
    pub store_id: Option<String>,
    pub properties: String,
    pub occurred_at: Micros,
}

#[derive(Default)]
pub struct Batch {
    pub members: Vec<MemberRow>,
    pub orders: Vec<OrderRow>,
    pub lines: Vec<LineRow>,
    pub devices: Vec<DeviceRow>,
    pub events: Vec<EventRow>,
}

/// Everything generation reads, owned so it can move to the blocking thread.
pub struct World {
    pub calendar: Calendar,
    pub products: Vec<Product>,
    pub network: Network,
    pub pickers: Pickers,
    pub shelf: orders::Shelf,
}

/// Sequences that must stay unique across the whole run.
#[derive(Default)]
pub struct Counters {
    pub orders: u64,
    pub devices: u64,
    /// Offset of the service-tag permutation, from the seed.
    pub tag_offset: u64,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct Timings {
    pub generate: Duration,
    pub members: Duration,
    pub orders: Duration,
    pub lines: Duration,
    pub devices: Duration,
    pub events: Duration,
    pub total: Duration,
}

/// Generates and writes the history of `members` members.
pub async fn seed(db: &Db, world: World, members: usize, seed: u64) -> anyhow::Result<Timings> {
    let started = Instant::now();
    let product_ids: Vec<String> = world.products.iter().map(|p| p.id.clone()).collect();
    warranty_policies(db, &world).await?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(2);
    let generator = tokio::task::spawn_blocking(move || generate(&world, members, seed, sender));
    let mut timings = Timings::default();
    let mut write_result = Ok(());
    while let Some(batch) = receiver.recv().await {
        if let Err(e) = write(db, &batch, &product_ids, &mut timings).await {
            write_result = Err(e);
            break;
        }
    }
    // Dropping the receiver stops the generator if writing failed.
    drop(receiver);
    let generated = generator.await?;
    write_result?;
    timings.generate = generated;
    timings.total = started.elapsed();
    Ok(timings)
}

/// Runs on a blocking thread; returns the time spent generating.
fn generate(
    world: &World,
    members: usize,
    seed: u64,
    sender: tokio::sync::mpsc::Sender<Batch>,
) -> Duration {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut counters = Counters {
        tag_offset: rand::Rng::gen::<u64>(&mut rng),
        ..Counters::default()
    };
    let mut busy = Duration::ZERO;
    let mut start = 0;
    while start < members {
        let t = Instant::now();
        let end = (start + CHUNK).min(members);
        let mut batch = Batch::default();
        for i in start..end {
            let draft = customers::draft(
                i,
                members,
                &world.pickers,
                &world.network,
                &world.calendar,
                &mut rng,
            );
            let history = orders::generate(&draft, world, &mut counters, &mut rng, &mut batch);
            events::generate(&draft, &history, world, &mut rng, &mut batch);
            let member = history.member_row(draft, world, &batch, &mut rng);
            batch.members.push(member);
        }
        busy += t.elapsed();
        if sender.blocking_send(batch).is_err() {
            break;
        }
        start = end;
    }
    busy
}

/// Each computer model's factory warranty: its years from the ship date, carry-in.
async fn warranty_policies(db: &Db, world: &World) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    for p in world.products.iter().filter(|p| p.spec.warranty_years > 0) {
        crate::service::policy::set(
            &mut tx,
            &p.id,
            crate::service::policy::Policy {
                base_months: p.spec.warranty_years * 12,
                service_level: "CI".into(),
                start_from: crate::service::policy::StartFrom::Ship,
                activation_window_days: 90,
            },
            world.calendar.start,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn write(
    db: &Db,
    batch: &Batch,
    product_ids: &[String],
    timings: &mut Timings,
) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    if db.backend() == Backend::Postgres {
        // Demo data: a crash mid-seed loses at most the last chunks.
        sqlx::query("SET LOCAL synchronous_commit TO OFF")
            .execute(&mut *tx)
            .await?;
    }
    let t = Instant::now();
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO members (id, member_no, name, phone, city, tier, points, joined_channel, store_id, staff_id, birthday, joined_at) ",
        12,
        &batch.members,
        |b, m| {
            b.push_bind(m.id.as_str())
                .push_bind(m.member_no.as_str())
                .push_bind(m.name.as_str())
                .push_bind(m.phone.as_str())
                .push_bind(m.city)
                .push_bind(m.tier)
                .push_bind(m.points)
                .push_bind(m.joined_channel)
                .push_bind(m.store_id.as_deref())
                .push_bind(m.staff_id.as_deref())
                .push_bind(m.birthday.as_deref())
                .push_bind(m.joined_at);
        },
    )
    .await?;
    timings.members += t.elapsed();
    let t = Instant::now();
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO orders (id, order_no, member_id, channel, store_id, reseller_id, staff_id, status, total_fen, placed_at, paid_at) ",
        11,
        &batch.orders,
        |b, o| {
            b.push_bind(o.id.as_str())
                .push_bind(o.order_no.as_str())
                .push_bind(o.member_id.as_str())
                .push_bind(o.channel)
                .push_bind(o.store_id.as_deref())
                .push_bind(o.reseller_id.as_deref())
                .push_bind(o.staff_id.as_deref())
                .push_bind(o.status)
                .push_bind(o.total_fen)
                .push_bind(o.placed_at)
                .push_bind(o.paid_at);
        },
    )
    .await?;
    timings.orders += t.elapsed();
    let t = Instant::now();
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO order_lines (id, order_id, product_id, quantity, unit_price_fen) ",
        5,
        &batch.lines,
        |b, l| {
            b.push_bind(l.id.as_str())
                .push_bind(l.order_id.as_str())
                .push_bind(product_ids[l.product].as_str())
                .push_bind(l.quantity)
                .push_bind(l.unit_price_fen);
        },
    )
    .await?;
    timings.lines += t.elapsed();
    let t = Instant::now();
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO devices (service_tag, product_id, shipped_at, warranty_ends_at, member_id, bound_at, \
         serial, sales_channel, region, imported_at) ",
        10,
        &batch.devices,
        |b, d| {
            b.push_bind(d.service_tag.as_str())
                .push_bind(product_ids[d.product].as_str())
                .push_bind(d.shipped_at)
                .push_bind(d.warranty_ends_at)
                .push_bind(d.member_id.as_deref())
                .push_bind(d.bound_at)
                .push_bind(format!("AU{}{}", d.service_tag, d.product % 10))
                .push_bind(d.sales_channel)
                .push_bind("CN")
                .push_bind(d.shipped_at);
        },
    )
    .await?;
    // Entitlements: the factory warranty, and the extension when one was bought.
    let entitlements: Vec<(&DeviceRow, bool)> = batch
        .devices
        .iter()
        .flat_map(|d| {
            std::iter::once((d, false))
                .chain((d.warranty_ends_at > d.base_ends_at).then_some((d, true)))
        })
        .collect();
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO device_entitlements (id, service_tag, kind, service_level, starts_at, ends_at, origin, \
         reference, created_at) ",
        9,
        &entitlements,
        |b, (d, extended)| {
            let (kind, starts, ends, origin, reference) = if *extended {
                ("extended", d.base_ends_at, d.warranty_ends_at, "purchased", "demo-extension")
            } else {
                ("base", d.shipped_at, d.base_ends_at, "shipped", crate::service::import::BASE_REFERENCE)
            };
            b.push_bind(crate::db::new_id())
                .push_bind(d.service_tag.as_str())
                .push_bind(kind)
                .push_bind("CI")
                .push_bind(starts)
                .push_bind(ends)
                .push_bind(origin)
                .push_bind(reference)
                .push_bind(d.shipped_at);
        },
    )
    .await?;
    let bound: Vec<&DeviceRow> = batch
        .devices
        .iter()
        .filter(|d| d.bound_at.is_some())
        .collect();
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO device_bindings (id, service_tag, member_id, bound_via, proof, bound_at) ",
        6,
        &bound,
        |b, d| {
            b.push_bind(crate::db::new_id())
                .push_bind(d.service_tag.as_str())
                .push_bind(d.member_id.as_deref())
                .push_bind(d.bound_via)
                .push_bind(if d.bound_via == "purchase" {
                    "order"
                } else {
                    "qr_signature"
                })
                .push_bind(d.bound_at);
        },
    )
    .await?;
    timings.devices += t.elapsed();
    let t = Instant::now();
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO events (id, kind, name, member_id, channel, store_id, properties, occurred_at) ",
        8,
        &batch.events,
        |b, e| {
            b.push_bind(e.id.as_str())
                .push_bind(e.kind)
                .push_bind(e.name)
                .push_bind(e.member_id.as_str())
                .push_bind(e.channel)
                .push_bind(e.store_id.as_deref())
                .push_bind(e.properties.as_str())
                .push_bind(e.occurred_at);
        },
    )
    .await?;
    timings.events += t.elapsed();
    tx.commit().await?;
    Ok(())
}
