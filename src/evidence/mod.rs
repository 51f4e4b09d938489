//! The tamper-evident evidence log: append-only JSON lines, SHA-256 chained.

mod export;
mod log;
mod record;
mod verify;

use std::path::PathBuf;

pub use export::{to_csv, to_json};
pub(crate) use log::next_record;
pub use log::{Cursor, EvidenceLog, LockedLog, ReadOutcome, RepairReport, TornTail};
pub(crate) use record::SealedLine;
pub use record::{EvidenceRecord, GENESIS_HASH, ReadinessSummary};
pub(crate) use verify::verify_reader;
pub use verify::{ChainBreak, VerifyReport};

/// Why the evidence log could not be read, verified or appended to. Every
/// variant names the log file; none is ever recovered by rewriting a record.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Opening, locking, reading, writing or fsyncing the log failed.
    #[error("evidence log {path}: {source}")]
    Io {
        /// The log file (`STORE/evidence.jsonl`).
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The log ends with part of a line (a crash mid-write): appends are
    /// refused until `evidence repair` moves those bytes aside
    /// (docs/format.md, *Torn tail*).
    #[error(
        "evidence log {path} ends with a torn write ({len} bytes at offset {offset}): \
         no new record is appended until `nhi-triage evidence repair` moves those bytes aside"
    )]
    TornTail {
        /// The log file.
        path: PathBuf,
        /// Byte offset where the torn bytes start (just after the last `\n`).
        offset: u64,
        /// Number of torn bytes, up to the end of the file.
        len: u64,
    },
    /// The last complete line is not a sealed record, so there is no
    /// `seq`/`hash` to chain the next record onto.
    #[error(
        "evidence log {path}: the last record is not a sealed evidence record; run `nhi-triage evidence verify`"
    )]
    BadTail {
        /// The log file.
        path: PathBuf,
    },
    /// The file got shorter than a reader's cursor: records were removed
    /// from an append-only log while it was in use.
    #[error(
        "evidence log {path} shrank from {was} to {now} bytes while in use: records were removed"
    )]
    Shrunk {
        /// The log file.
        path: PathBuf,
        /// The reader's cursor offset, in bytes.
        was: u64,
        /// The file's length now, in bytes.
        now: u64,
    },
    /// The hash chain does not verify (docs/format.md, *Canonical bytes and
    /// the chain*): nothing more may be recorded until an operator fixes it.
    #[error("evidence log {path}: chain broken at seq {} (line {}): {}", brk.seq, brk.line, brk.reason)]
    Broken {
        /// The log file.
        path: PathBuf,
        /// The first record where the chain fails.
        brk: ChainBreak,
    },
    /// A record could not be serialised to JSON for sealing (serde's message).
    #[error("cannot encode evidence record: {0}")]
    Encode(String),
}
