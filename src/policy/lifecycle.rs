//! The case lifecycle and the guardrails on each decision.
//!
//! `pending → approved | quarantined | escalated`;
//! `quarantined → revoked | restored | escalated` (or extended by a new
//! quarantine; back to pending, flagged, when it expires undecided);
//! `escalated → approved | quarantined | closed`. Approve on a pending case
//! needs tier low (or a break-glass override); on an escalated case it needs a
//! reviewer other than the one who escalated it.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::Policy;
use super::assess::{Assessment, Tier};
use super::readiness::Status;
use crate::model::{Action, Case, CaseState, CaseStatus, Decision};

/// Whether an action is open in the case's current state, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionVerdict {
    pub action: Action,
    pub allowed: bool,
    /// Why it is refused; for an allowed action, conditions that still apply.
    pub reasons: Vec<String>,
    /// Allowed only with a break-glass override.
    pub needs_override: bool,
}

/// What a decision does, once every check has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state_before: CaseState,
    pub state_after: CaseState,
    pub override_used: bool,
    /// On approve of an escalated case: who escalated it (separation of duties).
    pub escalated_by: Option<String>,
}

/// Why a decision was refused. Each reason is a full sentence for the reviewer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} refused: {}", reasons.join("; "))]
pub struct Refusal {
    pub action: Action,
    pub reasons: Vec<String>,
}

/// The actions the lifecycle offers in the case's state, with the policy's
/// verdict on each. Reviewer-specific checks (separation of duties,
/// justification) come later, in [`check_decision`].
pub fn verdicts(
    status: &CaseStatus,
    a: &Assessment,
    policy: &Policy,
    now: OffsetDateTime,
) -> Vec<ActionVerdict> {
    offered(status, now)
        .iter()
        .map(|&action| verdict(action, status, a, policy, now))
        .collect()
}

/// The actions the lifecycle allows from the effective state at `now`.
fn offered(status: &CaseStatus, now: OffsetDateTime) -> &'static [Action] {
    if status.quarantine_expired(now) {
        return &[
            Action::Approve,
            Action::Quarantine,
            Action::Escalate,
            Action::Restore,
        ];
    }
    match status.state {
        CaseState::Pending => &[Action::Approve, Action::Quarantine, Action::Escalate],
        CaseState::Quarantined { .. } => &[
            Action::Revoke,
            Action::Restore,
            Action::Escalate,
            Action::Quarantine,
        ],
        CaseState::Escalated { .. } => &[Action::Approve, Action::Quarantine, Action::Close],
        CaseState::Approved | CaseState::Revoked | CaseState::Restored | CaseState::Closed => &[],
    }
}

fn verdict(
    action: Action,
    status: &CaseStatus,
    a: &Assessment,
    policy: &Policy,
    now: OffsetDateTime,
) -> ActionVerdict {
    let mut v = ActionVerdict {
        action,
        allowed: true,
        reasons: Vec::new(),
        needs_override: false,
    };
    let escalated = matches!(status.state, CaseState::Escalated { .. });
    match action {
        Action::Approve if escalated => {
            if let Some(by) = &status.escalated_by {
                v.reasons.push(format!(
                    "an approver other than {} (who escalated it) must decide",
                    crate::text::sanitize(by)
                ));
            }
        }
        Action::Approve if a.tier != Tier::Low => {
            v.allowed = false;
            v.reasons.push(format!(
                "tier is {}, approve needs tier low: automation stops at containment or a person's decision",
                a.tier.name()
            ));
            for (name, q) in [("Q1", &a.q1), ("Q2", &a.q2), ("Q3", &a.q3)] {
                if q.status != Status::Answered {
                    v.reasons.push(format!(
                        "{name} is {}: {}",
                        q.status.name(),
                        q.gaps.join("; ")
                    ));
                }
            }
            v.reasons.extend(
                a.tier_reasons
                    .iter()
                    .filter(|r| !r.starts_with('Q'))
                    .cloned(),
            );
            let other = match a.recommendation {
                Action::Escalate => Action::Quarantine,
                _ => Action::Escalate,
            };
            v.reasons.push(format!(
                "instead: {} (recommended) or {other}",
                a.recommendation
            ));
            v.needs_override = policy.allow_break_glass;
        }
        Action::Revoke if a.used_during_quarantine => {
            v.allowed = false;
            v.reasons.push(
                "the identity was used during quarantine: a legitimate dependency may exist; restore or escalate"
                    .into(),
            );
            v.needs_override = policy.allow_break_glass;
        }
        Action::Quarantine
            if matches!(status.state, CaseState::Quarantined { .. })
                && !status.quarantine_expired(now) =>
        {
            v.reasons.push("extends the running quarantine".into());
        }
        _ => {}
    }
    v
}

/// Checks a decision against the lifecycle and the policy; on success, the
/// transition it makes.
pub fn check_decision(
    case: &Case,
    status: &CaseStatus,
    assessment: &Assessment,
    decision: &Decision,
    reviewer: &str,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<Transition, Refusal> {
    let refuse = |reasons: Vec<String>| Refusal {
        action: decision.action,
        reasons,
    };
    let Some(verdict) = assessment.verdict(decision.action) else {
        let offered: Vec<&str> = assessment.actions.iter().map(|v| v.action.name()).collect();
        let reason = if offered.is_empty() {
            format!("the case is {}: no further decisions", status.state.name())
        } else {
            format!(
                "cannot {} a {} case (allowed: {})",
                decision.action,
                status.state.name(),
                offered.join(", ")
            )
        };
        return Err(refuse(vec![reason]));
    };

    let mut reasons = Vec::new();
    let override_used = !verdict.allowed;
    if !verdict.allowed {
        if !decision.override_ {
            return Err(refuse(verdict.reasons.clone()));
        }
        if !policy.allow_break_glass {
            let mut r = verdict.reasons.clone();
            r.push("break-glass override is disabled by the policy".into());
            return Err(refuse(r));
        }
        let len = justification_len(&decision.justification);
        if len < policy.break_glass_min_chars as usize {
            reasons.push(format!(
                "a break-glass override needs a justification of at least {} characters (got {len})",
                policy.break_glass_min_chars
            ));
        }
    }
    let len = justification_len(&decision.justification);
    if len > MAX_JUSTIFICATION_CHARS {
        reasons.push(format!(
            "the justification is {len} characters; at most {MAX_JUSTIFICATION_CHARS} are kept in a record"
        ));
    }
    if len < policy.justification_min_chars as usize {
        reasons.push(format!(
            "the justification needs at least {} characters (got {len})",
            policy.justification_min_chars
        ));
    }
    let mut escalated_by = None;
    if decision.action == Action::Approve
        && let CaseState::Escalated { .. } = status.state
    {
        if status.escalated_by.as_deref() == Some(reviewer) {
            reasons.push(format!(
                "separation of duties: {reviewer} escalated this case and cannot approve it; another approver must"
            ));
        }
        escalated_by = status.escalated_by.clone();
    }
    let state_after = match target_state(case, decision, policy, now) {
        Ok(s) => s,
        Err(reason) => {
            reasons.push(reason);
            CaseState::Pending
        }
    };
    if !reasons.is_empty() {
        return Err(refuse(reasons));
    }
    Ok(Transition {
        state_before: status.state.clone(),
        state_after,
        override_used,
        escalated_by,
    })
}

/// Longer reasons belong in a linked document, not the evidence line.
pub const MAX_JUSTIFICATION_CHARS: usize = 10_000;

/// Justification length in characters, ignoring surrounding whitespace.
pub fn justification_len(text: &str) -> usize {
    text.trim().chars().count()
}

fn target_state(
    case: &Case,
    d: &Decision,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<CaseState, String> {
    Ok(match d.action {
        Action::Approve => CaseState::Approved,
        Action::Revoke => CaseState::Revoked,
        Action::Restore => CaseState::Restored,
        Action::Close => CaseState::Closed,
        Action::Quarantine => {
            let hours = d
                .quarantine_hours
                .unwrap_or(policy.quarantine_default_hours);
            if hours == 0 || hours > policy.quarantine_max_hours {
                return Err(format!(
                    "quarantine hours must be between 1 and {} (got {hours})",
                    policy.quarantine_max_hours
                ));
            }
            CaseState::Quarantined {
                until: now + Duration::hours(i64::from(hours)),
            }
        }
        Action::Escalate => {
            let to = d
                .escalate_to
                .clone()
                .or_else(|| {
                    // A blank owner team names no one: fall back to the policy's team.
                    case.owner_team()
                        .filter(|t| !t.trim().is_empty())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| policy.default_escalation_team.clone());
            if to.trim().is_empty() {
                return Err("the escalation target must name a team".into());
            }
            CaseState::Escalated {
                to: to.trim().to_string(),
            }
        }
    })
}
