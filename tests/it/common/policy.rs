//! Typed cases for the pure policy tests: no store, no binary, no real
//! clock. Every case starts from [`base`], tier low at [`NOW`], and a test
//! changes one thing with [`with`].

#![allow(dead_code)]

use nhi_triage::evidence::{EvidenceRecord, ReadinessSummary};
use nhi_triage::model::{
    Action, ActionKind, Case, CaseState, CaseStatus, Decision, Dependencies, DependencyNode,
    Finding, Identity, LastUsed, Level, Owner, OwnerBasis, Privilege, ProposedAction, Reviewer,
    Rollback,
};
use nhi_triage::policy::{Assessment, Policy, Refusal, Transition, assess, check_decision};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::reviewer;

/// The fixed "now" every policy test runs at.
pub const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);
/// The identity of [`base`].
pub const ID: &str = "arn:aws:iam::123456789012:user/svc-billing-export";
/// The owner team of [`base`].
pub const TEAM: &str = "billing-platform";
/// A justification over the default minimum.
pub const REASON: &str = "no legitimate use found in the access logs";

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

pub fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// A job depending on `uses`, seen a day before [`NOW`].
pub fn node(id: &str, criticality: Option<Level>, uses: &[&str]) -> DependencyNode {
    DependencyNode {
        id: id.into(),
        name: Some(format!("{id} name")),
        kind: Some("job".into()),
        criticality,
        external: Some(false),
        shared: Some(false),
        last_seen_at: Some(NOW - days(1)),
        uses: uses.iter().map(|s| s.to_string()).collect(),
        source: None,
    }
}

/// A case that is tier low at `NOW`: explicit fresh owner, fresh map with one
/// dependent of known criticality, a reversible, verifiable, tested revoke of
/// an identity unused for 200 days, no change window.
pub fn base() -> Case {
    Case {
        id: "CASE-T".into(),
        opened_at: NOW - days(1),
        title: "unused key".into(),
        identity: Identity {
            id: ID.into(),
            name: "svc-billing-export".into(),
            kind: "api_key".into(),
            provider: "aws".into(),
            account: Some("123456789012".into()),
            created_at: Some(NOW - days(400)),
            last_used_at: LastUsed::At(NOW - days(200)),
            privilege: Some(Privilege::Read),
        },
        finding: Some(Finding {
            kind: "unused".into(),
            severity: Some(Level::Medium),
            source: Some("access-analyzer".into()),
            detected_at: Some(NOW - days(1)),
            summary: None,
            owasp: Some("NHI1:2025".into()),
            refs: vec![],
            first_seen_at: None,
            validity: None,
        }),
        owner: Some(Owner {
            team: Some(TEAM.into()),
            contact: Some("billing-oncall@example.com".into()),
            basis: OwnerBasis::Explicit,
            verified_at: Some(NOW - days(10)),
            source: None,
        }),
        criticality: Some(Level::Medium),
        dependencies: Some(Dependencies {
            verified_at: Some(NOW - days(1)),
            nodes: vec![node("job:export", Some(Level::Medium), &[ID])],
        }),
        action: Some(ProposedAction {
            kind: ActionKind::Revoke,
            reversible: Some(true),
            verifiable: Some(true),
            rollback: Some(Rollback {
                method: Some("re-enable key".into()),
                tested_at: Some(NOW - days(5)),
                restore_minutes: Some(5),
            }),
            hot_reload: Some(true),
        }),
        change_window: None,
        tags: vec![],
        occurrences: vec![],
        recurrence_of: None,
        context: None,
        problems: vec![],
    }
}

/// [`base`], changed by `f`.
pub fn with(f: impl FnOnce(&mut Case)) -> Case {
    let mut c = base();
    f(&mut c);
    c
}

/// `action` on [`base`] at version 0, justified with `justification`.
pub fn decision(action: Action, justification: &str) -> Decision {
    Decision {
        justification: justification.into(),
        ..super::decision("CASE-T", action, 0)
    }
}

/// A case in `state` at version 1.
pub fn status(state: CaseState) -> CaseStatus {
    CaseStatus {
        state,
        version: 1,
        ..CaseStatus::pending()
    }
}

/// Escalated to [`TEAM`] by `who`.
pub fn escalated_by(who: &str) -> CaseStatus {
    CaseStatus {
        escalated_by: Some(who.into()),
        ..status(CaseState::Escalated { to: TEAM.into() })
    }
}

/// `d` by `who` at `now` under `p`, on the assessment at that moment.
pub fn decide_as(
    c: &Case,
    s: &CaseStatus,
    d: &Decision,
    who: &Reviewer,
    p: &Policy,
    now: OffsetDateTime,
) -> Result<Transition, Refusal> {
    let a = assess(c, s, p, now);
    check_decision(c, s, &a, d, who, p, now)
}

/// `d` by `who` at `NOW` under the default policy.
pub fn decide(c: &Case, s: &CaseStatus, d: &Decision, who: &str) -> Result<Transition, Refusal> {
    decide_as(c, s, d, &reviewer(who), &Policy::default(), NOW)
}

/// Expects a refusal with a reason that mentions `needle`.
pub fn refused_with(r: Result<Transition, Refusal>, needle: &str) -> Refusal {
    match r {
        Ok(t) => panic!("expected a refusal mentioning {needle:?}, got {t:?}"),
        Err(refusal) => {
            assert!(
                refusal.reasons.iter().any(|x| x.contains(needle)),
                "no reason mentions {needle:?}: {:?}",
                refusal.reasons
            );
            refusal
        }
    }
}

/// Whether any of `list` mentions `needle`.
pub fn has(list: &[String], needle: &str) -> bool {
    list.iter().any(|x| x.contains(needle))
}

/// A record of `t` as the store would seal it (hashes left empty: replay
/// does not read them).
#[allow(clippy::too_many_arguments)]
pub fn record_of(
    seq: u64,
    ts: OffsetDateTime,
    case: &Case,
    who: &Reviewer,
    d: &Decision,
    t: &Transition,
    a: &Assessment,
    policy: &Policy,
    version: u64,
) -> EvidenceRecord {
    EvidenceRecord {
        seq,
        id: uuid::Uuid::nil(),
        ts,
        case_id: case.id.clone(),
        case_sha256: Some(case.content_sha256()),
        identity_id: case.identity.id.clone(),
        reviewer: who.clone(),
        action: d.action,
        justification: d.justification.trim().to_string(),
        quarantine_until: match t.state_after {
            CaseState::Quarantined { until } => Some(until),
            _ => None,
        },
        escalate_to: match &t.state_after {
            CaseState::Escalated { to } => Some(to.clone()),
            _ => None,
        },
        override_: t.override_used,
        escalated_by: t.escalated_by.clone(),
        quarantined_by: t.quarantined_by.clone(),
        shared_os_account: t.shared_os_account,
        idempotency_key: None,
        request_sha256: None,
        readiness: ReadinessSummary {
            q1: a.q1.status,
            q2: a.q2.status,
            q3: a.q3.status,
            tier: a.tier,
            recommendation: a.recommendation,
            gaps: a.gaps(),
        },
        used_during_quarantine: a.used_during_quarantine,
        policy: policy.reference(),
        case_version: version,
        state_before: t.state_before.clone(),
        state_after: t.state_after.clone(),
        controls: vec![],
        prev_hash: String::new(),
        hash: String::new(),
    }
}
