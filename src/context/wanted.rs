//! Which context facts a case still lacks, and which kind of source would
//! give each: what the readiness pane and `show` print under the
//! questions, so a gap says how to close it.

use time::OffsetDateTime;

use crate::model::{Case, OwnerBasis};
use crate::policy::{Freshness, Policy};

/// A fact the policy reads that no source gave (or gave too old), and
/// which kind of source would answer it ([`super::sources_that_answer`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Wanted {
    /// The fact: `owner`, `owner.basis`, `owner.verified_at`,
    /// `criticality`, `dependencies`, `dependencies.verified_at`,
    /// `node.criticality`, `node.external`, `node.shared`.
    pub field: &'static str,
    /// What is wrong with it, in words: `unknown`, `inferred, not
    /// recorded`, `never verified`, `older than 90 days`.
    pub problem: String,
    /// The kinds of source that would give it.
    pub answered_by: &'static str,
    /// The same in a few words, for a narrow pane.
    #[serde(skip)]
    pub answered_by_short: &'static str,
}

/// [`Wanted::answered_by_short`] of each field.
fn short(field: &str) -> &'static str {
    match field {
        "owner" => "Backstage spec.owner, an owners table, or CODEOWNERS",
        "owner.basis" => "Backstage spec.owner or an owners table",
        "owner.verified_at" => "nhi-triage.io/verified-at, or verified_at in an owners table",
        "criticality" => "nhi-triage.io/criticality, or an owners table",
        "dependencies" => "Backstage dependsOn, or a Kubernetes manifest",
        "dependencies.verified_at" => "nhi-triage.io/dependencies-verified-at",
        "node.criticality" => "nhi-triage.io/criticality on each dependent",
        "node.external" => "nhi-triage.io/external on each dependent",
        "node.shared" => "nhi-triage.io/shared on each dependent",
        _ => "the case file",
    }
}

/// The context facts `case` lacks at `now` under `policy`, in the order
/// of the readiness questions (Q1 owner and map first, then Q2's
/// criticality and node facts). Empty when every one is known and fresh.
pub fn wanted(case: &Case, policy: &Policy, now: OffsetDateTime) -> Vec<Wanted> {
    let mut out = Vec::new();
    let mut want = |field: &'static str, problem: String| {
        out.push(Wanted {
            field,
            problem,
            answered_by: super::sources_that_answer(field),
            answered_by_short: short(field),
        });
    };
    match &case.owner {
        None => want("owner", "unknown".into()),
        Some(o) if o.team.as_deref().is_none_or(|t| t.trim().is_empty()) => {
            want("owner", "no team named".into())
        }
        Some(o) => {
            if o.basis != OwnerBasis::Explicit {
                want("owner.basis", format!("{}, not recorded", o.basis.as_str()));
            }
            if let Some(p) = stale(o.verified_at, now, policy.owner_verified_max_age_days) {
                want("owner.verified_at", p);
            }
        }
    }
    match &case.dependencies {
        None => want("dependencies", "no dependency map".into()),
        Some(d) => {
            if let Some(p) = stale(d.verified_at, now, policy.dependency_map_max_age_days) {
                want("dependencies.verified_at", p);
            }
            let count = |f: &dyn Fn(&crate::model::DependencyNode) -> bool| {
                d.nodes.iter().filter(|n| f(n)).count()
            };
            let nodes = [
                ("node.criticality", count(&|n| n.criticality.is_none())),
                ("node.external", count(&|n| n.external.is_none())),
                ("node.shared", count(&|n| n.shared.is_none())),
            ];
            for (field, n) in nodes {
                if n > 0 {
                    want(
                        field,
                        format!("unknown on {n} of {} dependents", d.nodes.len()),
                    );
                }
            }
        }
    }
    if case.criticality.is_none() {
        want("criticality", "unknown".into());
    }
    out
}

fn stale(t: Option<OffsetDateTime>, now: OffsetDateTime, limit: u32) -> Option<String> {
    match Freshness::of(t, now, limit) {
        Freshness::Within { .. } => None,
        Freshness::Missing => Some("never verified".into()),
        Freshness::Future => Some("dated in the future".into()),
        Freshness::Older { days } => Some(format!("verified {days} days ago (limit {limit})")),
    }
}
