//! The system's clock (tokio's timer for sleeps) and the operating system's
//! randomness (uuid v4).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::domain::verification::VerificationCode;
use crate::ports::{Clock, Random, Sleep};

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn verification_code(&self) -> VerificationCode {
        // 122 random bits: the bias of taking them modulo a million is
        // below one part in 10^30.
        let draw = uuid::Uuid::new_v4().as_u128() % 1_000_000;
        VerificationCode::from_number(u64::try_from(draw).unwrap_or_default())
    }
}

/// Raises this process's soft limit on open files to its hard limit, so
/// that connections are bounded by our cap rather than by a low default;
/// answers the soft limit now in force.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50)
            .map(|_| SystemRandom.verification_code().as_str().to_owned())
            .collect();
        assert!(codes.iter().all(|c| VerificationCode::parse(c).is_ok()));
        assert!(codes.len() > 40, "{} distinct of 50", codes.len());
    }
}
