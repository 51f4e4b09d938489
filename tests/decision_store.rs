//! Decision safety (issue 7) through a real local store: every decision is
//! evaluated on the case file as it is on disk at that moment, records name
//! the content they were decided on, a decision on content that changed is
//! a conflict that says what changed, idempotency keys are scoped to one
//! reviewer and one request, the OS account is on the record, and quarantine
//! episodes survive extensions. Ends with a property test driving random
//! case rewrites and decisions through the store.

mod common;

use std::path::{Path, PathBuf};

use common::{CaseBuilder, JUSTIFICATION, at, days_ago, low_case, write_case};
use nhi_triage::evidence::EvidenceRecord;
use nhi_triage::model::{
    Action, Case, CaseState, CaseStatus, Decision, OsAccount, Reviewer, same_reviewer,
};
use nhi_triage::policy::{Policy, Tier, assess};
use nhi_triage::store::{LocalStore, StoreError, StoreLayout};
use proptest::prelude::*;
use serde_json::{Value, json};
use tempfile::TempDir;
use time::Duration;

fn reviewer(name: &str) -> Reviewer {
    Reviewer {
        name: name.into(),
        host: "test-host".into(),
        via: "local".into(),
        os_account: None,
    }
}

fn reviewer_os(name: &str, uid: u32) -> Reviewer {
    Reviewer {
        os_account: Some(OsAccount {
            uid,
            name: format!("user{uid}"),
        }),
        ..reviewer(name)
    }
}

fn decision(case_id: &str, action: Action, expected_version: u64) -> Decision {
    Decision {
        case_id: case_id.into(),
        action,
        justification: JUSTIFICATION.into(),
        expected_version,
        quarantine_hours: None,
        escalate_to: None,
        override_: false,
        expected_case_sha256: None,
        idempotency_key: None,
    }
}

/// A store made by the library, holding `cases` in `cases/cases.jsonl`, with
/// `policy` appended to its policy.toml.
struct Dir {
    tmp: TempDir,
}

impl Dir {
    fn new(cases: &[Value], policy: &str) -> Dir {
        let tmp = tempfile::tempdir().expect("tempdir");
        StoreLayout::new(tmp.path()).init().expect("init");
        let dir = Dir { tmp };
        if !policy.is_empty() {
            dir.set_policy(policy);
        }
        dir.write(cases);
        dir
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn case_file(&self) -> PathBuf {
        self.path().join("cases").join("cases.jsonl")
    }

    /// Replaces the policy file with the defaults plus `extra` keys.
    fn set_policy(&self, extra: &str) {
        let path = StoreLayout::new(self.path()).policy_path();
        let mut p: toml::Table = toml::from_str(&Policy::default().to_toml()).unwrap();
        let extra: toml::Table = toml::from_str(extra).expect("policy keys");
        p.extend(extra);
        std::fs::write(&path, toml::to_string(&p).unwrap()).expect("write policy.toml");
    }

    fn write(&self, cases: &[Value]) {
        write_case(&self.case_file(), cases);
    }

    fn open(&self) -> LocalStore {
        LocalStore::open(self.path()).expect("open the store")
    }

    fn evidence(&self) -> Vec<u8> {
        std::fs::read(self.path().join("evidence.jsonl")).unwrap_or_default()
    }

    fn evidence_lines(&self) -> Vec<Value> {
        String::from_utf8(self.evidence())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("evidence line"))
            .collect()
    }

    /// The case `id` as the file on disk holds it, parsed here.
    fn case_on_disk(&self, id: &str) -> Case {
        let text = std::fs::read_to_string(self.case_file()).unwrap();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Case>(l).expect("case line"))
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no case {id} on disk"))
    }
}

/// The low case with a critical partner depending on it: tier high.
fn with_critical_external_dependent(id: &str) -> Value {
    let identity = format!("aws:iam/user/{}", id.to_lowercase());
    let mut v = low_case(id);
    v["dependencies"]["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "id": "partner:bank", "name": "bank partner", "kind": "partner",
            "criticality": "critical", "external": true, "shared": false,
            "last_seen_at": days_ago(0), "uses": [identity]
        }));
    v
}

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

// ============================================ decisions read the file now

#[test]
fn a_case_rewritten_after_the_store_opened_is_decided_on_its_new_content() {
    let dir = Dir::new(
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
        with_critical_external_dependent("LOW-1"),
        used_an_hour_ago("LOW-2"),
        CaseBuilder::low("LOW-3")
            .set("/title", json!("renamed by the pipeline"))
            .build(),
    ]);
    match store.decide_blocking(decision("LOW-1", Action::Approve, 0), reviewer("alice")) {
        Err(StoreError::Refused(r)) => assert!(
            r.reasons.iter().any(|x| x.contains("tier is high")),
            "{:?}",
            r.reasons
        ),
        other => panic!("approve of LOW-1 after the rewrite: {other:?}"),
    }
    match store.decide_blocking(decision("LOW-2", Action::Approve, 0), reviewer("alice")) {
        Err(StoreError::Refused(r)) => assert!(
            r.reasons.iter().any(|x| x.contains("tier is medium")),
            "{:?}",
            r.reasons
        ),
        other => panic!("approve of LOW-2 after the rewrite: {other:?}"),
    }
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
    let dir = Dir::new(&[low_case("LOW-1")], "");
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
    let dir = Dir::new(&[low_case("LOW-1")], "");
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
    let mut d = decision("LOW-1", Action::Approve, 0);
    d.expected_case_sha256 = Some(seen.clone());
    match store.decide_blocking(d, reviewer("alice")) {
        Err(StoreError::CaseChanged(change)) => {
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
        }
        other => panic!("expected CaseChanged, got {other:?}"),
    }
    assert!(dir.evidence().is_empty());

    // Deciding on what is there now works as the new tier allows.
    let mut d = decision("LOW-1", Action::Quarantine, 0);
    d.expected_case_sha256 = Some(now_sha.clone());
    let record = store
        .decide_blocking(d, reviewer("alice"))
        .expect("quarantine");
    assert_eq!(record.case_sha256, Some(now_sha));
}

#[test]
fn a_stale_digest_conflicts_even_for_a_process_that_never_saw_the_old_content() {
    let dir = Dir::new(&[low_case("LOW-1")], "");
    let seen = dir.case_on_disk("LOW-1").content_sha256();
    dir.write(&[with_critical_external_dependent("LOW-1")]);
    let store = dir.open();
    let mut d = decision("LOW-1", Action::Approve, 0);
    d.expected_case_sha256 = Some(seen.clone());
    match store.decide_blocking(d, reviewer("alice")) {
        Err(StoreError::CaseChanged(change)) => {
            assert_eq!(change.seen_sha256, seen);
            assert_eq!(change.tier_after, Tier::High);
            assert_eq!(
                change.current_sha256,
                dir.case_on_disk("LOW-1").content_sha256()
            );
        }
        other => panic!("expected CaseChanged, got {other:?}"),
    }
    assert!(dir.evidence().is_empty());
}

#[test]
fn formatting_and_unknown_fields_do_not_change_the_digest() {
    let dir = Dir::new(&[low_case("LOW-1")], "");
    let store = dir.open();
    let seen = dir.case_on_disk("LOW-1").content_sha256();
    // Pretty-printed with an extra field the format does not know.
    let text = std::fs::read_to_string(dir.case_file()).unwrap();
    let mut v: Value = serde_json::from_str(text.trim()).unwrap();
    v["x_pipeline_run"] = json!("run-42");
    let spaced = serde_json::to_string(&v).unwrap().replace("\":", "\":  ");
    std::fs::write(dir.case_file(), format!("  {spaced}  \n")).unwrap();
    let mut d = decision("LOW-1", Action::Approve, 0);
    d.expected_case_sha256 = Some(seen.clone());
    let record = store
        .decide_blocking(d, reviewer("alice"))
        .expect("approve");
    assert_eq!(record.case_sha256, Some(seen));
}

// ================================================================ idempotency

#[test]
fn an_idempotency_key_returns_the_first_record_only_for_the_same_request_by_the_same_reviewer() {
    let dir = Dir::new(&[low_case("LOW-1"), low_case("LOW-2")], "");
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
        ("an expected digest", {
            let mut d = decision("LOW-1", Action::Approve, 0);
            d.expected_case_sha256 = Some(dir.case_on_disk("LOW-1").content_sha256());
            d
        }),
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
    let dir = Dir::new(&[low_case("LOW-1")], "");
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
    let dir = Dir::new(&[low_case("LOW-1")], "");
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
        let dir = Dir::new(&[CaseBuilder::high("HIGH-1").build()], policy);
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
            match result {
                Err(StoreError::Refused(r)) => assert!(
                    r.reasons
                        .iter()
                        .any(|x| x.contains("separation of duties") && x.contains("OS account")),
                    "{:?}",
                    r.reasons
                ),
                other => panic!("bob on alice's OS account: {other:?}"),
            }
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
    let dir = Dir::new(&[CaseBuilder::high("HIGH-1").build()], "");
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
    let dir = Dir::new(
        &[CaseBuilder::low("LOW-1")
            .set("/identity/last_used_at", json!("never"))
            .build()],
        "",
    );
    let store = dir.open();
    store
        .decide_blocking(decision("LOW-1", Action::Quarantine, 0), reviewer("alice"))
        .unwrap();
    match store.decide_blocking(decision("LOW-1", Action::Revoke, 1), reviewer("bob")) {
        Err(StoreError::Refused(r)) => assert!(
            r.reasons.iter().any(|x| x.contains("24h")),
            "{:?}",
            r.reasons
        ),
        other => panic!("revoke 0 s into the quarantine: {other:?}"),
    }
    assert_eq!(dir.evidence_lines().len(), 1);
}

#[test]
fn a_use_seen_at_an_extension_blocks_revoke_whatever_the_case_file_says_later() {
    let dir = Dir::new(
        &[
            CaseBuilder::low("LOW-1")
                .set("/identity/last_used_at", json!("never"))
                .build(),
            CaseBuilder::low("UNK-1")
                .set("/identity/last_used_at", Value::Null)
                .build(),
            CaseBuilder::low("CLEAN-1")
                .set("/identity/last_used_at", json!("never"))
                .build(),
        ],
        "quarantine_min_observation_hours = 0",
    );
    let store = dir.open();
    let first = store
        .decide_blocking(decision("LOW-1", Action::Quarantine, 0), reviewer("alice"))
        .unwrap();
    let start = first.ts;

    // The pipeline sees a use after the quarantine began.
    let rewrite = |low1_used: Value| {
        dir.write(&[
            CaseBuilder::low("LOW-1")
                .set("/identity/last_used_at", low1_used)
                .build(),
            CaseBuilder::low("UNK-1")
                .set("/identity/last_used_at", Value::Null)
                .build(),
            CaseBuilder::low("CLEAN-1")
                .set("/identity/last_used_at", json!("never"))
                .build(),
        ])
    };
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
    match store.decide_blocking(decision("LOW-1", Action::Revoke, 3), reviewer("carol")) {
        Err(StoreError::Refused(r)) => assert!(
            r.reasons
                .iter()
                .any(|x| x.contains("used during quarantine")),
            "{:?}",
            r.reasons
        ),
        other => panic!("revoke after a use: {other:?}"),
    }

    // Unknown usage: a use would not be seen, so no revoke.
    store
        .decide_blocking(decision("UNK-1", Action::Quarantine, 0), reviewer("alice"))
        .unwrap();
    match store.decide_blocking(decision("UNK-1", Action::Revoke, 1), reviewer("bob")) {
        Err(StoreError::Refused(r)) => assert!(
            r.reasons.iter().any(|x| x.contains("usage unknown")),
            "{:?}",
            r.reasons
        ),
        other => panic!("revoke with usage unknown: {other:?}"),
    }

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
    let dir = Dir::new(&[low_case("LOW-1")], "");
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

// ============================================ property: through the store

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
    let dir = Dir::new(&[steps[0].case.clone()], &policy);
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
