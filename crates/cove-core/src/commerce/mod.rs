//! Commerce: the brand's own shop.
//!
//! - [`catalog`]: products, SKUs, configure-to-order options, bundles,
//!   services sold as products, member-only products and tier prices.
//! - [`inventory`]: stock locations and on-hand counts staff manage.
//! - [`stock`]: reservations an order holds (never oversold).
//! - [`pricing`]: the server's price of a cart, explained line by line.
//! - [`promotions`]: coupons, automatic discounts, flash sales.
//! - [`cart`], [`checkout`], [`orders`]: from cart to an order and its
//!   state machine; [`payments`] and [`refunds`] with the sandbox provider;
//!   [`wechat_pay`]: WeChat Pay v3 as a provider.

pub mod addresses;
pub mod attribution;
pub mod cart;
pub mod catalog;
pub mod catalog_csv;
pub mod checkout;
pub mod inventory;
pub mod lifecycle;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod products;
pub mod promotions;
pub mod refunds;
pub mod stock;
pub mod wechat_pay;
