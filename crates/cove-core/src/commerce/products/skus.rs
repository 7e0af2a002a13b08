//! SKUs (the unit that is priced and stocked), their tier prices, and the
//! items a bundle SKU is made of.

use super::{check_attributes, check_code, check_names, check_price, check_status, check_tier};
use super::{parse_attributes_json, refresh_price, Attributes, ProductInput};
use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Sku {
    pub id: String,
    pub product_id: String,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub attributes: Attributes,
    pub price_fen: i64,
    pub status: String,
    pub position: i64,
}

#[derive(sqlx::FromRow)]
struct SkuRow {
    id: String,
    product_id: String,
    code: String,
    name_zh: String,
    name_en: String,
    attributes: String,
    price_fen: i64,
    status: String,
    position: i64,
}

impl From<SkuRow> for Sku {
    fn from(r: SkuRow) -> Self {
        Sku {
            id: r.id,
            product_id: r.product_id,
            code: r.code,
            name_zh: r.name_zh,
            name_en: r.name_en,
            attributes: parse_attributes_json(&r.attributes),
            price_fen: r.price_fen,
            status: r.status,
            position: r.position,
        }
    }
}

const SKU_SELECT: &str = "SELECT id, product_id, code, name_zh, name_en, attributes, price_fen, status, position FROM skus";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct SkuInput {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub attributes: Attributes,
    pub price_fen: i64,
    #[serde(default = "super::default_status")]
    pub status: String,
    #[serde(default)]
    pub position: i64,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SkuPatch {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub attributes: Option<Attributes>,
    pub price_fen: Option<i64>,
    pub status: Option<String>,
    pub position: Option<i64>,
}

pub fn check_sku(s: &SkuInput) -> Result<()> {
    check_code(&s.code, "a SKU")?;
    check_names(&s.name_zh, &s.name_en)?;
    check_price(s.price_fen)?;
    check_status(&s.status)?;
    check_attributes(&s.attributes)
}

pub async fn find(conn: &mut Conn, code: &str) -> Result<Option<Sku>> {
    let row = sqlx::query_as::<_, SkuRow>(&format!("{SKU_SELECT} WHERE code = $1"))
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(Sku::from))
}

pub async fn get(conn: &mut Conn, code: &str) -> Result<Sku> {
    find(conn, code).await?.ok_or(Error::not_found("sku"))
}

pub async fn of_product(conn: &mut Conn, product_id: &str) -> Result<Vec<Sku>> {
    let rows = sqlx::query_as::<_, SkuRow>(&format!(
        "{SKU_SELECT} WHERE product_id = $1 ORDER BY position, code"
    ))
    .bind(product_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(Sku::from).collect())
}

pub(crate) async fn insert(
    conn: &mut Conn,
    product_id: &str,
    s: &SkuInput,
    now: Micros,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO skus (id, product_id, code, name_zh, name_en, attributes, price_fen, status, position, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&id)
    .bind(product_id)
    .bind(&s.code)
    .bind(&s.name_zh)
    .bind(&s.name_en)
    .bind(json!(s.attributes).to_string())
    .bind(s.price_fen)
    .bind(&s.status)
    .bind(s.position)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

pub(crate) async fn write(conn: &mut Conn, id: &str, s: &SkuInput, now: Micros) -> Result<()> {
    sqlx::query(
        "UPDATE skus SET name_zh = $2, name_en = $3, attributes = $4, price_fen = $5, status = $6, position = $7, \
         updated_at = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(&s.name_zh)
    .bind(&s.name_en)
    .bind(json!(s.attributes).to_string())
    .bind(s.price_fen)
    .bind(&s.status)
    .bind(s.position)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The first SKU of a new product: its code, names and price.
pub(crate) async fn insert_default(
    conn: &mut Conn,
    product_id: &str,
    p: &ProductInput,
    now: Micros,
) -> Result<String> {
    let sku = SkuInput {
        code: p.code.clone(),
        name_zh: p.name_zh.clone(),
        name_en: p.name_en.clone(),
        attributes: Attributes::new(),
        price_fen: p.price_fen,
        status: "active".into(),
        position: 0,
    };
    insert(conn, product_id, &sku, now).await
}

async fn sku_code_taken(conn: &mut Conn, code: &str) -> Result<()> {
    if find(conn, code).await?.is_some() {
        return Err(Error::conflict(
            "duplicate_code",
            format!("a SKU {code} exists"),
        ));
    }
    Ok(())
}

/// Adds a SKU to the product `product_code`.
pub async fn add(
    conn: &mut Conn,
    actor: &Actor,
    product_code: &str,
    input: &SkuInput,
) -> Result<Sku> {
    check_sku(input)?;
    let product = super::get(conn, product_code).await?;
    sku_code_taken(conn, &input.code).await?;
    insert(conn, &product.id, input, clock::now()).await?;
    refresh_price(conn, &product.id).await?;
    let sku = get(conn, &input.code).await?;
    audit::record(
        conn,
        actor,
        "catalog.sku.create",
        "sku",
        Some(&sku.id),
        json!({ "product": product_code, "code": sku.code, "price_fen": sku.price_fen }),
    )
    .await?;
    Ok(sku)
}

/// Changes the fields `patch` names. A product keeps at least one active SKU
/// while it is active.
pub async fn update(conn: &mut Conn, actor: &Actor, code: &str, patch: SkuPatch) -> Result<Sku> {
    let current = get(conn, code).await?;
    let next = SkuInput {
        code: current.code.clone(),
        name_zh: patch.name_zh.unwrap_or_else(|| current.name_zh.clone()),
        name_en: patch.name_en.unwrap_or_else(|| current.name_en.clone()),
        attributes: patch
            .attributes
            .unwrap_or_else(|| current.attributes.clone()),
        price_fen: patch.price_fen.unwrap_or(current.price_fen),
        status: patch.status.unwrap_or_else(|| current.status.clone()),
        position: patch.position.unwrap_or(current.position),
    };
    check_sku(&next)?;
    if next.status != "active" && current.status == "active" {
        last_active_guard(conn, &current).await?;
    }
    write(conn, &current.id, &next, clock::now()).await?;
    refresh_price(conn, &current.product_id).await?;
    let sku = get(conn, code).await?;
    if sku != current {
        audit::record(
            conn,
            actor,
            "catalog.sku.update",
            "sku",
            Some(&sku.id),
            json!({ "code": code, "price_fen": [current.price_fen, sku.price_fen], "status": [current.status, sku.status] }),
        )
        .await?;
    }
    Ok(sku)
}

async fn last_active_guard(conn: &mut Conn, sku: &Sku) -> Result<()> {
    let (others, product_status): (i64, String) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM skus WHERE product_id = $1 AND status = 'active' AND id <> $2), \
         (SELECT status FROM products WHERE id = $1)",
    )
    .bind(&sku.product_id)
    .bind(&sku.id)
    .fetch_one(&mut *conn)
    .await?;
    if others == 0 && product_status == "active" {
        return Err(Error::conflict(
            "last_sku",
            "an active product keeps at least one active SKU",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TierPrice {
    pub tier: String,
    pub price_fen: i64,
}

pub async fn tier_prices(conn: &mut Conn, sku_id: &str) -> Result<Vec<TierPrice>> {
    Ok(sqlx::query_as::<_, TierPrice>(
        "SELECT tp.tier, tp.price_fen FROM sku_tier_prices tp LEFT JOIN tiers t ON t.code = tp.tier \
         WHERE tp.sku_id = $1 ORDER BY COALESCE(t.rank, 0), tp.tier",
    )
    .bind(sku_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Replaces the SKU's tier prices with `prices` (one per tier).
pub async fn set_tier_prices(
    conn: &mut Conn,
    actor: &Actor,
    sku_code: &str,
    prices: &[TierPrice],
) -> Result<Vec<TierPrice>> {
    let sku = get(conn, sku_code).await?;
    let mut seen = std::collections::HashSet::new();
    for p in prices {
        check_price(p.price_fen)?;
        check_tier(conn, &p.tier).await?;
        if !seen.insert(p.tier.as_str()) {
            return Err(Error::invalid(
                "duplicate_tier",
                format!("tier {} is priced twice", p.tier),
            ));
        }
    }
    sqlx::query("DELETE FROM sku_tier_prices WHERE sku_id = $1")
        .bind(&sku.id)
        .execute(&mut *conn)
        .await?;
    for p in prices {
        sqlx::query("INSERT INTO sku_tier_prices (sku_id, tier, price_fen) VALUES ($1, $2, $3)")
            .bind(&sku.id)
            .bind(&p.tier)
            .bind(p.price_fen)
            .execute(&mut *conn)
            .await?;
    }
    audit::record(
        conn,
        actor,
        "catalog.sku.tier_prices",
        "sku",
        Some(&sku.id),
        json!({ "code": sku_code, "prices": prices }),
    )
    .await?;
    tier_prices(conn, &sku.id).await
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BundleItemInput {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BundleItem {
    pub sku_id: String,
    pub sku_code: String,
    pub name_zh: String,
    pub name_en: String,
    pub quantity: i64,
}

pub async fn bundle_items(conn: &mut Conn, bundle_sku_id: &str) -> Result<Vec<BundleItem>> {
    Ok(sqlx::query_as::<_, BundleItem>(
        "SELECT b.sku_id, s.code AS sku_code, s.name_zh, s.name_en, b.quantity FROM bundle_items b \
         JOIN skus s ON s.id = b.sku_id WHERE b.bundle_sku_id = $1 ORDER BY s.code",
    )
    .bind(bundle_sku_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub(crate) async fn has_bundle_items(conn: &mut Conn, product_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM bundle_items b JOIN skus s ON s.id = b.bundle_sku_id WHERE s.product_id = $1",
    )
    .bind(product_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Replaces what the bundle SKU `bundle_code` is made of. A bundle is made
/// of at least one SKU of another, non-bundle product.
pub async fn set_bundle_items(
    conn: &mut Conn,
    actor: &Actor,
    bundle_code: &str,
    items: &[BundleItemInput],
) -> Result<Vec<BundleItem>> {
    let bundle = get(conn, bundle_code).await?;
    let product = super::get_by_id(conn, &bundle.product_id).await?;
    if product.kind != "bundle" {
        return Err(Error::invalid(
            "not_a_bundle",
            "only SKUs of bundle products are made of items",
        ));
    }
    if items.is_empty() {
        return Err(Error::invalid(
            "bundle_empty",
            "a bundle has at least one item",
        ));
    }
    let mut resolved = Vec::new();
    for item in items {
        resolved.push((bundle_item(conn, &bundle, item).await?, item.quantity));
    }
    let mut ids: Vec<&String> = resolved.iter().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    if ids.len() != resolved.len() {
        return Err(Error::invalid(
            "duplicate_item",
            "a SKU appears twice in the bundle",
        ));
    }
    sqlx::query("DELETE FROM bundle_items WHERE bundle_sku_id = $1")
        .bind(&bundle.id)
        .execute(&mut *conn)
        .await?;
    for (sku_id, quantity) in &resolved {
        sqlx::query(
            "INSERT INTO bundle_items (bundle_sku_id, sku_id, quantity) VALUES ($1, $2, $3)",
        )
        .bind(&bundle.id)
        .bind(sku_id)
        .bind(quantity)
        .execute(&mut *conn)
        .await?;
    }
    audit::record(
        conn,
        actor,
        "catalog.bundle.set",
        "sku",
        Some(&bundle.id),
        json!({ "code": bundle_code, "items": items }),
    )
    .await?;
    bundle_items(conn, &bundle.id).await
}

async fn bundle_item(conn: &mut Conn, bundle: &Sku, item: &BundleItemInput) -> Result<String> {
    if !(1..=100).contains(&item.quantity) {
        return Err(Error::invalid(
            "invalid_quantity",
            "a bundle holds 1–100 of each item",
        ));
    }
    let sku = find(conn, &item.sku)
        .await?
        .ok_or_else(|| Error::invalid("unknown_sku", format!("no SKU {}", item.sku)))?;
    let kind: String = sqlx::query_scalar("SELECT kind FROM products WHERE id = $1")
        .bind(&sku.product_id)
        .fetch_one(&mut *conn)
        .await?;
    if sku.id == bundle.id || kind == "bundle" {
        return Err(Error::invalid(
            "nested_bundle",
            "a bundle is made of SKUs of other, non-bundle products",
        ));
    }
    Ok(sku.id)
}
