//! The store's schema and its migrations, embedded in the binary and applied
//! on open, the same on SQLite and PostgreSQL (docs/store.md, *Schema*).
//!
//! `schema_version` holds one row: the number of migrations applied. A
//! database whose version is newer than this binary knows is refused, never
//! touched: an older binary must not write what it does not understand.

use super::sql::{Param, Sql};
use crate::store::StoreError;

/// Every migration, in order; migration N brings the schema to version N.
/// Never edit one that has shipped: add a new one. `{seq}` is the evidence
/// table's key: SQLite's rowid alias (`INTEGER PRIMARY KEY`), PostgreSQL's
/// `BIGINT PRIMARY KEY`; `{clustered}` keeps a table in key order on
/// SQLite (`WITHOUT ROWID`).
const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: cases imported from case files, the versions they replaced,
/// the loader's problems, and the evidence chain (each record's exact
/// sealed line, docs/format.md).
const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    position    BIGINT NOT NULL,
    body        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    source_file TEXT,
    source_line BIGINT,
    generation  BIGINT NOT NULL
);
CREATE INDEX cases_by_position ON cases (position);
CREATE INDEX cases_by_generation ON cases (generation);
CREATE TABLE case_versions (
    sha256  TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    body    TEXT NOT NULL
);
CREATE TABLE load_problems (
    n       BIGINT PRIMARY KEY,
    file    TEXT NOT NULL,
    line    BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE evidence (
    seq             {seq},
    case_id         TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    line            TEXT NOT NULL
);
CREATE INDEX evidence_by_case ON evidence (case_id, seq);
";

/// Version 2: the queue's rows (`db::rows`): per case what the queue lists
/// and its tier with the window in which it holds, and the queue order's
/// fields (severity and privilege ranks, unknown last; `opened_at` in Unix
/// seconds) indexed so the top of the queue is read without the rest.
/// Filled for existing cases on the first open (`rows::backfill`); a
/// database without cases has them all already.
const V2: &str = "
CREATE TABLE queue_rows (
    id          TEXT PRIMARY KEY,
    parts       TEXT NOT NULL,
    tier        BIGINT,
    valid_after BIGINT,
    due_at      BIGINT,
    policy      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    clock       BIGINT NOT NULL,
    severity    BIGINT NOT NULL,
    privilege   BIGINT NOT NULL,
    opened      BIGINT NOT NULL
) {clustered};
CREATE INDEX queue_rows_by_clock ON queue_rows (clock);
CREATE INDEX queue_rows_by_risk ON queue_rows (tier DESC, severity, privilege, opened, id);
INSERT INTO meta (key, value) SELECT 'queue_rows_complete', '1'
    WHERE NOT EXISTS (SELECT 1 FROM cases);
";

/// Version 3 (issue 10): each case's `base`, the case as imported before
/// the store's context files were joined into it (`NULL`: the body is the
/// case as imported, nothing joined), so the join can be made again when
/// the context changes; the context files' signature is in `meta`.
const V3: &str = "
ALTER TABLE cases ADD COLUMN base TEXT;
";

/// Which database the statements are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL 13 or later.
    Postgres,
}

/// The schema version the database says it has (0 when it has none yet).
pub fn version(sql: &mut dyn Sql) -> Result<Option<i64>, StoreError> {
    Ok(sql
        .value(
            "reading the schema version",
            "SELECT version FROM schema_version",
            &[],
        )?
        .and_then(|v| v.int()))
}

/// Whether the database is at [`SCHEMA_VERSION`] already; refuses a newer one
/// (`describe` names the database in the message).
pub fn check_version(found: Option<i64>, describe: &str) -> Result<bool, StoreError> {
    match found {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::Setup(format!(
            "{describe} was written by a newer nhi-triage (schema version {v}; this one knows up \
             to {SCHEMA_VERSION}): it is left untouched; use that version or a newer one"
        ))),
        Some(v) => Ok(v == SCHEMA_VERSION),
        None => Ok(false),
    }
}

/// Applies the missing migrations inside the caller's write transaction
/// (so two processes opening a new store at once apply each one once).
pub fn migrate(sql: &mut dyn Sql, dialect: Dialect, describe: &str) -> Result<(), StoreError> {
    sql.exec(
        "creating schema_version",
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
        &[],
    )?;
    let current = version(sql)?;
    if check_version(current, describe)? {
        return Ok(());
    }
    let current = current.unwrap_or(0);
    let seq = match dialect {
        Dialect::Sqlite => "INTEGER PRIMARY KEY",
        Dialect::Postgres => "BIGINT PRIMARY KEY",
    };
    // Rows kept in key order (SQLite's `WITHOUT ROWID`; PostgreSQL reads
    // an index in order anyway): the queue is read in id order in one pass.
    let clustered = match dialect {
        Dialect::Sqlite => "WITHOUT ROWID",
        Dialect::Postgres => "",
    };
    for (n, text) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let what = format!("applying migration {}", n + 1);
        let text = text.replace("{seq}", seq).replace("{clustered}", clustered);
        for statement in text.split(';') {
            if !statement.trim().is_empty() {
                sql.exec(&what, statement, &[])?;
            }
        }
    }
    sql.exec(
        "writing the schema version",
        "DELETE FROM schema_version",
        &[],
    )?;
    sql.exec(
        "writing the schema version",
        "INSERT INTO schema_version (version) VALUES ($1)",
        &[Param::Int(Some(SCHEMA_VERSION))],
    )?;
    Ok(())
}
