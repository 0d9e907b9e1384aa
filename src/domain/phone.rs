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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us(text: &str) -> Result<PhoneNumber, PhoneNumberError> {
        PhoneNumber::parse(text, Region::default())
    }

    #[test]
    fn common_formats_give_the_same_e164() {
        for text in [
            "+12015550123",
            "(201) 555-0123",
            "201-555-0123",
            "+1 201 555 0123",
            "1 (201) 555-0123",
            "whatsapp:+12015550123",
            " +1.201.555.0123 ",
        ] {
            assert_eq!(us(text).map(|n| n.to_string()), Ok("+12015550123".into()), "{text}");
        }
    }

    /// Found by `fuzz/run phone_number`: with the default region's national
    /// prefix stripped, `+44 1632 960983` became `+44632960983`.
    #[test]
    fn a_number_with_its_country_code_keeps_every_digit_whatever_the_region() {
        let cases = [
            ("+44 1632 960983", "+441632960983"),
            ("tel:+33 1 42 68 53 00", "+33142685300"),
            ("+61 1800 123 456", "+611800123456"),
            ("+39 06 1234 5678", "+390612345678"),
        ];
        for region in ["US", "GB", "FR", "IT", "AU"] {
            let region: Region = region.parse().unwrap();
            for (text, e164) in cases {
                assert_eq!(
                    PhoneNumber::parse(text, region).map(|n| n.to_string()),
                    Ok(e164.into()),
                    "{text} in {region:?}"
                );
            }
        }
    }

    /// Found by `fuzz/run phone_number`: in India `0W658000` gave
    /// `+9109658000`, which reads back as another number.
    #[test]
    fn only_numbers_that_read_back_as_themselves_are_kept() {
        let india: Region = "IN".parse().unwrap();
        assert_eq!(
            PhoneNumber::parse("IN00)0W658000", india),
            Err(PhoneNumberError::NotANumber)
        );
        assert_eq!(
            PhoneNumber::parse("+91 98765 43210", india).unwrap().as_ref(),
            "+919876543210"
        );
    }

    /// Found by `fuzz/run phone_number`: `+62 1 42 68 50 AAAAA00` gave a
    /// 16-digit number, which E.164 does not allow.
    #[test]
    fn no_number_has_more_than_fifteen_digits() {
        for region in ["GB", "FR", "IN"] {
            assert_eq!(
                PhoneNumber::parse("tel&+62 1 42 68 50 AAAAA00", region.parse().unwrap()),
                Err(PhoneNumberError::ImpossibleLength),
                "in {region}"
            );
        }
        assert_eq!(us("+62 21 1234 5678").unwrap().as_ref(), "+622112345678");
    }

    #[test]
    fn other_regions_use_their_own_rules() {
        let gb: Region = "gb".parse().unwrap();
        assert_eq!(
            PhoneNumber::parse("020 7946 0018", gb).unwrap().as_ref(),
            "+442079460018"
        );
        assert_eq!(us("+44 20 7946 0018").unwrap().as_ref(), "+442079460018");
    }

    #[test]
    fn unassigned_but_possible_numbers_are_accepted() {
        // 555-01xx is reserved for fiction, 999 is not an assigned area code:
        // both have the shape of a US number.
        assert!(us("+1 999 555 0199").is_ok());
    }

    #[test]
    fn short_codes_names_and_junk_are_refused() {
        for text in [
            "",
            "   ",
            "12345",
            "TWILIO",
            "+1 201 555 01234567",
            "hello 2015550123 world",
            "+999 1234567",
        ] {
            assert!(us(text).is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn unknown_region_code_is_an_error() {
        assert!("ZZ".parse::<Region>().is_err());
        assert!("us".parse::<Region>().is_ok());
    }

    #[test]
    fn masking_hides_the_middle() {
        let n = us("+12015550123").unwrap();
        assert_eq!(n.masked().to_string(), "+1201***0123");
        assert_eq!(Masked("12345").to_string(), "***");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = us(&text);
        }

        #[test]
        fn e164_output_parses_back_to_itself(digits in "[2-9][0-9]{2}[2-9][0-9]{6}") {
            let n = us(&digits).unwrap();
            prop_assert_eq!(us(n.as_ref()).unwrap(), n.clone());
            prop_assert!(n.as_ref().starts_with("+1"));
            prop_assert_eq!(n.as_ref().len(), 12);
        }
    }
}
