//! Tier benefits that checkout, the till and service apply — not labels.
//!
//! Standing benefits (member price, free shipping, priority service) are
//! read from the member's tier whenever they apply ([`for_member`]).
//! Countable ones (the yearly warranty extension, the birthday offer, mall
//! coupons) are issued as grants, once per period, and used once
//! ([`issue`], [`use_grant`]) — online and in store alike.

use super::lock_member;
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::{self, Micros, HOUR};
use crate::db::{new_id, Backend, Conn};
use crate::error::{Error, Result};
use chrono::Datelike;
use serde::Serialize;
use serde_json::json;

pub const KINDS: [&str; 6] = [
    "member_price",
    "warranty_extension",
    "birthday_offer",
    "priority_service",
    "free_shipping",
    "coupon",
];

/// What a member is entitled to now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MemberBenefits {
    pub tier: String,
    /// Percent of the list price a member pays (e.g. 95), if the tier has member prices.
    pub member_price_pct: Option<i64>,
    pub free_shipping: bool,
    pub priority_service: bool,
    /// Months of free warranty extension per membership year.
    pub warranty_extension_months: Option<i64>,
    /// Fen off one order in the birthday month.
    pub birthday_offer_fen: Option<i64>,
    /// Issued and not yet used.
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Grant {
    pub id: String,
    pub kind: String,
    pub period: String,
    pub value: i64,
    pub origin: String,
    pub granted_at: Micros,
    pub used_at: Option<Micros>,
    pub used_for: Option<String>,
}

const GRANT_COLUMNS: &str = "id, kind, period, value, origin, granted_at, used_at, used_for";

/// The member price of `list_fen` at `pct` percent, rounded to the fen.
pub fn member_price(list_fen: i64, pct: i64) -> i64 {
    (list_fen * pct + 50) / 100
}

pub async fn for_member(conn: &mut Conn, member_id: &str) -> Result<MemberBenefits> {
    let tier: String = sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
        .bind(member_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::not_found("member"))?;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, value FROM tier_benefits WHERE tier = $1")
            .bind(&tier)
            .fetch_all(&mut *conn)
            .await?;
    let value = |k: &str| rows.iter().find(|(kind, _)| kind == k).map(|(_, v)| *v);
    let grants = sqlx::query_as::<_, Grant>(&format!(
        "SELECT {GRANT_COLUMNS} FROM benefit_grants WHERE member_id = $1 AND used_at IS NULL ORDER BY granted_at"
    ))
    .bind(member_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(MemberBenefits {
        member_price_pct: value("member_price"),
        free_shipping: value("free_shipping").is_some(),
        priority_service: value("priority_service").is_some(),
        warranty_extension_months: value("warranty_extension"),
        birthday_offer_fen: value("birthday_offer"),
        tier,
        grants,
    })
}

/// Whether the member's tier carries priority service now.
pub async fn has_priority_service(conn: &mut Conn, member_id: &str) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM members m JOIN tier_benefits b ON b.tier = m.tier AND b.kind = 'priority_service' \
         WHERE m.id = $1",
    )
    .bind(member_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

/// Issues a countable benefit for `period` (once: a second call returns the
/// first grant).
#[allow(clippy::too_many_arguments)]
pub async fn issue(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    kind: &str,
    period: &str,
    value: i64,
    origin: &str,
    at: Micros,
) -> Result<Grant> {
    if !KINDS.contains(&kind) {
        return Err(Error::invalid(
            "invalid_benefit",
            format!("unknown benefit '{kind}'"),
        ));
    }
    let member = lock_member(conn, backend, member_id).await?;
    let id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO benefit_grants (id, member_id, kind, period, value, origin, granted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (member_id, kind, period) DO NOTHING",
    )
    .bind(&id)
    .bind(member_id)
    .bind(kind)
    .bind(period)
    .bind(value)
    .bind(origin)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        if let Some(profile) = member.profile_id {
            let props = json!({ "member_id": member_id, "kind": kind, "period": period, "value": value, "origin": origin });
            emit(
                conn,
                &DomainEvent::new(
                    "benefit.issued",
                    profile,
                    format!("benefit.issued:{id}"),
                    props,
                    at,
                ),
            )
            .await?;
        }
    }
    Ok(sqlx::query_as::<_, Grant>(&format!(
        "SELECT {GRANT_COLUMNS} FROM benefit_grants WHERE member_id = $1 AND kind = $2 AND period = $3"
    ))
    .bind(member_id)
    .bind(kind)
    .bind(period)
    .fetch_one(&mut *conn)
    .await?)
}

/// Issues the tier's countable benefits for the current membership year
/// (the warranty extension). Idempotent.
pub async fn issue_tier_benefits(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    at: Micros,
) -> Result<Vec<Grant>> {
    let b = for_member(conn, member_id).await?;
    let mut out = Vec::new();
    if let Some(months) = b.warranty_extension_months {
        let year = clock::to_datetime(at + 8 * HOUR).year().to_string();
        out.push(
            issue(
                conn,
                backend,
                member_id,
                "warranty_extension",
                &year,
                months,
                "tier",
                at,
            )
            .await?,
        );
    }
    Ok(out)
}

/// Uses a grant once, on `used_for` (an order, a service tag, a receipt); a
/// warranty extension is applied to the device whose service tag `used_for` is.
/// Using it again for the same thing is a no-op; for anything else, 409.
pub async fn use_grant(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    grant_id: &str,
    used_for: &str,
    at: Micros,
) -> Result<Grant> {
    let member = lock_member(conn, backend, member_id).await?;
    let grant = sqlx::query_as::<_, Grant>(&format!(
        "SELECT {GRANT_COLUMNS} FROM benefit_grants WHERE id = $1 AND member_id = $2"
    ))
    .bind(grant_id)
    .bind(member_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("benefit"))?;
    if grant.used_at.is_some() {
        if grant.used_for.as_deref() == Some(used_for) {
            return Ok(grant);
        }
        return Err(Error::conflict(
            "benefit_used",
            "this benefit was already used",
        ));
    }
    if grant.kind == "warranty_extension" {
        // The free extension is applied to the member's device named by `used_for`.
        super::mall::extend_warranty(
            conn,
            member_id,
            used_for,
            &grant.value.to_string(),
            crate::service::entitlements::Origin::MemberBenefit,
            &format!("benefit:{grant_id}"),
        )
        .await?;
    }
    sqlx::query(
        "UPDATE benefit_grants SET used_at = $1, used_for = $2 WHERE id = $3 AND used_at IS NULL",
    )
    .bind(at)
    .bind(used_for)
    .bind(grant_id)
    .execute(&mut *conn)
    .await?;
    if let Some(profile) = member.profile_id {
        let props = json!({ "member_id": member_id, "kind": grant.kind, "used_for": used_for });
        emit(
            conn,
            &DomainEvent::new(
                "benefit.used",
                profile,
                format!("benefit.used:{grant_id}"),
                props,
                at,
            ),
        )
        .await?;
    }
    Ok(Grant {
        used_at: Some(at),
        used_for: Some(used_for.to_owned()),
        ..grant
    })
}

/// The daily birthday run: members whose birthday is today (China time) get
/// the birthday action's points and their tier's birthday offer, once a year.
pub async fn birthdays(conn: &mut Conn, backend: Backend, at: Micros) -> Result<usize> {
    let local = clock::to_datetime(at + 8 * HOUR);
    let month_day = local.format("-%m-%d").to_string();
    let year = local.year().to_string();
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM members WHERE merged_into IS NULL AND birthday IS NOT NULL AND SUBSTR(birthday, 5, 6) = $1",
    )
    .bind(&month_day)
    .fetch_all(&mut *conn)
    .await?;
    let mut celebrated = 0;
    for member_id in due {
        let earned = super::earn::action(
            conn,
            backend,
            &member_id,
            "birthday",
            &format!("birthday:{member_id}:{year}"),
            at,
        )
        .await?;
        if let Some(fen) = for_member(conn, &member_id).await?.birthday_offer_fen {
            issue(
                conn,
                backend,
                &member_id,
                "birthday_offer",
                &year,
                fen,
                "tier",
                at,
            )
            .await?;
        }
        if earned.applied {
            celebrated += 1;
        }
    }
    Ok(celebrated)
}

#[cfg(test)]
mod tests {
    #[test]
    fn member_prices_round_to_the_fen() {
        assert_eq!(super::member_price(899_900, 95), 854_905);
        assert_eq!(super::member_price(999, 95), 949);
        assert_eq!(super::member_price(1_000, 100), 1_000);
    }
}
