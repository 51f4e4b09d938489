//! The queue model: every case with its status and tier, the views' row
//! lists, the filter and the sort. Built once per data change; a keystroke
//! only moves an index, and a filter keystroke re-matches precomputed text.

use std::sync::Arc;

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32String};
use time::OffsetDateTime;

use crate::model::{Case, CaseState, CaseStatus, StateFilter};
use crate::policy::{Assessment, Policy, Tier, assess, queue_order};
use crate::store::Snapshot;

/// The queue views, in tab order (keys 1–4; the evidence log is 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Pending,
    Quarantined,
    Escalated,
    Decided,
    Evidence,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Pending,
        View::Quarantined,
        View::Escalated,
        View::Decided,
        View::Evidence,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Pending => "Pending",
            View::Quarantined => "Quarantined",
            View::Escalated => "Escalated",
            View::Decided => "Decided",
            View::Evidence => "Evidence",
        }
    }

    /// For narrow terminals.
    pub fn short_title(self) -> &'static str {
        match self {
            View::Pending => "Pend",
            View::Quarantined => "Quar",
            View::Escalated => "Esc",
            View::Decided => "Done",
            View::Evidence => "Log",
        }
    }

    pub fn parse(s: &str) -> Option<View> {
        View::ALL
            .into_iter()
            .find(|v| v.title().eq_ignore_ascii_case(s))
    }

    pub fn index(self) -> usize {
        View::ALL.iter().position(|&v| v == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Tier, severity, privilege, oldest first (the policy's queue order).
    Risk,
    /// Oldest case first.
    Age,
    Id,
    Owner,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Risk => SortKey::Age,
            SortKey::Age => SortKey::Id,
            SortKey::Id => SortKey::Owner,
            SortKey::Owner => SortKey::Risk,
        }
    }

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

pub struct QueueModel {
    pub snapshot: Snapshot,
    pub statuses: Vec<CaseStatus>,
    pub tiers: Vec<Tier>,
    haystacks: Vec<Haystack>,
    /// Case indices in each sort order (computed on first use).
    orders: [Option<Arc<Vec<u32>>>; 4],
    /// The last filter's matches, in sort order: typing one more character
    /// only re-checks these.
    last_match: Option<(String, SortKey, Arc<Vec<u32>>)>,
    pub now: OffsetDateTime,
}

impl QueueModel {
    pub fn new(snapshot: Snapshot, now: OffsetDateTime) -> Self {
        let statuses: Vec<CaseStatus> = snapshot
            .cases
            .iter()
            .map(|c| snapshot.status(&c.id))
            .collect();
        let tiers = tiers(&snapshot.cases, &statuses, &snapshot.policy, now);
        let haystacks = snapshot.cases.iter().map(haystack).collect();
        QueueModel {
            snapshot,
            statuses,
            tiers,
            haystacks,
            orders: [None, None, None, None],
            last_match: None,
            now,
        }
    }

    /// New data from the store: only cases whose status changed are
    /// re-assessed.
    pub fn update(&mut self, snapshot: Snapshot) {
        if !Arc::ptr_eq(&self.snapshot.cases, &snapshot.cases) {
            *self = QueueModel::new(snapshot, self.now);
            return;
        }
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
        }
    }

    /// Time moved on: tiers that depend on ages and windows may change.
    pub fn set_now(&mut self, now: OffsetDateTime) {
        self.now = now;
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
    }

    pub fn case(&self, i: usize) -> &Case {
        &self.snapshot.cases[i]
    }

    pub fn policy(&self) -> &Policy {
        &self.snapshot.policy
    }

    pub fn assess(&self, i: usize) -> Assessment {
        assess(
            &self.snapshot.cases[i],
            &self.statuses[i],
            &self.snapshot.policy,
            self.now,
        )
    }

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

    /// The rows of the four queue views, in `sort` order, filtered by the
    /// fuzzy `filter` (empty: no filter).
    pub fn rows(&mut self, sort: SortKey, filter: &str, matcher: &mut Matcher) -> [Vec<u32>; 4] {
        let matched = self.matching(sort, filter, matcher);
        let mut out: [Vec<u32>; 4] = Default::default();
        for &i in matched.iter() {
            for (v, member) in views_of(&self.statuses[i as usize], self.now)
                .into_iter()
                .enumerate()
            {
                if member {
                    out[v].push(i);
                }
            }
        }
        out
    }

    /// Case indices matching `filter`, in `sort` order.
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
        let pattern = Pattern::parse(filter, CaseMatching::Smart, Normalization::Smart);
        let matched = Arc::new(match_all(
            filter,
            &pattern,
            &candidates,
            &self.haystacks,
            matcher,
        ));
        self.last_match = Some((filter.to_string(), sort, matched.clone()));
        matched
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

/// The candidates whose haystack matches, in order. Large lists are split
/// across threads (the matcher is per thread).
fn match_all(
    filter: &str,
    pattern: &Pattern,
    candidates: &[u32],
    haystacks: &[Haystack],
    matcher: &mut Matcher,
) -> Vec<u32> {
    let plain = plain_needle(filter);
    let keep = |m: &mut Matcher, part: &[u32]| -> Vec<u32> {
        part.iter()
            .copied()
            .filter(|&i| {
                let h = &haystacks[i as usize];
                match plain {
                    Some(needle) => is_subsequence(needle, &h.folded),
                    None => pattern.score(h.text.slice(..), m).is_some(),
                }
            })
            .collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if candidates.len() < 20_000 || threads < 2 {
        return keep(matcher, candidates);
    }
    let chunk = candidates.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .chunks(chunk)
            .map(|part| scope.spawn(move || keep(&mut new_matcher(), part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

pub fn new_matcher() -> Matcher {
    Matcher::new(Config::DEFAULT)
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

/// The text the filter matches: id, identity name, owner, provider, kind, tags.
/// A case's searchable text, as nucleo sees it and folded for the fast path.
struct Haystack {
    text: Utf32String,
    /// Normalised, lower-cased; non-ASCII characters as 0xFF.
    folded: Box<[u8]>,
}

/// The needle when it is plain lower-case ASCII without pattern syntax: then
/// nucleo's fuzzy match (smart case, normalised) is exactly "the needle is a
/// subsequence of the folded haystack", which needs no scoring.
fn plain_needle(filter: &str) -> Option<&[u8]> {
    let plain = !filter.is_empty()
        && filter.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'@')
        });
    plain.then_some(filter.as_bytes())
}

fn is_subsequence(needle: &[u8], haystack: &[u8]) -> bool {
    let mut rest = haystack;
    for &b in needle {
        match rest.iter().position(|&h| h == b) {
            Some(p) => rest = &rest[p + 1..],
            None => return false,
        }
    }
    true
}

fn haystack(c: &Case) -> Haystack {
    let mut s = String::with_capacity(96);
    for part in [
        c.id.as_str(),
        c.identity.name.as_str(),
        c.owner_team().unwrap_or(""),
        c.identity.provider.as_str(),
        c.identity.kind.as_str(),
    ] {
        s.push_str(part);
        s.push(' ');
    }
    for t in &c.tags {
        s.push_str(t);
        s.push(' ');
    }
    Haystack {
        folded: fold(&s),
        text: Utf32String::from(s),
    }
}

/// Normalised and lower-cased as nucleo compares; non-ASCII as 0xFF.
fn fold(s: &str) -> Box<[u8]> {
    s.chars()
        .map(|ch| {
            let ch = nucleo_matcher::chars::to_lower_case(nucleo_matcher::chars::normalize(ch));
            if ch.is_ascii() { ch as u8 } else { 0xFF }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path must agree with nucleo wherever it is taken.
    #[test]
    fn the_plain_fast_path_agrees_with_nucleo() {
        let texts = [
            "CASE-0001 svc-billing-export billing-platform aws api_key pci",
            "CASE-0017 Intégration ERP crm-platform salesforce oauth_app",
            "CASE-0012 決済バッチ用サービスアカウント 決済チーム azure workload_identity",
            "CASE-0035 équipe-paiements Ünïcödé gcp service_account",
        ];
        let mut m = new_matcher();
        for text in texts {
            let folded = fold(text);
            let utf32 = Utf32String::from(text);
            for needle in [
                "bill", "integ", "erp", "equipe", "unicode", "case-00", "azure", "xyz", "pl@",
                "aws", "s_a",
            ] {
                let nucleo = Pattern::parse(needle, CaseMatching::Smart, Normalization::Smart)
                    .score(utf32.slice(..), &mut m)
                    .is_some();
                let fast = is_subsequence(plain_needle(needle).unwrap(), &folded);
                assert_eq!(fast, nucleo, "{needle:?} in {text:?}");
            }
        }
    }
}
