//! A consistent view of the store at one moment.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::evidence::{ChainBreak, TornTail};
use crate::model::{Case, CaseStatus, LoadProblem};
use crate::policy::Policy;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceHealth {
    pub records: u64,
    pub last_seq: u64,
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

    pub fn is_ok(&self) -> bool {
        self.broken.is_none() && self.torn_tail.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub cases: Arc<Vec<Case>>,
    /// Changes whenever the case files were reloaded with a difference.
    pub cases_generation: u64,
    /// Status of every case with at least one record; others are pending.
    pub statuses: HashMap<String, CaseStatus>,
    pub problems: Vec<LoadProblem>,
    pub evidence: EvidenceHealth,
    pub policy: Policy,
}

impl Snapshot {
    pub fn status(&self, case_id: &str) -> CaseStatus {
        self.statuses.get(case_id).cloned().unwrap_or_default()
    }

    pub fn find(&self, case_id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == case_id)
    }
}
