//! End-to-end tests of the foundation: a real server on port 0 against a
//! fresh SQLite or PostgreSQL database (see `common`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod errors;
mod jobs;
mod system;
