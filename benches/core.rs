//! Core benchmarks against the DESIGN.md targets, measured as ratios to a
//! bare baseline in the same run so they hold on any machine:
//!
//! - load 100k cases ≤ 1.25 × a bare serde_json parse of the same file;
//! - memory for 100k cases ≤ 2 × the bytes of the case file;
//! - verify 1M evidence records ≤ 1.5 × a bare SHA-256 over the file;
//! - evidence append latency (fsync'd).
//!
//! `cargo bench --bench core`; `BENCH_CASES` and `BENCH_RECORDS` change the sizes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nhi_triage::evidence::{EvidenceLog, EvidenceRecord, GENESIS_HASH, ReadinessSummary};
use nhi_triage::model::{Action, Case, CaseState, CaseStatus, OsAccount, Reviewer, load_dir};
use nhi_triage::policy::{Policy, PolicyRef, Status, Tier, assess, queue_order};
use sha2::{Digest, Sha256};

mod support;
use support::{LIVE, env_usize, interleaved, median, ms, verdict, write_cases};
use time::OffsetDateTime;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("# nhi-triage core benchmarks\n");
    bench_load(dir.path());
    bench_append(dir.path());
    bench_verify(dir.path());
}

fn bench_load(root: &Path) {
    let n = env_usize("BENCH_CASES", 100_000);
    let cases_dir = root.join("cases");
    let file = write_cases(&cases_dir, n);
    let bytes = std::fs::metadata(&file).expect("size").len();

    let read = || {
        let mut s = String::new();
        std::fs::File::open(&file)
            .and_then(|mut f| f.read_to_string(&mut s))
            .expect("read");
        s
    };
    let mut bare_value = || -> Box<dyn std::any::Any> {
        let text = read();
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(parsed.len(), n);
        Box::new(parsed)
    };
    let mut bare_typed = || -> Box<dyn std::any::Any> {
        let text = read();
        let parsed: Vec<Case> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(parsed.len(), n);
        Box::new(parsed)
    };
    let mut ours = || -> Box<dyn std::any::Any> {
        let report = load_dir(&cases_dir).expect("load");
        assert_eq!(report.cases.len(), n);
        assert!(report.problems.is_empty());
        Box::new(report)
    };
    let [bare_value, bare_typed, ours] =
        interleaved(7, &mut [&mut bare_value, &mut bare_typed, &mut ours]);

    let before = LIVE.load(Ordering::Relaxed);
    let report = load_dir(&cases_dir).expect("load");
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);

    let policy = Policy::default();
    let now = OffsetDateTime::now_utc();
    let pending = CaseStatus::pending();
    let queue = median(3, || {
        let mut rows: Vec<(&Case, Tier)> = report
            .cases
            .iter()
            .map(|c| (c, assess(c, &pending, &policy, now).tier))
            .collect();
        rows.sort_by(|a, b| queue_order(*a, *b));
        assert_eq!(rows.len(), n);
    });

    let ratio_value = ours.as_secs_f64() / bare_value.as_secs_f64();
    let ratio_typed = ours.as_secs_f64() / bare_typed.as_secs_f64();
    let mem_ratio = held as f64 / bytes as f64;
    println!("## Loading {n} cases ({:.1} MB file)\n", bytes as f64 / 1e6);
    println!("| measure | median | ratio | target |");
    println!("|---|---|---|---|");
    println!(
        "| bare serde_json parse to `Value` | {} | | |",
        ms(bare_value)
    );
    println!(
        "| bare serde_json parse to our `Case` struct | {} | 1.00 | |",
        ms(bare_typed)
    );
    println!(
        "| `load_dir` (parse, origins, duplicate check) | {} | {:.2} × typed ({:.2} × Value) | ≤ 1.25 × bare: {} |",
        ms(ours),
        ratio_typed,
        ratio_value,
        verdict(ratio_typed <= 1.25)
    );
    println!(
        "| heap held by the loaded cases | {:.1} MB | {:.2} × file | ≤ 2 ×: {} |",
        held as f64 / 1e6,
        mem_ratio,
        verdict(mem_ratio <= 2.0)
    );
    println!("| assess + sort the whole queue | {} | | |\n", ms(queue));
}

fn record(i: u64) -> EvidenceRecord {
    EvidenceRecord {
        seq: 0,
        id: uuid::Uuid::now_v7(),
        ts: OffsetDateTime::now_utc(),
        case_id: format!("CASE-{i:07}"),
        case_sha256: Some("cd".repeat(32)),
        identity_id: format!("arn:aws:iam::123456789012:user/svc-bench-{i}"),
        reviewer: Reviewer {
            name: "bench".into(),
            host: "bastion-1".into(),
            via: "ssh".into(),
            os_account: Some(OsAccount {
                uid: 1000,
                name: "bench".into(),
            }),
        },
        action: Action::Quarantine,
        justification: "Owner unreachable for 3 days; containing until the billing team confirms the dependency map."
            .into(),
        quarantine_until: Some(OffsetDateTime::now_utc()),
        escalate_to: None,
        override_: false,
        escalated_by: None,
        quarantined_by: None,
        shared_os_account: false,
        idempotency_key: None,
        request_sha256: None,
        readiness: ReadinessSummary {
            q1: Status::Partial,
            q2: Status::Answered,
            q3: Status::Answered,
            tier: Tier::Medium,
            recommendation: Action::Quarantine,
            gaps: vec!["Q1: dependency map verified 12 days ago (limit 7 days)".into()],
        },
        used_during_quarantine: false,
        policy: PolicyRef {
            version: "default-1".into(),
            sha256: "ab".repeat(32),
        },
        case_version: 0,
        state_before: CaseState::Pending,
        state_after: CaseState::Quarantined {
            until: OffsetDateTime::now_utc(),
        },
        controls: vec!["PR.AA-01".into(), "RS.MI-01".into(), "RS.AN-06".into(), "NHI1:2025".into()],
        prev_hash: String::new(),
        hash: String::new(),
    }
}

fn bench_append(root: &Path) {
    let log = EvidenceLog::new(root.join("append.jsonl"));
    let n = 200;
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            let mut locked = log.lock().expect("lock");
            locked.append(record(i)).expect("append");
            t.elapsed()
        })
        .collect();
    times.sort();
    println!("## Evidence append (lock, tail check, write, fdatasync)\n");
    println!("| appends | median | p99 |");
    println!("|---|---|---|");
    println!(
        "| {n} | {:.2} ms | {:.2} ms |\n",
        times[n as usize / 2].as_secs_f64() * 1e3,
        times[n as usize * 99 / 100].as_secs_f64() * 1e3
    );
}

fn bench_verify(root: &Path) {
    let n = env_usize("BENCH_RECORDS", 1_000_000) as u64;
    let path = root.join("evidence.jsonl");
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("log"));
    let mut prev = GENESIS_HASH.to_string();
    for i in 0..n {
        let mut r = record(i);
        let line = r.seal(i + 1, &prev).expect("seal");
        out.write_all(&line).expect("write");
        prev = r.hash;
    }
    out.flush().expect("flush");
    drop(out);
    let bytes = std::fs::metadata(&path).expect("size").len();

    let mut bare = || -> Box<dyn std::any::Any> {
        let mut f = std::fs::File::open(&path).expect("open");
        let mut buf = vec![0u8; 1 << 20];
        let mut h = Sha256::new();
        loop {
            let k = f.read(&mut buf).expect("read");
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
        }
        Box::new(h.finalize())
    };
    let log = EvidenceLog::new(&path);
    let mut ours = || -> Box<dyn std::any::Any> {
        let report = log.verify().expect("verify");
        assert!(report.is_ok() && report.records == n);
        Box::new(report)
    };
    let [bare, ours] = interleaved(5, &mut [&mut bare, &mut ours]);
    let ratio = ours.as_secs_f64() / bare.as_secs_f64();
    println!(
        "## Verifying {n} evidence records ({:.0} MB)\n",
        bytes as f64 / 1e6
    );
    println!("| measure | median | ratio | target |");
    println!("|---|---|---|---|");
    println!("| bare SHA-256 over the file | {} | 1.00 | |", ms(bare));
    println!(
        "| `evidence verify` (hash, seq, links) | {} | {:.2} | ≤ 1.5: {} |",
        ms(ours),
        ratio,
        verdict(ratio <= 1.5)
    );
}
