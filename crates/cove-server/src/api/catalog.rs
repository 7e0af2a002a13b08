//! The catalog: the staff API under `/api/v1/catalog/...` (categories,
//! products, SKUs, options and rules, bundles, tier prices, stock locations
//! and levels, CSV import and export), and the storefront's public read API
//! under `/api/v1/store/products`.

use crate::auth::Auth;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cove_core::access::{Access, Area};
use cove_core::commerce::catalog_csv::{self, ImportReport, StockReport};
use cove_core::commerce::inventory::{
    self, Adjustment, Count, Level, LevelFilter, Location, LocationInput, Movement,
};
use cove_core::commerce::products::options::{
    self, GroupInput, OptionGroup, OptionInput, OptionRule, ProductOption, RuleInput,
};
use cove_core::commerce::products::skus::{
    self, BundleItem, BundleItemInput, Sku, SkuInput, SkuPatch, TierPrice,
};
use cove_core::commerce::products::storefront::{self, Detail, Listing, Sort};
use cove_core::commerce::products::{
    self, Category, CategoryInput, Product, ProductInput, ProductPatch,
};
use cove_core::db::Tx;
use cove_core::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type BoxFuture<'c, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'c>>;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories, save_category))
        .routes(routes!(list_products, create_product))
        .routes(routes!(product_detail, update_product))
        .routes(routes!(set_images))
        .routes(routes!(add_sku))
        .routes(routes!(update_sku))
        .routes(routes!(set_tier_prices))
        .routes(routes!(set_bundle_items))
        .routes(routes!(save_group))
        .routes(routes!(save_option))
        .routes(routes!(add_rule))
        .routes(routes!(delete_rule))
        .routes(routes!(list_locations, save_location))
        .routes(routes!(stock_levels))
        .routes(routes!(low_stock))
        .routes(routes!(set_stock))
        .routes(routes!(adjust_stock))
        .routes(routes!(stock_movements))
        .routes(routes!(export_products))
        .routes(routes!(import_products))
        .routes(routes!(export_stock))
        .routes(routes!(import_stock))
        .routes(routes!(store_products))
        .routes(routes!(store_product))
}

/// Runs a staff write in one transaction: commerce write access, then `f`.
async fn write<T, F>(state: &AppState, auth: &Auth, f: F) -> ApiResult<Json<T>>
where
    F: for<'c> FnOnce(&'c mut Tx, cove_core::audit::Actor) -> BoxFuture<'c, Result<T, Error>>,
{
    auth.require(Area::Commerce, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let out = f(&mut tx, auth.actor()).await?;
    tx.commit().await?;
    Ok(Json(out))
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/catalog/categories", tag = "commerce", responses((status = 200, body = [Category])))]
async fn list_categories(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Category>>> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(products::list_categories(&mut conn).await?))
}

/// Creates a category or updates the one with the same code.
#[utoipa::path(post, path = "/api/v1/catalog/categories", tag = "commerce", request_body = CategoryInput, responses((status = 200, body = Category)))]
async fn save_category(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<CategoryInput>,
) -> ApiResult<Json<Category>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { products::save_category(tx, &actor, &input).await })
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct StaffListQuery {
    category: Option<String>,
    q: Option<String>,
    /// `active`, `draft`, `archived` or `all` (default).
    status: Option<String>,
    sort: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Products of every status, with the storefront's search and filters.
#[utoipa::path(get, path = "/api/v1/catalog/products", tag = "commerce", params(StaffListQuery), responses((status = 200, body = Listing)))]
async fn list_products(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<StaffListQuery>,
) -> ApiResult<Json<Listing>> {
    auth.require(Area::Commerce, Access::Read)?;
    let status = q
        .status
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "all".into());
    if status != "all" {
        products::check_status(&status)?;
    }
    let query = storefront::Query {
        category: q.category,
        q: q.q,
        status: Some(status),
        sort: Sort::parse(q.sort.as_deref().unwrap_or(""))?,
        limit: q.limit.unwrap_or(100),
        offset: q.offset.unwrap_or(0),
        ..storefront::Query::default()
    };
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(storefront::list(&mut conn, &query).await?))
}

/// Creates a product with its first SKU (code = product code, priced `price_fen`).
#[utoipa::path(post, path = "/api/v1/catalog/products", tag = "commerce", request_body = ProductInput, responses((status = 200, body = Product)))]
async fn create_product(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<ProductInput>,
) -> ApiResult<Json<Product>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { products::create(tx, &actor, &input).await })
    })
    .await
}

/// The product with all its SKUs, options, rules and stock.
#[utoipa::path(get, path = "/api/v1/catalog/products/{code}", tag = "commerce", params(("code" = String, Path)), responses((status = 200, body = Detail)))]
async fn product_detail(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
) -> ApiResult<Json<Detail>> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(storefront::detail(&mut conn, &code, false).await?))
}

#[utoipa::path(patch, path = "/api/v1/catalog/products/{code}", tag = "commerce", params(("code" = String, Path)), request_body = ProductPatch, responses((status = 200, body = Product)))]
async fn update_product(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Json(patch): Json<ProductPatch>,
) -> ApiResult<Json<Product>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { products::update(tx, &actor, &code, patch).await })
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Images {
    images: Vec<String>,
}

/// Replaces the product's images (the first is the cover).
#[utoipa::path(put, path = "/api/v1/catalog/products/{code}/images", tag = "commerce", params(("code" = String, Path)), request_body = Images, responses((status = 200, body = Product)))]
async fn set_images(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Json(body): Json<Images>,
) -> ApiResult<Json<Product>> {
    let patch = ProductPatch {
        images: Some(body.images),
        ..ProductPatch::default()
    };
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { products::update(tx, &actor, &code, patch).await })
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/catalog/products/{code}/skus", tag = "commerce", params(("code" = String, Path)), request_body = SkuInput, responses((status = 200, body = Sku)))]
async fn add_sku(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Json(input): Json<SkuInput>,
) -> ApiResult<Json<Sku>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { skus::add(tx, &actor, &code, &input).await })
    })
    .await
}

#[utoipa::path(patch, path = "/api/v1/catalog/skus/{code}", tag = "commerce", params(("code" = String, Path)), request_body = SkuPatch, responses((status = 200, body = Sku)))]
async fn update_sku(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Json(patch): Json<SkuPatch>,
) -> ApiResult<Json<Sku>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { skus::update(tx, &actor, &code, patch).await })
    })
    .await
}

/// Replaces the SKU's per-tier member prices.
#[utoipa::path(put, path = "/api/v1/catalog/skus/{code}/tier-prices", tag = "commerce", params(("code" = String, Path)), request_body = [TierPrice], responses((status = 200, body = [TierPrice])))]
async fn set_tier_prices(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Json(prices): Json<Vec<TierPrice>>,
) -> ApiResult<Json<Vec<TierPrice>>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { skus::set_tier_prices(tx, &actor, &code, &prices).await })
    })
    .await
}

/// Replaces what a bundle SKU is made of.
#[utoipa::path(put, path = "/api/v1/catalog/skus/{code}/bundle-items", tag = "commerce", params(("code" = String, Path)), request_body = [BundleItemInput], responses((status = 200, body = [BundleItem])))]
async fn set_bundle_items(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Json(items): Json<Vec<BundleItemInput>>,
) -> ApiResult<Json<Vec<BundleItem>>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { skus::set_bundle_items(tx, &actor, &code, &items).await })
    })
    .await
}

/// Creates an option group or updates the product's group with the same code.
#[utoipa::path(post, path = "/api/v1/catalog/products/{code}/option-groups", tag = "commerce", params(("code" = String, Path)), request_body = GroupInput, responses((status = 200, body = OptionGroup)))]
async fn save_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Json(input): Json<GroupInput>,
) -> ApiResult<Json<OptionGroup>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { options::save_group(tx, &actor, &code, &input).await })
    })
    .await
}

/// Creates an option or updates the group's option with the same code.
#[utoipa::path(post, path = "/api/v1/catalog/products/{code}/option-groups/{group}/options", tag = "commerce",
    params(("code" = String, Path), ("group" = String, Path)), request_body = OptionInput, responses((status = 200, body = ProductOption)))]
async fn save_option(
    State(state): State<AppState>,
    auth: Auth,
    Path((code, group)): Path<(String, String)>,
    Json(input): Json<OptionInput>,
) -> ApiResult<Json<ProductOption>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { options::save_option(tx, &actor, &code, &group, &input).await })
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/catalog/products/{code}/rules", tag = "commerce", params(("code" = String, Path)), request_body = RuleInput, responses((status = 200, body = OptionRule)))]
async fn add_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Json(input): Json<RuleInput>,
) -> ApiResult<Json<OptionRule>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { options::add_rule(tx, &actor, &code, &input).await })
    })
    .await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Deleted {
    deleted: bool,
}

#[utoipa::path(delete, path = "/api/v1/catalog/rules/{id}", tag = "commerce", params(("id" = String, Path)), responses((status = 200, body = Deleted)))]
async fn delete_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move {
            options::delete_rule(tx, &actor, &id).await?;
            Ok(Deleted { deleted: true })
        })
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/catalog/locations", tag = "commerce", responses((status = 200, body = [Location])))]
async fn list_locations(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<Location>>> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(inventory::list_locations(&mut conn).await?))
}

/// Creates a stock location or updates the one with the same code.
#[utoipa::path(post, path = "/api/v1/catalog/locations", tag = "commerce", request_body = LocationInput, responses((status = 200, body = Location)))]
async fn save_location(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<LocationInput>,
) -> ApiResult<Json<Location>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { inventory::save_location(tx, &actor, &input).await })
    })
    .await
}

/// Stock per SKU and location; `low` keeps levels sellable at most that.
#[utoipa::path(get, path = "/api/v1/catalog/stock", tag = "commerce", params(LevelFilter), responses((status = 200, body = [Level])))]
async fn stock_levels(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<LevelFilter>,
) -> ApiResult<Json<Vec<Level>>> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(inventory::levels(&mut conn, &filter).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct LowQuery {
    /// Sellable online at most this many (default 5).
    threshold: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LowStock {
    sku_code: String,
    product_code: String,
    sellable: i64,
}

/// Active device and accessory SKUs running out online.
#[utoipa::path(get, path = "/api/v1/catalog/stock/low", tag = "commerce", params(LowQuery), responses((status = 200, body = [LowStock])))]
async fn low_stock(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<LowQuery>,
) -> ApiResult<Json<Vec<LowStock>>> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    let rows = inventory::low_stock(&mut conn, q.threshold.unwrap_or(5)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(sku_code, product_code, sellable)| LowStock {
                sku_code,
                product_code,
                sellable,
            })
            .collect(),
    ))
}

/// Sets on hand to a counted figure (the difference is a `count` movement).
#[utoipa::path(post, path = "/api/v1/catalog/stock/set", tag = "commerce", request_body = Count, responses((status = 200, body = Level)))]
async fn set_stock(
    State(state): State<AppState>,
    auth: Auth,
    Json(count): Json<Count>,
) -> ApiResult<Json<Level>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { inventory::set_on_hand(tx, &actor, &count).await })
    })
    .await
}

/// Adds to or removes from on hand with a reason (`receipt`, `damage`, `count`, `correction`).
#[utoipa::path(post, path = "/api/v1/catalog/stock/adjust", tag = "commerce", request_body = Adjustment, responses((status = 200, body = Level), (status = 409, body = crate::error::ErrorBody)))]
async fn adjust_stock(
    State(state): State<AppState>,
    auth: Auth,
    Json(adjustment): Json<Adjustment>,
) -> ApiResult<Json<Level>> {
    write(&state, &auth, |tx, actor| {
        Box::pin(async move { inventory::adjust(tx, &actor, &adjustment).await })
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct MovementQuery {
    sku: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/catalog/stock/movements", tag = "commerce", params(MovementQuery), responses((status = 200, body = [Movement])))]
async fn stock_movements(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<MovementQuery>,
) -> ApiResult<Json<Vec<Movement>>> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(
        inventory::movements(&mut conn, q.sku.as_deref(), q.limit.unwrap_or(100)).await?,
    ))
}

/// Products and SKUs as CSV, one row per SKU.
#[utoipa::path(get, path = "/api/v1/catalog/products.csv", tag = "commerce", responses((status = 200, content_type = "text/csv", body = String)))]
async fn export_products(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    let csv = catalog_csv::export_products(&mut conn).await?;
    Ok(csv_response("products.csv", csv))
}

/// Upserts products and SKUs from CSV; one bad row refuses the file (422).
#[utoipa::path(post, path = "/api/v1/catalog/products.csv", tag = "commerce", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport)))]
async fn import_products(
    State(state): State<AppState>,
    auth: Auth,
    body: String,
) -> ApiResult<(StatusCode, Json<ImportReport>)> {
    auth.require(Area::Commerce, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let report = catalog_csv::import_products(&mut tx, &auth.actor(), &body).await?;
    if !report.errors.is_empty() {
        tx.rollback().await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(report)));
    }
    tx.commit().await?;
    Ok((StatusCode::OK, Json(report)))
}

/// Stock levels as CSV (`sku_code,location_code,on_hand`).
#[utoipa::path(get, path = "/api/v1/catalog/stock.csv", tag = "commerce", responses((status = 200, content_type = "text/csv", body = String)))]
async fn export_stock(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    auth.require(Area::Commerce, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    let csv = catalog_csv::export_stock(&mut conn).await?;
    Ok(csv_response("stock.csv", csv))
}

/// Sets on hand from counted figures; one bad row refuses the file (422).
#[utoipa::path(post, path = "/api/v1/catalog/stock.csv", tag = "commerce", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = StockReport), (status = 422, body = StockReport)))]
async fn import_stock(
    State(state): State<AppState>,
    auth: Auth,
    body: String,
) -> ApiResult<(StatusCode, Json<StockReport>)> {
    auth.require(Area::Commerce, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let report = catalog_csv::import_stock(&mut tx, &auth.actor(), &body).await?;
    if !report.errors.is_empty() {
        tx.rollback().await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(report)));
    }
    tx.commit().await?;
    Ok((StatusCode::OK, Json(report)))
}

/// The storefront's listing query: `attr.<key>=<value>` filters on attributes.
pub fn store_query(params: &BTreeMap<String, String>) -> Result<storefront::Query, Error> {
    let fen = |key: &str| -> Result<Option<i64>, Error> {
        match params.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                Error::invalid("invalid_price", format!("{key} is a whole number of fen"))
            }),
        }
    };
    let number = |key: &str, default: i64| -> Result<i64, Error> {
        match params.get(key).filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => s
                .parse()
                .map_err(|_| Error::invalid("invalid_query", format!("{key} is a number"))),
        }
    };
    Ok(storefront::Query {
        category: params.get("category").cloned().filter(|c| !c.is_empty()),
        q: params.get("q").cloned().filter(|q| !q.trim().is_empty()),
        min_price_fen: fen("min_price")?,
        max_price_fen: fen("max_price")?,
        attributes: params
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("attr.")?.to_owned(), v.clone())))
            .filter(|(_, v)| !v.is_empty())
            .collect(),
        status: None,
        sort: Sort::parse(params.get("sort").map(String::as_str).unwrap_or(""))?,
        limit: number("limit", 24)?,
        offset: number("offset", 0)?,
    })
}

/// Active products for the storefront. Prices in fen; `attr.<key>=<value>`
/// filters on an attribute; `sort` is `position`, `price_asc`, `price_desc` or `newest`.
#[utoipa::path(get, path = "/api/v1/store/products", tag = "commerce",
    params(("category" = Option<String>, Query), ("q" = Option<String>, Query), ("min_price" = Option<i64>, Query),
        ("max_price" = Option<i64>, Query), ("sort" = Option<String>, Query), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Listing)))]
async fn store_products(
    State(state): State<AppState>,
    Query(params): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<Listing>> {
    let query = store_query(&params)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(storefront::list(&mut conn, &query).await?))
}

/// An active product with its active SKUs, options, rules and sellable stock.
#[utoipa::path(get, path = "/api/v1/store/products/{code}", tag = "commerce", params(("code" = String, Path)), responses((status = 200, body = Detail), (status = 404, body = crate::error::ErrorBody)))]
async fn store_product(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<Detail>> {
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(storefront::detail(&mut conn, &code, true).await?))
}
