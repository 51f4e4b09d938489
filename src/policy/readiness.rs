//! The three-question readiness check (DESIGN.md, "The decision policy").
//!
//! Q1 Who depends on this identity? Q2 What breaks if it is removed?
//! Q3 How quickly can restoration occur if the decision was wrong?

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Policy;
use super::age::{Freshness, ago};
use crate::model::{Case, CycleEdge, DanglingRef, DependencyGraph, OwnerBasis};
use crate::text::sanitize;

/// How completely a readiness question is answered (docs/policy.md, *The three questions*). Only
/// all three answered can make a case tier low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every fact the question needs is known, fresh and consistent.
    Answered,
    /// Not blocked, but with gaps: e.g. a stale or missing verification, an
    /// inferred owner, dangling ids, dependents of unknown criticality, an
    /// untested or slow rollback.
    Partial,
    /// Blocked: no owner or a dependency map never verified (Q1, and so Q2);
    /// an action not known reversible, no rollback, or no action (Q3).
    Unknown,
}

impl Status {
    /// `answered`, `partial` or `unknown`, as in JSON, the CLI and the console.
    pub fn name(self) -> &'static str {
        match self {
            Status::Answered => "answered",
            Status::Partial => "partial",
            Status::Unknown => "unknown",
        }
    }
}

/// One question's answer: its status, the facts behind it and the gaps that
/// stop it from being answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Unknown if any blocker, else partial if any gap, else answered.
    pub status: Status,
    /// What is known, one sentence each for a person.
    pub facts: Vec<String>,
    /// What is missing, stale or unreadable, one sentence each; empty when answered.
    pub gaps: Vec<String>,
}

impl Question {
    /// Unknown if any blocker, else partial if any gap, else answered.
    fn settle(blocked: bool, facts: Vec<String>, gaps: Vec<String>) -> Self {
        let status = if blocked {
            Status::Unknown
        } else if gaps.is_empty() {
            Status::Answered
        } else {
            Status::Partial
        };
        Question {
            status,
            facts,
            gaps,
        }
    }
}

/// Blast radius facts Q2 and the routing flags are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlastRadius {
    /// Transitive dependents, nearest first.
    pub dependents: Vec<String>,
    /// Transitive dependents whose `criticality` is `critical` (the critical-workload flag).
    pub critical: Vec<String>,
    /// Transitive dependents with `external: true` (the external-partner flag).
    pub external: Vec<String>,
    /// Transitive dependents with `shared: true` (the shared-platform flag).
    pub shared: Vec<String>,
    /// Transitive dependents whose `criticality` is not known: each a Q2 gap.
    pub unknown_criticality: Vec<String>,
    /// Dependents whose `external` or `shared` flag is not known: they may be
    /// a partner or a shared platform.
    #[serde(default)]
    pub unknown_external: Vec<String>,
    /// Dependents whose `shared` flag is not known: they may be a shared platform.
    #[serde(default)]
    pub unknown_shared: Vec<String>,
    /// Edges `from → to` closing a cycle.
    pub cycles: Vec<CycleEdge>,
    /// `uses` ids naming nothing.
    pub dangling: Vec<DanglingRef>,
    /// Node ids given more than once, or equal to the identity's id: the first wins, later copies
    /// are ignored and reported (Q1 partial).
    pub duplicate_nodes: Vec<String>,
}

impl BlastRadius {
    /// The blast radius of a case's dependency graph; empty when the case has
    /// no dependency map (`None`; Q1 is then unknown).
    pub fn of(graph: Option<&DependencyGraph<'_>>) -> Self {
        let Some(g) = graph else {
            return Self::default();
        };
        let mut radius = BlastRadius::default();
        for i in g.transitive_dependents() {
            let node = g.node(i);
            let id = node.id.clone();
            match node.criticality {
                Some(crate::model::Level::Critical) => radius.critical.push(id.clone()),
                None => radius.unknown_criticality.push(id.clone()),
                Some(_) => {}
            }
            match node.external {
                Some(true) => radius.external.push(id.clone()),
                None => radius.unknown_external.push(id.clone()),
                Some(false) => {}
            }
            match node.shared {
                Some(true) => radius.shared.push(id.clone()),
                None => radius.unknown_shared.push(id.clone()),
                Some(false) => {}
            }
            radius.dependents.push(id);
        }
        radius.cycles = g.cycles();
        radius.dangling = g.dangling.clone();
        radius.duplicate_nodes = g.duplicates.clone();
        radius
    }
}

pub fn q1(case: &Case, radius: &BlastRadius, policy: &Policy, now: OffsetDateTime) -> Question {
    let mut blocked = false;
    let mut facts = Vec::new();
    let mut gaps = Vec::new();

    match &case.owner {
        None => {
            blocked = true;
            gaps.push("no owner recorded".into());
        }
        Some(owner) => {
            match owner.team.as_deref().filter(|t| !t.trim().is_empty()) {
                Some(team) => facts.push(format!(
                    "owner {} ({})",
                    sanitize(team),
                    owner.basis.as_str()
                )),
                None => gaps.push(format!(
                    "owner team not named ({}): nobody to ask",
                    owner.basis.as_str()
                )),
            }
            match owner.basis {
                OwnerBasis::Unknown => {
                    blocked = true;
                    gaps.push("owner basis is unknown".into());
                }
                OwnerBasis::Inferred => gaps.push("owner is inferred, not confirmed".into()),
                OwnerBasis::Explicit => {}
            }
            let limit = policy.owner_verified_max_age_days;
            match Freshness::of(owner.verified_at, now, limit) {
                Freshness::Missing => gaps.push("owner never verified".into()),
                Freshness::Future => {
                    gaps.push("owner verification is dated in the future (clock skew?)".into())
                }
                Freshness::Within { days } => facts.push(format!("owner verified {}", ago(days))),
                Freshness::Older { days } => {
                    gaps.push(format!("owner verified {} (limit {limit} days)", ago(days)))
                }
            }
        }
    }

    match &case.dependencies {
        None => {
            blocked = true;
            gaps.push("no dependency map".into());
        }
        Some(deps) => {
            // The list, a node's id or its `uses` could not be read (or is
            // missing): who depends on the identity is unknown, not "nobody".
            if let Some(p) = case.problems.iter().find(|p| p.hides_dependents()) {
                blocked = true;
                gaps.push(format!("{p}: who depends on it is unknown"));
            }
            let limit = policy.dependency_map_max_age_days;
            match Freshness::of(deps.verified_at, now, limit) {
                Freshness::Missing => {
                    blocked = true;
                    gaps.push("dependency map never verified".into());
                }
                Freshness::Future => gaps.push(
                    "dependency map verification is dated in the future (clock skew?)".into(),
                ),
                Freshness::Within { days } => {
                    facts.push(format!("dependency map verified {}", ago(days)))
                }
                Freshness::Older { days } => gaps.push(format!(
                    "dependency map verified {} (limit {limit} days)",
                    ago(days)
                )),
            }
            facts.push(match radius.dependents.len() {
                0 => "no dependents mapped".into(),
                1 => "1 transitive dependent".into(),
                n => format!("{n} transitive dependents"),
            });
            for d in &radius.dangling {
                gaps.push(format!(
                    "{} uses {}, which is not in the map (dangling id)",
                    sanitize(&d.from),
                    sanitize(&d.missing)
                ));
            }
            for c in &radius.cycles {
                facts.push(format!(
                    "cycle: {} uses {}",
                    sanitize(&c.from),
                    sanitize(&c.to)
                ));
            }
            // The copies may disagree (one critical, one not): which is true
            // is unknown.
            if !radius.duplicate_nodes.is_empty() {
                gaps.push(format!(
                    "duplicate node ids, later copies ignored: {}",
                    sanitize(&radius.duplicate_nodes.join(", "))
                ));
            }
        }
    }
    Question::settle(blocked, facts, gaps)
}

pub fn q2(q1: &Question, radius: &BlastRadius) -> Question {
    if q1.status == Status::Unknown {
        return Question::settle(
            true,
            Vec::new(),
            vec!["who depends on it is unknown (Q1), so what breaks is unknown".into()],
        );
    }
    let mut facts = Vec::new();
    if radius.dependents.is_empty() {
        facts.push("no dependents: nothing breaks".into());
    } else {
        facts.push(match radius.dependents.len() {
            1 => "blast radius: 1 dependent".to_string(),
            n => format!("blast radius: {n} dependents"),
        });
        for (label, ids) in [
            ("critical", &radius.critical),
            ("external partners", &radius.external),
            ("shared platforms", &radius.shared),
        ] {
            if !ids.is_empty() {
                facts.push(format!("{label}: {}", sanitize(&ids.join(", "))));
            }
        }
    }
    // `{}` is the dependent's id: "whether billing-api is run by an
    // external partner is unknown".
    let unknown = |ids: &[String], what: &str| -> Vec<String> {
        ids.iter()
            .map(|id| format!("{} is unknown", what.replace("{}", &sanitize(id))))
            .collect()
    };
    let mut gaps = unknown(&radius.unknown_criticality, "the criticality of {}");
    gaps.extend(unknown(
        &radius.unknown_external,
        "whether {} is run by an external partner",
    ));
    gaps.extend(unknown(
        &radius.unknown_shared,
        "whether {} is a shared platform",
    ));
    Question::settle(false, facts, gaps)
}

pub fn q3(case: &Case, policy: &Policy, now: OffsetDateTime) -> Question {
    let mut facts = Vec::new();
    let mut gaps = Vec::new();
    let Some(action) = &case.action else {
        return Question::settle(true, facts, vec!["no action proposed".into()]);
    };
    let mut blocked = false;
    match action.reversible {
        Some(true) => facts.push(format!("{} is reversible", action.kind.as_str())),
        Some(false) => {
            blocked = true;
            gaps.push(format!("{} cannot be undone", action.kind.as_str()));
        }
        None => {
            blocked = true;
            gaps.push("whether it can be undone is not known".into());
        }
    }
    let Some(rollback) = &action.rollback else {
        gaps.push("no rollback plan".into());
        return Question::settle(true, facts, gaps);
    };
    if let Some(method) = &rollback.method {
        facts.push(format!("rollback: {}", sanitize(method)));
    }
    let limit = policy.rollback_tested_max_age_days;
    match Freshness::of(rollback.tested_at, now, limit) {
        Freshness::Missing => gaps.push("rollback never tested".into()),
        Freshness::Future => gaps.push("rollback test is dated in the future (clock skew?)".into()),
        Freshness::Within { days } => facts.push(format!("rollback tested {}", ago(days))),
        Freshness::Older { days } => gaps.push(format!(
            "rollback tested {} (limit {limit} days)",
            ago(days)
        )),
    }
    let max = policy.max_restore_minutes;
    match rollback.restore_minutes {
        None => gaps.push("restore time unknown".into()),
        Some(m) if m <= max => facts.push(format!("restores in {m} min")),
        Some(m) => gaps.push(format!("restore takes {m} min (limit {max} min)")),
    }
    Question::settle(blocked, facts, gaps)
}
