//! The embedded store's database: SQLite in `STORE/store.db` (docs/store.md).
//!
//! One connection per open store, in WAL mode so readers never wait for the
//! writer, with `synchronous = FULL` so a committed transaction is on disk
//! before the commit returns (a decision is shown as recorded only after
//! that). Writers serialise on SQLite's write lock (`BEGIN IMMEDIATE`),
//! across processes; a busy database is waited for, not failed.

pub mod cases;
pub mod chain;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// How long a writer waits for another process's write transaction.
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// An open store database.
pub struct Db {
    /// The database file (`STORE/store.db`).
    pub path: PathBuf,
    /// The connection (not shared between threads: callers hold a lock).
    pub conn: Connection,
}

impl Db {
    /// Opens (creating when `create`) the database at `path` and brings its
    /// schema up to date. Errors: [`StoreError::Database`] (SQLite),
    /// [`StoreError::Setup`] for a database from a newer nhi-triage.
    pub fn open(path: &Path, create: bool) -> Result<Self, StoreError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let opening = format!("opening {}", path.display());
        let mut conn = Connection::open_with_flags(path, flags).map_err(db_err(&opening))?;
        conn.busy_timeout(BUSY_WAIT).map_err(db_err(&opening))?;
        // WAL: readers never block the writer nor see half a transaction;
        // FULL: the WAL is fsynced at every commit (durable, not just atomic).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err(&opening))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err(&opening))?;
        schema::migrate(&mut conn, path)?;
        Ok(Db {
            path: path.to_path_buf(),
            conn,
        })
    }
}

/// Maps a SQLite error to [`StoreError::Database`], saying what was being done.
pub fn db_err(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Database {
        what: what.to_string(),
        message: e.to_string(),
    }
}
