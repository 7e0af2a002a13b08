//! The console's frame (who is signed in, the navigation they may see, the
//! language) and its home, network and "coming soon" pages.

use super::i18n::{Labels, Lang};
use super::icons::{self, Icon};
use super::{
    count, html, html_status, login_location, percent, redirect, yuan_compact, PageError,
    PageResult,
};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cove_core::access::{Access, Area, Principal, Via};
use cove_core::insight::{self, Scope};
use cove_core::{clock, network, Error};
use serde_json::json;

/// A console page's caller: a signed-in session. Without one, pages redirect
/// to the sign-in page (htmx requests get an `HX-Redirect` instead).
pub struct Console {
    pub auth: Auth,
    pub lang: Lang,
    pub csrf: String,
    /// Path and query of this request, to come back to after a language switch.
    pub here: String,
    /// Whether htmx made the request (it then wants a fragment).
    pub htmx: bool,
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        let htmx = parts.headers.contains_key("hx-request");
        let to_login = |here: &str| {
            let location = login_location(here);
            if htmx {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert("hx-redirect", v);
                }
                response
            } else {
                redirect(&location)
            }
        };
        let auth = match Auth::from_request_parts(parts, state).await {
            Ok(auth) => auth,
            Err(ApiError(Error::Unauthenticated)) => return Err(to_login(&here)),
            Err(e) => return Err(e.into_response()),
        };
        let Via::Session { csrf } = &auth.principal.via else {
            // API tokens are for the API; the console wants a person.
            return Err(to_login(&here));
        };
        let lang = super::cookie_lang(&parts.headers)
            .or_else(|| Lang::parse(&auth.principal.locale))
            .unwrap_or(Lang::Zh);
        Ok(Console {
            csrf: csrf.clone(),
            auth,
            lang,
            here,
            htmx,
        })
    }
}

impl Console {
    pub fn l(&self) -> &'static Labels {
        self.lang.labels()
    }

    pub fn principal(&self) -> &Principal {
        &self.auth.principal
    }

    /// The frame of a page whose navigation highlights `active`.
    pub fn shell(&self, active: Nav, title: &str) -> Shell {
        let l = self.l();
        let mut nav = vec![NavItem {
            href: "/admin".into(),
            label: l.home,
            icon: icons::HOME,
            active: active == Nav::Home,
        }];
        for area in Area::ALL {
            if self.auth.can(area, Access::Read) {
                nav.push(NavItem {
                    href: area_href(area),
                    label: l.area(area),
                    icon: icons::area(area),
                    active: active == Nav::Area(area),
                });
            }
        }
        let p = self.principal();
        Shell {
            l,
            lang: self.lang,
            other: self.lang.other(),
            csrf: self.csrf.clone(),
            title: title.to_owned(),
            user_name: p.name.clone(),
            user_email: p.email.clone(),
            initial: p.name.chars().next().unwrap_or('·').to_string(),
            role: l.role(p.role),
            nav,
            lang_href: format!(
                "/lang/{}?next={}",
                self.lang.other().code(),
                super::percent_encode_component(&self.here)
            ),
        }
    }

    /// `Ok` when the caller may `access` `area`; otherwise the forbidden page.
    pub fn require(&self, area: Area, access: Access) -> Result<(), PageError> {
        if self.auth.can(area, access) {
            return Ok(());
        }
        let shell = self.shell(Nav::Area(area), self.l().forbidden_title);
        let page = html_status(StatusCode::FORBIDDEN, &Forbidden { shell })?;
        Err(PageError::Page(Box::new(page)))
    }
}

pub fn area_href(area: Area) -> String {
    match area {
        Area::System => "/admin/system".into(),
        other => format!("/admin/{}", other.as_str()),
    }
}

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Home,
    Area(Area),
}

pub struct NavItem {
    pub href: String,
    pub label: &'static str,
    pub icon: Icon,
    pub active: bool,
}

/// What the console layout needs from every page.
pub struct Shell {
    pub l: &'static Labels,
    pub lang: Lang,
    pub other: Lang,
    pub csrf: String,
    pub title: String,
    pub user_name: String,
    pub user_email: String,
    pub initial: String,
    pub role: &'static str,
    pub nav: Vec<NavItem>,
    pub lang_href: String,
}

#[derive(Template)]
#[template(path = "console/forbidden.html")]
struct Forbidden {
    shell: Shell,
}

/// A headline figure on the dashboard.
pub struct Kpi {
    pub id: &'static str,
    pub label: &'static str,
    pub value: String,
    pub hint: &'static str,
    pub icon: Icon,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct Dashboard {
    shell: Shell,
    scope_note: Option<&'static str>,
    kpis: Vec<Kpi>,
    sales_chart: String,
    members_chart: String,
    show_figures: bool,
}

/// `GET /admin`: the headline KPIs and charts, scoped to the caller's store or reseller.
pub async fn dashboard(State(state): State<AppState>, console: Console) -> PageResult {
    let l = console.l();
    let shell = console.shell(Nav::Home, l.home);
    let principal = console.principal();
    let show_figures = [
        Area::Insight,
        Area::Commerce,
        Area::Membership,
        Area::Network,
    ]
    .into_iter()
    .any(|a| principal.can(a, Access::Read));
    if !show_figures {
        return html(&Dashboard {
            shell,
            scope_note: None,
            kpis: Vec::new(),
            sales_chart: String::new(),
            members_chart: String::new(),
            show_figures,
        });
    }
    let scope = Scope::of(principal);
    let scope_note = match (scope.store, scope.reseller) {
        (Some(_), _) => Some(l.scope_store),
        (_, Some(_)) => Some(l.scope_reseller),
        _ => None,
    };
    let now = clock::now();
    let k = insight::kpis(&state.db, scope, now).await?;
    let lang = console.lang;
    let kpis = vec![
        Kpi {
            id: "members",
            label: l.kpi_members,
            value: count(k.members),
            hint: l.hint_total,
            icon: icons::USERS,
        },
        Kpi {
            id: "new-members",
            label: l.kpi_new_members,
            value: count(k.new_members_30d),
            hint: l.hint_30d,
            icon: icons::SPARKLE,
        },
        Kpi {
            id: "orders",
            label: l.kpi_orders,
            value: count(k.orders_30d),
            hint: l.hint_30d,
            icon: icons::BAG,
        },
        Kpi {
            id: "gmv",
            label: l.kpi_gmv,
            value: yuan_compact(k.gmv_30d_fen, lang),
            hint: l.hint_30d,
            icon: icons::CHART,
        },
        Kpi {
            id: "repeat",
            label: l.kpi_repeat,
            value: percent(k.repeat_rate()),
            hint: l.hint_repeat,
            icon: icons::ROUTE,
        },
        Kpi {
            id: "binding",
            label: l.kpi_binding,
            value: percent(k.binding_rate()),
            hint: l.hint_binding,
            icon: icons::QR,
        },
    ];
    let sales = insight::monthly_sales(&state.db, scope, now, 36).await?;
    let sales_chart = json!({
        "months": sales.months.iter().map(|m| &m.label).collect::<Vec<_>>(),
        "orders_label": l.orders,
        "gmv_label": l.gmv,
        "empty": l.no_data,
        "series": sales.channels.iter().map(|c| json!({
            "name": l.channel(&c.channel),
            "color": channel_colour(&c.channel),
            "orders": c.orders,
            // yuan, for the axis; exact fen stay in the database
            "gmv": c.gmv_fen.iter().map(|f| f / 100).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
    .to_string();
    let joined = insight::members_by_channel(&state.db, scope).await?;
    let members_chart = json!({
        "label": l.members,
        "empty": l.no_data,
        "data": joined.iter().map(|(c, n)| json!({
            "name": l.channel(c),
            "value": n,
            "itemStyle": { "color": channel_colour(c) },
        })).collect::<Vec<_>>(),
    })
    .to_string();
    html(&Dashboard {
        shell,
        scope_note,
        kpis,
        sales_chart,
        members_chart,
        show_figures,
    })
}

/// One colour per channel, the same in every chart.
fn channel_colour(code: &str) -> &'static str {
    match code {
        "mini_program" => "#4845e4",
        "offline_store" | "store" => "#14b8a6",
        "reseller" => "#f59e0b",
        "wecom" => "#ec4899",
        "h5" => "#0ea5e9",
        "service_account" | "official_account" => "#8b5cf6",
        "device_qr" => "#22c55e",
        "channels" => "#f97316",
        "moments_ads" => "#e11d48",
        _ => "#94a3b8",
    }
}

pub struct StoreRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub kind_class: &'static str,
    pub city: String,
    pub reseller: String,
    pub since: String,
}

pub struct ResellerRow {
    pub code: String,
    pub name: String,
    pub city: String,
    pub stores: usize,
    pub since: String,
}

#[derive(Template)]
#[template(path = "console/network.html")]
struct NetworkPage {
    shell: Shell,
    scope_note: Option<&'static str>,
    stores: Vec<StoreRow>,
    resellers: Vec<ResellerRow>,
}

/// `GET /admin/network`: stores and resellers, scoped like the dashboard.
pub async fn network(State(state): State<AppState>, console: Console) -> PageResult {
    console.require(Area::Network, Access::Read)?;
    let l = console.l();
    let scope = Scope::of(console.principal());
    let stores = network::list_stores(&state.db, scope.store, scope.reseller).await?;
    let resellers = match scope.store {
        // Store staff see their store; its reseller is named in the table.
        Some(_) => Vec::new(),
        None => network::list_resellers(&state.db, scope.reseller).await?,
    };
    let all_resellers = network::list_resellers(&state.db, None).await?;
    let reseller_name = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| all_resellers.iter().find(|r| &r.id == id))
            .map(|r| r.name.clone())
            .unwrap_or_else(|| l.direct.to_owned())
    };
    let store_rows = stores
        .iter()
        .map(|s| StoreRow {
            code: s.code.clone(),
            name: s.name.clone(),
            kind: l.store_kind(&s.kind),
            kind_class: match s.kind.as_str() {
                "flagship" => "badge-brand",
                "reseller_store" => "badge-amber",
                _ => "badge-green",
            },
            city: s.city.clone(),
            reseller: reseller_name(&s.reseller_id),
            since: super::when(s.created_at).chars().take(10).collect(),
        })
        .collect();
    let reseller_rows = resellers
        .iter()
        .map(|r| ResellerRow {
            code: r.code.clone(),
            name: r.name.clone(),
            city: r.city.clone(),
            stores: stores
                .iter()
                .filter(|s| s.reseller_id.as_deref() == Some(&r.id))
                .count(),
            since: super::when(r.created_at).chars().take(10).collect(),
        })
        .collect();
    let scope_note = match (scope.store, scope.reseller) {
        (Some(_), _) => Some(l.scope_store),
        (_, Some(_)) => Some(l.scope_reseller),
        _ => None,
    };
    html(&NetworkPage {
        shell: console.shell(Nav::Area(Area::Network), l.area(Area::Network)),
        scope_note,
        stores: store_rows,
        resellers: reseller_rows,
    })
}

#[derive(Template)]
#[template(path = "console/soon.html")]
struct ComingSoon {
    shell: Shell,
    icon: Icon,
    name: &'static str,
    what: &'static str,
}

/// `GET /admin/{area}`: a capability whose pages are not built yet.
pub async fn coming_soon(console: Console, Path(area): Path<String>) -> PageResult {
    let Some(area) = Area::ALL.into_iter().find(|a| a.as_str() == area) else {
        return Err(Error::not_found("page").into());
    };
    if area == Area::System {
        return Ok(redirect("/admin/system"));
    }
    console.require(area, Access::Read)?;
    let l = console.l();
    html(&ComingSoon {
        shell: console.shell(Nav::Area(area), l.area(area)),
        icon: icons::area(area),
        name: l.area(area),
        what: l.area_soon(area),
    })
}
