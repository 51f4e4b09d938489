//! How long an assessment's tier holds: the interval of time around `now`
//! in which no comparison the policy makes between `now` and a date changes
//! its result, so a store can keep a tier and assess again only once that
//! interval ends (issue 9: "re-assess only those due").
//!
//! Exact, not estimated: every comparison [`assess`] makes against `now` is
//! on instants to the nanosecond (`OffsetDateTime` and `Duration`), so the
//! instants where one can flip are known exactly. [`tier_window`] lists them
//! all and keeps the nearest on each side of `now`. A new time comparison in
//! `assess` (or anything it calls) must add its instants to `flips` here, or
//! the windows become unsound; `tests/it/policy_window.rs` checks this as a
//! property over random cases.

use time::{OffsetDateTime, UtcOffset};

use super::{CLOCK_SKEW_TOLERANCE, Policy, Tier, assess};
use crate::model::{Case, CaseState, CaseStatus};

/// A tier and the open interval `(valid_after, due_at)` of times at which
/// [`assess`] gives that same tier for the same case, status and policy.
/// `None` bounds are unbounded (no threshold lies that way).
///
/// Within the window the rest of the assessment's time-dependent verdicts
/// hold too: each question's status and number of gaps, the change-window and
/// usage checks, `quarantine_expired` and which actions are allowed (the revoke
/// observation period included). Only the day and hour counts shown in text
/// ("verified 12 days ago") change inside it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierWindow {
    /// The tier at the `now` the window was computed for.
    pub tier: Tier,
    /// The tier holds strictly after this instant (`None`: since ever).
    pub valid_after: Option<OffsetDateTime>,
    /// The tier holds strictly before this instant (`None`: for ever).
    pub due_at: Option<OffsetDateTime>,
}

impl TierWindow {
    /// Whether the tier is still the one [`assess`] gives at `t`.
    pub fn holds_at(&self, t: OffsetDateTime) -> bool {
        self.valid_after.is_none_or(|a| a < t) && self.due_at.is_none_or(|d| t < d)
    }
}

/// The case's tier at `now` and the widest interval around `now` in which no
/// date comparison of [`assess`] changes its result. `valid_after` is one
/// nanosecond before the latest flip at or before `now`, `due_at` the earliest
/// flip after it (both in UTC), so the window always holds `now`: a flip
/// exactly at `now` gives `valid_after = now - 1 ns`. The flips mirrored are
/// the three freshness limits (owner, dependency map, rollback test), usage
/// recency, the change window, the quarantine's end and its observation period
/// (the private `flips` gives each comparison). Pure and infallible: a bound no
/// `OffsetDateTime` can hold is `None`, as no instant reaches it.
pub fn tier_window(
    case: &Case,
    status: &CaseStatus,
    policy: &Policy,
    now: OffsetDateTime,
) -> TierWindow {
    let tier = assess(case, status, policy, now).tier;
    let now_ns = now.unix_timestamp_nanos();
    let (mut last, mut next) = (None::<i128>, None::<i128>);
    for flip in flips(case, status, policy) {
        if flip <= now_ns {
            last = last.max(Some(flip));
        } else {
            next = Some(next.map_or(flip, |n| n.min(flip)));
        }
    }
    TierWindow {
        tier,
        valid_after: last.and_then(|f| instant(f.checked_sub(1)?)),
        due_at: next.and_then(instant),
    }
}

const NS_PER_SECOND: i128 = 1_000_000_000;
const NS_PER_HOUR: i128 = 3_600 * NS_PER_SECOND;
const NS_PER_DAY: i128 = 24 * NS_PER_HOUR;
/// The largest UTC offset `time` holds, in seconds (±25:59:59).
const FARTHEST_OFFSET: i32 = 25 * 3_600 + 59 * 60 + 59;

/// Every instant, in nanoseconds since the Unix epoch, at which a comparison
/// `assess` makes against `now` can change its result, each given as the
/// first instant of the new result (so a result holds from one flip up to,
/// not including, the next):
///
/// - [`super::Freshness::of`] (owner `verified_at` against
///   `owner_verified_max_age_days`, dependency map `verified_at` against
///   `dependency_map_max_age_days`, rollback `tested_at` against
///   `rollback_tested_max_age_days`, `last_used_at` against
///   `unused_after_days` and, for the "dated in the future" gap, against 0):
///   future before `t - CLOCK_SKEW_TOLERANCE`, within from then up to and
///   including `t + max days`, older from one nanosecond later;
/// - `ChangeWindow::is_open` (`start <= now < end`): `start` and `end`;
/// - `CaseStatus::quarantine_expired` (`until <= now`): `until`;
/// - the revoke observation period (`now - quarantined_at <
///   quarantine_min_observation_hours`): `quarantined_at` plus those hours.
///
/// Day counts (`days_since`, identity age, "verified N days ago") only change
/// text, never a verdict, and give no flips. An instant that overflows `i128`
/// arithmetic is left out: no `OffsetDateTime` reaches it.
fn flips(case: &Case, status: &CaseStatus, policy: &Policy) -> Vec<i128> {
    let skew = CLOCK_SKEW_TOLERANCE.whole_nanoseconds();
    let mut out = Vec::with_capacity(12);
    let mut freshness = |t: Option<OffsetDateTime>, max_days: u32| {
        if let Some(t) = t.map(OffsetDateTime::unix_timestamp_nanos) {
            out.extend(t.checked_sub(skew));
            out.extend(
                (i128::from(max_days) * NS_PER_DAY)
                    .checked_add(t)
                    .and_then(|older| older.checked_add(1)),
            );
        }
    };
    let owner = case.owner.as_ref().and_then(|o| o.verified_at);
    freshness(owner, policy.owner_verified_max_age_days);
    let map = case.dependencies.as_ref().and_then(|d| d.verified_at);
    freshness(map, policy.dependency_map_max_age_days);
    let rollback = case.action.as_ref().and_then(|a| a.rollback.as_ref());
    freshness(
        rollback.and_then(|r| r.tested_at),
        policy.rollback_tested_max_age_days,
    );
    // The "dated in the future" gap compares the same date against 0 days:
    // only its `t - skew` matters, already in.
    freshness(case.identity.last_used_at.time(), policy.unused_after_days);
    if let Some(w) = &case.change_window {
        out.extend([w.start, w.end].map(OffsetDateTime::unix_timestamp_nanos));
    }
    if let CaseState::Quarantined { until } = status.state {
        out.push(until.unix_timestamp_nanos());
    }
    if let Some(start) = status.quarantined_at {
        let need = i128::from(policy.quarantine_min_observation_hours) * NS_PER_HOUR;
        out.extend(start.unix_timestamp_nanos().checked_add(need));
    }
    out
}

/// The instant `ns` nanoseconds after the Unix epoch: in UTC, or beyond the
/// range UTC holds (year ±9999) in the farthest offset, which can hold up to
/// a day more; `None` when no `OffsetDateTime` can hold it (nothing reaches
/// it, so it bounds nothing).
fn instant(ns: i128) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(ns)
        .ok()
        .or_else(|| {
            let farthest = if ns < 0 {
                FARTHEST_OFFSET
            } else {
                -FARTHEST_OFFSET
            };
            let offset = UtcOffset::from_whole_seconds(farthest).ok()?;
            let local = ns.checked_add(i128::from(farthest) * NS_PER_SECOND)?;
            let local = OffsetDateTime::from_unix_timestamp_nanos(local).ok()?;
            Some(local.replace_offset(offset))
        })
}
