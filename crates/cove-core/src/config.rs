//! Typed configuration: defaults, then an optional `cove.toml`, then `COVE_*`
//! environment variables (`COVE_JOBS__WORKERS=4` sets `jobs.workers`).

use crate::secret::Secret;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Address the HTTP server binds (`COVE_LISTEN`).
    pub listen: SocketAddr,
    /// Folder for the embedded database and generated keys (`COVE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `postgres://...` selects PostgreSQL; unset keeps SQLite under `data_dir`.
    pub database_url: Option<Secret>,
    /// Key that encrypts secrets and personal data at rest (base64 of 32 bytes);
    /// unset: a key file generated under `data_dir`.
    pub secret_key: Option<Secret>,
    /// Public base URL used in links, QR codes and callback URLs.
    pub public_url: Option<String>,
    /// Mark session cookies `Secure`; by default, when `public_url` is https.
    pub secure_cookies: Option<bool>,
    pub log: LogConfig,
    pub jobs: JobsConfig,
    pub auth: AuthConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub wechat: WechatConfig,
    #[serde(default)]
    pub wechat_pay: WechatPayConfig,
    #[serde(default)]
    pub files: FilesConfig,
    #[serde(default)]
    pub clock: ClockConfig,
}

/// The test clock (`COVE_CLOCK__ADJUSTABLE=true`): off by default and never
/// on in production, where every node must agree on the time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClockConfig {
    /// An admin may move this process's clock forward
    /// (`POST /api/v1/test-clock/advance`), for demos and end-to-end tests.
    pub adjustable: bool,
}

/// Uploaded files (`COVE_FILES__MAX_BYTES=20971520`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FilesConfig {
    /// The largest upload accepted, in bytes.
    pub max_bytes: usize,
    /// What one storefront customer may upload in 24 hours, in bytes
    /// (0: no quota).
    pub customer_daily_bytes: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            max_bytes: crate::files::DEFAULT_MAX_BYTES,
            customer_daily_bytes: crate::files::DEFAULT_CUSTOMER_DAILY_BYTES,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WechatConfig {
    /// One base URL for every WeChat API host (`COVE_WECHAT__API_BASE`), for
    /// a local stand-in or an egress proxy; unset: WeChat's own hosts.
    pub api_base: Option<String>,
}

/// WeChat Pay API v3 as a payment provider (`COVE_WECHAT_PAY__MCHID=...`).
/// Keys and certificates are read from the files named here at startup.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WechatPayConfig {
    pub enabled: bool,
    /// Unset: `https://api.mch.weixin.qq.com`.
    pub base_url: Option<String>,
    /// Merchant id.
    pub mchid: String,
    /// AppID of the Mini Program whose users pay (their openids are under it).
    pub appid: String,
    /// Serial number of the merchant API certificate.
    pub serial_no: String,
    /// `apiclient_key.pem` (PKCS#8 or PKCS#1).
    pub private_key_file: Option<PathBuf>,
    /// The 32-character APIv3 key, or `api_v3_key_file` holding it.
    pub api_v3_key: Option<Secret>,
    pub api_v3_key_file: Option<PathBuf>,
    /// WeChat Pay public key (`pub_key.pem`) and its id `PUB_KEY_ID_...`.
    pub public_key_file: Option<PathBuf>,
    pub public_key_id: Option<String>,
    /// Platform certificates (merchants not yet on public-key mode).
    pub platform_cert_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info,cove_server=debug`.
    pub filter: String,
    /// Emit JSON lines instead of human-readable text.
    pub json: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobsConfig {
    /// Concurrent job executions per node; 0 disables the worker on this node.
    pub workers: usize,
    /// How often an idle worker looks for due jobs, in milliseconds.
    pub poll_ms: u64,
    /// How long a claimed job stays leased before another node may take it over.
    pub lease_secs: u64,
    /// First retry delay; each further retry doubles it (capped at an hour).
    pub retry_base_ms: u64,
}

/// Throttling of the Tracking API, per source and per node.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    /// Sustained events per second one source may send to the cluster; 0: unlimited.
    pub events_per_second: u32,
    /// Events a source may send at once above the sustained rate.
    pub burst: u32,
    /// How often this node tells the others it is alive (they split each
    /// source's rate by the live nodes); 0: never (tests drive it).
    pub heartbeat_ms: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            events_per_second: 20_000,
            burst: 50_000,
            heartbeat_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthConfig {
    /// Failed sign-ins before the account is locked.
    pub max_failed_logins: i64,
    /// Lockout length after too many failures.
    pub lockout_secs: i64,
    /// Idle session lifetime.
    pub session_ttl_secs: i64,
}

/// The defaults, as a serializable tree figment can merge over.
#[derive(Serialize)]
struct Defaults {
    listen: &'static str,
    data_dir: &'static str,
    log: DefaultLog,
    jobs: DefaultJobs,
    auth: DefaultAuth,
}
#[derive(Serialize)]
struct DefaultLog {
    filter: &'static str,
    json: bool,
}
#[derive(Serialize)]
struct DefaultJobs {
    workers: usize,
    poll_ms: u64,
    lease_secs: u64,
    retry_base_ms: u64,
}
#[derive(Serialize)]
struct DefaultAuth {
    max_failed_logins: i64,
    lockout_secs: i64,
    session_ttl_secs: i64,
}

const DEFAULTS: Defaults = Defaults {
    listen: "127.0.0.1:8080",
    data_dir: "./cove-data",
    log: DefaultLog {
        filter: "info,sqlx=warn",
        json: false,
    },
    jobs: DefaultJobs {
        workers: 4,
        poll_ms: 500,
        lease_secs: 60,
        retry_base_ms: 2000,
    },
    auth: DefaultAuth {
        max_failed_logins: 5,
        lockout_secs: 900,
        session_ttl_secs: 12 * 3600,
    },
};

impl Config {
    /// Loads from `file` (or `./cove.toml` when present) and the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(DEFAULTS));
        match file {
            Some(path) => {
                anyhow::ensure!(
                    path.exists(),
                    "configuration file {} not found",
                    path.display()
                );
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("cove.toml")),
        }
        figment = figment.merge(Env::prefixed("COVE_").split("__"));
        let mut config: Config = figment.extract()?;
        // An empty variable (`COVE_DATABASE_URL=`) means unset, not an empty URL.
        config.database_url = config
            .database_url
            .filter(|u| !u.expose().trim().is_empty());
        config.secret_key = config.secret_key.filter(|k| !k.expose().trim().is_empty());
        Ok(config)
    }

    /// Defaults only, rooted at `data_dir`: what tests start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let mut config: Config = Figment::from(Serialized::defaults(DEFAULTS)).extract()?;
        config.data_dir = data_dir.into();
        Ok(config)
    }

    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
            .unwrap_or_else(|| self.public_url().starts_with("https://"))
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's test jail returns its own error type
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "cove.toml",
                "listen = \"0.0.0.0:9000\"\n[jobs]\nworkers = 2\n",
            )?;
            jail.set_env("COVE_JOBS__WORKERS", "7");
            jail.set_env("COVE_DATABASE_URL", "postgres://u:pw@h/db");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
            assert_eq!(c.jobs.workers, 7);
            assert_eq!(c.auth.max_failed_logins, 5);
            assert!(
                !c.clock.adjustable,
                "the test clock is off unless asked for"
            );
            jail.set_env("COVE_CLOCK__ADJUSTABLE", "true");
            assert!(
                Config::load(None)
                    .map_err(|e| e.to_string())?
                    .clock
                    .adjustable
            );
            assert!(
                !format!("{c:?}").contains("pw@"),
                "secrets must not reach Debug output"
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_named_file_is_an_error() {
        assert!(Config::load(Some(Path::new("/nonexistent/cove.toml"))).is_err());
    }
}
