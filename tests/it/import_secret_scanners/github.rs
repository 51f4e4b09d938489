//! GitHub secret-scanning alerts.

use super::*;

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
        "Leaked GitHub Personal Access Token in acme/api"
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
