//! The store's database (issue 9): schema versions, importing case files,
//! migrating a file store with a long log, and the chain's rules in the
//! database (docs/store.md).

use crate::common;

use std::io::Write;
use std::process::Stdio;

use common::library::LibraryStore;
use common::{TestStore, high_case, low_case, on_postgres, reviewer};
use nhi_triage::model::{Action, Decision};
use serde_json::json;

#[test]
fn a_database_from_a_newer_version_is_refused_and_left_untouched() {
    let store = TestStore::with_cases(&[low_case("LOW-1")]);
    assert_eq!(store.run(&["list"]).code, 0);
    if on_postgres() {
        return; // the same code path; tampering here is SQLite's file
    }
    common::tamper(&store.dir, "UPDATE schema_version SET version = 99");
    let before = std::fs::read(store.database_path()).unwrap();
    let out = store.run(&["list"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("newer nhi-triage"), "{out}");
    assert!(out.stderr.contains("schema version 99"), "{out}");
    assert_eq!(
        std::fs::read(store.database_path()).unwrap(),
        before,
        "left untouched"
    );
}

#[test]
fn import_upserts_by_id_reports_problems_and_is_idempotent() {
    let store = TestStore::with_cases(&[]);
    let file = store.dir.join("findings.jsonl");
    let mut changed = low_case("IMP-2");
    let lines = [
        json!(low_case("IMP-1")).to_string(),
        "{not json".to_string(),
        json!(changed).to_string(),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let path = file.to_str().unwrap();

    let first = store.run(&["import", path, "--json"]);
    assert_eq!(first.code, 0, "{first}");
    let summary = first.json();
    assert_eq!(summary["format"], "nhi-triage.import/1");
    assert_eq!(
        (summary["new"].as_u64(), summary["updated"].as_u64()),
        (Some(2), Some(0))
    );
    let problems = summary["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{summary}");
    assert!(
        problems[0].as_str().unwrap().contains("findings.jsonl:2"),
        "{summary}"
    );

    let again = store.run(&["import", path]);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.stdout.contains("0 new, 0 updated, 2 unchanged"),
        "{again}"
    );

    // New facts update the case: its digest changes.
    let sha_before = store.run(&["show", "IMP-2", "--json"]).json()["case_sha256"].clone();
    changed["criticality"] = json!("high");
    std::fs::write(&file, json!(changed).to_string() + "\n").unwrap();
    let update = store.run(&["import", path]);
    assert!(
        update.stdout.contains("0 new, 1 updated, 0 unchanged"),
        "{update}"
    );
    let sha_after = store.run(&["show", "IMP-2", "--json"]).json()["case_sha256"].clone();
    assert_ne!(sha_before, sha_after);
    // A decision made on the old content is a conflict naming the change.
    let stale = store.decide(
        "alice",
        "IMP-2",
        "quarantine",
        &["--case-sha256", sha_before.as_str().unwrap()],
    );
    assert_eq!(stale.code, 3, "{stale}");
    assert!(stale.stderr.contains("criticality"), "{stale}");

    // Standard input, as a JSON array.
    let mut child = store
        .cmd()
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!([high_case("IMP-3")]).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 new"),
        "{out:?}"
    );
    let list = store.list_json("all");
    assert_eq!(list["cases"].as_array().unwrap().len(), 3, "{list}");
}

#[test]
fn a_file_store_with_a_long_log_migrates_byte_for_byte() {
    if on_postgres() {
        return; // migration is of a store directory
    }
    const N: usize = 600;
    let ids: Vec<String> = (0..N).map(|i| format!("LONG-{i:04}")).collect();
    let cases: Vec<_> = ids.iter().map(|id| low_case(id)).collect();
    let dir = LibraryStore::new(&cases, "");
    {
        let store = dir.open();
        for id in &ids {
            store
                .decide_blocking(
                    Decision {
                        quarantine_hours: Some(24),
                        ..common::decision(id, Action::Quarantine, 0)
                    },
                    reviewer("alice"),
                )
                .expect("decide");
        }
    }
    let log = dir.evidence();
    assert_eq!(log.iter().filter(|&&b| b == b'\n').count(), N);
    for name in ["store.db", "store.db-wal", "store.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(name));
    }
    std::fs::write(dir.path().join("evidence.jsonl"), &log).unwrap();

    let store = dir.open();
    let migration = store.migration().expect("migrated on open");
    assert_eq!(migration.records, N as u64);
    assert_eq!(dir.evidence(), log, "byte for byte");
    let report = store.verify_blocking().unwrap();
    assert!(report.is_ok(), "{}", report.summary());
    assert_eq!(report.head_hash, migration.head_hash);
    assert_eq!(
        std::fs::read(dir.path().join("evidence.jsonl.migrated")).unwrap(),
        log
    );
    // The states replayed from the migrated chain are the states decided.
    let record = store
        .decide_blocking(
            Decision {
                quarantine_hours: Some(48),
                ..common::decision(&ids[0], Action::Quarantine, 1)
            },
            reviewer("alice"),
        )
        .expect("extend the first quarantine");
    assert_eq!(record.seq, N as u64 + 1);
}

#[test]
fn an_edited_row_is_a_break_at_its_seq_and_the_export_says_the_same() {
    let store = TestStore::with_cases(&[low_case("LOW-1"), high_case("HIGH-1")]);
    assert_eq!(store.decide("alice", "LOW-1", "approve", &[]).code, 0);
    assert_eq!(store.decide("alice", "HIGH-1", "quarantine", &[]).code, 0);
    let lines = String::from_utf8(store.evidence_bytes()).unwrap();
    let first = lines
        .lines()
        .next()
        .unwrap()
        .replace("Reviewed", "Reviewer");
    match &store.database {
        Some(url) => {
            common::pg_sql(
                url,
                &format!("UPDATE evidence SET line = $l${first}$l$ WHERE seq = 1"),
            );
        }
        None => common::tamper_line(&store.dir, 1, &first),
    }
    let verify = store.run(&["evidence", "verify", "--json"]);
    assert_eq!(verify.code, 5, "{verify}");
    assert_eq!(verify.json()["first_bad"]["seq"], 1);
    let file = store.dir.join("export.jsonl");
    let export = store.run(&[
        "evidence",
        "export",
        "--format",
        "jsonl",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(export.code, 5, "{export}");
    let from_file = store.run(&[
        "evidence",
        "verify",
        "--json",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(from_file.json()["first_bad"], verify.json()["first_bad"]);
    let decide = store.decide("bob", "HIGH-1", "revoke", &[]);
    assert_eq!(decide.code, 5, "decisions stop: {decide}");
}

/// A file that cannot be read is an error naming it (exit 1), never an
/// empty import or an intact empty chain: `import` and `evidence verify
/// --file` both check the file before reading it.
#[test]
fn a_missing_file_to_import_or_verify_is_an_error_not_an_empty_success() {
    let store = TestStore::with_cases(&[]);
    let missing = store.dir.join("no-such-file.jsonl");
    let path = missing.to_str().unwrap();
    let import = store.run(&["import", path]);
    assert_eq!(import.code, 1, "{import}");
    assert!(import.stderr.contains("no-such-file.jsonl"), "{import}");
    let verify = store.run(&["evidence", "verify", "--file", path]);
    assert_eq!(verify.code, 1, "{verify}");
    assert!(verify.stderr.contains("no-such-file.jsonl"), "{verify}");
    assert!(!verify.stdout.contains("intact"), "{verify}");
    let dir = store.dir.to_str().unwrap();
    assert_eq!(store.run(&["import", dir]).code, 1);
}
