//! The service center: device registry and factory import, device QR codes,
//! binding and ownership, warranty activation and entitlements.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod fixtures;
mod http;
mod ownership;
mod registry;
mod store;
mod warranty;
