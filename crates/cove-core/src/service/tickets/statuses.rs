//! Ticket statuses: the brand names its own statuses, each over one of the
//! fixed kinds that drive the SLA timers.

use crate::clock::Micros;
use crate::db::Conn;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;

pub const KINDS: &[&str] = &["new", "open", "pending", "solved", "closed"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = TicketStatus)]
pub struct Status {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// One of new, open, pending, solved, closed.
    pub kind: String,
    #[serde(default)]
    pub position: i64,
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Status> {
    Ok(Status {
        code: row.try_get(0)?,
        name_zh: row.try_get(1)?,
        name_en: row.try_get(2)?,
        kind: row.try_get(3)?,
        position: row.try_get(4)?,
    })
}

const COLUMNS: &str = "code, name_zh, name_en, kind, position";

pub async fn list(conn: &mut Conn) -> Result<Vec<Status>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ticket_statuses ORDER BY position, code"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(conn: &mut Conn, code: &str) -> Result<Status> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ticket_statuses WHERE code = $1"
    ))
    .bind(code)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => from_row(&row),
        None => Err(Error::invalid(
            "unknown_status",
            format!("no ticket status {code:?}"),
        )),
    }
}

/// The first status (by position) of a kind: where automatic moves land.
pub async fn first_of_kind(conn: &mut Conn, kind: &str) -> Result<Status> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ticket_statuses WHERE kind = $1 ORDER BY position, code LIMIT 1"
    ))
    .bind(kind)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => from_row(&row),
        None => Err(Error::invalid(
            "unknown_status",
            format!("no ticket status of kind {kind}"),
        )),
    }
}

/// Creates or renames a status. A status in use keeps its kind: tickets'
/// timers were driven by it.
pub async fn upsert(conn: &mut Conn, status: &Status, at: Micros) -> Result<Status> {
    let code = status.code.trim();
    if code.is_empty()
        || code.len() > 40
        || !code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(Error::invalid(
            "invalid_status_code",
            "a status code is 1–40 characters of a–z, 0–9 and _",
        ));
    }
    if !KINDS.contains(&status.kind.as_str()) {
        return Err(Error::invalid(
            "invalid_status_kind",
            format!("kind must be one of {}", KINDS.join(", ")),
        ));
    }
    if status.name_zh.trim().is_empty() || status.name_en.trim().is_empty() {
        return Err(Error::invalid(
            "invalid_status_name",
            "a status needs a Chinese and an English name",
        ));
    }
    let existing: Option<String> =
        sqlx::query_scalar("SELECT kind FROM ticket_statuses WHERE code = $1")
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    match existing {
        Some(kind) => {
            if kind != status.kind {
                let used: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE status = $1")
                        .bind(code)
                        .fetch_one(&mut *conn)
                        .await?;
                if used > 0 {
                    return Err(Error::conflict(
                        "status_in_use",
                        "tickets are in this status; its kind cannot change",
                    ));
                }
                // Every kind keeps a status: automatic moves land on one.
                let siblings: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM ticket_statuses WHERE kind = $1")
                        .bind(&kind)
                        .fetch_one(&mut *conn)
                        .await?;
                if siblings <= 1 {
                    return Err(Error::conflict(
                        "last_status_of_kind",
                        format!("this is the only {kind} status; add another before changing it"),
                    ));
                }
            }
            sqlx::query(
                "UPDATE ticket_statuses SET name_zh = $2, name_en = $3, kind = $4, position = $5, updated_at = $6 \
                 WHERE code = $1",
            )
            .bind(code)
            .bind(status.name_zh.trim())
            .bind(status.name_en.trim())
            .bind(&status.kind)
            .bind(status.position)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO ticket_statuses (code, name_zh, name_en, kind, position, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(code)
            .bind(status.name_zh.trim())
            .bind(status.name_en.trim())
            .bind(&status.kind)
            .bind(status.position)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
    }
    get(conn, code).await
}
