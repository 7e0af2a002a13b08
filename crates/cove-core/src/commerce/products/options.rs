//! Configure-to-order: option groups (CPU, memory, …) of a product, their
//! options with a price delta and the component SKU whose stock they draw
//! on, and the rules between options (one requires or excludes another).
//! A required group has exactly one default option once it has options.

use super::{check_code, check_names, check_status, skus};
use crate::audit::{self, Actor};
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OptionGroup {
    pub id: String,
    pub product_id: String,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub required: bool,
    pub position: i64,
    pub options: Vec<ProductOption>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    product_id: String,
    code: String,
    name_zh: String,
    name_en: String,
    required: i64,
    position: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProductOption {
    pub id: String,
    pub group_id: String,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub price_delta_fen: i64,
    pub component_sku_id: Option<String>,
    pub component_sku: Option<String>,
    pub is_default: bool,
    pub status: String,
    pub position: i64,
}

#[derive(sqlx::FromRow)]
struct OptionRow {
    id: String,
    group_id: String,
    code: String,
    name_zh: String,
    name_en: String,
    price_delta_fen: i64,
    component_sku_id: Option<String>,
    component_sku: Option<String>,
    is_default: i64,
    status: String,
    position: i64,
}

impl From<OptionRow> for ProductOption {
    fn from(r: OptionRow) -> Self {
        ProductOption {
            id: r.id,
            group_id: r.group_id,
            code: r.code,
            name_zh: r.name_zh,
            name_en: r.name_en,
            price_delta_fen: r.price_delta_fen,
            component_sku_id: r.component_sku_id,
            component_sku: r.component_sku,
            is_default: r.is_default != 0,
            status: r.status,
            position: r.position,
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct GroupInput {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub position: i64,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct OptionInput {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub price_delta_fen: i64,
    /// The code of the SKU whose stock this option draws on.
    #[serde(default)]
    pub component_sku: Option<String>,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default = "super::default_status")]
    pub status: String,
    #[serde(default)]
    pub position: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct OptionRule {
    pub id: String,
    pub product_id: String,
    pub option_id: String,
    /// `requires` or `excludes`.
    pub kind: String,
    pub other_option_id: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RuleInput {
    pub option_id: String,
    pub kind: String,
    pub other_option_id: String,
    #[serde(default)]
    pub message: String,
}

const OPTION_SELECT: &str = "SELECT o.id, o.group_id, o.code, o.name_zh, o.name_en, o.price_delta_fen, o.component_sku_id, \
     s.code AS component_sku, o.is_default, o.status, o.position FROM product_options o \
     LEFT JOIN skus s ON s.id = o.component_sku_id";

/// The product's groups with their options, in order.
pub async fn groups(conn: &mut Conn, product_id: &str) -> Result<Vec<OptionGroup>> {
    let rows = sqlx::query_as::<_, GroupRow>(
        "SELECT id, product_id, code, name_zh, name_en, required, position FROM option_groups \
         WHERE product_id = $1 ORDER BY position, code",
    )
    .bind(product_id)
    .fetch_all(&mut *conn)
    .await?;
    let options = sqlx::query_as::<_, OptionRow>(&format!(
        "{OPTION_SELECT} JOIN option_groups g ON g.id = o.group_id WHERE g.product_id = $1 ORDER BY o.position, o.code"
    ))
    .bind(product_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut options: Vec<ProductOption> = options.into_iter().map(ProductOption::from).collect();
    Ok(rows
        .into_iter()
        .map(|g| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                options.drain(..).partition(|o| o.group_id == g.id);
            options = rest;
            OptionGroup {
                id: g.id,
                product_id: g.product_id,
                code: g.code,
                name_zh: g.name_zh,
                name_en: g.name_en,
                required: g.required != 0,
                position: g.position,
                options: mine,
            }
        })
        .collect())
}

pub async fn rules(conn: &mut Conn, product_id: &str) -> Result<Vec<OptionRule>> {
    Ok(sqlx::query_as::<_, OptionRule>(
        "SELECT id, product_id, option_id, kind, other_option_id, message FROM option_rules \
         WHERE product_id = $1 ORDER BY id",
    )
    .bind(product_id)
    .fetch_all(&mut *conn)
    .await?)
}

async fn group_of(conn: &mut Conn, product_id: &str, code: &str) -> Result<Option<OptionGroup>> {
    Ok(groups(conn, product_id)
        .await?
        .into_iter()
        .find(|g| g.code == code))
}

/// Creates the group or updates the product's group with this code.
pub async fn save_group(
    conn: &mut Conn,
    actor: &Actor,
    product_code: &str,
    input: &GroupInput,
) -> Result<OptionGroup> {
    check_code(&input.code, "an option group")?;
    check_names(&input.name_zh, &input.name_en)?;
    let product = super::get(conn, product_code).await?;
    sqlx::query(
        "INSERT INTO option_groups (id, product_id, code, name_zh, name_en, required, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (product_id, code) DO UPDATE SET \
         name_zh = excluded.name_zh, name_en = excluded.name_en, required = excluded.required, position = excluded.position",
    )
    .bind(new_id())
    .bind(&product.id)
    .bind(&input.code)
    .bind(&input.name_zh)
    .bind(&input.name_en)
    .bind(i64::from(input.required))
    .bind(input.position)
    .execute(&mut *conn)
    .await?;
    let group = group_of(conn, &product.id, &input.code)
        .await?
        .ok_or(Error::not_found("option group"))?;
    check_defaults(&group)?;
    audit::record(
        conn,
        actor,
        "catalog.option_group.save",
        "option_group",
        Some(&group.id),
        json!({ "product": product_code, "code": input.code, "required": input.required }),
    )
    .await?;
    Ok(group)
}

/// A required group with active options has exactly one active default; any
/// group has at most one default.
fn check_defaults(group: &OptionGroup) -> Result<()> {
    let active: Vec<&ProductOption> = group
        .options
        .iter()
        .filter(|o| o.status == "active")
        .collect();
    let defaults = active.iter().filter(|o| o.is_default).count();
    if defaults > 1 || (group.required && !active.is_empty() && defaults != 1) {
        return Err(Error::invalid(
            "default_required",
            format!(
                "group {} needs exactly one active default option{}",
                group.code,
                if group.required { "" } else { " at most" }
            ),
        ));
    }
    Ok(())
}

/// Creates or updates (by code) an option of the group `group_code`. Making
/// an option the default takes the default from the others.
pub async fn save_option(
    conn: &mut Conn,
    actor: &Actor,
    product_code: &str,
    group_code: &str,
    input: &OptionInput,
) -> Result<ProductOption> {
    check_code(&input.code, "an option")?;
    check_names(&input.name_zh, &input.name_en)?;
    check_status(&input.status)?;
    if input.price_delta_fen.abs() > 100_000_000 {
        return Err(Error::invalid(
            "invalid_price",
            "a price delta is at most ¥1,000,000",
        ));
    }
    let product = super::get(conn, product_code).await?;
    let group = group_of(conn, &product.id, group_code)
        .await?
        .ok_or(Error::not_found("option group"))?;
    let component = match input.component_sku.as_deref().filter(|c| !c.is_empty()) {
        Some(code) => Some(
            skus::find(conn, code)
                .await?
                .ok_or_else(|| Error::invalid("unknown_sku", format!("no SKU {code}")))?
                .id,
        ),
        None => None,
    };
    if input.is_default {
        sqlx::query("UPDATE product_options SET is_default = 0 WHERE group_id = $1 AND code <> $2")
            .bind(&group.id)
            .bind(&input.code)
            .execute(&mut *conn)
            .await?;
    }
    upsert_option(conn, &group.id, input, component.as_deref()).await?;
    let group = group_of(conn, &product.id, group_code)
        .await?
        .ok_or(Error::not_found("option group"))?;
    check_defaults(&group)?;
    let option = group
        .options
        .into_iter()
        .find(|o| o.code == input.code)
        .ok_or(Error::not_found("option"))?;
    audit::record(
        conn,
        actor,
        "catalog.option.save",
        "product_option",
        Some(&option.id),
        json!({ "product": product_code, "group": group_code, "code": input.code,
                "price_delta_fen": input.price_delta_fen, "component_sku": input.component_sku, "is_default": input.is_default }),
    )
    .await?;
    Ok(option)
}

async fn upsert_option(
    conn: &mut Conn,
    group_id: &str,
    input: &OptionInput,
    component: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO product_options (id, group_id, code, name_zh, name_en, price_delta_fen, component_sku_id, is_default, status, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (group_id, code) DO UPDATE SET \
         name_zh = excluded.name_zh, name_en = excluded.name_en, price_delta_fen = excluded.price_delta_fen, \
         component_sku_id = excluded.component_sku_id, is_default = excluded.is_default, status = excluded.status, \
         position = excluded.position",
    )
    .bind(new_id())
    .bind(group_id)
    .bind(&input.code)
    .bind(&input.name_zh)
    .bind(&input.name_en)
    .bind(input.price_delta_fen)
    .bind(component)
    .bind(i64::from(input.is_default))
    .bind(&input.status)
    .bind(input.position)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The group id of an option of the product, or `unknown_option`.
async fn option_group(conn: &mut Conn, product_id: &str, option_id: &str) -> Result<String> {
    sqlx::query_scalar(
        "SELECT o.group_id FROM product_options o JOIN option_groups g ON g.id = o.group_id \
         WHERE o.id = $1 AND g.product_id = $2",
    )
    .bind(option_id)
    .bind(product_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| {
        Error::invalid(
            "unknown_option",
            format!("option {option_id} is not one of this product's"),
        )
    })
}

/// Adds a rule between two options of the product, in different groups.
pub async fn add_rule(
    conn: &mut Conn,
    actor: &Actor,
    product_code: &str,
    input: &RuleInput,
) -> Result<OptionRule> {
    if !matches!(input.kind.as_str(), "requires" | "excludes") {
        return Err(Error::invalid(
            "invalid_rule_kind",
            "a rule requires or excludes",
        ));
    }
    if input.option_id == input.other_option_id {
        return Err(Error::invalid(
            "self_rule",
            "an option cannot require or exclude itself",
        ));
    }
    if input.message.chars().count() > 200 {
        return Err(Error::invalid(
            "message_too_long",
            "a rule's message has at most 200 characters",
        ));
    }
    let product = super::get(conn, product_code).await?;
    let a = option_group(conn, &product.id, &input.option_id).await?;
    let b = option_group(conn, &product.id, &input.other_option_id).await?;
    if a == b {
        return Err(Error::invalid(
            "same_group",
            "options of one group already exclude each other",
        ));
    }
    let exists = rules(conn, &product.id)
        .await?
        .into_iter()
        .any(|r| r.option_id == input.option_id && r.other_option_id == input.other_option_id);
    if exists {
        return Err(Error::conflict(
            "duplicate_rule",
            "these options already have a rule",
        ));
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO option_rules (id, product_id, option_id, kind, other_option_id, message) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&product.id)
    .bind(&input.option_id)
    .bind(&input.kind)
    .bind(&input.other_option_id)
    .bind(&input.message)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        "catalog.option_rule.create",
        "option_rule",
        Some(&id),
        json!({ "product": product_code, "option": input.option_id, "kind": input.kind, "other": input.other_option_id }),
    )
    .await?;
    Ok(OptionRule {
        id,
        product_id: product.id,
        option_id: input.option_id.clone(),
        kind: input.kind.clone(),
        other_option_id: input.other_option_id.clone(),
        message: input.message.clone(),
    })
}

pub async fn delete_rule(conn: &mut Conn, actor: &Actor, rule_id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM option_rules WHERE id = $1")
        .bind(rule_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("option rule"));
    }
    audit::record(
        conn,
        actor,
        "catalog.option_rule.delete",
        "option_rule",
        Some(rule_id),
        json!({}),
    )
    .await
}
