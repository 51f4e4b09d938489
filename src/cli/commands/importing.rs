//! `import --from FORMAT FILE…`: a detector's output into the store
//! (docs/import.md).

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use nhi_triage::import::{
    Format, Grouped, ImportOptions, Input, Parsed, SkipKind, Skipped, group, propose_action,
};
use nhi_triage::output::{CaseOutcome, FindingsImportOutput, Schema, SkippedRecord};
use nhi_triage::store::{FindingOutcome, OutcomeKind};

use crate::cli::args::Global;
use crate::cli::context::{named_file, open_local};
use crate::cli::output::{Out, errln};
use crate::cli::{EXIT_ERROR, EXIT_OK};

/// Files this large (bytes) get a progress line on a terminal.
const LARGE_FILE: u64 = 4 * 1024 * 1024;

/// `import --from FORMAT FILE…`: reads each file as `format`, folds the
/// findings by credential, proposes each case's action, and imports them
/// in one transaction; prints the summary (text or
/// `nhi-triage.import-findings/1`) and every skipped record. Exit 1 when a
/// file gave no finding and at least one bad record (truncated, another
/// format: the other files are still imported), else 0.
///
/// # Errors
/// A named file that is missing or unreadable (nothing is imported); the
/// store cannot be opened or written.
pub fn import_findings(
    global: &Global,
    format: Format,
    files: &[std::path::PathBuf],
    repository: Option<String>,
    as_json: bool,
    out: &mut Out,
) -> Result<i32> {
    let mut texts = Vec::with_capacity(files.len());
    for file in files {
        texts.push(read_input(file)?);
    }
    let store = open_local(global)?;
    let options = ImportOptions {
        fingerprints: nhi_triage::import::Fingerprinter::new(store.fingerprint_key()?),
        repository,
        now: global.now.unwrap_or_else(time::OffsetDateTime::now_utc),
    };
    let progress = std::io::stderr().is_terminal() && !as_json;
    let mut parsed = Parsed::default();
    // Files that gave nothing but errors: a truncated report, another
    // format. Exit 1 for them, after importing the rest.
    let mut unreadable: Vec<&str> = Vec::new();
    for (label, text) in &texts {
        if progress && text.len() as u64 >= LARGE_FILE {
            errln!("reading {label} ({} MB)…", text.len() / (1024 * 1024));
        }
        let one = nhi_triage::import::parse(format, &Input::new(label, text), &options);
        if one.findings.is_empty() && one.skipped.iter().any(|s| s.kind == SkipKind::Invalid) {
            unreadable.push(label);
        }
        parsed.findings.extend(one.findings);
        parsed.skipped.extend(one.skipped);
    }
    let findings = parsed.findings.len();
    let mut grouped = group(parsed.findings);
    for g in &mut grouped {
        propose_action(&mut g.case);
    }
    if progress && grouped.len() >= 10_000 {
        errln!("writing {} cases…", grouped.len());
    }
    let outcomes = store.import_findings(&grouped)?;
    let summary = summary(
        format,
        &texts,
        findings,
        &grouped,
        &outcomes,
        &parsed.skipped,
    );
    if as_json {
        out.json(&summary)?;
    } else {
        write_text(out, &summary)?;
        for s in &parsed.skipped {
            errln!("skipped: {s}");
        }
    }
    for label in &unreadable {
        errln!(
            "error: nothing imported from {}: not readable as {format} (see the skipped records)",
            nhi_triage::text::sanitize(label)
        );
    }
    Ok(if unreadable.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

/// The file's text and its label (`(stdin)` for `-`). A named file that
/// is missing, unreadable or not UTF-8 is an error naming it.
fn read_input(file: &std::path::Path) -> Result<(String, String)> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading findings from standard input (UTF-8 expected)")?;
        return Ok(("(stdin)".to_string(), text));
    }
    named_file(file)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {} (UTF-8 expected)", file.display()))?;
    Ok((file.display().to_string(), text))
}

fn summary(
    format: Format,
    texts: &[(String, String)],
    findings: usize,
    grouped: &[Grouped],
    outcomes: &[FindingOutcome],
    skipped: &[Skipped],
) -> FindingsImportOutput {
    let count = |kind: OutcomeKind| outcomes.iter().filter(|o| o.kind == kind).count();
    FindingsImportOutput {
        schema: Schema::IMPORT_FINDINGS,
        from: format.as_str().to_string(),
        files: texts.iter().map(|(label, _)| label.clone()).collect(),
        findings,
        cases: grouped.len(),
        grouped: findings.saturating_sub(grouped.len()),
        new: count(OutcomeKind::New),
        updated: count(OutcomeKind::Updated),
        unchanged: count(OutcomeKind::Unchanged),
        recurrences: count(OutcomeKind::Recurrence),
        skipped: skipped
            .iter()
            .map(|s| SkippedRecord {
                record: s.record.clone(),
                field: s.field.clone(),
                reason: s.reason.clone(),
                kind: match s.kind {
                    SkipKind::Invalid => "invalid",
                    SkipKind::NotApplicable => "not_applicable",
                },
            })
            .collect(),
        outcomes: outcomes
            .iter()
            .zip(grouped)
            .map(|(o, g)| CaseOutcome {
                id: o.case_id.clone(),
                outcome: match o.kind {
                    OutcomeKind::New => "new",
                    OutcomeKind::Updated => "updated",
                    OutcomeKind::Unchanged => "unchanged",
                    OutcomeKind::Recurrence => "recurrence",
                },
                recurrence_of: o.recurrence_of.clone(),
                records: g.records.clone(),
            })
            .collect(),
    }
}

fn write_text(out: &mut Out, s: &FindingsImportOutput) -> Result<()> {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    writeln!(
        out,
        "{}: {} from {}: {} ({} grouped with another finding of the same credential)",
        s.from,
        plural(s.findings, "finding", "findings"),
        plural(s.files.len(), "file", "files"),
        plural(s.cases, "case", "cases"),
        s.grouped
    )?;
    writeln!(
        out,
        "  {} new, {} updated, {} unchanged, {}",
        s.new,
        s.updated,
        s.unchanged,
        plural(s.recurrences, "recurrence", "recurrences")
    )?;
    for o in s.outcomes.iter().filter(|o| o.outcome == "recurrence") {
        writeln!(
            out,
            "  {} recurs {} (decided): a new case, the decided one left as it was",
            nhi_triage::text::sanitize(&o.id),
            nhi_triage::text::sanitize(o.recurrence_of.as_deref().unwrap_or("?"))
        )?;
    }
    let invalid = s.skipped.iter().filter(|r| r.kind == "invalid").count();
    let other = s.skipped.len() - invalid;
    if !s.skipped.is_empty() {
        let mut kinds = Vec::new();
        if invalid > 0 {
            kinds.push(plural(invalid, "bad record", "bad records"));
        }
        if other > 0 {
            kinds.push(format!("{other} with nothing to decide"));
        }
        writeln!(
            out,
            "  skipped {} (each named on standard error): {}",
            plural(s.skipped.len(), "record", "records"),
            kinds.join(", ")
        )?;
    }
    Ok(())
}
