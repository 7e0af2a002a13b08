//! The dynamic member code: the QR the Mini Program shows and store staff
//! scan at the till. It names the member and a time step and carries a MAC
//! over both, so a screenshot stops working after two minutes and a code
//! cannot be made up for another member.
//!
//! Form: `M1.<member_no>.<step>.<mac>` where step is the minute since the
//! epoch and mac the first 10 bytes of HMAC-SHA256(key, "member_no.step"),
//! hex. The key is derived from the secret key ([`crate::vault::Vault::derive_key`]).

use crate::clock::{Micros, MINUTE};
use crate::error::{Error, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Key purpose for [`crate::vault::Vault::derive_key`].
pub const KEY_PURPOSE: &str = "member-code";
/// A code is accepted during its minute and the next one.
pub const STEP: Micros = MINUTE;

fn mac(key: &[u8; 32], member_no: &str, step: i64) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(format!("{member_no}.{step}").as_bytes());
    hex::encode(&m.finalize().into_bytes()[..10])
}

/// The code to show at `at`, and until when it stays valid.
pub fn issue(key: &[u8; 32], member_no: &str, at: Micros) -> (String, Micros) {
    let step = at / STEP;
    let code = format!("M1.{member_no}.{step}.{}", mac(key, member_no, step));
    (code, (step + 2) * STEP)
}

/// The member number a scanned code stands for, if it is genuine and current.
pub fn verify(key: &[u8; 32], code: &str, at: Micros) -> Result<String> {
    let bad = || {
        Error::invalid(
            "invalid_member_code",
            "this is not a member code; ask the customer to refresh it",
        )
    };
    let mut parts = code.trim().split('.');
    let (Some("M1"), Some(member_no), Some(step), Some(sent), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    let step: i64 = step.parse().map_err(|_| bad())?;
    let want = mac(key, member_no, step);
    if !crate::access::constant_time_eq(want.as_bytes(), sent.as_bytes()) {
        return Err(bad());
    }
    let now = at / STEP;
    if step > now || now - step > 1 {
        return Err(Error::invalid(
            "expired_member_code",
            "this member code has expired; ask the customer to refresh it",
        ));
    }
    Ok(member_no.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_code_is_valid_for_its_minute_and_the_next() {
        let at = 1_800_000_000_000_000;
        let (code, until) = issue(&KEY, "AUR0000000001", at);
        assert_eq!(verify(&KEY, &code, at).unwrap(), "AUR0000000001");
        assert_eq!(verify(&KEY, &code, until - 1).unwrap(), "AUR0000000001");
        let err = verify(&KEY, &code, until).unwrap_err();
        assert_eq!(err.code(), "expired_member_code");
    }

    #[test]
    fn forged_or_altered_codes_are_refused() {
        let at = 1_800_000_000_000_000;
        let (code, _) = issue(&KEY, "AUR0000000001", at);
        let other = code.replace("AUR0000000001", "AUR0000000002");
        assert_eq!(
            verify(&KEY, &other, at).unwrap_err().code(),
            "invalid_member_code"
        );
        assert_eq!(
            verify(&[8; 32], &code, at).unwrap_err().code(),
            "invalid_member_code"
        );
        for junk in ["", "M1", "M1.a.b.c", "M2.AUR1.1.00", &format!("{code}.x")] {
            assert_eq!(
                verify(&KEY, junk, at).unwrap_err().code(),
                "invalid_member_code",
                "{junk}"
            );
        }
    }
}
