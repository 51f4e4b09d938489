//! Decision safety (issue 7) through a real local store, as a property:
//! random rewrites of a case file, each followed by a decision from one of
//! a few reviewers and OS accounts. Every record names the content on disk
//! and that content's tier at that moment; no decision approves a case that
//! is not low, lets an escalator (or the escalator's OS account) leave the
//! escalation, or revokes with usage unknown or used during quarantine,
//! unless break glass is allowed and flagged. The rules one at a time are
//! in tests/decision_store.rs.

use crate::common;

use common::library::LibraryStore;
use common::{CaseBuilder, JUSTIFICATION, at, days_ago, decision, reviewer_os};
use nhi_triage::evidence::EvidenceRecord;
use nhi_triage::model::{Action, Case, CaseState, CaseStatus, Decision, same_reviewer};
use nhi_triage::policy::{Tier, assess};
use nhi_triage::store::StoreError;
use proptest::prelude::*;
use serde_json::{Value, json};
use time::Duration;

/// A random rewrite of the low case: each fact kept, dropped or changed.
fn case_variant(id: &'static str) -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just(json!(null)),
            Just(json!("never")),
            Just(json!(days_ago(200))),
            Just(json!(at(-Duration::hours(2)))),
            Just(json!(at(Duration::minutes(5)))),
        ],
        prop_oneof![4 => Just(json!(false)), 1 => Just(json!(true)), 1 => Just(json!(null))],
        prop_oneof![4 => Just(json!("medium")), 1 => Just(json!("critical")), 1 => Just(json!(null))],
        prop_oneof![4 => Just(json!(days_ago(1))), 1 => Just(json!(days_ago(30))), 1 => Just(json!(null))],
        prop_oneof![4 => Just(json!(true)), 1 => Just(json!(false)), 1 => Just(json!(null))],
        prop_oneof![4 => Just(json!("explicit")), 1 => Just(json!("inferred")), 1 => Just(json!("unknown"))],
        prop_oneof![
            3 => Just(json!("revoke")),
            1 => Just(json!("rotate")),
            1 => Just(json!("disable")),
            1 => Just(json!("delete")),
            1 => Just(json!("reduce_scope")),
        ],
    )
        .prop_map(move |(used, external, crit, verified, reversible, basis, kind)| {
            CaseBuilder::low(id)
                .set("/identity/last_used_at", used)
                .set("/dependencies/nodes/0/external", external)
                .set("/dependencies/nodes/0/criticality", crit)
                .set("/dependencies/verified_at", verified)
                .set("/action/reversible", reversible)
                .set("/owner/basis", basis)
                .set("/action/kind", kind)
                .build()
        })
}

#[derive(Debug, Clone)]
struct StoreStep {
    case: Value,
    who: usize,
    uid: usize,
    action: Action,
    override_: bool,
}

fn store_step() -> impl Strategy<Value = StoreStep> {
    (
        case_variant("P-1"),
        0usize..4,
        0usize..2,
        prop_oneof![
            4 => Just(Action::Approve),
            2 => Just(Action::Quarantine),
            2 => Just(Action::Escalate),
            2 => Just(Action::Revoke),
            1 => Just(Action::Close),
            1 => Just(Action::Restore),
        ],
        prop::bool::weighted(0.25),
    )
        .prop_map(|(case, who, uid, action, override_)| StoreStep {
            case,
            who,
            uid,
            action,
            override_,
        })
}

const WHO: [&str; 4] = ["alice", "bob", "Alice", "carol"];

fn store_property(
    break_glass: bool,
    shared: bool,
    min_obs: u32,
    steps: &[StoreStep],
) -> Result<(), TestCaseError> {
    let policy = format!(
        "allow_break_glass = {break_glass}\nallow_shared_os_accounts = {shared}\n\
         quarantine_min_observation_hours = {min_obs}\nbreak_glass_min_chars = 40\n"
    );
    let dir = LibraryStore::new(&[steps[0].case.clone()], &policy);
    let store = dir.open();
    let policy = store.snapshot_blocking().unwrap().policy;
    for st in steps {
        // The pipeline rewrites the case, then someone decides.
        dir.write(std::slice::from_ref(&st.case));
        let written: Case = serde_json::from_value(st.case.clone()).unwrap();
        let before: CaseStatus = store.snapshot_blocking().unwrap().status("P-1");
        let log_before = dir.evidence();
        let who = reviewer_os(WHO[st.who], 1000 + st.uid as u32);
        let d = Decision {
            override_: st.override_,
            justification: if st.override_ {
                format!("{JUSTIFICATION} Break glass for incident INC-4711.")
            } else {
                JUSTIFICATION.into()
            },
            ..decision("P-1", st.action, before.version)
        };
        let record: EvidenceRecord = match store.decide_blocking(d.clone(), who.clone()) {
            Ok(r) => r,
            Err(e) => {
                prop_assert!(
                    matches!(e, StoreError::Refused(_)),
                    "unexpected error {e:?} for {d:?}"
                );
                prop_assert_eq!(dir.evidence(), log_before, "a refusal was recorded");
                continue;
            }
        };
        // The record names the content on disk, and its tier is that
        // content's tier under the store's policy at that moment.
        prop_assert_eq!(record.case_sha256.clone(), Some(written.content_sha256()));
        let a = assess(&written, &before, &policy, record.ts);
        prop_assert_eq!(record.readiness.tier, a.tier);
        prop_assert_eq!(&record.state_before, &before.state);
        let ctx = format!(
            "{d:?} by {who:?} on {before:?}: tier {:?} {:?}",
            a.tier, a.tier_reasons
        );
        if record.action == Action::Approve {
            match &before.state {
                CaseState::Escalated { .. } => {}
                _ => prop_assert!(
                    a.tier == Tier::Low || (record.override_ && policy.allow_break_glass),
                    "approve of a non-low case: {}",
                    ctx
                ),
            }
        }
        if let CaseState::Escalated { .. } = before.state {
            let by = before.escalated_by.clone().unwrap_or_default();
            prop_assert!(
                !same_reviewer(&who.name, &by),
                "the escalator left it: {}",
                ctx
            );
            let same_os = before.escalated_by_os.as_ref().map(|o| o.uid)
                == who.os_account.as_ref().map(|o| o.uid);
            prop_assert!(
                !same_os || (policy.allow_shared_os_accounts && record.shared_os_account),
                "the escalator's OS account left it: {}",
                ctx
            );
        }
        if record.action == Action::Revoke && !record.override_ {
            prop_assert!(
                a.checks.usage != nhi_triage::policy::UsageCheck::Unknown,
                "{}",
                ctx
            );
            prop_assert!(!a.used_during_quarantine, "{}", ctx);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_decision_through_the_store_approves_a_case_not_low_as_it_is_on_disk(
        break_glass in any::<bool>(),
        shared in any::<bool>(),
        min_obs in prop_oneof![Just(0u32), Just(24u32)],
        steps in prop::collection::vec(store_step(), 1..=10),
    ) {
        store_property(break_glass, shared, min_obs, &steps)?;
    }
}
