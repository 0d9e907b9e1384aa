//! The routing use case on the real store in memory, with a clock that
//! moves only when told and an agent the test scripts: what is asked,
//! answered, logged and queued, without a server or a network.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::*;
use crate::domain::message::{MessageSid, RequestId, Sender};
use crate::domain::phone::{PhoneNumber, Region};
use crate::domain::report::{Direction, UsageFilter, UsageLogEntry};
use crate::domain::usage::Outcome;
use crate::domain::user::{FullName, NewUser, User};
use crate::ports::{AgentError, OptOutRegistry, Outbox, PageRequest, UsageReports, UserRegistry};
use crate::testing::{ManualClock, ScriptedAgent, TestStore, in_memory_store, limiter, metrics, recent_replies, until};

const ADA: &str = "+15550100001";
const STRANGER: &str = "+15550100999";
const BUDGET: Duration = Duration::from_secs(2);

struct World {
    router: Router<TestStore, ScriptedAgent>,
    agent: ScriptedAgent,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl World {
    /// Replies in the webhook's answer only.
    fn new(agent: ScriptedAgent) -> Self {
        Self::with(agent, None)
    }

    /// Replies later through the outbox when the agent takes over `BUDGET`.
    fn deferring(agent: ScriptedAgent) -> Self {
        Self::with(
            agent,
            Some(Deferral {
                budget: BUDGET,
                agent_timeout: Duration::from_secs(60),
            }),
        )
    }

    fn with(agent: ScriptedAgent, deferral: Option<Deferral>) -> Self {
        let (store, dir) = in_memory_store();
        let clock = ManualClock::new();
        let timing = Timing {
            agent_timeout: Duration::from_secs(10),
            deferral,
        };
        let router = Router {
            store,
            agent: agent.clone(),
            limiter: limiter(),
            recent: recent_replies(timing.duplicate_wait(), &clock),
            metrics: metrics(),
            clock: Arc::new(clock.clone()),
            timing,
        };
        World {
            router,
            agent,
            clock,
            _dir: dir,
        }
    }

    async fn user(&self, name: &str, number: &str) -> User {
        let user = NewUser {
            full_name: FullName::parse(name).unwrap(),
            email: None,
            phone_number: Some(phone(number)),
            is_active: true,
            agent: None,
        };
        self.router.store.create_user(user).await.unwrap()
    }

    /// Hands the message to the router in its own task, as the webhook
    /// does; the webhook's answer comes through the receiver.
    fn send(
        &self,
        sid: &str,
        from: &str,
        body: &str,
    ) -> (oneshot::Receiver<WebhookAnswer>, tokio::task::JoinHandle<()>) {
        let message = InboundMessage {
            sid: MessageSid::parse(sid).unwrap(),
            from: Sender::Number(phone(from)),
            to: Some("+15550100000".to_owned()),
            body: body.to_owned(),
            media: Vec::new(),
            num_media: 0,
            opt_out_type: None,
            request_id: RequestId(format!("req-{sid}")),
            sampled: false,
        };
        let (tx, rx) = oneshot::channel();
        let router = self.router.clone();
        let handled = tokio::spawn(async move {
            router
                .handle(
                    message,
                    Respond::to(move |answer| {
                        let _ = tx.send(answer);
                    }),
                )
                .await;
        });
        (rx, handled)
    }

    /// The webhook's answer to the message, once its work is done.
    async fn answer(&self, sid: &str, from: &str, body: &str) -> Reply {
        let (answer, handled) = self.send(sid, from, body);
        handled.await.unwrap();
        answer.await.unwrap().unwrap()
    }

    async fn log(&self) -> Vec<UsageLogEntry> {
        let page = PageRequest {
            after: None,
            limit: 100,
        };
        let mut rows = self
            .router
            .store
            .list_usage_logs(UsageFilter::default(), page)
            .await
            .unwrap()
            .items;
        rows.sort_by_key(|row| row.id);
        rows
    }
}

fn phone(text: &str) -> PhoneNumber {
    PhoneNumber::parse(text, Region::default()).unwrap()
}

#[tokio::test]
async fn a_users_text_goes_to_the_agent_and_its_reply_is_answered_once_logged() {
    let world = World::new(ScriptedAgent::replying("hello Ada"));
    let ada = world.user("Ada", ADA).await;

    let reply = world.answer("SM1", ADA, "hi").await;

    assert_eq!(reply.messages(), ["hello Ada"]);
    let asked = world.agent.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!((asked[0].user_id, asked[0].message.as_str()), (ada.id, "hi"));
    let log = world.log().await;
    let rows: Vec<_> = log.iter().map(|r| (r.direction, r.outcome, r.user_id)).collect();
    assert_eq!(
        rows,
        [
            (Direction::Inbound, Outcome::Routed, Some(ada.id.0)),
            (Direction::Outbound, Outcome::Routed, Some(ada.id.0)),
        ]
    );
}

#[tokio::test]
async fn a_retry_gets_the_same_reply_and_the_agent_is_asked_once() {
    let world = World::new(ScriptedAgent::replying("only once"));
    world.user("Ada", ADA).await;

    let first = world.answer("SM1", ADA, "hi").await;
    let retry = world.answer("SM1", ADA, "hi").await;

    assert_eq!(first, retry);
    assert_eq!(world.agent.asked().len(), 1);
    assert_eq!(
        world
            .log()
            .await
            .iter()
            .filter(|r| r.direction == Direction::Inbound)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_stranger_is_logged_and_never_reaches_an_agent() {
    let world = World::new(ScriptedAgent::replying("never"));
    world.user("Ada", ADA).await;

    world.answer("SM1", STRANGER, "who is this").await;

    assert!(world.agent.asked().is_empty());
    let log = world.log().await;
    assert_eq!(log[0].outcome, Outcome::UnknownUser);
    assert_eq!(log[0].user_id, None);
}

#[tokio::test]
async fn stop_opts_the_sender_out_and_nothing_of_theirs_is_routed_after() {
    let world = World::new(ScriptedAgent::replying("never"));
    world.user("Ada", ADA).await;

    world.answer("SM1", ADA, "STOP").await;
    world.answer("SM2", ADA, "are you there").await;

    assert!(world.router.store.is_opted_out(&phone(ADA)).await.unwrap());
    assert!(world.agent.asked().is_empty());
    let outcomes: Vec<_> = world
        .log()
        .await
        .iter()
        .filter(|r| r.direction == Direction::Inbound)
        .map(|r| r.outcome)
        .collect();
    assert_eq!(outcomes, [Outcome::OptedOut, Outcome::OptedOut]);
}

#[tokio::test]
async fn a_failing_agent_is_logged_in_our_words_and_answered_with_the_error_reply() {
    let world = World::new(ScriptedAgent::failing(AgentError::Status(500)));
    world.user("Ada", ADA).await;

    let reply = world.answer("SM1", ADA, "hi").await;

    assert!(!reply.is_empty(), "the sender is told something went wrong");
    let inbound = &world.log().await[0];
    assert_eq!(inbound.outcome, Outcome::AgentError);
    assert_eq!(inbound.error_message.as_deref(), Some("the agent answered HTTP 500"));
}

#[tokio::test]
async fn a_slow_agents_reply_is_answered_empty_in_time_then_queued_for_later() {
    let world = World::deferring(ScriptedAgent::held("worth the wait"));
    world.user("Ada", ADA).await;

    let (answer, handled) = world.send("SM1", ADA, "hi");
    until("the agent to be asked", || async { world.agent.asked().len() == 1 }).await;
    // Nothing is answered before the budget is spent, however long the
    // agent takes in real time.
    world.clock.advance(BUDGET);
    assert!(answer.await.unwrap().unwrap().is_empty());
    assert_eq!(
        world.router.store.take_next().await.unwrap().map(|due| due.item.body),
        None
    );

    world.agent.release();
    handled.await.unwrap();

    let due = world
        .router
        .store
        .take_next()
        .await
        .unwrap()
        .expect("the late reply is queued");
    assert_eq!(due.item.body, "worth the wait");
    assert_eq!(due.item.request_id, Some(RequestId("req-SM1".to_owned())));
    assert_eq!(world.agent.asked().len(), 1);
}

#[tokio::test]
async fn two_deliveries_at_once_are_answered_alike_and_the_agent_is_asked_once() {
    let world = World::new(ScriptedAgent::held("one answer"));
    world.user("Ada", ADA).await;

    let (first, first_handled) = world.send("SM1", ADA, "hi");
    until("the agent to be asked", || async { world.agent.asked().len() == 1 }).await;
    let (second, second_handled) = world.send("SM1", ADA, "hi");
    world.agent.release();
    first_handled.await.unwrap();
    second_handled.await.unwrap();

    let (first, second) = (first.await.unwrap().unwrap(), second.await.unwrap().unwrap());
    assert_eq!(first.messages(), ["one answer"]);
    assert_eq!(first, second);
    assert_eq!(world.agent.asked().len(), 1);
}
