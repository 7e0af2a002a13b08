//! Behaviour tags: definitions with rules, recomputation, members, manual
//! assignment and CSV import, and the tags of a profile.

use crate::api::Page;
use crate::auth::Auth;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use cove_core::access::{Access, Area};
use cove_core::audience::profiles::find_by_identity;
use cove_core::audience::tags::{self, assign, compute, ProfileTag, Rule, Tag, TagInput};
use cove_core::audience::Identifier;
use cove_core::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tags, create_tag))
        .routes(routes!(get_tag, update_tag))
        .routes(routes!(recompute_tag))
        .routes(routes!(preview_rule))
        .routes(routes!(list_members, assign_member))
        .routes(routes!(unassign_member))
        .routes(routes!(import_tags))
        .routes(routes!(profile_tags))
}

/// All tags with their member counts and when each was last computed.
#[utoipa::path(get, path = "/api/v1/tags", tag = "audience", responses((status = 200, body = [Tag])))]
async fn list_tags(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Tag>>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(tags::list(&state.db).await?))
}

/// Create a tag. A rule tag is computed right away by a job.
#[utoipa::path(post, path = "/api/v1/tags", tag = "audience", request_body = TagInput,
    responses((status = 201, body = Tag), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn create_tag(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<TagInput>,
) -> ApiResult<(StatusCode, Json<Tag>)> {
    auth.require(Area::Audience, Access::Write)?;
    let tag = tags::create(&state.db, &auth.actor(), &body).await?;
    state.tag_triggers.invalidate();
    Ok((StatusCode::CREATED, Json(tag)))
}

/// One tag.
#[utoipa::path(get, path = "/api/v1/tags/{key}", tag = "audience", params(("key" = String, Path)),
    responses((status = 200, body = Tag), (status = 404, body = crate::error::ErrorBody)))]
async fn get_tag(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<Tag>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(tags::get(&state.db, &key).await?))
}

/// Change a tag's name, description or rule; a rule change is recomputed by a job.
#[utoipa::path(put, path = "/api/v1/tags/{key}", tag = "audience", params(("key" = String, Path)),
    request_body = TagInput,
    responses((status = 200, body = Tag), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn update_tag(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    Json(body): Json<TagInput>,
) -> ApiResult<Json<Tag>> {
    auth.require(Area::Audience, Access::Write)?;
    let tag = tags::update(&state.db, &auth.actor(), &key, &body).await?;
    state.tag_triggers.invalidate();
    Ok(Json(tag))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enqueued {
    /// The recompute job, or null when one was already waiting.
    pub job_id: Option<String>,
}

/// Recompute a tag now (by a job; at most one waits per tag).
#[utoipa::path(post, path = "/api/v1/tags/{key}/recompute", tag = "audience", params(("key" = String, Path)),
    responses((status = 202, body = Enqueued), (status = 404, body = crate::error::ErrorBody)))]
async fn recompute_tag(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<(StatusCode, Json<Enqueued>)> {
    auth.require(Area::Audience, Access::Write)?;
    let tag = tags::get(&state.db, &key).await?;
    let mut tx = state.db.begin().await?;
    let job_id = compute::enqueue_recompute_for(&mut tx, &tag.id, tag.computation, "api").await?;
    cove_core::audit::record(
        &mut tx,
        &auth.actor(),
        "tag.recompute",
        "tag",
        Some(&tag.id),
        serde_json::json!({"key": tag.key}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(Enqueued { job_id })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    #[schema(value_type = Object)]
    pub rule: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulePreview {
    /// People the rule holds for now.
    pub count: usize,
    /// A few of their profile ids.
    pub sample: Vec<String>,
}

/// How many people a rule would tag now (for the rule editor), without saving it.
#[utoipa::path(post, path = "/api/v1/tags/preview", tag = "audience", request_body = PreviewRequest,
    responses((status = 200, body = RulePreview), (status = 400, body = crate::error::ErrorBody)))]
async fn preview_rule(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<PreviewRequest>,
) -> ApiResult<Json<RulePreview>> {
    auth.require(Area::Audience, Access::Read)?;
    let rule = Rule::from_json(&body.rule)?;
    let (count, sample) = compute::preview(&state.db, &rule, 20).await?;
    Ok(Json(RulePreview { count, sample }))
}

/// Members of a tag.
#[utoipa::path(get, path = "/api/v1/tags/{key}/members", tag = "audience",
    params(("key" = String, Path), Page),
    responses((status = 200, body = [tags::Member]), (status = 404, body = crate::error::ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<tags::Member>>> {
    auth.require(Area::Audience, Access::Read)?;
    Ok(Json(
        tags::members(
            &state.db,
            &key,
            page.before.as_deref(),
            page.limit.unwrap_or(50),
        )
        .await?,
    ))
}

/// Whom to tag: a profile id, or an identity `type:value`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRef {
    pub profile_id: Option<String>,
    pub identity: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Changed {
    /// False when there was nothing to change.
    pub changed: bool,
    pub profile_id: String,
}

async fn profile_of(state: &AppState, who: &MemberRef) -> ApiResult<String> {
    match (&who.profile_id, &who.identity) {
        (Some(id), None) => Ok(id.clone()),
        (None, Some(identity)) => {
            let identity = Identifier::parse(identity)?;
            match find_by_identity(&state.db, &identity, 1).await? {
                Some(p) => Ok(p.id),
                None => Err(Error::not_found("profile").into()),
            }
        }
        _ => Err(Error::invalid(
            "invalid_member",
            "name the profile by profile_id or by identity (type:value), not both",
        )
        .into()),
    }
}

/// Give a tag to a profile by hand (audited; repeating it changes nothing).
#[utoipa::path(post, path = "/api/v1/tags/{key}/members", tag = "audience",
    params(("key" = String, Path)), request_body = MemberRef,
    responses((status = 200, body = Changed), (status = 404, body = crate::error::ErrorBody)))]
async fn assign_member(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    Json(body): Json<MemberRef>,
) -> ApiResult<Json<Changed>> {
    auth.require(Area::Audience, Access::Write)?;
    let profile = profile_of(&state, &body).await?;
    let profile = cove_core::audience::profiles::surviving_id(&state.db, &profile).await?;
    let changed = assign::assign(&state.db, &auth.actor(), &key, &profile).await?;
    Ok(Json(Changed {
        changed,
        profile_id: profile,
    }))
}

/// Take a tag from a profile by hand (audited).
#[utoipa::path(delete, path = "/api/v1/tags/{key}/members/{profile_id}", tag = "audience",
    params(("key" = String, Path), ("profile_id" = String, Path)),
    responses((status = 200, body = Changed), (status = 404, body = crate::error::ErrorBody)))]
async fn unassign_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((key, profile_id)): Path<(String, String)>,
) -> ApiResult<Json<Changed>> {
    auth.require(Area::Audience, Access::Write)?;
    let profile = cove_core::audience::profiles::surviving_id(&state.db, &profile_id).await?;
    let changed = assign::unassign(&state.db, &auth.actor(), &key, &profile).await?;
    Ok(Json(Changed {
        changed,
        profile_id: profile,
    }))
}

/// Import tags from CSV (`text/csv`): lines `identity,tag`, identity as
/// `type:value`. All lines apply or none; re-importing changes nothing.
#[utoipa::path(post, path = "/api/v1/tags/import", tag = "audience",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = assign::ImportReport), (status = 400, body = crate::error::ErrorBody)))]
async fn import_tags(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<assign::ImportReport>> {
    auth.require(Area::Audience, Access::Write)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("text/csv") && !content_type.starts_with("text/plain") {
        return Err(Error::invalid("unsupported_media_type", "send the file as text/csv").into());
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| Error::invalid("invalid_csv", "the file is not UTF-8 text"))?;
    Ok(Json(
        assign::import_csv(&state.db, &auth.actor(), text).await?,
    ))
}

/// The tags a profile carries (with how and since when).
#[utoipa::path(get, path = "/api/v1/profiles/{id}/tags", tag = "audience", params(("id" = String, Path)),
    responses((status = 200, body = [ProfileTag]), (status = 404, body = crate::error::ErrorBody)))]
async fn profile_tags(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ProfileTag>>> {
    auth.require(Area::Audience, Access::Read)?;
    let id = cove_core::audience::profiles::surviving_id(&state.db, &id).await?;
    Ok(Json(tags::of_profile(&state.db, &id).await?))
}
