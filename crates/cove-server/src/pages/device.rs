//! The storefront's device page, `/d/{TAG}?s=…`: where a scanned device code
//! lands. It shows the model, the warranty and its entitlements; with a
//! genuine code (a valid signature) an unbound device offers binding to a
//! signed-in member, and its owner can activate the warranty here.

use super::store::{frame, Frame, Tab};
use super::store_orders::session;
use super::{html, html_status, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use cove_core::clock::{self, Micros};
use cove_core::service::qr::SigningKey;
use cove_core::service::warranty::{self, Status};
use cove_core::service::{Kind, ServiceTag};
use cove_core::Error;
use serde::Deserialize;

pub struct DeviceLabels {
    pub title: &'static str,
    pub service_tag: &'static str,
    pub in_warranty: &'static str,
    pub not_activated: &'static str,
    pub expired: &'static str,
    pub until: &'static str,
    pub days_left: &'static str,
    pub activate_by: &'static str,
    pub entitlements: &'static str,
    pub no_entitlements: &'static str,
    /// Per entitlement kind, in [`Kind::ALL`] order.
    pub kinds: [&'static str; 5],
    pub bound: &'static str,
    pub bind: &'static str,
    pub bind_note: &'static str,
    pub scan_to_bind: &'static str,
    pub sign_in_to_bind: &'static str,
    pub mine: &'static str,
    pub activate: &'static str,
    pub activated: &'static str,
    pub not_found: &'static str,
    pub not_found_note: &'static str,
}

pub const ZH: DeviceLabels = DeviceLabels {
    title: "我的设备",
    service_tag: "服务编号",
    in_warranty: "保修期内",
    not_activated: "保修待激活",
    expired: "已过保",
    until: "保修至",
    days_left: "剩余天数",
    activate_by: "请在此日期前激活以从激活日起算保修",
    entitlements: "服务权益",
    no_entitlements: "暂无服务权益",
    kinds: [
        "基础保修",
        "延长保修",
        "国际联保",
        "意外损坏保护",
        "上门服务",
    ],
    bound: "此设备已绑定会员",
    bind: "绑定到我的账户",
    bind_note: "绑定后可激活保修、在线报修并获得会员积分。",
    scan_to_bind: "请扫描设备、包装或说明书上的二维码以绑定此设备。",
    sign_in_to_bind: "登录会员后即可绑定此设备。",
    mine: "这是我的设备",
    activate: "激活保修",
    activated: "保修已激活",
    not_found: "未找到此设备",
    not_found_note: "请核对服务编号（7 位字母或数字），或联系客服。",
};

pub const EN: DeviceLabels = DeviceLabels {
    title: "My device",
    service_tag: "Service tag",
    in_warranty: "In warranty",
    not_activated: "Warranty not activated",
    expired: "Out of warranty",
    until: "Covered until",
    days_left: "Days left",
    activate_by: "Activate by this date for the warranty to start on the activation day",
    entitlements: "Entitlements",
    no_entitlements: "No entitlements yet",
    kinds: [
        "Base warranty",
        "Extended warranty",
        "International warranty",
        "Accidental damage",
        "On-site service",
    ],
    bound: "This device is bound to a member",
    bind: "Bind to my account",
    bind_note: "Bind it to activate the warranty, open repair requests and earn member points.",
    scan_to_bind: "Scan the code on the device, its box or its manual to bind it.",
    sign_in_to_bind: "Sign in as a member to bind this device.",
    mine: "This device is yours",
    activate: "Activate warranty",
    activated: "Warranty activated",
    not_found: "Device not found",
    not_found_note: "Check the service tag (7 letters or digits), or contact support.",
};

pub struct Line {
    pub kind: &'static str,
    pub level: String,
    pub period: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "store/device.html")]
struct DevicePage {
    f: Frame,
    d: &'static DeviceLabels,
    tag: String,
    model: String,
    status: &'static str,
    status_class: &'static str,
    ends: Option<String>,
    days_remaining: i64,
    activate_by: Option<String>,
    lines: Vec<Line>,
    bound: bool,
    /// Bound to the signed-in member.
    mine: bool,
    activated: Option<String>,
    /// The signed-in customer's CSRF token (binding and activating need one).
    csrf: Option<String>,
    /// The code's signature, when genuine (binding needs it).
    signature: Option<String>,
}

#[derive(Template)]
#[template(path = "store/device_missing.html")]
struct Missing {
    f: Frame,
    d: &'static DeviceLabels,
}

#[derive(Deserialize)]
pub struct Scan {
    s: Option<String>,
}

fn day(us: Micros) -> String {
    clock::to_datetime(us + cove_core::insight::REPORT_OFFSET)
        .format("%Y-%m-%d")
        .to_string()
}

/// `GET /d/{tag}`: the device page a scanned code opens.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(scan): Query<Scan>,
) -> PageResult {
    let f = frame(&headers, Tab::Service, &format!("/d/{raw}"));
    let d = f.l.device;
    let missing = |f| html_status(StatusCode::NOT_FOUND, &Missing { f, d });
    let Ok(tag) = ServiceTag::parse(&raw) else {
        return missing(f);
    };
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let w = match warranty::lookup(&mut conn, &tag, clock::now()).await {
        Ok(w) => w,
        Err(Error::NotFound(_)) => return missing(f),
        Err(e) => return Err(e.into()),
    };
    drop(conn);
    let session = session(&state, &headers).await?;
    let mine = session
        .as_ref()
        .is_some_and(|s| s.member_id.is_some() && s.member_id == w.device.member_id);
    let key = SigningKey::load(&state.db, &state.vault).await?;
    let signature = scan.s.filter(|s| key.verify(&tag, s));
    let (status, status_class) = match w.status {
        Status::InWarranty => (d.in_warranty, "ok"),
        Status::NotActivated => (d.not_activated, "warn"),
        Status::Expired => (d.expired, "off"),
    };
    let lines = w
        .entitlements
        .iter()
        .map(|e| Line {
            kind: Kind::ALL
                .iter()
                .position(|k| *k == e.kind)
                .and_then(|i| d.kinds.get(i))
                .copied()
                .unwrap_or(""),
            level: e.service_level.clone(),
            period: format!("{} – {}", day(e.starts_at), day(e.ends_at)),
            active: e.active,
        })
        .collect();
    let model = match f.lang {
        super::i18n::Lang::Zh => w.device.model_name_zh.clone(),
        _ => w.device.model_name_en.clone(),
    };
    html(&DevicePage {
        d,
        tag: tag.to_string(),
        model,
        status,
        status_class,
        ends: w.ends_at.map(day),
        days_remaining: w.days_remaining,
        activate_by: w.activation_due_by.map(day),
        lines,
        bound: w.device.member_id.is_some(),
        mine,
        activated: w.device.activated_at.map(day),
        csrf: session.map(|s| s.csrf),
        signature,
        f,
    })
}
