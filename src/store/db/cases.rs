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

use super::Db;
use super::rows::{self, Assessing};
use super::sql::{Param, Sql, Value};
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
pub(super) const GENERATION: &str = "cases_generation";

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
/// (or always, with `force`). Returns whether any case was added, changed
/// or withdrawn. The folder is parsed outside the write transaction; the
/// write is one transaction.
pub fn sync_dir(
    db: &mut Db,
    dir: &Path,
    force: bool,
    at: &Assessing<'_>,
) -> Result<bool, StoreError> {
    let signature = dir_signature(dir)?;
    let unchanged = |sql: &mut dyn Sql| -> Result<bool, StoreError> {
        Ok(!force && meta(sql, DIR_SIGNATURE)?.as_deref() == Some(signature.as_str()))
    };
    if db.read(|sql| unchanged(sql))? {
        return Ok(false);
    }
    let report = load_dir(dir)?;
    db.write("importing the case folder", |sql| {
        // Another process may have imported the same listing meanwhile.
        if unchanged(sql)? {
            return Ok(false);
        }
        let counts = upsert(sql, &report, at)?;
        let withdrawn = withdraw_missing(sql, dir, &report)?;
        replace_problems(sql, &report.problems)?;
        set_meta(sql, DIR_SIGNATURE, &signature)?;
        Ok(counts.changed() || withdrawn > 0)
    })
}

/// Takes out of the queue the cases that came from the case folder and that
/// no file in it holds any more (the pipeline removed or rewrote the file
/// without them), as the folder itself would show. Their content stays in
/// `case_versions` and their records in the chain (shown as orphans); cases
/// imported with `nhi-triage import FILE` are not touched. Returns how many.
fn withdraw_missing(
    sql: &mut dyn Sql,
    dir: &Path,
    report: &LoadReport,
) -> Result<usize, StoreError> {
    let what = "withdrawing cases whose files are gone";
    let held: std::collections::HashSet<&str> =
        report.cases.iter().map(|c| c.id.as_str()).collect();
    let prefix = format!("{}/", dir.to_string_lossy());
    let mut gone = Vec::new();
    sql.each(
        what,
        "SELECT id, source_file FROM cases WHERE source_file IS NOT NULL",
        &[],
        &mut |row| {
            let mut row = row.into_iter();
            let id = row.next().and_then(Value::into_text).unwrap_or_default();
            let file = row.next().and_then(Value::into_text).unwrap_or_default();
            if file.starts_with(&prefix) && !held.contains(id.as_str()) {
                gone.push(id);
            }
            Ok(())
        },
    )?;
    for id in &gone {
        keep_version(sql, id)?;
        sql.exec(
            what,
            "DELETE FROM cases WHERE id = $1",
            &[Param::Text(Some(id))],
        )?;
        rows::remove(sql, id)?;
    }
    if !gone.is_empty() {
        let generation = generation(sql)? + 1;
        set_meta(sql, GENERATION, &generation.to_string())?;
    }
    Ok(gone.len())
}

/// Imports the cases of `report` (upsert by id) in one transaction.
pub fn import_report(
    db: &mut Db,
    report: &LoadReport,
    at: &Assessing<'_>,
) -> Result<ImportCounts, StoreError> {
    db.write("importing cases", |sql| upsert(sql, report, at))
}

/// What the writer needs of one case, worked out off its thread: the
/// content digest, the stored body and the queue row (the body and the
/// row only used when the case is new or changed; their errors raised then).
pub(super) struct Encoded {
    pub(super) sha: String,
    pub(super) body: Result<String, StoreError>,
    /// The case as imported when the context changed it (`cases.base`).
    pub(super) base: Result<Option<String>, StoreError>,
    pub(super) row: Result<rows::PreparedRow, StoreError>,
}

/// The digest, stored body and queue row of `case` (as imported) with the
/// store's context joined in; the imported case itself is kept as `base`
/// when the join changed it.
pub(super) fn encode(case: &Case, has_records: bool, at: &Assessing<'_>) -> Encoded {
    let joined = at
        .context
        .map(|context| crate::context::join(case, context));
    let joined = joined.filter(|j| j != case);
    let changed = joined.is_some();
    let shown = joined.as_ref().unwrap_or(case);
    let sha = shown.content_sha256();
    let encoding = |c: &Case| {
        serde_json::to_string(c).map_err(|e| StoreError::Database {
            what: format!("encoding case {}", crate::text::sanitize(&c.id)),
            message: e.to_string(),
        })
    };
    let body = encoding(shown);
    let base = if changed {
        encoding(case).map(Some)
    } else {
        Ok(None)
    };
    let row = rows::prepare(shown, &sha, has_records, at);
    Encoded {
        sha,
        body,
        base,
        row,
    }
}

/// How many encoded cases may wait for the writer (bounds the memory the
/// encoding thread can run ahead by: about 5 KB a case).
const ENCODED_AHEAD: usize = 512;

/// Adds or replaces the cases of `report` and their queue rows (each new
/// or changed case assessed at `at`). Digests, bodies and rows are worked
/// out on a second thread while this one writes (issue 9: a large import
/// otherwise waits on both in turn).
fn upsert(
    sql: &mut dyn Sql,
    report: &LoadReport,
    at: &Assessing<'_>,
) -> Result<ImportCounts, StoreError> {
    let generation = generation(sql)? + 1;
    let decided = rows::with_records(sql)?;
    let clock = rows::tick(sql)?;
    let decided = &decided;
    let mut encode_at = |i: usize| {
        report
            .cases
            .get(i)
            .map(|case| encode(case, decided.contains(&case.id), at))
    };
    let counts = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(ENCODED_AHEAD);
        let encoder = std::thread::Builder::new()
            .name("case-encoder".into())
            .spawn_scoped(scope, move || {
                for case in &report.cases {
                    // The writer stopped (an error): nothing more is wanted.
                    if tx
                        .send(encode(case, decided.contains(&case.id), at))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        match encoder {
            Ok(_) => write_cases(sql, report, &mut |_| rx.recv().ok(), generation, clock),
            // No second thread to be had: encode each case as it is written.
            Err(_) => write_cases(sql, report, &mut encode_at, generation, clock),
        }
        // `rx` is dropped here, so the encoder stops before the scope joins.
    })?;
    if counts.changed() {
        set_meta(sql, GENERATION, &generation.to_string())?;
    }
    Ok(counts)
}

fn write_cases(
    sql: &mut dyn Sql,
    report: &LoadReport,
    encoded: &mut dyn FnMut(usize) -> Option<Encoded>,
    generation: u64,
    clock: i64,
) -> Result<ImportCounts, StoreError> {
    let what = "importing cases";
    let mut position = sql
        .value(what, "SELECT COALESCE(MAX(position), 0) FROM cases", &[])?
        .and_then(|v| v.int())
        .unwrap_or(0);
    let mut counts = ImportCounts::default();
    for (i, case) in report.cases.iter().enumerate() {
        let Encoded {
            sha,
            body,
            base,
            row,
        } = encoded(i).ok_or_else(|| StoreError::Database {
            what: what.to_string(),
            message: "the case encoder stopped".to_string(),
        })?;
        let (file, line) = match report.origin_of(i) {
            Some((f, l)) => (Some(f.to_string_lossy().into_owned()), Some(l as i64)),
            None => (None, None),
        };
        let held = sql.first(
            what,
            "SELECT sha256, source_file, source_line FROM cases WHERE id = $1",
            &[Param::Text(Some(&case.id))],
        )?;
        let id = Param::Text(Some(&case.id));
        let source = [Param::Text(file.as_deref()), Param::Int(line)];
        match held {
            None => {
                position += 1;
                let (body, base) = (body?, base?);
                sql.exec(
                    what,
                    "INSERT INTO cases (id, position, body, sha256, source_file, source_line, \
                     generation, base) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        id,
                        Param::Int(Some(position)),
                        Param::Text(Some(&body)),
                        Param::Text(Some(&sha)),
                        source[0],
                        source[1],
                        Param::Int(Some(generation as i64)),
                        Param::Text(base.as_deref()),
                    ],
                )?;
                rows::put_prepared(sql, &row?, clock)?;
                counts.new += 1;
            }
            Some(row) if row[0].text() == Some(sha.as_str()) => {
                if row[1].text() != file.as_deref() || row[2].int() != line {
                    sql.exec(
                        what,
                        "UPDATE cases SET source_file = $2, source_line = $3 WHERE id = $1",
                        &[id, source[0], source[1]],
                    )?;
                }
                counts.unchanged += 1;
            }
            Some(_) => {
                let (body, base) = (body?, base?);
                keep_version(sql, &case.id)?;
                sql.exec(
                    what,
                    "UPDATE cases SET body = $2, sha256 = $3, source_file = $4, source_line = $5, \
                     generation = $6, base = $7 WHERE id = $1",
                    &[
                        id,
                        Param::Text(Some(&body)),
                        Param::Text(Some(&sha)),
                        source[0],
                        source[1],
                        Param::Int(Some(generation as i64)),
                        Param::Text(base.as_deref()),
                    ],
                )?;
                rows::put_prepared(sql, &row?, clock)?;
                counts.updated += 1;
            }
        }
    }
    Ok(counts)
}

/// Keeps the content a case holds now in `case_versions` (by digest), before
/// it is replaced or withdrawn.
pub(super) fn keep_version(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    sql.exec(
        "keeping a case's replaced content",
        "INSERT INTO case_versions (sha256, case_id, body) \
         SELECT sha256, id, body FROM cases WHERE id = $1 ON CONFLICT (sha256) DO NOTHING",
        &[Param::Text(Some(id))],
    )
    .map(|_| ())
}

fn replace_problems(sql: &mut dyn Sql, problems: &[LoadProblem]) -> Result<(), StoreError> {
    let what = "recording the loader's problems";
    sql.exec(what, "DELETE FROM load_problems", &[])?;
    for (n, p) in problems.iter().enumerate() {
        let file = p.file.to_string_lossy();
        sql.exec(
            what,
            "INSERT INTO load_problems (n, file, line, message) VALUES ($1, $2, $3, $4)",
            &[
                Param::Int(Some(n as i64)),
                Param::Text(Some(&file)),
                Param::Int(Some(p.line as i64)),
                Param::Text(Some(&p.message)),
            ],
        )?;
    }
    Ok(())
}

/// The case generation: bumped by every import that added, changed or
/// withdrew a case.
pub fn generation(sql: &mut dyn Sql) -> Result<u64, StoreError> {
    Ok(meta(sql, GENERATION)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Every case in import order, and a problem for any stored case that no
/// longer reads (a damaged row is reported, never fatal).
pub fn load_all(sql: &mut dyn Sql) -> Result<(Vec<Case>, Vec<LoadProblem>), StoreError> {
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    sql.each(
        "reading the cases",
        "SELECT id, body FROM cases ORDER BY position",
        &[],
        &mut |row| {
            let mut row = row.into_iter();
            let id = row.next().and_then(Value::into_text).unwrap_or_default();
            let body = row.next().and_then(Value::into_text).unwrap_or_default();
            match serde_json::from_str::<Case>(&body) {
                Ok(case) => cases.push(case),
                Err(e) => problems.push(unreadable(&id, &e)),
            }
            Ok(())
        },
    )?;
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
pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Case>, StoreError> {
    read_one(
        sql,
        "reading a case",
        "SELECT body FROM cases WHERE id = $1",
        id,
    )
}

/// The case `query` (one text column, `$1` the id) reads for `id`.
pub(super) fn read_one(
    sql: &mut dyn Sql,
    what: &str,
    query: &str,
    id: &str,
) -> Result<Option<Case>, StoreError> {
    let body = sql
        .value(what, query, &[Param::Text(Some(id))])?
        .and_then(Value::into_text);
    body.map(|b| {
        serde_json::from_str(&b).map_err(|e| StoreError::Database {
            what: format!("reading case {}", crate::text::sanitize(id)),
            message: e.to_string(),
        })
    })
    .transpose()
}

/// Case ids the chain has records for but the store does not hold.
pub fn orphans(sql: &mut dyn Sql) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    sql.each(
        "finding records of cases the store does not hold",
        "SELECT DISTINCT case_id FROM evidence WHERE case_id NOT IN (SELECT id FROM cases)",
        &[],
        &mut |row| {
            out.extend(row.into_iter().next().and_then(Value::into_text));
            Ok(())
        },
    )?;
    Ok(out)
}

/// Whether the store holds a case with this exact id (nothing is parsed).
pub fn exists(sql: &mut dyn Sql, id: &str) -> Result<bool, StoreError> {
    Ok(sql
        .value(
            "looking a case up",
            "SELECT 1 FROM cases WHERE id = $1",
            &[Param::Text(Some(id))],
        )?
        .is_some())
}

/// A replaced version of a case, by its content digest.
pub fn previous(sql: &mut dyn Sql, sha256: &str) -> Result<Option<Case>, StoreError> {
    let body = sql
        .value(
            "reading a replaced case version",
            "SELECT body FROM case_versions WHERE sha256 = $1",
            &[Param::Text(Some(sha256))],
        )?
        .and_then(Value::into_text);
    Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
}

/// The problems of the last folder import, in the order met.
pub fn problems(sql: &mut dyn Sql) -> Result<Vec<LoadProblem>, StoreError> {
    let mut out = Vec::new();
    sql.each(
        "reading the loader's problems",
        "SELECT file, line, message FROM load_problems ORDER BY n",
        &[],
        &mut |row| {
            out.push(LoadProblem {
                file: PathBuf::from(row[0].text().unwrap_or_default()),
                line: row[1].int().unwrap_or(0) as usize,
                message: row[2].text().unwrap_or_default().to_string(),
            });
            Ok(())
        },
    )?;
    Ok(out)
}

/// Whether the case file a case was imported from now says something else
/// about it. Call right after [`sync_dir`]: that caught every rewrite that
/// changed a file's size, times or inode. What it cannot catch is a rewrite
/// within one timestamp tick of the listing it compared against, so only a
/// file changed in the last [`SAME_TICK`] is re-read (its case's line, for
/// JSON lines). `false` when the case has no file or the file no longer
/// holds it.
pub fn source_differs(sql: &mut dyn Sql, id: &str) -> Result<bool, StoreError> {
    let held = sql.first(
        "reading a case's source",
        "SELECT source_file, source_line, sha256 FROM cases WHERE id = $1",
        &[Param::Text(Some(id))],
    )?;
    let Some(row) = held else {
        return Ok(false);
    };
    let (Some(file), line, Some(sha)) = (row[0].text(), row[1].int(), row[2].text()) else {
        return Ok(false);
    };
    let path = Path::new(file);
    if !changed_lately(path) {
        return Ok(false);
    }
    let mut fresh = LoadReport::default();
    match (path.extension().and_then(|e| e.to_str()), line) {
        (Some("jsonl"), Some(n)) if n > 0 => {
            let Ok(text) = std::fs::read_to_string(path) else {
                return Ok(true);
            };
            let one = text.split('\n').nth(n as usize - 1).unwrap_or_default();
            crate::model::parse_jsonl(path, one, &mut fresh);
        }
        _ => load_file(path, &mut fresh),
    }
    Ok(fresh
        .cases
        .iter()
        .find(|c| c.id == id)
        .is_none_or(|c| c.content_sha256() != sha))
}

/// How close to now a file's change must be for a rewrite to hide from the
/// listing's signature (timestamps are kept at the kernel's clock tick, a
/// few milliseconds; one second leaves room for coarse file systems).
const SAME_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether `path` was written or replaced within [`SAME_TICK`] of now (or
/// cannot be told: then it is re-read).
fn changed_lately(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return true;
    };
    let changed = time::OffsetDateTime::from_unix_timestamp(meta.ctime())
        .map(|t| t + time::Duration::nanoseconds(meta.ctime_nsec()));
    match changed {
        Ok(t) => time::OffsetDateTime::now_utc() - t < SAME_TICK,
        Err(_) => true,
    }
}

/// A setting of the store (`meta`).
pub fn meta(sql: &mut dyn Sql, key: &str) -> Result<Option<String>, StoreError> {
    Ok(sql
        .value(
            "reading the store's settings",
            "SELECT value FROM meta WHERE key = $1",
            &[Param::Text(Some(key))],
        )?
        .and_then(Value::into_text))
}

/// Writes a setting of the store (`meta`).
pub fn set_meta(sql: &mut dyn Sql, key: &str, value: &str) -> Result<(), StoreError> {
    sql.exec(
        "writing the store's settings",
        "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[Param::Text(Some(key)), Param::Text(Some(value))],
    )
    .map(|_| ())
}
