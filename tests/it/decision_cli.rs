//! Decision safety (issue 7) at the command line: the real binary on a
//! temporary store. Decisions use the store's policy only; reviewer names
//! that hide a difference are refused and look-alikes are one person; one
//! OS account is one person unless the store's policy says otherwise;
//! invisible justifications do not count; a decision on a case that changed
//! since `show` is a conflict; huge quarantines are refused, not a panic.

use crate::common;

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use common::{
    CaseBuilder, JUSTIFICATION, Out, TestStore, at, case_entry, decide_args, low_case, run,
    three_tiers,
};
use serde_json::{Value, json};
use time::Duration;

/// A looser policy with the store's own version string: the map of MED-1
/// (30 days old) is fresh enough under it, so MED-1 would be low.
fn lax_policy(store: &TestStore) -> PathBuf {
    let path = store.sandbox.path().join("lax.toml");
    std::fs::write(
        &path,
        "version = \"default-1\"\ndependency_map_max_age_days = 60\n",
    )
    .unwrap();
    path
}

/// The command line's part after the reviewer: `decide LOW-1 --action
/// escalate --justification …`.
const ESCALATE_LOW_1: [&str; 6] = [
    "decide",
    "LOW-1",
    "--action",
    "escalate",
    "--justification",
    JUSTIFICATION,
];

/// alice approves LOW-1 with `justification`.
fn alice_approves_low_1(store: &TestStore, justification: &str) -> Out {
    run(store.cmd().args(["--reviewer", "alice"]).args(decide_args(
        "LOW-1",
        "approve",
        justification,
    )))
}

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

fn assert_code(out: &Out, code: i32) {
    assert_eq!(out.code, code, "{out}");
}

// ============================================================ --policy

#[test]
fn decide_with_a_swapped_policy_is_refused_and_records_nothing() {
    let store = three_tiers();
    let lax = lax_policy(&store);
    let lax_s = lax.to_str().unwrap();

    let out = run(store
        .cmd()
        .args(["--policy", lax_s, "--reviewer", "alice"])
        .args(decide_args("MED-1", "approve", JUSTIFICATION)));
    assert_code(&out, 2);
    assert!(out.stderr.contains("--policy"), "{out}");
    assert!(out.stderr.contains("decide"), "{out}");
    assert!(store.evidence_bytes().is_empty(), "a decision was recorded");
    // Any decision, not just approve.
    let out = run(store.cmd().args(["--policy", lax_s]).args(decide_args(
        "LOW-1",
        "quarantine",
        JUSTIFICATION,
    )));
    assert_code(&out, 2);
    assert!(store.evidence_bytes().is_empty());

    // What-if review still works, and shows the other policy's view.
    let list = store.run(&["--policy", lax_s, "list", "--json", "--state", "all"]);
    assert_code(&list, 0);
    assert_eq!(case_entry(&list.json(), "MED-1")["tier"], "low", "{list}");
    let show = store.run(&["--policy", lax_s, "show", "MED-1", "--json"]);
    assert_code(&show, 0);
    assert_eq!(show.json()["assessment"]["tier"], "low", "{show}");

    // Under the store's own policy MED-1 is medium, and approve is refused.
    assert_eq!(
        case_entry(&store.list_json("all"), "MED-1")["tier"],
        "medium"
    );
    let out = store.decide("alice", "MED-1", "approve", &[]);
    assert_code(&out, 4);
    assert!(store.evidence_bytes().is_empty());
}

#[test]
fn the_console_with_a_swapped_policy_is_refused() {
    let store = three_tiers();
    let lax = lax_policy(&store);
    let out = store.run(&["--policy", lax.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("--policy"), "{out}");
    assert!(out.stderr.contains("console"), "{out}");
}

// ============================================================ reviewer names

#[test]
fn reviewer_names_hiding_a_difference_are_refused() {
    let store = three_tiers();
    for name in [
        "alice ",
        " alice",
        "alice\u{200b}",
        "al\u{202e}ice",
        "alice\u{00ad}",
        "",
    ] {
        let out = store.decide(name, "LOW-1", "escalate", &[]);
        assert_code(&out, 2);
        assert!(out.stderr.contains("reviewer"), "{name:?}: {out}");
        // The name is shown with its hidden characters visible, never raw.
        assert!(!out.stderr.contains('\u{202e}'), "{name:?}: {out}");
    }
    assert!(store.evidence_bytes().is_empty());
}

#[test]
fn a_bad_reviewer_name_from_the_config_file_or_user_is_refused() {
    let store = three_tiers();
    let config_dir = store.sandbox.config_home().join("nhi-triage");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        "reviewer = \"alice\\u200B\"\n",
    )
    .unwrap();
    let out = run(store.cmd().args(ESCALATE_LOW_1));
    assert_code(&out, 2);
    assert!(out.stderr.contains("config"), "{out}");
    std::fs::remove_file(config_dir.join("config.toml")).unwrap();

    let out = run(store.cmd().env("USER", "alice ").args(ESCALATE_LOW_1));
    assert_code(&out, 2);
    assert!(out.stderr.contains("USER"), "{out}");
    assert!(store.evidence_bytes().is_empty());
}

#[test]
fn look_alike_reviewers_cannot_approve_alices_escalation() {
    let store = three_tiers();
    // Every test process runs as one OS account: allow shared accounts so
    // only the names decide, which is what this test is about.
    store.set_policy("allow_shared_os_accounts", "true");
    assert_code(&store.decide("alice", "HIGH-1", "escalate", &[]), 0);
    for name in ["Alice", "ALICE", "\u{0430}lice", "\u{FF41}lice"] {
        for action in ["approve", "quarantine", "close"] {
            let out = store.decide(name, "HIGH-1", action, &["--expected-version", "1"]);
            assert_code(&out, 4);
            assert!(
                out.stderr.contains("separation of duties"),
                "{action} by {name:?}: {out}"
            );
        }
    }
    assert_eq!(store.evidence_records().len(), 1);
    let out = store.decide("bob", "HIGH-1", "approve", &[]);
    assert_code(&out, 0);
}

// ============================================================ OS accounts

#[test]
fn one_os_account_cannot_approve_its_own_escalation_under_another_name() {
    let store = three_tiers();
    assert_code(&store.decide("alice", "HIGH-1", "escalate", &[]), 0);
    let escalation = &store.evidence_records()[0];
    assert_eq!(escalation["reviewer"]["os_account"]["uid"], json!(my_uid()));

    let out = store.decide("bob", "HIGH-1", "approve", &[]);
    assert_code(&out, 4);
    assert!(out.stderr.contains("separation of duties"), "{out}");
    assert!(out.stderr.contains("OS account"), "{out}");
    assert!(out.stderr.contains("allow_shared_os_accounts"), "{out}");
    // The escalator's close and quarantine likewise.
    for action in ["close", "quarantine"] {
        assert_code(&store.decide("bob", "HIGH-1", action, &[]), 4);
    }
    assert_eq!(store.evidence_records().len(), 1);

    // The store's policy allows shared accounts: allowed, and on the record.
    store.set_policy("allow_shared_os_accounts", "true");
    let out = store.decide("bob", "HIGH-1", "approve", &[]);
    assert_code(&out, 0);
    let records = store.evidence_records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["shared_os_account"], true, "{}", records[1]);
    assert_eq!(records[1]["escalated_by"], "alice");
    assert_eq!(records[1]["reviewer"]["name"], "bob");
    let line = String::from_utf8(store.evidence_bytes()).unwrap();
    assert!(
        line.lines()
            .nth(1)
            .unwrap()
            .contains("\"shared_os_account\":true"),
        "{line}"
    );
}

#[test]
fn the_os_account_comes_from_the_uid_not_user() {
    let store = three_tiers();
    let out = run(store
        .cmd()
        .env("USER", "mallory")
        .env("LOGNAME", "mallory")
        .args(ESCALATE_LOW_1));
    assert_code(&out, 0);
    let r = &store.evidence_records()[0];
    assert_eq!(r["reviewer"]["name"], "mallory");
    assert_eq!(r["reviewer"]["os_account"]["uid"], json!(my_uid()), "{r}");
    assert_ne!(r["reviewer"]["os_account"]["name"], "mallory", "{r}");
}

// ============================================================ justification

#[test]
fn an_invisible_justification_is_refused_with_the_visible_count() {
    let store = three_tiers();
    let invisible = "\u{200b}".repeat(20);
    let out = alice_approves_low_1(&store, &invisible);
    assert_code(&out, 4);
    assert!(out.stderr.contains("got 0"), "{out}");
    assert!(out.stderr.contains("20 invisible"), "{out}");
    assert!(out.stderr.contains("not counted"), "{out}");
    // The zero-width spaces are not echoed raw.
    assert!(!out.stderr.contains('\u{200b}'), "{out}");

    let padded = format!("{}fix it{}", " ".repeat(40), " ".repeat(40));
    let out = alice_approves_low_1(&store, &padded);
    assert_code(&out, 4);
    assert!(out.stderr.contains("got 5"), "{out}");
    assert!(store.evidence_bytes().is_empty());
}

#[test]
fn a_justification_over_ten_thousand_characters_is_refused() {
    let store = three_tiers();
    let long = "x".repeat(10_001);
    let out = alice_approves_low_1(&store, &long);
    assert_code(&out, 4);
    assert!(out.stderr.contains("10001 characters"), "{out}");
    assert!(store.evidence_bytes().is_empty());
}

// ============================================================ changed cases

#[test]
fn a_case_rewritten_between_show_and_decide_is_a_conflict_naming_the_change() {
    let store = TestStore::with_cases(&[low_case("LOW-1")]);
    let show = store.run(&["show", "LOW-1", "--json"]);
    assert_code(&show, 0);
    let seen = show.json()["case_sha256"]
        .as_str()
        .expect("case_sha256")
        .to_string();
    assert_eq!(seen.len(), 64);

    // The pipeline records a use an hour ago.
    let text = std::fs::read_to_string(store.cases_dir().join("cases.jsonl")).unwrap();
    let mut v: Value = serde_json::from_str(text.trim()).unwrap();
    v["identity"]["last_used_at"] = json!(at(-Duration::hours(1)));
    store.write_cases("cases.jsonl", &[v.clone()]);
    let now_sha = serde_json::from_value::<nhi_triage::model::Case>(v)
        .unwrap()
        .content_sha256();

    let out = store.decide("alice", "LOW-1", "approve", &["--case-sha256", &seen]);
    assert_code(&out, 3);
    assert!(
        out.stderr.contains("changed since you reviewed it"),
        "{out}"
    );
    assert!(out.stderr.contains("medium"), "the new tier: {out}");
    // What changed: the field, or at least the two contents.
    assert!(
        out.stderr.contains("identity.last_used_at")
            || (out.stderr.contains(&seen[..12]) && out.stderr.contains(&now_sha[..12])),
        "{out}"
    );
    assert!(store.evidence_bytes().is_empty());

    // Without the digest the decision is evaluated on the new content:
    // approve is refused for the new tier, quarantine recorded on it.
    assert_code(&store.decide("alice", "LOW-1", "approve", &[]), 4);
    let out = store.decide("alice", "LOW-1", "quarantine", &["--case-sha256", &now_sha]);
    assert_code(&out, 0);
    assert_eq!(store.evidence_records()[0]["case_sha256"], json!(now_sha));
}

#[test]
fn a_case_rewritten_to_add_a_critical_partner_is_refused_on_its_new_content() {
    let store = TestStore::with_cases(&[low_case("LOW-1")]);
    assert_eq!(case_entry(&store.list_json("all"), "LOW-1")["tier"], "low");
    let identity = "aws:iam/user/low-1";
    let v = CaseBuilder::low("LOW-1")
        .set(
            "/dependencies/nodes",
            json!([{"id": "partner:bank", "name": "bank", "kind": "partner",
                    "criticality": "critical", "external": true, "shared": false,
                    "last_seen_at": at(-Duration::days(1)), "uses": [identity]}]),
        )
        .build();
    store.write_cases("cases.jsonl", &[v]);
    let out = store.decide("alice", "LOW-1", "approve", &[]);
    assert_code(&out, 4);
    assert!(out.stderr.contains("tier is high"), "{out}");
    assert!(store.evidence_bytes().is_empty());
}

// ============================================================ time bounds

#[test]
fn huge_quarantines_are_refused_without_a_panic() {
    let store = three_tiers();
    store.set_policy("quarantine_max_hours", "8784");
    let out = store.decide("alice", "LOW-1", "quarantine", &["--hours", "80000000"]);
    assert_code(&out, 4);
    assert!(
        out.stderr
            .contains("quarantine hours must be between 1 and 8784"),
        "{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert!(store.evidence_bytes().is_empty());

    // A policy that would allow it cannot even be loaded.
    store.set_policy("quarantine_max_hours", "100000000");
    for args in [
        &["list"][..],
        &["show", "LOW-1"][..],
        &[
            "--reviewer",
            "alice",
            "decide",
            "LOW-1",
            "--action",
            "quarantine",
            "--hours",
            "80000000",
            "--justification",
            JUSTIFICATION,
        ][..],
    ] {
        let out = store.run(args);
        assert_ne!(out.code, 0, "{args:?}: {out}");
        assert_ne!(out.code, 101, "{args:?} panicked: {out}");
        assert!(
            out.stderr.contains("quarantine_max_hours"),
            "{args:?}: {out}"
        );
    }
    assert!(store.evidence_bytes().is_empty());
}

#[test]
fn quarantine_then_revoke_by_one_person_on_a_tier_high_case_is_refused() {
    let store = TestStore::with_cases(&[CaseBuilder::high("HIGH-1")
        .set("/identity/last_used_at", json!("never"))
        .build()]);
    store.set_policy("allow_shared_os_accounts", "true");
    assert_code(&store.decide("alice", "HIGH-1", "quarantine", &[]), 0);
    // Before the observation period: refused for everyone.
    let out = store.decide("bob", "HIGH-1", "revoke", &[]);
    assert_code(&out, 4);
    assert!(out.stderr.contains("24h"), "{out}");
    // With no observation period, the quarantiner still may not revoke a
    // tier-high case; bob may.
    store.set_policy("quarantine_min_observation_hours", "0");
    let out = store.decide("alice", "HIGH-1", "revoke", &[]);
    assert_code(&out, 4);
    assert!(out.stderr.contains("separation of duties"), "{out}");
    let out = store.decide("Alice", "HIGH-1", "revoke", &[]);
    assert_code(&out, 4);
    assert_eq!(store.evidence_records().len(), 1);
    let out = store.decide("bob", "HIGH-1", "revoke", &[]);
    assert_code(&out, 0);
    let r = &store.evidence_records()[1];
    assert_eq!(r["quarantined_by"], "alice", "{r}");
    assert_eq!(r["shared_os_account"], true, "{r}");
}
