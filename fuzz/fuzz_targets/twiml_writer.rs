//! Any agent reply as TwiML: the document is well-formed XML, and its
//! messages read back as the composed reply, each within Twilio's limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sms_router::adapters::twiml::TwimlWriter;
use sms_router::domain::reply::{MAX_MESSAGE_UNITS, Reply, ReplyBudget};
use sms_router::ports::ReplyWriter;

fuzz_target!(|input: (u8, &str)| {
    let (max_messages, text) = input;
    let reply = Reply::compose(text, ReplyBudget::messages(usize::from(max_messages % 12)));
    let xml = TwimlWriter.render(&reply);

    let doc = match roxmltree::Document::parse(&xml) {
        Ok(doc) => doc,
        Err(e) => panic!("not XML ({e}): {xml}"),
    };
    let read: Vec<String> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(read, reply.messages());
    for message in reply.messages() {
        assert!(message.encode_utf16().count() <= MAX_MESSAGE_UNITS);
    }
});
