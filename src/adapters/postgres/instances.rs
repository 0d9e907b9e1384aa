//! The loops an instance serving from a shared PostgreSQL database runs
//! beside its server: saying it lives, and taking over what instances that
//! stopped left (see `life`).

use crate::domain::router::Router;
use crate::ports::{Agent, Store};

use super::{LEASE, PgStore, TAKEOVER_EVERY};

/// Tells the other instances, every third of a lease, that this one lives.
pub fn spawn_heartbeat(store: PgStore) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(LEASE / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = store.within(store.heartbeat()).await {
                tracing::warn!(error = %e, "failed to tell the other instances that this one lives");
            }
        }
    })
}

/// Every second, takes over what instances that died or went silent left:
/// their unanswered messages (their senders told, as after a restart) and,
/// when this instance sends, their sends in flight (marked unknown).
pub fn spawn_takeover<S, A>(router: Router<S, A>, store: S, sends: bool) -> tokio::task::JoinHandle<()>
where
    S: Store,
    A: Agent,
    Router<S, A>: Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TAKEOVER_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            match router.recover_interrupted().await {
                Ok(found) if found.messages > 0 => tracing::warn!(
                    count = found.messages,
                    told = found.told,
                    "took over messages left unanswered by an instance that stopped"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "failed to look for messages left by stopped instances"),
            }
            if sends {
                match store.recover_interrupted().await {
                    Ok(0) => {}
                    Ok(count) => tracing::warn!(
                        count,
                        "messages were being sent by an instance that stopped: marked unknown"
                    ),
                    Err(e) => tracing::warn!(error = %e, "failed to look for sends left by stopped instances"),
                }
            }
        }
    })
}
