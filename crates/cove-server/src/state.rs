//! What every handler shares: configuration, the database and the metrics.

use crate::metrics::Metrics;
use cove_core::config::Config;
use cove_core::db::Db;
use cove_core::vault::Vault;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub metrics: Arc<Metrics>,
    /// Seals and opens secrets stored in the database.
    pub vault: Vault,
    /// WeChat API clients of the brand's accounts.
    pub wechat: cove_core::channels::WechatApi,
    /// Event names that rule tags react to (cached per node).
    pub tag_triggers: cove_core::audience::tags::Triggers,
    /// This node's audience bitmaps, rebuilt from the database when stale.
    pub audience_cache: cove_core::audience::audiences::Cache,
    /// Per-source ingestion rate limits on this node.
    pub ingest_throttle: cove_core::audience::throttle::Throttle,
    /// The WeChat Pay merchant, when `wechat_pay.enabled`.
    pub wechat_pay: Option<Arc<cove_core::commerce::wechat_pay::WechatPay>>,
}

impl AppState {
    pub fn new(config: Config, db: Db) -> anyhow::Result<Self> {
        let vault = Vault::open(config.secret_key.as_ref(), &config.data_dir)?;
        let wechat =
            cove_core::channels::WechatApi::new(db.clone(), vault.clone(), &config.wechat)?;
        let wechat_pay = cove_core::commerce::wechat_pay::WechatPay::from_config(
            &config.wechat_pay,
            &config.public_url(),
        )?
        .map(Arc::new);
        Ok(Self {
            wechat_pay,
            wechat,
            config: Arc::new(config),
            db,
            metrics: Arc::new(Metrics::new()),
            vault,
            tag_triggers: Default::default(),
            audience_cache: Default::default(),
            ingest_throttle: Default::default(),
        })
    }
}
