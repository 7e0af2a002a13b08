//! Entitlements: each right to service a device has is a row — the factory
//! warranty, extensions, international and on-site coverage, accidental
//! damage — with its service-level code, dates and origin, so the service
//! center reads a warranty the same way whoever granted it.

use crate::clock::{self, Micros};
use crate::error::{Error, Result};
use chrono::Months;
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $code:literal, { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            pub fn parse(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err(Error::invalid($code, format!(
                        "unknown {}: {s:?} (one of {})",
                        stringify!($name),
                        [$($s),+].join(", ")
                    ))),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// What an entitlement covers.
    Kind, "invalid_entitlement_kind", {
    /// The factory warranty that ships with the device.
    Base = "base",
    /// More months of the same cover, bought or granted.
    Extended = "extended",
    /// Service outside the device's home region.
    International = "international",
    AccidentalDamage = "accidental_damage",
    /// An engineer comes to the customer.
    Onsite = "onsite",
});

string_enum!(
    /// Where an entitlement came from.
    Origin, "invalid_entitlement_origin", {
    Shipped = "shipped",
    Purchased = "purchased",
    MemberBenefit = "member_benefit",
    PointsRedemption = "points_redemption",
    /// Registered by the owner (international warranty registration).
    Registered = "registered",
});

impl Kind {
    /// Kinds that make a device "in warranty".
    pub fn is_warranty(self) -> bool {
        matches!(self, Kind::Base | Kind::Extended)
    }

    /// The service level granted with this kind when none is given.
    pub fn default_service_level(self) -> &'static str {
        match self {
            Kind::Base | Kind::Extended => "CI",
            Kind::International => "INTL",
            Kind::AccidentalDamage => "ADP",
            Kind::Onsite => "NBD",
        }
    }
}

/// A service-level code (`CI` carry-in, `NBD` next-business-day on-site,
/// `POW` parts only, `ADP` accidental damage…): 2–10 uppercase letters or digits.
pub fn parse_service_level(s: &str) -> Result<String> {
    let code = s.trim().to_ascii_uppercase();
    if !(2..=10).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "invalid_service_level",
            "a service level code is 2–10 letters or digits, e.g. NBD",
        ));
    }
    Ok(code)
}

/// `at` plus whole calendar months (end-of-month days clamp: 31 Jan + 1 = 28/29 Feb).
pub fn add_months(at: Micros, months: i64) -> Result<Micros> {
    let bad = || Error::invalid("invalid_months", "months must be between 1 and 120");
    let months = u32::try_from(months)
        .ok()
        .filter(|m| (1..=120).contains(m))
        .ok_or_else(bad)?;
    clock::to_datetime(at)
        .checked_add_months(Months::new(months))
        .map(|d| d.timestamp_micros())
        .ok_or_else(bad)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entitlement {
    pub id: String,
    pub kind: Kind,
    pub service_level: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub origin: Origin,
    pub reference: String,
    /// Whether it covers the moment the device was looked up.
    pub active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_origins_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()).unwrap(), *k);
        }
        for o in Origin::ALL {
            assert_eq!(Origin::parse(o.as_str()).unwrap(), *o);
        }
        assert_eq!(
            Kind::parse("gold").unwrap_err().code(),
            "invalid_entitlement_kind"
        );
    }

    #[test]
    fn months_are_calendar_months() {
        let jan31 = chrono::DateTime::parse_from_rfc3339("2026-01-31T00:00:00Z")
            .unwrap()
            .timestamp_micros();
        let end = add_months(jan31, 1).unwrap();
        assert_eq!(clock::to_rfc3339(end), "2026-02-28T00:00:00.000Z");
        assert_eq!(
            clock::to_rfc3339(add_months(jan31, 12).unwrap()),
            "2027-01-31T00:00:00.000Z"
        );
        assert!(add_months(jan31, 0).is_err() && add_months(jan31, 121).is_err());
    }

    #[test]
    fn service_levels_are_codes() {
        assert_eq!(parse_service_level(" nbd ").unwrap(), "NBD");
        assert!(parse_service_level("N").is_err() && parse_service_level("NB-D").is_err());
    }
}
