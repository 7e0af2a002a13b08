//! Console pages of the membership: find a member, tiers at a glance, the
//! points mall; and the member 360 page (identifiers, tier and history,
//! points lots and ledger, benefits, orders, devices).

use super::console::{Console, Nav, Shell};
use super::i18n::Lang;
use super::{html, when, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use cove_core::access::{Access, Area};
use cove_core::audience::tags;
use cove_core::clock;
use cove_core::membership::benefits::{self, Grant};
use cove_core::membership::mall::{self, Item};
use cove_core::membership::points::{self, Balance, Entry};
use cove_core::membership::tiers::{self, Tier, TierChange};
use cove_core::membership::{members, Member};
use serde::Deserialize;

/// Labels of the membership pages, in both languages.
pub struct MemberLabels {
    pub search: &'static str,
    pub search_hint: &'static str,
    pub results: &'static str,
    pub no_match: &'static str,
    pub tiers: &'static str,
    pub members: &'static str,
    pub growth_min: &'static str,
    pub points_pct: &'static str,
    pub mall: &'static str,
    pub points: &'static str,
    pub stock: &'static str,
    pub unlimited: &'static str,
    pub member_no: &'static str,
    pub phone: &'static str,
    pub tier: &'static str,
    pub joined: &'static str,
    pub channel: &'static str,
    pub identifiers: &'static str,
    pub available: &'static str,
    pub locked: &'static str,
    pub held: &'static str,
    pub expiring: &'static str,
    pub growth: &'static str,
    pub lots: &'static str,
    pub ledger: &'static str,
    pub source: &'static str,
    pub remaining: &'static str,
    pub unlocks: &'static str,
    pub expires: &'static str,
    pub tier_history: &'static str,
    pub benefits: &'static str,
    pub orders: &'static str,
    pub devices: &'static str,
    pub none: &'static str,
    pub till: &'static str,
    pub import: &'static str,
    pub import_hint: &'static str,
}

const ZH: MemberLabels = MemberLabels {
    search: "查找会员",
    search_hint: "手机号或会员卡号",
    results: "查找结果",
    no_match: "没有匹配的会员",
    tiers: "会员等级",
    members: "会员数",
    growth_min: "成长值门槛",
    points_pct: "积分倍率",
    mall: "积分商城",
    points: "积分",
    stock: "库存",
    unlimited: "不限",
    member_no: "会员卡号",
    phone: "手机号",
    tier: "等级",
    joined: "入会时间",
    channel: "入会渠道",
    identifiers: "身份标识",
    available: "可用积分",
    locked: "冻结中（退货期）",
    held: "使用中",
    expiring: "30 天内到期",
    growth: "本期成长值",
    lots: "积分批次",
    ledger: "积分流水",
    source: "来源",
    remaining: "剩余",
    unlocks: "解冻",
    expires: "到期",
    tier_history: "等级变更",
    benefits: "已发放权益",
    orders: "订单",
    devices: "设备",
    none: "暂无",
    till: "门店收银台",
    import: "导入线下会员 (CSV)",
    import_hint: "每行先校验，任何一行有误则不导入；同一文件再次导入不会重复发放积分。",
};

const EN: MemberLabels = MemberLabels {
    search: "Find a member",
    search_hint: "Phone or member number",
    results: "Results",
    no_match: "No member matches",
    tiers: "Tiers",
    members: "Members",
    growth_min: "Growth to reach",
    points_pct: "Points rate",
    mall: "Points mall",
    points: "Points",
    stock: "Stock",
    unlimited: "Unlimited",
    member_no: "Member no.",
    phone: "Phone",
    tier: "Tier",
    joined: "Joined",
    channel: "Joined via",
    identifiers: "Identifiers",
    available: "Available",
    locked: "Locked (return window)",
    held: "Held",
    expiring: "Expiring in 30 days",
    growth: "Growth this period",
    lots: "Points lots",
    ledger: "Points ledger",
    source: "Source",
    remaining: "Remaining",
    unlocks: "Unlocks",
    expires: "Expires",
    tier_history: "Tier history",
    benefits: "Benefits issued",
    orders: "Orders",
    devices: "Devices",
    none: "None",
    till: "Store till",
    import: "Import offline members (CSV)",
    import_hint: "Every row is checked first: with any error nothing is imported. Importing the same file again grants nothing twice.",
};

fn labels(lang: Lang) -> &'static MemberLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

pub struct TierRow {
    pub tier: Tier,
    pub name: String,
    pub members: i64,
}

#[derive(Template)]
#[template(path = "console/membership.html")]
struct MembershipPage {
    shell: Shell,
    m: &'static MemberLabels,
    q: String,
    results: Option<Vec<Member>>,
    tiers: Vec<TierRow>,
    items: Vec<Item>,
    lang: Lang,
    /// The user may record purchases at the till.
    till: bool,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /admin/membership?q=`: search, tiers and the mall.
pub async fn index(
    State(state): State<AppState>,
    console: Console,
    Query(s): Query<SearchQuery>,
) -> PageResult {
    console.require(Area::Membership, Access::Read)?;
    let mut conn = state
        .db
        .read()
        .acquire()
        .await
        .map_err(cove_core::Error::from)?;
    let q = s.q.unwrap_or_default().trim().to_owned();
    let results = if q.is_empty() {
        None
    } else {
        Some(members::find(&mut conn, &q).await?)
    };
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT tier, COUNT(*) FROM members WHERE merged_into IS NULL GROUP BY tier",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(cove_core::Error::from)?;
    let tiers = tiers::list(&mut conn)
        .await?
        .into_iter()
        .map(|t| TierRow {
            name: if console.lang == Lang::Zh {
                t.name_zh.clone()
            } else {
                t.name_en.clone()
            },
            members: counts
                .iter()
                .find(|(c, _)| c == &t.code)
                .map_or(0, |(_, n)| *n),
            tier: t,
        })
        .collect();
    let items = mall::list_items(&mut conn, clock::now()).await?;
    let l = console.l();
    html(&MembershipPage {
        shell: console.shell(Nav::Area(Area::Membership), l.area(Area::Membership)),
        m: labels(console.lang),
        q,
        results,
        tiers,
        items,
        lang: console.lang,
        till: console.auth.can(Area::Membership, Access::Write),
    })
}

pub struct LotRow {
    pub source: String,
    pub amount: i64,
    pub remaining: i64,
    pub earned: String,
    pub unlocks: String,
    pub expires: String,
}

pub struct OrderRow {
    pub order_no: String,
    pub channel: String,
    pub status: String,
    pub total: String,
    pub placed: String,
}

#[derive(Template)]
#[template(path = "console/member.html")]
struct MemberPage {
    shell: Shell,
    m: &'static MemberLabels,
    member: Member,
    tier_name: String,
    joined: String,
    identifiers: Vec<(String, String)>,
    balance: Balance,
    period_growth: i64,
    lots: Vec<LotRow>,
    ledger: Vec<(Entry, String)>,
    history: Vec<(TierChange, String)>,
    grants: Vec<(Grant, String)>,
    orders: Vec<OrderRow>,
    devices: Vec<(String, String)>,
    a: &'static super::audience::Labels,
    /// key, name, origin, since
    tags: Vec<(String, String, String, String)>,
    reach: super::audience::ReachRows,
}

/// `GET /admin/membership/members/{id}`: the member 360 page.
pub async fn member(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    console.require(Area::Membership, Access::Read)?;
    let db_err = cove_core::Error::from;
    let mut conn = state.db.read().acquire().await.map_err(db_err)?;
    let now = clock::now();
    let member = members::get(&mut conn, &id).await?;
    let identifiers = match &member.profile_id {
        Some(p) => members::identifiers(&mut conn, p).await?,
        None => Vec::new(),
    };
    let tier_name = tiers::list(&mut conn)
        .await?
        .into_iter()
        .find(|t| t.code == member.tier)
        .map(|t| {
            if console.lang == Lang::Zh {
                t.name_zh
            } else {
                t.name_en
            }
        })
        .unwrap_or_else(|| member.tier.clone());
    let lots: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT source, amount, remaining, earned_at, unlock_at, expires_at FROM points_lots \
         WHERE member_id = $1 ORDER BY expires_at DESC, earned_at DESC LIMIT 50",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let day = |us: i64| when(us).chars().take(10).collect::<String>();
    let orders: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT order_no, channel, status, total_fen, placed_at FROM orders WHERE member_id = $1 \
         ORDER BY placed_at DESC LIMIT 20",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let devices: Vec<(String, i64)> = sqlx::query_as(
        "SELECT service_tag, warranty_ends_at FROM devices WHERE member_id = $1 ORDER BY service_tag LIMIT 50",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let (tags, reach) = match &member.profile_id {
        Some(p) => (
            tags::of_profile(&state.db, p)
                .await?
                .into_iter()
                .map(|t| (t.key, t.name, t.origin, day(t.since)))
                .collect(),
            super::audience::ReachRows::of(&state.db, p).await?,
        ),
        None => (Vec::new(), super::audience::ReachRows::default()),
    };
    let l = console.l();
    let page = MemberPage {
        a: super::audience::labels(&console),
        tags,
        reach,
        shell: console.shell(Nav::Area(Area::Membership), &member.name),
        m: labels(console.lang),
        tier_name,
        joined: day(member.joined_at),
        identifiers,
        balance: points::balance(&mut conn, &id, now).await?,
        period_growth: tiers::period_growth(&mut conn, &id, now).await?,
        lots: lots
            .into_iter()
            .map(
                |(source, amount, remaining, earned, unlocks, expires)| LotRow {
                    source,
                    amount,
                    remaining,
                    earned: day(earned),
                    unlocks: day(unlocks),
                    expires: day(expires),
                },
            )
            .collect(),
        ledger: points::history(&mut conn, &id, None, 50)
            .await?
            .into_iter()
            .map(|e| {
                let at = when(e.at);
                (e, at)
            })
            .collect(),
        history: tiers::history(&mut conn, &id)
            .await?
            .into_iter()
            .map(|h| {
                let at = day(h.at);
                (h, at)
            })
            .collect(),
        grants: benefits::for_member(&mut conn, &id)
            .await?
            .grants
            .into_iter()
            .map(|g| {
                let at = day(g.granted_at);
                (g, at)
            })
            .collect(),
        orders: orders
            .into_iter()
            .map(|(order_no, channel, status, total, placed)| OrderRow {
                order_no,
                channel: l.channel(&channel).to_owned(),
                status,
                total: format!("¥{:.2}", total as f64 / 100.0),
                placed: day(placed),
            })
            .collect(),
        devices: devices
            .into_iter()
            .map(|(tag, ends)| (tag, day(ends)))
            .collect(),
        member,
    };
    html(&page)
}
