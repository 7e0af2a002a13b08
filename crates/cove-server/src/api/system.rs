//! Health, readiness and the job queue.

use crate::api::Page;
use crate::auth::Auth;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use cove_core::access::{Access, Area};
use cove_core::jobs;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The process can reach its database.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if state.db.ping().await {
        (StatusCode::OK, Json(Health { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "database unreachable",
            }),
        )
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct JobFilter {
    /// `ready`, `running`, `done` or `dead`.
    pub state: Option<String>,
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub payload: serde_json::Value,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// Jobs and outbox messages, newest first; filter by state to find dead letters.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "system", params(JobFilter, Page), responses((status = 200, body = [JobView])))]
async fn list_jobs(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<JobFilter>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<JobView>>> {
    auth.require(Area::System, Access::Read)?;
    if let Some(s) = &filter.state {
        if jobs::JobState::parse(s).is_none() {
            return Err(crate::error::ApiError::new(
                "invalid_query",
                format!("unknown job state '{s}'"),
            ));
        }
    }
    let rows = sqlx::query(
        "SELECT id, kind, state, payload, run_at, attempts, max_attempts, last_error, created_at FROM jobs \
         WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
    )
    .bind(&filter.state)
    .bind(&filter.kind)
    .bind(&page.before)
    .bind(page.limit.unwrap_or(50).clamp(1, 500))
    .fetch_all(state.db.read())
    .await
    .map_err(cove_core::Error::from)?;
    let jobs = rows
        .into_iter()
        .map(|r| {
            let payload: String = r.try_get("payload")?;
            Ok(JobView {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                state: r.try_get("state")?,
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                run_at: r.try_get("run_at")?,
                attempts: r.try_get("attempts")?,
                max_attempts: r.try_get("max_attempts")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(cove_core::Error::from)?;
    Ok(Json(jobs))
}

/// Send a dead (or waiting) job back to the queue now.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "system", params(("id" = String, Path)), responses((status = 204)))]
async fn retry_job(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require(Area::System, Access::Write)?;
    let mut tx = state.db.begin().await?;
    jobs::retry_now(&mut tx, &id).await?;
    cove_core::audit::record(
        &mut tx,
        &auth.actor(),
        "job.retry",
        "job",
        Some(&id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await.map_err(cove_core::Error::from)?;
    Ok(StatusCode::NO_CONTENT)
}
