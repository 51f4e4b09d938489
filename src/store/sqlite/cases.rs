//! Cases in the database: imported (upserted by case id) from case files,
//! read back whole or one at a time.
//!
//! Case files stay the simple way in: `STORE/cases/*.jsonl|*.json` are
//! imported on open and whenever the folder changes. The folder is loaded
//! as a whole by the same loader as before ([`load_dir`]: duplicate ids,
//! problems, lenient values), so what a file says means the same thing; a
//! case whose content changed gets a new digest and its old content is kept
//! in `case_versions` (to name what changed in a conflict). Case content is
//! never deleted: a case whose file in the folder no longer holds it leaves the
//! queue (its content kept in `case_versions`, its records in the chain).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{Db, db_err};
use crate::model::{Case, LoadProblem, LoadReport, has_case_extension, load_dir, load_file};
use crate::store::StoreError;

/// What an import did, by case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Case ids the store did not hold.
    pub new: usize,
    /// Cases whose content (digest) changed.
    pub updated: usize,
    /// Cases already held with the same content.
    pub unchanged: usize,
}

impl ImportCounts {
    /// Whether any case was added or changed.
    pub fn changed(&self) -> bool {
        self.new + self.updated > 0
    }
}

const DIR_SIGNATURE: &str = "cases_dir_signature";
const GENERATION: &str = "cases_generation";

/// A digest of the case folder's listing: name, size, modification and
/// change times and inode of every case file. Equal digests mean nothing
/// was created, written, renamed or deleted (two writes within one
/// timestamp tick can still look equal: deciding re-reads the case's own
/// file, see [`source_of`]).
pub fn dir_signature(dir: &Path) -> Result<String, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StoreError::Io {
        context: format!("listing {}", dir.display()),
        source,
    })?;
    let mut files: Vec<(PathBuf, [i64; 7])> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| has_case_extension(p))
        .filter_map(|p| {
            // A FIFO or device is never read, so it has no signature either.
            let m = std::fs::metadata(&p).ok().filter(|m| m.is_file())?;
            let sig = [
                m.len() as i64,
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
                m.ino() as i64,
                m.dev() as i64,
            ];
            Some((p, sig))
        })
        .collect();
    files.sort();
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, sig) in &files {
        h.update(path.as_os_str().as_encoded_bytes());
        h.update([0]);
        for n in sig {
            h.update(n.to_le_bytes());
        }
    }
    Ok(format!("{}:{}", files.len(), hex::encode(h.finalize())))
}

/// Imports the case folder when its listing changed since the last import
/// (or always, with `force`). Returns whether any case was added or changed.
/// The folder is parsed outside the write lock; the write is one transaction.
pub fn sync_dir(db: &mut Db, dir: &Path, force: bool) -> Result<bool, StoreError> {
    let signature = dir_signature(dir)?;
    if !force && meta(&db.conn, DIR_SIGNATURE)?.as_deref() == Some(signature.as_str()) {
        return Ok(false);
    }
    let report = load_dir(dir)?;
    let tx = db
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err("importing the case folder"))?;
    // Another process may have imported the same listing meanwhile.
    if !force && meta(&tx, DIR_SIGNATURE)?.as_deref() == Some(signature.as_str()) {
        return Ok(false);
    }
    let counts = upsert(&tx, &report)?;
    let withdrawn = withdraw_missing(&tx, dir, &report)?;
    replace_problems(&tx, &report.problems)?;
    set_meta(&tx, DIR_SIGNATURE, &signature)?;
    tx.commit().map_err(db_err("committing the case import"))?;
    Ok(counts.changed() || withdrawn > 0)
}

/// Takes out of the queue the cases that came from the case folder and that
/// no file in it holds any more (the pipeline removed or rewrote the file
/// without them), as the folder itself would show. Their content stays in
/// `case_versions` and their records in the chain (shown as orphans); cases
/// imported with `nhi-triage import FILE` are not touched. Returns how many.
fn withdraw_missing(
    tx: &Transaction<'_>,
    dir: &Path,
    report: &LoadReport,
) -> Result<usize, StoreError> {
    let what = "withdrawing cases whose files are gone";
    let held: std::collections::HashSet<&str> =
        report.cases.iter().map(|c| c.id.as_str()).collect();
    let prefix = format!("{}/", dir.to_string_lossy());
    let gone: Vec<String> = {
        let mut stmt = tx
            .prepare_cached("SELECT id, source_file FROM cases WHERE source_file IS NOT NULL")
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err(what))?;
        let mut gone = Vec::new();
        for row in rows {
            let (id, file) = row.map_err(db_err(what))?;
            if file.starts_with(&prefix) && !held.contains(id.as_str()) {
                gone.push(id);
            }
        }
        gone
    };
    for id in &gone {
        tx.execute(
            "INSERT OR IGNORE INTO case_versions (sha256, case_id, body) \
             SELECT sha256, id, body FROM cases WHERE id = ?1",
            [id],
        )
        .map_err(db_err(what))?;
        tx.execute("DELETE FROM cases WHERE id = ?1", [id])
            .map_err(db_err(what))?;
    }
    if !gone.is_empty() {
        let generation = generation(tx)? + 1;
        set_meta(tx, GENERATION, &generation.to_string())?;
    }
    Ok(gone.len())
}

/// Imports the cases of `report` (upsert by id) in one transaction.
pub fn import_report(db: &mut Db, report: &LoadReport) -> Result<ImportCounts, StoreError> {
    let tx = db
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err("importing cases"))?;
    let counts = upsert(&tx, report)?;
    tx.commit().map_err(db_err("committing the case import"))?;
    Ok(counts)
}

fn upsert(tx: &Transaction<'_>, report: &LoadReport) -> Result<ImportCounts, StoreError> {
    let what = "importing cases";
    let generation = generation(tx)? + 1;
    let mut position: i64 = tx
        .query_row("SELECT COALESCE(MAX(position), 0) FROM cases", [], |r| {
            r.get(0)
        })
        .map_err(db_err(what))?;
    let mut find = tx
        .prepare_cached("SELECT sha256, body, source_file, source_line FROM cases WHERE id = ?1")
        .map_err(db_err(what))?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO cases (id, position, body, sha256, source_file, source_line, generation) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db_err(what))?;
    let mut update = tx
        .prepare_cached(
            "UPDATE cases SET body = ?2, sha256 = ?3, source_file = ?4, source_line = ?5, \
             generation = ?6 WHERE id = ?1",
        )
        .map_err(db_err(what))?;
    let mut keep_version = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO case_versions (sha256, case_id, body) VALUES (?1, ?2, ?3)",
        )
        .map_err(db_err(what))?;
    let mut counts = ImportCounts::default();
    for (i, case) in report.cases.iter().enumerate() {
        let body = serde_json::to_string(case).map_err(|e| StoreError::Database {
            what: format!("encoding case {}", crate::text::sanitize(&case.id)),
            message: e.to_string(),
        })?;
        let sha = case.content_sha256();
        let (file, line) = match report.origin_of(i) {
            Some((f, l)) => (Some(f.to_string_lossy().into_owned()), Some(l as i64)),
            None => (None, None),
        };
        type Held = (String, String, Option<String>, Option<i64>);
        let held: Option<Held> = find
            .query_row([&case.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
            .map_err(db_err(what))?;
        match held {
            None => {
                position += 1;
                insert
                    .execute(params![
                        case.id,
                        position,
                        body,
                        sha,
                        file,
                        line,
                        generation as i64
                    ])
                    .map_err(db_err(what))?;
                counts.new += 1;
            }
            Some((old_sha, _, old_file, old_line)) if old_sha == sha => {
                if (old_file, old_line) != (file.clone(), line) {
                    tx.execute(
                        "UPDATE cases SET source_file = ?2, source_line = ?3 WHERE id = ?1",
                        params![case.id, file, line],
                    )
                    .map_err(db_err(what))?;
                }
                counts.unchanged += 1;
            }
            Some((old_sha, old_body, _, _)) => {
                keep_version
                    .execute(params![old_sha, case.id, old_body])
                    .map_err(db_err(what))?;
                update
                    .execute(params![case.id, body, sha, file, line, generation as i64])
                    .map_err(db_err(what))?;
                counts.updated += 1;
            }
        }
    }
    if counts.changed() {
        set_meta(tx, GENERATION, &generation.to_string())?;
    }
    Ok(counts)
}

fn replace_problems(tx: &Transaction<'_>, problems: &[LoadProblem]) -> Result<(), StoreError> {
    let what = "recording the loader's problems";
    tx.execute("DELETE FROM load_problems", [])
        .map_err(db_err(what))?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO load_problems (n, file, line, message) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db_err(what))?;
    for (n, p) in problems.iter().enumerate() {
        insert
            .execute(params![
                n as i64,
                p.file.to_string_lossy(),
                p.line as i64,
                p.message
            ])
            .map_err(db_err(what))?;
    }
    Ok(())
}

/// The case generation: bumped by every import that added or changed a case.
pub fn generation(conn: &Connection) -> Result<u64, StoreError> {
    Ok(meta(conn, GENERATION)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Every case in import order, and a problem for any stored case that no
/// longer reads (a damaged database row is reported, never fatal).
pub fn load_all(conn: &Connection) -> Result<(Vec<Case>, Vec<LoadProblem>), StoreError> {
    let what = "reading the cases";
    let mut stmt = conn
        .prepare_cached("SELECT id, body FROM cases ORDER BY position")
        .map_err(db_err(what))?;
    let mut rows = stmt.query([]).map_err(db_err(what))?;
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    while let Some(row) = rows.next().map_err(db_err(what))? {
        let id: String = row.get(0).map_err(db_err(what))?;
        let body: String = row.get(1).map_err(db_err(what))?;
        match serde_json::from_str::<Case>(&body) {
            Ok(case) => cases.push(case),
            Err(e) => problems.push(unreadable(&id, &e)),
        }
    }
    Ok((cases, problems))
}

fn unreadable(id: &str, e: &serde_json::Error) -> LoadProblem {
    LoadProblem {
        file: PathBuf::from("store.db"),
        line: 0,
        message: format!(
            "case {} as stored cannot be read ({e}): skipped; import its case file again",
            crate::text::sanitize(id)
        ),
    }
}

/// One case by its exact (already normalised) id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Case>, StoreError> {
    let body: Option<String> = conn
        .query_row("SELECT body FROM cases WHERE id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(db_err("reading a case"))?;
    body.map(|b| {
        serde_json::from_str(&b).map_err(|e| StoreError::Database {
            what: format!("reading case {}", crate::text::sanitize(id)),
            message: e.to_string(),
        })
    })
    .transpose()
}

/// A replaced version of a case, by its content digest.
pub fn previous(conn: &Connection, sha256: &str) -> Result<Option<Case>, StoreError> {
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM case_versions WHERE sha256 = ?1",
            [sha256],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err("reading a replaced case version"))?;
    Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
}

/// The problems of the last folder import, in the order met.
pub fn problems(conn: &Connection) -> Result<Vec<LoadProblem>, StoreError> {
    let what = "reading the loader's problems";
    let mut stmt = conn
        .prepare_cached("SELECT file, line, message FROM load_problems ORDER BY n")
        .map_err(db_err(what))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(LoadProblem {
                file: PathBuf::from(r.get::<_, String>(0)?),
                line: r.get::<_, i64>(1)? as usize,
                message: r.get(2)?,
            })
        })
        .map_err(db_err(what))?;
    rows.collect::<Result<_, _>>().map_err(db_err(what))
}

/// Whether the case file a case was imported from now says something else
/// about it (re-read outright: a rewrite within one timestamp tick keeps the
/// folder's signature). `false` when the case has no file or the file no
/// longer holds it.
pub fn source_differs(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let held: Option<(Option<String>, String)> = conn
        .query_row(
            "SELECT source_file, sha256 FROM cases WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db_err("reading a case's source"))?;
    let Some((Some(file), sha)) = held else {
        return Ok(false);
    };
    let mut fresh = LoadReport::default();
    load_file(Path::new(&file), &mut fresh);
    Ok(fresh
        .cases
        .iter()
        .find(|c| c.id == id)
        .is_some_and(|c| c.content_sha256() != sha))
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(db_err("reading the store's settings"))
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
    .map(|_| ())
    .map_err(db_err("writing the store's settings"))
}

/// A setting of the store (`meta`), for the other modules of the database.
pub(super) fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    meta(conn, key)
}

/// Writes a setting of the store (`meta`).
pub(super) fn put_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    set_meta(conn, key, value)
}
