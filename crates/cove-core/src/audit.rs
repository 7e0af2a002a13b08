//! The audit log: who changed what, when, from where. Written in the same
//! transaction as the change, so the log and the data never disagree.

use crate::clock::{self, Micros};
use crate::db::{new_id, Conn, Db};
use crate::error::Result;
use serde::Serialize;
use serde_json::Value;

/// Who acted: a console user, an API token, or Cove itself.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: &'static str,
    pub id: Option<String>,
    pub label: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            kind: "system",
            id: None,
            label: "cove".into(),
            ip: None,
        }
    }
}

pub async fn record(
    conn: &mut Conn,
    actor: &Actor,
    action: &str,
    target_kind: &str,
    target_id: Option<&str>,
    detail: Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_label, action, target_kind, target_id, detail, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id())
    .bind(clock::now())
    .bind(actor.kind)
    .bind(&actor.id)
    .bind(&actor.label)
    .bind(action)
    .bind(target_kind)
    .bind(target_id)
    .bind(detail.to_string())
    .bind(&actor.ip)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Entry {
    pub id: String,
    pub at: Micros,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub detail: String,
    pub ip: Option<String>,
}

/// Newest first; `before` pages by id (UUIDv7 ids sort by time).
pub async fn list(db: &Db, before: Option<&str>, limit: i64) -> Result<Vec<Entry>> {
    Ok(sqlx::query_as::<_, Entry>(
        "SELECT id, at, actor_kind, actor_id, actor_label, action, target_kind, target_id, detail, ip \
         FROM audit_log WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(before)
    .bind(limit.clamp(1, 500))
    .fetch_all(db.read())
    .await?)
}
