//! Channels: the brand's WeChat accounts and what arrives through them.
//! The protocols themselves live in the standalone `cove-wechat` crate.

pub mod accounts;
pub mod clients;
pub mod consent;
pub mod conversations;
pub mod mini_program;
pub mod notifications;
pub mod official_account;
pub mod outbox;
pub mod tokens;
pub mod wecom;
pub mod wecom_service;

pub use accounts::{Account, AccountKind, NewAccount};
pub use clients::WechatApi;
