//! Decision safety (issue 7) in the pure policy: unknown usage is never
//! "unused", separation of duties compares people rather than spellings or
//! OS accounts, and quarantine episodes keep their start and any use seen.
//! Justifications, escalation targets and the policy file's bounds are in
//! tests/decision_policy_bounds.rs; the property test over random cases,
//! policies and decision sequences is tests/decision_policy_property.rs.
//!
//! Every case starts from `base()`, tier low at `NOW` (tests/common/policy.rs,
//! shared with tests/policy_rules.rs), and changes what the test is about.

use crate::common;

use nhi_triage::model::{
    Action, ActionKind, Case, CaseState, CaseStatus, Decision, DependencyNode, LastUsed, Level,
    same_reviewer, validate_name,
};
use nhi_triage::policy::{
    Policy, Refusal, Tier, Transition, UsageCheck, assess, check_decision, precheck,
};
use nhi_triage::store::replay::Replay;
use time::OffsetDateTime;

use common::policy::{
    ID, NOW, REASON, base, days, decide, decide_as, decision, escalated_by, has, hours, node,
    record_of, refused_with, secs, status, with,
};
use common::{os_account, reviewer, reviewer_os};

const KINDS: [ActionKind; 5] = [
    ActionKind::Rotate,
    ActionKind::Revoke,
    ActionKind::Disable,
    ActionKind::Delete,
    ActionKind::ReduceScope,
];

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
        escalated_by_os: Some(os_account(1000)),
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
        quarantined_by_os: Some(os_account(1000)),
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

/// Decides as `who` at `now` on the status `replay` holds and, when
/// allowed, applies the record the store would write.
fn step(
    replay: &mut Replay,
    case: &Case,
    d: &Decision,
    who: &str,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<Transition, Refusal> {
    let who = &reviewer(who);
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
    step(&mut replay, &never, &q, "alice", &p, t0).unwrap();
    let s = replay.statuses["CASE-T"].clone();
    assert_eq!(s.quarantined_at, Some(t0));
    assert_eq!(s.quarantined_by.as_deref(), Some("alice"));
    assert!(!s.used_during_quarantine);

    // The identity is used an hour later; the pipeline says so.
    let used = with(|c| c.identity.last_used_at = LastUsed::At(t0 + hours(1)));
    // Extended two hours in, by someone else: the start stays, the use is kept.
    step(&mut replay, &used, &q, "bob", &p, t0 + hours(2)).unwrap();
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
    step(&mut replay, &never, &q, "alice", &p, t0 + hours(30)).unwrap();
    let s = replay.statuses["CASE-T"].clone();
    assert_eq!(s.quarantined_at, Some(t0));
    assert!(s.used_during_quarantine);

    // Revoke long after the observation period: refused for the use.
    let r = step(
        &mut replay,
        &never,
        &decision(Action::Revoke, REASON),
        "carol",
        &p,
        t0 + hours(40),
    );
    refused_with(r, "used during quarantine");

    // Restore ends the episode; a fresh quarantine starts clean.
    step(
        &mut replay,
        &never,
        &decision(Action::Restore, REASON),
        "carol",
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
    step(&mut replay, &never, &q, "alice", &p, t0).unwrap();
    step(&mut replay, &never, &q, "alice", &p, t0 + hours(20)).unwrap();
    assert_eq!(replay.statuses["CASE-T"].quarantined_at, Some(t0));
    let t = step(
        &mut replay,
        &never,
        &decision(Action::Revoke, REASON),
        "bob",
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
