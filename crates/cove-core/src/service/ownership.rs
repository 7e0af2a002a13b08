//! Binding and ownership: a member binds a device they hold, one active owner
//! at a time, with every binding kept as history.
//!
//! Possession is proven by the signature of the device's QR code (only the
//! code printed on the device, its box or manual carries it) or by a paid
//! order of the same model (each order line binds at most its quantity).
//!
//! Transfers: the owner hands the device to another member. A transfer to a
//! member in another region is international: it needs an active
//! international entitlement, the device's region becomes the new one, and
//! on-site entitlements end on the transfer day (on-site service is
//! delivered by the home region's field network and does not travel).

use super::devices::{self, Binding};
use super::entitlements::Kind;
use super::qr::SigningKey;
use super::tag::ServiceTag;
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::Micros;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;

/// A member and the profile they are (events are about profiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub member_id: String,
    pub profile_id: String,
}

/// How the member proves they hold the device.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Proof {
    /// The `s` parameter of the scanned device code.
    QrSignature { signature: String },
    /// A paid order of this member containing the device's model.
    Purchase { order_id: String },
}

/// Where the binding started, for the binding-rate reports.
pub const BOUND_VIA: &[&str] = &[
    "qr_chassis",
    "qr_software",
    "qr_manual",
    "manual_entry",
    "purchase",
    "staff",
];

/// Binds `tag` to `owner`. Binding a device one already owns returns that
/// binding; a device owned by someone else is refused (`device_already_bound`),
/// also when two members race for it: exactly one wins.
pub async fn bind(
    conn: &mut Conn,
    key: &SigningKey,
    tag: &ServiceTag,
    owner: &Owner,
    proof: &Proof,
    via: &str,
    at: Micros,
) -> Result<Binding> {
    if !BOUND_VIA.contains(&via) {
        return Err(Error::invalid(
            "invalid_bound_via",
            format!("bound_via must be one of {}", BOUND_VIA.join(", ")),
        ));
    }
    let device = devices::get(conn, tag).await?;
    let proof_text = match proof {
        Proof::QrSignature { signature } => {
            if !key.verify(tag, signature) {
                return Err(Error::invalid(
                    "invalid_signature",
                    "the code's signature does not match this device; scan the code on the device",
                ));
            }
            "qr_signature".to_owned()
        }
        Proof::Purchase { order_id } => {
            check_purchase(conn, &device.product_id, &owner.member_id, order_id).await?;
            format!("order:{order_id}")
        }
    };
    if let Some(current) = &device.member_id {
        if *current == owner.member_id {
            return active_binding(conn, tag).await;
        }
        return Err(already_bound());
    }
    start_binding(
        conn,
        tag,
        owner,
        via,
        &proof_text,
        at,
        &device.model_code,
        "device.bound",
    )
    .await
}

fn already_bound() -> Error {
    Error::conflict(
        "device_already_bound",
        "this device is bound to another member; the owner can transfer it to you",
    )
}

#[allow(clippy::too_many_arguments)]
async fn start_binding(
    conn: &mut Conn,
    tag: &ServiceTag,
    owner: &Owner,
    via: &str,
    proof: &str,
    at: Micros,
    model: &str,
    event: &str,
) -> Result<Binding> {
    // The guarded update is the race's referee: on PostgreSQL the loser waits
    // for the winner's row lock and then matches no row; SQLite has one writer.
    let won = sqlx::query(
        "UPDATE devices SET member_id = $1, bound_at = $2 WHERE service_tag = $3 AND member_id IS NULL",
    )
    .bind(&owner.member_id)
    .bind(at)
    .bind(tag.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !won {
        return Err(already_bound());
    }
    let before: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM device_bindings WHERE service_tag = $1 AND member_id = $2",
    )
    .bind(tag.as_str())
    .bind(&owner.member_id)
    .fetch_one(&mut *conn)
    .await?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO device_bindings (id, service_tag, member_id, profile_id, bound_via, proof, bound_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(tag.as_str())
    .bind(&owner.member_id)
    .bind(&owner.profile_id)
    .bind(via)
    .bind(proof)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    emit(
        conn,
        &DomainEvent::new(
            event,
            owner.profile_id.clone(),
            format!("{event}:{id}"),
            json!({
                "service_tag": tag,
                "model": model,
                "member_id": owner.member_id,
                "bound_via": via,
                // Earn rules reward a member's first binding of a device, not rebinds.
                "first_binding": before == 0,
            }),
            at,
        ),
    )
    .await?;
    Ok(Binding {
        id,
        member_id: owner.member_id.clone(),
        bound_via: via.to_owned(),
        proof: proof.to_owned(),
        bound_at: at,
        ended_at: None,
        end_reason: None,
    })
}

async fn active_binding(conn: &mut Conn, tag: &ServiceTag) -> Result<Binding> {
    devices::bindings(conn, tag)
        .await?
        .into_iter()
        .find(|b| b.ended_at.is_none())
        .ok_or_else(|| Error::not_found("binding"))
}

/// A paid, not cancelled or refunded order of `member_id` with a line of the
/// model, of which fewer units are bound than were bought.
async fn check_purchase(
    conn: &mut Conn,
    product_id: &str,
    member_id: &str,
    order_id: &str,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT o.member_id, o.paid_at, o.status, \
         CAST(COALESCE((SELECT SUM(l.quantity) FROM order_lines l WHERE l.order_id = o.id AND l.product_id = $2), 0) AS BIGINT) \
         FROM orders o WHERE o.id = $1",
    )
    .bind(order_id)
    .bind(product_id)
    .fetch_optional(&mut *conn)
    .await?;
    let no_proof = || {
        Error::invalid(
            "purchase_not_found",
            "no paid order of yours contains this device's model",
        )
    };
    let row = row.ok_or_else(no_proof)?;
    let buyer: Option<String> = row.try_get(0)?;
    let paid_at: Option<Micros> = row.try_get(1)?;
    let status: String = row.try_get(2)?;
    let quantity: i64 = row.try_get(3)?;
    if buyer.as_deref() != Some(member_id)
        || paid_at.is_none()
        || matches!(status.as_str(), "cancelled" | "refunded")
        || quantity == 0
    {
        return Err(no_proof());
    }
    let used: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT b.service_tag) FROM device_bindings b JOIN devices d ON d.service_tag = b.service_tag \
         WHERE b.proof = $1 AND d.product_id = $2",
    )
    .bind(format!("order:{order_id}"))
    .bind(product_id)
    .fetch_one(&mut *conn)
    .await?;
    if used >= quantity {
        return Err(Error::conflict(
            "purchase_fully_bound",
            "every unit of this model in the order is already bound",
        ));
    }
    Ok(())
}

/// The owner unbinds the device (it can be bound again by whoever holds it).
pub async fn unbind(conn: &mut Conn, tag: &ServiceTag, owner: &Owner, at: Micros) -> Result<()> {
    end_ownership(conn, tag, &owner.member_id, "unbound", at).await?;
    emit(
        conn,
        &DomainEvent::new(
            "device.unbound",
            owner.profile_id.clone(),
            format!("device.unbound:{tag}:{at}"),
            json!({ "service_tag": tag, "member_id": owner.member_id }),
            at,
        ),
    )
    .await?;
    Ok(())
}

async fn end_ownership(
    conn: &mut Conn,
    tag: &ServiceTag,
    member_id: &str,
    reason: &str,
    at: Micros,
) -> Result<()> {
    let released = sqlx::query(
        "UPDATE devices SET member_id = NULL, bound_at = NULL WHERE service_tag = $1 AND member_id = $2",
    )
    .bind(tag.as_str())
    .bind(member_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if released == 0 {
        devices::get(conn, tag).await?;
        return Err(Error::conflict(
            "not_device_owner",
            "this device is not bound to you",
        ));
    }
    sqlx::query(
        "UPDATE device_bindings SET ended_at = $1, end_reason = $2 WHERE service_tag = $3 AND ended_at IS NULL",
    )
    .bind(at)
    .bind(reason)
    .bind(tag.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The owner transfers the device to another member living in `to_region`
/// (the device's own region when `None`). See the module docs for the rule.
pub async fn transfer(
    conn: &mut Conn,
    tag: &ServiceTag,
    from: &Owner,
    to: &Owner,
    to_region: Option<&str>,
    at: Micros,
) -> Result<Binding> {
    if from.member_id == to.member_id {
        return Err(Error::invalid(
            "transfer_to_self",
            "the device is already yours",
        ));
    }
    let device = devices::get(conn, tag).await?;
    if device.member_id.as_deref() != Some(from.member_id.as_str()) {
        return Err(Error::conflict(
            "not_device_owner",
            "this device is not bound to you",
        ));
    }
    let region = match to_region {
        None => device.region.clone(),
        Some(r) => {
            let r = r.trim().to_ascii_uppercase();
            if r.len() != 2 || !r.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(Error::invalid(
                    "invalid_region",
                    "region is an ISO 3166-1 alpha-2 country code, e.g. CN",
                ));
            }
            r
        }
    };
    let international = region != device.region;
    if international {
        let covered = devices::entitlements(conn, tag, at)
            .await?
            .iter()
            .any(|e| e.kind == Kind::International && e.active);
        if !covered {
            return Err(Error::conflict(
                "international_warranty_required",
                "a transfer to another region needs an active international warranty",
            ));
        }
        sqlx::query(
            "UPDATE device_entitlements SET ends_at = $1, \
             starts_at = CASE WHEN starts_at < $1 THEN starts_at ELSE $1 - 1 END \
             WHERE service_tag = $2 AND kind = $3 AND ends_at > $1",
        )
        .bind(at)
        .bind(tag.as_str())
        .bind(Kind::Onsite.as_str())
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE devices SET region = $1 WHERE service_tag = $2")
            .bind(&region)
            .bind(tag.as_str())
            .execute(&mut *conn)
            .await?;
    }
    let previous = active_binding(conn, tag).await?;
    end_ownership(conn, tag, &from.member_id, "transferred", at).await?;
    emit(
        conn,
        &DomainEvent::new(
            "device.transferred",
            from.profile_id.clone(),
            format!("device.transferred:{}", previous.id),
            json!({ "service_tag": tag, "from_member_id": from.member_id, "to_member_id": to.member_id, "international": international, "region": region }),
            at,
        ),
    )
    .await?;
    start_binding(
        conn,
        tag,
        to,
        "transfer",
        &format!("transfer:{}", previous.id),
        at,
        &device.model_code,
        "device.bound",
    )
    .await
}
