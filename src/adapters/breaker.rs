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
    /// Bumped each time the circuit opens: a call let through before then
    /// reports nothing that counts.
    generation: u64,
}

/// What a call let through carries back to `record`.
#[derive(Debug, Clone, Copy)]
pub struct Permit {
    generation: u64,
    /// The one call trying the agent again after a cool-down.
    probe: bool,
}

#[derive(Debug, Default)]
pub struct Breaker(Mutex<State>);

impl Breaker {
    /// A permit when a call may go to the agent now.
    pub fn allow(&self, now: Instant) -> Option<Permit> {
        let Ok(mut state) = self.0.lock() else {
            return Some(Permit {
                generation: 0,
                probe: false,
            });
        };
        let generation = state.generation;
        match state.open_until {
            None => Some(Permit {
                generation,
                probe: false,
            }),
            Some(until) if now < until => None,
            // Cooled down: one call tries again; others wait for its result.
            Some(_) if state.trying => None,
            Some(_) => {
                state.trying = true;
                Some(Permit {
                    generation,
                    probe: true,
                })
            }
        }
    }

    /// Records how a call went. A call let through before the circuit last
    /// opened counts for nothing: only the probe decides whether it closes.
    pub fn record(&self, permit: Permit, now: Instant, ok: bool) {
        let Ok(mut state) = self.0.lock() else { return };
        if permit.generation != state.generation || (state.open_until.is_some() && !permit.probe) {
            return;
        }
        if permit.probe {
            state.trying = false;
        }
        if ok {
            *state = State {
                generation: state.generation,
                ..State::default()
            };
            return;
        }
        state.failures = state.failures.saturating_add(1);
        if state.failures >= THRESHOLD || permit.probe {
            state.open_until = Some(now + COOL_DOWN);
            state.generation += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_closes_after_a_success_once_cooled() {
        let breaker = Breaker::default();
        let t0 = Instant::now();
        let fail = |at| {
            let permit = breaker.allow(at).expect("let through");
            breaker.record(permit, at, false);
        };
        for _ in 0..THRESHOLD - 1 {
            fail(t0);
        }
        let permit = breaker.allow(t0).expect("not yet open");
        breaker.record(permit, t0, true);
        // A slow call let through before the circuit opens.
        let slow = breaker.allow(t0).unwrap();
        for _ in 0..THRESHOLD {
            fail(t0);
        }
        assert!(breaker.allow(t0).is_none(), "open");
        assert!(breaker.allow(t0 + COOL_DOWN / 2).is_none(), "still open half way");

        let cooled = t0 + COOL_DOWN + Duration::from_millis(1);
        let probe = breaker.allow(cooled).expect("one call tries again");
        assert!(breaker.allow(cooled).is_none(), "the others wait for it");
        breaker.record(slow, cooled, true);
        assert!(
            breaker.allow(cooled).is_none(),
            "a call from before the opening decides nothing"
        );
        breaker.record(probe, cooled, false);
        assert!(breaker.allow(cooled).is_none(), "a failed try opens it again");
        let later = cooled + COOL_DOWN + Duration::from_millis(1);
        let probe = breaker.allow(later).unwrap();
        breaker.record(probe, later, true);
        assert!(
            breaker.allow(later).is_some() && breaker.allow(later).is_some(),
            "closed"
        );
    }
}
