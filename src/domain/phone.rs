//! E.164 phone numbers: parsed once at the edge, trusted everywhere after.

use std::fmt;
use std::str::FromStr;

use phonenumber::{Mode, metadata::DATABASE};

/// A phone number in E.164 form (`+12015550123`) that is *possible* for its
/// country: right length and shape, whether or not the metadata lists its
/// range as assigned yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// The most digits E.164 allows, country code included.
const MAX_DIGITS: usize = 15;

/// Why a text is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("is empty")]
    Empty,
    #[error("is not a phone number")]
    NotANumber,
    #[error("has no valid country code")]
    InvalidCountryCode,
    #[error("has a length no number of its country has")]
    ImpossibleLength,
}

/// The region assumed for numbers written without `+` and a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl FromStr for Region {
    type Err = PhoneNumberError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        code.trim()
            .to_ascii_uppercase()
            .parse()
            .map(Region)
            .map_err(|_| PhoneNumberError::InvalidCountryCode)
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(phonenumber::country::Id::US)
    }
}

impl PhoneNumber {
    /// Parses a number written in any common format (`(201) 555-0123`,
    /// `+1 201-555-0123`, `tel:+12015550123`, `whatsapp:+12015550123`).
    ///
    /// # Errors
    /// The variant says why the text is not a possible number.
    pub fn parse(text: &str, region: Region) -> Result<Self, PhoneNumberError> {
        let e164 = Self::e164_of(text, region)?;
        // Only a canonical form is kept: one that reads back as itself. The
        // parser can keep a trunk `0` after the country code (`+91 0…`),
        // which it would strip on reading the result.
        if Self::e164_of(&e164, region).ok().as_deref() != Some(e164.as_str()) {
            return Err(PhoneNumberError::NotANumber);
        }
        Ok(PhoneNumber(e164))
    }

    /// A number as a store keeps it: in E.164, so no region applies.
    ///
    /// # Errors
    /// When the text is not a number (a row written by hand).
    pub fn from_stored(text: &str) -> Result<Self, PhoneNumberError> {
        Self::parse(text, Region::default())
    }

    fn e164_of(text: &str, region: Region) -> Result<String, PhoneNumberError> {
        let text = text.trim();
        let text = text.strip_prefix("whatsapp:").unwrap_or(text).trim();
        if text.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        // Real numbers are short; refusing long input early also bounds the
        // parser's work on hostile input.
        if text.len() > 64 || !text.chars().any(|c| c.is_ascii_digit()) {
            return Err(PhoneNumberError::NotANumber);
        }
        // A number written with its country code owes nothing to the default
        // region: the parser would strip that region's national prefix from
        // it (with US, `+44 1632 960983` would lose its `1`: another number).
        let international = text.strip_prefix("tel:").unwrap_or(text).trim_start().starts_with('+');
        let region = (!international).then_some(region.0);
        // The parser has panicked on odd input in the past; a panic here must
        // not take a request down with it.
        let parsed = std::panic::catch_unwind(|| phonenumber::parse(region, text))
            .map_err(|_| PhoneNumberError::NotANumber)?
            .map_err(|e| match e {
                phonenumber::ParseError::InvalidCountryCode => PhoneNumberError::InvalidCountryCode,
                _ => PhoneNumberError::NotANumber,
            })?;
        if parsed.extension().is_some() {
            return Err(PhoneNumberError::NotANumber);
        }
        let code = parsed.code().value();
        let national = parsed.national().to_string();
        let country = DATABASE
            .by_code(&code)
            .and_then(|metas| {
                metas
                    .iter()
                    .copied()
                    .find(|m| m.is_main_country_for_code())
                    .or_else(|| metas.first().copied())
            })
            .ok_or(PhoneNumberError::InvalidCountryCode)?;
        let length = u16::try_from(national.len()).map_err(|_| PhoneNumberError::NotANumber)?;
        // E.164 allows 15 digits in all, whatever a country's metadata says
        // (found by fuzzing: Indonesia's allowed a 16-digit number).
        if code.to_string().len() + national.len() > MAX_DIGITS || !possible_lengths(country).any(|l| l == length) {
            return Err(PhoneNumberError::ImpossibleLength);
        }
        Ok(parsed.format().mode(Mode::E164).to_string())
    }

    /// The number with its middle digits hidden, for logs: `+1201***0123`.
    pub fn masked(&self) -> Masked<'_> {
        Masked(&self.0)
    }
}

/// Every length a number of this country can have, whatever its type: the
/// general description is not always filled in by the metadata.
fn possible_lengths(country: &phonenumber::metadata::Metadata) -> impl Iterator<Item = u16> + '_ {
    let d = country.descriptors();
    let typed = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    std::iter::once(d.general())
        .chain(typed.into_iter().flatten())
        .flat_map(|desc| desc.possible_length().iter().copied())
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shows the first five and the last four characters of a number or sender.
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() <= 9 {
            return f.write_str("***");
        }
        let head: String = chars[..5].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        write!(f, "{head}***{tail}")
    }
}

#[cfg(test)]
mod tests;
