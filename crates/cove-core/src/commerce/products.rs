//! The catalog staff manage: categories and products here; SKUs, tier prices
//! and bundles in [`skus`]; configure-to-order option groups, options and
//! their rules in [`options`]; what the storefront lists and shows in
//! [`storefront`]. Every write is checked whole before anything is written
//! and is audited in the caller's transaction.

pub mod options;
pub mod skus;
pub mod storefront;

use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const KINDS: [&str; 4] = ["device", "accessory", "service", "bundle"];
pub const STATUSES: [&str; 3] = ["active", "draft", "archived"];
pub const SERVICE_KINDS: [&str; 2] = ["warranty_extension", "onsite_upgrade"];

/// Filterable attributes (`{"screen": "14", "use": "gaming"}`).
pub type Attributes = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Category {
    pub id: String,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub position: i64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CategoryInput {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub position: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Product {
    pub id: String,
    pub code: String,
    /// The category's code.
    pub category: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: String,
    pub description: String,
    /// Image URLs, the first is the cover.
    pub images: Vec<String>,
    pub attributes: Attributes,
    pub member_only: bool,
    pub min_tier: Option<String>,
    pub service_kind: Option<String>,
    pub service_months: Option<i64>,
    pub status: String,
    pub position: i64,
    /// The lowest price of its active SKUs ("from" price).
    pub price_fen: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: String,
    code: String,
    category: String,
    name_zh: String,
    name_en: String,
    kind: String,
    description: String,
    images: String,
    attributes: String,
    member_only: i64,
    min_tier: Option<String>,
    service_kind: Option<String>,
    service_months: Option<i64>,
    status: String,
    position: i64,
    price_fen: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Product {
            id: r.id,
            code: r.code,
            category: r.category,
            name_zh: r.name_zh,
            name_en: r.name_en,
            kind: r.kind,
            description: r.description,
            images: serde_json::from_str(&r.images).unwrap_or_default(),
            attributes: parse_attributes_json(&r.attributes),
            member_only: r.member_only != 0,
            min_tier: r.min_tier,
            service_kind: r.service_kind,
            service_months: r.service_months,
            status: r.status,
            position: r.position,
            price_fen: r.price_fen,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Attributes stored as a JSON object; non-string values are kept as their JSON text.
pub fn parse_attributes_json(text: &str) -> Attributes {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    value
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) const PRODUCT_SELECT: &str = "SELECT p.id, p.code, c.code AS category, p.name_zh, p.name_en, p.kind, p.description, \
     p.images, p.attributes, p.member_only, p.min_tier, p.service_kind, p.service_months, p.status, p.position, \
     p.price_fen, p.created_at, p.updated_at FROM products p JOIN categories c ON c.id = p.category_id";

/// A product as staff send it. On creation `price_fen` prices its first SKU
/// (whose code is the product's code).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct ProductInput {
    pub code: String,
    /// The category's code.
    pub category: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default)]
    pub member_only: bool,
    #[serde(default)]
    pub min_tier: Option<String>,
    #[serde(default)]
    pub service_kind: Option<String>,
    #[serde(default)]
    pub service_months: Option<i64>,
    #[serde(default = "default_status")]
    pub status: String,
    #[serde(default)]
    pub position: i64,
    #[serde(default)]
    pub price_fen: i64,
}

fn default_status() -> String {
    "active".into()
}

/// The fields to change; absent fields stay. An empty `min_tier` or
/// `service_kind` clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ProductPatch {
    pub category: Option<String>,
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub kind: Option<String>,
    pub description: Option<String>,
    pub images: Option<Vec<String>>,
    pub attributes: Option<Attributes>,
    pub member_only: Option<bool>,
    pub min_tier: Option<String>,
    pub service_kind: Option<String>,
    pub service_months: Option<i64>,
    pub status: Option<String>,
    pub position: Option<i64>,
}

impl Product {
    /// The product as an input, to patch or compare.
    pub(crate) fn input(&self) -> ProductInput {
        ProductInput {
            code: self.code.clone(),
            category: self.category.clone(),
            name_zh: self.name_zh.clone(),
            name_en: self.name_en.clone(),
            kind: self.kind.clone(),
            description: self.description.clone(),
            images: self.images.clone(),
            attributes: self.attributes.clone(),
            member_only: self.member_only,
            min_tier: self.min_tier.clone(),
            service_kind: self.service_kind.clone(),
            service_months: self.service_months,
            status: self.status.clone(),
            position: self.position,
            price_fen: self.price_fen,
        }
    }
}

impl ProductPatch {
    fn apply(self, mut p: ProductInput) -> ProductInput {
        let blank = |s: String| Some(s).filter(|s| !s.trim().is_empty());
        if let Some(v) = self.category {
            p.category = v;
        }
        if let Some(v) = self.name_zh {
            p.name_zh = v;
        }
        if let Some(v) = self.name_en {
            p.name_en = v;
        }
        if let Some(v) = self.kind {
            p.kind = v;
        }
        if let Some(v) = self.description {
            p.description = v;
        }
        if let Some(v) = self.images {
            p.images = v;
        }
        if let Some(v) = self.attributes {
            p.attributes = v;
        }
        if let Some(v) = self.member_only {
            p.member_only = v;
        }
        if let Some(v) = self.min_tier {
            p.min_tier = blank(v);
        }
        if let Some(v) = self.service_kind {
            p.service_kind = blank(v);
            if p.service_kind.is_none() {
                p.service_months = None;
            }
        }
        if self.service_months.is_some() {
            p.service_months = self.service_months;
        }
        if let Some(v) = self.status {
            p.status = v;
        }
        if let Some(v) = self.position {
            p.position = v;
        }
        p
    }
}

/// A code staff type and customers see in URLs: 1–64 of `A-Z a-z 0-9 - _ .`.
pub fn check_code(code: &str, what: &str) -> Result<()> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_code",
            format!("{what} code must be 1–64 letters, digits, '-', '_' or '.'"),
        ))
    }
}

pub fn check_names(zh: &str, en: &str) -> Result<()> {
    if zh.trim().is_empty() || en.trim().is_empty() {
        return Err(Error::invalid(
            "name_required",
            "both the Chinese and the English name are required",
        ));
    }
    if zh.chars().count() > 200 || en.chars().count() > 200 {
        return Err(Error::invalid(
            "name_too_long",
            "a name has at most 200 characters",
        ));
    }
    Ok(())
}

pub fn check_price(fen: i64) -> Result<()> {
    if fen < 0 {
        return Err(Error::invalid("invalid_price", "a price is never negative"));
    }
    Ok(())
}

pub fn check_status(status: &str) -> Result<()> {
    if STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_status",
            format!("status is one of {}", STATUSES.join(", ")),
        ))
    }
}

pub fn check_attributes(attributes: &Attributes) -> Result<()> {
    if attributes.len() > 50 {
        return Err(Error::invalid("invalid_attribute", "at most 50 attributes"));
    }
    for (k, v) in attributes {
        let key_ok =
            !k.trim().is_empty() && k.len() <= 40 && !k.contains(['=', ';', '&']) && k.trim() == k;
        if !key_ok || v.len() > 200 || v.contains(';') {
            return Err(Error::invalid(
                "invalid_attribute",
                format!("attribute {k:?}: a key is 1–40 characters without '=', ';' or '&', a value at most 200 without ';'"),
            ));
        }
    }
    Ok(())
}

fn check_images(images: &[String]) -> Result<()> {
    if images.len() > 20 {
        return Err(Error::invalid("invalid_image", "at most 20 images"));
    }
    for url in images {
        let ok = (url.starts_with('/') && !url.starts_with("//"))
            || url.starts_with("https://")
            || url.starts_with("http://");
        if !ok || url.len() > 1000 || url.chars().any(|c| c.is_whitespace() || c == '"') {
            return Err(Error::invalid(
                "invalid_image",
                format!("{url:?} is not an image URL (https://… or /path)"),
            ));
        }
    }
    Ok(())
}

/// An uploaded image must be there and uploaded as a product image (an
/// attachment is private and would not show in the store).
async fn check_uploaded_images(conn: &mut Conn, images: &[String]) -> Result<()> {
    for url in images {
        let Some(id) = crate::files::id_in_url(url) else {
            continue;
        };
        let purpose: Option<String> = sqlx::query_scalar("SELECT purpose FROM files WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if purpose.as_deref() != Some("product_image") {
            return Err(Error::invalid(
                "invalid_image",
                format!("{url:?} is not an uploaded product image"),
            ));
        }
    }
    Ok(())
}

async fn tier_exists(conn: &mut Conn, tier: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tiers WHERE code = $1")
        .bind(tier)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n > 0)
}

pub(crate) async fn check_tier(conn: &mut Conn, tier: &str) -> Result<()> {
    if tier_exists(conn, tier).await? {
        Ok(())
    } else {
        Err(Error::invalid("unknown_tier", format!("no tier {tier:?}")))
    }
}

/// Checks a product as a whole; returns its category's id.
pub async fn check_product(conn: &mut Conn, p: &ProductInput) -> Result<String> {
    check_code(&p.code, "a product")?;
    check_names(&p.name_zh, &p.name_en)?;
    if !KINDS.contains(&p.kind.as_str()) {
        return Err(Error::invalid(
            "invalid_kind",
            format!("kind is one of {}", KINDS.join(", ")),
        ));
    }
    check_status(&p.status)?;
    check_price(p.price_fen)?;
    check_attributes(&p.attributes)?;
    check_images(&p.images)?;
    check_uploaded_images(conn, &p.images).await?;
    if p.description.chars().count() > 20_000 {
        return Err(Error::invalid(
            "description_too_long",
            "a description has at most 20,000 characters",
        ));
    }
    check_service(p)?;
    if let Some(tier) = &p.min_tier {
        if !p.member_only {
            return Err(Error::invalid(
                "min_tier_without_member_only",
                "a minimum tier applies to member-only products",
            ));
        }
        check_tier(conn, tier).await?;
    }
    category_id(conn, &p.category).await
}

fn check_service(p: &ProductInput) -> Result<()> {
    match (&p.service_kind, p.kind.as_str()) {
        (None, _) if p.service_months.is_some() => Err(Error::invalid(
            "service_months_without_kind",
            "months of cover need a service kind",
        )),
        (None, _) => Ok(()),
        (Some(_), kind) if kind != "service" => Err(Error::invalid(
            "service_kind_not_allowed",
            "only service products have a service kind",
        )),
        (Some(sk), _) if !SERVICE_KINDS.contains(&sk.as_str()) => Err(Error::invalid(
            "invalid_service_kind",
            format!("service kind is one of {}", SERVICE_KINDS.join(", ")),
        )),
        (Some(sk), _) if sk == "warranty_extension" => match p.service_months {
            Some(m) if (1..=120).contains(&m) => Ok(()),
            _ => Err(Error::invalid(
                "service_months_required",
                "a warranty extension covers 1–120 months",
            )),
        },
        (Some(_), _) => match p.service_months {
            None => Ok(()),
            Some(m) if (1..=120).contains(&m) => Ok(()),
            Some(_) => Err(Error::invalid(
                "service_months_required",
                "cover lasts 1–120 months",
            )),
        },
    }
}

async fn category_id(conn: &mut Conn, code: &str) -> Result<String> {
    sqlx::query_scalar("SELECT id FROM categories WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::invalid("unknown_category", format!("no category {code:?}")))
}

pub async fn list_categories(conn: &mut Conn) -> Result<Vec<Category>> {
    Ok(sqlx::query_as::<_, Category>(
        "SELECT id, code, name_zh, name_en, position FROM categories ORDER BY position, code",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Creates the category or updates the one with this code.
pub async fn save_category(
    conn: &mut Conn,
    actor: &Actor,
    input: &CategoryInput,
) -> Result<Category> {
    check_code(&input.code, "a category")?;
    check_names(&input.name_zh, &input.name_en)?;
    sqlx::query(
        "INSERT INTO categories (id, code, name_zh, name_en, position) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (code) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en, position = excluded.position",
    )
    .bind(new_id())
    .bind(&input.code)
    .bind(&input.name_zh)
    .bind(&input.name_en)
    .bind(input.position)
    .execute(&mut *conn)
    .await?;
    let saved = sqlx::query_as::<_, Category>(
        "SELECT id, code, name_zh, name_en, position FROM categories WHERE code = $1",
    )
    .bind(&input.code)
    .fetch_one(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        "catalog.category.save",
        "category",
        Some(&saved.id),
        json!({ "code": saved.code, "name_zh": saved.name_zh, "name_en": saved.name_en, "position": saved.position }),
    )
    .await?;
    Ok(saved)
}

pub async fn find(conn: &mut Conn, code: &str) -> Result<Option<Product>> {
    let row = sqlx::query_as::<_, ProductRow>(&format!("{PRODUCT_SELECT} WHERE p.code = $1"))
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(Product::from))
}

pub async fn get(conn: &mut Conn, code: &str) -> Result<Product> {
    find(conn, code).await?.ok_or(Error::not_found("product"))
}

pub async fn get_by_id(conn: &mut Conn, id: &str) -> Result<Product> {
    let row = sqlx::query_as::<_, ProductRow>(&format!("{PRODUCT_SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(Product::from).ok_or(Error::not_found("product"))
}

/// Creates a product with its first SKU (code and names of the product,
/// priced `price_fen`).
pub async fn create(conn: &mut Conn, actor: &Actor, input: &ProductInput) -> Result<Product> {
    let category_id = check_product(conn, input).await?;
    if find(conn, &input.code).await?.is_some() {
        return Err(Error::conflict(
            "duplicate_code",
            format!("a product {} exists", input.code),
        ));
    }
    let id = new_id();
    let now = clock::now();
    insert_row(conn, &id, &category_id, input, now).await?;
    skus::insert_default(conn, &id, input, now).await?;
    let product = get_by_id(conn, &id).await?;
    audit::record(
        conn,
        actor,
        "catalog.product.create",
        "product",
        Some(&id),
        json!({ "code": input.code, "kind": input.kind, "price_fen": input.price_fen, "status": input.status }),
    )
    .await?;
    Ok(product)
}

pub(crate) async fn insert_row(
    conn: &mut Conn,
    id: &str,
    category_id: &str,
    p: &ProductInput,
    now: Micros,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at, \
         description, images, attributes, member_only, min_tier, service_kind, service_months, position, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $9)",
    )
    .bind(id)
    .bind(&p.code)
    .bind(category_id)
    .bind(&p.name_zh)
    .bind(&p.name_en)
    .bind(&p.kind)
    .bind(p.price_fen)
    .bind(&p.status)
    .bind(now)
    .bind(&p.description)
    .bind(json!(p.images).to_string())
    .bind(json!(p.attributes).to_string())
    .bind(i64::from(p.member_only))
    .bind(&p.min_tier)
    .bind(&p.service_kind)
    .bind(p.service_months)
    .bind(p.position)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes every field but the code and the price (its SKUs set that).
pub(crate) async fn update_row(
    conn: &mut Conn,
    id: &str,
    category_id: &str,
    p: &ProductInput,
    now: Micros,
) -> Result<()> {
    sqlx::query(
        "UPDATE products SET category_id = $2, name_zh = $3, name_en = $4, kind = $5, status = $6, description = $7, \
         images = $8, attributes = $9, member_only = $10, min_tier = $11, service_kind = $12, service_months = $13, \
         position = $14, updated_at = $15 WHERE id = $1",
    )
    .bind(id)
    .bind(category_id)
    .bind(&p.name_zh)
    .bind(&p.name_en)
    .bind(&p.kind)
    .bind(&p.status)
    .bind(&p.description)
    .bind(json!(p.images).to_string())
    .bind(json!(p.attributes).to_string())
    .bind(i64::from(p.member_only))
    .bind(&p.min_tier)
    .bind(&p.service_kind)
    .bind(p.service_months)
    .bind(p.position)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Changes the fields `patch` names; the product is checked whole.
pub async fn update(
    conn: &mut Conn,
    actor: &Actor,
    code: &str,
    patch: ProductPatch,
) -> Result<Product> {
    let current = get(conn, code).await?;
    let next = patch.apply(current.input());
    let category_id = check_product(conn, &next).await?;
    if next.kind != "bundle"
        && current.kind == "bundle"
        && skus::has_bundle_items(conn, &current.id).await?
    {
        return Err(Error::conflict(
            "bundle_has_items",
            "remove the bundle's items before changing its kind",
        ));
    }
    if next == current.input() {
        return Ok(current);
    }
    update_row(conn, &current.id, &category_id, &next, clock::now()).await?;
    let product = get_by_id(conn, &current.id).await?;
    let (before, after) = changed(&current, &product);
    audit::record(
        conn,
        actor,
        "catalog.product.update",
        "product",
        Some(&product.id),
        json!({ "code": code, "before": before, "after": after }),
    )
    .await?;
    Ok(product)
}

/// The fields that differ, as (before, after) JSON objects.
fn changed(a: &Product, b: &Product) -> (serde_json::Value, serde_json::Value) {
    let (ja, jb) = (json!(a), json!(b));
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    if let (Some(oa), Some(ob)) = (ja.as_object(), jb.as_object()) {
        for (k, va) in oa {
            if k == "updated_at" {
                continue;
            }
            if let Some(vb) = ob.get(k).filter(|vb| *vb != va) {
                before.insert(k.clone(), va.clone());
                after.insert(k.clone(), vb.clone());
            }
        }
    }
    (before.into(), after.into())
}

/// Keeps `products.price_fen` the lowest price of its active SKUs.
pub(crate) async fn refresh_price(conn: &mut Conn, product_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE products SET price_fen = COALESCE((SELECT MIN(s.price_fen) FROM skus s \
         WHERE s.product_id = $1 AND s.status = 'active'), price_fen) WHERE id = $1",
    )
    .bind(product_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProductInput {
        ProductInput {
            code: "X".into(),
            category: "c".into(),
            name_zh: "甲".into(),
            name_en: "A".into(),
            kind: "service".into(),
            description: String::new(),
            images: vec![],
            attributes: Attributes::new(),
            member_only: false,
            min_tier: None,
            service_kind: Some("warranty_extension".into()),
            service_months: Some(12),
            status: "active".into(),
            position: 0,
            price_fen: 100,
        }
    }

    #[test]
    fn services_carry_their_kind_and_months() {
        assert!(check_service(&input()).is_ok());
        let mut p = input();
        p.service_months = None;
        assert_eq!(
            check_service(&p).unwrap_err().code(),
            "service_months_required"
        );
        let mut p = input();
        p.kind = "device".into();
        assert_eq!(
            check_service(&p).unwrap_err().code(),
            "service_kind_not_allowed"
        );
        let mut p = input();
        p.service_kind = None;
        assert_eq!(
            check_service(&p).unwrap_err().code(),
            "service_months_without_kind"
        );
        p.service_months = None;
        assert!(check_service(&p).is_ok());
    }

    #[test]
    fn codes_and_images_are_checked() {
        assert!(check_code("AUR-NB-X14", "p").is_ok());
        assert!(check_code("a b", "p").is_err());
        assert!(check_code("", "p").is_err());
        assert!(
            check_images(&["https://cdn.example/a.png".into(), "/assets/x.png".into()]).is_ok()
        );
        assert!(check_images(&["javascript:alert(1)".into()]).is_err());
        assert!(check_images(&["//evil.example/x".into()]).is_err());
    }
}
