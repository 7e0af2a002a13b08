//! WeChat Pay: the customer's JSAPI payment of an order, and the payment and
//! refund notifications WeChat Pay posts.

use crate::customer::Customer;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cove_core::commerce::wechat_pay::{self, NotifyKind, WechatPay};
use cove_wechat::pay::NotifyAnswer;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pay_order))
        .routes(routes!(notify))
        .routes(routes!(refund_notify))
}

/// The parameters the Mini Program passes to `wx.requestPayment` (`appId` is
/// signed but not passed).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PayParams {
    app_id: String,
    time_stamp: String,
    nonce_str: String,
    /// `prepay_id=...`
    package: String,
    /// Always `RSA`.
    sign_type: String,
    pay_sign: String,
}

fn disabled() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(ErrorBody {
            code: "wechat_pay_disabled".into(),
            message: "WeChat Pay is not configured on this server".into(),
        }),
    )
        .into_response()
}

fn configured(state: &AppState) -> Option<Arc<WechatPay>> {
    state.wechat_pay.clone()
}

/// Pays a pending order of the signed-in customer with WeChat Pay (JSAPI):
/// answers the signed `wx.requestPayment` parameters. Calling it again reuses
/// the same prepay.
#[utoipa::path(post, path = "/api/v1/me/orders/{order_id}/pay/wechat", tag = "store",
    params(("order_id" = String, Path)),
    responses((status = 200, body = PayParams),
        (status = 400, description = "`wechat_openid_missing`: not signed in with the Mini Program", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`order_not_payable`", body = ErrorBody),
        (status = 503, description = "`wechat_pay_disabled`", body = ErrorBody)),
    security(("bearer" = [])))]
async fn pay_order(
    State(state): State<AppState>,
    customer: Customer,
    Path(order_id): Path<String>,
) -> Response {
    let Some(pay) = configured(&state) else {
        return disabled();
    };
    match wechat_pay::prepay(&state.db, &pay, &customer.profile_id, &order_id).await {
        Ok(p) => Json(PayParams {
            app_id: p.app_id,
            time_stamp: p.time_stamp,
            nonce_str: p.nonce_str,
            package: p.package,
            sign_type: p.sign_type,
            pay_sign: p.pay_sign,
        })
        .into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

fn answer(a: NotifyAnswer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if a.body.is_empty() {
        status.into_response()
    } else {
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            a.body,
        )
            .into_response()
    }
}

async fn receive(state: &AppState, kind: NotifyKind, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(pay) = configured(state) else {
        return answer(NotifyAnswer::fail("WeChat Pay is not configured"));
    };
    let lookup = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    answer(wechat_pay::handle_notification(&state.db, &pay, kind, lookup, body).await)
}

/// WeChat Pay payment notification (`TRANSACTION.SUCCESS`): verified against
/// the raw body, decrypted, checked against the payment and applied once.
#[utoipa::path(post, path = "/api/v1/pay/wechat/notify", tag = "store",
    request_body(content = String, content_type = "application/json"),
    responses((status = 204, description = "accepted (also for a repeat)"),
        (status = 400, description = "`{\"code\":\"FAIL\"}`: does not match the payment"),
        (status = 401, description = "`{\"code\":\"FAIL\"}`: signature, serial or timestamp refused"),
        (status = 500, description = "`{\"code\":\"FAIL\"}`: retry later")))]
async fn notify(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    receive(&state, NotifyKind::Payment, &headers, &body).await
}

/// WeChat Pay refund notification (`REFUND.SUCCESS`, `REFUND.ABNORMAL`,
/// `REFUND.CLOSED`).
#[utoipa::path(post, path = "/api/v1/pay/wechat/refund-notify", tag = "store",
    request_body(content = String, content_type = "application/json"),
    responses((status = 204, description = "accepted (also for a repeat)"),
        (status = 400, description = "`{\"code\":\"FAIL\"}`: does not match the refund"),
        (status = 401, description = "`{\"code\":\"FAIL\"}`: signature, serial or timestamp refused"),
        (status = 500, description = "`{\"code\":\"FAIL\"}`: retry later")))]
async fn refund_notify(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    receive(&state, NotifyKind::Refund, &headers, &body).await
}
