//! The client side of a remote queue: `--api URL` (token, outbox, options),
//! and `nhi-triage outbox list|retry|dismiss`.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nhi_triage::model::rfc3339;
use nhi_triage::output::{OutboxFile, OutboxOutput, Schema, UnreadableLine};
use nhi_triage::store::outbox::{EntryState, Outbox, OutboxContents};
use nhi_triage::store::{FlushReport, Progress, RemoteOptions, RemoteStore, Store};
use nhi_triage::text::sanitize;

use super::args::{Global, OutboxCommand};
use super::config::{self, Config};
use super::context::paths;
use super::output::{Out, errln, stderr_raw};
use super::{EXIT_OK, EXIT_QUEUED, EXIT_REFUSED, UsageError};

/// The environment variable holding the API token.
pub const TOKEN_ENV: &str = "NHI_TRIAGE_TOKEN";
/// Overrides the request timeout (seconds) of `--api`, e.g. on slow links.
pub const TIMEOUT_ENV: &str = "NHI_TRIAGE_API_TIMEOUT";
/// Cases asked for per page (1 to 2000, the default). For tests and for
/// servers behind proxies that cap response sizes; not otherwise documented.
pub const PAGE_ENV: &str = "NHI_TRIAGE_API_PAGE";

/// Where the token comes from, for messages and `info`.
pub enum TokenSource {
    /// The `NHI_TRIAGE_TOKEN` environment variable.
    Env,
    /// The config file's `token_file`, at this path (resolved).
    File(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Env => write!(f, "{TOKEN_ENV}"),
            TokenSource::File(p) => write!(f, "token_file {}", p.display()),
        }
    }
}

/// The token: `NHI_TRIAGE_TOKEN`, else the config file's `token_file`
/// (refused when group or others can read it).
pub fn token(config: &Config) -> Result<(String, TokenSource)> {
    if let Ok(t) = std::env::var(TOKEN_ENV)
        && !t.trim().is_empty()
    {
        return Ok((t.trim().to_string(), TokenSource::Env));
    }
    let config_file = paths()?.config_file;
    let Some(file) = &config.token_file else {
        bail!(
            "no API token for --api: set {TOKEN_ENV}, or put token_file = \"PATH\" in {} \
             (a file with mode 600 holding the token `nhi-triage token add NAME` printed)",
            config_file.display()
        );
    };
    let path = resolve(file, &config_file);
    let meta = std::fs::metadata(&path).with_context(|| {
        format!(
            "token_file {} (from {})",
            path.display(),
            config_file.display()
        )
    })?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "token file {} is readable by group or others (mode {:03o}); refusing to use it. \
             Run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("token file {} is empty", path.display());
    }
    Ok((token.to_string(), TokenSource::File(path)))
}

/// `~/x` under $HOME; a relative path beside the config file.
pub fn resolve(path: &Path, config_file: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if path.is_relative()
        && let Some(dir) = config_file.parent()
    {
        return dir.join(path);
    }
    path.to_path_buf()
}

/// The outbox file of a server: `outbox-<host>_<port>.jsonl` in the data dir.
pub fn outbox_path(url: &str) -> Result<PathBuf> {
    Ok(paths()?.data_dir.join(Outbox::file_name_for(url)?))
}

fn options(config: &Config) -> Result<RemoteOptions> {
    let mut options = RemoteOptions::default();
    if let Ok(v) = std::env::var(TIMEOUT_ENV) {
        let secs: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 3600.0)
            .ok_or_else(|| {
                UsageError(format!(
                    "{TIMEOUT_ENV}={v}: expected a number of seconds, e.g. 30"
                ))
            })?;
        options.request_timeout = Duration::from_secs_f64(secs);
        options.connect_timeout = options.connect_timeout.min(options.request_timeout);
    }
    if let Ok(v) = std::env::var(PAGE_ENV) {
        options.case_page = v
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=nhi_triage::api::MAX_PAGE).contains(n))
            .ok_or_else(|| {
                UsageError(format!(
                    "{PAGE_ENV}={v}: expected a number of cases from 1 to {}",
                    nhi_triage::api::MAX_PAGE
                ))
            })?;
    }
    if let Some(ca) = &config.ca_file {
        let path = resolve(ca, &paths()?.config_file);
        options.ca_certificates_pem = Some(
            std::fs::read(&path).with_context(|| format!("reading ca_file {}", path.display()))?,
        );
    }
    Ok(options)
}

/// The remote store `--api` names, not loaded yet (nothing on the network).
pub fn open_remote(global: &Global) -> Result<RemoteStore> {
    let url = global
        .api
        .as_deref()
        .ok_or_else(|| UsageError("this needs --api URL (or NHI_TRIAGE_API)".into()))?;
    if global.policy.is_some() {
        return Err(UsageError(
            "--policy applies to a local store; with --api the server decides under its own policy"
                .into(),
        )
        .into());
    }
    let config = config::load()?;
    let (token, _) = token(&config)?;
    warn_plain_http(url);
    Ok(RemoteStore::open(
        url,
        &token,
        outbox_path(url)?,
        options(&config)?,
    )?)
}

/// A bearer token over plain HTTP is readable by anyone on the path.
fn warn_plain_http(url: &str) {
    let Ok(u) = reqwest::Url::parse(url) else {
        return;
    };
    let host = u.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if u.scheme() == "http" && !loopback {
        errln!(
            "warning: {} is plain HTTP: the token and decisions cross the network unencrypted; use https://",
            sanitize(url)
        );
    }
}

/// Opens the remote store, sends what waits in its outbox, and loads the
/// queue (a progress line on a terminal, so a slow server is never silent).
/// `stream`: return with the first page of cases, the rest arriving in the
/// background (the console); otherwise every page is in first.
pub async fn connect(global: &Global, stream: bool) -> Result<RemoteStore> {
    let store = open_remote(global)?;
    send_outbox(&store).await?;
    let label = store.describe();
    let tty = std::io::stderr().is_terminal();
    let progress = |p: &Progress| {
        if tty {
            // Our own control text, around sanitised words.
            stderr_raw(&format!(
                "\r\x1b[2K{}",
                sanitize(&format!("{}: {p}", label))
            ));
        }
    };
    let result = if stream {
        store.load_streaming(&progress).await
    } else {
        store.load(&progress).await
    };
    if tty {
        stderr_raw("\r\x1b[2K");
    }
    result.with_context(|| format!("cannot load the queue from {}", sanitize(&label)))?;
    Ok(store)
}

/// Sends the decisions waiting in the outbox, and says what happened (and
/// that refused ones wait for a person) on standard error.
pub async fn send_outbox(store: &RemoteStore) -> Result<()> {
    let counts = store.outbox().counts()?;
    if counts.waiting > 0 {
        let report = store.flush_outbox().await?;
        tell(&report);
    } else {
        remind(counts.rejected, counts.unreadable, store.outbox().path());
    }
    Ok(())
}

fn tell(report: &FlushReport) {
    for r in &report.sent {
        errln!(
            "note: queued decision sent: #{} {} {}",
            r.seq,
            r.action,
            sanitize(&r.case_id)
        );
    }
    for e in &report.rejected {
        errln!(
            "warning: queued decision {} {} refused by the server: {}",
            e.decision.action,
            sanitize(&e.decision.case_id),
            sanitize(&e.reason)
        );
    }
    if let Some(why) = &report.unreachable {
        errln!(
            "note: {} decision(s) waiting to sync: {}",
            report.counts.waiting,
            sanitize(why)
        );
    }
    remind(
        report.counts.rejected,
        report.counts.unreadable,
        Path::new(""),
    );
}

fn remind(rejected: usize, unreadable: usize, file: &Path) {
    if rejected > 0 {
        errln!(
            "warning: {rejected} queued decision(s) refused by the server — nhi-triage outbox list"
        );
    }
    if unreadable > 0 {
        errln!(
            "warning: {unreadable} unreadable line(s) in the outbox {} — nhi-triage outbox list",
            file.display()
        );
    }
}

/// `outbox list | retry | dismiss KEY` (docs/remote.md). `retry` returns
/// exit 6 when the server is still unreachable and 4 when it refused any
/// decision; those stay in the outbox.
///
/// # Errors
/// `retry` without `--api` (usage); `dismiss` of a key no outbox holds; file
/// and output errors.
pub async fn outbox(global: &Global, command: OutboxCommand, out: &mut Out) -> Result<i32> {
    match command {
        OutboxCommand::List { json } => list(global, json, out),
        OutboxCommand::Retry => retry(global, out).await,
        OutboxCommand::Dismiss { key } => dismiss(global, &key, out),
    }
}

/// The outboxes to show: the `--api` server's, else every one in the data dir.
fn outboxes(global: &Global) -> Result<Vec<Outbox>> {
    if let Some(url) = &global.api {
        return Ok(vec![Outbox::new(outbox_path(url)?)]);
    }
    let dir = paths()?.data_dir;
    let mut found = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let path = entry
                    .with_context(|| format!("reading {}", dir.display()))?
                    .path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("outbox-") && name.ends_with(".jsonl") {
                    found.push(Outbox::new(path));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    }
    found.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(found)
}

fn list(global: &Global, as_json: bool, out: &mut Out) -> Result<i32> {
    let boxes = outboxes(global)?;
    let mut all = Vec::new();
    for o in &boxes {
        all.push((o, o.read()?));
    }
    if as_json {
        out.json(&OutboxOutput {
            schema: Schema::OUTBOX,
            outboxes: all
                .iter()
                .map(|(o, c)| OutboxFile {
                    file: o.path(),
                    counts: c.counts(),
                    entries: c.entries().collect(),
                    unreadable: c
                        .unreadable()
                        .map(|(line, text)| UnreadableLine { line, text })
                        .collect(),
                })
                .collect(),
        })?;
        return Ok(EXIT_OK);
    }
    if all.iter().all(|(_, c)| c.lines.is_empty()) {
        match &global.api {
            Some(_) => writeln!(
                out,
                "the outbox is empty: every decision reached the server"
            )?,
            None => writeln!(out, "no queued decisions")?,
        }
        return Ok(EXIT_OK);
    }
    for (o, c) in &all {
        if !c.lines.is_empty() {
            out.write_all(describe(o, c).as_bytes())?;
        }
    }
    Ok(EXIT_OK)
}

fn describe(o: &Outbox, c: &OutboxContents) -> String {
    let counts = c.counts();
    let mut s = format!(
        "{}: {} waiting to sync, {} refused by the server",
        o.path().display(),
        counts.waiting,
        counts.rejected
    );
    if counts.unreadable > 0 {
        s.push_str(&format!(", {} unreadable line(s)", counts.unreadable));
    }
    s.push('\n');
    for e in c.entries() {
        let d = &e.decision;
        s.push_str(&format!(
            "  {:<8} {} {} (at version {}) queued {} by {}  key {}\n",
            match e.state {
                EntryState::Waiting => "waiting",
                EntryState::Rejected => "REFUSED",
            },
            sanitize(&d.case_id),
            d.action,
            d.expected_version,
            rfc3339(e.queued_at),
            sanitize(&e.reviewer_hint),
            sanitize(&e.idempotency_key),
        ));
        let label = match e.state {
            EntryState::Waiting => "last try",
            EntryState::Rejected => "server",
        };
        s.push_str(&format!("           {label}: {}\n", sanitize(&e.reason)));
    }
    for (line, text) in c.unreadable() {
        s.push_str(&format!(
            "  line {line} is not an outbox entry (kept as is): {}\n",
            sanitize(&text.chars().take(120).collect::<String>())
        ));
    }
    if counts.rejected > 0 {
        s.push_str(
            "  refused decisions were NOT recorded: review the case again and decide anew, then \
             `nhi-triage outbox dismiss KEY`\n",
        );
    }
    s
}

async fn retry(global: &Global, out: &mut Out) -> Result<i32> {
    if global.api.is_none() {
        return Err(UsageError(
            "outbox retry needs --api URL (or NHI_TRIAGE_API): the server to send to".into(),
        )
        .into());
    }
    let store = open_remote(global)?;
    let before = store.outbox().counts()?;
    if before.waiting == 0 {
        writeln!(out, "nothing waiting to sync")?;
        remind(before.rejected, before.unreadable, store.outbox().path());
        return Ok(EXIT_OK);
    }
    let report = store.flush_outbox().await?;
    for r in &report.sent {
        writeln!(
            out,
            "sent: #{} {} {} ({} → {})",
            r.seq,
            r.action,
            sanitize(&r.case_id),
            r.state_before.name(),
            r.state_after.name()
        )?;
    }
    for e in &report.rejected {
        writeln!(
            out,
            "REFUSED: {} {}: {}",
            e.decision.action,
            sanitize(&e.decision.case_id),
            sanitize(&e.reason)
        )?;
    }
    let after = report.counts;
    writeln!(
        out,
        "{} sent, {} refused, {} waiting to sync",
        report.sent.len(),
        report.rejected.len(),
        after.waiting
    )?;
    if let Some(why) = &report.unreachable {
        errln!("error: server unreachable: {}", sanitize(why));
        return Ok(EXIT_QUEUED);
    }
    if !report.rejected.is_empty() {
        errln!("refused decisions are kept in the outbox: nhi-triage outbox list");
        return Ok(EXIT_REFUSED);
    }
    Ok(EXIT_OK)
}

fn dismiss(global: &Global, key: &str, out: &mut Out) -> Result<i32> {
    let boxes = outboxes(global)?;
    for o in &boxes {
        if o.read()?.entries().any(|e| e.idempotency_key == key) {
            let entry = o.dismiss(key)?;
            // The entry is printed so nothing disappears without a trace.
            out.json_line(&entry)?;
            errln!(
                "dismissed {} {} from {}",
                entry.decision.action,
                sanitize(&entry.decision.case_id),
                o.path().display()
            );
            return Ok(EXIT_OK);
        }
    }
    bail!("no outbox entry with key {}", sanitize(key))
}
