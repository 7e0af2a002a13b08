//! Who is calling: a console session (cookie + CSRF token) or an API token
//! (`Authorization: Bearer cove_...`). Handlers take [`Auth`] and call
//! `auth.require(area, access)`; that is the only access check there is.

use crate::error::{ApiError, ApiResult, Json};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use cove_core::access::{self, Access, Area, Principal, Via};
use cove_core::Error;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::ops::Deref;

pub const SESSION_COOKIE: &str = "cove_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated principal of a request.
#[derive(Debug, Clone)]
pub struct Auth {
    pub principal: Principal,
    pub ip: String,
}

impl Deref for Auth {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl Auth {
    pub fn require(&self, area: Area, access: Access) -> ApiResult<()> {
        Ok(self.principal.require(area, access)?)
    }

    pub fn actor(&self) -> cove_core::audit::Actor {
        self.principal.actor(Some(self.ip.clone()))
    }
}

/// The client address as the socket reports it.
pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = client_ip(parts);
        if let Some(token) = bearer(&parts.headers) {
            let principal = access::token_principal(&state.db, token).await?;
            return Ok(Auth { principal, ip });
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(cookie) = jar.get(SESSION_COOKIE) else {
            return Err(Error::Unauthenticated.into());
        };
        let principal =
            access::session_principal(&state.db, &state.config.auth, cookie.value()).await?;
        if is_unsafe(&parts.method) {
            let Via::Session { csrf } = &principal.via else {
                return Err(Error::Unauthenticated.into());
            };
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !access::constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
                return Err(Error::Forbidden(
                    "missing or wrong CSRF token (send it in the X-CSRF-Token header)".into(),
                )
                .into());
            }
        }
        Ok(Auth { principal, ip })
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub user: access::User,
    /// Send this in `X-CSRF-Token` with every unsafe request of this session.
    pub csrf_token: String,
}

/// Starts a session; the cookie is HttpOnly, SameSite=Lax and Secure unless configured off.
pub async fn sign_in(
    state: &AppState,
    ip: &str,
    user_agent: &str,
    email: &str,
    password: &str,
) -> ApiResult<(Cookie<'static>, SignedIn)> {
    let user = access::authenticate(&state.db, &state.config.auth, email, password, ip).await?;
    let session =
        access::create_session(&state.db, &state.config.auth, &user.id, ip, user_agent).await?;
    let cookie = Cookie::build((SESSION_COOKIE, session.token))
        .http_only(true)
        .secure(state.config.secure_cookies())
        .same_site(SameSite::Lax)
        .path("/")
        .build();
    Ok((
        cookie,
        SignedIn {
            user,
            csrf_token: session.csrf,
        },
    ))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "auth", request_body = SignIn,
    responses((status = 200, body = SignedIn), (status = 400, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn sign_in_api(
    State(state): State<AppState>,
    parts: RequestMeta,
    jar: CookieJar,
    Json(body): Json<SignIn>,
) -> ApiResult<(CookieJar, Json<SignedIn>)> {
    let (cookie, signed_in) = sign_in(
        &state,
        &parts.ip,
        &parts.user_agent,
        &body.email,
        &body.password,
    )
    .await?;
    Ok((jar.add(cookie), Json(signed_in)))
}

/// End the current session.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "auth", responses((status = 204)))]
pub async fn sign_out_api(
    State(state): State<AppState>,
    _auth: Auth,
    jar: CookieJar,
) -> ApiResult<Response> {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        access::end_session(&state.db, c.value()).await?;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, StatusCode::NO_CONTENT).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: access::Role,
    pub store_id: Option<String>,
    pub reseller_id: Option<String>,
    /// Areas this principal may view, and whether it may change them.
    pub areas: Vec<AreaAccess>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AreaAccess {
    pub area: Area,
    pub write: bool,
}

/// Who am I, and what may I do?
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(auth: Auth) -> Json<Me> {
    let areas = Area::ALL
        .into_iter()
        .filter(|a| auth.can(*a, Access::Read))
        .map(|area| AreaAccess {
            area,
            write: auth.can(area, Access::Write),
        })
        .collect();
    Json(Me {
        user_id: auth.user_id.clone(),
        email: auth.email.clone(),
        name: auth.name.clone(),
        role: auth.role,
        store_id: auth.store_id.clone(),
        reseller_id: auth.reseller_id.clone(),
        areas,
    })
}

/// Client address and user agent of a request.
pub struct RequestMeta {
    pub ip: String,
    pub user_agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(RequestMeta {
            ip: client_ip(parts),
            user_agent,
        })
    }
}
