//! Unit tests of `phone`.

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
