//! IAM Access Analyzer unused-access findings (docs/import.md,
//! *aws-access-analyzer*), in the three shapes AWS documents:
//!
//! - `aws accessanalyzer list-findings-v2`: `{"findings": [FindingSummaryV2…]}`
//!   (API reference `API_FindingSummaryV2.html`): no `findingDetails`, so no
//!   last use and no access key id;
//! - `aws accessanalyzer get-finding-v2`: one finding with `findingDetails`
//!   (`unusedIamUserAccessKeyDetails.accessKeyId`, `lastAccessed`, …);
//! - the EventBridge event `Unused Access Finding for IAM entities`
//!   (`detail.findingId`, `detail.accountId`, …; no details either);
//!
//! and arrays or JSON lines of any of them. The format holds no secret
//! material.

use std::collections::HashMap;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::cloud::{arn_account, arn_name, new_case, quoted, required, text, time_at};
use super::{Detected, ImportOptions, Input, JsonRecord, Parsed};
use crate::model::{Finding, Identity, LastUsed};

const SOURCE: &str = "aws-access-analyzer";
const EVENT_TYPE: &str = "Unused Access Finding for IAM entities";

/// The unused-access finding types (`findingType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AccessKey,
    Password,
    Role,
    Permission,
}

/// The finding types by their AWS names.
const KINDS: [(&str, Kind); 4] = [
    ("UnusedIAMUserAccessKey", Kind::AccessKey),
    ("UnusedIAMUserPassword", Kind::Password),
    ("UnusedIAMRole", Kind::Role),
    ("UnusedPermission", Kind::Permission),
];

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        KINDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, kind)| *kind)
    }

    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, kind)| *kind == self)
            .map_or("", |(n, _)| n)
    }
}

/// The names of a finding's fields where it was read: a summary or
/// get-finding-v2 result, or an event's `detail`.
struct Shape {
    prefix: &'static str,
    id_key: &'static str,
    account_key: &'static str,
}

const SUMMARY: Shape = Shape {
    prefix: "",
    id_key: "id",
    account_key: "resourceOwnerAccount",
};
const EVENT: Shape = Shape {
    prefix: "detail.",
    id_key: "findingId",
    account_key: "accountId",
};

/// One finding as read, before its credential key is chosen.
struct Found {
    record: String,
    finding_id: String,
    kind: Kind,
    resource: String,
    resource_type: Option<String>,
    account: Option<String>,
    created_at: Option<OffsetDateTime>,
    updated_at: Option<OffsetDateTime>,
    analyzed_at: Option<OffsetDateTime>,
    key_id: Option<String>,
    last_accessed: Option<OffsetDateTime>,
    services: Vec<String>,
}

/// Reads `input`: every unused-access finding in it, whatever its shape.
pub(super) fn parse(input: &Input<'_>, options: &ImportOptions) -> Parsed {
    let mut parsed = Parsed::default();
    let records = parsed.json_records(input);
    let mut found = Vec::new();
    for record in &records {
        read_record(input, record, &mut found, &mut parsed);
    }
    // get-finding-v2 names the key; its list and event forms in the same
    // input are the same key.
    let keys: HashMap<String, String> = found
        .iter()
        .filter_map(|f| Some((f.finding_id.clone(), f.key_id.clone()?)))
        .collect();
    for f in found {
        parsed.findings.push(detected(f, &keys, options));
    }
    parsed
}

fn read_record(
    input: &Input<'_>,
    record: &JsonRecord<'_>,
    found: &mut Vec<Found>,
    parsed: &mut Parsed,
) {
    let label = record.label(input);
    let Some(value) = object_value(record, &label, parsed) else {
        return;
    };
    let Some(obj) = value.as_object() else { return };
    if obj.contains_key("findings") {
        let Some(elements) = record.array_under(input, "findings") else {
            parsed.invalid(&label, Some("findings"), "is not an array");
            return;
        };
        for element in elements {
            let label = element.label(input);
            if let Some(value) = object_value(&element, &label, parsed)
                && let Some(obj) = value.as_object()
            {
                found.extend(read_finding(obj, &SUMMARY, &label, parsed));
            }
        }
    } else if obj.contains_key("detail-type") {
        let detail_type = obj.get("detail-type").and_then(Value::as_str).unwrap_or("");
        if detail_type != EVENT_TYPE {
            let why = format!(
                "is {}, not an unused-access event ({EVENT_TYPE:?})",
                quoted(detail_type)
            );
            parsed.not_applicable(&label, Some("detail-type"), why);
            return;
        }
        match obj.get("detail").and_then(Value::as_object) {
            Some(detail) => found.extend(read_finding(detail, &EVENT, &label, parsed)),
            None => parsed.invalid(&label, Some("detail"), "is missing or not an object"),
        }
    } else if obj.contains_key("findingType") || obj.contains_key("findingDetails") {
        found.extend(read_finding(obj, &SUMMARY, &label, parsed));
    } else {
        parsed.invalid(
            &label,
            None,
            "is not an Access Analyzer finding, findings list or EventBridge event (no findingType, findings or detail-type)",
        );
    }
}

/// The record as JSON when it is an object; else a skip naming it.
fn object_value(record: &JsonRecord<'_>, label: &str, parsed: &mut Parsed) -> Option<Value> {
    match record.value() {
        Ok(value) if value.is_object() => Some(value),
        Ok(_) => {
            parsed.invalid(label, None, "is not a JSON object");
            None
        }
        Err(e) => {
            parsed.invalid(label, None, format!("is not JSON: {e}"));
            None
        }
    }
}

/// One finding (a summary, a get-finding-v2 result or an event's
/// `detail`): one [`Found`] per access key it names, else one.
fn read_finding(
    obj: &Map<String, Value>,
    shape: &Shape,
    record: &str,
    parsed: &mut Parsed,
) -> Vec<Found> {
    let field = |name: &str| format!("{}{name}", shape.prefix);
    let name = match required(obj, "findingType") {
        Ok(name) => name,
        Err(why) => return bad(parsed, record, &field("findingType"), why),
    };
    let Some(kind) = Kind::of(name) else {
        let why = format!(
            "is {}, not an unused-access finding about an IAM identity",
            quoted(name)
        );
        parsed.not_applicable(record, Some(&field("findingType")), why);
        return Vec::new();
    };
    if let Ok(Some(status)) = text(obj, "status")
        && matches!(status, "ARCHIVED" | "RESOLVED")
    {
        let why = format!("is {status}: nothing left to decide");
        parsed.not_applicable(record, Some(&field("status")), why);
        return Vec::new();
    }
    if obj.get("isDeleted").and_then(Value::as_bool) == Some(true) {
        parsed.not_applicable(
            record,
            Some(&field("isDeleted")),
            "is true: the finding was deleted",
        );
        return Vec::new();
    }
    if let Some(error) = obj.get("error").filter(|e| !e.is_null()) {
        let code = error.as_str().map(quoted).unwrap_or_else(|| "given".into());
        let why = format!("is {code}: the analyzer could not analyze the identity");
        parsed.not_applicable(record, Some(&field("error")), why);
        return Vec::new();
    }
    let (finding_id, resource) = match (required(obj, shape.id_key), required(obj, "resource")) {
        (Ok(id), Ok(resource)) => (id, resource),
        (Err(why), _) => return bad(parsed, record, &field(shape.id_key), why),
        (_, Err(why)) => return bad(parsed, record, &field("resource"), why),
    };
    let mut times = [None; 3];
    for (slot, name) in times
        .iter_mut()
        .zip(["createdAt", "updatedAt", "analyzedAt"])
    {
        match time_at(obj, name) {
            Ok(t) => *slot = t,
            Err(why) => return bad(parsed, record, &field(name), why),
        }
    }
    let [created_at, updated_at, analyzed_at] = times;
    let base = Found {
        record: record.to_string(),
        finding_id: finding_id.to_string(),
        kind,
        resource: resource.to_string(),
        resource_type: text(obj, "resourceType").ok().flatten().map(str::to_string),
        account: text(obj, shape.account_key)
            .ok()
            .flatten()
            .map(str::to_string),
        created_at,
        updated_at,
        analyzed_at,
        key_id: None,
        last_accessed: None,
        services: Vec::new(),
    };
    match obj.get("findingDetails") {
        None | Some(Value::Null) => vec![base],
        Some(Value::Array(details)) => with_details(base, details, record, parsed),
        Some(_) => bad(parsed, record, "findingDetails", "is not an array"),
    }
}

/// The finding with what get-finding-v2's `findingDetails` adds.
fn with_details(base: Found, details: &[Value], record: &str, parsed: &mut Parsed) -> Vec<Found> {
    let mut keys: Vec<(String, Option<OffsetDateTime>)> = Vec::new();
    let mut last_accessed = None;
    let mut services = Vec::new();
    let detail_key = match base.kind {
        Kind::AccessKey => "unusedIamUserAccessKeyDetails",
        Kind::Password => "unusedIamUserPasswordDetails",
        Kind::Role => "unusedIamRoleDetails",
        Kind::Permission => "unusedPermissionDetails",
    };
    for (i, element) in details.iter().enumerate() {
        let Some(detail) = element.get(detail_key).and_then(Value::as_object) else {
            continue;
        };
        let field = |name: &str| format!("findingDetails[{i}].{detail_key}.{name}");
        let accessed = match time_at(detail, "lastAccessed") {
            Ok(t) => t,
            Err(why) => return bad(parsed, record, &field("lastAccessed"), why),
        };
        match base.kind {
            Kind::AccessKey => match required(detail, "accessKeyId") {
                Ok(id) => keys.push((id.to_string(), accessed)),
                Err(why) => return bad(parsed, record, &field("accessKeyId"), why),
            },
            // `None` orders before any time: the latest use.
            Kind::Password | Kind::Role => last_accessed = last_accessed.max(accessed),
            Kind::Permission => {
                if let Ok(Some(service)) = text(detail, "serviceNamespace") {
                    services.push(service.to_string());
                }
            }
        }
    }
    if keys.is_empty() {
        return vec![Found {
            last_accessed,
            services,
            ..base
        }];
    }
    keys.into_iter()
        .map(|(key_id, accessed)| Found {
            record: base.record.clone(),
            finding_id: base.finding_id.clone(),
            resource: base.resource.clone(),
            resource_type: base.resource_type.clone(),
            account: base.account.clone(),
            key_id: Some(key_id),
            last_accessed: accessed,
            services: Vec::new(),
            ..base
        })
        .collect()
}

fn detected(f: Found, keys: &HashMap<String, String>, options: &ImportOptions) -> Detected {
    let name = arn_name(&f.resource).unwrap_or(&f.resource).to_string();
    let key_id = match f.kind {
        Kind::AccessKey => f.key_id.as_ref().or_else(|| keys.get(&f.finding_id)),
        _ => None,
    };
    let credential = match (f.kind, key_id) {
        (Kind::AccessKey, Some(key)) => options.fingerprints.aws_access_key(key),
        (Kind::AccessKey, None) => format!("{SOURCE}:{}", f.finding_id),
        (kind, _) => format!("{SOURCE}:{}:{}", kind.name(), f.resource),
    };
    let is_role =
        f.resource_type.as_deref() == Some("AWS::IAM::Role") || f.resource.contains(":role/");
    let identity_kind = match f.kind {
        Kind::AccessKey => "api_key",
        Kind::Password => "password",
        Kind::Role => "role",
        Kind::Permission if is_role => "role",
        Kind::Permission => "user",
    };
    let finding_kind = match f.kind {
        Kind::Permission => "overprivileged",
        _ => "unused",
    };
    // Unused permissions say nothing of the identity's own use.
    let last_used_at = match (f.kind, f.last_accessed) {
        (Kind::Permission, _) | (_, None) => LastUsed::Unknown,
        (_, Some(t)) => LastUsed::At(t),
    };
    let analysed = f.analyzed_at.or(f.updated_at).or(f.created_at);
    let days = match (f.last_accessed, analysed) {
        (Some(used), Some(at)) if f.kind != Kind::Permission => {
            Some((at - used).whole_days().max(0))
        }
        _ => None,
    };
    let (title, summary) = words(&f, &name, days);
    let opened_at = [f.created_at, f.updated_at, f.analyzed_at]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(options.now);
    let identity = Identity {
        id: f.resource.clone(),
        name,
        kind: identity_kind.to_string(),
        provider: "aws".to_string(),
        account: f.account.clone().or_else(|| arn_account(&f.resource)),
        created_at: None,
        last_used_at,
        privilege: None,
    };
    let finding = Finding {
        kind: finding_kind.to_string(),
        severity: None,
        source: Some(SOURCE.to_string()),
        detected_at: f.created_at,
        summary: Some(summary),
        owasp: None,
        refs: vec![f.finding_id.clone()],
        first_seen_at: f.created_at,
        validity: None,
    };
    let mut case = new_case(opened_at, title, identity, finding);
    if f.resource.ends_with(":root") {
        case.tags.push("root".to_string());
    }
    Detected {
        record: f.record,
        credential,
        case,
    }
}

/// The title and summary of a finding.
fn words(f: &Found, name: &str, days: Option<i64>) -> (String, String) {
    // The days unused go in the summary, not the title: the first title
    // stays on re-import, and the days grow with every analysis.
    let since = days
        .map(|d| format!(" ({d} days before the analysis)"))
        .unwrap_or_default();
    let last = match f.last_accessed {
        Some(t) => format!("last used {}{since}", crate::model::rfc3339(t)),
        None => "last use not given".to_string(),
    };
    match f.kind {
        Kind::AccessKey => (
            format!("Unused access key of {name}"),
            format!("IAM Access Analyzer: an access key of IAM user {name} is unused; {last}"),
        ),
        Kind::Password => (
            format!("Unused console password of {name}"),
            format!(
                "IAM Access Analyzer: the console password of IAM user {name} is unused; {last}"
            ),
        ),
        Kind::Role => (
            format!("Unused role {name}"),
            format!("IAM Access Analyzer: IAM role {name} is unused; {last}"),
        ),
        Kind::Permission => {
            let services = match f.services.len() {
                0 => "services not given".to_string(),
                n => format!("{n} services: {}", f.services.join(", ")),
            };
            (
                format!("Unused permissions of {name}"),
                format!(
                    "IAM Access Analyzer: {name} holds permissions it has not used ({services})"
                ),
            )
        }
    }
}

fn bad(parsed: &mut Parsed, record: &str, field: &str, why: impl Into<String>) -> Vec<Found> {
    parsed.invalid(record, Some(field), why);
    Vec::new()
}
