//! Tier windows (issue 9, `nhi_triage::policy::tier_window`): the interval
//! around `now` in which `assess` keeps giving the same tier, so a store can
//! keep a million tiers and re-assess only the cases whose window has ended.
//!
//! Soundness is a property: over random cases, statuses, policies and `now`
//! (often placed on or next to an instant where a date comparison flips),
//! every instant sampled inside the window (including 1 ns and 1 s inside
//! each bound) gives the same tier and the same time-dependent facts.
//! Width is deterministic: the demo cases get windows of hours or more, and a
//! known threshold crossing gives exactly that `due_at`.

use crate::common;

use std::path::Path;

use nhi_triage::model::{
    Action, ActionKind, Case, CaseState, CaseStatus, ChangeWindow, Dependencies, DependencyNode,
    LastUsed, Level, LoadReport, Owner, OwnerBasis, ProposedAction, Rollback, parse_jsonl,
};
use nhi_triage::policy::{
    CLOCK_SKEW_TOLERANCE, Policy, Status, Tier, TierWindow, assess, tier_window,
};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use common::policy::{ID, NOW, TEAM, base, days, node};

/// A date as seconds after [`NOW`] (negative: before) plus extra nanoseconds.
type At = (i64, u32);

fn at((secs, nanos): At) -> OffsetDateTime {
    NOW + Duration::seconds(secs) + Duration::nanoseconds(i64::from(nanos))
}

/// One random case, status and `now`, as offsets from [`NOW`].
#[derive(Debug, Clone)]
struct Spec {
    owner: Option<(OwnerBasis, Option<At>)>,
    /// When the map was verified, and each dependent's criticality.
    deps: Option<(Option<At>, Vec<Option<Level>>)>,
    /// Kind, reversible, verifiable, hot reload, and the rollback: when it
    /// was tested and minutes to restore.
    #[allow(clippy::type_complexity)]
    action: Option<(
        ActionKind,
        Option<bool>,
        Option<bool>,
        Option<bool>,
        Option<(Option<At>, Option<u32>)>,
    )>,
    criticality: Option<Level>,
    /// Start and length in seconds.
    window: Option<(At, i64)>,
    /// 0: unknown, 1: never, 2: at the date.
    usage: (u8, At),
    /// 0: pending, 1: quarantined, 2: escalated, 3: approved.
    state: u8,
    until: At,
    quarantined_at: Option<At>,
    /// Which instant `now` is placed at (0: `random`), and a jitter in ns.
    now_anchor: (usize, i64),
    random: At,
}

/// A date up to ~400 days before and ~60 days after [`NOW`], often whole
/// seconds, sometimes with nanoseconds.
fn date() -> impl Strategy<Value = At> {
    (
        prop_oneof![
            3 => -(400i64 * 86_400)..(60 * 86_400),
            1 => -(3 * 86_400i64)..(3 * 86_400),
        ],
        prop_oneof![3 => Just(0u32), 1 => 0u32..1_000_000_000],
    )
}

fn maybe<T: std::fmt::Debug + Clone + 'static>(
    other: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![8 => other.prop_map(Some), 1 => Just(None)].boxed()
}

fn flag() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![8 => Just(Some(true)), 1 => Just(Some(false)), 1 => Just(None)]
}

fn level() -> impl Strategy<Value = Option<Level>> {
    prop_oneof![
        8 => Just(Some(Level::Medium)),
        1 => Just(None),
        1 => Just(Some(Level::Critical)),
        1 => Just(Some(Level::Low)),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let owner = maybe((
        prop_oneof![8 => Just(OwnerBasis::Explicit), 1 => Just(OwnerBasis::Inferred)],
        maybe(date()),
    ));
    let deps = maybe((maybe(date()), prop::collection::vec(level(), 0..3)));
    let kind = prop_oneof![
        Just(ActionKind::Rotate),
        Just(ActionKind::Revoke),
        Just(ActionKind::Disable),
        Just(ActionKind::ReduceScope),
    ];
    let action = maybe((
        kind,
        flag(),
        flag(),
        flag(),
        maybe((maybe(date()), maybe(0u32..30))),
    ));
    let window = prop_oneof![
        3 => Just(None),
        1 => (date(), 1i64..(40 * 86_400)).prop_map(Some),
    ];
    (
        (owner, deps, action, level(), window),
        (0u8..3, date()),
        (0u8..4, date(), maybe(date())),
        ((0usize..14, -2i64..=2), date()),
    )
        .prop_map(
            |(
                (owner, deps, action, criticality, window),
                usage,
                (state, until, quarantined_at),
                ((anchor, jitter), random),
            )| Spec {
                owner,
                deps,
                action,
                criticality,
                window,
                usage,
                state,
                until,
                quarantined_at,
                now_anchor: (anchor, jitter),
                random,
            },
        )
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        (1u32..=200, 0u32..=30, 0u32..=120, 0u32..=60, 0u32..=20),
        (1u32..=200, 0u32..=48),
    )
        .prop_map(
            |((unused, map_age, owner_age, rollback_age, restore), (max_h, min_obs))| {
                let p = Policy {
                    version: "random".into(),
                    dependency_map_max_age_days: map_age,
                    owner_verified_max_age_days: owner_age,
                    rollback_tested_max_age_days: rollback_age,
                    max_restore_minutes: restore,
                    unused_after_days: unused,
                    quarantine_default_hours: max_h,
                    quarantine_max_hours: max_h,
                    quarantine_min_observation_hours: min_obs.min(max_h),
                    ..Policy::default()
                };
                // Within bounds: the policy file would accept it as written.
                Policy::from_toml(&p.to_toml(), Path::new("random.toml"))
                    .expect("a policy within bounds")
            },
        )
}

impl Spec {
    fn case(&self) -> Case {
        let mut c = base();
        c.owner = self.owner.map(|(basis, verified)| Owner {
            team: Some(TEAM.into()),
            contact: None,
            basis,
            verified_at: verified.map(at),
            source: None,
        });
        c.dependencies = self.deps.as_ref().map(|(verified, nodes)| Dependencies {
            verified_at: verified.map(at),
            nodes: nodes
                .iter()
                .enumerate()
                .map(|(i, crit)| DependencyNode {
                    criticality: *crit,
                    ..node(&format!("job:{i}"), None, &[ID])
                })
                .collect(),
        });
        c.action = self
            .action
            .map(
                |(kind, reversible, verifiable, hot_reload, rollback)| ProposedAction {
                    kind,
                    reversible,
                    verifiable,
                    hot_reload,
                    rollback: rollback.map(|(tested, minutes)| Rollback {
                        method: Some("re-enable".into()),
                        tested_at: tested.map(at),
                        restore_minutes: minutes,
                    }),
                },
            );
        c.criticality = self.criticality;
        c.change_window = self.window.map(|(start, len)| ChangeWindow {
            start: at(start),
            end: at(start) + Duration::seconds(len),
        });
        c.identity.last_used_at = match self.usage {
            (0, _) => LastUsed::Unknown,
            (1, _) => LastUsed::Never,
            (_, t) => LastUsed::At(at(t)),
        };
        c
    }

    fn status(&self) -> CaseStatus {
        let state = match self.state {
            0 => CaseState::Pending,
            1 => CaseState::Quarantined {
                until: at(self.until),
            },
            2 => CaseState::Escalated { to: TEAM.into() },
            _ => CaseState::Approved,
        };
        CaseStatus {
            state,
            version: 1,
            quarantined_at: self.quarantined_at.map(at),
            quarantined_by: Some("alice".into()),
            escalated_by: Some("bob".into()),
            ..CaseStatus::pending()
        }
    }

    /// `now`: random, or on an instant where a comparison of `case` under
    /// `p` flips (found here independently of the code under test), moved
    /// by -1 s, -1 ns, 0, 1 ns or 1 s.
    fn now(&self, case: &Case, status: &CaseStatus, p: &Policy) -> OffsetDateTime {
        let plus = |t: Option<OffsetDateTime>, d: u32| t.map(|t| t + days(i64::from(d)));
        let skew = |t: Option<OffsetDateTime>| t.map(|t| t - CLOCK_SKEW_TOLERANCE);
        let owner = case.owner.as_ref().and_then(|o| o.verified_at);
        let map = case.dependencies.as_ref().and_then(|d| d.verified_at);
        let tested = case
            .action
            .as_ref()
            .and_then(|a| a.rollback.as_ref())
            .and_then(|r| r.tested_at);
        let used = case.identity.last_used_at.time();
        let until = match status.state {
            CaseState::Quarantined { until } => Some(until),
            _ => None,
        };
        let observed = status
            .quarantined_at
            .map(|t| t + Duration::hours(i64::from(p.quarantine_min_observation_hours)));
        let anchors = [
            None,
            plus(owner, p.owner_verified_max_age_days),
            skew(owner),
            plus(map, p.dependency_map_max_age_days),
            skew(map),
            plus(tested, p.rollback_tested_max_age_days),
            skew(tested),
            plus(used, p.unused_after_days),
            skew(used),
            case.change_window.as_ref().map(|w| w.start),
            case.change_window.as_ref().map(|w| w.end),
            until,
            observed,
            used,
        ];
        let (i, jitter) = self.now_anchor;
        let jitter = match jitter {
            -2 => Duration::seconds(-1),
            2 => Duration::seconds(1),
            j => Duration::nanoseconds(j),
        };
        anchors[i % anchors.len()].unwrap_or_else(|| at(self.random)) + jitter
    }
}

/// Everything time-dependent the window promises to hold: the tier, each
/// question's status and gap count, the change window and usage checks, the
/// expired quarantine and which actions are allowed.
#[derive(Debug, PartialEq)]
struct Facts {
    tier: Tier,
    questions: [(Status, usize); 3],
    window_allows: bool,
    known_unused: bool,
    check_gaps: usize,
    quarantine_expired: bool,
    actions: Vec<(Action, bool, bool)>,
}

fn facts(case: &Case, status: &CaseStatus, p: &Policy, t: OffsetDateTime) -> Facts {
    let a = assess(case, status, p, t);
    Facts {
        tier: a.tier,
        questions: [&a.q1, &a.q2, &a.q3].map(|q| (q.status, q.gaps.len())),
        window_allows: a.checks.change_window.allows_change(),
        known_unused: a.checks.usage.known_unused(),
        check_gaps: a.checks.gaps.len(),
        quarantine_expired: a.quarantine_expired,
        actions: a
            .actions
            .iter()
            .map(|v| (v.action, v.allowed, v.needs_override))
            .collect(),
    }
}

/// Instants inside `w`: `now`, 1 ns and 1 s inside each bound, and `fractions`
/// (in thousandths) of the way across it (an unbounded side reaches 10 years).
fn samples(w: &TierWindow, now: OffsetDateTime, fractions: &[u16]) -> Vec<OffsetDateTime> {
    let ns = Duration::nanoseconds;
    let far = days(3650);
    let mut out = vec![Some(now)];
    if let Some(a) = w.valid_after {
        out.extend([a.checked_add(ns(1)), a.checked_add(Duration::seconds(1))]);
    }
    if let Some(d) = w.due_at {
        out.extend([d.checked_sub(ns(1)), d.checked_sub(Duration::seconds(1))]);
    }
    let lo = w.valid_after.or(now.checked_sub(far)).unwrap_or(now);
    let hi = w.due_at.or(now.checked_add(far)).unwrap_or(now);
    let span = (hi - lo).whole_nanoseconds();
    for &f in fractions {
        let off = i64::try_from(span * i128::from(f) / 1000).ok();
        out.push(off.and_then(|off| lo.checked_add(ns(off))));
    }
    out.into_iter()
        .flatten()
        .filter(|t| w.holds_at(*t))
        .collect()
}

fn check_sound(
    case: &Case,
    status: &CaseStatus,
    p: &Policy,
    now: OffsetDateTime,
    fractions: &[u16],
) -> Result<TierWindow, TestCaseError> {
    let w = tier_window(case, status, p, now);
    let here = facts(case, status, p, now);
    prop_assert!(w.holds_at(now), "{w:?} does not hold at now {now}");
    prop_assert_eq!(w.tier, here.tier);
    for t in samples(&w, now, fractions) {
        let there = facts(case, status, p, t);
        prop_assert_eq!(&there, &here, "at {} inside {:?} (now {})", t, w, now);
    }
    Ok(w)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        max_shrink_iters: 4000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_instant_inside_the_window_gives_the_same_tier(
        spec in spec(),
        policy in policy_strategy(),
        fractions in prop::collection::vec(1u16..1000, 8),
    ) {
        let case = spec.case();
        let status = spec.status();
        let now = spec.now(&case, &status, &policy);
        let mut fractions = fractions;
        fractions.extend([1, 250, 500, 750, 999]);
        check_sound(&case, &status, &policy, now, &fractions)?;
    }
}

/// The demo cases, rebased to `now` and read as the store reads them.
fn demo_cases(now: OffsetDateTime) -> Vec<Case> {
    let text = nhi_triage::demo::rebased_cases(now).expect("the demo rebases");
    let mut report = LoadReport::default();
    parse_jsonl(Path::new("demo.jsonl"), &text, &mut report);
    assert!(
        report.cases.len() >= 20,
        "demo cases: {:?}",
        report.problems
    );
    report.cases
}

/// The width of a window; `None` when unbounded on either side.
fn width(w: &TierWindow) -> Option<Duration> {
    Some(w.due_at? - w.valid_after?)
}

#[test]
fn most_demo_windows_last_hours_or_more_and_hold_throughout() {
    let now = datetime!(2027-03-04 05:06:07 UTC);
    let policy = Policy::default();
    let status = CaseStatus::pending();
    let cases = demo_cases(now);
    let mut widths = Vec::new();
    let mut remaining = Vec::new();
    for case in &cases {
        let fractions: Vec<u16> = (1..100).map(|i| i * 10).collect();
        let w = check_sound(case, &status, &policy, now, &fractions)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        widths.push(width(&w));
        remaining.push(w.due_at.map_or(Duration::MAX, |d| d - now));
    }
    widths.sort_by_key(|w| w.unwrap_or(Duration::MAX));
    remaining.sort();
    let show = |w: &Option<Duration>| w.map_or("unbounded".to_string(), |d| format!("{d}"));
    let over = |limit: Duration| {
        widths
            .iter()
            .filter(|w| w.is_none_or(|d| d > limit))
            .count()
    };
    eprintln!(
        "demo windows ({} cases): shortest {}, median {}, over 1 h {}, over 1 day {}, over 7 days {}, unbounded {}",
        widths.len(),
        show(&widths[0]),
        show(&widths[widths.len() / 2]),
        over(Duration::HOUR),
        over(Duration::DAY),
        over(Duration::WEEK),
        widths.iter().filter(|w| w.is_none()).count(),
    );
    eprintln!(
        "time to due_at: shortest {}, median {}",
        remaining[0],
        remaining[remaining.len() / 2]
    );
    assert!(
        over(Duration::HOUR) * 10 >= widths.len() * 9,
        "fewer than 90% of the demo windows are over an hour: {widths:?}"
    );
    assert!(
        over(Duration::DAY) * 2 >= widths.len(),
        "fewer than half of the demo windows are over a day: {widths:?}"
    );
}

#[test]
fn an_owner_verification_crossing_its_max_age_is_the_due_instant() {
    // Owner verified 80 days ago under a 90-day limit: fresh until exactly
    // 90 days after (inclusive), stale one nanosecond later.
    let verified = NOW - days(80);
    let mut case = base();
    if let Some(o) = case.owner.as_mut() {
        o.verified_at = Some(verified);
    }
    let policy = Policy {
        dependency_map_max_age_days: 30,
        ..Policy::default()
    };
    let status = CaseStatus::pending();
    let w = tier_window(&case, &status, &policy, NOW);
    let crossing = verified + days(90) + Duration::nanoseconds(1);
    assert_eq!(w.tier, Tier::Low);
    assert_eq!(w.due_at, Some(crossing));
    assert_eq!(assess(&case, &status, &policy, crossing).tier, Tier::Medium);
    let last = crossing - Duration::nanoseconds(1);
    assert_eq!(assess(&case, &status, &policy, last).tier, Tier::Low);
    // The latest flip before NOW: the map's verification (a day ago) stopped
    // being "in the future" five minutes before it was dated.
    let map_verified = NOW - days(1);
    assert_eq!(
        w.valid_after,
        Some(map_verified - CLOCK_SKEW_TOLERANCE - Duration::nanoseconds(1))
    );
}

#[test]
fn now_on_a_flip_instant_gives_a_window_that_stops_at_the_flip() {
    let policy = Policy {
        dependency_map_max_age_days: 30,
        ..Policy::default()
    };
    let status = CaseStatus::pending();
    // The last instant the owner verification is fresh: the tier changes
    // one nanosecond later.
    let verified = NOW - days(90);
    let mut case = base();
    if let Some(o) = case.owner.as_mut() {
        o.verified_at = Some(verified);
    }
    let w = tier_window(&case, &status, &policy, NOW);
    assert_eq!(w.tier, Tier::Low);
    assert_eq!(w.due_at, Some(NOW + Duration::nanoseconds(1)));
    assert_eq!(
        assess(&case, &status, &policy, NOW + Duration::nanoseconds(1)).tier,
        Tier::Medium
    );

    // A change window opening at NOW: open (tier low) from NOW on, closed
    // (medium) one nanosecond before.
    let mut case = base();
    case.change_window = Some(ChangeWindow {
        start: NOW,
        end: NOW + days(3),
    });
    let w = tier_window(&case, &status, &policy, NOW);
    assert_eq!(w.tier, Tier::Low);
    assert_eq!(w.valid_after, Some(NOW - Duration::nanoseconds(1)));
    assert_eq!(w.due_at, Some(NOW + days(3)));
    assert_eq!(
        assess(&case, &status, &policy, NOW - Duration::nanoseconds(1)).tier,
        Tier::Medium
    );
}

#[test]
fn a_case_without_dates_holds_for_ever() {
    // No date the policy compares: the tier never changes.
    let mut case = base();
    case.owner = None;
    case.dependencies = None;
    case.action = None;
    case.identity.last_used_at = LastUsed::Unknown;
    let w = tier_window(&case, &CaseStatus::pending(), &Policy::default(), NOW);
    assert_eq!(w.tier, Tier::High);
    assert_eq!((w.valid_after, w.due_at), (None, None));
}

#[test]
fn extreme_dates_and_thresholds_do_not_panic_and_stay_sound() {
    let policy = Policy {
        owner_verified_max_age_days: u32::MAX,
        dependency_map_max_age_days: 3650,
        rollback_tested_max_age_days: 0,
        unused_after_days: u32::MAX,
        quarantine_min_observation_hours: u32::MAX,
        ..Policy::default()
    };
    let late = datetime!(9999-12-31 23:59:59.999_999_999 -23:59);
    let early = datetime!(-9999-01-01 00:00 +23:59);
    let utc_max = datetime!(9999-12-31 23:59:59.999_999_999 UTC);
    let utc_min = datetime!(-9999-01-01 00:00 UTC);
    let dates = [late, early, utc_max, utc_min, NOW];
    for &d in &dates {
        let mut case = base();
        if let Some(o) = case.owner.as_mut() {
            o.verified_at = Some(d);
        }
        if let Some(m) = case.dependencies.as_mut() {
            m.verified_at = Some(d);
        }
        if let Some(r) = case.action.as_mut().and_then(|a| a.rollback.as_mut()) {
            r.tested_at = Some(d);
        }
        case.identity.last_used_at = LastUsed::At(d);
        case.change_window = Some(ChangeWindow { start: d, end: d });
        let status = CaseStatus {
            state: CaseState::Quarantined { until: d },
            quarantined_at: Some(d),
            ..CaseStatus::pending()
        };
        for &now in &dates {
            let fractions = [1, 10, 100, 500, 900, 999];
            if let Err(e) = check_sound(&case, &status, &policy, now, &fractions) {
                panic!("date {d}, now {now}: {e}");
            }
        }
    }
}
