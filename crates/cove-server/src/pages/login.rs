//! Signing in to and out of the console.

use super::i18n::{Labels, Lang};
use super::{cookie_lang, html_status, redirect, safe_next, PageResult};
use crate::auth::{self, Auth, RequestMeta, SESSION_COOKIE};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use cove_core::{access, Error};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    l: &'static Labels,
    lang: Lang,
    other: Lang,
    lang_href: String,
    email: &'a str,
    next: &'a str,
    error: Option<&'static str>,
}

fn page(
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<&'static str>,
) -> PageResult {
    let lang = cookie_lang(headers).unwrap_or(Lang::Zh);
    let back = if next.is_empty() {
        "/admin/login".to_owned()
    } else {
        super::login_location(next)
    };
    html_status(
        status,
        &LoginPage {
            l: lang.labels(),
            lang,
            other: lang.other(),
            lang_href: format!(
                "/lang/{}?next={}",
                lang.other().code(),
                super::percent_encode_component(&back)
            ),
            email,
            next,
            error,
        },
    )
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /admin/login`.
pub async fn form(headers: HeaderMap, Query(q): Query<LoginQuery>) -> PageResult {
    let next = safe_next(q.next.as_deref()).unwrap_or("");
    page(&headers, StatusCode::OK, "", next, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Whether a cross-site page posted this form: an `Origin` that is not this host.
fn foreign_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    !matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// `POST /admin/login`: starts a session and goes to the console (or `next`).
pub async fn submit(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> PageResult {
    if foreign_origin(&headers) {
        return Err(Error::Forbidden("sign-in from another site is refused".into()).into());
    }
    let next = safe_next(Some(&form.next)).unwrap_or("");
    let l = cookie_lang(&headers).unwrap_or(Lang::Zh).labels();
    match auth::sign_in(
        &state,
        &meta.ip,
        &meta.user_agent,
        &form.email,
        &form.password,
    )
    .await
    {
        Ok((cookie, _)) => {
            let to = if next.is_empty() { "/admin" } else { next };
            Ok((jar.add(cookie), redirect(to)).into_response())
        }
        Err(ApiError(e)) => {
            let (status, message) = match &e {
                Error::Invalid { .. } => (StatusCode::UNAUTHORIZED, l.err_credentials),
                Error::RateLimited {
                    code: "account_locked",
                    ..
                } => (StatusCode::TOO_MANY_REQUESTS, l.err_locked),
                Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, l.err_throttled),
                Error::Internal(cause) => {
                    tracing::error!(error = format!("{cause:#}"), "sign-in failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, l.err_signin)
                }
                _ => (StatusCode::BAD_REQUEST, l.err_signin),
            };
            page(&headers, status, form.email.trim(), next, Some(message))
        }
    }
}

/// `POST /admin/logout` (with the session's CSRF token): ends the session.
pub async fn logout(
    State(state): State<AppState>,
    _auth: Auth,
    headers: HeaderMap,
    jar: CookieJar,
) -> PageResult {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        access::end_session(&state.db, c.value()).await?;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    let response: Response = if headers.contains_key("hx-request") {
        (
            jar,
            [("hx-redirect", "/admin/login")],
            StatusCode::NO_CONTENT,
        )
            .into_response()
    } else {
        (jar, redirect("/admin/login")).into_response()
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn only_a_foreign_origin_is_refused() {
        assert!(!foreign_origin(&headers(None, "shop.example:8080")));
        assert!(!foreign_origin(&headers(
            Some("http://shop.example:8080"),
            "shop.example:8080"
        )));
        assert!(foreign_origin(&headers(
            Some("https://evil.example"),
            "shop.example:8080"
        )));
        assert!(foreign_origin(&headers(Some("null"), "shop.example")));
        assert!(foreign_origin(&headers(
            Some("http://shop.example:9090"),
            "shop.example:8080"
        )));
    }
}
