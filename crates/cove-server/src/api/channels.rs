//! WeChat channels: callback endpoints WeChat calls, and the console API for
//! accounts, parametric QR codes and followers.

use crate::auth::Auth;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use cove_core::access::{Access, Area};
use cove_core::channels::official_account::{self as oa, CallbackQuery, Follower, NewScene, Scene};
use cove_core::channels::{accounts, Account, AccountKind, NewAccount};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(oa_url_check, oa_callback))
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(list_scenes, create_scene))
        .routes(routes!(list_followers))
}

/// Official Account URL check: WeChat calls it when the callback URL is saved.
#[utoipa::path(get, path = "/wechat/oa/{account}", tag = "channels",
    params(("account" = String, Path), CallbackQuery),
    responses((status = 200, description = "the echostr, as text"), (status = 400, body = crate::error::ErrorBody)))]
async fn oa_url_check(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<String> {
    let keys = accounts::callback_keys(
        &state.db,
        &state.vault,
        &account,
        AccountKind::OfficialAccount,
    )
    .await?;
    Ok(oa::verify_url(&keys, &q)?)
}

/// Official Account callback: messages and events (plain or safe mode). Stored
/// once and processed in the background; the answer is always quick.
#[utoipa::path(post, path = "/wechat/oa/{account}", tag = "channels",
    params(("account" = String, Path), CallbackQuery), request_body(content = String, content_type = "text/xml"),
    responses((status = 200, description = "`success`"), (status = 400, body = crate::error::ErrorBody)))]
async fn oa_callback(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Query(q): Query<CallbackQuery>,
    body: String,
) -> ApiResult<&'static str> {
    let keys = accounts::callback_keys(
        &state.db,
        &state.vault,
        &account,
        AccountKind::OfficialAccount,
    )
    .await?;
    oa::accept(&state.db, &keys, &q, &body).await?;
    Ok("success")
}

/// The brand's WeChat accounts (secrets are never returned).
#[utoipa::path(get, path = "/api/v1/channels/accounts", tag = "channels", responses((status = 200, body = [Account])))]
async fn list_accounts(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Account>>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(accounts::list(&state.db).await?))
}

/// Add a WeChat account; its Token, EncodingAESKey and secret are stored encrypted.
#[utoipa::path(post, path = "/api/v1/channels/accounts", tag = "channels", request_body = NewAccount,
    responses((status = 201, body = Account), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_account(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewAccount>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    auth.require(Area::Channels, Access::Write)?;
    let account = accounts::create(&state.db, &state.vault, &auth.actor(), body).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Parametric QR codes and what each stands for, with scan and follow counts.
#[utoipa::path(get, path = "/api/v1/channels/qr-scenes", tag = "channels", responses((status = 200, body = [Scene])))]
async fn list_scenes(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Scene>>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(oa::list_scenes(&state.db, None).await?))
}

/// Register a QR scene for a store, a staff member or a campaign.
#[utoipa::path(post, path = "/api/v1/channels/qr-scenes", tag = "channels", request_body = NewScene,
    responses((status = 201, body = Scene), (status = 400, body = crate::error::ErrorBody)))]
async fn create_scene(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewScene>,
) -> ApiResult<(StatusCode, Json<Scene>)> {
    auth.require(Area::Channels, Access::Write)?;
    Ok((
        StatusCode::CREATED,
        Json(oa::create_scene(&state.db, &auth.actor(), body).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct FollowerFilter {
    store_id: Option<String>,
    limit: Option<i64>,
}

/// Official Account followers with their attribution, newest first.
#[utoipa::path(get, path = "/api/v1/channels/followers", tag = "channels", params(FollowerFilter), responses((status = 200, body = [Follower])))]
async fn list_followers(
    State(state): State<AppState>,
    auth: Auth,
    Query(f): Query<FollowerFilter>,
) -> ApiResult<Json<Vec<Follower>>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(
        oa::list_followers(&state.db, f.store_id.as_deref(), f.limit.unwrap_or(100)).await?,
    ))
}
