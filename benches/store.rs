//! The store at scale (issue 9): a million generated cases (about 2.4 KB
//! each, dependency maps of 0–25 nodes) in the embedded SQLite store, each
//! operation measured against a bare serde_json parse of the same file into
//! the case struct, in the same run.
//!
//! `cargo bench --bench store`; `BENCH_CASES` (default 1 000 000) cases,
//! `BENCH_RUNS` (default 15) runs of `show` and `decide` (the real binary,
//! process start included). The 20k-case form runs in CI as the test
//! `store_scale` (correctness and flat memory, not times).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/generate.rs"]
mod generate;
mod support;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nhi_triage::model::Case;
use nhi_triage::store::StoreLayout;
use support::{env_usize, ms, verdict};

const BIN: &str = env!("CARGO_BIN_EXE_nhi-triage");

fn main() {
    let n = env_usize("BENCH_CASES", 1_000_000);
    let runs = env_usize("BENCH_RUNS", 15).max(1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("cases.jsonl");
    let t = Instant::now();
    let bytes = generate::write_jsonl(&file, n, 42);
    println!(
        "generated {n} cases, {:.1} MB ({:.0} bytes/case) in {}",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64,
        ms(t.elapsed())
    );

    let parse = bare_parse(&file);
    println!("bare serde_json parse into Case: {}", ms(parse));

    let root = tmp.path().join("store");
    StoreLayout::new(&root).init().expect("init");
    let store = root.to_str().unwrap().to_string();
    let (import, _) = timed(&["--store", &store, "import", file.to_str().unwrap()]);
    ratio("import", import, parse, 2.0);

    let ids: Vec<String> = (0..runs)
        .map(|i| format!("GEN-{:07}", (i * 7919 + 13) % n))
        .collect();
    let show: Vec<Duration> = ids
        .iter()
        .map(|id| timed(&["--store", &store, "show", id]).0)
        .collect();
    target("show ID", median(show), Duration::from_millis(20));
    let decide: Vec<Duration> = ids
        .iter()
        .map(|id| {
            timed(&[
                "--store",
                &store,
                "--reviewer",
                "bench",
                "decide",
                id,
                "--action",
                "quarantine",
                "--hours",
                "24",
                "--justification",
                "Bench: contain while the owner confirms the dependents",
            ])
            .0
        })
        .collect();
    target(
        "decide (fsync included)",
        median(decide),
        Duration::from_millis(30),
    );

    let (list, peak) = timed(&["--store", &store, "list", "--state", "all", "--json"]);
    ratio("list --json", list, parse, 1.5);
    println!(
        "list --json peak resident memory: {:.0} MB (target ≤ 100 MB): {}",
        peak as f64 / 1e6,
        verdict(peak <= 100_000_000)
    );
}

/// The floor every store operation is compared with: read the file and
/// parse each line into a `Case` (typed, no store, no checks).
fn bare_parse(file: &Path) -> Duration {
    let t = Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file).unwrap());
    let mut count = 0usize;
    for line in reader.lines() {
        let case: Case = serde_json::from_str(&line.unwrap()).expect("a generated case parses");
        count += usize::from(!case.id.is_empty());
    }
    assert!(count > 0);
    t.elapsed()
}

/// Runs the binary with `args` (output discarded); its wall time and peak
/// resident memory (VmHWM, read while it runs).
fn timed(args: &[&str]) -> (Duration, u64) {
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nhi-triage");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(
                status.success() || status.code() == Some(5),
                "nhi-triage {args:?} failed: {status}"
            );
            break;
        }
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    (t.elapsed(), peak)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ratio(what: &str, took: Duration, parse: Duration, limit: f64) {
    let r = took.as_secs_f64() / parse.as_secs_f64();
    println!(
        "{what}: {} = {r:.2} × the bare parse (target ≤ {limit} ×): {}",
        ms(took),
        verdict(r <= limit)
    );
}

fn target(what: &str, took: Duration, limit: Duration) {
    println!(
        "{what}: median {} (target ≤ {}): {}",
        ms(took),
        ms(limit),
        verdict(took <= limit)
    );
}
