//! The storefront's tickets: the customer's list, a form to open a
//! pre- or after-sales ticket (about a bound device or an order, with
//! photos from the phone), and a ticket's public conversation with a reply
//! form. Forms post to `/api/v1/me/...`; internal notes never reach here.

use super::i18n::Lang;
use super::service_tickets::status_name;
use super::store::{frame, Frame, Tab};
use super::store_orders::session;
use super::{html, when, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use cove_core::access::customers::CustomerSession;
use cove_core::db::Conn;
use cove_core::service::tickets::{self, statuses, Filter, Message};
use cove_core::Error;
use sqlx::Row;

pub struct StoreLabels {
    pub title: &'static str,
    pub sign_in: &'static str,
    pub empty: &'static str,
    pub new_ticket: &'static str,
    pub kind: &'static str,
    pub kinds: [(&'static str, &'static str); 2],
    pub subject: &'static str,
    pub description: &'static str,
    pub device: &'static str,
    pub order: &'static str,
    pub none: &'static str,
    pub photos: &'static str,
    pub submit: &'static str,
    pub sending: &'static str,
    pub status: &'static str,
    pub you: &'static str,
    pub agent: &'static str,
    pub reply: &'static str,
    pub send: &'static str,
    pub closed: &'static str,
    pub back: &'static str,
}

const STORE_ZH: StoreLabels = StoreLabels {
    title: "我的工单",
    sign_in: "登录后查看您的工单",
    empty: "您还没有工单",
    new_ticket: "提交工单",
    kind: "类型",
    kinds: [("after_sales", "售后服务"), ("pre_sales", "售前咨询")],
    subject: "主题",
    description: "问题描述",
    device: "相关设备",
    order: "相关订单",
    none: "不选择",
    photos: "照片或 PDF（可多选）",
    submit: "提交",
    sending: "正在提交…",
    status: "状态",
    you: "我",
    agent: "客服",
    reply: "补充说明",
    send: "发送",
    closed: "工单已关闭，如需帮助请提交新工单",
    back: "‹ 我的工单",
};

const STORE_EN: StoreLabels = StoreLabels {
    title: "My tickets",
    sign_in: "Sign in to see your tickets",
    empty: "You have no tickets yet",
    new_ticket: "Open a ticket",
    kind: "Kind",
    kinds: [
        ("after_sales", "After-sales service"),
        ("pre_sales", "Pre-sales question"),
    ],
    subject: "Subject",
    description: "What happened",
    device: "Device",
    order: "Order",
    none: "None",
    photos: "Photos or PDFs (several allowed)",
    submit: "Submit",
    sending: "Sending…",
    status: "Status",
    you: "You",
    agent: "Service",
    reply: "Add a reply",
    send: "Send",
    closed: "This ticket is closed; open a new one if you need help",
    back: "‹ My tickets",
};

fn store_labels(lang: Lang) -> &'static StoreLabels {
    match lang {
        Lang::Zh => &STORE_ZH,
        _ => &STORE_EN,
    }
}

/// (id, number, subject, status name, status kind, created).
type StoreRow = (String, String, String, String, String, String);

#[derive(Template)]
#[template(path = "store/tickets.html")]
struct StoreTickets {
    f: Frame,
    s: &'static StoreLabels,
    /// None when signed out.
    rows: Option<Vec<StoreRow>>,
}

/// `GET /service/tickets`: the signed-in customer's tickets and their status.
pub async fn store_list(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Service, "/service/tickets");
    let s = store_labels(f.lang);
    let Some(session) = session(&state, &headers).await? else {
        return html(&StoreTickets { f, s, rows: None });
    };
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let all = statuses::list(&mut conn).await?;
    let filter = Filter {
        profile_id: Some(session.profile_id.clone()),
        limit: Some(200),
        ..Filter::default()
    };
    let rows = tickets::list(&mut conn, &filter)
        .await?
        .into_iter()
        .map(|t| {
            (
                t.id,
                t.number,
                t.subject,
                status_name(&all, &t.status, f.lang),
                t.status_kind,
                when(t.created_at),
            )
        })
        .collect();
    html(&StoreTickets {
        f,
        s,
        rows: Some(rows),
    })
}

/// The member's bound devices and recent orders as (value, label) choices.
async fn choices(
    conn: &mut Conn,
    member_id: Option<&str>,
    lang: Lang,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), Error> {
    let Some(member_id) = member_id else {
        return Ok((Vec::new(), Vec::new()));
    };
    let devices = sqlx::query(
        "SELECT d.service_tag, p.name_zh, p.name_en FROM devices d JOIN products p ON p.id = d.product_id \
         WHERE d.member_id = $1 ORDER BY d.bound_at DESC, d.service_tag",
    )
    .bind(member_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        let tag: String = r.try_get(0)?;
        let name: String = r.try_get(if lang == Lang::Zh { 1 } else { 2 })?;
        Ok((tag.clone(), format!("{name} · {tag}")))
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let orders = sqlx::query(
        "SELECT id, order_no, placed_at FROM orders WHERE member_id = $1 ORDER BY placed_at DESC LIMIT 30",
    )
    .bind(member_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        let no: String = r.try_get(1)?;
        Ok((r.try_get(0)?, format!("{no} · {}", when(r.try_get(2)?))))
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((devices, orders))
}

#[derive(Template)]
#[template(path = "store/ticket_new.html")]
struct NewTicketPage {
    f: Frame,
    s: &'static StoreLabels,
    session: Option<CustomerSession>,
    devices: Vec<(String, String)>,
    orders: Vec<(String, String)>,
}

/// `GET /service/tickets/new`: the form to open a ticket.
pub async fn new_ticket(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Service, "/service/tickets/new");
    let s = store_labels(f.lang);
    let session = session(&state, &headers).await?;
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let member = session.as_ref().and_then(|c| c.member_id.as_deref());
    let (devices, orders) = choices(&mut conn, member, f.lang).await?;
    html(&NewTicketPage {
        f,
        s,
        session,
        devices,
        orders,
    })
}

#[derive(Template)]
#[template(path = "store/ticket.html")]
struct TicketPage {
    f: Frame,
    s: &'static StoreLabels,
    csrf: String,
    id: String,
    number: String,
    subject: String,
    status: String,
    status_kind: String,
    messages: Vec<(Message, String)>,
}

impl TicketPage {
    fn is_image(&self, content_type: &str) -> bool {
        content_type.starts_with("image/")
    }
}

/// `GET /service/tickets/{id}`: one of the customer's tickets, its public
/// conversation and a reply form (404 for anyone else's).
pub async fn ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let f = frame(&headers, Tab::Service, &format!("/service/tickets/{id}"));
    let s = store_labels(f.lang);
    let Some(session) = session(&state, &headers).await? else {
        return html(&StoreTickets { f, s, rows: None });
    };
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let d = tickets::detail(&mut conn, &id, true).await?;
    if d.ticket.profile_id != session.profile_id {
        return Err(Error::not_found("ticket").into());
    }
    let all = statuses::list(&mut conn).await?;
    html(&TicketPage {
        s,
        csrf: session.csrf,
        id: d.ticket.id,
        number: d.ticket.number,
        subject: d.ticket.subject,
        status: status_name(&all, &d.ticket.status, f.lang),
        status_kind: d.ticket.status_kind,
        messages: d
            .messages
            .into_iter()
            .filter(|m| !m.internal)
            .map(|m| {
                let at = when(m.created_at);
                (m, at)
            })
            .collect(),
        f,
    })
}
