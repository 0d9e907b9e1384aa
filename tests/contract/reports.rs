//! Usage reports: rows newest first with filters, and summaries.

use sms_router::domain::report::{Direction, GroupBy, SummaryQuery, UsageFilter};
use sms_router::domain::usage::Outcome;
use sms_router::ports::{Claim, PageRequest};

use crate::message_log::{claim_of, record, reply};
use crate::{Store, for_each_store};

async fn settle(store: &impl Store, sid: &str, outcome: Outcome, replies: usize) {
    let Claim::New(id) = store.claim(&claim_of(sid)).await.unwrap() else {
        panic!("claimed before");
    };
    store
        .settle(id, record(outcome), (0..replies).map(|_| reply()).collect(), None)
        .await
        .unwrap();
}

async fn rows_are_listed_newest_first_and_filtered(store: impl Store) {
    settle(&store, "SMr1", Outcome::Routed, 1).await;
    settle(&store, "SMr2", Outcome::AgentError, 1).await;
    settle(&store, "SMr3", Outcome::Routed, 0).await;

    let all = store
        .list_usage_logs(UsageFilter::default(), PageRequest { after: None, limit: 2 })
        .await
        .unwrap();
    let rest = store
        .list_usage_logs(
            UsageFilter::default(),
            PageRequest {
                after: all.next_after,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let routed = store
        .list_usage_logs(
            UsageFilter {
                direction: Some(Direction::Inbound),
                outcome: Some(Outcome::Routed),
                ..UsageFilter::default()
            },
            PageRequest { after: None, limit: 10 },
        )
        .await
        .unwrap();

    assert_eq!(all.items.len() + rest.items.len(), 5);
    assert!(all.items[0].id > all.items[1].id);
    assert_eq!(all.items[0].message_sid.as_deref(), Some("SMr3"));
    assert_eq!(
        routed
            .items
            .iter()
            .map(|e| e.message_sid.clone().unwrap())
            .collect::<Vec<_>>(),
        ["SMr3", "SMr1"]
    );
    assert_eq!(routed.items[0].processing_time_ms, Some(12));
    assert!(routed.items[0].created_at.ends_with('Z'));
}

async fn a_summary_counts_inbound_and_outbound_and_groups(store: impl Store) {
    settle(&store, "SMs1", Outcome::Routed, 2).await;
    settle(&store, "SMs2", Outcome::AgentError, 1).await;

    let summary = store
        .summarize(SummaryQuery {
            group_by: Some(GroupBy::Day),
            ..SummaryQuery::default()
        })
        .await
        .unwrap();
    let by_user = store
        .summarize(SummaryQuery {
            group_by: Some(GroupBy::User),
            ..SummaryQuery::default()
        })
        .await
        .unwrap();
    let ungrouped = store.summarize(SummaryQuery::default()).await.unwrap();

    let totals = &summary.totals;
    assert_eq!((totals.inbound, totals.outbound), (2, 3));
    assert_eq!(totals.by_outcome[&Outcome::Routed], 1);
    assert_eq!(totals.success_rate, Some(0.5));
    assert_eq!(totals.processing_ms_p50, Some(12));
    assert_eq!((totals.segments_inbound, totals.segments_outbound), (2, 3));
    assert_eq!(summary.groups.len(), 1);
    assert_eq!(summary.groups[0].0.len(), 10, "YYYY-MM-DD");
    assert_eq!(
        by_user.groups.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(),
        ["none"]
    );
    assert!(ungrouped.groups.is_empty());
}

/// Each row keeps what its text cost on the air, and an inbound row where
/// its time went.
async fn rows_keep_their_encoding_and_where_the_time_went(store: impl Store) {
    use sms_router::domain::segments::Encoding;
    use sms_router::domain::usage::TextShape;

    let Claim::New(id) = store.claim(&claim_of("SMe1")).await.unwrap() else {
        panic!("claimed before");
    };
    let mut curly = reply();
    curly.shape = TextShape::of("it\u{2019}s");
    store
        .settle(id, record(Outcome::Routed), vec![curly, reply()], None)
        .await
        .unwrap();

    let rows = store
        .list_usage_logs(UsageFilter::default(), PageRequest { after: None, limit: 10 })
        .await
        .unwrap()
        .items;
    let cost = |row: &sms_router::domain::report::UsageLogEntry| (row.direction, row.encoding, row.ucs2_code_point);
    assert_eq!(cost(&rows[0]), (Direction::Outbound, Some(Encoding::Gsm7), None));
    assert_eq!(
        cost(&rows[1]),
        (Direction::Outbound, Some(Encoding::Ucs2), Some(0x2019))
    );
    assert_eq!(cost(&rows[2]), (Direction::Inbound, Some(Encoding::Gsm7), None));
    assert_eq!(
        (
            rows[2].processing_time_ms,
            rows[2].router_time_ms,
            rows[2].agent_time_ms
        ),
        (Some(12), Some(5), Some(7))
    );
}

for_each_store!(
    rows_are_listed_newest_first_and_filtered,
    rows_keep_their_encoding_and_where_the_time_went,
    a_summary_counts_inbound_and_outbound_and_groups,
);
