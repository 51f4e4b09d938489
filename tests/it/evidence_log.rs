//! Integration tests of the hash-chained evidence log: appending, verifying,
//! tamper detection, torn tails and repair, incremental reads, concurrent
//! writers and the auditor exports.

use std::collections::BTreeSet;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use nhi_triage::evidence::{
    ChainBreak, Cursor, EvidenceError, EvidenceLog, EvidenceRecord, GENESIS_HASH, ReadinessSummary,
    VerifyReport, to_csv, to_json,
};
use nhi_triage::model::{Action, CaseState, OsAccount, Reviewer};
use nhi_triage::policy::{PolicyRef, Status, Tier};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;

type TestResult = Result<(), Box<dyn Error>>;

const TS: OffsetDateTime = datetime!(2026-11-20 09:30:00 UTC);

/// An unsealed record with every field filled; `n` makes it distinct.
fn record(n: u64, justification: &str) -> EvidenceRecord {
    let until = datetime!(2026-11-27 09:30:00 UTC);
    EvidenceRecord {
        seq: 0,
        id: uuid::Uuid::now_v7(),
        ts: TS,
        case_id: format!("case-{n:03}"),
        case_sha256: Some("cd".repeat(32)),
        identity_id: format!("arn:aws:iam::123456789012:user/svc-{n:03}"),
        reviewer: Reviewer {
            name: "alice".into(),
            host: "triage-01".into(),
            via: "local".into(),
            os_account: Some(OsAccount {
                uid: 1000,
                name: "alice".into(),
            }),
        },
        action: Action::Quarantine,
        justification: justification.to_string(),
        quarantine_until: Some(until),
        escalate_to: Some("secops".into()),
        override_: false,
        escalated_by: Some("bob".into()),
        quarantined_by: None,
        shared_os_account: false,
        idempotency_key: None,
        request_sha256: None,
        readiness: ReadinessSummary {
            q1: Status::Answered,
            q2: Status::Partial,
            q3: Status::Unknown,
            tier: Tier::Medium,
            recommendation: Action::Quarantine,
            gaps: vec!["no rollback test".into(), "owner unconfirmed".into()],
        },
        used_during_quarantine: false,
        policy: PolicyRef {
            version: "2026.11".into(),
            sha256: "ab".repeat(32),
        },
        case_version: n,
        state_before: CaseState::Pending,
        state_after: CaseState::Quarantined { until },
        controls: vec!["RS.MI-01".into(), "NHI7:2025".into()],
        prev_hash: String::new(),
        hash: String::new(),
    }
}

fn justification(n: u64) -> String {
    format!("decision {n:03}: owner confirmed the key is unused")
}

/// A fresh log in a temporary directory with `n` records appended.
fn log_with(n: u64) -> Result<(TempDir, EvidenceLog, Vec<EvidenceRecord>), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let log = EvidenceLog::new(dir.path().join("evidence.jsonl"));
    let mut sealed = Vec::new();
    for i in 1..=n {
        sealed.push(log.lock()?.append(record(i, &justification(i)))?);
    }
    Ok((dir, log, sealed))
}

/// The file's lines, each with its `\n` (a torn tail comes last without one).
fn lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).expect("read log");
    text.split_inclusive('\n').map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::write(path, lines.concat()).expect("write log");
}

fn first_bad(log: &EvidenceLog) -> ChainBreak {
    let report = log.verify().expect("verify");
    assert!(!report.is_ok(), "tampering went unnoticed: {report:?}");
    report.first_bad.expect("a chain break")
}

/// Re-seals `r` the way an attacker who knows the format would: the hash
/// covers the canonical JSON without `hash`, which is appended last.
fn forge_line(r: &EvidenceRecord) -> (String, String) {
    let mut r = r.clone();
    r.hash.clear();
    let body = serde_json::to_string(&r).expect("encode");
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    let line = format!("{},\"hash\":\"{hash}\"}}\n", &body[..body.len() - 1]);
    (line, hash)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}

// 1. Appending and the chain on disk.

#[test]
fn appended_records_form_a_chain() -> TestResult {
    let (_dir, log, sealed) = log_with(5)?;

    let report = log.verify()?;
    assert!(report.is_ok(), "{}", report.summary());
    assert_eq!(report.records, 5);
    assert_eq!(report.last_seq, 5);
    assert_eq!(report.first_bad, None);
    assert_eq!(report.torn_tail, None);

    assert_eq!(GENESIS_HASH, "0".repeat(64));
    assert_eq!(sealed[0].prev_hash, GENESIS_HASH);
    for (i, r) in sealed.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(r.hash.len(), 64);
        assert!(
            r.hash
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        if i > 0 {
            assert_eq!(
                r.prev_hash,
                sealed[i - 1].hash,
                "record {} does not link",
                r.seq
            );
        }
    }
    assert_eq!(report.head_hash, sealed[4].hash);

    let on_disk = lines(log.path());
    assert_eq!(on_disk.len(), 5);
    for (line, r) in on_disk.iter().zip(&sealed) {
        assert!(line.starts_with(&format!("{{\"seq\":{},", r.seq)), "{line}");
        let suffix = format!(
            ",\"prev_hash\":\"{}\",\"hash\":\"{}\"}}\n",
            r.prev_hash, r.hash
        );
        assert!(
            line.ends_with(&suffix),
            "line {} ends wrongly: {line}",
            r.seq
        );
        // The hash is SHA-256 of the record's bytes as written, without `hash`.
        let without_hash = format!("{}}}", &line[..line.len() - ",\"hash\":\"\"}\n".len() - 64]);
        assert_eq!(hex::encode(Sha256::digest(without_hash.as_bytes())), r.hash);
        // And the line is the record, field for field.
        let parsed: EvidenceRecord = serde_json::from_str(line.trim_end())?;
        assert_eq!(&parsed, r);
    }

    // The records read back are the sealed ones.
    let read = log.read_since(&Cursor::default())?;
    assert_eq!(read.records, sealed);
    assert_eq!(read.torn, None);
    assert_eq!(read.broken, None);
    Ok(())
}

// 2. Tampering.

#[test]
fn edited_justification_is_named_same_and_different_length() -> TestResult {
    for replacement in ["confirmeD", "denied"] {
        let (_dir, log, _) = log_with(5)?;
        let mut l = lines(log.path());
        let before = l[2].clone();
        l[2] = l[2].replace("confirmed", replacement);
        assert_ne!(l[2], before);
        if replacement.len() == "confirmed".len() {
            assert_eq!(l[2].len(), before.len());
        }
        write_lines(log.path(), &l);

        let report = log.verify()?;
        let brk = report.first_bad.clone().expect("break");
        assert_eq!((brk.seq, brk.line), (3, 3), "{replacement}: {brk:?}");
        assert!(brk.reason.contains("edited"), "{}", brk.reason);
        assert_eq!(
            report.records, 2,
            "only the records before the edit are good"
        );
        assert!(!report.is_ok());
        assert!(report.summary().contains("seq 3"), "{}", report.summary());
    }
    Ok(())
}

#[test]
fn deleted_record_names_the_missing_seq() -> TestResult {
    let (_dir, log, _) = log_with(5)?;
    let mut l = lines(log.path());
    l.remove(2);
    write_lines(log.path(), &l);
    // Line 3 now holds seq 4 where seq 3 was expected: seq 3 is missing.
    let brk = first_bad(&log);
    assert_eq!((brk.seq, brk.line), (3, 3), "{brk:?}");
    assert!(brk.reason.contains("found seq 4"), "{}", brk.reason);
    assert!(brk.reason.contains("deleted"), "{}", brk.reason);
    Ok(())
}

#[test]
fn swapped_records_name_the_first_out_of_place() -> TestResult {
    let (_dir, log, _) = log_with(5)?;
    let mut l = lines(log.path());
    l.swap(1, 2);
    write_lines(log.path(), &l);
    // Line 2 holds seq 3 where seq 2 was expected.
    let brk = first_bad(&log);
    assert_eq!((brk.seq, brk.line), (2, 2), "{brk:?}");
    assert!(brk.reason.contains("found seq 3"), "{}", brk.reason);
    Ok(())
}

#[test]
fn repeated_record_is_named_at_the_copy() -> TestResult {
    let (_dir, log, _) = log_with(5)?;
    let mut l = lines(log.path());
    let copy = l[1].clone();
    l.insert(2, copy);
    write_lines(log.path(), &l);
    // Line 3 holds a second seq 2 where seq 3 was expected.
    let report = log.verify()?;
    let brk = report.first_bad.expect("break");
    assert_eq!((brk.seq, brk.line), (3, 3), "{brk:?}");
    assert!(brk.reason.contains("found seq 2"), "{}", brk.reason);
    assert!(brk.reason.contains("repeated"), "{}", brk.reason);
    assert_eq!(report.records, 2);
    Ok(())
}

/// A forger who knows the format can re-seal a record so it is internally
/// consistent (right seq, right prev_hash, matching hash): a chain with no
/// secret cannot reject that line on its own. What it does catch is the
/// record that follows: inserted after line 2, the forgery takes seq 3, so
/// line 4 holds the genuine seq 3 where seq 4 is expected. verify therefore
/// names seq 4 (the position, line 4), counts the forgery among the good
/// records, and its reason says it found seq 3 there.
#[test]
fn inserted_forgery_is_caught_at_the_next_record() -> TestResult {
    let (_dir, log, sealed) = log_with(5)?;
    let mut forged = sealed[2].clone();
    forged.justification = "decision 003: owner approved everything".into();
    forged.id = uuid::Uuid::now_v7();
    let (forged_line, forged_hash) = forge_line(&forged);
    assert_eq!(forged.seq, 3);
    assert_eq!(forged.prev_hash, sealed[1].hash);

    let mut l = lines(log.path());
    l.insert(2, forged_line);
    write_lines(log.path(), &l);

    let report = log.verify()?;
    let brk = report.first_bad.clone().expect("break");
    assert_eq!((brk.seq, brk.line), (4, 4), "{brk:?}");
    assert!(
        brk.reason.contains("expected seq 4, found seq 3"),
        "{}",
        brk.reason
    );
    assert_eq!(
        report.records, 3,
        "records 1, 2 and the self-consistent forgery"
    );
    assert_eq!(report.head_hash, forged_hash);
    Ok(())
}

/// Replacing record 3 in place with a re-sealed forgery is caught at seq 4:
/// its prev_hash still names the genuine record 3.
#[test]
fn replaced_forgery_is_caught_by_the_next_link() -> TestResult {
    let (_dir, log, sealed) = log_with(5)?;
    let mut forged = sealed[2].clone();
    forged.action = Action::Approve;
    let (forged_line, _) = forge_line(&forged);
    let mut l = lines(log.path());
    l[2] = forged_line;
    write_lines(log.path(), &l);

    let brk = first_bad(&log);
    assert_eq!((brk.seq, brk.line), (4, 4), "{brk:?}");
    assert!(brk.reason.contains("prev_hash"), "{}", brk.reason);
    Ok(())
}

/// The limit of a secret-free chain: a re-sealed *last* record passes
/// verification; only the head hash, compared with a copy kept elsewhere,
/// shows the log was rewritten.
#[test]
fn resealed_last_record_changes_only_the_head_hash() -> TestResult {
    let (_dir, log, sealed) = log_with(5)?;
    let mut forged = sealed[4].clone();
    forged.justification = "rewritten".into();
    let (forged_line, forged_hash) = forge_line(&forged);
    let mut l = lines(log.path());
    l[4] = forged_line;
    write_lines(log.path(), &l);

    let report = log.verify()?;
    assert!(report.is_ok());
    assert_ne!(report.head_hash, sealed[4].hash);
    assert_eq!(report.head_hash, forged_hash);
    Ok(())
}

#[test]
fn edited_hash_of_last_record_is_named() -> TestResult {
    let (_dir, log, sealed) = log_with(5)?;
    let mut l = lines(log.path());
    let hash = &sealed[4].hash;
    let last = hash.as_bytes()[63];
    let other = if last == b'0' { '1' } else { '0' };
    let edited = format!("{}{other}", &hash[..63]);
    l[4] = l[4].replace(hash.as_str(), &edited);
    write_lines(log.path(), &l);

    let report = log.verify()?;
    let brk = report.first_bad.clone().expect("break");
    assert_eq!((brk.seq, brk.line), (5, 5), "{brk:?}");
    assert!(brk.reason.contains("hash does not match"), "{}", brk.reason);
    assert_eq!(report.records, 4);
    assert_eq!(report.head_hash, sealed[3].hash);

    // A hash that is not even hex is named at the same seq.
    let mut l = lines(log.path());
    l[4] = l[4].replace(&edited, &format!("{}g", &hash[..63]));
    write_lines(log.path(), &l);
    let brk = first_bad(&log);
    assert_eq!((brk.seq, brk.line), (5, 5), "{brk:?}");
    Ok(())
}

#[test]
fn changed_control_id_is_detected() -> TestResult {
    let (_dir, log, _) = log_with(5)?;
    let mut l = lines(log.path());
    assert!(l[3].contains("\"RS.MI-01\""));
    l[3] = l[3].replace("\"RS.MI-01\"", "\"RS.MI-02\"");
    write_lines(log.path(), &l);
    let brk = first_bad(&log);
    assert_eq!((brk.seq, brk.line), (4, 4), "{brk:?}");
    assert!(brk.reason.contains("edited"), "{}", brk.reason);
    Ok(())
}

#[test]
fn added_whitespace_is_detected() -> TestResult {
    // (pattern, replacement) pairs: each changes only whitespace.
    let edits = [
        ("\"case_id\":", "\"case_id\": "),
        ("{\"seq\":2,", "{\"seq\": 2,"),
        (",\"controls\":", ", \"controls\":"),
        ("\"}\n", "\" }\n"),
        ("\"}\n", "\"} \n"),
    ];
    for (from, to) in edits {
        let (_dir, log, sealed) = log_with(3)?;
        let mut l = lines(log.path());
        assert!(l[1].contains(from), "{from:?} not in {}", l[1]);
        l[1] = l[1].replacen(from, to, 1);
        // Still the same record to a JSON parser: only the bytes differ.
        let parsed: EvidenceRecord = serde_json::from_str(l[1].trim_end())?;
        assert_eq!(parsed, sealed[1]);
        write_lines(log.path(), &l);

        let brk = first_bad(&log);
        assert_eq!((brk.seq, brk.line), (2, 2), "{from:?} -> {to:?}: {brk:?}");
    }
    Ok(())
}

// 3. Torn tail and repair.

#[test]
fn torn_tail_blocks_appends_until_repaired() -> TestResult {
    let (dir, log, sealed) = log_with(5)?;
    let full = fs::read(log.path())?;
    let l = lines(log.path());
    let whole: usize = l[..4].iter().map(String::len).sum();
    let cut = whole + l[4].len() / 2;
    fs::write(log.path(), &full[..cut])?;
    let torn_bytes = full[whole..cut].to_vec();

    // verify: four good records, then a torn tail; not ok.
    let report = log.verify()?;
    assert_eq!(report.records, 4);
    assert_eq!(report.last_seq, 4);
    assert_eq!(report.first_bad, None);
    assert_eq!(
        report.torn_tail,
        Some((whole as u64, torn_bytes.len() as u64))
    );
    assert_eq!(report.head_hash, sealed[3].hash);
    assert!(!report.is_ok());
    assert!(
        report.summary().contains("evidence repair"),
        "{}",
        report.summary()
    );

    // append refuses and writes nothing.
    let err = log
        .lock()?
        .append(record(6, "after the crash"))
        .unwrap_err();
    match &err {
        EvidenceError::TornTail { offset, len, .. } => {
            assert_eq!(*offset, whole as u64);
            assert_eq!(*len, torn_bytes.len() as u64);
        }
        other => panic!("expected TornTail, got {other:?}"),
    }
    assert!(err.to_string().contains("evidence repair"), "{err}");
    assert_eq!(fs::read(log.path())?, &full[..cut]);

    // repair moves exactly the torn bytes to a side file next to the log.
    let repaired = log.repair()?;
    assert_eq!(repaired.moved_bytes, torn_bytes.len() as u64);
    let side = repaired.side_file.expect("side file");
    assert_eq!(side.parent(), log.path().parent());
    let side_name = side.file_name().unwrap().to_string_lossy().into_owned();
    assert!(side_name.starts_with("evidence.jsonl.torn-"), "{side_name}");
    assert_eq!(fs::read(&side)?, torn_bytes);
    assert_eq!(fs::read(log.path())?, &full[..whole]);
    assert_eq!(
        files_in(dir.path()),
        vec![log.path().to_path_buf(), side.clone()]
    );

    let report = log.verify()?;
    assert!(report.is_ok(), "{}", report.summary());
    assert_eq!(report.records, 4);

    // Appending works again, continuing the chain at seq 5.
    let next = log.lock()?.append(record(6, "after the repair"))?;
    assert_eq!(next.seq, 5);
    assert_eq!(next.prev_hash, sealed[3].hash);
    let report = log.verify()?;
    assert!(report.is_ok(), "{}", report.summary());
    assert_eq!(report.records, 5);
    assert_eq!(report.head_hash, next.hash);

    // A second repair has nothing to do.
    let again = log.repair()?;
    assert_eq!(again.moved_bytes, 0);
    assert_eq!(again.side_file, None);
    assert_eq!(files_in(dir.path()).len(), 2);
    Ok(())
}

#[test]
fn repair_of_a_clean_log_is_a_no_op() -> TestResult {
    let (dir, log, _) = log_with(3)?;
    let before = fs::read(log.path())?;
    let report = log.repair()?;
    assert_eq!(report.moved_bytes, 0);
    assert_eq!(report.side_file, None);
    assert_eq!(fs::read(log.path())?, before);
    assert_eq!(files_in(dir.path()), vec![log.path().to_path_buf()]);
    Ok(())
}

#[test]
fn append_refuses_after_a_last_line_that_is_not_sealed() -> TestResult {
    let (_dir, log, _) = log_with(2)?;
    let mut l = lines(log.path());
    l.push("{\"note\":\"not a record\"}\n".into());
    write_lines(log.path(), &l);
    let before = fs::read(log.path())?;
    let err = log.lock()?.append(record(3, "x")).unwrap_err();
    assert!(matches!(err, EvidenceError::BadTail { .. }), "{err:?}");
    assert_eq!(fs::read(log.path())?, before);
    Ok(())
}

// 4. Incremental reads.

#[test]
fn read_since_returns_only_new_records() -> TestResult {
    let (_dir, log, sealed) = log_with(5)?;
    let first = log.read_since(&Cursor::default())?;
    assert_eq!(first.records, sealed);
    assert_eq!(first.torn, None);
    assert_eq!(first.broken, None);
    assert_eq!(first.cursor.last_seq, 5);
    assert_eq!(first.cursor.line, 5);
    assert_eq!(first.cursor.last_hash, sealed[4].hash);
    assert_eq!(first.cursor.offset, fs::metadata(log.path())?.len());

    // Nothing new: nothing returned, cursor unchanged.
    let none = log.read_since(&first.cursor)?;
    assert!(none.records.is_empty());
    assert_eq!(none.cursor, first.cursor);

    let a = log.lock()?.append(record(6, &justification(6)))?;
    let b = log.lock()?.append(record(7, &justification(7)))?;
    let next = log.read_since(&first.cursor)?;
    assert_eq!(next.records, vec![a, b.clone()]);
    assert_eq!(next.cursor.last_seq, 7);
    assert_eq!(next.cursor.last_hash, b.hash);
    assert_eq!(next.torn, None);
    assert_eq!(next.broken, None);
    Ok(())
}

#[test]
fn read_since_reports_a_torn_tail_without_failing() -> TestResult {
    let (_dir, log, sealed) = log_with(5)?;
    let cursor = log.read_since(&Cursor::default())?.cursor;
    let len = fs::metadata(log.path())?.len();
    let partial = b"{\"seq\":6,\"id\":\"0193";
    let mut bytes = fs::read(log.path())?;
    bytes.extend_from_slice(partial);
    fs::write(log.path(), &bytes)?;

    let out = log.read_since(&cursor)?;
    assert!(out.records.is_empty());
    assert_eq!(out.broken, None);
    assert_eq!(
        out.cursor, cursor,
        "the cursor does not move past a torn write"
    );
    let torn = out.torn.expect("torn tail");
    assert_eq!((torn.offset, torn.len), (len, partial.len() as u64));

    let all = log.read_since(&Cursor::default())?;
    assert_eq!(all.records, sealed);
    assert_eq!(all.torn, Some(torn));
    Ok(())
}

#[test]
fn read_since_stops_at_a_broken_line() -> TestResult {
    let (_dir, log, sealed) = log_with(5)?;
    let mut l = lines(log.path());
    l[2] = l[2].replace("confirmed", "denied");
    write_lines(log.path(), &l);

    let out = log.read_since(&Cursor::default())?;
    assert_eq!(out.records, sealed[..2]);
    assert_eq!(out.torn, None);
    let brk = out.broken.expect("broken");
    assert_eq!((brk.seq, brk.line), (3, 3), "{brk:?}");
    assert_eq!(out.cursor.last_seq, 2);
    assert_eq!(out.cursor.last_hash, sealed[1].hash);
    Ok(())
}

#[test]
fn read_since_refuses_a_log_that_shrank() -> TestResult {
    let (_dir, log, _) = log_with(3)?;
    let cursor = log.read_since(&Cursor::default())?.cursor;
    let l = lines(log.path());
    write_lines(log.path(), &l[..2]);
    let err = log.read_since(&cursor).unwrap_err();
    assert!(matches!(err, EvidenceError::Shrunk { .. }), "{err:?}");
    Ok(())
}

// 5. Concurrent writers in one process.

#[test]
fn concurrent_appends_from_separate_handles_keep_the_chain() -> TestResult {
    const THREADS: u64 = 8;
    const EACH: u64 = 50;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("evidence.jsonl");

    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || -> Result<Vec<u64>, EvidenceError> {
                let log = EvidenceLog::new(path);
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    let n = t * EACH + i;
                    let sealed = log
                        .lock()?
                        .append(record(n, &format!("thread {t} append {i}")))?;
                    seqs.push(sealed.seq);
                }
                Ok(seqs)
            })
        })
        .collect();
    let mut returned = Vec::new();
    for h in handles {
        returned.extend(h.join().expect("thread panicked")?);
    }

    let total = THREADS * EACH;
    let expected: BTreeSet<u64> = (1..=total).collect();
    let unique: BTreeSet<u64> = returned.iter().copied().collect();
    assert_eq!(returned.len() as u64, total);
    assert_eq!(unique, expected, "every append got its own seq");

    let log = EvidenceLog::new(&path);
    let report = log.verify()?;
    assert!(report.is_ok(), "{}", report.summary());
    assert_eq!(report.records, total);
    assert_eq!(report.last_seq, total);

    let read = log.read_since(&Cursor::default())?;
    let seqs: Vec<u64> = read.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    let ids: BTreeSet<_> = read.records.iter().map(|r| r.id).collect();
    assert_eq!(ids.len() as u64, total);
    Ok(())
}

// 6. Exports.

/// A strict RFC 4180 reader: CRLF row ends, quotes only around whole cells.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut fresh = true;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    quoted = false;
                    assert!(
                        matches!(chars.peek(), Some(',' | '\r')),
                        "text after a closing quote"
                    );
                }
            } else {
                cell.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                assert!(fresh, "quote inside an unquoted cell");
                quoted = true;
                fresh = false;
            }
            ',' => {
                row.push(std::mem::take(&mut cell));
                fresh = true;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
                fresh = true;
            }
            '\n' => panic!("bare LF outside quotes"),
            _ => {
                cell.push(c);
                fresh = false;
            }
        }
    }
    assert!(
        !quoted && cell.is_empty() && row.is_empty(),
        "unterminated last row"
    );
    rows
}

#[test]
fn csv_export_quotes_and_defuses_cells() -> TestResult {
    let tricky = "needs \"review\", see\nticket 42";
    let formula = "=HYPERLINK(\"http://evil.example\")";
    let dir = tempfile::tempdir()?;
    let log = EvidenceLog::new(dir.path().join("evidence.jsonl"));
    for (i, j) in [justification(1).as_str(), tricky, formula, "-1 day"]
        .iter()
        .enumerate()
    {
        log.lock()?.append(record(i as u64 + 1, j))?;
    }
    let records = log.read_since(&Cursor::default())?.records;
    assert_eq!(records.len(), 4);

    let mut out = Vec::new();
    to_csv(&records, &mut out)?;
    let text = String::from_utf8(out)?;
    assert!(
        text.contains("\"needs \"\"review\"\", see\nticket 42\""),
        "{text}"
    );

    let rows = parse_csv(&text);
    assert_eq!(
        rows.len(),
        1 + records.len(),
        "a header and one row per record"
    );
    let header = &rows[0];
    assert_eq!(header[0], "seq");
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (j, seq, hash, prev) = (
        col("justification"),
        col("seq"),
        col("hash"),
        col("prev_hash"),
    );
    for (row, r) in rows[1..].iter().zip(&records) {
        assert_eq!(row.len(), header.len());
        assert_eq!(row[seq], r.seq.to_string());
        assert_eq!(row[hash], r.hash);
        assert_eq!(row[prev], r.prev_hash);
        assert_eq!(row[col("case_id")], r.case_id);
        assert_eq!(row[col("controls")], "RS.MI-01 NHI7:2025");
    }
    assert_eq!(rows[1][j], justification(1));
    assert_eq!(rows[2][j], tricky, "round-trips through a quoted cell");
    assert_eq!(rows[3][j], format!("'{formula}"));
    assert_eq!(rows[4][j], "'-1 day");
    Ok(())
}

#[test]
fn json_export_parses_back_to_the_same_records() -> TestResult {
    let (_dir, log, sealed) = log_with(3)?;
    let records = log.read_since(&Cursor::default())?.records;
    let mut out = Vec::new();
    to_json(&records, &mut out)?;
    let back: Vec<EvidenceRecord> = serde_json::from_slice(&out)?;
    assert_eq!(back, sealed);
    assert!(back.iter().all(|r| r.hash.len() == 64));

    let mut empty = Vec::new();
    to_json(&[], &mut empty)?;
    let back: Vec<EvidenceRecord> = serde_json::from_slice(&empty)?;
    assert!(back.is_empty());
    Ok(())
}

// 7. Empty and missing logs.

#[test]
fn verify_of_an_empty_or_missing_log_is_ok() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = EvidenceLog::new(dir.path().join("missing.jsonl"));
    let report = missing.verify()?;
    assert!(report.is_ok());
    assert_eq!(report, VerifyReport::empty());
    assert_eq!(report.records, 0);
    assert_eq!(report.head_hash, GENESIS_HASH);
    assert!(!missing.path().exists(), "verify does not create the log");
    let read = missing.read_since(&Cursor::default())?;
    assert!(read.records.is_empty());

    let empty_path = dir.path().join("empty.jsonl");
    fs::write(&empty_path, b"")?;
    let report = EvidenceLog::new(&empty_path).verify()?;
    assert!(report.is_ok());
    assert_eq!(report.records, 0);
    assert_eq!(report.last_seq, 0);
    assert_eq!(report.head_hash, GENESIS_HASH);
    Ok(())
}
