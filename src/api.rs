//! The remote API's wire types (docs/api.md), shared by the server and the
//! client store so the two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::evidence::EvidenceRecord;
use crate::model::{Action, Case, CaseStatus};
use crate::policy::{Status, Tier};
use crate::store::EvidenceHealth;

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Default `limit` of `GET /v1/cases` (cases per page).
pub const DEFAULT_PAGE: usize = 500;
/// Largest `limit` of `GET /v1/cases`; 0, or more than this, is 400
/// `bad_request`.
pub const MAX_PAGE: usize = 2000;
/// `wait` of `GET /v1/evidence`, in seconds, at most.
pub const MAX_WAIT_SECONDS: u64 = 30;
/// The request header carrying a decision's idempotency key
/// (`Idempotency-Key`: 1–200 printable ASCII characters, else 400), spelt
/// lowercase as HTTP header names are compared.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or `evidence_broken` when the chain does not verify or ends with a torn write.
    pub status: String,
    /// The server's nhi-triage version.
    pub version: String,
    /// The kind of store the server serves: `local`.
    pub store: String,
    /// Cases loaded.
    pub cases: usize,
    /// The evidence log's state.
    pub evidence: EvidenceHealth,
    /// The reviewer the request's token belongs to: the name the server
    /// records for this client's decisions.
    #[serde(default)]
    pub reviewer: Option<String>,
}

/// The readiness summary that travels with each case in a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The case's tier at the server's `now`.
    pub tier: Tier,
    /// The tier's recommended action.
    pub recommendation: Action,
    /// Q1, who depends on this identity.
    pub q1: Status,
    /// Q2, what breaks if it is removed.
    pub q2: Status,
    /// Q3, how quickly it can be restored.
    pub q3: Status,
}

/// One case in `GET /v1/cases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseEntry {
    /// The case as loaded (docs/format.md), its `problems` included.
    pub case: Case,
    /// Its lifecycle state and version (pending at version 0 before any record).
    pub status: CaseStatus,
    /// Its readiness summary.
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
    /// At most `limit` cases matching `state`, in id order, after `cursor`.
    pub cases: Vec<CaseEntry>,
    /// The last case id of this page, to send as `cursor`; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Cases matching the state filter, over all pages.
    pub total: usize,
}

/// `GET /v1/cases/{id}` (the server adds `assessment`, which clients may
/// recompute with the policy from `GET /v1/policy`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseDetail {
    /// The case as loaded, its `problems` included.
    pub case: Case,
    /// Its lifecycle state and version.
    pub status: CaseStatus,
    /// Every evidence record of the case, oldest first.
    pub history: Vec<EvidenceRecord>,
}

/// `POST /v1/cases/{id}/decisions` body. The reviewer is not in it: the
/// server takes it from the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The decision: approve, quarantine, escalate, revoke, restore or close.
    pub action: Action,
    /// The reviewer's reason; at least the policy's `justification_min_chars` visible characters.
    pub justification: String,
    /// The case version the reviewer saw (`status.version`); a stale one is 409 `conflict`.
    pub expected_version: u64,
    /// For quarantine: its length in hours (1 … `quarantine_max_hours`); `None` for the policy's
    /// `quarantine_default_hours`.
    #[serde(default)]
    pub quarantine_hours: Option<u32>,
    /// For escalate: the team; `None` for the owner team, else the policy's
    /// `default_escalation_team`.
    #[serde(default)]
    pub escalate_to: Option<String>,
    /// Break-glass override (`override` on the wire), where the policy allows it.
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
    /// Records with `seq` greater than `after_seq`, oldest first, at most 5000 (ask again from the
    /// last for more).
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
    /// What went wrong, for a person.
    pub message: String,
    /// On 422 `refused`: every reason, one sentence each; empty (and absent) otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// On 409: the case's state now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<CaseStatus>,
    /// On 409 `case_changed`: what changed since the reviewer saw the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<crate::store::CaseChange>,
}
