//! The demo catalog: laptops, desktops, monitors, accessories and services.

use super::bulk;
use crate::db::{new_id, Db};

/// Who a product appeals to, used to pick what a customer buys:
/// `[everyday/office, gamer, creator/professional]` weights.
pub type Appeal = [u32; 3];

/// (code, name_zh, name_en, position)
pub const CATEGORIES: &[(&str, &str, &str, i64)] = &[
    ("laptops", "笔记本", "Laptops", 1),
    ("desktops", "台式机", "Desktops", 2),
    ("monitors", "显示器", "Monitors", 3),
    ("accessories", "配件", "Accessories", 4),
    ("services", "服务", "Services", 5),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// An older model: sold during the first half of the period only.
    Archived,
    /// Announced, not yet on sale.
    Draft,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Archived => "archived",
            Status::Draft => "draft",
        }
    }
}

/// What a service product does to a device bought with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    None,
    /// Extends the warranty by this many years.
    Extension(i64),
    /// Upgrades service without changing the warranty term.
    Upgrade,
}

#[derive(Debug)]
pub struct Spec {
    pub code: &'static str,
    pub category: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub price_yuan: i64,
    pub status: Status,
    /// Base warranty in years for devices; 0 otherwise.
    pub warranty_years: i64,
    pub service: Service,
    pub appeal: Appeal,
}

impl Spec {
    pub fn kind(&self) -> &'static str {
        match self.category {
            "laptops" | "desktops" | "monitors" => "device",
            "services" => "service",
            _ => "accessory",
        }
    }

    /// The product line marketing targets by, where there is one.
    pub fn line(&self) -> Option<&'static str> {
        (self.category == "laptops" && self.code.starts_with("AUR-NB-STORM"))
            .then_some("gaming_laptop")
    }

    pub fn price_fen(&self) -> i64 {
        self.price_yuan * 100
    }
}

const fn device(
    code: &'static str,
    category: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    price_yuan: i64,
    warranty_years: i64,
    appeal: Appeal,
) -> Spec {
    Spec {
        code,
        category,
        name_zh,
        name_en,
        price_yuan,
        status: Status::Active,
        warranty_years,
        service: Service::None,
        appeal,
    }
}

const fn accessory(
    code: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    price_yuan: i64,
    appeal: Appeal,
) -> Spec {
    Spec {
        code,
        category: "accessories",
        name_zh,
        name_en,
        price_yuan,
        status: Status::Active,
        warranty_years: 0,
        service: Service::None,
        appeal,
    }
}

const fn service(
    code: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    price_yuan: i64,
    service: Service,
    appeal: Appeal,
) -> Spec {
    Spec {
        code,
        category: "services",
        name_zh,
        name_en,
        price_yuan,
        status: Status::Active,
        warranty_years: 0,
        service,
        appeal,
    }
}

const fn with_status(mut spec: Spec, status: Status) -> Spec {
    spec.status = status;
    spec
}

#[rustfmt::skip]
pub const PRODUCTS: &[Spec] = &[
    // Laptops
    device("AUR-NB-NOVA15", "laptops", "极光 Nova 15 全能本", "Aurora Nova 15 Everyday Laptop", 5_499, 1, [30, 2, 2]),
    device("AUR-NB-B14", "laptops", "极光商务 B14 笔记本", "Aurora Business B14 Laptop", 6_499, 2, [22, 1, 4]),
    device("AUR-NB-X14", "laptops", "极光 X14 轻薄本", "Aurora X14 Thin-and-Light", 6_999, 1, [40, 3, 6]),
    device("AUR-NB-X16", "laptops", "极光 X16 大屏轻薄本", "Aurora X16 Thin-and-Light", 7_999, 1, [24, 3, 6]),
    device("AUR-NB-X14P", "laptops", "极光 X14 Pro 轻薄本", "Aurora X14 Pro Thin-and-Light", 8_999, 2, [20, 3, 12]),
    device("AUR-NB-FLIP14", "laptops", "极光 Flip 14 二合一翻转本", "Aurora Flip 14 2-in-1", 8_499, 1, [10, 0, 6]),
    device("AUR-NB-AIR13", "laptops", "极光 Air 13 超轻薄本", "Aurora Air 13 Ultralight", 9_999, 2, [14, 0, 10]),
    device("AUR-NB-STORM15", "laptops", "风暴 15 游戏本 RTX 4050", "Storm 15 Gaming Laptop (RTX 4050)", 7_999, 2, [4, 34, 1]),
    device("AUR-NB-STORM16", "laptops", "风暴 16 游戏本 RTX 4060", "Storm 16 Gaming Laptop (RTX 4060)", 9_999, 2, [3, 40, 2]),
    device("AUR-NB-STORM16X", "laptops", "风暴 16X 游戏本 RTX 4070", "Storm 16X Gaming Laptop (RTX 4070)", 13_999, 2, [1, 26, 4]),
    device("AUR-NB-STORM18", "laptops", "风暴 18 旗舰游戏本 RTX 4090", "Storm 18 Flagship Gaming Laptop (RTX 4090)", 26_999, 2, [0, 7, 3]),
    device("AUR-NB-ATLAS14", "laptops", "阿特拉斯 14 轻薄移动工作站", "Atlas 14 Slim Mobile Workstation", 16_999, 3, [1, 0, 26]),
    device("AUR-NB-ATLAS16", "laptops", "阿特拉斯 16 移动工作站", "Atlas 16 Mobile Workstation", 21_999, 3, [0, 1, 22]),
    with_status(
        device("AUR-NB-X13-2022", "laptops", "极光 X13 轻薄本（2022 款）", "Aurora X13 Thin-and-Light (2022)", 4_699, 1, [12, 1, 2]),
        Status::Archived,
    ),
    with_status(
        device("AUR-NB-STORM18-2026", "laptops", "风暴 18 旗舰游戏本（2026 款，预告）", "Storm 18 Flagship Gaming Laptop (2026, coming soon)", 28_999, 2, [0, 0, 0]),
        Status::Draft,
    ),
    // Desktops
    device("AUR-PC-MINI", "desktops", "极光 Mini 迷你主机", "Aurora Mini PC", 3_299, 1, [10, 1, 2]),
    device("AUR-PC-T5", "desktops", "极光 T5 塔式台式机", "Aurora T5 Tower Desktop", 5_999, 1, [10, 3, 2]),
    device("AUR-PC-AIO27", "desktops", "极光 27 英寸一体机", "Aurora 27\" All-in-One", 8_999, 2, [8, 1, 4]),
    device("AUR-PC-STORMR9", "desktops", "风暴 R9 电竞主机", "Storm R9 Gaming Desktop", 16_999, 2, [0, 14, 2]),
    device("AUR-PC-ATLASP7", "desktops", "阿特拉斯 P7 塔式工作站", "Atlas P7 Tower Workstation", 32_999, 3, [0, 0, 8]),
    // Monitors
    device("AUR-MON-24", "monitors", "极光 24 英寸 IPS 显示器", "Aurora 24\" IPS Monitor", 999, 3, [16, 2, 2]),
    device("AUR-MON-27Q", "monitors", "极光 27 英寸 2K 显示器", "Aurora 27\" QHD Monitor", 1_899, 3, [12, 6, 4]),
    device("AUR-MON-27U", "monitors", "极光 27 英寸 4K 专业显示器", "Aurora 27\" 4K Pro Monitor", 3_499, 3, [3, 2, 10]),
    device("AUR-MON-34W", "monitors", "极光 34 英寸带鱼屏显示器", "Aurora 34\" Ultrawide Monitor", 3_999, 3, [2, 5, 6]),
    device("AUR-MON-27G", "monitors", "风暴 27 英寸 240Hz 电竞显示器", "Storm 27\" 240Hz Gaming Monitor", 2_799, 3, [1, 12, 0]),
    device("AUR-MON-32U", "monitors", "阿特拉斯 32 英寸 4K 色彩管理显示器", "Atlas 32\" 4K Color-Managed Monitor", 6_999, 3, [0, 0, 6]),
    // Accessories
    accessory("AUR-ACC-DOCK", "极光雷电 4 扩展坞", "Aurora Thunderbolt 4 Dock", 1_299, [6, 2, 12]),
    accessory("AUR-ACC-HUB", "极光 USB-C 七合一拓展坞", "Aurora USB-C 7-in-1 Hub", 299, [14, 3, 6]),
    accessory("AUR-ACC-MOUSE", "极光无线静音鼠标", "Aurora Silent Wireless Mouse", 129, [24, 2, 8]),
    accessory("AUR-ACC-GMOUSE", "风暴电竞鼠标", "Storm Gaming Mouse", 349, [2, 24, 1]),
    accessory("AUR-ACC-KB", "极光无线键盘", "Aurora Wireless Keyboard", 299, [12, 1, 6]),
    accessory("AUR-ACC-MKB", "风暴机械键盘", "Storm Mechanical Keyboard", 599, [2, 18, 3]),
    accessory("AUR-ACC-HEADSET", "风暴 7.1 电竞耳机", "Storm 7.1 Gaming Headset", 499, [3, 16, 2]),
    accessory("AUR-ACC-BAG", "极光双肩电脑包", "Aurora Laptop Backpack", 269, [16, 6, 5]),
    accessory("AUR-ACC-CHARGER", "极光 100W 氮化镓充电器", "Aurora 100W GaN Charger", 249, [12, 4, 6]),
    accessory("AUR-ACC-WEBCAM", "极光 2K 网络摄像头", "Aurora 2K Webcam", 399, [6, 2, 4]),
    // Services
    service("AUR-SVC-EXT1", "延长保修 1 年", "Warranty Extension, 1 Year", 499, Service::Extension(1), [14, 10, 10]),
    service("AUR-SVC-EXT2", "延长保修 2 年", "Warranty Extension, 2 Years", 899, Service::Extension(2), [8, 6, 10]),
    service("AUR-SVC-ONSITE", "上门服务升级（次工作日）", "On-Site Service Upgrade (Next Business Day)", 699, Service::Upgrade, [4, 2, 10]),
    service("AUR-SVC-ADP", "意外损坏保护 1 年", "Accidental Damage Protection, 1 Year", 799, Service::Upgrade, [8, 8, 6]),
    service("AUR-SVC-PREMIUM", "尊享服务 3 年（上门 + 意外保护）", "Premium Care, 3 Years (On-Site + Accidental Damage)", 1_999, Service::Extension(2), [2, 4, 8]),
    service("AUR-SVC-SETUP", "数据迁移与开机设置", "Data Migration and Setup", 199, Service::Upgrade, [6, 1, 2]),
];

/// A product as stored, with its id.
#[derive(Debug)]
pub struct Product {
    pub id: String,
    pub spec: &'static Spec,
}

/// Inserts the categories and products; returns them in [`PRODUCTS`] order.
pub async fn seed(db: &Db, created_at: i64) -> anyhow::Result<Vec<Product>> {
    type Category = (&'static str, &'static str, &'static str, i64);
    let categories: Vec<(String, &Category)> = CATEGORIES.iter().map(|c| (new_id(), c)).collect();
    let products: Vec<Product> = PRODUCTS
        .iter()
        .map(|spec| Product { id: new_id(), spec })
        .collect();
    let category_id = |code: &str| {
        categories
            .iter()
            .find(|(_, c)| c.0 == code)
            .map(|(id, _)| id.as_str())
            .unwrap_or_default()
    };
    let mut tx = db.begin().await?;
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO categories (id, code, name_zh, name_en, position) ",
        5,
        &categories,
        |b, (id, (code, zh, en, position))| {
            b.push_bind(id.as_str())
                .push_bind(*code)
                .push_bind(*zh)
                .push_bind(*en)
                .push_bind(*position);
        },
    )
    .await?;
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO products (id, code, category_id, name_zh, name_en, kind, price_fen, status, created_at) ",
        9,
        &products,
        |b, p| {
            b.push_bind(p.id.as_str())
                .push_bind(p.spec.code)
                .push_bind(category_id(p.spec.category))
                .push_bind(p.spec.name_zh)
                .push_bind(p.spec.name_en)
                .push_bind(p.spec.kind())
                .push_bind(p.spec.price_fen())
                .push_bind(p.spec.status.as_str())
                .push_bind(created_at);
        },
    )
    .await?;
    tx.commit().await?;
    Ok(products)
}

/// Extra catalog the history does not sell: parts whose stock configurable
/// options draw on, a bundle and a member-only edition.
/// (code, category, kind, name_zh, name_en, [(sku code, zh, en, yuan)], member_only min tier)
type Extra = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str, i64)],
    Option<&'static str>,
);

#[rustfmt::skip]
const EXTRAS: &[Extra] = &[
    ("AUR-ACC-RAM", "accessories", "accessory", "极光 DDR5 笔记本内存条", "Aurora DDR5 Laptop Memory",
        &[("AUR-RAM-16G", "16GB DDR5 内存条", "16 GB DDR5 module", 599), ("AUR-RAM-32G", "32GB DDR5 内存条", "32 GB DDR5 module", 1_199)], None),
    ("AUR-ACC-SSD", "accessories", "accessory", "极光 NVMe 固态硬盘", "Aurora NVMe SSD",
        &[("AUR-SSD-1T", "1TB NVMe 固态硬盘", "1 TB NVMe SSD", 499), ("AUR-SSD-2T", "2TB NVMe 固态硬盘", "2 TB NVMe SSD", 999)], None),
    ("AUR-KIT-X14", "laptops", "bundle", "极光 X14 办公套装（含无线鼠标）", "Aurora X14 Office Kit (with Wireless Mouse)",
        &[("AUR-KIT-X14", "极光 X14 办公套装", "Aurora X14 Office Kit", 7_049)], None),
    ("AUR-NB-X14-LTD", "laptops", "device", "极光 X14 会员限定版", "Aurora X14 Members' Edition",
        &[("AUR-NB-X14-LTD", "极光 X14 会员限定版", "Aurora X14 Members' Edition", 7_299)], Some("gold")),
];

/// (product, group, zh, en, [(option code, zh, en, delta yuan, component SKU)]), the first option is the default.
type Group = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(
        &'static str,
        &'static str,
        &'static str,
        i64,
        Option<&'static str>,
    )],
);

#[rustfmt::skip]
const GROUPS: &[Group] = &[
    ("AUR-NB-X14P", "cpu", "处理器", "Processor", &[("ultra5", "酷睿 Ultra 5", "Core Ultra 5", 0, None), ("ultra7", "酷睿 Ultra 7", "Core Ultra 7", 900, None)]),
    ("AUR-NB-X14P", "memory", "内存", "Memory", &[("16g", "16GB", "16 GB", 0, Some("AUR-RAM-16G")), ("32g", "32GB", "32 GB", 1_000, Some("AUR-RAM-32G"))]),
    ("AUR-NB-X14P", "storage", "硬盘", "Storage", &[("1t", "1TB SSD", "1 TB SSD", 0, Some("AUR-SSD-1T")), ("2t", "2TB SSD", "2 TB SSD", 800, Some("AUR-SSD-2T"))]),
    ("AUR-NB-STORM16X", "gpu", "显卡", "Graphics", &[("rtx4070", "RTX 4070", "RTX 4070", 0, None), ("rtx4080", "RTX 4080", "RTX 4080", 3_000, None)]),
    ("AUR-NB-STORM16X", "memory", "内存", "Memory", &[("16g", "16GB", "16 GB", 0, Some("AUR-RAM-16G")), ("32g", "32GB", "32 GB", 1_000, Some("AUR-RAM-32G"))]),
    ("AUR-NB-STORM16X", "storage", "硬盘", "Storage", &[("1t", "1TB SSD", "1 TB SSD", 0, Some("AUR-SSD-1T")), ("2t", "2TB SSD", "2 TB SSD", 800, Some("AUR-SSD-2T"))]),
    ("AUR-NB-ATLAS16", "memory", "内存", "Memory", &[("32g", "32GB", "32 GB", 0, Some("AUR-RAM-32G")), ("64g", "64GB（2×32GB）", "64 GB (2×32 GB)", 2_200, None)]),
    ("AUR-NB-ATLAS16", "storage", "硬盘", "Storage", &[("1t", "1TB SSD", "1 TB SSD", 0, Some("AUR-SSD-1T")), ("2t", "2TB SSD", "2 TB SSD", 800, Some("AUR-SSD-2T"))]),
];

/// (product, option group.code, kind, other group.code, message)
#[rustfmt::skip]
const RULES: &[(&str, &str, &str, &str, &str)] = &[
    ("AUR-NB-STORM16X", "gpu.rtx4080", "requires", "memory.32g", "RTX 4080 需搭配 32GB 内存 / RTX 4080 needs 32 GB memory"),
    ("AUR-NB-X14P", "cpu.ultra5", "excludes", "memory.32g", "Ultra 5 主板最多支持 16GB / The Ultra 5 board takes at most 16 GB"),
];

/// (SKU, tier, yuan)
const TIER_PRICES: &[(&str, &str, i64)] = &[
    ("AUR-NB-X14", "gold", 6_799),
    ("AUR-NB-X14", "diamond", 6_599),
    ("AUR-NB-STORM16", "diamond", 9_499),
    ("AUR-ACC-MOUSE", "gold", 119),
];

/// SKUs deliberately short in the warehouse: (SKU, on hand).
const LOW_STOCK: &[(&str, i64)] = &[("AUR-NB-STORM18", 2), ("AUR-RAM-32G", 3)];

fn attributes(spec: &Spec) -> serde_json::Value {
    let mut a = serde_json::Map::new();
    let size = ["13", "14", "15", "16", "18", "24", "27", "32", "34"]
        .into_iter()
        .find(|s| spec.name_en.contains(&format!(" {s}")));
    if let Some(size) = size {
        a.insert("screen".into(), size.into());
    }
    let best = (0..3).max_by_key(|&i| (spec.appeal[i], 3 - i)).unwrap_or(0);
    a.insert("use".into(), ["office", "gaming", "creator"][best].into());
    serde_json::Value::Object(a)
}

/// SKUs, configure-to-order options, services' terms, a bundle, a member-only
/// edition, tier prices, stock locations and opening stock.
pub async fn seed_commerce(db: &Db, products: &[Product], at: i64) -> anyhow::Result<()> {
    use crate::audit::Actor;
    use crate::commerce::products::{self as catalog, options, skus};
    let actor = Actor::system();
    let mut tx = db.begin().await?;
    for (i, p) in products.iter().enumerate() {
        let (service_kind, months) = match p.spec.service {
            Service::Extension(years) => (Some("warranty_extension"), Some(years * 12)),
            Service::Upgrade if p.spec.code == "AUR-SVC-ONSITE" => {
                (Some("onsite_upgrade"), Some(12))
            }
            _ => (None, None),
        };
        sqlx::query(
            "UPDATE products SET description = $2, attributes = $3, service_kind = $4, service_months = $5, \
             position = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(format!("{}。{}", p.spec.name_zh, p.spec.name_en))
        .bind(attributes(p.spec).to_string())
        .bind(service_kind)
        .bind(months)
        .bind(i as i64)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO skus (id, product_id, code, name_zh, name_en, price_fen, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)",
        )
        .bind(new_id())
        .bind(&p.id)
        .bind(p.spec.code)
        .bind(p.spec.name_zh)
        .bind(p.spec.name_en)
        .bind(p.spec.price_fen())
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    for (code, category, kind, zh, en, extra_skus, tier) in EXTRAS {
        let Some((first, rest)) = extra_skus.split_first() else {
            continue;
        };
        let input = catalog::ProductInput {
            code: (*code).into(),
            category: (*category).into(),
            name_zh: (*zh).into(),
            name_en: (*en).into(),
            kind: (*kind).into(),
            description: format!("{zh}。{en}"),
            images: Vec::new(),
            attributes: Default::default(),
            member_only: tier.is_some(),
            min_tier: tier.map(str::to_owned),
            service_kind: None,
            service_months: None,
            status: "active".into(),
            position: 100,
            price_fen: first.3 * 100,
        };
        catalog::create(&mut tx, &actor, &input).await?;
        if first.0 != *code {
            sqlx::query("UPDATE skus SET code = $1, name_zh = $2, name_en = $3 WHERE code = $4")
                .bind(first.0)
                .bind(first.1)
                .bind(first.2)
                .bind(code)
                .execute(&mut *tx)
                .await?;
        }
        for (sku, zh, en, yuan) in rest {
            let input = skus::SkuInput {
                code: (*sku).into(),
                name_zh: (*zh).into(),
                name_en: (*en).into(),
                attributes: Default::default(),
                price_fen: yuan * 100,
                status: "active".into(),
                position: 1,
            };
            skus::add(&mut tx, &actor, code, &input).await?;
        }
    }
    let kit =
        [("AUR-NB-X14", 1), ("AUR-ACC-MOUSE", 1)].map(|(sku, quantity)| skus::BundleItemInput {
            sku: sku.into(),
            quantity,
        });
    skus::set_bundle_items(&mut tx, &actor, "AUR-KIT-X14", &kit).await?;
    for (product, group, zh, en, choices) in GROUPS {
        let input = options::GroupInput {
            code: (*group).into(),
            name_zh: (*zh).into(),
            name_en: (*en).into(),
            required: true,
            position: 0,
        };
        options::save_group(&mut tx, &actor, product, &input).await?;
        for (i, (code, zh, en, delta, component)) in choices.iter().enumerate() {
            let input = options::OptionInput {
                code: (*code).into(),
                name_zh: (*zh).into(),
                name_en: (*en).into(),
                price_delta_fen: delta * 100,
                component_sku: component.map(str::to_owned),
                is_default: i == 0,
                status: "active".into(),
                position: i as i64,
            };
            options::save_option(&mut tx, &actor, product, group, &input).await?;
        }
    }
    for (product, option, kind, other, message) in RULES {
        let id = |path: &str| {
            let (group, code) = path.split_once('.').unwrap_or_default();
            sqlx::query_scalar::<_, String>(
                "SELECT o.id FROM product_options o JOIN option_groups g ON g.id = o.group_id \
                 JOIN products p ON p.id = g.product_id WHERE p.code = $1 AND g.code = $2 AND o.code = $3",
            )
            .bind(*product)
            .bind(group.to_owned())
            .bind(code.to_owned())
        };
        let option_id = id(option).fetch_one(&mut *tx).await?;
        let other_option_id = id(other).fetch_one(&mut *tx).await?;
        let input = options::RuleInput {
            option_id,
            kind: (*kind).into(),
            other_option_id,
            message: (*message).into(),
        };
        options::add_rule(&mut tx, &actor, product, &input).await?;
    }
    for (sku, tier, yuan) in TIER_PRICES {
        let price = skus::TierPrice {
            tier: (*tier).into(),
            price_fen: yuan * 100,
        };
        let mut all: Vec<skus::TierPrice> = TIER_PRICES
            .iter()
            .filter(|(s, t, _)| s == sku && t != tier)
            .map(|(_, t, y)| skus::TierPrice {
                tier: (*t).into(),
                price_fen: y * 100,
            })
            .collect();
        all.push(price);
        skus::set_tier_prices(&mut tx, &actor, sku, &all).await?;
    }
    tx.commit().await?;
    seed_stock(db, at).await
}

/// The central warehouse (ships online) and a location per own store, with
/// opening stock recorded as receipts.
async fn seed_stock(db: &Db, at: i64) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let warehouse = new_id();
    sqlx::query(
        "INSERT INTO stock_locations (id, code, name, kind, ships_online, priority, created_at) \
         VALUES ($1, 'WH-SH', '上海中心仓', 'warehouse', 1, 0, $2)",
    )
    .bind(&warehouse)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    let stores: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, code, name FROM stores WHERE reseller_id IS NULL ORDER BY code")
            .fetch_all(&mut *tx)
            .await?;
    let mut locations = vec![(warehouse, true)];
    for (i, (store_id, code, name)) in stores.iter().enumerate() {
        let id = new_id();
        sqlx::query(
            "INSERT INTO stock_locations (id, code, name, kind, store_id, ships_online, priority, created_at) \
             VALUES ($1, $2, $3, 'store', $4, 0, $5, $6)",
        )
        .bind(&id)
        .bind(format!("ST-{code}"))
        .bind(name)
        .bind(store_id)
        .bind(10 + i as i64)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        locations.push((id, false));
    }
    let skus: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.id, s.code FROM skus s JOIN products p ON p.id = s.product_id \
         WHERE p.kind IN ('device', 'accessory') ORDER BY s.code",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut rows: Vec<(String, String, i64)> = Vec::new();
    for (i, (sku, code)) in skus.iter().enumerate() {
        for (j, (location, central)) in locations.iter().enumerate() {
            let on_hand = match LOW_STOCK.iter().find(|(c, _)| c == code) {
                Some((_, n)) if *central => *n,
                _ if *central => 20 + ((i * 37) % 80) as i64,
                _ if (i + j) % 3 == 0 => 2 + ((i + j) % 5) as i64,
                _ => continue,
            };
            rows.push((sku.clone(), location.clone(), on_hand));
        }
    }
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO stock_levels (sku_id, location_id, on_hand, reserved, updated_at) ",
        5,
        &rows,
        |b, (sku, location, on_hand)| {
            b.push_bind(sku.as_str())
                .push_bind(location.as_str())
                .push_bind(*on_hand)
                .push_bind(0_i64)
                .push_bind(at);
        },
    )
    .await?;
    let movements: Vec<(String, &(String, String, i64))> =
        rows.iter().map(|r| (new_id(), r)).collect();
    bulk::insert(
        db.backend(),
        &mut tx,
        "INSERT INTO stock_movements (id, sku_id, location_id, delta, reason, reference, actor, at) ",
        8,
        &movements,
        |b, (id, (sku, location, on_hand))| {
            b.push_bind(id.as_str())
                .push_bind(sku.as_str())
                .push_bind(location.as_str())
                .push_bind(*on_hand)
                .push_bind("receipt")
                .push_bind("opening stock")
                .push_bind("cove")
                .push_bind(at);
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_well_formed() {
        assert!(PRODUCTS.len() >= 40);
        let mut codes: Vec<_> = PRODUCTS.iter().map(|p| p.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), PRODUCTS.len(), "product codes are unique");
        for p in PRODUCTS {
            assert!(CATEGORIES.iter().any(|c| c.0 == p.category), "{}", p.code);
            assert!(p.price_yuan > 0, "{}", p.code);
            assert_eq!(p.kind() == "device", p.warranty_years > 0, "{}", p.code);
            assert_eq!(
                p.kind() == "service",
                p.service != Service::None,
                "{}",
                p.code
            );
        }
        let active = PRODUCTS
            .iter()
            .filter(|p| p.status == Status::Active)
            .count();
        assert!(active * 10 >= PRODUCTS.len() * 9, "mostly active");
    }
}
