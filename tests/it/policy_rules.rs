//! The decision policy of DESIGN.md, one test per rule and per boundary.
//!
//! Every test starts from `base()`, a case that is tier low at `NOW`, and
//! changes one thing (tests/common/policy.rs).

use crate::common;

use std::cmp::Ordering;
use std::path::Path;

use nhi_triage::model::{
    Action, ActionKind, Case, CaseState, CaseStatus, ChangeWindow, Decision, Dependencies,
    LastUsed, Level, LoadReport, Owner, OwnerBasis, Privilege, ProposedAction, Rollback,
    parse_jsonl,
};
use nhi_triage::policy::{
    Assessment, Policy, Refusal, RoutingKind, Status, Tier, Transition, assess, queue_order,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use common::policy::{
    ID, NOW, REASON, TEAM, base, days, decide_as, decision, escalated_by, node, secs, status, with,
};

fn owner(c: &mut Case) -> &mut Owner {
    c.owner.as_mut().unwrap()
}

fn deps(c: &mut Case) -> &mut Dependencies {
    c.dependencies.as_mut().unwrap()
}

fn action(c: &mut Case) -> &mut ProposedAction {
    c.action.as_mut().unwrap()
}

fn rollback(c: &mut Case) -> &mut Rollback {
    action(c).rollback.as_mut().unwrap()
}

fn at(c: &Case, status: &CaseStatus, now: OffsetDateTime) -> Assessment {
    assess(c, status, &Policy::default(), now)
}

fn a(c: &Case) -> Assessment {
    at(c, &CaseStatus::pending(), NOW)
}

fn q1(c: &Case) -> Status {
    a(c).q1.status
}

fn q2(c: &Case) -> Status {
    a(c).q2.status
}

fn q3(c: &Case) -> Status {
    a(c).q3.status
}

/// The tier, after checking the recommendation follows it.
fn tier(c: &Case) -> Tier {
    let x = a(c);
    let expected = match x.tier {
        Tier::Low => Action::Approve,
        Tier::Medium => Action::Quarantine,
        Tier::High => Action::Escalate,
    };
    assert_eq!(x.recommendation, expected, "{:?}", x.tier_reasons);
    x.tier
}

fn has_gap(q: &nhi_triage::policy::Question, needle: &str) -> bool {
    q.gaps.iter().any(|g| g.contains(needle))
}

fn quarantined(until: OffsetDateTime, since: OffsetDateTime) -> CaseStatus {
    CaseStatus {
        quarantined_at: Some(since),
        ..status(CaseState::Quarantined { until })
    }
}

fn decide_with(
    c: &Case,
    s: &CaseStatus,
    d: &Decision,
    reviewer: &str,
    p: &Policy,
) -> Result<Transition, Refusal> {
    decide_as(c, s, d, &common::reviewer(reviewer), p, NOW)
}

fn decide(c: &Case, s: &CaseStatus, d: &Decision) -> Result<Transition, Refusal> {
    decide_with(c, s, d, "alice", &Policy::default())
}

fn break_glass() -> Policy {
    Policy {
        allow_break_glass: true,
        ..Policy::default()
    }
}

fn offered(x: &Assessment) -> Vec<Action> {
    x.actions.iter().map(|v| v.action).collect()
}

// ---------------------------------------------------------------- baseline

#[test]
fn baseline_is_low_with_every_question_answered() {
    let x = a(&base());
    assert_eq!(
        (x.q1.status, x.q2.status, x.q3.status),
        (Status::Answered, Status::Answered, Status::Answered)
    );
    assert_eq!(x.tier, Tier::Low, "{:?}", x.tier_reasons);
    assert_eq!(x.recommendation, Action::Approve);
    assert!(x.routing.is_empty());
}

// ---------------------------------------------------------------- Q1

#[test]
fn q1_answered_with_explicit_fresh_owner_fresh_map_and_no_dangling_ids() {
    let x = a(&base());
    assert_eq!(x.q1.status, Status::Answered);
    assert!(x.q1.gaps.is_empty(), "{:?}", x.q1.gaps);
}

#[test]
fn q1_partial_when_map_is_stale() {
    let c = with(|c| deps(c).verified_at = Some(NOW - days(8)));
    assert_eq!(q1(&c), Status::Partial);
}

#[test]
fn q1_partial_when_owner_is_inferred() {
    let c = with(|c| owner(c).basis = OwnerBasis::Inferred);
    assert_eq!(q1(&c), Status::Partial);
}

#[test]
fn q1_partial_when_owner_verification_is_stale() {
    let c = with(|c| owner(c).verified_at = Some(NOW - days(91)));
    assert_eq!(q1(&c), Status::Partial);
}

#[test]
fn q1_partial_when_owner_was_never_verified() {
    let c = with(|c| owner(c).verified_at = None);
    assert_eq!(q1(&c), Status::Partial);
}

#[test]
fn q1_partial_when_a_uses_id_dangles() {
    let c = with(|c| deps(c).nodes[0].uses.push("job:ghost".into()));
    let x = a(&c);
    assert_eq!(x.q1.status, Status::Partial);
    assert!(has_gap(&x.q1, "job:ghost"), "{:?}", x.q1.gaps);
}

#[test]
fn q1_unknown_when_there_is_no_map() {
    let c = with(|c| c.dependencies = None);
    assert_eq!(q1(&c), Status::Unknown);
}

#[test]
fn q1_unknown_when_map_was_never_verified() {
    let c = with(|c| deps(c).verified_at = None);
    assert_eq!(q1(&c), Status::Unknown);
}

#[test]
fn q1_unknown_when_there_is_no_owner() {
    let c = with(|c| c.owner = None);
    assert_eq!(q1(&c), Status::Unknown);
}

#[test]
fn q1_unknown_when_owner_basis_is_unknown_even_if_verified() {
    let c = with(|c| owner(c).basis = OwnerBasis::Unknown);
    assert_eq!(q1(&c), Status::Unknown);
}

#[test]
fn q1_owner_verified_exactly_90_days_ago_is_answered() {
    let c = with(|c| owner(c).verified_at = Some(NOW - days(90)));
    assert_eq!(q1(&c), Status::Answered);
}

#[test]
fn q1_owner_verified_90_days_and_1_second_ago_is_partial() {
    let c = with(|c| owner(c).verified_at = Some(NOW - days(90) - secs(1)));
    assert_eq!(q1(&c), Status::Partial);
}

#[test]
fn q1_map_verified_exactly_7_days_ago_is_answered() {
    let c = with(|c| deps(c).verified_at = Some(NOW - days(7)));
    assert_eq!(q1(&c), Status::Answered);
}

#[test]
fn q1_map_verified_7_days_and_1_second_ago_is_partial() {
    let c = with(|c| deps(c).verified_at = Some(NOW - days(7) - secs(1)));
    assert_eq!(q1(&c), Status::Partial);
}

#[test]
fn q1_owner_verification_beyond_clock_skew_in_future_is_partial() {
    let c = with(|c| owner(c).verified_at = Some(NOW + Duration::minutes(5) + secs(1)));
    let x = a(&c);
    assert_eq!(x.q1.status, Status::Partial);
    assert!(has_gap(&x.q1, "future"), "{:?}", x.q1.gaps);
}

#[test]
fn q1_map_verification_beyond_clock_skew_in_future_is_partial() {
    let c = with(|c| deps(c).verified_at = Some(NOW + days(2)));
    let x = a(&c);
    assert_eq!(x.q1.status, Status::Partial);
    assert!(has_gap(&x.q1, "future"), "{:?}", x.q1.gaps);
}

#[test]
fn q1_verification_within_5_minutes_of_skew_is_tolerated() {
    let c = with(|c| {
        owner(c).verified_at = Some(NOW + Duration::minutes(5));
        deps(c).verified_at = Some(NOW + Duration::minutes(1));
    });
    assert_eq!(q1(&c), Status::Answered);
}

// ---------------------------------------------------------------- Q2

#[test]
fn q2_answered_with_no_dependents_nothing_breaks() {
    let c = with(|c| deps(c).nodes.clear());
    let x = a(&c);
    assert_eq!(x.q1.status, Status::Answered);
    assert_eq!(x.q2.status, Status::Answered);
    assert!(x.blast_radius.dependents.is_empty());
    assert_eq!(x.tier, Tier::Low);
}

#[test]
fn q2_answered_when_every_transitive_dependent_has_a_criticality() {
    let c = with(|c| {
        deps(c)
            .nodes
            .push(node("svc:b", Some(Level::Low), &["job:export"]));
        deps(c)
            .nodes
            .push(node("svc:c", Some(Level::High), &["svc:b"]));
    });
    let x = a(&c);
    assert_eq!(x.q2.status, Status::Answered);
    assert_eq!(x.blast_radius.dependents, ["job:export", "svc:b", "svc:c"]);
}

#[test]
fn q2_partial_when_a_transitive_dependent_has_null_criticality() {
    let c = with(|c| {
        deps(c)
            .nodes
            .push(node("svc:b", Some(Level::Low), &["job:export"]));
        deps(c).nodes.push(node("svc:c", None, &["svc:b"]));
    });
    let x = a(&c);
    assert_eq!(x.q2.status, Status::Partial);
    assert!(has_gap(&x.q2, "svc:c"), "{:?}", x.q2.gaps);
    assert_eq!(x.tier, Tier::Medium);
}

#[test]
fn q2_partial_when_a_direct_dependent_has_null_criticality() {
    let c = with(|c| deps(c).nodes[0].criticality = None);
    assert_eq!(q2(&c), Status::Partial);
}

#[test]
fn q2_ignores_null_criticality_of_a_node_that_does_not_reach_the_identity() {
    let c = with(|c| {
        deps(c).nodes.push(node("svc:island", None, &[]));
        deps(c)
            .nodes
            .push(node("svc:island-user", None, &["svc:island"]));
    });
    let x = a(&c);
    assert_eq!(x.q2.status, Status::Answered, "{:?}", x.q2.gaps);
    assert_eq!(x.tier, Tier::Low);
}

#[test]
fn q2_walks_a_cycle_once() {
    let c = with(|c| {
        deps(c).nodes[0].uses.push("svc:b".into());
        deps(c).nodes.push(node("svc:b", None, &["job:export"]));
    });
    let x = a(&c);
    assert_eq!(x.blast_radius.dependents, ["job:export", "svc:b"]);
    assert_eq!(x.q2.status, Status::Partial);
    assert_eq!(x.q1.status, Status::Answered, "a cycle is shown, not a gap");
}

#[test]
fn q2_unknown_when_q1_is_unknown() {
    let c = with(|c| c.owner = None);
    assert_eq!(q2(&c), Status::Unknown);
}

#[test]
fn q2_can_be_answered_when_q1_is_partial() {
    let c = with(|c| owner(c).basis = OwnerBasis::Inferred);
    assert_eq!((q1(&c), q2(&c)), (Status::Partial, Status::Answered));
}

// ---------------------------------------------------------------- Q3

#[test]
fn q3_answered_when_reversible_tested_and_fast() {
    assert_eq!(q3(&base()), Status::Answered);
}

#[test]
fn q3_partial_when_rollback_untested() {
    let c = with(|c| rollback(c).tested_at = None);
    assert_eq!(q3(&c), Status::Partial);
}

#[test]
fn q3_partial_when_rollback_test_is_31_days_old() {
    let c = with(|c| rollback(c).tested_at = Some(NOW - days(31)));
    assert_eq!(q3(&c), Status::Partial);
}

#[test]
fn q3_rollback_tested_exactly_30_days_ago_is_answered() {
    let c = with(|c| rollback(c).tested_at = Some(NOW - days(30)));
    assert_eq!(q3(&c), Status::Answered);
}

#[test]
fn q3_partial_when_restore_minutes_unknown() {
    let c = with(|c| rollback(c).restore_minutes = None);
    assert_eq!(q3(&c), Status::Partial);
}

#[test]
fn q3_restore_in_30_minutes_is_answered_and_31_is_partial() {
    let at_limit = with(|c| rollback(c).restore_minutes = Some(30));
    let over = with(|c| rollback(c).restore_minutes = Some(31));
    assert_eq!(q3(&at_limit), Status::Answered);
    assert_eq!(q3(&over), Status::Partial);
}

#[test]
fn q3_unknown_when_not_reversible() {
    let c = with(|c| action(c).reversible = Some(false));
    assert_eq!(q3(&c), Status::Unknown);
}

#[test]
fn q3_unknown_when_reversibility_is_null() {
    let c = with(|c| action(c).reversible = None);
    assert_eq!(q3(&c), Status::Unknown);
}

#[test]
fn q3_unknown_when_there_is_no_rollback() {
    let c = with(|c| action(c).rollback = None);
    assert_eq!(q3(&c), Status::Unknown);
}

#[test]
fn q3_unknown_when_there_is_no_action() {
    let c = with(|c| c.action = None);
    assert_eq!(q3(&c), Status::Unknown);
}

// ---------------------------------------------------------------- routing flags

fn flag(x: &Assessment, kind: RoutingKind) -> Option<Vec<String>> {
    x.routing
        .iter()
        .find(|f| f.kind == kind)
        .map(|f| f.raised_by.clone())
}

#[test]
fn critical_workload_raised_by_the_case_criticality_names_the_identity() {
    let x = a(&with(|c| c.criticality = Some(Level::Critical)));
    assert_eq!(
        flag(&x, RoutingKind::CriticalWorkload),
        Some(vec![ID.to_string()])
    );
    assert_eq!(x.routing.len(), 1);
    assert_eq!(x.tier, Tier::High);
    assert_eq!(x.recommendation, Action::Escalate);
}

#[test]
fn critical_workload_raised_by_a_transitive_dependent_names_it() {
    let c = with(|c| {
        deps(c)
            .nodes
            .push(node("svc:b", Some(Level::Low), &["job:export"]));
        deps(c)
            .nodes
            .push(node("svc:payments", Some(Level::Critical), &["svc:b"]));
    });
    let x = a(&c);
    assert_eq!(
        flag(&x, RoutingKind::CriticalWorkload),
        Some(vec!["svc:payments".to_string()])
    );
    assert_eq!(tier(&c), Tier::High);
}

#[test]
fn external_partner_raised_by_a_transitive_dependent_names_it() {
    let c = with(|c| {
        let mut partner = node("partner:acme", Some(Level::Low), &["job:export"]);
        partner.external = Some(true);
        deps(c).nodes.push(partner);
    });
    let x = a(&c);
    assert_eq!(
        flag(&x, RoutingKind::ExternalPartner),
        Some(vec!["partner:acme".to_string()])
    );
    assert_eq!(x.routing.len(), 1);
    assert_eq!(tier(&c), Tier::High);
}

#[test]
fn shared_platform_raised_by_a_dependent_names_it() {
    let c = with(|c| deps(c).nodes[0].shared = Some(true));
    let x = a(&c);
    assert_eq!(
        flag(&x, RoutingKind::SharedPlatform),
        Some(vec!["job:export".to_string()])
    );
    assert_eq!(x.routing.len(), 1);
    assert_eq!(tier(&c), Tier::High);
}

#[test]
fn a_flagged_node_that_does_not_reach_the_identity_raises_nothing() {
    let c = with(|c| {
        let mut island = node("svc:island", Some(Level::Critical), &["svc:elsewhere-root"]);
        island.external = Some(true);
        island.shared = Some(true);
        deps(c).nodes.push(island);
        deps(c)
            .nodes
            .push(node("svc:elsewhere-root", Some(Level::Low), &[]));
    });
    let x = a(&c);
    assert!(x.routing.is_empty(), "{:?}", x.routing);
    assert_eq!(x.tier, Tier::Low);
}

// ---------------------------------------------------------------- tier: high

#[test]
fn tier_high_when_action_is_irreversible() {
    assert_eq!(
        tier(&with(|c| action(c).reversible = Some(false))),
        Tier::High
    );
}

#[test]
fn tier_high_when_reversibility_is_unknown() {
    assert_eq!(tier(&with(|c| action(c).reversible = None)), Tier::High);
}

#[test]
fn tier_high_when_no_action_is_proposed() {
    assert_eq!(tier(&with(|c| c.action = None)), Tier::High);
}

#[test]
fn tier_high_wins_over_everything_being_answered_and_unused() {
    // Routing beats a case that would otherwise be low, even with Q1 unknown too.
    let c = with(|c| {
        c.criticality = Some(Level::Critical);
        c.owner = None;
    });
    assert_eq!(tier(&c), Tier::High);
}

// ---------------------------------------------------------------- tier: low

#[test]
fn tier_low_when_everything_holds_without_a_change_window() {
    assert_eq!(tier(&base()), Tier::Low);
}

#[test]
fn tier_low_when_everything_holds_inside_an_open_change_window() {
    let c = with(|c| {
        c.change_window = Some(ChangeWindow {
            start: NOW - days(1),
            end: NOW + days(1),
        })
    });
    assert_eq!(tier(&c), Tier::Low);
}

#[test]
fn change_window_is_open_at_exactly_its_start() {
    let c = with(|c| {
        c.change_window = Some(ChangeWindow {
            start: NOW,
            end: NOW + days(1),
        })
    });
    assert_eq!(tier(&c), Tier::Low);
}

#[test]
fn rotate_with_hot_reload_of_a_used_identity_is_low() {
    let c = with(|c| {
        action(c).kind = ActionKind::Rotate;
        c.identity.last_used_at = LastUsed::At(NOW - Duration::hours(1));
    });
    assert_eq!(tier(&c), Tier::Low);
}

#[test]
fn identity_unused_90_days_and_1_second_is_unused() {
    let c = with(|c| c.identity.last_used_at = LastUsed::At(NOW - days(90) - secs(1)));
    assert!(a(&c).checks.usage.known_unused());
    assert_eq!(tier(&c), Tier::Low);
}

#[test]
fn identity_never_used_is_unused() {
    let c = with(|c| c.identity.last_used_at = LastUsed::Never);
    assert!(a(&c).checks.usage.known_unused());
    assert_eq!(tier(&c), Tier::Low);
}

// ---------------------------------------------------------------- tier: medium

#[test]
fn tier_medium_when_q1_is_not_answered() {
    assert_eq!(
        tier(&with(|c| owner(c).basis = OwnerBasis::Inferred)),
        Tier::Medium
    );
    assert_eq!(tier(&with(|c| c.owner = None)), Tier::Medium);
}

#[test]
fn tier_medium_when_q2_is_not_answered() {
    let c = with(|c| deps(c).nodes[0].criticality = None);
    assert_eq!((q1(&c), q3(&c)), (Status::Answered, Status::Answered));
    assert_eq!(tier(&c), Tier::Medium);
}

#[test]
fn tier_medium_when_q3_is_not_answered() {
    assert_eq!(tier(&with(|c| rollback(c).tested_at = None)), Tier::Medium);
}

#[test]
fn tier_medium_not_high_when_reversible_but_no_rollback() {
    let c = with(|c| action(c).rollback = None);
    assert_eq!(q3(&c), Status::Unknown);
    assert_eq!(tier(&c), Tier::Medium);
}

#[test]
fn tier_medium_when_change_window_has_not_started() {
    let c = with(|c| {
        c.change_window = Some(ChangeWindow {
            start: NOW + secs(1),
            end: NOW + days(1),
        })
    });
    assert_eq!(tier(&c), Tier::Medium);
}

#[test]
fn tier_medium_when_change_window_ends_exactly_now() {
    let c = with(|c| {
        c.change_window = Some(ChangeWindow {
            start: NOW - days(1),
            end: NOW,
        })
    });
    assert!(!a(&c).checks.change_window.allows_change());
    assert_eq!(tier(&c), Tier::Medium);
}

#[test]
fn tier_medium_when_impact_is_not_verifiable() {
    assert_eq!(
        tier(&with(|c| action(c).verifiable = Some(false))),
        Tier::Medium
    );
}

#[test]
fn tier_medium_when_verifiability_is_unknown() {
    assert_eq!(tier(&with(|c| action(c).verifiable = None)), Tier::Medium);
}

#[test]
fn tier_medium_when_rotate_lacks_hot_reload() {
    for hot_reload in [Some(false), None] {
        let c = with(|c| {
            action(c).kind = ActionKind::Rotate;
            action(c).hot_reload = hot_reload;
        });
        assert_eq!(tier(&c), Tier::Medium, "hot_reload {hot_reload:?}");
    }
}

#[test]
fn tier_medium_when_removing_access_of_an_identity_used_within_90_days() {
    for kind in [
        ActionKind::Revoke,
        ActionKind::Disable,
        ActionKind::Delete,
        ActionKind::ReduceScope,
    ] {
        let c = with(|c| {
            action(c).kind = kind;
            c.identity.last_used_at = LastUsed::At(NOW - days(3));
        });
        assert_eq!(tier(&c), Tier::Medium, "{kind:?}");
        let unused = with(|c| action(c).kind = kind);
        assert_eq!(tier(&unused), Tier::Low, "{kind:?} of an unused identity");
    }
}

#[test]
fn identity_last_used_exactly_90_days_ago_is_still_used() {
    let c = with(|c| c.identity.last_used_at = LastUsed::At(NOW - days(90)));
    assert!(!a(&c).checks.usage.known_unused());
    assert_eq!(tier(&c), Tier::Medium);
}

#[test]
fn identity_used_in_the_future_counts_as_used() {
    let c = with(|c| c.identity.last_used_at = LastUsed::At(NOW + days(1)));
    assert!(!a(&c).checks.usage.known_unused());
    assert_eq!(tier(&c), Tier::Medium);
}

// ---------------------------------------------------------------- queue order

fn sorted(mut items: Vec<(Case, Tier)>) -> Vec<String> {
    items.sort_by(|x, y| queue_order((&x.0, x.1), (&y.0, y.1)));
    items.into_iter().map(|(c, _)| c.id).collect()
}

fn queued(
    id: &str,
    severity: Option<Level>,
    privilege: Option<Privilege>,
    opened_days_ago: i64,
) -> Case {
    with(|c| {
        c.id = id.into();
        c.finding.as_mut().unwrap().severity = severity;
        c.identity.privilege = privilege;
        c.opened_at = NOW - days(opened_days_ago);
    })
}

#[test]
fn queue_puts_high_tier_first_whatever_the_severity() {
    let items = vec![
        (
            queued("low-crit", Some(Level::Critical), Some(Privilege::Admin), 9),
            Tier::Low,
        ),
        (
            queued("high-low", Some(Level::Low), Some(Privilege::Read), 1),
            Tier::High,
        ),
        (
            queued("med-crit", Some(Level::Critical), Some(Privilege::Admin), 9),
            Tier::Medium,
        ),
    ];
    assert_eq!(sorted(items), ["high-low", "med-crit", "low-crit"]);
}

#[test]
fn queue_orders_by_severity_within_a_tier() {
    let items = vec![
        (
            queued("low", Some(Level::Low), Some(Privilege::Admin), 9),
            Tier::High,
        ),
        (queued("none", None, Some(Privilege::Admin), 9), Tier::High),
        (
            queued("critical", Some(Level::Critical), Some(Privilege::Read), 1),
            Tier::High,
        ),
        (
            queued("medium", Some(Level::Medium), Some(Privilege::Admin), 9),
            Tier::High,
        ),
        (
            queued("high", Some(Level::High), Some(Privilege::Admin), 9),
            Tier::High,
        ),
    ];
    assert_eq!(sorted(items), ["critical", "high", "medium", "low", "none"]);
}

#[test]
fn queue_orders_by_privilege_within_a_severity() {
    let items = vec![
        (
            queued("read", Some(Level::High), Some(Privilege::Read), 9),
            Tier::Medium,
        ),
        (
            queued("admin", Some(Level::High), Some(Privilege::Admin), 1),
            Tier::Medium,
        ),
        (
            queued("write", Some(Level::High), Some(Privilege::Write), 9),
            Tier::Medium,
        ),
    ];
    assert_eq!(sorted(items), ["admin", "write", "read"]);
}

#[test]
fn queue_puts_the_oldest_case_first_when_all_else_ties() {
    let items = vec![
        (
            queued("new", Some(Level::High), Some(Privilege::Write), 1),
            Tier::Medium,
        ),
        (
            queued("old", Some(Level::High), Some(Privilege::Write), 30),
            Tier::Medium,
        ),
    ];
    assert_eq!(sorted(items), ["old", "new"]);
    let (x, y) = (queued("x", None, None, 2), queued("y", None, None, 1));
    assert_eq!(
        queue_order((&x, Tier::Low), (&y, Tier::Low)),
        Ordering::Less
    );
}

// ---------------------------------------------------------------- approve guardrail

#[test]
fn approve_allowed_on_a_pending_low_case() {
    let t = decide(
        &base(),
        &CaseStatus::pending(),
        &decision(Action::Approve, REASON),
    )
    .unwrap();
    assert_eq!(
        (t.state_before, t.state_after),
        (CaseState::Pending, CaseState::Approved)
    );
    assert!(!t.override_used);
}

#[test]
fn approve_refused_on_a_pending_medium_case_naming_the_gaps_and_quarantine() {
    let c = with(|c| owner(c).basis = OwnerBasis::Inferred);
    let r = decide(
        &c,
        &CaseStatus::pending(),
        &decision(Action::Approve, REASON),
    )
    .unwrap_err();
    let text = r.reasons.join("\n");
    assert!(text.contains("Q1 is partial"), "{text}");
    assert!(text.contains("inferred"), "{text}");
    assert!(text.contains("quarantine"), "{text}");
    let x = a(&c);
    for act in [Action::Quarantine, Action::Escalate] {
        assert!(x.verdict(act).unwrap().allowed, "{act} must stay open");
    }
}

#[test]
fn approve_refused_on_a_pending_high_case_offering_escalate() {
    let c = with(|c| action(c).reversible = None);
    let r = decide(
        &c,
        &CaseStatus::pending(),
        &decision(Action::Approve, REASON),
    )
    .unwrap_err();
    let text = r.reasons.join("\n");
    assert!(text.contains("Q3 is unknown"), "{text}");
    assert!(text.contains("escalate"), "{text}");
    assert!(
        decide(
            &c,
            &CaseStatus::pending(),
            &decision(Action::Escalate, REASON)
        )
        .is_ok()
    );
    assert!(
        decide(
            &c,
            &CaseStatus::pending(),
            &decision(Action::Quarantine, REASON)
        )
        .is_ok()
    );
}

#[test]
fn approve_refused_for_a_medium_case_with_every_question_answered() {
    // Refused exactly when tier != low, not only when a question is open.
    let c = with(|c| action(c).verifiable = Some(false));
    let r = decide(
        &c,
        &CaseStatus::pending(),
        &decision(Action::Approve, REASON),
    )
    .unwrap_err();
    assert!(r.reasons.iter().any(|r| r.contains("verified")), "{r}");
}

// ---------------------------------------------------------------- break-glass

fn overridden(justification: &str) -> Decision {
    Decision {
        override_: true,
        ..decision(Action::Approve, justification)
    }
}

fn medium() -> Case {
    with(|c| owner(c).basis = OwnerBasis::Inferred)
}

#[test]
fn break_glass_refused_when_the_policy_disables_it_even_with_override() {
    let r = decide(
        &medium(),
        &CaseStatus::pending(),
        &overridden(&"x".repeat(200)),
    )
    .unwrap_err();
    assert!(r.reasons.iter().any(|r| r.contains("disabled")), "{r}");
}

#[test]
fn break_glass_allowed_with_a_long_enough_justification_when_enabled() {
    let p = break_glass();
    let j = "b".repeat(p.break_glass_min_chars as usize);
    let t = decide_with(
        &medium(),
        &CaseStatus::pending(),
        &overridden(&j),
        "alice",
        &p,
    )
    .unwrap();
    assert!(t.override_used);
    assert_eq!(t.state_after, CaseState::Approved);
}

#[test]
fn break_glass_refused_with_a_justification_shorter_than_its_minimum() {
    let p = break_glass();
    let j = "b".repeat(p.break_glass_min_chars as usize - 1);
    let r = decide_with(
        &medium(),
        &CaseStatus::pending(),
        &overridden(&j),
        "alice",
        &p,
    )
    .unwrap_err();
    assert!(r.reasons.iter().any(|r| r.contains("break-glass")), "{r}");
}

#[test]
fn break_glass_without_the_override_flag_is_still_refused() {
    let j = "b".repeat(200);
    let r = decide_with(
        &medium(),
        &CaseStatus::pending(),
        &decision(Action::Approve, &j),
        "alice",
        &break_glass(),
    );
    assert!(r.is_err());
}

// ---------------------------------------------------------------- separation of duties

#[test]
fn escalated_case_cannot_be_approved_by_whoever_escalated_it() {
    let c = with(|c| c.criticality = Some(Level::Critical));
    let r = decide_with(
        &c,
        &escalated_by("alice"),
        &decision(Action::Approve, REASON),
        "alice",
        &Policy::default(),
    )
    .unwrap_err();
    assert!(
        r.reasons.iter().any(|r| r.contains("separation of duties")),
        "{r}"
    );
}

#[test]
fn escalated_high_case_can_be_approved_by_another_reviewer() {
    let c = with(|c| c.criticality = Some(Level::Critical));
    assert_eq!(a(&c).tier, Tier::High);
    let t = decide_with(
        &c,
        &escalated_by("alice"),
        &decision(Action::Approve, REASON),
        "bob",
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(t.state_after, CaseState::Approved);
    assert_eq!(t.escalated_by.as_deref(), Some("alice"));
    assert!(!t.override_used);
}

#[test]
fn escalated_case_offers_approve_quarantine_and_close() {
    let x = at(&base(), &escalated_by("alice"), NOW);
    assert_eq!(
        offered(&x),
        [Action::Approve, Action::Quarantine, Action::Close]
    );
    // Leaving an escalation takes a reviewer other than the escalator.
    let t = decide_with(
        &base(),
        &escalated_by("alice"),
        &decision(Action::Close, REASON),
        "bob",
        &Policy::default(),
    );
    assert_eq!(t.unwrap().state_after, CaseState::Closed);
}

// ---------------------------------------------------------------- justification

#[test]
fn justification_shorter_than_the_minimum_is_refused() {
    let r = decide(
        &base(),
        &CaseStatus::pending(),
        &decision(Action::Quarantine, "too short"),
    )
    .unwrap_err();
    assert!(r.reasons.iter().any(|r| r.contains("at least 20")), "{r}");
}

#[test]
fn justification_length_counts_characters_not_bytes() {
    // 19 two-byte characters: 38 bytes, but 19 characters.
    let short = "é".repeat(19);
    assert!(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Quarantine, &short)
        )
        .is_err()
    );
    let enough = "日".repeat(20);
    assert!(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Quarantine, &enough)
        )
        .is_ok()
    );
}

#[test]
fn justification_surrounding_whitespace_is_not_counted() {
    let padded = format!("   \n{}\t  ", "x".repeat(19));
    assert!(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Quarantine, &padded)
        )
        .is_err()
    );
    let padded = format!("   {}  ", "x".repeat(20));
    assert!(
        decide(
            &base(),
            &CaseStatus::pending(),
            &decision(Action::Quarantine, &padded)
        )
        .is_ok()
    );
}

// ---------------------------------------------------------------- quarantine and escalate

fn quarantine_for(hours: Option<u32>) -> Decision {
    Decision {
        quarantine_hours: hours,
        ..decision(Action::Quarantine, REASON)
    }
}

#[test]
fn quarantine_hours_default_from_the_policy() {
    let t = decide(&base(), &CaseStatus::pending(), &quarantine_for(None)).unwrap();
    assert_eq!(
        t.state_after,
        CaseState::Quarantined {
            until: NOW + Duration::hours(72)
        }
    );
}

#[test]
fn quarantine_of_zero_hours_is_refused() {
    assert!(decide(&base(), &CaseStatus::pending(), &quarantine_for(Some(0))).is_err());
}

#[test]
fn quarantine_longer_than_the_maximum_is_refused() {
    assert!(decide(&base(), &CaseStatus::pending(), &quarantine_for(Some(721))).is_err());
    let t = decide(&base(), &CaseStatus::pending(), &quarantine_for(Some(720))).unwrap();
    assert_eq!(
        t.state_after,
        CaseState::Quarantined {
            until: NOW + Duration::hours(720)
        }
    );
}

#[test]
fn quarantine_is_allowed_on_a_high_case() {
    let c = with(|c| c.action = None);
    assert!(decide(&c, &CaseStatus::pending(), &quarantine_for(None)).is_ok());
}

#[test]
fn escalate_goes_to_the_owner_team_by_default() {
    let t = decide(
        &base(),
        &CaseStatus::pending(),
        &decision(Action::Escalate, REASON),
    )
    .unwrap();
    assert_eq!(t.state_after, CaseState::Escalated { to: TEAM.into() });
}

#[test]
fn escalate_without_an_owner_goes_to_the_policy_default_team() {
    let c = with(|c| c.owner = None);
    let t = decide(
        &c,
        &CaseStatus::pending(),
        &decision(Action::Escalate, REASON),
    )
    .unwrap();
    assert_eq!(
        t.state_after,
        CaseState::Escalated {
            to: "security-review".into()
        }
    );
}

#[test]
fn escalate_to_a_named_team_wins() {
    let d = Decision {
        escalate_to: Some("ir-war-room".into()),
        ..decision(Action::Escalate, REASON)
    };
    let t = decide(&base(), &CaseStatus::pending(), &d).unwrap();
    assert_eq!(
        t.state_after,
        CaseState::Escalated {
            to: "ir-war-room".into()
        }
    );
}

// ---------------------------------------------------------------- lifecycle

#[test]
fn pending_case_offers_approve_quarantine_escalate_only() {
    assert_eq!(
        offered(&a(&base())),
        [Action::Approve, Action::Quarantine, Action::Escalate]
    );
}

#[test]
fn revoke_restore_and_close_are_refused_on_a_pending_case() {
    for act in [Action::Revoke, Action::Restore, Action::Close] {
        let r = decide(&base(), &CaseStatus::pending(), &decision(act, REASON)).unwrap_err();
        assert!(r.reasons[0].contains("pending"), "{r}");
    }
}

#[test]
fn nothing_is_allowed_on_a_final_case() {
    for state in [
        CaseState::Approved,
        CaseState::Closed,
        CaseState::Revoked,
        CaseState::Restored,
    ] {
        let s = status(state.clone());
        assert!(at(&base(), &s, NOW).actions.is_empty(), "{state}");
        for act in Action::ALL {
            assert!(
                decide(&base(), &s, &decision(act, REASON)).is_err(),
                "{act} on {state}"
            );
        }
    }
}

#[test]
fn quarantined_case_allows_revoke_and_restore() {
    let s = quarantined(NOW + days(1), NOW - days(2));
    let revoke = decide(&base(), &s, &decision(Action::Revoke, REASON)).unwrap();
    assert_eq!(revoke.state_after, CaseState::Revoked);
    let restore = decide(&base(), &s, &decision(Action::Restore, REASON)).unwrap();
    assert_eq!(restore.state_after, CaseState::Restored);
    assert!(decide(&base(), &s, &decision(Action::Approve, REASON)).is_err());
}

#[test]
fn revoke_refused_when_the_identity_was_used_during_quarantine() {
    let s = quarantined(NOW + days(1), NOW - days(2));
    let c = with(|c| c.identity.last_used_at = LastUsed::At(NOW - days(1)));
    let x = at(&c, &s, NOW);
    assert!(x.used_during_quarantine);
    let r = decide(&c, &s, &decision(Action::Revoke, REASON)).unwrap_err();
    assert!(
        r.reasons
            .iter()
            .any(|r| r.contains("used during quarantine")),
        "{r}"
    );
    assert!(decide(&c, &s, &decision(Action::Restore, REASON)).is_ok());
    assert!(decide(&c, &s, &decision(Action::Escalate, REASON)).is_ok());
}

#[test]
fn use_before_the_quarantine_began_does_not_block_revoke() {
    let s = quarantined(NOW + days(1), NOW - days(2));
    let c = with(|c| c.identity.last_used_at = LastUsed::At(NOW - days(3)));
    assert!(!at(&c, &s, NOW).used_during_quarantine);
    assert!(decide(&c, &s, &decision(Action::Revoke, REASON)).is_ok());
}

#[test]
fn quarantine_ending_exactly_now_has_expired_and_goes_back_to_the_queue() {
    let s = quarantined(NOW, NOW - days(3));
    let x = at(&base(), &s, NOW);
    assert!(x.quarantine_expired);
    let acts = offered(&x);
    for act in [Action::Approve, Action::Quarantine, Action::Escalate] {
        assert!(acts.contains(&act), "{act} not offered: {acts:?}");
    }
    assert!(!acts.contains(&Action::Revoke), "{acts:?}");
    assert_eq!(
        decide(&base(), &s, &decision(Action::Approve, REASON))
            .unwrap()
            .state_after,
        CaseState::Approved
    );
}

#[test]
fn expired_quarantine_keeps_the_approve_guardrail() {
    let s = quarantined(NOW - days(1), NOW - days(4));
    assert!(decide(&medium(), &s, &decision(Action::Approve, REASON)).is_err());
}

#[test]
fn running_quarantine_has_not_expired() {
    let x = at(&base(), &quarantined(NOW + secs(1), NOW - days(1)), NOW);
    assert!(!x.quarantine_expired);
    assert!(!offered(&x).contains(&Action::Approve));
}

// ---------------------------------------------------------------- determinism

#[test]
fn the_same_inputs_give_equal_assessments() {
    let c = with(|c| {
        deps(c).nodes[0].uses.push("svc:b".into());
        deps(c)
            .nodes
            .push(node("svc:b", None, &["job:export", "ghost"]));
        deps(c)
            .nodes
            .push(node("svc:c", Some(Level::Critical), &["svc:b"]));
    });
    let s = quarantined(NOW + days(1), NOW - days(1));
    let first = at(&c, &s, NOW);
    for _ in 0..5 {
        assert_eq!(at(&c.clone(), &s.clone(), NOW), first);
    }
}

// ---------------------------------------------------------------- the demo

#[test]
fn demo_fixtures_tell_the_expected_story() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected = std::fs::read_to_string(root.join("fixtures/demo/expected.tsv")).unwrap();
    let expected: Vec<Vec<&str>> = expected
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(expected.len(), 55);
    let seeds = [
        datetime!(2026-11-27 12:00 UTC),
        datetime!(2027-06-01 00:00 UTC),
        datetime!(2031-01-01 00:00 UTC),
        datetime!(2026-02-28 23:59:59.5 UTC),
    ];
    let policy = Policy::default();
    let mut wrong = Vec::new();
    for seed in seeds {
        let text = nhi_triage::demo::rebased_cases(seed).unwrap();
        let mut report = LoadReport::default();
        parse_jsonl(Path::new("cases.jsonl"), &text, &mut report);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.cases.len(), expected.len());
        for row in &expected {
            let case = report
                .cases
                .iter()
                .find(|c| c.id == row[0])
                .unwrap_or_else(|| panic!("{} missing", row[0]));
            let x = assess(case, &CaseStatus::pending(), &policy, seed);
            let got = [
                x.tier.name(),
                x.q1.status.name(),
                x.q2.status.name(),
                x.q3.status.name(),
            ];
            if got[..] != row[1..5] {
                wrong.push(format!(
                    "{seed}: {} expected {:?}, got {got:?}",
                    row[0],
                    &row[1..5]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn escalate_with_a_blank_owner_team_goes_to_the_policy_default_team() {
    let c = with(|c| owner(c).team = Some("  ".into()));
    let t = decide(
        &c,
        &CaseStatus::pending(),
        &decision(Action::Escalate, REASON),
    )
    .unwrap();
    assert_eq!(
        t.state_after,
        CaseState::Escalated {
            to: "security-review".into()
        }
    );
}

#[test]
fn escalate_to_a_blank_named_target_is_refused() {
    let d = Decision {
        escalate_to: Some(" ".into()),
        ..decision(Action::Escalate, REASON)
    };
    assert!(decide(&base(), &CaseStatus::pending(), &d).is_err());
}
