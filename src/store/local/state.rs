//! What a [`LocalStore`](super::LocalStore) holds in memory: the replayed
//! chain, the cursor into it, the chain's health and the cached cases.

use std::collections::HashMap;
use std::sync::Arc;

use crate::evidence::{Cursor, ReadOutcome};
use crate::model::{Case, LoadProblem};
use crate::store::db::{Db, cases};
use crate::store::replay::Replay;
use crate::store::{EvidenceHealth, StoreError};

pub(super) struct Inner {
    pub(super) db: Db,
    pub(super) replay: Replay,
    pub(super) cursor: Cursor,
    pub(super) health: EvidenceHealth,
    /// The cases as last read from the database, loaded on first need.
    pub(super) cases: Option<CasesCache>,
    /// The case generation in the database at the last look.
    pub(super) generation: u64,
    /// The queue's rows as last read ([`super::LocalStore::queue_blocking`]).
    pub(super) rows: Option<super::queue::RowCache>,
    /// The context files as last read.
    pub(super) context: Arc<super::LoadedContext>,
}

pub(super) struct CasesCache {
    pub(super) cases: Arc<Vec<Case>>,
    pub(super) index: HashMap<String, usize>,
    pub(super) generation: u64,
    pub(super) problems: Vec<LoadProblem>,
}

impl Inner {
    /// The cases, read again from the database when an import changed them.
    pub(super) fn cases(&mut self) -> Result<&CasesCache, StoreError> {
        let stale = self
            .cases
            .as_ref()
            .is_none_or(|c| c.generation != self.generation);
        if stale {
            let (cases, problems) = self.db.read(|sql| {
                let (cases, unreadable) = cases::load_all(sql)?;
                let mut problems = cases::problems(sql)?;
                problems.extend(self.context.problems.iter().cloned());
                problems.extend(unreadable);
                Ok((cases, problems))
            })?;
            let index = cases
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i))
                .collect();
            self.cases = Some(CasesCache {
                cases: Arc::new(cases),
                index,
                generation: self.generation,
                problems,
            });
            self.recount_orphans()?;
        }
        self.cases
            .as_ref()
            .ok_or_else(|| StoreError::Task("the case cache".into()))
    }

    /// Whether the store holds a case with this exact id.
    pub(super) fn holds(&mut self, case_id: &str) -> Result<bool, StoreError> {
        if let Some(c) = &self.cases
            && c.generation == self.generation
        {
            return Ok(c.index.contains_key(case_id));
        }
        self.db.read(|sql| cases::exists(sql, case_id))
    }

    /// Cases the evidence names but the store does not hold.
    pub(super) fn recount_orphans(&mut self) -> Result<(), StoreError> {
        // One query, whatever the number of decided cases; only records
        // this process has read count (the chain may have grown since).
        let mut orphans = self.db.read(|sql| cases::orphans(sql))?;
        orphans.retain(|id| self.replay.statuses.contains_key(id));
        orphans.sort();
        self.health.orphan_cases = orphans;
        Ok(())
    }

    pub(super) fn apply(&mut self, outcome: ReadOutcome) -> Result<(), StoreError> {
        // Only a case seen in the chain for the first time can be a new
        // orphan (at open, every decided case is seen for the first time).
        let mut first_seen: Vec<String> = outcome
            .records
            .iter()
            .filter(|r| !self.replay.statuses.contains_key(&r.case_id))
            .map(|r| r.case_id.clone())
            .collect();
        first_seen.sort();
        first_seen.dedup();
        apply(
            &mut self.replay,
            &mut self.cursor,
            &mut self.health,
            outcome,
        );
        // A few new cases (a running console or server): a look-up each.
        // Many (opening the store): one query over the whole chain.
        if first_seen.len() > 32 {
            return self.recount_orphans();
        }
        for id in first_seen {
            if !self.holds(&id)? && !self.health.orphan_cases.contains(&id) {
                self.health.orphan_cases.push(id);
                self.health.orphan_cases.sort();
            }
        }
        Ok(())
    }
}

/// Applies records read from the chain to the replayed state.
pub(super) fn apply(
    replay: &mut Replay,
    cursor: &mut Cursor,
    health: &mut EvidenceHealth,
    outcome: ReadOutcome,
) {
    for record in outcome.records {
        replay.apply(record);
    }
    health.records = replay.records.len() as u64;
    health.last_seq = outcome.cursor.last_seq;
    *cursor = outcome.cursor;
    health.set_torn(outcome.torn);
    if outcome.broken.is_some() {
        health.broken = outcome.broken;
    }
}
