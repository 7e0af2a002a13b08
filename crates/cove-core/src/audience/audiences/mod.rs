//! Saved audiences: boolean expressions over tags and traits, evaluated by
//! the `cove-audience` bitmap engine ([`loader`] builds its population).
//!
//! Membership is stored by a recompute ([`recompute`], job [`RECOMPUTE_JOB`])
//! that diffs the new evaluation with the stored snapshot and emits
//! `audience.entered` / `audience.exited` for each change, keyed by
//! (audience, profile, computation) in the same transaction that advances
//! the computation — a retried job emits nothing twice. Personas are saved
//! audiences with a summary of what sets them apart ([`persona`]).

pub mod loader;

pub use loader::Cache;

use crate::audience::domain::{emit, DomainEvent};
use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{backend_of, list_query, list_query_as, new_id, numbered, Conn, Db, Multi};
use crate::error::{Error, Result};
use crate::jobs::{self, JobCtx, NewJob};
use cove_audience::{Engine, Expr, IssueKind, Population, RoaringBitmap};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;

pub const RECOMPUTE_JOB: &str = "audience.audience.recompute";
pub const RECOMPUTE_ALL_JOB: &str = "audience.audience.recompute_all";
/// Membership rows per multi-row statement.
const WRITE_CHUNK: usize = 500;

/// Reads an expression posted as text (`tag:vip AND trait:total_spend_fen >= 500000`)
/// or as the builder's JSON tree. Errors name the column where reading stopped.
pub fn parse_expression(value: &Value) -> Result<Expr> {
    match value {
        Value::String(text) => cove_audience::parse(text)
            .map_err(|e| Error::invalid("invalid_expression", e.to_string())),
        Value::Object(_) => serde_json::from_value(value.clone()).map_err(|e| {
            Error::invalid(
                "invalid_expression",
                format!("the expression tree cannot be read: {e}"),
            )
        }),
        _ => Err(Error::invalid(
            "invalid_expression",
            "send the expression as text or as a JSON tree",
        )),
    }
}

/// A problem the engine found in an expression (warnings; unknown tags refuse a save).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExpressionIssue {
    pub kind: String,
    pub subject: String,
    pub message: String,
}

fn issues(population: &Population, expr: &Expr) -> Vec<ExpressionIssue> {
    population
        .validate(expr)
        .into_iter()
        .map(|i| ExpressionIssue {
            kind: serde_json::to_value(i.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            subject: i.subject,
            message: i.message,
        })
        .collect()
}

fn refuse_unknown_tags(population: &Population, expr: &Expr) -> Result<()> {
    let unknown: Vec<String> = population
        .validate(expr)
        .into_iter()
        .filter(|i| i.kind == IssueKind::UnknownTag)
        .map(|i| i.subject)
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(
            "unknown_tag",
            format!("no tag with key {}", unknown.join(", ")),
        ))
    }
}

/// A live count while editing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The expression as Cove reads it back.
    pub expression: String,
    pub count: u64,
    /// Live profiles in all.
    pub total: u64,
    pub issues: Vec<ExpressionIssue>,
}

pub async fn preview(db: &Db, cache: &Cache, expression: &Value) -> Result<Preview> {
    let expr = parse_expression(expression)?;
    let engine = cache.fresh(db).await?;
    let population = engine.read();
    Ok(Preview {
        expression: expr.to_string(),
        count: population.count(&expr),
        total: population.len(),
        issues: issues(&population, &expr),
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Audience {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Canonical text form of the expression.
    pub expression: String,
    pub persona: bool,
    /// Members at the last recompute.
    pub member_count: i64,
    pub computation: i64,
    pub last_computed_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

const COLUMNS: &str = "id, name, description, expression, persona_at, member_count, computation, \
                       last_computed_at, created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Audience> {
    let persona: Option<i64> = r.try_get("persona_at")?;
    Ok(Audience {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        expression: r.try_get("expression")?,
        persona: persona.is_some(),
        member_count: r.try_get("member_count")?,
        computation: r.try_get("computation")?,
        last_computed_at: r.try_get("last_computed_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Text (`tag:vip AND NOT tag:churn_risk`) or a JSON tree.
    #[schema(value_type = Object)]
    pub expression: Value,
    /// Show it as a persona, with what distinguishes it.
    #[serde(default)]
    pub persona: bool,
}

async fn checked(db: &Db, cache: &Cache, input: &AudienceInput) -> Result<String> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a name of 1 to 100 characters is required",
        ));
    }
    let expr = parse_expression(&input.expression)?;
    let engine = cache.fresh(db).await?;
    refuse_unknown_tags(&engine.read(), &expr)?;
    Ok(expr.to_string())
}

/// Saves a new audience (audited) and enqueues its first recompute.
pub async fn create(
    db: &Db,
    cache: &Cache,
    actor: &Actor,
    input: &AudienceInput,
) -> Result<Audience> {
    let expression = checked(db, cache, input).await?;
    let id = new_id();
    let now = clock::now();
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "INSERT INTO audiences (id, name, description, expression, persona_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&id)
    .bind(input.name.trim())
    .bind(input.description.trim())
    .bind(&expression)
    .bind(input.persona.then_some(now))
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::conflict(
            "audience_exists",
            "an audience with this name exists",
        ));
    }
    audit::record(
        &mut tx,
        actor,
        "audience.create",
        "audience",
        Some(&id),
        json!({"name": input.name, "expression": expression}),
    )
    .await?;
    enqueue_recompute(&mut tx, &id, 0, "").await?;
    tx.commit().await?;
    get(db, &id).await
}

/// Changes an audience; membership follows at the recompute it enqueues.
pub async fn update(
    db: &Db,
    cache: &Cache,
    actor: &Actor,
    id: &str,
    input: &AudienceInput,
) -> Result<Audience> {
    let current = get(db, id).await?;
    let expression = checked(db, cache, input).await?;
    let now = clock::now();
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE audiences SET name = $1, description = $2, expression = $3, \
         persona_at = CASE WHEN $4 = 1 THEN COALESCE(persona_at, $5) ELSE NULL END, updated_at = $5 WHERE id = $6",
    )
    .bind(input.name.trim())
    .bind(input.description.trim())
    .bind(&expression)
    .bind(i64::from(input.persona))
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "audience.update",
        "audience",
        Some(id),
        json!({"name": input.name, "expression": expression}),
    )
    .await?;
    enqueue_recompute(&mut tx, id, current.computation, &now.to_string()).await?;
    tx.commit().await?;
    get(db, id).await
}

pub async fn list(db: &Db) -> Result<Vec<Audience>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM audiences ORDER BY name"))
        .fetch_all(db.read())
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Audience> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM audiences WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(Error::not_found("audience")),
    }
}

/// Enqueues a recompute; at most one waits per computation and `reason`.
pub async fn enqueue_recompute(
    conn: &mut Conn,
    id: &str,
    computation: i64,
    reason: &str,
) -> Result<Option<String>> {
    jobs::enqueue(
        conn,
        NewJob::new(RECOMPUTE_JOB, json!({ "audience_id": id }))
            .dedupe(format!("{RECOMPUTE_JOB}:{id}:{computation}:{reason}"))
            .max_attempts(5),
    )
    .await
}

/// Profile ids of `ordinals`, in chunks.
async fn ids_of(
    conn: &mut Conn,
    ordinals: &RoaringBitmap,
) -> Result<Vec<(String, Option<String>)>> {
    let all: Vec<u32> = ordinals.iter().collect();
    let mut out = Vec::with_capacity(all.len());
    for chunk in all.chunks(500) {
        let list: Vec<String> = chunk.iter().map(u32::to_string).collect();
        // Integers formatted here, never client text.
        let sql = format!(
            "SELECT id, merged_into FROM profiles WHERE ordinal IN ({}) ORDER BY ordinal",
            list.join(", ")
        );
        let rows: Vec<(String, Option<String>)> = list_query_as(backend_of(conn), &sql)
            .fetch_all(&mut *conn)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// What one recompute changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Recomputed {
    pub entered: u64,
    pub exited: u64,
    pub members: u64,
    pub computation: i64,
}

/// Evaluates audience `id` on `engine` (this node's population, brought up
/// to date by the caller), stores the new snapshot and emits the
/// entered/exited events in the caller's transaction. Membership rows are
/// written with a few multi-row statements; the events, which touch the
/// profiles, come last so those rows stay locked only until the commit.
pub async fn recompute(
    conn: &mut Conn,
    engine: &Engine,
    id: &str,
    now: Micros,
) -> Result<Recomputed> {
    // Lock the audience row first: one recompute per audience at a time.
    let locked = sqlx::query("UPDATE audiences SET member_count = member_count WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if locked == 0 {
        return Ok(Recomputed::default());
    }
    let (expression, computation, name): (String, i64, String) =
        sqlx::query_as("SELECT expression, computation, name FROM audiences WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    let expr = cove_audience::parse(&expression)
        .map_err(|e| Error::invalid("invalid_expression", e.to_string()))?;
    let new = engine.evaluate(&expr);
    let old_ordinals: Vec<i64> = sqlx::query_scalar(
        "SELECT p.ordinal FROM audience_members am JOIN profiles p ON p.id = am.profile_id WHERE am.audience_id = $1",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let old: RoaringBitmap = old_ordinals
        .into_iter()
        .filter_map(|o| u32::try_from(o).ok())
        .collect();
    let change = cove_audience::diff(&old, &new);
    let computation = computation + 1;
    let mut out = Recomputed {
        members: new.len(),
        computation,
        ..Recomputed::default()
    };
    let entered = ids_of(conn, &change.entered).await?;
    let exited = ids_of(conn, &change.exited).await?;
    let backend = backend_of(conn);
    for chunk in entered.chunks(WRITE_CHUNK) {
        let mut insert = Multi::new(
            backend,
            "INSERT INTO audience_members (audience_id, profile_id, since) VALUES ",
        );
        for (profile, _) in chunk {
            let profile = profile.clone();
            let audience = id.to_owned();
            insert.row(|r| {
                r.bind(audience).bind(profile).bind(now);
            });
        }
        insert
            .execute(conn, " ON CONFLICT (audience_id, profile_id) DO NOTHING")
            .await?;
    }
    for chunk in exited.chunks(WRITE_CHUNK) {
        let sql = format!(
            "DELETE FROM audience_members WHERE audience_id = $1 AND profile_id IN ({})",
            numbered(2, chunk.len())
        );
        let mut q = list_query(backend_of(conn), &sql).bind(id);
        for (profile, _) in chunk {
            q = q.bind(profile);
        }
        q.execute(&mut *conn).await?;
    }
    sqlx::query("UPDATE audiences SET member_count = $1, computation = $2, last_computed_at = $3 WHERE id = $4")
        .bind(i64::try_from(out.members).unwrap_or(i64::MAX))
        .bind(computation)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let properties = json!({"audience_id": id, "audience": name});
    for (profile, _) in &entered {
        let event = DomainEvent::new(
            "audience.entered",
            profile,
            format!("audience.entered:{id}:{profile}:{computation}"),
            properties.clone(),
            now,
        );
        emit(conn, &event).await?;
        out.entered += 1;
    }
    for (profile, merged_into) in &exited {
        // A profile merged into another did not leave: it became the survivor.
        if merged_into.is_some() {
            continue;
        }
        let event = DomainEvent::new(
            "audience.exited",
            profile,
            format!("audience.exited:{id}:{profile}:{computation}"),
            properties.clone(),
            now,
        );
        emit(conn, &event).await?;
        out.exited += 1;
    }
    Ok(out)
}

/// Job [`RECOMPUTE_JOB`]: `{"audience_id"}`, on this node's population `cache`.
pub async fn recompute_job(cache: Cache, ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let id = ctx.job.payload["audience_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Brought up to date before the transaction opens, so no lock waits on it.
    let engine = cache.fresh(&ctx.db).await?;
    let mut tx = ctx.db.begin().await?;
    let out = recompute(&mut tx, &engine, &id, clock::now()).await?;
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(audience = %id, entered = out.entered, exited = out.exited, members = out.members, "audience recomputed");
    Ok(())
}

/// Job [`RECOMPUTE_ALL_JOB`] (scheduled): one recompute per audience.
pub async fn recompute_all_job(ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let all: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, computation FROM audiences ORDER BY id")
            .fetch_all(ctx.db.pool())
            .await?;
    let mut tx = ctx.db.begin().await?;
    for (id, computation) in all {
        enqueue_recompute(&mut tx, &id, computation, "scheduled").await?;
    }
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Members of the stored snapshot, up to `n` drawn evenly (reproducible per `seed`).
pub async fn sample(db: &Db, cache: &Cache, id: &str, n: usize, seed: u64) -> Result<Vec<String>> {
    let audience = get(db, id).await?;
    let expr = cove_audience::parse(&audience.expression)
        .map_err(|e| Error::invalid("invalid_expression", e.to_string()))?;
    let engine = cache.fresh(db).await?;
    let members = engine.evaluate(&expr);
    let picked: RoaringBitmap = cove_audience::sample(&members, n.min(200), seed)
        .into_iter()
        .collect();
    let mut conn = db.read().acquire().await?;
    Ok(ids_of(&mut conn, &picked)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// The audience now as CSV: `profile_id,user_id,first_seen_at,last_seen_at`.
pub async fn export_csv(db: &Db, cache: &Cache, id: &str) -> Result<String> {
    let audience = get(db, id).await?;
    let expr = cove_audience::parse(&audience.expression)
        .map_err(|e| Error::invalid("invalid_expression", e.to_string()))?;
    let members = cache.fresh(db).await?.evaluate(&expr);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["profile_id", "user_id", "first_seen_at", "last_seen_at"])
        .map_err(anyhow::Error::new)?;
    let mut conn = db.read().acquire().await?;
    for batch in cove_audience::membership::batches(&members, 500) {
        let list: Vec<String> = batch.iter().map(u32::to_string).collect();
        let sql = format!(
            "SELECT p.id, (SELECT MIN(i.value) FROM identities i WHERE i.profile_id = p.id AND i.type = 'user_id'), \
             p.first_seen_at, p.last_seen_at FROM profiles p WHERE p.ordinal IN ({}) ORDER BY p.ordinal",
            list.join(", ")
        );
        let rows: Vec<(String, Option<String>, i64, i64)> = list_query_as(backend_of(&conn), &sql)
            .fetch_all(&mut *conn)
            .await?;
        for (pid, user, first, last) in rows {
            out.write_record([
                pid,
                user.unwrap_or_default(),
                clock::to_rfc3339(first),
                clock::to_rfc3339(last),
            ])
            .map_err(anyhow::Error::new)?;
        }
    }
    let bytes = out.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    Ok(String::from_utf8(bytes).map_err(anyhow::Error::new)?)
}

/// One way a persona differs from everyone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Distinction {
    /// `tag` or `trait`.
    pub kind: String,
    /// Tag key, or `trait = value`.
    pub subject: String,
    /// Share of the audience that has it (0–1).
    pub share: f64,
    /// Share of all profiles that have it.
    pub baseline: f64,
    /// share / baseline.
    pub lift: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Persona {
    pub audience: Audience,
    pub size: u64,
    pub total: u64,
    /// Tags and trait values over-represented in the audience, strongest first.
    pub distinctions: Vec<Distinction>,
}

/// What distinguishes an audience: tags and categorical trait values whose
/// share in the audience most exceeds their share among all profiles.
pub async fn persona(db: &Db, cache: &Cache, id: &str, top: usize) -> Result<Persona> {
    let audience = get(db, id).await?;
    let expr = cove_audience::parse(&audience.expression)
        .map_err(|e| Error::invalid("invalid_expression", e.to_string()))?;
    let engine = cache.fresh(db).await?;
    let population = engine.read();
    let members = population.evaluate(&expr);
    let size = members.len();
    let total = population.len();
    let mut found: Vec<Distinction> = Vec::new();
    let mut consider = |kind: &str, subject: String, bitmap: &RoaringBitmap| {
        if size == 0 || total == 0 || bitmap.is_empty() {
            return;
        }
        let share = members.intersection_len(bitmap) as f64 / size as f64;
        let baseline = bitmap.len() as f64 / total as f64;
        if share > baseline && share >= 0.05 {
            found.push(Distinction {
                kind: kind.to_owned(),
                subject,
                share,
                baseline,
                lift: share / baseline,
            });
        }
    };
    for name in population.tag_names() {
        if let Some(b) = population.tag(name) {
            consider("tag", name.to_owned(), b);
        }
    }
    for key in population.trait_names() {
        if let Some(column) = population.categorical(key) {
            for (value, _) in column.value_counts().into_iter().take(50) {
                if let Some(b) = column.equal(value) {
                    consider("trait", format!("{key} = {value}"), b);
                }
            }
        }
    }
    found.sort_by(|a, b| b.lift.total_cmp(&a.lift).then(b.share.total_cmp(&a.share)));
    found.truncate(top);
    drop(population);
    Ok(Persona {
        audience,
        size,
        total,
        distinctions: found,
    })
}
