//! The webhook's body, as Twilio or anyone else could send it: parsed as a
//! form, checked against a signature, read as a message. Nothing may panic;
//! a form signed with the token must verify, and the same form with one
//! more name and value must not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sms_router::adapters::http::form::{SenderNumbers, TwilioForm};
use sms_router::adapters::http::signature;
use sms_router::domain::message::RequestId;
use sms_router::domain::phone::Region;

const TOKEN: &str = "fuzz-auth-token";
const URL: &str = "https://sms.example.com/sms-router/webhook/sms";

fuzz_target!(|data: &[u8]| {
    // The first line, when there is one, is the claimed signature.
    let (claimed, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..]),
        None => (String::new(), data),
    };
    let Ok(form) = TwilioForm::parse(body) else { return };

    let _ = signature::is_valid(TOKEN, URL, &form.0, &claimed);
    let good = signature::sign(TOKEN, URL, &form.0);
    assert!(signature::is_valid(TOKEN, URL, &form.0, &good));
    // A pair the form does not hold yet: Twilio signs identical pairs once,
    // so a repeated one would change nothing (found by fuzzing the target).
    let longest = form.0.iter().filter(|(k, _)| k == "ZzExtra").map(|(_, v)| v.len()).max();
    let mut more = form.0.clone();
    more.push(("ZzExtra".to_owned(), "x".repeat(longest.map_or(0, |n| n + 1))));
    assert!(!signature::is_valid(TOKEN, URL, &more, &good));

    if let Ok(message) = form.message(&SenderNumbers::new(Region::default()), RequestId("fuzz".to_owned())) {
        assert!(!message.sid.as_ref().is_empty());
    }
});
