//! Loading case files: the bad-input fixtures (fixtures/bad/README.md), and
//! the awkward-but-valid shapes real files come in.

use std::path::{Path, PathBuf};

use nhi_triage::model::{
    Case, CaseStatus, DependencyGraph, LoadError, LoadProblem, LoadReport, RowKind, load_dir,
    load_file, parse_rfc3339,
};
use nhi_triage::policy::{Policy, Status, Tier, assess};
use tempfile::TempDir;

/// The fixtures' "now".
fn anchor() -> time::OffsetDateTime {
    parse_rfc3339(nhi_triage::demo::ANCHOR).expect("anchor")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("bad")
        .join(name)
}

/// A temp dir holding copies of the named fixtures.
fn dir_with(fixtures: &[&str]) -> TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    for name in fixtures {
        std::fs::copy(fixture(name), tmp.path().join(name)).expect("copy fixture");
    }
    tmp
}

fn ids(report: &LoadReport) -> Vec<&str> {
    report.cases.iter().map(|c| c.id.as_str()).collect()
}

fn case<'a>(report: &'a LoadReport, id: &str) -> &'a Case {
    report
        .cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} not loaded: {:?}", ids(report)))
}

fn problem_at(report: &LoadReport, line: usize) -> &LoadProblem {
    report
        .problems
        .iter()
        .find(|p| p.line == line)
        .unwrap_or_else(|| panic!("no problem at line {line}: {:#?}", report.problems))
}

#[test]
fn mixed_jsonl_loads_the_good_cases_and_names_each_bad_line() {
    let tmp = dir_with(&["mixed.jsonl"]);
    let file = tmp.path().join("mixed.jsonl");
    let report = load_dir(tmp.path()).expect("load");

    assert_eq!(
        ids(&report),
        [
            "BAD-0001", "BAD-0092", "BAD-0002", "BAD-0003", "BAD-0004", "BAD-0005"
        ]
    );
    let mut lines: Vec<usize> = report.problems.iter().map(|p| p.line).collect();
    lines.sort();
    // Lines 4 and 9 load, with a warning: `superuser` is no privilege (read
    // as unknown), `detector` is not a field of ours.
    assert_eq!(lines, [2, 3, 4, 8, 9], "{:#?}", report.problems);
    assert!(
        report.problems.iter().all(|p| p.file == file),
        "{:#?}",
        report.problems
    );

    let truncated = problem_at(&report, 2);
    assert!(
        truncated.message.contains("EOF while parsing"),
        "{truncated}"
    );
    let no_identity = problem_at(&report, 3);
    assert!(
        no_identity.message.contains("identity: is missing"),
        "{no_identity}"
    );
    assert!(no_identity.message.contains("BAD-0091"), "{no_identity}");
    let enum_value = problem_at(&report, 4);
    assert!(
        enum_value
            .message
            .contains(r#"identity.privilege: "superuser" is not a privilege"#),
        "{enum_value}"
    );
    assert!(enum_value.message.contains("BAD-0092"), "{enum_value}");
    // Display names the file and line the way an editor jumps to them.
    assert!(
        enum_value
            .to_string()
            .starts_with(&format!("{}:4: ", file.display())),
        "{enum_value}"
    );

    // Origins point back at the defining lines (the blank line 5 counts).
    let origin_lines: Vec<usize> = (0..report.cases.len())
        .map(|i| report.origin_of(i).expect("origin").1)
        .collect();
    assert_eq!(origin_lines, [1, 4, 6, 7, 9, 10]);
    assert!(report.origin_of(0).is_some_and(|(f, _)| f == file));
}

#[test]
fn a_duplicate_id_is_reported_and_the_first_is_kept() {
    let tmp = dir_with(&["mixed.jsonl"]);
    let report = load_dir(tmp.path()).expect("load");
    let dup = problem_at(&report, 8);
    assert!(dup.message.contains("duplicate case id BAD-0001"), "{dup}");
    assert!(dup.message.contains("first one loaded is kept"), "{dup}");
    let kept = case(&report, "BAD-0001");
    assert!(
        kept.title.contains("kept (first occurrence"),
        "{}",
        kept.title
    );
    assert_eq!(
        kept.identity.id,
        "arn:aws:iam::123456789012:user/fixture-one"
    );
    assert_eq!(
        report.cases.iter().filter(|c| c.id == "BAD-0001").count(),
        1
    );
}

#[test]
fn cycles_and_self_loops_load_and_every_walk_terminates() {
    let tmp = dir_with(&["mixed.jsonl"]);
    let report = load_dir(tmp.path()).expect("load");
    let c = case(&report, "BAD-0002");
    let g = DependencyGraph::of(c).expect("has a map");

    let mut dependents: Vec<&str> = g
        .transitive_dependents()
        .iter()
        .map(|&i| g.node(i).id.as_str())
        .collect();
    dependents.sort();
    assert_eq!(dependents, ["svc:a", "svc:b", "svc:c"]);

    let cycles: Vec<(String, String)> = g.cycles().into_iter().map(|e| (e.from, e.to)).collect();
    assert!(!cycles.is_empty());
    assert!(
        cycles.contains(&("svc:c".into(), "svc:c".into())),
        "self-loop not flagged: {cycles:?}"
    );
    assert!(
        cycles
            .iter()
            .any(|(f, t)| [f.as_str(), t.as_str()] == ["svc:a", "svc:b"]
                || [f.as_str(), t.as_str()] == ["svc:b", "svc:a"]),
        "a↔b cycle not flagged: {cycles:?}"
    );
    assert!(g.dangling.is_empty(), "{:?}", g.dangling);

    let outline = g.outline();
    assert!(outline.len() <= 5, "at most one row per edge: {outline:?}");
    assert!(
        outline.iter().any(|r| r.kind == RowKind::Cycle),
        "{outline:?}"
    );
    let first: Vec<&str> = outline
        .iter()
        .filter(|r| r.kind == RowKind::First)
        .map(|r| g.node(r.node).id.as_str())
        .collect();
    assert_eq!(first.len(), 3, "each node expanded once: {first:?}");

    let a = assess(c, &CaseStatus::pending(), &Policy::default(), anchor());
    assert_eq!(a.blast_radius.dependents.len(), 3);
    assert_eq!(a.tier, Tier::Low);
    assert!(
        a.q1.facts.iter().any(|f| f.starts_with("cycle:")),
        "{:?}",
        a.q1.facts
    );
}

#[test]
fn dangling_ids_load_and_are_flagged() {
    let tmp = dir_with(&["mixed.jsonl"]);
    let report = load_dir(tmp.path()).expect("load");
    let c = case(&report, "BAD-0003");
    let g = DependencyGraph::of(c).expect("has a map");
    let mut dangling: Vec<(&str, &str)> = g
        .dangling
        .iter()
        .map(|d| (d.from.as_str(), d.missing.as_str()))
        .collect();
    dangling.sort();
    assert_eq!(dangling, [("svc:a", "svc:gone-1"), ("svc:b", "svc:gone-2")]);
    assert!(g.cycles().is_empty());
    // svc:b does not reach the identity.
    let dependents: Vec<&str> = g
        .transitive_dependents()
        .iter()
        .map(|&i| g.node(i).id.as_str())
        .collect();
    assert_eq!(dependents, ["svc:a"]);

    let a = assess(c, &CaseStatus::pending(), &Policy::default(), anchor());
    assert_eq!(a.q1.status, Status::Partial);
    assert_eq!(
        a.q1.gaps.iter().filter(|g| g.contains("dangling")).count(),
        2,
        "{:?}",
        a.q1.gaps
    );
    assert_eq!(a.tier, Tier::Medium);
}

#[test]
fn readiness_of_the_loaded_fixtures_matches_the_readme() {
    let tmp = dir_with(&["mixed.jsonl", "array.json"]);
    let report = load_dir(tmp.path()).expect("load");
    let policy = Policy::default();
    let answered = [Status::Answered; 3];
    let expected = [
        // Defined twice: the copies may disagree, so never low.
        ("BAD-0001", Tier::Medium, answered),
        // `superuser` read as unknown privilege: a problem, never low.
        ("BAD-0092", Tier::Medium, answered),
        ("BAD-0002", Tier::Low, answered),
        (
            "BAD-0003",
            Tier::Medium,
            [Status::Partial, Status::Answered, Status::Answered],
        ),
        // `detector` is not a field of ours: a file gap, never low.
        ("BAD-0004", Tier::Medium, answered),
        ("BAD-0005", Tier::Low, answered),
        ("ARR-0001", Tier::Low, answered),
        ("ARR-0002", Tier::Low, answered),
        // `"tags": 5` read as no tags: a problem, never low.
        ("ARR-0003", Tier::Medium, answered),
        ("ARR-0004", Tier::Low, answered),
    ];
    assert_eq!(report.cases.len(), expected.len());
    for (id, tier, qs) in expected {
        let a = assess(case(&report, id), &CaseStatus::pending(), &policy, anchor());
        assert_eq!(
            (a.tier, [a.q1.status, a.q2.status, a.q3.status]),
            (tier, qs),
            "{id}"
        );
    }
}

#[test]
fn unknown_fields_are_ignored_and_control_characters_kept_verbatim() {
    let tmp = dir_with(&["mixed.jsonl"]);
    let report = load_dir(tmp.path()).expect("load");
    let extra = case(&report, "BAD-0004");
    assert_eq!(extra.identity.id, "github:pat/fixtures/extra");

    // Loading keeps the text as it is; showing it is what sanitizes.
    let ctrl = case(&report, "BAD-0005");
    assert!(ctrl.title.contains("\r\u{1b}[2J"), "{:?}", ctrl.title);
    assert!(ctrl.identity.name.contains('\u{7}') && ctrl.identity.name.contains('\u{202e}'));
    let shown = nhi_triage::text::sanitize(&ctrl.identity.name);
    assert!(
        !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{shown}"
    );
    assert!(shown.contains("\\x1b[31m"), "{shown}");
}

#[test]
fn array_json_reports_the_bad_element_at_its_line_in_the_file() {
    let tmp = dir_with(&["array.json"]);
    let file = tmp.path().join("array.json");

    let mut report = LoadReport::default();
    load_file(&file, &mut report);
    // `"tags": 5` is read as no tags: ARR-0003 loads with a warning at the
    // line where its element starts.
    assert_eq!(
        ids(&report),
        ["ARR-0001", "ARR-0002", "ARR-0003", "ARR-0004"]
    );
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    let p = &report.problems[0];
    assert_eq!(p.file, file);
    assert_eq!(p.line, 98, "{p}");
    assert!(
        p.message
            .starts_with(r#"case ARR-0003: tags: "5" is a number, expected a list"#),
        "{p}"
    );
    // Each element's origin is the line where it starts.
    let starts: Vec<usize> = (0..4).map(|i| report.origin_of(i).unwrap().1).collect();
    assert_eq!(starts, [2, 50, 98, 146]);

    // Through load_dir the result is the same.
    let via_dir = load_dir(tmp.path()).expect("load");
    assert_eq!(ids(&via_dir), ids(&report));
    assert_eq!(via_dir.problems, report.problems);
}

#[test]
fn array_json_reports_a_refused_element_at_the_line_of_its_bad_value() {
    // A bad required value in an element is refused at the element's line
    // plus the line of the error (here the title, on the file's 5th).
    let file = fixture("array.json");
    let text = std::fs::read_to_string(&file).expect("read");
    let broken = text.replacen("\"title\": \"", "\"title\": 7, \"x_was\": \"", 1);
    assert_ne!(broken, text, "the fixture has a title");
    let mut report = LoadReport::default();
    nhi_triage::model::parse_json_array(&file, &broken, &mut report);
    assert_eq!(ids(&report), ["ARR-0002", "ARR-0003", "ARR-0004"]);
    let p = &report.problems[0];
    assert!(
        p.message.starts_with("element 1: case ARR-0001: title: "),
        "{p}"
    );
    assert_eq!(p.line, 5, "{p}");
}

#[test]
fn both_fixtures_in_one_directory_load_in_name_order() {
    let tmp = dir_with(&["mixed.jsonl", "array.json"]);
    let report = load_dir(tmp.path()).expect("load");
    assert_eq!(report.cases.len(), 10);
    assert_eq!(report.problems.len(), 6);
    assert_eq!(
        report.files,
        [
            tmp.path().join("array.json"),
            tmp.path().join("mixed.jsonl")
        ]
    );
    // array.json sorts first, so its cases come first.
    assert_eq!(report.cases[0].id, "ARR-0001");
    assert_eq!(
        report.origin_of(4).map(|(f, l)| (f.to_path_buf(), l)),
        Some((tmp.path().join("mixed.jsonl"), 1))
    );
}

#[test]
fn a_missing_or_unreadable_directory_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let absent = tmp.path().join("absent");
    match load_dir(&absent) {
        Err(e @ LoadError::Dir { .. }) => {
            assert!(e.to_string().contains(&absent.display().to_string()), "{e}");
        }
        Ok(r) => panic!("loaded {} cases from a missing dir", r.cases.len()),
    }
    // A file where a directory should be cannot be listed either (this also
    // holds when the tests run as root, which ignores permission bits).
    let file = tmp.path().join("cases.jsonl");
    std::fs::write(&file, "").unwrap();
    assert!(matches!(load_dir(&file), Err(LoadError::Dir { .. })));
}

#[test]
fn an_empty_directory_loads_nothing_and_other_extensions_are_ignored() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = load_dir(tmp.path()).expect("load");
    assert!(report.cases.is_empty() && report.problems.is_empty());

    std::fs::write(tmp.path().join("notes.txt"), "not a case at all {").unwrap();
    std::fs::write(tmp.path().join("cases.jsonl.bak"), "{broken").unwrap();
    std::fs::write(tmp.path().join("README"), "{broken").unwrap();
    std::fs::copy(fixture("array.json"), tmp.path().join("a.json")).unwrap();
    let report = load_dir(tmp.path()).expect("load");
    assert_eq!(
        ids(&report),
        ["ARR-0001", "ARR-0002", "ARR-0003", "ARR-0004"]
    );
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].file.ends_with("a.json"));
}

#[test]
fn crlf_line_endings_and_a_byte_order_mark_load() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mixed = std::fs::read_to_string(fixture("mixed.jsonl")).unwrap();
    // Windows line endings and a BOM; the titles' own escaped "\r" stays.
    let crlf = format!("\u{feff}{}", mixed.replace('\n', "\r\n"));
    assert!(crlf.contains("\r\n\r\n"), "the blank line survives");
    std::fs::write(tmp.path().join("mixed.jsonl"), &crlf).unwrap();

    let array = std::fs::read_to_string(fixture("array.json")).unwrap();
    std::fs::write(
        tmp.path().join("array.json"),
        format!("\u{feff}{}", array.replace('\n', "\r\n")),
    )
    .unwrap();

    let report = load_dir(tmp.path()).expect("load");
    let mut loaded = ids(&report);
    loaded.sort();
    assert_eq!(
        loaded,
        [
            "ARR-0001", "ARR-0002", "ARR-0003", "ARR-0004", "BAD-0001", "BAD-0002", "BAD-0003",
            "BAD-0004", "BAD-0005", "BAD-0092"
        ]
    );
    // The same problems at the same lines as with LF endings and no BOM.
    let mut at: Vec<(String, usize)> = report
        .problems
        .iter()
        .map(|p| {
            (
                p.file.file_name().unwrap().to_string_lossy().into_owned(),
                p.line,
            )
        })
        .collect();
    at.sort();
    let expected: Vec<(String, usize)> = [
        ("array.json", 98),
        ("mixed.jsonl", 2),
        ("mixed.jsonl", 3),
        ("mixed.jsonl", 4),
        ("mixed.jsonl", 8),
        ("mixed.jsonl", 9),
    ]
    .iter()
    .map(|(f, l)| (f.to_string(), *l))
    .collect();
    assert_eq!(at, expected, "{:#?}", report.problems);
    // Nothing of the line ending leaks into the values.
    let c = case(&report, "BAD-0004");
    assert!(!c.tags.iter().any(|t| t.ends_with('\r')));
    assert!(!case(&report, "BAD-0001").title.contains('\r'));

    // A single BOM-prefixed CRLF line with a valid case.
    let one = tempfile::tempdir().expect("tempdir");
    let line = mixed.lines().next().unwrap();
    std::fs::write(one.path().join("one.jsonl"), format!("\u{feff}{line}\r\n")).unwrap();
    let report = load_dir(one.path()).expect("load");
    assert_eq!(ids(&report), ["BAD-0001"]);
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

#[test]
fn a_file_that_is_not_an_array_is_one_problem() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("obj.json"), "{\n  \"id\": \"X\"\n}\n").unwrap();
    std::fs::write(tmp.path().join("cut.json"), "[\n  {\"id\": \"X\",\n").unwrap();
    let report = load_dir(tmp.path()).expect("load");
    assert!(report.cases.is_empty());
    assert_eq!(report.problems.len(), 2, "{:#?}", report.problems);
    for p in &report.problems {
        assert!(p.message.contains("not a JSON array of cases"), "{p}");
        assert!(p.line >= 1, "{p}");
    }
}

#[test]
fn a_line_that_is_not_utf8_costs_only_that_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mixed = std::fs::read(fixture("mixed.jsonl")).unwrap();
    let lines: Vec<&[u8]> = mixed.split(|&b| b == b'\n').collect();
    // Line 1 and line 3 are valid cases; line 2 holds a byte that is not UTF-8.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(lines[0]);
    bytes.extend_from_slice(b"\n{\"id\":\"LATIN1-\xe9\"}\n");
    bytes.extend_from_slice(lines[5]);
    bytes.push(b'\n');
    std::fs::write(tmp.path().join("cases.jsonl"), &bytes).unwrap();
    let report = load_dir(tmp.path()).expect("load");
    assert_eq!(ids(&report), ["BAD-0001", "BAD-0002"]);
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    let p = &report.problems[0];
    assert_eq!(p.line, 2, "{p}");
    assert!(p.message.contains("not valid UTF-8"), "{p}");
    assert_eq!(report.origin_of(1).map(|(_, l)| l), Some(3));

    // In a JSON array the whole file is one document: one problem, at the
    // line of the bad byte.
    let arr = tempfile::tempdir().expect("tempdir");
    let mut bytes = std::fs::read(fixture("array.json")).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"arr-two")
        .expect("arr-two");
    bytes[at] = 0xff;
    std::fs::write(arr.path().join("a.json"), &bytes).unwrap();
    let report = load_dir(arr.path()).expect("load");
    assert!(report.cases.is_empty());
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    assert_eq!(report.problems[0].line, 56, "{}", report.problems[0]);
    assert!(report.problems[0].message.contains("not valid UTF-8"));
}

/// A fact spelt wrongly is unknown, never absent: the misspelt key, a map
/// without `nodes`, a `null` node list or a node's unknown flags each load
/// the case with a gap that keeps it from tier low, and a warning names the
/// line. Declared `x_` extensions are ignored.
#[test]
fn a_misspelt_or_missing_fact_is_a_gap_not_an_absence() {
    let text = std::fs::read_to_string(fixture("mixed.jsonl")).expect("fixture");
    let good = text
        .lines()
        .find(|l| l.contains("BAD-0002"))
        .expect("BAD-0002");
    let base: serde_json::Value = serde_json::from_str(good).expect("json");
    let variant = |id: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = base.clone();
        v["id"] = id.into();
        edit(&mut v);
        v.to_string()
    };
    let lines = [
        variant("OK", &|_| {}),
        variant("EXT", &|v| v["x_vendor_score"] = 7.into()),
        variant("TYPO", &|v| {
            let nodes = v["dependencies"]["nodes"].take();
            v["dependencies"]
                .as_object_mut()
                .expect("map")
                .remove("nodes");
            v["dependencies"]["node"] = nodes;
        }),
        variant("NULL", &|v| {
            v["dependencies"]["nodes"] = serde_json::Value::Null
        }),
        variant("CAPS", &|v| {
            v["Criticality"] = "critical".into();
        }),
        variant("EXTNULL", &|v| {
            v["dependencies"]["nodes"][0]["external"] = serde_json::Value::Null
        }),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("c.jsonl"), lines.join("\n")).expect("write");
    let report = load_dir(tmp.path()).expect("load");
    assert_eq!(
        report.cases.len(),
        6,
        "every case loads: {:#?}",
        report.problems
    );
    let warned: Vec<usize> = report.problems.iter().map(|p| p.line).collect();
    assert_eq!(warned, [3, 4, 5], "{:#?}", report.problems);
    assert!(report.problems[0].message.contains("dependencies.node"));
    assert!(report.problems[2].message.contains("Criticality"));

    let policy = Policy::default();
    let tier = |id: &str| {
        let a = assess(case(&report, id), &CaseStatus::pending(), &policy, anchor());
        (a.tier, a.q1.status, a.q2.status)
    };
    assert_eq!(tier("OK").0, Tier::Low);
    assert_eq!(tier("EXT").0, Tier::Low, "x_ extensions are ignored");
    assert_eq!(
        tier("TYPO"),
        (Tier::Medium, Status::Unknown, Status::Unknown)
    );
    assert_eq!(
        tier("NULL"),
        (Tier::Medium, Status::Unknown, Status::Unknown)
    );
    assert_eq!(tier("CAPS").0, Tier::Medium);
    assert_eq!(
        tier("EXTNULL"),
        (Tier::Medium, Status::Answered, Status::Partial)
    );
    // The gap is part of the content: a digest names it.
    assert_ne!(
        case(&report, "TYPO").content_sha256(),
        case(&report, "NULL").content_sha256()
    );
    assert!(case(&report, "EXT").problems.is_empty());
}

/// A FIFO (or a device) named like a case file is never opened: reading it
/// could block every command, and a decision holds the evidence lock.
#[test]
fn a_fifo_named_like_a_case_file_is_skipped_not_read() {
    let tmp = dir_with(&["mixed.jsonl"]);
    let fifo = tmp.path().join("stuck.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = tmp.path().to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(load_dir(&dir).map(|r| r.cases.len()));
    });
    let loaded = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("load_dir must not block on a FIFO");
    assert_eq!(loaded.expect("load"), 6);
}
