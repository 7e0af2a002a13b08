//! Segment-compatible event ingestion (`/v1/identify|track|page|screen|group|alias|batch`)
//! and the audience console API: sources and their write keys, profiles,
//! identity conflicts.
//!
//! Ingestion rules, as clients see them:
//! - the write key comes from HTTP Basic (the key as user name, empty
//!   password) or from `writeKey` in the body; a missing, unknown or disabled
//!   key is a 401 `invalid_write_key`;
//! - the body is JSON (`Content-Type: application/json`, else 415), optionally
//!   `Content-Encoding: gzip`; after decompression a call is at most 32 KB and
//!   a batch at most 500 KB and 2,500 events (else 413);
//! - a request is all-or-nothing: one invalid event refuses the whole request
//!   with 400 and a `{"code","message"}` naming the item, and nothing is stored;
//! - `{"success": true}` is answered only after the transaction committed;
//!   a retried event (same source and `messageId`) is acknowledged again and
//!   stored once.

use crate::api::Page;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cove_core::access::{Access, Area};
use cove_core::audience::message::{self, CallType, MAX_BATCH_BYTES, MAX_CALL_BYTES};
use cove_core::audience::profiles::{self, IdentityConflict, Profile};
use cove_core::audience::sources::{self, Source, SourceKind};
use cove_core::audience::{self, Identifier};
use cove_core::{clock, Error};
use serde::{Deserialize, Serialize};
use std::io::Read;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(identify))
        .routes(routes!(track))
        .routes(routes!(page))
        .routes(routes!(screen))
        .routes(routes!(group))
        .routes(routes!(alias))
        .routes(routes!(batch))
        .routes(routes!(list_sources, create_source))
        .routes(routes!(find_profiles))
        .routes(routes!(get_profile))
        .routes(routes!(list_conflicts))
}

/// The answer to an accepted ingestion request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Success {
    pub success: bool,
}

/// An ingestion failure: Cove's error body with the statuses Segment clients expect.
pub struct IngestError(ApiError);

impl From<Error> for IngestError {
    fn from(e: Error) -> Self {
        IngestError(ApiError(e))
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let code = self.0 .0.code();
        let status = match code.as_ref() {
            "body_too_large" | "batch_too_large" | "event_too_large" => {
                Some(StatusCode::PAYLOAD_TOO_LARGE)
            }
            "invalid_write_key" => Some(StatusCode::UNAUTHORIZED),
            "unsupported_media_type" | "unsupported_encoding" => {
                Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            _ => None,
        };
        let mut response = self.0.into_response();
        if let Some(status) = status {
            *response.status_mut() = status;
        }
        if status == Some(StatusCode::UNAUTHORIZED) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cove\""),
            );
        }
        response
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> IngestError {
    Error::invalid(code, message).into()
}

type Body = Result<Bytes, BytesRejection>;

macro_rules! call_endpoint {
    ($name:ident, $call:expr, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "ingestion",
            request_body(content = Object, content_type = "application/json"),
            responses((status = 200, body = Success), (status = 400, body = crate::error::ErrorBody),
                (status = 401, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody),
                (status = 415, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
        async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: Body,
        ) -> Result<Json<Success>, IngestError> {
            handle(&state, $call, &headers, body).await
        }
    };
}

call_endpoint!(
    identify,
    Some(CallType::Identify),
    "/v1/identify",
    "Segment identify: who the user is, with traits."
);
call_endpoint!(
    track,
    Some(CallType::Track),
    "/v1/track",
    "Segment track: an action the user performed (`event` required)."
);
call_endpoint!(
    page,
    Some(CallType::Page),
    "/v1/page",
    "Segment page: a page view."
);
call_endpoint!(
    screen,
    Some(CallType::Screen),
    "/v1/screen",
    "Segment screen: a mobile screen view."
);
call_endpoint!(
    group,
    Some(CallType::Group),
    "/v1/group",
    "Segment group: the user joins a group (`groupId` required)."
);
call_endpoint!(
    alias,
    Some(CallType::Alias),
    "/v1/alias",
    "Segment alias: `previousId` and `userId` are the same person."
);
call_endpoint!(
    batch,
    None,
    "/v1/batch",
    "Segment batch: up to 2,500 typed events, stored all or none."
);

async fn handle(
    state: &AppState,
    call: Option<CallType>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<Success>, IngestError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(invalid(
            "unsupported_media_type",
            "send the events as JSON with Content-Type: application/json",
        ));
    }
    let raw = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            invalid("batch_too_large", "the request body is too large")
        } else {
            invalid("unreadable_body", r.body_text())
        }
    })?;
    let basic_key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(sources::write_key_from_basic);
    let received_at = clock::now();
    let (limit, too_large) = match call {
        Some(_) => (MAX_CALL_BYTES, "event_too_large"),
        None => (MAX_BATCH_BYTES, "batch_too_large"),
    };
    let bytes = decode(headers, &raw, limit, too_large)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| invalid("malformed_json", format!("the body is not valid JSON: {e}")))?;
    let key = basic_key.or_else(|| {
        value
            .get("writeKey")
            .and_then(|k| k.as_str())
            .map(str::to_owned)
    });
    let Some(key) = key else {
        return Err(invalid(
            "invalid_write_key",
            "send the source's write key as the HTTP Basic user name or as \"writeKey\"",
        ));
    };
    let Some(source) = sources::by_write_key(&state.db, &key).await? else {
        return Err(invalid(
            "invalid_write_key",
            "unknown or disabled write key",
        ));
    };
    let (messages, _) = message::parse_request(call, &value, received_at)?;
    state
        .ingest_throttle
        .admit(&state.config.ingest, &source.id, messages.len())?;
    let outcome = audience::ingest(&state.db, &source.id, &messages).await?;
    // After the commit: re-evaluating tags is a job's work, never the request's.
    if let Err(e) = cove_core::audience::tags::enqueue_reevaluations(
        &state.db,
        &state.tag_triggers,
        &outcome.touched,
    )
    .await
    {
        tracing::warn!(error = %e, "tag re-evaluation not enqueued; the hourly recompute will catch up");
    }
    tracing::debug!(
        source = %source.id,
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        "events ingested"
    );
    Ok(Json(Success { success: true }))
}

/// The body after `Content-Encoding`, refused past `limit` bytes.
fn decode(
    headers: &HeaderMap,
    raw: &Bytes,
    limit: usize,
    too_large: &'static str,
) -> Result<Vec<u8>, IngestError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "" | "identity" => raw.to_vec(),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit + 1));
            flate2::read::GzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    invalid("invalid_gzip", format!("the gzip body cannot be read: {e}"))
                })?;
            out
        }
        other => {
            return Err(invalid(
                "unsupported_encoding",
                format!("Content-Encoding '{other}' is not supported; use gzip or none"),
            ))
        }
    };
    if bytes.len() > limit {
        return Err(invalid(
            too_large,
            format!("the body is over {limit} bytes once decompressed"),
        ));
    }
    Ok(bytes)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewSource {
    pub name: String,
    pub kind: SourceKind,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedSource {
    pub source: Source,
    /// The write key, shown only now.
    pub write_key: String,
}

/// Event sources (one per channel) and their write-key prefixes.
#[utoipa::path(get, path = "/api/v1/sources", tag = "audience", responses((status = 200, body = [Source])))]
async fn list_sources(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Source>>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(sources::list_sources(&state.db).await?))
}

/// Add an event source; its write key is returned once.
#[utoipa::path(post, path = "/api/v1/sources", tag = "audience", request_body = NewSource,
    responses((status = 201, body = CreatedSource), (status = 400, body = crate::error::ErrorBody)))]
async fn create_source(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewSource>,
) -> ApiResult<(StatusCode, Json<CreatedSource>)> {
    auth.require(Area::Audience, Access::Write)?;
    let (source, write_key) =
        sources::create_source(&state.db, &auth.actor(), &body.name, body.kind).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSource { source, write_key }),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ProfileQuery {
    /// An identity as `type:value`, e.g. `phone:13912345678`, `openid:wx123:oAbC`.
    pub identity: String,
    /// Timeline events to include (default 50).
    pub events: Option<i64>,
}

/// Find the profile holding an identity (an empty list when none does).
#[utoipa::path(get, path = "/api/v1/profiles", tag = "audience", params(ProfileQuery),
    responses((status = 200, body = [Profile]), (status = 400, body = crate::error::ErrorBody)))]
async fn find_profiles(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<ProfileQuery>,
) -> ApiResult<Json<Vec<Profile>>> {
    auth.require(Area::Audience, Access::Read)?;
    let identity = Identifier::parse(&q.identity)?;
    let found = profiles::find_by_identity(&state.db, &identity, q.events.unwrap_or(50)).await?;
    Ok(Json(found.into_iter().collect()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TimelineQuery {
    /// Timeline events to include (default 50, at most 1000).
    pub events: Option<i64>,
}

/// A profile with its identities, traits and latest events; a merged profile's id
/// answers with the profile it was merged into.
#[utoipa::path(get, path = "/api/v1/profiles/{id}", tag = "audience",
    params(("id" = String, Path), TimelineQuery),
    responses((status = 200, body = Profile), (status = 404, body = crate::error::ErrorBody)))]
async fn get_profile(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> ApiResult<Json<Profile>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(
        profiles::get_profile(&state.db, &id, q.events.unwrap_or(50)).await?,
    ))
}

/// Open identity conflicts: events that tied two profiles which each hold a
/// registered identity; they were not merged.
#[utoipa::path(get, path = "/api/v1/identity-conflicts", tag = "audience", params(Page),
    responses((status = 200, body = [IdentityConflict])))]
async fn list_conflicts(
    State(state): State<AppState>,
    auth: Auth,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<IdentityConflict>>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(
        profiles::list_conflicts(&state.db, page.before.as_deref(), page.limit.unwrap_or(50))
            .await?,
    ))
}
