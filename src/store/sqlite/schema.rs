//! The store's schema and its migrations, embedded in the binary and applied
//! on open (docs/store.md, *Schema*).
//!
//! `schema_version` holds one row: the number of migrations applied. A
//! database whose version is newer than this binary knows is refused, never
//! touched: an older binary must not write what it does not understand.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::db_err;
use crate::store::StoreError;

/// Every migration, in order; migration N brings the schema to version N.
/// Never edit one that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[V1];

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
    position    INTEGER NOT NULL,
    body        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    source_file TEXT,
    source_line INTEGER,
    generation  INTEGER NOT NULL
);
CREATE INDEX cases_by_position ON cases (position);
CREATE INDEX cases_by_generation ON cases (generation);
CREATE TABLE case_versions (
    sha256  TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    body    TEXT NOT NULL
);
CREATE TABLE load_problems (
    n       INTEGER PRIMARY KEY,
    file    TEXT NOT NULL,
    line    INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE evidence (
    seq             INTEGER PRIMARY KEY,
    case_id         TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    line            TEXT NOT NULL
);
CREATE INDEX evidence_by_case ON evidence (case_id, seq);
";

/// Brings the database to [`SCHEMA_VERSION`] in one transaction (so two
/// processes opening a new store at once apply each migration once).
/// Errors: [`StoreError::Setup`] for a database written by a newer binary,
/// [`StoreError::Database`] when SQLite fails.
pub fn migrate(conn: &mut Connection, path: &std::path::Path) -> Result<(), StoreError> {
    // The usual case, read-only: opening an up-to-date store never takes the
    // write lock (a decision in progress elsewhere does not delay it).
    let found: Option<i64> = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .ok();
    if found == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err("starting the schema migration"))?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(db_err("creating schema_version"))?;
    let current: i64 = tx
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()
        .map_err(db_err("reading the schema version"))?
        .unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::Setup(format!(
            "{} was written by a newer nhi-triage (schema version {current}; this one knows up to \
             {SCHEMA_VERSION}): it is left untouched; use that version or a newer one",
            path.display()
        )));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)
            .map_err(db_err(&format!("applying migration {}", n + 1)))?;
    }
    if current < SCHEMA_VERSION {
        tx.execute("DELETE FROM schema_version", [])
            .map_err(db_err("writing the schema version"))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [SCHEMA_VERSION],
        )
        .map_err(db_err("writing the schema version"))?;
    }
    tx.commit()
        .map_err(db_err("committing the schema migration"))
}
