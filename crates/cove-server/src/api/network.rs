//! Offline stores and resellers.

use crate::auth::Auth;
use crate::error::{ApiResult, Json};
use crate::state::AppState;
use axum::extract::State;
use cove_core::access::{Access, Area};
use cove_core::network::{self, Reseller, Store};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stores))
        .routes(routes!(list_resellers))
}

/// Stores, limited to the caller's own store or reseller when scoped.
#[utoipa::path(get, path = "/api/v1/stores", tag = "network", responses((status = 200, body = [Store])))]
async fn list_stores(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Store>>> {
    auth.require(Area::Network, Access::Read)?;
    let store = auth
        .store_id
        .as_deref()
        .filter(|_| auth.role == cove_core::access::Role::StoreStaff);
    Ok(Json(
        network::list_stores(&state.db, store, auth.reseller_id.as_deref()).await?,
    ))
}

/// Resellers, limited to the caller's own reseller when scoped.
#[utoipa::path(get, path = "/api/v1/resellers", tag = "network", responses((status = 200, body = [Reseller])))]
async fn list_resellers(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Reseller>>> {
    auth.require(Area::Network, Access::Read)?;
    Ok(Json(
        network::list_resellers(&state.db, auth.reseller_id.as_deref()).await?,
    ))
}
