//! `init`, `import` and `migrate`: creating a store, filling it with cases
//! and moving a file store's evidence log into its database.

use std::io::Write;

use anyhow::{Context, Result};
use nhi_triage::output::Schema;
use nhi_triage::store::StoreLayout;
use time::OffsetDateTime;

use crate::cli::EXIT_OK;
use crate::cli::args::Global;
use crate::cli::context::{open_local, seed_demo};
use crate::cli::output::{Out, errln};

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
    let dir = match (dir, crate::cli::context::database_url(global)?) {
        (None, Some(url)) if !demo => {
            let stored = crate::cli::context::init_database(&url)?;
            writeln!(
                out,
                "database ready: {}",
                crate::cli::context::describe_url(&url)
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
            return Err(crate::cli::UsageError(
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
    writeln!(
        out,
        "  context:  {}  (Backstage catalogs, CODEOWNERS, owners tables, Kubernetes manifests)",
        layout.context_dir().display()
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
            // A file that cannot be read is an error (exit 1), not a
            // problem to count: nothing of it was imported.
            crate::cli::context::named_file(file)?;
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
