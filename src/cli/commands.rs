//! The CLI commands. Each returns the process exit code on success.

use std::io::Write;

use anyhow::{Context, Result};
use nhi_triage::evidence::{to_csv, to_json};
use nhi_triage::model::{Decision, StateFilter};
use nhi_triage::output::{
    FileProblem, InfoLocal, InfoRemote, ListCounts, ListEntry, ListOutput, ReviewerInfo, Schema,
    ShowOutput, Streamed, VerifyOutput,
};
use nhi_triage::policy::{assess, queue_order};
use nhi_triage::store::{Snapshot, Store, StoreError, StoreLayout};
use nhi_triage::text::sanitize;
use time::OffsetDateTime;

use super::args::{DecideArgs, EvidenceCommand, ExportFormat, Global};
use super::context::{open_local, open_store, paths, reviewer, seed_demo};
use super::output::{Out, errln};
use super::text::{ListRow, history_line, list_table, show_case};
use super::{EXIT_EVIDENCE, EXIT_OK, UsageError};

fn now(global: &Global) -> OffsetDateTime {
    global.now.unwrap_or_else(OffsetDateTime::now_utc)
}

/// `--policy` is what-if review: say so every time, since an "approve
/// allowed" under it may not hold under the store's policy.
fn note_what_if(global: &Global) {
    if let Some(path) = &global.policy {
        errln!(
            "note: what-if review under {}, not the store's policy.toml: decisions use the store's",
            path.display()
        );
    }
}

/// Load problems and evidence health go to stderr: never silent, never in
/// the way of `--json` on stdout.
fn warn_about(snapshot: &Snapshot) {
    warn(&snapshot.problems, &snapshot.evidence);
}

fn warn(problems: &[nhi_triage::model::LoadProblem], ev: &nhi_triage::store::EvidenceHealth) {
    for p in problems {
        errln!("warning: {p}");
    }
    if let Some(b) = &ev.broken {
        errln!(
            "warning: evidence log broken at seq {} (line {}): {}; run `nhi-triage evidence verify`",
            b.seq,
            b.line,
            b.reason
        );
    }
    if ev.torn_tail.is_some() {
        errln!("warning: evidence log ends with a torn write; run `nhi-triage evidence repair`");
    }
    for id in &ev.orphan_cases {
        errln!(
            "warning: the evidence log has decisions for case {}, which no case file holds",
            sanitize(id)
        );
    }
}

/// `list`: the queue in queue order. `--json` streams the cases (each
/// entry is built as it is written), so memory does not grow with the
/// output; both forms stop early when the reader has gone.
pub async fn list(
    global: &Global,
    filter: StateFilter,
    as_json: bool,
    out: &mut Out,
) -> Result<i32> {
    if as_json && global.api.is_none() {
        return list_streaming(global, filter, out);
    }
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
                ListRow::new(case, status, &assessment)
            })
        })
        .collect();
    rows.sort_by(|a, b| queue_order((a.case, a.tier), (b.case, b.tier)));
    let mut counts = ListCounts::default();
    for r in &rows {
        counts.add(r.tier, !r.case.problems.is_empty());
    }
    if as_json {
        let cases = rows
            .iter()
            .take_while(|_| !super::output::stdout_closed())
            .map(|r| ListEntry::new(r.case, &r.status, r.tier, r.recommendation, r.q, now));
        out.json(&ListOutput {
            schema: Schema::LIST,
            now,
            store: store.describe(),
            filter: filter.name(),
            counts,
            cases: Streamed::new(cases),
            problems: snapshot.problems.iter().map(FileProblem::from).collect(),
            evidence: &snapshot.evidence,
        })?;
    } else {
        list_table(out, &rows, now)?;
        write!(
            out,
            "{} cases ({}): {} high, {} medium, {} low",
            counts.total, filter, counts.high, counts.medium, counts.low
        )?;
        match counts.with_problems {
            0 => writeln!(out)?,
            n => writeln!(
                out,
                "; {n} loaded with input problems (column !; `show ID` lists them)"
            )?,
        }
    }
    Ok(EXIT_OK)
}

/// `list --json` on a local store, streamed: a first pass over the cases
/// (each parsed, assessed and dropped) keeps only each listed case's
/// [`QueueKey`] and the counts; the keys are sorted; a second pass reads the
/// cases again one by one in queue order and writes each entry as it goes.
/// Memory holds the keys (tens of bytes a case), never the cases; both
/// passes see one state of the chain. The output is `list --json`'s, the
/// same as the in-memory path gives.
fn list_streaming(global: &Global, filter: StateFilter, out: &mut Out) -> Result<i32> {
    use nhi_triage::policy::QueueKey;
    let store = open_local(global)?;
    note_what_if(global);
    let now = now(global);
    let policy = store.policy().clone();
    let mut keys: Vec<QueueKey> = Vec::new();
    let mut counts = ListCounts::default();
    let skipped = store.scan_blocking(&mut |case, status| {
        if filter.matches(status, now) {
            let tier = assess(&case, status, &policy, now).tier;
            counts.add(tier, !case.problems.is_empty());
            keys.push(QueueKey::new(&case, tier));
        }
        Ok(())
    })?;
    keys.sort_unstable();
    let (problems, evidence) = store.health_blocking()?;
    warn(&problems, &evidence);
    if skipped > 0 {
        errln!("warning: {skipped} stored case(s) could not be read and are not listed");
    }
    let mut failed = None;
    let entries = keys
        .iter()
        .take_while(|_| !super::output::stdout_closed())
        .map_while(|key| match store.case_blocking(&key.id) {
            Ok(found) => found.map(|(case, status)| {
                let a = assess(&case, &status, &policy, now);
                OwnedEntry {
                    q: [a.q1.status, a.q2.status, a.q3.status],
                    tier: a.tier,
                    recommendation: a.recommendation,
                    case,
                    status,
                    now,
                }
            }),
            Err(e) => {
                failed = Some(e);
                None
            }
        });
    out.json(&ListOutput {
        schema: Schema::LIST,
        now,
        store: store.describe(),
        filter: filter.name(),
        counts,
        cases: Streamed::new(entries),
        problems: problems.iter().map(FileProblem::from).collect(),
        evidence: &evidence,
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(EXIT_OK)
}

/// A `list --json` entry that owns its case (the streamed path holds one
/// case at a time).
struct OwnedEntry {
    case: nhi_triage::model::Case,
    status: nhi_triage::model::CaseStatus,
    tier: nhi_triage::policy::Tier,
    recommendation: nhi_triage::model::Action,
    q: [nhi_triage::policy::Status; 3],
    now: OffsetDateTime,
}

impl serde::Serialize for OwnedEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ListEntry::new(
            &self.case,
            &self.status,
            self.tier,
            self.recommendation,
            self.q,
            self.now,
        )
        .serialize(s)
    }
}

/// `show ID`: one case with its readiness, actions and history, as text or
/// `--json` (docs/cli.md); remembers the content shown, to explain a later
/// `decide --case-sha256` conflict.
///
/// # Errors
/// An unknown id (`StoreError::NotFound`, exit 1), store and output errors.
pub async fn show(global: &Global, id: &str, as_json: bool, out: &mut Out) -> Result<i32> {
    let store = open_store(global).await?;
    // Just this case: never every case of the store.
    let found = store.lookup(id).await?;
    warn(&found.problems, &found.evidence);
    note_what_if(global);
    let now = now(global);
    let case = found
        .case
        .as_ref()
        .ok_or_else(|| nhi_triage::store::StoreError::NotFound(id.to_string()))?;
    let status = found.status;
    let assessment = assess(case, &status, &found.policy, now);
    let history = store.history(id).await?;
    // Computed once: on a huge case the digest is most of `show`'s time.
    let case_sha256 = case.content_sha256();
    // What the reviewer saw, for explaining a later `decide --case-sha256`.
    if let Ok(p) = paths() {
        super::seen::remember(&p.seen_dir, case, &case_sha256);
    }
    if as_json {
        out.json(&ShowOutput {
            schema: Schema::SHOW,
            now,
            case_sha256: case_sha256.clone(),
            case,
            status: &status,
            assessment: &assessment,
            problems: &case.problems,
            history: &history,
        })?;
    } else {
        let text = show_case(case, &case_sha256, &status, &assessment, &history, now);
        out.write_all(text.as_bytes())?;
    }
    Ok(EXIT_OK)
}

/// `decide`: records the decision; the result is printed only once the
/// record is durable (a reader gone by then changes nothing: exit 0).
pub async fn decide(global: &Global, args: DecideArgs, out: &mut Out) -> Result<i32> {
    if global.now.is_some() {
        return Err(UsageError(
            "--now cannot be used with decide: decisions are stamped with the real time".into(),
        )
        .into());
    }
    refuse_policy_override(global, "decide")?;
    let decision = |expected_version: u64| Decision {
        case_id: nhi_triage::model::case_id_key(&args.id).into_owned(),
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
            errln!(
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
                        sanitize(&args.id)
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
            None => store.status_blocking(&args.id)?.version,
        };
        (std::sync::Arc::new(store), decision(expected_version))
    };
    if args.supersede && global.api.is_none() {
        return Err(UsageError(
            "--supersede replaces a decision queued in the outbox of --api URL; a local store \
             has no outbox"
                .into(),
        )
        .into());
    }
    let decided = if args.supersede {
        store.decide_superseding(decision, reviewer(global)?).await
    } else {
        store.decide(decision, reviewer(global)?).await
    };
    let record = match decided {
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
        out.json(&record)?;
    } else {
        writeln!(out, "recorded {}", history_line(&record))?;
        writeln!(
            out,
            "  case version {} → {}; hash {}",
            record.case_version,
            record.case_version + 1,
            record.hash
        )?;
        if global.api.is_some() {
            writeln!(
                out,
                "  reviewer {}: the name the server records for this token",
                sanitize(&record.reviewer.name)
            )?;
        }
    }
    Ok(EXIT_OK)
}

/// `evidence verify | export | repair`. Returns exit 5 when the log is
/// still broken or torn afterwards (an export then holds the records
/// before the first problem).
///
/// # Errors
/// Store and output errors; `repair` with `--api` is a usage error (local
/// stores only).
pub async fn evidence(global: &Global, command: EvidenceCommand, out: &mut Out) -> Result<i32> {
    if let EvidenceCommand::Repair = command {
        return repair(global, out).await;
    }
    if let EvidenceCommand::Verify {
        json,
        file: Some(path),
    } = &command
    {
        let report = nhi_triage::evidence::EvidenceLog::new(path).verify()?;
        return print_verify(&report, *json, out);
    }
    let store = open_store(global).await?;
    match command {
        EvidenceCommand::Verify { json, .. } => {
            let report = store.verify().await?;
            print_verify(&report, json, out)
        }
        EvidenceCommand::Export { format, output } => {
            export(store.as_ref(), format, output.as_deref(), out).await
        }
        EvidenceCommand::Repair => repair(global, out).await,
    }
}

fn print_verify(
    report: &nhi_triage::evidence::VerifyReport,
    json: bool,
    out: &mut Out,
) -> Result<i32> {
    {
        {
            if json {
                out.json(&VerifyOutput {
                    schema: Schema::VERIFY,
                    report,
                })?;
            } else {
                writeln!(out, "{}", report.summary())?;
            }
            Ok(if report.is_ok() {
                EXIT_OK
            } else {
                EXIT_EVIDENCE
            })
        }
    }
}

/// Repair moves bytes of the log file aside: local stores only.
async fn repair(global: &Global, out: &mut Out) -> Result<i32> {
    let layout = StoreLayout::new(super::context::store_dir(global)?);
    if global.api.is_some() {
        open_local(global)?; // the usage error for --api
    }
    let report = layout.repair_file_log()?;
    match report.and_then(|r| r.side_file.map(|side| (r.moved_bytes, side))) {
        None => writeln!(
            out,
            "nothing to repair: no torn write (the store's database commits a record whole or not at all)"
        )?,
        Some((moved_bytes, side)) => writeln!(
            out,
            "moved {} torn bytes to {}; every complete record is kept",
            moved_bytes,
            side.display()
        )?,
    }
    let store = open_local(global)?;
    let verify = store.verify().await?;
    writeln!(out, "{}", verify.summary())?;
    Ok(if verify.is_ok() {
        EXIT_OK
    } else {
        EXIT_EVIDENCE
    })
}

/// `evidence export`: to `output` (written whole), else to standard output.
async fn export(
    store: &dyn Store,
    format: ExportFormat,
    output: Option<&std::path::Path>,
    out: &mut Out,
) -> Result<i32> {
    let snapshot = store.snapshot().await?;
    let records = store.records_since(0).await?;
    let lines = match format {
        ExportFormat::Jsonl => store.evidence_lines().await?,
        _ => Vec::new(),
    };
    let write = |w: &mut dyn Write| -> std::io::Result<()> {
        match format {
            ExportFormat::Csv => to_csv(&records, w),
            ExportFormat::Json => to_json(&records, w),
            ExportFormat::Jsonl => w.write_all(&lines),
        }
    };
    match output {
        Some(path) => {
            let mut buf = Vec::new();
            write(&mut buf)?;
            nhi_triage::fsutil::write_output(path, &buf)
                .with_context(|| format!("writing {}", path.display()))?
        }
        None => write(out)?,
    }
    if !snapshot.evidence.is_ok() {
        errln!(
            "warning: exported the {} records before the first problem; run `nhi-triage evidence verify`",
            records.len()
        );
        return Ok(EXIT_EVIDENCE);
    }
    Ok(EXIT_OK)
}

/// `init DIR [--demo]`: creates a store (cases directory and a default
/// `policy.toml`), or the demo store, and prints its paths.
///
/// # Errors
/// `DIR` already holds a store; file system errors.
pub fn init(
    global: &Global,
    dir: Option<&std::path::Path>,
    demo: bool,
    out: &mut Out,
) -> Result<i32> {
    let dir = match (dir, super::context::database_url(global)?) {
        (None, Some(url)) if !demo => {
            let stored = super::context::init_database(&url)?;
            writeln!(
                out,
                "database ready: {}",
                super::context::describe_url(&url)
            )?;
            writeln!(
                out,
                "  policy: {}",
                if stored {
                    "the defaults, stored in the database (docs/policy.md)"
                } else {
                    "already stored; left as it was"
                }
            )?;
            return Ok(EXIT_OK);
        }
        (Some(dir), _) => dir,
        (None, _) => {
            return Err(super::UsageError(
                "init needs a DIR to create (or --database URL, without --demo)".into(),
            )
            .into());
        }
    };
    if demo {
        seed_demo(dir, OffsetDateTime::now_utc())?;
    } else {
        StoreLayout::new(dir).init()?;
    }
    let layout = StoreLayout::new(dir);
    writeln!(out, "created store {}", dir.display())?;
    writeln!(
        out,
        "  cases:    {}  (put *.jsonl or *.json case files here)",
        layout.cases_dir().display()
    )?;
    writeln!(
        out,
        "  database: {}  (cases and the evidence chain)",
        layout.database_path().display()
    )?;
    writeln!(out, "  policy:   {}", layout.policy_path().display())?;
    Ok(EXIT_OK)
}

/// `import FILE…`: reads the case files (`-`: standard input; a JSON array
/// when it starts with `[`, else JSON lines) with the loader's rules and
/// upserts the cases by id; prints what changed and every problem (a bad
/// line is skipped and named, the rest imported).
///
/// # Errors
/// The store cannot be opened or written; output errors.
pub fn import(
    global: &Global,
    files: &[std::path::PathBuf],
    as_json: bool,
    out: &mut Out,
) -> Result<i32> {
    use nhi_triage::model::{LoadReport, load_file, parse_json_array, parse_jsonl};
    let mut report = LoadReport::default();
    for file in files {
        if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("reading case files from standard input")?;
            let label = std::path::Path::new("(stdin)");
            if text.trim_start().starts_with('[') {
                parse_json_array(label, &text, &mut report);
            } else {
                parse_jsonl(label, &text, &mut report);
            }
        } else {
            load_file(file, &mut report);
        }
    }
    let store = open_local(global)?;
    let counts = store.import(&report)?;
    let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    if as_json {
        out.json(&nhi_triage::output::ImportOutput {
            schema: Schema::IMPORT,
            files: files.iter().map(|f| f.display().to_string()).collect(),
            new: counts.new,
            updated: counts.updated,
            unchanged: counts.unchanged,
            problems,
        })?;
    } else {
        writeln!(
            out,
            "imported {} case(s): {} new, {} updated, {} unchanged; {} problem(s)",
            report.cases.len(),
            counts.new,
            counts.updated,
            counts.unchanged,
            problems.len()
        )?;
        for p in &problems {
            errln!("warning: {p}");
        }
    }
    Ok(EXIT_OK)
}

/// `migrate`: opens the store, which moves a file store's evidence log into
/// its database (verified before and after), and says what it did.
///
/// # Errors
/// The store cannot be opened, or the file log fails verification (exit 5).
pub fn migrate(global: &Global, out: &mut Out) -> Result<i32> {
    let store = open_local(global)?;
    match store.migration() {
        Some(m) => writeln!(
            out,
            "migrated {} records into {} (head {}); the old log is kept as {}",
            m.records,
            store.database(),
            m.head_hash,
            m.kept_as.display()
        )?,
        None => writeln!(
            out,
            "nothing to migrate: {} holds the store",
            store.database()
        )?,
    }
    Ok(EXIT_OK)
}

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
    let database = match super::context::database_url(global)? {
        Some(url) => super::context::describe_url(&url),
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
    let config = super::config::load()?;
    let token = match super::remote::token(&config) {
        Ok((_, source)) => source.to_string(),
        Err(e) => format!("none: {e}"),
    };
    let outbox = super::remote::outbox_path(url)?;
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

/// With no command: the full-screen console on the chosen store.
pub async fn console(global: &Global) -> Result<i32> {
    if global.now.is_some() {
        return Err(UsageError(
            "--now is for list and show; the console runs on the real clock".into(),
        )
        .into());
    }
    refuse_policy_override(global, "the console")?;
    if let Some(why) = nhi_triage::tui::unusable() {
        return Err(UsageError(why).into());
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
    let ended = nhi_triage::tui::run(store, options).await?;
    Ok(ended.exit_code())
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
