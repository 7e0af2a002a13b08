//! The store till in the console (`/admin/membership/till`): staff scan or
//! type the member's rotating code, see who it is, and record the receipt
//! of an offline purchase so it earns points and growth exactly as the same
//! amount online. The page calls `POST /api/v1/members/scan` and
//! `POST /api/v1/members/{id}/purchases`; store staff record for their own
//! store, other roles pick one.

use super::console::{Console, Nav, Shell};
use super::i18n::Lang;
use super::{html, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use cove_core::access::{Access, Area};
use cove_core::membership::earn;
use cove_core::{clock, network};

pub struct TillLabels {
    pub title: &'static str,
    pub scan: &'static str,
    pub code: &'static str,
    pub code_hint: &'static str,
    pub look_up: &'static str,
    pub member: &'static str,
    pub tier: &'static str,
    pub available: &'static str,
    pub purchase: &'static str,
    pub store: &'static str,
    pub receipt: &'static str,
    pub category: &'static str,
    pub amount: &'static str,
    pub record: &'static str,
    pub earned: &'static str,
    pub growth: &'static str,
    pub unlocks_after: &'static str,
    pub days: &'static str,
    pub already: &'static str,
    pub bad_amount: &'static str,
}

const ZH: TillLabels = TillLabels {
    title: "门店收银台",
    scan: "扫码识别会员",
    code: "会员码",
    code_hint: "扫描或输入会员出示的动态会员码",
    look_up: "识别",
    member: "会员",
    tier: "等级",
    available: "可用积分",
    purchase: "记录门店消费",
    store: "门店",
    receipt: "小票号",
    category: "品类",
    amount: "实付金额（元）",
    record: "记录并积分",
    earned: "获得积分",
    growth: "成长值",
    unlocks_after: "退货期后解冻",
    days: "天",
    already: "这张小票已记录过，未重复积分",
    bad_amount: "请输入金额，如 999 或 999.50",
};

const EN: TillLabels = TillLabels {
    title: "Store till",
    scan: "Identify the member",
    code: "Member code",
    code_hint: "Scan or type the rotating code the member shows",
    look_up: "Look up",
    member: "Member",
    tier: "Tier",
    available: "Available points",
    purchase: "Record an in-store purchase",
    store: "Store",
    receipt: "Receipt no.",
    category: "Category",
    amount: "Amount paid (yuan)",
    record: "Record and award points",
    earned: "Points earned",
    growth: "Growth",
    unlocks_after: "unlock after the return window of",
    days: "days",
    already: "This receipt was already recorded; no points were added again",
    bad_amount: "Enter an amount such as 999 or 999.50",
};

#[derive(Template)]
#[template(path = "console/till.html")]
struct TillPage {
    shell: Shell,
    t: &'static TillLabels,
    /// (id, name) of the stores to choose from; none for store staff,
    /// whose purchases are their store's.
    stores: Option<Vec<(String, String)>>,
    /// (code, name) of the catalog's categories.
    categories: Vec<(String, String)>,
    window_days: i64,
    /// The tier name field in the page's language.
    tier_name: &'static str,
}

/// `GET /admin/membership/till`
pub async fn page(State(state): State<AppState>, console: Console) -> PageResult {
    console.require(Area::Membership, Access::Write)?;
    let stores = match console.principal().store_id {
        Some(_) => None,
        None => Some(
            network::list_stores(&state.db, None, None)
                .await?
                .into_iter()
                .map(|s| (s.id, format!("{} · {}", s.code, s.name)))
                .collect(),
        ),
    };
    let column = if console.lang == Lang::Zh {
        "name_zh"
    } else {
        "name_en"
    };
    let tier_name = column;
    // The column is one of two constants, never input.
    let categories: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT code, {column} FROM categories ORDER BY position, code"
    ))
    .fetch_all(state.db.read())
    .await
    .map_err(cove_core::Error::from)?;
    let t = if console.lang == Lang::Zh { &ZH } else { &EN };
    html(&TillPage {
        shell: console.shell(Nav::Area(Area::Membership), t.title),
        t,
        stores,
        categories,
        window_days: earn::RETURN_WINDOW / clock::DAY,
        tier_name,
    })
}
