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
//!
//! A checked file is written in chunks, each committed on its own, so a
//! large file holds its identity locks briefly and never stalls event
//! ingestion. A row the checks cannot foresee being refused (its phone
//! belongs to another registered customer) is listed and the rest land; an
//! import cut off partway is completed by importing the same file again.

use super::points::{self, Award};
use super::tiers::Tier;
use super::{earn, members, tiers, NewMember};
use crate::audience::domain::profile_for;
use crate::audience::{IdType, Identifier};
use crate::clock::Micros;
use crate::db::{self, is_retryable, Backend, Conn, Db};
use crate::error::{Error, Result};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

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
    /// Refused rows. From the checks, nothing was written; otherwise these
    /// rows were refused while writing and every other row landed.
    pub errors: Vec<RowError>,
}

struct Checked {
    line: usize,
    card: Identifier,
    phone: Identifier,
    row: Row,
    joined_at: Micros,
    store_id: Option<String>,
}

const MAX_ROWS: usize = 100_000;
/// Rows per transaction: about two identifier locks each, well inside
/// PostgreSQL's shared lock table, and a second or so of locking at most.
const CHUNK: usize = 200;

/// Checks `csv`, then writes it chunk by chunk. With errors from the checks,
/// nothing is written and the report lists them.
pub async fn import(db: &Db, csv_text: &str, at: Micros) -> Result<ImportReport> {
    let mut conn = db.read().acquire().await?;
    let all_tiers = tiers::list(&mut conn).await?;
    let stores: HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT code, id FROM stores")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    drop(conn);
    let (checked, errors) = check_file(csv_text, &all_tiers, &stores)?;
    if !errors.is_empty() {
        return Ok(ImportReport {
            errors,
            ..ImportReport::default()
        });
    }
    // The round trips dominate on PostgreSQL, so two chunks are written at
    // once there; SQLite has one writer.
    let writers = match db.backend() {
        Backend::Postgres => 2,
        Backend::Sqlite => 1,
    };
    let writes: Vec<_> = checked
        .chunks(CHUNK)
        .map(|chunk| write_chunk(db, chunk, &all_tiers, at))
        .collect();
    let mut report = futures_util::stream::iter(writes)
        .buffer_unordered(writers)
        .try_fold(ImportReport::default(), |mut total, part| async move {
            total.created += part.created;
            total.linked += part.linked;
            total.unchanged += part.unchanged;
            total.errors.extend(part.errors);
            Ok(total)
        })
        .await?;
    report.errors.sort_by_key(|e| e.line);
    Ok(report)
}

fn check_file(
    csv_text: &str,
    all_tiers: &[Tier],
    stores: &HashMap<String, String>,
) -> Result<(Vec<Checked>, Vec<RowError>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let tier_codes: Vec<String> = all_tiers.iter().map(|t| t.code.clone()).collect();
    let mut errors = Vec::new();
    let mut checked = Vec::new();
    let mut seen = HashSet::new();
    for (i, record) in reader.deserialize::<Row>().enumerate() {
        let line = i + 2;
        if i >= MAX_ROWS {
            return Err(Error::invalid(
                "too_many_rows",
                format!("import at most {MAX_ROWS} rows per file"),
            ));
        }
        let checked_row = record
            .map_err(|e| Error::invalid("invalid_row", e.to_string()))
            .and_then(|row| check(line, row, &tier_codes, stores));
        match checked_row {
            Ok(c) if !seen.insert(c.card.value.clone()) => errors.push(RowError {
                line,
                code: "duplicate_card".into(),
                message: format!("card {} appears twice in the file", c.card.value),
            }),
            Ok(c) => checked.push(c),
            Err(e) => errors.push(row_error(line, &e)),
        }
    }
    Ok((checked, errors))
}

fn row_error(line: usize, e: &Error) -> RowError {
    RowError {
        line,
        code: e.code().into_owned(),
        message: e.to_string(),
    }
}

/// Writes one chunk in its own transaction. A row refused by the domain
/// rolls the chunk back and it is written again without that row; a
/// deadlock with another writer (two rows sharing a phone) retries it.
async fn write_chunk(
    db: &Db,
    chunk: &[Checked],
    all_tiers: &[Tier],
    at: Micros,
) -> Result<ImportReport> {
    let mut refused: Vec<RowError> = Vec::new();
    let mut deadlocks = 0;
    'attempt: loop {
        let mut tx = db.begin().await?;
        let known = known_cards(&mut tx, chunk).await?;
        let mut report = ImportReport::default();
        for c in chunk {
            if refused.iter().any(|e| e.line == c.line) {
                continue;
            }
            if known.contains(&c.card.value) {
                report.unchanged += 1;
                continue;
            }
            match write_row(&mut tx, db.backend(), c, all_tiers, at).await {
                Ok(true) => report.created += 1,
                Ok(false) => report.linked += 1,
                Err(e) if is_retryable(&e) && deadlocks < 5 => {
                    deadlocks += 1;
                    tx.rollback().await?;
                    continue 'attempt;
                }
                Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
                    tx.rollback().await?;
                    refused.push(row_error(c.line, &e));
                    continue 'attempt;
                }
                Err(e) => return Err(e),
            }
        }
        tx.commit().await?;
        report.errors = refused;
        return Ok(report);
    }
}

async fn known_cards(conn: &mut Conn, chunk: &[Checked]) -> Result<HashSet<String>> {
    let sql = format!(
        "SELECT value FROM identities WHERE type = 'member_card' AND value IN ({})",
        db::numbered(1, chunk.len())
    );
    let mut query = db::list_query_scalar::<String>(db::backend_of(conn), &sql);
    for c in chunk {
        query = query.bind(&c.card.value);
    }
    Ok(query.fetch_all(&mut *conn).await?.into_iter().collect())
}

/// Joins one card; true when a member was created, false when the card
/// linked to the member who already held its phone.
async fn write_row(
    conn: &mut Conn,
    backend: Backend,
    c: &Checked,
    all_tiers: &[Tier],
    at: Micros,
) -> Result<bool> {
    let rank = |code: &str| {
        all_tiers
            .iter()
            .find(|t| t.code == code)
            .map_or(0, |t| t.rank)
    };
    // The phone may already be a member's (joined online): the card then
    // links to that member, who gets the card's points and, if higher, its tier.
    let (member, created) = match members::link_card(conn, backend, &c.phone, &c.card, at).await? {
        Some(member) => (member, false),
        None => {
            let key = format!("member.import:{}", c.card.value);
            let ids = [c.card.clone(), c.phone.clone()];
            let profile = profile_for(conn, backend, &ids, &key, at).await?;
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
            (joined.member, joined.created)
        }
    };
    let id = member.id;
    let tier = if c.row.tier.is_empty() {
        "regular"
    } else {
        c.row.tier.as_str()
    };
    if rank(tier) > rank(&member.tier) {
        tiers::change(conn, &id, &member.tier, tier, "import", at).await?;
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
    Ok(created)
}

fn check(
    line: usize,
    row: Row,
    tier_codes: &[String],
    stores: &HashMap<String, String>,
) -> Result<Checked> {
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
        Some(code) => Some(stores.get(code).cloned().ok_or_else(|| {
            Error::invalid("unknown_store", format!("no store has the code '{code}'"))
        })?),
    };
    Ok(Checked {
        line,
        card,
        phone,
        row,
        joined_at,
        store_id,
    })
}
