//! The device registry: what the factory shipped, who owns it now, and the
//! view staff and customers get when they look a service tag up.

use super::entitlements::{Entitlement, Kind, Origin};
use super::tag::ServiceTag;
use crate::clock::Micros;
use crate::db::Conn;
use crate::error::{Error, Result};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Device {
    #[schema(value_type = String)]
    pub service_tag: ServiceTag,
    pub product_id: String,
    pub model_code: String,
    pub model_name_zh: String,
    pub model_name_en: String,
    pub serial: Option<String>,
    pub shipped_at: Micros,
    pub sales_channel: String,
    pub region: String,
    pub activated_at: Option<Micros>,
    /// The end of warranty cover (base and extensions) as of now.
    pub warranty_ends_at: Micros,
    pub member_id: Option<String>,
    pub bound_at: Option<Micros>,
}

const DEVICE_COLUMNS: &str = "d.service_tag, d.product_id, p.code, p.name_zh, p.name_en, d.serial, \
     d.shipped_at, d.sales_channel, d.region, d.activated_at, d.warranty_ends_at, d.member_id, d.bound_at";

/// The device with this tag, if registered. `lock` takes a row lock on
/// PostgreSQL (pass `db.backend()`-aware suffix) so changes serialise.
pub async fn find(conn: &mut Conn, tag: &ServiceTag) -> Result<Option<Device>> {
    let row = sqlx::query(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d JOIN products p ON p.id = d.product_id \
         WHERE d.service_tag = $1"
    ))
    .bind(tag.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| device_from(&r)).transpose()
}

pub async fn get(conn: &mut Conn, tag: &ServiceTag) -> Result<Device> {
    find(conn, tag)
        .await?
        .ok_or_else(|| Error::not_found("device"))
}

/// Devices a member owns now, newest binding first.
pub async fn of_member(conn: &mut Conn, member_id: &str) -> Result<Vec<Device>> {
    let rows = sqlx::query(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d JOIN products p ON p.id = d.product_id \
         WHERE d.member_id = $1 ORDER BY d.bound_at DESC, d.service_tag"
    ))
    .bind(member_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(device_from).collect()
}

fn device_from(r: &sqlx::any::AnyRow) -> Result<Device> {
    Ok(Device {
        service_tag: ServiceTag::parse(&r.try_get::<String, _>(0)?)?,
        product_id: r.try_get(1)?,
        model_code: r.try_get(2)?,
        model_name_zh: r.try_get(3)?,
        model_name_en: r.try_get(4)?,
        serial: r.try_get(5)?,
        shipped_at: r.try_get(6)?,
        sales_channel: r.try_get(7)?,
        region: r.try_get(8)?,
        activated_at: r.try_get(9)?,
        warranty_ends_at: r.try_get(10)?,
        member_id: r.try_get(11)?,
        bound_at: r.try_get(12)?,
    })
}

/// A device's entitlements, oldest first, marked active as of `at`.
pub async fn entitlements(
    conn: &mut Conn,
    tag: &ServiceTag,
    at: Micros,
) -> Result<Vec<Entitlement>> {
    let rows = sqlx::query(
        "SELECT id, kind, service_level, starts_at, ends_at, origin, reference \
         FROM device_entitlements WHERE service_tag = $1 ORDER BY starts_at, id",
    )
    .bind(tag.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let starts_at: Micros = r.try_get(3)?;
            let ends_at: Micros = r.try_get(4)?;
            Ok(Entitlement {
                id: r.try_get(0)?,
                kind: Kind::parse(&r.try_get::<String, _>(1)?)?,
                service_level: r.try_get(2)?,
                starts_at,
                ends_at,
                origin: Origin::parse(&r.try_get::<String, _>(5)?)?,
                reference: r.try_get(6)?,
                active: starts_at <= at && at < ends_at,
            })
        })
        .collect()
}

/// One row of a device's ownership history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Binding {
    pub id: String,
    pub member_id: String,
    pub bound_via: String,
    pub proof: String,
    pub bound_at: Micros,
    pub ended_at: Option<Micros>,
    pub end_reason: Option<String>,
}

pub async fn bindings(conn: &mut Conn, tag: &ServiceTag) -> Result<Vec<Binding>> {
    let rows = sqlx::query(
        "SELECT id, member_id, bound_via, proof, bound_at, ended_at, end_reason \
         FROM device_bindings WHERE service_tag = $1 ORDER BY bound_at, id",
    )
    .bind(tag.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Binding {
                id: r.try_get(0)?,
                member_id: r.try_get(1)?,
                bound_via: r.try_get(2)?,
                proof: r.try_get(3)?,
                bound_at: r.try_get(4)?,
                ended_at: r.try_get(5)?,
                end_reason: r.try_get(6)?,
            })
        })
        .collect()
}
