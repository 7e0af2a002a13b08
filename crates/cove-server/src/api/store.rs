//! The storefront's commerce API for the signed-in customer
//! (`/api/v1/me/...`): cart, quote, checkout, orders, sandbox payment,
//! refunds and addresses.

use crate::customer::Customer;
use crate::error::{ApiResult, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use cove_core::clock;
use cove_core::commerce::cart::{self, CartLine};
use cove_core::commerce::checkout::{self, CheckoutRequest, Placed};
use cove_core::commerce::orders::{self, OrderRow, OrderView, Status};
use cove_core::commerce::payments::{self, Confirmed, Payment, Provider};
use cove_core::commerce::pricing::{self, Apply, Buyer, Item, Quote};
use cove_core::commerce::refunds::{self, Refund, RefundLine};
use cove_core::commerce::{addresses, lifecycle};
use cove_core::db::Conn;
use cove_core::insight::Scope;
use cove_core::Error;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_cart, add_to_cart))
        .routes(routes!(set_cart_line))
        .routes(routes!(quote))
        .routes(routes!(place_order))
        .routes(routes!(my_orders))
        .routes(routes!(my_order))
        .routes(routes!(cancel_order))
        .routes(routes!(confirm_receipt))
        .routes(routes!(request_refund))
        .routes(routes!(pay_sandbox))
        .routes(routes!(confirm_sandbox))
        .routes(routes!(my_addresses, add_address))
}

/// Who is buying: the customer's profile, membership and tier.
pub(crate) async fn buyer_of(conn: &mut Conn, customer: &Customer) -> ApiResult<Buyer> {
    let tier = match &customer.member_id {
        Some(m) => sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
            .bind(m)
            .fetch_optional(&mut *conn)
            .await
            .map_err(Error::from)?,
        None => None,
    };
    Ok(Buyer {
        profile_id: customer.profile_id.clone(),
        member_id: customer.member_id.clone(),
        tier,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Cart {
    lines: Vec<CartLine>,
    /// The cart priced now; absent when empty or when an item cannot be bought.
    quote: Option<Quote>,
    /// Why the cart cannot be priced (an item sold out of the catalog, …).
    problem: Option<Problem>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Problem {
    code: String,
    message: String,
}

async fn cart_of(state: &AppState, customer: &Customer) -> ApiResult<Cart> {
    let mut conn = state.db.pool().acquire().await?;
    let lines = cart::lines(&mut conn, &customer.profile_id).await?;
    if lines.is_empty() {
        return Ok(Cart {
            lines,
            quote: None,
            problem: None,
        });
    }
    let buyer = buyer_of(&mut conn, customer).await?;
    let items: Vec<Item> = lines.iter().map(|l| l.item.clone()).collect();
    let (quote, problem) = match pricing::quote(
        &mut conn,
        Some(&buyer),
        &items,
        &Apply::default(),
        clock::now(),
    )
    .await
    {
        Ok(q) => (Some(q), None),
        Err(e) => (
            None,
            Some(Problem {
                code: e.code().into_owned(),
                message: e.to_string(),
            }),
        ),
    };
    Ok(Cart {
        lines,
        quote,
        problem,
    })
}

/// The cart, priced for this customer.
#[utoipa::path(get, path = "/api/v1/me/cart", tag = "store", responses((status = 200, body = Cart)))]
async fn my_cart(State(state): State<AppState>, customer: Customer) -> ApiResult<Json<Cart>> {
    Ok(Json(cart_of(&state, &customer).await?))
}

/// Adds a SKU (with options, validated) to the cart.
#[utoipa::path(post, path = "/api/v1/me/cart", tag = "store", request_body = Item, responses((status = 200, body = Cart)))]
async fn add_to_cart(
    State(state): State<AppState>,
    customer: Customer,
    Json(item): Json<Item>,
) -> ApiResult<Json<Cart>> {
    let mut tx = state.db.begin().await?;
    cart::add(&mut tx, &customer.profile_id, &item, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(cart_of(&state, &customer).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SetQuantity {
    /// 0 removes the line.
    quantity: i64,
}

#[utoipa::path(patch, path = "/api/v1/me/cart/{line_id}", tag = "store", request_body = SetQuantity, responses((status = 200, body = Cart)))]
async fn set_cart_line(
    State(state): State<AppState>,
    customer: Customer,
    Path(line_id): Path<String>,
    Json(set): Json<SetQuantity>,
) -> ApiResult<Json<Cart>> {
    let mut tx = state.db.begin().await?;
    cart::set_quantity(&mut tx, &customer.profile_id, &line_id, set.quantity).await?;
    tx.commit().await?;
    Ok(Json(cart_of(&state, &customer).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct QuoteRequest {
    items: Vec<Item>,
    #[serde(default)]
    apply: Apply,
}

/// Prices items with a coupon, a benefit and points, explained line by line.
#[utoipa::path(post, path = "/api/v1/me/quote", tag = "store", request_body = QuoteRequest, responses((status = 200, body = Quote)))]
async fn quote(
    State(state): State<AppState>,
    customer: Customer,
    Json(req): Json<QuoteRequest>,
) -> ApiResult<Json<Quote>> {
    let mut conn = state.db.pool().acquire().await?;
    let buyer = buyer_of(&mut conn, &customer).await?;
    Ok(Json(
        pricing::quote(
            &mut conn,
            Some(&buyer),
            &req.items,
            &req.apply,
            clock::now(),
        )
        .await?,
    ))
}

/// Places an order: stock reserved for 30 minutes until payment. The key
/// makes a retry return the same order.
#[utoipa::path(post, path = "/api/v1/me/checkout", tag = "store", request_body = CheckoutRequest, responses((status = 200, body = Placed)))]
async fn place_order(
    State(state): State<AppState>,
    customer: Customer,
    Json(req): Json<CheckoutRequest>,
) -> ApiResult<Json<Placed>> {
    let buyer = {
        let mut conn = state.db.pool().acquire().await?;
        buyer_of(&mut conn, &customer).await?
    };
    Ok(Json(
        checkout::place(&state.db, &buyer, &customer.channel, &req).await?,
    ))
}

/// The customer's orders, newest first.
#[utoipa::path(get, path = "/api/v1/me/orders", tag = "store", responses((status = 200, body = [OrderRow])))]
async fn my_orders(
    State(state): State<AppState>,
    customer: Customer,
) -> ApiResult<Json<Vec<OrderRow>>> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        orders::list(&mut conn, Some(&customer.profile_id), None, Scope::ALL, 100).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OrderDetail {
    #[serde(flatten)]
    order: OrderView,
    refunds: Vec<Refund>,
}

pub(crate) async fn detail(conn: &mut Conn, order_id: &str) -> ApiResult<OrderDetail> {
    Ok(OrderDetail {
        order: orders::view(conn, order_id).await?,
        refunds: refunds::for_order(conn, order_id).await?,
    })
}

/// One of the customer's orders with its lines, price explanation and history.
#[utoipa::path(get, path = "/api/v1/me/orders/{id}", tag = "store", responses((status = 200, body = OrderDetail)))]
async fn my_order(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderDetail>> {
    let mut conn = state.db.pool().acquire().await?;
    orders::head_for(&mut conn, &id, &customer.profile_id).await?;
    Ok(Json(detail(&mut conn, &id).await?))
}

async fn own(
    state: &AppState,
    customer: &Customer,
    order_id: &str,
) -> ApiResult<orders::OrderHead> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(orders::head_for(&mut conn, order_id, &customer.profile_id).await?)
}

/// Cancels an unpaid order; its stock, coupon and points come back.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/cancel", tag = "store", responses((status = 200, body = OrderDetail)))]
async fn cancel_order(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderDetail>> {
    own(&state, &customer, &id).await?;
    lifecycle::cancel(
        &state.db,
        &id,
        &format!("customer:{}", customer.profile_id),
        Some("cancelled by the customer"),
    )
    .await?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(detail(&mut conn, &id).await?))
}

/// The customer confirms receipt: the order completes.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/confirm-receipt", tag = "store", responses((status = 200, body = OrderDetail)))]
async fn confirm_receipt(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderDetail>> {
    own(&state, &customer, &id).await?;
    lifecycle::advance(
        &state.db,
        &id,
        Status::Completed,
        &format!("customer:{}", customer.profile_id),
    )
    .await?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(detail(&mut conn, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct RefundRequest {
    /// Units per line; absent: the whole order.
    pub lines: Option<Vec<RefundLine>>,
    pub reason: String,
}

/// Asks for a refund of the whole order or some units; staff decide.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/refund", tag = "store", request_body = RefundRequest, responses((status = 200, body = Refund)))]
async fn request_refund(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Json(req): Json<RefundRequest>,
) -> ApiResult<Json<Refund>> {
    own(&state, &customer, &id).await?;
    let actor = format!("customer:{}", customer.profile_id);
    Ok(Json(
        refunds::request(
            &state.db,
            &id,
            &actor,
            req.lines.as_deref(),
            &req.reason,
            false,
        )
        .await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SandboxPayment {
    payment: Payment,
    /// The sandbox's pay page.
    pay_url: String,
}

/// Opens a sandbox payment for the order (the demo's stand-in for WeChat Pay).
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/pay/sandbox", tag = "store", responses((status = 200, body = SandboxPayment)))]
async fn pay_sandbox(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
) -> ApiResult<Json<SandboxPayment>> {
    own(&state, &customer, &id).await?;
    let payment = payments::start(&state.db, &id, Provider::Sandbox).await?;
    let pay_url = format!("/pay/sandbox/{}", payment.id);
    Ok(Json(SandboxPayment { payment, pay_url }))
}

/// The sandbox's pay button: the payment succeeds at once.
#[utoipa::path(post, path = "/api/v1/me/payments/{id}/sandbox-confirm", tag = "store", responses((status = 200, body = Object)))]
async fn confirm_sandbox(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
) -> ApiResult<Json<Confirmed>> {
    let payment = {
        let mut conn = state.db.pool().acquire().await?;
        payments::get(&mut conn, &id).await?
    };
    own(&state, &customer, &payment.order_id).await?;
    Ok(Json(payments::sandbox_pay(&state.db, &id).await?))
}

/// The customer's saved addresses.
#[utoipa::path(get, path = "/api/v1/me/addresses", tag = "store", responses((status = 200, body = [addresses::Saved])))]
async fn my_addresses(
    State(state): State<AppState>,
    customer: Customer,
) -> ApiResult<Json<Vec<addresses::Saved>>> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        addresses::list(&mut conn, &customer.profile_id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/me/addresses", tag = "store", request_body = checkout::Address, responses((status = 200, body = addresses::Saved)))]
async fn add_address(
    State(state): State<AppState>,
    customer: Customer,
    Json(address): Json<checkout::Address>,
) -> ApiResult<Json<addresses::Saved>> {
    let mut tx = state.db.begin().await?;
    let saved = addresses::add(&mut tx, &customer.profile_id, &address, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(saved))
}
