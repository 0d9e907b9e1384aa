//! A deadline on every call to the store: a database that stops answering
//! (refused, reset, or silent behind a partition) fails a call within
//! `SMS_ROUTER_DATABASE_TIMEOUT_MS` instead of holding it, so that the
//! webhook answers 503 in time for Twilio to try its fallback, and the
//! service recovers by itself when the database answers again. A call cut
//! short has written all of its transaction or none of it.

use std::future::Future;
use std::time::Duration;

use crate::ports::StoreError;

/// `S`, each call bounded by `limit`.
#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
}

impl<S> Deadline<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Deadline { inner, limit }
    }

    /// The store it bounds.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn within<T, E: From<StoreError>>(
        &self,
        method: &'static str,
        call: impl Future<Output = Result<T, E>> + Send,
    ) -> Result<T, E> {
        match tokio::time::timeout(self.limit, call).await {
            Ok(answer) => answer,
            Err(_) => {
                tracing::warn!(
                    method,
                    limit_ms = self.limit.as_millis(),
                    "the store did not answer in time"
                );
                Err(StoreError::new(format!(
                    "the store did not answer {method} within {} ms",
                    self.limit.as_millis()
                ))
                .into())
            }
        }
    }
}

crate::forward_store_ports!(Deadline<S>, inner, within);

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose settings never come.
    #[derive(Clone)]
    struct Silent;

    impl Silent {
        async fn current(&self) -> Result<crate::domain::settings::Settings, StoreError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_call_that_does_not_come_back_fails_at_the_deadline() {
        let store = Deadline::new(Silent, Duration::from_millis(100));
        let answer = store.within("current", store.inner.current()).await;
        assert!(answer.unwrap_err().to_string().contains("within 100 ms"));
    }
}
