//! The local store: a directory holding a SQLite database, the case files
//! that feed it and the policy (docs/store.md).
//!
//! ```text
//! STORE/
//!   store.db              cases, the versions they replaced, the evidence chain
//!   cases/*.jsonl|*.json  input, never modified: imported on open and on change
//!   policy.toml           optional; safe defaults otherwise
//! ```
//! Current state = the cases + a replay of the evidence chain. A case's
//! version is the number of records for it. Several processes may share one
//! store: every decision runs in one write transaction (SQLite's write lock,
//! across processes) that catches up with the chain, re-checks the version
//! and the case content the reviewer saw, and evaluates the policy on the
//! case as it is at that moment, before appending; before it, the case
//! folder (and the decided case's own file) is re-read, so a rewritten case
//! file is never decided on stale. An older file store (`evidence.jsonl`) is
//! migrated on first open, its chain verified before and after.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::db::postgres::PgDb;
use super::db::{Db, cases, chain};
use super::replay::Replay;
use super::{ChangeFeed, EvidenceHealth, Snapshot, Store, StoreError};
use crate::evidence::{Cursor, EvidenceRecord, ReadOutcome, VerifyReport};
use crate::model::{Case, Decision, LoadProblem, Reviewer, same_reviewer};
use crate::policy::{Policy, PolicyRef};

pub use super::db::cases::ImportCounts;
pub use super::db::chain::Migration;

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
    /// `ROOT/store.db`: the SQLite database (cases and the evidence chain).
    pub fn database_path(&self) -> PathBuf {
        self.root.join("store.db")
    }
    /// `ROOT/evidence.jsonl`: a file store's evidence log, from before the
    /// database; migrated into it on first open and kept as
    /// `evidence.jsonl.migrated`.
    pub fn evidence_path(&self) -> PathBuf {
        self.root.join("evidence.jsonl")
    }
    /// `ROOT/policy.toml`: the optional policy file.
    pub fn policy_path(&self) -> PathBuf {
        self.root.join("policy.toml")
    }

    /// Creates an empty store (cases dir, the database, and a policy file
    /// with the defaults written out). Refuses a directory that already
    /// holds a store.
    pub fn init(&self) -> Result<(), StoreError> {
        if self.cases_dir().exists()
            || self.evidence_path().exists()
            || self.database_path().exists()
        {
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
        Db::open_sqlite(&self.database_path(), true)?;
        Ok(())
    }

    /// Moves a torn tail of a not yet migrated `evidence.jsonl` to
    /// `evidence.jsonl.torn-<unix nanoseconds>` and truncates the log to its
    /// last complete record (`evidence repair`); whole records are never
    /// touched. `None` when there is no such log: the database has no torn
    /// writes (a transaction commits whole or not at all).
    pub fn repair_file_log(&self) -> Result<Option<crate::evidence::RepairReport>, StoreError> {
        let path = self.evidence_path();
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(crate::evidence::EvidenceLog::new(path).repair()?))
    }
}

/// A store in a local directory. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct LocalStore {
    shared: Arc<Shared>,
}

struct Shared {
    /// A directory store's paths; `None` for a PostgreSQL store.
    layout: Option<StoreLayout>,
    /// The case folder imported on open and when it changes, if any.
    cases_dir: Option<PathBuf>,
    /// The database, for messages (no password).
    describe: String,
    /// A PostgreSQL store's database, for its listener.
    postgres: Option<Arc<PgDb>>,
    policy: Policy,
    policy_ref: PolicyRef,
    migration: Option<Migration>,
    inner: Mutex<Inner>,
    /// Set by the watcher when a case file may have changed.
    cases_dirty: Arc<AtomicBool>,
}

struct Inner {
    db: Db,
    replay: Replay,
    cursor: Cursor,
    health: EvidenceHealth,
    /// The cases as last read from the database, loaded on first need.
    cases: Option<CasesCache>,
    /// The case generation in the database at the last look.
    generation: u64,
}

struct CasesCache {
    cases: Arc<Vec<Case>>,
    index: HashMap<String, usize>,
    generation: u64,
    problems: Vec<LoadProblem>,
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
    /// Creates `store.db` when missing, migrates a file store's
    /// `evidence.jsonl` into it ([`LocalStore::migration`]) and imports the
    /// case folder when it changed.
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
        let mut db = Db::open_sqlite(&layout.database_path(), true)?;
        let migration = chain::migrate_file_log(&mut db, &layout.evidence_path())?;
        Self::start(
            db,
            Some(layout.clone()),
            Some(layout.cases_dir()),
            policy,
            migration,
        )
    }

    /// Opens a PostgreSQL store (`--database URL`; docs/store.md): the
    /// schema is brought up to date, `cases_dir` (when given) is imported
    /// on open and when it changes, and the policy is the one stored in the
    /// database (`nhi-triage init --database URL` writes the defaults;
    /// safe defaults when there is none), or `policy` for what-if review.
    /// `ca_file`: PEM certificates trusted for TLS besides the system's.
    pub fn open_database(
        url: &str,
        cases_dir: Option<&Path>,
        policy: Option<Policy>,
        ca_file: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let mut db = Db::open_postgres(url, ca_file)?;
        let policy = match policy {
            Some(p) => p,
            None => match db.read(|sql| cases::meta(sql, POLICY_KEY))? {
                Some(text) => Policy::from_toml(&text, Path::new("(the database's policy)"))?,
                None => Policy::default(),
            },
        };
        let cases_dir = match cases_dir {
            Some(dir) => Some(std::fs::canonicalize(dir).map_err(|source| StoreError::Io {
                context: format!("resolving {}", dir.display()),
                source,
            })?),
            None => None,
        };
        Self::start(db, None, cases_dir, policy, None)
    }

    /// Writes `policy` as the database's policy (`init --database`). Only
    /// where no policy is stored yet: a policy in force is never replaced
    /// silently.
    pub fn init_database(
        url: &str,
        policy: &Policy,
        ca_file: Option<&Path>,
    ) -> Result<bool, StoreError> {
        let mut db = Db::open_postgres(url, ca_file)?;
        let text = policy.to_toml();
        db.write("storing the policy", |sql| {
            if cases::meta(sql, POLICY_KEY)?.is_some() {
                return Ok(false);
            }
            cases::set_meta(sql, POLICY_KEY, &text)?;
            Ok(true)
        })
    }

    fn start(
        mut db: Db,
        layout: Option<StoreLayout>,
        cases_dir: Option<PathBuf>,
        policy: Policy,
        migration: Option<Migration>,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = &cases_dir {
            cases::sync_dir(&mut db, dir, false)?;
        }
        let describe = db.describe();
        // Known from the start, so the first refresh does not take every
        // case as changed.
        let generation = db.read(|sql| cases::generation(sql))?;
        let postgres = match &db {
            Db::Postgres(pg) => Some(Arc::clone(pg)),
            Db::Sqlite { .. } => None,
        };
        let inner = Inner {
            db,
            replay: Replay::default(),
            cursor: Cursor::default(),
            health: EvidenceHealth::default(),
            cases: None,
            generation,
        };
        let store = LocalStore {
            shared: Arc::new(Shared {
                layout,
                cases_dir,
                describe,
                postgres,
                policy_ref: policy.reference(),
                policy,
                migration,
                inner: Mutex::new(inner),
                cases_dirty: Arc::new(AtomicBool::new(false)),
            }),
        };
        store.refresh()?;
        Ok(store)
    }

    /// A directory store's paths (its root is absolute: canonicalised at
    /// open); `None` for a PostgreSQL store.
    pub fn layout(&self) -> Option<&StoreLayout> {
        self.shared.layout.as_ref()
    }

    /// The database, for messages: the SQLite file, or the PostgreSQL URL
    /// without its password.
    pub fn database(&self) -> &str {
        &self.shared.describe
    }

    /// What opening this store migrated from a file store, if anything.
    pub fn migration(&self) -> Option<&Migration> {
        self.shared.migration.as_ref()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave `Inner` half-updated (records are
        // applied one at a time), so a poisoned lock is still usable.
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Imports the case folder again when the watcher saw it change, notes
    /// another process's imports, and reads records appended since the last
    /// look.
    fn refresh(&self) -> Result<(), StoreError> {
        let mut inner = self.inner();
        if self.shared.cases_dirty.swap(false, Ordering::AcqRel)
            && let Some(dir) = &self.shared.cases_dir
        {
            cases::sync_dir(&mut inner.db, dir, false)?;
        }
        let cursor = inner.cursor.clone();
        let (generation, outcome) = inner
            .db
            .read(|sql| Ok((cases::generation(sql)?, chain::read_since(sql, &cursor)?)))?;
        let cases_changed = generation != inner.generation;
        inner.generation = generation;
        inner.apply(outcome)?;
        // An import may have added or withdrawn a case that has records.
        if cases_changed {
            inner.recount_orphans()?;
        }
        Ok(())
    }

    /// Imports case files (upsert by case id, as the case folder is) and
    /// returns what changed; the loader's problems are in `report`.
    pub fn import(&self, report: &crate::model::LoadReport) -> Result<ImportCounts, StoreError> {
        let mut inner = self.inner();
        let counts = cases::import_report(&mut inner.db, report)?;
        inner.generation = inner.db.read(|sql| cases::generation(sql))?;
        Ok(counts)
    }

    /// Blocking form of [`Store::snapshot`]: reads records other processes appended, and the case
    /// files again when they changed. Errors: [`StoreError::Database`] when the database cannot
    /// be read, [`StoreError::Load`] when the case folder cannot.
    pub fn snapshot_blocking(&self) -> Result<Snapshot, StoreError> {
        self.refresh()?;
        let mut inner = self.inner();
        let cache = inner.cases()?;
        let (cases, problems) = (Arc::clone(&cache.cases), cache.problems.clone());
        Ok(Snapshot {
            cases,
            cases_generation: inner.generation,
            statuses: inner.replay.statuses.clone(),
            problems,
            evidence: inner.health.clone(),
            policy: self.shared.policy.clone(),
        })
    }

    /// The status of one case (`case_id` in any spelling; pending with
    /// version 0 when it has no record), after reading the records other
    /// processes appended: what `decide` needs, without reading the case.
    pub fn status_blocking(&self, case_id: &str) -> Result<crate::model::CaseStatus, StoreError> {
        let key = crate::model::case_id_key(case_id);
        self.refresh()?;
        Ok(self
            .inner()
            .replay
            .statuses
            .get(key.as_ref())
            .cloned()
            .unwrap_or_default())
    }

    /// Blocking form of [`Store::lookup`]: reads records other processes
    /// appended, then just the one case (never every case).
    pub fn lookup_blocking(&self, case_id: &str) -> Result<super::CaseLookup, StoreError> {
        let key = crate::model::case_id_key(case_id);
        self.refresh()?;
        let mut inner = self.inner();
        let (case, problems) = inner
            .db
            .read(|sql| Ok((cases::get(sql, key.as_ref())?, cases::problems(sql)?)))?;
        Ok(super::CaseLookup {
            case,
            status: inner
                .replay
                .statuses
                .get(key.as_ref())
                .cloned()
                .unwrap_or_default(),
            problems,
            evidence: inner.health.clone(),
            policy: self.shared.policy.clone(),
        })
    }

    /// Every case with its status, one at a time as read from the database
    /// (never all of them in memory: `list --json` on a million cases), in
    /// import order; after reading the records other processes appended.
    /// Returns how many stored cases could not be read (skipped).
    pub fn scan_blocking(
        &self,
        f: &mut (dyn FnMut(Case, &crate::model::CaseStatus) -> Result<(), StoreError> + Send),
    ) -> Result<usize, StoreError> {
        self.refresh()?;
        let mut guard = self.inner();
        let Inner { db, replay, .. } = &mut *guard;
        let pending = crate::model::CaseStatus::default();
        db.read(|sql| {
            cases::each(sql, &mut |case| {
                let status = replay.statuses.get(&case.id).unwrap_or(&pending);
                f(case, status)
            })
        })
    }

    /// One case and its status as this store last read them (no refresh:
    /// for a pass over many cases that must see one state of the chain).
    pub fn case_blocking(
        &self,
        case_id: &str,
    ) -> Result<Option<(Case, crate::model::CaseStatus)>, StoreError> {
        let mut guard = self.inner();
        let Inner { db, replay, .. } = &mut *guard;
        let case = db.read(|sql| cases::get(sql, case_id))?;
        Ok(case.map(|c| {
            let status = replay.statuses.get(&c.id).cloned().unwrap_or_default();
            (c, status)
        }))
    }

    /// The loader's problems and the evidence chain's health, as last read.
    pub fn health_blocking(&self) -> Result<(Vec<LoadProblem>, EvidenceHealth), StoreError> {
        let mut inner = self.inner();
        let problems = inner.db.read(|sql| cases::problems(sql))?;
        Ok((problems, inner.health.clone()))
    }

    /// Blocking form of [`Store::history`]: every record of the case, oldest first; `case_id` in
    /// any spelling (surrounding whitespace, NFC). [`StoreError::NotFound`] when neither the
    /// cases nor the chain know the id.
    pub fn history_blocking(&self, case_id: &str) -> Result<Vec<EvidenceRecord>, StoreError> {
        let key = crate::model::case_id_key(case_id);
        let case_id = key.as_ref();
        self.refresh()?;
        let mut inner = self.inner();
        if !inner.replay.statuses.contains_key(case_id) && !inner.holds(case_id)? {
            return Err(StoreError::NotFound(case_id.to_string()));
        }
        Ok(inner.replay.history(case_id))
    }

    /// The generation of the cases as last looked at (it changes when an
    /// import added or changed a case).
    pub fn cases_generation(&self) -> u64 {
        self.inner().generation
    }

    /// The last `seq` this store has read from the chain.
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

    /// Blocking form of [`Store::decide`]: re-reads the case folder (and the decided case's own
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
        // The case as its file says now, not as it was when we loaded it.
        if let Some(dir) = &shared.cases_dir {
            cases::sync_dir(&mut inner.db, dir, false)?;
            if inner
                .db
                .read(|sql| cases::source_differs(sql, &decision.case_id))?
            {
                cases::sync_dir(&mut inner.db, dir, true)?;
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
            let record = super::deciding::record_for(
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

    /// Blocking form of [`Store::verify`]: checks the whole chain, as
    /// `evidence verify` checks an exported file.
    pub fn verify_blocking(&self) -> Result<VerifyReport, StoreError> {
        self.inner().db.read(|sql| chain::verify(sql))
    }

    /// Writes the chain as JSON lines, each record's exact sealed bytes
    /// (docs/format.md): the file `evidence verify --file` checks.
    pub fn export_evidence(&self, out: impl std::io::Write + Send) -> Result<(), StoreError> {
        self.inner().db.read(|sql| chain::export(sql, out))
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

/// What a decision's transaction found: a record made earlier with the same
/// idempotency key, or the one it appended.
enum Recorded {
    Before(EvidenceRecord),
    Now(EvidenceRecord),
}

/// Where a PostgreSQL store keeps its policy (TOML, as `policy.toml`).
const POLICY_KEY: &str = "policy_toml";

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
    /// The cases, read again from the database when an import changed them.
    fn cases(&mut self) -> Result<&CasesCache, StoreError> {
        let stale = self
            .cases
            .as_ref()
            .is_none_or(|c| c.generation != self.generation);
        if stale {
            let (cases, problems) = self.db.read(|sql| {
                let (cases, unreadable) = cases::load_all(sql)?;
                let mut problems = cases::problems(sql)?;
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
    fn holds(&mut self, case_id: &str) -> Result<bool, StoreError> {
        if let Some(c) = &self.cases
            && c.generation == self.generation
        {
            return Ok(c.index.contains_key(case_id));
        }
        self.db.read(|sql| cases::exists(sql, case_id))
    }

    /// Cases the evidence names but the store does not hold.
    fn recount_orphans(&mut self) -> Result<(), StoreError> {
        // One query, whatever the number of decided cases; only records
        // this process has read count (the chain may have grown since).
        let mut orphans = self.db.read(|sql| cases::orphans(sql))?;
        orphans.retain(|id| self.replay.statuses.contains_key(id));
        orphans.sort();
        self.health.orphan_cases = orphans;
        Ok(())
    }

    fn apply(&mut self, outcome: ReadOutcome) -> Result<(), StoreError> {
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
fn apply(
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

#[async_trait]
impl Store for LocalStore {
    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.blocking(|s| s.snapshot_blocking()).await
    }

    async fn lookup(&self, case_id: &str) -> Result<super::CaseLookup, StoreError> {
        let id = case_id.to_string();
        self.blocking(move |s| s.lookup_blocking(&id)).await
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

    async fn evidence_lines(&self) -> Result<Vec<u8>, StoreError> {
        self.blocking(|s| {
            let mut out = Vec::new();
            s.export_evidence(&mut out)?;
            Ok(out)
        })
        .await
    }

    fn watch(&self) -> Result<ChangeFeed, StoreError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut keep: Vec<Box<dyn Send>> = Vec::new();
        // SQLite: a commit by any process writes the database's write-ahead
        // log (or, at a checkpoint, the database itself).
        let database_files: Vec<PathBuf> = match &self.shared.layout {
            Some(layout) => {
                let database = layout.database_path();
                let mut wal = database.clone().into_os_string();
                wal.push("-wal");
                vec![database, PathBuf::from(wal)]
            }
            None => Vec::new(),
        };
        let mut watched: Vec<PathBuf> = self.shared.layout.iter().map(|l| l.root.clone()).collect();
        watched.extend(self.shared.cases_dir.iter().cloned());
        if !watched.is_empty() {
            keep.push(Box::new(watch_files(
                &watched,
                database_files,
                self.shared.cases_dir.clone(),
                Arc::clone(&self.shared.cases_dirty),
                tx.clone(),
            )?));
        }
        // PostgreSQL: every write transaction notifies; one listener hears
        // all of them, from every process and server.
        if let Some(pg) = &self.shared.postgres {
            let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
                StoreError::Setup(format!("cannot listen for changes outside a runtime: {e}"))
            })?;
            let task = runtime.spawn(Arc::clone(pg).listen(tx.clone()));
            keep.push(Box::new(AbortOnDrop(task)));
        }
        // Anything that changed before the watch began is picked up now.
        self.shared.cases_dirty.store(true, Ordering::Release);
        Ok(ChangeFeed::new(rx, Box::new(keep)))
    }

    fn link(&self) -> tokio::sync::watch::Receiver<super::LinkStatus> {
        tokio::sync::watch::channel(super::LinkStatus::local()).1
    }

    fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    fn describe(&self) -> String {
        match &self.shared.layout {
            Some(layout) => format!("local store {}", layout.root.display()),
            None => format!("database {}", self.shared.describe),
        }
    }
}

/// Stops a background task when the feed holding it is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watches `dirs` for modifications: one to `database_files` or to a file
/// in `cases_dir` sends a hint (the latter also marks the folder dirty, to
/// be imported at the next refresh).
fn watch_files(
    dirs: &[PathBuf],
    database_files: Vec<PathBuf>,
    cases_dir: Option<PathBuf>,
    dirty: Arc<AtomicBool>,
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher, StoreError> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let (database_changed, cases_changed) = match &event {
            // An error (a missed event, an overflow) is a reason to look
            // again at everything, not to stop.
            Err(_) => (true, true),
            Ok(e) if !is_modification(&e.kind) => (false, false),
            Ok(e) => (
                e.paths.iter().any(|p| database_files.contains(p)),
                e.paths
                    .iter()
                    .any(|p| cases_dir.is_some() && p.parent() == cases_dir.as_deref()),
            ),
        };
        if cases_changed {
            dirty.store(true, Ordering::Release);
        }
        if database_changed || cases_changed {
            let _ = tx.send(());
        }
    })
    .map_err(|e| StoreError::Setup(format!("cannot watch the store for changes: {e}")))?;
    for dir in dirs {
        watcher
            .watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| StoreError::Setup(format!("cannot watch {}: {e}", dir.display())))?;
    }
    Ok(watcher)
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
