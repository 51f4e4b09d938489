//! Verifying the chain: every record's hash, its link to the one before and
//! its sequence number, in one pass that costs little more than hashing.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::record::{GENESIS_HASH, SealedLine};

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The first bad sequence number: the record at fault, or the one missing.
    pub seq: u64,
    /// 1-based line in the log.
    pub line: u64,
    /// What is wrong, for a person: the record was edited, deleted, inserted, reordered or is not a
    /// sealed record.
    pub reason: String,
}

/// The result of checking the whole chain (`evidence verify`, `GET /v1/evidence/verify`;
/// docs/format.md, *Canonical bytes and the chain*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records verified good, in order, before any break.
    pub records: u64,
    /// `seq` of the last good record; 0 when there is none.
    pub last_seq: u64,
    /// Hash of the last good record: compare it with a copy kept elsewhere to
    /// detect a rewritten log.
    pub head_hash: String,
    /// The first break, `None` when every complete line verifies.
    pub first_bad: Option<ChainBreak>,
    /// Bytes after the last complete line, `(offset, length)`.
    pub torn_tail: Option<(u64, u64)>,
}

impl VerifyReport {
    /// The report for a missing or empty log: no records, head [`GENESIS_HASH`].
    pub fn empty() -> Self {
        Self {
            records: 0,
            last_seq: 0,
            head_hash: GENESIS_HASH.to_string(),
            first_bad: None,
            torn_tail: None,
        }
    }

    /// `true` when the chain verifies to the end: no break and no torn tail.
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none() && self.torn_tail.is_none()
    }

    /// One sentence for a person.
    pub fn summary(&self) -> String {
        if let Some(b) = &self.first_bad {
            format!(
                "evidence chain BROKEN at seq {} (line {}): {}",
                b.seq, b.line, b.reason
            )
        } else if let Some((offset, len)) = self.torn_tail {
            format!(
                "evidence chain intact for {} records, then a torn tail: {len} bytes at offset {offset} \
                 (a write cut short); run `nhi-triage evidence repair`",
                self.records
            )
        } else {
            format!(
                "evidence chain intact: {} records, head {}",
                self.records, self.head_hash
            )
        }
    }
}

/// Checks one complete line (without its newline) against the chain so far.
pub(crate) fn check_line<'a>(
    line: &'a [u8],
    line_no: u64,
    expected_seq: u64,
    expected_prev: &[u8],
) -> Result<SealedLine<'a>, ChainBreak> {
    let bad = |seq: u64, reason: String| ChainBreak {
        seq,
        line: line_no,
        reason,
    };
    let Some(sealed) = SealedLine::parse(line) else {
        return Err(bad(
            expected_seq,
            "not a sealed evidence record (edited or corrupt line)".into(),
        ));
    };
    if sealed.seq != expected_seq {
        let why = if sealed.seq > expected_seq {
            format!(
                "expected seq {expected_seq}, found seq {}: a record was deleted or the order changed",
                sealed.seq
            )
        } else {
            format!(
                "expected seq {expected_seq}, found seq {}: a record was inserted, repeated or moved",
                sealed.seq
            )
        };
        return Err(bad(expected_seq, why));
    }
    if !sealed.hash_matches() {
        return Err(bad(
            sealed.seq,
            "its hash does not match its contents: the record was edited".into(),
        ));
    }
    if sealed.prev_hash != expected_prev {
        return Err(bad(
            sealed.seq,
            "prev_hash does not match the record before it: a record was removed, inserted or reordered".into(),
        ));
    }
    Ok(sealed)
}

pub(crate) fn verify_reader(mut reader: impl BufRead) -> std::io::Result<VerifyReport> {
    let mut report = VerifyReport::empty();
    let mut prev = GENESIS_HASH.as_bytes().to_vec();
    let mut line = Vec::with_capacity(4096);
    let mut offset = 0u64;
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            report.torn_tail = Some((offset, n as u64));
            break;
        }
        line_no += 1;
        match check_line(&line[..n - 1], line_no, report.last_seq + 1, &prev) {
            Ok(sealed) => {
                prev.clear();
                prev.extend_from_slice(sealed.hash);
                report.last_seq = sealed.seq;
                report.records += 1;
            }
            Err(b) => {
                report.first_bad = Some(b);
                break;
            }
        }
        offset += n as u64;
    }
    report.head_hash = String::from_utf8_lossy(&prev).into_owned();
    Ok(report)
}
