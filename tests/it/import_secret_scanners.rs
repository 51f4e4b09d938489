//! The secret-scanner importers (issue 10): trufflehog, gitleaks, GitHub
//! secret scanning and GitGuardian (API incidents and ggshield), read from
//! the fixtures in tests/fixtures/import/ through the public
//! `import::parse`, and grouped across scanners with `import::group`.

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

// --- trufflehog ---

#[test]
fn trufflehog_maps_a_verified_aws_key_to_its_arn() {
    let parsed = read(Format::Trufflehog, "good.jsonl");
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    assert_eq!(
        records(&parsed),
        [
            "good.jsonl:1",
            "good.jsonl:2",
            "good.jsonl:3",
            "good.jsonl:4",
            "good.jsonl:5"
        ]
    );
    let aws = at(&parsed, "good.jsonl:1");
    assert_no_context(aws);
    assert_eq!(aws.credential, fingerprints().aws_access_key(KEY_ID));
    let id = &aws.case.identity;
    assert_eq!(
        (
            id.id.as_str(),
            id.name.as_str(),
            id.kind.as_str(),
            id.provider.as_str(),
            id.account.as_deref()
        ),
        (
            ARN,
            "AWS access key of user/ci-deploy",
            "api_key",
            "aws",
            Some("123456789012")
        )
    );
    let seen = datetime!(2024-03-05 17:17:40 UTC);
    let finding = aws.case.finding.as_ref().unwrap();
    assert_eq!(finding.source.as_deref(), Some("trufflehog"));
    assert_eq!(finding.severity, None);
    assert_eq!(finding.validity, Some(Validity::Live));
    assert_eq!(finding.detected_at, None);
    assert_eq!(finding.first_seen_at, Some(seen));
    assert!(finding.refs.is_empty());
    assert_eq!(
        aws.case.occurrences,
        [place(
            "trufflehog",
            Some("acme/api"),
            "deploy/.env",
            4,
            Some(C),
            Some(seen)
        )]
    );
    assert_eq!(aws.case.title, "Leaked AWS in acme/api (live)");
    assert_eq!(aws.case.opened_at, seen);
    assert!(aws.case.tags.is_empty());
}

#[test]
fn trufflehog_maps_a_github_token_with_its_link() {
    let parsed = read(Format::Trufflehog, "good.jsonl");
    let pat = at(&parsed, "good.jsonl:2");
    assert_no_context(pat);
    assert_eq!(pat.credential, fingerprints().secret(PAT));
    let id = &pat.case.identity;
    assert_eq!(
        (
            id.id.as_str(),
            id.name.as_str(),
            id.provider.as_str(),
            id.account.as_deref()
        ),
        (pat.credential.as_str(), "Github", "github", None)
    );
    // Not verified, and nothing says a check ran (`--no-verification`
    // prints the same): validity unknown, never inactive.
    assert_eq!(pat.case.finding.as_ref().unwrap().validity, None);
    let mut expected = place(
        "trufflehog",
        Some("acme/api"),
        "config/settings.py",
        12,
        Some(A),
        Some(datetime!(2024-03-04 09:00 UTC)),
    );
    expected.url = Some(format!(
        "https://github.com/acme/api/blob/{A}/config/settings.py#L12"
    ));
    assert_eq!(pat.case.occurrences, [expected]);
    assert_eq!(
        pat.case.title,
        "Leaked Github in acme/api (validity unknown)"
    );
}

#[test]
fn trufflehog_git_timestamps_are_converted_with_their_offset() {
    let parsed = read(Format::Trufflehog, "good.jsonl");
    // `2024-03-06 11:30:00 +0100` (git's `2006-01-02 15:04:05 -0700`).
    let second = &at(&parsed, "good.jsonl:3").case.occurrences[0];
    assert_eq!(second.first_seen_at, Some(datetime!(2024-03-06 10:30 UTC)));
    // Go's `Time.String()` (`… +0000 UTC`, other sources), and a form not
    // known: the finding imports, its time unknown.
    let text = "{\"DetectorName\":\"Slack\",\"Verified\":false,\"Raw\":\"EXAMPLE1\",\"SourceMetadata\":{\"Data\":{\"Github\":{\"timestamp\":\"2023-06-22 23:33:46 +0000 UTC\"}}}}\n\
                {\"DetectorName\":\"Slack\",\"Verified\":false,\"Raw\":\"EXAMPLE2\",\"SourceMetadata\":{\"Data\":{\"Jira\":{\"timestamp\":\"22/06/2023\"}}}}\n";
    let parsed = parse(
        Format::Trufflehog,
        &Input::new("t.jsonl", text),
        &options(None),
    );
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    let times: Vec<_> = parsed
        .findings
        .iter()
        .map(|d| d.case.occurrences[0].first_seen_at)
        .collect();
    assert_eq!(times, [Some(datetime!(2023-06-22 23:33:46 UTC)), None]);
    assert_eq!(parsed.findings[1].case.opened_at, NOW);
}

#[test]
fn trufflehog_missing_facts_stay_unknown() {
    let parsed = read(Format::Trufflehog, "good.jsonl");
    // A verification error: validity unknown; a filesystem source: no
    // repository, commit, line or time.
    let hook = at(&parsed, "good.jsonl:4");
    assert_no_context(hook);
    assert_eq!(hook.case.finding.as_ref().unwrap().validity, None);
    assert_eq!(hook.case.identity.kind, "webhook");
    assert_eq!(hook.case.identity.provider, "slack");
    assert_eq!(
        hook.case.occurrences,
        [Occurrence {
            path: Some("/srv/app/notify.cfg".into()),
            ..occurrence("trufflehog")
        }]
    );
    assert_eq!(hook.case.opened_at, NOW);
    // No source metadata at all.
    let key = at(&parsed, "good.jsonl:5");
    assert_no_context(key);
    assert_eq!(key.case.occurrences, [occurrence("trufflehog")]);
    assert_eq!(key.case.identity.kind, "private_key");
    assert_eq!(key.case.identity.provider, "unknown");
    assert_eq!(key.case.finding.as_ref().unwrap().first_seen_at, None);
    assert_eq!(key.case.title, "Leaked PrivateKey (validity unknown)");
}

#[test]
fn trufflehog_bad_lines_are_skipped_naming_the_field_and_the_rest_imports() {
    let parsed = read(Format::Trufflehog, "malformed.jsonl");
    assert_eq!(records(&parsed), ["malformed.jsonl:1", "malformed.jsonl:5"]);
    assert_eq!(
        skips(&parsed),
        [
            skip("malformed.jsonl:2", None, SkipKind::Invalid),
            skip("malformed.jsonl:3", Some("DetectorName"), SkipKind::Invalid),
            skip("malformed.jsonl:4", Some("Verified"), SkipKind::Invalid),
            skip(
                "malformed.jsonl:6",
                Some("SourceMetadata.Data.Git.line"),
                SkipKind::Invalid
            ),
        ]
    );
    let reasons: Vec<String> = parsed.skipped.iter().map(ToString::to_string).collect();
    assert!(
        reasons[0].starts_with("malformed.jsonl:2: is not JSON"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons[1],
        "malformed.jsonl:3: DetectorName: is not a string"
    );
    assert_eq!(reasons[2], "malformed.jsonl:4: Verified: is missing");
    assert_eq!(
        reasons[3],
        "malformed.jsonl:6: SourceMetadata.Data.Git.line: is not a line number (a positive integer)"
    );
}

// --- gitleaks ---

#[test]
fn gitleaks_maps_findings_and_takes_the_repository_from_the_option() {
    let parsed = read_with(Format::Gitleaks, "good.json", Some("acme/api"));
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    assert_eq!(
        records(&parsed),
        [
            "good.json:2",
            "good.json:23",
            "good.json:46",
            "good.json:66"
        ]
    );
    let pat = at(&parsed, "good.json:2");
    assert_no_context(pat);
    assert_eq!(pat.credential, fingerprints().secret(PAT));
    assert_eq!(
        (
            pat.case.identity.name.as_str(),
            pat.case.identity.kind.as_str(),
            pat.case.identity.provider.as_str()
        ),
        ("github-pat", "token", "github")
    );
    let seen = datetime!(2024-03-04 09:00 UTC);
    let finding = pat.case.finding.as_ref().unwrap();
    assert_eq!(
        (finding.severity, finding.validity, finding.detected_at),
        (None, None, None)
    );
    assert_eq!(finding.source.as_deref(), Some("gitleaks"));
    assert_eq!(finding.first_seen_at, Some(seen));
    assert_eq!(
        finding.refs,
        [format!("gitleaks:{A}:config/settings.py:github-pat:12")]
    );
    assert!(
        finding
            .summary
            .as_deref()
            .unwrap()
            .starts_with("gitleaks rule github-pat: Uncovered")
    );
    let mut expected = place(
        "gitleaks",
        Some("acme/api"),
        "config/settings.py",
        12,
        Some(A),
        Some(seen),
    );
    expected.url = Some(format!(
        "https://github.com/acme/api/blob/{A}/config/settings.py#L12"
    ));
    assert_eq!(pat.case.occurrences, [expected]);
    assert_eq!(
        pat.case.title,
        "Leaked github-pat in acme/api (validity unknown)"
    );
    assert_eq!(pat.case.opened_at, seen);
    // The AWS rule matches the key id: keyed as an AWS access key.
    let aws = at(&parsed, "good.json:23");
    assert_eq!(aws.credential, fingerprints().aws_access_key(KEY_ID));
    assert_eq!(
        (
            aws.case.identity.kind.as_str(),
            aws.case.identity.provider.as_str()
        ),
        ("api_key", "aws")
    );
    assert_eq!(aws.case.tags, ["key", "aws"]);
}

#[test]
fn gitleaks_missing_facts_stay_unknown() {
    // A `gitleaks dir` finding: no commit, no date; no `--repository`.
    let parsed = read(Format::Gitleaks, "good.json");
    let generic = at(&parsed, "good.json:66");
    assert_no_context(generic);
    assert_eq!(
        generic.case.occurrences,
        [Occurrence {
            path: Some("settings.local".into()),
            line: Some(7),
            ..occurrence("gitleaks")
        }]
    );
    assert_eq!(generic.case.finding.as_ref().unwrap().first_seen_at, None);
    assert_eq!(generic.case.opened_at, NOW);
    assert_eq!(generic.case.identity.provider, "unknown");
    assert_eq!(generic.case.identity.kind, "api_key");
}

#[test]
fn gitleaks_redacted_reports_key_by_location_and_do_not_group_across_commits() {
    let parsed = read(Format::Gitleaks, "redacted.json");
    let fp = fingerprints();
    let keys: Vec<String> = parsed
        .findings
        .iter()
        .map(|d| d.credential.clone())
        .collect();
    assert_eq!(
        keys,
        [
            format!(
                "gitleaks:{}",
                fp.of("gitleaks", &format!("{A}:config/settings.py:github-pat:12"))
            ),
            format!(
                "gitleaks:{}",
                fp.of("gitleaks", &format!("{B}:scripts/deploy.sh:github-pat:3"))
            ),
        ]
    );
    assert_eq!(group(parsed.findings).len(), 2);
}

#[test]
fn gitleaks_bad_records_are_skipped_naming_the_field_and_the_rest_imports() {
    let parsed = read(Format::Gitleaks, "malformed.json");
    assert_eq!(records(&parsed), ["malformed.json:2", "malformed.json:62"]);
    assert_eq!(
        skips(&parsed),
        [
            skip("malformed.json:23", Some("RuleID"), SkipKind::Invalid),
            skip("malformed.json:43", Some("RuleID"), SkipKind::Invalid),
            skip("malformed.json:85", Some("StartLine"), SkipKind::Invalid),
            skip("malformed.json:105", Some("Date"), SkipKind::Invalid),
        ]
    );
    assert_eq!(
        parsed.skipped[3].reason,
        "is not an RFC 3339 time with a zone"
    );
    // A report cut short is one message naming where reading stopped.
    let cut = "[\n {\"RuleID\": \"github-pat\", \"Secret\": \"x\"},\n {\"RuleID\":";
    let parsed = parse(
        Format::Gitleaks,
        &Input::new("cut.json", cut),
        &options(None),
    );
    assert!(parsed.findings.is_empty());
    assert_eq!(parsed.skipped.len(), 1);
    assert!(
        parsed.skipped[0].record.starts_with("cut.json:"),
        "{:?}",
        parsed.skipped
    );
}

// --- github-secret-scanning ---

#[test]
fn github_alerts_map_with_their_locations() {
    let parsed = read(Format::GithubSecretScanning, "good.json");
    assert_eq!(
        records(&parsed),
        ["good.json:2", "good.json:71", "good.json:141"]
    );
    let pat = at(&parsed, "good.json:2");
    assert_no_context(pat);
    assert_eq!(pat.credential, fingerprints().secret(PAT));
    let id = &pat.case.identity;
    assert_eq!(
        (id.name.as_str(), id.kind.as_str(), id.provider.as_str()),
        ("GitHub Personal Access Token", "token", "github")
    );
    let created = datetime!(2024-03-04 09:05 UTC);
    let finding = pat.case.finding.as_ref().unwrap();
    assert_eq!(finding.validity, Some(Validity::Live));
    assert_eq!(finding.severity, None);
    assert_eq!(
        (finding.detected_at, finding.first_seen_at),
        (Some(created), Some(created))
    );
    assert_eq!(
        finding.refs,
        ["https://github.com/acme/api/security/secret-scanning/42"]
    );
    assert_eq!(pat.case.tags, ["multi-repo"]);
    let src = "github-secret-scanning";
    assert_eq!(
        pat.case.occurrences,
        [
            place(
                src,
                Some("acme/api"),
                "config/settings.py",
                12,
                Some(A),
                None
            ),
            place(src, Some("acme/api"), "scripts/deploy.sh", 3, Some(B), None),
            Occurrence {
                repository: Some("acme/api".into()),
                url: Some(
                    "https://api.github.com/repos/acme/api/issues/comments/1081119451".into()
                ),
                ..occurrence(src)
            },
        ]
    );
    assert_eq!(
        pat.case.title,
        "Leaked GitHub Personal Access Token in acme/api (live)"
    );
    assert_eq!(pat.case.opened_at, created);

    // A repository-level alert: the repository from `html_url`, the place
    // from `first_location_detected`, an AWS key id keyed as one.
    let aws = at(&parsed, "good.json:71");
    assert_eq!(aws.credential, fingerprints().aws_access_key(KEY_ID));
    assert_eq!(
        (
            aws.case.identity.kind.as_str(),
            aws.case.identity.provider.as_str()
        ),
        ("api_key", "aws")
    );
    assert_eq!(aws.case.finding.as_ref().unwrap().validity, None);
    assert_eq!(aws.case.tags, ["publicly-leaked"]);
    assert_eq!(
        aws.case.occurrences,
        [place(
            src,
            Some("acme/api"),
            "deploy/.env",
            4,
            Some(C),
            None
        )]
    );
}

#[test]
fn github_resolved_alerts_are_not_applicable_and_missing_facts_stay_unknown() {
    let parsed = read(Format::GithubSecretScanning, "good.json");
    assert_eq!(
        skips(&parsed),
        [skip(
            "good.json:108",
            Some("state"),
            SkipKind::NotApplicable
        )]
    );
    assert_eq!(
        parsed.skipped[0].reason,
        "a resolved alert (resolution: revoked)"
    );
    let bare = at(&parsed, "good.json:141");
    assert_no_context(bare);
    let finding = bare.case.finding.as_ref().unwrap();
    assert_eq!(
        (finding.validity, finding.detected_at, finding.first_seen_at),
        (None, None, None)
    );
    assert!(finding.refs.is_empty() && bare.case.tags.is_empty());
    assert_eq!(
        bare.case.occurrences,
        [occurrence("github-secret-scanning")]
    );
    assert_eq!(bare.case.identity.name, "npm_access_token");
    assert_eq!(bare.case.identity.provider, "npm");
    assert_eq!(bare.case.opened_at, NOW);
}

#[test]
fn github_bad_alerts_are_skipped_naming_the_field_and_the_rest_imports() {
    let parsed = read(Format::GithubSecretScanning, "malformed.jsonl");
    assert_eq!(records(&parsed), ["malformed.jsonl:1", "malformed.jsonl:5"]);
    assert_eq!(
        skips(&parsed),
        [
            skip("malformed.jsonl:2", None, SkipKind::Invalid),
            skip("malformed.jsonl:3", Some("number"), SkipKind::Invalid),
            skip("malformed.jsonl:4", Some("secret_type"), SkipKind::Invalid),
            skip(
                "malformed.jsonl:6",
                Some("locations[0].details.start_line"),
                SkipKind::Invalid
            ),
        ]
    );
}

// --- gitguardian: API incidents ---

#[test]
fn gitguardian_incidents_map_with_their_occurrences() {
    let parsed = read(Format::Gitguardian, "good.json");
    assert_eq!(records(&parsed), ["good.json:2", "good.json:181"]);
    let fp = fingerprints();
    let token = at(&parsed, "good.json:2");
    assert_no_context(token);
    let hash = "2b8e5f3c9a7d6e1f0a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
    assert_eq!(
        token.credential,
        format!("gitguardian:{}", fp.of("gitguardian", hash))
    );
    let id = &token.case.identity;
    assert_eq!(
        (
            id.id.as_str(),
            id.name.as_str(),
            id.kind.as_str(),
            id.provider.as_str()
        ),
        (
            token.credential.as_str(),
            "GitHub Access Token",
            "token",
            "github"
        )
    );
    let date = datetime!(2024-03-04 09:00 UTC);
    let finding = token.case.finding.as_ref().unwrap();
    assert_eq!(finding.severity, Some(Level::High));
    assert_eq!(finding.validity, Some(Validity::Live));
    assert_eq!(
        (finding.detected_at, finding.first_seen_at),
        (Some(date), Some(date))
    );
    assert_eq!(
        finding.refs,
        ["https://dashboard.gitguardian.com/workspace/1/incidents/1001"]
    );
    assert_eq!(token.case.tags, ["publicly-leaked", "default-branch"]);
    let later = datetime!(2024-03-06 10:30 UTC);
    let mut first = place(
        "gitguardian",
        Some("acme/api"),
        "config/settings.py",
        12,
        Some(A),
        Some(date),
    );
    first.url = Some(format!("https://github.com/acme/api/commit/{A}#diff-0"));
    let mut second = place(
        "gitguardian",
        Some("acme/api"),
        "scripts/deploy.sh",
        3,
        Some(B),
        Some(later),
    );
    second.url = Some(format!("https://github.com/acme/api/commit/{B}#diff-0"));
    assert_eq!(token.case.occurrences, [first, second]);
    assert_eq!(
        token.case.title,
        "Leaked GitHub Access Token in acme/api (live)"
    );
}

#[test]
fn gitguardian_ignored_and_revoked_incidents_are_not_applicable_and_missing_facts_stay_unknown() {
    let parsed = read(Format::Gitguardian, "good.json");
    assert_eq!(
        skips(&parsed),
        [
            skip("good.json:136", Some("status"), SkipKind::NotApplicable),
            skip("good.json:223", Some("status"), SkipKind::NotApplicable),
        ]
    );
    // `severity: unknown`, `validity: no_checker`, no date, no occurrences.
    let generic = at(&parsed, "good.json:181");
    assert_no_context(generic);
    let finding = generic.case.finding.as_ref().unwrap();
    assert_eq!((finding.severity, finding.validity), (None, None));
    assert_eq!((finding.detected_at, finding.first_seen_at), (None, None));
    assert_eq!(generic.case.occurrences, [occurrence("gitguardian")]);
    assert_eq!(generic.case.identity.provider, "unknown");
    assert_eq!(generic.case.identity.kind, "secret");
    assert_eq!(generic.case.opened_at, NOW);
}

#[test]
fn gitguardian_one_incident_object_reads_too() {
    let list = text_of("gitguardian", "good.json");
    let all: serde_json::Value = serde_json::from_str(&list).unwrap();
    let one = serde_json::to_string_pretty(&all[0]).unwrap();
    let parsed = parse(
        Format::Gitguardian,
        &Input::new("one.json", &one),
        &options(None),
    );
    assert_eq!(records(&parsed), ["one.json:1"]);
    assert_eq!(parsed.findings[0].case.occurrences.len(), 2);
}

#[test]
fn gitguardian_bad_incidents_are_skipped_naming_the_field_and_the_rest_imports() {
    let parsed = read(Format::Gitguardian, "malformed.jsonl");
    assert_eq!(records(&parsed), ["malformed.jsonl:1", "malformed.jsonl:6"]);
    assert_eq!(
        skips(&parsed),
        [
            skip("malformed.jsonl:2", None, SkipKind::Invalid),
            skip("malformed.jsonl:3", Some("id"), SkipKind::Invalid),
            skip("malformed.jsonl:4", Some("secret_hash"), SkipKind::Invalid),
            skip(
                "malformed.jsonl:5",
                Some("occurrences[0].date"),
                SkipKind::Invalid
            ),
        ]
    );
}

// --- gitguardian: ggshield ---

#[test]
fn ggshield_commit_range_gives_one_finding_per_commit_that_group() {
    let parsed = read_with(
        Format::Gitguardian,
        "ggshield-commit-range.json",
        Some("acme/api"),
    );
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    assert_eq!(
        records(&parsed),
        [
            "ggshield-commit-range.json:20",
            "ggshield-commit-range.json:62",
            "ggshield-commit-range.json:91"
        ]
    );
    let first = at(&parsed, "ggshield-commit-range.json:20");
    assert_no_context(first);
    let sha = "d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
    assert_eq!(
        first.credential,
        format!("gitguardian:{}", fingerprints().of("gitguardian", sha))
    );
    let finding = first.case.finding.as_ref().unwrap();
    assert_eq!(
        (finding.severity, finding.validity),
        (None, Some(Validity::Live))
    );
    assert_eq!(
        finding.refs,
        ["https://dashboard.gitguardian.com/workspace/1/incidents/1001"]
    );
    assert_eq!(
        finding.summary.as_deref(),
        Some("ggshield: GitHub Token (Secrets detection)")
    );
    // `extra_info.date` is git's own date form.
    let a_seen = datetime!(2024-03-04 09:00 UTC);
    assert_eq!(
        first.case.occurrences,
        [place(
            "gitguardian",
            Some("acme/api"),
            "config/settings.py",
            12,
            Some(A),
            Some(a_seen)
        )]
    );
    // A line only in the patch (`line_start`, no `post_line_start`).
    let password = at(&parsed, "ggshield-commit-range.json:91");
    assert_eq!(password.case.occurrences[0].line, Some(9));
    assert_eq!(password.case.identity.kind, "password");
    assert_eq!(password.case.finding.as_ref().unwrap().validity, None);

    let grouped = group(parsed.findings);
    assert_eq!(grouped.len(), 2);
    let token = &grouped[0];
    assert_eq!(
        token.records,
        [
            "ggshield-commit-range.json:20",
            "ggshield-commit-range.json:62"
        ]
    );
    let b_seen = datetime!(2024-03-06 10:30 UTC);
    assert_eq!(
        token.case.occurrences,
        [
            place(
                "gitguardian",
                Some("acme/api"),
                "config/settings.py",
                12,
                Some(A),
                Some(a_seen)
            ),
            place(
                "gitguardian",
                Some("acme/api"),
                "scripts/deploy.sh",
                3,
                Some(B),
                Some(b_seen)
            ),
        ]
    );
    assert_eq!(
        token.case.finding.as_ref().unwrap().first_seen_at,
        Some(a_seen)
    );
}

#[test]
fn ggshield_without_incidents_is_no_findings_and_bad_incidents_are_skipped() {
    let empty = read(Format::Gitguardian, "ggshield-no-incidents.json");
    assert_eq!(empty, Parsed::default());
    let parsed = read(Format::Gitguardian, "ggshield-malformed.json");
    assert_eq!(records(&parsed), ["ggshield-malformed.json:12"]);
    assert_eq!(
        skips(&parsed),
        [
            skip(
                "ggshield-malformed.json:31",
                Some("ignore_sha"),
                SkipKind::Invalid
            ),
            skip(
                "ggshield-malformed.json:49",
                Some("type"),
                SkipKind::Invalid
            ),
            skip(
                "ggshield-malformed.json:68",
                Some("ignore_reason"),
                SkipKind::NotApplicable
            ),
        ]
    );
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
