//! The service center: the device registry and factory import, device QR
//! codes, binding and ownership, warranty activation and entitlements.

pub mod devices;
pub mod entitlements;
pub mod field;
pub mod import;
pub mod ownership;
pub mod policy;
pub mod qr;
pub mod tag;
pub mod tickets;
pub mod warranty;

pub use devices::{Binding, Device};
pub use entitlements::{Entitlement, Kind, Origin};
pub use ownership::{Owner, Proof};
pub use tag::ServiceTag;
