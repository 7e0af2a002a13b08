//! The shop's product pages: lists by category (`/c/{code}`) and by search
//! (`/search?q=`) with attribute filters, a price range and sorting, and a
//! product's page (`/p/{code}`) with its SKUs and configurator. The page
//! embeds the product's data; its script computes the live price and which
//! options the rules and stock allow, and adds to the customer's cart.

use super::{frame, Frame, Tab};
use crate::customer::CUSTOMER_COOKIE;
use crate::pages::i18n::Lang;
use crate::pages::icons::{self, Icon};
use crate::pages::{html, yuan, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum_extra::extract::cookie::CookieJar;
use cove_core::access::customers;
use cove_core::clock;
use cove_core::commerce::products::storefront::{self, Detail, Sort};
use cove_core::commerce::products::Product;
use cove_core::commerce::promotions;
use cove_core::db::Db;
use cove_core::Error;
use serde_json::json;
use std::collections::BTreeMap;

pub struct ShopLabels {
    pub sort: &'static str,
    pub sorts: [&'static str; 4],
    pub min_price: &'static str,
    pub max_price: &'static str,
    pub any: &'static str,
    pub apply: &'static str,
    pub results: &'static str,
    pub none: &'static str,
    pub search: &'static str,
    pub members_only: &'static str,
    pub member_price_from: &'static str,
    pub in_stock: &'static str,
    pub out_of_stock: &'static str,
    pub configure: &'static str,
    pub quantity: &'static str,
    pub add_to_cart: &'static str,
    pub sign_in_first: &'static str,
    pub total: &'static str,
    pub includes: &'static str,
    pub cover_months: &'static str,
    pub photos: &'static str,
}

const ZH: ShopLabels = ShopLabels {
    sort: "排序",
    sorts: ["综合", "价格从低到高", "价格从高到低", "新品"],
    min_price: "最低价（元）",
    max_price: "最高价（元）",
    any: "不限",
    apply: "应用",
    results: "件商品",
    none: "没有符合条件的商品",
    search: "搜索",
    members_only: "会员专享",
    member_price_from: "会员价低至",
    in_stock: "现货",
    out_of_stock: "缺货",
    configure: "选择配置",
    quantity: "数量",
    add_to_cart: "加入购物车",
    sign_in_first: "请先登录后再加入购物车",
    total: "合计",
    includes: "套装包含",
    cover_months: "保障月数",
    photos: "张图片",
};

const EN: ShopLabels = ShopLabels {
    sort: "Sort",
    sorts: [
        "Featured",
        "Price: low to high",
        "Price: high to low",
        "Newest",
    ],
    min_price: "Min price (¥)",
    max_price: "Max price (¥)",
    any: "Any",
    apply: "Apply",
    results: "products",
    none: "No product matches",
    search: "Search",
    members_only: "Members only",
    member_price_from: "Member price from",
    in_stock: "In stock",
    out_of_stock: "Out of stock",
    configure: "Configure",
    quantity: "Quantity",
    add_to_cart: "Add to cart",
    sign_in_first: "Sign in to add to your cart",
    total: "Total",
    includes: "The kit includes",
    cover_months: "Months of cover",
    photos: "photos",
};

fn labels(lang: Lang) -> &'static ShopLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

fn name(lang: Lang, zh: &str, en: &str) -> String {
    if lang == Lang::En { en } else { zh }.to_owned()
}

/// Earn-rule campaigns running now (points multiplied), as one line each.
pub async fn campaigns(db: &Db, lang: Lang) -> Result<Vec<String>, Error> {
    let now = clock::now();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT trigger, subject, campaign_pct FROM earn_rules WHERE campaign_pct > 100 \
         AND (starts_at IS NULL OR starts_at <= $1) AND (ends_at IS NULL OR ends_at > $1) ORDER BY id",
    )
    .bind(now)
    .fetch_all(db.read())
    .await?;
    // Flash sales and automatic promotions running now come first.
    let mut conn = db.read().acquire().await?;
    let mut live: Vec<String> = promotions::flash::live_and_upcoming(&mut conn, now)
        .await?
        .into_iter()
        .filter(|s| s.starts_at <= now)
        .map(|s| format!("{} · {}", name(lang, "限时秒杀", "Flash sale"), s.name))
        .collect();
    live.extend(
        promotions::discounts::live(&mut conn, now)
            .await?
            .into_iter()
            .map(|p| p.name),
    );
    Ok(live
        .into_iter()
        .chain(rows.into_iter().map(|(trigger, subject, pct)| {
            let what = if trigger == "spend" && subject == "*" {
                name(lang, "全场购物", "Every purchase")
            } else {
                subject
            };
            let times = pct as f64 / 100.0;
            match lang {
                Lang::Zh => format!("{what}：积分 {times} 倍"),
                Lang::En => format!("{what}: {times}× points"),
            }
        }))
        .collect())
}

pub struct Card {
    pub code: String,
    pub name: String,
    pub price: String,
    pub icon: Icon,
    pub tint: usize,
    pub member_only: bool,
    pub cover: Option<String>,
}

fn card(p: &Product, lang: Lang, i: usize) -> Card {
    Card {
        code: p.code.clone(),
        name: name(lang, &p.name_zh, &p.name_en),
        price: yuan(p.price_fen),
        icon: icons::product(&format!("{} {}", p.category, p.code)),
        tint: i % 6,
        member_only: p.member_only,
        cover: p.images.first().cloned(),
    }
}

pub struct Facet {
    pub key: String,
    pub field: String,
    pub values: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "store/products.html")]
struct ListPage {
    f: Frame,
    s: &'static ShopLabels,
    title: String,
    action: String,
    q: String,
    category: String,
    min: String,
    max: String,
    sort: &'static str,
    sorts: Vec<(&'static str, &'static str)>,
    facets: Vec<Facet>,
    total: usize,
    cards: Vec<Card>,
}

fn to_fen(yuan_text: Option<&String>) -> Option<String> {
    let v: f64 = yuan_text?.trim().parse().ok()?;
    (v >= 0.0).then(|| ((v * 100.0).round() as i64).to_string())
}

async fn render_list(
    state: &AppState,
    headers: &HeaderMap,
    here: String,
    category: Option<String>,
    mut params: BTreeMap<String, String>,
) -> PageResult {
    let f = frame(headers, Tab::Categories, &here);
    let s = labels(f.lang);
    let (min, max) = (
        params.remove("min").unwrap_or_default(),
        params.remove("max").unwrap_or_default(),
    );
    if let Some(fen) = to_fen(Some(&min)) {
        params.insert("min_price".into(), fen);
    }
    if let Some(fen) = to_fen(Some(&max)) {
        params.insert("max_price".into(), fen);
    }
    if let Some(c) = &category {
        params.insert("category".into(), c.clone());
    }
    params.entry("limit".into()).or_insert_with(|| "60".into());
    let query = crate::api::catalog::store_query(&params)?;
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let title = match &category {
        Some(code) => {
            let names: Option<(String, String)> =
                sqlx::query_as("SELECT name_zh, name_en FROM categories WHERE code = $1")
                    .bind(code)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(Error::from)?;
            let (zh, en) = names.ok_or(Error::not_found("category"))?;
            name(f.lang, &zh, &en)
        }
        None => format!("{} “{}”", s.search, query.q.clone().unwrap_or_default()),
    };
    let listing = storefront::list(&mut conn, &query).await?;
    let facets = storefront::facets(&mut conn, category.as_deref())
        .await?
        .into_iter()
        .map(|(key, values)| {
            let chosen = query
                .attributes
                .iter()
                .find(|(k, _)| k == &key)
                .map(|(_, v)| v.clone());
            Facet {
                field: format!("attr.{key}"),
                values: values
                    .into_iter()
                    .map(|v| {
                        let on = chosen.as_deref() == Some(v.as_str());
                        (v, on)
                    })
                    .collect(),
                key,
            }
        })
        .collect();
    let sorts = [
        Sort::Position,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::Newest,
    ]
    .into_iter()
    .zip(s.sorts)
    .map(|(k, label)| (k.as_str(), label))
    .collect();
    html(&ListPage {
        title,
        action: match &category {
            Some(c) => format!("/c/{c}"),
            None => "/search".into(),
        },
        q: query.q.clone().unwrap_or_default(),
        category: category.unwrap_or_default(),
        min,
        max,
        sort: query.sort.as_str(),
        sorts,
        facets,
        total: listing.total,
        cards: listing
            .items
            .iter()
            .enumerate()
            .map(|(i, p)| card(p, f.lang, i))
            .collect(),
        f,
        s,
    })
}

/// `GET /c/{code}`: a category's products with filters and sorting.
pub async fn product_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> PageResult {
    render_list(&state, &headers, format!("/c/{code}"), Some(code), params).await
}

/// `GET /search?q=`: products whose names, codes or description match.
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> PageResult {
    let here = format!(
        "/search?q={}",
        crate::pages::percent_encode_component(params.get("q").map(String::as_str).unwrap_or(""))
    );
    render_list(&state, &headers, here, None, params).await
}

#[derive(Template)]
#[template(path = "store/product.html")]
struct ProductPage {
    f: Frame,
    s: &'static ShopLabels,
    name: String,
    description: String,
    /// Every image, the cover first.
    images: Vec<String>,
    icon: Icon,
    price: String,
    member_only: bool,
    member_price: Option<String>,
    service_months: Option<i64>,
    bundle: Vec<String>,
    groups: Vec<(String, String)>,
    csrf: String,
    data: String,
}

/// JSON for a `<script type="application/json">`: `<` escaped so the
/// text can never close the element.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

fn page_data(d: &Detail, lang: Lang) -> serde_json::Value {
    let stock: BTreeMap<&str, Option<i64>> = d
        .option_stock
        .iter()
        .map(|o| (o.option_id.as_str(), o.sellable))
        .collect();
    json!({
        "product": d.product.code,
        "skus": d.skus.iter().map(|s| json!({
            "id": s.sku.id, "code": s.sku.code, "name": name(lang, &s.sku.name_zh, &s.sku.name_en),
            "price_fen": s.sku.price_fen, "sellable": s.sellable,
            "member_from_fen": s.tier_prices.iter().map(|t| t.price_fen).min(),
        })).collect::<Vec<_>>(),
        "groups": d.groups.iter().map(|g| json!({
            "code": g.code, "name": name(lang, &g.name_zh, &g.name_en), "required": g.required,
            "options": g.options.iter().map(|o| json!({
                "id": o.id, "code": o.code, "name": name(lang, &o.name_zh, &o.name_en),
                "delta_fen": o.price_delta_fen, "default": o.is_default,
                "sellable": stock.get(o.id.as_str()).copied().flatten(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "rules": d.rules.iter().map(|r| json!({
            "option": r.option_id, "kind": r.kind, "other": r.other_option_id, "message": r.message,
        })).collect::<Vec<_>>(),
    })
}

/// The signed-in customer's CSRF token, if any (the cart needs it).
async fn customer_csrf(db: &Db, headers: &HeaderMap) -> Result<String, Error> {
    let Some(token) = CookieJar::from_headers(headers)
        .get(CUSTOMER_COOKIE)
        .map(|c| c.value().to_owned())
    else {
        return Ok(String::new());
    };
    Ok(customers::authenticate(db, &token)
        .await?
        .map(|s| s.csrf)
        .unwrap_or_default())
}

/// `GET /p/{code}`: the product, its SKUs and configurator.
pub async fn product_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> PageResult {
    let f = frame(&headers, Tab::Categories, &format!("/p/{code}"));
    let s = labels(f.lang);
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let d = storefront::detail(&mut conn, &code, true).await?;
    drop(conn);
    let p = &d.product;
    let member_price = d
        .skus
        .iter()
        .flat_map(|s| s.tier_prices.iter().map(|t| t.price_fen))
        .min()
        .map(yuan);
    let bundle = d
        .skus
        .iter()
        .flat_map(|s| &s.bundle_items)
        .map(|i| format!("{} × {}", name(f.lang, &i.name_zh, &i.name_en), i.quantity))
        .collect();
    html(&ProductPage {
        name: name(f.lang, &p.name_zh, &p.name_en),
        description: p.description.clone(),
        images: p.images.clone(),
        icon: icons::product(&format!("{} {}", p.category, p.code)),
        price: yuan(p.price_fen),
        member_only: p.member_only,
        member_price,
        service_months: p.service_months,
        bundle,
        groups: d
            .groups
            .iter()
            .map(|g| (g.code.clone(), name(f.lang, &g.name_zh, &g.name_en)))
            .collect(),
        csrf: customer_csrf(&state.db, &headers).await?,
        data: script_json(&page_data(&d, f.lang)),
        f,
        s,
    })
}
