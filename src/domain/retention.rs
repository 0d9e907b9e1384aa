//! How long the usage log keeps its rows: the rule, apart from the store
//! that applies it.

use std::num::NonZeroU32;

use chrono::{DateTime, Duration, Utc};

/// The moment before which usage-log rows are purged: `days` before `now`.
pub fn cutoff(now: DateTime<Utc>, days: NonZeroU32) -> DateTime<Utc> {
    now - Duration::days(i64::from(days.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_whole_days_before_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let days = NonZeroU32::new(400).unwrap();
        assert_eq!(cutoff(now, days).to_rfc3339(), "2025-10-26T06:00:00+00:00");
    }
}
