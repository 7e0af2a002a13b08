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
