//! Identity and access for the brand's team: users with roles, sessions,
//! API tokens with scopes, sign-in throttling. Every endpoint asks one
//! question through [`Principal::require`]: may this principal do `Access`
//! in `Area`?

//!
//! `roles` holds who may do what; `users`, `sessions` and `tokens` hold how
//! people and integrations prove who they are.

pub mod customers;
mod roles;
mod sessions;
mod tokens;
mod users;

pub use roles::{Access, Area, Principal, Role, Scope, Via};
pub use sessions::{create_session, end_session, session_principal, NewSession};
pub use tokens::{create_token, list_tokens, revoke_token, token_principal, ApiToken};
pub use users::{
    authenticate, create_user, get_user, hash_password, list_users, set_password, NewUser, User,
};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::users::normalize_email;
    use super::*;

    #[test]
    fn roles_grant_what_the_team_needs_and_no_more() {
        assert_eq!(Role::Admin.grant(Area::System), Some(Access::Write));
        assert_eq!(Role::Marketing.grant(Area::Journeys), Some(Access::Write));
        assert_eq!(Role::Marketing.grant(Area::System), None);
        assert_eq!(Role::DataAnalyst.grant(Area::Commerce), Some(Access::Read));
        assert_eq!(Role::StoreStaff.grant(Area::Audience), None);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
    }

    #[test]
    fn token_scopes_narrow_the_role() {
        let p = Principal {
            user_id: "u".into(),
            email: "a@b.cn".into(),
            name: "A".into(),
            role: Role::Marketing,
            store_id: None,
            reseller_id: None,
            locale: "zh".into(),
            via: Via::Token {
                id: "t".into(),
                scopes: vec!["audience:read".parse().unwrap()],
            },
        };
        assert!(p.require(Area::Audience, Access::Read).is_ok());
        assert!(p.require(Area::Audience, Access::Write).is_err());
        assert!(
            p.require(Area::Journeys, Access::Read).is_err(),
            "role allows it, the token does not"
        );
    }

    #[test]
    fn scopes_and_emails_are_parsed_strictly() {
        assert!("commerce:write".parse::<Scope>().is_ok());
        assert!("commerce".parse::<Scope>().is_err());
        assert!("billing:read".parse::<Scope>().is_err());
        assert_eq!(
            normalize_email(" Ada@Example.CN ").unwrap(),
            "ada@example.cn"
        );
        assert!(normalize_email("no-at-sign").is_err());
        assert!(normalize_email("a@b").is_err());
    }
}
