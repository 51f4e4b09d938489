//! The local store: a directory of case files plus the evidence log.
//!
//! ```text
//! STORE/
//!   cases/*.jsonl|*.json   input, never modified
//!   evidence.jsonl         the hash-chained decision log
//!   policy.toml            optional; safe defaults otherwise
//! ```
//! Current state = the cases + a replay of the evidence log. A case's version
//! is the number of records for it. Several processes may share one store:
//! every decision re-reads the log's new records *and the case files* under
//! the exclusive lock, re-checks the version and the case content the
//! reviewer saw, and evaluates the policy on the case as it is on disk at
//! that moment, before appending.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::case_files::CaseFiles;
use super::replay::Replay;
use super::{ChangeFeed, EvidenceHealth, Snapshot, Store, StoreError};
use crate::evidence::{
    Cursor, EvidenceLog, EvidenceRecord, ReadOutcome, ReadinessSummary, VerifyReport,
};
use crate::model::{CaseState, Decision, Reviewer, same_reviewer};
use crate::policy::{Policy, PolicyRef, assess, check_decision, controls::controls_for};

/// The paths of a store directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLayout {
    /// The store directory.
    pub root: PathBuf,
}

impl StoreLayout {
    /// The layout of the store at `root` (nothing is checked or created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `ROOT/cases`: the case files (`*.jsonl`, `*.json`), input never modified.
    pub fn cases_dir(&self) -> PathBuf {
        self.root.join("cases")
    }
    /// `ROOT/evidence.jsonl`: the hash-chained decision log.
    pub fn evidence_path(&self) -> PathBuf {
        self.root.join("evidence.jsonl")
    }
    /// `ROOT/policy.toml`: the optional policy file.
    pub fn policy_path(&self) -> PathBuf {
        self.root.join("policy.toml")
    }

    /// Creates an empty store (cases dir and a policy file with the defaults
    /// written out). Refuses a directory that already holds a store.
    pub fn init(&self) -> Result<(), StoreError> {
        if self.cases_dir().exists() || self.evidence_path().exists() {
            return Err(StoreError::Setup(format!(
                "{} already holds a store",
                self.root.display()
            )));
        }
        let io = |context: String| move |source| StoreError::Io { context, source };
        std::fs::create_dir_all(self.cases_dir())
            .map_err(io(format!("creating {}", self.cases_dir().display())))?;
        if !self.policy_path().exists() {
            let text = format!(
                "# nhi-triage policy: every threshold of the readiness check.\n\
                 # Unknown keys are refused. See docs/policy.md.\n{}",
                Policy::default().to_toml()
            );
            // Whole or not at all, and never over a policy written meanwhile.
            match crate::fsutil::write_new(
                &self.policy_path(),
                text.as_bytes(),
                crate::fsutil::Access::Shared,
            ) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(io(format!("writing {}", self.policy_path().display()))(e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A store in a local directory. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct LocalStore {
    shared: Arc<Shared>,
}

struct Shared {
    layout: StoreLayout,
    policy: Policy,
    policy_ref: PolicyRef,
    log: EvidenceLog,
    inner: Mutex<Inner>,
    /// Set by the watcher when a case file may have changed.
    cases_dirty: Arc<AtomicBool>,
}

struct Inner {
    files: CaseFiles,
    replay: Replay,
    cursor: Cursor,
    health: EvidenceHealth,
}

impl LocalStore {
    /// Opens the store at `root` under its own `policy.toml` (safe defaults
    /// when there is none).
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Self::open_with_policy(root, None)
    }

    /// Opens the store at `root`; `policy` replaces its `policy.toml`. Only
    /// for what-if review (`list`, `show`) and tests: decisions are always
    /// made under the store's own policy, so the CLI refuses `--policy` there.
    pub fn open_with_policy(root: &Path, policy: Option<Policy>) -> Result<Self, StoreError> {
        let layout = StoreLayout::new(root);
        if !layout.cases_dir().is_dir() {
            return Err(StoreError::Setup(format!(
                "{} is not a store (no cases/ directory); create one with `nhi-triage init {}`",
                root.display(),
                root.display()
            )));
        }
        // Absolute, so the watcher's event paths (always absolute) match ours.
        let root = std::fs::canonicalize(root).map_err(|source| StoreError::Io {
            context: format!("resolving {}", root.display()),
            source,
        })?;
        let layout = StoreLayout::new(&root);
        let policy = match policy {
            Some(p) => p,
            None if layout.policy_path().exists() => Policy::from_file(&layout.policy_path())?,
            None => Policy::default(),
        };
        let inner = Inner {
            files: CaseFiles::load(&layout.cases_dir())?,
            replay: Replay::default(),
            cursor: Cursor::default(),
            health: EvidenceHealth::default(),
        };
        let store = LocalStore {
            shared: Arc::new(Shared {
                log: EvidenceLog::new(layout.evidence_path()),
                layout,
                policy_ref: policy.reference(),
                policy,
                inner: Mutex::new(inner),
                cases_dirty: Arc::new(AtomicBool::new(false)),
            }),
        };
        store.refresh()?;
        Ok(store)
    }

    /// The store's paths (its root is absolute: canonicalised at open).
    pub fn layout(&self) -> &StoreLayout {
        &self.shared.layout
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave `Inner` half-updated (records are
        // applied one at a time), so a poisoned lock is still usable.
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads records other processes appended since the last look, and the
    /// case files again when the watcher saw them change.
    fn refresh(&self) -> Result<(), StoreError> {
        let mut inner = self.inner();
        if self.shared.cases_dirty.swap(false, Ordering::AcqRel) && inner.files.sync()? {
            inner.recount_orphans();
        }
        let outcome = self.shared.log.read_since(&inner.cursor)?;
        inner.apply(outcome);
        Ok(())
    }

    /// Blocking form of [`Store::snapshot`]: reads records other processes appended, and the case
    /// files again when they changed. Errors: [`StoreError::Evidence`] when the log cannot be read,
    /// [`StoreError::Load`] when the case files cannot.
    pub fn snapshot_blocking(&self) -> Result<Snapshot, StoreError> {
        self.refresh()?;
        let inner = self.inner();
        Ok(Snapshot {
            cases: inner.files.cases.clone(),
            cases_generation: inner.files.generation,
            statuses: inner.replay.statuses.clone(),
            problems: inner.files.problems.clone(),
            evidence: inner.health.clone(),
            policy: self.shared.policy.clone(),
        })
    }

    /// Blocking form of [`Store::history`]: every record of the case, oldest first; `case_id` in
    /// any spelling (surrounding whitespace, NFC). [`StoreError::NotFound`] when neither the case
    /// files nor the log know the id.
    pub fn history_blocking(&self, case_id: &str) -> Result<Vec<EvidenceRecord>, StoreError> {
        let key = crate::model::case_id_key(case_id);
        let case_id = key.as_ref();
        self.refresh()?;
        let inner = self.inner();
        if !inner.files.index.contains_key(case_id) && !inner.replay.statuses.contains_key(case_id)
        {
            return Err(StoreError::NotFound(case_id.to_string()));
        }
        Ok(inner.replay.history(case_id))
    }

    /// The generation of the case files as last looked at (it changes when
    /// a reload found a difference).
    pub fn cases_generation(&self) -> u64 {
        self.inner().files.generation
    }

    /// The last `seq` this store has read from the log.
    pub fn last_seq(&self) -> u64 {
        self.inner().replay.last_seq()
    }

    /// Blocking form of [`Store::records_since`]: records with `seq` greater than `after_seq`,
    /// oldest first.
    pub fn records_since_blocking(
        &self,
        after_seq: u64,
    ) -> Result<Vec<EvidenceRecord>, StoreError> {
        self.refresh()?;
        let inner = self.inner();
        Ok(inner.replay.since(after_seq).to_vec())
    }

    /// Blocking form of [`Store::decide`]: under the log's exclusive lock, catches up with the log,
    /// re-reads the case from disk, checks the version, the case digest and the policy, then
    /// appends and fsyncs the record (docs/policy.md, *The case as it is now*). A retry with a
    /// recorded idempotency key returns the first record. Errors: `EvidenceBroken`, `NotFound`,
    /// `Conflict`, `CaseChanged`, `Refused`, `IdempotencyKeyReused`, or `Evidence` (I/O, torn
    /// tail).
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
        let mut inner = self.inner();
        let mut locked = shared.log.lock()?;
        // Catch up with what other processes wrote before checking anything.
        let outcome = locked.read_since(&inner.cursor)?;
        inner.apply(outcome);
        if let Some(brk) = &inner.health.broken {
            return Err(StoreError::EvidenceBroken {
                path: shared.log.path().to_path_buf(),
                brk: brk.clone(),
            });
        }
        // A retry of a decision already recorded: its record, nothing new.
        if let Some(key) = &decision.idempotency_key
            && let Some(first) = inner.replay.by_key(key)
        {
            return replay_of(first, &decision, &reviewer);
        }
        // The case as it is on disk now, not as it was when we loaded it.
        if inner.files.sync()? | inner.files.sync_case(&decision.case_id)? {
            inner.recount_orphans();
        }
        let &index = inner
            .files
            .index
            .get(&decision.case_id)
            .ok_or_else(|| StoreError::NotFound(decision.case_id.clone()))?;
        let case = &inner.files.cases[index];
        let status = inner
            .replay
            .statuses
            .get(&case.id)
            .cloned()
            .unwrap_or_default();
        if status.version != decision.expected_version {
            return Err(StoreError::Conflict {
                case_id: case.id.clone(),
                expected: decision.expected_version,
                current: status.version,
                last: status.last_decision.clone(),
            });
        }
        // Millisecond precision: enough to order decisions, and readable.
        let now = truncate_to_millis(OffsetDateTime::now_utc());
        let case_sha256 = case.content_sha256();
        if let Some(seen) = &decision.expected_case_sha256
            && *seen != case_sha256
        {
            let before = inner.files.previous(seen);
            return Err(StoreError::CaseChanged(Box::new(
                super::CaseChange::between(seen, before, case, &status, &shared.policy, now),
            )));
        }
        let assessment = assess(case, &status, &shared.policy, now);
        let transition = check_decision(
            case,
            &status,
            &assessment,
            &decision,
            &reviewer,
            &shared.policy,
            now,
        )?;
        let record = EvidenceRecord {
            seq: 0,
            id: Uuid::now_v7(),
            ts: now,
            case_id: case.id.clone(),
            case_sha256: Some(case_sha256),
            identity_id: case.identity.id.clone(),
            reviewer,
            action: decision.action,
            justification: decision.justification.trim().to_string(),
            quarantine_until: match transition.state_after {
                CaseState::Quarantined { until } => Some(until),
                _ => None,
            },
            escalate_to: match &transition.state_after {
                CaseState::Escalated { to } => Some(to.clone()),
                _ => None,
            },
            override_: transition.override_used,
            escalated_by: transition.escalated_by,
            quarantined_by: transition.quarantined_by,
            shared_os_account: transition.shared_os_account,
            request_sha256: decision
                .idempotency_key
                .as_ref()
                .map(|_| decision.request_sha256()),
            idempotency_key: decision.idempotency_key.clone(),
            readiness: ReadinessSummary {
                q1: assessment.q1.status,
                q2: assessment.q2.status,
                q3: assessment.q3.status,
                tier: assessment.tier,
                recommendation: assessment.recommendation,
                gaps: assessment.gaps(),
            },
            used_during_quarantine: assessment.used_during_quarantine,
            policy: shared.policy_ref.clone(),
            case_version: status.version,
            state_before: transition.state_before,
            state_after: transition.state_after,
            controls: controls_for(
                decision.action,
                case.action.as_ref().map(|a| a.kind),
                case.finding.as_ref(),
            ),
            prev_hash: String::new(),
            hash: String::new(),
        };
        let sealed = locked.append(record)?;
        // Read our own line back so the cursor stays exact.
        let outcome = locked.read_since(&inner.cursor)?;
        inner.apply(outcome);
        Ok(sealed)
    }

    /// Blocking form of [`Store::verify`]: checks the whole chain under a shared lock.
    pub fn verify_blocking(&self) -> Result<VerifyReport, StoreError> {
        Ok(self.shared.log.verify()?)
    }

    /// Moves a torn tail of the log to `evidence.jsonl.torn-<unix nanoseconds>` and truncates the
    /// log to its last complete record (`evidence repair`); whole records are never touched.
    pub fn repair_evidence(&self) -> Result<crate::evidence::RepairReport, StoreError> {
        let report = self.shared.log.repair()?;
        self.refresh()?;
        Ok(report)
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&LocalStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
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

impl Inner {
    /// Cases the evidence names but the case files no longer hold.
    fn recount_orphans(&mut self) {
        let files = &self.files;
        self.health.orphan_cases = self
            .replay
            .statuses
            .keys()
            .filter(|id| !files.index.contains_key(*id))
            .cloned()
            .collect();
        self.health.orphan_cases.sort();
    }

    fn apply(&mut self, outcome: ReadOutcome) {
        for record in outcome.records {
            if !self.files.index.contains_key(&record.case_id)
                && !self.health.orphan_cases.contains(&record.case_id)
            {
                self.health.orphan_cases.push(record.case_id.clone());
            }
            self.replay.apply(record);
        }
        self.health.records = self.replay.records.len() as u64;
        self.health.last_seq = outcome.cursor.last_seq;
        self.cursor = outcome.cursor;
        self.health.set_torn(outcome.torn);
        if outcome.broken.is_some() {
            self.health.broken = outcome.broken;
        }
    }
}

#[async_trait]
impl Store for LocalStore {
    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.blocking(|s| s.snapshot_blocking()).await
    }

    async fn history(&self, case_id: &str) -> Result<Vec<EvidenceRecord>, StoreError> {
        let id = case_id.to_string();
        self.blocking(move |s| s.history_blocking(&id)).await
    }

    async fn records_since(&self, after_seq: u64) -> Result<Vec<EvidenceRecord>, StoreError> {
        self.blocking(move |s| s.records_since_blocking(after_seq))
            .await
    }

    async fn decide(
        &self,
        decision: Decision,
        reviewer: Reviewer,
    ) -> Result<EvidenceRecord, StoreError> {
        self.blocking(move |s| s.decide_blocking(decision, reviewer))
            .await
    }

    async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.blocking(|s| s.verify_blocking()).await
    }

    fn watch(&self) -> Result<ChangeFeed, StoreError> {
        use notify::Watcher;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let evidence = self.shared.log.path().to_path_buf();
        let cases_dir = self.shared.layout.cases_dir();
        let dirty = Arc::clone(&self.shared.cases_dirty);
        let watched_cases = cases_dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let (evidence_changed, cases_changed) = match &event {
                    // An error (a missed event, an overflow) is a reason to
                    // look again at everything, not to stop.
                    Err(_) => (true, true),
                    Ok(e) if !is_modification(&e.kind) => (false, false),
                    Ok(e) => (
                        e.paths.contains(&evidence),
                        e.paths.iter().any(|p| p.parent() == Some(&watched_cases)),
                    ),
                };
                if cases_changed {
                    dirty.store(true, Ordering::Release);
                }
                if evidence_changed || cases_changed {
                    let _ = tx.send(());
                }
            })
            .map_err(|e| StoreError::Setup(format!("cannot watch the store for changes: {e}")))?;
        for dir in [&self.shared.layout.root, &cases_dir] {
            watcher
                .watch(dir, notify::RecursiveMode::NonRecursive)
                .map_err(|e| StoreError::Setup(format!("cannot watch {}: {e}", dir.display())))?;
        }
        // Anything that changed before the watch began is picked up now.
        self.shared.cases_dirty.store(true, Ordering::Release);
        Ok(ChangeFeed::new(rx, Box::new(watcher)))
    }

    fn link(&self) -> tokio::sync::watch::Receiver<super::LinkStatus> {
        tokio::sync::watch::channel(super::LinkStatus::local()).1
    }

    fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    fn describe(&self) -> String {
        format!("local store {}", self.shared.layout.root.display())
    }
}

/// Creation, writes, renames and deletions: the events that change what a
/// store holds. Opens, reads and closes after reading do not (our own reads
/// of the log must never wake us up again).
pub(super) fn is_modification(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Any | EventKind::Other => true,
    }
}

fn truncate_to_millis(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t)
}
