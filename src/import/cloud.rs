//! What the cloud importers share (`aws-credential-report`,
//! `aws-access-analyzer`, `ocsf`, `asff`; docs/import.md): the case they
//! start from, ARNs, optional JSON fields and times, and how a cloud
//! posture finding names its type and its identity.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::parse_time_or_epoch;
use crate::model::{Case, Finding, Identity, Level};

/// A case with this parser family's defaults: context (owner,
/// criticality, dependencies) and the action are added later, by the
/// context join and `propose_action`.
pub(super) fn new_case(
    opened_at: OffsetDateTime,
    title: String,
    identity: Identity,
    finding: Finding,
) -> Case {
    Case {
        id: String::new(),
        opened_at,
        title,
        identity,
        finding: Some(finding),
        owner: None,
        criticality: None,
        dependencies: None,
        action: None,
        change_window: None,
        tags: Vec::new(),
        occurrences: Vec::new(),
        recurrence_of: None,
        context: None,
        problems: Vec::new(),
    }
}

/// The account (fifth field) of an ARN `arn:partition:service:region:account:resource`,
/// when it is one (digits).
pub(super) fn arn_account(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, _, _, account, _]
            if !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some((*account).to_string())
        }
        _ => None,
    }
}

/// The last name of an ARN's resource (`user/path/svc-billing` → `svc-billing`).
pub(super) fn arn_name(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    resource.rsplit('/').next().filter(|s| !s.is_empty())
}

/// The IAM resource of an IAM ARN (`user/…`, `role/…`, `root`).
pub(super) fn iam_resource(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", _, _, resource] => Some(resource),
        _ => None,
    }
}

/// An optional text field: `Ok(None)` when absent, null or blank.
///
/// # Errors
/// The field is there but not a string.
pub(super) fn text<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, &'static str> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err("is not a string"),
    }
}

/// A required text field.
///
/// # Errors
/// `is missing` (absent, null or blank) or `is not a string`.
pub(super) fn required<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str, &'static str> {
    text(obj, key)?.ok_or("is missing")
}

/// An optional time field (RFC 3339 with a zone, or epoch seconds or
/// milliseconds): `Ok(None)` when absent or null.
///
/// # Errors
/// The field is there but is no time; the reason quotes it (time fields
/// hold no secret material).
pub(super) fn time_at(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<OffsetDateTime>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match any_time(value) {
            Some(t) => Ok(Some(t)),
            None => Err(format!(
                "is {}, not a time (RFC 3339 with a zone)",
                value
                    .as_str()
                    .map(quoted)
                    .unwrap_or_else(|| value_kind(value).into())
            )),
        },
    }
}

/// [`parse_time_or_epoch`], except that `i64::MIN` is no time: its `abs()`
/// there overflows (a panic in debug builds), and no detector writes it.
pub(super) fn any_time(value: &Value) -> Option<OffsetDateTime> {
    if value.as_i64() == Some(i64::MIN) {
        return None;
    }
    parse_time_or_epoch(value)
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number that is no time",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        _ => "not text",
    }
}

/// `value` quoted for a message, cut to 40 characters.
pub(super) fn quoted(value: &str) -> String {
    let cut: String = value.chars().take(40).collect();
    if cut.len() < value.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// One of our levels, in any case (`High`, `critical`); else unknown.
pub(super) fn level(word: &str) -> Option<Level> {
    match word.trim().to_ascii_lowercase().as_str() {
        "critical" => Some(Level::Critical),
        "high" => Some(Level::High),
        "medium" => Some(Level::Medium),
        "low" => Some(Level::Low),
        _ => None,
    }
}

/// The finding type of a cloud posture check, from its id (Prowler's
/// `CheckID`, a Security Hub control id) or, failing that, its title:
/// unused credentials → `unused`, unrotated keys → `long_lived`; any other
/// check keeps its id (else `finding`).
pub(super) fn finding_kind(check: Option<&str>, title: Option<&str>) -> String {
    let id = check.map(|c| {
        c.trim_start_matches("prowler-")
            .rsplit('/')
            .next()
            .unwrap_or(c)
    });
    match id {
        Some(
            "iam_user_accesskey_unused"
            | "iam_user_console_access_unused"
            | "iam_disable_30_days_credentials"
            | "iam_disable_45_days_credentials"
            | "iam_disable_90_days_credentials"
            | "IAM.8"
            | "IAM.22",
        ) => return "unused".into(),
        Some("iam_rotate_access_key_90_days" | "IAM.3") => return "long_lived".into(),
        _ => {}
    }
    let words = title.unwrap_or("").to_ascii_lowercase();
    if words.contains("unused") || words.contains("not been used") || words.contains("not used") {
        return "unused".into();
    }
    if words.contains("rotate") {
        return "long_lived".into();
    }
    check.map(one_line).unwrap_or_else(|| "finding".into())
}

/// The identity kind of a resource: by its type (`AwsIamAccessKey`,
/// `AWS::IAM::User`, …, anything with `ServiceAccount`), else by its IAM
/// ARN (a user, a role, the root user); `None`: not an identity.
pub(super) fn identity_kind(rtype: Option<&str>, uid: &str) -> Option<&'static str> {
    let squashed: String = rtype
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    match squashed.as_str() {
        "awsiamaccesskey" => return Some("api_key"),
        "awsiamuser" => return Some("user"),
        "awsiamrole" => return Some("role"),
        t if t.contains("serviceaccount") => return Some("service_account"),
        _ => {}
    }
    match iam_resource(uid)? {
        "root" => Some("user"),
        r if r.starts_with("user/") => Some("user"),
        r if r.starts_with("role/") => Some("role"),
        _ => None,
    }
}

/// `text` on one line: control characters (newlines) become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// `base (product)`, or `base` without a product.
pub(super) fn with_product(base: &str, product: Option<&str>) -> String {
    match product {
        Some(product) => format!("{base} ({})", one_line(product)),
        None => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;

    #[test]
    fn arns_give_account_name_and_iam_resource() {
        let arn = "arn:aws:iam::123456789012:user/ops/svc-billing";
        assert_eq!(arn_account(arn).as_deref(), Some("123456789012"));
        assert_eq!(arn_name(arn), Some("svc-billing"));
        assert_eq!(iam_resource(arn), Some("user/ops/svc-billing"));
        assert_eq!(iam_resource("arn:aws:iam::123456789012:root"), Some("root"));
        assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_account("not-an-arn"), None);
        assert_eq!(iam_resource("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn quoting_cuts_long_values() {
        assert_eq!(quoted("N/A"), "\"N/A\"");
        assert!(quoted(&"x".repeat(100)).ends_with('…'));
    }

    #[test]
    fn kinds_come_from_checks_then_titles() {
        assert_eq!(
            finding_kind(Some("iam_user_accesskey_unused"), None),
            "unused"
        );
        assert_eq!(
            finding_kind(Some("prowler-iam_rotate_access_key_90_days"), None),
            "long_lived"
        );
        assert_eq!(
            finding_kind(Some("security-control/IAM.22"), None),
            "unused"
        );
        assert_eq!(
            finding_kind(None, Some("Unused IAM user credentials should be removed")),
            "unused"
        );
        assert_eq!(
            finding_kind(
                Some("iam_no_root_access_key"),
                Some("Ensure no root access key")
            ),
            "iam_no_root_access_key"
        );
        assert_eq!(finding_kind(None, None), "finding");
    }

    #[test]
    fn identities_by_type_or_iam_arn() {
        assert_eq!(identity_kind(Some("AwsIamAccessKey"), "x"), Some("api_key"));
        assert_eq!(identity_kind(Some("AWS::IAM::Role"), "x"), Some("role"));
        assert_eq!(
            identity_kind(Some("Other"), "arn:aws:iam::123456789012:root"),
            Some("user")
        );
        assert_eq!(identity_kind(Some("AwsS3Bucket"), "arn:aws:s3:::b"), None);
        assert_eq!(
            identity_kind(None, "arn:aws:iam::123456789012:policy/p"),
            None
        );
        assert_eq!(level("High"), Some(Level::High));
        assert_eq!(level("business-critical"), None);
    }
}
