//! The storefront's service center (`/service`): look a device up by its
//! service tag, and — signed in — the customer's devices with their
//! warranty, open tickets and coming on-site visits, with the ways in to
//! each (open a ticket, book a repair).

use super::i18n::Lang;
use super::store::{frame, Frame, Tab};
use super::store_orders::session;
use super::{html, when, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use cove_core::clock::{self, DAY};
use cove_core::service::{devices, ServiceTag};
use cove_core::Error;
use serde::Deserialize;

pub struct Labels {
    pub title: &'static str,
    pub lookup: &'static str,
    pub lookup_hint: &'static str,
    pub look_up: &'static str,
    pub bad_tag: &'static str,
    pub my_devices: &'static str,
    pub no_devices: &'static str,
    pub in_warranty: &'static str,
    pub expired: &'static str,
    pub until: &'static str,
    pub open_tickets: &'static str,
    pub visits: &'static str,
    pub new_ticket: &'static str,
    pub book_repair: &'static str,
    pub sign_in: &'static str,
}

const ZH: Labels = Labels {
    title: "服务中心",
    lookup: "查询保修",
    lookup_hint: "输入机身或包装上的 7 位服务编号，或直接扫描二维码",
    look_up: "查询",
    bad_tag: "服务编号是 7 位字母或数字，请核对后再试",
    my_devices: "我的设备",
    no_devices: "还没有绑定设备：扫描机身上的二维码即可绑定",
    in_warranty: "保修中",
    expired: "已过保",
    until: "至",
    open_tickets: "处理中的工单",
    visits: "预约的上门服务",
    new_ticket: "在线报修 / 咨询",
    book_repair: "预约上门维修",
    sign_in: "登录后查看您的设备、工单和预约",
};

const EN: Labels = Labels {
    title: "Service center",
    lookup: "Check a warranty",
    lookup_hint: "Enter the 7-character service tag on the device or its box, or scan its QR code",
    look_up: "Look up",
    bad_tag: "A service tag is 7 letters or digits; please check it",
    my_devices: "My devices",
    no_devices: "No device bound yet: scan the QR code on your computer to bind it",
    in_warranty: "In warranty",
    expired: "Out of warranty",
    until: "until",
    open_tickets: "Open tickets",
    visits: "On-site visits booked",
    new_ticket: "Get help / open a ticket",
    book_repair: "Book an on-site repair",
    sign_in: "Sign in to see your devices, tickets and visits",
};

fn labels(lang: Lang) -> &'static Labels {
    match lang {
        Lang::Zh => &ZH,
        _ => &EN,
    }
}

/// A bound device as the list shows it.
struct DeviceRow {
    tag: String,
    model: String,
    covered: bool,
    ends: String,
}

/// What a signed-in customer sees.
struct Mine {
    devices: Vec<DeviceRow>,
    open_tickets: i64,
    visits: i64,
}

#[derive(Template)]
#[template(path = "store/service.html")]
struct ServicePage {
    f: Frame,
    s: &'static Labels,
    query: String,
    bad_tag: bool,
    mine: Option<Mine>,
}

#[derive(Debug, Deserialize)]
pub struct Lookup {
    tag: Option<String>,
}

/// `GET /service[?tag=]`: the service center; a valid tag goes to its device page.
pub async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Lookup>,
) -> PageResult<Response> {
    let query = q.tag.unwrap_or_default().trim().to_owned();
    if !query.is_empty() {
        if let Ok(tag) = ServiceTag::parse(&query) {
            return Ok(Redirect::to(&format!("/d/{}", tag.as_str())).into_response());
        }
    }
    let f = frame(&headers, Tab::Service, "/service");
    let s = labels(f.lang);
    let mine = match session(&state, &headers).await? {
        Some(session) => {
            let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
            let now = clock::now();
            let devices = match &session.member_id {
                Some(member) => devices::of_member(&mut conn, member).await?,
                None => Vec::new(),
            };
            let devices = devices
                .into_iter()
                .map(|d| DeviceRow {
                    tag: d.service_tag.as_str().to_owned(),
                    model: match f.lang {
                        Lang::Zh => d.model_name_zh,
                        _ => d.model_name_en,
                    },
                    covered: d.warranty_ends_at > now,
                    ends: when(d.warranty_ends_at - DAY).chars().take(10).collect(),
                })
                .collect();
            let open_tickets: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tickets WHERE profile_id = $1 AND status_kind <> 'closed' \
                 AND status_kind <> 'solved'",
            )
            .bind(&session.profile_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(Error::from)?;
            let visits: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM field_appointments WHERE profile_id = $1 AND ends_at > $2 \
                 AND status NOT IN ('completed', 'cancelled', 'no_show')",
            )
            .bind(&session.profile_id)
            .bind(now)
            .fetch_one(&mut *conn)
            .await
            .map_err(Error::from)?;
            Some(Mine {
                devices,
                open_tickets,
                visits,
            })
        }
        None => None,
    };
    let bad_tag = !query.is_empty();
    html(&ServicePage {
        f,
        s,
        query,
        bad_tag,
        mine,
    })
}
