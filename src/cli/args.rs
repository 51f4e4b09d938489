//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use nhi_triage::model::Action;
use time::OffsetDateTime;

#[derive(Debug, Parser)]
#[command(
    name = "nhi-triage",
    version,
    about = "Decide what to do about risky non-human identities, on the record",
    after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 conflict, 4 refused by policy or lifecycle, 5 evidence broken, 6 queued in the outbox (server unreachable)."
)]
/// The whole command line: global options, then a subcommand (none opens
/// the console).
pub struct Cli {
    /// The options every subcommand takes.
    #[command(flatten)]
    pub global: Global,
    /// The subcommand; `None` opens the console.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The options every subcommand accepts (`global = true`): where the store
/// is, who decides, and the what-if overrides.
#[derive(Debug, Args)]
pub struct Global {
    /// Store directory (store.db, cases/, policy.toml); without --store,
    /// --demo, --api or --database: $NHI_TRIAGE_STORE.
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// A remote queue: the base URL of an nhi-triage API server (token from
    /// NHI_TRIAGE_TOKEN or the config file's token_file); without --store,
    /// --demo or --api: $NHI_TRIAGE_API.
    #[arg(long, global = true, value_name = "URL", conflicts_with_all = ["store", "demo"])]
    pub api: Option<String>,
    /// A PostgreSQL store, for teams: postgres://USER[:PASSWORD]@HOST:PORT/DB
    /// (add ?sslmode=require for TLS); without --store, --demo or --api:
    /// $NHI_TRIAGE_DATABASE_URL, else the config file's database_url.
    #[arg(long, global = true, value_name = "URL", conflicts_with_all = ["store", "demo", "api"])]
    pub database: Option<String>,
    /// With a PostgreSQL store: a folder of case files (*.jsonl, *.json)
    /// imported on open and, by a running console or server, when it changes.
    #[arg(long, global = true, value_name = "DIR")]
    pub cases: Option<PathBuf>,
    /// The context files (Backstage catalogs, CODEOWNERS, owners tables,
    /// Kubernetes manifests) joined with the cases [default: STORE/context].
    #[arg(long, global = true, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Use the demo store, seeded from the bundled demo cases on first use.
    #[arg(long, global = true, conflicts_with = "store")]
    pub demo: bool,
    /// What-if review under another policy file (list, show). Decisions,
    /// the console and serve always use the store's own policy.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Reviewer name recorded in evidence [default: the config file's
    /// `reviewer`, else $USER]. No control, format or bidi characters and no
    /// surrounding spaces.
    #[arg(long, global = true, value_name = "NAME")]
    pub reviewer: Option<String>,
    /// Console colour theme: dark, light, high-contrast, mono, or a .toml file
    /// [default: the config file's `theme`, else dark; mono when NO_COLOR is set].
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Evaluate as of this time (RFC 3339), for tests and what-if review.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<OffsetDateTime>,
}

impl Global {
    /// Fills the store choice from the environment when the command line
    /// made none: `--store`, `--demo`, `--api` and `--database` given there
    /// always win over `NHI_TRIAGE_STORE`, `NHI_TRIAGE_API` and
    /// `NHI_TRIAGE_DATABASE_URL` (an exported store must not make `--demo` a
    /// conflict).
    ///
    /// # Errors
    /// More than one variable set and no choice on the command line: which
    /// store a decision goes to is never guessed.
    pub fn apply_environment(&mut self) -> Result<(), String> {
        if self.store.is_some() || self.demo || self.api.is_some() || self.database.is_some() {
            return Ok(());
        }
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let api = non_empty("NHI_TRIAGE_API");
        let store = non_empty("NHI_TRIAGE_STORE");
        let database = non_empty(DATABASE_ENV);
        if [&api, &store, &database]
            .iter()
            .filter(|v| v.is_some())
            .count()
            > 1
        {
            return Err(format!(
                "more than one of NHI_TRIAGE_API, NHI_TRIAGE_STORE and {DATABASE_ENV} is set: \
                 choose one with --api URL, --store DIR or --database URL (or unset the others)"
            ));
        }
        self.api = api.map(|v| v.to_string_lossy().into_owned());
        self.store = store.map(PathBuf::from);
        self.database = database.map(|v| v.to_string_lossy().into_owned());
        Ok(())
    }
}

/// The environment variable naming a PostgreSQL store.
pub const DATABASE_ENV: &str = "NHI_TRIAGE_DATABASE_URL";

/// `--now`: an RFC 3339 time with a zone; the error gives an example.
fn parse_now(s: &str) -> Result<OffsetDateTime, String> {
    nhi_triage::model::parse_rfc3339(s)
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2026-11-27T12:00:00Z"))
}

/// The subcommands (docs/cli.md).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The queue, highest risk first, with tier and recommendation.
    List {
        /// open (pending, quarantined, escalated), pending, quarantined,
        /// escalated, decided, approved, revoked, restored, closed or all.
        #[arg(long, default_value = "open", value_name = "S")]
        state: nhi_triage::model::StateFilter,
        /// Machine-readable output (see docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// One case: ownership, dependency tree, readiness, actions, history.
    Show {
        // The case id (surrounding whitespace ignored, NFC).
        id: String,
        // Machine-readable output (docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// Record a decision (with a required justification).
    Decide(DecideArgs),
    /// Verify, export or repair the evidence log.
    Evidence {
        /// What to do with the log.
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Create a store.
    Init {
        // The store directory to create (with --database: none; the
        // database gets the schema and the default policy).
        dir: Option<PathBuf>,
        /// Seed it with the demo cases.
        #[arg(long)]
        demo: bool,
    },
    /// Import case files (JSON lines or a JSON array) into the store:
    /// upsert by case id; a changed case gets a new content digest. With
    /// --from FORMAT: a detector's output (docs/import.md).
    Import {
        /// The files to import (`-` reads standard input).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Read a detector's output instead of case files: aws-credential-report,
        /// aws-access-analyzer, trufflehog, gitleaks, github-secret-scanning,
        /// gitguardian, ocsf, asff.
        #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
        from: Option<nhi_triage::import::Format>,
        /// With --from: the repository (OWNER/NAME) the findings were scanned
        /// from, when the format does not say (gitleaks reports do not).
        #[arg(long, value_name = "OWNER/NAME", requires = "from")]
        repository: Option<String>,
        /// Machine-readable summary.
        #[arg(long)]
        json: bool,
    },
    /// Move a file store (evidence.jsonl) into its database now, verifying
    /// the chain before and after (opening the store does the same).
    Migrate,
    /// The paths this program uses.
    Info {
        // Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Serve a local store over HTTP(S) (docs/api.md).
    Serve(ServeArgs),
    /// Manage API tokens (the file holds only their SHA-256 hashes).
    Token {
        /// Add, revoke or list.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Decisions queued while the server was unreachable.
    Outbox {
        /// List, retry or dismiss.
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

/// `serve`: where to listen, who may call, TLS and the access log (docs/api.md).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub bind: String,
    /// The tokens file (`nhi-triage token add`).
    #[arg(long, value_name = "FILE")]
    pub tokens: PathBuf,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Access log file [default: access.log in the store directory].
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
}

/// `token`: API tokens in a tokens file (names and SHA-256 hashes only).
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for NAME; prints it once.
    Add {
        // The reviewer the token names: 1 to 64 ASCII letters, digits, `.`,
        // `_`, `-` or `@`; one token per person.
        name: String,
        // The tokens file, created if missing.
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
    },
    /// Revoke NAME's token.
    Revoke {
        // The name whose token is removed.
        name: String,
        // The tokens file.
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
    },
    /// The names with a token.
    List {
        // The tokens file.
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
    },
}

/// `outbox`: decisions queued locally for an `--api` server.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Queued and refused decisions.
    List {
        // Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Send the queued decisions now, in order.
    Retry,
    /// Remove an entry the server refused, once dealt with (printed first).
    Dismiss {
        /// The entry's idempotency key (`outbox list` shows it).
        key: String,
    },
}

/// `decide`: one decision on one case (docs/cli.md).
#[derive(Debug, Args)]
pub struct DecideArgs {
    // The case id (surrounding whitespace ignored, NFC).
    pub id: String,
    /// approve, quarantine, escalate, revoke, restore or close.
    #[arg(long, value_parser = parse_action, value_name = "ACTION")]
    pub action: Action,
    /// Why: required, at least the policy's `justification_min_chars`.
    #[arg(long, value_name = "TEXT")]
    pub justification: String,
    /// Quarantine length [default: the policy's quarantine_default_hours].
    #[arg(long, value_name = "N")]
    pub hours: Option<u32>,
    /// Escalation target [default: the owner team].
    #[arg(long, value_name = "TEAM")]
    pub to: Option<String>,
    /// The case version you reviewed; a decision on a stale version is a
    /// conflict (exit 3) [default: the current version].
    #[arg(long, value_name = "V")]
    pub expected_version: Option<u64>,
    /// The case content digest you reviewed (`show` prints it as
    /// case_sha256); if the case changed since, the decision is a conflict
    /// (exit 3) naming what changed [default: decide on the case as it is].
    #[arg(long, value_name = "HEX", value_parser = parse_sha256)]
    pub case_sha256: Option<String>,
    /// Break-glass override, where the policy allows it.
    #[arg(long = "override")]
    pub override_: bool,
    /// With --api: replace the decision on this case still waiting in the
    /// outbox (without it, a second queued decision on a case is refused,
    /// exit 3).
    #[arg(long)]
    pub supersede: bool,
    // Print the evidence record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// 64 hex digits, as `show` prints them (upper case is accepted and lowered).
fn parse_sha256(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("a SHA-256 is 64 hex digits (`show` prints it as `content sha256`)".into())
    }
}

/// `--action`: one of the names of [`Action::ALL`]; the error lists them.
fn parse_action(s: &str) -> Result<Action, String> {
    Action::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// `evidence`: the hash-chained decision log (docs/format.md, *Evidence record*).
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Check every hash and link; names the first bad seq (exit 5 if broken).
    Verify {
        // Machine-readable report.
        #[arg(long)]
        json: bool,
        /// Verify this JSON-lines log (an `evidence export --format jsonl`,
        /// or a file store's evidence.jsonl) instead of the store's chain.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Write the log as JSON lines (the exact sealed records), CSV or JSON.
    Export {
        // csv or json (the default).
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Move a torn tail (a write cut short by a crash) of a file store's
    /// evidence.jsonl, not yet migrated, to a side file.
    Repair,
}

/// `evidence export --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    // RFC 4180 CSV for people and spreadsheets: cells sanitised and
    // defused against formula injection (evidence::to_csv).
    Csv,
    // A JSON array of the records, values unchanged (evidence::to_json).
    Json,
    // The chain itself: one sealed record a line, byte for byte as stored,
    // which `evidence verify --file` checks (docs/format.md).
    Jsonl,
}

fn parse_format(s: &str) -> Result<nhi_triage::import::Format, String> {
    s.parse()
}
