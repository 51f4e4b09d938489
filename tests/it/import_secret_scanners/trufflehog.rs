//! trufflehog v3 `--json` lines.

use super::*;

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
    assert_eq!(aws.case.title, "Leaked AWS in acme/api");
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
    assert_eq!(pat.case.title, "Leaked Github in acme/api");
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
    assert_eq!(key.case.title, "Leaked PrivateKey");
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
