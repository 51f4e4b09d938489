//! The queue views and sort orders, and which views list a case.

use time::OffsetDateTime;

use crate::model::{CaseStatus, StateFilter};

/// The queue views, in tab order (keys 1–4; the evidence log is 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Cases awaiting a decision, including those whose quarantine expired.
    Pending,
    /// Cases in a quarantine that has not expired yet.
    Quarantined,
    /// Cases escalated to a person or team.
    Escalated,
    /// Cases with a final decision recorded.
    Decided,
    /// The evidence log of recorded decisions; lists no cases.
    Evidence,
}

impl View {
    /// Every view, in tab order; the first four are the queue views.
    pub const ALL: [View; 5] = [
        View::Pending,
        View::Quarantined,
        View::Escalated,
        View::Decided,
        View::Evidence,
    ];

    /// The tab label; also the name [`View::parse`] accepts.
    pub fn title(self) -> &'static str {
        match self {
            View::Pending => "Pending",
            View::Quarantined => "Quarantined",
            View::Escalated => "Escalated",
            View::Decided => "Decided",
            View::Evidence => "Evidence",
        }
    }

    /// The tab label for narrow terminals (at most 4 characters).
    pub fn short_title(self) -> &'static str {
        match self {
            View::Pending => "Pend",
            View::Quarantined => "Quar",
            View::Escalated => "Esc",
            View::Decided => "Done",
            View::Evidence => "Log",
        }
    }

    /// The view whose [`title`](Self::title) is `s`, ignoring ASCII case
    /// (the `:view` command); `None` for any other text.
    pub fn parse(s: &str) -> Option<View> {
        View::ALL
            .into_iter()
            .find(|v| v.title().eq_ignore_ascii_case(s))
    }

    /// Position in [`View::ALL`], 0–4 (the tab key is this plus one); the
    /// queue views' per-view arrays are indexed by it.
    pub fn index(self) -> usize {
        View::ALL.iter().position(|&v| v == self).unwrap_or(0)
    }
}

/// The order of the queue views' rows when no filter is typed (a filter
/// ranks by match score, ties in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Tier, severity, privilege, oldest first (the policy's queue order).
    Risk,
    /// Oldest case first.
    Age,
    /// Case id, byte order.
    Id,
    /// Owner team name, cases without an owner last; ties by case id.
    Owner,
}

impl SortKey {
    /// The key after this one in the cycle risk → age → id → owner → risk.
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Risk => SortKey::Age,
            SortKey::Age => SortKey::Id,
            SortKey::Id => SortKey::Owner,
            SortKey::Owner => SortKey::Risk,
        }
    }

    /// The lowercase name shown in the console: `risk`, `age`, `id`, `owner`.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Risk => "risk",
            SortKey::Age => "age",
            SortKey::Id => "id",
            SortKey::Owner => "owner",
        }
    }
}

/// Which views a case appears in at `now`: the same [`StateFilter`] rule as
/// `list --state` and the API (an expired quarantine is back in Pending).
pub fn views_of(status: &CaseStatus, now: OffsetDateTime) -> [bool; 4] {
    [
        StateFilter::Pending,
        StateFilter::Quarantined,
        StateFilter::Escalated,
        StateFilter::Decided,
    ]
    .map(|f| f.matches(status, now))
}
