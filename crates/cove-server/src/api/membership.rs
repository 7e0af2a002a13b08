//! Membership: the customer's own card, points and member code
//! (`/api/v1/me/...`, storefront session), and the staff API the console
//! and the store till use (`/api/v1/members/...`).

use crate::api::Page;
use crate::auth::Auth;
use crate::customer::Customer;
use crate::error::{ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use cove_core::access::{Access, Area};
use cove_core::audience::{domain, IdType, Identifier};
use cove_core::clock::{self, Micros};
use cove_core::membership::benefits::{self, Grant, MemberBenefits};
use cove_core::membership::earn::{self, Earned, PurchaseLine};
use cove_core::membership::import::{self, ImportReport};
use cove_core::membership::mall::{self, Item, NewItem, Redemption};
use cove_core::membership::members::ProfileEdit;
use cove_core::membership::points::{self, Award, Balance, Entry, Hold};
use cove_core::membership::tiers::{self, Tier, TierChange};
use cove_core::membership::{code, members, merge, Joined, Member, NewMember};
use cove_core::{audit, Error};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join, my_card))
        .routes(routes!(my_points))
        .routes(routes!(my_code))
        .routes(routes!(find_members, register_member))
        .routes(routes!(member_detail))
        .routes(routes!(member_points))
        .routes(routes!(scan_code))
        .routes(routes!(adjust_points))
        .routes(routes!(spend_points))
        .routes(routes!(record_purchase))
        .routes(routes!(edit_me))
        .routes(routes!(my_benefits))
        .routes(routes!(list_mall, create_mall_item))
        .routes(routes!(redeem, my_redemptions))
        .routes(routes!(merge_members))
        .routes(routes!(import_members))
        .routes(routes!(member_benefits))
        .routes(routes!(issue_tier_benefits))
        .routes(routes!(use_benefit))
        .routes(routes!(sign_in_link))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SignInLink {
    /// Open once within a day to sign in to the storefront as this member.
    url: String,
    expires_at: Micros,
}

/// A one-time storefront sign-in link for the member (a salesperson sends it over WeCom).
#[utoipa::path(post, path = "/api/v1/members/{id}/sign-in-link", tag = "membership", responses((status = 200, body = SignInLink)))]
async fn sign_in_link(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<SignInLink>> {
    auth.require(Area::Membership, Access::Write)?;
    let now = clock::now();
    let mut tx = state.db.begin().await?;
    let member = members::get(&mut tx, &id).await?;
    let profile = member
        .profile_id
        .ok_or(Error::not_found("member profile"))?;
    let ttl = cove_core::clock::DAY;
    let token = cove_core::access::customers::create_link(&mut tx, &profile, ttl, now).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "member.sign_in_link",
        "member",
        Some(&id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    let url = format!(
        "{}/me/link/{token}",
        state.config.public_url().trim_end_matches('/')
    );
    Ok(Json(SignInLink {
        url,
        expires_at: now + ttl,
    }))
}

/// Edits the member's own name, birthday (once) and preferences.
#[utoipa::path(patch, path = "/api/v1/me/membership", tag = "membership", request_body = ProfileEdit, responses((status = 200, body = Member)))]
async fn edit_me(
    State(state): State<AppState>,
    customer: Customer,
    Json(edit): Json<ProfileEdit>,
) -> ApiResult<Json<Member>> {
    let mut tx = state.db.begin().await?;
    let member = members::edit(&mut tx, customer.member()?, &edit).await?;
    tx.commit().await?;
    Ok(Json(member))
}

/// What the member is entitled to now, with benefits issued and unused.
#[utoipa::path(get, path = "/api/v1/me/benefits", tag = "membership", responses((status = 200, body = MemberBenefits)))]
async fn my_benefits(
    State(state): State<AppState>,
    customer: Customer,
) -> ApiResult<Json<MemberBenefits>> {
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(
        benefits::for_member(&mut conn, customer.member()?).await?,
    ))
}

/// The points mall: items on offer now.
#[utoipa::path(get, path = "/api/v1/mall/items", tag = "membership", responses((status = 200, body = [Item])))]
async fn list_mall(State(state): State<AppState>) -> ApiResult<Json<Vec<Item>>> {
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(mall::list_items(&mut conn, clock::now()).await?))
}

#[utoipa::path(post, path = "/api/v1/mall/items", tag = "membership", request_body = NewItem, responses((status = 200, body = Item)))]
async fn create_mall_item(
    State(state): State<AppState>,
    auth: Auth,
    Json(new): Json<NewItem>,
) -> ApiResult<Json<Item>> {
    auth.require(Area::Membership, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let item = mall::create_item(&mut tx, &new, clock::now()).await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "mall.item.create",
        "mall_item",
        Some(&item.id),
        json!({ "name": item.name_en, "points": item.points }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(item))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RedeemRequest {
    item_id: String,
    /// Idempotency key of this redemption.
    key: String,
    /// The service tag to extend, for a warranty extension.
    target: Option<String>,
}

/// Redeems points for a mall item (one unit; idempotent on the key).
#[utoipa::path(post, path = "/api/v1/me/mall/redemptions", tag = "membership", request_body = RedeemRequest,
    responses((status = 200, body = Redemption), (status = 409, description = "sold_out | insufficient_points | limit_reached | tier_too_low")))]
async fn redeem(
    State(state): State<AppState>,
    customer: Customer,
    Json(req): Json<RedeemRequest>,
) -> ApiResult<Json<Redemption>> {
    let member = customer.member()?;
    let mut tx = state.db.begin().await?;
    let r = mall::redeem(
        &mut tx,
        state.db.backend(),
        member,
        &req.item_id,
        &req.key,
        req.target.as_deref(),
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(r))
}

#[utoipa::path(get, path = "/api/v1/me/mall/redemptions", tag = "membership", responses((status = 200, body = [Redemption])))]
async fn my_redemptions(
    State(state): State<AppState>,
    customer: Customer,
) -> ApiResult<Json<Vec<Redemption>>> {
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(
        mall::redemptions(&mut conn, customer.member()?).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct MergeRequest {
    /// The member merged into this one (it stops existing on its own).
    merged_id: String,
    reason: String,
}

/// Merges another member record into this one (audited, never automatic).
#[utoipa::path(post, path = "/api/v1/members/{id}/merge", tag = "membership", request_body = MergeRequest, responses((status = 200, body = MemberDetail)))]
async fn merge_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<MergeRequest>,
) -> ApiResult<Json<MemberDetail>> {
    auth.require(Area::Membership, Access::Write)?;
    let mut tx = state.db.begin().await?;
    merge::merge(
        &mut tx,
        state.db.backend(),
        &id,
        &req.merged_id,
        &auth.actor(),
        &req.reason,
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    detail(&state, &id).await.map(Json)
}

/// Imports offline members from CSV (`card_no,name,phone,tier,points,joined_on,birthday,store_code`).
/// All rows are checked first: with any error, nothing is imported and the
/// report lists the errors (status 422). A checked file is written in
/// committed chunks; a row refused while writing (its phone belongs to
/// another registered customer) is listed (status 422) and the rest land.
/// Re-importing changes nothing, and completes an import that was cut off.
#[utoipa::path(post, path = "/api/v1/members/import", tag = "membership", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport)))]
async fn import_members(
    State(state): State<AppState>,
    auth: Auth,
    body: String,
) -> ApiResult<(axum::http::StatusCode, Json<ImportReport>)> {
    auth.require(Area::Membership, Access::Write)?;
    let report = import::import(&state.db, &body, clock::now()).await?;
    if report.created + report.linked > 0 {
        let mut tx = state.db.begin().await?;
        audit::record(&mut tx, &auth.actor(), "member.import", "member", None, json!({ "created": report.created, "linked": report.linked, "unchanged": report.unchanged, "refused": report.errors.len() })).await?;
        tx.commit().await?;
    }
    let status = if report.errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(report)))
}

#[utoipa::path(get, path = "/api/v1/members/{id}/benefits", tag = "membership", responses((status = 200, body = MemberBenefits)))]
async fn member_benefits(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberBenefits>> {
    auth.require(Area::Membership, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(benefits::for_member(&mut conn, &id).await?))
}

/// Issues the tier's benefits for this membership year (idempotent).
#[utoipa::path(post, path = "/api/v1/members/{id}/benefits/issue", tag = "membership", responses((status = 200, body = [Grant])))]
async fn issue_tier_benefits(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Grant>>> {
    auth.require(Area::Membership, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let grants =
        benefits::issue_tier_benefits(&mut tx, state.db.backend(), &id, clock::now()).await?;
    tx.commit().await?;
    Ok(Json(grants))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct UseBenefit {
    /// What the benefit is used on: an order, a service tag, a till receipt.
    used_for: String,
}

/// Uses an issued benefit (at the till or the service desk), once.
#[utoipa::path(post, path = "/api/v1/members/{id}/benefits/{grant}/use", tag = "membership", request_body = UseBenefit,
    responses((status = 200, body = Grant), (status = 409, description = "benefit_used")))]
async fn use_benefit(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, grant)): Path<(String, String)>,
    Json(req): Json<UseBenefit>,
) -> ApiResult<Json<Grant>> {
    auth.require(Area::Membership, Access::Write)?;
    let used_for = req.used_for.trim();
    if used_for.is_empty() || used_for.len() > 100 {
        return Err(Error::invalid(
            "invalid_used_for",
            "say what the benefit is used on (1 to 100 characters)",
        )
        .into());
    }
    let mut tx = state.db.begin().await?;
    let g = benefits::use_grant(
        &mut tx,
        state.db.backend(),
        &id,
        &grant,
        used_for,
        clock::now(),
    )
    .await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "benefit.use",
        "member",
        Some(&id),
        json!({ "grant": grant, "used_for": used_for }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(g))
}

/// What a customer gives to join; the phone defaults to the one verified in the Mini Program.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct JoinRequest {
    name: String,
    phone: Option<String>,
    /// YYYY-MM-DD
    birthday: Option<String>,
}

/// Joins the membership (idempotent: a member gets their card back).
#[utoipa::path(post, path = "/api/v1/me/membership", tag = "membership", request_body = JoinRequest,
    responses((status = 200, body = Joined), (status = 409, description = "phone_taken")))]
async fn join(
    State(state): State<AppState>,
    customer: Customer,
    Json(req): Json<JoinRequest>,
) -> ApiResult<Json<Joined>> {
    let mut tx = state.db.begin().await?;
    let phone = match req.phone.filter(|p| !p.trim().is_empty()) {
        Some(p) => p,
        None => members::known_phone(&mut tx, &customer.profile_id)
            .await?
            .ok_or_else(|| Error::invalid("phone_required", "give a phone number to join"))?,
    };
    let channel = if customer.channel == "h5" {
        "h5"
    } else {
        "mini_program"
    };
    let new = NewMember {
        name: req.name,
        phone,
        channel: channel.into(),
        store_id: None,
        staff_id: None,
        birthday: req.birthday,
    };
    let joined = members::join(
        &mut tx,
        state.db.backend(),
        &customer.profile_id,
        &new,
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(joined))
}

/// The member card: tier and progress to the next, points, tier history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Card {
    member: Member,
    tier: Option<Tier>,
    next_tier: Option<Tier>,
    /// Growth earned in the current 12-month period.
    period_growth: i64,
    /// Growth still needed for the next tier.
    growth_to_next: Option<i64>,
    points: Balance,
    tier_history: Vec<TierChange>,
}

async fn card(state: &AppState, member_id: &str) -> ApiResult<Card> {
    let mut conn = state.db.read().acquire().await?;
    let now = clock::now();
    let member = members::get(&mut conn, member_id).await?;
    let all = tiers::list(&mut conn).await?;
    let tier = all.iter().find(|t| t.code == member.tier).cloned();
    let rank = tier.as_ref().map_or(0, |t| t.rank);
    let next_tier = all.iter().find(|t| t.rank > rank).cloned();
    let period_growth = tiers::period_growth(&mut conn, member_id, now).await?;
    Ok(Card {
        growth_to_next: next_tier
            .as_ref()
            .map(|t| (t.growth_min - period_growth).max(0)),
        points: points::balance(&mut conn, member_id, now).await?,
        tier_history: tiers::history(&mut conn, member_id).await?,
        member,
        tier,
        next_tier,
        period_growth,
    })
}

#[utoipa::path(get, path = "/api/v1/me/membership", tag = "membership",
    responses((status = 200, body = Card), (status = 403, description = "not_a_member")))]
async fn my_card(State(state): State<AppState>, customer: Customer) -> ApiResult<Json<Card>> {
    Ok(Json(card(&state, customer.member()?).await?))
}

/// The customer's points history, newest first.
#[utoipa::path(get, path = "/api/v1/me/points", tag = "membership", params(Page), responses((status = 200, body = [Entry])))]
async fn my_points(
    State(state): State<AppState>,
    customer: Customer,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<Entry>>> {
    let mut conn = state.db.read().acquire().await?;
    let limit = page.limit.unwrap_or(50);
    Ok(Json(
        points::history(&mut conn, customer.member()?, page.before.as_deref(), limit).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MemberCode {
    /// Show as a QR code; staff scan it at the till.
    code: String,
    /// Refresh before this time (µs since the epoch).
    valid_until: Micros,
}

/// The rotating member code shown in the Mini Program.
#[utoipa::path(get, path = "/api/v1/me/member-code", tag = "membership", responses((status = 200, body = MemberCode)))]
async fn my_code(State(state): State<AppState>, customer: Customer) -> ApiResult<Json<MemberCode>> {
    let mut conn = state.db.read().acquire().await?;
    let member = members::get(&mut conn, customer.member()?).await?;
    let (code, valid_until) = code::issue(
        &state.vault.derive_key(code::KEY_PURPOSE),
        &member.member_no,
        clock::now(),
    );
    Ok(Json(MemberCode { code, valid_until }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct Search {
    /// Phone number, member number or member id.
    q: String,
}

/// Finds members by phone number or member number.
#[utoipa::path(get, path = "/api/v1/members", tag = "membership", params(Search), responses((status = 200, body = [Member])))]
async fn find_members(
    State(state): State<AppState>,
    auth: Auth,
    Query(s): Query<Search>,
) -> ApiResult<Json<Vec<Member>>> {
    auth.require(Area::Membership, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    Ok(Json(members::find(&mut conn, &s.q).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RegisterRequest {
    name: String,
    phone: String,
    birthday: Option<String>,
    store_id: Option<String>,
}

/// Registers a customer in store (idempotent on the phone number).
#[utoipa::path(post, path = "/api/v1/members", tag = "membership", request_body = RegisterRequest, responses((status = 200, body = Joined)))]
async fn register_member(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<Json<Joined>> {
    auth.require(Area::Membership, Access::Write)?;
    let store_id = auth.store_id.clone().or(req.store_id);
    let phone = Identifier::new(IdType::Phone, &req.phone)?;
    let now = clock::now();
    let mut tx = state.db.begin().await?;
    let key = format!("store.register:{}", phone.value);
    let profile = domain::profile_for(
        &mut tx,
        state.db.backend(),
        std::slice::from_ref(&phone),
        &key,
        now,
    )
    .await?;
    let new = NewMember {
        name: req.name,
        phone: phone.value.clone(),
        channel: "store".into(),
        store_id,
        staff_id: Some(auth.user_id.clone()),
        birthday: req.birthday,
    };
    let joined = members::join(&mut tx, state.db.backend(), &profile, &new, now).await?;
    if joined.created {
        audit::record(
            &mut tx,
            &auth.actor(),
            "member.register",
            "member",
            Some(&joined.member.id),
            json!({ "store_id": new.store_id }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Json(joined))
}

/// What staff see of a member: card, identifiers, points lots.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MemberDetail {
    #[serde(flatten)]
    card: Card,
    /// `type:value` identifiers of the member's profile.
    identifiers: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "membership", responses((status = 200, body = MemberDetail)))]
async fn member_detail(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberDetail>> {
    auth.require(Area::Membership, Access::Read)?;
    detail(&state, &id).await.map(Json)
}

async fn detail(state: &AppState, id: &str) -> ApiResult<MemberDetail> {
    let card = card(state, id).await?;
    let mut conn = state.db.read().acquire().await?;
    let identifiers = match &card.member.profile_id {
        Some(p) => members::identifiers(&mut conn, p)
            .await?
            .into_iter()
            .map(|(t, v)| format!("{t}:{v}"))
            .collect(),
        None => Vec::new(),
    };
    Ok(MemberDetail { card, identifiers })
}

#[utoipa::path(get, path = "/api/v1/members/{id}/points", tag = "membership", params(Page), responses((status = 200, body = [Entry])))]
async fn member_points(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<Entry>>> {
    auth.require(Area::Membership, Access::Read)?;
    let mut conn = state.db.read().acquire().await?;
    members::get(&mut conn, &id).await?;
    Ok(Json(
        points::history(
            &mut conn,
            &id,
            page.before.as_deref(),
            page.limit.unwrap_or(50),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ScanRequest {
    code: String,
}

/// The member behind a scanned member code (at the till).
#[utoipa::path(post, path = "/api/v1/members/scan", tag = "membership", request_body = ScanRequest,
    responses((status = 200, body = Member), (status = 400, description = "invalid_member_code | expired_member_code")))]
async fn scan_code(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<ScanRequest>,
) -> ApiResult<Json<Member>> {
    auth.require(Area::Membership, Access::Read)?;
    let member_no = code::verify(
        &state.vault.derive_key(code::KEY_PURPOSE),
        &req.code,
        clock::now(),
    )?;
    let mut conn = state.db.read().acquire().await?;
    let found = members::find(&mut conn, &member_no).await?;
    Ok(Json(
        found.into_iter().next().ok_or(Error::not_found("member"))?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct AdjustRequest {
    /// Points to add (positive) or take away (negative).
    amount: i64,
    reason: String,
    /// Idempotency key: a retry with the same key applies once.
    key: String,
}

/// A staff adjustment with a reason, audited.
#[utoipa::path(post, path = "/api/v1/members/{id}/points/adjust", tag = "membership", request_body = AdjustRequest,
    responses((status = 200, body = Balance), (status = 409, description = "insufficient_points")))]
async fn adjust_points(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<AdjustRequest>,
) -> ApiResult<Json<Balance>> {
    auth.require(Area::Membership, Access::Write)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Error::invalid(
            "invalid_reason",
            "an adjustment needs a reason (1 to 200 characters)",
        )
        .into());
    }
    if req.amount == 0 || req.amount.abs() > 1_000_000 {
        return Err(Error::invalid("invalid_amount", "adjust by 1 to 1,000,000 points").into());
    }
    let now = clock::now();
    let key = format!("adjust:{}", req.key);
    let mut tx = state.db.begin().await?;
    let backend = state.db.backend();
    if req.amount > 0 {
        let award = Award {
            member_id: &id,
            amount: req.amount,
            source: "adjustment",
            key: &key,
            reference: Some(&key),
            reason: Some(reason),
            unlock_at: now,
            expires_at: earn::expiry_for(now),
            at: now,
        };
        if points::award(&mut tx, backend, &award).await?.applied {
            audit::record(
                &mut tx,
                &auth.actor(),
                "points.adjust",
                "member",
                Some(&id),
                json!({ "amount": req.amount, "reason": reason }),
            )
            .await?;
        }
    } else {
        let prior: Option<i64> = sqlx::query_scalar("SELECT amount FROM points_ops WHERE key = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
        points::deduct(
            &mut tx,
            backend,
            &id,
            -req.amount,
            reason,
            &auth.email,
            &key,
            now,
        )
        .await?;
        if prior.is_none() {
            audit::record(
                &mut tx,
                &auth.actor(),
                "points.adjust",
                "member",
                Some(&id),
                json!({ "amount": req.amount, "reason": reason }),
            )
            .await?;
        }
    }
    let balance = points::balance(&mut tx, &id, now).await?;
    tx.commit().await?;
    Ok(Json(balance))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SpendRequest {
    amount: i64,
    /// Idempotency key of this spend.
    key: String,
    /// What the points pay for, e.g. `till:<receipt>`.
    purpose: String,
}

/// Spends points at the till (freeze and consume at once).
#[utoipa::path(post, path = "/api/v1/members/{id}/points/spend", tag = "membership", request_body = SpendRequest,
    responses((status = 200, body = Hold), (status = 409, description = "insufficient_points")))]
async fn spend_points(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<SpendRequest>,
) -> ApiResult<Json<Hold>> {
    auth.require(Area::Membership, Access::Write)?;
    let mut tx = state.db.begin().await?;
    let hold = points::spend(
        &mut tx,
        state.db.backend(),
        &id,
        req.amount,
        &format!("till:{}", req.key),
        &req.purpose,
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(hold))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct PurchaseRequest {
    /// The till's receipt number: a purchase is recorded once per store and receipt.
    receipt_no: String,
    store_id: Option<String>,
    lines: Vec<PurchaseLine>,
}

/// Records an offline purchase: points (locked through the return window) and growth.
#[utoipa::path(post, path = "/api/v1/members/{id}/purchases", tag = "membership", request_body = PurchaseRequest,
    responses((status = 200, body = Earned)))]
async fn record_purchase(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<PurchaseRequest>,
) -> ApiResult<Json<Earned>> {
    auth.require(Area::Membership, Access::Write)?;
    let receipt = req.receipt_no.trim();
    if receipt.is_empty() || receipt.len() > 64 {
        return Err(
            Error::invalid("invalid_receipt", "a receipt number is 1 to 64 characters").into(),
        );
    }
    let store = auth
        .store_id
        .clone()
        .or(req.store_id)
        .ok_or_else(|| Error::invalid("store_required", "name the store of the purchase"))?;
    let now = clock::now();
    let key = format!("receipt:{store}:{receipt}");
    let mut tx = state.db.begin().await?;
    let earned = earn::purchase(
        &mut tx,
        state.db.backend(),
        &id,
        &key,
        "offline_purchase",
        &req.lines,
        now + earn::RETURN_WINDOW,
        now,
    )
    .await?;
    if earned.applied {
        let profile: Option<String> =
            sqlx::query_scalar("SELECT profile_id FROM members WHERE id = $1")
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
        if let Some(profile) = profile {
            let total: i64 = req.lines.iter().map(|l| l.amount_fen).sum();
            let props = json!({ "member_id": id, "store_id": store, "receipt_no": receipt, "total_fen": total, "lines": req.lines });
            domain::emit(
                &mut tx,
                &domain::DomainEvent::new(
                    "store.purchase",
                    profile,
                    format!("store.purchase:{key}"),
                    props,
                    now,
                ),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Json(earned))
}
