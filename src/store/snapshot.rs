//! A consistent view of the store at one moment.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::evidence::{ChainBreak, TornTail};
use crate::model::{Case, CaseRow, CaseStatus, LoadProblem, case_id_key};
use crate::policy::{Policy, TierWindow};

/// The evidence log's state as a store last read it (`evidence` in `GET /v1/health`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceHealth {
    /// Complete records read and verified.
    pub records: u64,
    /// `seq` of the last of them; 0 when none.
    pub last_seq: u64,
    /// The first place the chain fails, when it does: decisions are then refused.
    pub broken: Option<ChainBreak>,
    /// `(offset, length)` of bytes after the last complete line.
    pub torn_tail: Option<(u64, u64)>,
    /// Records for case ids the case files no longer hold.
    pub orphan_cases: Vec<String>,
}

impl EvidenceHealth {
    pub(crate) fn set_torn(&mut self, torn: Option<TornTail>) {
        self.torn_tail = torn.map(|t| (t.offset, t.len));
    }

    /// `true` when the chain holds and there is no torn tail.
    pub fn is_ok(&self) -> bool {
        self.broken.is_none() && self.torn_tail.is_none()
    }
}

/// A consistent view of a store at one moment: the cases, their states, load problems, evidence
/// health and the policy in force.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The loaded cases (shared: cheap to clone).
    pub cases: Arc<Vec<Case>>,
    /// Changes whenever the case files were reloaded with a difference.
    pub cases_generation: u64,
    /// Status of every case with at least one record; others are pending.
    pub statuses: HashMap<String, CaseStatus>,
    /// What the loader reported, each naming file and line: files or cases
    /// it could not read (skipped), and cases loaded with problems.
    pub problems: Vec<LoadProblem>,
    /// The evidence log's state.
    pub evidence: EvidenceHealth,
    /// The policy decisions are checked against.
    pub policy: Policy,
    /// The queue without the cases, from a store that does not load every
    /// case ([`super::Store::queue`] on a local store): `cases` is then
    /// empty and a case's details come from [`super::Store::lookup`].
    pub rows: Option<QueueRows>,
}

/// Every case as the queue lists it, with its tier and the window in which
/// that tier holds, as the store assessed it (index for index).
#[derive(Debug, Clone)]
pub struct QueueRows {
    /// The rows, in case id order (shared: the same `Arc` while no case was
    /// added, changed or withdrawn).
    pub rows: Arc<Vec<CaseRow>>,
    /// Per row, its tier and window; each holds at the `now` the snapshot
    /// was asked for (for a [`head`](Self::head), as last assessed).
    pub windows: Arc<Vec<TierWindow>>,
    /// Only the top of a larger queue ([`super::Store::queue_head`]): the
    /// whole queue follows from [`super::Store::queue`].
    pub head: bool,
}

impl QueueRows {
    /// The index of the row of `case_id` (exact id), by binary search.
    pub fn find(&self, case_id: &str) -> Option<usize> {
        crate::model::position_in_id_order(&self.rows, case_id)
    }
}

impl Snapshot {
    /// The status of the case `case_id` (any spelling: compared by
    /// [`case_id_key`]); pending when it has no record.
    pub fn status(&self, case_id: &str) -> CaseStatus {
        self.statuses
            .get(case_id_key(case_id).as_ref())
            .cloned()
            .unwrap_or_default()
    }

    /// The case `case_id`, compared by [`case_id_key`] (surrounding
    /// whitespace ignored, Unicode NFC), as loaded case ids are stored.
    pub fn find(&self, case_id: &str) -> Option<&Case> {
        let key = case_id_key(case_id);
        self.cases.iter().find(|c| c.id == key.as_ref())
    }
}
