//! Membership: the points ledger's invariants under arbitrary sequences and
//! concurrency, joining, tiers, and the member and staff APIs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

#[path = "../commerce/fixtures.rs"]
#[allow(dead_code)]
mod commerce_fixtures;

mod api;
mod ledger;
mod mall;
mod pages;
mod records;
