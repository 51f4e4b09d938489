//! The remote API's wire types (docs/api.md), shared by the server and the
//! client store so the two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::evidence::EvidenceRecord;
use crate::model::{Action, Case, CaseStatus};
use crate::policy::{Status, Tier};
use crate::store::EvidenceHealth;

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// `limit` of `GET /v1/cases`: default and bound.
pub const DEFAULT_PAGE: usize = 500;
pub const MAX_PAGE: usize = 2000;
/// `wait` of `GET /v1/evidence`, in seconds, at most.
pub const MAX_WAIT_SECONDS: u64 = 30;
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub store: String,
    pub cases: usize,
    pub evidence: EvidenceHealth,
    /// The reviewer the request's token belongs to: the name the server
    /// records for this client's decisions.
    #[serde(default)]
    pub reviewer: Option<String>,
}

/// The readiness summary that travels with each case in a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub tier: Tier,
    pub recommendation: Action,
    pub q1: Status,
    pub q2: Status,
    pub q3: Status,
}

/// One case in `GET /v1/cases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseEntry {
    pub case: Case,
    pub status: CaseStatus,
    pub summary: Summary,
    /// The case content's digest ([`Case::content_sha256`]): send it back as
    /// `expected_case_sha256` to decide on exactly this content.
    #[serde(default)]
    pub case_sha256: Option<String>,
}

/// `GET /v1/cases?state=S&limit=N&cursor=C`: cases in id order; `next_cursor`
/// continues after the last one (stable while decisions are made).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CasePage {
    pub cases: Vec<CaseEntry>,
    pub next_cursor: Option<String>,
    /// Cases matching the state filter, over all pages.
    pub total: usize,
}

/// `GET /v1/cases/{id}` (the server adds `assessment`, which clients may
/// recompute with the policy from `GET /v1/policy`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseDetail {
    pub case: Case,
    pub status: CaseStatus,
    pub history: Vec<EvidenceRecord>,
}

/// `POST /v1/cases/{id}/decisions` body. The reviewer is not in it: the
/// server takes it from the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub action: Action,
    pub justification: String,
    pub expected_version: u64,
    #[serde(default)]
    pub quarantine_hours: Option<u32>,
    #[serde(default)]
    pub escalate_to: Option<String>,
    #[serde(default, rename = "override")]
    pub override_: bool,
    /// The `case_sha256` of the case content the reviewer saw (from
    /// `GET /v1/cases`); when the case has changed since, 409 `case_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_case_sha256: Option<String>,
}

/// `GET /v1/evidence?after_seq=N&wait=S`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidencePage {
    pub records: Vec<EvidenceRecord>,
    /// The log's last seq when the answer was made.
    pub last_seq: u64,
    /// Changes whenever the server reloaded changed case files: a client
    /// holding another value fetches the cases again. A long poll that names
    /// its generation (`cases_generation=N`) also returns when it changes.
    #[serde(default)]
    pub cases_generation: u64,
}

/// Every error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// `bad_request`, `unauthorized`, `not_found`, `conflict`, `case_changed`,
    /// `refused`, `idempotency_key_reused`, `too_large`, `evidence_broken`,
    /// `unavailable`, `internal`.
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// On 409: the case's state now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<CaseStatus>,
    /// On 409 `case_changed`: what changed since the reviewer saw the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<crate::store::CaseChange>,
}
