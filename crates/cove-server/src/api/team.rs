//! The brand's team: users, API tokens and the audit log.

use crate::api::Page;
use crate::auth::{self, Auth};
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use cove_core::access::{self, Access, ApiToken, Area, NewUser, User};
use cove_core::audit;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::sign_in_api))
        .routes(routes!(auth::sign_out_api))
        .routes(routes!(auth::me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(set_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_audit))
}

/// List the team's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "team", responses((status = 200, body = [User])))]
async fn list_users(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<User>>> {
    auth.require(Area::System, Access::Write)?;
    Ok(Json(access::list_users(&state.db).await?))
}

/// Add a user with a role (store staff and resellers are scoped to their store or reseller).
#[utoipa::path(post, path = "/api/v1/users", tag = "team", request_body = NewUser,
    responses((status = 201, body = User), (status = 409, body = crate::error::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    auth.require(Area::System, Access::Write)?;
    let user = access::create_user(&state.db, &auth.actor(), body).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewPassword {
    pub password: String,
}

/// Set a user's password; ends their sessions and clears a lockout.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "team", request_body = NewPassword,
    params(("id" = String, Path)), responses((status = 204)))]
async fn set_password(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<NewPassword>,
) -> ApiResult<StatusCode> {
    if id != auth.user_id {
        auth.require(Area::System, Access::Write)?;
    }
    access::set_password(&state.db, &auth.actor(), &id, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List API tokens (secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "team", responses((status = 200, body = [ApiToken])))]
async fn list_tokens(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<ApiToken>>> {
    auth.require(Area::System, Access::Write)?;
    Ok(Json(access::list_tokens(&state.db).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    pub name: String,
    /// Scopes such as `audience:write`, `commerce:read`.
    pub scopes: Vec<String>,
    /// Expiry, in microseconds since the epoch.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// The secret, shown only now: `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Create an API token for an integration, limited to scopes the caller's role holds.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "team", request_body = NewToken, responses((status = 201, body = CreatedToken)))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    auth.require(Area::System, Access::Write)?;
    let (token, secret) = access::create_token(
        &state.db,
        &auth.actor(),
        &auth.principal,
        &body.name,
        &body.scopes,
        body.expires_at,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Revoke an API token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "team", params(("id" = String, Path)), responses((status = 204)))]
async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require(Area::System, Access::Write)?;
    access::revoke_token(&state.db, &auth.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who changed what, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "team", params(Page), responses((status = 200, body = [audit::Entry])))]
async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<audit::Entry>>> {
    auth.require(Area::System, Access::Read)?;
    Ok(Json(
        audit::list(&state.db, page.before.as_deref(), page.limit.unwrap_or(50)).await?,
    ))
}
