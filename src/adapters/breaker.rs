//! A circuit breaker for one agent endpoint: after `THRESHOLD` failures in
//! a row (no answer, or a server error), the agent is not called for
//! `COOL_DOWN` and its users get `error_reply` at once, without waiting for
//! a deadline; then one call tries it again (half open), and its result
//! closes the circuit or opens it for another cool-down.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row that open the circuit.
pub const THRESHOLD: u32 = 5;
/// How long an open circuit stays open.
pub const COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    /// A call is trying the agent again after a cool-down.
    trying: bool,
}

#[derive(Debug, Default)]
pub struct Breaker(Mutex<State>);

impl Breaker {
    /// Whether a call may go to the agent now.
    pub fn allow(&self, now: Instant) -> bool {
        let Ok(mut state) = self.0.lock() else { return true };
        match state.open_until {
            None => true,
            Some(until) if now < until => false,
            // Cooled down: one call tries again; others wait for its result.
            Some(_) if state.trying => false,
            Some(_) => {
                state.trying = true;
                true
            }
        }
    }

    /// Records how a call that was allowed went.
    pub fn record(&self, now: Instant, ok: bool) {
        let Ok(mut state) = self.0.lock() else { return };
        state.trying = false;
        if ok {
            *state = State::default();
            return;
        }
        state.failures = state.failures.saturating_add(1);
        if state.failures >= THRESHOLD || state.open_until.is_some() {
            state.open_until = Some(now + COOL_DOWN);
        }
    }

    /// Whether the circuit is open now.
    pub fn is_open(&self, now: Instant) -> bool {
        self.0
            .lock()
            .is_ok_and(|state| state.open_until.is_some_and(|until| now < until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_closes_after_a_success_once_cooled() {
        let breaker = Breaker::default();
        let t0 = Instant::now();
        for _ in 0..THRESHOLD - 1 {
            assert!(breaker.allow(t0));
            breaker.record(t0, false);
        }
        assert!(breaker.allow(t0), "not yet");
        breaker.record(t0, true);
        for _ in 0..THRESHOLD {
            assert!(breaker.allow(t0));
            breaker.record(t0, false);
        }
        assert!(!breaker.allow(t0), "open");
        assert!(breaker.is_open(t0 + COOL_DOWN / 2));

        let cooled = t0 + COOL_DOWN + Duration::from_millis(1);
        assert!(breaker.allow(cooled), "one call tries again");
        assert!(!breaker.allow(cooled), "the others wait for it");
        breaker.record(cooled, false);
        assert!(!breaker.allow(cooled), "a failed try opens it again");
        let later = cooled + COOL_DOWN + Duration::from_millis(1);
        assert!(breaker.allow(later));
        breaker.record(later, true);
        assert!(breaker.allow(later) && breaker.allow(later), "closed");
    }
}
