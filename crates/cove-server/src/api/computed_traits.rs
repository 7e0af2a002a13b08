//! Computed traits: definitions and their recomputation.

use crate::auth::Auth;
use crate::error::{ApiResult, Json};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use cove_core::access::{Access, Area};
use cove_core::audience::computed::{self, ComputedTrait, ComputedTraitInput};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_traits, create_trait))
        .routes(routes!(recompute_traits))
}

/// Computed trait definitions and when each was last computed.
#[utoipa::path(get, path = "/api/v1/computed-traits", tag = "audience",
    responses((status = 200, body = [ComputedTrait])))]
async fn list_traits(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<ComputedTrait>>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(computed::list(&state.db).await?))
}

/// Define a computed trait; it is computed for everyone by a job.
#[utoipa::path(post, path = "/api/v1/computed-traits", tag = "audience", request_body = ComputedTraitInput,
    responses((status = 201, body = ComputedTrait), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn create_trait(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ComputedTraitInput>,
) -> ApiResult<(StatusCode, Json<ComputedTrait>)> {
    auth.require(Area::Audience, Access::Write)?;
    let created = computed::create(&state.db, &auth.actor(), &body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enqueued {
    pub job_id: Option<String>,
}

/// Recompute every computed trait now (by a job).
#[utoipa::path(post, path = "/api/v1/computed-traits/recompute", tag = "audience",
    responses((status = 202, body = Enqueued)))]
async fn recompute_traits(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<(StatusCode, Json<Enqueued>)> {
    auth.require(Area::Audience, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let job_id = computed::enqueue(&mut tx, "").await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(Enqueued { job_id })))
}
