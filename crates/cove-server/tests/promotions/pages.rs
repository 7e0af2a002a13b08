//! The console's promotions page and the storefront's coupon page.
