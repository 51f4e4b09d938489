//! Where a case stands in its lifecycle, and the decision a reviewer makes.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The lifecycle state recorded by the evidence log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CaseState {
    Pending,
    Approved,
    Quarantined {
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    Escalated {
        to: String,
    },
    Revoked,
    Restored,
    Closed,
}

impl CaseState {
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
    #[serde(flatten)]
    pub state: CaseState,
    /// The number of evidence records for the case.
    pub version: u64,
    /// Who escalated it, for separation of duties.
    #[serde(default)]
    pub escalated_by: Option<String>,
    /// When the current quarantine began.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub quarantined_at: Option<OffsetDateTime>,
    /// The latest decision, to explain conflicts.
    #[serde(default)]
    pub last_decision: Option<LastDecision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDecision {
    pub action: Action,
    pub reviewer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
}

impl Default for CaseStatus {
    fn default() -> Self {
        Self::pending()
    }
}

impl CaseStatus {
    pub fn pending() -> Self {
        Self {
            state: CaseState::Pending,
            version: 0,
            escalated_by: None,
            quarantined_at: None,
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
    Approve,
    Quarantine,
    Escalate,
    Revoke,
    Restore,
    Close,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Approve,
        Action::Quarantine,
        Action::Escalate,
        Action::Revoke,
        Action::Restore,
        Action::Close,
    ];

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
    pub case_id: String,
    pub action: Action,
    pub justification: String,
    /// The case version the reviewer saw; a stale one is a conflict.
    pub expected_version: u64,
    #[serde(default)]
    pub quarantine_hours: Option<u32>,
    #[serde(default)]
    pub escalate_to: Option<String>,
    #[serde(default, rename = "override")]
    pub override_: bool,
    /// Makes a retried decision safe: a second decision with the same key
    /// returns the first one's record and records nothing new.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Who decided, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewer {
    pub name: String,
    pub host: String,
    /// `ssh`, `local` or `api`.
    pub via: String,
}

impl fmt::Display for Reviewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} via {}", self.name, self.host, self.via)
    }
}
