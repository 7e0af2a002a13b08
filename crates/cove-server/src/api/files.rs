//! Uploads (multipart, field `file`) by staff and by storefront customers,
//! and `/files/{id}/{name}`, which serves a file to whoever may read it.

use crate::auth::Auth;
use crate::customer::Customer;
use crate::error::{ApiError, ApiResult, Json, Path};
use crate::state::AppState;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cove_core::access::{Access, Area};
use cove_core::clock;
use cove_core::files::{self, Owner, StoredFile, Viewer};
use cove_core::Error;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Text fields beside the file are a few words.
const MAX_FIELD: usize = 1024;

pub fn router() -> OpenApiRouter<AppState> {
    // The configured size limit is enforced while the body streams in.
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(upload_mine))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new().merge(uploads).routes(routes!(serve))
}

/// One upload as read from the multipart body.
struct Upload {
    name: String,
    bytes: Vec<u8>,
    purpose: Option<String>,
}

fn multipart_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        "invalid_multipart",
        format!("send multipart/form-data with a `file` field: {e}"),
    )
}

/// Reads the `file` field (up to `max` bytes, refused as soon as it grows
/// past) and an optional `purpose`.
async fn read_upload(
    multipart: Result<Multipart, MultipartRejection>,
    max: usize,
) -> ApiResult<Upload> {
    let mut multipart = multipart.map_err(multipart_error)?;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut purpose = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") if file.is_none() => {
                let name = field.file_name().unwrap_or("file").to_owned();
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if bytes.len() + chunk.len() > max {
                        return Err(files::too_large(max).into());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                file = Some((name, bytes));
            }
            Some("purpose") => {
                let text = field.text().await.map_err(multipart_error)?;
                if text.len() > MAX_FIELD {
                    return Err(ApiError::new("invalid_purpose", "purpose is too long"));
                }
                purpose = Some(text.trim().to_owned());
            }
            _ => {}
        }
    }
    let (name, bytes) =
        file.ok_or_else(|| ApiError::new("missing_file", "the form has no `file` field"))?;
    Ok(Upload {
        name,
        bytes,
        purpose,
    })
}

async fn save(
    state: &AppState,
    owner: Owner,
    purpose: &str,
    upload: Upload,
) -> ApiResult<StoredFile> {
    let mut tx = state.db.begin().await?;
    let file = files::store(
        &mut tx,
        &owner,
        purpose,
        &upload.name,
        &upload.bytes,
        state.config.files.max_bytes,
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(file)
}

/// Upload a product image or a ticket attachment (multipart: `file`, and
/// `purpose` = `product_image` or `ticket_attachment`, the default).
/// JPEG, PNG, WebP, GIF and PDF, told by their content.
#[utoipa::path(post, path = "/api/v1/files", tag = "files",
    request_body(content_type = "multipart/form-data", description = "fields `file` and `purpose`"),
    responses((status = 201, body = StoredFile), (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<StoredFile>)> {
    auth.require(Area::Commerce, Access::Read)
        .or_else(|_| auth.require(Area::Service, Access::Read))?;
    let upload = read_upload(multipart, state.config.files.max_bytes).await?;
    let purpose = upload
        .purpose
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ticket_attachment".into());
    match purpose.as_str() {
        "product_image" => auth.require(Area::Commerce, Access::Write)?,
        "ticket_attachment" => auth.require(Area::Service, Access::Write)?,
        _ => {
            return Err(ApiError::new(
                "invalid_purpose",
                format!("purpose must be one of {}", files::PURPOSES.join(", ")),
            ))
        }
    }
    let file = save(&state, Owner::User(auth.user_id.clone()), &purpose, upload).await?;
    Ok((StatusCode::CREATED, Json(file)))
}

/// Upload a photo or PDF to attach to one of my tickets (multipart `file`),
/// within a daily quota (429 `upload_quota_exceeded` past it). Uploads not
/// attached within 24 hours are deleted.
#[utoipa::path(post, path = "/api/v1/me/files", tag = "files",
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses((status = 201, body = StoredFile), (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn upload_mine(
    State(state): State<AppState>,
    customer: Customer,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<StoredFile>)> {
    let upload = read_upload(multipart, state.config.files.max_bytes).await?;
    let mut tx = state.db.begin().await?;
    let now = clock::now();
    files::check_quota(
        &mut tx,
        state.db.backend(),
        &customer.profile_id,
        upload.bytes.len(),
        state.config.files.customer_daily_bytes,
        now,
    )
    .await?;
    let file = files::store(
        &mut tx,
        &Owner::Customer(customer.profile_id.clone()),
        "ticket_attachment",
        &upload.name,
        &upload.bytes,
        state.config.files.max_bytes,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(file)))
}

fn viewer(auth: Result<Auth, ApiError>, customer: Result<Customer, ApiError>) -> Viewer {
    if let Ok(auth) = auth {
        return Viewer::Staff {
            service: auth.can(Area::Service, Access::Read),
            user_id: auth.user_id.clone(),
        };
    }
    match customer {
        Ok(c) => Viewer::Customer {
            profile_id: c.profile_id,
        },
        Err(_) => Viewer::Anonymous,
    }
}

/// A stored file. Product images are public; an attachment is served only
/// to its ticket's customer and the service team (404 to anyone else).
/// The bytes of an id never change, so caches may keep them for a year.
#[utoipa::path(get, path = "/files/{id}/{name}", tag = "files",
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "the file"), (status = 304), (status = 404, body = crate::error::ErrorBody)))]
async fn serve(
    State(state): State<AppState>,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
    auth: Result<Auth, ApiError>,
    customer: Result<Customer, ApiError>,
) -> ApiResult<Response> {
    let mut conn = state.db.read().acquire().await?;
    let file = files::get(&mut conn, &id).await?;
    if !files::can_read(&mut conn, &file, &viewer(auth, customer)).await? {
        return Err(Error::not_found("file").into());
    }
    let etag = format!("\"{}\"", file.sha256);
    let cache = if file.purpose == "product_image" {
        "public, max-age=31536000, immutable"
    } else {
        "private, max-age=31536000, immutable"
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let bytes = files::content(&mut conn, &file).await?;
        let disposition = format!(
            "inline; filename*=UTF-8''{}",
            files::encode_segment(&file.name)
        );
        let mut r = bytes.into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, header_value(&file.content_type)?);
        h.insert(header::CONTENT_DISPOSITION, header_value(&disposition)?);
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, header_value(&etag)?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A PDF or image opened on its own runs nothing and reaches nothing.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
        ),
    );
    if file.purpose != "product_image" {
        h.insert(
            header::VARY,
            HeaderValue::from_static("Cookie, Authorization"),
        );
    }
    Ok(response)
}

fn header_value(s: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(s).map_err(|e| ApiError(Error::Internal(e.into())))
}
