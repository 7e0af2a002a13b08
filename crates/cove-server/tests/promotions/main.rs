//! Promotions: how coupons, automatic discounts and flash sales combine on
//! an order (math and properties), claiming and releasing them for orders,
//! the limits under concurrency (per-person, totals, flash pools), and the
//! staff, customer and page endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod api;
mod checkout;
mod concurrency;
mod fixtures;
mod pages;
mod props;
