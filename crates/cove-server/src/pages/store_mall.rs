//! The storefront's points mall (`/mall`): what a member can redeem now with
//! their available points, and what they have redeemed. Redeeming goes
//! through `POST /api/v1/me/mall/redemptions` with a key made once per page,
//! so a double tap redeems once.

use super::i18n::Lang;
use super::store::{frame, Tab};
use super::{html, read_conn, when, PageResult};
use crate::customer::page_session;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use cove_core::clock;
use cove_core::membership::mall;
use cove_core::membership::points;
use serde::Deserialize;

pub struct MallLabels {
    pub title: &'static str,
    pub signed_out: &'static str,
    pub signed_out_note: &'static str,
    pub not_member: &'static str,
    pub join: &'static str,
    pub available: &'static str,
    pub unit: &'static str,
    pub redeem: &'static str,
    pub short: &'static str,
    pub sold_out: &'static str,
    pub left: &'static str,
    pub device: &'static str,
    pub no_device: &'static str,
    pub mine: &'static str,
    pub none: &'static str,
    pub redeemed: &'static str,
    pub see_coupons: &'static str,
    pub kind_product: &'static str,
    pub kind_coupon: &'static str,
    pub kind_warranty: &'static str,
    pub status_to_ship: &'static str,
    pub status_issued: &'static str,
    pub status_applied: &'static str,
}

const ZH: MallLabels = MallLabels {
    title: "积分商城",
    signed_out: "登录后兑换积分好礼",
    signed_out_note: "请在极光电脑小程序中打开，或使用导购发给您的登录链接。",
    not_member: "入会后即可用积分兑换",
    join: "去入会",
    available: "可用积分",
    unit: "积分",
    redeem: "兑换",
    short: "积分不足",
    sold_out: "已兑完",
    left: "剩余",
    device: "延保设备",
    no_device: "请先绑定设备",
    mine: "我的兑换",
    none: "暂无兑换记录",
    redeemed: "兑换成功",
    see_coupons: "查看优惠券",
    kind_product: "实物",
    kind_coupon: "优惠券",
    kind_warranty: "延保",
    status_to_ship: "待发货",
    status_issued: "已发券",
    status_applied: "已生效",
};

const EN: MallLabels = MallLabels {
    title: "Points mall",
    signed_out: "Sign in to redeem your points",
    signed_out_note: "Open the Aurora Mini Program, or use the sign-in link your advisor sent you.",
    not_member: "Join the membership to redeem points",
    join: "Join",
    available: "Available points",
    unit: "points",
    redeem: "Redeem",
    short: "Not enough points",
    sold_out: "Sold out",
    left: "Left",
    device: "Device to extend",
    no_device: "Bind a device first",
    mine: "My redemptions",
    none: "Nothing redeemed yet",
    redeemed: "Redeemed",
    see_coupons: "See my coupons",
    kind_product: "Gift",
    kind_coupon: "Coupon",
    kind_warranty: "Warranty",
    status_to_ship: "To ship",
    status_issued: "Coupon issued",
    status_applied: "Applied",
};

impl MallLabels {
    fn kind(&self, kind: &str) -> &'static str {
        match kind {
            "coupon" => self.kind_coupon,
            "warranty_extension" => self.kind_warranty,
            _ => self.kind_product,
        }
    }

    fn status(&self, status: &str) -> &'static str {
        match status {
            "issued" => self.status_issued,
            "applied" => self.status_applied,
            _ => self.status_to_ship,
        }
    }
}

pub struct ItemRow {
    pub id: String,
    pub kind: String,
    pub kind_label: &'static str,
    pub name: String,
    pub points: i64,
    pub stock: Option<i64>,
    /// Enough points and a unit left.
    pub affordable: bool,
}

#[derive(Clone)]
pub struct RedemptionRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub points: i64,
    pub status: &'static str,
    pub at: String,
}

/// What a member sees; `None` on the page when signed out or not a member.
pub struct MallView {
    pub available: i64,
    pub items: Vec<ItemRow>,
    pub mine: Vec<RedemptionRow>,
    /// Service tags of the member's devices, for a warranty extension.
    pub devices: Vec<String>,
    /// The redemption just made, named.
    pub just_redeemed: Option<RedemptionRow>,
}

#[derive(Template)]
#[template(path = "store/mall.html")]
struct MallPage {
    f: super::store::Frame,
    m: &'static MallLabels,
    signed_in: bool,
    view: Option<MallView>,
    csrf: String,
}

#[derive(Deserialize)]
pub struct MallQuery {
    /// The redemption made just before this page was loaded.
    redeemed: Option<String>,
}

/// `GET /mall`: the items on offer, with redeem buttons for a member.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MallQuery>,
) -> PageResult {
    let f = frame(&headers, Tab::Me, "/mall");
    let m = if f.lang == Lang::Zh { &ZH } else { &EN };
    let session = page_session(&state, &headers).await?;
    let signed_in = session.is_some();
    let (mut view, mut csrf) = (None, String::new());
    if let Some(s) = session {
        csrf = s.csrf;
        if let Some(member) = s.member_id {
            view = Some(member_view(&state, &member, f.lang, m, q.redeemed.as_deref()).await?);
        }
    }
    html(&MallPage {
        f,
        m,
        signed_in,
        view,
        csrf,
    })
}

async fn member_view(
    state: &AppState,
    member: &str,
    lang: Lang,
    m: &'static MallLabels,
    redeemed: Option<&str>,
) -> PageResult<MallView> {
    let now = clock::now();
    let mut conn = read_conn(state).await?;
    let available = points::balance(&mut conn, member, now).await?.available;
    let offered = mall::list_items(&mut conn, now).await?;
    let name = |i: &mall::Item| {
        if lang == Lang::Zh {
            i.name_zh.clone()
        } else {
            i.name_en.clone()
        }
    };
    let mut mine = Vec::new();
    for r in mall::redemptions(&mut conn, member).await? {
        let item = mall::get_item(&mut conn, &r.item_id).await?;
        mine.push(RedemptionRow {
            name: name(&item),
            kind: item.kind,
            points: r.points,
            status: m.status(&r.status),
            at: when(r.created_at),
            id: r.id,
        });
    }
    let devices: Vec<String> = sqlx::query_scalar(
        "SELECT service_tag FROM devices WHERE member_id = $1 ORDER BY service_tag LIMIT 50",
    )
    .bind(member)
    .fetch_all(&mut *conn)
    .await
    .map_err(cove_core::Error::from)?;
    let just_redeemed = redeemed.and_then(|id| mine.iter().find(|r| r.id == id).cloned());
    Ok(MallView {
        available,
        items: offered
            .iter()
            .map(|i| ItemRow {
                id: i.id.clone(),
                kind: i.kind.clone(),
                kind_label: m.kind(&i.kind),
                name: name(i),
                points: i.points,
                stock: i.stock,
                affordable: available >= i.points && i.stock.is_none_or(|s| s > 0),
            })
            .collect(),
        mine,
        devices,
        just_redeemed,
    })
}
