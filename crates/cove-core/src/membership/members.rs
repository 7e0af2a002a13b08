//! Joining and finding members. Joining turns the customer's profile into a
//! member: the phone number and the new card number become identities of
//! that profile through the identity graph, so a phone already known from
//! another channel joins the same person — and a phone that belongs to
//! another member is refused, never merged.

use super::earn;
use crate::audience::domain::{emit, DomainEvent};
use crate::audience::resolve::{self, Origin};
use crate::audience::{domain::COVE_SOURCE, IdType, Identifier};
use crate::clock::Micros;
use crate::db::{new_id, Backend, Conn};
use crate::error::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where a member joined.
pub const CHANNELS: [&str; 5] = ["mini_program", "h5", "store", "wecom", "import"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    pub id: String,
    pub member_no: String,
    pub name: String,
    pub phone: Option<String>,
    pub tier: String,
    pub growth: i64,
    pub joined_channel: String,
    pub store_id: Option<String>,
    pub birthday: Option<String>,
    pub joined_at: Micros,
    pub tier_since: Micros,
    pub profile_id: Option<String>,
}

const COLUMNS: &str =
    "id, member_no, name, phone, tier, growth, joined_channel, store_id, birthday, \
                       joined_at, tier_since, profile_id";

/// What a customer gives to join.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewMember {
    pub name: String,
    pub phone: String,
    /// mini_program | h5 | store | wecom | import
    pub channel: String,
    pub store_id: Option<String>,
    pub staff_id: Option<String>,
    /// YYYY-MM-DD
    pub birthday: Option<String>,
}

/// The member, and whether this call created it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Joined {
    pub member: Member,
    pub created: bool,
}

fn validate(new: &NewMember) -> Result<Identifier> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        return Err(Error::invalid(
            "invalid_name",
            "a name is 1 to 50 characters",
        ));
    }
    if !CHANNELS.contains(&new.channel.as_str()) {
        return Err(Error::invalid(
            "invalid_channel",
            format!("channel is one of {}", CHANNELS.join(", ")),
        ));
    }
    if let Some(b) = &new.birthday {
        chrono::NaiveDate::parse_from_str(b, "%Y-%m-%d").map_err(|_| {
            Error::invalid("invalid_birthday", "birthday is a date written YYYY-MM-DD")
        })?;
    }
    Identifier::new(IdType::Phone, &new.phone)
}

/// Makes the person of `profile_id` a member (or returns the member they
/// already are). Runs in the caller's transaction.
pub async fn join(
    conn: &mut Conn,
    backend: Backend,
    profile_id: &str,
    new: &NewMember,
    at: Micros,
) -> Result<Joined> {
    join_with_card(conn, backend, profile_id, new, None, at, at).await
}

/// [`join`] with a given card number (an imported offline card) and join date.
pub async fn join_with_card(
    conn: &mut Conn,
    backend: Backend,
    profile_id: &str,
    new: &NewMember,
    card_no: Option<&str>,
    joined_at: Micros,
    at: Micros,
) -> Result<Joined> {
    let phone = validate(new)?;
    let profile = surviving_profile(conn, profile_id).await?;
    if let Some(member) = by_profile(conn, &profile).await? {
        return Ok(Joined {
            member,
            created: false,
        });
    }
    crate::audience::lock_identifiers(conn, backend, std::slice::from_ref(&phone)).await?;
    let owner = identity_owner(conn, &phone).await?;
    if let Some(owner) = &owner {
        if owner != &profile && by_profile(conn, owner).await?.is_some() {
            return Err(Error::conflict(
                "phone_taken",
                "this phone number belongs to another member",
            ));
        }
    }
    let member_id = new_id();
    let member_no = match card_no {
        Some(card) => card.to_owned(),
        None => next_member_no(conn).await?,
    };
    let card = Identifier::new(IdType::MemberCard, &member_no)?;
    // Link the phone and the card to the person through the graph: the
    // phone's profile (a visitor known from another channel) joins this one
    // unless both hold registered identities, in which case nothing merges.
    let mut ids = vec![phone.clone(), card];
    if let Some(anchor) = anchor_identity(conn, &profile).await? {
        ids.insert(0, anchor);
    }
    let key = format!("member.join:{member_id}");
    let origin = Origin {
        source_id: COVE_SOURCE,
        message_id: &key,
        at,
    };
    let target = if ids.len() == 3 {
        resolve::resolve(conn, backend, &ids, None, &origin).await?
    } else {
        attach(conn, &profile, &ids, at).await?;
        profile.clone()
    };
    if identity_owner(conn, &phone).await?.as_deref() != Some(target.as_str()) {
        return Err(Error::conflict(
            "phone_taken",
            "this phone number belongs to another registered customer; staff can review the pair",
        ));
    }
    sqlx::query(
        "INSERT INTO members (id, member_no, name, phone, city, tier, points, joined_channel, store_id, staff_id, \
         birthday, joined_at, profile_id, tier_since) \
         VALUES ($1, $2, $3, $4, '', 'regular', 0, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&member_id)
    .bind(&member_no)
    .bind(new.name.trim())
    .bind(&phone.value)
    .bind(&new.channel)
    .bind(&new.store_id)
    .bind(&new.staff_id)
    .bind(&new.birthday)
    .bind(joined_at)
    .bind(&target)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let props = json!({ "member_id": member_id, "member_no": member_no, "channel": new.channel,
        "store_id": new.store_id, "staff_id": new.staff_id });
    emit(
        conn,
        &DomainEvent::new(
            "member.joined",
            target.clone(),
            format!("member.joined:{member_id}"),
            props,
            at,
        ),
    )
    .await?;
    earn::action(
        conn,
        backend,
        &member_id,
        "registration",
        &format!("registration:{member_id}"),
        at,
    )
    .await?;
    let member = get(conn, &member_id).await?;
    Ok(Joined {
        member,
        created: true,
    })
}

/// Links another card to the member who holds `phone`, if one does: the
/// same person's old offline card, say, found by staff in an import. The
/// card becomes an identity of the member's profile (a profile holds one
/// card by the graph's own rules, so this link is an explicit act, like a
/// merge). Returns the member, or `None` when no member holds the phone.
pub async fn link_card(
    conn: &mut Conn,
    backend: Backend,
    phone: &Identifier,
    card: &Identifier,
    at: Micros,
) -> Result<Option<Member>> {
    crate::audience::lock_identifiers(conn, backend, &[phone.clone(), card.clone()]).await?;
    let Some(owner) = identity_owner(conn, phone).await? else {
        return Ok(None);
    };
    let Some(member) = by_profile(conn, &owner).await? else {
        return Ok(None);
    };
    attach(conn, &owner, std::slice::from_ref(card), at).await?;
    let props = json!({ "member_id": member.id, "card_no": card.value });
    emit(
        conn,
        &DomainEvent::new(
            "member.card_linked",
            owner,
            format!("member.card_linked:{}", card.value),
            props,
            at,
        ),
    )
    .await?;
    Ok(Some(member))
}

/// What a member may change about themselves.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ProfileEdit {
    pub name: Option<String>,
    /// YYYY-MM-DD; set once (the birthday offer depends on it), then fixed.
    pub birthday: Option<String>,
    /// Free-form preferences (interests, preferred store, contact times).
    pub preferences: Option<serde_json::Value>,
}

pub async fn edit(conn: &mut Conn, member_id: &str, e: &ProfileEdit) -> Result<Member> {
    let current = get(conn, member_id).await?;
    if let Some(name) = &e.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            return Err(Error::invalid(
                "invalid_name",
                "a name is 1 to 50 characters",
            ));
        }
        sqlx::query("UPDATE members SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(member_id)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(b) = &e.birthday {
        chrono::NaiveDate::parse_from_str(b, "%Y-%m-%d").map_err(|_| {
            Error::invalid("invalid_birthday", "birthday is a date written YYYY-MM-DD")
        })?;
        match &current.birthday {
            Some(set) if set != b => {
                return Err(Error::conflict(
                    "birthday_locked",
                    "the birthday can only be set once; ask the service center to correct it",
                ));
            }
            Some(_) => {}
            None => {
                sqlx::query("UPDATE members SET birthday = $1 WHERE id = $2")
                    .bind(b)
                    .bind(member_id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    if let Some(p) = &e.preferences {
        if !p.is_object() || p.to_string().len() > 4096 {
            return Err(Error::invalid(
                "invalid_preferences",
                "preferences are a JSON object of at most 4 KB",
            ));
        }
        sqlx::query("UPDATE members SET preferences = $1 WHERE id = $2")
            .bind(p.to_string())
            .bind(member_id)
            .execute(&mut *conn)
            .await?;
    }
    get(conn, member_id).await
}

/// The member the person of `profile_id` is, if they joined.
pub async fn member_of_profile(conn: &mut Conn, profile_id: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT m.id FROM profiles p JOIN members m ON m.profile_id = COALESCE(p.merged_into, p.id) \
         WHERE p.id = $1 AND m.merged_into IS NULL",
    )
    .bind(profile_id)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn get(conn: &mut Conn, member_id: &str) -> Result<Member> {
    sqlx::query_as::<_, Member>(&format!("SELECT {COLUMNS} FROM members WHERE id = $1"))
        .bind(member_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::not_found("member"))
}

/// Members matching a phone number, member number or member id (exact).
pub async fn find(conn: &mut Conn, query: &str) -> Result<Vec<Member>> {
    let q = query.trim();
    if q.is_empty() {
        return Err(Error::invalid(
            "invalid_query",
            "search by phone number or member number",
        ));
    }
    let phone = Identifier::new(IdType::Phone, q)
        .map(|p| p.value)
        .unwrap_or_default();
    Ok(sqlx::query_as::<_, Member>(&format!(
        "SELECT {COLUMNS} FROM members WHERE member_no = $1 OR id = $1 OR phone = $2 OR phone = $1 \
         OR profile_id IN (SELECT COALESCE(p.merged_into, p.id) FROM identities i \
         JOIN profiles p ON p.id = i.profile_id WHERE i.type = 'member_card' AND i.value = $1) LIMIT 20"
    ))
    .bind(q.to_uppercase())
    .bind(phone)
    .fetch_all(&mut *conn)
    .await?)
}

/// A member's identifiers: the identities of their profile.
pub async fn identifiers(conn: &mut Conn, profile_id: &str) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT i.type, i.value FROM identities i JOIN profiles p ON p.id = i.profile_id \
         WHERE COALESCE(p.merged_into, p.id) = $1 ORDER BY i.type, i.value",
    )
    .bind(profile_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The first phone number the person's profile holds (one verified in the
/// Mini Program, or given before): what joining uses when none is typed.
pub async fn known_phone(conn: &mut Conn, profile_id: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT i.value FROM identities i JOIN profiles p ON p.id = i.profile_id \
         WHERE COALESCE(p.merged_into, p.id) = $1 AND i.type = 'phone' ORDER BY i.created_at LIMIT 1",
    )
    .bind(profile_id)
    .fetch_optional(&mut *conn)
    .await?)
}

async fn by_profile(conn: &mut Conn, profile: &str) -> Result<Option<Member>> {
    Ok(sqlx::query_as::<_, Member>(&format!(
        "SELECT {COLUMNS} FROM members WHERE profile_id = $1 AND merged_into IS NULL"
    ))
    .bind(profile)
    .fetch_optional(&mut *conn)
    .await?)
}

async fn surviving_profile(conn: &mut Conn, profile_id: &str) -> Result<String> {
    sqlx::query_scalar("SELECT COALESCE(merged_into, id) FROM profiles WHERE id = $1")
        .bind(profile_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::not_found("profile"))
}

async fn identity_owner(conn: &mut Conn, id: &Identifier) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(p.merged_into, p.id) FROM identities i JOIN profiles p ON p.id = i.profile_id \
         WHERE i.type = $1 AND i.value = $2",
    )
    .bind(id.key())
    .bind(&id.value)
    .fetch_optional(&mut *conn)
    .await?)
}

/// One identifier the profile already holds, to tie new ones to it.
async fn anchor_identity(conn: &mut Conn, profile: &str) -> Result<Option<Identifier>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT type, value FROM identities WHERE profile_id = $1 ORDER BY created_at, type LIMIT 1",
    )
    .bind(profile)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|(t, v)| Identifier::new(IdType::parse(&t).ok()?, &v).ok()))
}

async fn attach(conn: &mut Conn, profile: &str, ids: &[Identifier], at: Micros) -> Result<()> {
    for id in ids {
        sqlx::query(
            "INSERT INTO identities (type, value, profile_id, source_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (type, value) DO NOTHING",
        )
        .bind(id.key())
        .bind(&id.value)
        .bind(profile)
        .bind(COVE_SOURCE)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A new card number: the brand prefix and ten random digits.
async fn next_member_no(conn: &mut Conn) -> Result<String> {
    for _ in 0..5 {
        let no = format!(
            "AUR{:010}",
            rand::thread_rng().gen_range(0..10_000_000_000u64)
        );
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM members WHERE member_no = $1")
                .bind(&no)
                .fetch_optional(&mut *conn)
                .await?;
        if taken.is_none() {
            return Ok(no);
        }
    }
    Err(Error::Internal(anyhow::anyhow!(
        "no free member number after five tries"
    )))
}
