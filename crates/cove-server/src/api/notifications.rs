//! Notification rules: which WeChat message each domain event sends.

use crate::auth::Auth;
use crate::error::{ApiResult, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use cove_core::access::{Access, Area};
use cove_core::channels::notifications::{self, EventSpec, Rule, RuleInput};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, save_rule))
        .routes(routes!(list_events))
        .routes(routes!(get_rule, delete_rule))
}

/// Every notification rule, by event name.
#[utoipa::path(get, path = "/api/v1/notification-rules", tag = "channels", responses((status = 200, body = [Rule])))]
async fn list_rules(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Rule>>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(notifications::list(&state.db).await?))
}

/// Create or replace the rule of one event. The rule is checked whole
/// (event, accounts, template ids, field types, placeholders) before anything is stored.
#[utoipa::path(post, path = "/api/v1/notification-rules", tag = "channels", request_body = RuleInput,
    responses((status = 200, body = Rule), (status = 400, body = crate::error::ErrorBody)))]
async fn save_rule(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<RuleInput>,
) -> ApiResult<Json<Rule>> {
    auth.require(Area::Channels, Access::Write)?;
    Ok(Json(
        notifications::save(&state.db, &auth.actor(), body).await?,
    ))
}

/// The events a rule can be written for, with the properties its fields may quote.
#[utoipa::path(get, path = "/api/v1/notification-rules/events", tag = "channels", responses((status = 200, body = [EventSpec])))]
async fn list_events(auth: Auth) -> ApiResult<Json<&'static [EventSpec]>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(notifications::EVENTS))
}

/// The rule of one event.
#[utoipa::path(get, path = "/api/v1/notification-rules/{event}", tag = "channels", params(("event" = String, Path)),
    responses((status = 200, body = Rule), (status = 404, body = crate::error::ErrorBody)))]
async fn get_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(event): Path<String>,
) -> ApiResult<Json<Rule>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(notifications::get(&state.db, &event).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Deleted {
    deleted: bool,
}

/// Remove the rule of one event: the event then sends nothing.
#[utoipa::path(delete, path = "/api/v1/notification-rules/{event}", tag = "channels", params(("event" = String, Path)),
    responses((status = 200, body = Deleted), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(event): Path<String>,
) -> ApiResult<Json<Deleted>> {
    auth.require(Area::Channels, Access::Write)?;
    notifications::delete(&state.db, &auth.actor(), &event).await?;
    Ok(Json(Deleted { deleted: true }))
}
