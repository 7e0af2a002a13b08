//! Who the storefront customer is: a bearer token from the Mini Program or
//! H5 (`Authorization: Bearer cs_...`), or the `cove_customer` cookie of the
//! server-rendered storefront, which must send the session's CSRF token on
//! unsafe requests (as the console does).

use crate::auth::CSRF_HEADER;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum_extra::extract::cookie::CookieJar;
use cove_core::access::{self, customers};
use cove_core::Error;

pub const CUSTOMER_COOKIE: &str = "cove_customer";

/// The signed-in storefront customer.
#[derive(Debug, Clone)]
pub struct Customer {
    /// The surviving profile of the session.
    pub profile_id: String,
    pub member_id: Option<String>,
    pub channel: String,
}

impl Customer {
    /// The member id, or 403 `not_a_member` for a customer who has not joined.
    pub fn member(&self) -> Result<&str, ApiError> {
        self.member_id.as_deref().ok_or_else(|| {
            ApiError::new(
                "not_a_member",
                "this needs a member: join the membership first",
            )
        })
    }
}

/// The storefront session of a server-rendered page's `cove_customer`
/// cookie, if it is live.
pub async fn page_session(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<customers::CustomerSession>, Error> {
    match CookieJar::from_headers(headers).get(CUSTOMER_COOKIE) {
        Some(c) => customers::authenticate(&state.db, c.value()).await,
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let from_cookie = bearer.is_none();
        let token = match bearer {
            Some(t) => t,
            None => CookieJar::from_headers(&parts.headers)
                .get(CUSTOMER_COOKIE)
                .map(|c| c.value().to_owned())
                .ok_or(Error::Unauthenticated)?,
        };
        let session = customers::authenticate(&state.db, &token)
            .await?
            .ok_or(Error::Unauthenticated)?;
        if from_cookie && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !access::constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
                return Err(Error::Forbidden(
                    "missing or wrong CSRF token (send it in the X-CSRF-Token header)".into(),
                )
                .into());
            }
        }
        Ok(Customer {
            profile_id: session.profile_id,
            member_id: session.member_id,
            channel: session.channel,
        })
    }
}
