//! Console pages of the customer data platform: tags (rules, counts, last
//! computed, recompute), audiences (expression editor with a live count,
//! sample, export) and the profile page (identities, traits, computed
//! traits, tags, cross-channel timeline).

use super::console::{Console, Nav};
use super::{count, html, when, when_opt, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::Form;
use cove_core::access::{Access, Area};
use cove_core::audience::audiences::{self, AudienceInput};
use cove_core::audience::{profiles, reachability, tags};
use serde::Deserialize;
use serde_json::Value;

/// Labels of these pages, in both languages.
pub struct Labels {
    pub tags: &'static str,
    pub audiences: &'static str,
    pub key: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub members: &'static str,
    pub last_computed: &'static str,
    pub never: &'static str,
    pub recompute: &'static str,
    pub rule: &'static str,
    pub expression: &'static str,
    pub live_count: &'static str,
    pub of_profiles: &'static str,
    pub save: &'static str,
    pub sample: &'static str,
    pub export: &'static str,
    pub persona: &'static str,
    pub identities: &'static str,
    pub traits: &'static str,
    pub computed_traits: &'static str,
    pub timeline: &'static str,
    pub profile: &'static str,
    pub empty: &'static str,
    pub expression_hint: &'static str,
    pub saved: &'static str,
    pub reach: &'static str,
    pub consent: &'static str,
    pub outbox: &'static str,
    pub long_term: &'static str,
    pub rejected: &'static str,
    pub one_time_left: &'static str,
}

const ZH: Labels = Labels {
    tags: "行为标签",
    audiences: "人群",
    key: "标识",
    name: "名称",
    kind: "类型",
    members: "人数",
    last_computed: "最近计算",
    never: "尚未计算",
    recompute: "重新计算",
    rule: "规则",
    expression: "人群表达式",
    live_count: "实时人数",
    of_profiles: "总档案数",
    save: "保存",
    sample: "抽样",
    export: "导出 CSV",
    persona: "画像",
    identities: "身份标识",
    traits: "属性",
    computed_traits: "计算属性",
    timeline: "跨渠道时间线",
    profile: "客户档案",
    empty: "暂无记录",
    expression_hint: "例如 tag:gaming_laptop_fan AND trait:total_spend_fen >= 500000",
    saved: "已保存，人群成员将由后台任务计算",
    reach: "触达渠道",
    consent: "订阅消息授权",
    outbox: "最近消息",
    long_term: "长期订阅",
    rejected: "已拒绝",
    one_time_left: "剩余一次性次数",
};

const EN: Labels = Labels {
    tags: "Behaviour tags",
    audiences: "Audiences",
    key: "Key",
    name: "Name",
    kind: "Kind",
    members: "Members",
    last_computed: "Last computed",
    never: "Not yet",
    recompute: "Recompute",
    rule: "Rule",
    expression: "Audience expression",
    live_count: "Live count",
    of_profiles: "profiles in all",
    save: "Save",
    sample: "Sample",
    export: "Export CSV",
    persona: "Persona",
    identities: "Identities",
    traits: "Traits",
    computed_traits: "Computed traits",
    timeline: "Cross-channel timeline",
    profile: "Customer profile",
    empty: "Nothing here yet",
    expression_hint: "e.g. tag:gaming_laptop_fan AND trait:total_spend_fen >= 500000",
    saved: "Saved; a job computes its members",
    reach: "Reachable on",
    consent: "Subscription-message consent",
    outbox: "Latest messages",
    long_term: "long-term",
    rejected: "refused",
    one_time_left: "one-time sends left",
};

pub fn labels(console: &Console) -> &'static Labels {
    match console.lang {
        super::i18n::Lang::Zh => &ZH,
        super::i18n::Lang::En => &EN,
    }
}

pub struct TagRow {
    pub key: String,
    pub name: String,
    pub kind: &'static str,
    pub rule: String,
    pub members: String,
    pub last_computed: String,
}

#[derive(Template)]
#[template(path = "console/audience_tags.html")]
struct TagsPage {
    shell: super::console::Shell,
    a: &'static Labels,
    tags: Vec<TagRow>,
    can_write: bool,
}

/// `GET /admin/audience`: the behaviour tags.
pub async fn tags_page(State(state): State<AppState>, console: Console) -> PageResult {
    console.require(Area::Audience, Access::Read)?;
    let a = labels(&console);
    let rows = tags::list(&state.db)
        .await?
        .into_iter()
        .map(|t| TagRow {
            key: t.key,
            name: t.name,
            kind: t.kind.as_str(),
            rule: t.rule.map(|r| r.to_string()).unwrap_or_default(),
            members: count(t.member_count),
            last_computed: when_opt(t.last_computed_at, a.never),
        })
        .collect();
    html(&TagsPage {
        shell: console.shell(Nav::Area(Area::Audience), a.tags),
        a,
        tags: rows,
        can_write: console.auth.can(Area::Audience, Access::Write),
    })
}

pub struct AudienceRow {
    pub id: String,
    pub name: String,
    pub expression: String,
    pub persona: bool,
    pub members: String,
    pub last_computed: String,
}

#[derive(Template)]
#[template(path = "console/audience_audiences.html")]
struct AudiencesPage {
    shell: super::console::Shell,
    a: &'static Labels,
    audiences: Vec<AudienceRow>,
    can_write: bool,
}

/// `GET /admin/audience/audiences`: saved audiences and the expression editor.
pub async fn audiences_page(State(state): State<AppState>, console: Console) -> PageResult {
    console.require(Area::Audience, Access::Read)?;
    let a = labels(&console);
    let rows = audiences::list(&state.db)
        .await?
        .into_iter()
        .map(|x| AudienceRow {
            id: x.id,
            name: x.name,
            expression: x.expression,
            persona: x.persona,
            members: count(x.member_count),
            last_computed: when_opt(x.last_computed_at, a.never),
        })
        .collect();
    html(&AudiencesPage {
        shell: console.shell(Nav::Area(Area::Audience), a.audiences),
        a,
        audiences: rows,
        can_write: console.auth.can(Area::Audience, Access::Write),
    })
}

#[derive(Debug, Deserialize)]
pub struct ExpressionForm {
    pub expression: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub persona: Option<String>,
}

#[derive(Template)]
#[template(path = "console/audience_count.html")]
struct CountFragment {
    a: &'static Labels,
    count: String,
    total: String,
    error: Option<String>,
    warnings: Vec<String>,
    notice: Option<&'static str>,
}

/// `POST /admin/audience/audiences/count` (htmx): the live count while typing.
pub async fn live_count(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<ExpressionForm>,
) -> PageResult {
    console.require(Area::Audience, Access::Read)?;
    let a = labels(&console);
    let fragment = match audiences::preview(
        &state.db,
        &state.audience_cache,
        &Value::String(form.expression),
    )
    .await
    {
        Ok(p) => CountFragment {
            a,
            count: count(i64::try_from(p.count).unwrap_or(i64::MAX)),
            total: count(i64::try_from(p.total).unwrap_or(i64::MAX)),
            error: None,
            warnings: p.issues.into_iter().map(|i| i.message).collect(),
            notice: None,
        },
        Err(e @ cove_core::Error::Invalid { .. }) => CountFragment {
            a,
            count: "—".into(),
            total: String::new(),
            error: Some(e.to_string()),
            warnings: Vec::new(),
            notice: None,
        },
        Err(e) => return Err(e.into()),
    };
    html(&fragment)
}

/// `POST /admin/audience/audiences` (htmx): saves the audience in the editor.
pub async fn save_audience(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<ExpressionForm>,
) -> PageResult {
    console.require(Area::Audience, Access::Write)?;
    let a = labels(&console);
    let input = AudienceInput {
        name: form.name,
        description: String::new(),
        expression: Value::String(form.expression),
        persona: form.persona.is_some(),
    };
    let fragment = match audiences::create(
        &state.db,
        &state.audience_cache,
        &console.auth.actor(),
        &input,
    )
    .await
    {
        Ok(saved) => CountFragment {
            a,
            count: count(saved.member_count),
            total: String::new(),
            error: None,
            warnings: Vec::new(),
            notice: Some(a.saved),
        },
        Err(e @ (cove_core::Error::Invalid { .. } | cove_core::Error::Conflict { .. })) => {
            CountFragment {
                a,
                count: "—".into(),
                total: String::new(),
                error: Some(e.to_string()),
                warnings: Vec::new(),
                notice: None,
            }
        }
        Err(e) => return Err(e.into()),
    };
    html(&fragment)
}

#[derive(Debug, Deserialize)]
pub struct TagForm {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub rule: String,
}

fn invalid_fragment(a: &'static Labels, e: &cove_core::Error) -> CountFragment {
    CountFragment {
        a,
        count: "—".into(),
        total: String::new(),
        error: Some(e.to_string()),
        warnings: Vec::new(),
        notice: None,
    }
}

fn rule_of(text: &str) -> Result<Value, cove_core::Error> {
    serde_json::from_str(text).map_err(|e| {
        cove_core::Error::invalid("invalid_rule", format!("the rule is not JSON: {e}"))
    })
}

/// `POST /admin/audience/tags/preview` (htmx): how many people a rule tags now.
pub async fn preview_tag(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<TagForm>,
) -> PageResult {
    console.require(Area::Audience, Access::Read)?;
    let a = labels(&console);
    let checked = rule_of(&form.rule).and_then(|v| tags::Rule::from_json(&v));
    let fragment = match checked {
        Ok(rule) => {
            let (n, _) = tags::compute::preview(&state.db, &rule, 0).await?;
            CountFragment {
                a,
                count: count(i64::try_from(n).unwrap_or(i64::MAX)),
                total: String::new(),
                error: None,
                warnings: Vec::new(),
                notice: None,
            }
        }
        Err(e) => invalid_fragment(a, &e),
    };
    html(&fragment)
}

/// `POST /admin/audience/tags` (htmx): creates a tag from the rule editor.
pub async fn create_tag(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<TagForm>,
) -> PageResult {
    console.require(Area::Audience, Access::Write)?;
    let a = labels(&console);
    let made = async {
        let kind = tags::TagKind::parse(&form.kind)?;
        let rule = match kind {
            tags::TagKind::Rule => Some(rule_of(&form.rule)?),
            _ => None,
        };
        let input = tags::TagInput {
            key: form.key.trim().to_owned(),
            name: form.name.clone(),
            description: String::new(),
            kind,
            rule,
        };
        tags::create(&state.db, &console.auth.actor(), &input).await
    }
    .await;
    let fragment = match made {
        Ok(_) => {
            state.tag_triggers.invalidate();
            CountFragment {
                a,
                count: "0".into(),
                total: String::new(),
                error: None,
                warnings: Vec::new(),
                notice: Some(a.saved),
            }
        }
        Err(e @ (cove_core::Error::Invalid { .. } | cove_core::Error::Conflict { .. })) => {
            invalid_fragment(a, &e)
        }
        Err(e) => return Err(e.into()),
    };
    html(&fragment)
}

pub struct EventRow {
    pub at: String,
    pub source: String,
    pub call: String,
    pub event: String,
    pub properties: String,
}

#[derive(Template)]
#[template(path = "console/audience_profile.html")]
struct ProfilePage {
    shell: super::console::Shell,
    a: &'static Labels,
    id: String,
    first_seen: String,
    last_seen: String,
    identities: Vec<(String, String)>,
    traits: Vec<(String, String)>,
    computed: Vec<(String, String)>,
    tags: Vec<(String, String, String)>,
    events: Vec<EventRow>,
    reach: ReachRows,
}

/// Channels, consent and outbox messages as the console shows them.
#[derive(Default)]
pub struct ReachRows {
    /// kind, account, masked address, salesperson, since
    pub channels: Vec<(String, String, String, String, String)>,
    /// account, template, one-time sends left, long-term, refused, updated
    pub consents: Vec<(String, String, i64, bool, bool, String)>,
    /// kind, template, status, created
    pub messages: Vec<(String, String, String, String)>,
}

impl ReachRows {
    pub async fn of(db: &cove_core::db::Db, profile_id: &str) -> Result<Self, cove_core::Error> {
        let r = reachability::of_profile(db, profile_id).await?;
        Ok(ReachRows {
            channels: r
                .channels
                .into_iter()
                .map(|c| {
                    let address = masked(&c.kind, &c.address);
                    (
                        c.kind,
                        c.account,
                        address,
                        c.via.unwrap_or_default(),
                        when(c.since),
                    )
                })
                .collect(),
            consents: r
                .consents
                .into_iter()
                .map(|c| {
                    (
                        c.account,
                        c.template_id,
                        c.remaining,
                        c.long_term,
                        c.rejected,
                        when(c.updated_at),
                    )
                })
                .collect(),
            messages: r
                .messages
                .into_iter()
                .map(|m| {
                    (
                        m.kind,
                        m.template_id.unwrap_or_default(),
                        m.status,
                        when(m.created_at),
                    )
                })
                .collect(),
        })
    }
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let shown = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), shown)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Phone numbers and emails are personal data: the console shows them masked.
pub fn masked(id_type: &str, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    match id_type {
        "phone" if chars.len() > 7 => {
            let head: String = chars.iter().take(chars.len() - 8).collect();
            let tail: String = chars.iter().skip(chars.len() - 4).collect();
            format!("{head}****{tail}")
        }
        "email" => match value.split_once('@') {
            Some((user, domain)) => format!("{}***@{domain}", user.chars().next().unwrap_or('*')),
            None => "***".to_owned(),
        },
        _ => value.to_owned(),
    }
}

/// `GET /admin/audience/profiles/{id}`: everything known about one person.
pub async fn profile_page(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    console.require(Area::Audience, Access::Read)?;
    let a = labels(&console);
    let profile = profiles::get_profile(&state.db, &id, 200).await?;
    let tags = tags::of_profile(&state.db, &profile.id)
        .await?
        .into_iter()
        .map(|t| (t.key, t.origin, when(t.since)))
        .collect();
    let events = profile
        .events
        .iter()
        .map(|e| EventRow {
            at: when(e.timestamp),
            source: e.source_id.clone(),
            call: e.call_type.clone(),
            event: e.event.clone().unwrap_or_default(),
            properties: e.properties.to_string().chars().take(160).collect(),
        })
        .collect();
    html(&ProfilePage {
        shell: console.shell(Nav::Area(Area::Audience), a.profile),
        a,
        first_seen: when(profile.first_seen_at),
        last_seen: when(profile.last_seen_at),
        identities: profile
            .identities
            .iter()
            .map(|i| (i.id_type.clone(), masked(&i.id_type, &i.value)))
            .collect(),
        traits: pairs(&profile.traits),
        computed: pairs(&profile.computed_traits),
        tags,
        events,
        reach: ReachRows::of(&state.db, &profile.id).await?,
        id: profile.id,
    })
}
