//! GitGuardian: secret incidents from the public API (`GET
//! /v1/incidents/secrets[/{id}]`, an incident object or the list
//! endpoint's array, with `occurrences` when asked for), and ggshield's
//! `secret scan … --json` output (`doc/schemas/secret.json` of
//! GitGuardian/ggshield) (docs/import.md, *gitguardian*).
//!
//! API incident, read: `id`, `status`, `secret_revoked`, `secret_hash`
//! (for the credential key), `detector.{name, display_name}`, `severity`,
//! `validity`, `date`, `triggered_at`, `gitguardian_url`, `tags`, and per
//! occurrence `source.full_name`, `filepath`, `sha`, `url`, `date` and the
//! line numbers of `matches[]`. ggshield, read: `scans[].{id,
//! extra_info.date}`, `entities_with_incidents[].filename`, per incident
//! `type`, `policy`, `validity`, `ignore_sha` (for the credential key),
//! `ignore_reason`, `incident_url`, `incident_details.{severity,
//! gitguardian_url}` and the line numbers of `occurrences[]`. Never read:
//! `match`, `share_url`, `hmsl_hash`, `feedback_list` and every other key.

use super::leak::{self, Leak, Obj, Skip};
use super::{Detected, ImportOptions, Input, JsonRecord, Parsed};
use crate::model::{Level, Occurrence, Validity};
use time::OffsetDateTime;

/// Reads GitGuardian incidents or ggshield output; see docs/import.md.
pub(super) fn parse(input: &Input<'_>, options: &ImportOptions) -> Parsed {
    let mut parsed = Parsed::default();
    let records = parsed.json_records(input);
    for record in records {
        let label = record.label(input);
        match record.value() {
            Ok(value) if is_ggshield(&value) => {
                ggshield(input, &record, &value, options, &mut parsed)
            }
            Ok(value) => {
                let result = incident(&value, label.clone(), options);
                leak::record(&mut parsed, &label, result);
            }
            Err(e) => parsed.invalid(&label, None, format!("is not JSON: {e}")),
        }
    }
    parsed
}

/// ggshield's scan object (its totals are always written); API incidents
/// have `occurrences_count` instead.
fn is_ggshield(value: &serde_json::Value) -> bool {
    [
        "entities_with_incidents",
        "scans",
        "total_incidents",
        "secrets_engine_version",
    ]
    .iter()
    .any(|k| value.get(k).is_some())
}

/// A value GitGuardian's privacy mode hid is not given.
fn clear(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.contains("<GG>OBFUSCATED</GG>"))
}

fn severity(value: Option<&str>) -> Option<Level> {
    match value?.to_ascii_lowercase().as_str() {
        "critical" => Some(Level::Critical),
        "high" => Some(Level::High),
        "medium" => Some(Level::Medium),
        "low" => Some(Level::Low),
        // `info`, `unknown`: not a severity.
        _ => None,
    }
}

fn validity(value: Option<&str>) -> Option<Validity> {
    match value?.to_ascii_lowercase().as_str() {
        "valid" => Some(Validity::Live),
        "invalid" => Some(Validity::Inactive),
        // `failed_to_check`, `no_checker`, `cannot_check`, `unknown`.
        _ => None,
    }
}

/// The file line of a match: after the commit, else before it (a removed
/// line), else `line_start` (the line of a file scan; of the patch in a
/// commit scan, which then also gives the others).
fn match_line(m: &Obj<'_>) -> Result<Option<u32>, Skip> {
    Ok(m.line("post_line_start")?
        .or(m.line("pre_line_start")?)
        .or(m.line("line_start")?))
}

fn incident(
    value: &serde_json::Value,
    label: String,
    options: &ImportOptions,
) -> Result<Detected, Skip> {
    let r = Obj::root(value)?;
    let id = r
        .int("id")?
        .ok_or_else(|| Skip::invalid(Some("id".into()), "is missing"))?;
    let status = r.str("status")?.map(str::to_ascii_uppercase);
    let revoked = r.bool("secret_revoked")?.unwrap_or(false);
    match status.as_deref() {
        Some("IGNORED") => {
            return Err(Skip::not_applicable(
                Some("status".into()),
                "an incident IGNORED in GitGuardian",
            ));
        }
        Some("RESOLVED") if revoked => {
            return Err(Skip::not_applicable(
                Some("status".into()),
                "a RESOLVED incident whose secret was revoked",
            ));
        }
        _ => {}
    }
    let hash = r.req_str("secret_hash")?;
    let credential = match clear(Some(hash)) {
        Some(hash) => format!(
            "gitguardian:{}",
            options.fingerprints.of("gitguardian", hash)
        ),
        // Privacy mode: the incident is its own key.
        None => format!(
            "gitguardian:{}",
            options
                .fingerprints
                .of("gitguardian-incident", &id.to_string())
        ),
    };
    let detector = r
        .obj("detector")?
        .ok_or_else(|| Skip::invalid(Some("detector".into()), "is missing"))?;
    let name = detector.str("name")?;
    let display = detector.str("display_name")?.or(name).ok_or_else(|| {
        Skip::invalid(
            Some(detector.name("display_name")),
            "is missing, and so is detector.name",
        )
    })?;
    let date = r.time("date")?;
    let triggered = r.time("triggered_at")?;
    let mut leak = Leak {
        source: "gitguardian",
        type_name: display.to_string(),
        type_text: format!("{} {display}", name.unwrap_or_default()),
        severity: severity(r.str("severity")?),
        validity: validity(r.str("validity")?),
        detected_at: triggered.or(date),
        first_seen_at: date,
        summary: format!("GitGuardian incident {id}: {display}"),
        refs: clear(r.str("gitguardian_url")?)
            .and_then(leak::safe_url)
            .into_iter()
            .collect(),
        tags: r.strings("tags")?.into_iter().map(leak::tag).collect(),
        ..Leak::default()
    };
    if status.as_deref() == Some("RESOLVED") {
        leak.tags.push("resolved-not-revoked".to_string());
    }
    let mut places = Vec::new();
    for (i, item) in r
        .array("occurrences")?
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let occ = r.element("occurrences", i, item)?;
        let mut o = leak.occurrence();
        o.repository = match occ.obj("source")? {
            Some(source) => clear(source.str("full_name")?).map(str::to_string),
            None => None,
        }
        .or_else(|| options.repository.clone());
        o.path = clear(occ.str("filepath")?).map(str::to_string);
        o.commit = clear(occ.str("sha")?).map(str::to_string);
        o.url = clear(occ.str("url")?).and_then(leak::safe_url);
        let seen = occ.time("date")?;
        o.first_seen_at = seen;
        o.last_seen_at = seen;
        for (j, m) in occ.array("matches")?.unwrap_or_default().iter().enumerate() {
            let m = occ.element("matches", j, m)?;
            if let Some(line) = match_line(&m)? {
                o.line = Some(o.line.map_or(line, |l| l.min(line)));
            }
        }
        places.push(o);
    }
    let mut otherwise = leak.occurrence();
    otherwise.repository = options.repository.clone();
    leak.add_places(places, otherwise);
    Ok(leak.detected(label, credential, options.now))
}

/// Where a ggshield incident was found: the file, and for a commit scan
/// the commit and its date.
struct Scan<'a> {
    commit: Option<&'a str>,
    date: Option<OffsetDateTime>,
}

fn ggshield(
    input: &Input<'_>,
    record: &JsonRecord<'_>,
    value: &serde_json::Value,
    options: &ImportOptions,
    parsed: &mut Parsed,
) {
    let label = record.label(input);
    let top = match Obj::root(value) {
        Ok(top) => top,
        Err(skip) => return leak::record(parsed, &label, Err(skip)),
    };
    entities(
        input,
        record,
        &top,
        &Scan {
            commit: None,
            date: None,
        },
        options,
        parsed,
    );
    match top.array("scans") {
        Err(skip) => leak::record(parsed, &label, Err(skip)),
        Ok(None) => {}
        Ok(Some(_)) => {
            for scan in record.array_under(input, "scans").unwrap_or_default() {
                let scan_label = scan.label(input);
                let Ok(value) = scan.value() else { continue };
                let read = Obj::root(&value).and_then(|s| {
                    let commit = s.str("id")?;
                    // git's own date form (`git show`), which a user's
                    // git configuration may change: unread stays unknown.
                    let date = match s.obj("extra_info")? {
                        Some(info) => info.str("date")?.and_then(leak::parse_git_time),
                        None => None,
                    };
                    Ok((s, Scan { commit, date }))
                });
                match read {
                    Ok((s, at)) => entities(input, &scan, &s, &at, options, parsed),
                    Err(skip) => leak::record(parsed, &scan_label, Err(skip)),
                }
            }
        }
    }
}

fn entities(
    input: &Input<'_>,
    record: &JsonRecord<'_>,
    obj: &Obj<'_>,
    scan: &Scan<'_>,
    options: &ImportOptions,
    parsed: &mut Parsed,
) {
    match obj.array("entities_with_incidents") {
        Err(skip) => return leak::record(parsed, &record.label(input), Err(skip)),
        Ok(None) => return,
        Ok(Some(_)) => {}
    }
    for entity in record
        .array_under(input, "entities_with_incidents")
        .unwrap_or_default()
    {
        let entity_label = entity.label(input);
        let Ok(value) = entity.value() else { continue };
        let filename = Obj::root(&value).and_then(|e| {
            e.array("incidents")?;
            Ok(e.str("filename")?.map(str::to_string))
        });
        let filename = match filename {
            Ok(f) => f,
            Err(skip) => {
                leak::record(parsed, &entity_label, Err(skip));
                continue;
            }
        };
        for inc in entity.array_under(input, "incidents").unwrap_or_default() {
            let inc_label = inc.label(input);
            let result = match inc.value() {
                Ok(v) => {
                    ggshield_incident(&v, inc_label.clone(), filename.as_deref(), scan, options)
                }
                Err(e) => Err(Skip::invalid(None, format!("is not JSON: {e}"))),
            };
            leak::record(parsed, &inc_label, result);
        }
    }
}

fn ggshield_incident(
    value: &serde_json::Value,
    label: String,
    filename: Option<&str>,
    scan: &Scan<'_>,
    options: &ImportOptions,
) -> Result<Detected, Skip> {
    let r = Obj::root(value)?;
    if r.has("ignore_reason") {
        return Err(Skip::not_applicable(
            Some("ignore_reason".into()),
            "a secret ggshield reports as ignored",
        ));
    }
    let sha = r.req_str("ignore_sha")?;
    let credential = format!(
        "gitguardian:{}",
        options.fingerprints.of("gitguardian", sha)
    );
    let kind = r.req_str("type")?;
    let policy = r.str("policy")?;
    let mut refs: Vec<String> = clear(r.str("incident_url")?)
        .and_then(leak::safe_url)
        .into_iter()
        .collect();
    let mut level = None;
    if let Some(details) = r.obj("incident_details")? {
        level = severity(details.str("severity")?);
        refs.extend(clear(details.str("gitguardian_url")?).and_then(leak::safe_url));
    }
    let mut leak = Leak {
        source: "gitguardian",
        type_name: kind.to_string(),
        type_text: kind.to_string(),
        severity: level,
        validity: validity(r.str("validity")?),
        summary: match policy {
            Some(p) => format!("ggshield: {kind} ({p})"),
            None => format!("ggshield: {kind}"),
        },
        refs,
        ..Leak::default()
    };
    let mut base: Occurrence = leak.occurrence();
    base.repository = options.repository.clone();
    base.path = filename.map(str::to_string);
    base.commit = scan.commit.map(str::to_string);
    base.first_seen_at = scan.date;
    base.last_seen_at = scan.date;
    let mut places = Vec::new();
    for (i, item) in r
        .array("occurrences")?
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let m = r.element("occurrences", i, item)?;
        let mut o = base.clone();
        o.line = match_line(&m)?;
        places.push(o);
    }
    leak.add_places(places, base);
    Ok(leak.detected(label, credential, options.now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_and_validities_read_only_what_they_say() {
        assert_eq!(severity(Some("HIGH")), Some(Level::High));
        assert_eq!(severity(Some("info")), None);
        assert_eq!(validity(Some("valid")), Some(Validity::Live));
        assert_eq!(validity(Some("invalid")), Some(Validity::Inactive));
        assert_eq!(validity(Some("failed_to_check")), None);
        assert_eq!(clear(Some("<GG>OBFUSCATED</GG>")), None);
    }
}
