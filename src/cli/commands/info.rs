//! `info`: the paths, store and reviewer an invocation uses, or with
//! `--api` the server, token source and outbox.

use std::io::Write;

use anyhow::Result;
use nhi_triage::output::{InfoLocal, InfoRemote, ReviewerInfo, Schema};
use nhi_triage::store::StoreLayout;
use nhi_triage::text::sanitize;

use crate::cli::EXIT_OK;
use crate::cli::args::Global;
use crate::cli::context::{paths, reviewer};
use crate::cli::output::Out;

/// `info`: the store, policy, config and log paths this invocation uses and
/// the reviewer it would record (a refused name is shown, not fatal); with
/// `--api`, the server, token source and outbox.
///
/// # Errors
/// No home directory to derive the paths from; with `--api`, an unreadable
/// config file or outbox; output errors.
pub fn info(global: &Global, as_json: bool, out: &mut Out) -> Result<i32> {
    if let Some(url) = &global.api {
        return info_remote(url, as_json, out);
    }
    let paths = paths()?;
    let store = match (&global.store, global.demo) {
        (Some(dir), _) => dir.clone(),
        (None, true) => paths.demo_store.clone(),
        (None, false) => paths.default_store.clone(),
    };
    let layout = StoreLayout::new(&store);
    let policy = global.policy.clone().unwrap_or(layout.policy_path());
    let context_dir = global.context.clone().unwrap_or(layout.context_dir());
    let database = match crate::cli::context::database_url(global)? {
        Some(url) => crate::cli::context::describe_url(&url),
        None => layout.database_path().display().to_string(),
    };
    // A bad name is reported here, not fatal: `info` is how one finds out.
    let who = reviewer(global);
    if as_json {
        out.json(&InfoLocal {
            schema: Schema::INFO,
            version: env!("CARGO_PKG_VERSION"),
            store: &store,
            cases_dir: &layout.cases_dir(),
            context_dir: &context_dir,
            evidence: &layout.database_path(),
            database: database.clone(),
            policy: &policy,
            policy_exists: policy.exists(),
            paths: &paths,
            reviewer: match who {
                Ok(r) => ReviewerInfo::Known(r),
                Err(e) => ReviewerInfo::Refused {
                    error: format!("{e:#}"),
                },
            },
        })?;
        return Ok(EXIT_OK);
    }
    writeln!(out, "nhi-triage {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(
        out,
        "store          {}{}",
        store.display(),
        if store.exists() {
            ""
        } else {
            "  (does not exist yet)"
        }
    )?;
    writeln!(out, "  cases        {}", layout.cases_dir().display())?;
    writeln!(
        out,
        "  context      {}{}",
        context_dir.display(),
        if context_dir.is_dir() {
            "  (Backstage, CODEOWNERS, owners tables, Kubernetes manifests)"
        } else {
            "  (absent: no context joined)"
        }
    )?;
    writeln!(
        out,
        "  database     {database}  (cases and the evidence chain)"
    )?;
    writeln!(
        out,
        "  policy       {}{}",
        policy.display(),
        if policy.exists() {
            ""
        } else {
            "  (absent: safe defaults)"
        }
    )?;
    writeln!(out, "data dir       {}", paths.data_dir.display())?;
    writeln!(out, "default store  {}", paths.default_store.display())?;
    writeln!(out, "demo store     {}", paths.demo_store.display())?;
    writeln!(out, "config file    {}", paths.config_file.display())?;
    writeln!(out, "log dir        {}", paths.log_dir.display())?;
    writeln!(out, "seen cases     {}", paths.seen_dir.display())?;
    match &who {
        Ok(r) => {
            writeln!(out, "reviewer       {}", sanitize(&r.to_string()))?;
            if let Some(account) = &r.os_account {
                writeln!(out, "os account     {}", sanitize(&account.to_string()))?;
            }
        }
        Err(e) => writeln!(out, "reviewer       none: {}", sanitize(&format!("{e:#}")))?,
    }
    Ok(EXIT_OK)
}

/// `info --api URL`: the server, the token's source and the outbox.
fn info_remote(url: &str, as_json: bool, out: &mut Out) -> Result<i32> {
    let paths = paths()?;
    let config = crate::cli::config::load()?;
    let token = match crate::cli::remote::token(&config) {
        Ok((_, source)) => source.to_string(),
        Err(e) => format!("none: {e}"),
    };
    let outbox = crate::cli::remote::outbox_path(url)?;
    let counts = nhi_triage::store::outbox::Outbox::new(&outbox).counts()?;
    if as_json {
        out.json(&InfoRemote {
            schema: Schema::INFO,
            version: env!("CARGO_PKG_VERSION"),
            api: url,
            token,
            outbox: &outbox,
            outbox_counts: counts,
            paths: &paths,
        })?;
        return Ok(EXIT_OK);
    }
    writeln!(out, "nhi-triage {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "api            {}", sanitize(url))?;
    writeln!(out, "token          {}", sanitize(&token))?;
    writeln!(
        out,
        "outbox         {}  ({} waiting to sync, {} refused by the server)",
        outbox.display(),
        counts.waiting,
        counts.rejected
    )?;
    writeln!(out, "config file    {}", paths.config_file.display())?;
    writeln!(out, "log dir        {}", paths.log_dir.display())?;
    Ok(EXIT_OK)
}
