//! On-site repair pages: the console's dispatch board (days × engineers,
//! visits awaiting dispatch with an assign form), the storefront's
//! appointments (my visits, booking a repair) and the tokenised link page.

use super::console::{Console, Nav};
use super::i18n::Lang;
use super::store::{frame, Frame, Tab};
use super::{html, when, PageResult};
use crate::customer::CUSTOMER_COOKIE;
use crate::error::{Path, Query};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::CookieJar;
use cove_core::access::{customers, Access, Area};
use cove_core::clock;
use cove_core::db::Conn;
use cove_core::service::field::appointments::{self, Filter};
use cove_core::service::field::board;
use cove_core::service::field::view::{self, CustomerAppointment};
use cove_core::service::field::{engineers, Appointment, Engineer, Status};
use cove_core::service::{devices, Kind};
use cove_core::Error;
use serde::Deserialize;

const BOARD_DAYS: u64 = 3;

pub struct BoardLabels {
    pub title: &'static str,
    pub awaiting: &'static str,
    pub engineer: &'static str,
    pub assign: &'static str,
    pub none: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
    pub en_route: &'static str,
    pub on_site: &'static str,
    pub complete: &'static str,
    pub notes: &'static str,
    pub tickets: &'static str,
    pub devices: &'static str,
    pub parts: &'static str,
    pub engineers: &'static str,
}

const BOARD_ZH: BoardLabels = BoardLabels {
    title: "上门服务调度",
    awaiting: "待派工",
    engineer: "工程师",
    assign: "派工",
    none: "无",
    previous: "前三天",
    next: "后三天",
    en_route: "出发",
    on_site: "到场",
    complete: "完工",
    notes: "维修记录",
    tickets: "工单",
    devices: "设备查询",
    parts: "更换配件：每行 料号 | 描述 | 数量",
    engineers: "工程师管理",
};

const BOARD_EN: BoardLabels = BoardLabels {
    title: "On-site dispatch",
    awaiting: "Awaiting dispatch",
    engineer: "Engineer",
    assign: "Dispatch",
    none: "None",
    previous: "Previous days",
    next: "Next days",
    en_route: "En route",
    on_site: "On site",
    complete: "Complete",
    notes: "Repair notes",
    tickets: "Tickets",
    devices: "Device lookup",
    parts: "Parts used, one a line: part number | description | quantity",
    engineers: "Engineers",
};

/// A visit as the board shows it.
pub struct Visit {
    pub id: String,
    pub number: String,
    pub time: String,
    pub status: &'static str,
    pub tag: String,
    pub territory: String,
    pub address: String,
    pub ticket_id: Option<String>,
    /// Engineers who cover the visit's territory and skill: (id, name,
    /// whether they are the one pencilled in).
    pub qualified: Vec<(String, String, bool)>,
}

pub struct Lane {
    pub name: String,
    pub territories: String,
    /// One list of visits per day.
    pub days: Vec<Vec<Visit>>,
}

#[derive(Template)]
#[template(path = "console/service_dispatch.html")]
struct BoardPage {
    shell: super::console::Shell,
    l: &'static BoardLabels,
    days: Vec<String>,
    previous: String,
    next: String,
    lanes: Vec<Lane>,
    awaiting: Vec<Visit>,
    can_write: bool,
}

#[derive(Deserialize)]
pub struct BoardQuery {
    /// First day, YYYY-MM-DD (today by default).
    from: Option<String>,
}

fn visit(a: &Appointment, all: &[Engineer]) -> Visit {
    let qualified = all
        .iter()
        .filter(|e| {
            e.active
                && e.territories.contains(&a.territory)
                && a.skill.as_ref().is_none_or(|s| e.skills.contains(s))
        })
        .map(|e| {
            let current = a.engineer_id.as_deref() == Some(e.id.as_str());
            (e.id.clone(), e.name.clone(), current)
        })
        .collect();
    Visit {
        id: a.id.clone(),
        number: a.number.clone(),
        time: board::local_time(a.starts_at),
        status: a.status.as_str(),
        tag: a.service_tag.clone(),
        territory: a.territory.clone(),
        address: a.address.clone(),
        ticket_id: a.ticket_id.clone(),
        qualified,
    }
}

/// `GET /admin/service/dispatch`: three days of visits per engineer and the
/// visits awaiting dispatch.
pub async fn board(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<BoardQuery>,
) -> PageResult {
    console.require(Area::Service, Access::Read)?;
    let l = match console.lang {
        Lang::Zh => &BOARD_ZH,
        _ => &BOARD_EN,
    };
    let window = board::window(q.from.as_deref(), BOARD_DAYS, clock::now())?;
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let all = engineers::list(&mut conn).await?;
    let visits = appointments::list(
        &mut conn,
        &Filter {
            from: Some(window.starts_at()),
            to: Some(window.ends_at()),
            limit: Some(1000),
            ..Filter::default()
        },
    )
    .await?;
    let lanes = all
        .iter()
        .filter(|e| e.active)
        .map(|e| {
            let mut per_day: Vec<Vec<Visit>> = window.days.iter().map(|_| Vec::new()).collect();
            for a in visits.iter().filter(|a| {
                a.engineer_id.as_deref() == Some(e.id.as_str()) && a.status != Status::Scheduled
            }) {
                if let Some(i) = window.day_of(a.starts_at) {
                    per_day[i].push(visit(a, &all));
                }
            }
            Lane {
                name: e.name.clone(),
                territories: e.territories.join(" "),
                days: per_day,
            }
        })
        .collect();
    let awaiting = visits
        .iter()
        .filter(|a| matches!(a.status, Status::Scheduled | Status::Requested))
        .map(|a| visit(a, &all))
        .collect();
    let cl = console.l();
    html(&BoardPage {
        shell: console.shell(Nav::Area(Area::Service), cl.area(Area::Service)),
        l,
        days: window.days.iter().map(|d| d.label.clone()).collect(),
        previous: format!("/admin/service/dispatch?from={}", window.previous),
        next: format!("/admin/service/dispatch?from={}", window.next),
        lanes,
        awaiting,
        can_write: console.principal().can(Area::Service, Access::Write),
    })
}

pub struct StoreLabels {
    pub title: &'static str,
    pub sign_in: &'static str,
    pub empty: &'static str,
    pub book: &'static str,
    pub device: &'static str,
    pub no_devices: &'static str,
    pub territory: &'static str,
    pub date: &'static str,
    pub find: &'static str,
    pub address: &'static str,
    pub submit: &'static str,
    pub no_slots: &'static str,
    pub engineer: &'static str,
    pub cancel: &'static str,
    pub reschedule: &'static str,
    pub rate: &'static str,
    pub rated: &'static str,
    pub booked: &'static str,
    pub link: &'static str,
    pub parts: &'static str,
    pub statuses: [(&'static str, &'static str); 8],
}

const STORE_ZH: StoreLabels = StoreLabels {
    title: "我的上门服务",
    sign_in: "登录后预约上门维修",
    empty: "您还没有上门服务预约",
    book: "预约上门维修",
    device: "设备",
    no_devices: "有上门服务权益的设备可在此预约；其他设备请在线报修",
    territory: "城市",
    date: "日期",
    find: "查看可约时段",
    address: "上门地址",
    submit: "预约",
    no_slots: "当天没有可约时段",
    engineer: "工程师",
    cancel: "取消预约",
    reschedule: "改约",
    rate: "评价",
    rated: "已评价",
    booked: "预约成功，可随时通过此链接查看、改约或取消：",
    link: "管理链接",
    parts: "更换配件",
    statuses: [
        ("requested", "已申请"),
        ("scheduled", "已预约"),
        ("dispatched", "已派工"),
        ("en_route", "工程师出发"),
        ("on_site", "工程师到场"),
        ("completed", "已完成"),
        ("cancelled", "已取消"),
        ("no_show", "未能上门"),
    ],
};

const STORE_EN: StoreLabels = StoreLabels {
    title: "My on-site repairs",
    sign_in: "Sign in to book an on-site repair",
    empty: "You have no on-site repairs yet",
    book: "Book an on-site repair",
    device: "Device",
    no_devices: "Devices with on-site cover can be booked here; for others, open a ticket",
    territory: "City",
    date: "Date",
    find: "Show free times",
    address: "Address",
    submit: "Book",
    no_slots: "No free times that day",
    engineer: "Engineer",
    cancel: "Cancel visit",
    reschedule: "Reschedule",
    rate: "Rate",
    rated: "Rated",
    booked: "Booked. View, move or cancel the visit any time with this link:",
    link: "Manage link",
    parts: "Parts replaced",
    statuses: [
        ("requested", "Requested"),
        ("scheduled", "Booked"),
        ("dispatched", "Engineer assigned"),
        ("en_route", "Engineer on the way"),
        ("on_site", "Engineer on site"),
        ("completed", "Completed"),
        ("cancelled", "Cancelled"),
        ("no_show", "Missed"),
    ],
};

fn store_labels(lang: Lang) -> &'static StoreLabels {
    match lang {
        Lang::Zh => &STORE_ZH,
        _ => &STORE_EN,
    }
}

/// A visit as the customer sees it on a page.
pub struct Card {
    pub v: CustomerAppointment,
    pub when: String,
    pub status: &'static str,
}

fn card(v: CustomerAppointment, s: &StoreLabels) -> Card {
    let status = s
        .statuses
        .iter()
        .find(|(code, _)| *code == v.status.as_str())
        .map(|(_, name)| *name)
        .unwrap_or("");
    Card {
        when: when(v.starts_at),
        status,
        v,
    }
}

async fn territories(conn: &mut Conn) -> Result<Vec<String>, Error> {
    let mut all: Vec<String> = engineers::list(conn)
        .await?
        .into_iter()
        .filter(|e| e.active)
        .flat_map(|e| e.territories)
        .collect();
    all.sort();
    all.dedup();
    Ok(all)
}

#[derive(Template)]
#[template(path = "store/appointments.html")]
struct StoreAppointments {
    f: Frame,
    s: &'static StoreLabels,
    signed_in: bool,
    csrf: String,
    cards: Vec<Card>,
    /// (service tag, model name).
    devices: Vec<(String, String)>,
    territories: Vec<String>,
    tomorrow: String,
}

/// `GET /service/appointments`: my visits and the booking form.
pub async fn store_list(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Service, "/service/appointments");
    let s = store_labels(f.lang);
    let session = match CookieJar::from_headers(&headers).get(CUSTOMER_COOKIE) {
        Some(c) => customers::authenticate(&state.db, c.value()).await?,
        None => None,
    };
    let mut page = StoreAppointments {
        f,
        s,
        signed_in: false,
        csrf: String::new(),
        cards: Vec::new(),
        devices: Vec::new(),
        territories: Vec::new(),
        tomorrow: board::tomorrow(clock::now()),
    };
    let Some(session) = session else {
        return html(&page);
    };
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let now = clock::now();
    let mine = appointments::list(
        &mut conn,
        &Filter {
            profile_id: Some(session.profile_id.clone()),
            limit: Some(200),
            ..Filter::default()
        },
    )
    .await?;
    for a in mine.into_iter().rev() {
        let v = view::for_customer(&mut conn, a, now).await?;
        page.cards.push(card(v, s));
    }
    if let Some(member) = &session.member_id {
        // Only devices with on-site cover can be booked from here.
        let covered: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT e.service_tag FROM device_entitlements e \
             JOIN devices d ON d.service_tag = e.service_tag \
             WHERE d.member_id = $1 AND e.kind = $2 AND e.ends_at > $3",
        )
        .bind(member)
        .bind(Kind::Onsite.as_str())
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::from)?;
        page.devices = devices::of_member(&mut conn, member)
            .await?
            .into_iter()
            .filter(|d| covered.iter().any(|t| t == d.service_tag.as_str()))
            .map(|d| {
                let name = match page.f.lang {
                    Lang::Zh => d.model_name_zh,
                    _ => d.model_name_en,
                };
                (d.service_tag.as_str().to_owned(), name)
            })
            .collect();
    }
    page.territories = territories(&mut conn).await?;
    page.signed_in = true;
    page.csrf = session.csrf;
    html(&page)
}

#[derive(Template)]
#[template(path = "store/appointment_link.html")]
struct LinkPage {
    f: Frame,
    s: &'static StoreLabels,
    c: Card,
    token: String,
    tomorrow: String,
}

/// `GET /a/{token}`: the visit a link opens, with reschedule, cancel and
/// rating, no sign-in needed.
pub async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    let f = frame(&headers, Tab::Service, &format!("/a/{token}"));
    let s = store_labels(f.lang);
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let a = appointments::by_token(&mut conn, &token).await?;
    let v = view::for_customer(&mut conn, a, clock::now()).await?;
    html(&LinkPage {
        f,
        s,
        c: card(v, s),
        token,
        tomorrow: board::tomorrow(clock::now()),
    })
}
