//! Commerce over HTTP on a real server: cart, quote, checkout, the order
//! state machine, sandbox payments, refunds, timeouts and the concurrency
//! invariants (no oversell, one payment per notification).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod benefits;
mod checkout;
mod concurrency;
mod fixtures;
mod pages;
mod payments;
mod pricing;
mod refunds;
