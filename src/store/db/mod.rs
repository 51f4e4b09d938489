//! The store's database: SQLite in `STORE/store.db` (the embedded default)
//! or PostgreSQL (`--database postgres://…`, for teams), one schema and one
//! set of statements for both (docs/store.md).
//!
//! SQLite: one connection per open store, in WAL mode so readers never wait
//! for the writer, with `synchronous = FULL` so a committed transaction is
//! on disk before the commit returns; writers serialise on SQLite's write
//! lock (`BEGIN IMMEDIATE`), across processes, and a busy database is waited
//! for. PostgreSQL: a connection pool; writers serialise on one transaction
//! advisory lock (across processes and servers), and every write
//! transaction sends a `NOTIFY` that other processes' watchers hear.

pub mod cases;
pub mod chain;
pub mod findings;
pub mod postgres;
pub mod rows;
pub mod schema;
pub mod sql;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use self::schema::Dialect;
use self::sql::{Sql, Sqlite};
use super::StoreError;

/// How long a writer waits for another process's write transaction.
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// An open store database.
pub enum Db {
    /// SQLite: the database file and its connection.
    Sqlite {
        /// `STORE/store.db`.
        path: PathBuf,
        /// The connection (callers hold the store's lock around it).
        conn: Connection,
    },
    /// PostgreSQL: a pool of connections.
    Postgres(std::sync::Arc<postgres::PgDb>),
}

impl Db {
    /// Opens (creating when `create`) the SQLite database at `path` and brings
    /// its schema up to date. Errors: [`StoreError::Database`], or
    /// [`StoreError::Setup`] for a database from a newer nhi-triage.
    pub fn open_sqlite(path: &Path, create: bool) -> Result<Self, StoreError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let opening = format!("opening {}", path.display());
        let failed = |e: rusqlite::Error| StoreError::Database {
            what: opening.clone(),
            message: e.to_string(),
        };
        let conn = Connection::open_with_flags(path, flags).map_err(failed)?;
        conn.busy_timeout(BUSY_WAIT).map_err(failed)?;
        // WAL: readers never block the writer nor see half a transaction;
        // FULL: the WAL is fsynced at every commit (durable, not just atomic).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(failed)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(failed)?;
        // 16 MB of page cache (the default is 2 MB): a large import spills
        // and rewrites fewer pages, and a scan of a million cases still
        // stays within `list --json`'s memory budget.
        conn.pragma_update(None, "cache_size", -16_384)
            .map_err(failed)?;
        let mut db = Db::Sqlite {
            path: path.to_path_buf(),
            conn,
        };
        db.migrate()?;
        Ok(db)
    }

    /// Connects to the PostgreSQL database at `url` (TLS with rustls when the
    /// URL's `sslmode` asks for it) and brings its schema up to date.
    pub fn open_postgres(url: &str, ca_file: Option<&Path>) -> Result<Self, StoreError> {
        let mut db = Db::Postgres(std::sync::Arc::new(postgres::PgDb::connect(url, ca_file)?));
        db.migrate()?;
        Ok(db)
    }

    /// The database for messages: the SQLite file, or the PostgreSQL URL
    /// without its password.
    pub fn describe(&self) -> String {
        match self {
            Db::Sqlite { path, .. } => path.display().to_string(),
            Db::Postgres(pg) => pg.describe().to_string(),
        }
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite { .. } => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let describe = self.describe();
        // The usual case, read-only: opening an up-to-date store never takes
        // the write lock (a decision in progress elsewhere does not delay it).
        let found = self.read(|sql| schema::version(sql)).unwrap_or(None);
        if schema::check_version(found, &describe)? {
            return Ok(());
        }
        let dialect = self.dialect();
        self.write("migrating the schema", |sql| {
            schema::migrate(sql, dialect, &describe)
        })
    }

    /// Runs `f` on a connection, outside any write transaction.
    pub fn read<T: Send>(
        &mut self,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        match self {
            Db::Sqlite { conn, .. } => f(&mut Sqlite(conn)),
            Db::Postgres(pg) => pg.read(f),
        }
    }

    /// Runs `f` in a write transaction, the only writer of the store while it
    /// runs (across processes and servers), and commits when `f` succeeds;
    /// an error rolls everything back. Returns once the commit is durable.
    pub fn write<T: Send>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let failed = |e: &dyn std::fmt::Display| StoreError::Database {
            what: what.to_string(),
            message: e.to_string(),
        };
        match self {
            Db::Sqlite { conn, .. } => {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(|e| failed(&e))?;
                let out = f(&mut Sqlite(&tx))?;
                tx.commit().map_err(|e| failed(&e))?;
                Ok(out)
            }
            Db::Postgres(pg) => pg.write(what, f),
        }
    }
}
