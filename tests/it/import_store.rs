//! `import --from FORMAT` through the real binary into a real store:
//! one credential one case across files and detectors, re-import rules
//! (unchanged, updated → a stale decision is a conflict, a recurrence after
//! a decision), the summary, and the canary secret that must never be
//! stored, recorded, printed or logged (issue 10).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{Out, TestStore};

/// The secret every test fixture hides; it must never come out.
const CANARY: &str = "nhi-canary-7Q2xLw9d";

/// A GitHub token-like secret our own fixtures leak (fake).
const TOKEN: &str = "ghp_FAKEFAKEfake0123456789abcdefABCDEF01";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn gitleaks_finding(commit: &str, file: &str, line: u64, date: &str) -> Value {
    json!({
        "RuleID": "github-pat", "Description": "GitHub Personal Access Token",
        "StartLine": line, "EndLine": line, "StartColumn": 9, "EndColumn": 48,
        "Match": format!("token = {TOKEN}"), "Secret": TOKEN,
        "File": file, "SymlinkFile": "", "Commit": commit, "Entropy": 4.8,
        "Author": "dev", "Email": "dev@example.com", "Date": date,
        "Message": "add config", "Tags": [],
        "Fingerprint": format!("{commit}:{file}:github-pat:{line}")
    })
}

fn trufflehog_line(commit: &str, file: &str) -> String {
    json!({
        "SourceMetadata": {"Data": {"Git": {
            "commit": commit, "file": file, "email": "dev <dev@example.com>",
            "repository": "https://github.com/acme/payments.git",
            "timestamp": "2026-11-03 09:15:00 +0000", "line": 4}}},
        "SourceID": 1, "SourceType": 7, "SourceName": "trufflehog - git",
        "DetectorType": 8, "DetectorName": "Github", "DecoderName": "PLAIN",
        "Verified": true, "Raw": TOKEN, "RawV2": "", "Redacted": "",
        "ExtraData": {"username": "acme-bot"}, "StructuredData": null
    })
    .to_string()
}

fn write(store: &TestStore, name: &str, text: &str) -> PathBuf {
    let path = store.sandbox.path().join(name);
    std::fs::write(&path, text).expect("write findings");
    path
}

fn import(store: &TestStore, format: &str, files: &[&Path]) -> Out {
    let mut cmd = store.cmd();
    cmd.args([
        "import",
        "--from",
        format,
        "--repository",
        "acme/payments",
        "--json",
    ]);
    cmd.args(files);
    crate::common::run(&mut cmd)
}

fn summary(out: &Out) -> Value {
    assert_eq!(out.code, 0, "{out}");
    out.json()
}

fn counts(s: &Value) -> [u64; 4] {
    ["new", "updated", "unchanged", "recurrences"].map(|k| s[k].as_u64().expect(k))
}

#[test]
fn one_secret_in_two_commits_and_two_detectors_is_one_case_and_reimport_changes_nothing() {
    let store = TestStore::with_cases(&[]);
    let report = json!([
        gitleaks_finding("a1b2c3", "src/settings.py", 12, "2026-11-01T10:00:00Z"),
        gitleaks_finding("d4e5f6", "deploy/values.yaml", 3, "2026-11-02T10:00:00Z"),
    ]);
    let gitleaks = write(&store, "gitleaks.json", &report.to_string());
    let first = summary(&import(&store, "gitleaks", &[&gitleaks]));
    assert_eq!(first["findings"], 2, "{first}");
    assert_eq!(first["cases"], 1, "two commits, one secret: {first}");
    assert_eq!(first["grouped"], 1, "{first}");
    assert_eq!(counts(&first), [1, 0, 0, 0], "{first}");
    let id = first["outcomes"][0]["id"].as_str().expect("id").to_string();

    // The same file again: nothing changes, not even the digest.
    let sha = show_sha(&store, &id);
    let again = summary(&import(&store, "gitleaks", &[&gitleaks]));
    assert_eq!(counts(&again), [0, 0, 1, 0], "{again}");
    assert_eq!(show_sha(&store, &id), sha);

    // trufflehog finds the same token, verified live, in a third place:
    // the same case, updated with the new occurrence and the validity.
    let truffle = write(
        &store,
        "trufflehog.jsonl",
        &trufflehog_line("0f9e8d", "ci/deploy.sh"),
    );
    let third = summary(&import(&store, "trufflehog", &[&truffle]));
    assert_eq!(counts(&third), [0, 1, 0, 0], "{third}");
    assert_eq!(third["outcomes"][0]["id"], id.as_str());
    let case = &show(&store, &id)["case"];
    assert_eq!(case["finding"]["validity"], "live", "{case}");
    assert_eq!(
        case["occurrences"].as_array().map(Vec::len),
        Some(3),
        "{case}"
    );
    assert_eq!(
        case["finding"]["first_seen_at"], "2026-11-01T10:00:00Z",
        "{case}"
    );
    let sources = case["finding"]["source"].as_str().unwrap_or_default();
    assert!(
        sources.contains("gitleaks") && sources.contains("trufflehog"),
        "{case}"
    );
    // Each file again, in any order: nothing new.
    for (format, file) in [("gitleaks", &gitleaks), ("trufflehog", &truffle)] {
        let s = summary(&import(&store, format, &[file]));
        assert_eq!(counts(&s), [0, 0, 1, 0], "{format}: {s}");
    }
}

fn show(store: &TestStore, id: &str) -> Value {
    let out = store.run(&["show", id, "--json"]);
    assert_eq!(out.code, 0, "{out}");
    out.json()
}

fn show_sha(store: &TestStore, id: &str) -> String {
    show(store, id)["case_sha256"]
        .as_str()
        .expect("case_sha256")
        .to_string()
}

#[test]
fn new_facts_update_an_open_case_and_a_decision_on_the_old_content_is_a_conflict() {
    let store = TestStore::with_cases(&[]);
    let one = json!([gitleaks_finding(
        "a1b2c3",
        "src/settings.py",
        12,
        "2026-11-01T10:00:00Z"
    )]);
    let file = write(&store, "one.json", &one.to_string());
    let s = summary(&import(&store, "gitleaks", &[&file]));
    let id = s["outcomes"][0]["id"].as_str().expect("id").to_string();
    let seen = show_sha(&store, &id);

    let more = write(
        &store,
        "more.json",
        &json!([gitleaks_finding(
            "d4e5f6",
            "app.py",
            1,
            "2026-11-05T10:00:00Z"
        )])
        .to_string(),
    );
    let s = summary(&import(&store, "gitleaks", &[&more]));
    assert_eq!(counts(&s), [0, 1, 0, 0], "{s}");
    assert_ne!(show_sha(&store, &id), seen, "new facts change the digest");

    let out = store.decide("alice", &id, "escalate", &["--case-sha256", &seen]);
    assert_eq!(
        out.code, 3,
        "a decision on the old content is a conflict: {out}"
    );
    assert!(
        out.stderr.contains("changed since you reviewed it"),
        "{out}"
    );
    assert!(
        out.stderr.contains("occurrences"),
        "names what changed: {out}"
    );
    assert!(store.evidence_bytes().is_empty());
}

#[test]
fn a_decided_case_is_never_edited_new_facts_open_a_linked_recurrence() {
    let store = TestStore::with_cases(&[]);
    let one = json!([gitleaks_finding(
        "a1b2c3",
        "src/settings.py",
        12,
        "2026-11-01T10:00:00Z"
    )]);
    let file = write(&store, "one.json", &one.to_string());
    let s = summary(&import(&store, "gitleaks", &[&file]));
    let id = s["outcomes"][0]["id"].as_str().expect("id").to_string();
    let out = store.decide("alice", &id, "escalate", &[]);
    assert_eq!(out.code, 0, "{out}");
    let decided_sha = show_sha(&store, &id);

    // The same finding again: nothing new, no recurrence.
    let s = summary(&import(&store, "gitleaks", &[&file]));
    assert_eq!(counts(&s), [0, 0, 1, 0], "{s}");

    // The secret seen in a new place after the decision.
    let later = write(
        &store,
        "later.json",
        &json!([gitleaks_finding(
            "99aa00",
            "new.py",
            2,
            "2026-11-20T10:00:00Z"
        )])
        .to_string(),
    );
    let out = import(&store, "gitleaks", &[&later]);
    let s = summary(&out);
    assert_eq!(counts(&s), [0, 0, 0, 1], "{s}");
    let recurrence = s["outcomes"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(recurrence, format!("{id}-R2"));
    assert_eq!(s["outcomes"][0]["recurrence_of"], id.as_str());
    assert_eq!(
        show_sha(&store, &id),
        decided_sha,
        "the decided case is untouched"
    );
    assert_eq!(show(&store, &id)["recurred_as"], recurrence.as_str());
    let text = store.run(&["show", &id]);
    assert!(
        text.stdout.contains(&format!("recurred as {recurrence}")),
        "{text}"
    );
    let case = &show(&store, &recurrence)["case"];
    assert_eq!(case["recurrence_of"], id.as_str(), "{case}");
    assert_eq!(
        case["occurrences"].as_array().map(Vec::len),
        Some(2),
        "the recurrence keeps what was known, with the new place: {case}"
    );
    let decided_at = store.evidence_records()[0]["ts"]
        .as_str()
        .expect("ts")
        .to_string();
    let opened = case["opened_at"].as_str().expect("opened_at");
    assert!(
        opened >= &decided_at[..19],
        "opened {opened} before the decision {decided_at}"
    );
    let text = store.run(&[
        "import",
        "--from",
        "gitleaks",
        "--repository",
        "acme/payments",
        later.to_str().expect("utf-8"),
    ]);
    assert_eq!(text.code, 0, "{text}");
    assert!(
        text.stdout
            .contains("0 new, 0 updated, 1 unchanged, 0 recurrences"),
        "the open recurrence takes the facts: {text}"
    );

    // Further news of the credential goes to the open recurrence.
    let again = write(
        &store,
        "again.json",
        &json!([gitleaks_finding(
            "77bb11",
            "x.py",
            9,
            "2026-11-21T10:00:00Z"
        )])
        .to_string(),
    );
    let s = summary(&import(&store, "gitleaks", &[&again]));
    assert_eq!(counts(&s), [0, 1, 0, 0], "{s}");
    assert_eq!(s["outcomes"][0]["id"], recurrence.as_str());
}

#[test]
fn a_bad_record_is_skipped_by_name_and_a_file_that_is_not_the_format_fails_alone() {
    let store = TestStore::with_cases(&[]);
    let mut bad = gitleaks_finding("a1b2c3", "src/settings.py", 12, "2026-11-01T10:00:00Z");
    bad["File"] = json!(17);
    let good = gitleaks_finding("d4e5f6", "ok.py", 1, "2026-11-01T10:00:00Z");
    let mixed = write(
        &store,
        "mixed.json",
        &serde_json::to_string_pretty(&json!([bad, good])).expect("json"),
    );
    let csv = write(&store, "report.csv", "user,arn\nx,y\n");
    let out = import(&store, "gitleaks", &[&mixed, &csv]);
    assert_eq!(out.code, 1, "a whole file unreadable is an error: {out}");
    let s = out.json();
    assert_eq!(counts(&s), [1, 0, 0, 0], "the good record is imported: {s}");
    let skipped = s["skipped"].as_array().expect("skipped");
    assert!(
        skipped.iter().any(|r| r["record"]
            .as_str()
            .is_some_and(|r| r.starts_with(&format!("{}:", mixed.display())))
            && r["field"].as_str().is_some_and(|f| f.contains("File"))
            && r["kind"] == "invalid"),
        "the bad record, by line and field: {s}"
    );
    assert!(
        skipped
            .iter()
            .any(|r| r["record"] == csv.display().to_string().as_str()),
        "the CSV file, by name: {s}"
    );

    // A report cut short (a killed scanner) imports nothing: exit 1, named.
    let whole = serde_json::to_string_pretty(&json!([
        gitleaks_finding("e5e5e5", "one.py", 1, "2026-11-01T10:00:00Z"),
        gitleaks_finding("f6f6f6", "two.py", 2, "2026-11-01T10:00:00Z"),
    ]))
    .expect("json");
    let cut = write(&store, "cut.json", &whole[..whole.len() / 2]);
    let out = import(&store, "gitleaks", &[&cut]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("nothing imported from") && out.stderr.contains("cut.json"),
        "{out}"
    );

    // `list` shows ids whole: what it prints can be given to `show`.
    let list = store.run(&["list"]);
    let id = s["outcomes"][0]["id"].as_str().expect("id");
    assert!(list.stdout.contains(&format!("{id} ")), "{list}");
}

/// Every file under `dir` (store, database, WAL, logs, config).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_canary_secret_of_every_fixture_is_never_stored_recorded_printed_or_logged() {
    let store = TestStore::with_cases(&[]);
    let mut imported = 0;
    let mut printed = Vec::new();
    for format in nhi_triage::import::Format::ALL {
        let dir = fixtures().join(format.as_str());
        let canaries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("canary"))
            })
            .collect();
        assert!(
            !canaries.is_empty(),
            "{format}: no canary fixture in {}",
            dir.display()
        );
        for file in canaries {
            let text = std::fs::read_to_string(&file).expect("fixture");
            assert!(text.contains(CANARY), "{}: holds no canary", file.display());
            for json in [true, false] {
                let mut cmd = store.cmd();
                cmd.args(["--reviewer", "alice", "import", "--from", format.as_str()]);
                if json {
                    cmd.arg("--json");
                }
                cmd.arg(&file);
                let out = crate::common::run(&mut cmd);
                assert!(out.code == 0 || out.code == 1, "{format}: {out}");
                printed.push(out.stdout.clone());
                printed.push(out.stderr.clone());
                if json && out.code == 0 {
                    imported += out.json()["cases"].as_u64().unwrap_or(0);
                }
            }
        }
    }
    assert!(imported > 0, "the canary fixtures give cases");
    // Decide on every case (an evidence record each), and list and show them.
    let list = store.list_json("all");
    for case in list["cases"].as_array().expect("cases") {
        let id = case["id"].as_str().expect("id");
        let out = store.decide("alice", id, "escalate", &[]);
        printed.push(out.stdout.clone() + &out.stderr);
        printed.push(store.run(&["show", id]).stdout);
        printed.push(store.run(&["show", id, "--json"]).stdout);
    }
    printed.push(store.run(&["list", "--state", "all"]).stdout);
    printed.push(list.to_string());
    printed.push(
        store
            .run(&["evidence", "export", "--format", "jsonl"])
            .stdout,
    );
    printed.push(store.run(&["evidence", "export", "--format", "csv"]).stdout);
    for (i, text) in printed.iter().enumerate() {
        assert!(
            !text.contains(CANARY),
            "output {i} holds the canary:\n{text}"
        );
    }
    let mut files = Vec::new();
    files_under(store.sandbox.path(), &mut files);
    match &store.database {
        // PostgreSQL: every table's rows, as text.
        Some(url) => {
            for table in ["cases", "queue_rows", "evidence", "meta"] {
                let rows = crate::common::pg_sql(url, &format!("SELECT t::text FROM {table} t"));
                assert!(!rows.is_empty(), "{table} is empty");
                assert!(!rows.contains(CANARY), "table {table} holds the canary");
            }
        }
        None => assert!(
            files
                .iter()
                .any(|f| f.file_name().is_some_and(|n| n == "store.db")),
            "{files:?}"
        ),
    }
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "{} holds the canary",
            file.display()
        );
    }
}
