//! `evidence verify | export | repair`: the evidence chain's commands.

use std::io::Write;

use anyhow::{Context, Result};
use nhi_triage::evidence::{to_csv, to_json};
use nhi_triage::output::{Schema, VerifyOutput};
use nhi_triage::store::{Store, StoreLayout};

use crate::cli::args::{EvidenceCommand, ExportFormat, Global};
use crate::cli::context::{open_local, open_store};
use crate::cli::output::{Out, errln};
use crate::cli::{EXIT_EVIDENCE, EXIT_OK};

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
        // A file that is not there is an error (exit 1), never an intact
        // empty chain.
        crate::cli::context::named_file(path)?;
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
    let layout = StoreLayout::new(crate::cli::context::store_dir(global)?);
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
