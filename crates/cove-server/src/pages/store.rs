//! The storefront: a mobile-first H5 shop with a bottom tab bar. The home
//! shows the catalog's categories, campaigns and featured products; product
//! lists by category or search with filters and sorting; a product's page
//! with its SKUs and, for configurable products, a configurator; tabs whose
//! capability is not built yet show a friendly placeholder.

mod shop;

pub use shop::{product_list, product_page, search};

use super::i18n::{Labels, Lang};
use super::icons::{self, Icon};
use super::{cookie_lang, html, yuan, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use cove_core::clock;
use cove_core::db::Db;
use cove_core::Error;
use serde::Deserialize;
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Home,
    Categories,
    Service,
    Me,
}

pub struct TabItem {
    pub href: &'static str,
    pub label: &'static str,
    pub icon: Icon,
    pub active: bool,
}

/// What the storefront layout needs from every page.
pub struct Frame {
    pub l: &'static Labels,
    pub lang: Lang,
    pub other: Lang,
    pub lang_href: String,
    pub tabs: Vec<TabItem>,
}

pub(crate) fn frame(headers: &HeaderMap, tab: Tab, here: &str) -> Frame {
    let lang = cookie_lang(headers).unwrap_or(Lang::Zh);
    let l = lang.labels();
    let tabs = [
        (Tab::Home, "/", l.tab_home, icons::HOME),
        (
            Tab::Categories,
            "/categories",
            l.tab_categories,
            icons::GRID,
        ),
        (Tab::Service, "/service", l.tab_service, icons::WRENCH),
        (Tab::Me, "/me", l.tab_me, icons::USER),
    ]
    .into_iter()
    .map(|(t, href, label, icon)| TabItem {
        href,
        label,
        icon,
        active: t == tab,
    })
    .collect();
    Frame {
        l,
        lang,
        other: lang.other(),
        lang_href: format!(
            "/lang/{}?next={}",
            lang.other().code(),
            super::percent_encode_component(here)
        ),
        tabs,
    }
}

pub struct Category {
    pub code: String,
    pub name: String,
    pub icon: Icon,
    pub tint: usize,
}

pub struct Product {
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub price: String,
    pub icon: Icon,
    pub tint: usize,
    pub category: String,
    /// The first product image, if it has any.
    pub cover: Option<String>,
}

async fn categories_of(db: &Db, lang: Lang) -> Result<Vec<Category>, Error> {
    let rows = sqlx::query("SELECT code, name_zh, name_en FROM categories ORDER BY position, code")
        .fetch_all(db.read())
        .await?;
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let code: String = r.try_get("code")?;
            let name: String = r.try_get(if lang == Lang::En {
                "name_en"
            } else {
                "name_zh"
            })?;
            Ok(Category {
                icon: icons::product(&code),
                tint: i % 6,
                code,
                name,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// Active products (drafts and archived models are not for sale), by
/// category order, then best sellers of the last 90 days, then price.
async fn products_of(
    db: &Db,
    lang: Lang,
    l: &Labels,
    category: Option<&str>,
    limit: i64,
) -> Result<Vec<Product>, Error> {
    let rows = sqlx::query(
        "SELECT p.code, p.name_zh, p.name_en, p.kind, p.price_fen, p.images, c.code AS category \
         FROM products p JOIN categories c ON c.id = p.category_id \
         LEFT JOIN (SELECT ol.product_id, CAST(SUM(ol.quantity) AS BIGINT) AS sold \
                    FROM order_lines ol JOIN orders o ON o.id = ol.order_id \
                    WHERE o.placed_at >= $3 GROUP BY ol.product_id) s ON s.product_id = p.id \
         WHERE p.status = 'active' AND ($1 IS NULL OR c.code = $1) \
         ORDER BY c.position, c.code, COALESCE(s.sold, 0) DESC, p.price_fen DESC, p.code LIMIT $2",
    )
    .bind(category)
    .bind(limit)
    .bind(clock::now() - 90 * clock::DAY)
    .fetch_all(db.read())
    .await?;
    let mut tints: Vec<String> = Vec::new();
    rows.into_iter()
        .map(|r| {
            let code: String = r.try_get("code")?;
            let category: String = r.try_get("category")?;
            let kind: String = r.try_get("kind")?;
            let images: String = r.try_get("images")?;
            let tint = match tints.iter().position(|c| c == &category) {
                Some(i) => i,
                None => {
                    tints.push(category.clone());
                    tints.len() - 1
                }
            } % 6;
            Ok(Product {
                name: r.try_get(if lang == Lang::En {
                    "name_en"
                } else {
                    "name_zh"
                })?,
                kind: l.product_kind(&kind),
                price: yuan(r.try_get("price_fen")?),
                icon: icons::product(&format!("{category} {code}")),
                tint,
                cover: cover_of(&images),
                category,
                code,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// The first URL of a product's JSON image list.
pub(crate) fn cover_of(images_json: &str) -> Option<String> {
    serde_json::from_str::<Vec<String>>(images_json)
        .ok()
        .and_then(|v| v.into_iter().next())
}

/// A few products from each category in turn, so the home shows the range.
fn featured(products: Vec<Product>, count: usize) -> Vec<Product> {
    let mut groups: Vec<Vec<Product>> = Vec::new();
    for p in products {
        match groups
            .iter_mut()
            .find(|g| g.first().is_some_and(|f| f.category == p.category))
        {
            Some(g) => g.push(p),
            None => groups.push(vec![p]),
        }
    }
    for g in &mut groups {
        g.reverse();
    }
    let mut out = Vec::with_capacity(count);
    while out.len() < count && groups.iter().any(|g| !g.is_empty()) {
        for g in &mut groups {
            if out.len() < count {
                if let Some(p) = g.pop() {
                    out.push(p);
                }
            }
        }
    }
    out
}

#[derive(Template)]
#[template(path = "store/home.html")]
struct Home {
    f: Frame,
    categories: Vec<Category>,
    products: Vec<Product>,
    shortcuts: Vec<(&'static str, Icon)>,
    campaigns: Vec<String>,
}

/// `GET /`: the storefront home.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Home, "/");
    let categories = categories_of(&state.db, f.lang).await?;
    let products = featured(products_of(&state.db, f.lang, f.l, None, 200).await?, 8);
    let shortcuts =
        f.l.service_shortcuts
            .iter()
            .copied()
            .zip([icons::QR, icons::SHIELD, icons::CALENDAR, icons::HEADSET])
            .collect();
    html(&Home {
        f,
        categories,
        products,
        shortcuts,
        campaigns: shop::campaigns(&state.db, lang_of(&headers)).await?,
    })
}

fn lang_of(headers: &HeaderMap) -> Lang {
    cookie_lang(headers).unwrap_or(Lang::Zh)
}

#[derive(Template)]
#[template(path = "store/categories.html")]
struct CategoriesPage {
    f: Frame,
    categories: Vec<Category>,
    current: String,
    products: Vec<Product>,
}

#[derive(Deserialize)]
pub struct CategoryQuery {
    c: Option<String>,
}

/// `GET /categories?c=<code>`: categories on the left, their products on the right.
pub async fn categories(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CategoryQuery>,
) -> PageResult {
    let here = match &q.c {
        Some(c) => format!("/categories?c={c}"),
        None => "/categories".to_owned(),
    };
    let f = frame(&headers, Tab::Categories, &here);
    let categories = categories_of(&state.db, f.lang).await?;
    let current =
        q.c.filter(|c| categories.iter().any(|k| &k.code == c))
            .or_else(|| categories.first().map(|c| c.code.clone()))
            .unwrap_or_default();
    let products = if current.is_empty() {
        Vec::new()
    } else {
        products_of(&state.db, f.lang, f.l, Some(&current), 100).await?
    };
    html(&CategoriesPage {
        f,
        categories,
        current,
        products,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(category: &str, code: &str) -> Product {
        Product {
            code: code.into(),
            name: code.into(),
            kind: "",
            price: String::new(),
            icon: icons::BOX,
            tint: 0,
            category: category.into(),
            cover: None,
        }
    }

    #[test]
    fn featured_takes_from_each_category_in_turn() {
        let picked = featured(
            vec![
                p("a", "a1"),
                p("a", "a2"),
                p("a", "a3"),
                p("b", "b1"),
                p("c", "c1"),
            ],
            4,
        );
        let codes: Vec<_> = picked.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["a1", "b1", "c1", "a2"]);
    }
}
