//! Current state from the evidence log: every store (local or remote)
//! replays the same records the same way.

use std::collections::HashMap;

use crate::evidence::EvidenceRecord;
use crate::model::{CaseState, CaseStatus, LastDecision};

/// The current state of every case, rebuilt by applying evidence records in `seq` order (a case's
/// version is its number of records).
#[derive(Debug, Default, Clone)]
pub struct Replay {
    /// Status of every case with at least one record.
    pub statuses: HashMap<String, CaseStatus>,
    /// Every record applied, in `seq` order.
    pub records: Vec<EvidenceRecord>,
    /// Idempotency key → index into `records`.
    keys: HashMap<String, usize>,
}

impl Replay {
    /// `seq` of the last record applied; 0 when none.
    pub fn last_seq(&self) -> u64 {
        self.records.last().map_or(0, |r| r.seq)
    }

    /// Applies one record (records must come in `seq` order).
    pub fn apply(&mut self, r: EvidenceRecord) {
        let status = self.statuses.entry(r.case_id.clone()).or_default();
        status.version += 1;
        // A quarantine recorded while one still runs extends it; one after it
        // expired (the case was back in the queue) begins a new episode.
        let extends = matches!(status.state, CaseState::Quarantined { until } if r.ts < until);
        status.state = r.state_after.clone();
        match &r.state_after {
            CaseState::Escalated { .. } => {
                status.escalated_by = Some(r.reviewer.name.clone());
                status.escalated_by_os = r.reviewer.os_account.clone();
            }
            // An extension continues the episode: its start, who began it and
            // any use seen stay as they were.
            CaseState::Quarantined { .. } if extends => {
                status.used_during_quarantine |= r.used_during_quarantine;
            }
            CaseState::Quarantined { .. } => {
                status.quarantined_at = Some(r.ts);
                status.quarantined_by = Some(r.reviewer.name.clone());
                status.quarantined_by_os = r.reviewer.os_account.clone();
                status.used_during_quarantine = false;
            }
            _ => {}
        }
        if !matches!(r.state_after, CaseState::Quarantined { .. }) {
            status.used_during_quarantine = false;
        }
        status.last_decision = Some(LastDecision {
            action: r.action,
            reviewer: r.reviewer.name.clone(),
            ts: r.ts,
        });
        if let Some(key) = &r.idempotency_key {
            self.keys.insert(key.clone(), self.records.len());
        }
        self.records.push(r);
    }

    /// The record made with this idempotency key, if any.
    pub fn by_key(&self, key: &str) -> Option<&EvidenceRecord> {
        self.keys.get(key).map(|&i| &self.records[i])
    }

    /// Records with `seq` greater than `after_seq`.
    pub fn since(&self, after_seq: u64) -> &[EvidenceRecord] {
        let start = self.records.partition_point(|r| r.seq <= after_seq);
        &self.records[start..]
    }

    /// Every record of `case_id` (exact, as loaded), oldest first.
    pub fn history(&self, case_id: &str) -> Vec<EvidenceRecord> {
        self.records
            .iter()
            .filter(|r| r.case_id == case_id)
            .cloned()
            .collect()
    }
}
