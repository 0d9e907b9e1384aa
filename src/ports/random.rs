//! Randomness, for the secrets the domain makes.

use crate::domain::verification::VerificationCode;

pub trait Random: Send + Sync + 'static {
    /// A code drawn uniformly from all six-digit codes, unpredictable to
    /// anyone who saw earlier ones.
    fn verification_code(&self) -> VerificationCode;
}
