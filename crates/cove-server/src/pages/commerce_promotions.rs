//! Promotions pages: the console's campaigns (`/admin/commerce/promotions`,
//! tabs for coupons, automatic discounts, flash sales and results, with
//! create forms) and the storefront's coupon page (`/coupons`).
//!
//! Forms post with htmx; on success the console reloads the tab, on a
//! refused input it shows the reason under the form and changes nothing.

use super::console::{Console, Nav, Shell};
use super::i18n::Lang;
use super::store::{frame, Frame, Tab};
use super::{html, when, yuan, PageResult};
use crate::api::promotions::{coupon_event, require};
use crate::customer::CUSTOMER_COOKIE;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use cove_core::access::{customers, Access, Area};
use cove_core::clock::{self, Micros, DAY};
use cove_core::commerce::promotions::{
    self, coupons, discounts, flash, Campaign, CouponKind, NewCouponTemplate, NewFlashItem,
    NewFlashSale, NewPromotion, PromotionKind, Status, ThresholdRule,
};
use cove_core::insight::REPORT_OFFSET;
use cove_core::{audit, Error};
use serde::Deserialize;
use serde_json::json;

pub struct PromoLabels {
    pub title: &'static str,
    pub coupons: &'static str,
    pub discounts: &'static str,
    pub flash: &'static str,
    pub results: &'static str,
    pub new_template: &'static str,
    pub new_promotion: &'static str,
    pub new_sale: &'static str,
    pub issue: &'static str,
    pub profile_ids: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub amount_off: &'static str,
    pub percent_off: &'static str,
    pub threshold_off: &'static str,
    pub amount_yuan: &'static str,
    pub percent: &'static str,
    pub cap_yuan: &'static str,
    pub threshold_yuan: &'static str,
    pub steps: &'static str,
    pub steps_hint: &'static str,
    pub every: &'static str,
    pub scope: &'static str,
    pub scope_values: &'static str,
    pub scope_all: &'static str,
    pub scope_products: &'static str,
    pub scope_categories: &'static str,
    pub scope_tiers: &'static str,
    pub starts: &'static str,
    pub ends: &'static str,
    pub valid_days: &'static str,
    pub claimable: &'static str,
    pub per_person: &'static str,
    pub total: &'static str,
    pub budget_yuan: &'static str,
    pub stackable: &'static str,
    pub stackable_coupons: &'static str,
    pub priority: &'static str,
    pub exclusive: &'static str,
    pub sku: &'static str,
    pub price_yuan: &'static str,
    pub pool: &'static str,
    pub create: &'static str,
    pub terms: &'static str,
    pub window: &'static str,
    pub issued: &'static str,
    pub used: &'static str,
    pub orders: &'static str,
    pub discount: &'static str,
    pub budget: &'static str,
    pub budget_left: &'static str,
    pub sold: &'static str,
    pub status: &'static str,
    pub pause: &'static str,
    pub resume: &'static str,
    pub end: &'static str,
    pub unlimited: &'static str,
    pub none: &'static str,
    pub yes: &'static str,
    pub active: &'static str,
    pub paused: &'static str,
    pub ended: &'static str,
}

const ZH: PromoLabels = PromoLabels {
    title: "营销活动",
    coupons: "优惠券",
    discounts: "满减与折扣",
    flash: "限时秒杀",
    results: "活动效果",
    new_template: "新建优惠券",
    new_promotion: "新建满减/折扣",
    new_sale: "新建秒杀",
    issue: "发放优惠券",
    profile_ids: "客户 ID（每行一个）",
    name: "名称",
    kind: "类型",
    amount_off: "立减券",
    percent_off: "折扣",
    threshold_off: "满减",
    amount_yuan: "减免金额（元）",
    percent: "折扣百分比（如 10 即减 10%）",
    cap_yuan: "最高优惠（元）",
    threshold_yuan: "使用门槛（元）",
    steps: "满减档位（元）",
    steps_hint: "如 1000:100, 2000:250",
    every: "每满（单档位）",
    scope: "适用范围",
    scope_values: "商品 ID / 类目编码 / 等级（逗号分隔）",
    scope_all: "全部商品",
    scope_products: "指定商品",
    scope_categories: "指定类目",
    scope_tiers: "指定会员等级",
    starts: "开始",
    ends: "结束",
    valid_days: "领取后有效天数",
    claimable: "顾客可领取",
    per_person: "每人限领/限购",
    total: "发放总量",
    budget_yuan: "预算（元）",
    stackable: "可与满减叠加",
    stackable_coupons: "可叠加优惠券",
    priority: "优先级",
    exclusive: "互斥",
    sku: "SKU",
    price_yuan: "秒杀价（元）",
    pool: "活动库存",
    create: "创建",
    terms: "优惠",
    window: "时间",
    issued: "已发放",
    used: "已使用",
    orders: "订单",
    discount: "优惠金额",
    budget: "预算",
    budget_left: "剩余预算",
    sold: "已售",
    status: "状态",
    pause: "暂停",
    resume: "恢复",
    end: "结束",
    unlimited: "不限",
    none: "暂无",
    yes: "是",
    active: "进行中",
    paused: "已暂停",
    ended: "已结束",
};

const EN: PromoLabels = PromoLabels {
    title: "Promotions",
    coupons: "Coupons",
    discounts: "Discounts",
    flash: "Flash sales",
    results: "Results",
    new_template: "New coupon",
    new_promotion: "New discount",
    new_sale: "New flash sale",
    issue: "Issue coupons",
    profile_ids: "Profile ids (one per line)",
    name: "Name",
    kind: "Kind",
    amount_off: "Amount off",
    percent_off: "Percent off",
    threshold_off: "Spend & save",
    amount_yuan: "Amount off (yuan)",
    percent: "Percent off",
    cap_yuan: "Cap (yuan)",
    threshold_yuan: "Minimum spend (yuan)",
    steps: "Steps (yuan)",
    steps_hint: "e.g. 1000:100, 2000:250",
    every: "Once per multiple (one step)",
    scope: "Scope",
    scope_values: "Product ids / category codes / tiers (comma separated)",
    scope_all: "Everything",
    scope_products: "Products",
    scope_categories: "Categories",
    scope_tiers: "Member tiers",
    starts: "Starts",
    ends: "Ends",
    valid_days: "Valid days after claim",
    claimable: "Customers may claim",
    per_person: "Per person",
    total: "Total quantity",
    budget_yuan: "Budget (yuan)",
    stackable: "Stacks with discounts",
    stackable_coupons: "Stacks with coupons",
    priority: "Priority",
    exclusive: "Exclusive",
    sku: "SKU",
    price_yuan: "Flash price (yuan)",
    pool: "Pool",
    create: "Create",
    terms: "Terms",
    window: "When",
    issued: "Issued",
    used: "Used",
    orders: "Orders",
    discount: "Discount given",
    budget: "Budget",
    budget_left: "Budget left",
    sold: "Sold",
    status: "Status",
    pause: "Pause",
    resume: "Resume",
    end: "End",
    unlimited: "Unlimited",
    none: "None",
    yes: "Yes",
    active: "Active",
    paused: "Paused",
    ended: "Ended",
};

fn labels(lang: Lang) -> &'static PromoLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

fn status_label(p: &PromoLabels, s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Active => (p.active, "badge-green"),
        Status::Paused => (p.paused, "badge-amber"),
        Status::Ended => (p.ended, "badge-red"),
    }
}

pub struct TabLink {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

pub struct TemplateRow {
    pub id: String,
    pub name: String,
    pub terms: String,
    pub scope: String,
    pub window: String,
    pub claimable: bool,
    pub issued: String,
    pub budget: String,
    pub status: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
}

pub struct PromotionRow {
    pub id: String,
    pub name: String,
    pub terms: String,
    pub scope: String,
    pub priority: i64,
    pub exclusive: bool,
    pub stackable: bool,
    pub budget: String,
    pub window: String,
    pub status: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
}

pub struct ItemRow {
    pub sku: String,
    pub price: String,
    pub list: String,
    pub sold: i64,
    pub pool: i64,
    pub limit: i64,
}

pub struct SaleRow {
    pub id: String,
    pub name: String,
    pub window: String,
    pub items: Vec<ItemRow>,
    pub status: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
}

pub struct ResultRow {
    pub kind: &'static str,
    pub name: String,
    pub issued: i64,
    pub used: i64,
    pub orders: i64,
    pub discount: String,
    pub budget_left: String,
    pub sold: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
}

#[derive(Template)]
#[template(path = "console/promotions.html")]
struct PromotionsPage {
    shell: Shell,
    p: &'static PromoLabels,
    tab: String,
    tabs: Vec<TabLink>,
    can_write: bool,
    templates: Vec<TemplateRow>,
    promotions: Vec<PromotionRow>,
    sales: Vec<SaleRow>,
    results: Vec<ResultRow>,
    skus: Vec<(String, String)>,
    default_start: String,
    default_end: String,
}

#[derive(Deserialize)]
pub struct TabQuery {
    tab: Option<String>,
}

fn terms_coupon(
    kind: CouponKind,
    amount: i64,
    pct: i64,
    cap: Option<i64>,
    threshold: i64,
) -> String {
    let off = match kind {
        CouponKind::AmountOff => format!("-{}", yuan(amount)),
        CouponKind::PercentOff => match cap {
            Some(c) => format!("-{pct}% (≤{})", yuan(c)),
            None => format!("-{pct}%"),
        },
    };
    if threshold > 0 {
        format!("≥{} {off}", yuan(threshold))
    } else {
        off
    }
}

fn scope_text(p: &PromoLabels, scope: &str, values: &[String]) -> String {
    let name = match scope {
        "products" => p.scope_products,
        "categories" => p.scope_categories,
        "tiers" => p.scope_tiers,
        _ => p.scope_all,
    };
    if values.is_empty() {
        name.to_owned()
    } else {
        format!("{name}: {}", values.join(", "))
    }
}

fn window(starts: Micros, ends: Micros) -> String {
    format!("{} – {}", when(starts), when(ends))
}

fn budget_text(p: &PromoLabels, budget: Option<i64>, spent: i64) -> String {
    match budget {
        Some(b) => format!("{} / {}", yuan(spent), yuan(b)),
        None => format!("{} / {}", yuan(spent), p.unlimited),
    }
}

/// A time for a `datetime-local` input, in China time.
fn local_input(us: Micros) -> String {
    clock::to_datetime(us + REPORT_OFFSET)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// `GET /admin/commerce/promotions?tab=coupons|discounts|flash|results`.
pub async fn index(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<TabQuery>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    let p = labels(console.lang);
    let tab: &'static str = match q.tab.as_deref() {
        Some("discounts") => "discounts",
        Some("flash") => "flash",
        Some("results") => "results",
        _ => "coupons",
    };
    let tabs = [
        (
            "/admin/commerce/promotions?tab=coupons",
            p.coupons,
            "coupons",
        ),
        (
            "/admin/commerce/promotions?tab=discounts",
            p.discounts,
            "discounts",
        ),
        ("/admin/commerce/promotions?tab=flash", p.flash, "flash"),
        (
            "/admin/commerce/promotions?tab=results",
            p.results,
            "results",
        ),
    ]
    .into_iter()
    .map(|(href, label, t)| TabLink {
        href,
        label,
        active: t == tab,
    })
    .collect();
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let mut templates = Vec::new();
    let mut rows_p = Vec::new();
    let mut sales = Vec::new();
    let mut results = Vec::new();
    let mut skus = Vec::new();
    match tab {
        "coupons" => {
            for t in coupons::list_templates(&mut conn).await? {
                let (label, class) = status_label(p, t.status);
                templates.push(TemplateRow {
                    terms: terms_coupon(
                        t.kind,
                        t.amount_fen,
                        t.percent,
                        t.cap_fen,
                        t.threshold_fen,
                    ),
                    scope: scope_text(p, &t.scope, &t.scope_values),
                    window: window(t.starts_at, t.ends_at),
                    claimable: t.claimable,
                    issued: match t.total_quantity {
                        Some(q) => format!("{} / {q}", t.issued_count),
                        None => t.issued_count.to_string(),
                    },
                    budget: budget_text(p, t.budget_fen, t.spent_fen),
                    status: t.status.as_str().to_owned(),
                    status_label: label,
                    status_class: class,
                    id: t.id,
                    name: t.name,
                });
            }
        }
        "discounts" => {
            for d in discounts::list(&mut conn).await? {
                let (label, class) = status_label(p, d.status);
                let terms = match d.kind {
                    PromotionKind::ThresholdAmountOff => d
                        .rules
                        .iter()
                        .map(|r| {
                            format!(
                                "{}{} -{}",
                                if d.every_threshold { "每" } else { "" },
                                yuan(r.threshold_fen),
                                yuan(r.off_fen)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" · "),
                    PromotionKind::PercentOff => match d.cap_fen {
                        Some(c) => format!("-{}% (≤{})", d.percent, yuan(c)),
                        None => format!("-{}%", d.percent),
                    },
                };
                rows_p.push(PromotionRow {
                    terms,
                    scope: scope_text(p, &d.scope, &d.scope_values),
                    priority: d.priority,
                    exclusive: d.exclusive,
                    stackable: d.stackable_with_coupons,
                    budget: budget_text(p, d.budget_fen, d.spent_fen),
                    window: window(d.starts_at, d.ends_at),
                    status: d.status.as_str().to_owned(),
                    status_label: label,
                    status_class: class,
                    id: d.id,
                    name: d.name,
                });
            }
        }
        "flash" => {
            for s in flash::list(&mut conn).await? {
                let (label, class) = status_label(p, s.status);
                sales.push(SaleRow {
                    window: window(s.starts_at, s.ends_at),
                    items: s
                        .items
                        .iter()
                        .map(|i| ItemRow {
                            sku: format!("{} {}", i.sku_code, i.sku_name),
                            price: yuan(i.price_fen),
                            list: yuan(i.list_fen),
                            sold: i.sold,
                            pool: i.pool,
                            limit: i.per_person_limit,
                        })
                        .collect(),
                    status: s.status.as_str().to_owned(),
                    status_label: label,
                    status_class: class,
                    id: s.id,
                    name: s.name,
                });
            }
            skus = sqlx::query_as::<_, (String, String, String)>(
                "SELECT id, code, name_zh FROM skus WHERE status = 'active' ORDER BY code LIMIT 500",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|(id, code, name)| (id, format!("{code} {name}")))
            .collect();
        }
        _ => {
            for r in promotions::results(&mut conn).await? {
                let (label, class) = status_label(p, r.status);
                results.push(ResultRow {
                    kind: match r.kind.as_str() {
                        "coupon_template" => p.coupons,
                        "promotion" => p.discounts,
                        _ => p.flash,
                    },
                    issued: r.issued,
                    used: r.used,
                    orders: r.orders,
                    discount: yuan(r.discount_fen),
                    budget_left: r
                        .budget_left_fen
                        .map_or_else(|| p.unlimited.to_owned(), yuan),
                    sold: if r.kind == "flash_sale" {
                        format!("{} / {}", r.sold, r.pool)
                    } else {
                        "—".into()
                    },
                    status_label: label,
                    status_class: class,
                    name: r.name,
                });
            }
        }
    }
    let now = clock::now();
    let can_write = require(&console.auth, Access::Write).is_ok();
    html(&PromotionsPage {
        shell: console.shell(Nav::Area(Area::Commerce), p.title),
        p,
        tab: tab.to_owned(),
        tabs,
        can_write,
        templates,
        promotions: rows_p,
        sales,
        results,
        skus,
        default_start: local_input(now),
        default_end: local_input(now + 7 * DAY),
    })
}

// ---- forms -----------------------------------------------------------------

fn yuan_to_fen(field: &'static str, s: &str) -> Result<Option<i64>, Error> {
    let s = s.trim().trim_start_matches('¥');
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::invalid(
            "invalid_amount",
            format!("{field}: {s} is not an amount in yuan"),
        )
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().map_err(|_| bad())?
    };
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .map(Some)
        .ok_or_else(bad)
}

fn int(field: &'static str, s: &str) -> Result<Option<i64>, Error> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        Error::invalid(
            "invalid_number",
            format!("{field}: {s} is not a whole number"),
        )
    })
}

/// `YYYY-MM-DDTHH:MM` from a `datetime-local` input, in China time.
fn local_time(field: &'static str, s: &str) -> Result<Micros, Error> {
    let bad = || {
        Error::invalid(
            "invalid_time",
            format!("{field}: a date and time is required"),
        )
    };
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 16 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|v| v.parse::<i64>().ok());
    let (Some(y), Some(m), Some(d), Some(h), Some(min)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16))
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 {
        return Err(bad());
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let at = (days * 86_400 + h * 3_600 + min * 60) * 1_000_000 - REPORT_OFFSET;
    // Refuse dates that do not exist (a 31st of a short month rolls over).
    if local_input(at) != s {
        return Err(bad());
    }
    Ok(at)
}

fn list(s: &str) -> Vec<String> {
    s.split([',', '，', '\n'])
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// After a form: reload the tab, or show why the input was refused.
fn answer(result: Result<(), Error>, tab: &str) -> PageResult {
    super::form_answer(result, &format!("/admin/commerce/promotions?tab={tab}"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TemplateForm {
    name: String,
    kind: String,
    amount_yuan: String,
    percent: String,
    cap_yuan: String,
    threshold_yuan: String,
    scope: String,
    scope_values: String,
    starts_at: String,
    ends_at: String,
    valid_days: String,
    claimable: Option<String>,
    per_person_limit: String,
    total_quantity: String,
    budget_yuan: String,
    stackable: Option<String>,
}

/// `POST /admin/commerce/promotions/coupon-templates`
pub async fn create_template(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<TemplateForm>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    require(&console.auth, Access::Write)?;
    let result = async {
        let new = NewCouponTemplate {
            name: f.name.clone(),
            description: String::new(),
            kind: if f.kind == "percent_off" {
                CouponKind::PercentOff
            } else {
                CouponKind::AmountOff
            },
            amount_fen: yuan_to_fen(ZH.amount_yuan, &f.amount_yuan)?.unwrap_or(0),
            percent: int(ZH.percent, &f.percent)?.unwrap_or(0),
            cap_fen: yuan_to_fen(ZH.cap_yuan, &f.cap_yuan)?,
            threshold_fen: yuan_to_fen(ZH.threshold_yuan, &f.threshold_yuan)?.unwrap_or(0),
            scope: if f.scope.is_empty() {
                "all".into()
            } else {
                f.scope.clone()
            },
            scope_values: list(&f.scope_values),
            starts_at: local_time(ZH.starts, &f.starts_at)?,
            ends_at: local_time(ZH.ends, &f.ends_at)?,
            valid_days: int(ZH.valid_days, &f.valid_days)?,
            claimable: f.claimable.is_some(),
            per_person_limit: int(ZH.per_person, &f.per_person_limit)?.unwrap_or(1),
            total_quantity: int(ZH.total, &f.total_quantity)?,
            budget_fen: yuan_to_fen(ZH.budget_yuan, &f.budget_yuan)?,
            stackable_with_promotions: f.stackable.is_some(),
        };
        let mut tx = state.db.begin().await?;
        let t = coupons::create_template(&mut tx, &new, clock::now()).await?;
        audit::record(
            &mut tx,
            &console.auth.actor(),
            "coupon_template.create",
            "coupon_template",
            Some(&t.id),
            json!({ "name": t.name }),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
    .await;
    answer(result, "coupons")
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct IssueForm {
    template_id: String,
    profile_ids: String,
}

/// `POST /admin/commerce/promotions/issue`
pub async fn issue(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<IssueForm>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    require(&console.auth, Access::Write)?;
    let result = async {
        let now = clock::now();
        let mut tx = state.db.begin().await?;
        let issued = coupons::issue(
            &mut tx,
            &f.template_id,
            &list(&f.profile_ids),
            &console.auth.user_id,
            now,
        )
        .await?;
        for coupon in &issued {
            coupon_event(&mut tx, "coupon.issued", coupon, now).await?;
        }
        audit::record(
            &mut tx,
            &console.auth.actor(),
            "coupon.issue",
            "coupon_template",
            Some(&f.template_id),
            json!({ "count": issued.len() }),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
    .await;
    answer(result, "coupons")
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PromotionForm {
    name: String,
    kind: String,
    steps: String,
    every_threshold: Option<String>,
    percent: String,
    cap_yuan: String,
    scope: String,
    scope_values: String,
    priority: String,
    exclusive: Option<String>,
    stackable_with_coupons: Option<String>,
    budget_yuan: String,
    starts_at: String,
    ends_at: String,
}

/// `1000:100, 2000:250` in yuan.
fn steps(s: &str) -> Result<Vec<ThresholdRule>, Error> {
    list(s)
        .iter()
        .map(|step| {
            let (t, off) = step.split_once([':', '：']).ok_or_else(|| {
                Error::invalid(
                    "invalid_rules",
                    format!("{step}: write a step as threshold:amount"),
                )
            })?;
            Ok(ThresholdRule {
                threshold_fen: yuan_to_fen(ZH.steps, t)?.unwrap_or(0),
                off_fen: yuan_to_fen(ZH.steps, off)?.unwrap_or(0),
            })
        })
        .collect()
}

/// `POST /admin/commerce/promotions/discounts`
pub async fn create_promotion(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<PromotionForm>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    require(&console.auth, Access::Write)?;
    let result = async {
        let kind = if f.kind == "percent_off" {
            PromotionKind::PercentOff
        } else {
            PromotionKind::ThresholdAmountOff
        };
        let new = NewPromotion {
            name: f.name.clone(),
            kind,
            rules: if kind == PromotionKind::ThresholdAmountOff {
                steps(&f.steps)?
            } else {
                vec![]
            },
            every_threshold: f.every_threshold.is_some(),
            percent: int(ZH.percent, &f.percent)?.unwrap_or(0),
            cap_fen: yuan_to_fen(ZH.cap_yuan, &f.cap_yuan)?,
            scope: if f.scope.is_empty() {
                "all".into()
            } else {
                f.scope.clone()
            },
            scope_values: list(&f.scope_values),
            priority: int(ZH.priority, &f.priority)?.unwrap_or(0),
            exclusive: f.exclusive.is_some(),
            stackable_with_coupons: f.stackable_with_coupons.is_some(),
            budget_fen: yuan_to_fen(ZH.budget_yuan, &f.budget_yuan)?,
            starts_at: local_time(ZH.starts, &f.starts_at)?,
            ends_at: local_time(ZH.ends, &f.ends_at)?,
        };
        let mut tx = state.db.begin().await?;
        let p = discounts::create(&mut tx, &new, clock::now()).await?;
        audit::record(
            &mut tx,
            &console.auth.actor(),
            "promotion.create",
            "promotion",
            Some(&p.id),
            json!({ "name": p.name }),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
    .await;
    answer(result, "discounts")
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SaleForm {
    name: String,
    starts_at: String,
    ends_at: String,
    sku_id: String,
    price_yuan: String,
    pool: String,
    per_person_limit: String,
}

/// `POST /admin/commerce/promotions/flash-sales`
pub async fn create_sale(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<SaleForm>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    require(&console.auth, Access::Write)?;
    let result = async {
        let new = NewFlashSale {
            name: f.name.clone(),
            starts_at: local_time(ZH.starts, &f.starts_at)?,
            ends_at: local_time(ZH.ends, &f.ends_at)?,
            items: vec![NewFlashItem {
                sku_id: f.sku_id.clone(),
                price_fen: yuan_to_fen(ZH.price_yuan, &f.price_yuan)?.unwrap_or(-1),
                pool: int(ZH.pool, &f.pool)?.unwrap_or(-1),
                per_person_limit: int(ZH.per_person, &f.per_person_limit)?.unwrap_or(1),
            }],
        };
        let mut tx = state.db.begin().await?;
        let s = flash::create(&mut tx, &new, clock::now()).await?;
        audit::record(
            &mut tx,
            &console.auth.actor(),
            "flash_sale.create",
            "flash_sale",
            Some(&s.id),
            json!({ "name": s.name }),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
    .await;
    answer(result, "flash")
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StatusForm {
    /// coupons | discounts | flash
    campaign: String,
    id: String,
    status: String,
}

/// `POST /admin/commerce/promotions/status`: pause, resume or end.
pub async fn set_status(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<StatusForm>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    require(&console.auth, Access::Write)?;
    let (campaign, tab, kind) = match f.campaign.as_str() {
        "discounts" => (Campaign::Promotion, "discounts", "promotion"),
        "flash" => (Campaign::FlashSale, "flash", "flash_sale"),
        _ => (Campaign::CouponTemplate, "coupons", "coupon_template"),
    };
    let result = async {
        let status = match f.status.as_str() {
            "active" => Status::Active,
            "paused" => Status::Paused,
            "ended" => Status::Ended,
            _ => {
                return Err(Error::invalid(
                    "invalid_status",
                    "status is active, paused or ended",
                ))
            }
        };
        let mut tx = state.db.begin().await?;
        promotions::set_status(&mut tx, campaign, &f.id, status, clock::now()).await?;
        audit::record(
            &mut tx,
            &console.auth.actor(),
            &format!("{kind}.status"),
            kind,
            Some(&f.id),
            json!({ "status": status.as_str() }),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
    .await;
    answer(result, tab)
}

// ---- storefront ------------------------------------------------------------

pub struct CouponLabels {
    pub title: &'static str,
    pub mine: &'static str,
    pub claim: &'static str,
    pub claim_title: &'static str,
    pub signed_out: &'static str,
    pub signed_out_note: &'static str,
    pub none: &'static str,
    pub nothing_to_claim: &'static str,
    pub valid_until: &'static str,
    pub min_spend: &'static str,
    pub no_threshold: &'static str,
    pub issued: &'static str,
    pub locked: &'static str,
    pub used: &'static str,
    pub expired: &'static str,
    pub void: &'static str,
    pub flash: &'static str,
    pub left: &'static str,
}

const COUPONS_ZH: CouponLabels = CouponLabels {
    title: "我的优惠券",
    mine: "我的优惠券",
    claim: "领取",
    claim_title: "领券中心",
    signed_out: "登录后查看优惠券",
    signed_out_note: "请在极光电脑小程序中打开，或使用导购发给您的登录链接。",
    none: "还没有优惠券",
    nothing_to_claim: "暂时没有可领取的优惠券",
    valid_until: "有效期至",
    min_spend: "满",
    no_threshold: "无门槛",
    issued: "可使用",
    locked: "下单中",
    used: "已使用",
    expired: "已过期",
    void: "已作废",
    flash: "限时秒杀",
    left: "剩余",
};

const COUPONS_EN: CouponLabels = CouponLabels {
    title: "My coupons",
    mine: "My coupons",
    claim: "Claim",
    claim_title: "Coupons to claim",
    signed_out: "Sign in to see your coupons",
    signed_out_note: "Open the Aurora Mini Program, or use the sign-in link your advisor sent you.",
    none: "No coupons yet",
    nothing_to_claim: "No coupons to claim right now",
    valid_until: "Valid until",
    min_spend: "Spend",
    no_threshold: "No minimum",
    issued: "Ready to use",
    locked: "In an order",
    used: "Used",
    expired: "Expired",
    void: "Withdrawn",
    flash: "Flash sale",
    left: "left",
};

pub struct CouponCard {
    pub id: String,
    pub name: String,
    pub value: String,
    pub condition: String,
    pub valid_until: String,
    pub status: String,
    pub status_label: &'static str,
    pub usable: bool,
}

pub struct FlashCard {
    pub name: String,
    pub sku: String,
    pub price: String,
    pub list: String,
    pub left: i64,
    pub ends: String,
}

#[derive(Template)]
#[template(path = "store/coupons.html")]
struct CouponsPage {
    f: Frame,
    c: &'static CouponLabels,
    signed_in: bool,
    csrf: String,
    mine: Vec<CouponCard>,
    claimable: Vec<CouponCard>,
    flash: Vec<FlashCard>,
}

fn coupon_value(kind: CouponKind, amount: i64, pct: i64) -> String {
    match kind {
        CouponKind::AmountOff => yuan(amount),
        CouponKind::PercentOff => format!("-{pct}%"),
    }
}

/// `GET /coupons`: the customer's coupons, coupons to claim and live flash sales.
pub async fn store_coupons(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Me, "/coupons");
    let c = if f.lang == Lang::Zh {
        &COUPONS_ZH
    } else {
        &COUPONS_EN
    };
    let now = clock::now();
    let session = match CookieJar::from_headers(&headers).get(CUSTOMER_COOKIE) {
        Some(cookie) => customers::authenticate(&state.db, cookie.value()).await?,
        None => None,
    };
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let condition = |threshold: i64| {
        if threshold > 0 {
            format!("{}{}", c.min_spend, yuan(threshold))
        } else {
            c.no_threshold.to_owned()
        }
    };
    let (mut mine, mut claimable, mut csrf) = (Vec::new(), Vec::new(), String::new());
    let signed_in = session.is_some();
    if let Some(s) = session {
        let buyer = promotions::buyer(&mut conn, &s.profile_id, s.member_id.as_deref()).await?;
        for k in coupons::for_profile(&mut conn, &s.profile_id, now).await? {
            let label = match k.status.as_str() {
                "issued" => c.issued,
                "locked" => c.locked,
                "used" => c.used,
                "void" => c.void,
                _ => c.expired,
            };
            mine.push(CouponCard {
                value: coupon_value(k.kind, k.amount_fen, k.percent),
                condition: condition(k.threshold_fen),
                valid_until: when(k.valid_until),
                usable: k.status == "issued",
                status_label: label,
                status: k.status,
                id: k.id,
                name: k.name,
            });
        }
        for (t, claimed) in coupons::claimable(&mut conn, &buyer, now).await? {
            if claimed >= t.per_person_limit {
                continue;
            }
            claimable.push(CouponCard {
                value: coupon_value(t.kind, t.amount_fen, t.percent),
                condition: condition(t.threshold_fen),
                valid_until: when(t.ends_at),
                usable: true,
                status: "claimable".into(),
                status_label: c.claim,
                id: t.id,
                name: t.name,
            });
        }
        csrf = s.csrf;
    }
    let mut flash = Vec::new();
    for s in flash::live_and_upcoming(&mut conn, now).await? {
        if s.starts_at > now {
            continue;
        }
        for i in s.items {
            flash.push(FlashCard {
                name: s.name.clone(),
                sku: i.sku_name,
                price: yuan(i.price_fen),
                list: yuan(i.list_fen),
                left: i.pool - i.sold,
                ends: when(s.ends_at),
            });
        }
    }
    html(&CouponsPage {
        f,
        c,
        signed_in,
        csrf,
        mine,
        claimable,
        flash,
    })
}
