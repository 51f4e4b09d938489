//! GitGuardian API incidents and ggshield output.

use super::*;

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
    assert_eq!(token.case.title, "Leaked GitHub Access Token in acme/api");
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
