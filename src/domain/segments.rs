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

impl Encoding {
    pub const fn name(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Encoding::Gsm7, Encoding::Ucs2].into_iter().find(|e| e.name() == name)
    }
}

/// What a text costs on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    pub encoding: Encoding,
    pub segments: u32,
    /// The first character outside GSM-7, which made the text UCS-2.
    pub forced_by: Option<char>,
}

/// Septets each ASCII character takes (0: outside GSM-7), read off the two
/// tables above at compile time: most of a reply is ASCII, and a table
/// answers in one step where the strings are searched.
const ASCII_SEPTETS: [u8; 128] = {
    let mut table = [0u8; 128];
    let (basic, extended) = (GSM7_BASIC.as_bytes(), GSM7_EXTENDED.as_bytes());
    // A non-ASCII character's UTF-8 bytes are all 0x80 or above: skipped.
    let mut i = 0;
    while i < basic.len() {
        if basic[i] < 128 {
            table[basic[i] as usize] = 1;
        }
        i += 1;
    }
    let mut i = 0;
    while i < extended.len() {
        if extended[i] < 128 {
            table[extended[i] as usize] = 2;
        }
        i += 1;
    }
    table
};

/// Septets a character takes in GSM-7; `None` outside the alphabet.
fn septets(c: char) -> Option<usize> {
    if c.is_ascii() {
        return match ASCII_SEPTETS[c as usize] {
            0 => None,
            n => Some(usize::from(n)),
        };
    }
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding, the number of segments and what forced UCS-2, if
/// anything, of a text. An empty text still costs one segment.
pub fn measure(text: &str) -> Measure {
    let mut total = 0;
    let mut forced_by = None;
    for c in text.chars() {
        match septets(c) {
            Some(n) => total += n,
            None => {
                forced_by = Some(c);
                break;
            }
        }
    }
    let (encoding, units, single, part) = match forced_by {
        None => (Encoding::Gsm7, total, 160, 153),
        Some(_) => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let segments = if units <= single { 1 } else { units.div_ceil(part) };
    Measure {
        encoding,
        segments: u32::try_from(segments).unwrap_or(u32::MAX),
        forced_by,
    }
}

/// The encoding and the number of segments of a text. An empty text still
/// costs one segment.
pub fn count_segments(text: &str) -> (Encoding, u32) {
    let Measure { encoding, segments, .. } = measure(text);
    (encoding, segments)
}

/// The GSM-7 look-alike of a character outside GSM-7 that has one: quotes,
/// dashes, odd spaces, the ellipsis and the like (the list the README
/// gives). Zero-width characters have the empty text for look-alike.
fn look_alike(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' | '\u{00B4}' | '\u{0060}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}' | '\u{00BB}' => "\"",
        '\u{2039}' => "<",
        '\u{203A}' => ">",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}' | '\u{2212}' | '\u{2022}' => "-",
        '\u{2026}' => "...",
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        '\u{200B}' | '\u{200C}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => "",
        '\u{02C6}' => "^",
        '\u{02DC}' => "~",
        _ => return None,
    })
}

/// `text` with GSM-7 look-alikes in place of the characters that would make
/// it UCS-2 — only when that makes all of it GSM-7 and it costs no more
/// segments (three dots can); `None` otherwise, when it is to be sent as
/// written.
pub fn smart_encoded(text: &str) -> Option<String> {
    let first = text.find(|c: char| septets(c).is_none())?;
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if septets(c).is_some() {
            out.push(c);
        } else {
            out.push_str(look_alike(c)?);
        }
    }
    (measure(&out).segments <= measure(text).segments).then_some(out)
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

    #[test]
    fn the_ascii_table_agrees_with_the_alphabet() {
        for c in (0u8..128).map(char::from) {
            let searched = if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            };
            assert_eq!(septets(c), searched, "{c:?}");
        }
    }

    #[test]
    fn measure_names_the_first_character_that_forced_ucs2() {
        let m = measure("it\u{2019}s ok \u{1F600}");
        assert_eq!((m.encoding, m.forced_by), (Encoding::Ucs2, Some('\u{2019}')));
        assert_eq!(measure("plain €").forced_by, None);
    }

    #[test]
    fn look_alikes_make_a_reply_gsm7() {
        assert_eq!(
            smart_encoded("\u{201C}Hi\u{201D} \u{2014} it\u{2019}s\u{00A0}fine\u{2026}").as_deref(),
            Some("\"Hi\" - it's fine...")
        );
        assert_eq!(smart_encoded("zero\u{200B}width"), Some("zerowidth".to_owned()));
    }

    #[test]
    fn a_reply_that_stays_ucs2_is_left_as_written() {
        assert_eq!(smart_encoded("it\u{2019}s \u{1F600}"), None);
        assert_eq!(smart_encoded("already gsm"), None);
    }

    #[test]
    fn three_dots_that_would_cost_more_are_not_used() {
        // 70 ellipses: one UCS-2 segment; 210 dots would be two.
        assert_eq!(smart_encoded(&"\u{2026}".repeat(70)), None);
        assert!(smart_encoded(&"\u{2026}".repeat(10)).is_some());
    }

    proptest! {
        #[test]
        fn replaced_text_never_costs_more(text in "[a-z \u{2018}\u{2019}\u{201C}\u{201D}\u{2013}\u{2014}\u{2026}\u{00A0}\u{200B}\u{1F600}\u{00E9}\u{00EA}]{0,400}") {
            if let Some(replaced) = smart_encoded(&text) {
                prop_assert_eq!(measure(&replaced).encoding, Encoding::Gsm7);
                prop_assert!(measure(&replaced).segments <= measure(&text).segments);
            }
        }

        #[test]
        fn a_gsm7_text_is_never_changed(text in "[a-zA-Z0-9 .,!?@£$€{}\n]{0,300}") {
            prop_assert_eq!(smart_encoded(&text), None);
        }

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
