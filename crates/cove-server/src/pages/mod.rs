//! Server-rendered pages: the console at `/admin` and the storefront at `/`.
//!
//! Pages are askama templates (`templates/`), made interactive with htmx and
//! drawn with ECharts, both served from `/assets/vendor`. Labels come from a
//! typed dictionary ([`i18n`]); the `cove_lang` cookie picks the language.

pub mod audience;
pub mod channels;
pub mod channels_forms;
pub mod channels_notifications;
pub mod commerce_catalog;
pub mod commerce_orders;
pub mod commerce_promotions;
pub mod console;
pub mod device;
pub mod field;
pub mod field_engineers;
pub mod i18n;
pub mod icons;
pub mod login;
pub mod membership;
pub mod membership_till;
pub mod service_desk;
pub mod service_tickets;
pub mod store;
pub mod store_mall;
pub mod store_member;
pub mod store_orders;
pub mod store_service;
pub mod store_tickets;
pub mod system;

use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use cove_core::clock::{self, Micros};
use cove_core::Error;
use i18n::Lang;

pub use console::Console;

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "cove_lang";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(login::form).post(login::submit))
        .route("/admin/logout", post(login::logout))
        .route("/lang/{code}", get(switch_language))
        .route("/admin", get(console::dashboard))
        .route("/admin/", get(console::dashboard))
        .route("/admin/network", get(console::network))
        .route("/admin/membership", get(membership::index))
        .route("/admin/membership/members/{id}", get(membership::member))
        .route("/admin/membership/till", get(membership_till::page))
        .route("/admin/service", get(service_desk::desk))
        .route("/admin/service/tickets", get(service_tickets::queue))
        .route("/admin/service/dispatch", get(field::board))
        .route(
            "/admin/service/dispatch/engineers",
            get(field_engineers::list).post(field_engineers::create),
        )
        .route(
            "/admin/service/dispatch/engineers/{id}",
            get(field_engineers::edit).post(field_engineers::update),
        )
        .route(
            "/admin/service/dispatch/engineers/{id}/active",
            post(field_engineers::set_active),
        )
        .route(
            "/admin/service/dispatch/settings",
            post(field_engineers::set_scheduling),
        )
        .route(
            "/admin/service/dispatch/visits/{id}/complete",
            post(field_engineers::complete),
        )
        .route("/admin/service/tickets/{id}", get(service_tickets::ticket))
        .route("/admin/system", get(system::index))
        .route(
            "/admin/system/users",
            get(system::users).post(system::add_user),
        )
        .route(
            "/admin/system/tokens",
            get(system::tokens).post(system::create_token),
        )
        .route(
            "/admin/system/tokens/{id}/revoke",
            post(system::revoke_token),
        )
        .route("/admin/system/audit", get(system::audit))
        .route("/admin/system/jobs", get(system::jobs))
        .route("/admin/channels", get(channels::index))
        .route("/admin/channels/scenes", post(channels_forms::create_scene))
        .route("/admin/channels/ways", post(channels_forms::create_way))
        .route(
            "/admin/channels/notifications",
            get(channels_notifications::index).post(channels_notifications::save),
        )
        .route("/admin/audience", get(audience::tags_page))
        .route("/admin/audience/tags", post(audience::create_tag))
        .route("/admin/audience/tags/preview", post(audience::preview_tag))
        .route(
            "/admin/audience/audiences",
            get(audience::audiences_page).post(audience::save_audience),
        )
        .route(
            "/admin/audience/audiences/count",
            post(audience::live_count),
        )
        .route("/admin/audience/profiles/{id}", get(audience::profile_page))
        .route("/admin/commerce", get(commerce_catalog::index))
        .route(
            "/admin/commerce/products",
            get(commerce_catalog::products_page),
        )
        .route(
            "/admin/commerce/products/{code}",
            get(commerce_catalog::product_page),
        )
        .route("/admin/commerce/stock", get(commerce_catalog::stock_page))
        .route(
            "/admin/commerce/promotions",
            get(commerce_promotions::index),
        )
        .route(
            "/admin/commerce/promotions/coupon-templates",
            post(commerce_promotions::create_template),
        )
        .route(
            "/admin/commerce/promotions/issue",
            post(commerce_promotions::issue),
        )
        .route(
            "/admin/commerce/promotions/discounts",
            post(commerce_promotions::create_promotion),
        )
        .route(
            "/admin/commerce/promotions/flash-sales",
            post(commerce_promotions::create_sale),
        )
        .route(
            "/admin/commerce/promotions/status",
            post(commerce_promotions::set_status),
        )
        .route("/admin/commerce/orders", get(commerce_orders::index))
        .route("/admin/commerce/orders/{id}", get(commerce_orders::order))
        .route("/admin/{area}", get(console::coming_soon))
        .route("/", get(store::home))
        .route("/categories", get(store::categories))
        .route("/c/{code}", get(store::product_list))
        .route("/search", get(store::search))
        .route("/p/{code}", get(store::product_page))
        .route("/service", get(store_service::index))
        .route("/service/tickets", get(store_tickets::store_list))
        .route("/service/tickets/new", get(store_tickets::new_ticket))
        .route("/service/tickets/{id}", get(store_tickets::ticket))
        .route("/service/appointments", get(field::store_list))
        .route("/a/{token}", get(field::link))
        .route("/coupons", get(commerce_promotions::store_coupons))
        .route("/me", get(store_member::me))
        .route("/me/link/{token}", get(store_member::link))
        .route("/mall", get(store_mall::page))
        .route("/cart", get(store_orders::cart_page))
        .route("/checkout", get(store_orders::checkout_page))
        .route("/pay/sandbox/{payment_id}", get(store_orders::pay_page))
        .route("/orders", get(store_orders::orders_page))
        .route("/orders/{id}", get(store_orders::order_page))
        .route("/d/{tag}", get(device::page))
}

/// The language chosen through the `cove_lang` cookie, if any.
pub fn cookie_lang(headers: &HeaderMap) -> Option<Lang> {
    CookieJar::from_headers(headers)
        .get(LANG_COOKIE)
        .and_then(|c| Lang::parse(c.value()))
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /lang/{zh|en}?next=/path`: remembers the language and goes back.
async fn switch_language(
    axum::extract::Path(code): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
    jar: CookieJar,
) -> Response {
    let next = safe_next(q.next.as_deref()).unwrap_or("/");
    let Some(lang) = Lang::parse(&code) else {
        return redirect(next);
    };
    let cookie = Cookie::build((LANG_COOKIE, lang.code()))
        .path("/")
        .same_site(SameSite::Lax)
        .permanent()
        .build();
    (jar.add(cookie), redirect(next)).into_response()
}

/// A local path to return to, refusing anything that could leave the site.
pub fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.starts_with("/\\")
            && !n.chars().any(|c| c.is_control())
    })
}

/// `303 See Other` to `to`.
pub fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// The `Location` for a sign-in that returns to `path_and_query`.
pub fn login_location(path_and_query: &str) -> String {
    format!(
        "/admin/login?next={}",
        percent_encode_component(path_and_query)
    )
}

pub(crate) fn percent_encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What a page handler returns when it cannot show its page.
#[derive(Debug)]
pub enum PageError {
    /// A complete page to answer with instead, such as "not allowed".
    Page(Box<Response>),
    Api(ApiError),
    Template(askama::Error),
}

pub type PageResult<T = Response> = Result<T, PageError>;

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError::Api(ApiError(e))
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::Template(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    l: &'static i18n::Labels,
    lang: Lang,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::Page(page) => return *page,
            PageError::Api(ApiError(Error::Internal(cause))) => {
                tracing::error!(error = format!("{cause:#}"), "page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, String::new())
            }
            PageError::Api(e) => (e.status(), e.0.to_string()),
            PageError::Template(e) => {
                tracing::error!(error = %e, "template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, String::new())
            }
        };
        let lang = Lang::Zh;
        let l = lang.labels();
        let title = if status == StatusCode::NOT_FOUND {
            l.not_found_title
        } else {
            l.error_title
        };
        let page = ErrorPage {
            title,
            message: &message,
            l,
            lang,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

/// Renders a template as an HTML response.
/// A connection for reading, as pages take one.
pub(crate) async fn read_conn(
    state: &AppState,
) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, Error> {
    state.db.read().acquire().await.map_err(Error::from)
}

pub fn html(t: &impl Template) -> PageResult {
    Ok(Html(t.render()?).into_response())
}

/// Renders a template as an HTML response with `status`.
pub fn html_status(status: StatusCode, t: &impl Template) -> PageResult {
    Ok((status, Html(t.render()?)).into_response())
}

/// Integer fen as yuan: `¥6,999` or `¥49.90`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    let (whole, cents) = (abs / 100, abs % 100);
    let whole = group_thousands(whole);
    if cents == 0 {
        format!("{sign}¥{whole}")
    } else {
        format!("{sign}¥{whole}.{cents:02}")
    }
}

/// Large GMV figures compactly: `¥1,234万` in Chinese, `¥12.3M` in English.
pub fn yuan_compact(fen: i64, lang: Lang) -> String {
    let yuan_whole = fen / 100;
    match lang {
        Lang::Zh if yuan_whole.abs() >= 100_000_000 => {
            format!("¥{:.2}亿", yuan_whole as f64 / 100_000_000.0)
        }
        Lang::Zh if yuan_whole.abs() >= 100_000 => {
            format!(
                "¥{}万",
                group_thousands((yuan_whole / 10_000).unsigned_abs())
            )
        }
        Lang::En if yuan_whole.abs() >= 10_000_000 => {
            format!("¥{:.1}M", yuan_whole as f64 / 1_000_000.0)
        }
        _ => yuan(fen - fen % 100),
    }
}

pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn count(n: i64) -> String {
    let s = group_thousands(n.unsigned_abs());
    if n < 0 {
        format!("-{s}")
    } else {
        s
    }
}

/// A rate as a percentage with one decimal, or a dash without a rate.
pub fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{:.1}%", r * 100.0),
        None => "—".to_owned(),
    }
}

/// A time in the team's zone (China), to the minute.
pub fn when(us: Micros) -> String {
    clock::to_datetime(us + cove_core::insight::REPORT_OFFSET)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn when_opt(us: Option<Micros>, none: &str) -> String {
    us.map(when).unwrap_or_else(|| none.to_owned())
}

/// htmx's answer to a console form: go to `next` on success, or show why
/// the input was refused (a 500 stays a 500).
pub fn form_outcome(result: Result<(), Error>, next: &str) -> PageResult {
    match result {
        Ok(()) => {
            let mut response = Html(String::new()).into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(next) {
                response.headers_mut().insert("hx-redirect", v);
            }
            Ok(response)
        }
        Err(Error::Internal(cause)) => Err(Error::Internal(cause).into()),
        Err(e) => {
            let message = e
                .to_string()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            Ok(Html(format!(
                "<div class=\"alert alert-error\" role=\"alert\" data-code=\"{}\">{message}</div>",
                e.code()
            ))
            .into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_format_as_yuan() {
        assert_eq!(yuan(0), "¥0");
        assert_eq!(yuan(699_900), "¥6,999");
        assert_eq!(yuan(4_990), "¥49.90");
        assert_eq!(yuan(123_456_789), "¥1,234,567.89");
        assert_eq!(yuan(-5), "-¥0.05");
        assert_eq!(yuan_compact(1_234_567_800, Lang::Zh), "¥1,234万");
        assert_eq!(yuan_compact(1_234_567_800, Lang::En), "¥12.3M");
        assert_eq!(yuan_compact(99_900, Lang::En), "¥999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(percent(Some(0.1436)), "14.4%");
        assert_eq!(percent(None), "—");
    }

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(safe_next(Some("/admin/network")), Some("/admin/network"));
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(safe_next(None), None);
        assert_eq!(
            login_location("/admin/system/jobs?state=dead"),
            "/admin/login?next=/admin/system/jobs%3Fstate%3Ddead"
        );
    }

    #[test]
    fn times_show_in_china_time() {
        assert_eq!(when(0), "1970-01-01 08:00");
    }
}
