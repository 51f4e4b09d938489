//! Turning a checked decision into an evidence record: the one place every
//! backend asks, so the checks and the record's contents never differ
//! between them (docs/policy.md, *The case as it is now*).

use time::OffsetDateTime;
use uuid::Uuid;

use super::{CaseChange, StoreError};
use crate::evidence::{EvidenceRecord, ReadinessSummary};
use crate::model::{Case, CaseState, CaseStatus, Decision, Reviewer};
use crate::policy::{Policy, PolicyRef, assess, check_decision, controls::controls_for};

/// The record for `decision` on `case` (as stored now, with its `status`),
/// unsealed (`seq` and hashes empty), once every check holds: the version
/// the reviewer saw, the content digest they saw (`previous` finds the
/// content behind an older digest, to name what changed), the policy and
/// the lifecycle at `now`. Errors: `Conflict`, `CaseChanged`, `Refused`.
#[allow(clippy::too_many_arguments)]
pub fn record_for(
    case: &Case,
    status: &CaseStatus,
    decision: &Decision,
    reviewer: Reviewer,
    policy: &Policy,
    policy_ref: &PolicyRef,
    previous: impl Fn(&str) -> Option<Case>,
    now: OffsetDateTime,
) -> Result<EvidenceRecord, StoreError> {
    if status.version != decision.expected_version {
        return Err(StoreError::Conflict {
            case_id: case.id.clone(),
            expected: decision.expected_version,
            current: status.version,
            last: status.last_decision.clone(),
        });
    }
    let case_sha256 = case.content_sha256();
    if let Some(seen) = &decision.expected_case_sha256
        && *seen != case_sha256
    {
        let before = previous(seen);
        return Err(StoreError::CaseChanged(Box::new(CaseChange::between(
            seen,
            before.as_ref(),
            case,
            status,
            policy,
            now,
        ))));
    }
    let assessment = assess(case, status, policy, now);
    let transition = check_decision(case, status, &assessment, decision, &reviewer, policy, now)?;
    Ok(EvidenceRecord {
        seq: 0,
        id: Uuid::now_v7(),
        ts: now,
        case_id: case.id.clone(),
        case_sha256: Some(case_sha256),
        identity_id: case.identity.id.clone(),
        reviewer,
        action: decision.action,
        justification: decision.justification.trim().to_string(),
        quarantine_until: match transition.state_after {
            CaseState::Quarantined { until } => Some(until),
            _ => None,
        },
        escalate_to: match &transition.state_after {
            CaseState::Escalated { to } => Some(to.clone()),
            _ => None,
        },
        override_: transition.override_used,
        escalated_by: transition.escalated_by,
        quarantined_by: transition.quarantined_by,
        shared_os_account: transition.shared_os_account,
        request_sha256: decision
            .idempotency_key
            .as_ref()
            .map(|_| decision.request_sha256()),
        idempotency_key: decision.idempotency_key.clone(),
        readiness: ReadinessSummary {
            q1: assessment.q1.status,
            q2: assessment.q2.status,
            q3: assessment.q3.status,
            tier: assessment.tier,
            recommendation: assessment.recommendation,
            gaps: assessment.gaps(),
        },
        used_during_quarantine: assessment.used_during_quarantine,
        policy: policy_ref.clone(),
        case_version: status.version,
        state_before: transition.state_before,
        state_after: transition.state_after,
        controls: controls_for(
            decision.action,
            case.action.as_ref().map(|a| a.kind),
            case.finding.as_ref(),
        ),
        prev_hash: String::new(),
        hash: String::new(),
    })
}
