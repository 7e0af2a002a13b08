//! What every handler shares: configuration, the database and the metrics.

use crate::metrics::Metrics;
use cove_core::config::Config;
use cove_core::db::Db;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(config: Config, db: Db) -> Self {
        Self {
            config: Arc::new(config),
            db,
            metrics: Arc::new(Metrics::new()),
        }
    }
}
