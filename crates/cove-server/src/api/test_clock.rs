//! The test clock: an admin moves this process's time forward to show
//! time-based behaviour (a return window passing, points unlocking) without
//! waiting. Mounted only when `clock.adjustable` is on, so a production
//! server answers 404 `route_not_found` as for any unknown path.

use crate::auth::Auth;
use crate::error::{ApiResult, Json};
use crate::state::AppState;
use axum::extract::State;
use cove_core::access::{Access, Area};
use cove_core::clock::{self, Micros, DAY, SECOND};
use cove_core::{audit, Error};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest step one call may take: past a year, a mistyped number
/// (milliseconds for seconds) is more likely than intent.
pub const MAX_STEP: Micros = 366 * DAY;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(advance))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Advance {
    /// Seconds to move forward: 1 to 31,622,400 (366 days).
    seconds: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ClockReading {
    /// The process's time now (µs since the epoch, UTC).
    now: Micros,
    /// The same, as RFC 3339.
    now_rfc3339: String,
    /// How far the clock runs ahead of real time, in seconds.
    offset_seconds: i64,
}

/// Moves the clock forward (admin only; only with `clock.adjustable`).
#[utoipa::path(post, path = "/api/v1/test-clock/advance", tag = "system", request_body = Advance,
    responses((status = 200, body = ClockReading), (status = 400, description = "invalid_seconds")))]
async fn advance(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<Advance>,
) -> ApiResult<Json<ClockReading>> {
    auth.require(Area::System, Access::Write)?;
    if req.seconds <= 0 || req.seconds > MAX_STEP / SECOND {
        return Err(Error::invalid(
            "invalid_seconds",
            format!(
                "advance by 1 to {} seconds (366 days); the clock never goes back",
                MAX_STEP / SECOND
            ),
        )
        .into());
    }
    let offset = clock::advance(req.seconds * SECOND);
    let now = clock::now();
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        &auth.actor(),
        "test_clock.advance",
        "clock",
        None,
        json!({ "seconds": req.seconds, "offset_seconds": offset / SECOND }),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(
        seconds = req.seconds,
        offset_seconds = offset / SECOND,
        "test clock advanced"
    );
    Ok(Json(ClockReading {
        now,
        now_rfc3339: clock::to_rfc3339(now),
        offset_seconds: offset / SECOND,
    }))
}
