//! The service center's staff API: factory import, device and warranty
//! lookup, device QR codes (one or a print batch), entitlement grants and
//! warranty policies.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cove_core::access::{Access, Area};
use cove_core::clock;
use cove_core::service::import::{self, ImportReport, ImportRow};
use cove_core::service::policy::{self, Policy};
use cove_core::service::qr::{self, SigningKey};
use cove_core::service::warranty::{self, Warranty};
use cove_core::service::{devices, Binding, Entitlement, Kind, Origin, ServiceTag};
use cove_core::Error;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A factory file may be large: up to 256 MiB of CSV (about 4 million rows).
const IMPORT_BODY_LIMIT: usize = 256 * 1024 * 1024;
/// Codes per print batch.
const MAX_BATCH: usize = 500;

pub fn router() -> OpenApiRouter<AppState> {
    let imports = OpenApiRouter::new()
        .routes(routes!(import_json))
        .routes(routes!(import_csv))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    OpenApiRouter::new()
        .merge(imports)
        .routes(routes!(get_device))
        .routes(routes!(device_qr_png))
        .routes(routes!(device_qr_svg))
        .routes(routes!(qr_batch))
        .routes(routes!(grant))
        .routes(routes!(put_policy))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ImportBody {
    rows: Vec<ImportRow>,
    /// Land the good rows even if some are bad (default: all or nothing).
    #[serde(default)]
    partial: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ImportParams {
    /// Land the good rows even if some are bad (default: all or nothing).
    #[serde(default)]
    partial: bool,
}

/// 200 with the report when the import landed; 422 `import_rejected` with the
/// same report (and nothing written) when it did not.
fn import_response(report: ImportReport) -> Response {
    let Ok(serde_json::Value::Object(mut body)) = serde_json::to_value(&report) else {
        return ApiError(Error::Internal(anyhow::anyhow!(
            "cannot serialise a report"
        )))
        .into_response();
    };
    if report.committed {
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    body.insert("code".into(), json!("import_rejected"));
    body.insert(
        "message".into(),
        json!(format!(
            "{} of {} rows are invalid; nothing was imported (fix them, or ask for a partial import)",
            report.rejected, report.rows
        )),
    );
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

/// Register devices from the factory (JSON rows). Idempotent: rows already
/// registered identically count as unchanged.
#[utoipa::path(post, path = "/api/v1/service/devices/import", tag = "service", request_body = ImportBody,
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport)))]
async fn import_json(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ImportBody>,
) -> ApiResult<Response> {
    auth.require(Area::Service, Access::Write)?;
    let rows = body
        .rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i + 1, r))
        .collect();
    let report = import::import(&state.db, rows, body.partial).await?;
    record_import(&state, &auth, &report, "json").await?;
    Ok(import_response(report))
}

/// Register devices from a factory CSV with the header
/// `service_tag,model,serial,shipped_on,sales_channel,region`.
#[utoipa::path(post, path = "/api/v1/service/devices/import.csv", tag = "service", params(ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport)))]
async fn import_csv(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<ImportParams>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(Area::Service, Access::Write)?;
    let (rows, errors) = import::parse_csv(&body)?;
    let report = import::import_with(&state.db, rows, errors, params.partial).await?;
    record_import(&state, &auth, &report, "csv").await?;
    Ok(import_response(report))
}

async fn record_import(
    state: &AppState,
    auth: &Auth,
    report: &ImportReport,
    format: &str,
) -> ApiResult<()> {
    if report.inserted == 0 {
        return Ok(());
    }
    let mut conn = state.db.pool().acquire().await?;
    cove_core::audit::record(
        &mut conn,
        &auth.actor(),
        "device.import",
        "device",
        None,
        json!({ "format": format, "rows": report.rows, "inserted": report.inserted, "rejected": report.rejected }),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeviceView {
    warranty: Warranty,
    /// Ownership history, oldest first.
    bindings: Vec<Binding>,
    /// The URL its QR code carries.
    qr_url: String,
}

fn tag(raw: &str) -> ApiResult<ServiceTag> {
    Ok(ServiceTag::parse(raw)?)
}

/// A device by service tag: model, warranty, entitlements and ownership history.
#[utoipa::path(get, path = "/api/v1/service/devices/{tag}", tag = "service", params(("tag" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_device(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<DeviceView>> {
    auth.require(Area::Service, Access::Read)?;
    let tag = tag(&raw)?;
    let key = SigningKey::load(&state.db, &state.vault).await?;
    let mut conn = state.db.read().acquire().await?;
    let warranty = warranty::lookup(&mut conn, &tag, clock::now()).await?;
    let bindings = devices::bindings(&mut conn, &tag).await?;
    Ok(Json(DeviceView {
        warranty,
        bindings,
        qr_url: key.device_url(&state.config.public_url(), &tag),
    }))
}

/// The signed URL of a registered device's code.
async fn device_url(state: &AppState, raw: &str) -> ApiResult<String> {
    let tag = tag(raw)?;
    let mut conn = state.db.read().acquire().await?;
    devices::get(&mut conn, &tag).await?;
    let key = SigningKey::load(&state.db, &state.vault).await?;
    Ok(key.device_url(&state.config.public_url(), &tag))
}

/// A device's QR code as PNG, for labels.
#[utoipa::path(get, path = "/api/v1/service/devices/{tag}/qr.png", tag = "service", params(("tag" = String, Path)),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = crate::error::ErrorBody)))]
async fn device_qr_png(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    auth.require(Area::Service, Access::Read)?;
    let png = qr::png(&device_url(&state, &raw).await?)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// A device's QR code as SVG, for print.
#[utoipa::path(get, path = "/api/v1/service/devices/{tag}/qr.svg", tag = "service", params(("tag" = String, Path)),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = crate::error::ErrorBody)))]
async fn device_qr_svg(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    auth.require(Area::Service, Access::Read)?;
    let svg = qr::svg(&device_url(&state, &raw).await?)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct BatchBody {
    /// Up to 500 service tags.
    service_tags: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BatchCode {
    service_tag: String,
    url: String,
    svg: String,
}

/// Codes for a print run: each tag's signed URL and SVG. Every tag must be
/// registered; an unknown or malformed tag fails the batch.
#[utoipa::path(post, path = "/api/v1/service/devices/qr-batch", tag = "service", request_body = BatchBody,
    responses((status = 200, body = [BatchCode]), (status = 400, body = crate::error::ErrorBody)))]
async fn qr_batch(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<BatchBody>,
) -> ApiResult<Json<Vec<BatchCode>>> {
    auth.require(Area::Service, Access::Read)?;
    if body.service_tags.is_empty() || body.service_tags.len() > MAX_BATCH {
        return Err(ApiError::new(
            "invalid_batch",
            format!("a batch has 1–{MAX_BATCH} service tags"),
        ));
    }
    let key = SigningKey::load(&state.db, &state.vault).await?;
    let public_url = state.config.public_url();
    let mut conn = state.db.read().acquire().await?;
    let mut codes = Vec::with_capacity(body.service_tags.len());
    for raw in &body.service_tags {
        let tag = tag(raw)?;
        devices::get(&mut conn, &tag).await?;
        let url = key.device_url(&public_url, &tag);
        codes.push(BatchCode {
            service_tag: tag.to_string(),
            svg: qr::svg(&url)?,
            url,
        });
    }
    Ok(Json(codes))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct GrantBody {
    kind: Kind,
    months: i64,
    origin: Origin,
    /// What the grant is for (order id, benefit id, case number); a second
    /// grant with the same origin and reference returns the first.
    reference: String,
    service_level: Option<String>,
}

/// Grant an entitlement to a device (goodwill, a contract sold offline…).
#[utoipa::path(post, path = "/api/v1/service/devices/{tag}/entitlements", tag = "service", params(("tag" = String, Path)),
    request_body = GrantBody, responses((status = 201, body = Entitlement), (status = 400, body = crate::error::ErrorBody)))]
async fn grant(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Json(body): Json<GrantBody>,
) -> ApiResult<(StatusCode, Json<Entitlement>)> {
    auth.require(Area::Service, Access::Write)?;
    let tag = tag(&raw)?;
    let mut tx = state.db.begin().await?;
    let entitlement = warranty::grant(
        &mut tx,
        &tag,
        body.kind,
        body.months,
        body.origin,
        &body.reference,
        body.service_level.as_deref(),
        clock::now(),
    )
    .await?;
    cove_core::audit::record(
        &mut tx,
        &auth.actor(),
        "device.entitlement_grant",
        "device",
        Some(tag.as_str()),
        json!({ "entitlement_id": entitlement.id, "kind": body.kind, "months": body.months, "origin": body.origin, "reference": body.reference }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(entitlement)))
}

/// Set a device model's warranty policy (applies to devices registered afterwards).
#[utoipa::path(put, path = "/api/v1/service/policies/{model}", tag = "service", params(("model" = String, Path, description = "product code")),
    request_body = Policy, responses((status = 200, body = Policy), (status = 404, body = crate::error::ErrorBody)))]
async fn put_policy(
    State(state): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    Json(body): Json<Policy>,
) -> ApiResult<Json<Policy>> {
    auth.require(Area::Service, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let product_id: Option<String> =
        sqlx::query_scalar("SELECT id FROM products WHERE code = $1 AND kind = 'device'")
            .bind(&model)
            .fetch_optional(&mut *tx)
            .await?;
    let product_id = product_id.ok_or_else(|| Error::not_found("model"))?;
    let policy = policy::set(&mut tx, &product_id, body, clock::now()).await?;
    cove_core::audit::record(
        &mut tx,
        &auth.actor(),
        "warranty.policy_set",
        "product",
        Some(&product_id),
        serde_json::to_value(&policy).map_err(Error::from)?,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(policy))
}
