//! The evidence record: one decision, as it is kept forever.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{Action, CaseState, Reviewer};
use crate::policy::{PolicyRef, Status, Tier};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The readiness check as it stood when the decision was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessSummary {
    /// Q1, who depends on this identity (docs/policy.md, *The three questions*).
    pub q1: Status,
    /// Q2, what breaks if it is removed.
    pub q2: Status,
    /// Q3, how quickly it can be restored if the decision was wrong.
    pub q3: Status,
    /// The tier the policy assigned (low → approve, medium → quarantine, high → escalate).
    pub tier: Tier,
    /// The action the tier recommends.
    pub recommendation: Action,
    /// Every gap that kept a question or check from being answered, checks' gaps and case-file
    /// problems included (`checks: usage unknown: …`).
    pub gaps: Vec<String>,
}

/// One line of `evidence.jsonl`. Field order is part of the format: the
/// hash covers the line's bytes as written, and `prev_hash` comes last
/// before `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    /// Position in the log: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// UUID v7 of this record.
    pub id: Uuid,
    /// When it was recorded: the real clock in UTC, to the millisecond (`--now` is refused for
    /// decisions).
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
    /// The case decided on, as loaded (NFC).
    pub case_id: String,
    /// SHA-256 of the case content the decision was evaluated on
    /// ([`crate::model::Case::content_sha256`]). `None` only in records
    /// written before it existed.
    #[serde(default)]
    pub case_sha256: Option<String>,
    /// The decided case's `identity.id`.
    pub identity_id: String,
    /// Who decided, from where (`via` `ssh`, `local` or `api`; OS account on a local store).
    pub reviewer: Reviewer,
    /// What was decided: approve, quarantine, escalate, revoke, restore or close.
    pub action: Action,
    /// The reviewer's reason, trimmed; at least the policy's `justification_min_chars` visible
    /// characters.
    pub justification: String,
    /// For quarantine: when it expires (UTC); `None` for every other action.
    #[serde(with = "time::serde::rfc3339::option")]
    pub quarantine_until: Option<OffsetDateTime>,
    /// For escalate: the team it goes to; `None` for every other action.
    pub escalate_to: Option<String>,
    /// `true` when a break-glass override let a refused approve or revoke through (serialised as
    /// `override`).
    #[serde(rename = "override")]
    pub override_: bool,
    /// On a decision that leaves `escalated`: who escalated it.
    pub escalated_by: Option<String>,
    /// On revoke after quarantine: who began the quarantine.
    #[serde(default)]
    pub quarantined_by: Option<String>,
    /// Separation of duties was met by reviewer name only, under one OS
    /// account, because the policy allows shared accounts.
    #[serde(default)]
    pub shared_os_account: bool,
    /// The client's idempotency key, when it sent one (retries record nothing new).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// With a key: SHA-256 of the request ([`crate::model::Decision::request_sha256`]),
    /// so the key reused for another decision is refused, not answered with this record.
    #[serde(default)]
    pub request_sha256: Option<String>,
    /// The readiness check at decision time.
    pub readiness: ReadinessSummary,
    /// The identity was seen used during the current quarantine episode when
    /// this decision was made; replay keeps it until the case leaves quarantine.
    #[serde(default)]
    pub used_during_quarantine: bool,
    /// The policy it was evaluated under: its `version` and the SHA-256 of its effective TOML.
    pub policy: PolicyRef,
    /// The case version the decision was made at; the case is at
    /// `case_version + 1` after it.
    pub case_version: u64,
    /// The case's lifecycle state before this decision.
    pub state_before: CaseState,
    /// The case's lifecycle state after it.
    pub state_after: CaseState,
    /// NIST CSF 2.0 outcomes (`PR.AA-01`, `RS.MI-02`, …) and the OWASP NHI Top 10 2025 risk
    /// (`NHI1:2025` …) this decision evidences (docs/policy.md, *Control references*).
    pub controls: Vec<String>,
    /// `hash` of the record before, lowercase hex; [`GENESIS_HASH`] (64 zeros) for the first.
    pub prev_hash: String,
    /// Empty until the log seals the record.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

/// Length of `,"hash":"<64 hex>"}` at the end of every sealed line.
pub(crate) const HASH_SUFFIX_LEN: usize = 75;

impl EvidenceRecord {
    /// Sets `seq` and `prev_hash`, computes `hash`, and returns the line to
    /// write (with its newline).
    pub fn seal(&mut self, seq: u64, prev_hash: &str) -> Result<Vec<u8>, serde_json::Error> {
        self.seq = seq;
        self.prev_hash = prev_hash.to_string();
        self.hash.clear();
        let mut body = serde_json::to_vec(self)?;
        self.hash = hex::encode(Sha256::digest(&body));
        body.pop(); // the closing brace
        body.extend_from_slice(b",\"hash\":\"");
        body.extend_from_slice(self.hash.as_bytes());
        body.extend_from_slice(b"\"}\n");
        Ok(body)
    }
}

/// The parts of a sealed line that verification needs, found by position
/// alone (no JSON parse), so verifying costs little more than hashing.
pub(crate) struct SealedLine<'a> {
    pub seq: u64,
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
    /// The canonical bytes without the closing brace; hash = SHA-256(body + "}").
    pub body_without_brace: &'a [u8],
}

impl<'a> SealedLine<'a> {
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        let len = line.len();
        if len < HASH_SUFFIX_LEN + 20 {
            return None;
        }
        let (body, suffix) = line.split_at(len - HASH_SUFFIX_LEN);
        let hash = suffix.strip_prefix(b",\"hash\":\"")?.strip_suffix(b"\"}")?;
        let before_prev = body.strip_suffix(b"\"")?;
        let prev_start = before_prev.len().checked_sub(64)?;
        let (head, prev_hash) = before_prev.split_at(prev_start);
        head.strip_suffix(b",\"prev_hash\":\"")?;
        if !is_hex64(hash) || !is_hex64(prev_hash) {
            return None;
        }
        let digits = line.strip_prefix(b"{\"seq\":")?;
        let end = digits.iter().position(|b| !b.is_ascii_digit())?;
        let seq = std::str::from_utf8(&digits[..end]).ok()?.parse().ok()?;
        Some(SealedLine {
            seq,
            prev_hash,
            hash,
            body_without_brace: body,
        })
    }

    pub fn hash_matches(&self) -> bool {
        let mut h = Sha256::new();
        h.update(self.body_without_brace);
        h.update(b"}");
        let digest = h.finalize();
        let mut hex_buf = [0u8; 64];
        // Infallible: the buffer is exactly twice the digest length.
        if hex::encode_to_slice(digest, &mut hex_buf).is_err() {
            return false;
        }
        hex_buf == self.hash
    }
}

fn is_hex64(b: &[u8]) -> bool {
    b.len() == 64 && b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}
