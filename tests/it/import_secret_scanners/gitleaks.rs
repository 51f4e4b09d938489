//! The gitleaks JSON report.

use super::*;

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
    assert_eq!(pat.case.title, "Leaked github-pat in acme/api");
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
