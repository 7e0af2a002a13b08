//! The service tag: the identifier printed on a device's chassis label,
//! packaging and manual, and carried by its QR code.
//!
//! The rule: exactly seven characters, each an ASCII digit or an uppercase
//! letter A–Z (Dell-style; 36^7 ≈ 78 billion tags). Input from people is
//! forgiving: surrounding whitespace is trimmed and lowercase letters are
//! upper-cased before the check, as labels are read aloud and typed by hand.
//! Anything else — other lengths, punctuation, non-ASCII — is refused.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of every service tag.
pub const TAG_LEN: usize = 7;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServiceTag(String);

impl ServiceTag {
    /// Parses a tag typed or scanned by a person (trimmed, case-insensitive).
    pub fn parse(input: &str) -> Result<Self> {
        let tag = input.trim().to_ascii_uppercase();
        if tag.len() != TAG_LEN || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "invalid_service_tag",
                format!(
                    "a service tag is {TAG_LEN} letters A–Z or digits, e.g. 7QK2M9X; got {:?}",
                    input.chars().take(40).collect::<String>()
                ),
            ));
        }
        Ok(ServiceTag(tag))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ServiceTag {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for ServiceTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ServiceTag::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_tags_typed_by_hand() {
        assert_eq!(ServiceTag::parse("7qk2m9x").unwrap().as_str(), "7QK2M9X");
        assert_eq!(
            ServiceTag::parse("  ABCDEFG\n").unwrap().as_str(),
            "ABCDEFG"
        );
    }

    #[test]
    fn refuses_malformed_tags() {
        for bad in [
            "",
            "ABCDEF",
            "ABCDEFGH",
            "ABC-EFG",
            "ÄBCDEFG",
            "ABC DEF",
            "１２３４５６７",
        ] {
            let err = ServiceTag::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_service_tag", "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepts_only_the_rule(s in "\\PC{0,12}") {
            if let Ok(tag) = ServiceTag::parse(&s) {
                prop_assert_eq!(tag.as_str().len(), TAG_LEN);
                prop_assert!(tag.as_str().bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
                prop_assert_eq!(ServiceTag::parse(tag.as_str()).unwrap(), tag);
            }
        }
    }
}
