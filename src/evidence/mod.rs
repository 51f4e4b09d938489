//! The tamper-evident evidence log: append-only JSON lines, SHA-256 chained.

mod export;
mod log;
mod record;
mod verify;

use std::path::PathBuf;

pub use export::{to_csv, to_json};
pub use log::{Cursor, EvidenceLog, LockedLog, ReadOutcome, RepairReport, TornTail};
pub use record::{EvidenceRecord, GENESIS_HASH, ReadinessSummary};
pub use verify::{ChainBreak, VerifyReport};

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "evidence log {path} ends with a torn write ({len} bytes at offset {offset}): \
         no new record is appended until `nhi-triage evidence repair` moves those bytes aside"
    )]
    TornTail {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    #[error(
        "evidence log {path}: the last record is not a sealed evidence record; run `nhi-triage evidence verify`"
    )]
    BadTail { path: PathBuf },
    #[error(
        "evidence log {path} shrank from {was} to {now} bytes while in use: records were removed"
    )]
    Shrunk { path: PathBuf, was: u64, now: u64 },
    #[error("evidence log {path}: chain broken at seq {} (line {}): {}", brk.seq, brk.line, brk.reason)]
    Broken { path: PathBuf, brk: ChainBreak },
    #[error("cannot encode evidence record: {0}")]
    Encode(String),
}
