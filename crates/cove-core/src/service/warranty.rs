//! Warranty: online activation, international registration, entitlements
//! granted by purchases and member benefits, and the lookup customers and
//! staff see.

use super::devices::{self, Device};
use super::entitlements::{add_months, parse_service_level, Entitlement, Kind, Origin};
use super::import::BASE_REFERENCE;
use super::ownership::Owner;
use super::policy::{self, StartFrom};
use super::tag::ServiceTag;
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::{self, Micros, DAY};
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Covered by the factory warranty or an extension now.
    InWarranty,
    /// The model's warranty starts on activation, and it has not been activated.
    NotActivated,
    Expired,
}

/// What a lookup by service tag shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Warranty {
    pub device: Device,
    pub status: Status,
    /// End of warranty cover (base and extensions), when there is any.
    pub ends_at: Option<Micros>,
    pub days_remaining: i64,
    /// For activation policies: activate before this to start on the activation day.
    pub activation_due_by: Option<Micros>,
    pub international: bool,
    pub entitlements: Vec<Entitlement>,
}

/// The warranty of `tag` as of `at`.
pub async fn lookup(conn: &mut Conn, tag: &ServiceTag, at: Micros) -> Result<Warranty> {
    let device = devices::get(conn, tag).await?;
    let entitlements = devices::entitlements(conn, tag, at).await?;
    let policy = policy::of_product(conn, &device.product_id).await?;
    let ends_at = entitlements
        .iter()
        .filter(|e| e.kind.is_warranty())
        .map(|e| e.ends_at)
        .max();
    let covered = entitlements
        .iter()
        .any(|e| e.kind.is_warranty() && e.active);
    let awaiting_activation = policy.start_from == StartFrom::Activation
        && device.activated_at.is_none()
        && !entitlements.iter().any(|e| e.kind == Kind::Base);
    let status = if covered {
        Status::InWarranty
    } else if awaiting_activation {
        Status::NotActivated
    } else {
        Status::Expired
    };
    let days_remaining = match (status, ends_at) {
        (Status::InWarranty, Some(end)) => (end - at).div_euclid(DAY),
        _ => 0,
    };
    Ok(Warranty {
        status,
        ends_at,
        days_remaining,
        activation_due_by: awaiting_activation
            .then(|| device.shipped_at + policy.activation_window_days * DAY),
        international: entitlements
            .iter()
            .any(|e| e.kind == Kind::International && e.active),
        entitlements,
        device,
    })
}

/// Grants `months` of `kind` to the device — the entry point for commerce
/// (an extension bought as a service product) and membership (a benefit or a
/// points redemption). Idempotent on (`origin`, `reference`): granting again
/// returns the first grant unchanged.
///
/// Extensions continue the warranty: they start when the current cover ends
/// (or now, if it has ended). Other kinds start now, or when the same kind's
/// current cover ends.
pub async fn grant_entitlement(
    conn: &mut Conn,
    tag: &ServiceTag,
    kind: Kind,
    months: i64,
    origin: Origin,
    reference: &str,
) -> Result<Entitlement> {
    grant(
        conn,
        tag,
        kind,
        months,
        origin,
        reference,
        None,
        clock::now(),
    )
    .await
}

/// [`grant_entitlement`] with an explicit service level and time.
#[allow(clippy::too_many_arguments)]
pub async fn grant(
    conn: &mut Conn,
    tag: &ServiceTag,
    kind: Kind,
    months: i64,
    origin: Origin,
    reference: &str,
    service_level: Option<&str>,
    at: Micros,
) -> Result<Entitlement> {
    let reference = reference.trim();
    if reference.is_empty() || reference.len() > 128 {
        return Err(Error::invalid(
            "invalid_reference",
            "a grant needs a reference of 1–128 characters (an order id, a benefit id…)",
        ));
    }
    if kind == Kind::Base || origin == Origin::Shipped {
        return Err(Error::invalid(
            "base_not_grantable",
            "the factory warranty comes from the device's policy, not from a grant",
        ));
    }
    if let Some(existing) = by_reference(conn, tag, origin, reference, at).await? {
        return Ok(existing);
    }
    let device = devices::get(conn, tag).await?;
    let current = devices::entitlements(conn, tag, at).await?;
    let continues = |e: &&Entitlement| {
        if kind == Kind::Extended {
            e.kind.is_warranty()
        } else {
            e.kind == kind
        }
    };
    let latest = current.iter().filter(continues).max_by_key(|e| e.ends_at);
    let starts_at = latest.map_or(at, |e| e.ends_at.max(at));
    let ends_at = add_months(starts_at, months)?;
    let level = match service_level {
        Some(level) => parse_service_level(level)?,
        None => match (kind, latest) {
            (Kind::Extended, Some(e)) => e.service_level.clone(),
            _ => kind.default_service_level().to_owned(),
        },
    };
    let inserted = sqlx::query(
        "INSERT INTO device_entitlements (id, service_tag, kind, service_level, starts_at, ends_at, \
         origin, reference, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(tag.as_str())
    .bind(kind.as_str())
    .bind(&level)
    .bind(starts_at)
    .bind(ends_at)
    .bind(origin.as_str())
    .bind(reference)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 && kind.is_warranty() && ends_at > device.warranty_ends_at {
        raise_warranty_end(conn, tag, ends_at).await?;
    }
    by_reference(conn, tag, origin, reference, at)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("a granted entitlement vanished")))
}

/// Withdraws a granted entitlement (a refunded extension): its cover ends
/// at `at`, or, not yet begun, never starts. Cover granted later keeps its
/// dates. Returns false when no such grant exists.
pub async fn withdraw(
    conn: &mut Conn,
    tag: &ServiceTag,
    origin: Origin,
    reference: &str,
    at: Micros,
) -> Result<bool> {
    let ended = sqlx::query(
        "UPDATE device_entitlements SET ends_at = $1, \
         starts_at = CASE WHEN starts_at < $1 THEN starts_at ELSE $1 - 1 END \
         WHERE service_tag = $2 AND origin = $3 AND reference = $4 AND ends_at > $1",
    )
    .bind(at)
    .bind(tag.as_str())
    .bind(origin.as_str())
    .bind(reference)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if ended == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE devices SET warranty_ends_at = COALESCE((SELECT MAX(e.ends_at) FROM device_entitlements e \
         WHERE e.service_tag = devices.service_tag AND e.kind IN ($2, $3)), warranty_ends_at) \
         WHERE service_tag = $1",
    )
    .bind(tag.as_str())
    .bind(Kind::Base.as_str())
    .bind(Kind::Extended.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

async fn raise_warranty_end(conn: &mut Conn, tag: &ServiceTag, ends_at: Micros) -> Result<()> {
    sqlx::query(
        "UPDATE devices SET warranty_ends_at = $1 WHERE service_tag = $2 AND warranty_ends_at < $1",
    )
    .bind(ends_at)
    .bind(tag.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn by_reference(
    conn: &mut Conn,
    tag: &ServiceTag,
    origin: Origin,
    reference: &str,
    at: Micros,
) -> Result<Option<Entitlement>> {
    let row = sqlx::query(
        "SELECT id, kind, service_level, starts_at, ends_at FROM device_entitlements \
         WHERE service_tag = $1 AND origin = $2 AND reference = $3",
    )
    .bind(tag.as_str())
    .bind(origin.as_str())
    .bind(reference)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        let starts_at: Micros = r.try_get(3)?;
        let ends_at: Micros = r.try_get(4)?;
        Ok(Entitlement {
            id: r.try_get(0)?,
            kind: Kind::parse(&r.try_get::<String, _>(1)?)?,
            service_level: r.try_get(2)?,
            starts_at,
            ends_at,
            origin,
            reference: reference.to_owned(),
            active: starts_at <= at && at < ends_at,
        })
    })
    .transpose()
}

/// The owner activates the warranty online. For activation policies this
/// starts the factory warranty: on the activation day within the window after
/// shipping, on the window's last day after it. Activating again changes nothing.
pub async fn activate(
    conn: &mut Conn,
    tag: &ServiceTag,
    owner: &Owner,
    at: Micros,
) -> Result<Warranty> {
    let device = devices::get(conn, tag).await?;
    if device.member_id.as_deref() != Some(owner.member_id.as_str()) {
        return Err(Error::conflict(
            "not_device_owner",
            "only the device's bound owner can activate its warranty",
        ));
    }
    let first = sqlx::query(
        "UPDATE devices SET activated_at = $1 WHERE service_tag = $2 AND activated_at IS NULL",
    )
    .bind(at)
    .bind(tag.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if first {
        let policy = policy::of_product(conn, &device.product_id).await?;
        if policy.start_from == StartFrom::Activation {
            let window_end = device.shipped_at + policy.activation_window_days * DAY;
            let starts_at = at.min(window_end).max(device.shipped_at);
            let ends_at = add_months(starts_at, policy.base_months)?;
            sqlx::query(
                "INSERT INTO device_entitlements (id, service_tag, kind, service_level, starts_at, \
                 ends_at, origin, reference, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(new_id())
            .bind(tag.as_str())
            .bind(Kind::Base.as_str())
            .bind(&policy.service_level)
            .bind(starts_at)
            .bind(ends_at)
            .bind(Origin::Shipped.as_str())
            .bind(BASE_REFERENCE)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            raise_warranty_end(conn, tag, ends_at).await?;
        }
        emit(
            conn,
            &DomainEvent::new(
                "warranty.activated",
                owner.profile_id.clone(),
                format!("warranty.activated:{tag}"),
                json!({ "service_tag": tag, "model": device.model_code, "member_id": owner.member_id }),
                at,
            ),
        )
        .await?;
        crate::membership::earn::action(
            conn,
            crate::db::backend_of(conn),
            &owner.member_id,
            "warranty_activation",
            &format!("warranty_activation:{tag}"),
            at,
        )
        .await?;
    }
    lookup(conn, tag, at).await
}

/// The owner registers the device for international service: cover abroad
/// for as long as the warranty runs now. Needs an active warranty; registering
/// again returns the first registration.
pub async fn register_international(
    conn: &mut Conn,
    tag: &ServiceTag,
    owner: &Owner,
    at: Micros,
) -> Result<Warranty> {
    let warranty = lookup(conn, tag, at).await?;
    if warranty.device.member_id.as_deref() != Some(owner.member_id.as_str()) {
        return Err(Error::conflict(
            "not_device_owner",
            "only the device's bound owner can register international warranty",
        ));
    }
    if warranty.international {
        return Ok(warranty);
    }
    let (Status::InWarranty, Some(ends_at)) = (warranty.status, warranty.ends_at) else {
        return Err(Error::conflict(
            "warranty_not_active",
            "international warranty needs an active warranty",
        ));
    };
    sqlx::query(
        "INSERT INTO device_entitlements (id, service_tag, kind, service_level, starts_at, ends_at, \
         origin, reference, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(tag.as_str())
    .bind(Kind::International.as_str())
    .bind(Kind::International.default_service_level())
    .bind(at)
    .bind(ends_at)
    .bind(Origin::Registered.as_str())
    .bind(format!("international:{}", owner.member_id))
    .execute(&mut *conn)
    .await?;
    lookup(conn, tag, at).await
}
