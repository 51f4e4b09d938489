//! Recording a decision: [`LocalStore::decide_blocking`] and the answer to a
//! retried idempotency key.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::LocalStore;
use super::state::{Inner, apply};
use crate::evidence::EvidenceRecord;
use crate::model::{Decision, Reviewer, same_reviewer};
use crate::store::StoreError;
use crate::store::db::{cases, chain};

impl LocalStore {
    /// Blocking form of [`Store::decide`](crate::store::Store::decide): re-reads the case folder (and the decided case's own
    /// file), then in one write transaction catches up with the chain, checks the version, the
    /// case digest and the policy on the case as stored now, and appends the record; returns once
    /// the transaction is committed (fsynced). A retry with a recorded idempotency key returns the
    /// first record. Errors: `EvidenceBroken`, `NotFound`, `Conflict`, `CaseChanged`, `Refused`,
    /// `IdempotencyKeyReused`, or `Database`.
    pub fn decide_blocking(
        &self,
        decision: Decision,
        reviewer: Reviewer,
    ) -> Result<EvidenceRecord, StoreError> {
        // Any spelling of the id finds the case (and is recorded as loaded).
        let decision = Decision {
            case_id: crate::model::case_id_key(&decision.case_id).into_owned(),
            ..decision
        };
        let shared = &self.shared;
        let mut guard = self.inner();
        let inner = &mut *guard;
        // The case as its file and the context files say now, not as they
        // were when we loaded them.
        shared.catch_up_context(inner, false)?;
        if let Some(dir) = &shared.cases_dir {
            let context = std::sync::Arc::clone(&inner.context);
            let at = shared.assessing(context.context.as_ref());
            cases::sync_dir(&mut inner.db, dir, false, &at)?;
            if inner
                .db
                .read(|sql| cases::source_differs(sql, &decision.case_id))?
            {
                cases::sync_dir(&mut inner.db, dir, true, &at)?;
            }
        }
        let Inner {
            db,
            replay,
            cursor,
            health,
            ..
        } = inner;
        let describe = db.describe();
        let outcome = db.write("recording the decision", |sql| {
            // Catch up with what other processes wrote before checking anything.
            let outcome = chain::read_since(sql, cursor)?;
            apply(replay, cursor, health, outcome);
            if let Some(brk) = &health.broken {
                return Err(StoreError::EvidenceBroken {
                    path: PathBuf::from(&describe),
                    brk: brk.clone(),
                });
            }
            // A retry of a decision already recorded: its record, nothing new.
            if let Some(key) = &decision.idempotency_key
                && let Some(first) = replay.by_key(key)
            {
                return replay_of(first, &decision, &reviewer).map(Recorded::Before);
            }
            let case = cases::get(sql, &decision.case_id)?
                .ok_or_else(|| StoreError::NotFound(decision.case_id.clone()))?;
            let status = replay.statuses.get(&case.id).cloned().unwrap_or_default();
            let seen_before = match &decision.expected_case_sha256 {
                Some(seen) if *seen != case.content_sha256() => cases::previous(sql, seen)?,
                _ => None,
            };
            let record = crate::store::deciding::record_for(
                &case,
                &status,
                &decision,
                reviewer,
                &shared.policy,
                &shared.policy_ref,
                |_| seen_before.clone(),
                truncate_to_millis(OffsetDateTime::now_utc()),
            )?;
            chain::append(sql, record).map(Recorded::Now)
        })?;
        let sealed = match outcome {
            Recorded::Before(first) => return Ok(first),
            Recorded::Now(sealed) => sealed,
        };
        // Read our own record back so the cursor stays exact.
        let outcome = db.read(|sql| chain::read_since(sql, cursor))?;
        apply(replay, cursor, health, outcome);
        Ok(sealed)
    }
}

/// What a decision's transaction found: a record made earlier with the same
/// idempotency key, or the one it appended.
enum Recorded {
    Before(EvidenceRecord),
    Now(EvidenceRecord),
}

/// The answer to a decision whose idempotency key is already on record: the
/// first record when the same reviewer sent the same request, else a refusal
/// (the key was reused for something else, or by someone else).
fn replay_of(
    first: &EvidenceRecord,
    decision: &Decision,
    reviewer: &Reviewer,
) -> Result<EvidenceRecord, StoreError> {
    let same_request = match &first.request_sha256 {
        Some(digest) => *digest == decision.request_sha256(),
        // Records from before request digests: case and action must match.
        None => first.case_id == decision.case_id && first.action == decision.action,
    };
    let same_person = same_reviewer(&first.reviewer.name, &reviewer.name);
    if same_request && same_person {
        return Ok(first.clone());
    }
    Err(StoreError::IdempotencyKeyReused {
        key: decision.idempotency_key.clone().unwrap_or_default(),
        seq: first.seq,
        other_reviewer: !same_person,
    })
}

fn truncate_to_millis(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t)
}
