//! A store behind the nhi-triage HTTP API (docs/api.md): the client side of
//! a shared, remote queue (docs/remote.md).
//!
//! The cases are fetched once (cursor pages) and kept in one
//! `Arc<Vec<Case>>` that stays the same across snapshots unless the case set
//! changes. [`RemoteStore::load`] fetches every page before it returns (the
//! CLI needs the whole set); [`RemoteStore::load_streaming`] returns with the
//! first page and fetches the rest in the background, the case list growing
//! as they arrive and [`LinkStatus::loading`] saying how far it is (the
//! console); statuses come from replaying the server's evidence records with
//! the same [`Replay`] a local store uses, fetched incrementally
//! (`after_seq`). The client checks that the records it receives chain
//! (`seq` and `prev_hash`), so a server whose log changes under a client is
//! noticed.
//!
//! Decisions are POSTed with an idempotency key. When the server cannot be
//! reached (no connection, no answer in time, a 5xx) the decision goes to a
//! durable [`Outbox`] and is sent again, with the same key, when the server
//! answers: exactly once. GETs are retried with backoff; POSTs never are,
//! except through the outbox.
//!
//! The parts: `state` (what the client holds and how records apply),
//! `client` (one HTTP exchange, a POSTed decision), `load` (fetching cases
//! and records), `feed` (the live feed) and `sending` (the outbox: queueing,
//! superseding, sending, following other processes' changes).

mod client;
mod feed;
mod load;
mod sending;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use super::outbox::{EntryState, Outbox, OutboxCounts, OutboxEntry, OutboxSummary};
use super::replay::Replay;
use super::{ChangeFeed, EvidenceHealth, Link, LinkStatus, Loading, Snapshot, Store, StoreError};
use crate::api::{
    ApiError, CaseDetail, CasePage, DecisionRequest, EvidencePage, Health, IDEMPOTENCY_HEADER,
    MAX_PAGE, MAX_WAIT_SECONDS,
};
use crate::evidence::{ChainBreak, EvidenceRecord, GENESIS_HASH, VerifyReport};
use crate::model::{Case, Decision, Reviewer};
use crate::policy::{Policy, Refusal};
use crate::text::sanitize;

use client::Posted;
use feed::AbortOnDrop;
use state::State;

/// Timeouts and retries of a remote store.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// One request, from sending to the last byte of the answer. A long poll
    /// gets its wait on top.
    pub request_timeout: Duration,
    /// Pauses between the attempts of a GET (so attempts = len + 1).
    pub get_backoff: Vec<Duration>,
    /// Long-poll wait of the live feed, in seconds (at most 30).
    pub watch_wait_seconds: u64,
    /// Extra trusted root certificates (PEM), for a server with a private CA.
    pub ca_certificates_pem: Option<Vec<u8>>,
    /// Cases asked for per page (`limit`, 1 to [`MAX_PAGE`]).
    pub case_page: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            get_backoff: vec![Duration::from_millis(250), Duration::from_secs(1)],
            watch_wait_seconds: 25,
            ca_certificates_pem: None,
            case_page: MAX_PAGE,
        }
    }
}

/// A step of loading, for a progress line while a slow server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Fetching the server's policy.
    Policy,
    /// Evidence records fetched so far.
    Evidence {
        /// Records held.
        records: usize,
    },
    /// Cases fetched so far, of the server's total.
    Cases {
        /// Cases held.
        loaded: usize,
        /// Cases the server holds.
        total: usize,
    },
    /// Everything is in.
    Done {
        /// Cases held.
        cases: usize,
        /// Evidence records held.
        records: usize,
    },
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Policy => f.write_str("fetching the policy"),
            Progress::Evidence { records } => write!(f, "fetching evidence: {records} records"),
            Progress::Cases { loaded, total } => write!(f, "fetching cases: {loaded}/{total}"),
            Progress::Done { cases, records } => {
                write!(f, "loaded {cases} cases and {records} evidence records")
            }
        }
    }
}

/// What sending the outbox achieved.
#[derive(Debug, Default)]
pub struct FlushReport {
    /// Acknowledged by the server (removed from the outbox).
    pub sent: Vec<EvidenceRecord>,
    /// Refused by the server this time (kept as `rejected`), with why.
    pub rejected: Vec<OutboxEntry>,
    /// The server could not be reached: why (the rest still waits).
    pub unreachable: Option<String>,
    /// The outbox after.
    pub counts: OutboxCounts,
}

/// A store behind the HTTP API. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct RemoteStore {
    shared: Arc<Shared>,
}

struct Shared {
    base: Url,
    label: String,
    client: reqwest::Client,
    auth: HeaderValue,
    options: RemoteOptions,
    /// The policy of the first load (`Store::policy` hands out a reference).
    policy: OnceLock<Policy>,
    state: Mutex<State>,
    outbox: Outbox,
    /// The outbox as last read or written by this process, or by another
    /// one when the live feed noticed (`Store::outbox_summary`).
    outbox_summary: Mutex<OutboxSummary>,
    link: watch::Sender<LinkStatus>,
    /// One flush of the outbox at a time in this process.
    flushing: tokio::sync::Mutex<()>,
    /// One full load at a time.
    loading: tokio::sync::Mutex<()>,
    /// Wakes the live feed (a decision was queued).
    wake: tokio::sync::Notify,
    /// A background flusher is running.
    flusher: std::sync::atomic::AtomicBool,
    /// Loads (and reloads) return with the first page of cases and fetch
    /// the rest in the background ([`RemoteStore::load_streaming`]).
    streams: std::sync::atomic::AtomicBool,
}

impl RemoteStore {
    /// A store for the server at `base_url`, without touching the network
    /// yet: reads load on first use ([`RemoteStore::load`]), and a decision
    /// can be queued even when the server is down.
    pub fn open(
        base_url: &str,
        token: &str,
        outbox_path: impl Into<std::path::PathBuf>,
        options: RemoteOptions,
    ) -> Result<Self, StoreError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut base = Url::parse(base_url.trim()).map_err(|e| {
            StoreError::Setup(format!(
                "--api {}: not a URL ({e}); e.g. https://triage.example.com:8787",
                sanitize(base_url)
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(StoreError::Setup(format!(
                "--api {}: the URL must start with https:// (or http:// on a trusted network)",
                sanitize(base_url)
            )));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(StoreError::Setup(format!(
                "--api {}: the URL has no host",
                sanitize(base_url)
            )));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(StoreError::Setup(
                "--api: the URL must not carry a user name or password; the token goes in \
                 NHI_TRIAGE_TOKEN or the config file's token_file"
                    .into(),
            ));
        }
        base.set_query(None);
        base.set_fragment(None);
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::Setup(
                "the API token is empty or holds spaces or control characters".into(),
            ));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| StoreError::Setup("the API token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("nhi-triage/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &options.ca_certificates_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| StoreError::Setup(format!("cannot read the CA certificates: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| StoreError::Setup(format!("cannot set up the HTTP client: {e}")))?;
        let outbox = Outbox::new(outbox_path);
        let summary = outbox.summary()?;
        let counts = summary.counts();
        let (link, _) = watch::channel(LinkStatus {
            link: Link::Offline {
                error: "not connected yet".into(),
            },
            outbox_waiting: counts.waiting,
            outbox_rejected: counts.rejected,
            loading: None,
        });
        Ok(RemoteStore {
            shared: Arc::new(Shared {
                label: format!("api {base}"),
                base,
                client,
                auth,
                options,
                policy: OnceLock::new(),
                state: Mutex::new(State::default()),
                outbox,
                outbox_summary: Mutex::new(summary),
                link,
                flushing: tokio::sync::Mutex::new(()),
                loading: tokio::sync::Mutex::new(()),
                wake: tokio::sync::Notify::new(),
                flusher: std::sync::atomic::AtomicBool::new(false),
                streams: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Opens, sends what waits in the outbox, and loads the policy, the
    /// evidence and the cases.
    pub async fn connect(
        base_url: &str,
        token: &str,
        outbox_path: impl Into<std::path::PathBuf>,
    ) -> Result<Self, StoreError> {
        let store = Self::open(base_url, token, outbox_path, RemoteOptions::default())?;
        if let Ok(r) = store.flush_outbox().await
            && r.counts.waiting > 0
        {
            store.spawn_flusher();
        }
        store
            .load(&|p| tracing::info!("{}: {p}", store.describe()))
            .await?;
        Ok(store)
    }

    /// This store's outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.shared.outbox
    }

    /// The server's base URL (no query, no fragment).
    pub fn base_url(&self) -> &Url {
        &self.shared.base
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Records are applied one at a time: a panic cannot leave the state
        // half-updated, so a poisoned lock is still usable.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_link(&self, link: Link) {
        self.shared.link.send_if_modified(|s| {
            let changed = s.link != link;
            s.link = link;
            changed
        });
    }

    fn is_connected(&self) -> bool {
        matches!(self.shared.link.borrow().link, Link::Connected)
    }

    /// A record the server just acknowledged: when it is the next in the
    /// log, hold it now. Otherwise (others recorded in between) the next
    /// catch-up brings them all.
    fn hold(&self, record: &EvidenceRecord) {
        let mut state = self.state();
        if state.loaded && record.seq == state.replay.last_seq() + 1 {
            state.apply(vec![record.clone()]);
        }
    }
}

/// 1, 2, 4, 8, then 10 s between attempts, ±20 %.
fn backoff(failures: u32) -> Duration {
    let base = 1000u64 << failures.saturating_sub(1).min(5);
    let base = base.min(10_000);
    let jitter = rand::random_range(0.8..1.2);
    Duration::from_millis((base as f64 * jitter) as u64)
}

fn step(what: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Remote(m) => StoreError::Remote(format!("{what}: {m}")),
        StoreError::Unauthorized(m) => StoreError::Unauthorized(format!("{what}: {m}")),
        other => other,
    }
}

#[async_trait]
impl Store for RemoteStore {
    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.ensure_loaded().await?;
        let health: Health = self
            .get_json(self.endpoint(&["v1", "health"], &[]))
            .await
            .map_err(|f| f.into_store_error(None))?;
        let (ours, cases) = {
            let state = self.state();
            (state.replay.last_seq(), state.cases.len())
        };
        if health.evidence.last_seq < ours {
            // Not the log this client saw (restored, replaced): start over.
            tracing::warn!(
                "the server's log ends at seq {} below this client's {ours}: reloading",
                health.evidence.last_seq
            );
            self.reload().await?;
        } else if health.evidence.last_seq != ours {
            self.catch_up().await?;
        }
        let stale = {
            let mut state = self.state();
            state.server_health = health.evidence.clone();
            if health.reviewer.is_some() {
                state.reviewer = health.reviewer.clone();
            }
            // While pages still arrive the set is short on purpose.
            !state.streaming && (state.cases_stale || health.cases != cases)
        };
        if stale {
            let fetched = self.fetch_cases(&|p| tracing::debug!("{p}")).await?;
            self.state().set_cases(fetched);
        }
        let state = self.state();
        Ok(Snapshot {
            cases: state.cases.clone(),
            cases_generation: state.cases_generation,
            statuses: state.replay.statuses.clone(),
            problems: Vec::new(),
            evidence: state.health(),
            policy: state.policy.clone(),
            rows: None,
        })
    }

    async fn history(&self, case_id: &str) -> Result<Vec<EvidenceRecord>, StoreError> {
        let url = self.endpoint(&["v1", "cases", case_id], &[]);
        let detail: CaseDetail = self
            .get_json(url)
            .await
            .map_err(|f| f.into_store_error(Some(case_id)))?;
        Ok(detail.history)
    }

    async fn records_since(&self, after_seq: u64) -> Result<Vec<EvidenceRecord>, StoreError> {
        self.ensure_loaded().await?;
        self.catch_up().await?;
        Ok(self.state().replay.since(after_seq).to_vec())
    }

    async fn decide(
        &self,
        mut decision: Decision,
        reviewer: Reviewer,
    ) -> Result<EvidenceRecord, StoreError> {
        let key = idempotency_key(&mut decision);
        // Earlier queued decisions go first: a decision never overtakes one
        // made before it.
        let counts = self.blocking(|o| o.counts()).await?;
        if counts.waiting > 0 {
            let report = self.flush_outbox().await?;
            if let Some(reason) = report.unreachable {
                let reason = format!(
                    "{} earlier decision(s) still waiting: {reason}",
                    report.counts.waiting
                );
                return Err(self.enqueue(decision, &reviewer, key, reason).await);
            }
        }
        match self.post_decision(&decision, &key).await {
            Posted::Recorded(record) => {
                self.set_link(Link::Connected);
                self.hold(&record);
                Ok(*record)
            }
            Posted::Retry(reason) => Err(self.enqueue(decision, &reviewer, key, reason).await),
            Posted::Rejected(e) | Posted::Fatal(e) => Err(e),
        }
    }

    /// Replaces the decision waiting in the outbox for the same case (one
    /// atomic rewrite of the outbox: the old one is never sent afterwards),
    /// then sends the outbox in order, this decision in its turn. Returns its
    /// record; [`StoreError::Queued`] when the server cannot be reached (it
    /// waits in the old one's stead); the server's refusal otherwise (and
    /// then neither waits). With nothing waiting for the case, as
    /// [`Store::decide`].
    async fn decide_superseding(
        &self,
        decision: Decision,
        reviewer: Reviewer,
    ) -> Result<EvidenceRecord, StoreError> {
        self.supersede(decision, reviewer).await
    }

    async fn verify(&self) -> Result<VerifyReport, StoreError> {
        let url = self.endpoint(&["v1", "evidence", "verify"], &[]);
        self.get_json(url)
            .await
            .map_err(|f| f.into_store_error(None))
    }

    /// The live feed: new records on the server, and changes of the outbox
    /// file by any process (`nhi-triage outbox dismiss`, another console),
    /// which also update [`Store::outbox_summary`] and the link's counts.
    fn watch(&self) -> Result<ChangeFeed, StoreError> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| StoreError::Setup(format!("live updates need an async runtime: {e}")))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let outbox = self.follow_outbox(&handle, tx.clone());
        let task = handle.spawn(self.clone().watch_loop(tx));
        Ok(ChangeFeed::new(rx, Box::new((AbortOnDrop(task), outbox))))
    }

    fn outbox_summary(&self) -> OutboxSummary {
        self.shared
            .outbox_summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn link(&self) -> watch::Receiver<LinkStatus> {
        self.shared.link.subscribe()
    }

    fn policy(&self) -> &Policy {
        static DEFAULT: OnceLock<Policy> = OnceLock::new();
        self.shared
            .policy
            .get()
            .unwrap_or_else(|| DEFAULT.get_or_init(Policy::default))
    }

    fn describe(&self) -> String {
        self.shared.label.clone()
    }

    /// The token's name, as the server said at the last load or snapshot.
    fn reviewer_name(&self) -> Option<String> {
        self.state().reviewer.clone()
    }
}

/// The decision's idempotency key, given one (a UUIDv7) if it has none: the
/// key it is sent, queued and retried under, so the server records it once.
fn idempotency_key(decision: &mut Decision) -> String {
    decision
        .idempotency_key
        .get_or_insert_with(|| Uuid::now_v7().to_string())
        .clone()
}
