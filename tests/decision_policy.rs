//! Decision safety (issue 7) in the pure policy: unknown usage is never
//! "unused", separation of duties compares people rather than spellings or
//! OS accounts, quarantine episodes keep their start and any use seen,
//! justifications count only visible characters, escalations route to a
//! real team, and the policy file bounds every number. Ends with a property
//! test over random cases, policies and decision sequences.
//!
//! Every case starts from `base()`, tier low at `NOW` (the same shape as
//! tests/policy_rules.rs), and changes what the test is about.

use std::path::Path;

use nhi_triage::evidence::{EvidenceRecord, ReadinessSummary};
use nhi_triage::model::{
    Action, ActionKind, Case, CaseState, CaseStatus, ChangeWindow, Decision, Dependencies,
    DependencyNode, Finding, Identity, LastUsed, Level, OsAccount, Owner, OwnerBasis, Privilege,
    ProposedAction, Reviewer, Rollback, same_reviewer, validate_name,
};
use nhi_triage::policy::{
    Assessment, JustificationCount, MAX_JUSTIFICATION_CHARS, Policy, Refusal, Tier, Transition,
    UsageCheck, assess, check_decision, escalation_target, precheck, quarantine_hours,
};
use nhi_triage::store::replay::Replay;
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);
const ID: &str = "arn:aws:iam::123456789012:user/svc-billing-export";
const TEAM: &str = "billing-platform";
const REASON: &str = "no legitimate use found in the access logs";
const KINDS: [ActionKind; 5] = [
    ActionKind::Rotate,
    ActionKind::Revoke,
    ActionKind::Disable,
    ActionKind::Delete,
    ActionKind::ReduceScope,
];

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn node(id: &str, criticality: Option<Level>, uses: &[&str]) -> DependencyNode {
    DependencyNode {
        id: id.into(),
        name: Some(format!("{id} name")),
        kind: Some("job".into()),
        criticality,
        external: Some(false),
        shared: Some(false),
        last_seen_at: Some(NOW - days(1)),
        uses: uses.iter().map(|s| s.to_string()).collect(),
    }
}

/// Tier low at `NOW`: explicit fresh owner, fresh map with one dependent of
/// known criticality, a reversible, verifiable, tested revoke of an identity
/// last used 200 days ago, no change window.
fn base() -> Case {
    Case {
        id: "CASE-T".into(),
        opened_at: NOW - days(1),
        title: "unused key".into(),
        identity: Identity {
            id: ID.into(),
            name: "svc-billing-export".into(),
            kind: "api_key".into(),
            provider: "aws".into(),
            account: Some("123456789012".into()),
            created_at: Some(NOW - days(400)),
            last_used_at: LastUsed::At(NOW - days(200)),
            privilege: Some(Privilege::Read),
        },
        finding: Some(Finding {
            kind: "unused".into(),
            severity: Some(Level::Medium),
            source: Some("access-analyzer".into()),
            detected_at: Some(NOW - days(1)),
            summary: None,
            owasp: Some("NHI1:2025".into()),
            refs: vec![],
        }),
        owner: Some(Owner {
            team: Some(TEAM.into()),
            contact: Some("billing-oncall@example.com".into()),
            basis: OwnerBasis::Explicit,
            verified_at: Some(NOW - days(10)),
        }),
        criticality: Some(Level::Medium),
        dependencies: Some(Dependencies {
            verified_at: Some(NOW - days(1)),
            nodes: vec![node("job:export", Some(Level::Medium), &[ID])],
        }),
        action: Some(ProposedAction {
            kind: ActionKind::Revoke,
            reversible: Some(true),
            verifiable: Some(true),
            rollback: Some(Rollback {
                method: Some("re-enable key".into()),
                tested_at: Some(NOW - days(5)),
                restore_minutes: Some(5),
            }),
            hot_reload: Some(true),
        }),
        change_window: None,
        tags: vec![],
    }
}

fn with(f: impl FnOnce(&mut Case)) -> Case {
    let mut c = base();
    f(&mut c);
    c
}

/// The base case, tier high: an external partner depends on the identity.
fn high() -> Case {
    with(|c| {
        let partner = DependencyNode {
            external: Some(true),
            ..node("partner:acme", Some(Level::High), &[ID])
        };
        c.dependencies.as_mut().unwrap().nodes.push(partner);
    })
}

fn reviewer(name: &str) -> Reviewer {
    Reviewer {
        name: name.into(),
        host: "bastion-1".into(),
        via: "local".into(),
        os_account: None,
    }
}

fn reviewer_os(name: &str, uid: u32) -> Reviewer {
    Reviewer {
        os_account: Some(os(uid)),
        ..reviewer(name)
    }
}

fn os(uid: u32) -> OsAccount {
    OsAccount {
        uid,
        name: format!("user{uid}"),
    }
}

fn decision(action: Action, justification: &str) -> Decision {
    Decision {
        case_id: "CASE-T".into(),
        action,
        justification: justification.into(),
        expected_version: 0,
        quarantine_hours: None,
        escalate_to: None,
        override_: false,
        expected_case_sha256: None,
        idempotency_key: None,
    }
}

fn status(state: CaseState) -> CaseStatus {
    CaseStatus {
        state,
        version: 1,
        ..CaseStatus::pending()
    }
}

fn escalated_by(who: &str) -> CaseStatus {
    CaseStatus {
        escalated_by: Some(who.into()),
        ..status(CaseState::Escalated { to: TEAM.into() })
    }
}

/// Quarantined by `who` since `since`, running until `NOW + 48h`.
fn quarantined_by(who: &str, since: OffsetDateTime) -> CaseStatus {
    CaseStatus {
        quarantined_at: Some(since),
        quarantined_by: Some(who.into()),
        ..status(CaseState::Quarantined {
            until: NOW + hours(48),
        })
    }
}

fn assess_at(c: &Case, s: &CaseStatus, p: &Policy, now: OffsetDateTime) -> Assessment {
    assess(c, s, p, now)
}

fn decide_as(
    c: &Case,
    s: &CaseStatus,
    d: &Decision,
    who: &Reviewer,
    p: &Policy,
    now: OffsetDateTime,
) -> Result<Transition, Refusal> {
    let a = assess(c, s, p, now);
    check_decision(c, s, &a, d, who, p, now)
}

/// `d` by `who` at `NOW` under the default policy.
fn decide(c: &Case, s: &CaseStatus, d: &Decision, who: &str) -> Result<Transition, Refusal> {
    decide_as(c, s, d, &reviewer(who), &Policy::default(), NOW)
}

fn refused_with(r: Result<Transition, Refusal>, needle: &str) -> Refusal {
    match r {
        Ok(t) => panic!("expected a refusal mentioning {needle:?}, got {t:?}"),
        Err(refusal) => {
            assert!(
                refusal.reasons.iter().any(|x| x.contains(needle)),
                "no reason mentions {needle:?}: {:?}",
                refusal.reasons
            );
            refusal
        }
    }
}

fn has(list: &[String], needle: &str) -> bool {
    list.iter().any(|x| x.contains(needle))
}

// ===================================================================== usage

/// The four kinds of usage fact, at the boundaries of `unused_after_days`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Usage {
    Unknown,
    Never,
    /// Last used exactly `unused_after_days` ago: still recent.
    AtLimit,
    /// Last used `unused_after_days` and one second ago: unused.
    PastLimit,
    /// Used an hour ago.
    Recent,
}

fn usage_value(u: Usage, limit_days: u32, now: OffsetDateTime) -> LastUsed {
    let limit = days(i64::from(limit_days));
    match u {
        Usage::Unknown => LastUsed::Unknown,
        Usage::Never => LastUsed::Never,
        Usage::AtLimit => LastUsed::At(now - limit),
        Usage::PastLimit => LastUsed::At(now - limit - secs(1)),
        Usage::Recent => LastUsed::At(now - hours(1)),
    }
}

fn case_for(kind: ActionKind, last_used: LastUsed) -> Case {
    with(|c| {
        c.action.as_mut().unwrap().kind = kind;
        c.identity.last_used_at = last_used;
    })
}

#[test]
fn usage_unknown_never_unused_and_recent_at_every_boundary_for_every_action_kind() {
    for limit in [1u32, 30, 90, 365] {
        let policy = Policy {
            unused_after_days: limit,
            ..Policy::default()
        };
        for kind in KINDS {
            for u in [
                Usage::Unknown,
                Usage::Never,
                Usage::AtLimit,
                Usage::PastLimit,
                Usage::Recent,
            ] {
                let what = format!("{kind:?} with usage {u:?}, unused_after_days = {limit}");
                let c = case_for(kind, usage_value(u, limit, NOW));
                let a = assess(&c, &CaseStatus::pending(), &policy, NOW);

                // The usage check names the fact as it is.
                let expected = match u {
                    Usage::Unknown => UsageCheck::Unknown,
                    Usage::Never => UsageCheck::Never,
                    Usage::AtLimit => UsageCheck::Recent {
                        days: i64::from(limit),
                    },
                    Usage::PastLimit => UsageCheck::Unused {
                        days: i64::from(limit),
                    },
                    Usage::Recent => UsageCheck::Recent { days: 0 },
                };
                assert_eq!(a.checks.usage, expected, "{what}");
                assert_eq!(
                    a.checks.usage.known_unused(),
                    matches!(u, Usage::Never | Usage::PastLimit),
                    "{what}"
                );

                // Unknown usage is a gap, in the checks and in the record's gaps.
                let unknown = u == Usage::Unknown;
                assert_eq!(
                    has(&a.checks.gaps, "usage unknown"),
                    unknown,
                    "{what}: {:?}",
                    a.checks.gaps
                );
                assert_eq!(
                    has(&a.gaps(), "checks: usage unknown"),
                    unknown,
                    "{what}: {:?}",
                    a.gaps()
                );
                assert_eq!(
                    a.checks.usage.describe().contains("unknown"),
                    unknown,
                    "{what}"
                );

                // The tier: rotate is bounded by hot reload whatever the
                // usage; every other kind needs the identity known unused.
                let want = match (kind, u) {
                    (ActionKind::Rotate, _) => Tier::Low,
                    (_, Usage::Never | Usage::PastLimit) => Tier::Low,
                    _ => Tier::Medium,
                };
                assert_eq!(a.tier, want, "{what}: {:?}", a.tier_reasons);
                match (kind, u) {
                    (ActionKind::Rotate, _) => {}
                    (_, Usage::Unknown) => assert!(
                        has(
                            &a.tier_reasons,
                            &format!(
                                "usage unknown: {} needs the identity known unused",
                                kind.as_str()
                            )
                        ),
                        "{what}: {:?}",
                        a.tier_reasons
                    ),
                    (_, Usage::AtLimit | Usage::Recent) => assert!(
                        has(&a.tier_reasons, "still in use"),
                        "{what}: {:?}",
                        a.tier_reasons
                    ),
                    _ => {}
                }
                // Approve follows the tier.
                let approve = a.verdict(Action::Approve).expect("approve offered");
                assert_eq!(approve.allowed, want == Tier::Low, "{what}");
            }
        }
    }
}

#[test]
fn unknown_usage_reads_as_unknown_not_never_from_the_case_format() {
    // null, absent and "never" in a case file: the wire form of the rule.
    let mut v = serde_json::to_value(base()).unwrap();
    for (json, want) in [
        (serde_json::Value::Null, UsageCheck::Unknown),
        (serde_json::json!("never"), UsageCheck::Never),
    ] {
        v["identity"]["last_used_at"] = json.clone();
        let c: Case = serde_json::from_value(v.clone()).unwrap();
        let a = assess(&c, &CaseStatus::pending(), &Policy::default(), NOW);
        assert_eq!(a.checks.usage, want, "{json}");
    }
    v["identity"]
        .as_object_mut()
        .unwrap()
        .remove("last_used_at");
    let c: Case = serde_json::from_value(v).unwrap();
    let a = assess(&c, &CaseStatus::pending(), &Policy::default(), NOW);
    assert_eq!(a.checks.usage, UsageCheck::Unknown);
    assert_eq!(a.tier, Tier::Medium, "{:?}", a.tier_reasons);
}

#[test]
fn less_usage_data_never_lowers_the_tier() {
    // For each kind and each known usage, the same case with the usage
    // unknown is at least as high a tier: less data is never easier.
    let variants: Vec<Case> = vec![
        base(),
        high(),
        with(|c| c.dependencies.as_mut().unwrap().verified_at = Some(NOW - days(30))),
        with(|c| c.action.as_mut().unwrap().hot_reload = None),
        with(|c| c.action.as_mut().unwrap().verifiable = None),
    ];
    for v in &variants {
        for kind in KINDS {
            let mut unknown = v.clone();
            unknown.action.as_mut().unwrap().kind = kind;
            unknown.identity.last_used_at = LastUsed::Unknown;
            let t_unknown = assess(&unknown, &CaseStatus::pending(), &Policy::default(), NOW).tier;
            for u in [
                Usage::Never,
                Usage::AtLimit,
                Usage::PastLimit,
                Usage::Recent,
            ] {
                let mut known = unknown.clone();
                known.identity.last_used_at = usage_value(u, 90, NOW);
                let t_known = assess(&known, &CaseStatus::pending(), &Policy::default(), NOW).tier;
                assert!(
                    t_unknown >= t_known,
                    "{kind:?}: unknown usage is {t_unknown:?} but {u:?} is {t_known:?}"
                );
            }
        }
    }
}

#[test]
fn a_use_dated_in_the_future_is_recent_not_unused() {
    let c = with(|c| c.identity.last_used_at = LastUsed::At(NOW + days(3)));
    let a = assess(&c, &CaseStatus::pending(), &Policy::default(), NOW);
    assert!(
        matches!(a.checks.usage, UsageCheck::Recent { .. }),
        "{:?}",
        a.checks.usage
    );
    assert_eq!(a.tier, Tier::Medium);
}

// ====================================================== separation of duties

const LOOK_ALIKES: [&str; 5] = ["alice ", "Alice", "ALICE", "alice\u{200b}", "\u{0430}lice"];

#[test]
fn look_alike_names_cannot_leave_alices_escalation() {
    for action in [Action::Approve, Action::Quarantine, Action::Close] {
        for case in [base(), high()] {
            let s = escalated_by("alice");
            for name in LOOK_ALIKES {
                let by_name = validate_name(name);
                let checked = decide(&case, &s, &decision(action, REASON), name);
                // Refused everywhere: either the name itself or the decision.
                assert!(
                    by_name.is_err() || checked.is_err(),
                    "{action} by {name:?} after alice escalated was allowed: {checked:?}"
                );
                if by_name.is_ok() {
                    refused_with(checked, "separation of duties");
                    assert!(same_reviewer("alice", name), "{name:?}");
                }
            }
            // Names that could hide a difference are refused as names.
            for name in ["alice ", "alice\u{200b}", " alice", "al\u{202e}ice"] {
                assert!(validate_name(name).is_err(), "{name:?} is a valid name");
            }
            // Plain look-alikes are valid names, kept apart by normalisation.
            for name in ["Alice", "ALICE", "\u{0430}lice"] {
                assert!(validate_name(name).is_ok(), "{name:?}");
            }

            // The escalator herself.
            refused_with(
                decide(&case, &s, &decision(action, REASON), "alice"),
                "separation of duties",
            );

            // Someone else may.
            let t = decide(&case, &s, &decision(action, REASON), "bob")
                .unwrap_or_else(|r| panic!("{action} by bob: {r}"));
            assert_eq!(t.escalated_by.as_deref(), Some("alice"));
            assert!(!t.shared_os_account);
            assert_eq!(t.state_before, s.state);
            match action {
                Action::Approve => assert_eq!(t.state_after, CaseState::Approved),
                Action::Close => assert_eq!(t.state_after, CaseState::Closed),
                _ => assert_eq!(
                    t.state_after,
                    CaseState::Quarantined {
                        until: NOW + hours(72)
                    }
                ),
            }
        }
    }
}

#[test]
fn look_alikes_of_the_escalator_are_refused_when_she_has_an_unusual_spelling() {
    // The escalator spelled with capitals; her lower-case and Cyrillic
    // spellings are still her.
    let s = escalated_by("Alice");
    for name in ["alice", "ALICE", "\u{0430}lice", "\u{FF41}lice"] {
        refused_with(
            decide(&base(), &s, &decision(Action::Approve, REASON), name),
            "separation of duties",
        );
    }
    assert!(decide(&base(), &s, &decision(Action::Approve, REASON), "alicia").is_ok());
}

#[test]
fn the_escalators_close_is_refused() {
    let s = escalated_by("alice");
    let r = refused_with(
        decide(&base(), &s, &decision(Action::Close, REASON), "alice"),
        "separation of duties",
    );
    assert_eq!(r.action, Action::Close);
    assert!(r.to_string().contains("alice"), "{r}");
    let t = decide(&base(), &s, &decision(Action::Close, REASON), "carol").unwrap();
    assert_eq!(t.state_after, CaseState::Closed);
    assert_eq!(t.escalated_by.as_deref(), Some("alice"));
}

#[test]
fn precheck_refuses_the_escalator_before_any_justification_is_typed() {
    let s = escalated_by("alice");
    let c = base();
    let p = Policy::default();
    let a = assess(&c, &s, &p, NOW);
    let empty = decision(Action::Approve, "");
    let r = precheck(&c, &s, &a, &empty, &reviewer("ALICE"), &p, NOW);
    refused_with(r, "separation of duties");
    // bob gets through the precheck with no text yet, and is then refused
    // only for the justification.
    assert!(precheck(&c, &s, &a, &empty, &reviewer("bob"), &p, NOW).is_ok());
    refused_with(
        check_decision(&c, &s, &a, &empty, &reviewer("bob"), &p, NOW),
        "visible characters",
    );
}

#[test]
fn the_same_os_account_under_another_name_is_not_a_second_person() {
    let c = base();
    let s = CaseStatus {
        escalated_by_os: Some(os(1000)),
        ..escalated_by("alice")
    };
    let strict = Policy::default();
    assert!(
        !strict.allow_shared_os_accounts,
        "the default must be strict"
    );
    for action in [Action::Approve, Action::Quarantine, Action::Close] {
        let d = decision(action, REASON);
        // bob on alice's OS account: refused, naming the policy key.
        let r = refused_with(
            decide_as(&c, &s, &d, &reviewer_os("bob", 1000), &strict, NOW),
            "separation of duties",
        );
        assert!(
            has(&r.reasons, "allow_shared_os_accounts"),
            "{:?}",
            r.reasons
        );
        // bob on his own account: allowed, nothing shared.
        let t = decide_as(&c, &s, &d, &reviewer_os("bob", 1001), &strict, NOW).unwrap();
        assert!(!t.shared_os_account);
        // bob with no OS account known (the API): the name decides.
        let t = decide_as(&c, &s, &d, &reviewer("bob"), &strict, NOW).unwrap();
        assert!(!t.shared_os_account);

        // A policy that allows shared accounts: allowed, and flagged.
        let shared = Policy {
            allow_shared_os_accounts: true,
            ..Policy::default()
        };
        let t = decide_as(&c, &s, &d, &reviewer_os("bob", 1000), &shared, NOW).unwrap();
        assert!(t.shared_os_account, "{action}: the record must say so");
        assert_eq!(t.escalated_by.as_deref(), Some("alice"));
        // Shared accounts never let alice be her own second person.
        for name in ["alice", "Alice"] {
            refused_with(
                decide_as(&c, &s, &d, &reviewer_os(name, 1000), &shared, NOW),
                "separation of duties",
            );
            refused_with(
                decide_as(&c, &s, &d, &reviewer_os(name, 1001), &shared, NOW),
                "separation of duties",
            );
        }
    }
}

// ===================================================== quarantine → revoke

#[test]
fn revoke_needs_the_minimum_observation_period() {
    let c = with(|c| c.identity.last_used_at = LastUsed::Never);
    let d = decision(Action::Revoke, REASON);
    let p = Policy::default();
    assert_eq!(p.quarantine_min_observation_hours, 24);

    // 14 seconds after quarantine: refused, naming the period.
    let s = quarantined_by("alice", NOW - secs(14));
    let r = refused_with(decide(&c, &s, &d, "bob"), "observed for 0h");
    assert!(has(&r.reasons, "24h"), "{:?}", r.reasons);
    // One second short of the period: refused.
    let s = quarantined_by("alice", NOW - hours(24) + secs(1));
    refused_with(decide(&c, &s, &d, "bob"), "observed");
    // Exactly the period: allowed.
    let s = quarantined_by("alice", NOW - hours(24));
    let t = decide(&c, &s, &d, "bob").unwrap();
    assert_eq!(t.state_after, CaseState::Revoked);
    assert_eq!(t.quarantined_by.as_deref(), Some("alice"));
    // A stricter policy: 48 hours.
    let strict = Policy {
        quarantine_min_observation_hours: 48,
        ..Policy::default()
    };
    let s = quarantined_by("alice", NOW - hours(47));
    refused_with(decide_as(&c, &s, &d, &reviewer("bob"), &strict, NOW), "48h");
    // The verdict says so before anyone decides.
    let s = quarantined_by("alice", NOW - hours(2));
    let a = assess(&c, &s, &p, NOW);
    let v = a.verdict(Action::Revoke).expect("revoke offered");
    assert!(!v.allowed, "{v:?}");
    // No start on record: refused rather than assumed long enough.
    let s = CaseStatus {
        quarantined_at: None,
        ..quarantined_by("alice", NOW)
    };
    refused_with(decide(&c, &s, &d, "bob"), "not on record");
}

#[test]
fn revoke_is_refused_when_usage_is_unknown() {
    let c = with(|c| c.identity.last_used_at = LastUsed::Unknown);
    let s = quarantined_by("alice", NOW - days(10));
    let r = refused_with(
        decide(&c, &s, &decision(Action::Revoke, REASON), "bob"),
        "usage unknown",
    );
    assert_eq!(r.action, Action::Revoke);
    // The same quarantine with known usage passes.
    let c = with(|c| c.identity.last_used_at = LastUsed::Never);
    assert!(decide(&c, &s, &decision(Action::Revoke, REASON), "bob").is_ok());
}

#[test]
fn revoke_is_refused_when_the_identity_was_used_after_the_quarantine_began() {
    let start = NOW - days(3);
    let s = quarantined_by("alice", start);
    let d = decision(Action::Revoke, REASON);
    // A use one second after the episode began.
    let used = with(|c| c.identity.last_used_at = LastUsed::At(start + secs(1)));
    let a = assess(&used, &s, &Policy::default(), NOW);
    assert!(a.used_during_quarantine);
    refused_with(decide(&used, &s, &d, "bob"), "used during quarantine");
    // A use before the episode (still recent): no use seen during it.
    let before = with(|c| c.identity.last_used_at = LastUsed::At(start - secs(1)));
    assert!(!assess(&before, &s, &Policy::default(), NOW).used_during_quarantine);
    assert!(decide(&before, &s, &d, "bob").is_ok());
    // A use on record from an earlier decision counts, whatever the case says now.
    let on_record = CaseStatus {
        used_during_quarantine: true,
        ..s.clone()
    };
    let never = with(|c| c.identity.last_used_at = LastUsed::Never);
    refused_with(
        decide(&never, &on_record, &d, "bob"),
        "used during quarantine",
    );
    // Only a break-glass override gets past it, and only where allowed.
    let long = "x".repeat(100);
    let forced = Decision {
        override_: true,
        justification: long.clone(),
        ..d.clone()
    };
    refused_with(
        decide(&never, &on_record, &forced, "bob"),
        "break-glass override is disabled",
    );
    let glass = Policy {
        allow_break_glass: true,
        ..Policy::default()
    };
    let t = decide_as(&never, &on_record, &forced, &reviewer("bob"), &glass, NOW).unwrap();
    assert!(t.override_used);
}

#[test]
fn tier_high_revoke_needs_someone_other_than_the_quarantiner() {
    let c = with(|c| {
        *c = high();
        c.identity.last_used_at = LastUsed::Never;
    });
    let s = quarantined_by("alice", NOW - days(2));
    assert_eq!(assess(&c, &s, &Policy::default(), NOW).tier, Tier::High);
    let d = decision(Action::Revoke, REASON);
    for name in ["alice", "Alice", "ALICE", "\u{0430}lice"] {
        refused_with(decide(&c, &s, &d, name), "separation of duties");
    }
    let t = decide(&c, &s, &d, "bob").unwrap();
    assert_eq!(t.state_after, CaseState::Revoked);
    assert_eq!(t.quarantined_by.as_deref(), Some("alice"));

    // Same OS account under another name: refused unless the policy allows it.
    let s_os = CaseStatus {
        quarantined_by_os: Some(os(1000)),
        ..s.clone()
    };
    refused_with(
        decide_as(
            &c,
            &s_os,
            &d,
            &reviewer_os("bob", 1000),
            &Policy::default(),
            NOW,
        ),
        "same OS account",
    );
    let shared = Policy {
        allow_shared_os_accounts: true,
        ..Policy::default()
    };
    let t = decide_as(&c, &s_os, &d, &reviewer_os("bob", 1000), &shared, NOW).unwrap();
    assert!(t.shared_os_account);

    // Below tier high the quarantiner may revoke her own quarantine.
    let low = with(|c| c.identity.last_used_at = LastUsed::Never);
    assert!(decide(&low, &s, &d, "alice").is_ok());
}

/// A record of `t` as the store would seal it (hashes left empty: replay
/// does not read them).
#[allow(clippy::too_many_arguments)]
fn record_of(
    seq: u64,
    ts: OffsetDateTime,
    case: &Case,
    who: &Reviewer,
    d: &Decision,
    t: &Transition,
    a: &Assessment,
    policy: &Policy,
    version: u64,
) -> EvidenceRecord {
    EvidenceRecord {
        seq,
        id: uuid::Uuid::nil(),
        ts,
        case_id: case.id.clone(),
        case_sha256: Some(case.content_sha256()),
        identity_id: case.identity.id.clone(),
        reviewer: who.clone(),
        action: d.action,
        justification: d.justification.trim().to_string(),
        quarantine_until: match t.state_after {
            CaseState::Quarantined { until } => Some(until),
            _ => None,
        },
        escalate_to: match &t.state_after {
            CaseState::Escalated { to } => Some(to.clone()),
            _ => None,
        },
        override_: t.override_used,
        escalated_by: t.escalated_by.clone(),
        quarantined_by: t.quarantined_by.clone(),
        shared_os_account: t.shared_os_account,
        idempotency_key: None,
        request_sha256: None,
        readiness: ReadinessSummary {
            q1: a.q1.status,
            q2: a.q2.status,
            q3: a.q3.status,
            tier: a.tier,
            recommendation: a.recommendation,
            gaps: a.gaps(),
        },
        used_during_quarantine: a.used_during_quarantine,
        policy: policy.reference(),
        case_version: version,
        state_before: t.state_before.clone(),
        state_after: t.state_after.clone(),
        controls: vec![],
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// Decides at `now` on the status `replay` holds and, when allowed, applies
/// the record the store would write.
fn step(
    replay: &mut Replay,
    case: &Case,
    d: &Decision,
    who: &Reviewer,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<Transition, Refusal> {
    let s = replay.statuses.get(&case.id).cloned().unwrap_or_default();
    let a = assess(case, &s, policy, now);
    let d = Decision {
        expected_version: s.version,
        ..d.clone()
    };
    let t = check_decision(case, &s, &a, &d, who, policy, now)?;
    let seq = replay.last_seq() + 1;
    replay.apply(record_of(
        seq, now, case, who, &d, &t, &a, policy, s.version,
    ));
    Ok(t)
}

#[test]
fn extending_a_quarantine_keeps_its_start_and_the_use_seen_in_it() {
    let p = Policy::default();
    let t0 = NOW - days(3);
    let never = with(|c| c.identity.last_used_at = LastUsed::Never);
    let mut replay = Replay::default();
    let q = Decision {
        quarantine_hours: Some(48),
        ..decision(Action::Quarantine, REASON)
    };
    step(&mut replay, &never, &q, &reviewer("alice"), &p, t0).unwrap();
    let s = replay.statuses["CASE-T"].clone();
    assert_eq!(s.quarantined_at, Some(t0));
    assert_eq!(s.quarantined_by.as_deref(), Some("alice"));
    assert!(!s.used_during_quarantine);

    // The identity is used an hour later; the pipeline says so.
    let used = with(|c| c.identity.last_used_at = LastUsed::At(t0 + hours(1)));
    // Extended two hours in, by someone else: the start stays, the use is kept.
    step(&mut replay, &used, &q, &reviewer("bob"), &p, t0 + hours(2)).unwrap();
    let s = replay.statuses["CASE-T"].clone();
    assert_eq!(
        s.quarantined_at,
        Some(t0),
        "an extension moved the episode start"
    );
    assert_eq!(s.quarantined_by.as_deref(), Some("alice"));
    assert!(
        s.used_during_quarantine,
        "the use seen at the extension was lost"
    );
    assert_eq!(
        s.state,
        CaseState::Quarantined {
            until: t0 + hours(50)
        }
    );

    // Extended again once the pipeline no longer reports the use (the case
    // file now says "never"): the use stays on record.
    step(
        &mut replay,
        &never,
        &q,
        &reviewer("alice"),
        &p,
        t0 + hours(30),
    )
    .unwrap();
    let s = replay.statuses["CASE-T"].clone();
    assert_eq!(s.quarantined_at, Some(t0));
    assert!(s.used_during_quarantine);

    // Revoke long after the observation period: refused for the use.
    let r = step(
        &mut replay,
        &never,
        &decision(Action::Revoke, REASON),
        &reviewer("carol"),
        &p,
        t0 + hours(40),
    );
    refused_with(r, "used during quarantine");

    // Restore ends the episode; a fresh quarantine starts clean.
    step(
        &mut replay,
        &never,
        &decision(Action::Restore, REASON),
        &reviewer("carol"),
        &p,
        t0 + hours(41),
    )
    .unwrap();
    assert!(!replay.statuses["CASE-T"].used_during_quarantine);
}

#[test]
fn an_extension_made_before_any_use_does_not_reset_the_observation_period() {
    // Quarantine at t0, extend at t0 + 20h: revoke at t0 + 25h is past the
    // 24h observation counted from t0 (extensions do not restart it), and a
    // constructed status with the original start says the same.
    let p = Policy::default();
    let t0 = NOW - days(2);
    let never = with(|c| c.identity.last_used_at = LastUsed::Never);
    let mut replay = Replay::default();
    let q = decision(Action::Quarantine, REASON);
    step(&mut replay, &never, &q, &reviewer("alice"), &p, t0).unwrap();
    step(
        &mut replay,
        &never,
        &q,
        &reviewer("alice"),
        &p,
        t0 + hours(20),
    )
    .unwrap();
    assert_eq!(replay.statuses["CASE-T"].quarantined_at, Some(t0));
    let t = step(
        &mut replay,
        &never,
        &decision(Action::Revoke, REASON),
        &reviewer("bob"),
        &p,
        t0 + hours(25),
    )
    .unwrap();
    assert_eq!(t.state_after, CaseState::Revoked);
    assert_eq!(t.quarantined_by.as_deref(), Some("alice"));

    // The constructed form: the status of an extended quarantine keeps the
    // original start and the flag; revoke stays refused.
    let s = CaseStatus {
        used_during_quarantine: true,
        version: 3,
        ..quarantined_by("alice", t0)
    };
    refused_with(
        decide(&never, &s, &decision(Action::Revoke, REASON), "bob"),
        "used during quarantine",
    );
}

// ============================================================ justification

#[test]
fn invisible_characters_do_not_count_toward_the_justification() {
    let zw = "\u{200b}".repeat(20);
    let count = JustificationCount::of(&zw);
    assert_eq!(count.visible, 0);
    assert_eq!(count.invisible, 20);
    let r = refused_with(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Approve, &zw),
            "alice",
        ),
        "at least 20 visible characters (got 0",
    );
    assert!(has(&r.reasons, "20 invisible"), "{:?}", r.reasons);
    assert!(has(&r.reasons, "not counted"), "{:?}", r.reasons);

    // Other format characters: soft hyphens, bidi marks, joiners.
    let mixed = "\u{00ad}\u{200e}\u{200d}\u{2060}\u{feff}".repeat(8);
    let r = refused_with(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Quarantine, &mixed),
            "alice",
        ),
        "got 0",
    );
    assert!(has(&r.reasons, "40 invisible"), "{:?}", r.reasons);

    // 19 visible characters padded with zero-width spaces: still 19.
    let padded: String = "abcdefghijklmnopqrs"
        .chars()
        .flat_map(|c| [c, '\u{200b}'])
        .collect();
    refused_with(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Approve, &padded),
            "alice",
        ),
        "got 19",
    );
}

/// Characters that render as nothing, or as a blank, without being
/// whitespace, control or format (Cf): Unicode's default-ignorable fillers,
/// joiners and variation selectors (Lo, Mn), and the blank Braille pattern.
const BLANKS: [(char, &str); 8] = [
    ('\u{3164}', "HANGUL FILLER"),
    ('\u{115F}', "HANGUL CHOSEONG FILLER"),
    ('\u{FFA0}', "HALFWIDTH HANGUL FILLER"),
    ('\u{034F}', "COMBINING GRAPHEME JOINER"),
    ('\u{FE0F}', "VARIATION SELECTOR-16"),
    ('\u{E0100}', "VARIATION SELECTOR-17"),
    ('\u{17B4}', "KHMER VOWEL INHERENT AQ"),
    ('\u{2800}', "BRAILLE PATTERN BLANK"),
];

#[test]
fn characters_that_render_blank_do_not_count_toward_the_justification() {
    // Issue 7, fault 8: "an invisible justification counts". A box of 30
    // Hangul fillers looks exactly as empty as 20 zero-width spaces.
    let mut counted = Vec::new();
    for (c, what) in BLANKS {
        let text: String = std::iter::repeat_n(c, 30).collect();
        let r = decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Approve, &text),
            "alice",
        );
        if r.is_ok() || JustificationCount::of(&text).visible != 0 {
            counted.push(format!(
                "U+{:04X} {what}: visible {}, decision {}",
                c as u32,
                JustificationCount::of(&text).visible,
                if r.is_ok() { "allowed" } else { "refused" }
            ));
        }
    }
    assert!(
        counted.is_empty(),
        "blank characters counted as visible:\n{}",
        counted.join("\n")
    );
}

#[test]
fn reviewer_names_padded_with_blank_characters_are_the_same_reviewer() {
    // Issue 7, fault 4: renaming oneself with an invisible character. The
    // default-ignorable fillers are dropped by the confusable skeleton; a
    // blank Braille pattern must not make a second person either.
    let s = escalated_by("alice");
    let mut passed = Vec::new();
    for (c, what) in BLANKS {
        for name in [
            format!("alice{c}"),
            format!("{c}alice"),
            format!("al{c}ice"),
        ] {
            let allowed = validate_name(&name).is_ok()
                && decide(&base(), &s, &decision(Action::Approve, REASON), &name).is_ok();
            if allowed {
                passed.push(format!(
                    "{name:?} (U+{:04X} {what}): identity key {:?}",
                    c as u32,
                    nhi_triage::model::identity_key(&name)
                ));
            }
        }
    }
    assert!(
        passed.is_empty(),
        "approved alice's escalation as another reviewer:\n{}",
        passed.join("\n")
    );
}

#[test]
fn whitespace_padding_does_not_count_toward_the_justification() {
    let padded = format!("{}fix it{}", " ".repeat(30), "\t\n ".repeat(10));
    let count = JustificationCount::of(&padded);
    assert_eq!(count.visible, 5);
    let r = refused_with(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Approve, &padded),
            "alice",
        ),
        "(got 5",
    );
    assert!(
        !has(&r.reasons, "not counted"),
        "nothing invisible: {:?}",
        r.reasons
    );
    // Spaces between words are not counted either.
    let spaced = "a b c d e f g h i j k l m n o p q r s";
    refused_with(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Approve, spaced),
            "alice",
        ),
        "(got 19",
    );
    // 20 visible characters is enough.
    let twenty = "a b c d e f g h i j k l m n o p q r s t";
    assert_eq!(JustificationCount::of(twenty).visible, 20);
    assert!(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Approve, twenty),
            "alice"
        )
        .is_ok()
    );
}

#[test]
fn a_justification_over_the_limit_is_refused() {
    assert_eq!(MAX_JUSTIFICATION_CHARS, 10_000);
    let long = "x".repeat(10_001);
    refused_with(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Approve, &long),
            "alice",
        ),
        "10001 characters",
    );
    let max = "x".repeat(10_000);
    assert!(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Approve, &max),
            "alice"
        )
        .is_ok()
    );
    // The check is the same in the precheck's sibling: precheck ignores text.
    let p = Policy::default();
    let a = assess(&base(), &CaseStatus::pending(), &p, NOW);
    assert!(
        precheck(
            &base(),
            &CaseStatus::pending(),
            &a,
            &decision(Action::Approve, &long),
            &reviewer("alice"),
            &p,
            NOW
        )
        .is_ok()
    );
}

// ============================================================ escalation

#[test]
fn escalation_without_a_known_owner_team_goes_to_the_default_team() {
    let p = Policy {
        default_escalation_team: "sec-oncall".into(),
        ..Policy::default()
    };
    let unknown_basis = with(|c| {
        let o = c.owner.as_mut().unwrap();
        o.basis = OwnerBasis::Unknown;
        o.team = Some("unknown".into());
    });
    let no_team = with(|c| c.owner.as_mut().unwrap().team = None);
    let blank_team = with(|c| c.owner.as_mut().unwrap().team = Some("   ".into()));
    let no_owner = with(|c| c.owner = None);
    for (what, c) in [
        ("basis unknown", &unknown_basis),
        ("no team", &no_team),
        ("blank team", &blank_team),
        ("no owner", &no_owner),
    ] {
        assert_eq!(
            escalation_target(c, None, &p).as_deref(),
            Ok("sec-oncall"),
            "{what}"
        );
        let t = decide_as(
            c,
            &CaseStatus::pending(),
            &decision(Action::Escalate, REASON),
            &reviewer("alice"),
            &p,
            NOW,
        )
        .unwrap_or_else(|r| panic!("{what}: {r}"));
        assert_eq!(
            t.state_after,
            CaseState::Escalated {
                to: "sec-oncall".into()
            },
            "{what}"
        );
    }
    // A known owner team is used; an inferred one is still known.
    assert_eq!(escalation_target(&base(), None, &p).as_deref(), Ok(TEAM));
    let inferred = with(|c| c.owner.as_mut().unwrap().basis = OwnerBasis::Inferred);
    assert_eq!(escalation_target(&inferred, None, &p).as_deref(), Ok(TEAM));
    // A requested team wins.
    assert_eq!(
        escalation_target(&unknown_basis, Some("platform-sec"), &p).as_deref(),
        Ok("platform-sec")
    );
    // The default policy's team.
    assert_eq!(
        escalation_target(&no_owner, None, &Policy::default()).as_deref(),
        Ok("security-review")
    );
}

// ============================================================ policy bounds

fn policy_error(toml: &str) -> String {
    match Policy::from_toml(toml, Path::new("policy.toml")) {
        Ok(p) => panic!("{toml:?} was accepted: {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_quarantine_of_a_hundred_million_hours_is_refused_naming_the_key() {
    let err = policy_error("quarantine_max_hours = 100000000\n");
    assert!(err.contains("quarantine_max_hours"), "{err}");
    assert!(err.contains("policy.toml"), "{err}");
}

#[test]
fn every_numeric_policy_key_is_bounded() {
    let cases: &[(&str, &[i64])] = &[
        ("dependency_map_max_age_days", &[3651, 100_000_000]),
        ("owner_verified_max_age_days", &[3651, 100_000_000]),
        ("rollback_tested_max_age_days", &[3651, 100_000_000]),
        ("unused_after_days", &[0, 3651, 100_000_000]),
        ("max_restore_minutes", &[10_081, 100_000_000]),
        ("quarantine_max_hours", &[0, 8785, 100_000_000]),
        ("quarantine_default_hours", &[0, 8785, 100_000_000]),
        ("quarantine_min_observation_hours", &[8785, 100_000_000]),
        ("justification_min_chars", &[0, 10_001, 100_000_000]),
        ("break_glass_min_chars", &[0, 10_001, 100_000_000]),
    ];
    for (key, values) in cases {
        for v in *values {
            // For the hours keys, raise the maximum to its bound so only the
            // value under test is out of range.
            let text = if *key == "quarantine_default_hours" {
                format!("quarantine_max_hours = 8784\n{key} = {v}\n")
            } else {
                format!("{key} = {v}\n")
            };
            let err = policy_error(&text);
            assert!(err.contains(key), "{key} = {v}: {err}");
        }
        // Out of u32 entirely, and negative: refused naming the key, no panic.
        for v in ["-1", "5000000000"] {
            let err = policy_error(&format!("{key} = {v}\n"));
            assert!(err.contains(key), "{key} = {v}: {err}");
        }
    }
    // Every bound itself is accepted.
    let edge = "dependency_map_max_age_days = 3650\n\
                owner_verified_max_age_days = 3650\n\
                rollback_tested_max_age_days = 3650\n\
                unused_after_days = 3650\n\
                max_restore_minutes = 10080\n\
                quarantine_max_hours = 8784\n\
                quarantine_default_hours = 8784\n\
                quarantine_min_observation_hours = 8784\n\
                justification_min_chars = 10000\n\
                break_glass_min_chars = 10000\n";
    let p = Policy::from_toml(edge, Path::new("policy.toml")).unwrap();
    assert_eq!(p.quarantine_max_hours, 8784);
    let low = "unused_after_days = 1\nquarantine_max_hours = 1\nquarantine_default_hours = 1\n\
               justification_min_chars = 1\nbreak_glass_min_chars = 1\n\
               quarantine_min_observation_hours = 0\ndependency_map_max_age_days = 0\n";
    assert!(Policy::from_toml(low, Path::new("policy.toml")).is_ok());
    // The new keys exist with their documented defaults.
    let d = Policy::from_toml("", Path::new("policy.toml")).unwrap();
    assert_eq!(d.quarantine_min_observation_hours, 24);
    assert!(!d.allow_shared_os_accounts);
    let err = policy_error("allow_shared_os_accounts = \"yes\"\n");
    assert!(err.contains("allow_shared_os_accounts"), "{err}");
}

#[test]
fn huge_quarantine_requests_are_refused_without_panicking() {
    let p = Policy::from_toml(
        "quarantine_max_hours = 8784\nquarantine_default_hours = 8784\n",
        Path::new("policy.toml"),
    )
    .unwrap();
    for h in [80_000_000u32, 8785, u32::MAX, 0] {
        let d = Decision {
            quarantine_hours: Some(h),
            ..decision(Action::Quarantine, REASON)
        };
        let r = decide_as(
            &base(),
            &CaseStatus::pending(),
            &d,
            &reviewer("alice"),
            &p,
            NOW,
        );
        refused_with(r, "quarantine hours must be between 1 and 8784");
        assert!(quarantine_hours(Some(h), &p).is_err(), "{h}");
    }
    assert_eq!(quarantine_hours(Some(8784), &p), Ok(8784));
    assert_eq!(quarantine_hours(None, &Policy::default()), Ok(72));

    // At the end of time the longest allowed quarantine would overflow the
    // calendar: refused with a reason, never a panic.
    let late = datetime!(9999-12-31 00:00 UTC);
    let d = Decision {
        quarantine_hours: Some(8784),
        ..decision(Action::Quarantine, REASON)
    };
    let r = decide_as(
        &base(),
        &CaseStatus::pending(),
        &d,
        &reviewer("alice"),
        &p,
        late,
    );
    assert!(r.is_err(), "{r:?}");
    // Revoke checks near the end of time compute without panicking.
    let s = CaseStatus {
        quarantined_at: Some(late - hours(1)),
        quarantined_by: Some("alice".into()),
        ..status(CaseState::Quarantined {
            until: datetime!(9999-12-31 23:00 UTC),
        })
    };
    let strict = Policy {
        quarantine_min_observation_hours: 8784,
        ..p.clone()
    };
    let never = with(|c| c.identity.last_used_at = LastUsed::Never);
    assert!(
        decide_as(
            &never,
            &s,
            &decision(Action::Revoke, REASON),
            &reviewer("bob"),
            &strict,
            late
        )
        .is_err()
    );
}

// ====================================================== property: no path

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
                    quarantine_min_observation_hours: min_obs,
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
            os_account: UIDS[st.uid].map(os),
            ..reviewer(WHO[st.who])
        };
        let s = replay.statuses.get(&case.id).cloned().unwrap_or_default();
        let a = assess_at(case, &s, policy, now);
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
