//! The append-only, hash-chained evidence log on disk.
//!
//! Writers take an exclusive `flock` on the log file, check its tail, write
//! one line and fsync before returning; readers take a shared lock so they
//! never see a line half written. A torn tail (a crash mid-write) blocks
//! appends until `repair` moves the torn bytes aside: no acknowledged record
//! is ever rewritten.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::EvidenceError;
use super::record::{EvidenceRecord, GENESIS_HASH, SealedLine};
use super::verify::{ChainBreak, check_line};

/// The evidence log file (`STORE/evidence.jsonl`, docs/format.md): appended under an exclusive
/// `flock`, read under a shared one. Holds only the path; nothing is opened until used.
#[derive(Debug, Clone)]
pub struct EvidenceLog {
    path: PathBuf,
}

/// How far a reader has read: resume here to see only new records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Byte offset just after the last complete, verified line read.
    pub offset: u64,
    /// 1-based number of that line; 0 before the first.
    pub line: u64,
    /// `seq` of that record; 0 before the first.
    pub last_seq: u64,
    /// `hash` of that record (lowercase hex); [`GENESIS_HASH`] before the first.
    pub last_hash: String,
}

impl Cursor {
    /// Moves past `record`, the next one read (see [`next_record`]).
    pub(crate) fn advance(&mut self, record: &EvidenceRecord) {
        self.line += 1;
        self.last_seq = record.seq;
        self.last_hash.clone_from(&record.hash);
    }
}

/// The record `line` (one complete line, without its newline) holds, once
/// it checks against the chain after `cursor` (hash, link, `seq`): the one
/// way every reader of the chain, file or database, reads a record.
pub(crate) fn next_record(line: &[u8], cursor: &Cursor) -> Result<EvidenceRecord, ChainBreak> {
    let line_no = cursor.line + 1;
    check_line(
        line,
        line_no,
        cursor.last_seq + 1,
        cursor.last_hash.as_bytes(),
    )?;
    serde_json::from_slice::<EvidenceRecord>(line).map_err(|e| ChainBreak {
        seq: cursor.last_seq + 1,
        line: line_no,
        reason: format!("not a valid evidence record: {e}"),
    })
}

impl Default for Cursor {
    fn default() -> Self {
        Self {
            offset: 0,
            line: 0,
            last_seq: 0,
            last_hash: GENESIS_HASH.to_string(),
        }
    }
}

/// Bytes after the last complete line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where the torn bytes start.
    pub offset: u64,
    /// Number of torn bytes, up to the end of the file.
    pub len: u64,
}

/// What `evidence repair` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Torn bytes moved out of the log; 0 when it ended with a complete line.
    pub moved_bytes: u64,
    /// Where they went (`evidence.jsonl.torn-<unix nanoseconds>` beside the log); `None` when
    /// nothing was moved.
    pub side_file: Option<PathBuf>,
}

impl EvidenceLog {
    /// The log at `path`; the file need not exist yet (the first append creates it).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> EvidenceError {
        EvidenceError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Opens (creating if needed) the log for reading and appending. A new
    /// file's directory entry is fsync'd too, so the file survives a crash.
    fn open(&self) -> Result<File, EvidenceError> {
        let existed = self.path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        if !existed {
            sync_parent(&self.path).map_err(|e| self.io(e))?;
        }
        Ok(file)
    }

    /// Takes the exclusive writer lock (blocking until other writers finish).
    pub fn lock(&self) -> Result<LockedLog<'_>, EvidenceError> {
        let file = self.open()?;
        file.lock().map_err(|e| self.io(e))?;
        Ok(LockedLog { log: self, file })
    }

    /// Reads the complete records after `cursor` under a shared lock.
    pub fn read_since(&self, cursor: &Cursor) -> Result<ReadOutcome, EvidenceError> {
        if !self.path.exists() {
            return Ok(ReadOutcome {
                cursor: cursor.clone(),
                ..ReadOutcome::default()
            });
        }
        let file = File::open(&self.path).map_err(|e| self.io(e))?;
        file.lock_shared().map_err(|e| self.io(e))?;
        read_records(self, &file, cursor)
    }

    /// Checks the whole chain and names the first bad record.
    pub fn verify(&self) -> Result<super::VerifyReport, EvidenceError> {
        if !self.path.exists() {
            return Ok(super::VerifyReport::empty());
        }
        let file = File::open(&self.path).map_err(|e| self.io(e))?;
        file.lock_shared().map_err(|e| self.io(e))?;
        super::verify::verify_reader(BufReader::with_capacity(1 << 20, file))
            .map_err(|e| self.io(e))
    }

    /// Moves a torn tail to a side file and truncates the log to its last
    /// complete record. Whole records are never touched.
    pub fn repair(&self) -> Result<RepairReport, EvidenceError> {
        let locked = self.lock()?;
        let Some(torn) = locked.torn_tail()? else {
            return Ok(RepairReport {
                moved_bytes: 0,
                side_file: None,
            });
        };
        let mut file = &locked.file;
        let mut bytes = Vec::with_capacity(torn.len as usize);
        file.seek(SeekFrom::Start(torn.offset))
            .map_err(|e| self.io(e))?;
        file.read_to_end(&mut bytes).map_err(|e| self.io(e))?;
        let side = side_file_name(&self.path);
        // Whole, durable and never over another file before the log shrinks
        // (fsutil: fresh temporary file, fsync, no-clobber rename, fsync of
        // the directory), readable like the log itself.
        crate::fsutil::write_new(&side, &bytes, crate::fsutil::Access::Shared)
            .map_err(|e| self.io(e))?;
        locked.file.set_len(torn.offset).map_err(|e| self.io(e))?;
        locked.file.sync_all().map_err(|e| self.io(e))?;
        Ok(RepairReport {
            moved_bytes: bytes.len() as u64,
            side_file: Some(side),
        })
    }
}

fn side_file_name(path: &Path) -> PathBuf {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".torn-{stamp}"));
    path.with_file_name(name)
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// The log held under the exclusive lock; dropping it releases the lock.
pub struct LockedLog<'a> {
    log: &'a EvidenceLog,
    file: File,
}

impl LockedLog<'_> {
    /// Records written since `cursor` (other writers may have appended).
    pub fn read_since(&self, cursor: &Cursor) -> Result<ReadOutcome, EvidenceError> {
        read_records(self.log, &self.file, cursor)
    }

    /// The torn tail, if the file does not end with a complete line.
    pub fn torn_tail(&self) -> Result<Option<TornTail>, EvidenceError> {
        let len = self.file.metadata().map_err(|e| self.log.io(e))?.len();
        if len == 0 {
            return Ok(None);
        }
        let last_newline = find_last_newline(&self.file, len).map_err(|e| self.log.io(e))?;
        let complete = last_newline.map_or(0, |p| p + 1);
        Ok((complete < len).then_some(TornTail {
            offset: complete,
            len: len - complete,
        }))
    }

    /// Seals `record` onto the chain after the current tail, writes it and
    /// fsyncs. Returns the sealed record only once it is durable.
    pub fn append(&mut self, mut record: EvidenceRecord) -> Result<EvidenceRecord, EvidenceError> {
        if let Some(torn) = self.torn_tail()? {
            return Err(EvidenceError::TornTail {
                path: self.log.path.clone(),
                offset: torn.offset,
                len: torn.len,
            });
        }
        let (last_seq, last_hash) = self.tail()?;
        let line = record
            .seal(last_seq + 1, &last_hash)
            .map_err(|e| EvidenceError::Encode(e.to_string()))?;
        // One write of the whole line on an O_APPEND file, then fdatasync.
        (&self.file).write_all(&line).map_err(|e| self.log.io(e))?;
        self.file.sync_data().map_err(|e| self.log.io(e))?;
        Ok(record)
    }

    /// `seq` and `hash` of the last record, read from the file's end.
    fn tail(&self) -> Result<(u64, String), EvidenceError> {
        let len = self.file.metadata().map_err(|e| self.log.io(e))?.len();
        if len == 0 {
            return Ok((0, GENESIS_HASH.to_string()));
        }
        // The file ends with '\n' (no torn tail): find the newline before it.
        let start = find_last_newline(&self.file, len - 1)
            .map_err(|e| self.log.io(e))?
            .map_or(0, |p| p + 1);
        let mut line = vec![0; (len - 1 - start) as usize];
        read_exact_at(&self.file, &mut line, start).map_err(|e| self.log.io(e))?;
        let sealed = SealedLine::parse(&line).ok_or_else(|| EvidenceError::BadTail {
            path: self.log.path.clone(),
        })?;
        let hash = String::from_utf8_lossy(sealed.hash).into_owned();
        Ok((sealed.seq, hash))
    }
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

/// Offset of the last '\n' in `file[..end]`, reading backwards in blocks.
fn find_last_newline(file: &File, end: u64) -> std::io::Result<Option<u64>> {
    const BLOCK: u64 = 64 * 1024;
    let mut hi = end;
    let mut buf = vec![0u8; BLOCK as usize];
    while hi > 0 {
        let lo = hi.saturating_sub(BLOCK);
        let chunk = &mut buf[..(hi - lo) as usize];
        read_exact_at(file, chunk, lo)?;
        if let Some(p) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(lo + p as u64));
        }
        hi = lo;
    }
    Ok(None)
}

/// What a read found: the new records, where to resume, and whatever stopped
/// it early.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// The complete records read, in `seq` order, that verified against the chain.
    pub records: Vec<EvidenceRecord>,
    /// Where to resume: after the last of `records` (unchanged when none were read).
    pub cursor: Cursor,
    /// Set when the file ends with part of a line (not read).
    pub torn: Option<TornTail>,
    /// Set when a line failed the chain check; nothing after it was read.
    pub broken: Option<ChainBreak>,
}

/// Reads and chain-checks the complete lines after `cursor`; stops at the
/// first break (nothing after a break can be trusted).
fn read_records(
    log: &EvidenceLog,
    file: &File,
    cursor: &Cursor,
) -> Result<ReadOutcome, EvidenceError> {
    let len = file.metadata().map_err(|e| log.io(e))?.len();
    if len < cursor.offset {
        return Err(EvidenceError::Shrunk {
            path: log.path.clone(),
            was: cursor.offset,
            now: len,
        });
    }
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader
        .seek(SeekFrom::Start(cursor.offset))
        .map_err(|e| log.io(e))?;
    let mut out = ReadOutcome {
        cursor: cursor.clone(),
        ..ReadOutcome::default()
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| log.io(e))?;
        if n == 0 {
            return Ok(out);
        }
        if line.last() != Some(&b'\n') {
            out.torn = Some(TornTail {
                offset: out.cursor.offset,
                len: n as u64,
            });
            return Ok(out);
        }
        match next_record(&line[..n - 1], &out.cursor) {
            Ok(record) => {
                out.cursor.offset += n as u64;
                out.cursor.advance(&record);
                out.records.push(record);
            }
            Err(b) => {
                out.broken = Some(b);
                return Ok(out);
            }
        }
    }
}
