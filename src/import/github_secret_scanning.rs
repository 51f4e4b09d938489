//! GitHub's REST secret-scanning alerts: the JSON array the list
//! endpoints return (`GET /repos/{owner}/{repo}/secret-scanning/alerts`,
//! `/orgs/{org}/…`, `/enterprises/{enterprise}/…`), one alert object, or
//! JSON lines; schemas `secret-scanning-alert`,
//! `organization-secret-scanning-alert` and `secret-scanning-location` of
//! GitHub's OpenAPI description (docs/import.md, *github-secret-scanning*).
//!
//! Read: `number`, `state`, `resolution`, `secret_type`,
//! `secret_type_display_name`, `validity`, `publicly_leaked`, `multi_repo`,
//! `push_protection_bypassed`, `created_at`, `html_url`, `url`,
//! `repository.full_name`, `first_location_detected` and an optional
//! `locations` array (the locations endpoint's `{type, details}` objects,
//! merged in by the user). `secret` is read only to compute the credential
//! key; `resolution_comment`, the push-protection comments and every other
//! key are never read.

use super::leak::{self, Leak, Obj, Skip};
use super::{Detected, ImportOptions, Input, Parsed};
use crate::model::{Occurrence, Validity};

/// The keys of a non-commit location's `details` that link to the place,
/// per location `type` (issue, pull request, discussion, wiki page).
const LINK_KEYS: [&str; 12] = [
    "page_url",
    "issue_title_url",
    "issue_body_url",
    "issue_comment_url",
    "discussion_title_url",
    "discussion_body_url",
    "discussion_comment_url",
    "pull_request_title_url",
    "pull_request_body_url",
    "pull_request_comment_url",
    "pull_request_review_url",
    "pull_request_review_comment_url",
];

/// Reads secret-scanning alerts; see docs/import.md.
pub(super) fn parse(input: &Input<'_>, options: &ImportOptions) -> Parsed {
    leak::each_record(input, options, alert)
}

/// `owner/name` from an alert's `html_url`
/// (`https://github.com/acme/api/security/secret-scanning/42`).
fn repository_from_html_url(url: &str) -> Option<String> {
    let (before, _) = url.split_once("/security/secret-scanning")?;
    let (_, rest) = before.split_once("://")?;
    let mut segments = rest.split('/').skip(1);
    let owner = segments.next().filter(|s| !s.is_empty())?;
    let name = segments.next().filter(|s| !s.is_empty())?;
    Some(format!("{owner}/{name}"))
}

/// One location's `details` as an occurrence: a commit (path, line,
/// commit), a wiki commit, or a link to an issue, pull request or
/// discussion.
fn location(details: &Obj<'_>, base: &Occurrence) -> Result<Occurrence, Skip> {
    let mut o = base.clone();
    o.path = details.str("path")?.map(str::to_string);
    o.line = details.line("start_line")?;
    o.commit = details.str("commit_sha")?.map(str::to_string);
    for key in LINK_KEYS {
        if let Some(url) = details.str(key)?.and_then(leak::safe_url) {
            o.url = Some(url);
            break;
        }
    }
    Ok(o)
}

fn alert(
    value: &serde_json::Value,
    label: String,
    options: &ImportOptions,
) -> Result<Detected, Skip> {
    let r = Obj::root(value)?;
    let number = r
        .int("number")?
        .ok_or_else(|| Skip::invalid(Some("number".into()), "is missing"))?;
    let state = r.req_str("state")?;
    if state.eq_ignore_ascii_case("resolved") {
        const RESOLUTIONS: [&str; 6] = [
            "false_positive",
            "wont_fix",
            "revoked",
            "used_in_tests",
            "pattern_edited",
            "pattern_deleted",
        ];
        let resolution = r
            .str("resolution")?
            .filter(|v| RESOLUTIONS.contains(v))
            .unwrap_or("unknown");
        return Err(Skip::not_applicable(
            Some("state".into()),
            format!("a resolved alert (resolution: {resolution})"),
        ));
    }
    let secret_type = r.req_str("secret_type")?;
    let display = r.str("secret_type_display_name")?.unwrap_or(secret_type);
    let secret = r.str("secret")?;
    let created_at = r.time("created_at")?;
    let html_url = r.str("html_url")?;
    let api_url = r.str("url")?;
    let full_name = match r.obj("repository")? {
        Some(repo) => repo.str("full_name")?,
        None => None,
    };

    let credential = match (secret, html_url.or(api_url)) {
        (Some(secret), _) => leak::cleartext_credential(&options.fingerprints, secret),
        // Listed with `hide_secret=true`: the alert is its own key.
        (None, Some(url)) => format!(
            "github-alert:{}",
            options.fingerprints.of("github-alert", url)
        ),
        (None, None) => {
            return Err(Skip::invalid(
                Some("secret".into()),
                "is missing, and the alert has no html_url to key it by",
            ));
        }
    };

    let validity = match r.str("validity")? {
        Some("active") => Some(Validity::Live),
        Some("inactive") => Some(Validity::Inactive),
        _ => None,
    };
    let mut leak = Leak {
        source: "github-secret-scanning",
        type_name: display.to_string(),
        type_text: format!("{secret_type} {display}"),
        detected_at: created_at,
        first_seen_at: created_at,
        validity,
        summary: format!("GitHub secret scanning alert #{number}: {display}"),
        refs: html_url.and_then(leak::safe_url).into_iter().collect(),
        ..Leak::default()
    };
    for (key, tag) in [
        ("publicly_leaked", "publicly-leaked"),
        ("multi_repo", "multi-repo"),
        ("push_protection_bypassed", "push-protection-bypassed"),
    ] {
        if r.bool(key)? == Some(true) {
            leak.tags.push(tag.to_string());
        }
    }

    let mut base = leak.occurrence();
    base.repository = full_name
        .map(str::to_string)
        .or_else(|| html_url.and_then(repository_from_html_url))
        .or_else(|| options.repository.clone());
    let mut places = Vec::new();
    if let Some(items) = r.array("locations")? {
        for (i, item) in items.iter().enumerate() {
            let loc = r.element("locations", i, item)?;
            loc.str("type")?;
            let details = loc
                .obj("details")?
                .ok_or_else(|| Skip::invalid(Some(loc.name("details")), "is missing"))?;
            places.push(location(&details, &base)?);
        }
    }
    if let Some(first) = r.obj("first_location_detected")? {
        places.push(location(&first, &base)?);
    }
    leak.add_places(places, base);
    Ok(leak.detected(label, credential, options.now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_comes_from_the_alert_link() {
        assert_eq!(
            repository_from_html_url("https://github.com/acme/api/security/secret-scanning/42")
                .as_deref(),
            Some("acme/api")
        );
        assert_eq!(repository_from_html_url("https://github.com/acme"), None);
    }
}
