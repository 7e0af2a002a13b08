//! The console's channels pages: WeChat accounts (never their secrets), QR
//! scenes with scans and follows, followers, WeCom contact ways and
//! relationships, and the outbox of messages sent or kept in sandbox.

use super::console::{Console, Nav, Shell};
use super::i18n::Lang;
use super::{html, when, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use cove_core::access::{Access, Area};
use cove_core::channels::{accounts, official_account, outbox, wecom};
use cove_core::network;
use serde::Deserialize;
use std::collections::HashMap;

/// This page's labels, one constant per language (a label missing in either fails to compile).
pub struct ChannelLabels {
    pub accounts: &'static str,
    pub scenes: &'static str,
    pub followers: &'static str,
    pub contacts: &'static str,
    pub contact_ways: &'static str,
    pub outbox: &'static str,
    pub notifications: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub app_id: &'static str,
    pub mode: &'static str,
    pub safe_mode: &'static str,
    pub plain_mode: &'static str,
    pub sandbox: &'static str,
    pub live: &'static str,
    pub secret: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub scene: &'static str,
    pub store: &'static str,
    pub staff: &'static str,
    pub campaign: &'static str,
    pub scans: &'static str,
    pub follows: &'static str,
    pub open_id: &'static str,
    pub followed_at: &'static str,
    pub status: &'static str,
    pub following: &'static str,
    pub unfollowed: &'static str,
    pub customer: &'static str,
    pub salesperson: &'static str,
    pub added_at: &'static str,
    pub ended_by: &'static str,
    pub state: &'static str,
    pub adds: &'static str,
    pub created_at: &'static str,
    pub recipient: &'static str,
    pub template: &'static str,
    pub attempts: &'static str,
    pub error: &'static str,
    pub account: &'static str,
    pub sandbox_note: &'static str,
    pub qr_code: &'static str,
    pub download: &'static str,
}

const ZH: ChannelLabels = ChannelLabels {
    accounts: "账号",
    scenes: "渠道二维码",
    followers: "粉丝",
    contacts: "企微客户",
    contact_ways: "联系我",
    outbox: "消息记录",
    notifications: "通知规则",
    name: "名称",
    kind: "类型",
    app_id: "AppID / CorpID",
    mode: "消息加密",
    safe_mode: "安全模式",
    plain_mode: "明文模式",
    sandbox: "沙箱",
    live: "正式",
    secret: "AppSecret",
    yes: "已配置",
    no: "未配置",
    scene: "场景值",
    store: "门店",
    staff: "员工",
    campaign: "活动",
    scans: "扫码",
    follows: "关注",
    open_id: "OpenID",
    followed_at: "关注时间",
    status: "状态",
    following: "关注中",
    unfollowed: "已取关",
    customer: "客户",
    salesperson: "销售",
    added_at: "添加时间",
    ended_by: "结束方",
    state: "state",
    adds: "添加数",
    created_at: "创建时间",
    recipient: "接收人",
    template: "模板",
    attempts: "尝试",
    error: "错误",
    account: "账号",
    sandbox_note: "沙箱账号的消息只记录在这里，不会发往微信。",
    qr_code: "二维码",
    download: "下载",
};

const EN: ChannelLabels = ChannelLabels {
    accounts: "Accounts",
    scenes: "QR codes",
    followers: "Followers",
    contacts: "WeCom contacts",
    contact_ways: "Contact ways",
    outbox: "Message log",
    notifications: "Notifications",
    name: "Name",
    kind: "Kind",
    app_id: "AppID / CorpID",
    mode: "Encryption",
    safe_mode: "Safe mode",
    plain_mode: "Plain mode",
    sandbox: "Sandbox",
    live: "Live",
    secret: "AppSecret",
    yes: "Set",
    no: "Not set",
    scene: "Scene",
    store: "Store",
    staff: "Staff",
    campaign: "Campaign",
    scans: "Scans",
    follows: "Follows",
    open_id: "OpenID",
    followed_at: "Followed",
    status: "Status",
    following: "Following",
    unfollowed: "Unfollowed",
    customer: "Customer",
    salesperson: "Salesperson",
    added_at: "Added",
    ended_by: "Ended by",
    state: "state",
    adds: "Adds",
    created_at: "Created",
    recipient: "Recipient",
    template: "Template",
    attempts: "Attempts",
    error: "Error",
    account: "Account",
    sandbox_note: "Messages of sandbox accounts are kept here and never sent to WeChat.",
    qr_code: "QR code",
    download: "Download",
};

fn labels(lang: Lang) -> &'static ChannelLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

pub struct Tab {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

pub struct Cell {
    pub text: String,
    /// `mono`, `num`, `err`, `badge badge-green`…
    pub class: &'static str,
    /// Makes the text a link.
    pub href: Option<String>,
}

fn cell(text: impl Into<String>) -> Cell {
    Cell {
        href: None,
        text: text.into(),
        class: "",
    }
}

fn styled(text: impl Into<String>, class: &'static str) -> Cell {
    Cell {
        href: None,
        text: text.into(),
        class,
    }
}

/// The channels tabs, `active` marked (`notifications` is its own page).
pub fn tabs(lang: Lang, active: &str) -> Vec<Tab> {
    let t = labels(lang);
    [
        ("accounts", t.accounts, "/admin/channels?tab=accounts"),
        ("scenes", t.scenes, "/admin/channels?tab=scenes"),
        ("followers", t.followers, "/admin/channels?tab=followers"),
        ("contacts", t.contacts, "/admin/channels?tab=contacts"),
        ("ways", t.contact_ways, "/admin/channels?tab=ways"),
        ("outbox", t.outbox, "/admin/channels?tab=outbox"),
        (
            "notifications",
            t.notifications,
            "/admin/channels/notifications",
        ),
    ]
    .into_iter()
    .map(|(key, label, href)| Tab {
        href,
        label,
        active: key == active,
    })
    .collect()
}

#[derive(Template)]
#[template(path = "console/channels.html")]
struct ChannelsPage {
    shell: Shell,
    tabs: Vec<Tab>,
    form: Option<super::channels_forms::CreateForm>,
    note: Option<&'static str>,
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Deserialize)]
pub struct ChannelsQuery {
    tab: Option<String>,
}

/// `GET /admin/channels?tab=…`: one table per tab, for staff who may read channels.
pub async fn index(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<ChannelsQuery>,
) -> PageResult {
    console.require(Area::Channels, Access::Read)?;
    let t = labels(console.lang);
    let tab = q.tab.as_deref().unwrap_or("accounts");
    let tabs = tabs(console.lang, tab);
    let stores: HashMap<String, String> = network::list_stores(&state.db, None, None)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let store = |id: &Option<String>| {
        id.as_ref()
            .map(|id| stores.get(id).cloned().unwrap_or_else(|| id.clone()))
            .unwrap_or_default()
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut note = None;
    let (headers, rows) = match tab {
        "scenes" => (
            vec![
                t.name, t.kind, t.scene, t.store, t.campaign, t.scans, t.follows, t.qr_code,
            ],
            official_account::list_scenes(&state.db, None)
                .await?
                .iter()
                .map(|s| {
                    vec![
                        cell(&s.name),
                        cell(&s.kind),
                        styled(&s.scene, "mono"),
                        cell(store(&s.store_id)),
                        cell(opt(&s.campaign)),
                        styled(s.scans.to_string(), "num"),
                        styled(s.follows.to_string(), "num"),
                        match s.issued {
                            true => Cell {
                                text: t.download.into(),
                                class: "link",
                                href: Some(format!("/api/v1/channels/qr-scenes/{}/qr.png", s.id)),
                            },
                            false => styled(t.sandbox, "badge badge-amber"),
                        },
                    ]
                })
                .collect(),
        ),
        "followers" => (
            vec![
                t.open_id,
                t.store,
                t.scene,
                t.campaign,
                t.followed_at,
                t.status,
            ],
            official_account::list_followers(&state.db, None, 200)
                .await?
                .iter()
                .map(|f| {
                    vec![
                        styled(&f.open_id, "mono"),
                        cell(store(&f.store_id)),
                        styled(opt(&f.scene), "mono"),
                        cell(opt(&f.campaign)),
                        styled(when(f.followed_at), "muted nowrap"),
                        match f.unfollowed_at {
                            None => styled(t.following, "badge badge-green"),
                            Some(_) => styled(t.unfollowed, "badge"),
                        },
                    ]
                })
                .collect(),
        ),
        "contacts" => (
            vec![
                t.customer,
                t.salesperson,
                t.store,
                t.campaign,
                t.added_at,
                t.ended_by,
            ],
            wecom::list_contacts(&state.db, None, None, 200)
                .await?
                .iter()
                .map(|c| {
                    vec![
                        styled(&c.external_user_id, "mono"),
                        cell(&c.wecom_user_id),
                        cell(store(&c.store_id)),
                        cell(opt(&c.campaign)),
                        styled(when(c.added_at), "muted nowrap"),
                        cell(opt(&c.removed_by)),
                    ]
                })
                .collect(),
        ),
        "ways" => (
            vec![
                t.name,
                t.salesperson,
                t.store,
                t.campaign,
                t.state,
                t.adds,
                t.created_at,
            ],
            wecom::list_contact_ways(&state.db, None)
                .await?
                .iter()
                .map(|w| {
                    vec![
                        cell(&w.name),
                        cell(&w.wecom_user_id),
                        cell(store(&w.store_id)),
                        cell(opt(&w.campaign)),
                        styled(&w.state, "mono"),
                        styled(w.adds.to_string(), "num"),
                        styled(when(w.created_at), "muted nowrap"),
                    ]
                })
                .collect(),
        ),
        "outbox" => {
            note = Some(t.sandbox_note);
            (
                vec![
                    t.created_at,
                    t.account,
                    t.kind,
                    t.recipient,
                    t.template,
                    t.status,
                    t.attempts,
                    t.error,
                ],
                outbox::list(&state.db, None, None, 200)
                    .await?
                    .iter()
                    .map(|m| {
                        vec![
                            styled(when(m.created_at), "muted nowrap"),
                            cell(&m.account_name),
                            styled(&m.kind, "mono"),
                            styled(&m.recipient, "mono"),
                            styled(opt(&m.template_id), "mono"),
                            styled(
                                &m.status,
                                match m.status.as_str() {
                                    "sent" => "badge badge-green",
                                    "sandboxed" => "badge badge-brand",
                                    "failed" => "badge badge-red",
                                    "skipped_window_closed" | "skipped_no_consent" => "badge",
                                    _ => "badge badge-amber",
                                },
                            ),
                            styled(m.attempts.to_string(), "num"),
                            styled(opt(&m.error), "err"),
                        ]
                    })
                    .collect(),
            )
        }
        _ => (
            vec![t.name, t.kind, t.app_id, t.mode, t.sandbox, t.secret],
            accounts::list(&state.db)
                .await?
                .iter()
                .map(|a| {
                    vec![
                        cell(&a.name),
                        styled(a.kind.as_str(), "mono"),
                        styled(&a.app_id, "mono"),
                        cell(if a.safe_mode {
                            t.safe_mode
                        } else {
                            t.plain_mode
                        }),
                        if a.sandbox {
                            styled(t.sandbox, "badge badge-amber")
                        } else {
                            styled(t.live, "badge badge-green")
                        },
                        cell(if a.has_secret { t.yes } else { t.no }),
                    ]
                })
                .collect(),
        ),
    };
    let form = super::channels_forms::for_tab(&state, &console, tab).await?;
    let l = console.l();
    html(&ChannelsPage {
        shell: console.shell(Nav::Area(Area::Channels), l.area(Area::Channels)),
        tabs,
        form,
        note,
        headers,
        rows,
    })
}
