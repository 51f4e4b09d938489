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
//!
//! Here: opening a store, its blocking methods and the [`Store`] impl;
//! [`layout`] the directory's paths and `init`, [`decide`] recording a
//! decision, [`state`] the replayed chain and cached cases, [`watch`] the
//! change feed.

mod decide;
mod layout;
mod queue;
pub use queue::QueueKeys;
mod state;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::db::postgres::PgDb;
use super::db::rows::Assessing;
use super::db::{Db, cases, chain, findings};
use super::replay::Replay;
use super::{ChangeFeed, EvidenceHealth, Snapshot, Store, StoreError};
use crate::context::Context;
use crate::evidence::{Cursor, EvidenceRecord, VerifyReport};
use crate::model::{Case, Decision, LoadProblem, Reviewer};
use crate::policy::{Policy, PolicyRef};

pub use super::db::cases::ImportCounts;
pub use super::db::chain::Migration;
pub use super::db::findings::{FindingOutcome, OutcomeKind};
pub use layout::StoreLayout;
use state::Inner;
pub(in crate::store) use watch::is_modification;

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
    /// The context files joined with the cases (`STORE/context` or
    /// `--context DIR`), if any.
    context_dir: Option<PathBuf>,
    /// The database, for messages (no password).
    describe: String,
    /// A PostgreSQL store's database, for its listener.
    postgres: Option<Arc<PgDb>>,
    policy: Policy,
    policy_ref: PolicyRef,
    /// The policy was given for what-if review (`--policy`): tiers
    /// assessed under it are not written back to the queue rows.
    what_if: bool,
    migration: Option<Migration>,
    inner: Mutex<Inner>,
    /// Set by the watcher when a case file may have changed.
    cases_dirty: Arc<AtomicBool>,
    /// Set by the watcher when a context file may have changed.
    context_dirty: Arc<AtomicBool>,
}

impl Shared {
    /// What queue rows written now are assessed with, and joined with.
    fn assessing<'a>(&'a self, context: Option<&'a Context>) -> Assessing<'a> {
        Assessing {
            policy: &self.policy,
            policy_sha: &self.policy_ref.sha256,
            now: time::OffsetDateTime::now_utc(),
            context,
        }
    }
}

impl Shared {
    /// The policy digest prefix stored with each queue row.
    fn policy_tag(&self) -> String {
        super::db::rows::policy_tag(&self.policy_ref.sha256).to_string()
    }

    /// Reads the context files again and joins them with the cases when
    /// they changed since last read (`force`: the watcher saw a change, so
    /// read them whatever their signature says).
    fn catch_up_context(&self, inner: &mut Inner, force: bool) -> Result<(), StoreError> {
        let dir = self.context_dir.as_deref();
        let signature = dir.map(crate::context::signature).unwrap_or_default();
        if !force && signature == inner.context.signature {
            return Ok(());
        }
        inner.context = Arc::new(LoadedContext::load(dir, signature));
        let context = Arc::clone(&inner.context);
        findings::sync_context(
            &mut inner.db,
            &context.signature,
            &self.assessing(context.context.as_ref()),
        )?;
        Ok(())
    }
}

/// The context files as last read, and what could not be read in them.
pub(super) struct LoadedContext {
    /// `None`: the store has no context folder.
    pub(super) context: Option<Context>,
    pub(super) problems: Vec<LoadProblem>,
    /// The files' signature when read.
    pub(super) signature: String,
}

impl LoadedContext {
    fn load(dir: Option<&Path>, signature: String) -> Self {
        let Some(dir) = dir else {
            return LoadedContext {
                context: None,
                problems: Vec::new(),
                signature,
            };
        };
        let (context, problems) = Context::load(dir);
        LoadedContext {
            signature,
            context: (!context.is_empty()).then_some(context),
            problems: problems
                .into_iter()
                .map(|p| LoadProblem {
                    file: p.file,
                    line: p.line,
                    message: p.message,
                })
                .collect(),
        }
    }
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
        Self::open_with(root, policy, None)
    }

    /// As [`LocalStore::open_with_policy`], with the context files read
    /// from `context_dir` instead of `STORE/context` (`--context DIR`).
    pub fn open_with(
        root: &Path,
        policy: Option<Policy>,
        context_dir: Option<&Path>,
    ) -> Result<Self, StoreError> {
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
        let what_if = policy.is_some();
        let policy = match policy {
            Some(p) => p,
            None if layout.policy_path().exists() => Policy::from_file(&layout.policy_path())?,
            None => Policy::default(),
        };
        let mut db = Db::open_sqlite(&layout.database_path(), true)?;
        let migration = chain::migrate_file_log(&mut db, &layout.evidence_path())?;
        let context_dir = match context_dir {
            Some(dir) => Some(absolute(dir)?),
            None => Some(layout.context_dir()),
        };
        Self::start(
            db,
            Some(layout.clone()),
            (Some(layout.cases_dir()), context_dir),
            (policy, what_if),
            migration,
        )
    }

    /// Opens a PostgreSQL store (`--database URL`; docs/store.md): the
    /// schema is brought up to date, `cases_dir` (when given) is imported
    /// on open and when it changes, and the policy is the one stored in the
    /// database (`nhi-triage init --database URL` writes the defaults;
    /// safe defaults when there is none), or `policy` for what-if review.
    /// `ca_file`: PEM certificates trusted for TLS besides the system's.
    /// `context_dir`: the context files joined with the cases (`--context`).
    pub fn open_database(
        url: &str,
        (cases_dir, context_dir): (Option<&Path>, Option<&Path>),
        policy: Option<Policy>,
        ca_file: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let mut db = Db::open_postgres(url, ca_file)?;
        let what_if = policy.is_some();
        let policy = match policy {
            Some(p) => p,
            None => match db.read(|sql| cases::meta(sql, POLICY_KEY))? {
                Some(text) => Policy::from_toml(&text, Path::new("(the database's policy)"))?,
                None => Policy::default(),
            },
        };
        let cases_dir = cases_dir.map(absolute).transpose()?;
        let context_dir = context_dir.map(absolute).transpose()?;
        Self::start(db, None, (cases_dir, context_dir), (policy, what_if), None)
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

    /// `policy`: the policy and whether it is a what-if one (given, not the
    /// store's own: nothing assessed under it is written back).
    fn start(
        mut db: Db,
        layout: Option<StoreLayout>,
        (cases_dir, context_dir): (Option<PathBuf>, Option<PathBuf>),
        (policy, what_if): (Policy, bool),
        migration: Option<Migration>,
    ) -> Result<Self, StoreError> {
        let signature = context_dir
            .as_deref()
            .map(crate::context::signature)
            .unwrap_or_default();
        let context = LoadedContext::load(context_dir.as_deref(), signature);
        {
            let sha = policy.reference().sha256;
            let at = Assessing {
                policy: &policy,
                policy_sha: &sha,
                now: time::OffsetDateTime::now_utc(),
                context: context.context.as_ref(),
            };
            // The context first: the folder's cases are then joined with
            // the context as it is now.
            findings::sync_context(&mut db, &context.signature, &at)?;
            if let Some(dir) = &cases_dir {
                cases::sync_dir(&mut db, dir, false, &at)?;
            }
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
            rows: None,
            generation,
            context: Arc::new(context),
        };
        let store = LocalStore {
            shared: Arc::new(Shared {
                layout,
                cases_dir,
                context_dir,
                describe,
                postgres,
                policy_ref: policy.reference(),
                policy,
                what_if,
                migration,
                inner: Mutex::new(inner),
                cases_dirty: Arc::new(AtomicBool::new(false)),
                context_dirty: Arc::new(AtomicBool::new(false)),
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
        let mut guard = self.inner();
        let inner = &mut *guard;
        if self.shared.context_dirty.swap(false, Ordering::AcqRel) {
            self.shared.catch_up_context(inner, true)?;
        }
        if self.shared.cases_dirty.swap(false, Ordering::AcqRel)
            && let Some(dir) = &self.shared.cases_dir
        {
            let context = Arc::clone(&inner.context);
            let at = self.shared.assessing(context.context.as_ref());
            cases::sync_dir(&mut inner.db, dir, false, &at)?;
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
        let mut guard = self.inner();
        let inner = &mut *guard;
        let context = Arc::clone(&inner.context);
        let at = self.shared.assessing(context.context.as_ref());
        let counts = cases::import_report(&mut inner.db, report, &at)?;
        inner.generation = inner.db.read(|sql| cases::generation(sql))?;
        Ok(counts)
    }

    /// The store's fingerprint key for importers (made on first use).
    pub fn fingerprint_key(&self) -> Result<[u8; 32], StoreError> {
        findings::fingerprint_key(&mut self.inner().db)
    }

    /// Imports grouped detector findings (`import --from`): each is
    /// reconciled with the latest case of its credential, in one
    /// transaction, and joined with the context (docs/import.md).
    pub fn import_findings(
        &self,
        grouped: &[crate::import::Grouped],
    ) -> Result<Vec<FindingOutcome>, StoreError> {
        self.refresh()?;
        let mut guard = self.inner();
        let inner = &mut *guard;
        let context = Arc::clone(&inner.context);
        let at = self.shared.assessing(context.context.as_ref());
        let outcomes = findings::import(&mut inner.db, grouped, &at)?;
        inner.generation = inner.db.read(|sql| cases::generation(sql))?;
        Ok(outcomes)
    }

    /// The context directory joined with the cases, if any.
    pub fn context_dir(&self) -> Option<&Path> {
        self.shared.context_dir.as_deref()
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
            rows: None,
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
        let mut problems = problems;
        problems.extend(inner.context.problems.iter().cloned());
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
        let mut problems = inner.db.read(|sql| cases::problems(sql))?;
        problems.extend(inner.context.problems.iter().cloned());
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

/// `dir` made absolute (the watcher's event paths are absolute).
fn absolute(dir: &Path) -> Result<PathBuf, StoreError> {
    std::fs::canonicalize(dir).map_err(|source| StoreError::Io {
        context: format!("resolving {}", dir.display()),
        source,
    })
}

/// Where a PostgreSQL store keeps its policy (TOML, as `policy.toml`).
const POLICY_KEY: &str = "policy_toml";

#[async_trait]
impl Store for LocalStore {
    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.blocking(|s| s.snapshot_blocking()).await
    }

    async fn queue(&self, now: time::OffsetDateTime) -> Result<Snapshot, StoreError> {
        self.blocking(move |s| s.queue_blocking(now)).await
    }

    async fn queue_head(
        &self,
        now: time::OffsetDateTime,
        limit: usize,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.blocking(move |s| s.queue_head_blocking(now, limit))
            .await
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
        watch::change_feed(&self.shared)
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
