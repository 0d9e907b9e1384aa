//! The people the service answers, and how a number leads to one of them.

use std::fmt;

use super::phone::PhoneNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A syntactically valid e-mail address, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a valid e-mail address")]
pub struct EmailAddressError;

impl EmailAddress {
    /// # Errors
    /// `EmailAddressError` when the text is not an address.
    pub fn parse(text: &str) -> Result<Self, EmailAddressError> {
        let text = text.trim();
        if email_address::EmailAddress::is_valid(text) {
            Ok(EmailAddress(text.to_owned()))
        } else {
            Err(EmailAddressError)
        }
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A person's name: 1–200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must hold 1 to 200 characters")]
pub struct FullNameError;

impl FullName {
    /// # Errors
    /// `FullNameError` for an empty or overlong name.
    pub fn parse(text: &str) -> Result<Self, FullNameError> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 200 || text.chars().any(char::is_control) {
            return Err(FullNameError);
        }
        Ok(FullName(text.to_owned()))
    }
}

impl AsRef<str> for FullName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub full_name: FullName,
    pub email: Option<EmailAddress>,
    pub phone_number: Option<PhoneNumber>,
    pub is_active: bool,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub full_name: String,
    pub email: Option<String>,
    pub phone_number: Option<PhoneNumber>,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A partial change to a user: `None` leaves a field as it is; for the
/// optional fields, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub full_name: Option<FullName>,
    pub email: Option<Option<EmailAddress>>,
    pub phone_number: Option<Option<PhoneNumber>>,
    pub is_active: Option<bool>,
}

/// Which users a listing shows; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Matches a user's primary or extra number.
    pub phone_number: Option<PhoneNumber>,
    pub email: Option<EmailAddress>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneId(pub i64);

/// How an extra number was shown to belong to its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationMethod {
    Sms,
    Manual,
    Oauth,
}

impl VerificationMethod {
    pub fn name(self) -> &'static str {
        match self {
            VerificationMethod::Sms => "sms",
            VerificationMethod::Manual => "manual",
            VerificationMethod::Oauth => "oauth",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            VerificationMethod::Sms,
            VerificationMethod::Manual,
            VerificationMethod::Oauth,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// An extra number of a user (`user_phone_mappings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub id: PhoneId,
    pub user_id: UserId,
    pub phone_number: PhoneNumber,
    pub is_primary: bool,
    pub is_verified: bool,
    pub verification_method: Option<VerificationMethod>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct NewPhone {
    pub phone_number: PhoneNumber,
    pub is_primary: bool,
    pub is_verified: bool,
    pub verification_method: Option<VerificationMethod>,
}

/// A partial change to an extra number, as `UserPatch`.
#[derive(Debug, Clone, Default)]
pub struct PhonePatch {
    pub is_primary: Option<bool>,
    pub is_verified: Option<bool>,
    pub verification_method: Option<Option<VerificationMethod>>,
}

/// Where a number's owner was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberSource {
    /// `users.phone_number`
    Primary,
    /// an extra number in `user_phone_mappings`
    Mapping,
}

/// The user a number leads to: what routing needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: UserId,
    pub is_active: bool,
    pub source: NumberSource,
    /// A primary number counts as verified; an extra one once confirmed.
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(EmailAddress::parse("ada@example.com").is_ok());
        assert!(EmailAddress::parse("ada.example.com").is_err());
        assert!(EmailAddress::parse("").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(FullName::parse("  Ada Lovelace ").unwrap().as_ref(), "Ada Lovelace");
        assert!(FullName::parse(" ").is_err());
        assert!(FullName::parse(&"x".repeat(201)).is_err());
    }
}
