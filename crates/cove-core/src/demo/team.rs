//! The demo's network (stores, resellers) and team (one sign-in per role).

use super::{Options, DEMO_PASSWORD};
use crate::access::{self, Role};
use crate::clock;
use crate::db::{new_id, Db};

/// (code, name, kind, city, reseller code)
pub const STORES: &[(&str, &str, &str, &str, Option<&str>)] = &[
    ("SH-FLAG", "上海南京西路旗舰店", "flagship", "上海", None),
    ("BJ-FLAG", "北京三里屯旗舰店", "flagship", "北京", None),
    ("SZ-01", "深圳万象天地店", "store", "深圳", None),
    ("GZ-01", "广州天河城店", "store", "广州", None),
    ("CD-01", "成都太古里店", "store", "成都", None),
    ("HZ-01", "杭州湖滨银泰店", "store", "杭州", None),
    (
        "WH-R1",
        "武汉光谷数码城（星联）",
        "reseller_store",
        "武汉",
        Some("R-XINGLIAN"),
    ),
    (
        "NJ-R1",
        "南京新街口数码（星联）",
        "reseller_store",
        "南京",
        Some("R-XINGLIAN"),
    ),
    (
        "XA-R1",
        "西安赛格电脑城（云拓）",
        "reseller_store",
        "西安",
        Some("R-YUNTUO"),
    ),
    (
        "CQ-R1",
        "重庆解放碑数码（云拓）",
        "reseller_store",
        "重庆",
        Some("R-YUNTUO"),
    ),
];

/// (code, name, city)
pub const RESELLERS: &[(&str, &str, &str)] = &[
    ("R-XINGLIAN", "星联数码", "武汉"),
    ("R-YUNTUO", "云拓科技", "西安"),
];

/// One demo sign-in per role: (role, email).
pub fn sign_ins() -> Vec<(&'static str, String)> {
    Role::ALL
        .iter()
        .map(|r| {
            (
                r.as_str(),
                format!("{}@aurora.demo", r.as_str().replace('_', ".")),
            )
        })
        .collect()
}

pub async fn seed(db: &Db, _options: &Options) -> anyhow::Result<()> {
    let now = clock::now();
    let founded = now - 3 * 365 * clock::DAY;
    let mut tx = db.begin().await?;
    let mut reseller_ids = std::collections::HashMap::new();
    for (code, name, city) in RESELLERS {
        let id = new_id();
        sqlx::query(
            "INSERT INTO resellers (id, code, name, city, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(code)
        .bind(name)
        .bind(city)
        .bind(founded)
        .execute(&mut *tx)
        .await?;
        reseller_ids.insert(*code, id);
    }
    let mut first_store = None;
    for (code, name, kind, city, reseller) in STORES {
        let id = new_id();
        let reseller_id = reseller.and_then(|r| reseller_ids.get(r).cloned());
        sqlx::query("INSERT INTO stores (id, code, name, kind, city, reseller_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&id)
            .bind(code)
            .bind(name)
            .bind(kind)
            .bind(city)
            .bind(&reseller_id)
            .bind(founded)
            .execute(&mut *tx)
            .await?;
        first_store.get_or_insert(id);
    }
    tx.commit().await?;
    // Hash once: every demo account shares the demo password.
    let hash = access::hash_password(DEMO_PASSWORD).await?;
    let mut tx = db.begin().await?;
    for (role_name, email) in sign_ins() {
        let role: Role = role_name.parse()?;
        let store_id = (role == Role::StoreStaff)
            .then(|| first_store.clone())
            .flatten();
        let reseller_id = (role == Role::Reseller)
            .then(|| reseller_ids.get("R-XINGLIAN").cloned())
            .flatten();
        let name = match role {
            Role::Admin => "王管理",
            Role::StoreManager => "李店长",
            Role::MembershipManager => "张会员",
            Role::Marketing => "陈营销",
            Role::ProductManager => "刘产品",
            Role::DataAnalyst => "赵数据",
            Role::ServiceAgent => "孙客服",
            Role::FieldEngineer => "周工程师",
            Role::StoreStaff => "吴店员",
            Role::Reseller => "郑经销",
        };
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, role, store_id, reseller_id, locale, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'zh', $8)",
        )
        .bind(new_id())
        .bind(&email)
        .bind(name)
        .bind(&hash)
        .bind(role_name)
        .bind(store_id)
        .bind(reseller_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
