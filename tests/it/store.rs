//! The store: deciding through the library, several stores and several
//! processes on one directory, and the evidence chain under concurrency.

use crate::common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Instant;

use common::library::LibraryStore;
use common::{JUSTIFICATION, TestStore, high_case, low_case, medium_case, out_of, reviewer};
use nhi_triage::model::{Action, CaseState, Decision};
use nhi_triage::store::{Store, StoreError};
use serde_json::Value;

/// `action` on `case_id` at `expected_version`, with 24 quarantine hours.
fn decision(case_id: &str, action: Action, expected_version: u64) -> Decision {
    Decision {
        quarantine_hours: Some(24),
        ..common::decision(case_id, action, expected_version)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_updates_snapshot_and_history_and_a_stale_version_conflicts() {
    let dir = LibraryStore::new(
        &[low_case("LOW-1"), medium_case("MED-1"), high_case("HIGH-1")],
        "",
    );
    let store = dir.open();

    let snap = store.snapshot().await.expect("snapshot");
    assert_eq!(snap.cases.len(), 3);
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert_eq!(snap.status("MED-1").version, 0);
    assert_eq!(snap.status("MED-1").state, CaseState::Pending);
    assert!(snap.evidence.is_ok());

    let record = store
        .decide(decision("MED-1", Action::Quarantine, 0), reviewer("alice"))
        .await
        .expect("quarantine");
    assert_eq!(record.seq, 1);
    assert_eq!(record.case_version, 0);
    assert_eq!(record.hash.len(), 64);
    assert_eq!(record.prev_hash, nhi_triage::evidence::GENESIS_HASH);
    assert!(matches!(record.state_after, CaseState::Quarantined { .. }));

    let snap = store.snapshot().await.expect("snapshot");
    let status = snap.status("MED-1");
    assert_eq!(status.version, 1);
    assert!(
        matches!(status.state, CaseState::Quarantined { until } if until == record.ts + time::Duration::hours(24))
    );
    assert_eq!(status.quarantined_at, Some(record.ts));
    assert_eq!(snap.evidence.records, 1);
    assert_eq!(snap.evidence.last_seq, 1);
    // Other cases are untouched.
    assert_eq!(snap.status("LOW-1").version, 0);

    let history = store.history("MED-1").await.expect("history");
    assert_eq!(history, vec![record.clone()]);
    assert!(store.history("LOW-1").await.expect("history").is_empty());
    assert!(matches!(
        store.history("NOPE").await,
        Err(StoreError::NotFound(_))
    ));

    // Bob reviewed version 0; alice has since quarantined it.
    let err = store
        .decide(decision("MED-1", Action::Escalate, 0), reviewer("bob"))
        .await
        .expect_err("stale version");
    match &err {
        StoreError::Conflict {
            case_id,
            expected,
            current,
            last,
        } => {
            assert_eq!(case_id, "MED-1");
            assert_eq!((*expected, *current), (0, 1));
            let last = last.as_ref().expect("last decision named");
            assert_eq!(last.reviewer, "alice");
            assert_eq!(last.action, Action::Quarantine);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("alice recorded quarantine"), "{msg}");
    assert!(msg.contains("now at version 1"), "{msg}");
    assert_eq!(store.records_since(0).await.expect("records").len(), 1);

    // At the current version the same decision goes through.
    let second = store
        .decide(decision("MED-1", Action::Escalate, 1), reviewer("bob"))
        .await
        .expect("escalate at version 1");
    assert_eq!((second.seq, second.case_version), (2, 1));
    assert_eq!(second.prev_hash, record.hash);
    assert_eq!(store.history("MED-1").await.unwrap().len(), 2);

    // Policy refusals and unknown ids are typed errors, and record nothing.
    let refused = store
        .decide(decision("HIGH-1", Action::Approve, 0), reviewer("bob"))
        .await
        .expect_err("approve of a high-tier case");
    assert!(matches!(refused, StoreError::Refused(_)), "{refused:?}");
    let missing = store
        .decide(decision("NOPE", Action::Quarantine, 0), reviewer("bob"))
        .await
        .expect_err("unknown case");
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");

    let report = store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_directory_see_each_others_decisions() {
    let dir = LibraryStore::new(&[low_case("LOW-1"), medium_case("MED-1")], "");
    let a = dir.open();
    let b = dir.open();
    assert_eq!(b.snapshot().await.unwrap().status("MED-1").version, 0);

    let rec = a
        .decide(decision("MED-1", Action::Quarantine, 0), reviewer("alice"))
        .await
        .expect("decide through a");
    let snap = b.snapshot().await.expect("snapshot b");
    assert_eq!(snap.status("MED-1").version, 1);
    assert!(matches!(
        snap.status("MED-1").state,
        CaseState::Quarantined { .. }
    ));
    assert_eq!(b.history("MED-1").await.unwrap(), vec![rec.clone()]);

    // b has already seen version 1, so a stale decision through b conflicts...
    let err = b
        .decide(decision("MED-1", Action::Escalate, 0), reviewer("bob"))
        .await
        .expect_err("stale through b");
    assert!(
        matches!(err, StoreError::Conflict { current: 1, .. }),
        "{err:?}"
    );

    // ...and a decision through b that a has never seen is re-read by a.
    let approve = b
        .decide(decision("LOW-1", Action::Approve, 0), reviewer("bob"))
        .await
        .expect("approve through b");
    assert_eq!(approve.seq, 2);
    assert_eq!(approve.prev_hash, rec.hash);
    let err = a
        .decide(decision("LOW-1", Action::Approve, 0), reviewer("alice"))
        .await
        .expect_err("a must re-read b's record before deciding");
    assert!(
        matches!(err, StoreError::Conflict { current: 1, .. }),
        "{err:?}"
    );
    let snap = a.snapshot().await.unwrap();
    assert_eq!(snap.status("LOW-1").state, CaseState::Approved);
    assert_eq!(a.records_since(1).await.unwrap(), vec![approve]);
    assert!(a.verify().await.unwrap().is_ok());
}

/// Seq numbers 1..=n in order, each record linked to the one before, and the
/// case ids of the records.
fn check_chain(records: &[Value]) -> Vec<String> {
    let mut prev = nhi_triage::evidence::GENESIS_HASH.to_string();
    let mut ids = Vec::new();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            r["seq"],
            i as u64 + 1,
            "seq gap or repeat at line {}",
            i + 1
        );
        assert_eq!(
            r["prev_hash"],
            prev.as_str(),
            "broken link at seq {}",
            i + 1
        );
        prev = r["hash"].as_str().expect("hash").to_string();
        ids.push(r["case_id"].as_str().expect("case_id").to_string());
    }
    ids
}

fn assert_verifies(store: &TestStore, records: usize) {
    let out = store.run(&["evidence", "verify"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains(&format!("intact: {records} records")),
        "{out}"
    );
}

#[test]
fn two_processes_racing_on_one_version_one_wins_one_conflicts() {
    const CASES: usize = 10;
    let cases: Vec<Value> = (0..CASES)
        .map(|i| medium_case(&format!("RACE-{i:02}")))
        .collect();
    let store = TestStore::with_cases(&cases);
    let started = Instant::now();
    for i in 0..CASES {
        let id = format!("RACE-{i:02}");
        let spawn = |who: &str, action: &str| {
            store
                .cmd()
                .args(["--reviewer", who, "decide", &id, "--action", action])
                .args(["--justification", JUSTIFICATION, "--expected-version", "0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        // Both started before either is waited for.
        let a = spawn("alice", "quarantine");
        let b = spawn("bob", "escalate");
        let a = out_of(a.wait_with_output().expect("wait a"));
        let b = out_of(b.wait_with_output().expect("wait b"));
        let (winner, loser, loser_name, winner_action) = match (a.code, b.code) {
            (0, 3) => (&a, &b, "bob", "quarantine"),
            (3, 0) => (&b, &a, "alice", "escalate"),
            _ => panic!("{id}: expected one 0 and one 3\nalice: {a}\nbob: {b}"),
        };
        assert!(winner.stdout.contains("recorded"), "{winner}");
        assert!(
            loser.stderr.contains(&format!("conflict on {id}")),
            "{loser_name}: {loser}"
        );
        assert!(loser.stderr.contains("now at version 1"), "{loser}");
        assert!(
            loser.stderr.contains(&format!("recorded {winner_action}")),
            "{loser}"
        );
    }
    eprintln!("{CASES} races of 2 processes: {:?}", started.elapsed());

    let records = store.evidence_records();
    assert_eq!(records.len(), CASES, "exactly one record per case");
    let mut ids = check_chain(&records);
    ids.sort();
    let expected: Vec<String> = (0..CASES).map(|i| format!("RACE-{i:02}")).collect();
    assert_eq!(ids, expected);
    assert!(records.iter().all(|r| r["case_version"] == 0));
    assert_verifies(&store, CASES);
}

#[test]
fn eight_concurrent_writers_lose_and_duplicate_nothing() {
    const WORKERS: usize = 8;
    const PER_WORKER: usize = 50;
    let id = |w: usize, i: usize| format!("W{w}-{i:02}");
    let cases: Vec<Value> = (0..WORKERS)
        .flat_map(|w| (0..PER_WORKER).map(move |i| low_case(&id(w, i))))
        .collect();
    let store = TestStore::with_cases(&cases);

    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let store = &store;
                s.spawn(move || {
                    for i in 0..PER_WORKER {
                        let case = id(w, i);
                        let out = store.decide(
                            &format!("worker-{w}"),
                            &case,
                            "approve",
                            &["--expected-version", "0"],
                        );
                        assert_eq!(out.code, 0, "{case}: {out}");
                        assert!(out.stdout.contains("recorded #"), "{case}: {out}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("worker panicked");
        }
    });
    let elapsed = started.elapsed();
    eprintln!(
        "{WORKERS} concurrent workers x {PER_WORKER} decisions (one process each): {elapsed:?}, {:.1} ms per decision",
        elapsed.as_secs_f64() * 1000.0 / (WORKERS * PER_WORKER) as f64
    );

    let records = store.evidence_records();
    assert_eq!(
        records.len(),
        WORKERS * PER_WORKER,
        "records lost or duplicated"
    );
    let ids = check_chain(&records);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for case in &ids {
        *counts.entry(case.as_str()).or_default() += 1;
    }
    assert_eq!(counts.len(), WORKERS * PER_WORKER, "every case decided");
    assert!(counts.values().all(|&n| n == 1), "a case decided twice");
    // Each worker's own decisions stay in the order it made them.
    for w in 0..WORKERS {
        let mine: Vec<&String> = ids
            .iter()
            .filter(|c| c.starts_with(&format!("W{w}-")))
            .collect();
        let expected: Vec<String> = (0..PER_WORKER).map(|i| id(w, i)).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
    assert_verifies(&store, WORKERS * PER_WORKER);
    let list = store.list_json("approved");
    assert_eq!(list["counts"]["total"], WORKERS * PER_WORKER);
}
