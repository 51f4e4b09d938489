//! The cloud detector importers (issue 10): the IAM credential report, IAM
//! Access Analyzer, OCSF and ASFF, read from the fixtures in
//! tests/fixtures/import/ through the public `import::parse`.

use std::path::Path;

use nhi_triage::import::{
    Fingerprinter, Format, ImportOptions, Input, Parsed, SkipKind, group, parse, propose_action,
};
use nhi_triage::model::{CaseStatus, LastUsed, Level, OwnerBasis, Privilege};
use nhi_triage::policy::{Policy, Tier, assess};
use time::OffsetDateTime;
use time::macros::datetime;

const CANARY: &str = "nhi-canary-7Q2xLw9d";
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const NOW: OffsetDateTime = datetime!(2024-08-01 00:00 UTC);

fn options() -> ImportOptions {
    ImportOptions {
        fingerprints: Fingerprinter::new([7; 32]),
        repository: None,
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

fn read(format: Format, name: &str) -> Parsed {
    read_text(format, name, &text_of(format.as_str(), name))
}

fn read_text(format: Format, name: &str, text: &str) -> Parsed {
    parse(format, &Input::new(name, text), &options())
}

/// The skips as `(record, field, kind)`, for comparing in one assert.
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

fn finding_for<'a>(parsed: &'a Parsed, identity_id: &str) -> &'a nhi_triage::import::Detected {
    parsed
        .findings
        .iter()
        .find(|d| d.case.identity.id == identity_id)
        .unwrap_or_else(|| panic!("no finding for {identity_id}: {parsed:#?}"))
}

const ROOT: &str = "arn:aws:iam::123456789012:root";
const BILLING: &str = "arn:aws:iam::123456789012:user/svc/svc-billing";
const ROLE: &str = "arn:aws:iam::123456789012:role/deploy-bot";

// --- aws-credential-report ---

#[test]
fn credential_report_gives_one_case_per_active_key() {
    let parsed = read(Format::AwsCredentialReport, "good.csv");
    let slots: Vec<(&str, &str)> = parsed
        .findings
        .iter()
        .map(|d| (d.record.as_str(), d.case.title.as_str()))
        .collect();
    assert_eq!(
        slots,
        [
            ("good.csv:2", "Access key 1 of the root account"),
            ("good.csv:3", "Access key 1 of svc-billing"),
            ("good.csv:3", "Access key 2 of svc-billing"),
            ("good.csv:4", "Access key 1 of legacy-etl"),
            ("good.csv:6", "Access key 2 of deploy-bot"),
        ]
    );
    let root = &parsed.findings[0];
    assert_eq!(
        root.credential,
        "aws-credential-report:arn:aws:iam::123456789012:root#access_key_1#2019-03-01T10:00:00Z"
    );
    let case = &root.case;
    assert_eq!(case.id, "");
    assert_eq!(case.identity.id, ROOT);
    assert_eq!(case.identity.name, "<root_account>");
    assert_eq!(case.identity.kind, "api_key");
    assert_eq!(case.identity.provider, "aws");
    assert_eq!(case.identity.account.as_deref(), Some("123456789012"));
    assert_eq!(
        case.identity.created_at,
        Some(datetime!(2019-03-01 10:00 UTC))
    );
    assert_eq!(
        case.identity.last_used_at,
        LastUsed::At(datetime!(2024-05-02 08:15 UTC))
    );
    assert_eq!(case.identity.privilege, Some(Privilege::Admin));
    assert_eq!(case.tags, ["root"]);
    assert_eq!(case.opened_at, datetime!(2019-03-01 10:00 UTC));
    let finding = case.finding.as_ref().expect("finding");
    assert_eq!(finding.kind, "long_lived");
    assert_eq!(finding.severity, None);
    assert_eq!(finding.source.as_deref(), Some("aws-credential-report"));
    assert_eq!(finding.detected_at, None);
    let summary = finding.summary.as_deref().unwrap_or("");
    assert!(summary.contains("iam in us-east-1"), "{summary}");

    // The report says nothing of owner, context, privilege of a user, or
    // the action: all stay unknown.
    let billing = &parsed.findings[1].case;
    assert_eq!(billing.identity.privilege, None);
    assert_eq!(billing.identity.name, "svc-billing");
    assert!(billing.tags.is_empty());
    assert!(
        billing.owner.is_none() && billing.criticality.is_none() && billing.dependencies.is_none()
    );
    assert!(billing.action.is_none() && billing.change_window.is_none());

    // Keys that are not active are skipped, each naming its slot.
    let expected = [
        skip(
            "good.csv:2",
            Some("access_key_2_active"),
            SkipKind::NotApplicable,
        ),
        skip(
            "good.csv:4",
            Some("access_key_2_active"),
            SkipKind::NotApplicable,
        ),
        skip(
            "good.csv:5",
            Some("access_key_1_active"),
            SkipKind::NotApplicable,
        ),
        skip(
            "good.csv:5",
            Some("access_key_2_active"),
            SkipKind::NotApplicable,
        ),
        skip(
            "good.csv:6",
            Some("access_key_1_active"),
            SkipKind::NotApplicable,
        ),
    ];
    assert_eq!(skips(&parsed), expected);
    assert!(
        parsed.skipped[0].reason.contains("not active"),
        "{}",
        parsed.skipped[0]
    );
}

#[test]
fn credential_report_na_is_never_only_for_active_keys_made_after_tracking_began() {
    let header =
        "user,arn,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date\n";
    let rows = [
        ("2015-04-22T00:00:00+00:00", "N/A", LastUsed::Never),
        ("2015-04-21T23:59:59+00:00", "N/A", LastUsed::Unknown),
        ("2014-11-03T16:20:00+00:00", "N/A", LastUsed::Unknown),
        ("2023-01-04T10:11:12+00:00", "N/A", LastUsed::Never),
        (
            "2014-11-03T16:20:00+00:00",
            "2016-01-01T00:00:00+00:00",
            LastUsed::At(datetime!(2016-01-01 00:00 UTC)),
        ),
    ];
    for (rotated, used, expected) in rows {
        let text =
            format!("{header}svc,arn:aws:iam::123456789012:user/svc,TRUE,{rotated},{used}\n");
        let parsed = read_text(Format::AwsCredentialReport, "r.csv", &text);
        assert_eq!(parsed.findings.len(), 1, "{parsed:#?}");
        assert_eq!(
            parsed.findings[0].case.identity.last_used_at, expected,
            "rotated {rotated}, used {used}"
        );
    }
    // An inactive key is no case, whatever its last use says.
    let text = format!("{header}svc,arn:aws:iam::123456789012:user/svc,FALSE,N/A,N/A\n");
    let parsed = read_text(Format::AwsCredentialReport, "r.csv", &text);
    assert!(parsed.findings.is_empty());
    assert_eq!(
        skips(&parsed),
        [skip(
            "r.csv:2",
            Some("access_key_1_active"),
            SkipKind::NotApplicable
        )]
    );
}

#[test]
fn credential_report_keys_are_stable_and_a_rotated_key_is_new() {
    let text = text_of("aws-credential-report", "good.csv");
    let first = read_text(Format::AwsCredentialReport, "good.csv", &text);
    let again = read_text(Format::AwsCredentialReport, "copy.csv", &text);
    let credentials = |p: &Parsed| {
        p.findings
            .iter()
            .map(|d| d.credential.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(credentials(&first), credentials(&again));
    let (a, b) = (group(first.findings.clone()), group(again.findings));
    assert_eq!(a.len(), 5, "five keys, five cases");
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.case, b.case, "the same report gives the same cases");
    }
    // The same user and slot, another last_rotated: another key.
    let rotated = text.replace("2023-01-04T10:11:12+00:00", "2024-07-20T08:00:00+00:00");
    let rotated = read_text(Format::AwsCredentialReport, "good.csv", &rotated);
    assert_ne!(first.findings[1].credential, rotated.findings[1].credential);
    assert_eq!(first.findings[2].credential, rotated.findings[2].credential);
    // Equal instants written differently are one key.
    let zulu = text.replace("2023-01-04T10:11:12+00:00", "2023-01-04T10:11:12Z");
    let zulu = read_text(Format::AwsCredentialReport, "good.csv", &zulu);
    assert_eq!(first.findings[1].credential, zulu.findings[1].credential);
}

#[test]
fn credential_report_bad_rows_are_skipped_naming_line_and_field() {
    let parsed = read(Format::AwsCredentialReport, "malformed.csv");
    let imported: Vec<(&str, &str)> = parsed
        .findings
        .iter()
        .map(|d| (d.record.as_str(), d.case.identity.name.as_str()))
        .collect();
    assert_eq!(
        imported,
        [("malformed.csv:2", "svc-a"), ("malformed.csv:8", "svc-z")]
    );
    let invalid: Vec<String> = parsed
        .skipped
        .iter()
        .filter(|s| s.kind == SkipKind::Invalid)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        invalid,
        [
            "malformed.csv:3: has 10 fields where the header has 22",
            "malformed.csv:4: access_key_1_last_rotated: is \"yesterday\", not a time (RFC 3339 with a zone) for an active key",
            "malformed.csv:5: access_key_1_last_used_date: is \"2024-13-45T00:00:00+00:00\", not a time or N/A",
            "malformed.csv:6: access_key_1_active: is \"maybe\", not TRUE or FALSE",
            "malformed.csv:7: arn: is empty",
        ]
    );
    // A file that is not a credential report is one message.
    let parsed = read_text(
        Format::AwsCredentialReport,
        "x.csv",
        "user,arn\nsvc,arn:aws:iam::1:user/svc\n",
    );
    assert!(parsed.findings.is_empty());
    assert_eq!(
        skips(&parsed),
        [skip(
            "x.csv:1",
            Some("access_key_1_active"),
            SkipKind::Invalid
        )]
    );
}

// --- aws-access-analyzer ---

#[test]
fn access_analyzer_list_maps_unused_access_and_skips_the_rest() {
    let parsed = read(Format::AwsAccessAnalyzer, "good-list.json");
    let kinds: Vec<(&str, &str, &str)> = parsed
        .findings
        .iter()
        .map(|d| {
            let finding = d.case.finding.as_ref().expect("finding");
            (
                d.case.identity.name.as_str(),
                d.case.identity.kind.as_str(),
                finding.kind.as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("deploy-bot", "role", "unused"),
            ("svc-billing", "api_key", "unused"),
            ("alice", "password", "unused"),
            ("reporting", "role", "overprivileged"),
        ]
    );
    let role = &parsed.findings[0];
    assert_eq!(role.record, "good-list.json:3");
    assert_eq!(
        role.credential,
        format!("aws-access-analyzer:UnusedIAMRole:{ROLE}")
    );
    let case = &role.case;
    assert_eq!(case.title, "Unused role deploy-bot");
    assert_eq!(case.identity.id, ROLE);
    assert_eq!(case.identity.account.as_deref(), Some("123456789012"));
    // The list form gives no last use: unknown, never "never".
    assert_eq!(case.identity.last_used_at, LastUsed::Unknown);
    assert_eq!(case.identity.created_at, None);
    assert_eq!(case.identity.privilege, None);
    assert_eq!(case.opened_at, datetime!(2024-05-20 06:00 UTC));
    let finding = case.finding.as_ref().expect("finding");
    assert_eq!(finding.severity, None);
    assert_eq!(finding.source.as_deref(), Some("aws-access-analyzer"));
    assert_eq!(finding.refs, ["a1b2c3d4-0001-4e5f-9a0b-1c2d3e4f5a61"]);
    assert_eq!(finding.detected_at, Some(datetime!(2024-05-20 06:00 UTC)));
    assert!(
        case.owner.is_none()
            && case.criticality.is_none()
            && case.dependencies.is_none()
            && case.action.is_none()
    );
    // Without get-finding-v2 the key is known by its finding only.
    assert_eq!(
        parsed.findings[1].credential,
        "aws-access-analyzer:a1b2c3d4-0002-4e5f-9a0b-1c2d3e4f5a62"
    );

    let skipped: Vec<(Option<&str>, SkipKind)> = parsed
        .skipped
        .iter()
        .map(|s| (s.field.as_deref(), s.kind))
        .collect();
    assert_eq!(
        skipped,
        [
            (Some("findingType"), SkipKind::NotApplicable),
            (Some("status"), SkipKind::NotApplicable)
        ]
    );
    assert!(
        parsed.skipped[0].reason.contains("ExternalAccess"),
        "{}",
        parsed.skipped[0]
    );
    assert!(
        parsed.skipped[1].reason.contains("ARCHIVED"),
        "{}",
        parsed.skipped[1]
    );
}

#[test]
fn access_analyzer_get_gives_last_use_and_keys_by_fingerprint() {
    let parsed = read(Format::AwsAccessAnalyzer, "good-get.json");
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    let role = &parsed.findings[0].case;
    assert_eq!(
        role.identity.last_used_at,
        LastUsed::At(datetime!(2024-01-12 09:30 UTC))
    );
    assert_eq!(role.title, "Unused role deploy-bot");

    let key = &parsed.findings[1];
    assert_eq!(
        key.credential,
        Fingerprinter::new([7; 32]).aws_access_key(KEY_ID)
    );
    assert_eq!(key.case.identity.id, BILLING);
    assert_eq!(key.case.identity.kind, "api_key");
    // No lastAccessed: unknown, not "never".
    assert_eq!(key.case.identity.last_used_at, LastUsed::Unknown);
    assert!(
        !format!("{parsed:?}").contains(KEY_ID),
        "the key id is kept out of cases"
    );

    // Unused permissions say nothing of the role's own use.
    let permissions = &parsed.findings[2].case;
    assert_eq!(permissions.identity.last_used_at, LastUsed::Unknown);
    let summary = permissions
        .finding
        .as_ref()
        .and_then(|f| f.summary.as_deref())
        .unwrap_or("");
    assert!(summary.contains("2 services: s3, dynamodb"), "{summary}");
}

#[test]
fn access_analyzer_list_get_and_event_of_one_finding_are_one_case() {
    let mut all = Vec::new();
    for name in ["good-list.json", "good-get.json", "good-event.json"] {
        let parsed = read(Format::AwsAccessAnalyzer, name);
        all.extend(
            parsed
                .findings
                .into_iter()
                .filter(|d| d.case.identity.id == ROLE),
        );
    }
    assert_eq!(all.len(), 3, "one role finding in each form");
    let event = &all[2];
    assert_eq!(event.record, "good-event.json:1");
    // The account is the resource's (detail.accountId), not the event's.
    assert_eq!(event.case.identity.account.as_deref(), Some("123456789012"));
    let grouped = group(all);
    assert_eq!(grouped.len(), 1, "{grouped:#?}");
    let one = &grouped[0];
    assert_eq!(
        one.records,
        ["good-list.json:3", "good-get.json:2", "good-event.json:1"]
    );
    assert_eq!(
        one.case.identity.last_used_at,
        LastUsed::At(datetime!(2024-01-12 09:30 UTC))
    );
    assert!(one.case.id.starts_with("NHI-"));

    // In one input, the list form of a key finding takes the key named by
    // its get-finding-v2 form.
    let list: serde_json::Value =
        serde_json::from_str(&text_of("aws-access-analyzer", "good-list.json")).unwrap();
    let get: serde_json::Value =
        serde_json::from_str(&text_of("aws-access-analyzer", "good-get.json")).unwrap();
    let lines = format!("{}\n{}\n", list, get[1]);
    let parsed = read_text(Format::AwsAccessAnalyzer, "both.jsonl", &lines);
    let keys: Vec<&str> = parsed
        .findings
        .iter()
        .filter(|d| d.case.identity.kind == "api_key")
        .map(|d| d.credential.as_str())
        .collect();
    let fingerprint = Fingerprinter::new([7; 32]).aws_access_key(KEY_ID);
    assert_eq!(keys, [fingerprint.as_str(), fingerprint.as_str()]);
}

#[test]
fn access_analyzer_bad_records_are_skipped_naming_line_and_field() {
    let parsed = read(Format::AwsAccessAnalyzer, "malformed.jsonl");
    let imported: Vec<(&str, &str)> = parsed
        .findings
        .iter()
        .map(|d| (d.record.as_str(), d.case.identity.name.as_str()))
        .collect();
    assert_eq!(
        imported,
        [("malformed.jsonl:1", "r0"), ("malformed.jsonl:6", "u7")]
    );
    let key_detail = "findingDetails[0].unusedIamUserAccessKeyDetails.accessKeyId";
    assert_eq!(
        skips(&parsed),
        [
            skip("malformed.jsonl:2", None, SkipKind::Invalid),
            skip(
                "malformed.jsonl:3",
                Some("detail.resource"),
                SkipKind::Invalid
            ),
            skip("malformed.jsonl:4", Some("createdAt"), SkipKind::Invalid),
            skip("malformed.jsonl:5", Some(key_detail), SkipKind::Invalid),
            skip(
                "malformed.jsonl:7",
                Some("detail.isDeleted"),
                SkipKind::NotApplicable
            ),
            skip(
                "malformed.jsonl:8",
                Some("detail-type"),
                SkipKind::NotApplicable
            ),
            skip("malformed.jsonl:9", Some("error"), SkipKind::NotApplicable),
        ]
    );
    assert!(
        parsed.skipped[0].reason.starts_with("is not JSON"),
        "{}",
        parsed.skipped[0]
    );
    assert_eq!(parsed.skipped[1].reason, "is missing");
    assert!(
        parsed.skipped[2].reason.contains("\"last tuesday\""),
        "{}",
        parsed.skipped[2]
    );
}

// --- ocsf ---

#[test]
fn ocsf_maps_detection_findings_of_identities() {
    let parsed = read(Format::Ocsf, "good.json");
    assert_eq!(parsed.findings.len(), 4, "{:#?}", parsed.findings);
    let billing = finding_for(&parsed, BILLING);
    assert_eq!(billing.record, "good.json:2");
    assert_eq!(billing.credential, format!("cloud-resource:{BILLING}"));
    let case = &billing.case;
    assert_eq!(
        case.title,
        "Ensure User Access Keys unused are disabled: svc-billing"
    );
    assert_eq!(
        (case.identity.name.as_str(), case.identity.kind.as_str()),
        ("svc-billing", "user")
    );
    assert_eq!(case.identity.provider, "aws");
    assert_eq!(case.identity.account.as_deref(), Some("123456789012"));
    assert_eq!(case.identity.last_used_at, LastUsed::Unknown);
    assert_eq!(case.identity.created_at, None);
    let finding = case.finding.as_ref().expect("finding");
    assert_eq!(finding.kind, "unused");
    assert_eq!(finding.severity, Some(Level::Medium));
    assert_eq!(finding.source.as_deref(), Some("ocsf (Prowler)"));
    assert_eq!(finding.detected_at, Some(datetime!(2024-07-01 08:00 UTC)));
    assert_eq!(
        finding.summary.as_deref(),
        Some("User svc-billing has not used access key 1 in the last 90 days (172 days).")
    );
    assert_eq!(finding.refs.len(), 1);
    assert!(case.owner.is_none() && case.criticality.is_none());

    let legacy = finding_for(&parsed, "arn:aws:iam::123456789012:user/legacy-etl");
    assert_eq!(
        legacy.case.finding.as_ref().map(|f| f.kind.as_str()),
        Some("long_lived")
    );

    // Owner and criticality when the detector gives them: its view, inferred.
    let payments = &finding_for(&parsed, "arn:aws:iam::123456789012:role/payments-batch").case;
    let owner = payments.owner.as_ref().expect("owner");
    assert_eq!(owner.team.as_deref(), Some("payments"));
    assert_eq!(owner.contact.as_deref(), Some("payments@example.com"));
    assert_eq!(owner.basis, OwnerBasis::Inferred);
    assert_eq!(owner.verified_at, None);
    assert_eq!(
        owner.source.as_deref(),
        Some("ocsf resources[0].owner (Security Hub)")
    );
    assert_eq!(payments.criticality, Some(Level::High));
    assert_eq!(payments.identity.kind, "role");
    assert_eq!(payments.identity.provider, "aws");
    let finding = payments.finding.as_ref().expect("finding");
    assert_eq!(finding.severity, Some(Level::High));
    assert_eq!(finding.kind, "unused");
    assert_eq!(finding.first_seen_at, Some(datetime!(2024-06-01 00:00 UTC)));
    assert_eq!(payments.opened_at, datetime!(2024-06-01 00:00 UTC));

    // Facts missing stay unknown: no severity, product, account record or
    // owner; a criticality that is none of our levels is unknown.
    let bare = &finding_for(&parsed, "arn:aws:iam::123456789012:user/nightly").case;
    let finding = bare.finding.as_ref().expect("finding");
    assert_eq!(finding.severity, None);
    assert_eq!(finding.source.as_deref(), Some("ocsf"));
    assert_eq!(finding.kind, "finding");
    assert_eq!(bare.criticality, None);
    assert!(bare.owner.is_none());
    assert_eq!(
        bare.identity.account.as_deref(),
        Some("123456789012"),
        "from the ARN"
    );
    assert_eq!(bare.title, "Finding on nightly");

    let skipped: Vec<(Option<&str>, SkipKind)> = parsed
        .skipped
        .iter()
        .map(|s| (s.field.as_deref(), s.kind))
        .collect();
    assert_eq!(
        skipped,
        [
            (Some("status_code"), SkipKind::NotApplicable),
            (Some("resources[0].type"), SkipKind::NotApplicable),
            (Some("class_uid"), SkipKind::NotApplicable),
            (Some("status_id"), SkipKind::NotApplicable),
        ]
    );
}

#[test]
fn ocsf_epoch_seconds_and_milliseconds_read_alike() {
    let record = |time: &str| {
        format!(
            r#"{{"class_uid": 2004, {time}, "finding_info": {{"uid": "f"}}, "resources": [{{"uid": "arn:aws:iam::123456789012:user/u"}}]}}"#
        )
    };
    let at = |fields: &str| {
        let parsed = read_text(Format::Ocsf, "t.json", &record(fields));
        assert_eq!(parsed.findings.len(), 1, "{parsed:#?}");
        parsed.findings[0]
            .case
            .finding
            .as_ref()
            .and_then(|f| f.detected_at)
    };
    let expected = Some(datetime!(2024-07-01 08:00 UTC));
    assert_eq!(at(r#""time": 1719820800"#), expected, "seconds (Prowler)");
    assert_eq!(
        at(r#""time": 1719820800000"#),
        expected,
        "milliseconds (the schema)"
    );
    assert_eq!(
        at(r#""time": 0, "time_dt": "2024-07-01T08:00:00Z""#),
        expected,
        "the _dt text first"
    );
    // The smallest number is no time (and no panic).
    let parsed = read_text(
        Format::Ocsf,
        "t.json",
        &record(r#""time": -9223372036854775808"#),
    );
    assert_eq!(
        skips(&parsed),
        [skip("t.json:1", Some("time"), SkipKind::Invalid)]
    );
    assert_eq!(
        at(r#""time": 1719820800, "time_dt": "2024-07-01T08:00:00""#),
        expected,
        "a _dt without a zone gives way to the number"
    );
}

#[test]
fn ocsf_bad_records_are_skipped_naming_line_and_field() {
    let parsed = read(Format::Ocsf, "malformed.jsonl");
    let imported: Vec<(&str, &str)> = parsed
        .findings
        .iter()
        .map(|d| (d.record.as_str(), d.case.identity.name.as_str()))
        .collect();
    assert_eq!(
        imported,
        [
            ("malformed.jsonl:1", "svc-a"),
            ("malformed.jsonl:7", "svc-f")
        ]
    );
    assert_eq!(
        skips(&parsed),
        [
            skip("malformed.jsonl:2", None, SkipKind::Invalid),
            skip(
                "malformed.jsonl:3",
                Some("finding_info.uid"),
                SkipKind::Invalid
            ),
            skip("malformed.jsonl:4", Some("time_dt"), SkipKind::Invalid),
            skip(
                "malformed.jsonl:5",
                Some("resources[0].uid"),
                SkipKind::Invalid
            ),
            skip("malformed.jsonl:6", Some("class_uid"), SkipKind::Invalid),
        ]
    );
    assert!(
        parsed.skipped[2]
            .reason
            .contains("\"2024-99-99T00:00:00Z\""),
        "{}",
        parsed.skipped[2]
    );
}

// --- asff ---

#[test]
fn asff_maps_failed_findings_and_skips_passed_ones() {
    let parsed = read(Format::Asff, "good.json");
    assert_eq!(parsed.findings.len(), 3, "{:#?}", parsed.findings);
    let billing = finding_for(&parsed, BILLING);
    assert_eq!(billing.record, "good.json:2");
    assert_eq!(billing.credential, format!("cloud-resource:{BILLING}"));
    let finding = billing.case.finding.as_ref().expect("finding");
    assert_eq!(finding.kind, "unused");
    assert_eq!(finding.severity, Some(Level::Medium));
    assert_eq!(finding.source.as_deref(), Some("asff (Prowler)"));
    assert_eq!(finding.detected_at, Some(datetime!(2024-07-01 08:00 UTC)));
    assert_eq!(billing.case.identity.kind, "user");

    // An access key: its credential is the key's fingerprint, and its id
    // (in the resource id) is kept out of the case.
    let fingerprint = Fingerprinter::new([7; 32]).aws_access_key(KEY_ID);
    let key = parsed
        .findings
        .iter()
        .find(|d| d.credential == fingerprint)
        .expect("key");
    let case = &key.case;
    assert_eq!(case.identity.id, fingerprint);
    assert_eq!(
        (case.identity.name.as_str(), case.identity.kind.as_str()),
        ("svc-billing", "api_key")
    );
    assert_eq!(
        case.identity.created_at,
        Some(datetime!(2023-01-04 10:11:12 UTC))
    );
    assert_eq!(case.identity.account.as_deref(), Some("123456789012"));
    assert_eq!(case.identity.last_used_at, LastUsed::Unknown);
    let finding = case.finding.as_ref().expect("finding");
    assert_eq!(finding.kind, "long_lived", "Security Hub control IAM.3");
    assert_eq!(finding.severity, Some(Level::High));
    assert_eq!(finding.source.as_deref(), Some("asff (Security Hub)"));
    assert!(
        !format!("{parsed:?}").contains(KEY_ID),
        "the key id is kept out of cases"
    );

    // Facts missing stay unknown: INFORMATIONAL is no severity.
    let role = &finding_for(&parsed, "arn:aws:iam::123456789012:role/nightly-export").case;
    assert_eq!(role.finding.as_ref().and_then(|f| f.severity), None);
    assert_eq!(role.identity.created_at, None);
    assert_eq!(role.identity.kind, "role");

    let skipped: Vec<(Option<&str>, SkipKind)> = parsed
        .skipped
        .iter()
        .map(|s| (s.field.as_deref(), s.kind))
        .collect();
    assert_eq!(
        skipped,
        [
            (Some("Compliance.Status"), SkipKind::NotApplicable),
            (Some("Resources[0].Type"), SkipKind::NotApplicable),
            (Some("RecordState"), SkipKind::NotApplicable),
            (Some("Workflow.Status"), SkipKind::NotApplicable),
            (Some("Compliance.Status"), SkipKind::NotApplicable),
        ]
    );
    assert!(
        parsed.skipped[0].reason.contains("PASSED"),
        "{}",
        parsed.skipped[0]
    );
    assert!(
        parsed.skipped[4].reason.contains("NOT_AVAILABLE"),
        "{}",
        parsed.skipped[4]
    );
}

#[test]
fn asff_forms_and_access_analyzer_agree_on_one_access_key() {
    let fingerprint = Fingerprinter::new([7; 32]).aws_access_key(KEY_ID);
    let mut all = Vec::new();
    for name in ["good-get-findings.json", "good-event.json"] {
        let parsed = read(Format::Asff, name);
        assert!(parsed.skipped.is_empty(), "{name}: {:?}", parsed.skipped);
        assert_eq!(parsed.findings.len(), 1, "{name}");
        assert_eq!(parsed.findings[0].credential, fingerprint, "{name}");
        all.extend(parsed.findings);
    }
    let analyzer = read(Format::AwsAccessAnalyzer, "good-get.json");
    all.extend(
        analyzer
            .findings
            .into_iter()
            .filter(|d| d.credential == fingerprint),
    );
    let grouped = group(all);
    assert_eq!(grouped.len(), 1, "one key, one case: {grouped:#?}");
    let source = grouped[0]
        .case
        .finding
        .as_ref()
        .and_then(|f| f.source.as_deref());
    assert_eq!(source, Some("asff (Security Hub), aws-access-analyzer"));
}

#[test]
fn asff_bad_records_are_skipped_naming_line_and_field() {
    let parsed = read(Format::Asff, "malformed.jsonl");
    let imported: Vec<(&str, &str)> = parsed
        .findings
        .iter()
        .map(|d| (d.record.as_str(), d.case.identity.name.as_str()))
        .collect();
    assert_eq!(
        imported,
        [
            ("malformed.jsonl:1", "svc-a"),
            ("malformed.jsonl:7", "svc-f")
        ]
    );
    let created = "Resources[0].Details.AwsIamAccessKey.CreatedAt";
    assert_eq!(
        skips(&parsed),
        [
            skip("malformed.jsonl:2", None, SkipKind::Invalid),
            skip("malformed.jsonl:3", Some("Id"), SkipKind::Invalid),
            skip("malformed.jsonl:4", Some("CreatedAt"), SkipKind::Invalid),
            skip(
                "malformed.jsonl:5",
                Some("Resources[0].Id"),
                SkipKind::Invalid
            ),
            skip("malformed.jsonl:6", Some(created), SkipKind::Invalid),
        ]
    );
    assert!(
        parsed.skipped[2].reason.contains("\"soon\""),
        "{}",
        parsed.skipped[2]
    );
}

// --- all four ---

#[test]
fn the_canary_never_leaves_the_parsers() {
    let files = [
        (Format::AwsCredentialReport, "canary.csv"),
        (Format::AwsAccessAnalyzer, "canary.json"),
        (Format::Ocsf, "canary.json"),
        (Format::Asff, "canary.json"),
    ];
    for (format, name) in files {
        let text = text_of(format.as_str(), name);
        assert!(
            text.matches(CANARY).count() >= 3,
            "{format}: the fixture holds the canary"
        );
        let parsed = read_text(format, name, &text);
        // The fixtures hold good and bad records: both paths are checked.
        assert!(!parsed.findings.is_empty(), "{format}: {parsed:#?}");
        assert!(
            parsed.skipped.iter().any(|s| s.kind == SkipKind::Invalid),
            "{format}: {:?}",
            parsed.skipped
        );
        assert!(
            !format!("{parsed:?}").contains(CANARY),
            "{format}: in the parsed findings or skips"
        );
        for skipped in &parsed.skipped {
            assert!(!skipped.to_string().contains(CANARY), "{format}: {skipped}");
        }
        for grouped in group(parsed.findings) {
            let json = serde_json::to_string(&grouped.case).unwrap();
            assert!(!json.contains(CANARY), "{format}: {json}");
            assert!(!grouped.credential.contains(CANARY), "{format}");
        }
    }
}

#[test]
fn default_policy_tiers_of_imported_cloud_cases() {
    let tier = |mut case: nhi_triage::model::Case| {
        propose_action(&mut case);
        assess(&case, &CaseStatus::pending(), &Policy::default(), NOW).tier
    };
    // An AWS access key: a reversible disable is proposed, but nobody
    // is known to own or use it: quarantine, not approve.
    let report = read(Format::AwsCredentialReport, "good.csv");
    assert_eq!(tier(report.findings[1].case.clone()), Tier::Medium);
    // A role, password or permission finding: reversibility unknown, or
    // nothing proposed: escalate.
    let analyzer = read(Format::AwsAccessAnalyzer, "good-list.json");
    for detected in analyzer
        .findings
        .iter()
        .filter(|d| d.case.identity.kind != "api_key")
    {
        assert_eq!(
            tier(detected.case.clone()),
            Tier::High,
            "{}",
            detected.case.title
        );
    }
}
