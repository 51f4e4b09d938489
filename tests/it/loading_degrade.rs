//! Issue 8, items 10 and 11: bad values degrade a case instead of dropping
//! it, and look-alike ids are refused or merged. Fixture:
//! `fixtures/bad/degrade.jsonl` (see fixtures/bad/README.md). Each example
//! of the issue is a test through the library loader; the last tests run
//! the real binary and the real server.

use std::path::{Path, PathBuf};

use nhi_triage::model::{
    ActionKind, Case, CaseProblem, CaseStatus, Level, LoadProblem, LoadReport, OwnerBasis,
    Privilege, load_dir,
};
use nhi_triage::policy::{Policy, Status, Tier, assess};
use serde_json::{Value, json};

use crate::common::server::{Api, Server, add_token, tokens_path};
use crate::common::{CaseBuilder, TestStore, low_case};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad/degrade.jsonl")
}

/// The fixture loaded as a store loads it (`load_dir`: duplicate ids too).
fn load_fixture() -> LoadReport {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixture(), tmp.path().join("degrade.jsonl")).expect("copy");
    load_dir(tmp.path()).expect("load")
}

fn case<'a>(report: &'a LoadReport, id: &str) -> &'a Case {
    report
        .cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} not loaded: {:#?}", report.problems))
}

fn problem_at(report: &LoadReport, line: usize) -> &LoadProblem {
    report
        .problems
        .iter()
        .find(|p| p.line == line)
        .unwrap_or_else(|| panic!("no problem at line {line}: {:#?}", report.problems))
}

/// The one problem of a case, which must have exactly one.
fn only_problem(c: &Case) -> &CaseProblem {
    assert_eq!(c.problems.len(), 1, "{:#?}", c.problems);
    &c.problems[0]
}

/// Loads `cases` (JSON values) as one JSON-lines file.
fn load(cases: &[Value]) -> LoadReport {
    let tmp = tempfile::tempdir().expect("tempdir");
    crate::common::write_case(&tmp.path().join("c.jsonl"), cases);
    load_dir(tmp.path()).expect("load")
}

fn tier(c: &Case) -> Tier {
    assess(
        c,
        &CaseStatus::pending(),
        &Policy::default(),
        crate::common::now(),
    )
    .tier
}

// ---------------------------------------------------------------------------
// Item 10: the fixture's examples.

#[test]
fn the_fixture_loads_every_degraded_case_and_refuses_only_required_values() {
    let report = load_fixture();
    let ids: Vec<&str> = report.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "DEG-0001",
            "DEG-0002",
            "DEG-0003",
            "DEG-0004",
            "DEG-0005",
            "DEG-0006",
            "DEG-0007",
            "DEG-0008",
            "DUP-0001",
            "CAF\u{c9}-1"
        ],
        "{:#?}",
        report.problems
    );
    let mut lines: Vec<usize> = report.problems.iter().map(|p| p.line).collect();
    lines.sort();
    // 6-8: loaded with a problem; 9, 10, 12, 13: refused; 15: duplicate.
    assert_eq!(
        lines,
        [6, 7, 8, 9, 10, 12, 13, 15],
        "{:#?}",
        report.problems
    );
}

#[test]
fn enumerations_match_in_any_letter_case() {
    let report = load_fixture();
    let c = case(&report, "DEG-0001");
    assert!(c.problems.is_empty(), "{:#?}", c.problems);
    assert_eq!(c.severity(), Some(Level::High));
    assert_eq!(c.criticality, Some(Level::Low));
    assert_eq!(c.identity.privilege, Some(Privilege::Write));
    assert_eq!(
        c.owner.as_ref().map(|o| o.basis),
        Some(OwnerBasis::Explicit)
    );
    assert_eq!(c.action.as_ref().map(|a| a.kind), Some(ActionKind::Revoke));
}

#[test]
fn informational_info_and_unknown_severities_are_unknown_without_a_problem() {
    let report = load_fixture();
    for id in ["DEG-0002", "DEG-0003", "DEG-0004"] {
        let c = case(&report, id);
        assert_eq!(c.severity(), None, "{id}");
        assert!(c.problems.is_empty(), "{id}: {:#?}", c.problems);
        assert!(c.finding.is_some(), "{id}: the finding itself is kept");
    }
}

#[test]
fn a_date_of_n_a_is_unknown_without_a_problem() {
    let report = load_fixture();
    let c = case(&report, "DEG-0005");
    assert_eq!(c.finding.as_ref().and_then(|f| f.detected_at), None);
    assert!(c.problems.is_empty(), "{:#?}", c.problems);
}

#[test]
fn a_date_without_a_time_zone_is_unknown_never_utc_and_named() {
    let report = load_fixture();
    let c = case(&report, "DEG-0006");
    assert_eq!(c.owner.as_ref().and_then(|o| o.verified_at), None);
    let p = only_problem(c);
    assert_eq!(p.path, "owner.verified_at");
    assert_eq!(p.value.as_deref(), Some("2026-11-17T12:00:00"));
    assert!(p.message.starts_with("has no time zone"), "{p}");
    assert!(p.message.ends_with("read as unknown"), "{p}");
    // The loader's warning names the case, the path and the value.
    let w = problem_at(&report, 6).to_string();
    assert!(
        w.contains(r#"case DEG-0006: owner.verified_at: "2026-11-17T12:00:00" has no time zone"#),
        "{w}"
    );
}

#[test]
fn a_minus_8_00_offset_is_unknown_and_named() {
    let report = load_fixture();
    let c = case(&report, "DEG-0007");
    assert_eq!(c.identity.created_at, None);
    let p = only_problem(c);
    assert_eq!(p.path, "identity.created_at");
    assert_eq!(p.value.as_deref(), Some("2025-10-23T04:00:00-8:00"));
    assert!(p.message.starts_with("is not an RFC 3339 time"), "{p}");
}

#[test]
fn an_unknown_severity_is_unknown_and_named() {
    let report = load_fixture();
    let c = case(&report, "DEG-0008");
    assert_eq!(c.severity(), None);
    assert_eq!(
        only_problem(c).to_string(),
        r#"finding.severity: "HIGHEST" is not a level (critical, high, medium, low); read as unknown"#
    );
}

#[test]
fn a_bad_required_value_refuses_the_case_naming_the_path() {
    let report = load_fixture();
    let p = problem_at(&report, 9);
    assert!(
        p.message.contains("identity.id: ") && p.message.contains("U+200B"),
        "{p}"
    );
    assert!(p.message.contains("not loaded"), "{p}");
    let p = problem_at(&report, 10);
    assert!(
        p.message
            .contains(r#"case DEG-0010: opened_at: "N/A" is not an RFC 3339 time"#),
        "{p}"
    );
    // As today, the file and line lead the message.
    assert!(
        p.to_string()
            .starts_with(&format!("{}:10: ", p.file.display()))
    );
    assert!(p.file.ends_with("degrade.jsonl"));
}

// ---------------------------------------------------------------------------
// Item 10: the mechanism, beyond the fixture.

#[test]
fn a_degraded_low_case_is_never_tier_low() {
    let report = load(&[
        low_case("OK-1"),
        CaseBuilder::low("BAD-1")
            .set("/finding/severity", json!("HIGHEST"))
            .build(),
    ]);
    assert_eq!(tier(case(&report, "OK-1")), Tier::Low);
    let bad = case(&report, "BAD-1");
    assert_eq!(bad.problems.len(), 1);
    assert_eq!(tier(bad), Tier::Medium);
    let a = assess(
        bad,
        &CaseStatus::pending(),
        &Policy::default(),
        crate::common::now(),
    );
    assert!(
        a.checks.gaps.iter().any(|g| g.contains("finding.severity")),
        "a checks gap names it: {:?}",
        a.checks.gaps
    );
}

#[test]
fn every_enumeration_and_boolean_is_read_leniently() {
    let report = load(&[CaseBuilder::low("E-1")
        .set("/criticality", json!("Critical"))
        .set("/identity/privilege", json!("none"))
        .set("/action/reversible", json!("yes"))
        .set("/action/hot_reload", json!("N/A"))
        .set("/action/rollback/restore_minutes", json!("5"))
        .build()]);
    let c = case(&report, "E-1");
    assert_eq!(c.criticality, Some(Level::Critical));
    assert_eq!(c.identity.privilege, None);
    let action = c.action.as_ref().expect("action kept");
    assert_eq!(action.reversible, None);
    assert_eq!(action.hot_reload, None);
    assert_eq!(
        action.rollback.as_ref().and_then(|r| r.restore_minutes),
        None
    );
    let paths: Vec<&str> = c.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["action.reversible", "action.rollback.restore_minutes"],
        "{:#?}",
        c.problems
    );
    assert!(
        c.problems[0]
            .message
            .starts_with("is a string, not true or false")
    );
}

#[test]
fn a_bad_member_that_is_required_makes_its_object_unknown() {
    let report = load(&[
        CaseBuilder::low("O-1")
            .set("/owner/basis", json!("confirmed"))
            .build(),
        CaseBuilder::low("A-1")
            .set("/action/kind", json!("quarantine"))
            .build(),
        CaseBuilder::low("M-1")
            .set("/finding/type", json!(42))
            .build(),
    ]);
    let o = case(&report, "O-1");
    assert_eq!(o.owner, None);
    assert_eq!(
        only_problem(o).to_string(),
        r#"owner.basis: "confirmed" is not an owner basis (explicit, inferred, unknown); owner read as unknown"#
    );
    let a = case(&report, "A-1");
    assert_eq!(a.action, None);
    assert_eq!(only_problem(a).path, "action.kind");
    // No action known: never automated.
    assert_eq!(tier(a), Tier::High);
    let m = case(&report, "M-1");
    assert_eq!(m.finding, None);
    let p = only_problem(m);
    assert_eq!(
        (p.path.as_str(), p.value.as_deref()),
        ("finding.type", Some("42"))
    );
    assert!(
        p.message.starts_with("is a number, expected a string"),
        "{p}"
    );
}

#[test]
fn a_bad_value_in_the_dependency_map_keeps_the_rest_of_the_map() {
    let report = load(&[CaseBuilder::low("N-1")
        .set("/dependencies/nodes/0/criticality", json!("HIGHEST"))
        .set(
            "/dependencies/nodes/0/last_seen_at",
            json!("2026-01-01 10:00"),
        )
        .build()]);
    let c = case(&report, "N-1");
    let node = &c.dependencies.as_ref().expect("map").nodes[0];
    assert_eq!((node.criticality, node.last_seen_at), (None, None));
    assert_eq!(node.uses.len(), 1, "the edge is kept");
    let paths: Vec<&str> = c.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "dependencies.nodes[0].criticality",
            "dependencies.nodes[0].last_seen_at"
        ]
    );
    let a = assess(
        c,
        &CaseStatus::pending(),
        &Policy::default(),
        crate::common::now(),
    );
    assert_eq!(a.q1.status, Status::Answered, "who depends on it is known");
    assert_ne!(a.tier, Tier::Low);
}

#[test]
fn a_node_whose_id_or_uses_cannot_be_read_leaves_dependents_unknown() {
    let report = load(&[
        CaseBuilder::low("NID-1")
            .set("/dependencies/nodes/0/id", json!("job:nightly\u{200b}"))
            .build(),
        CaseBuilder::low("USES-1")
            .set("/dependencies/nodes/0/uses", json!([7]))
            .build(),
    ]);
    for id in ["NID-1", "USES-1"] {
        let c = case(&report, id);
        assert!(
            c.problems.iter().any(|p| p.hides_dependents()),
            "{id}: {:#?}",
            c.problems
        );
        let a = assess(
            c,
            &CaseStatus::pending(),
            &Policy::default(),
            crate::common::now(),
        );
        assert_eq!(a.q1.status, Status::Unknown, "{id}: {:?}", a.q1);
    }
    let p = only_problem(case(&report, "NID-1"));
    assert_eq!(p.path, "dependencies.nodes[0].id");
    assert!(p.message.contains("U+200B"), "{p}");
    assert!(
        p.message.ends_with("dependencies.nodes read as unknown"),
        "{p}"
    );
}

#[test]
fn the_slow_path_still_names_unknown_keys_and_refuses_duplicate_keys() {
    let mut typo = CaseBuilder::low("K-1")
        .set("/finding/severity", json!("HIGHEST"))
        .build();
    typo["owner"]["verifed_at"] = json!("2026-01-01T00:00:00Z");
    let report = load(&[typo]);
    let paths: Vec<&str> = case(&report, "K-1")
        .problems
        .iter()
        .map(|p| p.path.as_str())
        .collect();
    assert_eq!(paths, ["finding.severity", "owner.verifed_at"]);

    // A key twice in one object: refused, as on the fast path.
    let line = serde_json::to_string(
        &CaseBuilder::low("K-2")
            .set("/finding/severity", json!("HIGHEST"))
            .build(),
    )
    .expect("json")
    .replacen("\"title\":", "\"title\":\"first\",\"title\":", 1);
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("c.jsonl"), line).expect("write");
    let report = load_dir(tmp.path()).expect("load");
    assert!(report.cases.is_empty());
    assert!(
        report.problems[0]
            .message
            .contains("duplicate field `title`"),
        "{}",
        report.problems[0]
    );
}

#[test]
fn problems_are_part_of_the_case_json_only_when_there_are_some() {
    let report = load_fixture();
    let clean = serde_json::to_value(case(&report, "DEG-0001")).expect("json");
    assert!(clean.get("problems").is_none(), "{clean}");
    let bad = serde_json::to_value(case(&report, "DEG-0008")).expect("json");
    assert_eq!(
        bad["problems"],
        json!([{
            "path": "finding.severity",
            "value": "HIGHEST",
            "message": "is not a level (critical, high, medium, low); read as unknown"
        }])
    );
    // And they round-trip (the remote client reads them back).
    let back: Case = serde_json::from_value(bad).expect("read back");
    assert_eq!(&back, case(&report, "DEG-0008"));
}

// ---------------------------------------------------------------------------
// Item 11: look-alike ids.

#[test]
fn look_alike_case_ids_are_refused_naming_the_field() {
    let report = load_fixture();
    assert_eq!(
        report
            .cases
            .iter()
            .filter(|c| c.id.starts_with("DUP-0001"))
            .count(),
        1
    );
    let space = problem_at(&report, 12);
    assert!(
        space
            .message
            .contains(r#"id: "DUP-0001 " has leading or trailing whitespace"#),
        "{space}"
    );
    let zero_width = problem_at(&report, 13);
    assert!(
        zero_width
            .message
            .contains(r#"case DUP-0001\u{200b}: id: "DUP-0001\u{200b}" holds an invisible"#),
        "{zero_width}"
    );
    assert!(zero_width.message.contains("U+200B"), "{zero_width}");
}

#[test]
fn two_spellings_of_one_id_are_one_id() {
    let report = load_fixture();
    // Line 14 spells É as one code point, line 15 as E + U+0301.
    let kept = case(&report, "CAF\u{c9}-1");
    assert_eq!(kept.title, "Two spellings: composed \u{c9}");
    let dup = problem_at(&report, 15);
    assert!(dup.message.contains("duplicate case id"), "{dup}");
    assert_eq!(kept.problems.len(), 1, "{:#?}", kept.problems);
    assert_eq!(kept.problems[0].path, "id");
    assert_ne!(tier(kept), Tier::Low);
}

#[test]
fn identity_and_node_ids_are_read_in_nfc() {
    let report = load(&[CaseBuilder::low("NFC-1")
        .set("/identity/id", json!("user/jose\u{301}"))
        .set("/dependencies/nodes/0/uses", json!(["user/jos\u{e9}"]))
        .build()]);
    let c = case(&report, "NFC-1");
    assert!(c.problems.is_empty(), "{:#?}", c.problems);
    assert_eq!(c.identity.id, "user/jos\u{e9}");
    // The edge written in the other spelling still reaches the identity.
    let a = assess(
        c,
        &CaseStatus::pending(),
        &Policy::default(),
        crate::common::now(),
    );
    assert_eq!(a.tier, Tier::Low, "{:?}", a.tier_reasons);
}

// ---------------------------------------------------------------------------
// Through the real binary and the real server.

fn degraded_store() -> TestStore {
    TestStore::with_cases(&[
        low_case("OK-1"),
        CaseBuilder::low("BAD-1")
            .set("/finding/severity", json!("HIGHEST"))
            .set("/identity/created_at", json!("2025-10-23T04:00:00-8:00"))
            .build(),
        low_case("CAF\u{c9}-1"),
        low_case("DUP-1 "),
    ])
}

#[test]
fn the_binary_shows_the_problems_with_path_and_value() {
    let store = degraded_store();
    let out = store.run(&["show", "BAD-1", "--json"]);
    assert_eq!(out.code, 0, "{out}");
    let shown = out.json();
    let problems = &shown["case"]["problems"];
    assert_eq!(problems[0]["path"], "finding.severity", "{shown:#}");
    assert_eq!(problems[0]["value"], "HIGHEST");
    assert_eq!(problems[1]["path"], "identity.created_at");
    assert_eq!(problems[1]["value"], "2025-10-23T04:00:00-8:00");
    assert_ne!(shown["assessment"]["tier"], "low", "{shown:#}");
    // The loader's warning on stderr names both.
    assert!(
        out.stderr
            .contains(r#"case BAD-1: finding.severity: "HIGHEST" is not a level"#),
        "{out}"
    );
    assert!(out.stderr.contains("identity.created_at"), "{out}");

    // The refused look-alike is named, with its field; the list holds the rest.
    let out = store.run(&["list", "--json", "--state", "all"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains(r#"id: "DUP-1 " has leading or trailing whitespace"#),
        "{out}"
    );
    let list = out.json();
    let ids: Vec<&str> = list["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&"BAD-1") && !ids.iter().any(|i| i.starts_with("DUP-1")));
}

#[test]
fn show_and_decide_find_a_case_by_any_spelling_of_its_id() {
    let store = degraded_store();
    for spelling in ["CAF\u{c9}-1", "CAFE\u{301}-1", " CAF\u{c9}-1 "] {
        let out = store.run(&["show", spelling, "--json"]);
        assert_eq!(out.code, 0, "{spelling:?}: {out}");
        assert_eq!(out.json()["case"]["id"], "CAF\u{c9}-1");
    }
    let out = store.decide("alice", "CAFE\u{301}-1", "approve", &[]);
    assert_eq!(out.code, 0, "{out}");
    let records = store.evidence_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["case_id"], "CAF\u{c9}-1", "recorded as loaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_finds_a_case_by_any_spelling_of_its_id() {
    let store = degraded_store();
    let tokens = tokens_path(&store);
    let token = add_token(&store, &tokens, "alice");
    let server = Server::start(&store, &tokens, &[]);
    let api = Api::new(&server, &token);
    // E + U+0301, percent-encoded as a client sends it.
    let (status, body) = api.get("/v1/cases/CAFE%CC%81-1").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["case"]["id"], "CAF\u{c9}-1");
    let (status, body) = api.get("/v1/cases/BAD-1").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["case"]["problems"][0]["path"], "finding.severity");
    server.terminate();
}
