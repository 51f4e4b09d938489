//! The secret-scanner importers (issue 10): trufflehog, gitleaks, GitHub
//! secret scanning and GitGuardian (API incidents and ggshield), read from
//! the fixtures in tests/fixtures/import/ through the public
//! `import::parse`, and grouped across scanners with `import::group`.

mod gitguardian;
mod github;
mod gitleaks;
mod trufflehog;

use std::path::Path;

use nhi_triage::import::{
    Detected, Fingerprinter, Format, ImportOptions, Input, Parsed, SkipKind, group, parse,
    propose_action,
};
use nhi_triage::model::{CaseStatus, LastUsed, Level, Occurrence, Validity};
use nhi_triage::policy::{Policy, Tier, assess};
use time::OffsetDateTime;
use time::macros::datetime;

const CANARY: &str = "nhi-canary-7Q2xLw9d";
const PAT: &str = "ghp_nhiTriageFAKEexample00000000000000a1";
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const ARN: &str = "arn:aws:iam::123456789012:user/ci-deploy";
const A: &str = "3f1c2a9e5d7b4c6a8e0f1d2c3b4a5968778695a4";
const B: &str = "8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b";
const C: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn fingerprints() -> Fingerprinter {
    Fingerprinter::new([7; 32])
}

fn options(repository: Option<&str>) -> ImportOptions {
    ImportOptions {
        fingerprints: fingerprints(),
        repository: repository.map(str::to_string),
        now: NOW,
    }
}

fn text_of(dir: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(dir)
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_with(format: Format, name: &str, repository: Option<&str>) -> Parsed {
    let text = text_of(format.as_str(), name);
    parse(format, &Input::new(name, &text), &options(repository))
}

fn read(format: Format, name: &str) -> Parsed {
    read_with(format, name, None)
}

fn records(parsed: &Parsed) -> Vec<&str> {
    parsed.findings.iter().map(|d| d.record.as_str()).collect()
}

fn skips(parsed: &Parsed) -> Vec<(String, Option<String>, SkipKind)> {
    parsed
        .skipped
        .iter()
        .map(|s| (s.record.clone(), s.field.clone(), s.kind))
        .collect()
}

fn skip(record: &str, field: Option<&str>, kind: SkipKind) -> (String, Option<String>, SkipKind) {
    (record.to_string(), field.map(str::to_string), kind)
}

fn at<'a>(parsed: &'a Parsed, record: &str) -> &'a Detected {
    parsed
        .findings
        .iter()
        .find(|d| d.record == record)
        .unwrap_or_else(|| panic!("no finding at {record}: {:#?}", records(parsed)))
}

fn occurrence(source: &str) -> Occurrence {
    Occurrence {
        source: Some(source.to_string()),
        repository: None,
        path: None,
        line: None,
        commit: None,
        url: None,
        first_seen_at: None,
        last_seen_at: None,
    }
}

fn place(
    source: &str,
    repo: Option<&str>,
    path: &str,
    line: u32,
    commit: Option<&str>,
    seen: Option<OffsetDateTime>,
) -> Occurrence {
    Occurrence {
        repository: repo.map(str::to_string),
        path: Some(path.to_string()),
        line: Some(line),
        commit: commit.map(str::to_string),
        first_seen_at: seen,
        last_seen_at: seen,
        ..occurrence(source)
    }
}

/// What these detectors never know stays unknown on every case.
fn assert_no_context(d: &Detected) {
    let case = &d.case;
    assert!(case.id.is_empty(), "{}", d.record);
    assert_eq!(case.identity.created_at, None, "{}", d.record);
    assert_eq!(
        case.identity.last_used_at,
        LastUsed::Unknown,
        "{}",
        d.record
    );
    assert_eq!(case.identity.privilege, None, "{}", d.record);
    assert!(
        case.owner.is_none() && case.criticality.is_none() && case.dependencies.is_none(),
        "{}",
        d.record
    );
    assert!(
        case.action.is_none() && case.change_window.is_none(),
        "{}",
        d.record
    );
    let finding = case.finding.as_ref().expect("finding");
    assert_eq!(finding.kind, "leaked_secret");
    assert_eq!(finding.owasp, None);
}

// --- across scanners ---

#[test]
fn one_secret_from_three_scanners_is_one_case_with_all_occurrences() {
    let mut findings = read(Format::Trufflehog, "good.jsonl").findings;
    findings.extend(read_with(Format::Gitleaks, "good.json", Some("acme/api")).findings);
    findings.extend(read(Format::GithubSecretScanning, "good.json").findings);
    let grouped = group(findings);
    let fp = fingerprints();

    let pat = grouped
        .iter()
        .find(|g| g.credential == fp.secret(PAT))
        .expect("the token's case");
    assert_eq!(
        pat.records,
        [
            "good.jsonl:2",
            "good.jsonl:3",
            "good.json:2",
            "good.json:46",
            "good.json:2"
        ]
    );
    let sources: Vec<&str> = pat
        .case
        .occurrences
        .iter()
        .filter_map(|o| o.source.as_deref())
        .collect();
    assert_eq!(sources.iter().filter(|s| **s == "trufflehog").count(), 2);
    assert_eq!(sources.iter().filter(|s| **s == "gitleaks").count(), 2);
    assert_eq!(
        sources
            .iter()
            .filter(|s| **s == "github-secret-scanning")
            .count(),
        3
    );
    let finding = pat.case.finding.as_ref().unwrap();
    assert_eq!(
        finding.source.as_deref(),
        Some("trufflehog, gitleaks, github-secret-scanning")
    );
    assert_eq!(finding.validity, Some(Validity::Live));
    assert_eq!(finding.first_seen_at, Some(datetime!(2024-03-04 09:00 UTC)));

    // The AWS key id: trufflehog's verified key, gitleaks' rule match and
    // GitHub's alert are one credential, its provider identity kept.
    let aws = grouped
        .iter()
        .find(|g| g.credential == fp.aws_access_key(KEY_ID))
        .expect("the key's case");
    assert_eq!(aws.records.len(), 3);
    assert_eq!(aws.case.identity.id, ARN);
    assert_eq!(aws.case.tags, ["key", "aws", "publicly-leaked"]);
}

#[test]
fn the_canary_secret_never_leaves_a_parser() {
    let files: [(Format, &[&str]); 4] = [
        (
            Format::Trufflehog,
            &["canary.jsonl", "good.jsonl", "malformed.jsonl"],
        ),
        (
            Format::Gitleaks,
            &["canary.json", "good.json", "malformed.json"],
        ),
        (
            Format::GithubSecretScanning,
            &["canary.json", "good.json", "malformed.jsonl"],
        ),
        (
            Format::Gitguardian,
            &[
                "canary.json",
                "canary-ggshield.json",
                "good.json",
                "malformed.jsonl",
            ],
        ),
    ];
    for (format, names) in files {
        for name in names {
            let text = text_of(format.as_str(), name);
            let parsed = parse(format, &Input::new(name, &text), &options(Some("acme/api")));
            if name.starts_with("canary") {
                assert!(
                    text.contains(CANARY),
                    "{format} {name}: the fixture holds the canary"
                );
                assert!(
                    !parsed.findings.is_empty(),
                    "{format} {name}: {:?}",
                    parsed.skipped
                );
            }
            let debug = format!("{parsed:?}");
            assert!(!debug.contains(CANARY), "{format} {name}: {debug}");
            for skipped in &parsed.skipped {
                assert!(
                    !skipped.to_string().contains(CANARY),
                    "{format} {name}: {skipped}"
                );
            }
            for detected in &parsed.findings {
                let json = serde_json::to_string(&detected.case).unwrap();
                assert!(!json.contains(CANARY), "{format} {name}: {json}");
            }
            for grouped in group(parsed.findings) {
                let json = serde_json::to_string(&grouped.case).unwrap();
                assert!(!json.contains(CANARY), "{format} {name}: {json}");
                assert!(!grouped.credential.contains(CANARY));
            }
        }
    }
}

#[test]
fn default_policy_tiers_of_leaked_secrets() {
    let tier = |d: &Detected| {
        let mut case = d.case.clone();
        propose_action(&mut case);
        assess(&case, &CaseStatus::pending(), &Policy::default(), NOW).tier
    };
    // Rotate proposed, with no owner, no dependency map and nothing known
    // about restarts or rollback: escalate.
    let truffle = read(Format::Trufflehog, "good.jsonl");
    assert_eq!(tier(at(&truffle, "good.jsonl:2")), Tier::High);
    let gg = read(Format::Gitguardian, "good.json");
    assert_eq!(tier(at(&gg, "good.json:2")), Tier::High);
    // A leaked AWS access key: a reversible disable is proposed, but
    // nobody is known to own or use it: quarantine, not approve.
    assert_eq!(tier(at(&truffle, "good.jsonl:1")), Tier::Medium);
}

/// Every path in `value` (object keys and array positions), depth first.
fn paths(
    value: &serde_json::Value,
    prefix: &mut Vec<serde_json::Value>,
    out: &mut Vec<Vec<serde_json::Value>>,
) {
    let children: Vec<(serde_json::Value, &serde_json::Value)> = match value {
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone().into(), v)).collect(),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.into(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        prefix.push(key);
        out.push(prefix.clone());
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn replace_at(value: &mut serde_json::Value, path: &[serde_json::Value], new: &serde_json::Value) {
    let mut at = value;
    for key in path {
        at = match key {
            serde_json::Value::String(k) => &mut at[k.as_str()],
            serde_json::Value::Number(i) => &mut at[i.as_u64().unwrap() as usize],
            _ => unreachable!(),
        };
    }
    *at = new.clone();
}

#[test]
fn no_field_of_any_type_makes_a_parser_panic() {
    let replacements = [
        serde_json::json!(null),
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1.5),
        serde_json::json!(""),
        serde_json::json!("é\u{202e}x"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!(true),
    ];
    let files = [
        (Format::Trufflehog, "good.jsonl"),
        (Format::Gitleaks, "good.json"),
        (Format::GithubSecretScanning, "good.json"),
        (Format::Gitguardian, "good.json"),
        (Format::Gitguardian, "ggshield-commit-range.json"),
    ];
    let mut parses = 0;
    for (format, name) in files {
        let text = text_of(format.as_str(), name);
        let records: Vec<serde_json::Value> = if name.ends_with(".jsonl") {
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        } else {
            match serde_json::from_str(&text).unwrap() {
                serde_json::Value::Array(items) => items,
                one => vec![one],
            }
        };
        for record in records {
            let mut all = Vec::new();
            paths(&record, &mut Vec::new(), &mut all);
            for path in all {
                for new in &replacements {
                    let mut mutated = record.clone();
                    replace_at(&mut mutated, &path, new);
                    let text = serde_json::to_string(&mutated).unwrap();
                    let parsed = parse(format, &Input::new("m.json", &text), &options(None));
                    parses += 1;
                    if !name.starts_with("ggshield") {
                        // One record in, one finding or one skip out.
                        assert_eq!(
                            parsed.findings.len() + parsed.skipped.len(),
                            1,
                            "{format} {path:?} = {new}"
                        );
                    }
                }
            }
        }
    }
    assert!(parses > 1000, "{parses}");
}
