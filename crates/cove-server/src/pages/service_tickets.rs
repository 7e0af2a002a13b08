//! The console's ticket queue (with SLA countdowns) and a ticket's page:
//! conversation, reply or internal note, status, priority and assignment.

use super::console::{Console, Nav};
use super::i18n::Lang;
use super::{html, when, when_opt, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use cove_core::access::{Access, Area};
use cove_core::clock::{self, Micros, MINUTE};
use cove_core::service::tickets::statuses::{self, Status};
use cove_core::service::tickets::teams::{self, Team};
use cove_core::service::tickets::{self, Detail, Filter, Ticket};
use cove_core::Error;
use sqlx::Row;

pub struct Labels {
    pub queue: &'static str,
    pub search: &'static str,
    pub all: &'static str,
    pub breached_only: &'static str,
    pub columns: [&'static str; 7],
    pub empty: &'static str,
    pub breached: &'static str,
    pub overdue: &'static str,
    pub conversation: &'static str,
    pub internal: &'static str,
    pub reply: &'static str,
    pub send: &'static str,
    pub status: &'static str,
    pub priority: &'static str,
    pub assign: &'static str,
    pub agent: &'static str,
    pub team: &'static str,
    pub save: &'static str,
    pub timers: &'static str,
    pub timer_columns: [&'static str; 5],
    pub history: &'static str,
    pub kind_channel: &'static str,
    pub member: &'static str,
    pub device_order: &'static str,
    pub none: &'static str,
    pub priority_service: &'static str,
}

const ZH: Labels = Labels {
    queue: "工单队列",
    search: "筛选",
    all: "全部状态",
    breached_only: "仅超时",
    columns: [
        "编号",
        "主题",
        "状态",
        "优先级",
        "处理人",
        "SLA",
        "创建时间",
    ],
    empty: "没有工单",
    breached: "已超时",
    overdue: "已逾期",
    conversation: "对话",
    internal: "内部备注",
    reply: "回复客户或添加备注",
    send: "发送",
    status: "状态",
    priority: "优先级",
    assign: "分派",
    agent: "处理人",
    team: "团队",
    save: "保存",
    timers: "SLA 计时",
    timer_columns: ["指标", "截止", "暂停", "达成", "超时"],
    history: "变更记录",
    kind_channel: "类型 / 渠道",
    member: "会员",
    device_order: "设备 / 订单",
    none: "—",
    priority_service: "优先服务",
};

const EN: Labels = Labels {
    queue: "Ticket queue",
    search: "Filter",
    all: "All statuses",
    breached_only: "Breached only",
    columns: [
        "Number", "Subject", "Status", "Priority", "Assignee", "SLA", "Created",
    ],
    empty: "No tickets",
    breached: "Breached",
    overdue: "Overdue",
    conversation: "Conversation",
    internal: "Internal note",
    reply: "Reply to the customer or add a note",
    send: "Send",
    status: "Status",
    priority: "Priority",
    assign: "Assign",
    agent: "Agent",
    team: "Team",
    save: "Save",
    timers: "SLA timers",
    timer_columns: ["Metric", "Due", "Paused", "Met", "Breached"],
    history: "History",
    kind_channel: "Kind / channel",
    member: "Member",
    device_order: "Device / order",
    none: "—",
    priority_service: "Priority service",
};

fn labels(console: &Console) -> &'static Labels {
    match console.lang {
        Lang::Zh => &ZH,
        _ => &EN,
    }
}

pub struct Row_ {
    pub id: String,
    pub number: String,
    pub subject: String,
    pub status: String,
    pub priority: String,
    /// The member's tier name, if a member.
    pub tier: Option<String>,
    pub priority_service: bool,
    pub assignee: String,
    pub sla: String,
    pub sla_class: &'static str,
    pub created: String,
}

/// "2h 05m", or overdue, for the queue's countdown.
fn countdown(t: &Ticket, now: Micros, l: &Labels) -> (String, &'static str) {
    if t.breached {
        return (l.breached.to_owned(), "badge-red");
    }
    match t.next_due_at {
        None => (l.none.to_owned(), "badge-grey"),
        Some(due) if due <= now => (l.overdue.to_owned(), "badge-red"),
        Some(due) => {
            let minutes = (due - now) / MINUTE;
            let class = if minutes < 60 {
                "badge-amber"
            } else {
                "badge-green"
            };
            (format!("{}h {:02}m", minutes / 60, minutes % 60), class)
        }
    }
}

pub(crate) fn status_name(statuses: &[Status], code: &str, lang: Lang) -> String {
    statuses
        .iter()
        .find(|s| s.code == code)
        .map(|s| match lang {
            Lang::Zh => s.name_zh.clone(),
            _ => s.name_en.clone(),
        })
        .unwrap_or_else(|| code.to_owned())
}

/// (code, name_zh, name_en) of every tier.
async fn tier_names(
    conn: &mut cove_core::db::Conn,
) -> Result<Vec<(String, String, String)>, Error> {
    Ok(
        sqlx::query_as("SELECT code, name_zh, name_en FROM tiers ORDER BY rank")
            .fetch_all(&mut *conn)
            .await?,
    )
}

fn tier_name(tiers: &[(String, String, String)], code: &str, lang: Lang) -> String {
    tiers
        .iter()
        .find(|(c, _, _)| c == code)
        .map(|(_, zh, en)| {
            if lang == Lang::Zh {
                zh.clone()
            } else {
                en.clone()
            }
        })
        .unwrap_or_else(|| code.to_owned())
}

async fn agents(conn: &mut cove_core::db::Conn) -> Result<Vec<(String, String)>, Error> {
    let rows = sqlx::query(
        "SELECT id, name, email FROM users WHERE disabled_at IS NULL ORDER BY name, email",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get(1)?;
            let email: String = r.try_get(2)?;
            Ok((r.try_get(0)?, format!("{name} <{email}>")))
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/service_tickets.html")]
struct QueuePage {
    shell: super::console::Shell,
    l: &'static Labels,
    statuses: Vec<(String, String)>,
    status: String,
    q: String,
    breached: bool,
    rows: Vec<Row_>,
}

/// `GET /admin/service/tickets`: the queue, filtered like the API.
pub async fn queue(
    State(state): State<AppState>,
    console: Console,
    Query(filter): Query<Filter>,
) -> PageResult {
    console.require(Area::Service, Access::Read)?;
    let l = labels(&console);
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let all = statuses::list(&mut conn).await?;
    let people = agents(&mut conn).await?;
    let list = tickets::list(&mut conn, &filter).await?;
    let tiers = tier_names(&mut conn).await?;
    let now = clock::now();
    let rows = list
        .iter()
        .map(|t| {
            let (sla, sla_class) = countdown(t, now, l);
            Row_ {
                id: t.id.clone(),
                number: t.number.clone(),
                subject: t.subject.clone(),
                status: status_name(&all, &t.status, console.lang),
                priority: t.priority.clone(),
                tier: t
                    .member_tier
                    .as_ref()
                    .map(|code| tier_name(&tiers, code, console.lang)),
                priority_service: t.priority_service,
                assignee: t
                    .assignee_id
                    .as_ref()
                    .and_then(|a| people.iter().find(|(id, _)| id == a))
                    .map(|(_, n)| n.clone())
                    .unwrap_or_else(|| l.none.to_owned()),
                sla,
                sla_class,
                created: when(t.created_at),
            }
        })
        .collect();
    let statuses = all
        .iter()
        .map(|s| (s.code.clone(), status_name(&all, &s.code, console.lang)))
        .collect();
    let cl = console.l();
    html(&QueuePage {
        shell: console.shell(Nav::Area(Area::Service), cl.area(Area::Service)),
        l,
        statuses,
        status: filter.status.clone().unwrap_or_default(),
        q: filter.q.clone().unwrap_or_default(),
        breached: filter.breached == Some(true),
        rows,
    })
}

#[derive(Template)]
#[template(path = "console/service_ticket.html")]
struct TicketPage {
    shell: super::console::Shell,
    l: &'static Labels,
    d: Detail,
    status_name: String,
    statuses: Vec<(String, String)>,
    priorities: &'static [&'static str],
    agents: Vec<(String, String)>,
    teams: Vec<Team>,
    can_write: bool,
}

impl TicketPage {
    fn at(&self, us: &Micros) -> String {
        when(*us)
    }

    fn at_opt(&self, us: &Option<Micros>) -> String {
        when_opt(*us, self.l.none)
    }

    fn is(&self, a: &Option<String>, b: &str) -> bool {
        a.as_deref() == Some(b)
    }
}

/// `GET /admin/service/tickets/{id}`.
pub async fn ticket(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    console.require(Area::Service, Access::Read)?;
    let l = labels(&console);
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let d = tickets::detail(&mut conn, &id, false).await?;
    let all = statuses::list(&mut conn).await?;
    let statuses = all
        .iter()
        .map(|s| (s.code.clone(), status_name(&all, &s.code, console.lang)))
        .collect();
    let cl = console.l();
    html(&TicketPage {
        shell: console.shell(Nav::Area(Area::Service), cl.area(Area::Service)),
        l,
        status_name: status_name(&all, &d.ticket.status, console.lang),
        statuses,
        priorities: tickets::policies::PRIORITIES,
        agents: agents(&mut conn).await?,
        teams: teams::list(&mut conn).await?,
        can_write: console.principal().can(Area::Service, Access::Write),
        d,
    })
}
