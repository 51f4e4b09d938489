//! OCSF 1.x Detection Finding, class 2004 (docs/import.md, *ocsf*), as the
//! schema at <https://schema.ocsf.io/classes/detection_finding> defines it
//! and Prowler (`--output-formats json-ocsf`) and Security Hub write it: a
//! JSON array, one object, or JSON lines.
//!
//! One case per identity resource (`resources[]` that is an IAM user, role,
//! access key or service account); other resources are skipped as not
//! identities. Fields read are named one by one: `resources[].data`,
//! `unmapped`, `raw_data`, `evidences` and `observables` (which may hold
//! resource configuration, matched strings or secrets) are never read.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::cloud::{
    any_time, arn_account, arn_name, finding_kind, identity_kind, level, new_case, one_line,
    quoted, required, text, with_product,
};
use super::{Detected, ImportOptions, Input, Parsed, parse_time};
use crate::model::{Finding, Identity, LastUsed, Level, Owner, OwnerBasis};

/// The Detection Finding class.
const DETECTION_FINDING: i64 = 2004;

/// Reads `input`: one case per identity resource of each open finding.
pub(super) fn parse(input: &Input<'_>, options: &ImportOptions) -> Parsed {
    let mut parsed = Parsed::default();
    let records = parsed.json_records(input);
    for record in records {
        let label = record.label(input);
        match record.value() {
            Ok(Value::Object(obj)) => finding(&obj, &label, options, &mut parsed),
            Ok(_) => parsed.invalid(&label, None, "is not a JSON object"),
            Err(e) => parsed.invalid(&label, None, format!("is not JSON: {e}")),
        }
    }
    parsed
}

/// What every case of one finding shares.
struct Common {
    uid: String,
    title: Option<String>,
    summary: Option<String>,
    kind: String,
    severity: Option<Level>,
    product: Option<String>,
    provider: Option<String>,
    account: Option<String>,
    detected_at: Option<OffsetDateTime>,
    first_seen_at: Option<OffsetDateTime>,
    opened_at: Option<OffsetDateTime>,
}

fn finding(obj: &Map<String, Value>, record: &str, options: &ImportOptions, parsed: &mut Parsed) {
    match obj.get("class_uid").map(Value::as_i64) {
        Some(Some(DETECTION_FINDING)) => {}
        Some(Some(other)) => {
            let why = format!("is {other}, not {DETECTION_FINDING} (Detection Finding)");
            return parsed.not_applicable(record, Some("class_uid"), why);
        }
        Some(None) => return parsed.invalid(record, Some("class_uid"), "is not a number"),
        None => return parsed.invalid(record, Some("class_uid"), "is missing"),
    }
    if let Some((field, why)) = closed(obj) {
        return parsed.not_applicable(record, Some(field), why);
    }
    let Some(info) = obj.get("finding_info").and_then(Value::as_object) else {
        return parsed.invalid(record, Some("finding_info"), "is missing or not an object");
    };
    let uid = match required(info, "uid") {
        Ok(uid) => uid.to_string(),
        Err(why) => return parsed.invalid(record, Some("finding_info.uid"), why),
    };
    let mut times = Vec::new();
    for (at, base, prefix) in [
        (obj, "time", ""),
        (info, "created_time", "finding_info."),
        (info, "first_seen_time", "finding_info."),
    ] {
        match ocsf_time(at, base) {
            Ok(t) => times.push(t),
            Err((field, why)) => {
                return parsed.invalid(record, Some(&format!("{prefix}{field}")), why);
            }
        }
    }
    let (time, created, first_seen) = (times[0], times[1], times[2]);
    let title = text(info, "title").ok().flatten().map(one_line);
    let check = path_text(obj, &["metadata", "event_code"]);
    let common = Common {
        kind: finding_kind(check.as_deref(), title.as_deref()),
        title,
        summary: text(obj, "message")
            .ok()
            .flatten()
            .or_else(|| text(info, "desc").ok().flatten())
            .map(str::to_string),
        severity: severity(obj),
        product: path_text(obj, &["metadata", "product", "name"]),
        provider: path_text(obj, &["cloud", "provider"]).map(|p| p.to_ascii_lowercase()),
        account: path_text(obj, &["cloud", "account", "uid"]),
        detected_at: created.or(time),
        first_seen_at: first_seen.or(created).or(time),
        opened_at: [time, created, first_seen].into_iter().flatten().min(),
        uid,
    };
    let resources = match obj.get("resources") {
        Some(Value::Array(resources)) if !resources.is_empty() => resources,
        Some(Value::Array(_)) => {
            return parsed.invalid(
                record,
                Some("resources"),
                "is empty: no identity to open a case for",
            );
        }
        Some(_) => return parsed.invalid(record, Some("resources"), "is not an array"),
        None => return parsed.invalid(record, Some("resources"), "is missing"),
    };
    for (i, resource) in resources.iter().enumerate() {
        let field = |name: &str| format!("resources[{i}].{name}");
        let Some(resource) = resource.as_object() else {
            parsed.invalid(record, Some(&format!("resources[{i}]")), "is not an object");
            continue;
        };
        let uid = match required(resource, "uid") {
            Ok(uid) => uid,
            Err(why) => {
                parsed.invalid(record, Some(&field("uid")), why);
                continue;
            }
        };
        let rtype = text(resource, "type").ok().flatten();
        let Some(kind) = identity_kind(rtype, uid) else {
            let why = format!(
                "is {}: not an identity (an IAM user, role or access key, or a service account)",
                quoted(rtype.unwrap_or("not given"))
            );
            parsed.not_applicable(record, Some(&field("type")), why);
            continue;
        };
        let name = text(resource, "name")
            .ok()
            .flatten()
            .or_else(|| arn_name(uid))
            .unwrap_or(uid);
        parsed.findings.push(detected(
            &common, resource, i, uid, name, kind, record, options,
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn detected(
    common: &Common,
    resource: &Map<String, Value>,
    i: usize,
    uid: &str,
    name: &str,
    kind: &str,
    record: &str,
    options: &ImportOptions,
) -> Detected {
    let product = common.product.as_deref();
    let provider = common.provider.clone().unwrap_or_else(|| {
        if uid.starts_with("arn:") {
            "aws"
        } else {
            "unknown"
        }
        .to_string()
    });
    let identity = Identity {
        id: uid.to_string(),
        name: name.to_string(),
        kind: kind.to_string(),
        provider,
        account: common.account.clone().or_else(|| arn_account(uid)),
        created_at: None,
        last_used_at: LastUsed::Unknown,
        privilege: None,
    };
    let finding = Finding {
        kind: common.kind.clone(),
        severity: common.severity,
        source: Some(with_product("ocsf", product)),
        detected_at: common.detected_at,
        summary: common.summary.clone(),
        owasp: None,
        refs: vec![common.uid.clone()],
        first_seen_at: common.first_seen_at,
        validity: None,
    };
    let title = match &common.title {
        Some(title) => format!("{title}: {}", one_line(name)),
        None => format!("Finding on {}", one_line(name)),
    };
    let mut case = new_case(
        common.opened_at.unwrap_or(options.now),
        title,
        identity,
        finding,
    );
    case.owner = owner(resource, i, product);
    case.criticality = text(resource, "criticality").ok().flatten().and_then(level);
    if uid.ends_with(":root") {
        case.tags.push("root".to_string());
    }
    Detected {
        record: record.to_string(),
        credential: format!("cloud-resource:{uid}"),
        case,
    }
}

/// A finding that holds nothing to decide: the check passed (Prowler's
/// `status_code` `PASS`), it is suppressed or resolved, or closed.
fn closed(obj: &Map<String, Value>) -> Option<(&'static str, String)> {
    if let Ok(Some(code)) = text(obj, "status_code")
        && code.eq_ignore_ascii_case("PASS")
    {
        return Some(("status_code", "is PASS: the check passed".into()));
    }
    match obj.get("status_id").and_then(Value::as_i64) {
        Some(3) => return Some(("status_id", "is 3 (Suppressed)".into())),
        Some(4) => return Some(("status_id", "is 4 (Resolved)".into())),
        _ => {}
    }
    if let Ok(Some(status)) = text(obj, "status")
        && (status.eq_ignore_ascii_case("Suppressed") || status.eq_ignore_ascii_case("Resolved"))
    {
        return Some((
            "status",
            format!("is {}: nothing left to decide", quoted(status)),
        ));
    }
    if obj.get("activity_id").and_then(Value::as_i64) == Some(3) {
        return Some(("activity_id", "is 3 (Close): the finding was closed".into()));
    }
    None
}

/// An OCSF time: `{base}_dt` (RFC 3339, the `datetime` profile) when it
/// reads, else `{base}` (epoch seconds as Prowler writes them, or
/// milliseconds as the schema defines `timestamp_t`).
///
/// # Errors
/// The field that is there but is no time, and why.
fn ocsf_time(
    obj: &Map<String, Value>,
    base: &str,
) -> Result<Option<OffsetDateTime>, (String, String)> {
    let dt = format!("{base}_dt");
    let text_time = obj.get(&dt).filter(|v| !v.is_null());
    if let Some(t) = text_time.and_then(Value::as_str).and_then(parse_time) {
        return Ok(Some(t));
    }
    match obj.get(base).filter(|v| !v.is_null()) {
        Some(value) => match any_time(value) {
            Some(t) => Ok(Some(t)),
            None => Err((
                base.to_string(),
                "is not a time (epoch seconds or milliseconds)".into(),
            )),
        },
        None => match text_time {
            Some(value) => {
                let shown = value
                    .as_str()
                    .map(quoted)
                    .unwrap_or_else(|| "not text".into());
                Err((dt, format!("is {shown}, not a time (RFC 3339 with a zone)")))
            }
            None => Ok(None),
        },
    }
}

/// `severity_id` 2…5 → low…critical, 6 (Fatal) → critical; 0 (Unknown),
/// 1 (Informational) and 99 (Other) → unknown. Without `severity_id`, the
/// `severity` caption the same way.
fn severity(obj: &Map<String, Value>) -> Option<Level> {
    match obj.get("severity_id").and_then(Value::as_i64) {
        Some(2) => Some(Level::Low),
        Some(3) => Some(Level::Medium),
        Some(4) => Some(Level::High),
        Some(5 | 6) => Some(Level::Critical),
        Some(_) => None,
        None => match text(obj, "severity")
            .ok()
            .flatten()?
            .to_ascii_lowercase()
            .as_str()
        {
            "fatal" => Some(Level::Critical),
            word => level(word),
        },
    }
}

/// `resources[i].owner` (an OCSF User: `name`, `uid`, `email_addr`) as an
/// inferred owner: the detector's view, not a confirmed record.
fn owner(resource: &Map<String, Value>, i: usize, product: Option<&str>) -> Option<Owner> {
    let owner = resource.get("owner")?.as_object()?;
    let team = text(owner, "name")
        .ok()
        .flatten()
        .or_else(|| text(owner, "uid").ok().flatten());
    let contact = text(owner, "email_addr").ok().flatten();
    if team.is_none() && contact.is_none() {
        return None;
    }
    Some(Owner {
        team: team.map(str::to_string),
        contact: contact.map(str::to_string),
        basis: OwnerBasis::Inferred,
        verified_at: None,
        source: Some(with_product(&format!("ocsf resources[{i}].owner"), product)),
    })
}

fn path_text(obj: &Map<String, Value>, path: &[&str]) -> Option<String> {
    let (last, parents) = path.split_last()?;
    let mut at = obj;
    for key in parents {
        at = at.get(*key)?.as_object()?;
    }
    text(at, last).ok().flatten().map(str::to_string)
}
