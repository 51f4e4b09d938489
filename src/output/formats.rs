//! The documented machine formats (docs/cli.md, "JSON outputs"), as types.
//! The CLI prints these and nothing else on `--json`; a test compares
//! them with the examples in docs/cli.md, so the docs, the code and the
//! tests cannot drift apart.
//!
//! Every top-level object starts with `format` (`nhi-triage.<name>/<N>`)
//! and `schema_version` (`N`), from one [`Schema`]. Within a version fields
//! are only ever added.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use serde::ser::{Error as _, SerializeStruct};
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::evidence::{EvidenceRecord, VerifyReport};
use crate::model::{
    Action, Case, CaseProblem, CaseState, CaseStatus, Level, LoadProblem, Privilege, Reviewer,
    rfc3339,
};
use crate::policy::{Assessment, Status, Tier};
use crate::store::EvidenceHealth;
use crate::store::outbox::{OutboxCounts, OutboxEntry};

/// A machine format's name and version. Serialised (flattened into its
/// object) as `"format": "nhi-triage.<name>/<version>", "schema_version":
/// <version>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    /// `list`, `show`, `info`, `outbox`, `verify`.
    pub name: &'static str,
    /// Raised only when a field changes meaning or goes away.
    pub version: u32,
}

impl Schema {
    /// `list --json`.
    pub const LIST: Schema = Schema::new("list", 1);
    /// `show --json`.
    pub const SHOW: Schema = Schema::new("show", 1);
    /// `info --json` (local store or `--api`).
    pub const INFO: Schema = Schema::new("info", 1);
    /// `outbox list --json`.
    pub const OUTBOX: Schema = Schema::new("outbox", 1);
    /// `evidence verify --json`.
    pub const VERIFY: Schema = Schema::new("verify", 1);
    /// `import --json`.
    pub const IMPORT: Schema = Schema::new("import", 1);
    /// `import --from FORMAT --json`.
    pub const IMPORT_FINDINGS: Schema = Schema::new("import-findings", 1);
    /// Every schema, for tests and docs.
    pub const ALL: [Schema; 7] = [
        Schema::LIST,
        Schema::SHOW,
        Schema::INFO,
        Schema::OUTBOX,
        Schema::VERIFY,
        Schema::IMPORT,
        Schema::IMPORT_FINDINGS,
    ];

    const fn new(name: &'static str, version: u32) -> Schema {
        Schema { name, version }
    }

    /// `nhi-triage.<name>/<version>`.
    pub fn format(&self) -> String {
        format!("nhi-triage.{}/{}", self.name, self.version)
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Schema", 2)?;
        st.serialize_field("format", &self.format())?;
        st.serialize_field("schema_version", &self.version)?;
        st.end()
    }
}

/// A sequence serialised from an iterator as it is consumed, never
/// collected: `list --json` writes each case as it is built, so memory
/// does not grow with the output. Serialises once; a second attempt is an
/// error.
pub struct Streamed<I>(RefCell<Option<I>>);

impl<I> Streamed<I> {
    /// The items `iter` yields, in order.
    pub fn new(iter: I) -> Self {
        Streamed(RefCell::new(Some(iter)))
    }
}

impl<I> Serialize for Streamed<I>
where
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let iter = self
            .0
            .borrow_mut()
            .take()
            .ok_or_else(|| S::Error::custom("a streamed sequence is serialised once"))?;
        s.collect_seq(iter)
    }
}

fn ser_time<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Paths as text (lossy for bytes that are not UTF-8, rather than failing
/// the whole output as serde's `Path` does).
fn ser_path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

// ---------------------------------------------------------------------------
// list

/// `list --json`: `nhi-triage.list/1`.
#[derive(Serialize)]
#[serde(bound(serialize = "I: Iterator, I::Item: Serialize"))]
pub struct ListOutput<'a, I> {
    /// [`Schema::LIST`].
    #[serde(flatten)]
    pub schema: Schema,
    /// The time the list was evaluated at (`--now`, else the clock).
    #[serde(serialize_with = "ser_time")]
    pub now: OffsetDateTime,
    /// The store, as `Store::describe` says it.
    pub store: String,
    /// The state filter's name (`open`, `pending`, ..., `all`).
    pub filter: &'a str,
    /// Cases listed, by tier.
    pub counts: ListCounts,
    /// The cases, in queue order, written as they are built: [`ListEntry`]s
    /// (or values that serialise as one).
    pub cases: Streamed<I>,
    /// Lines of the case files that did not load (or loaded with problems).
    pub problems: Vec<FileProblem<'a>>,
    /// The evidence log's health.
    pub evidence: &'a EvidenceHealth,
}

/// How many cases `list` shows, in all and per tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ListCounts {
    /// All listed cases.
    pub total: usize,
    /// Tier high.
    pub high: usize,
    /// Tier medium.
    pub medium: usize,
    /// Tier low.
    pub low: usize,
    /// Listed cases that loaded with problems (a value read as unknown, a
    /// key the format does not have, ...).
    pub with_problems: usize,
}

impl ListCounts {
    /// Counts one case of `tier`, with or without problems.
    pub fn add(&mut self, tier: Tier, has_problems: bool) {
        self.total += 1;
        match tier {
            Tier::High => self.high += 1,
            Tier::Medium => self.medium += 1,
            Tier::Low => self.low += 1,
        }
        self.with_problems += usize::from(has_problems);
    }
}

/// One case in `list --json`.
#[derive(Debug, Serialize)]
pub struct ListEntry<'a> {
    /// The case id.
    pub id: &'a str,
    /// The case title.
    pub title: &'a str,
    /// The identity's id, name, kind and provider.
    pub identity: ListIdentity<'a>,
    /// The owner team, when the case names one.
    pub owner_team: Option<&'a str>,
    /// The finding's severity, when known.
    pub severity: Option<Level>,
    /// The identity's privilege, when known.
    pub privilege: Option<Privilege>,
    /// When the case was opened.
    #[serde(serialize_with = "ser_time")]
    pub opened_at: OffsetDateTime,
    /// The lifecycle state: `{"state": "pending"}`, ...
    pub state: &'a CaseState,
    /// A quarantine ran out without a decision.
    pub quarantine_expired: bool,
    /// The number of evidence records for the case: `--expected-version`.
    pub version: u64,
    /// Readiness tier.
    pub tier: Tier,
    /// The recommended action.
    pub recommendation: Action,
    /// Q1–Q3 statuses.
    pub q1: Status,
    /// See `q1`.
    pub q2: Status,
    /// See `q1`.
    pub q3: Status,
    /// The case's tags.
    pub tags: &'a [String],
    /// What the case file says that could not be read as a fact (the case
    /// loaded; the fact is unknown): `{path, value, message}`.
    pub problems: &'a [CaseProblem],
}

/// The identity part of a [`ListEntry`].
#[derive(Debug, Serialize)]
pub struct ListIdentity<'a> {
    /// The identity's id.
    pub id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// api_key, service_account, ...
    pub kind: &'a str,
    /// aws, gcp, github, ...
    pub provider: &'a str,
}

impl<'a> ListEntry<'a> {
    /// The entry of `case` in `status`, assessed as `tier`, `recommendation`
    /// and `q` (Q1–Q3) at `now`.
    pub fn new(
        case: &'a Case,
        status: &'a CaseStatus,
        tier: Tier,
        recommendation: Action,
        q: [Status; 3],
        now: OffsetDateTime,
    ) -> Self {
        let i = &case.identity;
        ListEntry {
            id: &case.id,
            title: &case.title,
            identity: ListIdentity {
                id: &i.id,
                name: &i.name,
                kind: &i.kind,
                provider: &i.provider,
            },
            owner_team: case.owner_team(),
            severity: case.severity(),
            privilege: i.privilege,
            opened_at: case.opened_at,
            state: &status.state,
            quarantine_expired: status.quarantine_expired(now),
            version: status.version,
            tier,
            recommendation,
            q1: q[0],
            q2: q[1],
            q3: q[2],
            tags: &case.tags,
            problems: &case.problems,
        }
    }
}

/// A case file line that did not load, or loaded with problems.
#[derive(Debug, Serialize)]
pub struct FileProblem<'a> {
    /// The case file.
    #[serde(serialize_with = "ser_path")]
    pub file: &'a Path,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    /// What is wrong.
    pub message: &'a str,
}

impl<'a> From<&'a LoadProblem> for FileProblem<'a> {
    fn from(p: &'a LoadProblem) -> Self {
        FileProblem {
            file: &p.file,
            line: p.line,
            message: &p.message,
        }
    }
}

// ---------------------------------------------------------------------------
// show

/// `show --json`: `nhi-triage.show/1`.
#[derive(Debug, Serialize)]
pub struct ShowOutput<'a> {
    /// [`Schema::SHOW`].
    #[serde(flatten)]
    pub schema: Schema,
    /// The time the case was evaluated at.
    #[serde(serialize_with = "ser_time")]
    pub now: OffsetDateTime,
    /// The case content's digest: `decide --case-sha256`.
    pub case_sha256: String,
    /// The case as in the case file format (docs/format.md).
    pub case: &'a Case,
    /// Its lifecycle status.
    pub status: &'a CaseStatus,
    /// Readiness, checks, tier, recommendation and actions.
    pub assessment: &'a Assessment,
    /// What the case file says that could not be read as a fact.
    pub problems: &'a [CaseProblem],
    /// Context facts the case lacks, each with the kind of source that
    /// would give it (docs/import.md, *Context*).
    pub missing_context: Vec<crate::context::Wanted>,
    /// For a decided case whose credential was seen again: the id of the
    /// recurrence opened for it (docs/import.md, *Re-import*); else `null`.
    pub recurred_as: Option<String>,
    /// The case's evidence records, oldest first.
    pub history: &'a [EvidenceRecord],
}

// ---------------------------------------------------------------------------
// info

/// Every path the program uses (`info`).
#[derive(Debug, Clone, Serialize)]
pub struct Paths {
    /// The XDG data directory.
    #[serde(serialize_with = "ser_path")]
    pub data_dir: PathBuf,
    /// The store used without `--store`.
    #[serde(serialize_with = "ser_path")]
    pub default_store: PathBuf,
    /// The `--demo` store.
    #[serde(serialize_with = "ser_path")]
    pub demo_store: PathBuf,
    /// `config.toml`.
    #[serde(serialize_with = "ser_path")]
    pub config_file: PathBuf,
    /// Where the console logs.
    #[serde(serialize_with = "ser_path")]
    pub log_dir: PathBuf,
    /// Case contents `show` displayed, by digest, so that a later conflict
    /// can say what changed since.
    #[serde(serialize_with = "ser_path")]
    pub seen_dir: PathBuf,
}

/// `info --json` on a local store: `nhi-triage.info/1`.
#[derive(Debug, Serialize)]
pub struct InfoLocal<'a> {
    /// [`Schema::INFO`].
    #[serde(flatten)]
    pub schema: Schema,
    /// The program's version.
    pub version: &'a str,
    /// The store directory.
    #[serde(serialize_with = "ser_path")]
    pub store: &'a Path,
    /// Its case directory.
    #[serde(serialize_with = "ser_path")]
    pub cases_dir: &'a Path,
    /// The context files joined with its cases (`STORE/context` or
    /// `--context DIR`; docs/import.md).
    #[serde(serialize_with = "ser_path")]
    pub context_dir: &'a Path,
    /// Where its evidence chain is kept: the store's database file
    /// (`STORE/store.db`; before the database, `STORE/evidence.jsonl`).
    #[serde(serialize_with = "ser_path")]
    pub evidence: &'a Path,
    /// The store's database: the SQLite file, or the PostgreSQL URL
    /// (without its password) when `--database` selects one.
    pub database: String,
    /// The policy file in use.
    #[serde(serialize_with = "ser_path")]
    pub policy: &'a Path,
    /// Whether it exists (absent: the safe defaults).
    pub policy_exists: bool,
    /// Every path the program uses.
    pub paths: &'a Paths,
    /// The reviewer decisions would be recorded under.
    pub reviewer: ReviewerInfo,
}

/// The reviewer `info` reports: who, or why the name would be refused.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ReviewerInfo {
    /// `{name, host, via, os_account}`.
    Known(Reviewer),
    /// `{"error": "..."}`.
    Refused {
        /// Why no reviewer name is usable.
        error: String,
    },
}

/// `info --json` with `--api`: `nhi-triage.info/1`.
#[derive(Debug, Serialize)]
pub struct InfoRemote<'a> {
    /// [`Schema::INFO`].
    #[serde(flatten)]
    pub schema: Schema,
    /// The program's version.
    pub version: &'a str,
    /// The server's URL.
    pub api: &'a str,
    /// Where the token comes from, or `none: why`.
    pub token: String,
    /// This server's outbox file.
    #[serde(serialize_with = "ser_path")]
    pub outbox: &'a Path,
    /// Its entries, by state.
    pub outbox_counts: OutboxCounts,
    /// Every path the program uses.
    pub paths: &'a Paths,
}

// ---------------------------------------------------------------------------
// outbox

/// `outbox list --json`: `nhi-triage.outbox/1`.
#[derive(Debug, Serialize)]
pub struct OutboxOutput<'a> {
    /// [`Schema::OUTBOX`].
    #[serde(flatten)]
    pub schema: Schema,
    /// One per outbox file shown.
    pub outboxes: Vec<OutboxFile<'a>>,
}

/// One outbox file in `outbox list --json`.
#[derive(Debug, Serialize)]
pub struct OutboxFile<'a> {
    /// The file.
    #[serde(serialize_with = "ser_path")]
    pub file: &'a Path,
    /// Its lines by state.
    pub counts: OutboxCounts,
    /// Waiting and rejected entries, oldest first.
    pub entries: Vec<&'a OutboxEntry>,
    /// Lines that are not entries, kept as they are.
    pub unreadable: Vec<UnreadableLine<'a>>,
}

/// A line of an outbox file that is not an entry.
#[derive(Debug, Serialize)]
pub struct UnreadableLine<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The line's text.
    pub text: &'a str,
}

// ---------------------------------------------------------------------------
// evidence verify

/// `evidence verify --json`: `nhi-triage.verify/1`, the report's fields
/// after the schema.
#[derive(Debug, Serialize)]
pub struct VerifyOutput<'a> {
    /// [`Schema::VERIFY`].
    #[serde(flatten)]
    pub schema: Schema,
    /// `records`, `last_seq`, `head_hash`, `first_bad`, `torn_tail`.
    #[serde(flatten)]
    pub report: &'a VerifyReport,
}

/// `import --json`: `nhi-triage.import/1`, what an import did.
#[derive(Debug, Serialize)]
pub struct ImportOutput {
    /// [`Schema::IMPORT`].
    #[serde(flatten)]
    pub schema: Schema,
    /// The files read, as given (`-` for standard input).
    pub files: Vec<String>,
    /// Case ids the store did not hold.
    pub new: usize,
    /// Cases whose content (digest) changed.
    pub updated: usize,
    /// Cases already held with the same content.
    pub unchanged: usize,
    /// Lines or files skipped and cases loaded with problems, each
    /// `FILE:LINE: MESSAGE` (docs/format.md, *Loading rules*).
    pub problems: Vec<String>,
}

/// `import --from FORMAT --json` (`nhi-triage.import-findings/1`,
/// docs/import.md, *The summary*).
#[derive(Debug, Clone, Serialize)]
pub struct FindingsImportOutput {
    /// [`Schema::IMPORT_FINDINGS`].
    #[serde(flatten)]
    pub schema: Schema,
    /// The format read (`--from`).
    pub from: String,
    /// The files read, as given (`-` for standard input).
    pub files: Vec<String>,
    /// Findings read (records that gave a finding).
    pub findings: usize,
    /// Cases they folded into (one per credential).
    pub cases: usize,
    /// Findings folded into another finding's case (`findings - cases`).
    pub grouped: usize,
    /// Cases the store did not hold.
    pub new: usize,
    /// Open cases with new facts (their digest changed).
    pub updated: usize,
    /// Cases with nothing new.
    pub unchanged: usize,
    /// New cases opened for decided cases seen again.
    pub recurrences: usize,
    /// Records not imported, each with where, which field and why.
    pub skipped: Vec<SkippedRecord>,
    /// What happened to each case, in input order.
    pub outcomes: Vec<CaseOutcome>,
}

/// One record `import --from` did not import.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedRecord {
    /// `FILE:LINE` of the record (or `FILE`).
    pub record: String,
    /// The detector's field at fault, if one.
    pub field: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// `invalid` (bad input) or `not_applicable` (nothing to decide).
    pub kind: &'static str,
}

/// What importing one case did.
#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    /// The case id written or compared.
    pub id: String,
    /// `new`, `updated`, `unchanged` or `recurrence`.
    pub outcome: &'static str,
    /// For a recurrence: the decided case it recurs.
    pub recurrence_of: Option<String>,
    /// The records it was folded from (`FILE:LINE`).
    pub records: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_heads_the_object() {
        let report = VerifyReport::empty();
        let v = serde_json::to_value(VerifyOutput {
            schema: Schema::VERIFY,
            report: &report,
        })
        .unwrap();
        assert_eq!(v["format"], "nhi-triage.verify/1");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["records"], 0);
    }

    #[test]
    fn a_stream_serialises_once() {
        let s = Streamed::new([1, 2, 3].into_iter());
        assert_eq!(serde_json::to_string(&s).unwrap(), "[1,2,3]");
        assert!(serde_json::to_string(&s).is_err());
    }
}
