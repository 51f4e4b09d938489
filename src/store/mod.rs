//! Where cases and decisions live. The [`Store`] trait is what the CLI and
//! console talk to; [`LocalStore`] keeps them in a directory, [`RemoteStore`]
//! behind the HTTP API (`serve`), with an [`outbox`] for decisions made while
//! the server is unreachable.

mod db;
mod deciding;
mod local;
pub mod outbox;
mod remote;
pub mod replay;
mod snapshot;

use async_trait::async_trait;

pub use local::{
    FindingOutcome, ImportCounts, LocalStore, Migration, OutcomeKind, QueueKeys, StoreLayout,
};
pub use outbox::{AlreadyQueued, OutboxSummary, QueuedEntry};
pub use remote::{FlushReport, Progress, RemoteOptions, RemoteStore};
pub use snapshot::{EvidenceHealth, QueueRows, Snapshot};

use crate::evidence::{ChainBreak, EvidenceError, EvidenceRecord, VerifyReport};
use crate::model::{Case, CaseStatus, changed_fields};
use crate::model::{Decision, LastDecision, LoadError, Reviewer, rfc3339};
use crate::policy::{Policy, PolicyError, Refusal, Tier, assess};
use crate::text::sanitize;

/// Why a store operation failed. Messages are sanitised (no untrusted
/// control characters) and say what to do next; [`StoreError::is_evidence_problem`]
/// picks the ones the CLI maps to exit 5.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No case with this id (the id as given).
    #[error("no case with id {}", sanitize(.0))]
    NotFound(String),
    /// Someone else decided first.
    #[error("{}", conflict_message(case_id, *expected, *current, last.as_ref()))]
    Conflict {
        /// The case decided on.
        case_id: String,
        /// The version the decision named (`expected_version`).
        expected: u64,
        /// The case's version now.
        current: u64,
        /// The decision that moved it on, when known.
        last: Option<LastDecision>,
    },
    /// The case content changed since the reviewer saw it.
    #[error("{0}")]
    CaseChanged(Box<CaseChange>),
    /// Policy or lifecycle refuse the action, with the reasons.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// An idempotency key already on record for another decision or reviewer.
    #[error(
        "idempotency key {} was already used {} (seq {seq}): nothing recorded; send a new key \
         for a new decision",
        sanitize(key),
        if *other_reviewer { "by another reviewer: a key belongs to whoever used it first" } else { "for a different decision" }
    )]
    IdempotencyKeyReused {
        /// The key (as sent).
        key: String,
        /// The record made with it first.
        seq: u64,
        /// That record is another reviewer's.
        other_reviewer: bool,
    },
    /// The evidence log fails verification: decisions are refused.
    #[error(
        "evidence log {path} failed verification at seq {} (line {}): {}; decisions are refused until it is investigated",
        brk.seq, brk.line, brk.reason
    )]
    EvidenceBroken {
        /// The log (for a server's, its URL and "(on the server)").
        path: std::path::PathBuf,
        /// Where and why the chain breaks.
        brk: ChainBreak,
    },
    /// Reading or appending the evidence log failed.
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    /// The case files cannot be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The policy file cannot be used.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A store that cannot be opened or used as configured (the message says
    /// what to change).
    #[error("{0}")]
    Setup(String),
    /// The store's database failed (SQLite): what was being done, and the
    /// driver's message. A busy database is waited for (30 s) before this.
    #[error("store database: {what}: {message}")]
    Database {
        /// What was being done, e.g. "appending the record".
        what: String,
        /// The driver's message.
        message: String,
    },
    /// A file operation failed: what was being done, and the OS error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A background task of the store panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
    /// The server could not be reached: the decision is in the local outbox
    /// (durable) and will be sent, exactly once, when it is back.
    #[error(
        "server unreachable ({reason}): decision queued in the outbox ({waiting} waiting to sync)"
    )]
    Queued {
        /// Decisions waiting in the outbox now, this one included.
        waiting: usize,
        /// Why the server could not take it.
        reason: String,
    },
    /// Another decision on the same case still waits in the outbox: this one
    /// was not queued (sent after it, it would fail as a conflict). Replace
    /// the waiting one explicitly with [`Store::decide_superseding`].
    #[error("{0}")]
    AlreadyQueued(Box<outbox::AlreadyQueued>),
    /// The server refused our credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The server answered something we cannot use.
    #[error("server error: {0}")]
    Remote(String),
}

/// What changed in a case between the content a reviewer saw and the
/// content on disk when they decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CaseChange {
    /// The case decided on.
    pub case_id: String,
    /// The digest the reviewer's decision named.
    pub seen_sha256: String,
    /// The digest of the case now.
    pub current_sha256: String,
    /// The tier the seen content had, when this process still holds it.
    pub tier_before: Option<Tier>,
    /// The tier the current content has.
    pub tier_after: Tier,
    /// Dotted paths of the fields that changed (empty when the seen content
    /// is no longer held).
    pub fields: Vec<String>,
}

impl CaseChange {
    /// What changed from the content a reviewer saw (`seen_sha256`, and the
    /// content itself when it is still held) to `current`, assessed with the
    /// same status, policy and time.
    pub fn between(
        seen_sha256: &str,
        seen: Option<&Case>,
        current: &Case,
        status: &CaseStatus,
        policy: &Policy,
        now: time::OffsetDateTime,
    ) -> Self {
        CaseChange {
            case_id: current.id.clone(),
            seen_sha256: seen_sha256.to_string(),
            current_sha256: current.content_sha256(),
            tier_before: seen.map(|s| assess(s, status, policy, now).tier),
            tier_after: assess(current, status, policy, now).tier,
            fields: seen.map(|s| changed_fields(s, current)).unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for CaseChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "conflict on {}: the case changed since you reviewed it",
            sanitize(&self.case_id)
        )?;
        match self.tier_before {
            Some(before) => write!(f, " (tier {} → {})", before.name(), self.tier_after.name())?,
            None => write!(f, " (tier now {})", self.tier_after.name())?,
        }
        if self.fields.is_empty() {
            write!(
                f,
                "; content {} → {}",
                short(&self.seen_sha256),
                short(&self.current_sha256)
            )?;
        } else {
            write!(f, "; changed: {}", sanitize(&self.fields.join(", ")))?;
        }
        f.write_str(". Review the case again before deciding.")
    }
}

fn short(sha: &str) -> String {
    sanitize(sha.get(..12).unwrap_or(sha)).into_owned()
}

fn conflict_message(
    case_id: &str,
    expected: u64,
    current: u64,
    last: Option<&LastDecision>,
) -> String {
    let mut msg = format!(
        "conflict on {}: you decided on version {expected}, but it is now at version {current}",
        sanitize(case_id)
    );
    if let Some(l) = last {
        msg.push_str(&format!(
            "; {} recorded {} at {}",
            sanitize(&l.reviewer),
            l.action,
            rfc3339(l.ts)
        ));
    }
    msg.push_str(". Review the case again before deciding.");
    msg
}

impl StoreError {
    /// True when the evidence log itself is the problem (exit code 5).
    pub fn is_evidence_problem(&self) -> bool {
        matches!(
            self,
            StoreError::EvidenceBroken { .. }
                | StoreError::Evidence(
                    EvidenceError::TornTail { .. }
                        | EvidenceError::BadTail { .. }
                        | EvidenceError::Broken { .. }
                        | EvidenceError::Shrunk { .. }
                )
        )
    }
}

/// How a store reaches its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// A local store: no connection to speak of.
    Local,
    /// The server answered the last request.
    Connected,
    /// The last request failed; trying again (attempt 1 to 3).
    Retrying {
        /// Failures in a row.
        attempt: u32,
        /// The last failure.
        error: String,
    },
    /// Three or more failures in a row; still trying, with backoff.
    Offline {
        /// The last failure.
        error: String,
    },
}

/// The connection and the outbox, for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    /// How the store reaches its data.
    pub link: Link,
    /// Decisions queued while offline, not yet acknowledged by the server.
    pub outbox_waiting: usize,
    /// Queued decisions the server refused (409/422): shown until dealt with.
    pub outbox_rejected: usize,
    /// Cases still arriving in the background (a console on a remote store
    /// opens with the first page): `None` once every page is in.
    pub loading: Option<Loading>,
}

impl LinkStatus {
    /// The status of a local store: no link, no outbox.
    pub fn local() -> Self {
        Self {
            link: Link::Local,
            outbox_waiting: 0,
            outbox_rejected: 0,
            loading: None,
        }
    }
}

/// Progress of the cases loading in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loading {
    /// Cases received so far (the snapshot may lag by a page or two: the
    /// case list grows in steps, see `RemoteStore`).
    pub loaded: usize,
    /// Cases the server holds (its `total`).
    pub total: usize,
    /// The last page failed: why, and how many times in a row. It is tried
    /// again with backoff until it arrives.
    pub failed: Option<(u32, String)>,
}

/// "Something may have changed": each message is a hint to refresh.
/// Dropping the feed stops the watching behind it.
pub struct ChangeFeed {
    /// One `()` per hint; closed when the watching stops.
    pub changes: tokio::sync::mpsc::UnboundedReceiver<()>,
    _keep_alive: Box<dyn Send>,
}

impl ChangeFeed {
    /// A feed of `changes`, keeping `keep_alive` (watchers, task guards)
    /// alive as long as the feed is.
    pub fn new(
        changes: tokio::sync::mpsc::UnboundedReceiver<()>,
        keep_alive: Box<dyn Send>,
    ) -> Self {
        Self {
            changes,
            _keep_alive: keep_alive,
        }
    }
}

/// One case as a store holds it now, and what a reader must be warned of,
/// without loading every case (`show`, `decide`).
#[derive(Debug, Clone)]
pub struct CaseLookup {
    /// The case, `None` when the store holds no case with that id.
    pub case: Option<Case>,
    /// Its status (pending with version 0 when it has no record).
    pub status: CaseStatus,
    /// What the loader reported about the case files, each naming file and line.
    pub problems: Vec<crate::model::LoadProblem>,
    /// The evidence chain's state.
    pub evidence: EvidenceHealth,
    /// The policy decisions are checked against.
    pub policy: Policy,
}

/// The one interface the CLI and console use, local or remote alike.
#[async_trait]
pub trait Store: Send + Sync {
    /// Cases, their states, load problems and evidence health, up to date.
    async fn snapshot(&self) -> Result<Snapshot, StoreError>;

    /// What a console lists, assessed at `now`: by default the whole
    /// [`Store::snapshot`]; a local store gives the queue's rows instead of
    /// the cases ([`Snapshot::rows`]), read from the database without
    /// parsing a case, and assesses again only the cases whose tier window
    /// ended before `now`, whose status changed or whose policy changed.
    async fn queue(&self, now: time::OffsetDateTime) -> Result<Snapshot, StoreError> {
        let _ = now;
        self.snapshot().await
    }

    /// The top `limit` rows of a large queue in queue order as last
    /// assessed, read through an index in milliseconds, for a console's
    /// first frame while [`Store::queue`] reads the rest; `None` when the
    /// store has no such shortcut or the queue is small enough to read
    /// whole at once.
    async fn queue_head(
        &self,
        now: time::OffsetDateTime,
        limit: usize,
    ) -> Result<Option<Snapshot>, StoreError> {
        let _ = (now, limit);
        Ok(None)
    }

    /// One case (any spelling of its id) with its status, load problems and
    /// evidence health. A local store reads just that case; by default the
    /// answer comes from a whole [`Store::snapshot`].
    async fn lookup(&self, case_id: &str) -> Result<CaseLookup, StoreError> {
        let snapshot = self.snapshot().await?;
        Ok(CaseLookup {
            case: snapshot.find(case_id).cloned(),
            status: snapshot.status(case_id),
            problems: snapshot.problems,
            evidence: snapshot.evidence,
            policy: snapshot.policy,
        })
    }

    /// Every record of one case, oldest first.
    async fn history(&self, case_id: &str) -> Result<Vec<EvidenceRecord>, StoreError>;

    /// Records with `seq` greater than `after_seq`, oldest first.
    async fn records_since(&self, after_seq: u64) -> Result<Vec<EvidenceRecord>, StoreError>;

    /// Checks the decision and, if it holds, records it durably. Returns the
    /// sealed record only once it is on disk (or acknowledged by a server).
    async fn decide(
        &self,
        decision: Decision,
        reviewer: Reviewer,
    ) -> Result<EvidenceRecord, StoreError>;

    /// As [`Store::decide`], but a decision still waiting in an outbox for
    /// the same case is replaced by this one, atomically (the waiting one is
    /// never sent afterwards; nothing is recorded twice), instead of the
    /// [`StoreError::AlreadyQueued`] refusal `decide` gives. Stores without
    /// an outbox (local) decide as [`Store::decide`].
    async fn decide_superseding(
        &self,
        decision: Decision,
        reviewer: Reviewer,
    ) -> Result<EvidenceRecord, StoreError> {
        self.decide(decision, reviewer).await
    }

    /// The decisions waiting in the outbox and those the server refused, by
    /// case, as this process last saw them: kept up to date by this
    /// process's own decisions and, while a [`Store::watch`] feed is open, by
    /// other processes' changes to the outbox (each heard on the feed).
    /// Cheap (no I/O); empty for stores without an outbox.
    fn outbox_summary(&self) -> OutboxSummary {
        OutboxSummary::default()
    }

    /// Verifies the whole evidence chain.
    async fn verify(&self) -> Result<VerifyReport, StoreError>;

    /// The chain as JSON lines (docs/format.md): one sealed record a line,
    /// each ending in `\n`. A local store gives the bytes as stored; by
    /// default the records are encoded again, which gives the same bytes for
    /// every record this version's format knows (`evidence verify --file`
    /// tells).
    async fn evidence_lines(&self) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        for record in self.records_since(0).await? {
            serde_json::to_writer(&mut out, &record).map_err(|e| {
                StoreError::Evidence(crate::evidence::EvidenceError::Encode(e.to_string()))
            })?;
            out.push(b'\n');
        }
        Ok(out)
    }

    /// Signals when the store may have changed (another process decided),
    /// so a console can refresh without polling.
    fn watch(&self) -> Result<ChangeFeed, StoreError>;

    /// How the store is connected, and what waits in an outbox (remote).
    fn link(&self) -> tokio::sync::watch::Receiver<LinkStatus>;

    /// The policy decisions are checked against (a remote store's: the
    /// server's, as fetched at load).
    fn policy(&self) -> &Policy;

    /// Where the data lives, for `info` and the status bar.
    fn describe(&self) -> String;

    /// The reviewer name the store records decisions under, when the store
    /// decides it (a server names the reviewer from the token). `None`: the
    /// name passed to [`Store::decide`] is the one recorded.
    fn reviewer_name(&self) -> Option<String> {
        None
    }
}
