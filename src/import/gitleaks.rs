//! The gitleaks JSON report (`--report-format json`): an array of
//! findings, as `report/finding.go` of gitleaks/gitleaks defines them
//! (docs/import.md, *gitleaks*).
//!
//! Read: `RuleID`, `Description`, `File`, `StartLine`, `Commit`, `Link`,
//! `Date`, `Tags`, `Fingerprint`. `Secret` is read only to compute the
//! credential key; `Match`, `Fragment`, `Line`, `Message`, `Author`,
//! `Email` and every other key are never read.

use super::leak::{self, Leak, Obj, Skip};
use super::{Detected, ImportOptions, Input, Parsed};

/// Reads a gitleaks JSON report; see docs/import.md.
pub(super) fn parse(input: &Input<'_>, options: &ImportOptions) -> Parsed {
    leak::each_record(input, options, finding)
}

/// Whether gitleaks redacted the secret: `--redact` writes `REDACTED`,
/// `--redact=N` (N < 100) a prefix followed by `...`.
fn redacted(secret: &str) -> bool {
    secret == "REDACTED" || secret.ends_with("...")
}

fn finding(
    value: &serde_json::Value,
    label: String,
    options: &ImportOptions,
) -> Result<Detected, Skip> {
    let r = Obj::root(value)?;
    let rule = r.req_str("RuleID")?;
    let secret = r.str("Secret")?;
    let fingerprint = r.str("Fingerprint")?;
    let description = r.str("Description")?;
    let file = r.str("File")?;
    let line = r.line("StartLine")?;
    let commit = r.str("Commit")?;
    let link = r.str("Link")?;
    // `Date` is empty for `gitleaks dir` and `stdin` scans.
    let date = r.time("Date")?;
    let tags = r.strings("Tags")?;

    let credential = match (secret.filter(|s| !redacted(s)), fingerprint) {
        (Some(secret), _) => leak::cleartext_credential(&options.fingerprints, secret),
        // A redacted report: only the location id is left, so the same
        // secret in two commits is two cases.
        (None, Some(fp)) => format!("gitleaks:{}", options.fingerprints.of("gitleaks", fp)),
        (None, None) => {
            return Err(Skip::invalid(
                Some("Secret".into()),
                "is missing or redacted, and there is no Fingerprint to key the finding by",
            ));
        }
    };

    let mut leak = Leak {
        source: "gitleaks",
        type_name: rule.to_string(),
        type_text: rule.to_string(),
        summary: match description {
            Some(d) => format!("gitleaks rule {rule}: {d}"),
            None => format!("gitleaks rule {rule} matched"),
        },
        refs: fingerprint
            .map(|f| vec![format!("gitleaks:{f}")])
            .unwrap_or_default(),
        tags: tags.into_iter().map(leak::tag).collect(),
        ..Leak::default()
    };
    let mut o = leak.occurrence();
    o.repository = options.repository.clone();
    o.path = file.map(str::to_string);
    o.line = line;
    o.commit = commit.map(str::to_string);
    o.url = link.and_then(leak::safe_url);
    o.first_seen_at = date;
    o.last_seen_at = date;
    leak.add(o);
    Ok(leak.detected(label, credential, options.now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Fingerprinter;

    #[test]
    fn redaction_falls_back_to_the_location_and_cleartext_to_the_secret() {
        let options = ImportOptions {
            fingerprints: Fingerprinter::new([7; 32]),
            repository: Some("acme/api".into()),
            now: time::macros::datetime!(2026-01-01 0:00 UTC),
        };
        let text = r#"[
 {"RuleID":"github-pat","Secret":"ghp_x","File":"a","StartLine":1,"Fingerprint":"c:a:github-pat:1"},
 {"RuleID":"github-pat","Secret":"REDACTED","File":"a","StartLine":1,"Fingerprint":"c:a:github-pat:1"},
 {"RuleID":"github-pat","Secret":"ghp...","File":"a","StartLine":1,"Fingerprint":"c:a:github-pat:1"},
 {"RuleID":"github-pat","Secret":"REDACTED"}
]"#;
        let parsed = parse(&Input::new("g.json", text), &options);
        let keys: Vec<&str> = parsed
            .findings
            .iter()
            .map(|f| f.credential.as_str())
            .collect();
        let location = format!(
            "gitleaks:{}",
            options.fingerprints.of("gitleaks", "c:a:github-pat:1")
        );
        assert_eq!(
            keys,
            [
                options.fingerprints.secret("ghp_x").as_str(),
                &location,
                &location
            ]
        );
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!(parsed.skipped[0].field.as_deref(), Some("Secret"));
        assert_eq!(
            parsed.findings[0].case.occurrences[0].repository.as_deref(),
            Some("acme/api")
        );
    }
}
