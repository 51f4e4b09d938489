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
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Store directory (cases/, evidence.jsonl, policy.toml).
    #[arg(long, global = true, env = "NHI_TRIAGE_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// A remote queue: the base URL of an nhi-triage API server (token from
    /// NHI_TRIAGE_TOKEN or the config file's token_file).
    #[arg(long, global = true, env = "NHI_TRIAGE_API", value_name = "URL", conflicts_with_all = ["store", "demo"])]
    pub api: Option<String>,
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

fn parse_now(s: &str) -> Result<OffsetDateTime, String> {
    nhi_triage::model::parse_rfc3339(s)
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2026-11-27T12:00:00Z"))
}

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
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Record a decision (with a required justification).
    Decide(DecideArgs),
    /// Verify, export or repair the evidence log.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Create a store.
    Init {
        dir: PathBuf,
        /// Seed it with the demo cases.
        #[arg(long)]
        demo: bool,
    },
    /// The paths this program uses.
    Info {
        #[arg(long)]
        json: bool,
    },
    /// Serve a local store over HTTP(S) (docs/api.md).
    Serve(ServeArgs),
    /// Manage API tokens (the file holds only their SHA-256 hashes).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Decisions queued while the server was unreachable.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

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

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for NAME; prints it once.
    Add {
        name: String,
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
    },
    /// Revoke NAME's token.
    Revoke {
        name: String,
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
    },
    /// The names with a token.
    List {
        #[arg(long, value_name = "FILE")]
        tokens: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Queued and refused decisions.
    List {
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

#[derive(Debug, Args)]
pub struct DecideArgs {
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

fn parse_action(s: &str) -> Result<Action, String> {
    Action::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Check every hash and link; names the first bad seq (exit 5 if broken).
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Write the log as CSV or JSON.
    Export {
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Move a torn tail (a write cut short by a crash) to a side file.
    Repair,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}
