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
        for (message, media) in reply.parts() {
            xml.push_str("<Message>");
            if media.is_empty() {
                escape_into(&mut xml, message);
            } else {
                // With files, the text goes in <Body> and each file in <Media>.
                if !message.is_empty() {
                    xml.push_str("<Body>");
                    escape_into(&mut xml, message);
                    xml.push_str("</Body>");
                }
                for link in media {
                    xml.push_str("<Media>");
                    escape_into(&mut xml, link.as_str());
                    xml.push_str("</Media>");
                }
            }
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
    use crate::domain::reply::ReplyBudget;
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
    fn files_go_in_media_elements_an_xml_parser_reads_back() {
        let media = [
            crate::domain::message::MediaLink::parse("https://example.com/a.png?x=1&y=2").unwrap(),
            crate::domain::message::MediaLink::parse("https://example.com/b.jpg").unwrap(),
        ];
        let xml = TwimlWriter.render(&Reply::with_media("here <they> are", &media, ReplyBudget::messages(1)));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let message = doc.root_element().first_element_child().unwrap();
        let parts: Vec<(&str, &str)> = message
            .children()
            .filter(|n| n.is_element())
            .map(|n| (n.tag_name().name(), n.text().unwrap_or("")))
            .collect();
        assert_eq!(
            parts,
            [
                ("Body", "here <they> are"),
                ("Media", "https://example.com/a.png?x=1&y=2"),
                ("Media", "https://example.com/b.jpg"),
            ]
        );
        let alone = TwimlWriter.render(&Reply::with_media("", &media[..1], ReplyBudget::messages(1)));
        assert!(
            alone.contains("<Message><Media>https://example.com/a.png?x=1&amp;y=2</Media></Message>"),
            "{alone}"
        );
    }

    #[test]
    fn markup_is_escaped() {
        let xml = TwimlWriter.render(&Reply::compose("a < b && c ]]> d 'e' \"f\"", ReplyBudget::messages(1)));
        assert!(
            xml.contains("a &lt; b &amp;&amp; c ]]&gt; d &apos;e&apos; &quot;f&quot;"),
            "{xml}"
        );
    }

    proptest! {
        #[test]
        fn any_text_survives_an_xml_parser(text in "(\\PC|\\s|[<>&'\"\\]]){1,300}") {
            let reply = Reply::compose(&text, ReplyBudget::messages(1));
            let xml = TwimlWriter.render(&reply);
            prop_assert_eq!(texts_of(&xml), reply.messages().to_vec());
        }
    }
}
