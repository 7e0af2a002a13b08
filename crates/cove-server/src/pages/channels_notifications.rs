//! The console's notification rules: which WeChat message each event sends.
//! A rule's channels are edited as JSON (ordered options with their field
//! mappings) and checked whole by the same code as the API.

use super::channels::{tabs, Tab};
use super::console::{Console, Nav, Shell};
use super::i18n::Lang;
use super::{html, when, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::IntoResponse;
use cove_core::access::{Access, Area};
use cove_core::channels::notifications::{self, ChannelOption, Condition, RuleInput};
use cove_core::Error;
use serde::Deserialize;

pub struct RuleLabels {
    pub rules: &'static str,
    pub edit_rule: &'static str,
    pub event: &'static str,
    pub channels: &'static str,
    pub channel_order: &'static str,
    pub channels_hint: &'static str,
    pub time_zone: &'static str,
    pub enabled: &'static str,
    pub on: &'static str,
    pub off: &'static str,
    pub updated: &'static str,
    pub properties: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub edit: &'static str,
    pub only_when: &'static str,
    pub only_when_values: &'static str,
    pub only_when_hint: &'static str,
    pub always: &'static str,
}

const ZH: RuleLabels = RuleLabels {
    rules: "通知规则",
    edit_rule: "编辑通知规则",
    event: "事件",
    channels: "渠道（按优先顺序，JSON）",
    channel_order: "渠道顺序",
    channels_hint: "每项：via（subscribe 订阅消息 / template 模板消息 / wecom_text 企微消息）、account_id、template_id、fields（key 如 thing1、amount2，value 如 {order_no}）。依次选用第一个能触达且已授权的渠道。",
    time_zone: "时区",
    enabled: "启用",
    on: "启用",
    off: "停用",
    updated: "更新时间",
    properties: "可用字段",
    save: "保存规则",
    saved: "规则已保存",
    edit: "编辑",
    only_when: "仅当字段",
    only_when_values: "取值为（逗号分隔）",
    only_when_hint: "留空则每次都发送；例如 new_kind 取 solved，仅在工单解决时通知。",
    always: "每次",
};

const EN: RuleLabels = RuleLabels {
    rules: "Notification rules",
    edit_rule: "Edit a notification rule",
    event: "Event",
    channels: "Channels (in order of preference, JSON)",
    channel_order: "Channels in order",
    channels_hint: "Each option: via (subscribe / template / wecom_text), account_id, template_id, fields (key such as thing1 or amount2, value such as {order_no}). The first option that reaches the person with consent is used.",
    time_zone: "Time zone",
    enabled: "Enabled",
    on: "On",
    off: "Off",
    updated: "Updated",
    properties: "Properties",
    save: "Save rule",
    saved: "Rule saved",
    edit: "Edit",
    only_when: "Only when property",
    only_when_values: "is one of (comma-separated)",
    only_when_hint: "Empty sends every time; e.g. new_kind is solved tells the customer only when the ticket is solved.",
    always: "always",
};

fn labels(lang: Lang) -> &'static RuleLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

pub struct RuleRow {
    pub event: String,
    pub summary: String,
    /// `new_kind = solved, closed`, or empty.
    pub condition: String,
    pub time_zone: String,
    pub enabled: bool,
    pub updated: String,
}

pub struct EventChoice {
    pub name: &'static str,
    pub properties: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    event_name: String,
    #[serde(default)]
    channels: String,
    #[serde(default)]
    time_zone: String,
    enabled: Option<String>,
    #[serde(default)]
    only_when_property: String,
    #[serde(default)]
    only_when_values: String,
}

impl RuleForm {
    fn condition(&self) -> Option<Condition> {
        let property = self.only_when_property.trim();
        (!property.is_empty()).then(|| Condition {
            property: property.to_owned(),
            values: self
                .only_when_values
                .split([',', '，'])
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect(),
        })
    }
}

#[derive(Template)]
#[template(path = "console/channels_rules_panel.html")]
struct RulesPanel {
    t: &'static RuleLabels,
    rows: Vec<RuleRow>,
    events: Vec<EventChoice>,
    form: RuleForm,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "console/channels_rules.html")]
struct RulesPage {
    shell: Shell,
    tabs: Vec<Tab>,
    panel: String,
}

/// `via → account` for each option, e.g. `subscribe TPL_PAID → template TPL_PAID_OA`.
fn summary(options: &[ChannelOption]) -> String {
    options
        .iter()
        .map(|o| {
            let via = serde_json::to_value(o.via)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            match &o.template_id {
                Some(t) => format!("{via} {t}"),
                None => via,
            }
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

async fn panel(
    state: &AppState,
    lang: Lang,
    form: RuleForm,
    error: Option<String>,
    notice: Option<&'static str>,
) -> PageResult<String> {
    let rows = notifications::list(&state.db)
        .await?
        .into_iter()
        .map(|r| RuleRow {
            summary: summary(&r.channels),
            condition: r
                .only_when
                .as_ref()
                .map(|c| format!("{} = {}", c.property, c.values.join(", ")))
                .unwrap_or_default(),
            event: r.event_name,
            time_zone: r.time_zone,
            enabled: r.enabled,
            updated: when(r.updated_at),
        })
        .collect();
    let events = notifications::EVENTS
        .iter()
        .map(|e| EventChoice {
            name: e.name,
            properties: e
                .properties
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    Ok(RulesPanel {
        t: labels(lang),
        rows,
        events,
        form,
        error,
        notice,
    }
    .render()?)
}

#[derive(Debug, Deserialize)]
pub struct RulesQuery {
    /// Prefill the form with this event's rule.
    event: Option<String>,
}

/// `GET /admin/channels/notifications[?event=…]`.
pub async fn index(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<RulesQuery>,
) -> PageResult {
    console.require(Area::Channels, Access::Read)?;
    let form = match q.event.as_deref() {
        Some(event) => match notifications::get(&state.db, event).await {
            Ok(rule) => RuleForm {
                only_when_property: rule
                    .only_when
                    .as_ref()
                    .map(|c| c.property.clone())
                    .unwrap_or_default(),
                only_when_values: rule
                    .only_when
                    .as_ref()
                    .map(|c| c.values.join(", "))
                    .unwrap_or_default(),
                event_name: rule.event_name,
                channels: serde_json::to_string_pretty(&rule.channels).unwrap_or_default(),
                time_zone: rule.time_zone,
                enabled: rule.enabled.then(|| "on".to_owned()),
            },
            Err(_) => RuleForm {
                event_name: event.to_owned(),
                enabled: Some("on".into()),
                ..RuleForm::default()
            },
        },
        None => RuleForm {
            enabled: Some("on".into()),
            ..RuleForm::default()
        },
    };
    let panel = panel(&state, console.lang, form, None, None).await?;
    let l = console.l();
    html(&RulesPage {
        shell: console.shell(Nav::Area(Area::Channels), l.area(Area::Channels)),
        tabs: tabs(console.lang, "notifications"),
        panel,
    })
}

/// `POST /admin/channels/notifications` (htmx): saves a rule, answering the panel.
pub async fn save(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<RuleForm>,
) -> PageResult {
    console.require(Area::Channels, Access::Write)?;
    let saved = match serde_json::from_str::<Vec<ChannelOption>>(&form.channels) {
        Ok(channels) => {
            let input = RuleInput {
                event_name: form.event_name.clone(),
                channels,
                only_when: form.condition(),
                time_zone: Some(form.time_zone.clone()).filter(|z| !z.trim().is_empty()),
                enabled: form.enabled.is_some(),
            };
            notifications::save(&state.db, &console.auth.actor(), input).await
        }
        Err(e) => Err(Error::invalid(
            "invalid_channels",
            format!("the channels are not valid JSON options: {e}"),
        )),
    };
    let body = match saved {
        Ok(_) => {
            panel(
                &state,
                console.lang,
                form,
                None,
                Some(labels(console.lang).saved),
            )
            .await?
        }
        Err(Error::Internal(cause)) => return Err(Error::Internal(cause).into()),
        Err(e) => panel(&state, console.lang, form, Some(e.to_string()), None).await?,
    };
    Ok(axum::response::Html(body).into_response())
}
