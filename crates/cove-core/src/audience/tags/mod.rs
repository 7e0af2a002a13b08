//! Behaviour tags: definitions ([`Tag`]), rules ([`rule`]), who carries each
//! tag (`profile_tags`), recomputation ([`compute`]) and manual assignment
//! and CSV import ([`assign`]).
//!
//! Every change of a profile's tags emits a domain event (`tag.added`,
//! `tag.removed`) in the same transaction, so journeys and the timeline see
//! exactly the changes that happened, once each.

pub mod assign;
pub mod compute;
pub mod rule;

pub use compute::{
    enqueue_reevaluations, recompute, reevaluate_profile, Triggers, RECOMPUTE_ALL_JOB,
    RECOMPUTE_JOB, REEVALUATE_JOB,
};
pub use rule::Rule;

use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{new_id, Conn, Db};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

/// How a tag's members come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TagKind {
    /// Computed from a rule over events and traits.
    Rule,
    /// Assigned by the team one profile at a time.
    Manual,
    /// Loaded from CSV files.
    Import,
}

impl TagKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TagKind::Rule => "rule",
            TagKind::Manual => "manual",
            TagKind::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Result<TagKind> {
        match s {
            "rule" => Ok(TagKind::Rule),
            "manual" => Ok(TagKind::Manual),
            "import" => Ok(TagKind::Import),
            other => Err(Error::invalid(
                "invalid_tag_kind",
                format!("unknown tag kind '{other}' (rule, manual or import)"),
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tag {
    pub id: String,
    /// Stable key used in audience expressions (`tag:<key>`).
    pub key: String,
    pub name: String,
    pub description: String,
    pub kind: TagKind,
    #[schema(value_type = Option<Object>)]
    pub rule: Option<Value>,
    pub member_count: i64,
    /// Finished recomputes so far.
    pub computation: i64,
    pub last_computed_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

const COLUMNS: &str = "id, key, name, description, kind, rule, member_count, computation, \
                       last_computed_at, created_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Tag> {
    let rule: Option<String> = row.try_get("rule")?;
    let kind: String = row.try_get("kind")?;
    Ok(Tag {
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        kind: TagKind::parse(&kind)?,
        rule: rule.and_then(|r| serde_json::from_str(&r).ok()),
        member_count: row.try_get("member_count")?,
        computation: row.try_get("computation")?,
        last_computed_at: row.try_get("last_computed_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// What the team writes when creating or changing a tag.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagInput {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: TagKind,
    /// Required for `rule` tags, refused for the others.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub rule: Option<Value>,
}

/// Tag keys appear in audience expressions: lower-case letters, digits, `_`.
pub fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_tag_key",
            "a tag key is 1 to 64 lower-case letters, digits or _, starting with a letter",
        ))
    }
}

struct Checked {
    rule: Option<(String, Vec<String>)>,
}

fn check(input: &TagInput) -> Result<Checked> {
    check_key(&input.key)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a name of 1 to 100 characters is required",
        ));
    }
    if input.description.chars().count() > 2000 {
        return Err(Error::invalid(
            "invalid_description",
            "a description has at most 2,000 characters",
        ));
    }
    let rule = match (input.kind, &input.rule) {
        (TagKind::Rule, Some(value)) => {
            let rule = Rule::from_json(value)?;
            let text = serde_json::to_string(&rule)?;
            Some((text, rule.triggers()))
        }
        (TagKind::Rule, None) => {
            return Err(Error::invalid("rule_required", "a rule tag needs a rule"))
        }
        (_, Some(_)) => {
            return Err(Error::invalid(
                "rule_not_allowed",
                "only rule tags have a rule",
            ))
        }
        (_, None) => None,
    };
    Ok(Checked { rule })
}

/// Creates a tag (audited); a rule tag gets its first computation enqueued.
pub async fn create(db: &Db, actor: &Actor, input: &TagInput) -> Result<Tag> {
    let checked = check(input)?;
    let id = new_id();
    let now = clock::now();
    let mut tx = db.begin().await?;
    let (rule, triggers) = match &checked.rule {
        Some((text, triggers)) => (Some(text.clone()), serde_json::to_string(triggers)?),
        None => (None, "[]".to_owned()),
    };
    let inserted = sqlx::query(
        "INSERT INTO tags (id, key, name, description, kind, rule, triggers, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&id)
    .bind(&input.key)
    .bind(input.name.trim())
    .bind(input.description.trim())
    .bind(input.kind.as_str())
    .bind(&rule)
    .bind(&triggers)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(Error::conflict(
            "tag_exists",
            format!("a tag with key '{}' already exists", input.key),
        ));
    }
    audit::record(
        &mut tx,
        actor,
        "tag.create",
        "tag",
        Some(&id),
        json!({"key": input.key, "kind": input.kind.as_str(), "rule": input.rule}),
    )
    .await?;
    if input.kind == TagKind::Rule {
        compute::enqueue_recompute(&mut tx, &id, 0).await?;
    }
    tx.commit().await?;
    get(db, &input.key).await
}

/// Changes a tag's name, description and rule (the key and kind stay).
pub async fn update(db: &Db, actor: &Actor, key: &str, input: &TagInput) -> Result<Tag> {
    let current = get(db, key).await?;
    if input.key != current.key || input.kind != current.kind {
        return Err(Error::invalid(
            "immutable_tag_fields",
            "a tag's key and kind cannot change; create another tag",
        ));
    }
    let checked = check(input)?;
    let mut tx = db.begin().await?;
    let (rule, triggers) = match &checked.rule {
        Some((text, triggers)) => (Some(text.clone()), serde_json::to_string(triggers)?),
        None => (None, "[]".to_owned()),
    };
    sqlx::query(
        "UPDATE tags SET name = $1, description = $2, rule = $3, triggers = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(input.name.trim())
    .bind(input.description.trim())
    .bind(&rule)
    .bind(&triggers)
    .bind(clock::now())
    .bind(&current.id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "tag.update",
        "tag",
        Some(&current.id),
        json!({"key": key, "rule": input.rule, "name": input.name}),
    )
    .await?;
    if current.kind == TagKind::Rule {
        compute::enqueue_recompute(&mut tx, &current.id, current.computation).await?;
    }
    tx.commit().await?;
    get(db, key).await
}

pub async fn list(db: &Db) -> Result<Vec<Tag>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tags ORDER BY key"))
        .fetch_all(db.read())
        .await?;
    rows.iter().map(from_row).collect()
}

/// The tag with `key`.
pub async fn get(db: &Db, key: &str) -> Result<Tag> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tags WHERE key = $1"))
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(row) => from_row(&row),
        None => Err(Error::not_found("tag")),
    }
}

pub(crate) async fn get_by_id(conn: &mut Conn, id: &str) -> Result<Option<Tag>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tags WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A tag a profile carries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProfileTag {
    pub key: String,
    pub name: String,
    pub since: Micros,
    /// rule | manual | import
    pub origin: String,
}

/// The tags of a surviving profile (and of profiles merged into it), by key.
pub async fn of_profile(db: &Db, profile_id: &str) -> Result<Vec<ProfileTag>> {
    let rows = sqlx::query(
        "SELECT t.key, t.name, MIN(pt.since) AS since, MIN(pt.origin) AS origin FROM profile_tags pt \
         JOIN tags t ON t.id = pt.tag_id \
         WHERE pt.profile_id IN (SELECT id FROM profiles WHERE id = $1 OR merged_into = $1) \
         GROUP BY t.key, t.name ORDER BY t.key",
    )
    .bind(profile_id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ProfileTag {
                key: r.try_get("key")?,
                name: r.try_get("name")?,
                since: r.try_get("since")?,
                origin: r.try_get("origin")?,
            })
        })
        .collect()
}

/// A member of a tag.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    pub profile_id: String,
    pub since: Micros,
    pub origin: String,
}

/// Members of a tag, newest first, paged by profile id.
pub async fn members(db: &Db, key: &str, before: Option<&str>, limit: i64) -> Result<Vec<Member>> {
    let tag = get(db, key).await?;
    Ok(sqlx::query_as::<_, Member>(
        "SELECT profile_id, since, origin FROM profile_tags WHERE tag_id = $1 AND ($2 = '' OR profile_id < $2) \
         ORDER BY profile_id DESC LIMIT $3",
    )
    .bind(&tag.id)
    .bind(before.unwrap_or(""))
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.read())
    .await?)
}
