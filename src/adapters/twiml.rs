//! The reply as TwiML: Twilio's XML answer to a webhook.

use crate::domain::reply::{Reply, is_sendable};
use crate::ports::ReplyWriter;

#[derive(Clone, Copy, Default)]
pub struct TwimlWriter;

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

impl ReplyWriter for TwimlWriter {
    fn render(&self, reply: &Reply) -> String {
        if reply.is_empty() {
            return format!("{HEADER}<Response/>");
        }
        let mut xml = String::with_capacity(64 + reply.messages().iter().map(String::len).sum::<usize>());
        xml.push_str(HEADER);
        xml.push_str("<Response>");
        for message in reply.messages() {
            xml.push_str("<Message>");
            escape_into(&mut xml, message);
            xml.push_str("</Message>");
        }
        xml.push_str("</Response>");
        xml
    }
}

/// Escapes text for an XML element, dropping what XML 1.0 cannot carry.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars().filter(|&c| is_sendable(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Carriage returns would be normalised away by a parser.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts_of(xml: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(xml).unwrap();
        doc.root_element()
            .children()
            .filter(|n| n.is_element())
            .map(|n| n.text().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn empty_reply_is_an_empty_response() {
        assert_eq!(
            TwimlWriter.render(&Reply::empty()),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
    }

    #[test]
    fn markup_is_escaped() {
        let xml = TwimlWriter.render(&Reply::compose("a < b && c ]]> d 'e' \"f\"", 1));
        assert!(
            xml.contains("a &lt; b &amp;&amp; c ]]&gt; d &apos;e&apos; &quot;f&quot;"),
            "{xml}"
        );
    }

    proptest! {
        #[test]
        fn any_text_survives_an_xml_parser(text in "(\\PC|\\s|[<>&'\"\\]]){1,300}") {
            let reply = Reply::compose(&text, 1);
            let xml = TwimlWriter.render(&reply);
            prop_assert_eq!(texts_of(&xml), reply.messages().to_vec());
        }
    }
}
