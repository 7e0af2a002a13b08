//! Membership: one member across online and offline. A member is a profile
//! of the identity graph that has joined (`members.profile_id`); its
//! identifiers (unionid, openids, phone, WeCom id, card number) are the
//! profile's identities, each unique to one person.
//!
//! - [`members`]: joining, lookup, the member card.
//! - [`points`]: the points ledger over lots, two-step spends.
//! - [`tiers`]: growth value, tiers, upgrades and the retention review.
//! - [`earn`]: what earns points and growth (purchases, actions).
//! - [`code`]: the rotating member code store staff scan.
//! - [`benefits`]: tier benefits and grants; [`mall`]: the points mall.
//! - [`merge`]: staff merges of two member records; [`import`]: offline members from CSV.

pub mod benefits;
pub mod code;
pub mod earn;
pub mod import;
pub mod jobs;
pub mod mall;
pub mod members;
pub mod merge;
pub mod points;
pub mod tiers;

pub use members::{join, member_of_profile, Joined, Member, NewMember};

use crate::db::{Backend, Conn};
use crate::error::{Error, Result};

/// The member row fields every ledger operation needs.
#[derive(Debug, Clone)]
pub(crate) struct Locked {
    pub profile_id: Option<String>,
    pub points_debt: i64,
}

/// Locks the member for the rest of the transaction, so that operations on
/// one member's points and tier apply one after another.
pub(crate) async fn lock_member(
    conn: &mut Conn,
    backend: Backend,
    member_id: &str,
) -> Result<Locked> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row: Option<(Option<String>, i64, Option<String>)> = sqlx::query_as(&format!(
        "SELECT profile_id, points_debt, merged_into FROM members WHERE id = $1{lock}"
    ))
    .bind(member_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (profile_id, points_debt, merged_into) = row.ok_or(Error::not_found("member"))?;
    if let Some(survivor) = merged_into {
        return Err(Error::conflict(
            "member_merged",
            format!("this member was merged into {survivor}"),
        ));
    }
    Ok(Locked {
        profile_id,
        points_debt,
    })
}
