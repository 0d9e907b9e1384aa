//! Any text as a phone number: parsing never panics, and a number that
//! parses is E.164 and parses back to itself from any region.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sms_router::domain::phone::{PhoneNumber, Region};

fuzz_target!(|text: &str| {
    for region in ["US", "GB", "FR", "IN"] {
        let Ok(region) = region.parse::<Region>() else { return };
        let Ok(number) = PhoneNumber::parse(text, region) else { continue };
        let e164 = number.as_ref();
        assert!(e164.starts_with('+'), "{e164} is not E.164");
        assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()), "{e164} is not E.164");
        assert!((3..=16).contains(&e164.len()), "{e164} has an impossible length");
        let again = PhoneNumber::parse(e164, Region::default()).expect("an E.164 number parses again");
        assert_eq!(again, number);
        let masked = number.masked().to_string();
        assert_ne!(masked, e164, "the masked form shows the whole number");
    }
});
