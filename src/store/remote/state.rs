//! What a remote store holds: the cases, the replayed records, the server's
//! view of its log, and how received records are applied (checked to chain).

use super::*;

#[derive(Default)]
pub(super) struct State {
    pub(super) loaded: bool,
    pub(super) policy: Policy,
    pub(super) cases: Arc<Vec<Case>>,
    pub(super) index: HashMap<String, usize>,
    pub(super) replay: Replay,
    pub(super) orphans: Vec<String>,
    /// The records received do not chain: nothing after it is applied.
    pub(super) client_break: Option<ChainBreak>,
    /// The server's view of its log (torn tail, break).
    pub(super) server_health: EvidenceHealth,
    /// A record named a case we do not hold: fetch the cases again.
    pub(super) cases_stale: bool,
    /// Pages of cases are still arriving in the background: the case list
    /// is not the whole set yet (no case is an orphan, no count is stale).
    pub(super) streaming: bool,
    /// Bumped by every load: a background page fetch of an older load stops.
    pub(super) generation: u64,
    /// The name the server records for this client's token (`/v1/health`).
    pub(super) reviewer: Option<String>,
    /// Bumped whenever the case list held changes.
    pub(super) cases_generation: u64,
    /// The server's case-file generation last seen (`EvidencePage`): a
    /// different one means its case files changed, so fetch them again.
    pub(super) server_cases_generation: Option<u64>,
}

impl State {
    /// Applies records in `seq` order, skipping those already held (an
    /// overlapping fetch); stops at the first that does not chain.
    pub(super) fn apply(&mut self, records: Vec<EvidenceRecord>) -> usize {
        let mut applied = 0;
        for r in records {
            if self.client_break.is_some() {
                break;
            }
            let last = self.replay.last_seq();
            if r.seq <= last {
                continue;
            }
            let prev = self
                .replay
                .records
                .last()
                .map_or(GENESIS_HASH, |p| p.hash.as_str());
            if r.seq != last + 1 || r.prev_hash != prev {
                self.client_break = Some(ChainBreak {
                    seq: last + 1,
                    line: last + 1,
                    reason: if r.seq != last + 1 {
                        format!(
                            "the server sent seq {} after seq {last}: records are missing",
                            r.seq
                        )
                    } else {
                        format!(
                            "the server's record {} does not link to the record {last} it sent before \
                             (prev_hash differs): its log changed under this client",
                            r.seq
                        )
                    },
                });
                break;
            }
            if !self.index.contains_key(&r.case_id) {
                self.cases_stale = true;
                if !self.orphans.contains(&r.case_id) {
                    self.orphans.push(r.case_id.clone());
                }
            }
            self.replay.apply(r);
            applied += 1;
        }
        applied
    }

    /// Notes the server's case-file generation from an evidence page; true
    /// (and the cases marked stale) when it changed since the last one seen.
    pub(super) fn note_server_generation(&mut self, generation: u64) -> bool {
        let changed = self
            .server_cases_generation
            .replace(generation)
            .is_some_and(|g| g != generation);
        self.cases_stale |= changed;
        changed
    }

    pub(super) fn set_cases(&mut self, cases: Vec<Case>) {
        // Keep the same Arc when nothing changed: the console rebuilds its
        // whole queue model when the Arc differs.
        if cases != *self.cases {
            self.index = cases
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i))
                .collect();
            self.cases = Arc::new(cases);
            self.cases_generation += 1;
        }
        self.recount_orphans();
    }

    /// The case set is whole: which cases with records does it not hold?
    pub(super) fn recount_orphans(&mut self) {
        self.orphans = self
            .replay
            .statuses
            .keys()
            .filter(|id| !self.index.contains_key(*id))
            .cloned()
            .collect();
        self.orphans.sort();
        self.cases_stale = false;
    }

    /// Appends a page (or a few) of cases that arrived in the background:
    /// a new `Arc` (the console rebuilds its queue when the Arc changes),
    /// unless nobody else holds the current one.
    pub(super) fn extend_cases(&mut self, more: Vec<Case>) {
        if more.is_empty() {
            return;
        }
        let start = self.cases.len();
        for (k, c) in more.iter().enumerate() {
            self.index.insert(c.id.clone(), start + k);
        }
        match Arc::get_mut(&mut self.cases) {
            Some(cases) => cases.extend(more),
            None => {
                let mut cases = Vec::with_capacity(start + more.len());
                cases.extend(self.cases.iter().cloned());
                cases.extend(more);
                self.cases = Arc::new(cases);
            }
        }
    }

    pub(super) fn health(&self) -> EvidenceHealth {
        EvidenceHealth {
            records: self.replay.records.len() as u64,
            last_seq: self.replay.last_seq(),
            broken: self
                .client_break
                .clone()
                .or_else(|| self.server_health.broken.clone()),
            torn_tail: self.server_health.torn_tail,
            // Until every page is in, a case we do not hold yet is no orphan.
            orphan_cases: if self.streaming {
                Vec::new()
            } else {
                self.orphans.clone()
            },
        }
    }
}
