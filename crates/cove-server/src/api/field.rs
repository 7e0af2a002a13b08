//! On-site repair: the service desk's engineers and dispatch, the
//! customer's own appointments, open slots, and the tokenised link that
//! lets a customer view, move, cancel and rate a visit without signing in.

use crate::auth::Auth;
use crate::customer::Customer;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use cove_core::access::{Access, Area};
use cove_core::clock::{self, Micros};
use cove_core::db::{Backend, Conn};
use cove_core::service::field::appointments::{self, Filter};
use cove_core::service::field::view::{self, CustomerAppointment};
use cove_core::service::field::{
    engineers, settings, slots, Appointment, Booked, Booking, Engineer, EngineerInput, Report,
    Scheduling, Slot, SlotQuery, Status, Transition,
};
use cove_core::service::tickets::Author;
use cove_core::Error;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_engineers, create_engineer))
        .routes(routes!(update_engineer))
        .routes(routes!(scheduling, set_scheduling))
        .routes(routes!(list_appointments, book_for_member))
        .routes(routes!(appointment))
        .routes(routes!(dispatch))
        .routes(routes!(progress))
        .routes(routes!(complete))
        .routes(routes!(staff_reschedule))
        .routes(routes!(staff_cancel))
        .routes(routes!(open_slots))
        .routes(routes!(my_appointments, book_mine))
        .routes(routes!(my_appointment))
        .routes(routes!(reschedule_mine))
        .routes(routes!(cancel_mine))
        .routes(routes!(rate_mine))
        .routes(routes!(by_token))
        .routes(routes!(reschedule_by_token))
        .routes(routes!(cancel_by_token))
        .routes(routes!(rate_by_token))
}

fn agent(auth: &Auth) -> Author {
    Author::Agent {
        user_id: auth.user_id.clone(),
    }
}

// ---- the service desk ----

/// Field engineers, by code.
#[utoipa::path(get, path = "/api/v1/field/engineers", tag = "field", responses((status = 200, body = [Engineer])))]
async fn list_engineers(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Engineer>>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(engineers::list(&mut conn).await?))
}

/// Add a field engineer with skills, territories and a working plan.
#[utoipa::path(post, path = "/api/v1/field/engineers", tag = "field", request_body = EngineerInput,
    responses((status = 201, body = Engineer), (status = 400, body = crate::error::ErrorBody)))]
async fn create_engineer(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<EngineerInput>,
) -> ApiResult<(StatusCode, Json<Engineer>)> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let engineer = engineers::create(&mut tx, &body, clock::now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(engineer)))
}

/// Replace an engineer's details, plan and days off.
#[utoipa::path(put, path = "/api/v1/field/engineers/{id}", tag = "field", params(("id" = String, Path)),
    request_body = EngineerInput,
    responses((status = 200, body = Engineer), (status = 400, body = crate::error::ErrorBody)))]
async fn update_engineer(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<EngineerInput>,
) -> ApiResult<Json<Engineer>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let engineer = engineers::update(&mut tx, &id, &body, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(engineer))
}

/// The brand's scheduling rules: visit length, travel buffer, lead time and
/// booking horizon.
#[utoipa::path(get, path = "/api/v1/field/settings", tag = "field", responses((status = 200, body = Scheduling)))]
async fn scheduling(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Scheduling>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(settings::load(&mut conn).await?))
}

/// Replace the scheduling rules; slots offered from now on follow them,
/// visits already booked keep their times.
#[utoipa::path(put, path = "/api/v1/field/settings", tag = "field", request_body = Scheduling,
    responses((status = 200, body = Scheduling), (status = 400, body = crate::error::ErrorBody)))]
async fn set_scheduling(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Scheduling>,
) -> ApiResult<Json<Scheduling>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let rules = settings::save(&mut tx, &body, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(rules))
}

/// The dispatch board's visits, earliest first.
#[utoipa::path(get, path = "/api/v1/field/appointments", tag = "field", params(Filter),
    responses((status = 200, body = [Appointment])))]
async fn list_appointments(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<Filter>,
) -> ApiResult<Json<Vec<Appointment>>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(appointments::list(&mut conn, &filter).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StaffBooking {
    member_id: String,
    service_tag: String,
    territory: String,
    skill: Option<String>,
    address: String,
    starts_at: Micros,
    ticket_id: Option<String>,
    /// A paid visit for a device without on-site cover.
    #[serde(default)]
    billable: bool,
}

/// Book a visit for a member (by phone, from a ticket).
#[utoipa::path(post, path = "/api/v1/field/appointments", tag = "field", request_body = StaffBooking,
    responses((status = 201, body = Booked), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn book_for_member(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<StaffBooking>,
) -> ApiResult<(StatusCode, Json<Booked>)> {
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
    let booked = appointments::book(
        &mut tx,
        state.db.backend(),
        Booking {
            service_tag: body.service_tag,
            territory: body.territory,
            skill: body.skill,
            address: body.address,
            starts_at: body.starts_at,
            ticket_id: body.ticket_id,
            billable: body.billable,
            profile_id,
            member_id: Some(body.member_id),
            author: agent(&auth),
        },
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(booked)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AppointmentDetail {
    appointment: Appointment,
    history: Vec<Transition>,
}

/// One visit with its history of status changes.
#[utoipa::path(get, path = "/api/v1/field/appointments/{id}", tag = "field", params(("id" = String, Path)),
    responses((status = 200, body = AppointmentDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn appointment(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<AppointmentDetail>> {
    auth.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    let appointment = appointments::get(&mut conn, &id).await?;
    let history = appointments::history(&mut conn, &id).await?;
    Ok(Json(AppointmentDetail {
        appointment,
        history,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct DispatchBody {
    engineer_id: String,
}

/// Dispatch (or reassign) the engineer of a visit.
#[utoipa::path(post, path = "/api/v1/field/appointments/{id}/dispatch", tag = "field", params(("id" = String, Path)),
    request_body = DispatchBody,
    responses((status = 200, body = Appointment), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn dispatch(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<DispatchBody>,
) -> ApiResult<Json<Appointment>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let a = appointments::dispatch(
        &mut tx,
        state.db.backend(),
        &id,
        &body.engineer_id,
        &agent(&auth),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(a))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ProgressBody {
    /// en_route, on_site or no_show.
    status: String,
}

/// Record the visit's progress on the day.
#[utoipa::path(post, path = "/api/v1/field/appointments/{id}/progress", tag = "field", params(("id" = String, Path)),
    request_body = ProgressBody,
    responses((status = 200, body = Appointment), (status = 409, body = crate::error::ErrorBody)))]
async fn progress(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<ProgressBody>,
) -> ApiResult<Json<Appointment>> {
    auth.require(Area::Service, Access::Write)?;
    let to = Status::parse(&body.status)?;
    let mut tx = state.db.begin().await?;
    let a = appointments::progress(
        &mut tx,
        state.db.backend(),
        &id,
        to,
        &agent(&auth),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(a))
}

/// Complete the visit with the parts used and the engineer's notes.
#[utoipa::path(post, path = "/api/v1/field/appointments/{id}/complete", tag = "field", params(("id" = String, Path)),
    request_body = Report,
    responses((status = 200, body = Appointment), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn complete(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<Report>,
) -> ApiResult<Json<Appointment>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let a = appointments::complete(
        &mut tx,
        state.db.backend(),
        &id,
        &body,
        &agent(&auth),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(a))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RescheduleBody {
    /// The new slot's start (micros), one of the open slots.
    starts_at: Micros,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct CancelBody {
    reason: Option<String>,
}

/// Move a visit to another slot.
#[utoipa::path(post, path = "/api/v1/field/appointments/{id}/reschedule", tag = "field", params(("id" = String, Path)),
    request_body = RescheduleBody,
    responses((status = 200, body = Appointment), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn staff_reschedule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<RescheduleBody>,
) -> ApiResult<Json<Appointment>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let a = appointments::reschedule(
        &mut tx,
        state.db.backend(),
        &id,
        body.starts_at,
        &agent(&auth),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(a))
}

/// Cancel a visit.
#[utoipa::path(post, path = "/api/v1/field/appointments/{id}/cancel", tag = "field", params(("id" = String, Path)),
    request_body = CancelBody,
    responses((status = 200, body = Appointment), (status = 409, body = crate::error::ErrorBody)))]
async fn staff_cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<CancelBody>,
) -> ApiResult<Json<Appointment>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let a = appointments::cancel(
        &mut tx,
        state.db.backend(),
        &id,
        &agent(&auth),
        body.reason.as_deref(),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(a))
}

// ---- customers ----

/// Open visit slots of a territory between two local dates (no sign-in
/// needed: the tokenised link reschedules with them too).
#[utoipa::path(get, path = "/api/v1/store/slots", tag = "field", params(SlotQuery),
    responses((status = 200, body = [Slot]), (status = 400, body = crate::error::ErrorBody)))]
async fn open_slots(
    State(state): State<AppState>,
    Query(query): Query<SlotQuery>,
) -> ApiResult<Json<Vec<Slot>>> {
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(
        slots::available(&mut conn, &query, clock::now()).await?,
    ))
}

async fn views(
    conn: &mut Conn,
    list: Vec<Appointment>,
    now: Micros,
) -> ApiResult<Vec<CustomerAppointment>> {
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        out.push(view::for_customer(conn, a, now).await?);
    }
    Ok(out)
}

/// My visits, earliest first.
#[utoipa::path(get, path = "/api/v1/me/appointments", tag = "field",
    responses((status = 200, body = [CustomerAppointment])))]
async fn my_appointments(
    State(state): State<AppState>,
    customer: Customer,
) -> ApiResult<Json<Vec<CustomerAppointment>>> {
    let mut conn = state.db.read().acquire().await?;
    let filter = Filter {
        profile_id: Some(customer.profile_id.clone()),
        limit: Some(500),
        ..Filter::default()
    };
    let list = appointments::list(&mut conn, &filter).await?;
    Ok(Json(views(&mut conn, list, clock::now()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct CustomerBooking {
    /// A device bound to me with on-site cover.
    service_tag: String,
    territory: String,
    skill: Option<String>,
    address: String,
    /// One of the open slots' start (micros).
    starts_at: Micros,
    /// One of my tickets; a new ticket is opened otherwise.
    ticket_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CustomerBooked {
    appointment: CustomerAppointment,
    /// Opens `/a/{token}`: keep it to view, move or cancel the visit without signing in.
    token: String,
}

/// Book an on-site repair for a device of mine.
#[utoipa::path(post, path = "/api/v1/me/appointments", tag = "field", request_body = CustomerBooking,
    responses((status = 201, body = CustomerBooked), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn book_mine(
    State(state): State<AppState>,
    customer: Customer,
    Json(body): Json<CustomerBooking>,
) -> ApiResult<(StatusCode, Json<CustomerBooked>)> {
    let member = customer.member()?.to_owned();
    let now = clock::now();
    let mut tx = state.db.begin().await?;
    let booked = appointments::book(
        &mut tx,
        state.db.backend(),
        Booking {
            service_tag: body.service_tag,
            territory: body.territory,
            skill: body.skill,
            address: body.address,
            starts_at: body.starts_at,
            ticket_id: body.ticket_id,
            billable: false,
            profile_id: customer.profile_id.clone(),
            member_id: Some(member),
            author: Author::Customer {
                profile_id: customer.profile_id.clone(),
            },
        },
        now,
    )
    .await?;
    let appointment = view::for_customer(&mut tx, booked.appointment, now).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CustomerBooked {
            appointment,
            token: booked.token,
        }),
    ))
}

/// The visit `id` if it is the customer's (404 otherwise, so ids do not leak).
async fn mine(conn: &mut Conn, customer: &Customer, id: &str) -> ApiResult<Appointment> {
    let a = appointments::get(conn, id).await?;
    if a.profile_id != customer.profile_id {
        return Err(Error::not_found("appointment").into());
    }
    Ok(a)
}

/// One of my visits.
#[utoipa::path(get, path = "/api/v1/me/appointments/{id}", tag = "field", params(("id" = String, Path)),
    responses((status = 200, body = CustomerAppointment), (status = 404, body = crate::error::ErrorBody)))]
async fn my_appointment(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerAppointment>> {
    let mut conn = state.db.read().acquire().await?;
    let a = mine(&mut conn, &customer, &id).await?;
    Ok(Json(view::for_customer(&mut conn, a, clock::now()).await?))
}

/// What the customer may do to a visit, whichever way they reached it.
enum Change {
    Reschedule(Micros),
    Cancel(Option<String>),
    Rate(i64, Option<String>),
}

async fn change(
    conn: &mut Conn,
    backend: Backend,
    a: Appointment,
    change: Change,
) -> ApiResult<CustomerAppointment> {
    let now = clock::now();
    let author = Author::Customer {
        profile_id: a.profile_id.clone(),
    };
    let changed = match change {
        Change::Reschedule(at) => {
            appointments::reschedule(conn, backend, &a.id, at, &author, now).await?
        }
        Change::Cancel(reason) => {
            appointments::cancel(conn, backend, &a.id, &author, reason.as_deref(), now).await?
        }
        Change::Rate(rating, comment) => {
            appointments::rate(conn, &a.id, rating, comment.as_deref(), now).await?
        }
    };
    Ok(view::for_customer(conn, changed, now).await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RatingBody {
    /// 1 to 5.
    rating: i64,
    comment: Option<String>,
}

async fn change_mine(
    state: &AppState,
    customer: &Customer,
    id: &str,
    c: Change,
) -> ApiResult<Json<CustomerAppointment>> {
    let mut tx = state.db.begin().await?;
    let a = mine(&mut tx, customer, id).await?;
    let view = change(&mut tx, state.db.backend(), a, c).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// Move my visit to another open slot (not once it has started).
#[utoipa::path(post, path = "/api/v1/me/appointments/{id}/reschedule", tag = "field", params(("id" = String, Path)),
    request_body = RescheduleBody,
    responses((status = 200, body = CustomerAppointment), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn reschedule_mine(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Json(body): Json<RescheduleBody>,
) -> ApiResult<Json<CustomerAppointment>> {
    change_mine(&state, &customer, &id, Change::Reschedule(body.starts_at)).await
}

/// Cancel my visit before it starts.
#[utoipa::path(post, path = "/api/v1/me/appointments/{id}/cancel", tag = "field", params(("id" = String, Path)),
    request_body = CancelBody,
    responses((status = 200, body = CustomerAppointment), (status = 409, body = crate::error::ErrorBody)))]
async fn cancel_mine(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Json(body): Json<CancelBody>,
) -> ApiResult<Json<CustomerAppointment>> {
    change_mine(&state, &customer, &id, Change::Cancel(body.reason)).await
}

/// Rate my completed visit (once).
#[utoipa::path(post, path = "/api/v1/me/appointments/{id}/rating", tag = "field", params(("id" = String, Path)),
    request_body = RatingBody,
    responses((status = 200, body = CustomerAppointment), (status = 409, body = crate::error::ErrorBody)))]
async fn rate_mine(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Json(body): Json<RatingBody>,
) -> ApiResult<Json<CustomerAppointment>> {
    change_mine(
        &state,
        &customer,
        &id,
        Change::Rate(body.rating, body.comment),
    )
    .await
}

// ---- the tokenised link ----

/// The visit a link token opens.
#[utoipa::path(get, path = "/api/v1/appointments/by-token/{token}", tag = "field", params(("token" = String, Path)),
    responses((status = 200, body = CustomerAppointment), (status = 404, body = crate::error::ErrorBody)))]
async fn by_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<CustomerAppointment>> {
    let mut conn = state.db.read().acquire().await?;
    let a = appointments::by_token(&mut conn, &token).await?;
    Ok(Json(view::for_customer(&mut conn, a, clock::now()).await?))
}

async fn change_by_token(
    state: &AppState,
    token: &str,
    c: Change,
) -> ApiResult<Json<CustomerAppointment>> {
    let mut tx = state.db.begin().await?;
    let a = appointments::by_token(&mut tx, token).await?;
    let view = change(&mut tx, state.db.backend(), a, c).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// Move the visit a link token opens.
#[utoipa::path(post, path = "/api/v1/appointments/by-token/{token}/reschedule", tag = "field",
    params(("token" = String, Path)), request_body = RescheduleBody,
    responses((status = 200, body = CustomerAppointment), (status = 409, body = crate::error::ErrorBody)))]
async fn reschedule_by_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<RescheduleBody>,
) -> ApiResult<Json<CustomerAppointment>> {
    change_by_token(&state, &token, Change::Reschedule(body.starts_at)).await
}

/// Cancel the visit a link token opens.
#[utoipa::path(post, path = "/api/v1/appointments/by-token/{token}/cancel", tag = "field",
    params(("token" = String, Path)), request_body = CancelBody,
    responses((status = 200, body = CustomerAppointment), (status = 409, body = crate::error::ErrorBody)))]
async fn cancel_by_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<CancelBody>,
) -> ApiResult<Json<CustomerAppointment>> {
    change_by_token(&state, &token, Change::Cancel(body.reason)).await
}

/// Rate the visit a link token opens (once, after completion).
#[utoipa::path(post, path = "/api/v1/appointments/by-token/{token}/rating", tag = "field",
    params(("token" = String, Path)), request_body = RatingBody,
    responses((status = 200, body = CustomerAppointment), (status = 409, body = crate::error::ErrorBody)))]
async fn rate_by_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<RatingBody>,
) -> ApiResult<Json<CustomerAppointment>> {
    change_by_token(&state, &token, Change::Rate(body.rating, body.comment)).await
}
