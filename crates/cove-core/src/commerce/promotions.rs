//! Promotions (placeholder until the promotions engine lands).
use super::pricing::{Buyer, Discount, PricingLine};
use crate::clock::Micros;
use crate::db::{Backend, Conn};
use crate::error::Result;

pub async fn discounts(
    _: &mut Conn,
    _: &Buyer,
    _: &[PricingLine],
    coupon: Option<&str>,
    _: Micros,
) -> Result<Vec<Discount>> {
    match coupon {
        Some(_) => Err(crate::Error::invalid("coupon_not_found", "no such coupon")),
        None => Ok(Vec::new()),
    }
}
pub async fn claim(
    _: &mut Conn,
    _: Backend,
    _: &str,
    _: &Buyer,
    _: &[PricingLine],
    _: &[Discount],
    _: Micros,
) -> Result<()> {
    Ok(())
}
pub async fn settle(_: &mut Conn, _: &str, _: Micros) -> Result<()> {
    Ok(())
}
pub async fn release(_: &mut Conn, _: Backend, _: &str, _: Micros) -> Result<()> {
    Ok(())
}
