//! Audience: the customer data platform. Events arrive in the Segment
//! Tracking API format ([`message`]) from sources with write keys; each is
//! stored once per (source, messageId) and attributed to a profile through
//! the identity graph ([`identity`], [`resolve`]).
//!
//! Ingestion ([`ingest`]) runs one transaction per request: every event of
//! the request is stored, or none is. The caller answers 200 only after it
//! returns, i.e. after the commit. Work caused by events (journeys) can be
//! enqueued in that same transaction through [`crate::jobs`].

pub mod audiences;
pub mod computed;
pub mod domain;
pub mod graph;
pub mod identity;
pub mod message;
pub mod profiles;
pub mod reachability;
pub mod resolve;
pub mod sources;
pub mod tags;
pub mod throttle;

pub use identity::{IdType, Identifier};
pub use message::{CallType, Message};
pub use sources::{Source, SourceKind};

use crate::db::{
    backend_of, is_retryable, list_query_scalar, new_id, numbered, Backend, Conn, Db, Multi,
};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// What one ingestion request did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ingested {
    /// Events stored now.
    pub stored: usize,
    /// Events already stored earlier (same source and messageId): acknowledged, not stored again.
    pub duplicates: usize,
    /// The events stored now, for work that follows the commit (tag re-evaluation).
    pub touched: Vec<tags::compute::Touched>,
}

/// Stores `messages` from `source` and resolves their profiles, all in one
/// transaction. Messages whose every identifier is blocked are refused
/// before anything is written.
pub async fn ingest(db: &Db, source_id: &str, messages: &[Message]) -> Result<Ingested> {
    let ids: Vec<Vec<Identifier>> = messages.iter().map(message::identifiers).collect();
    for (i, (m, ids)) in messages.iter().zip(&ids).enumerate() {
        if ids.is_empty() {
            let at = if messages.len() > 1 {
                format!("batch[{i}]: ")
            } else {
                String::new()
            };
            return Err(Error::invalid(
                "missing_identity",
                format!(
                    "{at}the userId/anonymousId of message '{}' is a placeholder value, not an identity",
                    m.message_id
                ),
            ));
        }
    }
    // PostgreSQL may abort one of two transactions that lock the same
    // profiles in opposite orders; the whole request is then simply retried.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ingest_once(db, source_id, messages, &ids).await {
            Err(e) if attempt < 4 && is_retryable(&e) => {
                tracing::debug!(attempt, "ingestion transaction retried after a deadlock");
                tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
            }
            other => return other,
        }
    }
}

async fn ingest_once(
    db: &Db,
    source_id: &str,
    messages: &[Message],
    ids: &[Vec<Identifier>],
) -> Result<Ingested> {
    let mut tx = db.begin().await?;
    if db.backend() == Backend::Postgres {
        lock_identities(&mut tx, messages, ids).await?;
    }
    let known = stored_message_ids(&mut tx, source_id, messages).await?;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Ingested::default();
    let mut fresh: Vec<(&Message, &[Identifier])> = Vec::new();
    for (m, ids) in messages.iter().zip(ids) {
        if known.contains(&m.message_id) || !seen.insert(m.message_id.as_str()) {
            out.duplicates += 1;
        } else {
            fresh.push((m, ids));
        }
    }
    let mut candidates: Vec<Identifier> = Vec::new();
    for (m, ids) in &fresh {
        candidates.extend(graph::candidates(ids, m.previous_id.as_deref()));
    }
    let mut graph = graph::Graph::load(&mut tx, db.backend(), &candidates).await?;
    let now = crate::clock::now();
    let mut resolved: Vec<(&Message, String)> = Vec::with_capacity(fresh.len());
    for (m, ids) in fresh {
        let origin = resolve::Origin {
            source_id,
            message_id: &m.message_id,
            at: m.timestamp,
        };
        let profile = graph.resolve(ids, m.previous_id.as_deref(), &origin);
        let traits = (m.call == CallType::Identify
            && m.traits.as_object().is_some_and(|t| !t.is_empty()))
        .then_some(&m.traits);
        graph.touch(&profile, m.timestamp, traits, now);
        resolved.push((m, profile));
    }
    graph.flush(&mut tx).await?;
    let stored = insert_events(&mut tx, db.backend(), source_id, &resolved).await?;
    for (m, profile) in resolved {
        if stored.contains(&m.message_id) {
            out.stored += 1;
            out.touched.push(tags::compute::Touched {
                profile_id: profile,
                call: m.call,
                event: m.event.clone(),
            });
        } else {
            out.duplicates += 1;
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// Serialises concurrent resolution of the same identifiers across nodes:
/// one transaction-scoped advisory lock per identifier, taken in key order.
async fn lock_identities(
    conn: &mut Conn,
    messages: &[Message],
    ids: &[Vec<Identifier>],
) -> Result<()> {
    let mut keys: Vec<i64> = Vec::new();
    for (m, ids) in messages.iter().zip(ids) {
        keys.extend(ids.iter().map(lock_key));
        if let Some(p) = &m.previous_id {
            for t in [IdType::UserId, IdType::AnonymousId] {
                if let Ok(id) = Identifier::new(t, p) {
                    keys.push(lock_key(&id));
                }
            }
        }
    }
    lock_keys(conn, keys).await
}

/// Takes one transaction-scoped advisory lock per identifier on PostgreSQL,
/// in key order, so that two transactions resolving the same person queue
/// instead of creating two profiles. (SQLite has one writer: nothing to do.)
pub async fn lock_identifiers(conn: &mut Conn, backend: Backend, ids: &[Identifier]) -> Result<()> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    lock_keys(conn, ids.iter().map(lock_key).collect()).await
}

/// Identifier locks one call may take before it locks the whole graph
/// instead. PostgreSQL's lock table is shared by all sessions and sized for
/// about 64 locks per connection, so a large batch cannot take one lock per
/// identifier.
const MAX_IDENTIFIER_LOCKS: usize = 256;

/// Every resolver takes the graph lock: shared beside its identifier locks,
/// or exclusive alone ([`lock_graph`]) when it would need too many of them.
const GRAPH_LOCK: i64 = 0x636f_7665_6772_6170;

/// Locks the whole identity graph for the rest of the transaction on
/// PostgreSQL: no other resolver runs beside it, and later identifier locks
/// in the same transaction are skipped. For work that names more people at
/// once than the lock table holds identifier locks for.
pub async fn lock_graph(conn: &mut Conn, backend: Backend) -> Result<()> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    sqlx::query(
        "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1), \
         set_config('cove.graph_locked', 'on', true)) AS l",
    )
    .bind(GRAPH_LOCK)
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

async fn lock_keys(conn: &mut Conn, mut keys: Vec<i64>) -> Result<()> {
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > MAX_IDENTIFIER_LOCKS {
        return lock_graph(conn, Backend::Postgres).await;
    }
    // The graph lock (shared) first, then the identifiers in key order; none
    // when this transaction already holds the whole graph.
    let values: Vec<String> = std::iter::once(GRAPH_LOCK)
        .chain(keys)
        .map(|k| format!("({k})"))
        .collect();
    // The keys are integers computed here, never client text.
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT CASE WHEN k = {GRAPH_LOCK} THEN pg_advisory_xact_lock_shared(k) \
         ELSE pg_advisory_xact_lock(k) END FROM (VALUES {}) AS t(k) \
         WHERE COALESCE(current_setting('cove.graph_locked', true), '') <> 'on' \
         ORDER BY k = {GRAPH_LOCK} DESC, k) AS s",
        values.join(", ")
    );
    sqlx::query(&sql).fetch_one(&mut *conn).await?;
    Ok(())
}

fn lock_key(id: &Identifier) -> i64 {
    let digest = Sha256::digest(format!("{}\u{0}{}", id.key(), id.value).as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

async fn stored_message_ids(
    conn: &mut Conn,
    source_id: &str,
    messages: &[Message],
) -> Result<HashSet<String>> {
    let mut known = HashSet::new();
    for chunk in messages.chunks(500) {
        let sql = format!(
            "SELECT message_id FROM raw_events WHERE source_id = $1 AND message_id IN ({})",
            numbered(2, chunk.len())
        );
        let mut q = list_query_scalar::<String>(backend_of(conn), &sql).bind(source_id);
        for m in chunk {
            q = q.bind(&m.message_id);
        }
        known.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(known)
}

/// Inserts the events, a few hundred per statement; returns the message ids
/// stored now (a concurrent request may have stored some first).
async fn insert_events(
    conn: &mut Conn,
    backend: Backend,
    source_id: &str,
    events: &[(&Message, String)],
) -> Result<HashSet<String>> {
    let mut stored = HashSet::with_capacity(events.len());
    for chunk in events.chunks(500) {
        let mut rows = Multi::new(
            backend,
            "INSERT INTO raw_events (id, source_id, message_id, type, event, profile_id, anonymous_id, user_id, \
             group_id, previous_id, properties, traits, context, integrations, original_timestamp, sent_at, \
             received_at, occurred_at) VALUES ",
        );
        for (m, profile) in chunk {
            rows.row(|r| {
                r.bind(new_id())
                    .bind(source_id.to_owned())
                    .bind(m.message_id.clone())
                    .bind(m.call.as_str())
                    .bind(m.event.clone())
                    .bind(profile.clone())
                    .bind(m.anonymous_id.clone())
                    .bind(m.user_id.clone())
                    .bind(m.group_id.clone())
                    .bind(m.previous_id.clone())
                    .bind(m.properties.to_string())
                    .bind(m.traits.to_string())
                    .bind(m.context.to_string())
                    .bind(m.integrations.to_string())
                    .bind(m.original_timestamp)
                    .bind(m.sent_at)
                    .bind(m.received_at)
                    .bind(m.timestamp);
            });
        }
        stored.extend(
            rows.returning(
                conn,
                " ON CONFLICT (source_id, message_id) DO NOTHING RETURNING message_id",
            )
            .await?,
        );
    }
    Ok(stored)
}
