//! The queue model: every case with its status and tier, the views' row
//! lists, the filter and the sort. Built once per data change; a keystroke
//! only moves an index, and a filter keystroke re-matches precomputed text.
//! What the table's columns need from all cases (their widths, where each
//! id stops sharing a prefix with its neighbours) is measured here once per
//! snapshot, never per frame.

mod filter;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use nucleo_matcher::Matcher;
use time::OffsetDateTime;
use unicode_width::UnicodeWidthStr;

use filter::Haystack;
pub use filter::new_matcher;

use crate::model::{
    Case, CaseState, CaseStatus, DanglingRef, DependencyGraph, OutlineRow, StateFilter,
};
use crate::policy::{Assessment, Policy, Tier, assess, days_since, queue_order};
use crate::store::Snapshot;
use crate::text::sanitize;

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

/// Every case of a snapshot with what the queue views need, measured once
/// per snapshot.
pub struct QueueModel {
    /// The store's data this model was built from: cases, states, policy.
    pub snapshot: Snapshot,
    /// Per case (same index as `snapshot.cases`), its current status.
    pub statuses: Vec<CaseStatus>,
    /// Per case (same index as `snapshot.cases`), its tier assessed at `now`.
    pub tiers: Vec<Tier>,
    /// Ids of the cases with a decision waiting in the outbox (not yet
    /// recorded): marked in the queue. Filled by the runtime from the store;
    /// kept across snapshots.
    pub queued: HashSet<String>,
    haystacks: Vec<Haystack>,
    /// Case indices in each sort order (computed on first use).
    orders: [Option<Arc<Vec<u32>>>; 4],
    /// The last filter's matches, in sort order: typing one more character
    /// only re-checks these.
    last_match: Option<(String, SortKey, Arc<Vec<u32>>)>,
    /// Per case, the queue views listing it (bit `View::index`), from
    /// [`views_of`] at `now`.
    member: Vec<u8>,
    /// Column content widths, per queue view (`View::index`).
    widths: [ColumnWidths; 4],
    /// Per case: how many leading characters of its (sanitised) id it
    /// shares with the nearest ids in id order; the rest tells it apart.
    id_shared: Vec<u32>,
    /// After a snapshot with other cases: old case index → new index of the
    /// same case id (`u32::MAX`: gone), for keeping selections on their case.
    carried: Option<Vec<u32>>,
    /// The last case assessed, and its assessment (redrawing one case
    /// reuses it: a map of 100,000 nodes is walked once, not every frame).
    /// Cleared when statuses or the time change.
    assessed: Mutex<Option<(usize, Assessment)>>,
    /// The last case whose dependency tree was asked for (cases do not
    /// change within a model).
    tree: Mutex<Option<(usize, Arc<CaseTree>)>>,
    /// The time tiers, ages and view membership are evaluated at; moved by
    /// [`set_now`](Self::set_now).
    pub now: OffsetDateTime,
}

/// What the console draws of a case's dependency map, walked once.
#[derive(Debug, Default)]
pub struct CaseTree {
    /// [`DependencyGraph::outline`]: each node expanded once.
    pub outline: Vec<OutlineRow>,
    /// `uses` ids that name nothing in the map.
    pub dangling: Vec<DanglingRef>,
    /// How many nodes reach the identity
    /// ([`DependencyGraph::transitive_dependents`]).
    pub dependents: usize,
}

/// The widest content of each variable column over all cases, in terminal
/// columns of the sanitised text (capped: one pathological name must not
/// claim the whole table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ColumnWidths {
    /// The case id.
    pub id: u16,
    /// The identity's name.
    pub identity: u16,
    /// The owner team, or [`UNKNOWN_OWNER`].
    pub owner: u16,
    /// `kind/provider`.
    pub kind_provider: u16,
    /// The state text (`quar 1d 6h`, `esc→team`, …).
    pub state: u16,
    /// The age in days (`123d`).
    pub age: u16,
}

impl ColumnWidths {
    /// Each width the larger of this one's and `other`'s.
    fn widen(&mut self, other: &ColumnWidths) {
        self.id = self.id.max(other.id);
        self.identity = self.identity.max(other.identity);
        self.owner = self.owner.max(other.owner);
        self.kind_provider = self.kind_provider.max(other.kind_provider);
        self.state = self.state.max(other.state);
        self.age = self.age.max(other.age);
    }
}

/// How many decimal digits `n` (≥ 0) has.
fn digits(n: i64) -> u16 {
    let mut d = 1;
    let mut n = n / 10;
    while n > 0 {
        d += 1;
        n /= 10;
    }
    d
}

/// No column's content width is taken as more than this.
const MAX_CONTENT_WIDTH: usize = 48;

impl QueueModel {
    /// Assesses every case of `snapshot` at `now` and measures the columns:
    /// O(cases) assessments plus one sort by id. No decision is marked
    /// queued yet.
    pub fn new(snapshot: Snapshot, now: OffsetDateTime) -> Self {
        let statuses: Vec<CaseStatus> = snapshot
            .cases
            .iter()
            .map(|c| snapshot.status(&c.id))
            .collect();
        let tiers = tiers(&snapshot.cases, &statuses, &snapshot.policy, now);
        let haystacks = snapshot.cases.iter().map(Haystack::of).collect();
        let mut model = QueueModel {
            snapshot,
            statuses,
            tiers,
            queued: HashSet::new(),
            haystacks,
            orders: [None, None, None, None],
            last_match: None,
            member: Vec::new(),
            widths: [ColumnWidths::default(); 4],
            id_shared: Vec::new(),
            carried: None,
            assessed: Mutex::new(None),
            tree: Mutex::new(None),
            now,
        };
        model.member = model.memberships();
        model.widths = model.measure();
        let by_id = model.order(SortKey::Id);
        let ids: Vec<&str> = model.snapshot.cases.iter().map(|c| c.id.as_str()).collect();
        model.id_shared = shared_prefixes(&ids, &by_id);
        model
    }

    /// New data from the store: only cases whose status changed are
    /// re-assessed. When the cases themselves changed, the model is rebuilt
    /// and [`carried`](Self::carried) maps old case indices to new ones.
    pub fn update(&mut self, snapshot: Snapshot) {
        if !Arc::ptr_eq(&self.snapshot.cases, &snapshot.cases) {
            let new_index: HashMap<&str, u32> = snapshot
                .cases
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.as_str(), i as u32))
                .collect();
            let carried: Vec<u32> = self
                .snapshot
                .cases
                .iter()
                .map(|c| new_index.get(c.id.as_str()).copied().unwrap_or(u32::MAX))
                .collect();
            drop(new_index);
            let queued = std::mem::take(&mut self.queued);
            *self = QueueModel::new(snapshot, self.now);
            self.queued = queued;
            self.carried = Some(carried);
            return;
        }
        self.carried = None;
        self.forget_assessment();
        let mut changed = false;
        for (i, case) in snapshot.cases.iter().enumerate() {
            let status = snapshot.status(&case.id);
            if self.statuses[i] != status {
                self.tiers[i] = assess(case, &status, &snapshot.policy, self.now).tier;
                self.statuses[i] = status;
                changed = true;
            }
        }
        self.snapshot = snapshot;
        if changed {
            self.orders = Default::default();
            self.last_match = None;
            self.member = self.memberships();
            self.widths = self.measure();
        }
    }

    /// Where the case at index `old` of the previous snapshot is now: the
    /// same index unless the last [`update`](Self::update) brought other
    /// cases (then the index of the same case id); `None` when it is gone.
    /// Valid until the next [`rows`](Self::rows).
    pub fn carried(&self, old: u32) -> Option<u32> {
        match &self.carried {
            None => Some(old).filter(|&i| (i as usize) < self.snapshot.cases.len()),
            Some(map) => map.get(old as usize).copied().filter(|&i| i != u32::MAX),
        }
    }

    /// Time moved on: tiers that depend on ages and windows may change.
    pub fn set_now(&mut self, now: OffsetDateTime) {
        self.now = now;
        self.forget_assessment();
        let tiers = tiers(
            &self.snapshot.cases,
            &self.statuses,
            &self.snapshot.policy,
            now,
        );
        if tiers != self.tiers {
            self.tiers = tiers;
            self.orders = [None, None, None, None];
            self.last_match = None;
        }
        // Ages grow and expired quarantines move back to Pending.
        self.member = self.memberships();
        self.widths = self.measure();
    }

    /// The content widths of the columns of queue view `view`
    /// (`View::index`, 0–3), over all the cases it lists.
    pub fn widths(&self, view: usize) -> ColumnWidths {
        self.widths.get(view).copied().unwrap_or_default()
    }

    /// How many leading characters of case `i`'s sanitised id it shares
    /// with the ids nearest to it in id order: an id cut for a narrow
    /// column keeps what comes after (`…svc-000124`).
    pub fn id_shared(&self, i: usize) -> usize {
        self.id_shared.get(i).map_or(0, |&n| n as usize)
    }

    /// Whether case `i` has a decision waiting in the outbox.
    pub fn is_queued(&self, i: usize) -> bool {
        !self.queued.is_empty() && self.queued.contains(&self.snapshot.cases[i].id)
    }

    fn memberships(&self) -> Vec<u8> {
        self.statuses
            .iter()
            .map(|s| {
                views_of(s, self.now)
                    .iter()
                    .enumerate()
                    .fold(0u8, |bits, (v, &on)| bits | (u8::from(on) << v))
            })
            .collect()
    }

    /// Per queue view, the widest content of each column among the cases
    /// the view lists (an escalation target's width does not widen the
    /// Quarantined view's STATE column).
    fn measure(&self) -> [ColumnWidths; 4] {
        let w = |s: &str| sanitize(s).width().min(MAX_CONTENT_WIDTH) as u16;
        let mut out = [ColumnWidths::default(); 4];
        for (c, status) in self.snapshot.cases.iter().zip(&self.statuses) {
            let case = ColumnWidths {
                id: w(&c.id),
                identity: w(&c.identity.name),
                owner: c.owner_team().map_or(UNKNOWN_OWNER.len() as u16, w),
                kind_provider: (w(&c.identity.kind) + 1 + w(&c.identity.provider))
                    .min(MAX_CONTENT_WIDTH as u16),
                state: state_width(status, self.now),
                age: digits(days_since(c.opened_at, self.now)) + 1,
            };
            for (view, member) in out.iter_mut().zip(views_of(status, self.now)) {
                if member {
                    view.widen(&case);
                }
            }
        }
        out
    }

    /// Case `i` of the snapshot. Panics if `i` is out of range.
    pub fn case(&self, i: usize) -> &Case {
        &self.snapshot.cases[i]
    }

    /// The store's decision policy, as in the snapshot.
    pub fn policy(&self) -> &Policy {
        &self.snapshot.policy
    }

    /// Case `i` assessed at `now` under the store's policy. The last one is
    /// kept, so drawing the same case again costs a clone.
    pub fn assess(&self, i: usize) -> Assessment {
        let mut last = self.assessed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, a)) = last.as_ref()
            && *at == i
        {
            return a.clone();
        }
        let a = assess(
            &self.snapshot.cases[i],
            &self.statuses[i],
            &self.snapshot.policy,
            self.now,
        );
        *last = Some((i, a.clone()));
        a
    }

    /// Case `i`'s dependency tree (empty without a map), walked once and
    /// kept while the same case is asked for.
    pub fn tree(&self, i: usize) -> Arc<CaseTree> {
        let mut last = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, t)) = last.as_ref()
            && *at == i
        {
            return t.clone();
        }
        let t = Arc::new(DependencyGraph::of(&self.snapshot.cases[i]).map_or_else(
            CaseTree::default,
            |g| CaseTree {
                outline: g.outline(),
                dependents: g.transitive_dependents().len(),
                dangling: g.dangling,
            },
        ));
        *last = Some((i, t.clone()));
        t
    }

    /// Statuses or the time changed: assessments must be made again.
    fn forget_assessment(&mut self) {
        *self
            .assessed
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The index of the case with id `id` (exact match), by linear search;
    /// `None` when no case has it.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.snapshot.cases.iter().position(|c| c.id == id)
    }

    fn order(&mut self, sort: SortKey) -> Arc<Vec<u32>> {
        let slot = sort as usize;
        if let Some(o) = &self.orders[slot] {
            return o.clone();
        }
        let cases = &self.snapshot.cases;
        let mut idx: Vec<u32> = (0..cases.len() as u32).collect();
        match sort {
            SortKey::Risk => idx.sort_by(|&a, &b| {
                let (a, b) = (a as usize, b as usize);
                queue_order((&cases[a], self.tiers[a]), (&cases[b], self.tiers[b]))
            }),
            SortKey::Age => idx.sort_by(|&a, &b| {
                let (a, b) = (&cases[a as usize], &cases[b as usize]);
                a.opened_at.cmp(&b.opened_at).then_with(|| a.id.cmp(&b.id))
            }),
            SortKey::Id => idx.sort_by(|&a, &b| cases[a as usize].id.cmp(&cases[b as usize].id)),
            SortKey::Owner => idx.sort_by(|&a, &b| {
                let (a, b) = (&cases[a as usize], &cases[b as usize]);
                (a.owner_team().is_none(), a.owner_team(), &a.id).cmp(&(
                    b.owner_team().is_none(),
                    b.owner_team(),
                    &b.id,
                ))
            }),
        }
        let order = Arc::new(idx);
        self.orders[slot] = Some(order.clone());
        order
    }

    /// The rows of the four queue views: with an empty `filter` in `sort`
    /// order, else the matching cases best match first (nucleo's score, ties
    /// in `sort` order).
    /// Ends the window in which [`carried`](Self::carried) maps the
    /// previous snapshot's indices: call it after reading the old
    /// selections, as the new rows are built.
    pub fn rows(&mut self, sort: SortKey, filter: &str, matcher: &mut Matcher) -> [Vec<u32>; 4] {
        self.carried = None;
        let matched = self.matching(sort, filter, matcher);
        let mut out: [Vec<u32>; 4] = Default::default();
        for &i in matched.iter() {
            let member = self.member[i as usize];
            for (v, rows) in out.iter_mut().enumerate() {
                if member & (1 << v) != 0 {
                    rows.push(i);
                }
            }
        }
        out
    }

    /// Case indices matching `filter`, best match first (nucleo's score,
    /// as fzf ranks; see `filter::run`), equal scores in `sort` order; all
    /// cases in `sort` order when the filter is empty.
    fn matching(&mut self, sort: SortKey, filter: &str, matcher: &mut Matcher) -> Arc<Vec<u32>> {
        let order = self.order(sort);
        if filter.trim().is_empty() {
            return order;
        }
        // A longer pattern only narrows a fuzzy match: start from the last
        // matches when the filter grew.
        let candidates = match &self.last_match {
            Some((f, s, m)) if *s == sort && filter.starts_with(f.as_str()) => m.clone(),
            _ => order,
        };
        let (in_order, ranked) = filter::run(filter, &candidates, &self.haystacks, matcher);
        self.last_match = Some((filter.to_string(), sort, Arc::new(in_order)));
        Arc::new(ranked)
    }

    /// The next moment at which a quarantine expires (a timer with work).
    pub fn next_expiry(&self) -> Option<OffsetDateTime> {
        self.statuses
            .iter()
            .filter_map(|s| match s.state {
                CaseState::Quarantined { until } if until > self.now => Some(until),
                _ => None,
            })
            .min()
    }
}

fn tiers(
    cases: &[Case],
    statuses: &[CaseStatus],
    policy: &Policy,
    now: OffsetDateTime,
) -> Vec<Tier> {
    cases
        .iter()
        .zip(statuses)
        .map(|(c, s)| assess(c, s, policy, now).tier)
        .collect()
}

/// What the OWNER column says when no team is named.
pub const UNKNOWN_OWNER: &str = "(unknown)";

/// The widest the queue's STATE cell of `s` gets from `now` on (`quar 1d 6h`,
/// `⚠ EXPIRED`, `esc→team`, `pending`; a countdown is at most `quar 99d 23h`).
fn state_width(s: &CaseStatus, now: OffsetDateTime) -> u16 {
    let w = match &s.state {
        CaseState::Quarantined { until } if *until <= now => "⚠ EXPIRED".width(),
        CaseState::Quarantined { .. } => "quar 99d 23h".len(),
        CaseState::Escalated { to } => 4 + sanitize(to).width(),
        other => other.name().width(),
    };
    w.min(MAX_CONTENT_WIDTH) as u16
}

/// For each id, the number of leading characters of its sanitised form
/// shared with its neighbours in `by_id` (the indices of `ids` in id
/// order): the longest prefix it shares with any other id.
fn shared_prefixes(ids: &[&str], by_id: &[u32]) -> Vec<u32> {
    let mut out = vec![0u32; ids.len()];
    let sorted: Vec<std::borrow::Cow<'_, str>> =
        by_id.iter().map(|&i| sanitize(ids[i as usize])).collect();
    for k in 1..sorted.len() {
        let n = sorted[k - 1]
            .chars()
            .zip(sorted[k].chars())
            .take_while(|(a, b)| a == b)
            .count() as u32;
        let (prev, this) = (by_id[k - 1] as usize, by_id[k] as usize);
        out[prev] = out[prev].max(n);
        out[this] = out[this].max(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_are_with_the_nearest_ids() {
        let ids = [
            "prod-payments-svc-000124",
            "CASE-1",
            "prod-payments-svc-000123",
            "prod-identity-svc-000001",
        ];
        let mut by_id: Vec<u32> = (0..ids.len() as u32).collect();
        by_id.sort_by_key(|&i| ids[i as usize]);
        assert_eq!(
            shared_prefixes(&ids, &by_id),
            [23, 0, 23, "prod-".len() as u32]
        );
        assert_eq!(shared_prefixes(&["only"], &[0]), [0]);
    }
}
