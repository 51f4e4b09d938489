//! Where cases and decisions live. The [`Store`] trait is what the CLI and
//! console talk to; [`LocalStore`] keeps them in a directory, [`RemoteStore`]
//! behind the HTTP API (`serve`), with an [`outbox`] for decisions made while
//! the server is unreachable.

mod case_files;
mod local;
pub mod outbox;
mod remote;
pub mod replay;
mod snapshot;

use async_trait::async_trait;

pub use local::{LocalStore, StoreLayout};
pub use remote::{FlushReport, Progress, RemoteOptions, RemoteStore};
pub use snapshot::{EvidenceHealth, Snapshot};

use crate::evidence::{ChainBreak, EvidenceError, EvidenceRecord, VerifyReport};
use crate::model::{Case, CaseStatus, changed_fields};
use crate::model::{Decision, LastDecision, LoadError, Reviewer, rfc3339};
use crate::policy::{Policy, PolicyError, Refusal, Tier, assess};
use crate::text::sanitize;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no case with id {}", sanitize(.0))]
    NotFound(String),
    /// Someone else decided first.
    #[error("{}", conflict_message(case_id, *expected, *current, last.as_ref()))]
    Conflict {
        case_id: String,
        expected: u64,
        current: u64,
        last: Option<LastDecision>,
    },
    /// The case content changed since the reviewer saw it.
    #[error("{0}")]
    CaseChanged(Box<CaseChange>),
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
        key: String,
        seq: u64,
        other_reviewer: bool,
    },
    #[error(
        "evidence log {path} failed verification at seq {} (line {}): {}; decisions are refused until it is investigated",
        brk.seq, brk.line, brk.reason
    )]
    EvidenceBroken {
        path: std::path::PathBuf,
        brk: ChainBreak,
    },
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    Setup(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("store task failed: {0}")]
    Task(String),
    /// The server could not be reached: the decision is in the local outbox
    /// (durable) and will be sent, exactly once, when it is back.
    #[error(
        "server unreachable ({reason}): decision queued in the outbox ({waiting} waiting to sync)"
    )]
    Queued { waiting: usize, reason: String },
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
    pub case_id: String,
    /// The digest the reviewer's decision named.
    pub seen_sha256: String,
    /// The digest of the case now.
    pub current_sha256: String,
    /// The tier the seen content had, when this process still holds it.
    pub tier_before: Option<Tier>,
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
    Local,
    Connected,
    Retrying { attempt: u32, error: String },
    Offline { error: String },
}

/// The connection and the outbox, for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
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
    pub changes: tokio::sync::mpsc::UnboundedReceiver<()>,
    _keep_alive: Box<dyn Send>,
}

impl ChangeFeed {
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

/// The one interface the CLI and console use, local or remote alike.
#[async_trait]
pub trait Store: Send + Sync {
    /// Cases, their states, load problems and evidence health, up to date.
    async fn snapshot(&self) -> Result<Snapshot, StoreError>;

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

    /// Verifies the whole evidence chain.
    async fn verify(&self) -> Result<VerifyReport, StoreError>;

    /// Signals when the store may have changed (another process decided),
    /// so a console can refresh without polling.
    fn watch(&self) -> Result<ChangeFeed, StoreError>;

    /// How the store is connected, and what waits in an outbox (remote).
    fn link(&self) -> tokio::sync::watch::Receiver<LinkStatus>;

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
