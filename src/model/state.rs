//! Where a case stands in its lifecycle, and the decision a reviewer makes.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::OsAccount;

/// The lifecycle state recorded by the evidence log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CaseState {
    /// In the queue, undecided (every case starts here).
    Pending,
    /// The proposed action was approved (final).
    Approved,
    /// Access contained while use is observed.
    Quarantined {
        /// When the quarantine expires (RFC 3339); at or after it the case is
        /// back in the pending queue, flagged, until decided.
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    /// Handed to another team for a second reviewer's decision.
    Escalated {
        /// The team it was escalated to.
        to: String,
    },
    /// Revoked after quarantine (final).
    Revoked,
    /// Quarantine lifted, access given back (final).
    Restored,
    /// An escalation ended without acting on the identity (final).
    Closed,
}

impl CaseState {
    /// The wire name (`state` in JSON): `pending`, `approved`, `quarantined`,
    /// `escalated`, `revoked`, `restored` or `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            CaseState::Pending => "pending",
            CaseState::Approved => "approved",
            CaseState::Quarantined { .. } => "quarantined",
            CaseState::Escalated { .. } => "escalated",
            CaseState::Revoked => "revoked",
            CaseState::Restored => "restored",
            CaseState::Closed => "closed",
        }
    }

    /// A decided case leaves the working queues for good.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            CaseState::Approved | CaseState::Revoked | CaseState::Restored | CaseState::Closed
        )
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseState::Quarantined { until } => {
                write!(f, "quarantined until {}", crate::model::rfc3339(*until))
            }
            CaseState::Escalated { to } => write!(f, "escalated to {to}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A case's place in its lifecycle, replayed from the evidence log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseStatus {
    /// The state after the case's last record (`Pending` when none).
    #[serde(flatten)]
    pub state: CaseState,
    /// The number of evidence records for the case.
    pub version: u64,
    /// Who escalated it, for separation of duties.
    #[serde(default)]
    pub escalated_by: Option<String>,
    /// The OS account that escalated it (local stores).
    #[serde(default)]
    pub escalated_by_os: Option<OsAccount>,
    /// When the current quarantine episode began: the first quarantine since
    /// the case was last outside quarantine (or since the last one expired).
    /// Extensions of a running quarantine do not move it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub quarantined_at: Option<OffsetDateTime>,
    /// Who began the current quarantine episode.
    #[serde(default)]
    pub quarantined_by: Option<String>,
    /// The OS account that began it (local stores).
    #[serde(default)]
    pub quarantined_by_os: Option<OsAccount>,
    /// A decision during the current quarantine episode saw the identity
    /// used after the episode began. Kept until the case leaves quarantine,
    /// whatever later case files say.
    #[serde(default)]
    pub used_during_quarantine: bool,
    /// The latest decision, to explain conflicts.
    #[serde(default)]
    pub last_decision: Option<LastDecision>,
}

/// Who last decided on a case, what and when (shown when a decision conflicts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDecision {
    /// The action recorded.
    pub action: Action,
    /// The reviewer's name as recorded.
    pub reviewer: String,
    /// When it was recorded (the record's `ts`, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
}

impl Default for CaseStatus {
    fn default() -> Self {
        Self::pending()
    }
}

impl CaseStatus {
    /// A case with no records: pending at version 0.
    pub fn pending() -> Self {
        Self {
            state: CaseState::Pending,
            version: 0,
            escalated_by: None,
            escalated_by_os: None,
            quarantined_at: None,
            quarantined_by: None,
            quarantined_by_os: None,
            used_during_quarantine: false,
            last_decision: None,
        }
    }

    /// True when a quarantine ran out without a decision: the case is back in
    /// the pending queue, flagged.
    pub fn quarantine_expired(&self, now: OffsetDateTime) -> bool {
        matches!(self.state, CaseState::Quarantined { until } if until <= now)
    }
}

/// What a reviewer can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Approve the proposed action: on a pending case only at tier low
    /// (or by break-glass override); leaving an escalation, by another reviewer.
    Approve,
    /// Contain the identity for `quarantine_hours` while use is observed
    /// (again while quarantined: extend).
    Quarantine,
    /// Hand the case to a team (`escalate_to`) for a second reviewer.
    Escalate,
    /// Revoke a quarantined identity, after the observation period with no
    /// use seen.
    Revoke,
    /// Lift a quarantine, giving access back.
    Restore,
    /// End an escalation without acting on the identity.
    Close,
}

impl Action {
    /// All six actions; messages list them in this order.
    pub const ALL: [Action; 6] = [
        Action::Approve,
        Action::Quarantine,
        Action::Escalate,
        Action::Revoke,
        Action::Restore,
        Action::Close,
    ];

    /// The wire and command-line name: `approve`, `quarantine`, ...
    pub fn name(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Quarantine => "quarantine",
            Action::Escalate => "escalate",
            Action::Revoke => "revoke",
            Action::Restore => "restore",
            Action::Close => "close",
        }
    }

    /// The action with this exact [`Action::name`]; `None` for any other text.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reviewer's decision, as a typed value: the UI and CLI build it, the store
/// checks and records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The case decided on (looked up as `show` does: trimmed, NFC).
    pub case_id: String,
    /// What the reviewer decided.
    pub action: Action,
    /// Why, in the reviewer's words: at least the policy's
    /// `justification_min_chars` visible characters, at most 10 000.
    pub justification: String,
    /// The case version the reviewer saw; a stale one is a conflict.
    pub expected_version: u64,
    /// For quarantine: its length in hours (1 ... `quarantine_max_hours`);
    /// `None`: the policy's `quarantine_default_hours`.
    #[serde(default)]
    pub quarantine_hours: Option<u32>,
    /// For escalate: the target team; `None`: the known owner team, else the
    /// policy's `default_escalation_team`.
    #[serde(default)]
    pub escalate_to: Option<String>,
    /// Break-glass (JSON `override`): lets a refused approve or revoke
    /// through when the policy sets `allow_break_glass` (justification of at
    /// least `break_glass_min_chars`); never bypasses separation of duties.
    #[serde(default, rename = "override")]
    pub override_: bool,
    /// The SHA-256 of the case content the reviewer saw
    /// ([`super::Case::content_sha256`]); when the case has changed since, the
    /// decision is a conflict. `None`: decide on the content as it is now.
    #[serde(default)]
    pub expected_case_sha256: Option<String>,
    /// Makes a retried decision safe: the same reviewer sending the same
    /// decision with the same key gets the first one's record and nothing new
    /// is recorded; the key with any other decision or reviewer is refused.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

impl Decision {
    /// SHA-256 (hex) of everything the reviewer asked for, without the key:
    /// two requests with one idempotency key must have the same digest.
    pub fn request_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let request = serde_json::json!({
            "case_id": self.case_id,
            "action": self.action,
            "justification": self.justification,
            "expected_version": self.expected_version,
            "quarantine_hours": self.quarantine_hours,
            "escalate_to": self.escalate_to,
            "override": self.override_,
            "expected_case_sha256": self.expected_case_sha256,
        });
        hex::encode(Sha256::digest(super::canonical_json(request)))
    }
}

/// Which cases a state filter selects: one rule for `list --state`, the
/// API's `?state=` and the console's views.
///
/// A quarantine that ran out undecided is back in the queue: it matches
/// `pending` (and `open`), not `quarantined`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    /// Pending, quarantined or escalated: not final.
    Open,
    /// Pending, or quarantined with the quarantine expired.
    Pending,
    /// Quarantined and not yet expired.
    Quarantined,
    /// Escalated, waiting for another reviewer.
    Escalated,
    /// Approved, revoked, restored or closed.
    Decided,
    /// Final: the proposed action approved.
    Approved,
    /// Final: revoked after quarantine.
    Revoked,
    /// Final: quarantine lifted, access given back.
    Restored,
    /// Final: escalation ended without acting on the identity.
    Closed,
    /// Every case.
    All,
}

impl StateFilter {
    /// All ten filters; [`StateFilter::names`] lists them in this order.
    pub const ALL: [StateFilter; 10] = [
        StateFilter::Open,
        StateFilter::Pending,
        StateFilter::Quarantined,
        StateFilter::Escalated,
        StateFilter::Decided,
        StateFilter::Approved,
        StateFilter::Revoked,
        StateFilter::Restored,
        StateFilter::Closed,
        StateFilter::All,
    ];

    /// The name used by `--state`, `?state=` and JSON: `open`, `pending`, ...
    pub fn name(self) -> &'static str {
        match self {
            StateFilter::Open => "open",
            StateFilter::Pending => "pending",
            StateFilter::Quarantined => "quarantined",
            StateFilter::Escalated => "escalated",
            StateFilter::Decided => "decided",
            StateFilter::Approved => "approved",
            StateFilter::Revoked => "revoked",
            StateFilter::Restored => "restored",
            StateFilter::Closed => "closed",
            StateFilter::All => "all",
        }
    }

    /// The filter with this exact [`StateFilter::name`]; `None` for any other text.
    pub fn parse(s: &str) -> Option<StateFilter> {
        StateFilter::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Every name, for messages: "open, pending, ... or all".
    pub fn names() -> String {
        let names: Vec<&str> = StateFilter::ALL.iter().map(|f| f.name()).collect();
        let (last, rest) = names.split_last().unwrap_or((&"all", &[]));
        format!("{} or {last}", rest.join(", "))
    }

    /// Whether a case with `status` is selected at `now`.
    pub fn matches(self, status: &CaseStatus, now: OffsetDateTime) -> bool {
        let expired = status.quarantine_expired(now);
        let state = &status.state;
        match self {
            StateFilter::All => true,
            StateFilter::Open => !state.is_final(),
            StateFilter::Pending => matches!(state, CaseState::Pending) || expired,
            StateFilter::Quarantined => matches!(state, CaseState::Quarantined { .. }) && !expired,
            StateFilter::Escalated => matches!(state, CaseState::Escalated { .. }),
            StateFilter::Decided => state.is_final(),
            StateFilter::Approved => matches!(state, CaseState::Approved),
            StateFilter::Revoked => matches!(state, CaseState::Revoked),
            StateFilter::Restored => matches!(state, CaseState::Restored),
            StateFilter::Closed => matches!(state, CaseState::Closed),
        }
    }
}

impl fmt::Display for StateFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StateFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        StateFilter::parse(s).ok_or_else(|| format!("expected {}", StateFilter::names()))
    }
}
