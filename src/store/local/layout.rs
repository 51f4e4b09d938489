//! [`StoreLayout`]: the paths of a store directory, and creating one.

use std::path::PathBuf;

use crate::policy::Policy;
use crate::store::StoreError;
use crate::store::db::Db;

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
    /// `ROOT/context`: the context files (Backstage catalogs, CODEOWNERS,
    /// owners tables, Kubernetes manifests) joined with the cases
    /// (docs/import.md, *Context*); optional.
    pub fn context_dir(&self) -> PathBuf {
        self.root.join("context")
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
        std::fs::create_dir_all(self.context_dir())
            .map_err(io(format!("creating {}", self.context_dir().display())))?;
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
