//! Merging two member records: an explicit staff action (Cove never merges
//! two registered members by itself), audited, moving everything the merged
//! member had — points lots and ledger, holds, growth, benefits, mall
//! redemptions, orders, devices — to the survivor, and joining their
//! profiles in the identity graph.

use super::{lock_member, tiers};
use crate::audience::domain::{emit, DomainEvent, COVE_SOURCE};
use crate::audience::resolve::{merge_profiles, Origin};
use crate::audit::{self, Actor};
use crate::clock::Micros;
use crate::db::{new_id, Backend, Conn};
use crate::error::{Error, Result};
use serde_json::json;

/// Tables whose rows simply follow the member. (Keyed tables whose keys are
/// unique per member are handled below.)
const FOLLOW: [(&str, &str); 8] = [
    ("points_lots", "member_id"),
    ("points_ledger", "member_id"),
    ("points_awards", "member_id"),
    ("points_ops", "member_id"),
    ("growth_ledger", "member_id"),
    ("tier_changes", "member_id"),
    ("orders", "member_id"),
    ("devices", "member_id"),
];

/// id, merged_into, profile_id, points_debt, tier, tier rank
type MemberState = (String, Option<String>, Option<String>, i64, String, i64);

/// Merges `merged_id` into `survivor_id`. The survivor keeps its card
/// number and the higher of the two tiers.
pub async fn merge(
    conn: &mut Conn,
    backend: Backend,
    survivor_id: &str,
    merged_id: &str,
    actor: &Actor,
    reason: &str,
    at: Micros,
) -> Result<()> {
    if survivor_id == merged_id {
        return Err(Error::invalid(
            "same_member",
            "a member cannot be merged into itself",
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Error::invalid(
            "invalid_reason",
            "a merge needs a reason (1 to 200 characters)",
        ));
    }
    // Lock in id order so two opposite merges cannot deadlock.
    let (first, second) = if survivor_id < merged_id {
        (survivor_id, merged_id)
    } else {
        (merged_id, survivor_id)
    };
    lock_member(conn, backend, first).await?;
    lock_member(conn, backend, second).await?;
    let state: Vec<MemberState> = sqlx::query_as(
        "SELECT m.id, m.merged_into, m.profile_id, m.points_debt, m.tier, t.rank FROM members m \
         JOIN tiers t ON t.code = m.tier WHERE m.id = $1 OR m.id = $2",
    )
    .bind(survivor_id)
    .bind(merged_id)
    .fetch_all(&mut *conn)
    .await?;
    let find = |id: &str| state.iter().find(|s| s.0 == id).cloned();
    let (Some(survivor), Some(merged)) = (find(survivor_id), find(merged_id)) else {
        return Err(Error::not_found("member"));
    };
    if survivor.1.is_some() || merged.1.is_some() {
        return Err(Error::conflict(
            "already_merged",
            "one of the members was already merged",
        ));
    }
    for (table, column) in FOLLOW {
        // Table and column names are constants above, never input.
        sqlx::query(&format!(
            "UPDATE {table} SET {column} = $1 WHERE {column} = $2"
        ))
        .bind(survivor_id)
        .bind(merged_id)
        .execute(&mut *conn)
        .await?;
    }
    // Per-member keys may collide with the survivor's: prefix the merged ones.
    let prefix = format!("merged:{merged_id}:");
    for table in ["points_holds", "mall_redemptions"] {
        sqlx::query(&format!(
            "UPDATE {table} SET member_id = $1, key = $2 || key WHERE member_id = $3"
        ))
        .bind(survivor_id)
        .bind(&prefix)
        .bind(merged_id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "UPDATE benefit_grants SET member_id = $1, period = $2 || period WHERE member_id = $3",
    )
    .bind(survivor_id)
    .bind(&prefix)
    .bind(merged_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE members SET points_debt = points_debt + $1, growth = growth + \
         (SELECT growth FROM members WHERE id = $2) WHERE id = $3",
    )
    .bind(merged.3)
    .bind(merged_id)
    .bind(survivor_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE members SET merged_into = $1, points_debt = 0, phone = NULL WHERE id = $2")
        .bind(survivor_id)
        .bind(merged_id)
        .execute(&mut *conn)
        .await?;
    if merged.5 > survivor.5 {
        tiers::change(conn, survivor_id, &survivor.4, &merged.4, "merge", at).await?;
    }
    let merge_id = new_id();
    if let (Some(sp), Some(mp)) = (&survivor.2, &merged.2) {
        if sp != mp {
            let key = format!("member.merge:{merge_id}");
            let origin = Origin {
                source_id: COVE_SOURCE,
                message_id: &key,
                at,
            };
            merge_profiles(conn, sp, mp, &origin).await?;
        }
    }
    sqlx::query("INSERT INTO member_merges (id, survivor_id, merged_id, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&merge_id)
        .bind(survivor_id)
        .bind(merged_id)
        .bind(&actor.label)
        .bind(reason)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        actor,
        "member.merge",
        "member",
        Some(survivor_id),
        json!({ "merged": merged_id, "reason": reason }),
    )
    .await?;
    if let Some(profile) = survivor.2 {
        let props =
            json!({ "member_id": survivor_id, "merged_member_id": merged_id, "reason": reason });
        emit(
            conn,
            &DomainEvent::new(
                "member.merged",
                profile,
                format!("member.merged:{merge_id}"),
                props,
                at,
            ),
        )
        .await?;
    }
    Ok(())
}
