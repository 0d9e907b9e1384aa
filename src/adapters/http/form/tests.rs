//! Unit tests of `form`: reading Twilio's fields.

use super::*;

fn form(from: &str) -> TwilioForm {
    TwilioForm(vec![
        ("MessageSid".to_owned(), format!("SM{}", "a".repeat(32))),
        ("From".to_owned(), from.to_owned()),
    ])
}

fn sender(senders: &SenderNumbers, from: &str) -> Sender {
    form(from)
        .message(senders, RequestId("t".to_owned()), false)
        .unwrap()
        .from
}

#[test]
fn a_sender_read_again_is_read_the_same() {
    let senders = SenderNumbers::new(Region::default());
    for from in [
        "(201) 555-0123",
        "+12015550123",
        "whatsapp:+447700900123",
        "AcmeBank",
        "+1 000",
    ] {
        let first = sender(&senders, from);
        assert_eq!(sender(&senders, from), first, "{from}");
        let fresh = sender(&SenderNumbers::new(Region::default()), from);
        assert_eq!(first, fresh, "{from}");
    }
    assert_eq!(
        sender(&senders, "(201) 555-0123"),
        Sender::Number(PhoneNumber::parse("+12015550123", Region::default()).unwrap())
    );
    assert_eq!(sender(&senders, "AcmeBank"), Sender::other("AcmeBank"));
}

#[test]
fn a_long_from_is_read_but_never_remembered() {
    let senders = SenderNumbers::new(Region::default());
    let long = format!("+1 (201) 555-0123 {}", "x".repeat(64 * 1024));
    let short = "(201) 555-0123";

    let read = sender(&senders, &long);
    sender(&senders, short);

    assert_eq!(read, sender(&SenderNumbers::new(Region::default()), &long));
    assert!(senders.known.get(&long).is_none(), "a 64 KiB key was kept");
    assert!(senders.known.get(&short.to_owned()).is_some());
}

#[test]
fn an_empty_or_blank_from_is_refused_naming_it() {
    let senders = SenderNumbers::new(Region::default());
    for from in ["", " ", " \t "] {
        let refused = form(from).message(&senders, RequestId("t".to_owned()), false);
        assert_eq!(refused.map(|_| ()).map_err(|bad| bad.field), Err("From"), "{from:?}");
    }
}
