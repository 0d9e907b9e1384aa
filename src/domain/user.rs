//! The people the service answers, and how a number leads to one of them.
//!
//! Over 300 lines: each field of a user and of a number is its own type, parsed
//! once here, with its rule.

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

/// Where a user's own agent answers: an http(s) URL with a host and a valid
/// port, parsed once (by the WHATWG URL parser, as the HTTP client reads it)
/// and kept in its canonical form, so that what is shown of it and where
/// messages go cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentUrl(url::Url);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentUrlError {
    #[error("is not a URL (an http or https URL with a host and a valid port, at most 2048 characters)")]
    NotAUrl,
    #[error("must be an http or https URL")]
    Scheme,
    #[error("has no host")]
    NoHost,
}

/// The longest agent URL accepted.
const MAX_AGENT_URL: usize = 2048;

impl AgentUrl {
    /// # Errors
    /// `AgentUrlError` for anything but an http(s) URL with a host and a
    /// valid port (a port past 65535, an unclosed `[`, a space: not a URL).
    pub fn parse(text: &str) -> Result<Self, AgentUrlError> {
        let text = text.trim();
        if text.len() > MAX_AGENT_URL {
            return Err(AgentUrlError::NotAUrl);
        }
        let url = url::Url::parse(text).map_err(|_| AgentUrlError::NotAUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AgentUrlError::Scheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(AgentUrlError::NoHost);
        }
        if url.as_str().len() > MAX_AGENT_URL {
            return Err(AgentUrlError::NotAUrl);
        }
        Ok(AgentUrl(url))
    }

    /// The canonical form: what is stored, and where messages go.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL as it may be shown or logged, from its parse: scheme, host,
    /// port and path; never credentials, query or fragment.
    pub fn shown(&self) -> String {
        let mut shown = self.0.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.set_query(None);
        shown.set_fragment(None);
        shown.to_string()
    }

    /// Whether both URLs reach the same server: scheme, host and port.
    pub fn same_origin(&self, other: &AgentUrl) -> bool {
        self.0.origin() == other.0.origin()
    }
}

/// The token a user's own agent is sent (`Authorization: Bearer`). Never
/// shown: its `Debug` says nothing of it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AgentToken(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 512 printable characters without spaces")]
pub struct AgentTokenError;

impl AgentToken {
    /// # Errors
    /// `AgentTokenError` for an empty, long or unprintable token.
    pub fn parse(text: &str) -> Result<Self, AgentTokenError> {
        let text = text.trim();
        if (1..=512).contains(&text.len()) && text.chars().all(|c| c.is_ascii_graphic()) {
            Ok(AgentToken(text.to_owned()))
        } else {
            Err(AgentTokenError)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentToken([redacted])")
    }
}

/// A user's own agent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentEndpoint {
    pub url: AgentUrl,
    pub token: Option<AgentToken>,
}

impl AgentEndpoint {
    /// A user's own agent from its stored URL and token; a URL that does
    /// not read (written by hand) is no agent of theirs.
    pub fn from_stored(url: Option<&str>, token: Option<&str>) -> Option<Self> {
        Some(AgentEndpoint {
            url: AgentUrl::parse(url?).ok()?,
            token: token.and_then(|t| AgentToken::parse(t).ok()),
        })
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub full_name: FullName,
    pub email: Option<EmailAddress>,
    pub phone_number: Option<PhoneNumber>,
    pub is_active: bool,
    /// The user's own agent; `None`: `SMS_ROUTER_AGENT_URL`'s.
    pub agent: Option<AgentEndpoint>,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub full_name: String,
    pub email: Option<String>,
    pub phone_number: Option<PhoneNumber>,
    pub is_active: bool,
    /// The user's own agent, if any (its token is never read back).
    pub agent_url: Option<AgentUrl>,
    pub has_agent_token: bool,
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
    /// `Some(None)` removes the user's own agent, its token with it.
    pub agent_url: Option<Option<AgentUrl>>,
    pub agent_token: Option<Option<AgentToken>>,
}

/// Which users a listing shows; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Matches a user's primary or extra number.
    pub phone_number: Option<PhoneNumber>,
    /// Matches a user whose name holds it, A–Z in any case.
    pub name: Option<FullName>,
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
    /// The user's own agent, when they have one.
    pub agent: Option<AgentEndpoint>,
}

#[cfg(test)]
mod tests;
