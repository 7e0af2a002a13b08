//! The price of a cart, computed on the server and explained line by line:
//! list price, member price, promotions, coupon, points, shipping.

use serde::{Deserialize, Serialize};

/// A line as promotions see it: what is bought and its price after the
/// member price, before any promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PricingLine {
    pub product_id: String,
    pub sku_id: String,
    pub category_code: String,
    pub quantity: i64,
    /// List price of one unit (base plus option deltas).
    pub list_unit_fen: i64,
    /// What one unit costs this customer before promotions (member price).
    pub unit_fen: i64,
    /// Configured with options (flash sales apply to plain SKUs only).
    pub configured: bool,
}

impl PricingLine {
    pub fn subtotal_fen(&self) -> i64 {
        self.unit_fen * self.quantity
    }
}

/// Where a discount comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    FlashSale,
    Promotion,
    Coupon,
}

/// One discount, allocated to the lines it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Discount {
    pub kind: DiscountKind,
    /// The flash sale, promotion or issued coupon id.
    pub reference: String,
    pub label: String,
    /// (line index, fen off that line); the amounts sum to `amount_fen`.
    pub allocations: Vec<(usize, i64)>,
    pub amount_fen: i64,
}

/// Who is buying, as promotions need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    pub profile_id: String,
    pub member_id: Option<String>,
    pub tier: Option<String>,
}
