//! The storefront's membership pages (`/me`): the member card with tier
//! progress, points, the rotating member code, benefits and the mall, or
//! the join form for a signed-in customer who is not a member yet. The
//! customer is known by the `cove_customer` cookie, set by a one-time
//! sign-in link (`/me/link/{token}`) a salesperson sends over WeCom — the
//! Mini Program uses the same API with its bearer token.

use super::i18n::Lang;
use super::store::{frame, Frame, Tab};
use super::{html, read_conn, when, PageResult};
use crate::customer::{page_session, CUSTOMER_COOKIE};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use cove_core::access::customers;
use cove_core::clock;
use cove_core::membership::benefits::{self, MemberBenefits};
use cove_core::membership::earn;
use cove_core::membership::mall::{self, Item};
use cove_core::membership::points::{self, Balance, Entry};
use cove_core::membership::{code, members, tiers, Member};

pub struct MeLabels {
    pub title: &'static str,
    pub signed_out: &'static str,
    pub signed_out_note: &'static str,
    pub not_member: &'static str,
    pub not_member_note: &'static str,
    pub points: &'static str,
    pub unit: &'static str,
    pub locked: &'static str,
    pub expiring: &'static str,
    pub to_next: &'static str,
    pub top_tier: &'static str,
    pub code_note: &'static str,
    pub history: &'static str,
    pub benefits: &'static str,
    pub member_price: &'static str,
    pub free_shipping: &'static str,
    pub priority_service: &'static str,
    pub warranty_extension: &'static str,
    pub birthday_offer: &'static str,
    pub mall: &'static str,
    pub link_expired: &'static str,
    pub orders: &'static str,
    pub cart: &'static str,
    pub coupons: &'static str,
    pub mall_all: &'static str,
    pub locked_note: &'static str,
    pub next_unlock: &'static str,
    pub days: &'static str,
    pub join: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub phone_note: &'static str,
    pub birthday: &'static str,
    pub birthday_note: &'static str,
}

const ZH: MeLabels = MeLabels {
    title: "我的会员",
    signed_out: "登录后查看会员权益",
    signed_out_note: "请在极光电脑小程序中打开，或使用导购发给您的登录链接。",
    not_member: "加入极光会员",
    not_member_note: "填写姓名、确认手机号即可入会，立享积分与等级权益。",
    points: "可用积分",
    unit: "积分",
    locked: "待解冻",
    expiring: "30 天内到期",
    to_next: "距下一等级还需成长值",
    top_tier: "您已是最高等级",
    code_note: "到店出示会员码，每分钟自动刷新",
    history: "积分明细",
    benefits: "我的权益",
    member_price: "会员价",
    free_shipping: "包邮",
    priority_service: "优先服务",
    warranty_extension: "每年免费延保（月）",
    birthday_offer: "生日礼金（元）",
    mall: "积分商城",
    link_expired: "登录链接已失效，请联系导购重新发送。",
    orders: "我的订单",
    cart: "购物车",
    coupons: "优惠券",
    mall_all: "去兑换",
    locked_note: "购物积分在退货期结束后解冻，退货期",
    next_unlock: "最近解冻",
    days: "天",
    join: "立即入会",
    name: "姓名",
    phone: "手机号",
    phone_note: "默认使用您在小程序中验证的手机号",
    birthday: "生日（选填）",
    birthday_note: "生日月可领生日礼，填写后不可修改",
};

const EN: MeLabels = MeLabels {
    title: "My membership",
    signed_out: "Sign in to see your membership",
    signed_out_note: "Open the Aurora Mini Program, or use the sign-in link your advisor sent you.",
    not_member: "Join Aurora membership",
    not_member_note: "Give your name and confirm your phone to join and start earning points.",
    points: "Points",
    unit: "points",
    locked: "Unlocking",
    expiring: "Expiring in 30 days",
    to_next: "Growth to the next tier",
    top_tier: "You are in the top tier",
    code_note: "Show this code in store; it refreshes every minute",
    history: "Points history",
    benefits: "My benefits",
    member_price: "Member price",
    free_shipping: "Free shipping",
    priority_service: "Priority service",
    warranty_extension: "Free warranty extension per year (months)",
    birthday_offer: "Birthday gift (yuan)",
    mall: "Points mall",
    link_expired: "This sign-in link has expired; ask your advisor for a new one.",
    orders: "My orders",
    cart: "Cart",
    coupons: "Coupons",
    mall_all: "Redeem",
    locked_note: "Purchase points unlock when the return window ends; the window is",
    next_unlock: "Next unlock",
    days: "days",
    join: "Join now",
    name: "Name",
    phone: "Phone",
    phone_note: "The phone you verified in the Mini Program, unless you change it",
    birthday: "Birthday (optional)",
    birthday_note: "A gift in your birthday month; it cannot be changed later",
};

fn labels(lang: Lang) -> &'static MeLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

pub struct CardView {
    pub member: Member,
    pub tier_name: String,
    pub next_tier: Option<String>,
    pub growth_to_next: i64,
    pub progress_pct: i64,
    pub balance: Balance,
    pub code: String,
    pub code_svg: String,
    pub history: Vec<(Entry, String)>,
    pub benefits: MemberBenefits,
    pub items: Vec<Item>,
    /// When the next locked points unlock.
    pub next_unlock: Option<String>,
}

/// The return window purchase points stay locked through, as the page shows it.
pub struct ReturnWindow {
    pub days: i64,
    pub seconds: i64,
}

const RETURN_WINDOW: ReturnWindow = ReturnWindow {
    days: earn::RETURN_WINDOW / clock::DAY,
    seconds: earn::RETURN_WINDOW / clock::SECOND,
};

#[derive(Template)]
#[template(path = "store/member.html")]
struct MePage {
    f: Frame,
    m: &'static MeLabels,
    /// None: signed out; Some(None): signed in, not a member.
    card: Option<Option<CardView>>,
    notice: Option<&'static str>,
    /// The phone a customer who has not joined would join with.
    join_phone: String,
    csrf: String,
    window: ReturnWindow,
}

/// `GET /me`: the member card, or how to sign in or join.
pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Me, "/me");
    let m = labels(f.lang);
    let session = page_session(&state, &headers).await?;
    let (mut join_phone, mut csrf) = (String::new(), String::new());
    let card = match session {
        None => None,
        Some(s) => {
            csrf = s.csrf;
            match s.member_id {
                None => {
                    let mut conn = read_conn(&state).await?;
                    join_phone = members::known_phone(&mut conn, &s.profile_id)
                        .await?
                        .unwrap_or_default();
                    Some(None)
                }
                Some(id) => Some(Some(card(&state, &id, f.lang).await?)),
            }
        }
    };
    html(&MePage {
        f,
        m,
        card,
        notice: None,
        join_phone,
        csrf,
        window: RETURN_WINDOW,
    })
}

async fn card(state: &AppState, member_id: &str, lang: Lang) -> PageResult<CardView> {
    let now = clock::now();
    let mut conn = read_conn(state).await?;
    let member = members::get(&mut conn, member_id).await?;
    let all = tiers::list(&mut conn).await?;
    let name = |t: &tiers::Tier| {
        if lang == Lang::Zh {
            t.name_zh.clone()
        } else {
            t.name_en.clone()
        }
    };
    let tier = all.iter().find(|t| t.code == member.tier);
    let rank = tier.map_or(0, |t| t.rank);
    let next = all.iter().find(|t| t.rank > rank);
    let growth = tiers::period_growth(&mut conn, member_id, now).await?;
    let (growth_to_next, progress_pct) = match next {
        Some(n) if n.growth_min > 0 => (
            (n.growth_min - growth).max(0),
            (growth * 100 / n.growth_min).clamp(0, 100),
        ),
        _ => (0, 100),
    };
    let (code, _) = code::issue(
        &state.vault.derive_key(code::KEY_PURPOSE),
        &member.member_no,
        now,
    );
    Ok(CardView {
        tier_name: tier.map(name).unwrap_or_else(|| member.tier.clone()),
        next_tier: next.map(name),
        growth_to_next,
        progress_pct,
        balance: points::balance(&mut conn, member_id, now).await?,
        next_unlock: points::next_unlock(&mut conn, member_id, now)
            .await?
            .map(when),
        code_svg: cove_core::service::qr::svg(&code)?,
        code,
        history: points::history(&mut conn, member_id, None, 10)
            .await?
            .into_iter()
            .map(|e| {
                let at = when(e.at).chars().take(10).collect();
                (e, at)
            })
            .collect(),
        benefits: benefits::for_member(&mut conn, member_id).await?,
        items: mall::list_items(&mut conn, now)
            .await?
            .into_iter()
            .take(4)
            .collect(),
        member,
    })
}

/// `GET /me/link/{token}`: signs the customer in once and opens `/me`.
pub async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult<Response> {
    let mut tx = state.db.begin().await?;
    let session = customers::redeem_link(&mut tx, &token, clock::now()).await?;
    tx.commit().await.map_err(cove_core::Error::from)?;
    let Some(session) = session else {
        let f = frame(&headers, Tab::Me, "/me");
        let m = labels(f.lang);
        return html(&MePage {
            f,
            m,
            card: None,
            notice: Some(m.link_expired),
            join_phone: String::new(),
            csrf: String::new(),
            window: RETURN_WINDOW,
        });
    };
    let cookie = Cookie::build((CUSTOMER_COOKIE, session))
        .http_only(true)
        .secure(state.config.secure_cookies())
        .same_site(SameSite::Lax)
        .path("/")
        .build();
    Ok((CookieJar::new().add(cookie), Redirect::to("/me")).into_response())
}
