//! WeChat channels: callback endpoints WeChat calls, and the console API for
//! accounts, parametric QR codes and followers.

use crate::auth::Auth;
use crate::customer::Customer;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cove_core::access::{Access, Area};
use cove_core::channels::official_account::{self as oa, CallbackQuery, Follower, NewScene, Scene};
use cove_core::channels::outbox::{self, MessageStatus, NewMessage, OutboxMessage, Queued};
use cove_core::channels::wecom::{self, Contact, ContactWayView, NewContactWay, RelationshipEvent};
use cove_core::channels::{accounts, consent, mini_program, Account, AccountKind, NewAccount};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(oa_url_check, oa_callback))
        .routes(routes!(mp_url_check, mp_callback))
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(list_scenes, create_scene))
        .routes(routes!(scene_qr_png))
        .routes(routes!(list_followers))
        .routes(routes!(list_messages, queue_message))
        .routes(routes!(list_subscriptions))
        .routes(routes!(wecom_url_check, wecom_callback))
        .routes(routes!(list_contact_ways, create_contact_way))
        .routes(routes!(list_wecom_contacts))
        .routes(routes!(wecom_contact_history))
        .routes(routes!(mp_login))
        .routes(routes!(mp_phone))
        .routes(routes!(mp_subscriptions))
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

/// Mini Program message push URL check (the same protocol as an Official Account's).
#[utoipa::path(get, path = "/wechat/mp/{account}", tag = "channels",
    params(("account" = String, Path), CallbackQuery),
    responses((status = 200, description = "the echostr, as text"), (status = 400, body = crate::error::ErrorBody)))]
async fn mp_url_check(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<String> {
    let keys = accounts::callback_keys(&state.db, &state.vault, &account, AccountKind::MiniProgram)
        .await?;
    Ok(oa::verify_url(&keys, &q)?)
}

/// Mini Program message push (XML form): subscription-message events keep
/// the consent record true. Stored once and processed in the background.
#[utoipa::path(post, path = "/wechat/mp/{account}", tag = "channels",
    params(("account" = String, Path), CallbackQuery), request_body(content = String, content_type = "text/xml"),
    responses((status = 200, description = "`success`"), (status = 400, body = crate::error::ErrorBody)))]
async fn mp_callback(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Query(q): Query<CallbackQuery>,
    body: String,
) -> ApiResult<&'static str> {
    let keys = accounts::callback_keys(&state.db, &state.vault, &account, AccountKind::MiniProgram)
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
        Json(oa::create_scene(&state.wechat, &auth.actor(), body).await?),
    ))
}

/// A live account's code as PNG: an Official Account QR code drawn from the
/// URL WeChat issued, or the Mini Program code WeChat drew.
#[utoipa::path(get, path = "/api/v1/channels/qr-scenes/{id}/qr.png", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn scene_qr_png(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    auth.require(Area::Channels, Access::Read)?;
    let png = oa::scene_code_png(&state.db, &id).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct MessageFilter {
    /// queued | sent | sandboxed | failed | skipped_no_consent | skipped_window_closed
    status: Option<String>,
    profile_id: Option<String>,
    limit: Option<i64>,
}

/// The outbox: every message sent, queued, kept in sandbox or skipped, newest first.
#[utoipa::path(get, path = "/api/v1/channels/messages", tag = "channels", params(MessageFilter),
    responses((status = 200, body = [OutboxMessage]), (status = 400, body = crate::error::ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    Query(f): Query<MessageFilter>,
) -> ApiResult<Json<Vec<OutboxMessage>>> {
    auth.require(Area::Channels, Access::Read)?;
    let status = match f.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(MessageStatus::parse(s).ok_or_else(|| {
            cove_core::Error::invalid(
                "invalid_status",
                "status is one of queued, sent, sandboxed, failed, skipped_no_consent, skipped_window_closed",
            )
        })?),
    };
    Ok(Json(
        outbox::list(
            &state.db,
            status,
            f.profile_id.as_deref(),
            f.limit.unwrap_or(100),
        )
        .await?,
    ))
}

/// Queue a message through the outbox. `client_msg_id` names the fact it is
/// about: queuing the same fact again returns the first message (200) and sends nothing more.
#[utoipa::path(post, path = "/api/v1/channels/messages", tag = "channels", request_body = NewMessage,
    responses((status = 201, body = Queued), (status = 200, body = Queued), (status = 400, body = crate::error::ErrorBody)))]
async fn queue_message(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewMessage>,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    auth.require(Area::Channels, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let queued = outbox::queue(&mut tx, &body).await?;
    if queued.created {
        cove_core::audit::record(
            &mut tx,
            &auth.actor(),
            "wechat_message.queue",
            "wechat_message",
            Some(&queued.id),
            serde_json::json!({ "kind": body.kind, "client_msg_id": body.client_msg_id }),
        )
        .await?;
    }
    tx.commit().await.map_err(cove_core::Error::from)?;
    let status = if queued.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(queued)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct GrantFilter {
    open_id: Option<String>,
    limit: Option<i64>,
}

/// Subscription-message consent: what each person allowed, per template.
#[utoipa::path(get, path = "/api/v1/channels/subscriptions", tag = "channels", params(GrantFilter),
    responses((status = 200, body = [consent::Grant])))]
async fn list_subscriptions(
    State(state): State<AppState>,
    auth: Auth,
    Query(f): Query<GrantFilter>,
) -> ApiResult<Json<Vec<consent::Grant>>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(
        consent::list(&state.db, f.open_id.as_deref(), f.limit.unwrap_or(100)).await?,
    ))
}

/// WeCom URL check: WeCom calls it when the callback URL is saved; answers the decrypted echostr.
#[utoipa::path(get, path = "/wechat/wecom/{account}", tag = "channels",
    params(("account" = String, Path), wecom::CallbackQuery),
    responses((status = 200, description = "the decrypted echostr, as text"), (status = 400, body = crate::error::ErrorBody)))]
async fn wecom_url_check(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Query(q): Query<wecom::CallbackQuery>,
) -> ApiResult<String> {
    let keys =
        accounts::callback_keys(&state.db, &state.vault, &account, AccountKind::Wecom).await?;
    Ok(wecom::verify_url(&keys, &q)?)
}

/// WeCom callback: customer-contact and customer-group events, always encrypted.
/// Stored once and processed in the background.
#[utoipa::path(post, path = "/wechat/wecom/{account}", tag = "channels",
    params(("account" = String, Path), wecom::CallbackQuery), request_body(content = String, content_type = "text/xml"),
    responses((status = 200, description = "`success`"), (status = 400, body = crate::error::ErrorBody)))]
async fn wecom_callback(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Query(q): Query<wecom::CallbackQuery>,
    body: String,
) -> ApiResult<&'static str> {
    let keys =
        accounts::callback_keys(&state.db, &state.vault, &account, AccountKind::Wecom).await?;
    wecom::accept(&state.db, &keys, &q, &body).await?;
    Ok("success")
}

/// WeCom contact ways ("contact me" codes) with their `state` attribution and add counts.
#[utoipa::path(get, path = "/api/v1/channels/contact-ways", tag = "channels", responses((status = 200, body = [ContactWayView])))]
async fn list_contact_ways(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<ContactWayView>>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(wecom::list_contact_ways(&state.db, None).await?))
}

/// Create a contact way for a salesperson (and store, campaign); registered
/// with WeCom unless the app is in sandbox mode.
#[utoipa::path(post, path = "/api/v1/channels/contact-ways", tag = "channels", request_body = NewContactWay,
    responses((status = 201, body = ContactWayView), (status = 400, body = crate::error::ErrorBody)))]
async fn create_contact_way(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewContactWay>,
) -> ApiResult<(StatusCode, Json<ContactWayView>)> {
    auth.require(Area::Channels, Access::Write)?;
    Ok((
        StatusCode::CREATED,
        Json(wecom::create_contact_way(&state.wechat, &auth.actor(), body).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ContactFilter {
    wecom_user_id: Option<String>,
    store_id: Option<String>,
    limit: Option<i64>,
}

/// Salesperson–customer relationships on WeCom, newest first.
#[utoipa::path(get, path = "/api/v1/channels/wecom/contacts", tag = "channels", params(ContactFilter), responses((status = 200, body = [Contact])))]
async fn list_wecom_contacts(
    State(state): State<AppState>,
    auth: Auth,
    Query(f): Query<ContactFilter>,
) -> ApiResult<Json<Vec<Contact>>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(
        wecom::list_contacts(
            &state.db,
            f.wecom_user_id.as_deref(),
            f.store_id.as_deref(),
            f.limit.unwrap_or(100),
        )
        .await?,
    ))
}

/// The history of one customer's relationships (started, transferred, ended).
#[utoipa::path(get, path = "/api/v1/channels/wecom/contacts/{external_user_id}/history", tag = "channels",
    params(("external_user_id" = String, Path)), responses((status = 200, body = [RelationshipEvent])))]
async fn wecom_contact_history(
    State(state): State<AppState>,
    auth: Auth,
    Path(external_user_id): Path<String>,
) -> ApiResult<Json<Vec<RelationshipEvent>>> {
    auth.require(Area::Channels, Access::Read)?;
    Ok(Json(
        wecom::relationship_history(&state.db, &external_user_id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct MpLogin {
    /// The `wx.login` code.
    code: String,
    /// The Mini Program account; the brand's first one when omitted.
    account_id: Option<String>,
    /// `scene` of the launch options (WeChat's scene number).
    scene: Option<i64>,
    path: Option<String>,
    #[schema(value_type = Object)]
    query: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct MpSession {
    /// The storefront session: `Authorization: Bearer <token>`.
    token: String,
    profile_id: String,
    member_id: Option<String>,
    open_id: String,
}

/// Mini Program sign-in: the `wx.login` code becomes a storefront session,
/// and the visit's entry (scene, page, query) is recorded for attribution.
#[utoipa::path(post, path = "/api/v1/store/mp/login", tag = "channels", request_body = MpLogin,
    responses((status = 200, body = MpSession), (status = 400, body = crate::error::ErrorBody)))]
async fn mp_login(
    State(state): State<AppState>,
    Json(body): Json<MpLogin>,
) -> ApiResult<Json<MpSession>> {
    let account_id = mini_program::account_id(&state.db, body.account_id.as_deref()).await?;
    let entry = mini_program::Entry {
        scene: body.scene,
        path: body.path,
        query: body.query,
    };
    let login = mini_program::login(&state.wechat, &account_id, &body.code, &entry).await?;
    let mut tx = state.db.begin().await?;
    let token = cove_core::access::customers::create_session(
        &mut tx,
        &login.profile_id,
        "mini_program",
        cove_core::clock::now(),
    )
    .await?;
    let member_id = cove_core::membership::member_of_profile(&mut tx, &login.profile_id).await?;
    tx.commit().await.map_err(cove_core::Error::from)?;
    Ok(Json(MpSession {
        token,
        profile_id: login.profile_id,
        member_id,
        open_id: login.open_id,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct MpPhone {
    /// The `getPhoneNumber` code.
    code: String,
    account_id: Option<String>,
}

/// Links the phone number WeChat verified to the signed-in customer; answers it masked.
#[utoipa::path(post, path = "/api/v1/store/mp/phone", tag = "channels", request_body = MpPhone,
    responses((status = 200, body = mini_program::PhoneLinked), (status = 400, body = crate::error::ErrorBody)))]
async fn mp_phone(
    State(state): State<AppState>,
    customer: Customer,
    Json(body): Json<MpPhone>,
) -> ApiResult<Json<mini_program::PhoneLinked>> {
    let account_id = mini_program::account_id(&state.db, body.account_id.as_deref()).await?;
    Ok(Json(
        mini_program::link_phone(&state.wechat, &account_id, &customer.profile_id, &body.code)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct MpSubscriptions {
    account_id: Option<String>,
    #[serde(flatten)]
    report: consent::Report,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct Recorded {
    /// False for a report already recorded (nothing changed).
    recorded: bool,
}

/// The customer's answers to `wx.requestSubscribeMessage`: each accept allows one message.
#[utoipa::path(post, path = "/api/v1/store/mp/subscriptions", tag = "channels", request_body = MpSubscriptions,
    responses((status = 200, body = Recorded), (status = 400, body = crate::error::ErrorBody)))]
async fn mp_subscriptions(
    State(state): State<AppState>,
    customer: Customer,
    Json(body): Json<MpSubscriptions>,
) -> ApiResult<Json<Recorded>> {
    let account_id = mini_program::account_id(&state.db, body.account_id.as_deref()).await?;
    let recorded = mini_program::record_subscriptions(
        &state.db,
        &account_id,
        &customer.profile_id,
        &body.report,
    )
    .await?;
    Ok(Json(Recorded { recorded }))
}
