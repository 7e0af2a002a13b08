//! The customer's service center: my devices, warranty lookup by service
//! tag, binding with the scanned code or an order, unbinding, transfer,
//! warranty activation and international registration.

use crate::customer::Customer;
use crate::error::{ApiResult, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use cove_core::clock;
use cove_core::service::ownership::{self, Owner, Proof};
use cove_core::service::qr::SigningKey;
use cove_core::service::warranty::{self, Warranty};
use cove_core::service::{devices, Binding, Device, ServiceTag};
use cove_core::Error;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_devices))
        .routes(routes!(lookup))
        .routes(routes!(bind))
        .routes(routes!(unbind))
        .routes(routes!(transfer))
        .routes(routes!(activate))
        .routes(routes!(international))
}

fn owner(customer: &Customer) -> ApiResult<Owner> {
    Ok(Owner {
        member_id: customer.member()?.to_owned(),
        profile_id: customer.profile_id.clone(),
    })
}

/// A device as its customer sees it: whose it is is reduced to "mine".
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CustomerDevice {
    warranty: Warranty,
    bound: bool,
    mine: bool,
}

fn for_customer(mut warranty: Warranty, member_id: Option<&str>) -> CustomerDevice {
    let owner = warranty.device.member_id.take();
    CustomerDevice {
        bound: owner.is_some(),
        mine: owner.is_some() && owner.as_deref() == member_id,
        warranty,
    }
}

/// The devices bound to me.
#[utoipa::path(get, path = "/api/v1/store/devices", tag = "service", responses((status = 200, body = [Device])))]
async fn my_devices(
    State(state): State<AppState>,
    customer: Customer,
) -> ApiResult<Json<Vec<Device>>> {
    let member = customer.member()?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(devices::of_member(&mut conn, member).await?))
}

/// Warranty lookup by service tag (anyone signed in may look a tag up).
#[utoipa::path(get, path = "/api/v1/store/devices/{tag}", tag = "service", params(("tag" = String, Path)),
    responses((status = 200, body = CustomerDevice), (status = 404, body = crate::error::ErrorBody)))]
async fn lookup(
    State(state): State<AppState>,
    customer: Customer,
    Path(raw): Path<String>,
) -> ApiResult<Json<CustomerDevice>> {
    let tag = ServiceTag::parse(&raw)?;
    let mut conn = state.db.read().acquire().await?;
    let w = warranty::lookup(&mut conn, &tag, clock::now()).await?;
    Ok(Json(for_customer(w, customer.member_id.as_deref())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct BindBody {
    proof: Proof,
    /// Where the code was scanned: qr_chassis, qr_software, qr_manual, manual_entry, purchase.
    #[serde(default = "default_via")]
    bound_via: String,
}

fn default_via() -> String {
    "qr_chassis".into()
}

/// Bind a device I hold: proof is the scanned code's signature or my order.
#[utoipa::path(post, path = "/api/v1/store/devices/{tag}/bind", tag = "service", params(("tag" = String, Path)), request_body = BindBody,
    responses((status = 200, body = Binding), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn bind(
    State(state): State<AppState>,
    customer: Customer,
    Path(raw): Path<String>,
    Json(body): Json<BindBody>,
) -> ApiResult<Json<Binding>> {
    let owner = owner(&customer)?;
    let tag = ServiceTag::parse(&raw)?;
    if body.bound_via == "staff" {
        return Err(Error::invalid(
            "invalid_bound_via",
            "customers bind by code, entry or purchase",
        )
        .into());
    }
    let key = SigningKey::load(&state.db, &state.vault).await?;
    let mut tx = state.db.begin().await?;
    let binding = ownership::bind(
        &mut tx,
        &key,
        &tag,
        &owner,
        &body.proof,
        &body.bound_via,
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(binding))
}

/// Unbind a device of mine.
#[utoipa::path(post, path = "/api/v1/store/devices/{tag}/unbind", tag = "service", params(("tag" = String, Path)),
    responses((status = 204), (status = 409, body = crate::error::ErrorBody)))]
async fn unbind(
    State(state): State<AppState>,
    customer: Customer,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let owner = owner(&customer)?;
    let tag = ServiceTag::parse(&raw)?;
    let mut tx = state.db.begin().await?;
    ownership::unbind(&mut tx, &tag, &owner, clock::now()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct TransferBody {
    /// The recipient's member card number.
    to_member_no: String,
    /// The recipient's country (ISO 3166-1 alpha-2) when it is not the device's.
    to_region: Option<String>,
}

/// Transfer a device of mine to another member (international transfers need
/// an active international warranty; on-site cover ends at the transfer).
#[utoipa::path(post, path = "/api/v1/store/devices/{tag}/transfer", tag = "service", params(("tag" = String, Path)), request_body = TransferBody,
    responses((status = 200, body = Binding), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn transfer(
    State(state): State<AppState>,
    customer: Customer,
    Path(raw): Path<String>,
    Json(body): Json<TransferBody>,
) -> ApiResult<Json<Binding>> {
    let from = owner(&customer)?;
    let tag = ServiceTag::parse(&raw)?;
    let mut tx = state.db.begin().await?;
    let to: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT id, profile_id FROM members WHERE member_no = $1 AND merged_into IS NULL",
    )
    .bind(body.to_member_no.trim())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((member_id, Some(profile_id))) = to else {
        return Err(Error::not_found("member").into());
    };
    let to = Owner {
        member_id,
        profile_id,
    };
    let binding = ownership::transfer(
        &mut tx,
        &tag,
        &from,
        &to,
        body.to_region.as_deref(),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(binding))
}

/// Activate the warranty of a device of mine.
#[utoipa::path(post, path = "/api/v1/store/devices/{tag}/activate", tag = "service", params(("tag" = String, Path)),
    responses((status = 200, body = CustomerDevice), (status = 409, body = crate::error::ErrorBody)))]
async fn activate(
    State(state): State<AppState>,
    customer: Customer,
    Path(raw): Path<String>,
) -> ApiResult<Json<CustomerDevice>> {
    let owner = owner(&customer)?;
    let tag = ServiceTag::parse(&raw)?;
    let mut tx = state.db.begin().await?;
    let w = warranty::activate(&mut tx, &tag, &owner, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(for_customer(w, Some(&owner.member_id))))
}

/// Register a device of mine for international warranty.
#[utoipa::path(post, path = "/api/v1/store/devices/{tag}/international", tag = "service", params(("tag" = String, Path)),
    responses((status = 200, body = CustomerDevice), (status = 409, body = crate::error::ErrorBody)))]
async fn international(
    State(state): State<AppState>,
    customer: Customer,
    Path(raw): Path<String>,
) -> ApiResult<Json<CustomerDevice>> {
    let owner = owner(&customer)?;
    let tag = ServiceTag::parse(&raw)?;
    let mut tx = state.db.begin().await?;
    let w = warranty::register_international(&mut tx, &tag, &owner, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(for_customer(w, Some(&owner.member_id))))
}
