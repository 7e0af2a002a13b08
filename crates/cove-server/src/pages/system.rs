//! System pages: users, API tokens, the audit log and the job queue.

use super::console::{Console, Nav, Shell};
use super::i18n::Labels;
use super::{html, redirect, when, when_opt, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::Form;
use cove_core::access::{self, Access, Area, NewUser, Role};
use cove_core::{audit, network, Error};
use serde::Deserialize;
use sqlx::Row;

/// The tabs of the System area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Users,
    Tokens,
    Audit,
    Jobs,
}

pub struct TabLink {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

fn tabs(console: &Console, active: Tab) -> Vec<TabLink> {
    let l = console.l();
    let write = console.auth.can(Area::System, Access::Write);
    [
        (Tab::Users, "/admin/system/users", l.users, write),
        (Tab::Tokens, "/admin/system/tokens", l.tokens, write),
        (Tab::Audit, "/admin/system/audit", l.audit, true),
        (Tab::Jobs, "/admin/system/jobs", l.jobs, true),
    ]
    .into_iter()
    .filter(|(.., shown)| *shown)
    .map(|(tab, href, label, _)| TabLink {
        href,
        label,
        active: tab == active,
    })
    .collect()
}

fn frame(console: &Console, tab: Tab, title: &str) -> (Shell, Vec<TabLink>) {
    (
        console.shell(Nav::Area(Area::System), title),
        tabs(console, tab),
    )
}

/// `GET /admin/system`: the first tab the caller may open.
pub async fn index(console: Console) -> PageResult {
    console.require(Area::System, Access::Read)?;
    Ok(if console.auth.can(Area::System, Access::Write) {
        redirect("/admin/system/users")
    } else {
        redirect("/admin/system/audit")
    })
}

// ---- users ----

pub struct UserRow {
    pub name: String,
    pub email: String,
    pub role: String,
    pub store: String,
    pub locale: &'static str,
    pub active: bool,
    pub last_sign_in: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "console/users_panel.html")]
struct UsersPanel {
    l: &'static Labels,
    users: Vec<UserRow>,
    roles: Vec<Choice>,
    stores: Vec<Choice>,
    resellers: Vec<Choice>,
    error: Option<String>,
    notice: Option<String>,
    form: UserForm,
}

#[derive(Template)]
#[template(path = "console/system_users.html")]
struct UsersPage {
    shell: Shell,
    tabs: Vec<TabLink>,
    panel: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    store_id: String,
    #[serde(default)]
    reseller_id: String,
    #[serde(default)]
    locale: String,
}

async fn users_panel(
    state: &AppState,
    console: &Console,
    form: UserForm,
    error: Option<String>,
    notice: Option<String>,
) -> PageResult<String> {
    let l = console.l();
    let stores = network::list_stores(&state.db, None, None).await?;
    let resellers = network::list_resellers(&state.db, None).await?;
    let users = access::list_users(&state.db)
        .await?
        .into_iter()
        .map(|u| UserRow {
            role: l.role_str(&u.role),
            store: u
                .store_id
                .as_ref()
                .and_then(|id| stores.iter().find(|s| &s.id == id))
                .map(|s| s.name.clone())
                .or_else(|| {
                    u.reseller_id
                        .as_ref()
                        .and_then(|id| resellers.iter().find(|r| &r.id == id))
                        .map(|r| r.name.clone())
                })
                .unwrap_or_else(|| l.none.to_owned()),
            locale: if u.locale == "en" {
                "English"
            } else {
                "中文"
            },
            active: u.disabled_at.is_none(),
            last_sign_in: when_opt(u.last_login_at, l.never),
            name: u.name,
            email: u.email,
        })
        .collect();
    let panel = UsersPanel {
        l,
        users,
        roles: Role::ALL
            .into_iter()
            .map(|r| Choice {
                value: r.as_str().to_owned(),
                label: l.role(r).to_owned(),
            })
            .collect(),
        stores: stores
            .into_iter()
            .map(|s| Choice {
                value: s.id,
                label: format!("{} · {}", s.code, s.name),
            })
            .collect(),
        resellers: resellers
            .into_iter()
            .map(|r| Choice {
                value: r.id,
                label: format!("{} · {}", r.code, r.name),
            })
            .collect(),
        error,
        notice,
        form,
    };
    Ok(panel.render()?)
}

/// `GET /admin/system/users`.
pub async fn users(State(state): State<AppState>, console: Console) -> PageResult {
    console.require(Area::System, Access::Write)?;
    let panel = users_panel(&state, &console, UserForm::default(), None, None).await?;
    let (shell, tabs) = frame(&console, Tab::Users, console.l().users);
    html(&UsersPage { shell, tabs, panel })
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// `POST /admin/system/users` (htmx): adds a user and answers with the refreshed panel.
pub async fn add_user(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<UserForm>,
) -> PageResult {
    console.require(Area::System, Access::Write)?;
    let l = console.l();
    let result = match form.role.parse::<Role>() {
        Ok(role) => {
            access::create_user(
                &state.db,
                &console.auth.actor(),
                NewUser {
                    email: form.email.clone(),
                    name: form.name.clone(),
                    password: form.password.clone(),
                    role,
                    store_id: non_empty(&form.store_id),
                    reseller_id: non_empty(&form.reseller_id),
                    locale: non_empty(&form.locale),
                },
            )
            .await
        }
        Err(e) => Err(e),
    };
    let panel = match result {
        Ok(user) => {
            let notice = format!("{}: {} <{}>", l.user_added, user.name, user.email);
            users_panel(&state, &console, UserForm::default(), None, Some(notice)).await?
        }
        Err(Error::Internal(cause)) => return Err(Error::Internal(cause).into()),
        Err(e) => {
            let form = UserForm {
                password: String::new(),
                ..form
            };
            users_panel(&state, &console, form, Some(e.to_string()), None).await?
        }
    };
    Ok(axum::response::Html(panel).into_response())
}

// ---- API tokens ----

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "console/tokens_panel.html")]
struct TokensPanel {
    l: &'static Labels,
    tokens: Vec<TokenRow>,
    secret: Option<String>,
    error: Option<String>,
    name: String,
    scopes: String,
}

#[derive(Template)]
#[template(path = "console/system_tokens.html")]
struct TokensPage {
    shell: Shell,
    tabs: Vec<TabLink>,
    panel: String,
}

async fn tokens_panel(
    state: &AppState,
    console: &Console,
    secret: Option<String>,
    error: Option<String>,
    name: String,
    scopes: String,
) -> PageResult<String> {
    let l = console.l();
    let tokens = access::list_tokens(&state.db)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            scopes: t.scopes.split_whitespace().map(str::to_owned).collect(),
            created: when(t.created_at),
            expires: when_opt(t.expires_at, l.never),
            last_used: when_opt(t.last_used_at, l.never),
            revoked: t.revoked_at.is_some(),
            id: t.id,
            name: t.name,
            prefix: t.prefix,
        })
        .collect();
    Ok(TokensPanel {
        l,
        tokens,
        secret,
        error,
        name,
        scopes,
    }
    .render()?)
}

/// `GET /admin/system/tokens`.
pub async fn tokens(State(state): State<AppState>, console: Console) -> PageResult {
    console.require(Area::System, Access::Write)?;
    let panel = tokens_panel(&state, &console, None, None, String::new(), String::new()).await?;
    let (shell, tabs) = frame(&console, Tab::Tokens, console.l().tokens);
    html(&TokensPage { shell, tabs, panel })
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: String,
}

/// `POST /admin/system/tokens` (htmx): creates a token and shows its secret once.
pub async fn create_token(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<TokenForm>,
) -> PageResult {
    console.require(Area::System, Access::Write)?;
    let scopes: Vec<String> = form
        .scopes
        .split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let created = access::create_token(
        &state.db,
        &console.auth.actor(),
        console.principal(),
        &form.name,
        &scopes,
        None,
    )
    .await;
    let panel = match created {
        Ok((_, secret)) => {
            tokens_panel(
                &state,
                &console,
                Some(secret),
                None,
                String::new(),
                String::new(),
            )
            .await?
        }
        Err(Error::Internal(cause)) => return Err(Error::Internal(cause).into()),
        Err(e) => {
            tokens_panel(
                &state,
                &console,
                None,
                Some(e.to_string()),
                form.name,
                form.scopes,
            )
            .await?
        }
    };
    Ok(axum::response::Html(panel).into_response())
}

/// `POST /admin/system/tokens/{id}/revoke` (htmx): revokes and refreshes the list.
pub async fn revoke_token(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    console.require(Area::System, Access::Write)?;
    let error = match access::revoke_token(&state.db, &console.auth.actor(), &id).await {
        Ok(()) => None,
        Err(Error::Internal(cause)) => return Err(Error::Internal(cause).into()),
        Err(e) => Some(e.to_string()),
    };
    let panel = tokens_panel(&state, &console, None, error, String::new(), String::new()).await?;
    Ok(axum::response::Html(panel).into_response())
}

// ---- audit log ----

pub struct AuditRow {
    pub time: String,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "console/system_audit.html")]
struct AuditPage {
    shell: Shell,
    tabs: Vec<TabLink>,
    rows: Vec<AuditRow>,
    older: Option<String>,
    paged: bool,
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<String>,
}

const AUDIT_PAGE: i64 = 50;

/// `GET /admin/system/audit?before=<id>`: newest first, 50 a page.
pub async fn audit(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    console.require(Area::System, Access::Read)?;
    let entries = audit::list(&state.db, q.before.as_deref(), AUDIT_PAGE).await?;
    let older = (entries.len() as i64 == AUDIT_PAGE)
        .then(|| entries.last().map(|e| e.id.clone()))
        .flatten();
    let rows = entries
        .into_iter()
        .map(|e| AuditRow {
            time: when(e.at),
            actor: e.actor_label,
            actor_kind: e.actor_kind,
            action: e.action,
            target: match e.target_id {
                Some(id) => format!("{} {}", e.target_kind, short_id(&id)),
                None => e.target_kind,
            },
            ip: e.ip.unwrap_or_default(),
            detail: if e.detail == "{}" {
                String::new()
            } else {
                e.detail.chars().take(160).collect()
            },
        })
        .collect();
    let (shell, tabs) = frame(&console, Tab::Audit, console.l().audit);
    html(&AuditPage {
        shell,
        tabs,
        rows,
        older,
        paged: q.before.is_some(),
    })
}

/// The last characters of a UUIDv7: enough to tell records apart at a glance.
fn short_id(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

// ---- jobs ----

pub struct StateCount {
    pub state: &'static str,
    pub label: String,
    pub count: i64,
    pub active: bool,
}

pub struct JobRow {
    pub id: String,
    pub short: String,
    pub kind: String,
    pub state: String,
    pub state_label: String,
    pub attempts: String,
    pub run_at: String,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "console/system_jobs.html")]
struct JobsPage {
    shell: Shell,
    tabs: Vec<TabLink>,
    counts: Vec<StateCount>,
    all_active: bool,
    jobs: Vec<JobRow>,
    dead: Vec<JobRow>,
    can_retry: bool,
}

#[derive(Debug, Deserialize)]
pub struct JobsQuery {
    state: Option<String>,
}

const JOB_STATES: [&str; 4] = ["ready", "running", "done", "dead"];

async fn job_rows(
    state: &AppState,
    l: &Labels,
    filter: Option<&str>,
    limit: i64,
) -> PageResult<Vec<JobRow>> {
    let rows = sqlx::query(
        "SELECT id, kind, state, run_at, attempts, max_attempts, last_error FROM jobs \
         WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(filter)
    .bind(limit)
    .fetch_all(state.db.read())
    .await
    .map_err(Error::from)?;
    rows.into_iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            let job_state: String = r.try_get("state")?;
            let attempts: i64 = r.try_get("attempts")?;
            let max_attempts: i64 = r.try_get("max_attempts")?;
            let last_error: Option<String> = r.try_get("last_error")?;
            Ok(JobRow {
                short: short_id(&id).to_owned(),
                id,
                kind: r.try_get("kind")?,
                state_label: l.job_state(&job_state),
                state: job_state,
                attempts: format!("{attempts} / {max_attempts}"),
                run_at: when(r.try_get("run_at")?),
                last_error: last_error
                    .map(|e| e.chars().take(200).collect())
                    .unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|e| Error::from(e).into())
}

/// `GET /admin/system/jobs?state=`: the queue by state, and the dead letters to retry.
pub async fn jobs(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<JobsQuery>,
) -> PageResult {
    console.require(Area::System, Access::Read)?;
    let l = console.l();
    let filter = q
        .state
        .as_deref()
        .and_then(|s| JOB_STATES.iter().find(|k| **k == s).copied());
    let totals = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        .fetch_all(state.db.read())
        .await
        .map_err(Error::from)?;
    let mut counts = Vec::new();
    for s in JOB_STATES {
        let mut n = 0;
        for row in &totals {
            if row.try_get::<String, _>("state").map_err(Error::from)? == s {
                n = row.try_get::<i64, _>("n").map_err(Error::from)?;
            }
        }
        counts.push(StateCount {
            state: s,
            label: l.job_state(s),
            count: n,
            active: filter == Some(s),
        });
    }
    let jobs = job_rows(&state, l, filter, 100).await?;
    let dead = job_rows(&state, l, Some("dead"), 50).await?;
    let (shell, tabs) = frame(&console, Tab::Jobs, l.jobs);
    html(&JobsPage {
        shell,
        tabs,
        counts,
        all_active: filter.is_none(),
        jobs,
        dead,
        can_retry: console.auth.can(Area::System, Access::Write),
    })
}
