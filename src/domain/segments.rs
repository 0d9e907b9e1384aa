//! How many SMS segments a text costs, counted as Twilio counts them.

/// Characters of the GSM 03.38 default alphabet: one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters of the extension table: an escape plus one septet each.
const GSM7_EXTENDED: &str = "\u{000C}^{}\\[~]|€";

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// The encoding and the number of segments of a text. An empty text still
/// costs one segment.
pub fn count_segments(text: &str) -> (Encoding, u32) {
    let septets: Option<usize> = text
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, part) = match septets {
        Some(septets) => (Encoding::Gsm7, septets, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let segments = if units <= single { 1 } else { units.div_ceil(part) };
    (encoding, u32::try_from(segments).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gsm7_limits() {
        assert_eq!(count_segments(""), (Encoding::Gsm7, 1));
        assert_eq!(count_segments(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(count_segments(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(count_segments(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(count_segments(&"a".repeat(307)), (Encoding::Gsm7, 3));
    }

    #[test]
    fn extension_characters_take_two_septets() {
        assert_eq!(count_segments(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(count_segments(&"€".repeat(81)), (Encoding::Gsm7, 2));
    }

    #[test]
    fn anything_else_is_ucs2_in_utf16_units() {
        assert_eq!(count_segments(&"é".repeat(200)).0, Encoding::Gsm7);
        assert_eq!(count_segments(&"ê".repeat(70)), (Encoding::Ucs2, 1));
        assert_eq!(count_segments(&"ê".repeat(71)), (Encoding::Ucs2, 2));
        // An emoji is two UTF-16 units.
        assert_eq!(count_segments(&"😀".repeat(35)), (Encoding::Ucs2, 1));
        assert_eq!(count_segments(&"😀".repeat(36)), (Encoding::Ucs2, 2));
    }

    proptest! {
        #[test]
        fn gsm_text_costs_ceil_of_153_beyond_one(n in 161usize..2000) {
            let (_, s) = count_segments(&"x".repeat(n));
            prop_assert_eq!(s as usize, n.div_ceil(153));
        }

        #[test]
        fn segments_cover_the_text(text in "\\PC{0,400}") {
            let (encoding, s) = count_segments(&text);
            let units = text.encode_utf16().count();
            prop_assert!(s >= 1);
            if encoding == Encoding::Ucs2 {
                prop_assert!(s as usize * 70 >= units);
            }
        }

        #[test]
        fn one_foreign_character_makes_it_ucs2(text in "[a-z ]{0,100}", c in "[\u{4e00}-\u{9fff}]") {
            prop_assert_eq!(count_segments(&format!("{text}{c}")).0, Encoding::Ucs2);
        }
    }
}
