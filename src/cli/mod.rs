//! The command-line edge: parses arguments, runs a command, maps errors to
//! exit codes. Everything it does goes through the library's store.

mod args;
mod commands;
mod config;
mod context;
mod output;
mod remote;
mod seen;
mod serve;
mod text;

use clap::Parser;
use nhi_triage::evidence::EvidenceError;
use nhi_triage::store::StoreError;

use args::{Cli, Command};
use output::{Out, errln};

// Exit codes: docs/cli.md, *Exit codes*, and `--help`'s after-help line.

/// Success.
pub const EXIT_OK: i32 = 0;
/// Any other error: missing store, unreadable file, unknown case id, a
/// failed write.
pub const EXIT_ERROR: i32 = 1;
/// Misuse: a bad option or value, `--now`/`--policy` with `decide`, a
/// reviewer name with hidden characters ([`UsageError`]; also clap's own).
pub const EXIT_USAGE: i32 = 2;
/// Conflict: a stale case version, a changed case digest, or (`--api`) a
/// decision on the case already waiting in the outbox.
pub const EXIT_CONFLICT: i32 = 3;
/// Refused by the policy or the lifecycle (every reason printed), or an
/// idempotency key reused for another request.
pub const EXIT_REFUSED: i32 = 4;
/// The evidence log is broken or ends with a torn write.
pub const EXIT_EVIDENCE: i32 = 5;
/// (`--api`) The server could not be reached or failed: the decision waits
/// in the local outbox, to be sent exactly once.
pub const EXIT_QUEUED: i32 = 6;

/// A misuse of the command line found after parsing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the arguments, runs the command and returns the exit code. Every
/// command writes standard output through one [`Out`], flushed here: a
/// reader that has gone (`| head -1`) ends the output, not the command
/// (module `output`).
pub fn main() -> i32 {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if let Err(why) = cli.global.apply_environment() {
        errln!("error: {why}");
        return EXIT_USAGE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return EXIT_ERROR;
        }
    };
    let mut out = Out::stdout();
    let result = runtime.block_on(run(cli, &mut out));
    let flushed = out.finish();
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            return exit_code(&e);
        }
    };
    match flushed {
        Ok(()) => code,
        Err(e) => {
            errln!("error: writing to standard output: {e}");
            EXIT_ERROR
        }
    }
}

/// clap's own messages. A bad option goes to standard error sanitised like
/// every message (it quotes what was typed); `--help` and `--version` go to
/// standard output, in colour on a terminal, else through [`Out`].
fn usage_error(e: &clap::Error) -> i32 {
    use std::io::{IsTerminal, Write};
    let text = e.render().to_string();
    if e.use_stderr() {
        errln!("{}", text.trim_end());
    } else if std::io::stdout().is_terminal() {
        // Our own text, with clap's styling; clap ignores write errors.
        let _ = e.print();
    } else {
        let mut out = Out::stdout();
        let _ = out.write_all(text.as_bytes());
        if let Err(e) = out.finish() {
            errln!("error: writing to standard output: {e}");
            return EXIT_ERROR;
        }
    }
    e.exit_code()
}

async fn run(cli: Cli, out: &mut Out) -> anyhow::Result<i32> {
    let g = &cli.global;
    match cli.command {
        None => commands::console(g).await,
        Some(Command::List { state, json }) => commands::list(g, state, json, out).await,
        Some(Command::Show { id, json }) => commands::show(g, &id, json, out).await,
        Some(Command::Decide(args)) => commands::decide(g, args, out).await,
        Some(Command::Evidence { command }) => commands::evidence(g, command, out).await,
        Some(Command::Init { .. }) if g.api.is_some() => {
            Err(UsageError("init creates a local store directory; it takes no --api".into()).into())
        }
        Some(Command::Init { dir, demo }) => commands::init(g, dir.as_deref(), demo, out),
        Some(Command::Import {
            files,
            from: Some(format),
            repository,
            json,
        }) => commands::import_findings(g, format, &files, repository, json, out),
        Some(Command::Import {
            files,
            from: None,
            json,
            ..
        }) => commands::import(g, &files, json, out),
        Some(Command::Migrate) => commands::migrate(g, out),
        Some(Command::Info { json }) => commands::info(g, json, out),
        Some(Command::Serve(args)) => serve::serve(g, args, out).await,
        Some(Command::Token { command }) => serve::token(command, out),
        Some(Command::Outbox { command }) => remote::outbox(g, command, out).await,
    }
}

fn report(e: &anyhow::Error) {
    if let Some(StoreError::Queued { waiting, reason }) = e.downcast_ref::<StoreError>() {
        errln!(
            "queued: the server could not be reached ({}).\n  The decision is saved in the local outbox \
             and NOT yet recorded; {waiting} decision(s) waiting to sync. It is sent, exactly once, by the \
             next command against this server or `nhi-triage outbox retry`.",
            nhi_triage::text::sanitize(reason)
        );
        return;
    }
    if let Some(StoreError::Refused(refusal)) = e.downcast_ref::<StoreError>() {
        errln!("refused: {} is not allowed", refusal.action);
        for reason in &refusal.reasons {
            errln!("  - {reason}");
        }
        return;
    }
    errln!("error: {e}");
    for cause in e.chain().skip(1) {
        errln!("  caused by: {cause}");
    }
    if let Some(StoreError::Unauthorized(_)) = e.downcast_ref::<StoreError>() {
        errln!(
            "  the token comes from {} or the config file's token_file; ask the server's operator for a new one \
             (`nhi-triage token add NAME`)",
            remote::TOKEN_ENV
        );
    }
}

fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<UsageError>().is_some() {
        return EXIT_USAGE;
    }
    if let Some(ev) = e.downcast_ref::<EvidenceError>() {
        return match ev {
            EvidenceError::Io { .. } | EvidenceError::Encode(_) => EXIT_ERROR,
            _ => EXIT_EVIDENCE,
        };
    }
    match e.downcast_ref::<StoreError>() {
        Some(
            StoreError::Conflict { .. } | StoreError::CaseChanged(_) | StoreError::AlreadyQueued(_),
        ) => EXIT_CONFLICT,
        Some(StoreError::Refused(_) | StoreError::IdempotencyKeyReused { .. }) => EXIT_REFUSED,
        Some(StoreError::Queued { .. }) => EXIT_QUEUED,
        Some(se) if se.is_evidence_problem() => EXIT_EVIDENCE,
        _ => EXIT_ERROR,
    }
}
