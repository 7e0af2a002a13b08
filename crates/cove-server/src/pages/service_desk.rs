//! The console's service desk: look a device up by service tag — model,
//! warranty and entitlements, ownership history — and print its QR code.

use super::console::{Console, Nav, Shell};
use super::i18n::Lang;
use super::{html, when, when_opt, PageResult};
use crate::error::Query;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use cove_core::access::{Access, Area};
use cove_core::clock;
use cove_core::service::warranty::{self, Status};
use cove_core::service::{devices, ServiceTag};
use cove_core::Error;
use serde::Deserialize;

pub struct DeskLabels {
    pub lookup: &'static str,
    pub queue: &'static str,
    pub placeholder: &'static str,
    pub search: &'static str,
    pub not_found: &'static str,
    pub model: &'static str,
    pub serial: &'static str,
    pub shipped: &'static str,
    pub channel_region: &'static str,
    pub warranty: &'static str,
    pub statuses: [&'static str; 3],
    pub activated: &'static str,
    pub entitlements: &'static str,
    pub columns: [&'static str; 5],
    pub ownership: &'static str,
    pub ownership_columns: [&'static str; 5],
    pub qr: &'static str,
    pub none: &'static str,
    pub tickets: &'static str,
    pub dispatch: &'static str,
}

const ZH: DeskLabels = DeskLabels {
    lookup: "设备与保修查询",
    queue: "工单队列 ›",
    placeholder: "输入 7 位服务编号",
    search: "查询",
    not_found: "未找到该设备",
    model: "型号",
    serial: "序列号",
    shipped: "出厂日期",
    channel_region: "销售渠道 / 地区",
    warranty: "保修状态",
    statuses: ["保修期内", "待激活", "已过保"],
    activated: "激活时间",
    entitlements: "服务权益",
    columns: ["类型", "服务级别", "开始", "结束", "来源"],
    ownership: "绑定记录",
    ownership_columns: ["会员", "方式", "凭证", "绑定时间", "结束"],
    qr: "设备二维码",
    none: "—",
    tickets: "工单",
    dispatch: "上门调度",
};

const EN: DeskLabels = DeskLabels {
    lookup: "Device and warranty lookup",
    queue: "Ticket queue ›",
    placeholder: "7-character service tag",
    search: "Look up",
    not_found: "No device with this service tag",
    model: "Model",
    serial: "Serial",
    shipped: "Shipped",
    channel_region: "Channel / region",
    warranty: "Warranty",
    statuses: ["In warranty", "Not activated", "Expired"],
    activated: "Activated",
    entitlements: "Entitlements",
    columns: ["Kind", "Service level", "Starts", "Ends", "Origin"],
    ownership: "Ownership history",
    ownership_columns: ["Member", "Via", "Proof", "Bound", "Ended"],
    qr: "Device QR code",
    none: "—",
    tickets: "Tickets",
    dispatch: "On-site dispatch",
};

pub struct Found {
    pub tag: String,
    pub model: String,
    pub serial: String,
    pub shipped: String,
    pub channel_region: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub ends: String,
    pub activated: String,
    pub entitlements: Vec<[String; 5]>,
    pub bindings: Vec<[String; 5]>,
}

#[derive(Template)]
#[template(path = "console/service.html")]
struct DeskPage {
    shell: Shell,
    d: &'static DeskLabels,
    query: String,
    missing: bool,
    found: Option<Found>,
}

#[derive(Deserialize)]
pub struct Lookup {
    tag: Option<String>,
}

/// `GET /admin/service`: the service desk's device lookup.
pub async fn desk(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<Lookup>,
) -> PageResult {
    console.require(Area::Service, Access::Read)?;
    let d = match console.lang {
        Lang::Zh => &ZH,
        _ => &EN,
    };
    let query = q.tag.unwrap_or_default().trim().to_owned();
    let mut found = None;
    let mut missing = false;
    if !query.is_empty() {
        match ServiceTag::parse(&query) {
            Err(_) => missing = true,
            Ok(tag) => {
                let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
                match warranty::lookup(&mut conn, &tag, clock::now()).await {
                    Err(Error::NotFound(_)) => missing = true,
                    Err(e) => return Err(e.into()),
                    Ok(w) => {
                        let bindings = devices::bindings(&mut conn, &tag).await?;
                        let dev = &w.device;
                        let (status, status_class) = match w.status {
                            Status::InWarranty => (d.statuses[0], "badge-green"),
                            Status::NotActivated => (d.statuses[1], "badge-amber"),
                            Status::Expired => (d.statuses[2], "badge-grey"),
                        };
                        let day = |us| when(us).chars().take(10).collect::<String>();
                        found = Some(Found {
                            tag: tag.to_string(),
                            model: format!(
                                "{} · {}",
                                dev.model_code,
                                match console.lang {
                                    Lang::Zh => &dev.model_name_zh,
                                    _ => &dev.model_name_en,
                                }
                            ),
                            serial: dev.serial.clone().unwrap_or_else(|| d.none.to_owned()),
                            shipped: day(dev.shipped_at),
                            channel_region: format!("{} / {}", dev.sales_channel, dev.region),
                            status,
                            status_class,
                            ends: w.ends_at.map(day).unwrap_or_else(|| d.none.to_owned()),
                            activated: when_opt(dev.activated_at, d.none),
                            entitlements: w
                                .entitlements
                                .iter()
                                .map(|e| {
                                    [
                                        e.kind.as_str().to_owned(),
                                        e.service_level.clone(),
                                        day(e.starts_at),
                                        day(e.ends_at),
                                        format!("{} · {}", e.origin.as_str(), e.reference),
                                    ]
                                })
                                .collect(),
                            bindings: bindings
                                .iter()
                                .map(|b| {
                                    [
                                        b.member_id.clone(),
                                        b.bound_via.clone(),
                                        b.proof.clone(),
                                        when(b.bound_at),
                                        match (&b.ended_at, &b.end_reason) {
                                            (Some(at), Some(r)) => format!("{} ({r})", when(*at)),
                                            _ => d.none.to_owned(),
                                        },
                                    ]
                                })
                                .collect(),
                        });
                    }
                }
            }
        }
    }
    let l = console.l();
    html(&DeskPage {
        shell: console.shell(Nav::Area(Area::Service), l.area(Area::Service)),
        d,
        query,
        missing,
        found,
    })
}
