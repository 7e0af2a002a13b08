//! Tickets: the customer's own tickets in the storefront, and the service
//! desk's queue, conversation, assignment, statuses, SLA policies and teams.

use crate::auth::Auth;
use crate::customer::Customer;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use cove_core::access::{Access, Area};
use cove_core::clock;
use cove_core::service::tickets::policies::{self, Policy};
use cove_core::service::tickets::statuses::{self, Status};
use cove_core::service::tickets::teams::{self, Team};
use cove_core::service::tickets::{
    self as tickets, Attachment, Author, Detail, Filter, Message, NewTicket, Ticket,
};
use cove_core::Error;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_tickets, open_mine))
        .routes(routes!(my_ticket))
        .routes(routes!(reply_mine))
        .routes(routes!(list, open_for_member))
        .routes(routes!(detail))
        .routes(routes!(reply))
        .routes(routes!(assign))
        .routes(routes!(set_status))
        .routes(routes!(set_priority))
        .routes(routes!(list_statuses, save_status))
        .routes(routes!(list_policies, save_policy))
        .routes(routes!(list_teams, save_team))
        .routes(routes!(set_team_members))
}

fn agent(auth: &Auth) -> Author {
    Author::Agent {
        user_id: auth.user_id.clone(),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct CustomerOpen {
    /// pre_sales or after_sales.
    kind: String,
    subject: String,
    body: String,
    /// A device bound to me.
    service_tag: Option<String>,
    /// An order of mine.
    order_id: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

/// My tickets, newest first.
#[utoipa::path(get, path = "/api/v1/me/tickets", tag = "tickets", responses((status = 200, body = [Ticket])))]
async fn my_tickets(
    State(state): State<AppState>,
    customer: Customer,
) -> ApiResult<Json<Vec<Ticket>>> {
    let mut conn = state.db.read().acquire().await?;
    let filter = Filter {
        profile_id: Some(customer.profile_id.clone()),
        limit: Some(200),
        ..Filter::default()
    };
    Ok(Json(tickets::list(&mut conn, &filter).await?))
}

/// Open a ticket (optionally about a device bound to me or an order of mine).
#[utoipa::path(post, path = "/api/v1/me/tickets", tag = "tickets", request_body = CustomerOpen,
    responses((status = 201, body = Ticket), (status = 400, body = crate::error::ErrorBody)))]
async fn open_mine(
    State(state): State<AppState>,
    customer: Customer,
    Json(body): Json<CustomerOpen>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let mut tx = state.db.begin().await?;
    let ticket = tickets::open(
        &mut tx,
        state.db.backend(),
        NewTicket {
            kind: body.kind,
            subject: body.subject,
            body: body.body,
            priority: None,
            channel: "storefront".into(),
            profile_id: customer.profile_id.clone(),
            member_id: customer.member_id.clone(),
            service_tag: body.service_tag,
            order_id: body.order_id,
            team_id: None,
            attachments: body.attachments,
            author: Author::Customer {
                profile_id: customer.profile_id.clone(),
            },
        },
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

async fn mine(conn: &mut cove_core::db::Conn, customer: &Customer, id: &str) -> ApiResult<Detail> {
    let detail = tickets::detail(conn, id, true).await?;
    if detail.ticket.profile_id != customer.profile_id {
        return Err(Error::not_found("ticket").into());
    }
    Ok(detail)
}

/// One of my tickets with its public conversation.
#[utoipa::path(get, path = "/api/v1/me/tickets/{id}", tag = "tickets", params(("id" = String, Path)),
    responses((status = 200, body = Detail), (status = 404, body = crate::error::ErrorBody)))]
async fn my_ticket(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
) -> ApiResult<Json<Detail>> {
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(mine(&mut conn, &customer, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct CustomerReply {
    body: String,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

/// Reply on one of my tickets (a reply reopens a solved ticket).
#[utoipa::path(post, path = "/api/v1/me/tickets/{id}/messages", tag = "tickets", params(("id" = String, Path)),
    request_body = CustomerReply,
    responses((status = 201, body = Message), (status = 404, body = crate::error::ErrorBody)))]
async fn reply_mine(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Json(body): Json<CustomerReply>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let mut tx = state.db.begin().await?;
    mine(&mut tx, &customer, &id).await?;
    let message = tickets::reply(
        &mut tx,
        state.db.backend(),
        &id,
        &Author::Customer {
            profile_id: customer.profile_id.clone(),
        },
        &body.body,
        false,
        &body.attachments,
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// The ticket queue: unfinished tickets by priority (urgent first), then the
/// nearest SLA due time, then the oldest; solved and closed ones after,
/// newest first.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(Filter), responses((status = 200, body = [Ticket])))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<Filter>,
) -> ApiResult<Json<Vec<Ticket>>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(tickets::list(&mut conn, &filter).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StaffOpen {
    kind: String,
    subject: String,
    body: String,
    /// The member the ticket is for.
    member_id: String,
    priority: Option<String>,
    /// staff (default), wecom or official_account.
    channel: Option<String>,
    service_tag: Option<String>,
    order_id: Option<String>,
    team_id: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

/// Open a ticket for a member (by phone, at a counter, from WeCom).
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = StaffOpen,
    responses((status = 201, body = Ticket), (status = 400, body = crate::error::ErrorBody)))]
async fn open_for_member(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<StaffOpen>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let profile: Option<Option<String>> =
        sqlx::query_scalar("SELECT profile_id FROM members WHERE id = $1")
            .bind(&body.member_id)
            .fetch_optional(&mut *tx)
            .await?;
    let profile_id = profile
        .flatten()
        .ok_or_else(|| Error::invalid("unknown_member", "no member with this id"))?;
    let ticket = tickets::open(
        &mut tx,
        state.db.backend(),
        NewTicket {
            kind: body.kind,
            subject: body.subject,
            body: body.body,
            priority: body.priority,
            channel: body.channel.unwrap_or_else(|| "staff".into()),
            profile_id,
            member_id: Some(body.member_id),
            service_tag: body.service_tag,
            order_id: body.order_id,
            team_id: body.team_id,
            attachments: body.attachments,
            author: agent(&auth),
        },
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// A ticket with every message (internal notes too), its history and timers.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = String, Path)),
    responses((status = 200, body = Detail), (status = 404, body = crate::error::ErrorBody)))]
async fn detail(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Detail>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(tickets::detail(&mut conn, &id, false).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StaffReply {
    body: String,
    /// An internal note the customer never sees.
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

/// Reply to the customer, or add an internal note.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", tag = "tickets", params(("id" = String, Path)),
    request_body = StaffReply,
    responses((status = 201, body = Message), (status = 404, body = crate::error::ErrorBody)))]
async fn reply(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<StaffReply>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let message = tickets::reply(
        &mut tx,
        state.db.backend(),
        &id,
        &agent(&auth),
        &body.body,
        body.internal,
        &body.attachments,
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(message)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct AssignBody {
    /// A console user id, or null to unassign.
    assignee_id: Option<String>,
    team_id: Option<String>,
}

/// Assign to an agent and/or a team.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/assign", tag = "tickets", params(("id" = String, Path)),
    request_body = AssignBody,
    responses((status = 200, body = Ticket), (status = 400, body = crate::error::ErrorBody)))]
async fn assign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<AssignBody>,
) -> ApiResult<Json<Ticket>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let ticket = tickets::assign(
        &mut tx,
        state.db.backend(),
        &id,
        body.assignee_id.as_deref(),
        body.team_id.as_deref(),
        &agent(&auth),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ticket))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StatusBody {
    /// A status code (see /api/v1/ticket-statuses).
    status: String,
}

/// Change the status; its kind drives the SLA timers.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/status", tag = "tickets", params(("id" = String, Path)),
    request_body = StatusBody,
    responses((status = 200, body = Ticket), (status = 409, body = crate::error::ErrorBody)))]
async fn set_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> ApiResult<Json<Ticket>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let ticket = tickets::set_status(
        &mut tx,
        state.db.backend(),
        &id,
        &body.status,
        &agent(&auth),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ticket))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct PriorityBody {
    /// low, normal, high or urgent.
    priority: String,
}

/// Change the priority; running timers get the new targets.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/priority", tag = "tickets", params(("id" = String, Path)),
    request_body = PriorityBody,
    responses((status = 200, body = Ticket), (status = 400, body = crate::error::ErrorBody)))]
async fn set_priority(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<PriorityBody>,
) -> ApiResult<Json<Ticket>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let ticket = tickets::set_priority(
        &mut tx,
        state.db.backend(),
        &id,
        &body.priority,
        &agent(&auth),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ticket))
}

/// The brand's ticket statuses.
#[utoipa::path(get, path = "/api/v1/ticket-statuses", tag = "tickets", responses((status = 200, body = [Status])))]
async fn list_statuses(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Status>>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(statuses::list(&mut conn).await?))
}

/// Create or rename a status over one of the fixed kinds.
#[utoipa::path(post, path = "/api/v1/ticket-statuses", tag = "tickets", request_body = Status,
    responses((status = 200, body = Status), (status = 400, body = crate::error::ErrorBody)))]
async fn save_status(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Status>,
) -> ApiResult<Json<Status>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let status = statuses::upsert(&mut tx, &body, clock::now()).await?;
    cove_core::audit::record(
        &mut tx,
        &auth.actor(),
        "ticket.status_saved",
        "ticket_status",
        Some(&status.code),
        json!({"kind": status.kind, "name_zh": status.name_zh, "name_en": status.name_en}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(status))
}

/// SLA policies.
#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "tickets", responses((status = 200, body = [Policy])))]
async fn list_policies(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Policy>>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(policies::list(&mut conn).await?))
}

/// Create a policy or replace the one with the same code.
#[utoipa::path(post, path = "/api/v1/sla-policies", tag = "tickets", request_body = Policy,
    responses((status = 200, body = Policy), (status = 400, body = crate::error::ErrorBody)))]
async fn save_policy(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Policy>,
) -> ApiResult<Json<Policy>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let policy = policies::upsert(&mut tx, &body, clock::now()).await?;
    cove_core::audit::record(
        &mut tx,
        &auth.actor(),
        "sla.policy_saved",
        "sla_policy",
        Some(&policy.id),
        serde_json::to_value(&policy).map_err(Error::from)?,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(policy))
}

/// Support teams and their members.
#[utoipa::path(get, path = "/api/v1/teams", tag = "tickets", responses((status = 200, body = [Team])))]
async fn list_teams(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Team>>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(teams::list(&mut conn).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct TeamBody {
    code: String,
    name: String,
}

/// Create a team or rename the one with the same code.
#[utoipa::path(post, path = "/api/v1/teams", tag = "tickets", request_body = TeamBody,
    responses((status = 200, body = Team), (status = 400, body = crate::error::ErrorBody)))]
async fn save_team(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<TeamBody>,
) -> ApiResult<Json<Team>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let team = teams::upsert(&mut tx, &body.code, &body.name, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(team))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct MembersBody {
    /// Console user ids: the team's members afterwards.
    user_ids: Vec<String>,
}

/// Set a team's members.
#[utoipa::path(post, path = "/api/v1/teams/{id}/members", tag = "tickets", params(("id" = String, Path)),
    request_body = MembersBody,
    responses((status = 200, body = Team), (status = 400, body = crate::error::ErrorBody)))]
async fn set_team_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<MembersBody>,
) -> ApiResult<Json<Team>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let team = teams::set_members(&mut tx, &id, &body.user_ids, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(team))
}
