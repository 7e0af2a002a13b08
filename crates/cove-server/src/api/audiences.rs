//! Saved audiences on the bitmap engine: live counts while editing, saved
//! expressions, stored membership with entered/exited events, samples, CSV
//! export and personas.

use crate::auth::Auth;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cove_core::access::{Access, Area};
use cove_core::audience::audiences::{self, Audience, AudienceInput, Persona, Preview};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audiences, create_audience))
        .routes(routes!(get_audience, update_audience))
        .routes(routes!(preview))
        .routes(routes!(recompute))
        .routes(routes!(sample))
        .routes(routes!(export))
        .routes(routes!(persona))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    /// Text (`tag:vip AND trait:total_spend_fen >= 500000`) or a JSON tree.
    #[schema(value_type = Object)]
    pub expression: Value,
}

/// Count an expression now, while it is being edited (nothing is saved).
/// A parse error is a 400 `invalid_expression` naming the column.
#[utoipa::path(post, path = "/api/v1/audiences/preview", tag = "audience", request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 400, body = crate::error::ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<PreviewRequest>,
) -> ApiResult<Json<Preview>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(
        audiences::preview(&state.db, &state.audience_cache, &body.expression).await?,
    ))
}

/// Saved audiences and personas.
#[utoipa::path(get, path = "/api/v1/audiences", tag = "audience", responses((status = 200, body = [Audience])))]
async fn list_audiences(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Audience>>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(audiences::list(&state.db).await?))
}

/// Save an audience; its membership is computed by a job.
#[utoipa::path(post, path = "/api/v1/audiences", tag = "audience", request_body = AudienceInput,
    responses((status = 201, body = Audience), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn create_audience(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<AudienceInput>,
) -> ApiResult<(StatusCode, Json<Audience>)> {
    auth.require(Area::Audience, Access::Write)?;
    let audience =
        audiences::create(&state.db, &state.audience_cache, &auth.actor(), &body).await?;
    Ok((StatusCode::CREATED, Json(audience)))
}

/// One audience.
#[utoipa::path(get, path = "/api/v1/audiences/{id}", tag = "audience", params(("id" = String, Path)),
    responses((status = 200, body = Audience), (status = 404, body = crate::error::ErrorBody)))]
async fn get_audience(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Audience>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(audiences::get(&state.db, &id).await?))
}

/// Change an audience; membership follows at the recompute this enqueues.
#[utoipa::path(put, path = "/api/v1/audiences/{id}", tag = "audience", params(("id" = String, Path)),
    request_body = AudienceInput,
    responses((status = 200, body = Audience), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn update_audience(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<AudienceInput>,
) -> ApiResult<Json<Audience>> {
    auth.require(Area::Audience, Access::Write)?;
    Ok(Json(
        audiences::update(&state.db, &state.audience_cache, &auth.actor(), &id, &body).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enqueued {
    /// The recompute job, or null when one was already waiting.
    pub job_id: Option<String>,
}

/// Recompute an audience's stored membership now (by a job).
#[utoipa::path(post, path = "/api/v1/audiences/{id}/recompute", tag = "audience", params(("id" = String, Path)),
    responses((status = 202, body = Enqueued), (status = 404, body = crate::error::ErrorBody)))]
async fn recompute(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Enqueued>)> {
    auth.require(Area::Audience, Access::Write)?;
    let audience = audiences::get(&state.db, &id).await?;
    let mut tx = state.db.begin().await?;
    let job_id =
        audiences::enqueue_recompute(&mut tx, &audience.id, audience.computation, "api").await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(Enqueued { job_id })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SampleQuery {
    /// How many (default 20, at most 200).
    pub n: Option<usize>,
    /// Same seed, same sample.
    pub seed: Option<u64>,
}

/// A random sample of the audience's profile ids, evaluated now.
#[utoipa::path(get, path = "/api/v1/audiences/{id}/sample", tag = "audience",
    params(("id" = String, Path), SampleQuery),
    responses((status = 200, body = [String]), (status = 404, body = crate::error::ErrorBody)))]
async fn sample(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<SampleQuery>,
) -> ApiResult<Json<Vec<String>>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(
        audiences::sample(
            &state.db,
            &state.audience_cache,
            &id,
            q.n.unwrap_or(20),
            q.seed.unwrap_or(0),
        )
        .await?,
    ))
}

/// The audience evaluated now, as CSV (`profile_id,user_id,first_seen_at,last_seen_at`).
#[utoipa::path(get, path = "/api/v1/audiences/{id}/export", tag = "audience", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = crate::error::ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    auth.require(Area::Audience, Access::Read)?;
    let csv = audiences::export_csv(&state.db, &state.audience_cache, &id).await?;
    let mut tx = state.db.begin().await?;
    cove_core::audit::record(
        &mut tx,
        &auth.actor(),
        "audience.export",
        "audience",
        Some(&id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"audience-{id}.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}

/// What distinguishes the audience: tags and trait values over-represented
/// compared with all profiles.
#[utoipa::path(get, path = "/api/v1/audiences/{id}/persona", tag = "audience", params(("id" = String, Path)),
    responses((status = 200, body = Persona), (status = 404, body = crate::error::ErrorBody)))]
async fn persona(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Persona>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(
        audiences::persona(&state.db, &state.audience_cache, &id, 10).await?,
    ))
}
