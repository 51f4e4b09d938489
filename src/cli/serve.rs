//! `nhi-triage serve` and `nhi-triage token`.

use std::io::Write;

use anyhow::{Context, Result, bail};
use nhi_triage::server::{self, ServerConfig, tokens};
use nhi_triage::store::LocalStore;
use nhi_triage::text::sanitize;

use super::EXIT_OK;
use super::args::{Global, ServeArgs, TokenCommand};
use super::context::open_local;
use super::output::{Out, errln, stderr_log_writer};

/// `serve`: the HTTP(S) API over a local store (docs/api.md) until SIGTERM
/// or SIGINT, then exit 0. Prints `listening on http(s)://ADDR` on standard
/// output once bound; logs go to standard error (`NHI_TRIAGE_LOG` filters).
///
/// # Errors
/// `--api`, `--policy` or `--now` given; the store, the tokens file, the TLS files
/// or the address unusable.
pub async fn serve(global: &Global, args: ServeArgs, out: &mut Out) -> Result<i32> {
    if global.api.is_some() {
        bail!("serve serves a local store: use --store DIR (or --demo), not --api");
    }
    if global.now.is_some() {
        return Err(super::UsageError(
            "--now is for list and show; serve decides on the real clock".into(),
        )
        .into());
    }
    // The server logs to standard error, sanitised like every message (so
    // without colour codes); the access log goes to its file.
    let _ = tracing_subscriber::fmt()
        .with_writer(stderr_log_writer)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NHI_TRIAGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    super::commands::refuse_policy_override(global, "serve")?;
    let store: LocalStore = open_local(global)?;
    // Beside the store directory's database; for a PostgreSQL store, in
    // this machine's log directory (each server keeps its own).
    let access_log = match (args.access_log, store.layout()) {
        (Some(path), _) => path,
        (None, Some(layout)) => layout.root.join("access.log"),
        (None, None) => {
            let dir = super::context::paths()?.log_dir;
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.join("access.log")
        }
    };
    let config = ServerConfig {
        bind: args.bind,
        tokens: args.tokens,
        tls: args.tls_cert.zip(args.tls_key),
        access_log,
    };
    let stopped = server::run(
        store,
        config,
        |addr, tls| {
            // Tests and scripts read this line to find the port. A reader
            // that has gone by then (`serve | head -1`) does not stop the
            // server: the line is all it writes there.
            let _ = writeln!(
                out,
                "listening on {}://{addr}",
                if tls { "https" } else { "http" }
            );
            let _ = out.flush();
        },
        shutdown_signal(),
    )
    .await?;
    errln!("{stopped}");
    Ok(EXIT_OK)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, serve until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// `token add | revoke | list` on a tokens file. `add` prints the new token
/// once on standard output (the file keeps only its SHA-256).
///
/// # Errors
/// A name refused or already holding a token (or another spelling of one
/// holding one); revoking a name without a token; file errors.
pub fn token(command: TokenCommand, out: &mut Out) -> Result<i32> {
    match command {
        TokenCommand::Add { name, tokens: path } => {
            let token = tokens::add(&path, &name)
                .with_context(|| format!("adding a token for {}", sanitize(&name)))?;
            writeln!(out, "{token}")?;
            let name = sanitize(&name);
            errln!(
                "token for {name} created; it is shown only now. Its SHA-256 is in {}.\n\
                 Give it to {name} to use as NHI_TRIAGE_TOKEN (or a token_file with mode 600).",
                path.display()
            );
        }
        TokenCommand::Revoke { name, tokens: path } => {
            tokens::revoke(&path, &name)?;
            writeln!(
                out,
                "revoked {}: a running server refuses the token from its next request",
                sanitize(&name)
            )?;
        }
        TokenCommand::List { tokens: path } => {
            for name in tokens::list(&path)? {
                writeln!(out, "{}", sanitize(&name))?;
            }
        }
    }
    Ok(EXIT_OK)
}
