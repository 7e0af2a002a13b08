//! Importing the brand's existing offline members from CSV:
//!
//! ```text
//! card_no,name,phone,tier,points,joined_on,birthday,store_code
//! AUR00012345,王芳,13800138000,gold,1200,2019-05-01,1990-02-14,SH-01
//! ```
//!
//! Every row is checked before anything is written; one bad row refuses the
//! file with each problem listed by line. Rows are keyed by card number: a
//! card already imported (or already a member) is left as it is, so
//! importing the same file twice changes nothing and grants no welcome
//! points or opening balance twice.

use super::points::{self, Award};
use super::{earn, members, tiers, NewMember};
use crate::audience::domain::profile_for;
use crate::audience::{IdType, Identifier};
use crate::clock::Micros;
use crate::db::{Backend, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct Row {
    card_no: String,
    name: String,
    phone: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    points: Option<i64>,
    #[serde(default)]
    joined_on: String,
    #[serde(default)]
    birthday: Option<String>,
    #[serde(default)]
    store_code: Option<String>,
}

/// One refused row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// 1-based line in the file (the header is line 1).
    pub line: usize,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub created: usize,
    /// Cards whose phone was already a member's: linked to that member.
    pub linked: usize,
    /// Cards already known: left unchanged.
    pub unchanged: usize,
    pub errors: Vec<RowError>,
}

struct Checked {
    card: Identifier,
    phone: Identifier,
    row: Row,
    joined_at: Micros,
    store_id: Option<String>,
}

const MAX_ROWS: usize = 100_000;

/// Imports `csv` in the caller's transaction. With errors, nothing is written
/// and the report lists them (the caller rolls back).
pub async fn import(
    conn: &mut Conn,
    backend: Backend,
    csv_text: &str,
    at: Micros,
) -> Result<ImportReport> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let all_tiers = tiers::list(conn).await?;
    let tier_codes: Vec<String> = all_tiers.iter().map(|t| t.code.clone()).collect();
    let rank = |code: &str| {
        all_tiers
            .iter()
            .find(|t| t.code == code)
            .map_or(0, |t| t.rank)
    };
    let mut report = ImportReport::default();
    let mut checked = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, record) in reader.deserialize::<Row>().enumerate() {
        let line = i + 2;
        if i >= MAX_ROWS {
            return Err(Error::invalid(
                "too_many_rows",
                format!("import at most {MAX_ROWS} rows per file"),
            ));
        }
        let fail = |e: Error| RowError {
            line,
            code: e.code().into_owned(),
            message: e.to_string(),
        };
        let row = match record {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(RowError {
                    line,
                    code: "invalid_row".into(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        match check(conn, row, &tier_codes).await {
            Ok(c) if !seen.insert(c.card.value.clone()) => report.errors.push(RowError {
                line,
                code: "duplicate_card".into(),
                message: format!("card {} appears twice in the file", c.card.value),
            }),
            Ok(c) => checked.push(c),
            Err(e) => report.errors.push(fail(e)),
        }
    }
    if !report.errors.is_empty() {
        return Ok(report);
    }
    // One lock for the whole file: a lock per card and phone would overflow
    // PostgreSQL's lock table.
    crate::audience::lock_graph(conn, backend).await?;
    for c in checked {
        let known: Option<String> = sqlx::query_scalar(
            "SELECT profile_id FROM identities WHERE type = 'member_card' AND value = $1",
        )
        .bind(&c.card.value)
        .fetch_optional(&mut *conn)
        .await?;
        if known.is_some() {
            report.unchanged += 1;
            continue;
        }
        let key = format!("member.import:{}", c.card.value);
        let profile =
            profile_for(conn, backend, &[c.card.clone(), c.phone.clone()], &key, at).await?;
        let new = NewMember {
            name: c.row.name.clone(),
            phone: c.phone.value.clone(),
            channel: "import".into(),
            store_id: c.store_id.clone(),
            staff_id: None,
            birthday: c.row.birthday.clone().filter(|b| !b.is_empty()),
        };
        let joined = members::join_with_card(
            conn,
            backend,
            &profile,
            &new,
            Some(&c.card.value),
            c.joined_at,
            at,
        )
        .await?;
        // The phone may already be a member's (joined online): the card then
        // links to that member, who gets the card's points and, if higher, its tier.
        if joined.created {
            report.created += 1;
        } else {
            report.linked += 1;
        }
        let id = joined.member.id;
        let tier = if c.row.tier.is_empty() {
            "regular"
        } else {
            c.row.tier.as_str()
        };
        if rank(tier) > rank(&joined.member.tier) {
            tiers::change(conn, &id, &joined.member.tier, tier, "import", at).await?;
        }
        if let Some(opening) = c.row.points.filter(|p| *p > 0) {
            let award_key = format!("import:{}", c.card.value);
            let award = Award {
                member_id: &id,
                amount: opening,
                source: "import",
                key: &award_key,
                reference: Some(&award_key),
                reason: Some("opening balance"),
                unlock_at: at,
                expires_at: earn::expiry_for(at),
                at,
            };
            points::award(conn, backend, &award).await?;
        }
    }
    Ok(report)
}

async fn check(conn: &mut Conn, row: Row, tier_codes: &[String]) -> Result<Checked> {
    let card = Identifier::new(IdType::MemberCard, &row.card_no.to_uppercase())?;
    if card.value.len() > 32 || !card.value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "invalid_card",
            "a card number is up to 32 letters and digits",
        ));
    }
    let phone = Identifier::new(IdType::Phone, &row.phone)?;
    if row.name.is_empty() || row.name.chars().count() > 50 {
        return Err(Error::invalid(
            "invalid_name",
            "a name is 1 to 50 characters",
        ));
    }
    if !row.tier.is_empty() && !tier_codes.contains(&row.tier) {
        return Err(Error::invalid(
            "invalid_tier",
            format!("tier is one of {}", tier_codes.join(", ")),
        ));
    }
    if row.points.is_some_and(|p| !(0..=10_000_000).contains(&p)) {
        return Err(Error::invalid(
            "invalid_points",
            "opening points are 0 to 10,000,000",
        ));
    }
    if let Some(b) = row.birthday.as_deref().filter(|b| !b.is_empty()) {
        chrono::NaiveDate::parse_from_str(b, "%Y-%m-%d").map_err(|_| {
            Error::invalid("invalid_birthday", "birthday is a date written YYYY-MM-DD")
        })?;
    }
    let joined_at = if row.joined_on.is_empty() {
        crate::clock::now()
    } else {
        chrono::NaiveDate::parse_from_str(&row.joined_on, "%Y-%m-%d")
            .map_err(|_| {
                Error::invalid(
                    "invalid_joined_on",
                    "joined_on is a date written YYYY-MM-DD",
                )
            })?
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp_micros())
            .unwrap_or_default()
    };
    let store_id = match row.store_code.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(code) => Some(
            sqlx::query_scalar::<_, String>("SELECT id FROM stores WHERE code = $1")
                .bind(code)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| {
                    Error::invalid("unknown_store", format!("no store has the code '{code}'"))
                })?,
        ),
    };
    Ok(Checked {
        card,
        phone,
        row,
        joined_at,
        store_id,
    })
}
