//! Proving that an extra number belongs to its user: a 6-digit code sent to
//! it, confirmed by the user texting it back or by an administrator.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::user::PhoneId;

/// How long a code is good for.
pub const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Wrong codes allowed before the code is locked.
pub const MAX_ATTEMPTS: u32 = 5;

/// Six ASCII digits.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 6 digits")]
pub struct VerificationCodeError;

impl VerificationCode {
    /// # Errors
    /// `VerificationCodeError` for anything but six digits.
    pub fn parse(text: &str) -> Result<Self, VerificationCodeError> {
        let text = text.trim();
        if text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(VerificationCode(text.to_owned()))
        } else {
            Err(VerificationCodeError)
        }
    }

    /// The code of a number, its last six digits zero-padded: a random
    /// number gives a random code.
    pub fn from_number(n: u64) -> Self {
        VerificationCode(format!("{:06}", n % 1_000_000))
    }

    /// What the store keeps: the code hashed with the number it belongs to.
    pub fn hash_for(&self, phone: PhoneId) -> String {
        let digest = Sha256::digest(format!("{}:{}", phone.0, self.0).as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCode(******)")
    }
}

/// A code sent and not yet confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingVerification {
    pub phone_id: PhoneId,
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
    pub attempts: u32,
}

/// What a code offered for a pending verification comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Confirmed,
    Wrong,
    Expired,
    TooManyAttempts,
}

impl PendingVerification {
    pub fn check(&self, code: &VerificationCode, now: DateTime<Utc>) -> Check {
        if self.attempts >= MAX_ATTEMPTS {
            Check::TooManyAttempts
        } else if now >= self.expires_at {
            Check::Expired
        } else if code.hash_for(self.phone_id) == self.code_hash {
            Check::Confirmed
        } else {
            Check::Wrong
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_never_printed() {
        assert!(VerificationCode::parse(" 012345 ").is_ok());
        assert!(VerificationCode::parse("12345").is_err());
        assert!(VerificationCode::parse("12345a").is_err());
        for n in [0, 7, 999_999, 1_000_000, u64::MAX] {
            assert!(
                VerificationCode::parse(VerificationCode::from_number(n).as_str()).is_ok(),
                "{n}"
            );
        }
        assert!(!format!("{:?}", VerificationCode::parse("123456").unwrap()).contains("123456"));
    }

    #[test]
    fn checks() {
        let code = VerificationCode::parse("123456").unwrap();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let pending = PendingVerification {
            phone_id: PhoneId(7),
            code_hash: code.hash_for(PhoneId(7)),
            expires_at: now + chrono::Duration::minutes(10),
            attempts: 0,
        };
        assert_eq!(pending.check(&code, now), Check::Confirmed);
        assert_eq!(
            pending.check(&VerificationCode::parse("654321").unwrap(), now),
            Check::Wrong
        );
        assert_eq!(
            pending.check(&code, now + chrono::Duration::minutes(11)),
            Check::Expired
        );
        let locked = PendingVerification {
            attempts: MAX_ATTEMPTS,
            ..pending.clone()
        };
        assert_eq!(locked.check(&code, now), Check::TooManyAttempts);
        assert_ne!(
            code.hash_for(PhoneId(8)),
            pending.code_hash,
            "a code is bound to its number"
        );
    }
}
