//! The points ledger. Points live in lots (one per award) with an unlock time
//! and an expiry; spends take from the spendable lots nearest expiry first.
//! Every change of a member's total is an append-only ledger row, so
//!
//! ```text
//! Σ ledger.amount = Σ lots.remaining + Σ points held − points_debt
//! ```
//!
//! holds at every commit (the property tests check it after arbitrary
//! sequences). A spend is two steps — [`freeze`] takes the points out of
//! their lots into a hold, then [`consume`] or [`release`] settles it — so
//! checkout can hold points until payment. Every operation is keyed: a
//! retried call with the same key is applied once.
//!
//! All functions run in the caller's transaction and lock the member first
//! (`FOR UPDATE` on PostgreSQL; SQLite has one writer), so concurrent spends
//! of one member queue and can never take the same points twice.

use super::lock_member;
use crate::audience::domain::{emit, DomainEvent};
use crate::clock::Micros;
use crate::db::{new_id, Backend, Conn};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// A lot to create: who, how much, why, and when it unlocks and expires.
#[derive(Debug, Clone)]
pub struct Award<'a> {
    pub member_id: &'a str,
    pub amount: i64,
    /// order | offline_purchase | action:<name> | adjustment | import | refund_return
    pub source: &'a str,
    /// Unique per fact (e.g. `order:<id>`); a second award with it is a no-op.
    pub key: &'a str,
    pub reference: Option<&'a str>,
    /// Why, in words (staff adjustments, imports).
    pub reason: Option<&'a str>,
    pub unlock_at: Micros,
    pub expires_at: Micros,
    pub at: Micros,
}

/// The result of an award: the lot, and whether this call applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awarded {
    pub lot_id: Option<String>,
    pub amount: i64,
    pub applied: bool,
}

/// Adds a lot. Outstanding debt (from refunds that reversed spent points) is
/// paid first from the new points.
pub async fn award(conn: &mut Conn, backend: Backend, a: &Award<'_>) -> Result<Awarded> {
    if a.amount <= 0 {
        return Err(Error::invalid(
            "invalid_amount",
            "an award must be positive",
        ));
    }
    if a.expires_at <= a.at {
        return Err(Error::invalid(
            "invalid_expiry",
            "points must expire after they are awarded",
        ));
    }
    let member = lock_member(conn, backend, a.member_id).await?;
    if let Some(prior) = prior_award(conn, a.key, a.member_id).await? {
        return Ok(prior);
    }
    let paid = member.points_debt.min(a.amount);
    let lot_id = new_id();
    sqlx::query(
        "INSERT INTO points_lots (id, member_id, amount, remaining, source, reference, earned_at, unlock_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&lot_id)
    .bind(a.member_id)
    .bind(a.amount)
    .bind(a.amount - paid)
    .bind(a.source)
    .bind(a.reference)
    .bind(a.at)
    .bind(a.unlock_at.max(a.at))
    .bind(a.expires_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO points_awards (key, member_id, lot_id, amount, reversed, at) VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(a.key)
    .bind(a.member_id)
    .bind(&lot_id)
    .bind(a.amount)
    .bind(a.at)
    .execute(&mut *conn)
    .await?;
    let reason = match (a.reason, paid) {
        (r, 0) => r.map(str::to_owned),
        (Some(r), _) => Some(format!("{r}; {paid} repaid points owed after a refund")),
        (None, _) => Some(format!("{paid} repaid points owed after a refund")),
    };
    ledger(
        conn,
        a.member_id,
        "award",
        a.amount,
        Some(&lot_id),
        None,
        a.reference.or(Some(a.key)),
        reason.as_deref(),
        a.at,
    )
    .await?;
    if paid > 0 {
        sqlx::query("UPDATE members SET points_debt = points_debt - $1 WHERE id = $2")
            .bind(paid)
            .bind(a.member_id)
            .execute(&mut *conn)
            .await?;
    }
    let props = json!({ "amount": a.amount, "source": a.source, "reference": a.reference,
        "unlock_at": a.unlock_at, "expires_at": a.expires_at, "member_id": a.member_id });
    emit_for(
        conn,
        &member.profile_id,
        "points.awarded",
        format!("points.awarded:{}", a.key),
        props,
        a.at,
    )
    .await?;
    Ok(Awarded {
        lot_id: Some(lot_id),
        amount: a.amount,
        applied: true,
    })
}

async fn prior_award(conn: &mut Conn, key: &str, member_id: &str) -> Result<Option<Awarded>> {
    let row: Option<(Option<String>, i64, String)> =
        sqlx::query_as("SELECT lot_id, amount, member_id FROM points_awards WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    if row.as_ref().is_some_and(|(_, _, m)| m != member_id) {
        return Err(key_reused(key));
    }
    Ok(row.map(|(lot_id, amount, _)| Awarded {
        lot_id,
        amount,
        applied: false,
    }))
}

/// A two-step spend in progress or settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Hold {
    pub id: String,
    pub member_id: String,
    pub key: String,
    pub amount: i64,
    pub purpose: String,
    /// held | consumed | released
    pub status: String,
    pub refunded: i64,
}

async fn find_hold(conn: &mut Conn, member_id: &str, key: &str) -> Result<Option<Hold>> {
    let row = sqlx::query(
        "SELECT id, member_id, key, amount, purpose, status, refunded FROM points_holds \
         WHERE member_id = $1 AND key = $2",
    )
    .bind(member_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Hold {
            id: r.try_get(0)?,
            member_id: r.try_get(1)?,
            key: r.try_get(2)?,
            amount: r.try_get(3)?,
            purpose: r.try_get(4)?,
            status: r.try_get(5)?,
            refunded: r.try_get(6)?,
        })
    })
    .transpose()
}

/// Takes `amount` spendable points (unlocked, unexpired at `at`) out of the
/// member's lots, nearest expiry first, into a hold keyed `key`. Repeating
/// the call with the same key and amount returns the same hold.
pub async fn freeze(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    amount: i64,
    key: &str,
    purpose: &str,
    at: Micros,
) -> Result<Hold> {
    if amount <= 0 {
        return Err(Error::invalid(
            "invalid_amount",
            "points to spend must be positive",
        ));
    }
    check_key(key)?;
    lock_member(conn, backend, member_id).await?;
    if let Some(hold) = find_hold(conn, member_id, key).await? {
        if hold.amount != amount {
            return Err(Error::conflict(
                "idempotency_key_reused",
                format!(
                    "spend key '{key}' was used for {} points, not {amount}",
                    hold.amount
                ),
            ));
        }
        return Ok(hold);
    }
    let lots = lots_nearest_expiry(conn, member_id, at, Unlocked::Only).await?;
    let available: i64 = lots.iter().map(|(_, r)| r).sum();
    if available < amount {
        return Err(Error::conflict(
            "insufficient_points",
            format!("{amount} points requested, {available} spendable"),
        ));
    }
    let hold_id = new_id();
    sqlx::query(
        "INSERT INTO points_holds (id, member_id, key, amount, purpose, status, refunded, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'held', 0, $6)",
    )
    .bind(&hold_id)
    .bind(member_id)
    .bind(key)
    .bind(amount)
    .bind(purpose)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let mut left = amount;
    for (lot_id, remaining) in lots {
        if left == 0 {
            break;
        }
        let take = left.min(remaining);
        take_from_lot(conn, &lot_id, take).await?;
        sqlx::query(
            "INSERT INTO points_hold_lots (hold_id, lot_id, amount, refunded) VALUES ($1, $2, $3, 0)",
        )
        .bind(&hold_id)
        .bind(&lot_id)
        .bind(take)
        .execute(&mut *conn)
        .await?;
        left -= take;
    }
    Ok(Hold {
        id: hold_id,
        member_id: member_id.to_owned(),
        key: key.to_owned(),
        amount,
        purpose: purpose.to_owned(),
        status: "held".into(),
        refunded: 0,
    })
}

/// Settles a hold as spent. Consuming a consumed hold is a no-op.
pub async fn consume(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    key: &str,
    at: Micros,
) -> Result<Hold> {
    let member = lock_member(conn, backend, member_id).await?;
    let mut hold = find_hold(conn, member_id, key)
        .await?
        .ok_or(Error::not_found("points hold"))?;
    match hold.status.as_str() {
        "consumed" => return Ok(hold),
        "released" => {
            return Err(Error::conflict(
                "hold_released",
                "this spend was cancelled; its points were returned",
            ))
        }
        _ => {}
    }
    settle(conn, &hold.id, "consumed", at).await?;
    for (lot_id, amount, _) in hold_lots(conn, &hold.id).await? {
        ledger(
            conn,
            member_id,
            "spend",
            -amount,
            Some(&lot_id),
            Some(&hold.id),
            Some(key),
            Some(&hold.purpose),
            at,
        )
        .await?;
    }
    let props = json!({ "amount": hold.amount, "purpose": hold.purpose, "key": key, "member_id": member_id });
    emit_for(
        conn,
        &member.profile_id,
        "points.spent",
        format!("points.spent:{}", hold.id),
        props,
        at,
    )
    .await?;
    hold.status = "consumed".into();
    Ok(hold)
}

/// Cancels a held spend: its points go back to the lots they came from.
/// Releasing a released hold is a no-op; a consumed one cannot be released
/// (refund it with [`refund_spend`]).
pub async fn release(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    key: &str,
    at: Micros,
) -> Result<Hold> {
    lock_member(conn, backend, member_id).await?;
    let mut hold = find_hold(conn, member_id, key)
        .await?
        .ok_or(Error::not_found("points hold"))?;
    match hold.status.as_str() {
        "released" => return Ok(hold),
        "consumed" => {
            return Err(Error::conflict(
                "hold_consumed",
                "this spend was completed; refund it instead",
            ))
        }
        _ => {}
    }
    settle(conn, &hold.id, "released", at).await?;
    for (lot_id, amount, _) in hold_lots(conn, &hold.id).await? {
        return_to_lot(conn, &lot_id, amount).await?;
    }
    hold.status = "released".into();
    Ok(hold)
}

/// Freeze and consume in one step (the till, the points mall).
pub async fn spend(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    amount: i64,
    key: &str,
    purpose: &str,
    at: Micros,
) -> Result<Hold> {
    freeze(conn, backend, member_id, amount, key, purpose, at).await?;
    consume(conn, backend, member_id, key, at).await
}

/// Gives back up to `amount` points of a consumed spend (a refunded order
/// paid partly with points), to the lots they came from — latest expiry
/// first, keeping each lot's expiry (points of a lot that has since expired
/// are expired again by the next expiry run). Keyed by `op_key`.
pub async fn refund_spend(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    spend_key: &str,
    amount: i64,
    op_key: &str,
    at: Micros,
) -> Result<i64> {
    if amount <= 0 {
        return Err(Error::invalid(
            "invalid_amount",
            "points to refund must be positive",
        ));
    }
    let member = lock_member(conn, backend, member_id).await?;
    if let Some(done) = prior_op(conn, op_key, member_id).await? {
        return Ok(done);
    }
    let hold = find_hold(conn, member_id, spend_key)
        .await?
        .ok_or(Error::not_found("points spend"))?;
    if hold.status != "consumed" {
        return Err(Error::conflict(
            "spend_not_consumed",
            "only a completed spend can be refunded",
        ));
    }
    let mut left = amount.min(hold.amount - hold.refunded);
    let total = left;
    let mut lots = hold_lots_by_expiry_desc(conn, &hold.id).await?;
    for (lot_id, taken, refunded) in lots.drain(..) {
        if left == 0 {
            break;
        }
        let give = left.min(taken - refunded);
        if give == 0 {
            continue;
        }
        return_to_lot(conn, &lot_id, give).await?;
        sqlx::query("UPDATE points_hold_lots SET refunded = refunded + $1 WHERE hold_id = $2 AND lot_id = $3")
            .bind(give)
            .bind(&hold.id)
            .bind(&lot_id)
            .execute(&mut *conn)
            .await?;
        ledger(
            conn,
            member_id,
            "refund",
            give,
            Some(&lot_id),
            Some(&hold.id),
            Some(op_key),
            None,
            at,
        )
        .await?;
        left -= give;
    }
    sqlx::query("UPDATE points_holds SET refunded = refunded + $1 WHERE id = $2")
        .bind(total)
        .bind(&hold.id)
        .execute(&mut *conn)
        .await?;
    record_op(conn, op_key, member_id, "refund_spend", total, at).await?;
    let props = json!({ "amount": total, "spend_key": spend_key, "member_id": member_id });
    emit_for(
        conn,
        &member.profile_id,
        "points.refunded",
        format!("points.refunded:{op_key}"),
        props,
        at,
    )
    .await?;
    Ok(total)
}

/// Takes back up to `amount` points of an award (a refunded order that had
/// earned them): from the award's own lot first, then from the member's other
/// lots nearest expiry first; what the member no longer has becomes debt,
/// repaid from future awards. Keyed by `op_key`. Returns the points reversed.
pub async fn reverse_award(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    award_key: &str,
    amount: i64,
    op_key: &str,
    at: Micros,
) -> Result<i64> {
    if amount <= 0 {
        return Err(Error::invalid(
            "invalid_amount",
            "points to reverse must be positive",
        ));
    }
    let member = lock_member(conn, backend, member_id).await?;
    if let Some(done) = prior_op(conn, op_key, member_id).await? {
        return Ok(done);
    }
    let row: Option<(Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT lot_id, amount, reversed FROM points_awards WHERE key = $1 AND member_id = $2",
    )
    .bind(award_key)
    .bind(member_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (lot, awarded, reversed) = row.ok_or(Error::not_found("points award"))?;
    let total = amount.min(awarded - reversed);
    let mut left = total;
    let mut lots: Vec<(String, i64)> = Vec::new();
    if let Some(lot) = &lot {
        let remaining: i64 = sqlx::query_scalar("SELECT remaining FROM points_lots WHERE id = $1")
            .bind(lot)
            .fetch_one(&mut *conn)
            .await?;
        lots.push((lot.clone(), remaining));
    }
    let others = lots_nearest_expiry(conn, member_id, at, Unlocked::OrLocked).await?;
    lots.extend(
        others
            .into_iter()
            .filter(|(id, _)| Some(id) != lot.as_ref()),
    );
    for (lot_id, remaining) in lots {
        if left == 0 {
            break;
        }
        let take = left.min(remaining);
        if take == 0 {
            continue;
        }
        take_from_lot(conn, &lot_id, take).await?;
        ledger(
            conn,
            member_id,
            "reverse",
            -take,
            Some(&lot_id),
            None,
            Some(op_key),
            None,
            at,
        )
        .await?;
        left -= take;
    }
    if left > 0 {
        sqlx::query("UPDATE members SET points_debt = points_debt + $1 WHERE id = $2")
            .bind(left)
            .bind(member_id)
            .execute(&mut *conn)
            .await?;
        let reason = "owed: the points were already spent; repaid from future awards";
        ledger(
            conn,
            member_id,
            "reverse",
            -left,
            None,
            None,
            Some(op_key),
            Some(reason),
            at,
        )
        .await?;
    }
    sqlx::query("UPDATE points_awards SET reversed = reversed + $1 WHERE key = $2")
        .bind(total)
        .bind(award_key)
        .execute(&mut *conn)
        .await?;
    record_op(conn, op_key, member_id, "reverse_award", total, at).await?;
    let props =
        json!({ "amount": total, "award_key": award_key, "owed": left, "member_id": member_id });
    emit_for(
        conn,
        &member.profile_id,
        "points.reversed",
        format!("points.reversed:{op_key}"),
        props,
        at,
    )
    .await?;
    Ok(total)
}

/// A staff deduction (a positive adjustment is an [`award`] with source
/// `adjustment`): takes spendable and locked points nearest expiry first;
/// refuses to go below zero.
#[allow(clippy::too_many_arguments)]
pub async fn deduct(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
    amount: i64,
    reason: &str,
    actor: &str,
    op_key: &str,
    at: Micros,
) -> Result<i64> {
    if amount <= 0 {
        return Err(Error::invalid(
            "invalid_amount",
            "points to deduct must be positive",
        ));
    }
    let member = lock_member(conn, backend, member_id).await?;
    if let Some(done) = prior_op(conn, op_key, member_id).await? {
        return Ok(done);
    }
    let lots = lots_nearest_expiry(conn, member_id, at, Unlocked::OrLocked).await?;
    let have: i64 = lots.iter().map(|(_, r)| r).sum();
    if have < amount {
        return Err(Error::conflict(
            "insufficient_points",
            format!("cannot deduct {amount} points: the member has {have}"),
        ));
    }
    let mut left = amount;
    for (lot_id, remaining) in lots {
        if left == 0 {
            break;
        }
        let take = left.min(remaining);
        take_from_lot(conn, &lot_id, take).await?;
        sqlx::query(
            "INSERT INTO points_ledger (id, member_id, kind, amount, lot_id, reference, reason, actor, at) \
             VALUES ($1, $2, 'adjust', $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(member_id)
        .bind(-take)
        .bind(&lot_id)
        .bind(op_key)
        .bind(reason)
        .bind(actor)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        left -= take;
    }
    record_op(conn, op_key, member_id, "deduct", amount, at).await?;
    let props = json!({ "amount": amount, "reason": reason, "member_id": member_id });
    emit_for(
        conn,
        &member.profile_id,
        "points.deducted",
        format!("points.deducted:{op_key}"),
        props,
        at,
    )
    .await?;
    Ok(amount)
}

/// Expires up to `limit` lots whose expiry has passed; returns the points expired.
pub async fn expire_due(conn: &mut Conn, backend: Backend, at: Micros, limit: i64) -> Result<i64> {
    let due: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, member_id FROM points_lots WHERE expires_at <= $1 AND remaining > 0 \
         ORDER BY expires_at LIMIT $2",
    )
    .bind(at)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut expired = 0;
    for (lot_id, member_id) in due {
        let member = lock_member(conn, backend, &member_id).await?;
        // Re-read under the lock: a refund may have changed it meanwhile.
        let remaining: i64 = sqlx::query_scalar("SELECT remaining FROM points_lots WHERE id = $1")
            .bind(&lot_id)
            .fetch_one(&mut *conn)
            .await?;
        if remaining == 0 {
            continue;
        }
        take_from_lot(conn, &lot_id, remaining).await?;
        ledger(
            conn,
            &member_id,
            "expire",
            -remaining,
            Some(&lot_id),
            None,
            None,
            None,
            at,
        )
        .await?;
        let props = json!({ "amount": remaining, "lot_id": lot_id, "member_id": member_id });
        emit_for(
            conn,
            &member.profile_id,
            "points.expired",
            format!("points.expired:{lot_id}:{at}"),
            props,
            at,
        )
        .await?;
        expired += remaining;
    }
    Ok(expired)
}

/// Emits `points.expiring` once per member and expiry day for points that
/// expire within `window` of `at` (the reminder before they go).
pub async fn remind_expiring(conn: &mut Conn, at: Micros, window: Micros) -> Result<usize> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT l.member_id, m.profile_id, CAST(SUM(l.remaining) AS BIGINT), MIN(l.expires_at) \
         FROM points_lots l JOIN members m ON m.id = l.member_id \
         WHERE l.remaining > 0 AND l.expires_at > $1 AND l.expires_at <= $2 AND m.profile_id IS NOT NULL \
         GROUP BY l.member_id, m.profile_id",
    )
    .bind(at)
    .bind(at + window)
    .fetch_all(&mut *conn)
    .await?;
    let mut sent = 0;
    for (member_id, profile_id, amount, expires_at) in rows {
        let day = crate::clock::to_datetime(expires_at).format("%Y-%m-%d");
        let props = json!({ "amount": amount, "expires_at": expires_at, "member_id": member_id });
        let event = DomainEvent::new(
            "points.expiring",
            profile_id,
            format!("points.expiring:{member_id}:{day}"),
            props,
            at,
        );
        if emit(conn, &event).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// A member's points at a moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// Spendable now.
    pub available: i64,
    /// Awarded but not yet spendable (an order's return window).
    pub locked: i64,
    /// Taken by spends not yet settled.
    pub held: i64,
    /// Owed after refunds; repaid from future awards.
    pub debt: i64,
    /// The sum of the ledger.
    pub total: i64,
    /// Spendable or locked points expiring within 30 days.
    pub expiring_soon: i64,
}

pub async fn balance(conn: &mut Conn, member_id: &str, at: Micros) -> Result<Balance> {
    let row = sqlx::query(
        "SELECT \
           COALESCE(CAST(SUM(CASE WHEN unlock_at <= $2 AND expires_at > $2 THEN remaining ELSE 0 END) AS BIGINT), 0), \
           COALESCE(CAST(SUM(CASE WHEN unlock_at > $2 AND expires_at > $2 THEN remaining ELSE 0 END) AS BIGINT), 0), \
           COALESCE(CAST(SUM(CASE WHEN expires_at > $2 AND expires_at <= $3 THEN remaining ELSE 0 END) AS BIGINT), 0) \
         FROM points_lots WHERE member_id = $1",
    )
    .bind(member_id)
    .bind(at)
    .bind(at + 30 * crate::clock::DAY)
    .fetch_one(&mut *conn)
    .await?;
    let held: i64 = sqlx::query_scalar(
        "SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_holds WHERE member_id = $1 AND status = 'held'",
    )
    .bind(member_id)
    .fetch_one(&mut *conn)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM points_ledger WHERE member_id = $1",
    )
    .bind(member_id)
    .fetch_one(&mut *conn)
    .await?;
    let debt: i64 = sqlx::query_scalar("SELECT points_debt FROM members WHERE id = $1")
        .bind(member_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Balance {
        available: row.try_get(0)?,
        locked: row.try_get(1)?,
        held,
        debt,
        total,
        expiring_soon: row.try_get(2)?,
    })
}

/// When the member's next locked points unlock (their return window ends).
pub async fn next_unlock(conn: &mut Conn, member_id: &str, at: Micros) -> Result<Option<Micros>> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(unlock_at) FROM points_lots \
         WHERE member_id = $1 AND unlock_at > $2 AND expires_at > $2 AND remaining > 0",
    )
    .bind(member_id)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?)
}

/// One ledger row, for the member's points history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: String,
    pub kind: String,
    pub amount: i64,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub at: Micros,
}

/// The member's ledger, newest first, `limit` rows before the id `before`.
pub async fn history(
    conn: &mut Conn,
    member_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT id, kind, amount, reference, reason, at FROM points_ledger \
         WHERE member_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(member_id)
    .bind(before)
    .bind(limit.clamp(1, 500))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Entry {
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                amount: r.try_get(2)?,
                reference: r.try_get(3)?,
                reason: r.try_get(4)?,
                at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Which lots a taking operation may draw from besides unlocked ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unlocked {
    /// Spends: only points already unlocked.
    Only,
    /// Reversals and staff deductions: locked points too.
    OrLocked,
}

/// The member's unexpired lots with points left, nearest expiry first: the
/// order every operation that takes points uses.
async fn lots_nearest_expiry(
    conn: &mut Conn,
    member_id: &str,
    at: Micros,
    which: Unlocked,
) -> Result<Vec<(String, i64)>> {
    let unlocked = match which {
        Unlocked::Only => " AND unlock_at <= $2",
        Unlocked::OrLocked => "",
    };
    Ok(sqlx::query_as(&format!(
        "SELECT id, remaining FROM points_lots WHERE member_id = $1 AND remaining > 0 \
         AND expires_at > $2{unlocked} ORDER BY expires_at, earned_at, id"
    ))
    .bind(member_id)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?)
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 200 {
        return Err(Error::invalid(
            "invalid_key",
            "an operation key is 1 to 200 characters",
        ));
    }
    Ok(())
}

async fn take_from_lot(conn: &mut Conn, lot_id: &str, amount: i64) -> Result<()> {
    let n = sqlx::query(
        "UPDATE points_lots SET remaining = remaining - $1 WHERE id = $2 AND remaining >= $1",
    )
    .bind(amount)
    .bind(lot_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(Error::conflict(
            "points_changed",
            "the points changed meanwhile; try again",
        ));
    }
    Ok(())
}

async fn return_to_lot(conn: &mut Conn, lot_id: &str, amount: i64) -> Result<()> {
    let n = sqlx::query("UPDATE points_lots SET remaining = remaining + $1 WHERE id = $2 AND remaining + $1 <= amount")
        .bind(amount)
        .bind(lot_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n != 1 {
        return Err(Error::Internal(anyhow::anyhow!(
            "points lot {lot_id} cannot take back {amount}"
        )));
    }
    Ok(())
}

async fn settle(conn: &mut Conn, hold_id: &str, status: &str, at: Micros) -> Result<()> {
    sqlx::query(
        "UPDATE points_holds SET status = $1, settled_at = $2 WHERE id = $3 AND status = 'held'",
    )
    .bind(status)
    .bind(at)
    .bind(hold_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn hold_lots(conn: &mut Conn, hold_id: &str) -> Result<Vec<(String, i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT lot_id, amount, refunded FROM points_hold_lots WHERE hold_id = $1 ORDER BY lot_id",
    )
    .bind(hold_id)
    .fetch_all(&mut *conn)
    .await?)
}

async fn hold_lots_by_expiry_desc(
    conn: &mut Conn,
    hold_id: &str,
) -> Result<Vec<(String, i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT h.lot_id, h.amount, h.refunded FROM points_hold_lots h JOIN points_lots l ON l.id = h.lot_id \
         WHERE h.hold_id = $1 ORDER BY l.expires_at DESC, l.id DESC",
    )
    .bind(hold_id)
    .fetch_all(&mut *conn)
    .await?)
}

async fn prior_op(conn: &mut Conn, key: &str, member_id: &str) -> Result<Option<i64>> {
    check_key(key)?;
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT amount, member_id FROM points_ops WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        Some((_, m)) if m != member_id => Err(key_reused(key)),
        other => Ok(other.map(|(amount, _)| amount)),
    }
}

fn key_reused(key: &str) -> Error {
    Error::conflict(
        "idempotency_key_reused",
        format!("the key '{key}' was used for another member"),
    )
}

async fn record_op(
    conn: &mut Conn,
    key: &str,
    member_id: &str,
    kind: &str,
    amount: i64,
    at: Micros,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO points_ops (key, member_id, kind, amount, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key)
    .bind(member_id)
    .bind(kind)
    .bind(amount)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn ledger(
    conn: &mut Conn,
    member_id: &str,
    kind: &str,
    amount: i64,
    lot_id: Option<&str>,
    hold_id: Option<&str>,
    reference: Option<&str>,
    reason: Option<&str>,
    at: Micros,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO points_ledger (id, member_id, kind, amount, lot_id, hold_id, reference, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(member_id)
    .bind(kind)
    .bind(amount)
    .bind(lot_id)
    .bind(hold_id)
    .bind(reference)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn emit_for(
    conn: &mut Conn,
    profile_id: &Option<String>,
    name: &str,
    key: String,
    props: serde_json::Value,
    at: Micros,
) -> Result<()> {
    if let Some(profile) = profile_id {
        emit(
            conn,
            &DomainEvent::new(name, profile.clone(), key, props, at),
        )
        .await?;
    }
    Ok(())
}
