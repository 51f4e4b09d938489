//! The case format: what detection hands us about one risky identity.
//!
//! Every fact that may be missing in a real estate is an `Option`; `None`
//! means "not known" and is never replaced by a guess.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{CaseProblem, LastUsed};

/// One pending remediation case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Unique in the store; checked and read in NFC ([`super::check_id`]).
    #[serde(deserialize_with = "super::lenient::id")]
    pub id: String,
    #[serde(
        serialize_with = "time::serde::rfc3339::serialize",
        deserialize_with = "super::lenient::time"
    )]
    pub opened_at: OffsetDateTime,
    pub title: String,
    pub identity: Identity,
    #[serde(default)]
    pub finding: Option<Finding>,
    #[serde(default)]
    pub owner: Option<Owner>,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub criticality: Option<Level>,
    #[serde(default)]
    pub dependencies: Option<Dependencies>,
    #[serde(default)]
    pub action: Option<ProposedAction>,
    #[serde(default)]
    pub change_window: Option<ChangeWindow>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// What the case file says that nhi-triage could not read as a fact:
    /// values read as unknown (a severity `HIGHEST`, a date without a time
    /// zone), keys it does not know (a misspelt `node` hides every
    /// dependent), a dependency map without its `nodes` list, ids defined
    /// twice. Filled in by the loader; a case with any is never tier low.
    /// Serialised only when not empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<CaseProblem>,
}

/// The non-human identity under review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Checked and read in NFC ([`super::check_id`]).
    #[serde(deserialize_with = "super::lenient::id")]
    pub id: String,
    pub name: String,
    /// api_key, service_account, token, secret, certificate, oauth_app, ...
    /// Kept open: new kinds appear faster than we release.
    pub kind: String,
    pub provider: String,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub created_at: Option<OffsetDateTime>,
    /// A time, `"never"`, or unknown (null/absent): see [`LastUsed`].
    #[serde(default)]
    pub last_used_at: LastUsed,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub privilege: Option<Privilege>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub severity: Option<Level>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub detected_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub summary: Option<String>,
    /// OWASP NHI Top 10 2025 id, e.g. `NHI1:2025`.
    #[serde(default)]
    pub owasp: Option<String>,
    #[serde(default)]
    pub refs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    pub basis: OwnerBasis,
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub verified_at: Option<OffsetDateTime>,
}

/// How we know who owns the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerBasis {
    Explicit,
    Inferred,
    Unknown,
}

/// Severity and business criticality share one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Critical,
    High,
    Medium,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Privilege {
    Admin,
    Write,
    Read,
}

/// The dependency map: who uses the identity, directly or through others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependencies {
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub verified_at: Option<OffsetDateTime>,
    /// Missing or `null`: read as empty here, and the loader records a
    /// problem at [`super::NODES_PATH`] (who depends on it is unknown).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub nodes: Vec<DependencyNode>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<DependencyNode>, D::Error> {
    Ok(Option::<Vec<DependencyNode>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyNode {
    /// Checked and read in NFC ([`super::check_id`]).
    #[serde(deserialize_with = "super::lenient::id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub criticality: Option<Level>,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub external: Option<bool>,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub shared: Option<bool>,
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub last_seen_at: Option<OffsetDateTime>,
    /// Edges from this node to what it depends on (ids, read in NFC).
    #[serde(default, deserialize_with = "super::lenient::ids")]
    pub uses: Vec<String>,
}

/// What approving the case would do to the identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedAction {
    pub kind: ActionKind,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub reversible: Option<bool>,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub verifiable: Option<bool>,
    #[serde(default)]
    pub rollback: Option<Rollback>,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub hot_reload: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Rotate,
    Revoke,
    Disable,
    Delete,
    ReduceScope,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub tested_at: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub restore_minutes: Option<u32>,
}

/// An approved change window: open when `now` is in `[start, end)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeWindow {
    #[serde(
        serialize_with = "time::serde::rfc3339::serialize",
        deserialize_with = "super::lenient::time"
    )]
    pub start: OffsetDateTime,
    #[serde(
        serialize_with = "time::serde::rfc3339::serialize",
        deserialize_with = "super::lenient::time"
    )]
    pub end: OffsetDateTime,
}

impl ChangeWindow {
    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        self.start <= now && now < self.end
    }
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        }
    }
}

impl Privilege {
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Admin => "admin",
            Privilege::Write => "write",
            Privilege::Read => "read",
        }
    }
}

impl OwnerBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerBasis::Explicit => "explicit",
            OwnerBasis::Inferred => "inferred",
            OwnerBasis::Unknown => "unknown",
        }
    }
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Rotate => "rotate",
            ActionKind::Revoke => "revoke",
            ActionKind::Disable => "disable",
            ActionKind::Delete => "delete",
            ActionKind::ReduceScope => "reduce_scope",
        }
    }
}

impl Case {
    pub fn severity(&self) -> Option<Level> {
        self.finding.as_ref().and_then(|f| f.severity)
    }

    pub fn owner_team(&self) -> Option<&str> {
        self.owner.as_ref().and_then(|o| o.team.as_deref())
    }

    /// The owner team when the owner is known: a team named under basis
    /// `unknown` routes nowhere (it may be a placeholder like `unknown`).
    pub fn known_owner_team(&self) -> Option<&str> {
        let owner = self.owner.as_ref()?;
        if owner.basis == OwnerBasis::Unknown {
            return None;
        }
        owner.team.as_deref().filter(|t| !t.trim().is_empty())
    }

    /// SHA-256 (lowercase hex) of the case's canonical bytes: the case as
    /// nhi-triage reads it (fields it does not know dropped, absent optional
    /// values as `null`, times as RFC 3339) in canonical JSON
    /// ([`super::canonical_json`], RFC 8785). Evidence records carry it as
    /// `case_sha256` (docs/format.md); formatting, key order and unknown
    /// fields in the case file do not change it, any fact the policy reads does.
    pub fn content_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        hex::encode(Sha256::digest(super::canonical_json(value)))
    }
}
