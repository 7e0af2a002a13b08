//! Server-rendered pages: the console at `/admin` and the storefront at `/`.

use crate::state::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
