//! End-to-end tests of the command line: the real binary on a temporary
//! store made with `nhi-triage init`, with HOME and the XDG dirs sandboxed.

use crate::common;

use common::{
    JUSTIFICATION, Sandbox, TestStore, case_entry, medium_case, run, tamper_line, three_tiers,
};
use serde_json::Value;

fn listed_ids(list: &Value) -> Vec<String> {
    list["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn init_creates_a_store_and_refuses_a_second_time() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("s");
    let out = run(sandbox.cmd().arg("init").arg(&dir));
    assert_eq!(out.code, 0, "{out}");
    assert!(dir.join("cases").is_dir(), "cases/ missing");
    let policy = std::fs::read_to_string(dir.join("policy.toml")).expect("policy.toml written");
    assert!(policy.contains("justification_min_chars"), "{policy}");
    assert!(dir.join("store.db").is_file(), "store.db missing");
    assert!(
        !dir.join("evidence.jsonl").exists(),
        "init must not create a file log"
    );

    let again = run(sandbox.cmd().arg("init").arg(&dir));
    assert_ne!(again.code, 0, "second init must refuse: {again}");
    assert!(again.stderr.contains("already holds a store"), "{again}");
    // The policy written the first time is left alone.
    assert_eq!(
        std::fs::read_to_string(dir.join("policy.toml")).unwrap(),
        policy
    );
}

#[test]
fn list_shows_the_highest_risk_first() {
    let store = three_tiers();
    let out = store.run(&["list"]);
    assert_eq!(out.code, 0, "{out}");
    let pos = |id: &str| {
        out.stdout
            .find(id)
            .unwrap_or_else(|| panic!("{id} missing: {out}"))
    };
    assert!(pos("HIGH-1") < pos("MED-1"), "{out}");
    assert!(pos("MED-1") < pos("LOW-1"), "{out}");
    assert!(
        out.stdout
            .contains("3 cases (open): 1 high, 1 medium, 1 low"),
        "{out}"
    );
    assert!(out.stderr.is_empty(), "no warnings expected: {out}");
}

#[test]
fn list_json_has_format_counts_readiness_and_versions() {
    let store = three_tiers();
    let list = store.list_json("open");
    assert_eq!(list["format"], "nhi-triage.list/1");
    assert_eq!(list["counts"]["total"], 3);
    assert_eq!(list["counts"]["high"], 1);
    assert_eq!(list["counts"]["medium"], 1);
    assert_eq!(list["counts"]["low"], 1);
    assert_eq!(listed_ids(&list), ["HIGH-1", "MED-1", "LOW-1"]);

    let expect = [
        (
            "LOW-1",
            "low",
            "approve",
            ["answered", "answered", "answered"],
        ),
        (
            "MED-1",
            "medium",
            "quarantine",
            ["partial", "answered", "answered"],
        ),
        (
            "HIGH-1",
            "high",
            "escalate",
            ["partial", "partial", "partial"],
        ),
    ];
    for (id, tier, rec, qs) in expect {
        let c = case_entry(&list, id);
        assert_eq!(c["tier"], tier, "{id}: {c:#}");
        assert_eq!(c["recommendation"], rec, "{id}: {c:#}");
        for (q, want) in ["q1", "q2", "q3"].into_iter().zip(qs) {
            assert_eq!(c[q], want, "{id} {q}: {c:#}");
        }
        assert_eq!(c["version"], 0, "{id}");
        assert_eq!(c["state"]["state"], "pending", "{id}");
    }
    assert_eq!(list["problems"].as_array().map(Vec::len), Some(0));
}

#[test]
fn list_state_filter_selects_quarantined_cases() {
    let store = three_tiers();
    let out = store.decide("alice", "MED-1", "quarantine", &["--hours", "24"]);
    assert_eq!(out.code, 0, "{out}");

    let q = store.list_json("quarantined");
    assert_eq!(listed_ids(&q), ["MED-1"]);
    assert_eq!(q["counts"]["total"], 1);
    assert_eq!(case_entry(&q, "MED-1")["state"]["state"], "quarantined");

    let pending = store.list_json("pending");
    assert_eq!(listed_ids(&pending), ["HIGH-1", "LOW-1"]);

    let text = store.run(&["list", "--state", "quarantined"]);
    assert_eq!(text.code, 0, "{text}");
    assert!(text.stdout.contains("MED-1"), "{text}");
    assert!(
        !text.stdout.contains("LOW-1") && !text.stdout.contains("HIGH-1"),
        "{text}"
    );
    assert!(
        text.stdout.contains("quarantined (2"),
        "24h left shown: {text}"
    );
}

#[test]
fn show_prints_ownership_tree_readiness_tier_and_actions() {
    let store = three_tiers();
    let out = store.run(&["show", "MED-1"]);
    assert_eq!(out.code, 0, "{out}");
    let s = &out.stdout;
    for needle in [
        "MED-1",
        "Ownership",
        "team billing-platform",
        "basis explicit",
        "Dependency tree",
        "└─ job:nightly-export nightly export (job, medium)",
        "Q1 Who depends on this identity?",
        "Q2 What breaks if it is removed?",
        "Q3 How quickly can restoration occur",
        "[~] partial",
        "[x] answered",
        "+ owner billing-platform (explicit)",
        "- dependency map verified 30 days ago (limit 7 days)",
        "Tier MEDIUM → recommend quarantine",
        "Actions",
        "approve",
        "quarantine",
        "escalate",
        "History",
        "no decisions yet",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in:\n{s}");
    }
    // Approve is refused on a medium case, and the verdict says so.
    let approve_line = s
        .lines()
        .find(|l| l.trim_start().starts_with("approve"))
        .expect("approve row");
    assert!(approve_line.contains("REFUSED"), "{approve_line}");

    let high = store.run(&["show", "HIGH-1"]);
    assert_eq!(high.code, 0, "{high}");
    assert!(
        high.stdout.contains("Tier HIGH → recommend escalate"),
        "{high}"
    );
    assert!(high.stdout.contains("[external partner]"), "{high}");
    assert!(
        high.stdout.contains("! external partner: partner:acme"),
        "{high}"
    );
}

#[test]
fn show_json_and_unknown_ids() {
    let store = three_tiers();
    let out = store.run(&["show", "LOW-1", "--json"]);
    assert_eq!(out.code, 0, "{out}");
    let v = out.json();
    assert_eq!(v["format"], "nhi-triage.show/1");
    assert_eq!(v["case"]["id"], "LOW-1");
    assert_eq!(v["assessment"]["tier"], "low");
    assert_eq!(v["assessment"]["q1"]["status"], "answered");
    assert_eq!(v["status"]["version"], 0);
    assert_eq!(v["history"].as_array().map(Vec::len), Some(0));

    let missing = store.run(&["show", "NOPE-9"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(
        missing.stderr.contains("no case with id NOPE-9"),
        "{missing}"
    );
    let missing_json = store.run(&["show", "NOPE-9", "--json"]);
    assert_eq!(missing_json.code, 1, "{missing_json}");
    assert!(missing_json.stdout.is_empty(), "{missing_json}");
}

#[test]
fn approving_a_low_tier_case_is_recorded() {
    let store = three_tiers();
    let out = store.decide("alice", "LOW-1", "approve", &[]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("recorded #1"), "{out}");

    let records = store.evidence_records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["seq"], 1);
    assert_eq!(r["case_id"], "LOW-1");
    assert_eq!(r["action"], "approve");
    assert_eq!(r["reviewer"]["name"], "alice");
    assert_eq!(r["justification"], JUSTIFICATION);
    assert_eq!(r["readiness"]["tier"], "low");
    assert_eq!(r["case_version"], 0);
    assert_eq!(r["state_before"]["state"], "pending");
    assert_eq!(r["state_after"]["state"], "approved");
    assert_eq!(r["override"], false);

    let show = store.run(&["show", "LOW-1"]);
    assert_eq!(show.code, 0, "{show}");
    let history = show
        .stdout
        .split("\nHistory\n")
        .nth(1)
        .expect("history section");
    assert!(history.contains("#1"), "{history}");
    assert!(history.contains("alice@"), "{history}");
    assert!(
        history.contains("approve (pending → approved)"),
        "{history}"
    );
    assert!(history.contains(JUSTIFICATION), "{history}");

    let all = store.list_json("all");
    let c = case_entry(&all, "LOW-1");
    assert_eq!(c["state"]["state"], "approved");
    assert_eq!(c["version"], 1);
    // Decided cases leave the open queue.
    assert!(!listed_ids(&store.list_json("open")).contains(&"LOW-1".to_string()));
    assert_eq!(listed_ids(&store.list_json("approved")), ["LOW-1"]);
}

#[test]
fn approving_a_high_tier_case_is_refused_and_records_nothing() {
    let store = three_tiers();
    // Some evidence first, so "unchanged" is a real byte comparison.
    assert_eq!(store.decide("alice", "LOW-1", "approve", &[]).code, 0);
    let before = store.evidence_bytes();
    assert!(!before.is_empty());

    let out = store.decide("alice", "HIGH-1", "approve", &[]);
    assert_eq!(out.code, 4, "{out}");
    let e = &out.stderr;
    assert!(e.contains("refused: approve is not allowed"), "{out}");
    assert!(e.contains("tier is high"), "{out}");
    assert!(e.contains("Q1 is partial"), "{out}");
    assert!(e.contains("Q2 is partial"), "{out}");
    assert!(e.contains("Q3 is partial"), "{out}");
    assert!(e.contains("external partner"), "{out}");
    assert!(e.contains("instead: escalate"), "{out}");
    assert_eq!(
        store.evidence_bytes(),
        before,
        "a refusal must not touch the evidence"
    );

    // A medium case is refused too, and quarantine is offered instead.
    let med = store.decide("alice", "MED-1", "approve", &[]);
    assert_eq!(med.code, 4, "{med}");
    assert!(med.stderr.contains("tier is medium"), "{med}");
    assert!(med.stderr.contains("instead: quarantine"), "{med}");
    assert_eq!(store.evidence_bytes(), before);

    let v = store.list_json("all");
    assert_eq!(case_entry(&v, "HIGH-1")["version"], 0);
    assert_eq!(case_entry(&v, "HIGH-1")["state"]["state"], "pending");
}

#[test]
fn usage_errors_refusals_and_conflicts_have_their_exit_codes() {
    let store = three_tiers();

    let short = run(store.cmd().args([
        "decide",
        "LOW-1",
        "--action",
        "approve",
        "--justification",
        "ok",
    ]));
    assert_eq!(short.code, 4, "{short}");
    assert!(
        short
            .stderr
            .contains("at least 20 visible characters (got 2)"),
        "{short}"
    );

    let with_now = run(store.cmd().args([
        "--now",
        "2026-11-27T12:00:00Z",
        "decide",
        "LOW-1",
        "--action",
        "approve",
        "--justification",
        JUSTIFICATION,
    ]));
    assert_eq!(with_now.code, 2, "{with_now}");
    assert!(
        with_now.stderr.contains("--now cannot be used with decide"),
        "{with_now}"
    );

    // serve decides too: on the real clock only.
    let tokens = store.dir.join("tokens.toml");
    let serve_now = run(store
        .cmd()
        .args(["--now", "2026-11-27T12:00:00Z", "serve", "--tokens"])
        .arg(&tokens));
    assert_eq!(serve_now.code, 2, "{serve_now}");
    assert!(serve_now.stderr.contains("--now"), "{serve_now}");

    let unknown_flag = store.run(&["list", "--frobnicate"]);
    assert_eq!(unknown_flag.code, 2, "{unknown_flag}");
    let bad_action = store.decide("alice", "LOW-1", "nuke", &[]);
    assert_eq!(bad_action.code, 2, "{bad_action}");

    let stale = store.decide("alice", "LOW-1", "approve", &["--expected-version", "5"]);
    assert_eq!(stale.code, 3, "{stale}");
    assert!(stale.stderr.contains("you decided on version 5"), "{stale}");
    assert!(stale.stderr.contains("it is now at version 0"), "{stale}");

    assert!(store.evidence_bytes().is_empty(), "nothing may be recorded");
}

#[test]
fn quarantine_then_revoke() {
    let store = three_tiers();
    // About the lifecycle, not the observation period: revoke at once.
    store.set_policy("quarantine_min_observation_hours", "0");
    let q = store.decide("alice", "MED-1", "quarantine", &["--hours", "24"]);
    assert_eq!(q.code, 0, "{q}");
    assert_eq!(listed_ids(&store.list_json("quarantined")), ["MED-1"]);
    let rec = &store.evidence_records()[0];
    let until =
        nhi_triage::model::parse_rfc3339(rec["quarantine_until"].as_str().expect("until")).unwrap();
    let ts = nhi_triage::model::parse_rfc3339(rec["ts"].as_str().expect("ts")).unwrap();
    assert_eq!(until - ts, time::Duration::hours(24));

    let r = store.decide("bob", "MED-1", "revoke", &[]);
    assert_eq!(r.code, 0, "{r}");
    assert!(listed_ids(&store.list_json("quarantined")).is_empty());
    let decided = store.list_json("decided");
    assert_eq!(listed_ids(&decided), ["MED-1"]);
    assert_eq!(case_entry(&decided, "MED-1")["state"]["state"], "revoked");
    assert_eq!(case_entry(&decided, "MED-1")["version"], 2);

    // A revoked case takes no further decisions.
    let again = store.decide("bob", "MED-1", "restore", &[]);
    assert_eq!(again.code, 4, "{again}");
    assert!(again.stderr.contains("no further decisions"), "{again}");
}

#[test]
fn escalation_enforces_separation_of_duties() {
    let store = three_tiers();
    // Every test process runs under one OS account: separation of duties
    // rests on the reviewer names here, and the record says so.
    store.set_policy("allow_shared_os_accounts", "true");
    let esc = store.decide("alice", "HIGH-1", "escalate", &[]);
    assert_eq!(esc.code, 0, "{esc}");
    let escalated = store.list_json("escalated");
    assert_eq!(listed_ids(&escalated), ["HIGH-1"]);

    let same = store.decide("alice", "HIGH-1", "approve", &[]);
    assert_eq!(same.code, 4, "{same}");
    assert!(same.stderr.contains("separation of duties"), "{same}");
    assert_eq!(store.evidence_records().len(), 1);

    let other = store.decide("bob", "HIGH-1", "approve", &[]);
    assert_eq!(other.code, 0, "{other}");
    let records = store.evidence_records();
    assert_eq!(records.len(), 2);
    let r = &records[1];
    assert_eq!(r["action"], "approve");
    assert_eq!(r["reviewer"]["name"], "bob");
    assert_eq!(r["escalated_by"], "alice");
    assert_eq!(r["shared_os_account"], true);
    assert_eq!(r["state_before"]["state"], "escalated");
    assert_eq!(r["state_after"]["state"], "approved");
    assert_eq!(r["override"], false);
}

#[test]
fn verify_detects_an_edited_record_and_decisions_stop() {
    let store = three_tiers();
    assert_eq!(store.decide("alice", "LOW-1", "approve", &[]).code, 0);
    assert_eq!(store.decide("alice", "MED-1", "quarantine", &[]).code, 0);
    assert_eq!(store.decide("alice", "HIGH-1", "escalate", &[]).code, 0);

    let ok = store.run(&["evidence", "verify"]);
    assert_eq!(ok.code, 0, "{ok}");
    assert!(ok.stdout.contains("intact"), "{ok}");
    assert!(ok.stdout.contains("3 records"), "{ok}");

    // Edit the justification of the second record, keeping its JSON valid.
    let text = String::from_utf8(store.evidence_bytes()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines[1].contains("Reviewed the dependency map"));
    lines[1] = lines[1].replace("Reviewed the dependency map", "Reviewed the dependency MAP");
    tamper_line(&store.dir, 2, &lines[1]);

    let bad = store.run(&["evidence", "verify"]);
    assert_eq!(bad.code, 5, "{bad}");
    assert!(bad.stdout.contains("BROKEN at seq 2"), "{bad}");
    assert!(bad.stdout.contains("edited"), "{bad}");

    let json = store.run(&["evidence", "verify", "--json"]);
    assert_eq!(json.code, 5, "{json}");
    assert_eq!(json.json()["first_bad"]["seq"], 2);
    assert_eq!(json.json()["records"], 1);

    // The exported log gets the same verdict as the database.
    let file = store.dir.join("exported.jsonl");
    let export = store.run(&[
        "evidence",
        "export",
        "--format",
        "jsonl",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        export.code, 5,
        "exported up to the break, and said so: {export}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), store.evidence_bytes());
    let exported = store.run(&[
        "evidence",
        "verify",
        "--json",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(exported.code, 5, "{exported}");
    assert_eq!(exported.json(), json.json());

    let before = store.evidence_bytes();
    let decide = store.decide("bob", "HIGH-1", "approve", &[]);
    assert_eq!(decide.code, 5, "{decide}");
    assert!(decide.stderr.contains("seq 2"), "{decide}");
    assert_eq!(store.evidence_bytes(), before);
    // Reading still works, with a warning.
    let list = store.run(&["list"]);
    assert_eq!(list.code, 0, "{list}");
    assert!(
        list.stderr.contains("evidence log broken at seq 2"),
        "{list}"
    );
}

/// A file store from before the database: `init`, then `store.db` taken
/// away and the chain written as `evidence.jsonl`, as older versions kept it.
fn as_file_store(store: &TestStore, log: &[u8]) {
    for name in ["store.db", "store.db-wal", "store.db-shm"] {
        let _ = std::fs::remove_file(store.dir.join(name));
    }
    std::fs::write(store.evidence_path(), log).unwrap();
}

#[test]
fn a_file_store_is_migrated_on_first_open_and_its_log_kept() {
    let store = three_tiers();
    assert_eq!(store.decide("alice", "LOW-1", "approve", &[]).code, 0);
    assert_eq!(store.decide("alice", "MED-1", "quarantine", &[]).code, 0);
    let log = store.evidence_bytes();
    as_file_store(&store, &log);

    let list = store.run(&["list", "--state", "all"]);
    assert_eq!(list.code, 0, "{list}");
    assert!(list.stderr.contains("migrated"), "{list}");
    assert!(list.stderr.contains("2 records"), "{list}");
    assert_eq!(store.evidence_bytes(), log, "the chain moved byte for byte");
    assert!(!store.evidence_path().exists());
    assert_eq!(
        std::fs::read(store.dir.join("evidence.jsonl.migrated")).unwrap(),
        log,
        "the old log is kept"
    );
    let again = store.run(&["list", "--state", "all"]);
    assert!(!again.stderr.contains("migrated"), "migrated once: {again}");
    assert_eq!(store.decide("alice", "HIGH-1", "escalate", &[]).code, 0);
    let verify = store.run(&["evidence", "verify"]);
    assert!(verify.stdout.contains("intact: 3 records"), "{verify}");
}

#[test]
fn a_file_store_with_a_broken_chain_is_not_migrated() {
    let store = three_tiers();
    assert_eq!(store.decide("alice", "LOW-1", "approve", &[]).code, 0);
    let log = String::from_utf8(store.evidence_bytes()).unwrap();
    as_file_store(&store, log.replace("Reviewed", "Edited").as_bytes());
    let decide = store.decide("alice", "MED-1", "quarantine", &[]);
    assert_eq!(decide.code, 5, "{decide}");
    assert!(decide.stderr.contains("seq 1"), "{decide}");
    assert!(store.evidence_path().exists(), "the file is left as it was");
    assert!(!store.dir.join("evidence.jsonl.migrated").exists());
}

#[test]
fn a_torn_tail_of_a_file_store_blocks_its_migration_until_repaired() {
    let store = three_tiers();
    assert_eq!(store.decide("alice", "LOW-1", "approve", &[]).code, 0);
    let good = store.evidence_bytes();
    let line = good.clone();
    // Half of a record, without its newline: a write cut short.
    let mut torn = good.clone();
    torn.extend_from_slice(&line[..line.len() / 2]);
    as_file_store(&store, &torn);

    let file = store.evidence_path();
    let verify = store.run(&["evidence", "verify", "--file", file.to_str().unwrap()]);
    assert_eq!(verify.code, 5, "{verify}");
    assert!(verify.stdout.contains("torn tail"), "{verify}");
    assert!(verify.stdout.contains("evidence repair"), "{verify}");

    let decide = store.decide("alice", "MED-1", "quarantine", &[]);
    assert_eq!(decide.code, 5, "{decide}");
    assert!(decide.stderr.contains("evidence repair"), "{decide}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        torn,
        "nothing appended after a torn tail"
    );

    let repair = store.run(&["evidence", "repair"]);
    assert_eq!(repair.code, 0, "{repair}");
    assert!(repair.stdout.contains("intact"), "{repair}");
    assert_eq!(
        store.evidence_bytes(),
        good,
        "repair keeps every complete record, and the store migrates them"
    );
    // The torn bytes are kept in a side file, not thrown away.
    let side: Vec<_> = std::fs::read_dir(&store.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("evidence.jsonl.torn-")
        })
        .collect();
    assert_eq!(side.len(), 1, "one side file");
    assert_eq!(
        std::fs::read(side[0].path()).unwrap(),
        &line[..line.len() / 2]
    );

    let decide = store.decide("alice", "MED-1", "quarantine", &[]);
    assert_eq!(decide.code, 0, "{decide}");
    let verify = store.run(&["evidence", "verify"]);
    assert_eq!(verify.code, 0, "{verify}");
    assert!(verify.stdout.contains("intact: 2 records"), "{verify}");

    let nothing = store.run(&["evidence", "repair"]);
    assert_eq!(nothing.code, 0, "{nothing}");
    assert!(nothing.stdout.contains("nothing to repair"), "{nothing}");
}

#[test]
fn evidence_exports_as_csv_and_json() {
    let store = three_tiers();
    assert_eq!(store.decide("alice", "LOW-1", "approve", &[]).code, 0);
    assert_eq!(
        store
            .decide("alice", "MED-1", "quarantine", &["--hours", "24"])
            .code,
        0
    );
    assert_eq!(
        store
            .decide(
                "alice",
                "HIGH-1",
                "escalate",
                &["--to", "=cmd|' /C calc'!A0"]
            )
            .code,
        0
    );
    let n = store.evidence_records().len();
    assert_eq!(n, 3);

    let csv = store.run(&["evidence", "export", "--format", "csv"]);
    assert_eq!(csv.code, 0, "{csv}");
    let rows: Vec<&str> = csv.stdout.split_terminator("\r\n").collect();
    assert_eq!(rows.len(), n + 1, "header + one row a record: {csv}");
    assert!(rows[0].starts_with("seq,id,ts,case_id,"), "{}", rows[0]);
    assert!(rows[1].starts_with("1,"), "{}", rows[1]);
    assert!(rows[3].contains("HIGH-1"), "{}", rows[3]);
    // A formula-looking cell is defused.
    assert!(rows[3].contains("'=cmd|"), "{}", rows[3]);

    let csv_file = store.sandbox.path().join("out.csv");
    let to_file = run(store
        .cmd()
        .args(["evidence", "export", "--format", "csv", "--output"])
        .arg(&csv_file));
    assert_eq!(to_file.code, 0, "{to_file}");
    assert!(to_file.stdout.is_empty(), "{to_file}");
    assert_eq!(std::fs::read_to_string(&csv_file).unwrap(), csv.stdout);

    let json = store.run(&["evidence", "export", "--format", "json"]);
    assert_eq!(json.code, 0, "{json}");
    let arr = json.json();
    let arr = arr.as_array().expect("a JSON array");
    assert_eq!(arr.len(), n);
    let logged = store.evidence_records();
    let mut prev = nhi_triage::evidence::GENESIS_HASH.to_string();
    for (i, r) in arr.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1);
        let hash = r["hash"].as_str().expect("hash");
        assert_eq!(hash.len(), 64);
        assert_eq!(r["prev_hash"], prev.as_str());
        assert_eq!(r, &logged[i], "exported exactly as logged");
        prev = hash.to_string();
    }

    let json_file = store.sandbox.path().join("out.json");
    let to_file = run(store
        .cmd()
        .args(["evidence", "export", "--output"])
        .arg(&json_file));
    assert_eq!(to_file.code, 0, "{to_file}");
    assert_eq!(std::fs::read_to_string(&json_file).unwrap(), json.stdout);

    // An empty log exports a header / an empty array.
    let empty = three_tiers();
    let csv = empty.run(&["evidence", "export", "--format", "csv"]);
    assert_eq!(
        (csv.code, csv.stdout.split_terminator("\r\n").count()),
        (0, 1),
        "{csv}"
    );
    let json = empty.run(&["evidence", "export", "--format", "json"]);
    assert_eq!(json.code, 0, "{json}");
    assert_eq!(json.json(), serde_json::json!([]));
}

#[test]
fn info_prints_the_store_and_config_paths() {
    let store = three_tiers();
    let out = store.run(&["info"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains(&store.dir.display().to_string()),
        "{out}"
    );
    let config = store
        .sandbox
        .config_home()
        .join("nhi-triage")
        .join("config.toml");
    assert!(out.stdout.contains(&config.display().to_string()), "{out}");
    let demo = store.sandbox.data_home().join("nhi-triage").join("demo");
    assert!(out.stdout.contains(&demo.display().to_string()), "{out}");
    assert!(out.stdout.contains("reviewer       tester@"), "{out}");

    let json = store.run(&["info", "--json"]);
    assert_eq!(json.code, 0, "{json}");
    let v = json.json();
    assert_eq!(v["format"], "nhi-triage.info/1");
    assert_eq!(v["store"], store.dir.display().to_string());
    assert_eq!(v["paths"]["config_file"], config.display().to_string());
    assert_eq!(v["policy_exists"], true);

    // NHI_TRIAGE_STORE selects the store like --store.
    let env = run(store
        .sandbox
        .cmd()
        .env("NHI_TRIAGE_STORE", &store.dir)
        .arg("info"));
    assert_eq!(env.code, 0, "{env}");
    assert!(
        env.stdout
            .contains(&format!("store          {}", store.dir.display())),
        "{env}"
    );
    let env_list = run(store
        .sandbox
        .cmd()
        .env("NHI_TRIAGE_STORE", &store.dir)
        .args(["list", "--json"]));
    assert_eq!(env_list.code, 0, "{env_list}");
    assert_eq!(env_list.json()["counts"]["total"], 3);
}

#[test]
fn demo_store_is_seeded_under_xdg_data_home_and_reused() {
    let sandbox = Sandbox::new();
    let demo = sandbox.data_home().join("nhi-triage").join("demo");
    let out = run(sandbox.cmd().args(["--demo", "list"]));
    assert_eq!(out.code, 0, "{out}");
    assert!(
        demo.join("cases").is_dir(),
        "demo store not at {}",
        demo.display()
    );
    let rows = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("CASE-"))
        .count();
    assert!(rows >= 40, "{rows} cases listed: {out}");

    let seeded = std::fs::read(demo.join("cases").join("demo.jsonl")).unwrap();
    std::fs::write(demo.join("marker"), "x").unwrap();
    let again = run(sandbox.cmd().args(["--demo", "list", "--json"]));
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.json()["counts"]["total"].as_u64().unwrap() >= 40,
        "{again}"
    );
    assert!(
        demo.join("marker").exists(),
        "the demo store was replaced, not reused"
    );
    assert_eq!(
        std::fs::read(demo.join("cases").join("demo.jsonl")).unwrap(),
        seeded
    );
    // No staging directories are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(demo.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "demo")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Nothing was written to the sandbox's HOME.
    assert_eq!(std::fs::read_dir(sandbox.home()).unwrap().count(), 0);
}

#[test]
fn control_characters_in_case_text_are_shown_not_interpreted() {
    let evil = "evil\x1b[2Jname\x1b]52;c;SGVsbG8=\x07bell\x07";
    let case = common::CaseBuilder::low("ESC-1")
        .set("/identity/name", Value::from(evil))
        .set("/title", Value::from(format!("title {evil}")))
        .set("/owner/team", Value::from(format!("team\x1b[31m{evil}")))
        .build();
    let store = TestStore::with_cases(&[case, medium_case("MED-1")]);
    let no_escapes = |what: &str, out: &common::Out| {
        for (name, bytes) in [("stdout", &out.raw_stdout), ("stderr", &out.raw_stderr)] {
            assert!(!bytes.contains(&0x1b), "{what}: ESC in {name}: {out}");
            assert!(!bytes.contains(&0x07), "{what}: BEL in {name}: {out}");
        }
    };
    let escalate = |reviewer: &str, extra: &[&str]| {
        run(store
            .cmd()
            .args([
                "--reviewer",
                reviewer,
                "decide",
                "ESC-1",
                "--action",
                "escalate",
                "--justification",
                "clear the screen \x1b[2J\x07 and ring the bell please",
            ])
            .args(extra))
    };
    // A reviewer name carrying escapes is refused, and shown as text.
    let bad_name = escalate("mallory\x1b[2J", &[]);
    assert_eq!(bad_name.code, 2, "{bad_name}");
    assert!(bad_name.stderr.contains("U+001B"), "{bad_name}");
    no_escapes("a reviewer name with escapes", &bad_name);
    // So is an escalation to the owner team, whose name carries escapes.
    let bad_target = escalate("mallory", &[]);
    assert_eq!(bad_target.code, 4, "{bad_target}");
    assert!(
        bad_target.stderr.contains("escalation target"),
        "{bad_target}"
    );
    no_escapes("an escalation target with escapes", &bad_target);
    assert!(store.evidence_bytes().is_empty(), "nothing recorded");
    // A decision whose justification carries escapes is kept as typed.
    let d = escalate("mallory", &["--to", "security-review"]);
    assert_eq!(d.code, 0, "{d}");

    let visible = "evil\\x1b[2Jname\\x1b]52;c;SGVsbG8=\\x07bell\\x07";
    for args in [
        &["list"][..],
        &["list", "--state", "all"],
        &["show", "ESC-1"],
        &[
            "decide",
            "ESC-1",
            "--action",
            "close",
            "--justification",
            "too short",
        ],
    ] {
        let out = store.run(args);
        for (name, bytes) in [("stdout", &out.raw_stdout), ("stderr", &out.raw_stderr)] {
            assert!(!bytes.contains(&0x1b), "{args:?}: ESC in {name}: {out}");
            assert!(!bytes.contains(&0x07), "{args:?}: BEL in {name}: {out}");
            assert!(!bytes.contains(&0x9b), "{args:?}: C1 CSI in {name}: {out}");
        }
        if args[0] != "decide" {
            assert!(
                out.stdout.contains(visible),
                "{args:?}: escapes not shown as text: {out}"
            );
        }
    }
    let show = store.run(&["show", "ESC-1"]);
    assert!(
        show.stdout.contains("clear the screen \\x1b[2J\\x07"),
        "{show}"
    );
    assert!(show.stdout.contains("team\\x1b[31mevil"), "{show}");
    assert!(
        show.stdout.contains("escalated to security-review"),
        "{show}"
    );
}

#[test]
fn a_missing_store_suggests_init() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path().join("no-such-store");
    for args in [&["list"][..], &["show", "X"], &["evidence", "verify"]] {
        let out = run(sandbox.cmd().arg("--store").arg(&missing).args(args));
        assert_eq!(out.code, 1, "{args:?}: {out}");
        assert!(out.stderr.contains("nhi-triage init"), "{args:?}: {out}");
        assert!(
            out.stderr.contains(&missing.display().to_string()),
            "{args:?}: {out}"
        );
    }
    assert!(!missing.exists(), "reading must not create the store");

    // Without --store: the default store under XDG_DATA_HOME, absent.
    let out = run(sandbox.cmd().arg("list"));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("nhi-triage init"), "{out}");
    assert!(out.stderr.contains("--demo"), "{out}");
    let default_store = sandbox.data_home().join("nhi-triage").join("store");
    assert!(
        out.stderr.contains(&default_store.display().to_string()),
        "{out}"
    );
}

#[test]
fn load_problems_are_warnings_and_good_cases_still_list() {
    let store = three_tiers();
    std::fs::write(
        store.cases_dir().join("broken.jsonl"),
        "{\"id\":\"X\"\nnot json\n",
    )
    .unwrap();
    let out = store.run(&["list", "--json"]);
    assert_eq!(out.code, 0, "{out}");
    let v = out.json();
    assert_eq!(v["counts"]["total"], 3);
    assert_eq!(v["problems"].as_array().unwrap().len(), 2);
    assert!(out.stderr.contains("broken.jsonl:1:"), "{out}");
    assert!(out.stderr.contains("broken.jsonl:2:"), "{out}");
}

/// `--case-sha256` takes a SHA-256 (64 hex digits); anything else is a usage
/// error, not a conflict.
#[test]
fn a_malformed_case_digest_is_a_usage_error() {
    let store = TestStore::with_cases(&[common::low_case("LOW-1")]);
    let out = store.decide("alice", "LOW-1", "approve", &["--case-sha256", "zz"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("64 hex digits"), "{out}");
    assert!(store.evidence_records().is_empty());
}

/// `--demo` (and `--store`) on the command line win over an exported
/// `NHI_TRIAGE_STORE`, as the README suggests exporting it; two stores in
/// the environment are never guessed between.
#[test]
fn the_command_line_wins_over_the_environment() {
    let store = three_tiers();
    let demo = run(store
        .sandbox
        .cmd()
        .env("NHI_TRIAGE_STORE", &store.dir)
        .args(["--demo", "show", "CASE-0026"]));
    assert_eq!(demo.code, 0, "{demo}");
    let from_env = run(store
        .sandbox
        .cmd()
        .env("NHI_TRIAGE_STORE", &store.dir)
        .args(["show", "LOW-1"]));
    assert_eq!(from_env.code, 0, "{from_env}");
    let both = run(store
        .sandbox
        .cmd()
        .env("NHI_TRIAGE_STORE", &store.dir)
        .env("NHI_TRIAGE_API", "http://127.0.0.1:9")
        .args(["list"]));
    assert_eq!(both.code, 2, "{both}");
    assert!(both.stderr.contains("more than one of"), "{both}");
    let store_and_database = run(store
        .sandbox
        .cmd()
        .env("NHI_TRIAGE_STORE", &store.dir)
        .env(
            "NHI_TRIAGE_DATABASE_URL",
            "postgres://nobody@127.0.0.1:9/none",
        )
        .args(["list"]));
    assert_eq!(store_and_database.code, 2, "{store_and_database}");
    assert!(
        store_and_database
            .stderr
            .contains("NHI_TRIAGE_DATABASE_URL"),
        "{store_and_database}"
    );
    // --store on the command line wins over an exported database URL.
    let flag = run(store
        .sandbox
        .cmd()
        .env(
            "NHI_TRIAGE_DATABASE_URL",
            "postgres://nobody@127.0.0.1:9/none",
        )
        .args(["--store"])
        .arg(&store.dir)
        .args(["show", "LOW-1"]));
    assert_eq!(flag.code, 0, "{flag}");
}
