//! The points mall: products shipped to the member, coupons issued from a
//! promotions coupon template (usable at checkout), and warranty extensions
//! applied to a device. A redemption takes one unit of stock (never below
//! zero), spends the points and issues what it buys in the same
//! transaction, keyed per member, so a retried redemption neither spends
//! twice, sells a unit twice nor issues a second coupon.

use super::{lock_member, points};
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::Micros;
use crate::commerce::promotions::{coupons, Status as CampaignStatus};
use crate::db::{new_id, Backend, Conn};
use crate::error::{Error, Result};
use crate::service::entitlements::{Kind, Origin};
use crate::service::tag::ServiceTag;
use crate::service::warranty;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const KINDS: [&str; 3] = ["product", "coupon", "warranty_extension"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Item {
    pub id: String,
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub points: i64,
    /// Units left; none = unlimited.
    pub stock: Option<i64>,
    pub per_member_limit: Option<i64>,
    pub min_tier_rank: i64,
    /// Product id, coupon template id, or warranty months.
    pub value: String,
    pub starts_at: Option<Micros>,
    pub ends_at: Option<Micros>,
}

const ITEM_COLUMNS: &str =
    "id, kind, name_zh, name_en, points, stock, per_member_limit, min_tier_rank, value, starts_at, ends_at";

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewItem {
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub points: i64,
    pub stock: Option<i64>,
    pub per_member_limit: Option<i64>,
    #[serde(default)]
    pub min_tier_rank: i64,
    /// Product id, the id of an active coupon template, or warranty months.
    #[serde(default)]
    pub value: String,
    pub starts_at: Option<Micros>,
    pub ends_at: Option<Micros>,
}

pub async fn create_item(conn: &mut Conn, new: &NewItem, at: Micros) -> Result<Item> {
    if !KINDS.contains(&new.kind.as_str()) {
        return Err(Error::invalid(
            "invalid_kind",
            format!("a mall item is one of {}", KINDS.join(", ")),
        ));
    }
    if new.name_zh.trim().is_empty() || new.name_en.trim().is_empty() {
        return Err(Error::invalid(
            "invalid_name",
            "give the item a Chinese and an English name",
        ));
    }
    if new.points <= 0
        || new.stock.is_some_and(|s| s < 0)
        || new.per_member_limit.is_some_and(|l| l <= 0)
    {
        return Err(Error::invalid(
            "invalid_item",
            "points must be positive, stock zero or more, limits positive",
        ));
    }
    match new.kind.as_str() {
        "coupon" => check_coupon_template(conn, new.value.trim()).await?,
        "warranty_extension" if new.value.parse::<i64>().map_or(true, |v| v <= 0) => {
            return Err(Error::invalid(
                "invalid_value",
                "an extension's value is its months",
            ));
        }
        _ => {}
    }
    let id = new_id();
    sqlx::query(&format!(
        "INSERT INTO mall_items ({ITEM_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&id)
    .bind(&new.kind)
    .bind(new.name_zh.trim())
    .bind(new.name_en.trim())
    .bind(new.points)
    .bind(new.stock)
    .bind(new.per_member_limit)
    .bind(new.min_tier_rank)
    .bind(new.value.trim())
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    get_item(conn, &id).await
}

/// A coupon item names an active coupon template of the promotions.
async fn check_coupon_template(conn: &mut Conn, template_id: &str) -> Result<()> {
    let refuse = || {
        Error::invalid(
            "invalid_value",
            "a coupon item's value is the id of an active coupon template",
        )
    };
    if template_id.is_empty() {
        return Err(refuse());
    }
    match coupons::get_template(conn, template_id).await {
        Ok(t) if t.status == CampaignStatus::Active => Ok(()),
        Ok(_) | Err(Error::NotFound(_)) => Err(refuse()),
        Err(e) => Err(e),
    }
}

pub async fn get_item(conn: &mut Conn, id: &str) -> Result<Item> {
    sqlx::query_as::<_, Item>(&format!(
        "SELECT {ITEM_COLUMNS} FROM mall_items WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("mall item"))
}

/// Items on offer at `at`.
pub async fn list_items(conn: &mut Conn, at: Micros) -> Result<Vec<Item>> {
    Ok(sqlx::query_as::<_, Item>(&format!(
        "SELECT {ITEM_COLUMNS} FROM mall_items WHERE (starts_at IS NULL OR starts_at <= $1) \
         AND (ends_at IS NULL OR ends_at > $1) ORDER BY points, id"
    ))
    .bind(at)
    .fetch_all(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Redemption {
    pub id: String,
    pub member_id: String,
    pub item_id: String,
    pub key: String,
    pub points: i64,
    /// to_ship | issued | applied
    pub status: String,
    pub target: Option<String>,
    pub created_at: Micros,
}

const REDEMPTION_COLUMNS: &str = "id, member_id, item_id, key, points, status, target, created_at";

/// Redeems one unit of `item_id` for the member, keyed `key`.
#[allow(clippy::too_many_arguments)]
pub async fn redeem(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    item_id: &str,
    key: &str,
    target: Option<&str>,
    at: Micros,
) -> Result<Redemption> {
    let member = lock_member(conn, backend, member_id).await?;
    if let Some(done) = sqlx::query_as::<_, Redemption>(&format!(
        "SELECT {REDEMPTION_COLUMNS} FROM mall_redemptions WHERE member_id = $1 AND key = $2"
    ))
    .bind(member_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?
    {
        if done.item_id != item_id {
            return Err(Error::conflict(
                "idempotency_key_reused",
                "this key was used to redeem another item",
            ));
        }
        return Ok(done);
    }
    let item = get_item(conn, item_id).await?;
    if item.starts_at.is_some_and(|s| s > at) || item.ends_at.is_some_and(|e| e <= at) {
        return Err(Error::conflict(
            "not_on_offer",
            "this item is not on offer now",
        ));
    }
    let rank: i64 = sqlx::query_scalar(
        "SELECT t.rank FROM members m JOIN tiers t ON t.code = m.tier WHERE m.id = $1",
    )
    .bind(member_id)
    .fetch_one(&mut *conn)
    .await?;
    if rank < item.min_tier_rank {
        return Err(Error::conflict(
            "tier_too_low",
            "this item is for members of a higher tier",
        ));
    }
    if let Some(limit) = item.per_member_limit {
        let had: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mall_redemptions WHERE member_id = $1 AND item_id = $2",
        )
        .bind(member_id)
        .bind(item_id)
        .fetch_one(&mut *conn)
        .await?;
        if had >= limit {
            return Err(Error::conflict(
                "limit_reached",
                format!("at most {limit} per member"),
            ));
        }
    }
    if item.kind == "coupon" && member.profile_id.is_none() {
        return Err(Error::conflict(
            "profile_required",
            "a coupon is issued to the member's customer profile, and this member has none",
        ));
    }
    if item.kind == "warranty_extension" && target.is_none_or(|t| t.trim().is_empty()) {
        return Err(Error::invalid(
            "target_required",
            "name the device (service tag) to extend",
        ));
    }
    if item.stock.is_some() {
        let taken =
            sqlx::query("UPDATE mall_items SET stock = stock - 1 WHERE id = $1 AND stock > 0")
                .bind(item_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        if taken == 0 {
            return Err(Error::conflict("sold_out", "this item is sold out"));
        }
    }
    let id = new_id();
    points::spend(
        conn,
        backend,
        member_id,
        item.points,
        &format!("mall:{key}"),
        &format!("mall:{}", item.id),
        at,
    )
    .await?;
    let status = match item.kind.as_str() {
        "coupon" => {
            let profile = member.profile_id.as_deref().unwrap_or_default();
            coupons::grant(conn, &item.value, profile, &format!("mall:{id}"), at).await?;
            "issued"
        }
        "warranty_extension" => {
            extend_warranty(
                conn,
                member_id,
                target.unwrap_or_default(),
                &item.value,
                Origin::PointsRedemption,
                &format!("mall:{id}"),
            )
            .await?;
            "applied"
        }
        _ => "to_ship",
    };
    sqlx::query(&format!(
        "INSERT INTO mall_redemptions ({REDEMPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&id)
    .bind(member_id)
    .bind(item_id)
    .bind(key)
    .bind(item.points)
    .bind(status)
    .bind(target.map(str::trim))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if let Some(profile) = member.profile_id {
        let props = json!({ "member_id": member_id, "item_id": item_id, "kind": item.kind, "points": item.points });
        emit(
            conn,
            &DomainEvent::new(
                "mall.redeemed",
                profile,
                format!("mall.redeemed:{id}"),
                props,
                at,
            ),
        )
        .await?;
    }
    Ok(Redemption {
        id,
        member_id: member_id.to_owned(),
        item_id: item_id.to_owned(),
        key: key.to_owned(),
        points: item.points,
        status: status.to_owned(),
        target: target.map(|t| t.trim().to_owned()),
        created_at: at,
    })
}

/// Adds `months` of extended warranty to the member's own device `tag`.
pub(crate) async fn extend_warranty(
    conn: &mut Conn,
    member_id: &str,
    tag: &str,
    months: &str,
    origin: Origin,
    reference: &str,
) -> Result<()> {
    let tag = ServiceTag::parse(tag)?;
    let owner: Option<Option<String>> =
        sqlx::query_scalar("SELECT member_id FROM devices WHERE service_tag = $1")
            .bind(tag.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    match owner {
        None => return Err(Error::not_found("device")),
        Some(owner) if owner.as_deref() != Some(member_id) => {
            return Err(Error::conflict(
                "not_device_owner",
                "bind the device first: only its owner can extend its warranty",
            ));
        }
        Some(_) => {}
    }
    let months: i64 = months
        .parse()
        .map_err(|_| Error::invalid("invalid_value", "the extension's months are not a number"))?;
    warranty::grant_entitlement(conn, &tag, Kind::Extended, months, origin, reference).await?;
    Ok(())
}

pub async fn redemptions(conn: &mut Conn, member_id: &str) -> Result<Vec<Redemption>> {
    Ok(sqlx::query_as::<_, Redemption>(&format!(
        "SELECT {REDEMPTION_COLUMNS} FROM mall_redemptions WHERE member_id = $1 ORDER BY created_at DESC"
    ))
    .bind(member_id)
    .fetch_all(&mut *conn)
    .await?)
}
