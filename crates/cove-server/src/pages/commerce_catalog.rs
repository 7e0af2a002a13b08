//! Console pages of the catalog: products (search, filters, create, CSV),
//! one product (its fields, SKUs, tier prices, bundle items, option groups,
//! options and rules) and stock (levels, adjustments, low stock, locations,
//! CSV). Forms send JSON to the catalog API with the session's CSRF token.

use super::console::{Console, Nav};
use super::i18n::Lang;
use super::{html, redirect, yuan, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use cove_core::access::{Access, Area};
use cove_core::commerce::catalog_csv::format_attributes;
use cove_core::commerce::inventory::{self, Level, LevelFilter, Location};
use cove_core::commerce::products::storefront::{self, Detail, Sort};
use cove_core::commerce::products::{self, Category, Product};
use cove_core::Error;
use serde::Deserialize;

pub struct CatalogLabels {
    pub products: &'static str,
    pub stock: &'static str,
    pub search: &'static str,
    pub search_hint: &'static str,
    pub category: &'static str,
    pub status: &'static str,
    pub all: &'static str,
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub kind: &'static str,
    pub price: &'static str,
    pub new_product: &'static str,
    pub create: &'static str,
    pub save: &'static str,
    pub export_csv: &'static str,
    pub import_csv: &'static str,
    pub import: &'static str,
    pub none: &'static str,
    pub description: &'static str,
    pub images: &'static str,
    pub upload_images: &'static str,
    pub image_actions: [&'static str; 3],
    pub attributes: &'static str,
    pub member_only: &'static str,
    pub min_tier: &'static str,
    pub service_kind: &'static str,
    pub service_months: &'static str,
    pub position: &'static str,
    pub skus: &'static str,
    pub add_sku: &'static str,
    pub sellable: &'static str,
    pub tier_prices: &'static str,
    pub tier_prices_hint: &'static str,
    pub bundle_items: &'static str,
    pub bundle_items_hint: &'static str,
    pub option_groups: &'static str,
    pub add_group: &'static str,
    pub required: &'static str,
    pub add_option: &'static str,
    pub delta: &'static str,
    pub component_sku: &'static str,
    pub is_default: &'static str,
    pub rules: &'static str,
    pub add_rule: &'static str,
    pub message: &'static str,
    pub delete: &'static str,
    pub location: &'static str,
    pub locations: &'static str,
    pub on_hand: &'static str,
    pub reserved: &'static str,
    pub adjust: &'static str,
    pub set_count: &'static str,
    pub delta_units: &'static str,
    pub reason: &'static str,
    pub reference: &'static str,
    pub low_stock: &'static str,
    pub add_location: &'static str,
    pub store_code: &'static str,
    pub ships_online: &'static str,
    pub priority: &'static str,
}

const ZH: CatalogLabels = CatalogLabels {
    products: "商品",
    stock: "库存",
    search: "搜索",
    search_hint: "名称、编码或描述",
    category: "类目",
    status: "状态",
    all: "全部",
    code: "编码",
    name_zh: "中文名",
    name_en: "英文名",
    kind: "类型",
    price: "价格（元）",
    new_product: "新建商品",
    create: "创建",
    save: "保存",
    export_csv: "导出 CSV",
    import_csv: "导入 CSV",
    import: "导入",
    none: "暂无",
    description: "描述",
    images: "图片（每行一个 URL，第一张为封面）",
    upload_images: "上传图片（JPEG、PNG、WebP、GIF），保存后生效",
    image_actions: ["前移", "后移", "移除"],
    attributes: "筛选属性（k=v;k=v）",
    member_only: "会员专享",
    min_tier: "最低等级",
    service_kind: "服务类型",
    service_months: "服务月数",
    position: "排序",
    skus: "SKU",
    add_sku: "新增 SKU",
    sellable: "可售",
    tier_prices: "等级价",
    tier_prices_hint: "gold=6799;diamond=6599（元）",
    bundle_items: "套装内容",
    bundle_items_hint: "SKU=数量;SKU=数量",
    option_groups: "配置选项",
    add_group: "新增选项组",
    required: "必选",
    add_option: "新增/修改选项",
    delta: "加价（元）",
    component_sku: "部件 SKU",
    is_default: "默认",
    rules: "选项规则",
    add_rule: "新增规则",
    message: "提示语",
    delete: "删除",
    location: "库位",
    locations: "库位",
    on_hand: "在库",
    reserved: "已占用",
    adjust: "调整库存",
    set_count: "盘点",
    delta_units: "变动数量",
    reason: "原因",
    reference: "单号",
    low_stock: "低库存（线上可售 ≤ 5）",
    add_location: "新增库位",
    store_code: "门店编码",
    ships_online: "线上发货",
    priority: "优先级",
};

const EN: CatalogLabels = CatalogLabels {
    products: "Products",
    stock: "Stock",
    search: "Search",
    search_hint: "Name, code or description",
    category: "Category",
    status: "Status",
    all: "All",
    code: "Code",
    name_zh: "Chinese name",
    name_en: "English name",
    kind: "Kind",
    price: "Price (¥)",
    new_product: "New product",
    create: "Create",
    save: "Save",
    export_csv: "Export CSV",
    import_csv: "Import CSV",
    import: "Import",
    none: "None",
    description: "Description",
    images: "Images (one URL a line, the first is the cover)",
    upload_images: "Upload images (JPEG, PNG, WebP, GIF); save to keep them",
    image_actions: ["Move earlier", "Move later", "Remove"],
    attributes: "Filter attributes (k=v;k=v)",
    member_only: "Members only",
    min_tier: "Minimum tier",
    service_kind: "Service kind",
    service_months: "Months of cover",
    position: "Position",
    skus: "SKUs",
    add_sku: "Add a SKU",
    sellable: "Sellable",
    tier_prices: "Tier prices",
    tier_prices_hint: "gold=6799;diamond=6599 (¥)",
    bundle_items: "Bundle items",
    bundle_items_hint: "SKU=qty;SKU=qty",
    option_groups: "Options",
    add_group: "Add an option group",
    required: "Required",
    add_option: "Add or change an option",
    delta: "Price delta (¥)",
    component_sku: "Component SKU",
    is_default: "Default",
    rules: "Option rules",
    add_rule: "Add a rule",
    message: "Message",
    delete: "Delete",
    location: "Location",
    locations: "Locations",
    on_hand: "On hand",
    reserved: "Reserved",
    adjust: "Adjust stock",
    set_count: "Count",
    delta_units: "Units (+/−)",
    reason: "Reason",
    reference: "Reference",
    low_stock: "Low stock (sellable online ≤ 5)",
    add_location: "Add a location",
    store_code: "Store code",
    ships_online: "Ships online",
    priority: "Priority",
};

fn labels(lang: Lang) -> &'static CatalogLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

async fn conn(state: &AppState) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, Error> {
    state.db.read().acquire().await.map_err(Error::from)
}

/// `GET /admin/commerce`: the catalog is the commerce console's first page.
pub async fn index(console: Console) -> PageResult<Response> {
    console.require(Area::Commerce, Access::Read)?;
    Ok(redirect("/admin/commerce/products"))
}

pub struct ProductRow {
    pub p: Product,
    pub name: String,
    pub price: String,
}

#[derive(Template)]
#[template(path = "console/commerce_products.html")]
struct ProductsPage {
    shell: super::console::Shell,
    c: &'static CatalogLabels,
    q: String,
    category: String,
    status: String,
    categories: Vec<Category>,
    rows: Vec<ProductRow>,
    total: usize,
    can_write: bool,
}

#[derive(Deserialize)]
pub struct ProductsQuery {
    q: Option<String>,
    category: Option<String>,
    status: Option<String>,
}

/// `GET /admin/commerce/products`: search and filter products, create one.
pub async fn products_page(
    State(state): State<AppState>,
    console: Console,
    Query(f): Query<ProductsQuery>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    let mut conn = conn(&state).await?;
    let status = f
        .status
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "all".into());
    if status != "all" {
        products::check_status(&status)?;
    }
    let query = storefront::Query {
        category: f.category.clone().filter(|c| !c.is_empty()),
        q: f.q.clone(),
        status: Some(status.clone()),
        sort: Sort::Position,
        limit: 200,
        ..storefront::Query::default()
    };
    let listing = storefront::list(&mut conn, &query).await?;
    let lang = console.lang;
    let rows = listing
        .items
        .into_iter()
        .map(|p| ProductRow {
            name: if lang == Lang::En {
                p.name_en.clone()
            } else {
                p.name_zh.clone()
            },
            price: yuan(p.price_fen),
            p,
        })
        .collect();
    let c = labels(lang);
    html(&ProductsPage {
        shell: console.shell(Nav::Area(Area::Commerce), c.products),
        c,
        q: f.q.unwrap_or_default(),
        category: f.category.unwrap_or_default(),
        status,
        categories: products::list_categories(&mut conn).await?,
        rows,
        total: listing.total,
        can_write: console.auth.can(Area::Commerce, Access::Write),
    })
}

#[derive(Template)]
#[template(path = "console/commerce_product.html")]
struct ProductPage {
    shell: super::console::Shell,
    c: &'static CatalogLabels,
    d: Detail,
    attributes: String,
    images: String,
    categories: Vec<Category>,
    /// (option id, "group · option") for the rule form and list.
    options: Vec<(String, String)>,
    can_write: bool,
}

impl ProductPage {
    fn option_name(&self, id: &str) -> String {
        self.options
            .iter()
            .find(|(o, _)| o == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.to_owned())
    }

    fn tiers_text(&self, sku: &storefront::SkuDetail) -> String {
        sku.tier_prices
            .iter()
            .map(|t| format!("{}={}", t.tier, yuan_plain(t.price_fen)))
            .collect::<Vec<_>>()
            .join(";")
    }

    fn items_text(&self, sku: &storefront::SkuDetail) -> String {
        sku.bundle_items
            .iter()
            .map(|i| format!("{}={}", i.sku_code, i.quantity))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Fen as a plain yuan number for form fields (`6799` or `12.50`).
pub fn yuan_text(fen: &i64) -> String {
    yuan_plain(*fen)
}

/// Fen as `¥1,234.50` (templates pass references).
pub fn money(fen: &i64) -> String {
    yuan(*fen)
}

fn yuan_plain(fen: i64) -> String {
    if fen % 100 == 0 {
        (fen / 100).to_string()
    } else {
        format!("{}.{:02}", fen / 100, (fen % 100).abs())
    }
}

/// `GET /admin/commerce/products/{code}`: the product with everything it holds.
pub async fn product_page(
    State(state): State<AppState>,
    console: Console,
    Path(code): Path<String>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    let mut conn = conn(&state).await?;
    let d = storefront::detail(&mut conn, &code, false).await?;
    let options = d
        .groups
        .iter()
        .flat_map(|g| {
            g.options
                .iter()
                .map(move |o| (o.id.clone(), format!("{} · {}", g.code, o.code)))
        })
        .collect();
    let c = labels(console.lang);
    html(&ProductPage {
        shell: console.shell(Nav::Area(Area::Commerce), &d.product.code),
        c,
        attributes: format_attributes(&d.product.attributes),
        images: d.product.images.join("\n"),
        categories: products::list_categories(&mut conn).await?,
        options,
        d,
        can_write: console.auth.can(Area::Commerce, Access::Write),
    })
}

#[derive(Template)]
#[template(path = "console/commerce_stock.html")]
struct StockPage {
    shell: super::console::Shell,
    c: &'static CatalogLabels,
    sku: String,
    location: String,
    levels: Vec<Level>,
    low: Vec<(String, String, i64)>,
    locations: Vec<Location>,
    can_write: bool,
}

/// `GET /admin/commerce/stock?sku=&location=`: levels, changes, low stock, locations.
pub async fn stock_page(
    State(state): State<AppState>,
    console: Console,
    Query(filter): Query<LevelFilter>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    let mut conn = conn(&state).await?;
    let c = labels(console.lang);
    html(&StockPage {
        shell: console.shell(Nav::Area(Area::Commerce), c.stock),
        c,
        levels: inventory::levels(&mut conn, &filter).await?,
        low: inventory::low_stock(&mut conn, 5).await?,
        locations: inventory::list_locations(&mut conn).await?,
        sku: filter.sku.unwrap_or_default(),
        location: filter.location.unwrap_or_default(),
        can_write: console.auth.can(Area::Commerce, Access::Write),
    })
}
