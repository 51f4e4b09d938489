//! The case lifecycle and the guardrails on each decision: one source for
//! every rule the CLI, the console and the server apply.
//!
//! `pending → approved | quarantined | escalated`;
//! `quarantined → revoked | restored | escalated` (or extended by a new
//! quarantine; back to pending, flagged, when it expires undecided);
//! `escalated → approved | quarantined | closed`.
//!
//! - Approve on a pending case needs tier low (or a break-glass override).
//! - Every decision that leaves `escalated` needs a reviewer other than the
//!   escalator (separation of duties); approve there is allowed whatever the
//!   tier: a second person has taken the risk.
//! - Revoke after quarantine needs the quarantine observed for
//!   `quarantine_min_observation_hours` with no use seen (and usage known),
//!   and on a tier-high case a reviewer other than the one who quarantined it.
//! - `close` ends an escalation without acting on the identity (risk
//!   accepted, false positive, or handled outside this tool); it is final.
//!
//! Reviewers are compared with [`same_reviewer`] (NFKC, case folding, UTS #39
//! skeleton) and, where both are known, by OS account.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::Policy;
use super::assess::{Assessment, Tier, UsageCheck};
use super::readiness::Status;
use crate::model::{
    Action, Case, CaseState, CaseStatus, Decision, OsAccount, Reviewer, same_reviewer,
};
use crate::text::sanitize;

/// Whether an action is open in the case's current state, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionVerdict {
    /// The action judged.
    pub action: Action,
    /// `true` when the policy allows it now; `false` when refused (see `reasons`, and
    /// `needs_override` for break-glass).
    pub allowed: bool,
    /// Why it is refused; for an allowed action, conditions that still apply.
    pub reasons: Vec<String>,
    /// Allowed only with a break-glass override.
    pub needs_override: bool,
}

/// What a decision does, once every check has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The case's state as recorded before the decision (an expired quarantine is still
    /// `quarantined` here).
    pub state_before: CaseState,
    /// The state the decision puts the case in.
    pub state_after: CaseState,
    /// `true` when the action was refused by the policy and went through by break-glass override.
    pub override_used: bool,
    /// On a decision that leaves `escalated`: who escalated it (separation
    /// of duties; the record names both).
    pub escalated_by: Option<String>,
    /// On revoke after quarantine: who began the quarantine.
    pub quarantined_by: Option<String>,
    /// Separation of duties was met by reviewer name only: both ran under
    /// one OS account, which the policy allows (`allow_shared_os_accounts`).
    pub shared_os_account: bool,
}

/// Why a decision was refused. Each reason is a full sentence for the reviewer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} refused: {}", reasons.join("; "))]
pub struct Refusal {
    /// The action refused.
    pub action: Action,
    /// Every reason it was refused, one full sentence each, all collected before refusing.
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
    if escalated {
        if let Some(by) = &status.escalated_by {
            v.reasons.push(format!(
                "a reviewer other than {} (who escalated it) must decide",
                sanitize(by)
            ));
        }
        return v;
    }
    match action {
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
        Action::Revoke => {
            let blockers = revoke_blockers(status, a, policy, now);
            if !blockers.is_empty() {
                v.allowed = false;
                v.reasons = blockers;
                v.reasons.push(
                    "instead: restore, extend the quarantine, or escalate for a second reviewer's decision"
                        .into(),
                );
                v.needs_override = policy.allow_break_glass;
            } else if a.tier == Tier::High
                && let Some(by) = &status.quarantined_by
            {
                v.reasons.push(format!(
                    "tier high: a reviewer other than {} (who quarantined it) must revoke",
                    sanitize(by)
                ));
            }
        }
        Action::Quarantine
            if matches!(status.state, CaseState::Quarantined { .. })
                && !status.quarantine_expired(now) =>
        {
            v.reasons.push(
                "extends the running quarantine (its start and any use seen stay on record)".into(),
            );
        }
        _ => {}
    }
    v
}

/// Why revoking a quarantined identity is not safe yet: the seed's "full
/// revocation follows only if no legitimate dependency appears", which needs
/// time under observation and a usage source that would have seen a use.
fn revoke_blockers(
    status: &CaseStatus,
    a: &Assessment,
    policy: &Policy,
    now: OffsetDateTime,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if a.used_during_quarantine {
        reasons.push(
            "the identity was used during quarantine: a legitimate dependency may exist".into(),
        );
    }
    if a.checks.usage == UsageCheck::Unknown {
        reasons.push(
            "usage unknown: no usage source reports on this identity, so a use during quarantine would not be seen"
                .into(),
        );
    }
    let need = Duration::hours(i64::from(policy.quarantine_min_observation_hours));
    match status.quarantined_at {
        None => reasons.push("when the quarantine began is not on record".into()),
        Some(start) => {
            let observed = now - start;
            if observed < need {
                let from = start
                    .checked_add(need)
                    .map_or_else(|| "never".to_string(), crate::model::rfc3339);
                reasons.push(format!(
                    "the quarantine has been observed for {}h; revoke needs at least {}h with no use (from {from})",
                    observed.whole_hours().max(0),
                    policy.quarantine_min_observation_hours
                ));
            }
        }
    }
    reasons
}

/// Checks a decision against the lifecycle and the policy; on success, the
/// transition it makes. The same function decides in the store, the console
/// and the server: nothing else re-implements these rules.
pub fn check_decision(
    case: &Case,
    status: &CaseStatus,
    assessment: &Assessment,
    decision: &Decision,
    reviewer: &Reviewer,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<Transition, Refusal> {
    let mut reasons = justification_problems(decision, assessment, policy);
    match precheck(case, status, assessment, decision, reviewer, policy, now) {
        Ok(t) if reasons.is_empty() => Ok(t),
        Ok(_) => Err(Refusal {
            action: decision.action,
            reasons,
        }),
        Err(mut r) => {
            r.reasons.append(&mut reasons);
            Err(r)
        }
    }
}

/// Every check of [`check_decision`] that does not depend on the
/// justification's text: the console asks it before the editor opens, so a
/// refusal that no text can change is shown at once.
pub fn precheck(
    case: &Case,
    status: &CaseStatus,
    assessment: &Assessment,
    decision: &Decision,
    reviewer: &Reviewer,
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
                "cannot {} {} {} case (allowed: {})",
                decision.action,
                crate::text::article(status.state.name()),
                status.state.name(),
                offered.join(", ")
            )
        };
        return Err(refuse(vec![reason]));
    };

    // Every reason is collected before refusing: a reviewer must see all
    // that stands in the way, not the first of it.
    let mut reasons = Vec::new();
    let override_used = !verdict.allowed;
    if !verdict.allowed {
        if !decision.override_ {
            reasons.extend(verdict.reasons.iter().cloned());
        } else if !policy.allow_break_glass {
            reasons.extend(verdict.reasons.iter().cloned());
            reasons.push("break-glass override is disabled by the policy".into());
        }
    }
    let mut transition = Transition {
        state_before: status.state.clone(),
        state_after: CaseState::Pending,
        override_used,
        escalated_by: None,
        quarantined_by: None,
        shared_os_account: false,
    };
    // Separation of duties: leaving an escalation, and revoking a tier-high
    // identity after quarantine, take a second person.
    if matches!(status.state, CaseState::Escalated { .. })
        && let Some(by) = &status.escalated_by
    {
        match second_person(reviewer, by, status.escalated_by_os.as_ref(), policy) {
            Err(why) => reasons.push(format!(
                "separation of duties: {} escalated this case{why}; another reviewer must {}",
                sanitize(by),
                decision.action
            )),
            Ok(shared) => transition.shared_os_account |= shared,
        }
        transition.escalated_by = Some(by.clone());
    }
    if decision.action == Action::Revoke
        && let Some(by) = &status.quarantined_by
    {
        if assessment.tier == Tier::High {
            match second_person(reviewer, by, status.quarantined_by_os.as_ref(), policy) {
                Err(why) => reasons.push(format!(
                    "separation of duties: {} quarantined this tier-high case{why}; another reviewer must revoke it",
                    sanitize(by)
                )),
                Ok(shared) => transition.shared_os_account |= shared,
            }
        }
        transition.quarantined_by = Some(by.clone());
    }
    match target_state(case, decision, policy, now) {
        Ok(s) => transition.state_after = s,
        Err(reason) => reasons.push(reason),
    }
    if !reasons.is_empty() {
        return Err(refuse(reasons));
    }
    Ok(transition)
}

/// `Ok(shared_os_account)` when `reviewer` is someone other than `earlier`
/// (by name and, on a local store, by OS account); `Err` names why not.
fn second_person(
    reviewer: &Reviewer,
    earlier: &str,
    earlier_os: Option<&OsAccount>,
    policy: &Policy,
) -> Result<bool, String> {
    if same_reviewer(&reviewer.name, earlier) {
        let how = if reviewer.name == earlier {
            String::new()
        } else {
            format!(
                " (\"{}\" is the same reviewer once case and look-alike characters are normalised)",
                sanitize(&reviewer.name)
            )
        };
        return Err(how);
    }
    match (reviewer.os_account.as_ref(), earlier_os) {
        (Some(mine), Some(theirs)) if mine.uid == theirs.uid => {
            if policy.allow_shared_os_accounts {
                Ok(true)
            } else {
                Err(format!(
                    " from the same OS account {mine} (the policy does not allow shared accounts: allow_shared_os_accounts)"
                ))
            }
        }
        _ => Ok(false),
    }
}

/// The justification rules: enough visible characters, not too many.
fn justification_problems(d: &Decision, a: &Assessment, policy: &Policy) -> Vec<String> {
    let mut reasons = Vec::new();
    let count = JustificationCount::of(&d.justification);
    let breaking_glass = d.override_ && a.verdict(d.action).is_some_and(|v| !v.allowed);
    let need = required_justification_chars(policy, breaking_glass);
    if count.visible < need {
        let what = if breaking_glass {
            "a break-glass override needs a justification of"
        } else {
            "the justification needs"
        };
        reasons.push(format!(
            "{what} at least {need} visible characters (got {}{})",
            count.visible,
            count.not_counted_note()
        ));
    }
    if count.total > MAX_JUSTIFICATION_CHARS {
        reasons.push(format!(
            "the justification is {} characters; at most {MAX_JUSTIFICATION_CHARS} are kept in a record",
            count.total
        ));
    }
    reasons
}

/// The visible characters a justification needs: `justification_min_chars`,
/// or `break_glass_min_chars` (never less) when a break-glass override is used.
pub fn required_justification_chars(policy: &Policy, breaking_glass: bool) -> usize {
    let need = if breaking_glass {
        policy
            .break_glass_min_chars
            .max(policy.justification_min_chars)
    } else {
        policy.justification_min_chars
    };
    need as usize
}

/// Longer reasons belong in a linked document, not the evidence line.
pub const MAX_JUSTIFICATION_CHARS: usize = 10_000;

/// A justification's length as the policy counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JustificationCount {
    /// Characters a reader sees: grapheme clusters (user-perceived
    /// characters, Unicode UAX #29) holding a visible letter, number,
    /// punctuation or symbol ([`crate::text::is_visible_grapheme`]). Not
    /// whitespace, control, format or other invisible characters, and not
    /// combining marks on their own.
    pub visible: usize,
    /// Every character (code point), trimmed of surrounding whitespace: the
    /// storage bound.
    pub total: usize,
    /// Grapheme clusters that are neither visible nor whitespace (zero-width
    /// spaces, bidi marks, lone combining marks, ...).
    pub invisible: usize,
}

impl JustificationCount {
    /// Counts `text` after trimming surrounding whitespace (docs/policy.md: visible characters are
    /// grapheme clusters holding a letter, digit, punctuation or symbol a reader can see).
    pub fn of(text: &str) -> Self {
        use unicode_segmentation::UnicodeSegmentation;
        let text = text.trim();
        let mut count = JustificationCount {
            visible: 0,
            total: text.chars().count(),
            invisible: 0,
        };
        for g in text.graphemes(true) {
            if crate::text::is_visible_grapheme(g) {
                count.visible += 1;
            } else if !g.chars().all(char::is_whitespace) {
                count.invisible += 1;
            }
        }
        count
    }

    /// "; 20 invisible characters not counted", or nothing.
    pub fn not_counted_note(&self) -> String {
        match self.invisible {
            0 => String::new(),
            1 => "; 1 invisible character (control, format or a lone mark) not counted".into(),
            n => format!("; {n} invisible characters (control, format or lone marks) not counted"),
        }
    }
}

/// Visible characters of a justification (see [`JustificationCount`]).
pub fn justification_len(text: &str) -> usize {
    JustificationCount::of(text).visible
}

/// Where an escalation goes: the team the reviewer named (a blank one is
/// refused), else the owner team when the owner is known, else the policy's
/// `default_escalation_team`.
pub fn escalation_target(
    case: &Case,
    requested: Option<&str>,
    policy: &Policy,
) -> Result<String, String> {
    // A target the reviewer named, even a blank one, is theirs: a blank is
    // refused, never silently replaced by another team.
    let to = requested
        .map(str::trim)
        .or_else(|| case.known_owner_team())
        .unwrap_or(&policy.default_escalation_team);
    match crate::model::validate_team(to.trim()) {
        Ok(()) => Ok(to.trim().to_string()),
        Err(e) => Err(format!(
            "the escalation target {}: {}; name a team (--to TEAM, or the dialog's target field)",
            e.shown, e.reason
        )),
    }
}

/// Hours a quarantine runs: the requested ones or the policy's default,
/// within `1..=quarantine_max_hours`.
pub fn quarantine_hours(requested: Option<u32>, policy: &Policy) -> Result<u32, String> {
    let hours = requested.unwrap_or(policy.quarantine_default_hours);
    if hours == 0 || hours > policy.quarantine_max_hours {
        return Err(format!(
            "quarantine hours must be between 1 and {} (got {hours})",
            policy.quarantine_max_hours
        ));
    }
    Ok(hours)
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
            let hours = quarantine_hours(d.quarantine_hours, policy)?;
            let until = now
                .checked_add(Duration::hours(i64::from(hours)))
                .ok_or_else(|| format!("a quarantine of {hours} hours ends past the year 9999"))?;
            CaseState::Quarantined { until }
        }
        Action::Escalate => CaseState::Escalated {
            to: escalation_target(case, d.escalate_to.as_deref(), policy)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::JustificationCount;

    #[test]
    fn only_what_a_reader_sees_counts() {
        let visible = |s: &str| JustificationCount::of(s).visible;
        for blank in [
            "\u{200b}",
            "\u{0301}",
            "\u{20dd}",
            "\u{e000}",
            "\u{0378}",
            "\u{fffc}",
            "\u{1d159}",
            "\u{f0000}",
            "\u{2800}",
            "\u{3164}",
            "\u{fe0f}",
            "\u{e0100}",
        ] {
            let text = blank.repeat(30);
            assert_eq!(
                visible(&text),
                0,
                "U+{:04X}",
                blank.chars().next().unwrap() as u32
            );
            assert!(JustificationCount::of(&text).invisible > 0);
        }
        // Marks on letters are part of one character each.
        assert_eq!(visible(&format!("ááá{}", "\u{0301}".repeat(30))), 3);
        assert_eq!(visible("owner confirmed: 👍🏽 ok"), 18);
        assert_eq!(visible("  a b  "), 2);
    }
}
