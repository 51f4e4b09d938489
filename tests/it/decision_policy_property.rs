//! Decision safety (issue 7) in the pure policy, as a property: over random
//! cases, policies and decision sequences, no decision approves a case that
//! is not tier low, and none bypasses a second person, the quarantine
//! observation period or a use seen during a quarantine (unless break glass
//! is allowed and flagged).
//!
//! Every case starts from `base()`, tier low at `NOW` (tests/common/policy.rs).
//! The rules one at a time are in tests/decision_policy.rs.

use crate::common;

use std::path::Path;

use nhi_triage::model::{
    Action, ActionKind, Case, CaseState, CaseStatus, ChangeWindow, Decision, Dependencies,
    DependencyNode, LastUsed, Level, Owner, OwnerBasis, ProposedAction, Reviewer, Rollback,
    same_reviewer,
};
use nhi_triage::policy::{Policy, Tier, UsageCheck, assess, check_decision};
use nhi_triage::store::replay::Replay;
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

use common::policy::{ID, NOW, TEAM, base, days, node, record_of};
use common::{os_account, reviewer};

/// A dependent: criticality, external, shared.
type NodeSpec = (Option<Level>, Option<bool>, Option<bool>);

/// One case version, as random facts present or absent.
#[derive(Debug, Clone)]
struct CaseSpec {
    /// Basis, team, days since the owner was verified.
    owner: Option<(OwnerBasis, Option<&'static str>, Option<i64>)>,
    /// Days since the map was verified, and the dependents.
    deps: Option<(Option<i64>, Vec<NodeSpec>)>,
    /// Kind, reversible, verifiable, hot reload, and the rollback: days
    /// since it was tested and minutes to restore.
    #[allow(clippy::type_complexity)]
    action: Option<(
        ActionKind,
        Option<bool>,
        Option<bool>,
        Option<bool>,
        Option<(Option<i64>, Option<u32>)>,
    )>,
    criticality: Option<Level>,
    /// 0: none, 1: open, 2: closed (relative to the decision times).
    window: u8,
    /// 0: unknown, 1: never, 2: at `NOW` plus these minutes (up to 400
    /// days before, or during the decisions that follow).
    usage: (u8, i64),
}

fn maybe<T: std::fmt::Debug + Clone + 'static>(
    good: T,
    other: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![
        12 => Just(Some(good)),
        1 => Just(None),
        1 => other.prop_map(Some),
    ]
    .boxed()
}

fn level() -> impl Strategy<Value = Option<Level>> {
    prop_oneof![
        Just(None),
        Just(Some(Level::Critical)),
        Just(Some(Level::High)),
        Just(Some(Level::Medium)),
        Just(Some(Level::Low)),
    ]
}

fn case_spec() -> impl Strategy<Value = CaseSpec> {
    let owner = prop_oneof![
        12 => (
            prop_oneof![
                8 => Just(OwnerBasis::Explicit),
                1 => Just(OwnerBasis::Inferred),
                1 => Just(OwnerBasis::Unknown),
            ],
            prop_oneof![8 => Just(Some(TEAM)), 1 => Just(None), 1 => Just(Some("unknown"))],
            maybe(5i64, 0i64..400),
        )
            .prop_map(Some),
        1 => Just(None),
    ];
    let node = (
        prop_oneof![8 => Just(Some(Level::Medium)), 2 => level()],
        maybe(false, Just(true)),
        maybe(false, Just(true)),
    );
    let deps = prop_oneof![
        12 => (maybe(1i64, 0i64..40), prop::collection::vec(node, 0..3)).prop_map(Some),
        1 => Just(None),
    ];
    let kind = prop_oneof![
        Just(ActionKind::Rotate),
        Just(ActionKind::Revoke),
        Just(ActionKind::Disable),
        Just(ActionKind::Delete),
        Just(ActionKind::ReduceScope),
    ];
    let rollback = prop_oneof![
        12 => (maybe(3i64, 0i64..90), maybe(5u32, 0u32..200)).prop_map(Some),
        1 => Just(None),
    ];
    let action = prop_oneof![
        16 => (
            kind,
            maybe(true, Just(false)),
            maybe(true, Just(false)),
            maybe(true, Just(false)),
            rollback,
        )
            .prop_map(Some),
        1 => Just(None),
    ];
    let usage = (
        0u8..3,
        prop_oneof![
            3 => -(400i64 * 24 * 60)..0,
            3 => 0i64..(4 * 24 * 60),
        ],
    );
    (
        owner,
        deps,
        action,
        prop_oneof![8 => Just(Some(Level::Medium)), 2 => level()],
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        usage,
    )
        .prop_map(
            |(owner, deps, action, criticality, window, usage)| CaseSpec {
                owner,
                deps,
                action,
                criticality,
                window,
                usage,
            },
        )
}

impl CaseSpec {
    fn build(&self) -> Case {
        let mut c = base();
        c.owner = self.owner.map(|(basis, team, verified)| Owner {
            team: team.map(str::to_string),
            contact: None,
            basis,
            verified_at: verified.map(|d| NOW - days(d)),
            source: None,
        });
        c.dependencies = self.deps.as_ref().map(|(verified, nodes)| Dependencies {
            verified_at: verified.map(|d| NOW - days(d)),
            nodes: nodes
                .iter()
                .enumerate()
                .map(|(i, (crit, external, shared))| DependencyNode {
                    criticality: *crit,
                    external: *external,
                    shared: *shared,
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
                        tested_at: tested.map(|d| NOW - days(d)),
                        restore_minutes: minutes,
                    }),
                },
            );
        c.criticality = self.criticality;
        c.change_window = match self.window {
            1 => Some(ChangeWindow {
                start: NOW - days(1),
                end: NOW + days(60),
            }),
            2 => Some(ChangeWindow {
                start: NOW + days(60),
                end: NOW + days(61),
            }),
            _ => None,
        };
        c.identity.last_used_at = match self.usage {
            (0, _) => LastUsed::Unknown,
            (1, _) => LastUsed::Never,
            (_, minutes) => LastUsed::At(NOW + Duration::minutes(minutes)),
        };
        c
    }
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        (1u32..=400, 0u32..=30, 0u32..=200, 0u32..=60, 0u32..=60),
        (1u32..=200, 1u32..=200, 0u32..=48),
        (1u32..=30, 0u32..=80),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (unused, map_age, owner_age, rollback_age, restore),
                (max_h, default_h, min_obs),
                (jmin, bg_extra),
                (break_glass, shared),
            )| {
                let p = Policy {
                    version: "random".into(),
                    dependency_map_max_age_days: map_age,
                    owner_verified_max_age_days: owner_age,
                    rollback_tested_max_age_days: rollback_age,
                    max_restore_minutes: restore,
                    unused_after_days: unused,
                    quarantine_default_hours: default_h.min(max_h),
                    quarantine_max_hours: max_h,
                    justification_min_chars: jmin,
                    allow_break_glass: break_glass,
                    break_glass_min_chars: jmin + bg_extra,
                    default_escalation_team: "security-review".into(),
                    quarantine_min_observation_hours: min_obs.min(max_h),
                    allow_shared_os_accounts: shared,
                };
                // Within bounds: the policy file would accept it as written.
                Policy::from_toml(&p.to_toml(), Path::new("random.toml"))
                    .expect("a policy within bounds")
            },
        )
}

#[derive(Debug, Clone)]
struct Step {
    /// Minutes since the previous decision.
    advance: i64,
    who: usize,
    uid: usize,
    action: Action,
    override_: bool,
    justification: usize,
    hours: Option<u32>,
    version: usize,
}

fn step_strategy() -> impl Strategy<Value = Step> {
    (
        prop_oneof![
            3 => 0i64..120,
            4 => 0i64..(3 * 24 * 60),
            1 => 0i64..(30 * 24 * 60),
        ],
        0usize..4,
        0usize..3,
        prop_oneof![
            3 => Just(Action::Approve),
            3 => Just(Action::Quarantine),
            1 => Just(Action::Escalate),
            4 => Just(Action::Revoke),
            1 => Just(Action::Restore),
            1 => Just(Action::Close),
        ],
        prop::bool::weighted(0.3),
        prop_oneof![1 => Just(0usize), 6 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)],
        prop_oneof![
            3 => Just(None),
            3 => (1u32..=96).prop_map(Some),
            1 => any::<u32>().prop_map(Some),
        ],
        0usize..3,
    )
        .prop_map(
            |(advance, who, uid, action, override_, justification, hours, version)| Step {
                advance,
                who,
                uid,
                action,
                override_,
                justification,
                hours,
                version,
            },
        )
}

const WHO: [&str; 4] = ["alice", "bob", "Alice", "carol"];
const UIDS: [Option<u32>; 3] = [None, Some(1000), Some(1001)];

fn justification_text(i: usize) -> String {
    match i {
        0 => "ok".into(),
        1 => "Reviewed the dependency map with the owner team; safe to proceed.".into(),
        2 => {
            "Break glass: ".to_string() + &"incident INC-4711 requires immediate action. ".repeat(3)
        }
        _ => "\u{200b}".repeat(120),
    }
}

/// A use of the identity after `start`, as the case says at a decision.
fn used_after(c: &Case, start: OffsetDateTime) -> bool {
    c.identity.last_used_at.time().is_some_and(|t| t > start)
}

fn run_sequence(
    versions: &[CaseSpec],
    policy: &Policy,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let cases: Vec<Case> = versions.iter().map(CaseSpec::build).collect();

    // Less data never lowers the tier: the same case with usage unknown is
    // never a lower tier than with any known usage, at any time we decide.
    for c in &cases {
        let mut unknown = c.clone();
        unknown.identity.last_used_at = LastUsed::Unknown;
        let t = assess(&unknown, &CaseStatus::pending(), policy, NOW).tier;
        prop_assert!(
            t >= assess(c, &CaseStatus::pending(), policy, NOW).tier,
            "unknown usage lowered the tier of {c:?}"
        );
    }

    let mut replay = Replay::default();
    let mut now = NOW;
    // My own model of the quarantine episode: its start, and whether a
    // decision during it saw the identity used after that start.
    let mut episode: Option<(OffsetDateTime, bool)> = None;
    for st in steps {
        now += Duration::minutes(st.advance);
        let case = &cases[st.version % cases.len()];
        let who = Reviewer {
            os_account: UIDS[st.uid].map(os_account),
            ..reviewer(WHO[st.who])
        };
        let s = replay.statuses.get(&case.id).cloned().unwrap_or_default();
        let a = assess(case, &s, policy, now);
        let d = Decision {
            case_id: case.id.clone(),
            action: st.action,
            justification: justification_text(st.justification),
            expected_version: s.version,
            quarantine_hours: st.hours,
            escalate_to: None,
            override_: st.override_,
            expected_case_sha256: Some(case.content_sha256()),
            idempotency_key: None,
        };
        let Ok(t) = check_decision(case, &s, &a, &d, &who, policy, now) else {
            continue;
        };
        let ctx = || {
            format!(
                "{d:?} by {who:?} at {now} on {s:?}\ntier {:?}: {:?}",
                a.tier, a.tier_reasons
            )
        };
        prop_assert_eq!(&t.state_before, &s.state);
        let expired = s.quarantine_expired(now);
        let flagged_override = t.override_used && d.override_ && policy.allow_break_glass;
        if t.override_used {
            prop_assert!(
                policy.allow_break_glass && d.override_,
                "override without break glass: {}",
                ctx()
            );
        }

        // No approve of a case that is not low at that moment, unless a
        // second person approves an escalation or break glass is flagged.
        if d.action == Action::Approve {
            match &s.state {
                CaseState::Pending => prop_assert!(
                    a.tier == Tier::Low || flagged_override,
                    "approve of a pending non-low case: {}",
                    ctx()
                ),
                CaseState::Quarantined { .. } => {
                    prop_assert!(expired, "approve out of a running quarantine: {}", ctx());
                    prop_assert!(
                        a.tier == Tier::Low || flagged_override,
                        "approve of an expired quarantine, not low: {}",
                        ctx()
                    );
                }
                CaseState::Escalated { .. } => {}
                other => {
                    return Err(TestCaseError::fail(format!(
                        "approve out of {other:?}: {}",
                        ctx()
                    )));
                }
            }
        }

        // Leaving an escalation takes someone other than the escalator.
        if let CaseState::Escalated { .. } = s.state {
            let by = s.escalated_by.clone().unwrap_or_default();
            prop_assert!(
                !same_reviewer(&who.name, &by),
                "{} by the escalator {by:?}: {}",
                d.action,
                ctx()
            );
            prop_assert_eq!(t.escalated_by.as_deref(), Some(by.as_str()));
            if let (Some(mine), Some(theirs)) = (&who.os_account, &s.escalated_by_os)
                && mine.uid == theirs.uid
            {
                prop_assert!(
                    policy.allow_shared_os_accounts && t.shared_os_account,
                    "same OS account left an escalation: {}",
                    ctx()
                );
            }
        }

        // Revoke follows an observed quarantine with no use seen.
        if d.action == Action::Revoke {
            prop_assert!(
                matches!(s.state, CaseState::Quarantined { .. }) && !expired,
                "revoke outside a running quarantine: {}",
                ctx()
            );
            let (start, used) = episode.expect("a quarantine episode");
            prop_assert_eq!(s.quarantined_at, Some(start), "episode start moved");
            if !flagged_override {
                prop_assert!(
                    now - start
                        >= Duration::hours(i64::from(policy.quarantine_min_observation_hours)),
                    "revoke before the observation period: {}",
                    ctx()
                );
                prop_assert!(
                    a.checks.usage != UsageCheck::Unknown,
                    "revoke with usage unknown: {}",
                    ctx()
                );
                prop_assert!(
                    !used && !used_after(case, start),
                    "revoke after a use during the quarantine: {}",
                    ctx()
                );
            }
            if a.tier == Tier::High {
                let by = s.quarantined_by.clone().unwrap_or_default();
                prop_assert!(
                    !same_reviewer(&who.name, &by),
                    "tier-high revoke by the quarantiner: {}",
                    ctx()
                );
            }
        }

        // Record it as the store would, and keep my model of the episode.
        let seq = replay.last_seq() + 1;
        replay.apply(record_of(
            seq, now, case, &who, &d, &t, &a, policy, s.version,
        ));
        episode = match (&t.state_after, episode) {
            // Extending a running quarantine continues the episode; one
            // recorded after it expired begins a new one.
            (CaseState::Quarantined { .. }, Some((start, used))) if matches!(s.state, CaseState::Quarantined { until } if now < until) => {
                Some((start, used || used_after(case, start)))
            }
            (CaseState::Quarantined { .. }, _) => Some((now, false)),
            _ => None,
        };
        let after = &replay.statuses[&case.id];
        if let Some((start, used)) = episode {
            prop_assert_eq!(after.quarantined_at, Some(start), "the episode start moved");
            prop_assert_eq!(
                after.used_during_quarantine,
                used,
                "use during quarantine lost or invented"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_decision_sequence_approves_a_non_low_case_or_bypasses_a_second_person(
        versions in prop::collection::vec(case_spec(), 1..=3),
        policy in policy_strategy(),
        steps in prop::collection::vec(step_strategy(), 1..=20),
    ) {
        run_sequence(&versions, &policy, &steps)?;
    }
}
