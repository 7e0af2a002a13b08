//! Cove's domain: one module per capability, with its types, rules and SQL.
//!
//! Everything here is independent of HTTP; the server crate maps [`Error`] to
//! responses and calls these functions with a [`db::Db`].

pub mod access;
pub mod audience;
pub mod audit;
pub mod channels;
pub mod clock;
pub mod commerce;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod files;
pub mod idempotency;
pub mod insight;
pub mod jobs;
pub mod membership;
pub mod network;
pub mod secret;
pub mod service;
pub mod vault;

pub use error::{Error, Result};
