//! The HTTP API (docs/api.md) over a local store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::api::{
    ApiError, CaseDetail, CaseEntry, CasePage, DEFAULT_PAGE, DecisionRequest, EvidencePage, Health,
    IDEMPOTENCY_HEADER, MAX_BODY_BYTES, MAX_PAGE, MAX_WAIT_SECONDS, Summary,
};
use crate::model::{Decision, Reviewer, StateFilter};
// JSON answers with C1/bidi/format characters escaped (crate::output::json).
use crate::output::json::Json;
use crate::policy::assess;
use crate::store::{LocalStore, Store, StoreError};

use super::tokens::Tokens;

/// Most records one evidence page carries; clients ask again for the rest.
const MAX_RECORDS_PER_PAGE: usize = 5000;

/// What every request handler shares.
pub struct AppState {
    /// The store served.
    pub store: LocalStore,
    /// Who may call, re-read when the file changes.
    pub tokens: Tokens,
    /// Bumped whenever the evidence log may have grown (long polls wait on it).
    pub changes: watch::Receiver<u64>,
    /// Becomes `true` when the server stops: long polls answer at once.
    pub stopping: watch::Receiver<bool>,
    /// Case indices in id order, for the case list the store holds now
    /// (rebuilt when the case files are reloaded).
    pub by_id: std::sync::Mutex<Option<IdOrder>>,
}

/// A case list and its indices in id order.
pub type IdOrder = (Arc<Vec<crate::model::Case>>, Arc<Vec<usize>>);

impl AppState {
    /// Indices of `cases` in id order, cached for the same case list.
    fn ids_in_order(&self, cases: &Arc<Vec<crate::model::Case>>) -> Arc<Vec<usize>> {
        let mut cache = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((held, order)) = cache.as_ref()
            && Arc::ptr_eq(held, cases)
        {
            return Arc::clone(order);
        }
        let mut order: Vec<usize> = (0..cases.len()).collect();
        order.sort_by(|&a, &b| cases[a].id.cmp(&cases[b].id));
        let order = Arc::new(order);
        *cache = Some((Arc::clone(cases), Arc::clone(&order)));
        order
    }
}

/// The reviewer a request's token belongs to.
#[derive(Clone)]
pub struct Authenticated(pub String);

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/policy", get(policy))
        .route("/v1/cases", get(list_cases))
        .route("/v1/cases/{id}", get(case_detail))
        .route("/v1/cases/{id}/decisions", post(decide))
        .route("/v1/evidence", get(evidence))
        .route("/v1/evidence/verify", get(verify))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ));
    api.fallback(|| async {
        error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint (see docs/api.md)",
        )
    })
    .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
    .with_state(state)
}

pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ApiError {
        error: code.into(),
        message: message.into(),
        reasons: vec![],
        current: None,
        change: None,
    };
    (status, Json(body)).into_response()
}

async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme name is case-insensitive (RFC 9110).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(name) = token.and_then(|t| state.tokens.reviewer(t)) else {
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    };
    req.extensions_mut().insert(Authenticated(name.clone()));
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(Authenticated(name));
    resp
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(id) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no case with id {}", crate::text::sanitize(&id)),
        ),
        StoreError::Refused(r) => {
            let body = ApiError {
                error: "refused".into(),
                message: format!("{} refused by policy or lifecycle", r.action),
                reasons: r.reasons,
                current: None,
                change: None,
            };
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
        e @ StoreError::IdempotencyKeyReused { .. } => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            e.to_string(),
        ),
        StoreError::CaseChanged(change) => {
            let body = ApiError {
                error: "case_changed".into(),
                message: change.to_string(),
                reasons: vec![],
                current: None,
                change: Some(*change),
            };
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
        e if e.is_evidence_problem() => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "evidence_broken",
            e.to_string(),
        ),
        e => {
            tracing::error!("internal error: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error (see the server log)",
            )
        }
    }
}

async fn health(
    State(state): State<Arc<AppState>>,
    Extension(Authenticated(name)): Extension<Authenticated>,
) -> Response {
    match state.store.snapshot().await {
        Ok(s) => Json(Health {
            status: if s.evidence.is_ok() {
                "ok".into()
            } else {
                "evidence_broken".into()
            },
            version: env!("CARGO_PKG_VERSION").into(),
            store: "local".into(),
            cases: s.cases.len(),
            evidence: s.evidence,
            reviewer: Some(name),
        })
        .into_response(),
        Err(e) => store_error(e),
    }
}

async fn policy(State(state): State<Arc<AppState>>) -> Response {
    Json(state.store.policy().clone()).into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_cases(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "bad query: state, limit and cursor are allowed",
        );
    };
    let Some(filter) = StateFilter::parse(q.state.as_deref().unwrap_or("all")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("state must be {}", StateFilter::names()),
        );
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("limit must be 1 to {MAX_PAGE}"),
        );
    }
    let snapshot = match state.store.snapshot().await {
        Ok(s) => s,
        Err(e) => return store_error(e),
    };
    let now = OffsetDateTime::now_utc();
    let cases = &snapshot.cases;
    let by_id = state.ids_in_order(cases);
    let start = match &q.cursor {
        Some(c) => by_id.partition_point(|&i| cases[i].id.as_str() <= c.as_str()),
        None => 0,
    };
    let mut page = Vec::new();
    let mut total = 0;
    let mut next_cursor = None;
    for (k, &i) in by_id.iter().enumerate() {
        let case = &cases[i];
        let status = snapshot.status(&case.id);
        if !filter.matches(&status, now) {
            continue;
        }
        total += 1;
        if k < start {
            continue;
        }
        if page.len() == limit {
            next_cursor.get_or_insert_with(|| {
                page.last()
                    .map(|e: &CaseEntry| e.case.id.clone())
                    .unwrap_or_default()
            });
            continue;
        }
        let a = assess(case, &status, &snapshot.policy, now);
        page.push(CaseEntry {
            case_sha256: Some(case.content_sha256()),
            case: case.clone(),
            status,
            summary: Summary {
                tier: a.tier,
                recommendation: a.recommendation,
                q1: a.q1.status,
                q2: a.q2.status,
                q3: a.q3.status,
            },
        });
    }
    Json(CasePage {
        cases: page,
        next_cursor,
        total,
    })
    .into_response()
}

async fn case_detail(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let snapshot = match state.store.snapshot().await {
        Ok(s) => s,
        Err(e) => return store_error(e),
    };
    let Some(case) = snapshot.find(&id) else {
        return store_error(StoreError::NotFound(id));
    };
    let status = snapshot.status(&id);
    let history = match state.store.history(&id).await {
        Ok(h) => h,
        Err(e) => return store_error(e),
    };
    let assessment = assess(case, &status, &snapshot.policy, OffsetDateTime::now_utc());
    let detail = CaseDetail {
        case: case.clone(),
        status,
        history,
    };
    // The assessment travels beside the detail, for clients without a policy engine.
    let mut body = match serde_json::to_value(&detail) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    if let (Some(obj), Ok(a)) = (body.as_object_mut(), serde_json::to_value(&assessment)) {
        obj.insert("assessment".into(), a);
    }
    Json(body).into_response()
}

async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(Authenticated(name)): Extension<Authenticated>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<DecisionRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(req)) => req,
        Err(rejection) => {
            // 422 is kept for policy refusals: every malformed body is a 400.
            return if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the body is over {MAX_BODY_BYTES} bytes"),
                )
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    rejection.body_text(),
                )
            };
        }
    };
    let key = match headers.get(IDEMPOTENCY_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Some(k.to_string())
        }
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "Idempotency-Key must be 1 to 200 printable ASCII characters",
            );
        }
    };
    let decision = Decision {
        case_id: crate::model::case_id_key(&id).into_owned(),
        action: req.action,
        justification: req.justification,
        expected_version: req.expected_version,
        quarantine_hours: req.quarantine_hours,
        escalate_to: req.escalate_to,
        override_: req.override_,
        expected_case_sha256: req.expected_case_sha256,
        idempotency_key: key,
    };
    // The server, not the client, names the reviewer.
    let reviewer = Reviewer {
        name,
        host: peer.0.ip().to_string(),
        via: "api".into(),
        os_account: None,
    };
    match state.store.decide(decision, reviewer).await {
        Ok(record) => (StatusCode::CREATED, Json(record)).into_response(),
        Err(StoreError::Conflict {
            case_id,
            expected,
            current,
            last,
        }) => {
            let message = StoreError::Conflict {
                case_id: case_id.clone(),
                expected,
                current,
                last,
            }
            .to_string();
            let current = state
                .store
                .snapshot()
                .await
                .ok()
                .map(|s| s.status(&case_id));
            let body = ApiError {
                error: "conflict".into(),
                message,
                reasons: vec![],
                current,
                change: None,
            };
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize)]
struct EvidenceQuery {
    after_seq: Option<u64>,
    wait: Option<u64>,
    /// The case-list generation the client holds: a change ends the wait.
    cases_generation: Option<u64>,
}

async fn evidence(
    State(state): State<Arc<AppState>>,
    query: Result<Query<EvidenceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "bad query: after_seq, wait and cases_generation are numbers",
        );
    };
    let after = q.after_seq.unwrap_or(0);
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECONDS));
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = state.changes.clone();
    let mut stopping = state.stopping.clone();
    let mut stop = *stopping.borrow();
    loop {
        changes.borrow_and_update();
        let mut records = match state.store.records_since(after).await {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        let last_seq = match records.last() {
            Some(r) => r.seq,
            None => state.store.last_seq(),
        };
        // `records_since` has just looked at the case files too.
        let cases_generation = state.store.cases_generation();
        let cases_changed = q.cases_generation.is_some_and(|g| g != cases_generation);
        // A stopping server answers a long poll at once, with what it has:
        // the client polls again and finds the server gone (or back).
        if !records.is_empty() || cases_changed || stop || tokio::time::Instant::now() >= deadline {
            records.truncate(MAX_RECORDS_PER_PAGE);
            return Json(EvidencePage {
                records,
                last_seq,
                cases_generation,
            })
            .into_response();
        }
        // Then one last look: a change, the deadline or the server stopping.
        // (`wait_for` also ends when the server is gone: stop then too.)
        let feed_gone = tokio::select! {
            changed = changes.changed() => changed.is_err(),
            () = tokio::time::sleep_until(deadline) => false,
            _ = stopping.wait_for(|s| *s) => {
                stop = true;
                false
            }
        };
        if feed_gone {
            // Nothing will say "changed" any more: wait out the rest.
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                _ = stopping.wait_for(|s| *s) => stop = true,
            }
        }
    }
}

async fn verify(State(state): State<Arc<AppState>>) -> Response {
    match state.store.verify().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => store_error(e),
    }
}

/// The client's address, for the reviewer record and the access log.
#[derive(Clone, Copy)]
pub struct Peer(pub SocketAddr);
