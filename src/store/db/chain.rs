//! The evidence chain in the database: each record's exact sealed line
//! (docs/format.md, *Canonical bytes and the chain*), one row per record.
//!
//! The rules are the file log's: a record is sealed onto the chain head
//! inside the write transaction (one writer at a time, across processes),
//! every read checks each line's hash, link and `seq`, and `evidence export`
//! writes the lines as they are stored, so verifying the database and
//! verifying an exported file give the same verdict by construction (both
//! go through [`verify_reader`]).

use std::io::{BufReader, Read, Write};
use std::path::Path;

use super::sql::{Param, Sql, Value};
use super::{Db, cases};
use crate::evidence::{
    ChainBreak, Cursor, EvidenceLog, EvidenceRecord, GENESIS_HASH, ReadOutcome, VerifyReport,
};
use crate::evidence::{SealedLine, next_record, verify_reader};
use crate::store::StoreError;

/// Records after `cursor`, each checked against the chain; stops at the
/// first break. The record at the cursor must still be the one read there
/// (else the chain was rewritten under a reader: a break at that `seq`).
pub fn read_since(sql: &mut dyn Sql, cursor: &Cursor) -> Result<ReadOutcome, StoreError> {
    let what = "reading evidence records";
    let mut out = ReadOutcome {
        cursor: cursor.clone(),
        ..ReadOutcome::default()
    };
    if cursor.last_seq > 0 {
        let line = sql
            .value(
                what,
                "SELECT line FROM evidence WHERE seq = $1",
                &[Param::Int(Some(cursor.last_seq as i64))],
            )?
            .and_then(Value::into_text);
        let same = line
            .as_deref()
            .and_then(|l| SealedLine::parse(l.as_bytes()))
            .is_some_and(|s| s.hash == cursor.last_hash.as_bytes());
        if !same {
            out.broken = Some(ChainBreak {
                seq: cursor.last_seq,
                line: cursor.line,
                reason: "the record was changed or removed after it was read".into(),
            });
            return Ok(out);
        }
    }
    let mut stopped = false;
    sql.each(
        what,
        "SELECT line FROM evidence WHERE seq > $1 ORDER BY seq",
        &[Param::Int(Some(cursor.last_seq as i64))],
        &mut |row| {
            if stopped {
                return Ok(());
            }
            let line = row
                .into_iter()
                .next()
                .and_then(Value::into_text)
                .unwrap_or_default();
            match next_record(line.as_bytes(), &out.cursor) {
                Ok(record) => {
                    out.cursor.advance(&record);
                    out.records.push(record);
                }
                Err(b) => {
                    out.broken = Some(b);
                    stopped = true;
                }
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// `seq` and `hash` of the chain head (`0` and [`GENESIS_HASH`] when empty).
/// Errors: a head row that is not a sealed record.
pub fn head(sql: &mut dyn Sql) -> Result<(u64, String), StoreError> {
    let line = sql
        .value(
            "reading the chain head",
            "SELECT line FROM evidence ORDER BY seq DESC LIMIT 1",
            &[],
        )?
        .and_then(Value::into_text);
    let Some(line) = line else {
        return Ok((0, GENESIS_HASH.to_string()));
    };
    let sealed = SealedLine::parse(line.as_bytes()).ok_or_else(|| StoreError::Database {
        what: "reading the chain head".into(),
        message:
            "the last record is not a sealed evidence record; run `nhi-triage evidence verify`"
                .into(),
    })?;
    Ok((
        sealed.seq,
        String::from_utf8_lossy(sealed.hash).into_owned(),
    ))
}

/// Seals `record` onto the chain head and inserts it. Call inside the write
/// transaction that checked the decision; durable once that commits.
pub fn append(sql: &mut dyn Sql, mut record: EvidenceRecord) -> Result<EvidenceRecord, StoreError> {
    let (seq, hash) = head(sql)?;
    let mut line = record
        .seal(seq + 1, &hash)
        .map_err(|e| StoreError::Evidence(crate::evidence::EvidenceError::Encode(e.to_string())))?;
    line.pop(); // the newline: rows hold the line itself
    let text = String::from_utf8(line).map_err(|e| StoreError::Database {
        what: "sealing the record".into(),
        message: e.to_string(),
    })?;
    insert_line(sql, &record, &text)?;
    Ok(record)
}

fn insert_line(sql: &mut dyn Sql, record: &EvidenceRecord, line: &str) -> Result<(), StoreError> {
    sql.exec(
        "appending the record",
        "INSERT INTO evidence (seq, case_id, idempotency_key, line) VALUES ($1, $2, $3, $4)",
        &[
            Param::Int(Some(record.seq as i64)),
            Param::Text(Some(&record.case_id)),
            Param::Text(record.idempotency_key.as_deref()),
            Param::Text(Some(line)),
        ],
    )
    .map(|_| ())
}

/// The stored lines in `seq` order, each followed by `\n`: the JSON-lines
/// log, read in batches so memory stays flat at any length.
struct Lines<'s> {
    sql: &'s mut dyn Sql,
    after: i64,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

const BATCH: i64 = 4096;

impl Lines<'_> {
    fn refill(&mut self) -> Result<(), StoreError> {
        self.buf.clear();
        self.pos = 0;
        let mut n = 0;
        let (buf, after) = (&mut self.buf, &mut self.after);
        self.sql.each(
            "reading evidence records",
            "SELECT seq, line FROM evidence WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[Param::Int(Some(*after)), Param::Int(Some(BATCH))],
            &mut |row| {
                let mut row = row.into_iter();
                *after = row.next().and_then(|v| v.int()).unwrap_or(*after);
                buf.extend_from_slice(
                    row.next()
                        .and_then(Value::into_text)
                        .unwrap_or_default()
                        .as_bytes(),
                );
                buf.push(b'\n');
                n += 1;
                Ok(())
            },
        )?;
        self.done = n < BATCH;
        Ok(())
    }
}

impl Read for Lines<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            self.refill().map_err(std::io::Error::other)?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn lines(sql: &mut dyn Sql) -> Lines<'_> {
    Lines {
        sql,
        after: 0,
        buf: Vec::new(),
        pos: 0,
        done: false,
    }
}

/// Checks the whole chain, as `evidence verify --file` checks an exported log.
pub fn verify(sql: &mut dyn Sql) -> Result<VerifyReport, StoreError> {
    verify_reader(BufReader::with_capacity(1 << 20, lines(sql))).map_err(|e| StoreError::Database {
        what: "verifying the evidence chain".into(),
        message: e.to_string(),
    })
}

/// Writes the log as JSON lines, exactly as stored (`evidence export --format jsonl`).
pub fn export(sql: &mut dyn Sql, mut out: impl Write) -> Result<(), StoreError> {
    let mut reader = lines(sql);
    std::io::copy(&mut reader, &mut out).map_err(|source| StoreError::Io {
        context: "exporting the evidence log".into(),
        source,
    })?;
    Ok(())
}

const MIGRATED: &str = "migrated_evidence_head";

/// What migrating a file store's `evidence.jsonl` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Records moved into the database.
    pub records: u64,
    /// The chain head, the same before and after.
    pub head_hash: String,
    /// Where the old log was kept.
    pub kept_as: std::path::PathBuf,
}

/// Moves a file store's evidence log into the database, once: the file's
/// chain is verified first (a torn tail or a break refuses the migration,
/// naming `evidence repair` or the break), the lines are copied byte for
/// byte in one transaction, the database's chain is verified again and must
/// end at the same head, and the file is kept beside it as
/// `evidence.jsonl.migrated`. `None` when there is nothing to migrate.
pub fn migrate_file_log(db: &mut Db, file: &Path) -> Result<Option<Migration>, StoreError> {
    if !file.exists() {
        return Ok(None);
    }
    let log = EvidenceLog::new(file);
    let before = log.verify()?;
    if let Some(brk) = &before.first_bad {
        return Err(StoreError::EvidenceBroken {
            path: file.to_path_buf(),
            brk: brk.clone(),
        });
    }
    if let Some((offset, len)) = before.torn_tail {
        return Err(StoreError::Evidence(
            crate::evidence::EvidenceError::TornTail {
                path: file.to_path_buf(),
                offset,
                len,
            },
        ));
    }
    let kept_as = file.with_extension("jsonl.migrated");
    let describe = db.describe();
    db.write("migrating the evidence log", |sql| {
        let done = cases::meta(sql, MIGRATED)?;
        if let Some(head) = done {
            if head != before.head_hash {
                return Err(StoreError::Setup(format!(
                    "{} changed after it was migrated into {describe} (an older nhi-triage still \
                     writing it?): records after the migration are not in the database; stop \
                     that process and compare the two with `nhi-triage evidence verify`",
                    file.display(),
                )));
            }
            return Ok(());
        }
        let held = sql
            .value(
                "migrating the evidence log",
                "SELECT COUNT(*) FROM evidence",
                &[],
            )?
            .and_then(|v| v.int())
            .unwrap_or(0);
        if held > 0 {
            return Err(StoreError::Setup(format!(
                "{} holds an evidence log and {describe} already holds records: refusing to \
                 merge two chains; move one aside",
                file.display(),
            )));
        }
        copy_lines(sql, file)?;
        let after = verify(sql)?;
        if after.first_bad.is_some()
            || after.head_hash != before.head_hash
            || after.records != before.records
        {
            return Err(StoreError::Setup(format!(
                "migrating {}: the copied chain does not verify to the same head ({}); nothing \
                 was changed",
                file.display(),
                after.summary()
            )));
        }
        cases::set_meta(sql, MIGRATED, &before.head_hash)
    })?;
    std::fs::rename(file, &kept_as).map_err(|source| StoreError::Io {
        context: format!("keeping {} as {}", file.display(), kept_as.display()),
        source,
    })?;
    Ok(Some(Migration {
        records: before.records,
        head_hash: before.head_hash,
        kept_as,
    }))
}

fn copy_lines(sql: &mut dyn Sql, file: &Path) -> Result<(), StoreError> {
    use std::io::BufRead;
    let io = |source| StoreError::Io {
        context: format!("reading {}", file.display()),
        source,
    };
    let reader = BufReader::new(std::fs::File::open(file).map_err(io)?);
    for line in reader.lines() {
        let line = line.map_err(io)?;
        let record: EvidenceRecord =
            serde_json::from_str(&line).map_err(|e| StoreError::Database {
                what: format!("copying {}", file.display()),
                message: e.to_string(),
            })?;
        insert_line(sql, &record, &line)?;
    }
    Ok(())
}
