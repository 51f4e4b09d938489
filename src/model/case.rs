//! The case format: what detection hands us about one risky identity.
//!
//! Every fact that may be missing in a real estate is an `Option`; `None`
//! means "not known" and is never replaced by a guess.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{CaseProblem, LastUsed};

/// One remediation case: a risky non-human identity with its owner,
/// dependency map, finding and proposed action, as detection wrote it
/// (docs/format.md, *Case*).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Unique in the store; checked and read in NFC ([`super::check_id`]).
    #[serde(deserialize_with = "super::lenient::id")]
    pub id: String,
    /// When the case was opened (RFC 3339 with a zone); the queue's age and
    /// its last tie-break (oldest first).
    #[serde(
        serialize_with = "time::serde::rfc3339::serialize",
        deserialize_with = "super::lenient::time"
    )]
    pub opened_at: OffsetDateTime,
    /// One line for the queue, as given (untrusted: sanitise before display).
    pub title: String,
    /// The identity under review (required).
    pub identity: Identity,
    /// What detection found; `None` when the file has none.
    #[serde(default)]
    pub finding: Option<Finding>,
    /// Who owns the identity; `None`: no owner known (Q1 unknown).
    #[serde(default)]
    pub owner: Option<Owner>,
    /// The identity's own business criticality; `None`: unknown, a checks
    /// gap, never tier low (docs/policy.md).
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub criticality: Option<Level>,
    /// Who uses the identity; `None`: never mapped (Q1 unknown).
    #[serde(default)]
    pub dependencies: Option<Dependencies>,
    /// What approving would do; `None`: nothing proposed (tier high).
    #[serde(default)]
    pub action: Option<ProposedAction>,
    /// When the change may be made; tier low needs it open. `None`: no
    /// constraint.
    #[serde(default)]
    pub change_window: Option<ChangeWindow>,
    /// Free searchable labels, as given.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Where the credential was seen: one entry per place (repository,
    /// file, line, commit, or a URL), merged across detectors and imports
    /// (docs/import.md, *One credential, one case*). Written only when not
    /// empty, so the digest of a case without them is what it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub occurrences: Vec<Occurrence>,
    /// The decided case this one recurs (the same credential seen again
    /// after a decision): its id. Written only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence_of: Option<String>,
    /// Where the context facts (owner, criticality, dependencies) came
    /// from and where sources disagreed; filled in when the store joins
    /// its context files (docs/import.md, *Context*). Written only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextNotes>,
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
    /// Display name (required).
    pub name: String,
    /// api_key, service_account, token, secret, certificate, oauth_app, ...
    /// Kept open: new kinds appear faster than we release.
    pub kind: String,
    /// Where the identity lives: `aws`, `gcp`, `github`, ... (required, open).
    pub provider: String,
    /// The account, project or tenant holding it.
    #[serde(default)]
    pub account: Option<String>,
    /// When the identity was created (identity age check); `None`: unknown,
    /// a checks gap.
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub created_at: Option<OffsetDateTime>,
    /// A time, `"never"`, or unknown (null/absent): see [`LastUsed`].
    #[serde(default)]
    pub last_used_at: LastUsed,
    /// What the identity may do; orders the queue within a tier and
    /// severity. `None`: unknown, a checks gap.
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub privilege: Option<Privilege>,
}

/// What detection found about the identity (`finding` in docs/format.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The finding type (JSON `type`): unused, leaked_secret,
    /// overprivileged, long_lived, reused, human_use, ... (open); maps to
    /// the OWASP NHI risk when `owasp` is absent or invalid (docs/policy.md).
    #[serde(rename = "type")]
    pub kind: String,
    /// Orders the queue within a tier (critical first, unknown last).
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub severity: Option<Level>,
    /// The detector that reported it (shown as given).
    #[serde(default)]
    pub source: Option<String>,
    /// When the detector found it.
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub detected_at: Option<OffsetDateTime>,
    /// The detector's one-line description (shown as given).
    #[serde(default)]
    pub summary: Option<String>,
    /// OWASP NHI Top 10 2025 id, e.g. `NHI1:2025`.
    #[serde(default)]
    pub owasp: Option<String>,
    /// The detector's references (finding ids, URLs), shown as given.
    #[serde(default)]
    pub refs: Vec<String>,
    /// When the credential was first seen by any detector (the earliest
    /// occurrence); written only when known.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub first_seen_at: Option<OffsetDateTime>,
    /// Whether a detector that checked the credential against its provider
    /// found it `live` or `inactive`; `None` (`unknown`, absent): nobody
    /// checked or the check failed. Written only when known.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient::option"
    )]
    pub validity: Option<Validity>,
}

/// What a detector's check of a credential against its provider said
/// (`finding.validity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    /// The provider accepted it: the secret works now.
    Live,
    /// The provider refused it (revoked, expired, deleted).
    Inactive,
}

impl Validity {
    /// The wire and display name: `live` or `inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Live => "live",
            Validity::Inactive => "inactive",
        }
    }
}

/// One place a credential was seen (`occurrences[]` in docs/format.md).
/// Every field is optional; equal occurrences are one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Occurrence {
    /// The detector that saw it (`gitleaks`, `trufflehog`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The repository (`owner/name`), bucket or host it was found in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The file path inside the repository (CODEOWNERS matches on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The 1-based line in `path`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient::option"
    )]
    pub line: Option<u32>,
    /// The commit it was found in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A link to the place (an issue, a pull request, a blob), when the
    /// detector gives one that holds no secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When it was first seen here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub first_seen_at: Option<OffsetDateTime>,
    /// When it was last seen here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub last_seen_at: Option<OffsetDateTime>,
}

impl Occurrence {
    /// The place in one line, unsanitised (untrusted: sanitise before
    /// display): `REPO PATH:LINE @COMMIT` with what is known, the commit cut
    /// to 12 characters, or the URL when none of those is known.
    pub fn place_text(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(repo) = &self.repository {
            parts.push(repo.clone());
        }
        match (&self.path, self.line) {
            (Some(path), Some(line)) => parts.push(format!("{path}:{line}")),
            (Some(path), None) => parts.push(path.clone()),
            _ => {}
        }
        if let Some(commit) = &self.commit {
            let short: String = commit.chars().take(12).collect();
            parts.push(format!("@{short}"));
        }
        if parts.is_empty()
            && let Some(url) = &self.url
        {
            parts.push(url.clone());
        }
        parts.join(" ")
    }

    /// Whether `other` is the same place (the times aside): two
    /// occurrences at one place are one, their times merged.
    pub fn same_place(&self, other: &Occurrence) -> bool {
        self.source == other.source
            && self.repository == other.repository
            && self.path == other.path
            && self.line == other.line
            && self.commit == other.commit
            && self.url == other.url
    }
}

/// Where a case's context facts came from (`context` in docs/format.md):
/// written by the store when it joins its context files with the case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextNotes {
    /// The source of each fact the join set, by field path (`owner`,
    /// `criticality`, `dependencies`), e.g. `Backstage catalog,
    /// resource:default/svc-billing (context/catalog.yaml)`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sources: std::collections::BTreeMap<String, String>,
    /// Facts two sources gave differently, and which one was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<Disagreement>,
}

/// Two sources disagree about one fact (`context.disagreements[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    /// The field, e.g. `owner.team`.
    pub field: String,
    /// The value kept, and its source.
    pub kept: String,
    /// Where the kept value came from.
    pub kept_source: String,
    /// The value not used.
    pub other: String,
    /// Where the other value came from.
    pub other_source: String,
}

/// Who owns the identity: the people to ask before acting (Q1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    /// The owning team; `None`: nobody to ask (a Q1 gap), and escalation
    /// goes to the policy's `default_escalation_team`.
    #[serde(default)]
    pub team: Option<String>,
    /// How to reach the owner (address, channel), shown as given.
    #[serde(default)]
    pub contact: Option<String>,
    /// How ownership is known (required in an `owner` object).
    pub basis: OwnerBasis,
    /// When ownership was last confirmed; Q1 is answered only when within
    /// the policy's `owner_verified_max_age_days`.
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub verified_at: Option<OffsetDateTime>,
    /// Where ownership was read: the detector, or a context source such as
    /// `Backstage catalog, resource:default/svc-billing`. Written only when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// How we know who owns the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerBasis {
    /// Recorded, not deduced: the only basis under which Q1 can be answered.
    Explicit,
    /// Deduced, not confirmed: Q1 at most partial.
    Inferred,
    /// Not known: Q1 unknown, and the team named (if any) routes nowhere.
    Unknown,
}

/// Severity and business criticality share one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Highest. As the case's or a transitive dependent's criticality it
    /// routes the case high (critical workload).
    Critical,
    /// Below critical: orders the queue, raises no routing flag.
    High,
    /// Between high and low.
    Medium,
    /// Lowest known level (unknown sorts after it).
    Low,
}

/// What the identity is allowed to do, from most to least (`identity.privilege`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Privilege {
    /// Administrative rights.
    Admin,
    /// May change data or configuration.
    Write,
    /// May only read.
    Read,
}

/// The dependency map: who uses the identity, directly or through others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependencies {
    /// When the map was last verified; `None`: never (Q1 unknown). Q1 is
    /// answered only when within the policy's `dependency_map_max_age_days`.
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

/// One workload, job or service in the dependency map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyNode {
    /// Checked and read in NFC ([`super::check_id`]).
    #[serde(deserialize_with = "super::lenient::id")]
    pub id: String,
    /// Display name, shown as given.
    #[serde(default)]
    pub name: Option<String>,
    /// What it is: job, service, pipeline, ... (open, shown as given).
    #[serde(default)]
    pub kind: Option<String>,
    /// Its business criticality; `None` on a transitive dependent is a Q2
    /// gap, `critical` routes the case high.
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub criticality: Option<Level>,
    /// Run by an outside partner; `true` on a transitive dependent routes
    /// the case high, `None` is a Q2 gap.
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub external: Option<bool>,
    /// A platform shared by many teams; `true` on a transitive dependent
    /// routes the case high, `None` is a Q2 gap.
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub shared: Option<bool>,
    /// When the node was last seen active, per the map's source; shown, not
    /// read by the policy.
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub last_seen_at: Option<OffsetDateTime>,
    /// Edges from this node to what it depends on (ids, read in NFC).
    #[serde(default, deserialize_with = "super::lenient::ids")]
    pub uses: Vec<String>,
    /// Where the node was read (a context source such as a Kubernetes
    /// manifest). Written only when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What approving the case would do to the identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedAction {
    /// What would be done (required in an `action` object).
    pub kind: ActionKind,
    /// Whether it can be undone; anything but `Some(true)` routes the case
    /// high and leaves Q3 unknown.
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub reversible: Option<bool>,
    /// Whether its effect can be checked afterwards; tier low needs `Some(true)`.
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub verifiable: Option<bool>,
    /// How to undo it (Q3); `None`: no rollback, Q3 unknown.
    #[serde(default)]
    pub rollback: Option<Rollback>,
    /// Whether the identity's users pick up a rotated credential without a
    /// restart; a `rotate` is tier low only with `Some(true)`.
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub hot_reload: Option<bool>,
}

/// The kind of change proposed for the identity (`action.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Replace the credential; tier low needs `hot_reload: true`.
    Rotate,
    /// Revoke the credential; tier low needs the identity known unused.
    Revoke,
    /// Disable the identity; tier low needs it known unused.
    Disable,
    /// Delete the identity; tier low needs it known unused.
    Delete,
    /// Narrow its permissions (`reduce_scope`); tier low needs it known
    /// unused. Evidences NIST CSF `PR.AA-05` instead of `RS.MI-02`.
    ReduceScope,
}

/// How to undo the proposed action: the facts behind Q3 (how fast to restore).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// How it is undone, in words (shown as given).
    #[serde(default)]
    pub method: Option<String>,
    /// When the rollback was last tested; Q3 is answered only when within
    /// the policy's `rollback_tested_max_age_days`.
    #[serde(
        default,
        serialize_with = "time::serde::rfc3339::option::serialize",
        deserialize_with = "super::lenient::option_time"
    )]
    pub tested_at: Option<OffsetDateTime>,
    /// How long restoring takes, in minutes; Q3 is answered only when at
    /// most the policy's `max_restore_minutes`.
    #[serde(default, deserialize_with = "super::lenient::option")]
    pub restore_minutes: Option<u32>,
}

/// An approved change window: open when `now` is in `[start, end)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeWindow {
    /// First instant of the window (inclusive).
    #[serde(
        serialize_with = "time::serde::rfc3339::serialize",
        deserialize_with = "super::lenient::time"
    )]
    pub start: OffsetDateTime,
    /// End of the window (exclusive).
    #[serde(
        serialize_with = "time::serde::rfc3339::serialize",
        deserialize_with = "super::lenient::time"
    )]
    pub end: OffsetDateTime,
}

impl ChangeWindow {
    /// Whether `now` is in `[start, end)`.
    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        self.start <= now && now < self.end
    }
}

impl Level {
    /// The wire and display name: `critical`, `high`, `medium` or `low`.
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
    /// The wire and display name: `admin`, `write` or `read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Admin => "admin",
            Privilege::Write => "write",
            Privilege::Read => "read",
        }
    }
}

impl OwnerBasis {
    /// The wire and display name: `explicit`, `inferred` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerBasis::Explicit => "explicit",
            OwnerBasis::Inferred => "inferred",
            OwnerBasis::Unknown => "unknown",
        }
    }
}

impl ActionKind {
    /// The wire and display name (snake case): `rotate`, ..., `reduce_scope`.
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
    /// The finding's severity; `None` when there is no finding or its
    /// severity is unknown.
    pub fn severity(&self) -> Option<Level> {
        self.finding.as_ref().and_then(|f| f.severity)
    }

    /// The owner team as written, whatever the owner's basis (for display
    /// and sorting; routing uses [`Case::known_owner_team`]).
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
        hex::encode(Sha256::digest(super::canonical_json_of(self)))
    }
}
