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

use super::outbox::{EntryState, Outbox, OutboxCounts, OutboxEntry};
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
    Policy,
    Evidence { records: usize },
    Cases { loaded: usize, total: usize },
    Done { cases: usize, records: usize },
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

#[derive(Default)]
struct State {
    loaded: bool,
    policy: Policy,
    cases: Arc<Vec<Case>>,
    index: HashMap<String, usize>,
    replay: Replay,
    orphans: Vec<String>,
    /// The records received do not chain: nothing after it is applied.
    client_break: Option<ChainBreak>,
    /// The server's view of its log (torn tail, break).
    server_health: EvidenceHealth,
    /// A record named a case we do not hold: fetch the cases again.
    cases_stale: bool,
    /// Pages of cases are still arriving in the background: the case list
    /// is not the whole set yet (no case is an orphan, no count is stale).
    streaming: bool,
    /// Bumped by every load: a background page fetch of an older load stops.
    generation: u64,
    /// The name the server records for this client's token (`/v1/health`).
    reviewer: Option<String>,
    /// Bumped whenever the case list held changes.
    cases_generation: u64,
    /// The server's case-file generation last seen (`EvidencePage`): a
    /// different one means its case files changed, so fetch them again.
    server_cases_generation: Option<u64>,
}

impl State {
    /// Applies records in `seq` order, skipping those already held (an
    /// overlapping fetch); stops at the first that does not chain.
    fn apply(&mut self, records: Vec<EvidenceRecord>) -> usize {
        let mut applied = 0;
        for r in records {
            if self.client_break.is_some() {
                break;
            }
            let last = self.replay.last_seq();
            if r.seq <= last {
                continue;
            }
            let prev = self
                .replay
                .records
                .last()
                .map_or(GENESIS_HASH, |p| p.hash.as_str());
            if r.seq != last + 1 || r.prev_hash != prev {
                self.client_break = Some(ChainBreak {
                    seq: last + 1,
                    line: last + 1,
                    reason: if r.seq != last + 1 {
                        format!(
                            "the server sent seq {} after seq {last}: records are missing",
                            r.seq
                        )
                    } else {
                        format!(
                            "the server's record {} does not link to the record {last} it sent before \
                             (prev_hash differs): its log changed under this client",
                            r.seq
                        )
                    },
                });
                break;
            }
            if !self.index.contains_key(&r.case_id) {
                self.cases_stale = true;
                if !self.orphans.contains(&r.case_id) {
                    self.orphans.push(r.case_id.clone());
                }
            }
            self.replay.apply(r);
            applied += 1;
        }
        applied
    }

    /// Notes the server's case-file generation from an evidence page; true
    /// (and the cases marked stale) when it changed since the last one seen.
    fn note_server_generation(&mut self, generation: u64) -> bool {
        let changed = self
            .server_cases_generation
            .replace(generation)
            .is_some_and(|g| g != generation);
        self.cases_stale |= changed;
        changed
    }

    fn set_cases(&mut self, cases: Vec<Case>) {
        // Keep the same Arc when nothing changed: the console rebuilds its
        // whole queue model when the Arc differs.
        if cases != *self.cases {
            self.index = cases
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i))
                .collect();
            self.cases = Arc::new(cases);
            self.cases_generation += 1;
        }
        self.recount_orphans();
    }

    /// The case set is whole: which cases with records does it not hold?
    fn recount_orphans(&mut self) {
        self.orphans = self
            .replay
            .statuses
            .keys()
            .filter(|id| !self.index.contains_key(*id))
            .cloned()
            .collect();
        self.orphans.sort();
        self.cases_stale = false;
    }

    /// Appends a page (or a few) of cases that arrived in the background:
    /// a new `Arc` (the console rebuilds its queue when the Arc changes),
    /// unless nobody else holds the current one.
    fn extend_cases(&mut self, more: Vec<Case>) {
        if more.is_empty() {
            return;
        }
        let start = self.cases.len();
        for (k, c) in more.iter().enumerate() {
            self.index.insert(c.id.clone(), start + k);
        }
        match Arc::get_mut(&mut self.cases) {
            Some(cases) => cases.extend(more),
            None => {
                let mut cases = Vec::with_capacity(start + more.len());
                cases.extend(self.cases.iter().cloned());
                cases.extend(more);
                self.cases = Arc::new(cases);
            }
        }
    }

    fn health(&self) -> EvidenceHealth {
        EvidenceHealth {
            records: self.replay.records.len() as u64,
            last_seq: self.replay.last_seq(),
            broken: self
                .client_break
                .clone()
                .or_else(|| self.server_health.broken.clone()),
            torn_tail: self.server_health.torn_tail,
            // Until every page is in, a case we do not hold yet is no orphan.
            orphan_cases: if self.streaming {
                Vec::new()
            } else {
                self.orphans.clone()
            },
        }
    }
}

/// How one exchange with the server went wrong.
enum Failure {
    /// No usable answer: no connection, no answer in time, the connection
    /// dropped, or a 5xx (`status`). Worth trying again later.
    Transient {
        message: String,
        status: Option<StatusCode>,
        api: Option<ApiError>,
    },
    /// The server answered with an error status (4xx, or 3xx).
    Status {
        status: StatusCode,
        api: Option<ApiError>,
        message: String,
    },
    /// A success status with a body we cannot read.
    Malformed(String),
    /// The server's certificate is not trusted: trying again will not help.
    Untrusted(String),
}

impl Failure {
    fn message(&self) -> &str {
        match self {
            Failure::Transient { message, .. } | Failure::Status { message, .. } => message,
            Failure::Malformed(m) | Failure::Untrusted(m) => m,
        }
    }

    /// The store error for a read (GET): 401 unauthorized, 404 not found (of
    /// `what`, when given), everything else a remote error naming the URL.
    fn into_store_error(self, not_found: Option<&str>) -> StoreError {
        match self {
            Failure::Status {
                status: StatusCode::UNAUTHORIZED,
                message,
                ..
            } => StoreError::Unauthorized(message),
            Failure::Status {
                status: StatusCode::NOT_FOUND,
                ..
            } if not_found.is_some() => {
                StoreError::NotFound(not_found.unwrap_or_default().to_string())
            }
            other => StoreError::Remote(other.message().to_string()),
        }
    }
}

/// What became of one POSTed decision.
enum Posted {
    Recorded(Box<EvidenceRecord>),
    /// Not recorded, maybe: send again later with the same key.
    Retry(String),
    /// The server refused this decision (conflict, policy, unknown case,
    /// bad request): sending it again will not help.
    Rejected(StoreError),
    /// Stop everything: bad token, or the server's evidence log is broken.
    Fatal(StoreError),
}

/// Aborts the watching task when the change feed is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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
        let counts = outbox.counts()?;
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

    pub fn outbox(&self) -> &Outbox {
        &self.shared.outbox
    }

    pub fn base_url(&self) -> &Url {
        &self.shared.base
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Records are applied one at a time: a panic cannot leave the state
        // half-updated, so a poisoned lock is still usable.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ----- HTTP -----------------------------------------------------------

    fn endpoint(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.shared.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// One exchange: the status and the whole body, or a transport failure.
    async fn exchange(
        &self,
        method: Method,
        url: &Url,
        body: Option<(Vec<u8>, &str)>,
        timeout: Duration,
    ) -> Result<(StatusCode, Vec<u8>), Failure> {
        let what = format!("{method} {url}");
        let mut request = self
            .shared
            .client
            .request(method, url.clone())
            .header(AUTHORIZATION, self.shared.auth.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout);
        if let Some((bytes, key)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(IDEMPOTENCY_HEADER, key)
                .body(bytes);
        }
        let transport = |e: reqwest::Error| {
            let detail = describe_transport(&e, self.shared.options.connect_timeout, timeout);
            if detail.contains("certificate") {
                Failure::Untrusted(format!(
                    "{what}: {detail}; for a server whose certificate comes from a private CA, \
                     set ca_file in the config file"
                ))
            } else {
                Failure::Transient {
                    message: format!("{what}: {detail}"),
                    status: None,
                    api: None,
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        Ok((status, bytes.to_vec()))
    }

    /// Turns a non-success answer into a failure, reading an `ApiError` body
    /// when there is one.
    fn status_failure(what: &str, status: StatusCode, body: &[u8]) -> Failure {
        let api: Option<ApiError> = serde_json::from_slice(body).ok();
        let detail = match &api {
            Some(a) if !a.message.is_empty() => {
                format!(": {} ({})", sanitize(&a.message), sanitize(&a.error))
            }
            Some(a) => format!(": {}", sanitize(&a.error)),
            None if body.is_empty() => String::new(),
            None => format!(": {}", preview(body)),
        };
        let message = format!("{what}: HTTP {status}{detail}");
        if status.is_server_error() {
            Failure::Transient {
                message,
                status: Some(status),
                api,
            }
        } else {
            Failure::Status {
                status,
                api,
                message,
            }
        }
    }

    /// A GET of JSON, retried with backoff on transport failures and 5xx.
    async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, Failure> {
        let timeout = self.shared.options.request_timeout;
        let attempts = self.shared.options.get_backoff.len() + 1;
        let mut attempt = 0;
        loop {
            let result = self.get_once(&url, timeout).await;
            match result {
                Err(Failure::Transient {
                    message,
                    status,
                    api,
                }) => {
                    if attempt + 1 >= attempts {
                        return Err(Failure::Transient {
                            message: if attempts > 1 {
                                format!("{message} (after {attempts} attempts)")
                            } else {
                                message
                            },
                            status,
                            api,
                        });
                    }
                    tracing::debug!("retrying: {message}");
                    tokio::time::sleep(self.shared.options.get_backoff[attempt]).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn get_once<T: DeserializeOwned>(
        &self,
        url: &Url,
        timeout: Duration,
    ) -> Result<T, Failure> {
        let what = format!("GET {url}");
        let (status, body) = self.exchange(Method::GET, url, None, timeout).await?;
        if !status.is_success() {
            return Err(Self::status_failure(&what, status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| {
            Failure::Malformed(format!(
                "{what}: HTTP {status} but the answer is not what an nhi-triage server sends ({e}): {}",
                preview(&body)
            ))
        })
    }

    /// POSTs one decision with its key; never retried here.
    async fn post_decision(&self, decision: &Decision, key: &str) -> Posted {
        let url = self.endpoint(&["v1", "cases", &decision.case_id, "decisions"], &[]);
        let what = format!("POST {url}");
        let request = DecisionRequest {
            action: decision.action,
            justification: decision.justification.clone(),
            expected_version: decision.expected_version,
            quarantine_hours: decision.quarantine_hours,
            escalate_to: decision.escalate_to.clone(),
            override_: decision.override_,
            expected_case_sha256: decision.expected_case_sha256.clone(),
        };
        let body = match serde_json::to_vec(&request) {
            Ok(b) => b,
            Err(e) => {
                return Posted::Fatal(StoreError::Setup(format!(
                    "cannot encode the decision: {e}"
                )));
            }
        };
        let timeout = self.shared.options.request_timeout;
        let (status, bytes) = match self
            .exchange(Method::POST, &url, Some((body, key)), timeout)
            .await
        {
            Ok(answer) => answer,
            Err(f) => return Posted::Retry(f.message().to_string()),
        };
        if status.is_success() {
            return match serde_json::from_slice::<EvidenceRecord>(&bytes) {
                Ok(r) if r.case_id == decision.case_id && r.action == decision.action => {
                    Posted::Recorded(Box::new(r))
                }
                Ok(r) => Posted::Retry(format!(
                    "{what}: HTTP {status} with a record of {} {} instead of {} {}",
                    r.action,
                    sanitize(&r.case_id),
                    decision.action,
                    sanitize(&decision.case_id)
                )),
                Err(e) => Posted::Retry(format!(
                    "{what}: HTTP {status} but the answer is not an evidence record ({e}): {}",
                    preview(&bytes)
                )),
            };
        }
        match Self::status_failure(&what, status, &bytes) {
            Failure::Transient {
                api: Some(api),
                message,
                ..
            } if api.error == "evidence_broken" => {
                Posted::Fatal(self.evidence_broken(message).await)
            }
            Failure::Transient { message, .. } => Posted::Retry(message),
            Failure::Malformed(message) | Failure::Untrusted(message) => Posted::Retry(message),
            Failure::Status {
                status,
                api,
                message,
            } => match status {
                StatusCode::UNAUTHORIZED => Posted::Fatal(StoreError::Unauthorized(message)),
                StatusCode::CONFLICT => match api {
                    Some(ApiError {
                        change: Some(change),
                        ..
                    }) => Posted::Rejected(StoreError::CaseChanged(Box::new(change))),
                    Some(ApiError {
                        current: Some(current),
                        ..
                    }) => Posted::Rejected(StoreError::Conflict {
                        case_id: decision.case_id.clone(),
                        expected: decision.expected_version,
                        current: current.version,
                        last: current.last_decision,
                    }),
                    _ => Posted::Rejected(StoreError::Remote(message)),
                },
                StatusCode::UNPROCESSABLE_ENTITY
                    if api
                        .as_ref()
                        .is_some_and(|a| a.error == "idempotency_key_reused") =>
                {
                    Posted::Rejected(StoreError::Remote(message))
                }
                StatusCode::UNPROCESSABLE_ENTITY => {
                    let reasons = match api {
                        Some(a) if !a.reasons.is_empty() => a.reasons,
                        Some(a) => vec![a.message],
                        None => vec![message],
                    };
                    Posted::Rejected(StoreError::Refused(Refusal {
                        action: decision.action,
                        reasons: reasons.iter().map(|r| sanitize(r).into_owned()).collect(),
                    }))
                }
                StatusCode::NOT_FOUND => {
                    Posted::Rejected(StoreError::NotFound(decision.case_id.clone()))
                }
                _ => Posted::Rejected(StoreError::Remote(message)),
            },
        }
    }

    /// The server says its evidence log is broken: name the break (exit 5).
    async fn evidence_broken(&self, message: String) -> StoreError {
        let url = self.endpoint(&["v1", "health"], &[]);
        match self.get_json::<Health>(url).await {
            Ok(Health {
                evidence:
                    EvidenceHealth {
                        broken: Some(brk), ..
                    },
                ..
            }) => StoreError::EvidenceBroken {
                path: format!("{} (on the server)", self.shared.base).into(),
                brk,
            },
            _ => StoreError::Remote(format!(
                "{message}; the server refuses decisions until its evidence log is investigated"
            )),
        }
    }

    /// One case's status now, from `GET /v1/cases/{id}` (cheaper than a
    /// full load when only the version is needed).
    pub async fn case_status(&self, case_id: &str) -> Result<crate::model::CaseStatus, StoreError> {
        Ok(self.case_detail(case_id).await?.status)
    }

    /// One case as the server holds it now, with its status and history.
    pub async fn case_detail(&self, case_id: &str) -> Result<CaseDetail, StoreError> {
        let url = self.endpoint(&["v1", "cases", case_id], &[]);
        self.get_json(url)
            .await
            .map_err(|f| f.into_store_error(Some(case_id)))
    }

    // ----- loading ----------------------------------------------------------

    /// Loads everything from the server: the policy, every evidence record,
    /// every case. `progress` hears of each step (a slow server is never
    /// silent); an error names the step and the URL.
    pub async fn load(&self, progress: &(dyn Fn(&Progress) + Sync)) -> Result<(), StoreError> {
        self.load_with(progress, false).await
    }

    /// As [`RemoteStore::load`], but returns as soon as the policy, the
    /// evidence and the first page of cases are in; the other pages are
    /// fetched in the background, each failed one tried again with backoff
    /// until it arrives. Meanwhile [`Store::link`] carries the progress
    /// ([`LinkStatus::loading`], with the last failure) and each change of it
    /// means the case list may have grown: a snapshot then holds more. The
    /// list grows in steps (when it has grown by half, at least every
    /// second, and with the last page), so that a large queue is not copied
    /// for every page. Later reloads of this store stream too.
    ///
    /// Without a tokio runtime this is [`RemoteStore::load`].
    pub async fn load_streaming(
        &self,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(), StoreError> {
        let stream = tokio::runtime::Handle::try_current().is_ok();
        self.shared
            .streams
            .store(stream, std::sync::atomic::Ordering::Release);
        self.load_with(progress, stream).await
    }

    /// Loads again from scratch (the server's log is not the one this
    /// client saw), the way this store was loaded first.
    async fn reload(&self) -> Result<(), StoreError> {
        let stream = self
            .shared
            .streams
            .load(std::sync::atomic::Ordering::Acquire);
        self.load_with(&|p| tracing::info!("{p}"), stream).await
    }

    async fn load_with(
        &self,
        progress: &(dyn Fn(&Progress) + Sync),
        stream: bool,
    ) -> Result<(), StoreError> {
        let _loading = self.shared.loading.lock().await;
        progress(&Progress::Policy);
        let policy: Policy = self
            .get_json(self.endpoint(&["v1", "policy"], &[]))
            .await
            .map_err(|f| step("fetching the policy", f.into_store_error(None)))?;
        let _ = self.shared.policy.set(policy.clone());

        let mut fresh = State {
            policy,
            ..State::default()
        };
        self.fetch_records(&mut fresh, Some(progress))
            .await
            .map_err(|e| step("fetching the evidence", e))?;
        // (the cases, where the rest continues when streaming: cursor, total)
        let (cases, rest) = if stream {
            let page = self
                .case_page(None)
                .await
                .map_err(|e| step("fetching the cases", e))?;
            let mut seen = HashSet::new();
            let cases: Vec<Case> = page
                .cases
                .into_iter()
                .filter(|e| seen.insert(e.case.id.clone()))
                .map(|e| e.case)
                .collect();
            let total = page.total.max(cases.len());
            progress(&Progress::Cases {
                loaded: cases.len(),
                total,
            });
            (cases, page.next_cursor.map(|c| (c, total)))
        } else {
            let cases = self
                .fetch_cases(progress)
                .await
                .map_err(|e| step("fetching the cases", e))?;
            (cases, None)
        };
        let health: Health = self
            .get_json(self.endpoint(&["v1", "health"], &[]))
            .await
            .map_err(|f| step("fetching the server's health", f.into_store_error(None)))?;
        fresh.server_health = health.evidence;
        fresh.reviewer = health.reviewer;
        let generation = {
            let mut state = self.state();
            // Keep the cases' Arc when the set is the same.
            fresh.cases = state.cases.clone();
            fresh.index = std::mem::take(&mut state.index);
            fresh.set_cases(cases);
            fresh.loaded = true;
            fresh.streaming = rest.is_some();
            fresh.generation = state.generation + 1;
            progress(&Progress::Done {
                cases: fresh.cases.len(),
                records: fresh.replay.records.len(),
            });
            *state = fresh;
            let loading = rest.as_ref().map(|(_, total)| Loading {
                loaded: state.cases.len(),
                total: *total,
                failed: None,
            });
            // Under the state lock: a page of an older load cannot say
            // otherwise after this.
            self.shared.link.send_if_modified(|s| {
                let changed = s.loading != loading;
                s.loading = loading;
                changed
            });
            state.generation
        };
        self.set_link(Link::Connected);
        if let Some((cursor, _)) = rest {
            self.spawn_case_pages(generation, cursor);
        }
        Ok(())
    }

    async fn ensure_loaded(&self) -> Result<(), StoreError> {
        if self.state().loaded {
            return Ok(());
        }
        self.load(&|p| tracing::debug!("{p}")).await
    }

    /// Fetches every record after the state's last one into it.
    async fn fetch_records(
        &self,
        state: &mut State,
        progress: Option<&(dyn Fn(&Progress) + Sync)>,
    ) -> Result<(), StoreError> {
        loop {
            let after = state.replay.last_seq();
            let page = self.evidence_page(after).await?;
            if page.last_seq < after {
                return Err(StoreError::Remote(format!(
                    "the server's evidence log ends at seq {} but this client already holds seq {after}",
                    page.last_seq
                )));
            }
            // Known from the first page on, so the first long poll already
            // wakes on a case-file change; a different one means the case
            // files changed since the cases held were fetched.
            state.note_server_generation(page.cases_generation);
            let applied = state.apply(page.records);
            if let Some(p) = progress {
                p(&Progress::Evidence {
                    records: state.replay.records.len(),
                });
            }
            if applied == 0 || state.replay.last_seq() >= page.last_seq {
                return Ok(());
            }
        }
    }

    async fn evidence_page(&self, after: u64) -> Result<EvidencePage, StoreError> {
        let url = self.endpoint(&["v1", "evidence"], &[("after_seq", after.to_string())]);
        self.get_json(url)
            .await
            .map_err(|f| f.into_store_error(None))
    }

    /// One page of every case, after `cursor`.
    async fn case_page(&self, cursor: Option<&str>) -> Result<CasePage, StoreError> {
        let limit = self.shared.options.case_page.clamp(1, MAX_PAGE);
        let mut query = vec![("state", "all".to_string()), ("limit", limit.to_string())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        let url = self.endpoint(&["v1", "cases"], &query);
        self.get_json(url)
            .await
            .map_err(|f| f.into_store_error(None))
    }

    async fn fetch_cases(
        &self,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<Vec<Case>, StoreError> {
        let mut cases: Vec<Case> = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.case_page(cursor.as_deref()).await?;
            if cases.is_empty() {
                cases.reserve(page.total);
            }
            for entry in page.cases {
                if seen.insert(entry.case.id.clone()) {
                    cases.push(entry.case);
                }
            }
            progress(&Progress::Cases {
                loaded: cases.len(),
                total: page.total.max(cases.len()),
            });
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => {
                    return Err(StoreError::Remote(
                        "the server returned the same case cursor twice".into(),
                    ));
                }
                None => return Ok(cases),
            }
        }
    }

    /// Fetches the pages after `cursor` in the background for the load of
    /// `generation` (a newer load stops it), growing the case list and
    /// saying how far it is in the link status. A page that fails is tried
    /// again, with backoff, for as long as the store lives; the failure is
    /// in the link status meanwhile.
    fn spawn_case_pages(&self, generation: u64, mut cursor: String) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut seen: HashSet<String> = self.state().index.keys().cloned().collect();
        let weak = Arc::downgrade(&self.shared);
        handle.spawn(async move {
            let mut pending: Vec<Case> = Vec::new();
            let mut published = seen.len();
            let mut published_at = Instant::now();
            let mut failures = 0u32;
            loop {
                let Some(shared) = weak.upgrade() else { return };
                let store = RemoteStore { shared };
                if store.state().generation != generation {
                    return;
                }
                let page = match store.case_page(Some(&cursor)).await {
                    Ok(page) if page.next_cursor.as_ref() == Some(&cursor) => Err(
                        StoreError::Remote("the server returned the same case cursor twice".into()),
                    ),
                    other => other,
                };
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        failures += 1;
                        let error = e.to_string();
                        tracing::warn!(
                            attempt = failures,
                            "fetching the cases after {}: {error}",
                            sanitize(&cursor)
                        );
                        {
                            let state = store.state();
                            if state.generation != generation {
                                return;
                            }
                            store
                                .shared
                                .link
                                .send_if_modified(|s| match &mut s.loading {
                                    Some(l) => {
                                        l.failed = Some((failures, error));
                                        true
                                    }
                                    None => false,
                                });
                        }
                        drop(store);
                        tokio::time::sleep(backoff(failures)).await;
                        continue;
                    }
                };
                failures = 0;
                for entry in page.cases {
                    if seen.insert(entry.case.id.clone()) {
                        pending.push(entry.case);
                    }
                }
                let loaded = published + pending.len();
                let last = page.next_cursor.is_none();
                let publish = last
                    || loaded >= published + published / 2
                    || published_at.elapsed() >= Duration::from_secs(1);
                {
                    let mut state = store.state();
                    if state.generation != generation {
                        return;
                    }
                    if publish {
                        state.extend_cases(std::mem::take(&mut pending));
                        published = state.cases.len();
                        published_at = Instant::now();
                    }
                    if last {
                        state.streaming = false;
                        state.recount_orphans();
                    }
                    let loading = (!last).then(|| Loading {
                        loaded,
                        total: page.total.max(loaded),
                        failed: None,
                    });
                    store.shared.link.send_if_modified(|s| {
                        let changed = s.loading != loading;
                        s.loading = loading;
                        changed
                    });
                }
                match page.next_cursor {
                    Some(next) => cursor = next,
                    None => {
                        tracing::info!(cases = loaded, "every page of cases is in");
                        return;
                    }
                }
            }
        });
    }

    /// Brings the replay up to date with the server's log; reloads
    /// everything when the log is not the one this client saw.
    async fn catch_up(&self) -> Result<(), StoreError> {
        loop {
            let after = self.state().replay.last_seq();
            let page = self.evidence_page(after).await?;
            if page.last_seq < after {
                tracing::warn!(
                    "the server's log ends at seq {} below this client's {after}: reloading",
                    page.last_seq
                );
                return self.reload().await;
            }
            let mut state = self.state();
            let applied = state.apply(page.records);
            if applied == 0 || state.replay.last_seq() >= page.last_seq {
                return Ok(());
            }
        }
    }

    // ----- the outbox -------------------------------------------------------

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Outbox) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let outbox = self.shared.outbox.clone();
        tokio::task::spawn_blocking(move || f(&outbox))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    fn set_counts(&self, counts: OutboxCounts) {
        self.shared.link.send_if_modified(|s| {
            let changed =
                s.outbox_waiting != counts.waiting || s.outbox_rejected != counts.rejected;
            s.outbox_waiting = counts.waiting;
            s.outbox_rejected = counts.rejected;
            changed
        });
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

    /// Sends the waiting decisions, oldest first, each with its own key (so
    /// each is recorded exactly once however often it is sent). Stops at the
    /// first that cannot be delivered (keeping the order); a refused one is
    /// kept as `rejected` with the server's reason. Errors: the outbox file,
    /// a refused token, a broken evidence log on the server.
    pub async fn flush_outbox(&self) -> Result<FlushReport, StoreError> {
        let _flushing = self.shared.flushing.lock().await;
        let contents = self.blocking(|o| o.read()).await?;
        let mut report = FlushReport {
            counts: contents.counts(),
            ..FlushReport::default()
        };
        let waiting: Vec<OutboxEntry> = contents.waiting().cloned().collect();
        for entry in waiting {
            let key = entry.idempotency_key.clone();
            match self.post_decision(&entry.decision, &key).await {
                Posted::Recorded(record) => {
                    tracing::info!(key, seq = record.seq, "queued decision recorded");
                    report.counts = self.blocking(move |o| o.remove(&key)).await?;
                    report.sent.push(*record);
                }
                Posted::Rejected(e) => {
                    let reason = e.to_string();
                    tracing::warn!(key, "queued decision refused: {reason}");
                    let mut rejected = entry.clone();
                    rejected.state = EntryState::Rejected;
                    rejected.reason = reason.clone();
                    report.counts = self.blocking(move |o| o.reject(&key, &reason)).await?;
                    report.rejected.push(rejected);
                }
                Posted::Retry(reason) => {
                    let r = reason.clone();
                    report.counts = self.blocking(move |o| o.note_failure(&key, &r)).await?;
                    report.unreachable = Some(reason);
                    break;
                }
                Posted::Fatal(e) => {
                    self.set_counts(report.counts);
                    return Err(e);
                }
            }
        }
        self.set_counts(report.counts);
        if report.unreachable.is_none() && (!report.sent.is_empty() || !report.rejected.is_empty())
        {
            self.set_link(Link::Connected);
        }
        Ok(report)
    }

    /// Sends the outbox in the background, with backoff, until nothing
    /// waits (or the token is refused, or the store is dropped). One at a
    /// time; needs a tokio runtime (without one, the next command sends).
    fn spawn_flusher(&self) {
        use std::sync::atomic::Ordering;
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.shared.flusher.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.shared);
        handle.spawn(async move {
            let mut failures = 0u32;
            loop {
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                let Some(shared) = weak.upgrade() else { return };
                let store = RemoteStore { shared };
                // (finished, may go on): a refused token stops it for good.
                let (finished, again) = match store.flush_outbox().await {
                    Ok(r) => (r.unreachable.is_none() || r.counts.waiting == 0, true),
                    Err(StoreError::Unauthorized(e)) => {
                        tracing::warn!("the outbox waits: {e}");
                        (true, false)
                    }
                    Err(e) => {
                        tracing::info!("sending the outbox: {e}");
                        (false, true)
                    }
                };
                if finished {
                    store.shared.flusher.store(false, Ordering::Release);
                    // A decision queued during the last flush found this
                    // flusher still running: start another for it.
                    if again && store.shared.link.borrow().outbox_waiting > 0 {
                        store.spawn_flusher();
                    }
                    return;
                }
            }
        });
    }

    async fn enqueue(
        &self,
        decision: Decision,
        reviewer: &Reviewer,
        key: String,
        reason: String,
    ) -> StoreError {
        let entry = OutboxEntry {
            idempotency_key: key,
            decision,
            reviewer_hint: reviewer.name.clone(),
            queued_at: {
                let t = OffsetDateTime::now_utc();
                t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
                    .unwrap_or(t)
            },
            state: EntryState::Waiting,
            reason: reason.clone(),
        };
        match self.blocking(move |o| o.append(&entry)).await {
            Ok(counts) => {
                self.set_counts(counts);
                self.set_link(Link::Retrying {
                    attempt: 1,
                    error: reason.clone(),
                });
                self.shared.wake.notify_one();
                self.spawn_flusher();
                StoreError::Queued {
                    waiting: counts.waiting,
                    reason,
                }
            }
            // Not durable: say so, never claim it is queued.
            Err(e) => StoreError::Remote(format!(
                "{reason}; and the decision could not be queued: {e}. It was NOT recorded."
            )),
        }
    }

    // ----- live updates -------------------------------------------------------

    /// The live feed: long polls for new records; while the link is down,
    /// or decisions wait in the outbox, quick probes with backoff instead,
    /// so a server that comes back is noticed at the next probe (not after
    /// a long poll) and the outbox is sent at once.
    async fn watch_loop(self, tx: tokio::sync::mpsc::UnboundedSender<()>) {
        let long_wait = self.shared.options.watch_wait_seconds.min(MAX_WAIT_SECONDS);
        let mut failures: u32 = 0;
        loop {
            if tx.is_closed() {
                return;
            }
            let recovering = failures > 0
                || !self.is_connected()
                || self.shared.link.borrow().outbox_waiting > 0;
            let wait = if recovering { 0 } else { long_wait };
            let after = self.state().replay.last_seq();
            let started = Instant::now();
            let mut query = vec![("after_seq", after.to_string()), ("wait", wait.to_string())];
            if let Some(generation) = self.state().server_cases_generation {
                query.push(("cases_generation", generation.to_string()));
            }
            let url = self.endpoint(&["v1", "evidence"], &query);
            let timeout = self.shared.options.request_timeout + Duration::from_secs(wait);
            let polled = tokio::select! {
                polled = self.get_once::<EvidencePage>(&url, timeout) => polled,
                // A decision was queued: probe and send it now.
                _ = self.shared.wake.notified() => continue,
            };
            let failure = match polled {
                Ok(page) => {
                    let mut changed = recovering && !self.is_connected();
                    // The server reloaded changed case files: the cases (and
                    // their tiers) we hold are stale.
                    changed |= self.state().note_server_generation(page.cases_generation);
                    if page.last_seq < after {
                        changed = true;
                        if let Err(e) = self.reload().await {
                            tracing::warn!("reloading after the server's log changed: {e}");
                        }
                    } else {
                        changed |= self.state().apply(page.records) > 0;
                    }
                    self.set_link(Link::Connected);
                    let mut failure = None;
                    if self.shared.link.borrow().outbox_waiting > 0 {
                        match self.flush_outbox().await {
                            Ok(r) => {
                                changed |= !r.sent.is_empty() || !r.rejected.is_empty();
                                failure = r.unreachable;
                            }
                            Err(e) => failure = Some(format!("sending the outbox: {e}")),
                        }
                    }
                    if changed && tx.send(()).is_err() {
                        return;
                    }
                    if failure.is_none() {
                        failures = 0;
                        // A server that ignores `wait` must not be polled
                        // in a tight loop.
                        if wait > 0 && !changed && started.elapsed() < Duration::from_secs(1) {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    failure
                }
                Err(f) => Some(f.message().to_string()),
            };
            if let Some(error) = failure {
                failures += 1;
                tracing::info!(attempt = failures, "live updates: {error}");
                self.set_link(if failures <= 3 {
                    Link::Retrying {
                        attempt: failures,
                        error,
                    }
                } else {
                    Link::Offline { error }
                });
                tokio::time::sleep(backoff(failures)).await;
            }
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

/// The first bytes of a body, printable.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let mut s = sanitize(text.trim()).into_owned();
    if body.len() > 200 {
        s.push('…');
    }
    if s.is_empty() {
        s = "(empty body)".into();
    }
    s
}

/// A transport error in a few words: what failed and the root cause.
fn describe_transport(e: &reqwest::Error, connect: Duration, total: Duration) -> String {
    let mut root: &dyn std::error::Error = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let cause = root.to_string();
    if e.is_connect() && (e.is_timeout() || cause.contains("timed out")) {
        format!("cannot connect within {} s", connect.as_secs())
    } else if e.is_connect() {
        format!("cannot connect ({cause})")
    } else if e.is_timeout() {
        format!("no answer within {} s", total.as_secs())
    } else {
        format!("the connection failed ({cause})")
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
        let key = decision
            .idempotency_key
            .get_or_insert_with(|| Uuid::now_v7().to_string())
            .clone();
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
                // The next record in the log: hold it now. Otherwise (others
                // recorded in between) the next catch-up brings them all.
                let mut state = self.state();
                if state.loaded && record.seq == state.replay.last_seq() + 1 {
                    state.apply(vec![(*record).clone()]);
                }
                drop(state);
                Ok(*record)
            }
            Posted::Retry(reason) => Err(self.enqueue(decision, &reviewer, key, reason).await),
            Posted::Rejected(e) | Posted::Fatal(e) => Err(e),
        }
    }

    async fn verify(&self) -> Result<VerifyReport, StoreError> {
        let url = self.endpoint(&["v1", "evidence", "verify"], &[]);
        self.get_json(url)
            .await
            .map_err(|f| f.into_store_error(None))
    }

    fn watch(&self) -> Result<ChangeFeed, StoreError> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| StoreError::Setup(format!("live updates need an async runtime: {e}")))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = handle.spawn(self.clone().watch_loop(tx));
        Ok(ChangeFeed::new(rx, Box::new(AbortOnDrop(task))))
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
