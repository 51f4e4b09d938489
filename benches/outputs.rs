//! `list --json` on a large store, against a bare serde_json parse of the
//! same case file into `Value` (issue 8, item 14: it took 11 s and 1.75 GB
//! for 100k cases, 2 × the bare parse, before it was streamed).
//!
//! Both sides run as processes so their peak memory (VmHWM, the resident
//! high-water mark) compares like for like: the release binary
//! `nhi-triage --store DIR list --json --state all > /dev/null`, and this
//! bench re-run as a child that parses the file and reports its own peak.
//! The binary's peak is read from /proc every 5 ms until it exits.
//!
//! `cargo bench --bench outputs`; `BENCH_CASES` changes the size (100k).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{env_usize, ms, write_cases};

const CHILD_ENV: &str = "NHI_BENCH_BARE_PARSE";

fn main() {
    if let Ok(file) = std::env::var(CHILD_ENV) {
        bare_parse_child(Path::new(&file));
        return;
    }
    let n = env_usize("BENCH_CASES", 100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    let file = write_cases(&store.join("cases"), n);
    let bytes = std::fs::metadata(&file).expect("size").len();
    println!("# nhi-triage output benchmarks\n");
    println!(
        "## `list --json` on {n} cases ({:.1} MB case file)\n",
        bytes as f64 / 1e6
    );

    let mut bare = Vec::new();
    let mut ours = Vec::new();
    let mut text = Vec::new();
    let mut out_bytes = 0;
    for _ in 0..3 {
        bare.push(run_bare(&file));
        let (run, written) = run_list(&store, &["list", "--json", "--state", "all"]);
        ours.push(run);
        out_bytes = written;
        text.push(run_list(&store, &["list", "--state", "all"]).0);
    }
    let bare = median_run(bare);
    let ours = median_run(ours);
    let text = median_run(text);
    println!("| measure | wall time (median of 3) | peak memory (VmHWM) |");
    println!("|---|---|---|");
    println!(
        "| bare serde_json parse of the file into `Value` (a process) | {} | {:.0} MB |",
        ms(bare.wall),
        mb(bare.peak)
    );
    println!(
        "| `nhi-triage list --json --state all` (load, assess, sort, write {:.0} MB) | {} = {:.2} × bare | {:.0} MB = {:.2} × bare |",
        out_bytes as f64 / 1e6,
        ms(ours.wall),
        ours.wall.as_secs_f64() / bare.wall.as_secs_f64(),
        mb(ours.peak),
        ours.peak as f64 / bare.peak as f64
    );
    println!(
        "| `nhi-triage list --state all` (text) | {} = {:.2} × bare | {:.0} MB = {:.2} × bare |",
        ms(text.wall),
        text.wall.as_secs_f64() / bare.wall.as_secs_f64(),
        mb(text.peak),
        text.peak as f64 / bare.peak as f64
    );
    println!();
}

#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    /// Peak resident bytes.
    peak: u64,
}

fn median_run(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.wall);
    let wall = runs[runs.len() / 2].wall;
    let mut peaks: Vec<u64> = runs.iter().map(|r| r.peak).collect();
    peaks.sort();
    Run {
        wall,
        peak: peaks[peaks.len() / 2],
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// VmHWM of a process, in bytes (None once it has exited).
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs the release binary on `store` with `args`, output counted and
/// dropped; its wall time and peak memory.
fn run_list(store: &Path, args: &[&str]) -> (Run, u64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nhi-triage"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env("NHI_TRIAGE_STORE", store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nhi-triage");
    let mut stdout = child.stdout.take().expect("stdout");
    let pid = child.id();
    let counter = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(k) => total += k as u64,
            }
        }
    });
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "nhi-triage {args:?} failed: {status}");
            break;
        }
        if let Some(hwm) = vm_hwm(pid) {
            peak = peak.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = start.elapsed();
    let written = counter.join().expect("counter");
    (Run { wall, peak }, written)
}

/// This bench as a child parsing `file` into `Value`s; it prints its peak.
fn run_bare(file: &Path) -> Run {
    let start = Instant::now();
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD_ENV, file)
        .stderr(Stdio::inherit())
        .output()
        .expect("run bare parse");
    let wall = start.elapsed();
    assert!(out.status.success(), "bare parse failed");
    let peak = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("peak bytes");
    Run { wall, peak }
}

fn bare_parse_child(file: &Path) {
    let text = std::fs::read_to_string(file).expect("read cases");
    let parsed: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(!parsed.is_empty());
    let peak = vm_hwm(std::process::id()).expect("VmHWM");
    println!("{peak}");
}
