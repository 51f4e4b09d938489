//! Decision safety (issue 7) through a real local store: every decision is
//! evaluated on the case file as it is on disk at that moment, records name
//! the content they were decided on, a decision on content that changed is
//! a conflict that says what changed, idempotency keys are scoped to one
//! reviewer and one request, the OS account is on the record, and quarantine
//! episodes survive extensions. The property test driving random case
//! rewrites and decisions through the store is
//! tests/decision_store_property.rs.

use crate::common;

use common::library::LibraryStore;
use common::{
    CaseBuilder, at, days_ago, decision, low_case, reviewer, reviewer_os, with_critical_partner,
};
use nhi_triage::evidence::EvidenceRecord;
use nhi_triage::model::{Action, CaseState, CaseStatus, Decision};
use nhi_triage::policy::{Tier, assess};
use nhi_triage::store::{CaseChange, LocalStore, StoreError, StoreLayout};
use serde_json::{Value, json};
use time::Duration;

fn used_an_hour_ago(id: &str) -> Value {
    CaseBuilder::low(id)
        .set("/identity/last_used_at", json!(at(-Duration::hours(1))))
        .build()
}

fn tier_now(store: &LocalStore, id: &str) -> Tier {
    let snap = store.snapshot_blocking().expect("snapshot");
    let case = snap.find(id).expect("case").clone();
    assess(
        &case,
        &snap.status(id),
        &snap.policy,
        time::OffsetDateTime::now_utc(),
    )
    .tier
}

/// Expects `result` refused with a reason that names every one of `needles`.
fn assert_refused(result: Result<EvidenceRecord, StoreError>, needles: &[&str], what: &str) {
    match result {
        Err(StoreError::Refused(r)) => assert!(
            r.reasons
                .iter()
                .any(|x| needles.iter().all(|n| x.contains(n))),
            "{what}: {:?}",
            r.reasons
        ),
        other => panic!("{what}: {other:?}"),
    }
}

/// `d`, made on the content with digest `sha`.
fn seen_as(d: Decision, sha: &str) -> Decision {
    Decision {
        expected_case_sha256: Some(sha.into()),
        ..d
    }
}

/// `d` by alice, expecting a conflict: what changed.
fn case_changed(store: &LocalStore, d: Decision) -> CaseChange {
    match store.decide_blocking(d, reviewer("alice")) {
        Err(StoreError::CaseChanged(change)) => *change,
        other => panic!("expected CaseChanged, got {other:?}"),
    }
}

// ============================================ decisions read the file now

#[test]
fn a_case_rewritten_after_the_store_opened_is_decided_on_its_new_content() {
    let dir = LibraryStore::new(
        &[low_case("LOW-1"), low_case("LOW-2"), low_case("LOW-3")],
        "",
    );
    let store = dir.open();
    for id in ["LOW-1", "LOW-2", "LOW-3"] {
        assert_eq!(tier_now(&store, id), Tier::Low, "{id}");
    }

    // The pipeline rewrites the file: LOW-1 gains a critical external
    // dependent, LOW-2 a recent use. No watcher, no reopen.
    dir.write(&[
        with_critical_partner("LOW-1"),
        used_an_hour_ago("LOW-2"),
        CaseBuilder::low("LOW-3")
            .set("/title", json!("renamed by the pipeline"))
            .build(),
    ]);
    assert_refused(
        store.decide_blocking(decision("LOW-1", Action::Approve, 0), reviewer("alice")),
        &["tier is high"],
        "approve of LOW-1 after the rewrite",
    );
    assert_refused(
        store.decide_blocking(decision("LOW-2", Action::Approve, 0), reviewer("alice")),
        &["tier is medium"],
        "approve of LOW-2 after the rewrite",
    );
    assert!(dir.evidence().is_empty(), "a refused decision was recorded");

    // The store now shows the new tiers too.
    assert_eq!(tier_now(&store, "LOW-1"), Tier::High);
    assert_eq!(tier_now(&store, "LOW-2"), Tier::Medium);

    // An allowed decision names the content it was decided on.
    let record = store
        .decide_blocking(decision("LOW-3", Action::Approve, 0), reviewer("alice"))
        .expect("approve LOW-3");
    let on_disk = dir.case_on_disk("LOW-3");
    assert_eq!(on_disk.title, "renamed by the pipeline");
    assert_eq!(
        record.case_sha256.as_deref(),
        Some(on_disk.content_sha256().as_str())
    );
    let line = &dir.evidence_lines()[0];
    assert_eq!(line["case_sha256"], json!(on_disk.content_sha256()));
    assert_eq!(line["readiness"]["tier"], "low");
    // The medium case may still be contained, on its new content.
    let record = store
        .decide_blocking(decision("LOW-2", Action::Quarantine, 0), reviewer("alice"))
        .expect("quarantine LOW-2");
    assert_eq!(record.readiness.tier, Tier::Medium);
    assert_eq!(
        record.case_sha256,
        Some(dir.case_on_disk("LOW-2").content_sha256())
    );
}

#[test]
fn two_rewrites_within_one_timestamp_tick_are_still_seen() {
    // Same length, written back to back: a signature check alone could miss
    // the second; the decision re-reads the case's own file.
    let dir = LibraryStore::new(&[low_case("LOW-1")], "");
    let store = dir.open();
    let mut v = low_case("LOW-1");
    for _ in 0..20 {
        v["identity"]["last_used_at"] = json!(days_ago(200));
        dir.write(std::slice::from_ref(&v));
        v["identity"]["last_used_at"] = json!(days_ago(1));
        dir.write(std::slice::from_ref(&v));
        assert!(matches!(
            store.decide_blocking(decision("LOW-1", Action::Approve, 0), reviewer("alice")),
            Err(StoreError::Refused(_))
        ));
    }
    assert!(dir.evidence().is_empty());
}

#[test]
fn a_decision_on_content_that_changed_is_a_conflict_naming_what_changed() {
    let dir = LibraryStore::new(&[low_case("LOW-1")], "");
    let store = dir.open();
    let seen = store
        .snapshot_blocking()
        .unwrap()
        .find("LOW-1")
        .unwrap()
        .content_sha256();
    assert_eq!(seen, dir.case_on_disk("LOW-1").content_sha256());

    dir.write(&[used_an_hour_ago("LOW-1")]);
    let now_sha = dir.case_on_disk("LOW-1").content_sha256();
    assert_ne!(seen, now_sha);
    let change = case_changed(
        &store,
        seen_as(decision("LOW-1", Action::Approve, 0), &seen),
    );
    assert_eq!(change.case_id, "LOW-1");
    assert_eq!(change.seen_sha256, seen);
    assert_eq!(change.current_sha256, now_sha);
    assert_eq!(change.tier_before, Some(Tier::Low));
    assert_eq!(change.tier_after, Tier::Medium);
    assert!(
        change.fields.iter().any(|f| f == "identity.last_used_at"),
        "{:?}",
        change.fields
    );
    let text = change.to_string();
    assert!(text.contains("low → medium"), "{text}");
    assert!(text.contains("identity.last_used_at"), "{text}");
    assert!(dir.evidence().is_empty());

    // Deciding on what is there now works as the new tier allows.
    let d = seen_as(decision("LOW-1", Action::Quarantine, 0), &now_sha);
    let record = store
        .decide_blocking(d, reviewer("alice"))
        .expect("quarantine");
    assert_eq!(record.case_sha256, Some(now_sha));
}

#[test]
fn a_stale_digest_conflicts_even_for_a_process_that_never_saw_the_old_content() {
    let dir = LibraryStore::new(&[low_case("LOW-1")], "");
    let seen = dir.case_on_disk("LOW-1").content_sha256();
    dir.write(&[with_critical_partner("LOW-1")]);
    let store = dir.open();
    let change = case_changed(
        &store,
        seen_as(decision("LOW-1", Action::Approve, 0), &seen),
    );
    assert_eq!(change.seen_sha256, seen);
    assert_eq!(change.tier_after, Tier::High);
    assert_eq!(
        change.current_sha256,
        dir.case_on_disk("LOW-1").content_sha256()
    );
    assert!(dir.evidence().is_empty());
}

#[test]
fn formatting_and_unknown_fields_do_not_change_the_digest() {
    let dir = LibraryStore::new(&[low_case("LOW-1")], "");
    let store = dir.open();
    let seen = dir.case_on_disk("LOW-1").content_sha256();
    // Pretty-printed with an extra field the format does not know.
    let text = std::fs::read_to_string(dir.case_file()).unwrap();
    let mut v: Value = serde_json::from_str(text.trim()).unwrap();
    v["x_pipeline_run"] = json!("run-42");
    let spaced = serde_json::to_string(&v).unwrap().replace("\":", "\":  ");
    std::fs::write(dir.case_file(), format!("  {spaced}  \n")).unwrap();
    let d = seen_as(decision("LOW-1", Action::Approve, 0), &seen);
    let record = store
        .decide_blocking(d, reviewer("alice"))
        .expect("approve");
    assert_eq!(record.case_sha256, Some(seen));
}

// ================================================================ idempotency

#[test]
fn an_idempotency_key_returns_the_first_record_only_for_the_same_request_by_the_same_reviewer() {
    let dir = LibraryStore::new(&[low_case("LOW-1"), low_case("LOW-2")], "");
    let store = dir.open();
    let key = "retry-0193f2c4";
    let keyed = |mut d: Decision| {
        d.idempotency_key = Some(key.into());
        d
    };
    let first = store
        .decide_blocking(
            keyed(decision("LOW-1", Action::Approve, 0)),
            reviewer("alice"),
        )
        .expect("first");
    assert_eq!(first.idempotency_key.as_deref(), Some(key));
    assert!(first.request_sha256.is_some());
    let after_first = dir.evidence();

    // The same request again: the first record, nothing new.
    let again = store
        .decide_blocking(
            keyed(decision("LOW-1", Action::Approve, 0)),
            reviewer("alice"),
        )
        .expect("retry");
    assert_eq!(again, first);
    assert_eq!(dir.evidence(), after_first);

    // Anything else with the key: refused, nothing recorded.
    let variants: Vec<(&str, Decision)> = vec![
        ("another justification", {
            let mut d = decision("LOW-1", Action::Approve, 0);
            d.justification = "A different reason, for a different decision.".into();
            d
        }),
        (
            "another expected_version",
            decision("LOW-1", Action::Approve, 1),
        ),
        ("another action", decision("LOW-1", Action::Quarantine, 0)),
        ("another quarantine length", {
            let mut d = decision("LOW-1", Action::Approve, 0);
            d.quarantine_hours = Some(48);
            d
        }),
        ("another case", decision("LOW-2", Action::Approve, 0)),
        (
            "an expected digest",
            seen_as(
                decision("LOW-1", Action::Approve, 0),
                &dir.case_on_disk("LOW-1").content_sha256(),
            ),
        ),
        ("an override", {
            let mut d = decision("LOW-1", Action::Approve, 0);
            d.override_ = true;
            d
        }),
    ];
    for (what, d) in variants {
        match store.decide_blocking(keyed(d), reviewer("alice")) {
            Err(StoreError::IdempotencyKeyReused {
                key: k,
                seq,
                other_reviewer,
            }) => {
                assert_eq!(k, key, "{what}");
                assert_eq!(seq, first.seq, "{what}");
                assert!(!other_reviewer, "{what}");
            }
            other => panic!("{what}: expected IdempotencyKeyReused, got {other:?}"),
        }
        assert_eq!(
            dir.evidence(),
            after_first,
            "{what}: something was recorded"
        );
    }

    // Another reviewer with alice's key and alice's exact request: refused.
    for who in ["bob", "carol"] {
        match store.decide_blocking(keyed(decision("LOW-1", Action::Approve, 0)), reviewer(who)) {
            Err(StoreError::IdempotencyKeyReused { other_reviewer, .. }) => {
                assert!(other_reviewer, "{who}")
            }
            other => panic!("{who} with alice's key: {other:?}"),
        }
    }
    assert_eq!(dir.evidence(), after_first);
    assert_eq!(dir.evidence_lines().len(), 1);
}

#[test]
fn a_quarantine_retried_with_other_hours_is_refused() {
    let dir = LibraryStore::new(&[low_case("LOW-1")], "");
    let store = dir.open();
    let q = |hours: Option<u32>| Decision {
        quarantine_hours: hours,
        idempotency_key: Some("q-key".into()),
        ..decision("LOW-1", Action::Quarantine, 0)
    };
    let first = store
        .decide_blocking(q(Some(24)), reviewer("alice"))
        .unwrap();
    assert_eq!(
        store
            .decide_blocking(q(Some(24)), reviewer("alice"))
            .unwrap(),
        first
    );
    for hours in [Some(48), None, Some(23)] {
        assert!(
            matches!(
                store.decide_blocking(q(hours), reviewer("alice")),
                Err(StoreError::IdempotencyKeyReused { .. })
            ),
            "{hours:?}"
        );
    }
    assert_eq!(dir.evidence_lines().len(), 1);
    // The key survives a reopen (another process).
    let reopened = dir.open();
    assert_eq!(
        reopened
            .decide_blocking(q(Some(24)), reviewer("alice"))
            .unwrap(),
        first
    );
    assert!(matches!(
        reopened.decide_blocking(q(Some(48)), reviewer("alice")),
        Err(StoreError::IdempotencyKeyReused { .. })
    ));
    assert_eq!(dir.evidence_lines().len(), 1);
}

// ================================================================ OS account

#[test]
fn records_carry_the_reviewers_os_account() {
    let dir = LibraryStore::new(&[low_case("LOW-1")], "");
    let store = dir.open();
    let record = store
        .decide_blocking(
            decision("LOW-1", Action::Escalate, 0),
            reviewer_os("alice", 4242),
        )
        .unwrap();
    let account = record.reviewer.os_account.clone().expect("os_account");
    assert_eq!(account.uid, 4242);
    assert_eq!(account.name, "user4242");
    let line = &dir.evidence_lines()[0];
    assert_eq!(line["reviewer"]["os_account"]["uid"], 4242, "{line}");
    assert_eq!(line["reviewer"]["os_account"]["name"], "user4242", "{line}");
    let status = store.snapshot_blocking().unwrap().status("LOW-1");
    assert_eq!(status.escalated_by.as_deref(), Some("alice"));
    assert_eq!(status.escalated_by_os.map(|o| o.uid), Some(4242));
}

#[test]
fn a_shared_os_account_cannot_approve_its_own_escalation_unless_the_policy_allows_it() {
    for allow in [false, true] {
        let policy = if allow {
            "allow_shared_os_accounts = true"
        } else {
            ""
        };
        let dir = LibraryStore::new(&[CaseBuilder::high("HIGH-1").build()], policy);
        let store = dir.open();
        store
            .decide_blocking(
                decision("HIGH-1", Action::Escalate, 0),
                reviewer_os("alice", 1000),
            )
            .expect("escalate");
        let before = dir.evidence();
        let result = store.decide_blocking(
            decision("HIGH-1", Action::Approve, 1),
            reviewer_os("bob", 1000),
        );
        if !allow {
            assert_refused(
                result,
                &["separation of duties", "OS account"],
                "bob on alice's OS account",
            );
            assert_eq!(dir.evidence(), before);
            // bob on his own account may.
            let record = store
                .decide_blocking(
                    decision("HIGH-1", Action::Approve, 1),
                    reviewer_os("bob", 1001),
                )
                .expect("bob on his own account");
            assert!(!record.shared_os_account);
            assert_eq!(dir.evidence_lines()[1]["shared_os_account"], false);
        } else {
            let record = result.expect("allowed by the policy");
            assert!(record.shared_os_account);
            assert_eq!(record.escalated_by.as_deref(), Some("alice"));
            let line = &dir.evidence_lines()[1];
            assert_eq!(line["shared_os_account"], true, "{line}");
            assert_eq!(line["escalated_by"], "alice", "{line}");
        }
    }
}

#[test]
fn look_alike_names_cannot_approve_through_the_store() {
    let dir = LibraryStore::new(&[CaseBuilder::high("HIGH-1").build()], "");
    let store = dir.open();
    store
        .decide_blocking(decision("HIGH-1", Action::Escalate, 0), reviewer("alice"))
        .unwrap();
    for name in ["alice", "Alice", "ALICE", "\u{0430}lice", "alice "] {
        for action in [Action::Approve, Action::Quarantine, Action::Close] {
            assert!(
                matches!(
                    store.decide_blocking(decision("HIGH-1", action, 1), reviewer(name)),
                    Err(StoreError::Refused(_))
                ),
                "{action} by {name:?}"
            );
        }
    }
    assert_eq!(dir.evidence_lines().len(), 1);
}

// ================================================ quarantine through the store

#[test]
fn revoke_right_after_quarantine_is_refused_under_the_default_policy() {
    let dir = LibraryStore::new(
        &[CaseBuilder::low("LOW-1")
            .set("/identity/last_used_at", json!("never"))
            .build()],
        "",
    );
    let store = dir.open();
    store
        .decide_blocking(decision("LOW-1", Action::Quarantine, 0), reviewer("alice"))
        .unwrap();
    assert_refused(
        store.decide_blocking(decision("LOW-1", Action::Revoke, 1), reviewer("bob")),
        &["24h"],
        "revoke 0 s into the quarantine",
    );
    assert_eq!(dir.evidence_lines().len(), 1);
}

#[test]
fn a_use_seen_at_an_extension_blocks_revoke_whatever_the_case_file_says_later() {
    // LOW-1 with its use as given, UNK-1 with usage unknown, CLEAN-1 never used.
    let cases = |low1_used: Value| {
        [
            CaseBuilder::low("LOW-1")
                .set("/identity/last_used_at", low1_used)
                .build(),
            CaseBuilder::low("UNK-1")
                .set("/identity/last_used_at", Value::Null)
                .build(),
            CaseBuilder::low("CLEAN-1")
                .set("/identity/last_used_at", json!("never"))
                .build(),
        ]
    };
    let dir = LibraryStore::new(
        &cases(json!("never")),
        "quarantine_min_observation_hours = 0",
    );
    let store = dir.open();
    let first = store
        .decide_blocking(decision("LOW-1", Action::Quarantine, 0), reviewer("alice"))
        .unwrap();
    let start = first.ts;

    // The pipeline sees a use after the quarantine began.
    let rewrite = |low1_used: Value| dir.write(&cases(low1_used));
    rewrite(json!(nhi_triage::model::rfc3339(
        start + Duration::milliseconds(1)
    )));
    let extension = store
        .decide_blocking(decision("LOW-1", Action::Quarantine, 1), reviewer("bob"))
        .unwrap();
    assert!(extension.used_during_quarantine, "{extension:?}");

    // Later the file says "never" again: the use stays on record.
    rewrite(json!("never"));
    store
        .decide_blocking(decision("LOW-1", Action::Quarantine, 2), reviewer("alice"))
        .unwrap();
    let status: CaseStatus = store.snapshot_blocking().unwrap().status("LOW-1");
    assert_eq!(
        status.quarantined_at,
        Some(start),
        "an extension moved the start"
    );
    assert_eq!(status.quarantined_by.as_deref(), Some("alice"));
    assert!(status.used_during_quarantine);
    assert_refused(
        store.decide_blocking(decision("LOW-1", Action::Revoke, 3), reviewer("carol")),
        &["used during quarantine"],
        "revoke after a use",
    );

    // Unknown usage: a use would not be seen, so no revoke.
    store
        .decide_blocking(decision("UNK-1", Action::Quarantine, 0), reviewer("alice"))
        .unwrap();
    assert_refused(
        store.decide_blocking(decision("UNK-1", Action::Revoke, 1), reviewer("bob")),
        &["usage unknown"],
        "revoke with usage unknown",
    );

    // A clean quarantine may be revoked (observation 0 h in this policy).
    store
        .decide_blocking(
            decision("CLEAN-1", Action::Quarantine, 0),
            reviewer("alice"),
        )
        .unwrap();
    let revoked = store
        .decide_blocking(decision("CLEAN-1", Action::Revoke, 1), reviewer("bob"))
        .expect("revoke a clean quarantine");
    assert_eq!(revoked.state_after, CaseState::Revoked);
    assert_eq!(revoked.quarantined_by.as_deref(), Some("alice"));
    let line = dir.evidence_lines().last().cloned().unwrap();
    assert_eq!(line["quarantined_by"], "alice", "{line}");
}

#[test]
fn the_policy_file_is_the_one_decisions_use_and_bad_bounds_refuse_to_open() {
    let dir = LibraryStore::new(&[low_case("LOW-1")], "");
    std::fs::write(
        StoreLayout::new(dir.path()).policy_path(),
        "quarantine_max_hours = 100000000\n",
    )
    .unwrap();
    match LocalStore::open(dir.path()) {
        Err(e) => assert!(e.to_string().contains("quarantine_max_hours"), "{e}"),
        Ok(_) => panic!("a store with an unbounded policy opened"),
    }
}
