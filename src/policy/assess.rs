//! `assess`: readiness, checks, routing, blast radius, tier, recommendation
//! and the actions allowed, from a case, its state, the policy and `now`.
//! Pure: the same inputs always give the same assessment.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Policy;
use super::age::{Freshness, ago, days_since};
use super::lifecycle::{ActionVerdict, verdicts};
use super::readiness::{BlastRadius, Question, Status, q1, q2, q3};
use crate::model::{
    Action, ActionKind, Case, CaseStatus, DependencyGraph, LastUsed, Level, Privilege,
};
use crate::text::sanitize;

/// The readiness tier of a case (docs/policy.md, *Tier and recommendation*), evaluated high, then
/// low, else medium. Ordered `Low < Medium < High`; the queue puts high first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Q1–Q3 answered, change window open or absent, action verifiable and bounded: may be
    /// approved.
    Low,
    /// Anything between: contain (quarantine) while the missing context is found.
    Medium,
    /// A routing flag, or the action not known to be reversible (or none proposed): a person
    /// decides (escalate).
    High,
}

impl Tier {
    /// The lowercase name used in JSON, the CLI and the console: `low`, `medium`, `high`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Low => "low",
            Tier::Medium => "medium",
            Tier::High => "high",
        }
    }

    /// The tiered model: high escalates, medium contains, low may complete.
    pub fn recommendation(self) -> Action {
        match self {
            Tier::Low => Action::Approve,
            Tier::Medium => Action::Quarantine,
            Tier::High => Action::Escalate,
        }
    }
}

/// A routing flag's kind (docs/policy.md, *Checks and routing flags*). Only nodes that reach the
/// identity count; any flag makes the case tier high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingKind {
    /// The case's own `criticality`, or a transitive dependent's, is `critical`.
    CriticalWorkload,
    /// A transitive dependent has `external: true`.
    ExternalPartner,
    /// A transitive dependent has `shared: true`.
    SharedPlatform,
}

impl RoutingKind {
    /// The phrase shown to people: `critical workload`, `external partner`, `shared platform`.
    pub fn name(self) -> &'static str {
        match self {
            RoutingKind::CriticalWorkload => "critical workload",
            RoutingKind::ExternalPartner => "external partner",
            RoutingKind::SharedPlatform => "shared platform",
        }
    }
}

/// A routing flag and what raised it (dependent ids, or the identity itself
/// when the case's own criticality is critical).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingFlag {
    /// Which flag.
    pub kind: RoutingKind,
    /// Ids that raised it, as in the case file (not sanitised): dependent node ids, or the identity
    /// id for its own criticality.
    pub raised_by: Vec<String>,
}

/// The change-window check: a window is open when `start <= now < end`; none given means no
/// constraint. A closed window keeps the case from tier low.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WindowCheck {
    /// No window: no constraint.
    None,
    /// A window is given and open at `now`.
    Open {
        /// When it closes: the window's `end`.
        #[serde(with = "time::serde::rfc3339")]
        ends_at: OffsetDateTime,
    },
    /// A window is given and not open at `now` (not yet begun, or over).
    Closed {
        /// The window's `start`, as in the case file.
        #[serde(with = "time::serde::rfc3339")]
        start: OffsetDateTime,
        /// The window's `end`, as in the case file.
        #[serde(with = "time::serde::rfc3339")]
        end: OffsetDateTime,
    },
}

impl WindowCheck {
    /// `false` only when a window is given and closed at `now`.
    pub fn allows_change(&self) -> bool {
        !matches!(self, WindowCheck::Closed { .. })
    }
}

/// Usage recency (DESIGN.md): unused means `"never"` or a last use older
/// than `unused_after_days`; unknown usage is a gap, never "unused".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UsageCheck {
    /// `last_used_at` null or absent: no usage source reports on it.
    Unknown,
    /// `last_used_at: "never"`: the usage source saw no use at all.
    Never,
    /// Last used more than `unused_after_days` ago.
    Unused {
        /// Whole days since the last use.
        days: i64,
    },
    /// Last used within `unused_after_days` (or dated in the future).
    Recent {
        /// Whole days since the last use; 0 for a use dated in the future.
        days: i64,
    },
}

impl UsageCheck {
    /// Known unused: `"never"` or older than the limit.
    pub fn known_unused(self) -> bool {
        matches!(self, UsageCheck::Never | UsageCheck::Unused { .. })
    }

    /// Days since the last use, when there was a known one.
    pub fn days_since_use(self) -> Option<i64> {
        match self {
            UsageCheck::Unused { days } | UsageCheck::Recent { days } => Some(days),
            _ => None,
        }
    }

    /// One line for the checks list: "usage unknown", "never used (unused)",
    /// "used 120 days ago (unused)", "used today".
    pub fn describe(self) -> String {
        match self {
            UsageCheck::Unknown => "usage unknown".into(),
            UsageCheck::Never => "never used (unused)".into(),
            UsageCheck::Unused { days } => format!("used {} (unused)", ago(days)),
            UsageCheck::Recent { days } => format!("used {}", ago(days)),
        }
    }
}

/// The policy checks shown beside the questions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checks {
    /// Whole days since `identity.created_at` (0 if dated in the future); `None` when absent (a
    /// gap).
    pub identity_age_days: Option<i64>,
    /// The identity's `privilege`; `None` when unknown (a gap: it orders the queue, it does not set
    /// the tier).
    pub privilege: Option<Privilege>,
    /// Usage recency from `identity.last_used_at` against `unused_after_days`.
    pub usage: UsageCheck,
    /// The identity's own business `criticality`; `None` when unknown, a gap that keeps the case
    /// from tier low.
    pub criticality: Option<Level>,
    /// Whether the case's change window allows the change at `now`.
    pub change_window: WindowCheck,
    /// Facts the checks need and do not have ("usage unknown").
    pub gaps: Vec<String>,
}

/// Everything the policy says about one case at `now` ([`assess`];
/// docs/policy.md): shown by `show --json`, the console and
/// `GET /v1/cases/{id}` as `assessment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// Q1, who depends on this identity: owner and dependency map, their freshness, dangling ids.
    pub q1: Question,
    /// Q2, what breaks if it is removed: the transitive dependents' criticality (unknown when Q1
    /// is).
    pub q2: Question,
    /// Q3, how quickly restoration can occur: reversible action, rollback tested recently and fast
    /// enough.
    pub q3: Question,
    /// Identity age, privilege, usage, criticality and change window, with their gaps.
    pub checks: Checks,
    /// The routing flags raised; any one makes the tier high.
    pub routing: Vec<RoutingFlag>,
    /// The transitive dependents and the flags, cycles, dangling ids and duplicates among them.
    pub blast_radius: BlastRadius,
    /// The tier: high, then low, else medium.
    pub tier: Tier,
    /// Why this tier, one sentence each: what raised it (high), what keeps it from low (medium), or
    /// that the context is complete (low).
    pub tier_reasons: Vec<String>,
    /// The tier's action: approve (low), quarantine (medium), escalate (high).
    pub recommendation: Action,
    /// Back in the queue because a quarantine ran out undecided.
    pub quarantine_expired: bool,
    /// Used after its quarantine began: a legitimate dependency may exist.
    pub used_during_quarantine: bool,
    /// Each action the lifecycle offers in the case's state at `now`, with the policy's verdict;
    /// reviewer checks (separation of duties, justification) come later, in
    /// [`super::check_decision`].
    pub actions: Vec<ActionVerdict>,
}

impl Assessment {
    /// Every gap of the three questions, prefixed by its question.
    pub fn gaps(&self) -> Vec<String> {
        [("Q1", &self.q1), ("Q2", &self.q2), ("Q3", &self.q3)]
            .iter()
            .flat_map(|(q, a)| a.gaps.iter().map(move |g| format!("{q}: {g}")))
            .chain(self.checks.gaps.iter().map(|g| format!("checks: {g}")))
            .collect()
    }

    /// The verdict on `action`; `None` when the lifecycle does not offer it in the case's state.
    pub fn verdict(&self, action: Action) -> Option<&ActionVerdict> {
        self.actions.iter().find(|v| v.action == action)
    }
}

/// Assesses `case` in its lifecycle `status` under `policy` as of `now` (docs/policy.md): Q1–Q3,
/// checks, routing, blast radius, tier, recommendation and the actions allowed. Pure and
/// infallible: no clock, files or terminal, and a missing or unreadable fact becomes a gap, never
/// an error.
pub fn assess(
    case: &Case,
    status: &CaseStatus,
    policy: &Policy,
    now: OffsetDateTime,
) -> Assessment {
    // Every comparison of `now` with a date here (or in what this calls)
    // must add the instants where it flips to `flips` in window.rs, or
    // stored tier windows (`tier_window`) would keep a stale tier.
    let graph = DependencyGraph::of(case);
    let blast_radius = BlastRadius::of(graph.as_ref());
    let q1 = q1(case, &blast_radius, policy, now);
    let q2 = q2(&q1, &blast_radius);
    let q3 = q3(case, policy, now);
    let checks = checks(case, policy, now);
    let routing = routing(case, &blast_radius);
    let (tier, tier_reasons) = tier(case, [&q1, &q2, &q3], &checks, &routing);
    let quarantine_expired = status.quarantine_expired(now);
    let used_during_quarantine = used_during_quarantine(case, status);
    let mut assessment = Assessment {
        q1,
        q2,
        q3,
        checks,
        routing,
        blast_radius,
        tier,
        tier_reasons,
        recommendation: tier.recommendation(),
        quarantine_expired,
        used_during_quarantine,
        actions: Vec::new(),
    };
    assessment.actions = verdicts(status, &assessment, policy, now);
    assessment
}

/// Use seen during the current quarantine episode: on record from an
/// earlier decision, or in the case as it is now (a use after the episode
/// began; extensions do not move the start).
pub fn used_during_quarantine(case: &Case, status: &CaseStatus) -> bool {
    if !matches!(status.state, crate::model::CaseState::Quarantined { .. }) {
        return false;
    }
    status.used_during_quarantine
        || matches!(
            (status.quarantined_at, case.identity.last_used_at.time()),
            (Some(start), Some(used)) if used > start
        )
}

fn usage(last_used: LastUsed, policy: &Policy, now: OffsetDateTime) -> UsageCheck {
    let time = match last_used {
        LastUsed::Unknown => return UsageCheck::Unknown,
        LastUsed::Never => return UsageCheck::Never,
        LastUsed::At(t) => t,
    };
    match Freshness::of(Some(time), now, policy.unused_after_days) {
        Freshness::Older { days } => UsageCheck::Unused { days },
        // A use dated in the future is a use: the clocks disagree, not "unused".
        _ => UsageCheck::Recent {
            days: days_since(time, now),
        },
    }
}

fn checks(case: &Case, policy: &Policy, now: OffsetDateTime) -> Checks {
    let usage = usage(case.identity.last_used_at, policy, now);
    let change_window = match &case.change_window {
        None => WindowCheck::None,
        Some(w) if w.is_open(now) => WindowCheck::Open { ends_at: w.end },
        Some(w) => WindowCheck::Closed {
            start: w.start,
            end: w.end,
        },
    };
    let mut gaps = Vec::new();
    match (usage, case.identity.last_used_at.time()) {
        (UsageCheck::Unknown, _) => {
            gaps.push("usage unknown: no usage source reports on this identity".into())
        }
        (_, Some(t)) if Freshness::of(Some(t), now, 0) == Freshness::Future => gaps.push(
            "last use dated in the future (clock skew?): read as in use, never as unused".into(),
        ),
        _ => {}
    }
    if case.criticality.is_none() {
        gaps.push("business criticality of the identity unknown: it could be critical".into());
    }
    if case.identity.privilege.is_none() {
        gaps.push("privilege unknown".into());
    }
    if case.identity.created_at.is_none() {
        gaps.push("identity age unknown (no created_at)".into());
    }
    gaps.extend(case.problems.iter().map(|p| format!("case file: {p}")));
    Checks {
        identity_age_days: case.identity.created_at.map(|t| days_since(t, now)),
        privilege: case.identity.privilege,
        usage,
        criticality: case.criticality,
        change_window,
        gaps,
    }
}

fn routing(case: &Case, radius: &BlastRadius) -> Vec<RoutingFlag> {
    let mut critical = Vec::new();
    if case.criticality == Some(Level::Critical) {
        critical.push(case.identity.id.clone());
    }
    critical.extend(radius.critical.iter().cloned());
    [
        (RoutingKind::CriticalWorkload, critical),
        (RoutingKind::ExternalPartner, radius.external.clone()),
        (RoutingKind::SharedPlatform, radius.shared.clone()),
    ]
    .into_iter()
    .filter(|(_, ids)| !ids.is_empty())
    .map(|(kind, raised_by)| RoutingFlag { kind, raised_by })
    .collect()
}

/// The tier, evaluated in the design's order: high, then low, else medium.
fn tier(
    case: &Case,
    questions: [&Question; 3],
    checks: &Checks,
    routing: &[RoutingFlag],
) -> (Tier, Vec<String>) {
    let mut high = Vec::new();
    for flag in routing {
        high.push(format!(
            "{}: {}",
            flag.kind.name(),
            sanitize(&flag.raised_by.join(", "))
        ));
    }
    let reversible = case.action.as_ref().and_then(|a| a.reversible);
    match (&case.action, reversible) {
        (None, _) => high.push("no action proposed".into()),
        (Some(_), Some(true)) => {}
        (Some(_), Some(false)) => high.push("the action cannot be undone".into()),
        (Some(_), None) => high.push("not known whether the action can be undone".into()),
    }
    if !high.is_empty() {
        return (Tier::High, high);
    }

    let mut missing = Vec::new();
    for (name, q) in ["Q1", "Q2", "Q3"].iter().zip(questions) {
        if q.status != Status::Answered {
            missing.push(format!("{name} is {}", q.status.name()));
        }
    }
    if !checks.change_window.allows_change() {
        missing.push("the change window is closed".into());
    }
    // Unknown is never safe: an identity that could be critical, or a case
    // file with facts that could not be read, is never automated.
    if case.criticality.is_none() {
        missing.push("the identity's business criticality is unknown: it could be critical".into());
    }
    if !case.problems.is_empty() {
        let problems: Vec<String> = case.problems.iter().map(ToString::to_string).collect();
        missing.push(format!(
            "the case file has facts that could not be read: {}",
            problems.join("; ")
        ));
    }
    // `case.action` is Some here: no action is high above.
    if let Some(action) = &case.action {
        if action.verifiable != Some(true) {
            missing.push("the impact cannot be verified at once".into());
        }
        match action.kind {
            ActionKind::Rotate if action.hot_reload != Some(true) => {
                missing.push("rotate without hot reload is not bounded".into())
            }
            ActionKind::Rotate => {}
            kind => match checks.usage {
                UsageCheck::Unknown => missing.push(format!(
                    "usage unknown: {} needs the identity known unused",
                    kind.as_str()
                )),
                UsageCheck::Recent { .. } => missing.push(format!(
                    "{} of an identity still in use is not bounded",
                    kind.as_str()
                )),
                UsageCheck::Never | UsageCheck::Unused { .. } => {}
            },
        }
    }
    if missing.is_empty() {
        (
            Tier::Low,
            vec!["context complete: all questions answered, bounded and verifiable".into()],
        )
    } else {
        (Tier::Medium, missing)
    }
}

/// Queue order: tier (high first), finding severity, privilege, then the
/// oldest case first. Unknown severity or privilege sorts after known ones.
pub fn queue_order(a: (&Case, Tier), b: (&Case, Tier)) -> Ordering {
    order_fields(a.0, a.1).cmp(&order_fields(b.0, b.1))
}

/// A case's place in the queue ([`queue_order`]), owned: what a store that
/// streams its cases keeps of each to sort a million of them (about 60
/// bytes and the id) instead of the cases themselves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueKey {
    tier: std::cmp::Reverse<Tier>,
    severity: (bool, Option<crate::model::Level>),
    privilege: (bool, Option<crate::model::Privilege>),
    opened_at: time::OffsetDateTime,
    /// The case id (the last tie-breaker).
    pub id: Box<str>,
}

impl QueueKey {
    /// The key of `case` assessed as `tier`.
    pub fn new(case: &Case, tier: Tier) -> Self {
        let (tier, severity, privilege, opened_at, id) = order_fields(case, tier);
        QueueKey {
            tier,
            severity,
            privilege,
            opened_at,
            id: id.into(),
        }
    }
}

/// The fields the queue is ordered by, in order: the one definition
/// [`queue_order`], [`row_queue_order`] and [`QueueKey`] use.
/// The queue order's fields, compared in this order.
type OrderFields<'a> = (
    std::cmp::Reverse<Tier>,
    (bool, Option<crate::model::Level>),
    (bool, Option<crate::model::Privilege>),
    time::OffsetDateTime,
    &'a str,
);

fn order_fields(case: &Case, tier: Tier) -> OrderFields<'_> {
    order_key(
        tier,
        case.severity(),
        case.identity.privilege,
        case.opened_at,
        &case.id,
    )
}

fn order_key(
    tier: Tier,
    severity: Option<crate::model::Level>,
    privilege: Option<crate::model::Privilege>,
    opened_at: time::OffsetDateTime,
    id: &str,
) -> OrderFields<'_> {
    (
        std::cmp::Reverse(tier),
        rank(severity),
        rank(privilege),
        opened_at,
        id,
    )
}

/// [`queue_order`] for queue rows (the same fields, read from the row).
pub fn row_queue_order(
    a: (&crate::model::CaseRow, Tier),
    b: (&crate::model::CaseRow, Tier),
) -> Ordering {
    RowOrderKey::of(a.0, a.1)
        .cmp(&RowOrderKey::of(b.0, b.1))
        .then_with(|| a.0.id().cmp(b.0.id()))
}

/// A row's place in the queue but for the last tie-breaker (the case id):
/// [`row_queue_order`]'s fields packed into one integer in the same order
/// (tier high first, then severity and privilege with unknown last, then
/// the oldest first), so a million rows sort in a fraction of a second
/// (keys compared first, ids only on a tie). `opened_at` outside the years
/// 1677–2262 is clamped to them (such rows tie and are ordered by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowOrderKey(u128);

impl RowOrderKey {
    /// The key of `row` assessed as `tier`, from the fields
    /// [`queue_order`] reads (the same definition, `order_key`).
    pub fn of(row: &crate::model::CaseRow, tier: Tier) -> Self {
        let (std::cmp::Reverse(tier), (_, severity), (_, privilege), opened_at, _) =
            order_key(tier, row.severity, row.privilege, row.opened_at, "");
        let tier = match tier {
            Tier::High => 0u128,
            Tier::Medium => 1,
            Tier::Low => 2,
        };
        // Known levels in their order (critical first), unknown after them.
        let severity = severity.map_or(4, |l| l as u128);
        let privilege = privilege.map_or(3, |p| p as u128);
        let nanos = opened_at
            .unix_timestamp_nanos()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        // Biased so that earlier instants give smaller unsigned numbers.
        let opened = (nanos - i128::from(i64::MIN)) as u128;
        RowOrderKey(tier << 72 | severity << 68 | privilege << 64 | opened)
    }
}

fn rank<T: Ord>(v: Option<T>) -> (bool, Option<T>) {
    (v.is_none(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseRow, LoadReport, parse_jsonl};

    /// The packed row key with the id as tie-breaker orders rows exactly as
    /// [`queue_order`] orders their cases, for every tier each could have.
    #[test]
    fn the_row_order_is_the_queue_order() {
        let now = time::macros::datetime!(2026-11-27 12:00 UTC);
        let text = crate::demo::rebased_cases(now).expect("demo cases");
        let mut report = LoadReport::default();
        parse_jsonl(std::path::Path::new("demo"), &text, &mut report);
        let mut cases = report.cases;
        // Ties on every field but the id, and dates far in the past.
        let mut twin = cases[0].clone();
        twin.id = "AAA-twin".into();
        cases.push(twin);
        let mut old = cases[1].clone();
        old.id = "ZZZ-old".into();
        old.opened_at = time::macros::datetime!(1900-01-01 00:00 UTC);
        cases.push(old);
        let rows: Vec<CaseRow> = cases.iter().map(CaseRow::of).collect();
        let tiers = [Tier::Low, Tier::Medium, Tier::High];
        for (a, ra) in cases.iter().zip(&rows) {
            for (b, rb) in cases.iter().zip(&rows) {
                for (ta, tb) in tiers
                    .iter()
                    .flat_map(|&x| tiers.iter().map(move |&y| (x, y)))
                {
                    assert_eq!(
                        row_queue_order((ra, ta), (rb, tb)),
                        queue_order((a, ta), (b, tb)),
                        "{} {ta:?} vs {} {tb:?}",
                        a.id,
                        b.id
                    );
                }
            }
        }
    }
}
