//! trufflehog v3 `--json` output: one JSON object per line, as
//! `pkg/output/json.go` of trufflesecurity/trufflehog prints it
//! (docs/import.md, *trufflehog*).
//!
//! Read: `DetectorName`, `Verified`, `VerificationError` (only whether it is
//! empty), `VerificationFromCache`, `SourceMetadata.Data.<Source>.{file,
//! line, commit, repository, link, timestamp}` and the `ExtraData` keys
//! `account`, `arn`, `user_id`, `resource_type`, `is_canary`. `Raw` and
//! `RawV2` are read only to compute the credential key; `Redacted`,
//! `SecretParts`, `StructuredData` and every other key are never read.

use super::leak::{self, Leak, Obj, Skip};
use super::{Detected, ImportOptions, Input, Parsed};
use crate::model::{Identity, LastUsed, Validity};

/// The `ExtraData` keys read; every other one may hold secret material.
const EXTRA_ALLOWED: [&str; 5] = ["account", "arn", "user_id", "resource_type", "is_canary"];

/// Reads trufflehog's JSON lines; see docs/import.md.
pub(super) fn parse(input: &Input<'_>, options: &ImportOptions) -> Parsed {
    leak::each_record(input, options, finding)
}

/// The source metadata's location: `SourceMetadata.Data` holds one key,
/// the source (`Git`, `Github`, `Filesystem`, …), whose fields share names.
struct Place<'v> {
    file: Option<&'v str>,
    line: Option<u32>,
    commit: Option<&'v str>,
    repository: Option<&'v str>,
    link: Option<&'v str>,
    timestamp: Option<&'v str>,
}

fn place<'v>(record: &Obj<'v>) -> Result<Option<Place<'v>>, Skip> {
    let Some(meta) = record.obj("SourceMetadata")? else {
        return Ok(None);
    };
    let Some(data) = meta.obj("Data")? else {
        return Ok(None);
    };
    let Some((source, _)) = data.entries().next() else {
        return Ok(None);
    };
    let Some(src) = data.obj(source)? else {
        return Ok(None);
    };
    Ok(Some(Place {
        file: src.str("file")?,
        line: src.line("line")?,
        commit: src.str("commit")?,
        repository: src.str("repository")?,
        link: src.str("link")?,
        timestamp: src.str("timestamp")?,
    }))
}

fn finding(
    value: &serde_json::Value,
    label: String,
    options: &ImportOptions,
) -> Result<Detected, Skip> {
    let r = Obj::root(value)?;
    let detector = r.req_str("DetectorName")?;
    let verified = r.req_bool("Verified")?;
    let failed = r.str("VerificationError")?.is_some();
    let from_cache = r.bool("VerificationFromCache")?.unwrap_or(false);
    let raw = r.str("Raw")?;
    let raw_v2 = r.str("RawV2")?;
    let mut extra: [Option<&str>; 5] = [None; 5];
    if let Some(data) = r.obj("ExtraData")? {
        for (slot, key) in extra.iter_mut().zip(EXTRA_ALLOWED) {
            *slot = data.str(key)?;
        }
    }
    let [account, arn, _user_id, _resource_type, is_canary] = extra;
    let place = place(&r)?;

    // AWS: `Raw` is the access key id (`RawV2` is `id:secret`).
    let aws = detector.eq_ignore_ascii_case("AWS");
    let credential = match (aws, raw, raw_v2.or(raw)) {
        (true, Some(key_id), _) => options.fingerprints.aws_access_key(key_id),
        (_, _, Some(secret)) => leak::cleartext_credential(&options.fingerprints, secret),
        (_, _, None) => {
            return Err(Skip::invalid(
                Some("Raw".into()),
                "is empty: no secret to key the finding by",
            ));
        }
    };

    // `Verified: false` is also what `--no-verification` prints: only a
    // cached verification result says a check ran and was refused.
    let validity = if verified {
        Some(Validity::Live)
    } else if !failed && from_cache {
        Some(Validity::Inactive)
    } else {
        None
    };
    let checked = match (verified, failed) {
        (true, _) => "verified live",
        (false, true) => "verification failed",
        (false, false) => "not verified",
    };
    let mut leak = Leak {
        source: "trufflehog",
        type_name: detector.to_string(),
        type_text: detector.to_string(),
        account: account.map(str::to_string),
        validity,
        summary: format!("trufflehog {detector} detector: {checked}"),
        ..Leak::default()
    };
    if let Some(arn) = arn.filter(|a| a.starts_with("arn:")) {
        let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
        leak.identity = Some(Identity {
            id: arn.to_string(),
            name: format!("AWS access key of {resource}"),
            kind: "api_key".to_string(),
            provider: "aws".to_string(),
            account: account.map(str::to_string),
            created_at: None,
            last_used_at: LastUsed::Unknown,
            privilege: None,
        });
    }
    if is_canary.is_some_and(|c| c.eq_ignore_ascii_case("true")) {
        leak.tags.push("canary-token".to_string());
    }
    let mut o = leak.occurrence();
    o.repository = place
        .as_ref()
        .and_then(|p| p.repository)
        .and_then(leak::repository_name)
        .or_else(|| options.repository.clone());
    if let Some(p) = &place {
        o.path = p.file.map(str::to_string);
        o.line = p.line;
        o.commit = p.commit.map(str::to_string);
        o.url = p.link.and_then(leak::safe_url);
        // Sources print times differently (git: `2006-01-02 15:04:05
        // -0700`; others Go's `… +0000 UTC`): one not read stays unknown.
        let seen = p.timestamp.and_then(leak::parse_git_time);
        o.first_seen_at = seen;
        o.last_seen_at = seen;
    }
    leak.add(o);
    Ok(leak.detected(label, credential, options.now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Fingerprinter;

    fn options() -> ImportOptions {
        ImportOptions {
            fingerprints: Fingerprinter::new([7; 32]),
            repository: None,
            now: time::macros::datetime!(2026-01-01 0:00 UTC),
        }
    }

    #[test]
    fn a_verified_aws_key_is_its_arn_and_keys_by_key_id() {
        let line = r#"{"SourceMetadata":{"Data":{"Git":{"commit":"c1","file":"a.env","line":3,"repository":"https://github.com/acme/api.git","timestamp":"2024-03-05 10:17:40 -0700"}}},"DetectorName":"AWS","Verified":true,"Raw":"AKIAIOSFODNN7EXAMPLE","RawV2":"AKIAIOSFODNN7EXAMPLE:x","ExtraData":{"account":"123456789012","arn":"arn:aws:iam::123456789012:user/ci","token":"t"}}"#;
        let options = options();
        let parsed = parse(&Input::new("t.jsonl", line), &options);
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let found = &parsed.findings[0];
        assert_eq!(
            found.credential,
            options.fingerprints.aws_access_key("AKIAIOSFODNN7EXAMPLE")
        );
        assert_eq!(found.case.identity.id, "arn:aws:iam::123456789012:user/ci");
        assert_eq!(found.case.identity.account.as_deref(), Some("123456789012"));
        let o = &found.case.occurrences[0];
        assert_eq!(o.repository.as_deref(), Some("acme/api"));
        assert_eq!(
            o.first_seen_at,
            crate::import::parse_time("2024-03-05T17:17:40Z")
        );
    }

    #[test]
    fn unverified_without_a_check_is_unknown_and_a_cached_refusal_inactive() {
        let options = options();
        let text = "{\"DetectorName\":\"Slack\",\"Verified\":false,\"Raw\":\"a\"}\n\
                    {\"DetectorName\":\"Slack\",\"Verified\":false,\"VerificationFromCache\":true,\"Raw\":\"b\"}\n\
                    {\"DetectorName\":\"Slack\",\"Verified\":false,\"VerificationError\":\"timeout\",\"VerificationFromCache\":true,\"Raw\":\"c\"}\n";
        let parsed = parse(&Input::new("t.jsonl", text), &options);
        let v: Vec<_> = parsed
            .findings
            .iter()
            .map(|f| f.case.finding.as_ref().and_then(|f| f.validity))
            .collect();
        assert_eq!(v, [None, Some(Validity::Inactive), None]);
    }
}
