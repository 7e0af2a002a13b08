//! The JSON API under `/api/v1`, one router per capability.

pub mod audiences;
pub mod catalog;
pub mod channels;
pub mod computed_traits;
pub mod field;
pub mod files;
pub mod ingest;
pub mod membership;
pub mod network;
pub mod notifications;
pub mod orders;
pub mod pay_wechat;
pub mod promotions;
pub mod service;
pub mod service_store;
pub mod store;
pub mod system;
pub mod tags;
pub mod team;
pub mod test_clock;
pub mod tickets;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(team::router())
        .merge(system::router())
        .merge(network::router())
        .merge(ingest::router())
        .merge(channels::router())
        .merge(notifications::router())
        .merge(tags::router())
        .merge(audiences::router())
        .merge(computed_traits::router())
        .merge(membership::router())
        .merge(service::router())
        .merge(service_store::router())
        .merge(tickets::router())
        .merge(field::router())
        .merge(store::router())
        .merge(orders::router())
        .merge(pay_wechat::router())
        .merge(catalog::router())
        .merge(promotions::router())
        .merge(files::router())
}

/// A page of a listing: `limit` items before the cursor `before`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// Return items older than this id.
    pub before: Option<String>,
    /// At most this many items (1–500, default 50).
    pub limit: Option<i64>,
}
