//! The AWS Security Finding Format (docs/import.md, *asff*), as the
//! Security Hub User Guide's "AWS Security Finding Format (ASFF)" and the
//! API's `AwsSecurityFinding` define it: Prowler's JSON array,
//! `aws securityhub get-findings` (`{"Findings": […]}`), the EventBridge
//! event (`detail.findings[]`), or JSON lines of any of them.
//!
//! One case per identity resource (`Resources[]` that is an IAM user, role,
//! access key or service account). Compliance checks that PASSED (or could
//! not be evaluated), archived findings and suppressed or resolved ones are
//! skipped. Read field by field: of `Resources[].Details` only the IAM
//! allow-list below, of `ProductFields` only the product name keys;
//! `UserDefinedFields`, `Note` and everything else are never read.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::cloud::{
    arn_account, arn_name, finding_kind, identity_kind, level, new_case, one_line, quoted,
    required, text, time_at, with_product,
};
use super::{Detected, ImportOptions, Input, JsonRecord, Parsed};
use crate::model::{Finding, Identity, LastUsed};

/// The `ProductFields` keys read (the product's name); no other is.
const PRODUCT_KEYS: [&str; 2] = ["aws/securityhub/ProductName", "ProviderName"];

/// Reads `input`: one case per identity resource of each open finding.
pub(super) fn parse(input: &Input<'_>, options: &ImportOptions) -> Parsed {
    let mut parsed = Parsed::default();
    let records = parsed.json_records(input);
    for record in records {
        for finding_record in findings_in(input, record, &mut parsed) {
            let label = finding_record.label(input);
            match finding_record.value() {
                Ok(Value::Object(obj)) => finding(&obj, &label, options, &mut parsed),
                Ok(_) => parsed.invalid(&label, None, "is not a JSON object"),
                Err(e) => parsed.invalid(&label, None, format!("is not JSON: {e}")),
            }
        }
    }
    parsed
}

/// The findings of one record: `Findings[]`, an event's
/// `detail.findings[]`, or the record itself.
fn findings_in<'a>(
    input: &Input<'a>,
    record: JsonRecord<'a>,
    parsed: &mut Parsed,
) -> Vec<JsonRecord<'a>> {
    let label = record.label(input);
    let fields: HashMap<String, &'a RawValue> = match serde_json::from_str(record.raw.get()) {
        Ok(fields) => fields,
        Err(_) => return vec![record],
    };
    if fields.contains_key("Findings") {
        return record.array_under(input, "Findings").unwrap_or_else(|| {
            parsed.invalid(&label, Some("Findings"), "is not an array");
            Vec::new()
        });
    }
    if fields.contains_key("detail-type") {
        let inner = fields.get("detail").and_then(|detail| {
            let detail = JsonRecord {
                line: input.line_of(detail.get()).unwrap_or(record.line),
                raw: detail,
            };
            detail.array_under(input, "findings")
        });
        return inner.unwrap_or_else(|| {
            parsed.invalid(
                &label,
                Some("detail.findings"),
                "is missing or not an array",
            );
            Vec::new()
        });
    }
    vec![record]
}

fn finding(obj: &Map<String, Value>, record: &str, options: &ImportOptions, parsed: &mut Parsed) {
    if let Some((field, why)) = closed(obj) {
        return parsed.not_applicable(record, Some(field), why);
    }
    let id = match required(obj, "Id") {
        Ok(id) => id,
        Err(why) => return parsed.invalid(record, Some("Id"), why),
    };
    let mut times = Vec::new();
    for name in [
        "CreatedAt",
        "FirstObservedAt",
        "UpdatedAt",
        "LastObservedAt",
    ] {
        match time_at(obj, name) {
            Ok(t) => times.push(t),
            Err(why) => return parsed.invalid(record, Some(name), why),
        }
    }
    let (created, first_observed) = (times[0], times[1]);
    let resources = match obj.get("Resources") {
        Some(Value::Array(resources)) if !resources.is_empty() => resources,
        Some(Value::Array(_)) => {
            return parsed.invalid(
                record,
                Some("Resources"),
                "is empty: no identity to open a case for",
            );
        }
        Some(_) => return parsed.invalid(record, Some("Resources"), "is not an array"),
        None => return parsed.invalid(record, Some("Resources"), "is missing"),
    };
    let title = text(obj, "Title").ok().flatten().map(one_line);
    let check = sub_text(obj, "Compliance", "SecurityControlId")
        .or_else(|| text(obj, "GeneratorId").ok().flatten());
    let product = text(obj, "ProductName").ok().flatten().or_else(|| {
        PRODUCT_KEYS
            .iter()
            .find_map(|key| sub_text(obj, "ProductFields", key))
    });
    let finding = Finding {
        kind: finding_kind(check, title.as_deref()),
        severity: sub_text(obj, "Severity", "Label").and_then(level),
        source: Some(with_product("asff", product)),
        detected_at: created,
        summary: text(obj, "Description").ok().flatten().map(str::to_string),
        owasp: None,
        refs: vec![id.to_string()],
        first_seen_at: first_observed.or(created),
        validity: None,
    };
    let opened_at = times.iter().flatten().min().copied().unwrap_or(options.now);
    let account = text(obj, "AwsAccountId").ok().flatten();
    for (i, resource) in resources.iter().enumerate() {
        let Some(resource) = resource.as_object() else {
            parsed.invalid(record, Some(&format!("Resources[{i}]")), "is not an object");
            continue;
        };
        match identity(resource, i, account, options) {
            Ok(Some((credential, identity))) => {
                let title = match &title {
                    Some(title) => format!("{title}: {}", one_line(&identity.name)),
                    None => format!("Finding on {}", one_line(&identity.name)),
                };
                let root = identity.id.ends_with(":root");
                let mut case = new_case(opened_at, title, identity, finding.clone());
                if root {
                    case.tags.push("root".to_string());
                }
                parsed.findings.push(Detected {
                    record: record.to_string(),
                    credential,
                    case,
                });
            }
            Ok(None) => {
                let rtype = text(resource, "Type").ok().flatten().unwrap_or("not given");
                let why = format!(
                    "is {}: not an identity (an IAM user, role or access key, or a service account)",
                    quoted(rtype)
                );
                parsed.not_applicable(record, Some(&format!("Resources[{i}].Type")), why);
            }
            Err((field, why)) => parsed.invalid(record, Some(&field), why),
        }
    }
}

/// A finding that holds nothing to decide, and why.
fn closed(obj: &Map<String, Value>) -> Option<(&'static str, String)> {
    match sub_text(obj, "Compliance", "Status") {
        Some("PASSED") => {
            return Some((
                "Compliance.Status",
                "is PASSED: a compliance check that passed".into(),
            ));
        }
        Some("NOT_AVAILABLE") => {
            return Some((
                "Compliance.Status",
                "is NOT_AVAILABLE: the check could not be evaluated".into(),
            ));
        }
        _ => {}
    }
    if text(obj, "RecordState").ok().flatten() == Some("ARCHIVED") {
        return Some((
            "RecordState",
            "is ARCHIVED: the finding is no longer current".into(),
        ));
    }
    match sub_text(obj, "Workflow", "Status") {
        Some(status @ ("SUPPRESSED" | "RESOLVED")) => Some((
            "Workflow.Status",
            format!("is {status}: nothing left to decide"),
        )),
        _ => None,
    }
}

/// The credential key and identity of resource `i`, `None` when it is not
/// an identity. Of `Details` only `AwsIamAccessKey` (`AccessKeyId`,
/// `CreatedAt`, `PrincipalName`, `UserName`), `AwsIamUser` (`UserName`,
/// `CreateDate`) and `AwsIamRole` (`RoleName`, `CreateDate`) are read.
///
/// # Errors
/// The field at fault (`Resources[0].Id`) and why.
fn identity(
    resource: &Map<String, Value>,
    i: usize,
    account: Option<&str>,
    options: &ImportOptions,
) -> Result<Option<(String, Identity)>, (String, String)> {
    let field = |name: &str| format!("Resources[{i}].{name}");
    let id = required(resource, "Id").map_err(|why| (field("Id"), why.to_string()))?;
    let rtype = text(resource, "Type").ok().flatten();
    let details = resource.get("Details").and_then(Value::as_object);
    let detail = |name: &str| details.and_then(|d| d.get(name)).and_then(Value::as_object);
    let key = detail("AwsIamAccessKey");
    let key_id = key
        .and_then(|k| text(k, "AccessKeyId").ok().flatten())
        .map(str::to_string)
        .or_else(|| key_id_in(id));
    let Some(kind) = identity_kind(rtype, id).or(key_id.as_ref().map(|_| "api_key")) else {
        return Ok(None);
    };
    let (named, created_field) = match kind {
        "api_key" => (key, "AwsIamAccessKey"),
        "role" => (detail("AwsIamRole"), "AwsIamRole"),
        _ => (detail("AwsIamUser"), "AwsIamUser"),
    };
    let created_key = if kind == "api_key" {
        "CreatedAt"
    } else {
        "CreateDate"
    };
    let created_at = match named.map(|d| time_at(d, created_key)).transpose() {
        Ok(t) => t.flatten(),
        Err(why) => {
            return Err((
                field(&format!("Details.{created_field}.{created_key}")),
                why,
            ));
        }
    };
    let name = named
        .and_then(|d| {
            ["PrincipalName", "UserName", "RoleName"]
                .iter()
                .find_map(|k| text(d, k).ok().flatten())
        })
        .or_else(|| arn_name(id).filter(|n| key_id.as_deref() != Some(*n)));
    let credential = match &key_id {
        Some(key_id) => options.fingerprints.aws_access_key(key_id),
        None => format!("cloud-resource:{id}"),
    };
    // An access key id is kept out of what is stored: a resource id that
    // holds it gives way to the credential key.
    let identity_id = match &key_id {
        Some(key_id) if id.contains(key_id.as_str()) || !id.starts_with("arn:") => {
            credential.clone()
        }
        _ => id.to_string(),
    };
    let name = match (name, kind) {
        (Some(name), _) => name.to_string(),
        (None, "api_key") => "access key (user not given)".to_string(),
        (None, _) => identity_id.clone(),
    };
    let identity = Identity {
        account: account.map(str::to_string).or_else(|| arn_account(id)),
        id: identity_id,
        name,
        kind: kind.to_string(),
        provider: "aws".to_string(),
        created_at,
        last_used_at: LastUsed::Unknown,
        privilege: None,
    };
    Ok(Some((credential, identity)))
}

/// An AWS access key id (`AKIA…`/`ASIA…`, 20 characters) that ends a
/// resource id such as `AWS::IAM::AccessKey:ASIA…`.
fn key_id_in(id: &str) -> Option<String> {
    let last = id.rsplit([':', '/']).next()?;
    let is_key = last.len() == 20
        && (last.starts_with("AKIA") || last.starts_with("ASIA"))
        && last
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    is_key.then(|| last.to_string())
}

/// `obj[outer][inner]` as text.
fn sub_text<'a>(obj: &'a Map<String, Value>, outer: &str, inner: &str) -> Option<&'a str> {
    text(obj.get(outer)?.as_object()?, inner).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids_are_found_at_the_end_of_resource_ids() {
        assert_eq!(
            key_id_in("AWS::IAM::AccessKey:ASIAIOSFODNN7EXAMPLE").as_deref(),
            Some("ASIAIOSFODNN7EXAMPLE")
        );
        assert_eq!(key_id_in("arn:aws:iam::123456789012:user/svc"), None);
    }
}
