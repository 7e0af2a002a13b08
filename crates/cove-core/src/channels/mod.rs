//! Channels: the brand's WeChat accounts and what arrives through them.
//! The protocols themselves live in the standalone `cove-wechat` crate.

pub mod accounts;
pub mod official_account;

pub use accounts::{Account, AccountKind, NewAccount};
