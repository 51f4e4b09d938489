//! One exchange with the server: GETs retried with backoff, a POSTed
//! decision never retried here, answers turned into store errors.

use super::*;

/// How one exchange with the server went wrong.
pub(super) enum Failure {
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
    pub(super) fn message(&self) -> &str {
        match self {
            Failure::Transient { message, .. } | Failure::Status { message, .. } => message,
            Failure::Malformed(m) | Failure::Untrusted(m) => m,
        }
    }

    /// The store error for a read (GET): 401 unauthorized, 404 not found (of
    /// `what`, when given), everything else a remote error naming the URL.
    pub(super) fn into_store_error(self, not_found: Option<&str>) -> StoreError {
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
pub(super) enum Posted {
    Recorded(Box<EvidenceRecord>),
    /// Not recorded, maybe: send again later with the same key.
    Retry(String),
    /// The server refused this decision (conflict, policy, unknown case,
    /// bad request): sending it again will not help.
    Rejected(StoreError),
    /// Stop everything: bad token, or the server's evidence log is broken.
    Fatal(StoreError),
}

impl RemoteStore {
    // ----- HTTP -----------------------------------------------------------

    pub(super) fn endpoint(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
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
    pub(super) async fn exchange(
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
    pub(super) fn status_failure(what: &str, status: StatusCode, body: &[u8]) -> Failure {
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
    pub(super) async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, Failure> {
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

    pub(super) async fn get_once<T: DeserializeOwned>(
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
    pub(super) async fn post_decision(&self, decision: &Decision, key: &str) -> Posted {
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
    pub(super) async fn evidence_broken(&self, message: String) -> StoreError {
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
