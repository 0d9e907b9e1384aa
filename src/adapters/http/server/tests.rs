//! Unit tests of `server`.

use super::*;

#[test]
fn the_default_cap_keeps_a_reserve_for_the_store() {
    assert_eq!(default_max_connections(1024), 896);
    assert_eq!(default_max_connections(20_000), 19_872);
    assert_eq!(default_max_connections(200), 100);
    assert_eq!(default_max_connections(0), 1);
}

fn limits() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 1,
    }
}

#[test]
fn a_new_connection_owes_its_headers_then_an_answered_one_may_idle() {
    let activity = Arc::new(Activity::new());
    assert_eq!(activity.deadline(limits()), Some(10_000), "the first request's headers");
    let busy = activity.begin_request(true);
    assert_eq!(activity.deadline(limits()), None, "a request in flight");
    drop(busy);
    let answered = activity.waiting_since.load(Ordering::Acquire);
    assert_eq!(activity.deadline(limits()), Some(answered + 60_000), "idle");
    activity.read();
    let head = activity.head_since.load(Ordering::Acquire) - 1;
    assert_eq!(
        activity.deadline(limits()),
        Some(head + 10_000),
        "the next request's headers"
    );
}

#[test]
fn a_head_pipelined_behind_a_request_owes_its_bytes_from_its_first() {
    let activity = Arc::new(Activity::new());
    activity.read();
    let busy = activity.begin_request(false);
    activity.read();
    assert_eq!(activity.pipelined_since.load(Ordering::Acquire), 0, "the body's bytes");
    activity.body_read();
    activity.read();
    let pipelined = activity.pipelined_since.load(Ordering::Acquire);
    assert!(pipelined > 0, "the next head's first byte");
    drop(busy);
    assert_eq!(activity.deadline(limits()), Some(pipelined - 1 + 10_000));
}
