//! Order management for staff (`/api/v1/orders/...`): listing, detail,
//! shipping, delivery, cancellation, refunds and notes. Every action is
//! a state-machine move recorded on the order and in the audit log.

use super::store::{detail, OrderDetail, RefundRequest};
use crate::auth::Auth;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use cove_core::access::{Access, Area};
use cove_core::audit;
use cove_core::commerce::lifecycle;
use cove_core::commerce::orders::{self, OrderRow, Status};
use cove_core::commerce::refunds::{self, Refund};
use cove_core::insight::Scope;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(order_detail))
        .routes(routes!(ship))
        .routes(routes!(deliver))
        .routes(routes!(cancel))
        .routes(routes!(refund))
        .routes(routes!(approve_refund))
        .routes(routes!(reject_refund))
        .routes(routes!(add_note))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct Filter {
    /// Only orders in this status.
    status: Option<String>,
    /// At most this many (1–500, default 100).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(Filter), responses((status = 200, body = [OrderRow])))]
async fn list_orders(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<Filter>,
) -> ApiResult<Json<Vec<OrderRow>>> {
    auth.require(Area::Commerce, Access::Read)?;
    let status = filter.status.as_deref().map(Status::parse).transpose()?;
    let mut conn = state.db.read().acquire().await?;
    let scope = Scope::of(&auth.principal);
    Ok(Json(
        orders::list(&mut conn, None, status, scope, filter.limit.unwrap_or(100)).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", responses((status = 200, body = OrderDetail)))]
async fn order_detail(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderDetail>> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.pool().acquire().await?;
    orders::in_scope(&mut conn, &id, Scope::of(&auth.principal)).await?;
    Ok(Json(detail(&mut conn, &id).await?))
}

async fn audited(
    state: &AppState,
    auth: &Auth,
    action: &str,
    id: &str,
    detail_json: Value,
) -> ApiResult<Json<OrderDetail>> {
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        action,
        "order",
        Some(id),
        detail_json,
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(detail(&mut conn, id).await?))
}

fn actor_of(auth: &Auth) -> String {
    let a = auth.actor();
    format!("{}:{}", a.kind, a.id.unwrap_or(a.label))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Shipment {
    carrier: String,
    tracking_no: String,
}

/// Ships a paid order with its tracking number.
#[utoipa::path(post, path = "/api/v1/orders/{id}/ship", tag = "orders", request_body = Shipment, responses((status = 200, body = OrderDetail)))]
async fn ship(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(s): Json<Shipment>,
) -> ApiResult<Json<OrderDetail>> {
    auth.require(Area::Commerce, Access::Write)?;
    lifecycle::ship(&state.db, &id, &actor_of(&auth), &s.carrier, &s.tracking_no).await?;
    audited(
        &state,
        &auth,
        "order.ship",
        &id,
        json!({ "carrier": s.carrier, "tracking_no": s.tracking_no }),
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/deliver", tag = "orders", responses((status = 200, body = OrderDetail)))]
async fn deliver(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderDetail>> {
    auth.require(Area::Commerce, Access::Write)?;
    lifecycle::advance(&state.db, &id, Status::Delivered, &actor_of(&auth)).await?;
    audited(&state, &auth, "order.deliver", &id, json!({})).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Reason {
    reason: String,
}

/// Cancels an unpaid order.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", request_body = Reason, responses((status = 200, body = OrderDetail)))]
async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(r): Json<Reason>,
) -> ApiResult<Json<OrderDetail>> {
    auth.require(Area::Commerce, Access::Write)?;
    lifecycle::cancel(&state.db, &id, &actor_of(&auth), Some(&r.reason)).await?;
    audited(
        &state,
        &auth,
        "order.cancel",
        &id,
        json!({ "reason": r.reason }),
    )
    .await
}

/// Refunds the whole order or some units at once (approved by the staff member).
#[utoipa::path(post, path = "/api/v1/orders/{id}/refund", tag = "orders", request_body = RefundRequest, responses((status = 200, body = Refund)))]
async fn refund(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<RefundRequest>,
) -> ApiResult<Json<Refund>> {
    auth.require(Area::Commerce, Access::Write)?;
    let refund = refunds::request(
        &state.db,
        &id,
        &actor_of(&auth),
        req.lines.as_deref(),
        &req.reason,
        true,
    )
    .await?;
    audited(
        &state,
        &auth,
        "order.refund",
        &id,
        json!({ "refund_id": refund.id, "amount_fen": refund.amount_fen }),
    )
    .await?;
    Ok(Json(refund))
}

/// Approves a customer's refund request: the money goes back through the provider.
#[utoipa::path(post, path = "/api/v1/refunds/{id}/approve", tag = "orders", responses((status = 200, body = Refund)))]
async fn approve_refund(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Refund>> {
    auth.require(Area::Commerce, Access::Write)?;
    let refund = refunds::approve(&state.db, &id, &actor_of(&auth)).await?;
    audited(
        &state,
        &auth,
        "refund.approve",
        &refund.order_id,
        json!({ "refund_id": id }),
    )
    .await?;
    Ok(Json(refund))
}

/// Rejects a refund request: the order returns to where it was.
#[utoipa::path(post, path = "/api/v1/refunds/{id}/reject", tag = "orders", request_body = Reason, responses((status = 200, body = Refund)))]
async fn reject_refund(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(r): Json<Reason>,
) -> ApiResult<Json<Refund>> {
    auth.require(Area::Commerce, Access::Write)?;
    let refund = refunds::reject(&state.db, &id, &actor_of(&auth), &r.reason).await?;
    audited(
        &state,
        &auth,
        "refund.reject",
        &refund.order_id,
        json!({ "refund_id": id, "reason": r.reason }),
    )
    .await?;
    Ok(Json(refund))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Note {
    body: String,
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/notes", tag = "orders", request_body = Note, responses((status = 200, body = OrderDetail)))]
async fn add_note(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(n): Json<Note>,
) -> ApiResult<Json<OrderDetail>> {
    auth.require(Area::Commerce, Access::Write)?;
    lifecycle::add_note(&state.db, &id, &actor_of(&auth), &n.body).await?;
    audited(&state, &auth, "order.note", &id, json!({})).await
}
