//! The CPU work each message costs, apart from I/O: `cargo bench`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sms_router::adapters::http::form::{SenderNumbers, TwilioForm};
use sms_router::adapters::http::signature;
use sms_router::adapters::twiml::TwimlWriter;
use sms_router::domain::keyword::Keyword;
use sms_router::domain::message::RequestId;
use sms_router::domain::phone::{PhoneNumber, Region};
use sms_router::domain::reply::{Reply, ReplyBudget};
use sms_router::domain::segments::count_segments;
use sms_router::domain::usage::TextShape;
use sms_router::ports::ReplyWriter;

const URL: &str = "https://sms.example.com/sms-router/webhook/sms";
const TOKEN: &str = "12345678901234567890123456789012";

/// A webhook body as Twilio sends it.
fn form_body() -> String {
    serde_urlencoded::to_string([
        ("ToCountry", "US"),
        ("SmsMessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("NumMedia", "0"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+12015550123"),
        ("To", "+15005550006"),
        ("Body", "What is on my calendar tomorrow morning?"),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ])
    .unwrap_or_default()
}

fn per_message(c: &mut Criterion) {
    let region = Region::default();
    c.bench_function("phone: parse a national number", |b| {
        b.iter(|| PhoneNumber::parse(black_box("(201) 555-0123"), region))
    });
    c.bench_function("phone: parse an E.164 number", |b| {
        b.iter(|| PhoneNumber::parse(black_box("+12015550123"), region))
    });

    let body = form_body();
    // The sender's number read before: the usual case, and the one measured.
    let senders = SenderNumbers::new(region);
    c.bench_function("webhook: read the form into a message", |b| {
        b.iter(|| {
            let form = TwilioForm::parse(black_box(body.as_bytes())).ok()?;
            form.message(&senders, RequestId("bench".to_owned()), false).ok()
        })
    });
    let form = TwilioForm::parse(body.as_bytes()).map(|f| f.0).unwrap_or_default();
    let valid = signature::sign(TOKEN, URL, &form);
    c.bench_function("webhook: check the signature", |b| {
        b.iter(|| signature::is_valid(TOKEN, URL, black_box(&form), black_box(&valid)))
    });

    c.bench_function("decision: read a keyword (not one)", |b| {
        b.iter(|| Keyword::of_message(black_box("What is on my calendar tomorrow?"), None))
    });
    c.bench_function("decision: read a keyword (STOP)", |b| {
        b.iter(|| Keyword::of_message(black_box("  stop "), None))
    });

    let short = "Your 9:30 with Ana moved to 10:00 & the room is <B2>.";
    let long = "Here is the plan for tomorrow: ".repeat(40) + "😀 done";
    c.bench_function("segments: count a short GSM text", |b| {
        b.iter(|| count_segments(black_box(short)))
    });
    c.bench_function("segments: count a long UCS-2 text", |b| {
        b.iter(|| count_segments(black_box(&long)))
    });
    c.bench_function("segments: shape of a short text", |b| {
        b.iter(|| TextShape::of(black_box(short)))
    });

    c.bench_function("twiml: compose and write a short reply", |b| {
        b.iter(|| TwimlWriter.render(&Reply::compose(black_box(short), ReplyBudget::messages(3))))
    });
    c.bench_function("twiml: compose and write a reply split in 3", |b| {
        b.iter(|| TwimlWriter.render(&Reply::compose(black_box(&long), ReplyBudget::messages(3))))
    });
}

criterion_group!(benches, per_message);
criterion_main!(benches);
