//! What a customer may buy: a SKU, with options when the product is
//! configure-to-order. [`configure`] is the one place that validates a
//! configuration and prices it (base plus option deltas), so the cart,
//! checkout and the configurator all agree.

use crate::db::Conn;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// An option chosen for a configured line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChosenOption {
    pub id: String,
    pub group: String,
    pub code: String,
    pub name: String,
    pub delta_fen: i64,
}

/// A validated, priced configuration of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Configured {
    pub product_id: String,
    pub product_code: String,
    pub sku_id: String,
    pub sku_code: String,
    pub category_code: String,
    pub kind: String,
    pub title: String,
    pub options: Vec<ChosenOption>,
    /// Base price plus option deltas.
    pub list_unit_fen: i64,
    pub base_fen: i64,
    pub member_only: bool,
    pub min_tier: Option<String>,
    /// Service products: (kind, months of cover) granted on payment.
    pub service: Option<(String, i64)>,
    /// The SKUs one unit draws stock from, with quantities (the base or the
    /// bundle's parts, plus the options' component SKUs).
    pub stock: Vec<(String, i64)>,
}

/// Validates `option_ids` for the SKU: options of its product, at most one
/// per group, every required group chosen (its default when none is given),
/// and the requires/excludes rules. Bad input is an error naming the rule.
pub async fn configure(conn: &mut Conn, sku_id: &str, option_ids: &[String]) -> Result<Configured> {
    let row = sqlx::query(
        "SELECT s.id, s.code, s.price_fen, s.status, s.name_zh, p.id, p.code, p.kind, p.status, p.name_zh, \
                p.member_only, p.min_tier, p.service_kind, p.service_months, c.code \
         FROM skus s JOIN products p ON p.id = s.product_id JOIN categories c ON c.id = p.category_id \
         WHERE s.id = $1",
    )
    .bind(sku_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("sku"))?;
    let (sku_status, product_status): (String, String) = (row.try_get(3)?, row.try_get(8)?);
    if sku_status != "active" || product_status != "active" {
        return Err(Error::invalid(
            "not_for_sale",
            "this product is not for sale",
        ));
    }
    let product_id: String = row.try_get(5)?;
    let sku_name: String = row.try_get(4)?;
    let product_name: String = row.try_get(9)?;
    let service_kind: Option<String> = row.try_get(12)?;
    let service_months: Option<i64> = row.try_get(13)?;
    let base_fen: i64 = row.try_get(2)?;

    let options = choose_options(conn, &product_id, option_ids).await?;
    check_rules(conn, &product_id, &options).await?;

    let kind: String = row.try_get(7)?;
    // Services are not stocked; a bundle draws on its parts.
    let mut stock = bundle_parts(conn, sku_id).await?;
    if stock.is_empty() && kind != "service" {
        stock.push((sku_id.to_owned(), 1));
    }
    for o in &options {
        if let Some(component) = &o.1 {
            stock.push((component.clone(), 1));
        }
    }
    let chosen: Vec<ChosenOption> = options.into_iter().map(|(o, _)| o).collect();
    let list_unit_fen = base_fen + chosen.iter().map(|o| o.delta_fen).sum::<i64>();
    if list_unit_fen < 0 {
        return Err(Error::invalid(
            "invalid_configuration",
            "the options make the price negative",
        ));
    }
    let title = if sku_name == product_name || sku_name.is_empty() {
        product_name
    } else {
        format!("{product_name} {sku_name}")
    };
    Ok(Configured {
        product_id,
        product_code: row.try_get(6)?,
        sku_id: sku_id.to_owned(),
        sku_code: row.try_get(1)?,
        category_code: row.try_get(14)?,
        kind,
        title,
        options: chosen,
        list_unit_fen,
        base_fen,
        member_only: row.try_get::<i64, _>(10)? != 0,
        min_tier: row.try_get(11)?,
        service: service_kind.zip(service_months),
        stock: merge_stock(stock),
    })
}

/// The options of the product, picked by id, with defaults filling the
/// required groups left unchosen.
async fn choose_options(
    conn: &mut Conn,
    product_id: &str,
    option_ids: &[String],
) -> Result<Vec<(ChosenOption, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT o.id, g.code, o.code, o.name_zh, o.price_delta_fen, o.component_sku_id, o.is_default, \
                o.status, g.required \
         FROM product_options o JOIN option_groups g ON g.id = o.group_id \
         WHERE g.product_id = $1 ORDER BY g.position, o.position",
    )
    .bind(product_id)
    .fetch_all(&mut *conn)
    .await?;
    let wanted: BTreeSet<&str> = option_ids.iter().map(String::as_str).collect();
    if wanted.len() != option_ids.len() {
        return Err(Error::invalid(
            "duplicate_option",
            "an option is chosen twice",
        ));
    }
    let mut by_group: BTreeMap<String, (ChosenOption, Option<String>)> = BTreeMap::new();
    let mut defaults: BTreeMap<String, (ChosenOption, Option<String>)> = BTreeMap::new();
    let mut required: BTreeSet<String> = BTreeSet::new();
    let mut found = 0;
    for r in rows {
        let id: String = r.try_get(0)?;
        let group: String = r.try_get(1)?;
        let option = ChosenOption {
            id: id.clone(),
            group: group.clone(),
            code: r.try_get(2)?,
            name: r.try_get(3)?,
            delta_fen: r.try_get(4)?,
        };
        let component: Option<String> = r.try_get(5)?;
        let active = r.try_get::<String, _>(7)? == "active";
        if r.try_get::<i64, _>(8)? != 0 {
            required.insert(group.clone());
        }
        if wanted.contains(id.as_str()) {
            found += 1;
            if !active {
                return Err(Error::invalid(
                    "option_unavailable",
                    format!("option {} is no longer offered", option.code),
                ));
            }
            if by_group
                .insert(group.clone(), (option, component))
                .is_some()
            {
                return Err(Error::invalid(
                    "one_option_per_group",
                    format!("choose one option in {group}"),
                ));
            }
        } else if active && r.try_get::<i64, _>(6)? != 0 {
            defaults.entry(group).or_insert((option, component));
        }
    }
    if found != wanted.len() {
        return Err(Error::invalid(
            "unknown_option",
            "an option does not belong to this product",
        ));
    }
    for group in required {
        if let std::collections::btree_map::Entry::Vacant(slot) = by_group.entry(group.clone()) {
            let default = defaults.remove(&group).ok_or_else(|| {
                Error::invalid("option_required", format!("choose an option in {group}"))
            })?;
            slot.insert(default);
        }
    }
    Ok(by_group.into_values().collect())
}

async fn check_rules(
    conn: &mut Conn,
    product_id: &str,
    options: &[(ChosenOption, Option<String>)],
) -> Result<()> {
    let chosen: BTreeSet<&str> = options.iter().map(|(o, _)| o.id.as_str()).collect();
    let rules: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT option_id, kind, other_option_id, message FROM option_rules WHERE product_id = $1",
    )
    .bind(product_id)
    .fetch_all(&mut *conn)
    .await?;
    for (option, kind, other, message) in rules {
        if !chosen.contains(option.as_str()) {
            continue;
        }
        let has_other = chosen.contains(other.as_str());
        let broken = match kind.as_str() {
            "requires" => !has_other,
            _ => has_other,
        };
        if broken {
            let code = if kind == "requires" {
                "option_requires"
            } else {
                "option_excludes"
            };
            let message = if message.is_empty() {
                "these options cannot be combined".to_owned()
            } else {
                message
            };
            return Err(Error::invalid(code, message));
        }
    }
    Ok(())
}

async fn bundle_parts(conn: &mut Conn, sku_id: &str) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT sku_id, quantity FROM bundle_items WHERE bundle_sku_id = $1 ORDER BY sku_id",
    )
    .bind(sku_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// One entry per SKU, sorted, so reservations lock rows in one order.
fn merge_stock(parts: Vec<(String, i64)>) -> Vec<(String, i64)> {
    let mut merged: BTreeMap<String, i64> = BTreeMap::new();
    for (sku, q) in parts {
        *merged.entry(sku).or_default() += q;
    }
    merged.into_iter().collect()
}
