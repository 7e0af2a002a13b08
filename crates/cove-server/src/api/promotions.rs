//! Promotions: coupon templates and coupons, automatic discounts, flash
//! sales and their results for staff (`/api/v1/promotions/...`); the
//! customer's coupons (`/api/v1/me/coupons`) and the storefront's flash
//! sales (`/api/v1/store/flash-sales`).
//!
//! Store managers run promotions as part of the shop (commerce write);
//! marketing runs them as campaigns (journeys write); everyone who may view
//! commerce may view them.

use crate::api::Page;
use crate::auth::Auth;
use crate::customer::Customer;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use cove_core::access::{Access, Area};
use cove_core::audience::domain::{self, DomainEvent};
use cove_core::clock;
use cove_core::commerce::promotions::{
    self, coupons, discounts, flash, Campaign, CampaignResult, Coupon, CouponTemplate, FlashSale,
    NewCouponTemplate, NewFlashItem, NewFlashSale, NewPromotion, Promotion, Status,
};
use cove_core::{audit, Error};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template))
        .routes(routes!(template_status))
        .routes(routes!(issue_coupons))
        .routes(routes!(list_coupons))
        .routes(routes!(void_coupon))
        .routes(routes!(list_promotions, create_promotion))
        .routes(routes!(get_promotion, update_promotion))
        .routes(routes!(promotion_status))
        .routes(routes!(list_flash_sales, create_flash_sale))
        .routes(routes!(get_flash_sale, update_flash_sale))
        .routes(routes!(flash_sale_status))
        .routes(routes!(add_flash_item))
        .routes(routes!(update_flash_item, remove_flash_item))
        .routes(routes!(results))
        .routes(routes!(my_coupons, claim_coupon))
        .routes(routes!(store_flash_sales))
}

/// May this caller view (read) or run (write) promotions?
pub fn require(auth: &Auth, access: Access) -> ApiResult<()> {
    if access == Access::Read && auth.can(Area::Commerce, Access::Read) {
        return Ok(());
    }
    if auth.can(Area::Commerce, Access::Write) || auth.can(Area::Journeys, Access::Write) {
        return Ok(());
    }
    auth.require(Area::Commerce, access)
}

/// Tells analytics and journeys a customer received a coupon.
pub async fn coupon_event(
    conn: &mut cove_core::db::Conn,
    name: &str,
    coupon: &Coupon,
    at: cove_core::clock::Micros,
) -> Result<(), Error> {
    let event = DomainEvent::new(
        name,
        coupon.profile_id.clone(),
        format!("{name}:{}", coupon.id),
        json!({ "coupon_id": coupon.id, "template_id": coupon.template_id, "name": coupon.name,
            "valid_until": coupon.valid_until }),
        at,
    );
    domain::emit(conn, &event).await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StatusChange {
    /// active | paused | ended (ended is final).
    status: Status,
}

// ---- coupon templates ------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/promotions/coupon-templates", tag = "promotions", responses((status = 200, body = [CouponTemplate])))]
async fn list_templates(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<CouponTemplate>>> {
    require(&auth, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(coupons::list_templates(&mut conn).await?))
}

#[utoipa::path(post, path = "/api/v1/promotions/coupon-templates", tag = "promotions", request_body = NewCouponTemplate, responses((status = 200, body = CouponTemplate)))]
async fn create_template(
    State(state): State<AppState>,
    auth: Auth,
    Json(new): Json<NewCouponTemplate>,
) -> ApiResult<Json<CouponTemplate>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let t = coupons::create_template(&mut tx, &new, clock::now()).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "coupon_template.create",
        "coupon_template",
        Some(&t.id),
        json!({ "name": t.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(t))
}

#[utoipa::path(get, path = "/api/v1/promotions/coupon-templates/{id}", tag = "promotions", responses((status = 200, body = CouponTemplate)))]
async fn get_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<CouponTemplate>> {
    require(&auth, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(coupons::get_template(&mut conn, &id).await?))
}

#[utoipa::path(put, path = "/api/v1/promotions/coupon-templates/{id}", tag = "promotions", request_body = NewCouponTemplate, responses((status = 200, body = CouponTemplate)))]
async fn update_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(new): Json<NewCouponTemplate>,
) -> ApiResult<Json<CouponTemplate>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let t = coupons::update_template(&mut tx, &id, &new, clock::now()).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "coupon_template.update",
        "coupon_template",
        Some(&id),
        json!({ "name": t.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(t))
}

#[utoipa::path(post, path = "/api/v1/promotions/coupon-templates/{id}/status", tag = "promotions", request_body = StatusChange, responses((status = 200, body = CouponTemplate)))]
async fn template_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(change): Json<StatusChange>,
) -> ApiResult<Json<CouponTemplate>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    promotions::set_status(
        &mut tx,
        Campaign::CouponTemplate,
        &id,
        change.status,
        clock::now(),
    )
    .await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "coupon_template.status",
        "coupon_template",
        Some(&id),
        json!({ "status": change.status.as_str() }),
    )
    .await?;
    let t = coupons::get_template(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(Json(t))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct IssueRequest {
    /// One coupon to each profile (at most 10,000).
    profile_ids: Vec<String>,
}

/// Issues one coupon to each profile, all or none (the total quantity applies).
#[utoipa::path(post, path = "/api/v1/promotions/coupon-templates/{id}/issue", tag = "promotions", request_body = IssueRequest,
    responses((status = 200, body = [Coupon]), (status = 409, description = "coupon_sold_out | coupon_template_inactive | coupon_template_out_of_window")))]
async fn issue_coupons(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<IssueRequest>,
) -> ApiResult<Json<Vec<Coupon>>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let now = clock::now();
    let issued = coupons::issue(&mut tx, &id, &req.profile_ids, &auth.user_id, now).await?;
    for coupon in &issued {
        coupon_event(&mut tx, "coupon.issued", coupon, now).await?;
    }
    audit::record(
        &mut tx,
        &auth.actor(),
        "coupon.issue",
        "coupon_template",
        Some(&id),
        json!({ "count": issued.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(issued))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct CouponFilter {
    template_id: Option<String>,
    profile_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/promotions/coupons", tag = "promotions", params(CouponFilter, Page), responses((status = 200, body = [Coupon])))]
async fn list_coupons(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<CouponFilter>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<Coupon>>> {
    require(&auth, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(
        coupons::list(
            &mut conn,
            filter.template_id.as_deref(),
            filter.profile_id.as_deref(),
            page.before.as_deref(),
            page.limit.unwrap_or(50),
            clock::now(),
        )
        .await?,
    ))
}

/// Withdraws an unused coupon.
#[utoipa::path(post, path = "/api/v1/promotions/coupons/{id}/void", tag = "promotions", responses((status = 200, body = Coupon)))]
async fn void_coupon(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Coupon>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let c = coupons::void(&mut tx, &id, clock::now()).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "coupon.void",
        "coupon",
        Some(&id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(c))
}

// ---- automatic discounts ---------------------------------------------------

#[utoipa::path(get, path = "/api/v1/promotions/discounts", tag = "promotions", responses((status = 200, body = [Promotion])))]
async fn list_promotions(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Promotion>>> {
    require(&auth, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(discounts::list(&mut conn).await?))
}

#[utoipa::path(post, path = "/api/v1/promotions/discounts", tag = "promotions", request_body = NewPromotion, responses((status = 200, body = Promotion)))]
async fn create_promotion(
    State(state): State<AppState>,
    auth: Auth,
    Json(new): Json<NewPromotion>,
) -> ApiResult<Json<Promotion>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let p = discounts::create(&mut tx, &new, clock::now()).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "promotion.create",
        "promotion",
        Some(&p.id),
        json!({ "name": p.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(p))
}

#[utoipa::path(get, path = "/api/v1/promotions/discounts/{id}", tag = "promotions", responses((status = 200, body = Promotion)))]
async fn get_promotion(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Promotion>> {
    require(&auth, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(discounts::get(&mut conn, &id).await?))
}

#[utoipa::path(put, path = "/api/v1/promotions/discounts/{id}", tag = "promotions", request_body = NewPromotion, responses((status = 200, body = Promotion)))]
async fn update_promotion(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(new): Json<NewPromotion>,
) -> ApiResult<Json<Promotion>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let p = discounts::update(&mut tx, &id, &new, clock::now()).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "promotion.update",
        "promotion",
        Some(&id),
        json!({ "name": p.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(p))
}

#[utoipa::path(post, path = "/api/v1/promotions/discounts/{id}/status", tag = "promotions", request_body = StatusChange, responses((status = 200, body = Promotion)))]
async fn promotion_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(change): Json<StatusChange>,
) -> ApiResult<Json<Promotion>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    promotions::set_status(
        &mut tx,
        Campaign::Promotion,
        &id,
        change.status,
        clock::now(),
    )
    .await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "promotion.status",
        "promotion",
        Some(&id),
        json!({ "status": change.status.as_str() }),
    )
    .await?;
    let p = discounts::get(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(Json(p))
}

// ---- flash sales -----------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/promotions/flash-sales", tag = "promotions", responses((status = 200, body = [FlashSale])))]
async fn list_flash_sales(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<FlashSale>>> {
    require(&auth, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(flash::list(&mut conn).await?))
}

#[utoipa::path(post, path = "/api/v1/promotions/flash-sales", tag = "promotions", request_body = NewFlashSale, responses((status = 200, body = FlashSale)))]
async fn create_flash_sale(
    State(state): State<AppState>,
    auth: Auth,
    Json(new): Json<NewFlashSale>,
) -> ApiResult<Json<FlashSale>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let s = flash::create(&mut tx, &new, clock::now()).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "flash_sale.create",
        "flash_sale",
        Some(&s.id),
        json!({ "name": s.name, "items": s.items.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(s))
}

#[utoipa::path(get, path = "/api/v1/promotions/flash-sales/{id}", tag = "promotions", responses((status = 200, body = FlashSale)))]
async fn get_flash_sale(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<FlashSale>> {
    require(&auth, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(flash::get(&mut conn, &id).await?))
}

/// Renames the sale or moves its window (items are changed one by one).
#[utoipa::path(put, path = "/api/v1/promotions/flash-sales/{id}", tag = "promotions", request_body = NewFlashSale, responses((status = 200, body = FlashSale)))]
async fn update_flash_sale(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(new): Json<NewFlashSale>,
) -> ApiResult<Json<FlashSale>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let s = flash::update(&mut tx, &id, &new, clock::now()).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "flash_sale.update",
        "flash_sale",
        Some(&id),
        json!({ "name": s.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(s))
}

#[utoipa::path(post, path = "/api/v1/promotions/flash-sales/{id}/status", tag = "promotions", request_body = StatusChange, responses((status = 200, body = FlashSale)))]
async fn flash_sale_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(change): Json<StatusChange>,
) -> ApiResult<Json<FlashSale>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    promotions::set_status(
        &mut tx,
        Campaign::FlashSale,
        &id,
        change.status,
        clock::now(),
    )
    .await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "flash_sale.status",
        "flash_sale",
        Some(&id),
        json!({ "status": change.status.as_str() }),
    )
    .await?;
    let s = flash::get(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(Json(s))
}

#[utoipa::path(post, path = "/api/v1/promotions/flash-sales/{id}/items", tag = "promotions", request_body = NewFlashItem, responses((status = 200, body = FlashSale)))]
async fn add_flash_item(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(item): Json<NewFlashItem>,
) -> ApiResult<Json<FlashSale>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let s = flash::add_item(&mut tx, &id, &item).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "flash_sale.item.add",
        "flash_sale",
        Some(&id),
        json!({ "sku_id": item.sku_id, "pool": item.pool, "price_fen": item.price_fen }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(s))
}

/// Changes an item's price, pool (never below what is sold) or per-person limit.
#[utoipa::path(put, path = "/api/v1/promotions/flash-sales/{id}/items/{item_id}", tag = "promotions", request_body = NewFlashItem, responses((status = 200, body = FlashSale)))]
async fn update_flash_item(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, item_id)): Path<(String, String)>,
    Json(item): Json<NewFlashItem>,
) -> ApiResult<Json<FlashSale>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let s = flash::update_item(&mut tx, &id, &item_id, &item).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "flash_sale.item.update",
        "flash_sale",
        Some(&id),
        json!({ "item_id": item_id, "pool": item.pool, "price_fen": item.price_fen }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(s))
}

/// Removes an item nobody has bought.
#[utoipa::path(delete, path = "/api/v1/promotions/flash-sales/{id}/items/{item_id}", tag = "promotions", responses((status = 200, body = FlashSale)))]
async fn remove_flash_item(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, item_id)): Path<(String, String)>,
) -> ApiResult<Json<FlashSale>> {
    require(&auth, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let s = flash::remove_item(&mut tx, &id, &item_id).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "flash_sale.item.remove",
        "flash_sale",
        Some(&id),
        json!({ "item_id": item_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(s))
}

/// Results per campaign: coupons issued and used, orders, discount given, budget left, flash units sold.
#[utoipa::path(get, path = "/api/v1/promotions/results", tag = "promotions", responses((status = 200, body = [CampaignResult])))]
async fn results(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<CampaignResult>>> {
    require(&auth, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(promotions::results(&mut conn).await?))
}

// ---- customers -------------------------------------------------------------

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Claimable {
    pub template: CouponTemplate,
    /// How many this customer has claimed already.
    pub claimed: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MyCoupons {
    /// The customer's coupons, newest first.
    pub coupons: Vec<Coupon>,
    /// Templates the customer may claim now.
    pub claimable: Vec<Claimable>,
}

/// The customer's coupons and the coupons they may claim now.
#[utoipa::path(get, path = "/api/v1/me/coupons", tag = "promotions", responses((status = 200, body = MyCoupons)))]
async fn my_coupons(
    State(state): State<AppState>,
    customer: Customer,
) -> ApiResult<Json<MyCoupons>> {
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(load_my_coupons(&mut conn, &customer).await?))
}

pub async fn load_my_coupons(
    conn: &mut cove_core::db::Conn,
    customer: &Customer,
) -> Result<MyCoupons, Error> {
    let now = clock::now();
    let buyer =
        promotions::buyer(conn, &customer.profile_id, customer.member_id.as_deref()).await?;
    let coupons = coupons::for_profile(conn, &customer.profile_id, now).await?;
    let claimable = coupons::claimable(conn, &buyer, now)
        .await?
        .into_iter()
        .filter(|(t, claimed)| *claimed < t.per_person_limit)
        .map(|(template, claimed)| Claimable { template, claimed })
        .collect();
    Ok(MyCoupons { coupons, claimable })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ClaimRequest {
    template_id: String,
}

/// Claims a coupon from a claimable template (within its per-person limit and total).
#[utoipa::path(post, path = "/api/v1/me/coupons", tag = "promotions", request_body = ClaimRequest,
    responses((status = 200, body = Coupon), (status = 409, description = "coupon_limit_reached | coupon_sold_out | coupon_template_inactive")))]
async fn claim_coupon(
    State(state): State<AppState>,
    customer: Customer,
    Json(req): Json<ClaimRequest>,
) -> ApiResult<Json<Coupon>> {
    let mut tx = state.db.begin().await?;
    let buyer =
        promotions::buyer(&mut tx, &customer.profile_id, customer.member_id.as_deref()).await?;
    let now = clock::now();
    let coupon = coupons::claim_coupon(&mut tx, &buyer, &req.template_id, now).await?;
    coupon_event(&mut tx, "coupon.claimed", &coupon, now).await?;
    tx.commit().await?;
    Ok(Json(coupon))
}

/// Flash sales running now or starting later, soonest first.
#[utoipa::path(get, path = "/api/v1/store/flash-sales", tag = "promotions", responses((status = 200, body = [FlashSale])))]
async fn store_flash_sales(State(state): State<AppState>) -> ApiResult<Json<Vec<FlashSale>>> {
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(
        flash::live_and_upcoming(&mut conn, clock::now()).await?,
    ))
}
