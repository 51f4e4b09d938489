//! "Within N days" as the design defines it: an age of at most N days at `now`.

use time::{Duration, OffsetDateTime};

/// A verification more than this far in the future is not trusted: the clocks
/// disagree and we cannot tell how old the fact really is.
pub const CLOCK_SKEW_TOLERANCE: Duration = Duration::minutes(5);

/// How fresh a dated fact is against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// No date given: never fresh (a gap).
    Missing,
    /// Dated in the future beyond the skew tolerance.
    Future,
    /// At most `max_days` old at `now` (exactly `max_days` days is still within).
    Within {
        /// Whole days of age; 0 for a date up to [`CLOCK_SKEW_TOLERANCE`] in the future.
        days: i64,
    },
    /// More than `max_days` old at `now` (one second over is older).
    Older {
        /// Whole days of age (equal to `max_days` when less than a day over).
        days: i64,
    },
}

impl Freshness {
    /// How fresh `t` is at `now` against a limit of `max_days` days (docs/policy.md: "within N
    /// days" means an age of at most N days). More than [`CLOCK_SKEW_TOLERANCE`] in the future is
    /// [`Freshness::Future`]; `None` is [`Freshness::Missing`].
    pub fn of(t: Option<OffsetDateTime>, now: OffsetDateTime, max_days: u32) -> Self {
        let Some(t) = t else {
            return Freshness::Missing;
        };
        let age = now - t;
        if age < -CLOCK_SKEW_TOLERANCE {
            Freshness::Future
        } else if age <= Duration::days(i64::from(max_days)) {
            Freshness::Within {
                days: age.whole_days().max(0),
            }
        } else {
            Freshness::Older {
                days: age.whole_days(),
            }
        }
    }

    /// `true` only for [`Freshness::Within`]: a missing, future or older date is never fresh.
    pub fn is_within(self) -> bool {
        matches!(self, Freshness::Within { .. })
    }
}

/// Whole days since `t` (0 for the future).
pub fn days_since(t: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (now - t).whole_days().max(0)
}

/// "today", "1 day ago", "12 days ago".
pub fn ago(days: i64) -> String {
    match days {
        0 => "today".into(),
        1 => "1 day ago".into(),
        d => format!("{d} days ago"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

    #[test]
    fn exactly_n_days_is_within_and_one_second_more_is_older() {
        let seven = NOW - Duration::days(7);
        assert_eq!(
            Freshness::of(Some(seven), NOW, 7),
            Freshness::Within { days: 7 }
        );
        assert_eq!(
            Freshness::of(Some(seven - Duration::seconds(1)), NOW, 7),
            Freshness::Older { days: 7 }
        );
    }

    #[test]
    fn missing_and_future_dates_are_never_fresh() {
        assert_eq!(Freshness::of(None, NOW, 7), Freshness::Missing);
        assert_eq!(
            Freshness::of(Some(NOW + Duration::hours(2)), NOW, 7),
            Freshness::Future
        );
        // Small skew is tolerated.
        assert!(Freshness::of(Some(NOW + Duration::minutes(1)), NOW, 7).is_within());
    }
}
