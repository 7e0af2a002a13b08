//! Typed identifiers: what an identity-graph key is, how each kind is
//! normalised, which kinds are *registered* (a verified person: never merged
//! automatically with another registered person), their priority, how many of
//! each one profile may hold, and the values that are never identifiers.

use crate::error::{Error, Result};
use std::fmt;

/// The kind of an identifier. Openids are per app: `openid:wx123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdType {
    UnionId,
    UserId,
    MemberCard,
    Phone,
    WecomExternalId,
    OpenId(String),
    Email,
    DeviceId,
    AnonymousId,
}

/// How many identifiers of one type key a profile may hold (Segment's
/// "limit" rule, without a time window). A merge or attach that would exceed
/// a limit demotes the event's lowest-priority identifier instead.
pub mod limits {
    pub const UNIONID: usize = 1;
    pub const USER_ID: usize = 1;
    pub const MEMBER_CARD: usize = 1;
    pub const PHONE: usize = 1;
    pub const WECOM_EXTERNAL_ID: usize = 1;
    /// Per app id.
    pub const OPENID: usize = 1;
    pub const EMAIL: usize = 5;
    pub const DEVICE_ID: usize = 10;
    pub const ANONYMOUS_ID: usize = 10;
}

/// Longest identifier value accepted.
pub const MAX_VALUE_LEN: usize = 200;

/// Values that are never identifiers (compared case-insensitively after trim):
/// placeholders that buggy clients send, and shared test values.
pub const BLOCKED_VALUES: &[&str] = &[
    "",
    "undefined",
    "null",
    "nil",
    "none",
    "nan",
    "anonymous",
    "unknown",
    "-1",
    "abc123",
    "test",
    "[object object]",
];

/// Phone numbers shared by testers and demo scripts (normalised E.164).
pub const BLOCKED_PHONES: &[&str] = &[
    "+8613800138000",
    "+8613800000000",
    "+8613888888888",
    "+8618888888888",
    "+8613912345678",
];

impl IdType {
    /// The type key stored in `identities.type`.
    pub fn key(&self) -> String {
        match self {
            IdType::OpenId(app) => format!("openid:{app}"),
            other => other.base_name().to_owned(),
        }
    }

    fn base_name(&self) -> &'static str {
        match self {
            IdType::UnionId => "unionid",
            IdType::UserId => "user_id",
            IdType::MemberCard => "member_card",
            IdType::Phone => "phone",
            IdType::WecomExternalId => "wecom_external_id",
            IdType::OpenId(_) => "openid",
            IdType::Email => "email",
            IdType::DeviceId => "device_id",
            IdType::AnonymousId => "anonymous_id",
        }
    }

    /// Parses a type key: `user_id`, `phone`, `openid:wx123`, ...
    pub fn parse(key: &str) -> Result<IdType> {
        let key = key.trim();
        if let Some(app) = key.strip_prefix("openid:") {
            let valid = !app.is_empty()
                && app.len() <= 64
                && app
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            return if valid {
                Ok(IdType::OpenId(app.to_owned()))
            } else {
                Err(Error::invalid(
                    "invalid_identity_type",
                    "an openid type names its app id: openid:<appid>",
                ))
            };
        }
        Ok(match key {
            "unionid" => IdType::UnionId,
            "user_id" | "userId" => IdType::UserId,
            "member_card" => IdType::MemberCard,
            "phone" => IdType::Phone,
            "wecom_external_id" | "external_userid" => IdType::WecomExternalId,
            "email" => IdType::Email,
            "device_id" => IdType::DeviceId,
            "anonymous_id" | "anonymousId" => IdType::AnonymousId,
            _ => {
                return Err(Error::invalid(
                    "invalid_identity_type",
                    format!(
                        "unknown identifier type '{key}' (unionid, openid:<appid>, user_id, member_card, \
                         phone, wecom_external_id, email, device_id, anonymous_id)"
                    ),
                ))
            }
        })
    }

    /// Lower is stronger. When an event's identifiers cannot all be kept,
    /// the one with the largest number is demoted first.
    pub fn priority(&self) -> u8 {
        match self {
            IdType::UnionId => 1,
            IdType::UserId => 2,
            IdType::MemberCard => 3,
            IdType::Phone => 4,
            IdType::WecomExternalId => 5,
            IdType::OpenId(_) => 6,
            IdType::Email => 7,
            IdType::DeviceId => 8,
            IdType::AnonymousId => 9,
        }
    }

    pub fn limit(&self) -> usize {
        match self {
            IdType::UnionId => limits::UNIONID,
            IdType::UserId => limits::USER_ID,
            IdType::MemberCard => limits::MEMBER_CARD,
            IdType::Phone => limits::PHONE,
            IdType::WecomExternalId => limits::WECOM_EXTERNAL_ID,
            IdType::OpenId(_) => limits::OPENID,
            IdType::Email => limits::EMAIL,
            IdType::DeviceId => limits::DEVICE_ID,
            IdType::AnonymousId => limits::ANONYMOUS_ID,
        }
    }

    /// A registered identity names a known person (an account, a verified
    /// phone, a WeChat unionid, a member card). Two profiles that each hold
    /// one are never merged automatically.
    pub fn is_registered(&self) -> bool {
        matches!(
            self,
            IdType::UnionId | IdType::UserId | IdType::MemberCard | IdType::Phone
        )
    }
}

impl fmt::Display for IdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// A normalised, non-blocked identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier {
    pub id_type: IdType,
    pub value: String,
}

impl Identifier {
    /// Normalises `value` for `id_type`; refuses malformed and blocked values.
    pub fn new(id_type: IdType, value: &str) -> Result<Identifier> {
        let trimmed = value.trim();
        if is_blocked(trimmed) {
            return Err(Error::invalid(
                "blocked_identity",
                format!("'{trimmed}' is not accepted as a {id_type}"),
            ));
        }
        if trimmed.chars().count() > MAX_VALUE_LEN || trimmed.chars().any(char::is_control) {
            return Err(Error::invalid(
                "invalid_identity",
                format!("a {id_type} is at most {MAX_VALUE_LEN} printable characters"),
            ));
        }
        let value = match &id_type {
            IdType::Phone => {
                let phone = normalize_phone(trimmed)?;
                if BLOCKED_PHONES.contains(&phone.as_str()) {
                    return Err(Error::invalid(
                        "blocked_identity",
                        format!("{phone} is a shared test number"),
                    ));
                }
                phone
            }
            IdType::Email => normalize_email(trimmed)?,
            _ => trimmed.to_owned(),
        };
        Ok(Identifier { id_type, value })
    }

    /// Parses `type:value`, e.g. `phone:13912345678` or `openid:wx123:oAbC`.
    pub fn parse(text: &str) -> Result<Identifier> {
        let bad = || {
            Error::invalid(
                "invalid_identity",
                "an identity is written type:value, e.g. user_id:u-1 or openid:wx123:oAbC",
            )
        };
        let (type_key, value) = if let Some(rest) = text.strip_prefix("openid:") {
            let (app, value) = rest.split_once(':').ok_or_else(bad)?;
            (format!("openid:{app}"), value)
        } else {
            let (t, v) = text.split_once(':').ok_or_else(bad)?;
            (t.to_owned(), v)
        };
        Identifier::new(IdType::parse(&type_key)?, value)
    }

    /// The type key, as stored in `identities.type`.
    pub fn key(&self) -> String {
        self.id_type.key()
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id_type, self.value)
    }
}

/// Is this raw value a placeholder that must never join profiles?
pub fn is_blocked(value: &str) -> bool {
    let v = value.trim().to_lowercase();
    BLOCKED_VALUES.contains(&v.as_str()) || v.chars().all(|c| c == '0' || c == '-')
}

/// A mainland China mobile number as E.164 (`+861xxxxxxxxxx`). Accepts the
/// 11-digit national form, `86`/`+86`/`0086` prefixes, spaces and dashes.
pub fn normalize_phone(raw: &str) -> Result<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("0086"))
        .or_else(|| {
            (compact.len() == 13)
                .then(|| compact.strip_prefix("86"))
                .flatten()
        })
        .unwrap_or(&compact);
    let valid = digits.len() == 11
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.starts_with('1')
        && matches!(digits.as_bytes()[1], b'3'..=b'9');
    if valid {
        Ok(format!("+86{digits}"))
    } else {
        Err(Error::invalid(
            "invalid_phone",
            format!("'{raw}' is not a mainland China mobile number"),
        ))
    }
}

/// Lower-cased, trimmed, with one `@` and a dotted domain.
pub fn normalize_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.matches('@').count() == 1
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(Error::invalid(
            "invalid_email",
            format!("'{raw}' is not an email address"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164_and_refuse_the_rest() {
        for raw in [
            "13912340000",
            "+8613912340000",
            "8613912340000",
            "0086 139 1234 0000",
            "139-1234-0000",
        ] {
            assert_eq!(normalize_phone(raw).unwrap(), "+8613912340000", "{raw}");
        }
        for raw in ["1391234000", "12912340000", "+1 415 555 0100", "abc", ""] {
            assert!(normalize_phone(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn blocked_values_and_test_phones_are_refused() {
        for v in ["undefined", "NULL", " ", "0000", "-1", "anonymous"] {
            assert!(Identifier::new(IdType::UserId, v).is_err(), "{v}");
        }
        let shared = Identifier::new(IdType::Phone, "138-0013-8000").unwrap_err();
        assert_eq!(shared.code(), "blocked_identity");
        assert!(Identifier::new(IdType::Phone, "13912340000").is_ok());
    }

    #[test]
    fn emails_are_normalised() {
        let id = Identifier::new(IdType::Email, "  Ada@Example.CN ").unwrap();
        assert_eq!(id.value, "ada@example.cn");
        assert!(Identifier::new(IdType::Email, "a@b").is_err());
        assert!(Identifier::new(IdType::Email, "a@@b.cn").is_err());
    }

    #[test]
    fn type_keys_round_trip_and_openids_are_per_app() {
        let id = Identifier::parse("openid:wx123:oAbC:d").unwrap();
        assert_eq!(id.key(), "openid:wx123");
        assert_eq!(id.value, "oAbC:d");
        assert_eq!(id.to_string(), "openid:wx123:oAbC:d");
        let u = Identifier::parse("user_id:u:1").unwrap();
        assert_eq!((u.key().as_str(), u.value.as_str()), ("user_id", "u:1"));
        assert!(Identifier::parse("openid::x").is_err());
        assert!(Identifier::parse("colour:red").is_err());
        assert!(Identifier::parse("nocolon").is_err());
        for t in [
            "unionid",
            "user_id",
            "member_card",
            "phone",
            "wecom_external_id",
            "email",
            "device_id",
            "anonymous_id",
            "openid:wxabc",
        ] {
            assert_eq!(IdType::parse(t).unwrap().key(), t);
        }
    }

    #[test]
    fn priorities_put_registered_identities_first() {
        let all = [
            IdType::UnionId,
            IdType::UserId,
            IdType::MemberCard,
            IdType::Phone,
            IdType::WecomExternalId,
            IdType::OpenId("wx".into()),
            IdType::Email,
            IdType::DeviceId,
            IdType::AnonymousId,
        ];
        for w in all.windows(2) {
            assert!(w[0].priority() < w[1].priority());
        }
        assert!(all
            .iter()
            .all(|t| t.is_registered() == (t.priority() <= IdType::Phone.priority())));
        assert_eq!(IdType::Phone.limit(), 1);
        assert!(IdType::AnonymousId.limit() > 1);
    }
}
