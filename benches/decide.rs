//! What deciding "on the case as it is on disk" costs (issue 7): before every
//! decision the store re-checks every case file's signature and re-reads the
//! decided case's own file, under the evidence lock. Measured as a ratio to
//! the bare evidence append (lock, tail check, write, fdatasync) in the same
//! run.
//!
//! `cargo bench --bench decide`; `BENCH_CASES` (default 20 000) cases split
//! into `BENCH_FILES` (default 100) files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use nhi_triage::evidence::EvidenceLog;
use nhi_triage::model::{Action, Decision, OsAccount, Reviewer};
use nhi_triage::store::{LocalStore, StoreLayout};
use support::{env_usize, ms, write_cases};

fn main() {
    let n = env_usize("BENCH_CASES", 20_000);
    let files = env_usize("BENCH_FILES", 100).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    StoreLayout::new(&root).init().expect("init");
    let ids = split_cases(&root, dir.path(), n, files);
    let store = LocalStore::open(&root).expect("open");

    let runs = 200.min(ids.len());
    let mut decide = Vec::with_capacity(runs);
    let mut append = Vec::with_capacity(runs);
    let bare = EvidenceLog::new(dir.path().join("bare.jsonl"));
    let mut last = None;
    for id in ids.iter().take(runs) {
        let t = Instant::now();
        let record = store
            .decide_blocking(quarantine(id), reviewer())
            .expect("decide");
        decide.push(t.elapsed());
        // The same record again on a bare log: the append alone.
        let t = Instant::now();
        let mut locked = bare.lock().expect("lock");
        locked.append(record.clone()).expect("append");
        drop(locked);
        append.push(t.elapsed());
        last = Some(record);
    }
    decide.sort();
    append.sort();
    let (d50, a50) = (decide[runs / 2], append[runs / 2]);

    // A pipeline rewrites one file: the next decision reloads the case files.
    let first_file = root.join("cases").join("part-0000.jsonl");
    let text = std::fs::read_to_string(&first_file).expect("read");
    std::fs::write(&first_file, text).expect("rewrite");
    let reload_id = &ids[runs];
    let t = Instant::now();
    store
        .decide_blocking(quarantine(reload_id), reviewer())
        .expect("decide after a rewrite");
    let after_rewrite = t.elapsed();

    println!("# Deciding on the case as it is on disk\n");
    println!("{n} cases in {files} files; {runs} quarantine decisions, each on another case.\n");
    println!("| measure | median | p99 | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| evidence append alone (lock, tail check, write, fdatasync) | {} | {} | 1.00 |",
        ms(a50),
        ms(p99(&append))
    );
    println!(
        "| decide: signatures of every case file + re-read of the case's file + assess + append | {} | {} | {:.2} |",
        ms(d50),
        ms(p99(&decide)),
        d50.as_secs_f64() / a50.as_secs_f64()
    );
    println!(
        "| decide right after a case file was rewritten (full reload of {n} cases) | {} | | {:.2} |",
        ms(after_rewrite),
        after_rewrite.as_secs_f64() / a50.as_secs_f64()
    );
    if let Some(r) = last {
        assert!(r.case_sha256.is_some());
    }
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

/// Writes `n` realistic cases into `files` files under `root/cases`;
/// returns the case ids, one from each file in turn (so consecutive
/// decisions re-read different files).
fn split_cases(root: &Path, scratch: &Path, n: usize, files: usize) -> Vec<String> {
    let one = write_cases(&scratch.join("one"), n);
    let text = std::fs::read_to_string(one).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let per = lines.len().div_ceil(files);
    let mut ids_by_file = Vec::new();
    for (k, chunk) in lines.chunks(per).enumerate() {
        let path = root.join("cases").join(format!("part-{k:04}.jsonl"));
        std::fs::write(&path, chunk.join("\n") + "\n").expect("write");
        let ids: Vec<String> = chunk
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["id"]
                    .as_str()
                    .expect("id")
                    .to_string()
            })
            .collect();
        ids_by_file.push(ids);
    }
    let mut ids = Vec::new();
    for i in 0..per {
        for file in &ids_by_file {
            if let Some(id) = file.get(i) {
                ids.push(id.clone());
            }
        }
    }
    ids
}

fn quarantine(id: &str) -> Decision {
    Decision {
        case_id: id.into(),
        action: Action::Quarantine,
        justification: "benchmark: contain until the owner confirms".into(),
        expected_version: 0,
        quarantine_hours: Some(24),
        escalate_to: None,
        override_: false,
        expected_case_sha256: None,
        idempotency_key: None,
    }
}

fn reviewer() -> Reviewer {
    Reviewer {
        name: "bench".into(),
        host: "bench".into(),
        via: "local".into(),
        os_account: Some(OsAccount {
            uid: 1000,
            name: "bench".into(),
        }),
    }
}
