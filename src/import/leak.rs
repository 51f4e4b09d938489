//! What the secret-scanner importers (trufflehog, gitleaks, GitHub secret
//! scanning, GitGuardian) share: reading named fields of a JSON record
//! with errors that name the field (never its value), the credential key
//! of a cleartext secret, what a secret type says about its kind and
//! provider, links and repository names without credentials, and the case
//! a leaked secret gives (docs/import.md).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Detected, Fingerprinter, ImportOptions, Input, Parsed, SkipKind, parse_time};
use crate::model::{Case, Finding, Identity, LastUsed, Level, Occurrence, Validity};

/// Why one record was not imported: the field (the detector's name, dotted
/// from the record's root) and the reason. A reason never quotes a value.
#[derive(Debug)]
pub(super) struct Skip {
    field: Option<String>,
    reason: String,
    kind: SkipKind,
}

impl Skip {
    /// A bad record.
    pub(super) fn invalid(field: Option<String>, reason: impl Into<String>) -> Self {
        Skip {
            field,
            reason: reason.into(),
            kind: SkipKind::Invalid,
        }
    }

    /// A record that reads but holds nothing to decide.
    pub(super) fn not_applicable(field: Option<String>, reason: impl Into<String>) -> Self {
        Skip {
            field,
            reason: reason.into(),
            kind: SkipKind::NotApplicable,
        }
    }
}

/// Adds what one record gave to `parsed`.
/// Reads every JSON record of `input` with `finding` (one record, its
/// `FILE:LINE`, the options), keeping each finding or skip in input order:
/// the loop the JSON leak parsers share.
pub(super) fn each_record(
    input: &Input<'_>,
    options: &ImportOptions,
    finding: impl Fn(&serde_json::Value, String, &ImportOptions) -> Result<Detected, Skip>,
) -> Parsed {
    let mut parsed = Parsed::default();
    let records = parsed.json_records(input);
    for one in records {
        let label = one.label(input);
        let result = match one.value() {
            Ok(value) => finding(&value, label.clone(), options),
            Err(e) => Err(Skip::invalid(None, format!("is not JSON: {e}"))),
        };
        record(&mut parsed, &label, result);
    }
    parsed
}

pub(super) fn record(parsed: &mut Parsed, label: &str, result: Result<Detected, Skip>) {
    match result {
        Ok(found) => parsed.findings.push(found),
        Err(skip) => match skip.kind {
            SkipKind::Invalid => parsed.invalid(label, skip.field.as_deref(), skip.reason),
            SkipKind::NotApplicable => {
                parsed.not_applicable(label, skip.field.as_deref(), skip.reason)
            }
        },
    }
}

/// A JSON object of a record and its path from the record's root
/// (`SourceMetadata.Data.Git`, `locations[2].details`), to read named
/// fields from. Absent and `null` are the same (not given); an empty or
/// blank string is not given either.
#[derive(Debug, Clone)]
pub(super) struct Obj<'v> {
    map: &'v Map<String, Value>,
    path: String,
}

impl<'v> Obj<'v> {
    /// The record `value` itself, which must be an object.
    pub(super) fn root(value: &'v Value) -> Result<Self, Skip> {
        match value {
            Value::Object(map) => Ok(Obj {
                map,
                path: String::new(),
            }),
            _ => Err(Skip::invalid(None, "is not a JSON object")),
        }
    }

    /// The full name of `key` in this object, for messages.
    pub(super) fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn bad(&self, key: &str, reason: &str) -> Skip {
        Skip::invalid(Some(self.name(key)), reason)
    }

    fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is present (and not `null`).
    pub(super) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A string field, trimmed; `None` when absent, `null` or blank.
    pub(super) fn str(&self, key: &str) -> Result<Option<&'v str>, Skip> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
            Some(_) => Err(self.bad(key, "is not a string")),
        }
    }

    /// A string field that must be given.
    pub(super) fn req_str(&self, key: &str) -> Result<&'v str, Skip> {
        self.str(key)?
            .ok_or_else(|| self.bad(key, "is missing or empty"))
    }

    /// A boolean field.
    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, Skip> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.bad(key, "is not true or false")),
        }
    }

    /// A boolean field that must be given.
    pub(super) fn req_bool(&self, key: &str) -> Result<bool, Skip> {
        self.bool(key)?.ok_or_else(|| self.bad(key, "is missing"))
    }

    /// An integer field (an id, a number).
    pub(super) fn int(&self, key: &str) -> Result<Option<i64>, Skip> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.bad(key, "is not an integer")),
        }
    }

    /// A 1-based line number; `0` is not given (Go's zero value).
    pub(super) fn line(&self, key: &str) -> Result<Option<u32>, Skip> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = v.as_u64().or_else(|| {
            // The GitHub schema types lines as `number`: accept `3.0`.
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
                .map(|f| f as u64)
        });
        match n.map(u32::try_from) {
            Some(Ok(0)) => Ok(None),
            Some(Ok(line)) => Ok(Some(line)),
            _ => Err(self.bad(key, "is not a line number (a positive integer)")),
        }
    }

    /// A nested object.
    pub(super) fn obj(&self, key: &str) -> Result<Option<Obj<'v>>, Skip> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.name(key),
            })),
            Some(_) => Err(self.bad(key, "is not an object")),
        }
    }

    /// The entries of this object, in the input's order.
    pub(super) fn entries(&self) -> impl Iterator<Item = (&'v String, &'v Value)> {
        self.map.iter()
    }

    /// An array field.
    pub(super) fn array(&self, key: &str) -> Result<Option<&'v [Value]>, Skip> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(self.bad(key, "is not an array")),
        }
    }

    /// The `i`th element of the array `key` as an object.
    pub(super) fn element(&self, key: &str, i: usize, value: &'v Value) -> Result<Obj<'v>, Skip> {
        let path = format!("{}[{i}]", self.name(key));
        match value {
            Value::Object(map) => Ok(Obj { map, path }),
            _ => Err(Skip::invalid(Some(path), "is not an object")),
        }
    }

    /// An array of strings (blank ones left out).
    pub(super) fn strings(&self, key: &str) -> Result<Vec<&'v str>, Skip> {
        let Some(items) = self.array(key)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if !s.trim().is_empty() => out.push(s.trim()),
                Value::String(_) | Value::Null => {}
                _ => {
                    return Err(Skip::invalid(
                        Some(format!("{}[{i}]", self.name(key))),
                        "is not a string",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// An RFC 3339 time field (the formats that document one time form).
    pub(super) fn time(&self, key: &str) -> Result<Option<OffsetDateTime>, Skip> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => parse_time(s)
                .map(Some)
                .ok_or_else(|| self.bad(key, "is not an RFC 3339 time with a zone")),
        }
    }
}

/// Whether `value` has the shape of an AWS access key id (`AKIA…`, `ASIA…`:
/// four letters of a documented prefix and 16 upper-case letters or digits).
pub(super) fn is_aws_key_id(value: &str) -> bool {
    let v = value.trim();
    let prefixes = [
        "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA",
    ];
    v.len() == 20
        && prefixes.iter().any(|p| v.starts_with(p))
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The credential key of a secret whose cleartext the detector gives: an
/// AWS access key id keys as `aws-access-key:` (so it groups with the AWS
/// importers), anything else as `secret:`. Equal secrets give equal keys
/// whichever detector reported them.
pub(super) fn cleartext_credential(fingerprints: &Fingerprinter, value: &str) -> String {
    if is_aws_key_id(value) {
        fingerprints.aws_access_key(value)
    } else {
        fingerprints.secret(value)
    }
}

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The provider a secret type names (`aws`, `github`, `gcp`, …), from the
/// words of its id and display name; `unknown` when it names none.
pub(super) fn provider_of(type_text: &str) -> &'static str {
    // A word starting with one of these names that provider; then aliases.
    const NAMED: &str = "aws github gitlab slack gcp azure stripe twilio sendgrid openai \
        anthropic npm pypi docker heroku datadog shopify mailgun mailchimp atlassian \
        huggingface digitalocean cloudflare okta databricks gitguardian";
    const ALIASES: &str = "amazon=aws google=gcp microsoft=azure jira=atlassian";
    let words = tokens(type_text);
    let named = |prefix: &str| words.iter().any(|w| w.starts_with(prefix));
    NAMED
        .split_whitespace()
        .map(|p| (p, p))
        .chain(ALIASES.split_whitespace().filter_map(|a| a.split_once('=')))
        .find(|(prefix, _)| named(prefix))
        .map_or("unknown", |(_, provider)| provider)
}

/// The kind of credential a secret type names: `private_key`, `password`,
/// `webhook`, `certificate`, `token`, `api_key`, else `secret`.
pub(super) fn kind_of(type_text: &str) -> &'static str {
    let words = tokens(type_text);
    let has = |w: &str| words.iter().any(|x| x == w);
    let ends = |w: &str| words.iter().any(|x| x.ends_with(w));
    if (has("private") && (has("key") || has("keys")))
        || ends("privatekey")
        || has("rsa")
        || has("ssh")
    {
        "private_key"
    } else if has("password") || has("passwd") || ends("password") {
        "password"
    } else if ends("webhook") {
        "webhook"
    } else if has("certificate") || has("cert") {
        "certificate"
    } else if ends("token") || has("pat") || has("jwt") {
        "token"
    } else if has("key") || has("keys") || ends("apikey") || ends("key") {
        "api_key"
    } else {
        "secret"
    }
}

/// `url` as a link that holds no credential: `http(s)` only, without
/// user-info (`https://user:token@host`) and without a query (`?token=`);
/// the fragment (`#L12`) is kept. `None` for anything else.
pub(super) fn safe_url(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return None;
    }
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (rest, None),
    };
    let without_query = before_fragment.split('?').next().unwrap_or_default();
    let (authority, path) = match without_query.find('/') {
        Some(i) => without_query.split_at(i),
        None => (without_query, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return None;
    }
    let mut out = format!("{scheme}://{host}{path}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Some(out)
}

/// The repository a detector names, as `owner/name` for github.com and
/// `host/path` for other hosts: from a clone URL (`https://…/acme/api.git`,
/// `git@github.com:acme/api.git`) without user-info, `.git` or a trailing
/// `/`. Anything else (a local path, a name already) is kept as given.
pub(super) fn repository_name(repo: &str) -> Option<String> {
    let repo = repo.trim();
    if repo.is_empty() {
        return None;
    }
    let rest = if let Some((_, rest)) = repo.split_once("://") {
        Some(rest.to_string())
    } else if let Some((user_host, path)) = repo
        .split_once(':')
        .filter(|(h, p)| h.contains('@') && !p.starts_with('/'))
    {
        Some(format!("{user_host}/{path}"))
    } else {
        None
    };
    let Some(rest) = rest else {
        return Some(repo.to_string());
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if host.is_empty() || path.is_empty() {
        return None;
    }
    if host == "github.com" || host == "www.github.com" {
        Some(path.to_string())
    } else {
        Some(format!("{host}/{path}"))
    }
}

/// A detector's label as a tag: lower case, `_` and spaces as `-`
/// (`PUBLICLY_LEAKED` → `publicly-leaked`).
pub(super) fn tag(label: &str) -> String {
    label.trim().to_lowercase().replace(['_', ' '], "-")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A time as git prints it: `Thu Dec 3 02:40:56 2020 +0100` (git's default,
/// what ggshield copies from `git show`), `2020-12-03 02:40:56 +0100`
/// (`--date=iso`, trufflehog's git sources), the same with Go's zone name
/// after it (`… +0000 UTC`, trufflehog's other sources), or RFC 3339.
pub(super) fn parse_git_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Some(t) = parse_time(text) {
        return Some(t);
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (date, clock, offset) = match parts.as_slice() {
        [date, clock, offset] | [date, clock, offset, _] if date.contains('-') => {
            ((*date).to_string(), *clock, *offset)
        }
        [_weekday, month, day, clock, year, offset] => {
            const MONTHS: [&str; 12] = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            let m = MONTHS.iter().position(|m| month.eq_ignore_ascii_case(m))? + 1;
            let d: u8 = day.parse().ok()?;
            (format!("{year}-{m:02}-{d:02}"), *clock, *offset)
        }
        _ => return None,
    };
    let bytes = offset.as_bytes();
    let digits = bytes
        .get(1..)
        .is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if bytes.len() != 5 || !(bytes[0] == b'+' || bytes[0] == b'-') || !digits {
        return None;
    }
    parse_time(&format!("{date}T{clock}{}:{}", &offset[..3], &offset[3..]))
}

/// The facts of one leaked-secret finding, before they become a case.
#[derive(Debug, Default)]
pub(super) struct Leak {
    /// The format name: `finding.source` and every occurrence's source.
    pub source: &'static str,
    /// The secret type as the detector names it (display name).
    pub type_name: String,
    /// Words to read the kind and provider from (type id and name).
    pub type_text: String,
    /// A provider identity the detector gives (a verified AWS key's ARN).
    pub identity: Option<Identity>,
    /// The account the detector names without a provider identity.
    pub account: Option<String>,
    pub severity: Option<Level>,
    pub detected_at: Option<OffsetDateTime>,
    /// When the detector first saw the secret (besides its occurrences).
    pub first_seen_at: Option<OffsetDateTime>,
    pub validity: Option<Validity>,
    pub summary: String,
    pub refs: Vec<String>,
    pub occurrences: Vec<Occurrence>,
    pub tags: Vec<String>,
}

impl Leak {
    /// An occurrence of this leak's source.
    pub(super) fn occurrence(&self) -> Occurrence {
        Occurrence {
            source: Some(self.source.to_string()),
            repository: None,
            path: None,
            line: None,
            commit: None,
            url: None,
            first_seen_at: None,
            last_seen_at: None,
        }
    }

    /// Adds `o` unless an equal place is there already.
    pub(super) fn add(&mut self, o: Occurrence) {
        if !self.occurrences.iter().any(|held| held.same_place(&o)) {
            self.occurrences.push(o);
        }
    }

    /// Adds every place of `places`, or `otherwise` when the record named
    /// none (a finding is always somewhere).
    pub(super) fn add_places(&mut self, places: Vec<Occurrence>, otherwise: Occurrence) {
        if places.is_empty() {
            self.add(otherwise);
        }
        for o in places {
            self.add(o);
        }
    }

    /// The finding for `credential` read at `record`.
    pub(super) fn detected(
        self,
        record: String,
        credential: String,
        now: OffsetDateTime,
    ) -> Detected {
        let aws_key = credential.starts_with("aws-access-key:");
        let identity = self.identity.unwrap_or_else(|| Identity {
            id: credential.clone(),
            name: one_line(&self.type_name),
            kind: if aws_key {
                "api_key"
            } else {
                kind_of(&self.type_text)
            }
            .to_string(),
            provider: if aws_key {
                "aws"
            } else {
                provider_of(&self.type_text)
            }
            .to_string(),
            account: self.account,
            created_at: None,
            last_used_at: LastUsed::Unknown,
            privilege: None,
        });
        let seen = self
            .occurrences
            .iter()
            .filter_map(|o| o.first_seen_at)
            .min();
        let first_seen_at = [self.first_seen_at, seen].into_iter().flatten().min();
        let opened_at = [first_seen_at, self.detected_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now);
        let place = self
            .occurrences
            .iter()
            .find_map(|o| o.repository.clone().or_else(|| o.path.clone()));
        // No validity in the title: the first import's title stays (so a
        // re-import changes nothing), and validity changes; it is shown
        // on its own.
        let title = match place {
            Some(place) => format!("Leaked {} in {}", self.type_name, place),
            None => format!("Leaked {}", self.type_name),
        };
        let mut tags = Vec::new();
        for t in self.tags {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let case = Case {
            id: String::new(),
            opened_at,
            title: one_line(&title),
            identity,
            finding: Some(Finding {
                kind: "leaked_secret".to_string(),
                severity: self.severity,
                source: Some(self.source.to_string()),
                detected_at: self.detected_at,
                summary: Some(one_line(&self.summary)).filter(|s| !s.is_empty()),
                owasp: None,
                refs: self.refs,
                first_seen_at,
                validity: self.validity,
            }),
            owner: None,
            criticality: None,
            dependencies: None,
            action: None,
            change_window: None,
            tags,
            occurrences: self.occurrences,
            recurrence_of: None,
            context: None,
            problems: Vec::new(),
        };
        Detected {
            record,
            credential,
            case,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_name_kinds_and_providers() {
        assert_eq!(provider_of("GitHub personal access token"), "github");
        assert_eq!(kind_of("GitHub personal access token"), "token");
        assert_eq!(provider_of("aws-access-token"), "aws");
        assert_eq!(provider_of("AWS Keys"), "aws");
        assert_eq!(kind_of("AWS Keys"), "api_key");
        assert_eq!(kind_of("SlackWebhook"), "webhook");
        assert_eq!(provider_of("SlackWebhook"), "slack");
        assert_eq!(kind_of("private-key"), "private_key");
        assert_eq!(kind_of("generic_password"), "password");
        assert_eq!(kind_of("generic-api-key"), "api_key");
        assert_eq!(kind_of("generic_high_entropy_secret"), "secret");
        assert_eq!(provider_of("generic_high_entropy_secret"), "unknown");
        assert_eq!(provider_of("Google Cloud service account key"), "gcp");
    }

    #[test]
    fn links_and_repositories_lose_credentials() {
        assert_eq!(
            safe_url("https://user:tok@github.com/acme/api/blob/abc/a.env?token=x#L3").as_deref(),
            Some("https://github.com/acme/api/blob/abc/a.env#L3")
        );
        assert_eq!(safe_url("git@github.com:acme/api.git"), None);
        assert_eq!(safe_url("file:///tmp/x"), None);
        assert_eq!(
            repository_name("https://x:y@github.com/acme/api.git").as_deref(),
            Some("acme/api")
        );
        assert_eq!(
            repository_name("git@github.com:acme/api.git").as_deref(),
            Some("acme/api")
        );
        assert_eq!(
            repository_name("https://gitlab.com/g/sub/p/").as_deref(),
            Some("gitlab.com/g/sub/p")
        );
        assert_eq!(repository_name("acme/api").as_deref(), Some("acme/api"));
        assert_eq!(tag("PUBLICLY_LEAKED"), "publicly-leaked");
    }

    #[test]
    fn git_and_go_times_read() {
        let t = parse_git_time("2024-03-05 10:17:40 -0700").expect("iso");
        assert_eq!(t, parse_time("2024-03-05T17:17:40Z").expect("utc"));
        assert_eq!(parse_git_time("2024-03-05 17:17:40 +0000 UTC"), Some(t));
        assert_eq!(parse_git_time("Tue Mar 5 10:17:40 2024 -0700"), Some(t));
        assert_eq!(parse_git_time("2024-03-05T17:17:40Z"), Some(t));
        assert_eq!(parse_git_time("2024-03-05 17:17:40"), None);
        assert_eq!(parse_git_time("yesterday"), None);
        // Never a panic on odd text (a multi-byte offset, a day too large).
        assert_eq!(parse_git_time("2024-03-05 10:17:40 +0é0"), None);
        assert_eq!(parse_git_time("Tue Mar 999 10:17:40 2024 -0700"), None);
        assert_eq!(parse_git_time("Tue Mär 5 10:17:40 2024 -0700"), None);
    }

    #[test]
    fn aws_key_ids_key_as_aws_keys() {
        let fp = Fingerprinter::new([7; 32]);
        assert!(is_aws_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_aws_key_id("AKIAIOSFODNN7EXAMPL"));
        assert!(!is_aws_key_id("ghp_AKIAIOSFODNN7EXAM"));
        assert_eq!(
            cleartext_credential(&fp, "AKIAIOSFODNN7EXAMPLE"),
            fp.aws_access_key("AKIAIOSFODNN7EXAMPLE")
        );
        assert_eq!(cleartext_credential(&fp, "ghp_x"), fp.secret("ghp_x"));
    }
}
