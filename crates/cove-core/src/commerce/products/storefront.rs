//! What customers browse: product listings (by category, text, attributes
//! and price, sorted and paged) and a product's detail with its SKUs, options,
//! rules and what is sellable online now.

use super::options::{self, OptionGroup, OptionRule};
use super::skus::{self, BundleItem, Sku, TierPrice};
use super::{Product, ProductRow, PRODUCT_SELECT};
use crate::commerce::inventory;
use crate::db::Conn;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// The brand's order (`position`), then code.
    #[default]
    Position,
    PriceAsc,
    PriceDesc,
    Newest,
}

impl Sort {
    pub fn parse(s: &str) -> Result<Sort> {
        match s {
            "" | "position" => Ok(Sort::Position),
            "price_asc" => Ok(Sort::PriceAsc),
            "price_desc" => Ok(Sort::PriceDesc),
            "newest" => Ok(Sort::Newest),
            _ => Err(Error::invalid(
                "invalid_sort",
                "sort is position, price_asc, price_desc or newest",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Position => "position",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
            Sort::Newest => "newest",
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            Sort::Position => "c.position, p.position, p.code",
            Sort::PriceAsc => "p.price_fen, p.code",
            Sort::PriceDesc => "p.price_fen DESC, p.code",
            Sort::Newest => "p.created_at DESC, p.code",
        }
    }
}

/// A listing: every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub category: Option<String>,
    /// Words matched (case-insensitively) against names, codes and description.
    pub q: Option<String>,
    pub min_price_fen: Option<i64>,
    pub max_price_fen: Option<i64>,
    /// Attributes that must equal these values.
    pub attributes: Vec<(String, String)>,
    /// `None` lists active products only (the storefront); staff name a
    /// status or `all`.
    pub status: Option<String>,
    pub sort: Sort,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Listing {
    /// Products matching, before paging.
    pub total: usize,
    pub items: Vec<Product>,
}

/// `%word%` with LIKE's wildcards escaped, lower-cased.
fn like_pattern(word: &str) -> String {
    let mut out = String::from("%");
    for c in word.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Products matching `query`. Text and price filter in SQL; attributes,
/// stored as JSON text on both databases, filter here.
pub async fn list(conn: &mut Conn, query: &Query) -> Result<Listing> {
    let words: Vec<String> = query
        .q
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .take(8)
        .map(like_pattern)
        .collect();
    let mut sql = format!(
        "{PRODUCT_SELECT} WHERE ($1 IS NULL OR c.code = $1) AND ($2 IS NULL OR p.price_fen >= $2) \
         AND ($3 IS NULL OR p.price_fen <= $3) AND ($4 = 'all' OR p.status = $4)"
    );
    for i in 0..words.len() {
        let n = i + 5;
        sql.push_str(&format!(
            " AND (LOWER(p.name_zh) LIKE ${n} ESCAPE '\\' OR LOWER(p.name_en) LIKE ${n} ESCAPE '\\' \
             OR LOWER(p.code) LIKE ${n} ESCAPE '\\' OR LOWER(p.description) LIKE ${n} ESCAPE '\\' \
             OR EXISTS (SELECT 1 FROM skus s WHERE s.product_id = p.id AND LOWER(s.code) LIKE ${n} ESCAPE '\\'))"
        ));
    }
    sql.push_str(&format!(" ORDER BY {}", query.sort.order_by()));
    let mut q = sqlx::query_as::<_, ProductRow>(&sql)
        .bind(query.category.as_deref().filter(|c| !c.is_empty()))
        .bind(query.min_price_fen)
        .bind(query.max_price_fen)
        .bind(query.status.as_deref().unwrap_or("active"));
    for w in &words {
        q = q.bind(w);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let matching: Vec<Product> = rows
        .into_iter()
        .map(Product::from)
        .filter(|p| {
            query.attributes.iter().all(|(k, v)| {
                p.attributes
                    .get(k)
                    .is_some_and(|have| have.eq_ignore_ascii_case(v))
            })
        })
        .collect();
    let limit = query.limit.clamp(1, 200) as usize;
    let offset = query.offset.max(0) as usize;
    Ok(Listing {
        total: matching.len(),
        items: matching.into_iter().skip(offset).take(limit).collect(),
    })
}

/// The distinct values of each attribute among active products of a
/// category, for the storefront's filters.
pub async fn facets(conn: &mut Conn, category: Option<&str>) -> Result<Vec<(String, Vec<String>)>> {
    let listing = list(
        conn,
        &Query {
            category: category.map(str::to_owned),
            limit: 200,
            ..Query::default()
        },
    )
    .await?;
    let mut map: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for p in listing.items {
        for (k, v) in p.attributes {
            map.entry(k).or_default().insert(v);
        }
    }
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SkuDetail {
    #[serde(flatten)]
    pub sku: Sku,
    /// On hand less reserved over the locations that ship online.
    pub sellable: i64,
    pub tier_prices: Vec<TierPrice>,
    /// For a bundle SKU, what it is made of (its stock is theirs).
    pub bundle_items: Vec<BundleItem>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OptionStock {
    pub option_id: String,
    /// Sellable units of its component SKU; none when it draws on no stock.
    pub sellable: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Detail {
    pub product: Product,
    pub skus: Vec<SkuDetail>,
    pub groups: Vec<OptionGroup>,
    pub rules: Vec<OptionRule>,
    pub option_stock: Vec<OptionStock>,
}

/// A product with everything its page shows. With `active_only`, drafts and
/// archived products and SKUs are hidden (the storefront).
pub async fn detail(conn: &mut Conn, code: &str, active_only: bool) -> Result<Detail> {
    let product = super::get(conn, code).await?;
    if active_only && product.status != "active" {
        return Err(Error::not_found("product"));
    }
    let mut all_skus = skus::of_product(conn, &product.id).await?;
    if active_only {
        all_skus.retain(|s| s.status == "active");
    }
    let mut groups = options::groups(conn, &product.id).await?;
    if active_only {
        for g in &mut groups {
            g.options.retain(|o| o.status == "active");
        }
        groups.retain(|g| !g.options.is_empty());
    }
    let rules = options::rules(conn, &product.id).await?;
    let mut items = HashMap::new();
    for s in &all_skus {
        items.insert(s.id.clone(), skus::bundle_items(conn, &s.id).await?);
    }
    let mut wanted: Vec<String> = all_skus.iter().map(|s| s.id.clone()).collect();
    wanted.extend(items.values().flatten().map(|i| i.sku_id.clone()));
    wanted.extend(
        groups
            .iter()
            .flat_map(|g| &g.options)
            .filter_map(|o| o.component_sku_id.clone()),
    );
    let stock = inventory::sellable_online(conn, &wanted).await?;
    let sellable = |id: &str| stock.get(id).copied().unwrap_or(0);
    let mut sku_details = Vec::new();
    for sku in all_skus {
        let bundle_items = items.remove(&sku.id).unwrap_or_default();
        let own = if bundle_items.is_empty() {
            sellable(&sku.id)
        } else {
            bundle_items
                .iter()
                .map(|i| sellable(&i.sku_id) / i.quantity.max(1))
                .min()
                .unwrap_or(0)
        };
        sku_details.push(SkuDetail {
            tier_prices: skus::tier_prices(conn, &sku.id).await?,
            sellable: own.max(0),
            bundle_items,
            sku,
        });
    }
    let option_stock = groups
        .iter()
        .flat_map(|g| &g.options)
        .map(|o| OptionStock {
            option_id: o.id.clone(),
            sellable: o.component_sku_id.as_deref().map(|id| sellable(id).max(0)),
        })
        .collect();
    Ok(Detail {
        product,
        skus: sku_details,
        groups,
        rules,
        option_stock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("X14"), "%x14%");
        assert_eq!(like_pattern("50%_off"), "%50\\%\\_off%");
    }

    #[test]
    fn sorts_parse_their_names() {
        for s in [
            Sort::Position,
            Sort::PriceAsc,
            Sort::PriceDesc,
            Sort::Newest,
        ] {
            assert_eq!(Sort::parse(s.as_str()).unwrap(), s);
        }
        assert!(Sort::parse("random").is_err());
    }
}
