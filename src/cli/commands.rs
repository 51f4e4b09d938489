//! The CLI commands. Each returns the process exit code on success.

use std::io::Write;

use anyhow::{Context, Result};
use nhi_triage::evidence::{to_csv, to_json};
use nhi_triage::model::{Decision, StateFilter, rfc3339};
use nhi_triage::policy::{Tier, assess, queue_order};
use nhi_triage::store::{Snapshot, Store, StoreError, StoreLayout};
use serde_json::json;
use time::OffsetDateTime;

use super::args::{DecideArgs, EvidenceCommand, ExportFormat, Global};
use super::context::{open_local, open_store, paths, reviewer, seed_demo};
use super::text::{ListRow, history_line, list_table, show_case};
use super::{EXIT_EVIDENCE, EXIT_OK, UsageError};

fn now(global: &Global) -> OffsetDateTime {
    global.now.unwrap_or_else(OffsetDateTime::now_utc)
}

/// `--policy` is what-if review: say so every time, since an "approve
/// allowed" under it may not hold under the store's policy.
fn note_what_if(global: &Global) {
    if let Some(path) = &global.policy {
        eprintln!(
            "note: what-if review under {}, not the store's policy.toml: decisions use the store's",
            path.display()
        );
    }
}

/// Load problems and evidence health go to stderr: never silent, never in
/// the way of `--json` on stdout.
fn warn_about(snapshot: &Snapshot) {
    for p in &snapshot.problems {
        eprintln!("warning: {p}");
    }
    let ev = &snapshot.evidence;
    if let Some(b) = &ev.broken {
        eprintln!(
            "warning: evidence log broken at seq {} (line {}): {}; run `nhi-triage evidence verify`",
            b.seq, b.line, b.reason
        );
    }
    if ev.torn_tail.is_some() {
        eprintln!("warning: evidence log ends with a torn write; run `nhi-triage evidence repair`");
    }
    for id in &ev.orphan_cases {
        eprintln!(
            "warning: the evidence log has decisions for case {}, which no case file holds",
            nhi_triage::text::sanitize(id)
        );
    }
}

pub async fn list(global: &Global, filter: StateFilter, as_json: bool) -> Result<i32> {
    let store = open_store(global).await?;
    let snapshot = store.snapshot().await?;
    warn_about(&snapshot);
    note_what_if(global);
    let now = now(global);
    let mut rows: Vec<ListRow<'_>> = snapshot
        .cases
        .iter()
        .filter_map(|case| {
            let status = snapshot.status(&case.id);
            filter.matches(&status, now).then(|| {
                let assessment = assess(case, &status, &snapshot.policy, now);
                ListRow {
                    case,
                    status,
                    assessment,
                }
            })
        })
        .collect();
    rows.sort_by(|a, b| queue_order((a.case, a.assessment.tier), (b.case, b.assessment.tier)));
    let count = |t: Tier| rows.iter().filter(|r| r.assessment.tier == t).count();
    if as_json {
        let cases: Vec<_> = rows.iter().map(|r| list_entry(r, now)).collect();
        let out = json!({
            "format": "nhi-triage.list/1",
            "now": rfc3339(now),
            "store": store.describe(),
            "filter": filter.name(),
            "counts": {"total": rows.len(), "low": count(Tier::Low), "medium": count(Tier::Medium), "high": count(Tier::High)},
            "cases": cases,
            "problems": snapshot.problems.iter().map(|p| json!({
                "file": p.file.display().to_string(), "line": p.line, "message": p.message
            })).collect::<Vec<_>>(),
            "evidence": snapshot.evidence,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", list_table(&rows, now));
        println!(
            "{} cases ({}): {} high, {} medium, {} low",
            rows.len(),
            filter,
            count(Tier::High),
            count(Tier::Medium),
            count(Tier::Low)
        );
    }
    Ok(EXIT_OK)
}

fn list_entry(r: &ListRow<'_>, now: OffsetDateTime) -> serde_json::Value {
    let c = r.case;
    let a = &r.assessment;
    json!({
        "id": c.id,
        "title": c.title,
        "identity": {"id": c.identity.id, "name": c.identity.name, "kind": c.identity.kind, "provider": c.identity.provider},
        "owner_team": c.owner_team(),
        "severity": c.severity(),
        "privilege": c.identity.privilege,
        "opened_at": rfc3339(c.opened_at),
        "state": r.status.state,
        "quarantine_expired": r.status.quarantine_expired(now),
        "version": r.status.version,
        "tier": a.tier,
        "recommendation": a.recommendation,
        "q1": a.q1.status,
        "q2": a.q2.status,
        "q3": a.q3.status,
        "tags": c.tags,
    })
}

pub async fn show(global: &Global, id: &str, as_json: bool) -> Result<i32> {
    let store = open_store(global).await?;
    let snapshot = store.snapshot().await?;
    warn_about(&snapshot);
    note_what_if(global);
    let now = now(global);
    let case = snapshot
        .find(id)
        .ok_or_else(|| nhi_triage::store::StoreError::NotFound(id.to_string()))?;
    let status = snapshot.status(id);
    let assessment = assess(case, &status, &snapshot.policy, now);
    let history = store.history(id).await?;
    // What the reviewer saw, for explaining a later `decide --case-sha256`.
    if let Ok(p) = paths() {
        super::seen::remember(&p.seen_dir, case);
    }
    if as_json {
        let out = json!({
            "format": "nhi-triage.show/1",
            "now": rfc3339(now),
            "case_sha256": case.content_sha256(),
            "case": case,
            "status": status,
            "assessment": assessment,
            "history": history,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", show_case(case, &status, &assessment, &history, now));
    }
    Ok(EXIT_OK)
}

pub async fn decide(global: &Global, args: DecideArgs) -> Result<i32> {
    if global.now.is_some() {
        return Err(UsageError(
            "--now cannot be used with decide: decisions are stamped with the real time".into(),
        )
        .into());
    }
    refuse_policy_override(global, "decide")?;
    let decision = |expected_version: u64| Decision {
        case_id: args.id.clone(),
        action: args.action,
        justification: args.justification.clone(),
        expected_version,
        quarantine_hours: args.hours,
        escalate_to: args.to.clone(),
        override_: args.override_,
        expected_case_sha256: args.case_sha256.clone(),
        idempotency_key: None,
    };
    let (store, decision): (std::sync::Arc<dyn Store>, Decision) = if global.api.is_some() {
        // Nothing is loaded: the server checks the decision, and one that
        // cannot be sent goes to the outbox (exit 6).
        let remote = super::remote::open_remote(global)?;
        if global.reviewer.is_some() {
            eprintln!(
                "note: --reviewer is ignored with --api: the server records the name its token maps to"
            );
        }
        super::remote::send_outbox(&remote).await?;
        // A decision that may wait in the outbox names the content it was
        // made on: sent later, it must not apply to a case rewritten since.
        let (expected_version, case_sha256) = match (args.expected_version, &args.case_sha256) {
            (Some(v), Some(sha)) => (v, sha.clone()),
            (given, _) => {
                let detail = remote.case_detail(&args.id).await.with_context(|| {
                    format!(
                        "cannot learn the current version and content of {} from the server; to \
                         queue the decision while it is unreachable, pass --expected-version V and \
                         --case-sha256 HEX (what `show` printed for the case you reviewed)",
                        nhi_triage::text::sanitize(&args.id)
                    )
                })?;
                let sha = match &args.case_sha256 {
                    Some(sha) => sha.clone(),
                    None => detail.case.content_sha256(),
                };
                (given.unwrap_or(detail.status.version), sha)
            }
        };
        let mut decision = decision(expected_version);
        decision.expected_case_sha256 = Some(case_sha256);
        (std::sync::Arc::new(remote), decision)
    } else {
        let store = open_local(global)?;
        let expected_version = match args.expected_version {
            Some(v) => v,
            None => store.snapshot().await?.status(&args.id).version,
        };
        (std::sync::Arc::new(store), decision(expected_version))
    };
    let record = match store.decide(decision, reviewer(global)?).await {
        Ok(record) => record,
        Err(StoreError::CaseChanged(mut change)) => {
            // This process never held the content the reviewer saw; `show`
            // kept it, so the conflict can still say what changed.
            if change.fields.is_empty()
                && let Ok(p) = paths()
                && let Some(seen) = super::seen::recall(&p.seen_dir, &change.seen_sha256)
                && let Ok(snapshot) = store.snapshot().await
            {
                super::seen::explain(&mut change, &seen, &snapshot, OffsetDateTime::now_utc());
            }
            return Err(StoreError::CaseChanged(change).into());
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        println!("recorded {}", history_line(&record));
        println!(
            "  case version {} → {}; hash {}",
            record.case_version,
            record.case_version + 1,
            record.hash
        );
        if global.api.is_some() {
            println!(
                "  reviewer {}: the name the server records for this token",
                nhi_triage::text::sanitize(&record.reviewer.name)
            );
        }
    }
    Ok(EXIT_OK)
}

pub async fn evidence(global: &Global, command: EvidenceCommand) -> Result<i32> {
    if let EvidenceCommand::Repair = command {
        return repair(global).await;
    }
    let store = open_store(global).await?;
    match command {
        EvidenceCommand::Verify { json } => {
            let report = store.verify().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", report.summary());
            }
            Ok(if report.is_ok() {
                EXIT_OK
            } else {
                EXIT_EVIDENCE
            })
        }
        EvidenceCommand::Export { format, output } => {
            export(store.as_ref(), format, output.as_deref()).await
        }
        EvidenceCommand::Repair => repair(global).await,
    }
}

/// Repair moves bytes of the log file aside: local stores only.
async fn repair(global: &Global) -> Result<i32> {
    let store = open_local(global)?;
    let report = store.repair_evidence()?;
    match report.side_file {
        None => println!("nothing to repair: the log ends with a complete record"),
        Some(side) => println!(
            "moved {} torn bytes to {}; every complete record is kept",
            report.moved_bytes,
            side.display()
        ),
    }
    let verify = store.verify().await?;
    println!("{}", verify.summary());
    Ok(if verify.is_ok() {
        EXIT_OK
    } else {
        EXIT_EVIDENCE
    })
}

async fn export(
    store: &dyn Store,
    format: ExportFormat,
    output: Option<&std::path::Path>,
) -> Result<i32> {
    let snapshot = store.snapshot().await?;
    let records = store.records_since(0).await?;
    let mut buf = Vec::new();
    match format {
        ExportFormat::Csv => to_csv(&records, &mut buf)?,
        ExportFormat::Json => to_json(&records, &mut buf)?,
    }
    match output {
        Some(path) => {
            std::fs::write(path, &buf).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout().write_all(&buf)?,
    }
    if !snapshot.evidence.is_ok() {
        eprintln!(
            "warning: exported the {} records before the first problem; run `nhi-triage evidence verify`",
            records.len()
        );
        return Ok(EXIT_EVIDENCE);
    }
    Ok(EXIT_OK)
}

pub fn init(dir: &std::path::Path, demo: bool) -> Result<i32> {
    if demo {
        seed_demo(dir, OffsetDateTime::now_utc())?;
    } else {
        StoreLayout::new(dir).init()?;
    }
    let layout = StoreLayout::new(dir);
    println!("created store {}", dir.display());
    println!(
        "  cases:    {}  (put *.jsonl or *.json case files here)",
        layout.cases_dir().display()
    );
    println!("  evidence: {}", layout.evidence_path().display());
    println!("  policy:   {}", layout.policy_path().display());
    Ok(EXIT_OK)
}

pub fn info(global: &Global, as_json: bool) -> Result<i32> {
    if let Some(url) = &global.api {
        return info_remote(url, as_json);
    }
    let paths = paths()?;
    let store = match (&global.store, global.demo) {
        (Some(dir), _) => dir.clone(),
        (None, true) => paths.demo_store.clone(),
        (None, false) => paths.default_store.clone(),
    };
    let layout = StoreLayout::new(&store);
    let policy = global.policy.clone().unwrap_or(layout.policy_path());
    // A bad name is reported here, not fatal: `info` is how one finds out.
    let who = reviewer(global);
    if as_json {
        let out = json!({
            "format": "nhi-triage.info/1",
            "version": env!("CARGO_PKG_VERSION"),
            "store": store, "cases_dir": layout.cases_dir(), "evidence": layout.evidence_path(),
            "policy": policy, "policy_exists": policy.exists(),
            "paths": paths,
            "reviewer": match &who {
                Ok(r) => serde_json::to_value(r)?,
                Err(e) => json!({"error": format!("{e:#}")}),
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(EXIT_OK);
    }
    println!("nhi-triage {}", env!("CARGO_PKG_VERSION"));
    println!(
        "store          {}{}",
        store.display(),
        if store.exists() {
            ""
        } else {
            "  (does not exist yet)"
        }
    );
    println!("  cases        {}", layout.cases_dir().display());
    println!("  evidence     {}", layout.evidence_path().display());
    println!(
        "  policy       {}{}",
        policy.display(),
        if policy.exists() {
            ""
        } else {
            "  (absent: safe defaults)"
        }
    );
    println!("data dir       {}", paths.data_dir.display());
    println!("default store  {}", paths.default_store.display());
    println!("demo store     {}", paths.demo_store.display());
    println!("config file    {}", paths.config_file.display());
    println!("log dir        {}", paths.log_dir.display());
    println!("seen cases     {}", paths.seen_dir.display());
    match &who {
        Ok(r) => {
            println!(
                "reviewer       {}",
                nhi_triage::text::sanitize(&r.to_string())
            );
            if let Some(account) = &r.os_account {
                println!("os account     {account}");
            }
        }
        Err(e) => println!("reviewer       none: {e:#}"),
    }
    Ok(EXIT_OK)
}

/// `info --api URL`: the server, the token's source and the outbox.
fn info_remote(url: &str, as_json: bool) -> Result<i32> {
    let paths = paths()?;
    let config = super::config::load()?;
    let token = match super::remote::token(&config) {
        Ok((_, source)) => source.to_string(),
        Err(e) => format!("none: {e}"),
    };
    let outbox = super::remote::outbox_path(url)?;
    let counts = nhi_triage::store::outbox::Outbox::new(&outbox).counts()?;
    if as_json {
        let out = json!({
            "format": "nhi-triage.info/1",
            "version": env!("CARGO_PKG_VERSION"),
            "api": url, "token": token, "outbox": outbox, "outbox_counts": counts,
            "paths": paths,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(EXIT_OK);
    }
    println!("nhi-triage {}", env!("CARGO_PKG_VERSION"));
    println!("api            {}", nhi_triage::text::sanitize(url));
    println!("token          {token}");
    println!(
        "outbox         {}  ({} waiting to sync, {} refused by the server)",
        outbox.display(),
        counts.waiting,
        counts.rejected
    );
    println!("config file    {}", paths.config_file.display());
    println!("log dir        {}", paths.log_dir.display());
    Ok(EXIT_OK)
}

/// With no command: the full-screen console on the chosen store.
pub async fn console(global: &Global) -> Result<i32> {
    use std::io::IsTerminal;
    if global.now.is_some() {
        return Err(UsageError(
            "--now is for list and show; the console runs on the real clock".into(),
        )
        .into());
    }
    refuse_policy_override(global, "the console")?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "the console needs a terminal; use `nhi-triage list` or `show` in scripts and pipes"
                .into(),
        )
        .into());
    }
    let config = super::config::load()?;
    let theme = super::config::theme(global.theme.as_deref(), &config)?;
    let _log_guard = super::config::start_logging();
    let store = super::context::open_store_streaming(global).await?;
    let options = nhi_triage::tui::Options {
        theme,
        reviewer: reviewer(global)?,
    };
    tracing::info!(store = %store.describe(), "console started");
    nhi_triage::tui::run(store, options).await?;
    Ok(EXIT_OK)
}

/// `--policy` is for what-if review: a decision under a swapped policy would
/// look like one made under the store's (same version string, looser
/// thresholds). Decisions always use the store's policy.toml.
pub fn refuse_policy_override(global: &Global, what: &str) -> Result<()> {
    if let Some(path) = &global.policy {
        return Err(UsageError(format!(
            "--policy {} cannot be used with {what}: decisions always use the store's own \
             policy.toml; --policy is for what-if review with list and show",
            path.display()
        ))
        .into());
    }
    Ok(())
}
