//! Coupon templates and the coupons issued from them: staff issue to one
//! profile or a list; customers claim from a claimable template within its
//! per-person limit and total quantity (both guarded counters).

use super::{json_list, name_check, window_check, CouponKind, Scope, Status};
use crate::clock::{Micros, DAY};
use crate::commerce::pricing::Buyer;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CouponTemplate {
    pub id: String,
    pub name: String,
    pub description: String,
    pub kind: CouponKind,
    /// amount_off: fen off.
    pub amount_fen: i64,
    /// percent_off: percent off (1–99), capped at `cap_fen`.
    pub percent: i64,
    pub cap_fen: Option<i64>,
    /// Minimum eligible subtotal.
    pub threshold_fen: i64,
    /// all | products | categories | tiers
    pub scope: String,
    pub scope_values: Vec<String>,
    /// Claims and issues happen in [starts_at, ends_at).
    pub starts_at: Micros,
    pub ends_at: Micros,
    /// Coupons are valid this many days from issue; otherwise over the window.
    pub valid_days: Option<i64>,
    pub claimable: bool,
    pub per_person_limit: i64,
    pub total_quantity: Option<i64>,
    pub issued_count: i64,
    pub budget_fen: Option<i64>,
    pub spent_fen: i64,
    pub stackable_with_promotions: bool,
    pub status: Status,
    pub created_at: Micros,
}

/// A template as staff create or edit it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewCouponTemplate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: CouponKind,
    #[serde(default)]
    pub amount_fen: i64,
    #[serde(default)]
    pub percent: i64,
    pub cap_fen: Option<i64>,
    #[serde(default)]
    pub threshold_fen: i64,
    #[serde(default = "all")]
    pub scope: String,
    #[serde(default)]
    pub scope_values: Vec<String>,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub valid_days: Option<i64>,
    #[serde(default)]
    pub claimable: bool,
    #[serde(default = "one")]
    pub per_person_limit: i64,
    pub total_quantity: Option<i64>,
    pub budget_fen: Option<i64>,
    #[serde(default)]
    pub stackable_with_promotions: bool,
}

fn all() -> String {
    "all".into()
}
fn one() -> i64 {
    1
}

/// A coupon held by a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Coupon {
    pub id: String,
    pub template_id: String,
    pub name: String,
    pub description: String,
    pub profile_id: String,
    /// issued | locked | used | expired | void (issued past validity reads expired).
    pub status: String,
    pub kind: CouponKind,
    pub amount_fen: i64,
    pub percent: i64,
    pub cap_fen: Option<i64>,
    pub threshold_fen: i64,
    pub valid_from: Micros,
    pub valid_until: Micros,
    pub order_id: Option<String>,
    pub issued_at: Micros,
    pub used_at: Option<Micros>,
}

impl NewCouponTemplate {
    fn check(&self) -> Result<(String, Scope)> {
        let name = name_check(&self.name)?;
        window_check(self.starts_at, self.ends_at)?;
        match self.kind {
            CouponKind::AmountOff if self.amount_fen <= 0 => {
                return Err(Error::invalid(
                    "invalid_amount",
                    "an amount-off coupon needs amount_fen above zero",
                ))
            }
            CouponKind::PercentOff if !(1..=99).contains(&self.percent) => {
                return Err(Error::invalid(
                    "invalid_percent",
                    "percent must be between 1 and 99",
                ))
            }
            _ => {}
        }
        if self.cap_fen.is_some_and(|c| c <= 0) {
            return Err(Error::invalid("invalid_cap", "cap_fen must be above zero"));
        }
        if self.threshold_fen < 0 {
            return Err(Error::invalid(
                "invalid_threshold",
                "threshold_fen cannot be negative",
            ));
        }
        if self.kind == CouponKind::AmountOff
            && self.threshold_fen > 0
            && self.amount_fen > self.threshold_fen
        {
            return Err(Error::invalid(
                "invalid_amount",
                "the amount off cannot exceed the threshold",
            ));
        }
        if self.valid_days.is_some_and(|d| !(1..=3650).contains(&d)) {
            return Err(Error::invalid(
                "invalid_validity",
                "valid_days must be between 1 and 3650",
            ));
        }
        if self.per_person_limit < 1 {
            return Err(Error::invalid(
                "invalid_limit",
                "per_person_limit must be at least 1",
            ));
        }
        if self.total_quantity.is_some_and(|q| q < 0) {
            return Err(Error::invalid(
                "invalid_quantity",
                "total_quantity cannot be negative",
            ));
        }
        if self.budget_fen.is_some_and(|b| b < 0) {
            return Err(Error::invalid(
                "invalid_budget",
                "budget_fen cannot be negative",
            ));
        }
        let scope = Scope::parse(&self.scope, self.scope_values.clone())?;
        Ok((name, scope))
    }
}

const COLUMNS: &str = "id, name, description, kind, amount_fen, percent, cap_fen, threshold_fen, \
     scope, scope_values, starts_at, ends_at, valid_days, claimable, per_person_limit, \
     total_quantity, issued_count, budget_fen, spent_fen, stackable_with_promotions, status, created_at";

fn template_from(r: &AnyRow) -> Result<CouponTemplate> {
    Ok(CouponTemplate {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        kind: CouponKind::parse(&r.try_get::<String, _>("kind")?),
        amount_fen: r.try_get("amount_fen")?,
        percent: r.try_get("percent")?,
        cap_fen: r.try_get("cap_fen")?,
        threshold_fen: r.try_get("threshold_fen")?,
        scope: r.try_get("scope")?,
        scope_values: json_list(&r.try_get::<String, _>("scope_values")?),
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        valid_days: r.try_get("valid_days")?,
        claimable: r.try_get::<i64, _>("claimable")? != 0,
        per_person_limit: r.try_get("per_person_limit")?,
        total_quantity: r.try_get("total_quantity")?,
        issued_count: r.try_get("issued_count")?,
        budget_fen: r.try_get("budget_fen")?,
        spent_fen: r.try_get("spent_fen")?,
        stackable_with_promotions: r.try_get::<i64, _>("stackable_with_promotions")? != 0,
        status: Status::parse(&r.try_get::<String, _>("status")?),
        created_at: r.try_get("created_at")?,
    })
}

pub async fn create_template(
    conn: &mut Conn,
    new: &NewCouponTemplate,
    at: Micros,
) -> Result<CouponTemplate> {
    let (name, scope) = new.check()?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO coupon_templates (id, name, description, kind, amount_fen, percent, cap_fen, \
         threshold_fen, scope, scope_values, starts_at, ends_at, valid_days, claimable, \
         per_person_limit, total_quantity, budget_fen, stackable_with_promotions, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16, $17, $18, 'active', $19, $19)",
    )
    .bind(&id)
    .bind(&name)
    .bind(new.description.trim())
    .bind(new.kind.as_str())
    .bind(new.amount_fen)
    .bind(new.percent)
    .bind(new.cap_fen)
    .bind(new.threshold_fen)
    .bind(scope.kind())
    .bind(serde_json::to_string(scope.values())?)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(new.valid_days)
    .bind(i64::from(new.claimable))
    .bind(new.per_person_limit)
    .bind(new.total_quantity)
    .bind(new.budget_fen)
    .bind(i64::from(new.stackable_with_promotions))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    get_template(conn, &id).await
}

/// Replaces a template's terms; quantity and budget cannot go below what is
/// already issued or spent.
pub async fn update_template(
    conn: &mut Conn,
    id: &str,
    new: &NewCouponTemplate,
    at: Micros,
) -> Result<CouponTemplate> {
    let (name, scope) = new.check()?;
    let current = get_template(conn, id).await?;
    if new.total_quantity.is_some_and(|q| q < current.issued_count) {
        return Err(Error::invalid(
            "invalid_quantity",
            format!(
                "{} coupons are already issued; total_quantity cannot be lower",
                current.issued_count
            ),
        ));
    }
    if new.budget_fen.is_some_and(|b| b < current.spent_fen) {
        return Err(Error::invalid(
            "invalid_budget",
            format!(
                "{} fen are already spent; budget_fen cannot be lower",
                current.spent_fen
            ),
        ));
    }
    sqlx::query(
        "UPDATE coupon_templates SET name = $2, description = $3, kind = $4, amount_fen = $5, \
         percent = $6, cap_fen = $7, threshold_fen = $8, scope = $9, scope_values = $10, \
         starts_at = $11, ends_at = $12, valid_days = $13, claimable = $14, per_person_limit = $15, \
         total_quantity = $16, budget_fen = $17, stackable_with_promotions = $18, updated_at = $19 \
         WHERE id = $1 AND (total_quantity IS NULL OR $16 IS NULL OR issued_count <= $16) \
         AND ($17 IS NULL OR spent_fen <= $17)",
    )
    .bind(id)
    .bind(&name)
    .bind(new.description.trim())
    .bind(new.kind.as_str())
    .bind(new.amount_fen)
    .bind(new.percent)
    .bind(new.cap_fen)
    .bind(new.threshold_fen)
    .bind(scope.kind())
    .bind(serde_json::to_string(scope.values())?)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(new.valid_days)
    .bind(i64::from(new.claimable))
    .bind(new.per_person_limit)
    .bind(new.total_quantity)
    .bind(new.budget_fen)
    .bind(i64::from(new.stackable_with_promotions))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    get_template(conn, id).await
}

pub async fn get_template(conn: &mut Conn, id: &str) -> Result<CouponTemplate> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM coupon_templates WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("coupon template"))?;
    template_from(&row)
}

/// All templates, newest first.
pub async fn list_templates(conn: &mut Conn) -> Result<Vec<CouponTemplate>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM coupon_templates ORDER BY id DESC"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(template_from).collect()
}

/// Templates a customer may claim now (active, in window, claimable, not
/// run out), with how many this customer already holds.
pub async fn claimable(
    conn: &mut Conn,
    buyer: &Buyer,
    at: Micros,
) -> Result<Vec<(CouponTemplate, i64)>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM coupon_templates WHERE claimable = 1 AND status = 'active' \
         AND starts_at <= $1 AND ends_at > $1 \
         AND (total_quantity IS NULL OR issued_count < total_quantity) ORDER BY id DESC"
    ))
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let t = template_from(r)?;
        let scope = Scope::parse(&t.scope, t.scope_values.clone())?;
        if !scope.admits(buyer.tier.as_deref()) {
            continue;
        }
        let claimed: Option<i64> = sqlx::query_scalar(
            "SELECT claimed FROM coupon_claims WHERE template_id = $1 AND profile_id = $2",
        )
        .bind(&t.id)
        .bind(&buyer.profile_id)
        .fetch_optional(&mut *conn)
        .await?;
        out.push((t, claimed.unwrap_or(0)));
    }
    Ok(out)
}

/// Takes `n` coupons off the template's total (guarded) and checks it may
/// be issued now.
async fn take_quantity(conn: &mut Conn, t: &CouponTemplate, n: i64, at: Micros) -> Result<()> {
    if t.status != Status::Active {
        return Err(Error::conflict(
            "coupon_template_inactive",
            format!("{} is {}", t.name, t.status.as_str()),
        ));
    }
    if at < t.starts_at || at >= t.ends_at {
        return Err(Error::conflict(
            "coupon_template_out_of_window",
            format!("{} cannot be issued at this time", t.name),
        ));
    }
    let taken = sqlx::query(
        "UPDATE coupon_templates SET issued_count = issued_count + $2 WHERE id = $1 \
         AND status = 'active' AND (total_quantity IS NULL OR issued_count + $2 <= total_quantity)",
    )
    .bind(&t.id)
    .bind(n)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if taken == 0 {
        return Err(Error::conflict(
            "coupon_sold_out",
            format!("{} has no coupons left", t.name),
        ));
    }
    Ok(())
}

async fn insert_coupon(
    conn: &mut Conn,
    t: &CouponTemplate,
    profile_id: &str,
    source: &str,
    at: Micros,
) -> Result<String> {
    let (from, until) = match t.valid_days {
        Some(days) => (at, at + days * DAY),
        None => (t.starts_at, t.ends_at),
    };
    let id = new_id();
    sqlx::query(
        "INSERT INTO coupons (id, template_id, profile_id, status, valid_from, valid_until, source, issued_at) \
         VALUES ($1, $2, $3, 'issued', $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&t.id)
    .bind(profile_id)
    .bind(from)
    .bind(until)
    .bind(source)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Staff issue one coupon to each profile (all or none); the total quantity
/// applies, the per-person claim limit does not.
pub async fn issue(
    conn: &mut Conn,
    template_id: &str,
    profile_ids: &[String],
    issued_by: &str,
    at: Micros,
) -> Result<Vec<Coupon>> {
    let profiles: Vec<&str> = profile_ids
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    if profiles.is_empty() || profiles.len() > 10_000 {
        return Err(Error::invalid(
            "invalid_profiles",
            "give between 1 and 10000 profile ids",
        ));
    }
    let t = get_template(conn, template_id).await?;
    for p in &profiles {
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM profiles WHERE id = $1")
            .bind(*p)
            .fetch_one(&mut *conn)
            .await?;
        if known == 0 {
            return Err(Error::invalid(
                "unknown_profile",
                format!("there is no profile {p}"),
            ));
        }
    }
    take_quantity(conn, &t, profiles.len() as i64, at).await?;
    let source = format!("staff:{issued_by}");
    let mut ids = Vec::with_capacity(profiles.len());
    for p in profiles {
        ids.push(insert_coupon(conn, &t, p, &source, at).await?);
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(get(conn, &id, at).await?);
    }
    Ok(out)
}

/// Issues one coupon of the template to a profile for something the
/// customer did, such as spending points in the mall: the template's window
/// and total quantity apply, the per-person claim limit does not. `source`
/// names the cause (e.g. `mall:<redemption id>`); the caller makes it happen
/// once.
pub async fn grant(
    conn: &mut Conn,
    template_id: &str,
    profile_id: &str,
    source: &str,
    at: Micros,
) -> Result<Coupon> {
    let t = get_template(conn, template_id).await?;
    take_quantity(conn, &t, 1, at).await?;
    let id = insert_coupon(conn, &t, profile_id, source, at).await?;
    get(conn, &id, at).await
}

/// A customer claims a coupon from a claimable template: within its window,
/// tiers, per-person limit and total quantity, all guarded.
pub async fn claim_coupon(
    conn: &mut Conn,
    buyer: &Buyer,
    template_id: &str,
    at: Micros,
) -> Result<Coupon> {
    let t = get_template(conn, template_id).await?;
    if !t.claimable {
        return Err(Error::invalid(
            "coupon_not_claimable",
            format!("{} is issued by the brand, not claimed", t.name),
        ));
    }
    let scope = Scope::parse(&t.scope, t.scope_values.clone())?;
    if !scope.admits(buyer.tier.as_deref()) {
        return Err(Error::invalid(
            "coupon_out_of_scope",
            format!("{} is for members of other tiers", t.name),
        ));
    }
    take_quantity(conn, &t, 1, at).await?;
    let n = sqlx::query(
        "INSERT INTO coupon_claims (template_id, profile_id, claimed) SELECT $1, $2, 1 WHERE $3 >= 1 \
         ON CONFLICT (template_id, profile_id) DO UPDATE SET claimed = coupon_claims.claimed + 1 \
         WHERE coupon_claims.claimed + 1 <= $3",
    )
    .bind(&t.id)
    .bind(&buyer.profile_id)
    .bind(t.per_person_limit)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::conflict(
            "coupon_limit_reached",
            format!("{} allows {} per person", t.name, t.per_person_limit),
        ));
    }
    let id = insert_coupon(conn, &t, &buyer.profile_id, "claim", at).await?;
    get(conn, &id, at).await
}

const COUPON_COLUMNS: &str = "c.id, c.template_id, t.name, t.description, c.profile_id, c.status, \
     t.kind, t.amount_fen, t.percent, t.cap_fen, t.threshold_fen, c.valid_from, c.valid_until, \
     c.order_id, c.issued_at, c.used_at";

fn coupon_from(r: &AnyRow, at: Micros) -> Result<Coupon> {
    let status: String = r.try_get("status")?;
    let valid_until: Micros = r.try_get("valid_until")?;
    Ok(Coupon {
        id: r.try_get("id")?,
        template_id: r.try_get("template_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        profile_id: r.try_get("profile_id")?,
        status: if status == "issued" && valid_until <= at {
            "expired".into()
        } else {
            status
        },
        kind: CouponKind::parse(&r.try_get::<String, _>("kind")?),
        amount_fen: r.try_get("amount_fen")?,
        percent: r.try_get("percent")?,
        cap_fen: r.try_get("cap_fen")?,
        threshold_fen: r.try_get("threshold_fen")?,
        valid_from: r.try_get("valid_from")?,
        valid_until,
        order_id: r.try_get("order_id")?,
        issued_at: r.try_get("issued_at")?,
        used_at: r.try_get("used_at")?,
    })
}

pub async fn get(conn: &mut Conn, id: &str, at: Micros) -> Result<Coupon> {
    let row = sqlx::query(&format!(
        "SELECT {COUPON_COLUMNS} FROM coupons c JOIN coupon_templates t ON t.id = c.template_id \
         WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("coupon"))?;
    coupon_from(&row, at)
}

/// A profile's coupons, newest first.
pub async fn for_profile(conn: &mut Conn, profile_id: &str, at: Micros) -> Result<Vec<Coupon>> {
    let rows = sqlx::query(&format!(
        "SELECT {COUPON_COLUMNS} FROM coupons c JOIN coupon_templates t ON t.id = c.template_id \
         WHERE c.profile_id = $1 ORDER BY c.id DESC LIMIT 500"
    ))
    .bind(profile_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| coupon_from(r, at)).collect()
}

/// Coupons of a template (optionally one profile's), newest first.
pub async fn list(
    conn: &mut Conn,
    template_id: Option<&str>,
    profile_id: Option<&str>,
    before: Option<&str>,
    limit: i64,
    at: Micros,
) -> Result<Vec<Coupon>> {
    let rows = sqlx::query(&format!(
        "SELECT {COUPON_COLUMNS} FROM coupons c JOIN coupon_templates t ON t.id = c.template_id \
         WHERE ($1 IS NULL OR c.template_id = $1) AND ($2 IS NULL OR c.profile_id = $2) \
         AND ($3 IS NULL OR c.id < $3) ORDER BY c.id DESC LIMIT $4"
    ))
    .bind(template_id)
    .bind(profile_id)
    .bind(before)
    .bind(limit.clamp(1, 500))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| coupon_from(r, at)).collect()
}

/// Withdraws an unused coupon.
pub async fn void(conn: &mut Conn, id: &str, at: Micros) -> Result<Coupon> {
    let n = sqlx::query("UPDATE coupons SET status = 'void' WHERE id = $1 AND status = 'issued'")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let coupon = get(conn, id, at).await?;
    if n == 0 {
        return Err(Error::conflict(
            "coupon_not_voidable",
            format!("the coupon is {} and cannot be withdrawn", coupon.status),
        ));
    }
    Ok(coupon)
}
