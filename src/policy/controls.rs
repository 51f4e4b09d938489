//! Control references recorded with each decision: NIST CSF 2.0 outcomes and
//! the OWASP Non-Human Identities Top 10 (2025) risk the finding maps to.

use crate::model::{Action, ActionKind, Finding};

/// CSF 2.0: identities and credentials are managed.
pub const PR_AA_01: &str = "PR.AA-01";
/// CSF 2.0: access permissions are managed (least privilege).
pub const PR_AA_05: &str = "PR.AA-05";
/// CSF 2.0: incidents are contained.
pub const RS_MI_01: &str = "RS.MI-01";
/// CSF 2.0: incidents are eradicated.
pub const RS_MI_02: &str = "RS.MI-02";
/// CSF 2.0: incidents are escalated or elevated as needed.
pub const RS_MA_04: &str = "RS.MA-04";
/// CSF 2.0: actions are recorded and the records' integrity is preserved.
pub const RS_AN_06: &str = "RS.AN-06";

/// The controls a decision evidences: by action (and, for approve, by what
/// approving does), plus the finding's OWASP NHI risk.
pub fn controls_for(
    action: Action,
    approves: Option<ActionKind>,
    finding: Option<&Finding>,
) -> Vec<String> {
    let mut ids: Vec<&str> = vec![PR_AA_01];
    match action {
        Action::Approve => match approves {
            Some(ActionKind::ReduceScope) => ids.push(PR_AA_05),
            Some(_) => ids.push(RS_MI_02),
            None => {}
        },
        Action::Quarantine => ids.push(RS_MI_01),
        Action::Escalate => ids.push(RS_MA_04),
        Action::Revoke => ids.push(RS_MI_02),
        Action::Restore | Action::Close => {}
    }
    ids.push(RS_AN_06);
    let mut out: Vec<String> = ids.into_iter().map(String::from).collect();
    if let Some(owasp) = finding.and_then(owasp_risk) {
        out.push(owasp);
    }
    out
}

/// The OWASP NHI Top 10 2025 id: the finding's own when it is a valid one,
/// else mapped from the finding type.
pub fn owasp_risk(finding: &Finding) -> Option<String> {
    if let Some(id) = finding.owasp.as_deref()
        && is_owasp_nhi_id(id)
    {
        return Some(id.to_string());
    }
    let n = match finding.kind.as_str() {
        "unused" | "stale" | "orphaned" | "offboarding" => 1,
        "leaked_secret" | "secret_leak" | "leaked" | "exposed_secret" => 2,
        "third_party" | "vulnerable_third_party" => 3,
        "insecure_auth" | "weak_auth" => 4,
        "overprivileged" | "excessive_privilege" => 5,
        "insecure_cloud_config" | "cloud_misconfiguration" => 6,
        "long_lived" | "stale_rotation" | "no_rotation" => 7,
        "environment_isolation" | "cross_environment" => 8,
        "reused" | "reuse" | "shared_credential" => 9,
        "human_use" => 10,
        _ => return None,
    };
    Some(format!("NHI{n}:2025"))
}

fn is_owasp_nhi_id(id: &str) -> bool {
    id.strip_prefix("NHI")
        .and_then(|rest| rest.strip_suffix(":2025"))
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| (1..=10).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: &str, owasp: Option<&str>) -> Finding {
        Finding {
            kind: kind.into(),
            severity: None,
            source: None,
            detected_at: None,
            summary: None,
            owasp: owasp.map(String::from),
            refs: vec![],
            first_seen_at: None,
            validity: None,
        }
    }

    #[test]
    fn each_action_names_its_csf_outcome() {
        assert!(controls_for(Action::Quarantine, None, None).contains(&"RS.MI-01".into()));
        assert!(controls_for(Action::Escalate, None, None).contains(&"RS.MA-04".into()));
        assert!(controls_for(Action::Revoke, None, None).contains(&"RS.MI-02".into()));
        let approve = controls_for(Action::Approve, Some(ActionKind::ReduceScope), None);
        assert!(approve.contains(&"PR.AA-05".into()));
        for a in Action::ALL {
            assert!(controls_for(a, None, None).contains(&"RS.AN-06".into()));
        }
    }

    #[test]
    fn owasp_ids_are_validated_or_mapped() {
        assert_eq!(
            owasp_risk(&finding("x", Some("NHI7:2025"))).as_deref(),
            Some("NHI7:2025")
        );
        assert_eq!(
            owasp_risk(&finding("unused", Some("NHI11:2025"))).as_deref(),
            Some("NHI1:2025")
        );
        assert_eq!(
            owasp_risk(&finding("leaked_secret", None)).as_deref(),
            Some("NHI2:2025")
        );
        assert_eq!(owasp_risk(&finding("mystery", None)), None);
    }
}
