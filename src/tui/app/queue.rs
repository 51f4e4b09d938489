//! The queue model: every case with its status and tier, the views' row
//! lists, the filter and the sort. Built once per data change; a keystroke
//! only moves an index, and a filter keystroke re-matches precomputed text.
//! What the table's columns need from all cases (their widths, where each
//! id stops sharing a prefix with its neighbours) is measured here once per
//! snapshot, never per frame.

mod filter;
mod measure;
mod views;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use nucleo_matcher::Matcher;
use time::OffsetDateTime;

use filter::Haystack;
pub use filter::new_matcher;
pub use measure::{ColumnWidths, UNKNOWN_OWNER};
pub use views::{SortKey, View, views_of};

use measure::{digits, shared_prefixes, state_width, text_widths};

use crate::model::{
    Case, CaseRow, CaseState, CaseStatus, DanglingRef, DependencyGraph, OutlineRow,
};
use crate::policy::{
    Assessment, Policy, RowOrderKey, Tier, TierWindow, assess, days_since, tier_window,
};
use crate::store::Snapshot;
/// Every case of a snapshot with what the queue views need, measured once
/// per snapshot. The model lists [`CaseRow`]s: from the snapshot's cases,
/// or, from a store that gives the queue without the cases
/// ([`Snapshot::rows`]), as they come, with the details of the cases looked
/// at loaded on demand ([`QueueModel::wanted`], [`QueueModel::loaded`]).
pub struct QueueModel {
    /// The store's data this model was built from: cases, states, policy.
    pub snapshot: Snapshot,
    /// One row per case (index for index with `snapshot.cases` when the
    /// snapshot holds cases; in id order when it holds rows).
    rows: Arc<Vec<CaseRow>>,
    /// Per case, its status as an index into `distinct` (0: pending, no record).
    status_of: Vec<u32>,
    /// The statuses of the cases with records, and pending at index 0.
    distinct: Vec<CaseStatus>,
    /// Per case, its tier assessed at `now`.
    pub tiers: Vec<Tier>,
    /// Per case, the window in which its tier holds.
    windows: Vec<TierWindow>,
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
    /// Per case, the display widths of its id, identity, owner and
    /// kind/provider (capped), measured once.
    text_widths: Vec<[u8; 4]>,
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
    /// Cases loaded on demand (a snapshot of rows): the latest last.
    details: Vec<(u32, Arc<Case>)>,
    /// Some case's tier window ended and its case is not held here: the
    /// store must assess it again (a refresh).
    due: bool,
    /// The earliest end of a tier window after `now`.
    next_due: Option<OffsetDateTime>,
    /// The time tiers, ages and view membership are evaluated at; moved by
    /// [`set_now`](Self::set_now).
    pub now: OffsetDateTime,
}

impl std::fmt::Debug for QueueModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueModel")
            .field("cases", &self.rows.len())
            .field("head", &self.is_head())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// How many cases loaded on demand a model keeps.
const DETAILS_KEPT: usize = 32;

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
impl QueueModel {
    /// Builds the model of `snapshot` at `now`: rows (from the cases, or as
    /// the snapshot gives them), statuses, tiers with their windows (the
    /// cases are assessed; rows come assessed), filter texts, view
    /// memberships and column widths. O(cases) plus one sort by id. No
    /// decision is marked queued yet.
    pub fn new(snapshot: Snapshot, now: OffsetDateTime) -> Self {
        let (rows, windows) = match &snapshot.rows {
            Some(q) => (q.rows.clone(), q.windows.to_vec()),
            None => (
                Arc::new(snapshot.cases.iter().map(CaseRow::of).collect()),
                Vec::new(),
            ),
        };
        let mut model = QueueModel {
            snapshot,
            rows,
            status_of: Vec::new(),
            distinct: vec![CaseStatus::default()],
            tiers: Vec::new(),
            windows,
            queued: HashSet::new(),
            haystacks: Vec::new(),
            orders: [None, None, None, None],
            last_match: None,
            member: Vec::new(),
            text_widths: Vec::new(),
            widths: [ColumnWidths::default(); 4],
            id_shared: Vec::new(),
            carried: None,
            assessed: Mutex::new(None),
            tree: Mutex::new(None),
            details: Vec::new(),
            due: false,
            next_due: None,
            now,
        };
        let by_id = model.order(SortKey::Id);
        model.index_statuses();
        if model.snapshot.rows.is_none() {
            let cases = &model.snapshot.cases;
            model.windows = (0..cases.len())
                .map(|i| tier_window(&cases[i], model.status(i), &model.snapshot.policy, now))
                .collect();
        }
        model.tiers = model.windows.iter().map(|w| w.tier).collect();
        model.haystacks = model.rows.iter().map(Haystack::of).collect();
        model.text_widths = model.rows.iter().map(text_widths).collect();
        model.member = model.memberships();
        model.widths = model.measure();
        let ids: Vec<&str> = model.rows.iter().map(CaseRow::id).collect();
        model.id_shared = shared_prefixes(&ids, &by_id);
        model.note_due();
        model
    }

    /// New data from the store. When the cases themselves changed the
    /// model is rebuilt and [`carried`](Self::carried) maps old case
    /// indices to new ones; otherwise only statuses and tiers move (cases
    /// are assessed again when their status changed; rows come assessed).
    pub fn update(&mut self, snapshot: Snapshot) {
        if !self.same_cases(&snapshot) {
            self.adopt(QueueModel::new(snapshot, self.now));
            return;
        }
        self.carried = None;
        self.forget_assessment();
        let old_of = std::mem::take(&mut self.status_of);
        let old_distinct = std::mem::take(&mut self.distinct);
        self.snapshot = snapshot;
        self.index_statuses();
        let moved: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let (a, b) = (old_of[i] as usize, self.status_of[i] as usize);
                (a != 0 || b != 0) && old_distinct.get(a) != self.distinct.get(b)
            })
            .collect();
        let mut changed = !moved.is_empty();
        match &self.snapshot.rows {
            Some(q) => {
                self.windows = q.windows.to_vec();
                let tiers: Vec<Tier> = self.windows.iter().map(|w| w.tier).collect();
                changed |= tiers != self.tiers;
                self.tiers = tiers;
            }
            None => {
                for i in moved {
                    let case = &self.snapshot.cases[i];
                    let w = tier_window(case, self.status(i), &self.snapshot.policy, self.now);
                    self.windows[i] = w;
                    self.tiers[i] = w.tier;
                }
            }
        }
        if changed {
            self.orders[SortKey::Risk as usize] = None;
            self.last_match = None;
            self.member = self.memberships();
            self.widths = self.measure();
        }
        // Fresh rows come assessed at the store's `now`.
        self.due = false;
        self.note_due();
    }

    /// Takes `next` (a model of other cases, built from a newer snapshot,
    /// possibly on another thread) in place of this one: decisions marked
    /// queued stay, [`carried`](Self::carried) maps old case indices to
    /// new ones, and loaded details whose case is unchanged are kept.
    pub fn adopt(&mut self, mut next: QueueModel) {
        let carried: Vec<u32> = self
            .rows
            .iter()
            .map(|r| next.find(r.id()).map_or(u32::MAX, |i| i as u32))
            .collect();
        // A detail still describes its case when the content is the same.
        for (old, case) in std::mem::take(&mut self.details) {
            if let Some(&new) = carried.get(old as usize).filter(|&&n| n != u32::MAX)
                && next.rows[new as usize].may_have_sha(&case.content_sha256())
            {
                next.details.push((new, case));
            }
        }
        next.queued = std::mem::take(&mut self.queued);
        next.carried = Some(carried);
        *self = next;
    }

    /// Sorts the cases by `sort` now (it is otherwise done on first use):
    /// a model built on another thread comes ready to draw.
    pub fn warm(&mut self, sort: SortKey) {
        self.order(sort);
    }

    /// Where the case at index `old` of the previous snapshot is now: the
    /// same index unless the last [`update`](Self::update) brought other
    /// cases (then the index of the same case id); `None` when it is gone.
    /// Valid until the next [`rows`](Self::rows).
    pub fn carried(&self, old: u32) -> Option<u32> {
        match &self.carried {
            None => Some(old).filter(|&i| (i as usize) < self.rows.len()),
            Some(map) => map.get(old as usize).copied().filter(|&i| i != u32::MAX),
        }
    }

    /// Time moved on: cases whose tier window ended are assessed again
    /// (those whose case is not held here make the model
    /// [`due`](Self::take_due)); ages grow and expired quarantines move back
    /// to Pending.
    pub fn set_now(&mut self, now: OffsetDateTime) {
        self.now = now;
        self.forget_assessment();
        let ended: Vec<usize> = (0..self.rows.len())
            .filter(|&i| !self.windows[i].holds_at(now))
            .collect();
        let mut changed = false;
        for i in ended {
            let fresh = self
                .case(i)
                .map(|case| tier_window(case, self.status(i), &self.snapshot.policy, now));
            match fresh {
                Some(w) => {
                    changed |= w.tier != self.tiers[i];
                    self.tiers[i] = w.tier;
                    self.windows[i] = w;
                }
                None => self.due = true,
            }
        }
        if changed {
            self.orders[SortKey::Risk as usize] = None;
            self.last_match = None;
        }
        self.member = self.memberships();
        self.widths = self.measure();
        self.next_due = self.earliest_due();
    }

    /// Whether some case's tier window has ended without its case held
    /// here to assess it again: the store should be asked (a refresh).
    /// Reading it clears it.
    pub fn take_due(&mut self) -> bool {
        std::mem::take(&mut self.due)
    }

    /// The earliest moment a tier window ends after `now` (a timer with
    /// work: tiers may change then).
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        self.next_due
    }

    /// Whether `snapshot` holds the same cases, rows and tiers as the one
    /// this model was built from (an update would change no tier).
    pub fn same_data(&self, snapshot: &Snapshot) -> bool {
        self.same_cases(snapshot)
            && match (&self.snapshot.rows, &snapshot.rows) {
                (Some(a), Some(b)) => Arc::ptr_eq(&a.windows, &b.windows),
                _ => true,
            }
    }

    /// Whether `snapshot` holds the same cases (or rows) as the one this
    /// model was built from: the same `Arc`, not equal contents.
    fn same_cases(&self, snapshot: &Snapshot) -> bool {
        match (&self.snapshot.rows, &snapshot.rows) {
            (None, None) => Arc::ptr_eq(&self.snapshot.cases, &snapshot.cases),
            (Some(a), Some(b)) => Arc::ptr_eq(&a.rows, &b.rows),
            _ => false,
        }
    }

    /// The earliest end of a tier window after `now`.
    fn earliest_due(&self) -> Option<OffsetDateTime> {
        self.windows
            .iter()
            .filter_map(|w| w.due_at)
            .filter(|&d| d > self.now)
            .min()
    }

    fn note_due(&mut self) {
        let now = self.now;
        self.due |=
            (0..self.rows.len()).any(|i| !self.windows[i].holds_at(now) && self.case(i).is_none());
        self.next_due = self.earliest_due();
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
        !self.queued.is_empty() && self.queued.contains(self.rows[i].id())
    }

    /// Whether the model holds only the top of a larger queue (the first
    /// frame of a console on a large store, [`crate::store::Store::queue_head`]).
    pub fn is_head(&self) -> bool {
        self.snapshot.rows.as_ref().is_some_and(|r| r.head)
    }

    /// How many cases the model lists.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the model lists no case.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Case `i`'s row. Panics if `i` is out of range.
    pub fn row(&self, i: usize) -> &CaseRow {
        &self.rows[i]
    }

    /// Case `i`'s status (pending when it has no record).
    pub fn status(&self, i: usize) -> &CaseStatus {
        let at = self.status_of.get(i).copied().unwrap_or(0) as usize;
        self.distinct.get(at).unwrap_or(&self.distinct[0])
    }

    fn index_statuses(&mut self) {
        self.status_of = vec![0; self.rows.len()];
        self.distinct = vec![CaseStatus::default()];
        let found: Vec<(usize, CaseStatus)> = self
            .snapshot
            .statuses
            .iter()
            .filter_map(|(id, s)| self.find(id).map(|i| (i, s.clone())))
            .collect();
        for (i, status) in found {
            self.status_of[i] = self.distinct.len() as u32;
            self.distinct.push(status);
        }
    }

    fn memberships(&self) -> Vec<u8> {
        let bits = |s: &CaseStatus| {
            views_of(s, self.now)
                .iter()
                .enumerate()
                .fold(0u8, |bits, (v, &on)| bits | (u8::from(on) << v))
        };
        let per_status: Vec<u8> = self.distinct.iter().map(bits).collect();
        self.status_of
            .iter()
            .map(|&s| per_status[s as usize])
            .collect()
    }

    /// Per queue view, the widest content of each column among the cases
    /// the view lists (an escalation target's width does not widen the
    /// Quarantined view's STATE column).
    fn measure(&self) -> [ColumnWidths; 4] {
        let state: Vec<u16> = self
            .distinct
            .iter()
            .map(|s| state_width(s, self.now))
            .collect();
        let mut out = [ColumnWidths::default(); 4];
        for (i, row) in self.rows.iter().enumerate() {
            let [id, identity, owner, kind_provider] = self.text_widths[i].map(u16::from);
            let case = ColumnWidths {
                id,
                identity,
                owner,
                kind_provider,
                state: state[self.status_of[i] as usize],
                age: digits(days_since(row.opened_at, self.now)) + 1,
            };
            let member = self.member[i];
            for (v, view) in out.iter_mut().enumerate() {
                if member & (1 << v) != 0 {
                    view.widen(&case);
                }
            }
        }
        out
    }

    /// Case `i` with its details, when held: always when the snapshot holds
    /// the cases, else once loaded ([`loaded`](Self::loaded)).
    pub fn case(&self, i: usize) -> Option<&Case> {
        if self.snapshot.rows.is_none() {
            return self.snapshot.cases.get(i);
        }
        self.details
            .iter()
            .rev()
            .find(|(at, _)| *at as usize == i)
            .map(|(_, c)| &**c)
    }

    /// The id of case `i` when its details are not held and must be loaded
    /// from the store (the runtime asks [`crate::store::Store::lookup`]).
    pub fn wanted(&self, i: usize) -> Option<&str> {
        (i < self.rows.len() && self.case(i).is_none()).then(|| self.rows[i].id())
    }

    /// A case's details arrived from the store: held (the last
    /// [`DETAILS_KEPT`]) while the model lists it. Returns whether the model
    /// lists it.
    pub fn loaded(&mut self, case: Case) -> bool {
        let Some(i) = self.find(&case.id) else {
            return false;
        };
        self.details.retain(|(at, _)| *at as usize != i);
        if self.details.len() >= DETAILS_KEPT {
            self.details.remove(0);
        }
        self.details.push((i as u32, Arc::new(case)));
        self.forget_assessment();
        *self.tree.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        true
    }

    /// The store's decision policy, as in the snapshot.
    pub fn policy(&self) -> &Policy {
        &self.snapshot.policy
    }

    /// Case `i` assessed at `now` under the store's policy, when its
    /// details are held. The last one is kept, so drawing the same case
    /// again costs a clone.
    pub fn assess(&self, i: usize) -> Option<Assessment> {
        let mut last = self.assessed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, a)) = last.as_ref()
            && *at == i
        {
            return Some(a.clone());
        }
        let a = assess(
            self.case(i)?,
            self.status(i),
            &self.snapshot.policy,
            self.now,
        );
        *last = Some((i, a.clone()));
        Some(a)
    }

    /// Case `i`'s dependency tree (empty without a map), walked once and
    /// kept while the same case is asked for; `None` while its details are
    /// not held.
    pub fn tree(&self, i: usize) -> Option<Arc<CaseTree>> {
        let mut last = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, t)) = last.as_ref()
            && *at == i
        {
            return Some(t.clone());
        }
        let t = Arc::new(
            DependencyGraph::of(self.case(i)?).map_or_else(CaseTree::default, |g| CaseTree {
                outline: g.outline(),
                dependents: g.transitive_dependents().len(),
                dangling: g.dangling,
            }),
        );
        *last = Some((i, t.clone()));
        Some(t)
    }

    /// Statuses or the time changed: assessments must be made again.
    fn forget_assessment(&mut self) {
        *self
            .assessed
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The index of the case with id `id` (exact match), by binary search
    /// in id order; `None` when no case has it.
    pub fn find(&self, id: &str) -> Option<usize> {
        match &self.orders[SortKey::Id as usize] {
            Some(by_id) => by_id
                .binary_search_by(|&i| self.rows[i as usize].id().cmp(id))
                .ok()
                .map(|p| by_id[p] as usize),
            None => self.rows.iter().position(|r| r.id() == id),
        }
    }

    fn order(&mut self, sort: SortKey) -> Arc<Vec<u32>> {
        let slot = sort as usize;
        if let Some(o) = &self.orders[slot] {
            return o.clone();
        }
        let rows = &self.rows;
        let mut idx: Vec<u32> = (0..rows.len() as u32).collect();
        match sort {
            SortKey::Risk => {
                // The policy's order (`row_queue_order`), keys computed once.
                let keys: Vec<RowOrderKey> = (0..rows.len())
                    .map(|i| RowOrderKey::of(&rows[i], self.tiers[i]))
                    .collect();
                idx.sort_unstable_by(|&a, &b| {
                    let (a, b) = (a as usize, b as usize);
                    keys[a]
                        .cmp(&keys[b])
                        .then_with(|| rows[a].id().cmp(rows[b].id()))
                });
            }
            SortKey::Age => idx.sort_unstable_by(|&a, &b| {
                let (a, b) = (&rows[a as usize], &rows[b as usize]);
                a.opened_at
                    .cmp(&b.opened_at)
                    .then_with(|| a.id().cmp(b.id()))
            }),
            SortKey::Id => match &self.snapshot.rows {
                // Rows come in id order.
                Some(_) => {}
                None => {
                    idx.sort_unstable_by(|&a, &b| rows[a as usize].id().cmp(rows[b as usize].id()))
                }
            },
            SortKey::Owner => idx.sort_unstable_by(|&a, &b| {
                let (a, b) = (&rows[a as usize], &rows[b as usize]);
                (a.owner_team().is_none(), a.owner_team(), a.id()).cmp(&(
                    b.owner_team().is_none(),
                    b.owner_team(),
                    b.id(),
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
        let (in_order, ranked) =
            filter::run(filter, &candidates, &self.rows, &self.haystacks, matcher);
        self.last_match = Some((filter.to_string(), sort, Arc::new(in_order)));
        Arc::new(ranked)
    }

    /// The next moment at which a quarantine expires (a timer with work).
    pub fn next_expiry(&self) -> Option<OffsetDateTime> {
        self.distinct
            .iter()
            .filter_map(|s| match s.state {
                CaseState::Quarantined { until } if until > self.now => Some(until),
                _ => None,
            })
            .min()
    }
}
