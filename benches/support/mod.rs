//! What the benchmarks share: a heap counter, timing helpers and the
//! generated case files.
// The heap counter is a `GlobalAlloc` wrapper, which needs `unsafe`: the
// only unsafe code in the repository, and only in the benchmarks.
#![allow(dead_code, unsafe_code, clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nhi_triage::model::{Case, LoadReport, parse_jsonl};
use time::OffsetDateTime;

/// Counts live heap bytes, to measure what loaded cases cost in memory.
struct Counting;
pub static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median of `runs` timings of `f`; what `f` returns is dropped outside the
/// timing.
pub fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let out = f();
            let elapsed = t.elapsed();
            drop(out);
            elapsed
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Medians of interleaved runs of several measures, so drift in the machine
/// (page cache, other load) hits them alike.
pub fn interleaved<const N: usize>(
    runs: usize,
    fs: &mut [&mut dyn FnMut() -> Box<dyn std::any::Any>; N],
) -> [Duration; N] {
    let mut times = vec![Vec::with_capacity(runs); N];
    for _ in 0..runs {
        for (i, f) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            let out = f();
            times[i].push(t.elapsed());
            drop(out);
        }
    }
    std::array::from_fn(|i| {
        times[i].sort();
        times[i][runs / 2]
    })
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

/// The 55 demo cases, rebased to now.
pub fn demo_cases() -> Vec<Case> {
    let mut report = LoadReport::default();
    let text = nhi_triage::demo::rebased_cases(OffsetDateTime::now_utc()).expect("demo cases");
    parse_jsonl(Path::new("demo"), &text, &mut report);
    report.cases
}

/// Writes `n` cases cloned from the demo cases (realistic sizes and shapes)
/// into `dir/bench.jsonl`. Each clone gets its own id and identity name, as
/// in a real estate: by default names drawn from word lists (neighbouring
/// rows differ); with `BENCH_NAMES=similar`, names that differ only in a
/// numeric suffix (`svc-etl-worker-1a2b`), the worst case for redraw bytes.
pub fn write_cases(dir: &Path, n: usize) -> PathBuf {
    let demo = demo_cases();
    let similar = std::env::var("BENCH_NAMES").is_ok_and(|v| v == "similar");
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    std::fs::create_dir_all(dir).expect("cases dir");
    let file = dir.join("bench.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("case file"));
    for i in 0..n {
        let mut case = demo[i % demo.len()].clone();
        case.id = format!("BENCH-{i:07}");
        case.identity.name = if similar {
            format!("{}-{i:x}", case.identity.name)
        } else {
            random_name(&mut seed)
        };
        case.identity.id = format!("{}/{i}", case.identity.id);
        serde_json::to_writer(&mut out, &case).expect("write case");
        out.write_all(b"\n").expect("write case");
    }
    out.flush().expect("flush");
    file
}

/// A plausible identity name from a fixed pseudo-random sequence.
fn random_name(seed: &mut u64) -> String {
    const KIND: &[&str] = &[
        "svc", "app", "job", "bot", "ci", "etl", "api", "sa", "deploy", "sync",
    ];
    const WHAT: &[&str] = &[
        "billing",
        "ledger",
        "search",
        "ingest",
        "metrics",
        "reports",
        "payments",
        "auth",
        "mailer",
        "backup",
        "checkout",
        "catalog",
        "pricing",
        "fraud",
        "invoicing",
        "loyalty",
        "shipping",
        "analytics",
        "audit",
        "crm",
    ];
    const ENV: &[&str] = &["prod", "staging", "dev", "eu", "us", "apac", "dr", "legacy"];
    let mut next = |n: usize| {
        // xorshift64*: deterministic, so every run measures the same queue.
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    };
    let (k, w, e, n) = (
        KIND[next(KIND.len())],
        WHAT[next(WHAT.len())],
        ENV[next(ENV.len())],
        next(100),
    );
    format!("{k}-{w}-{e}-{n:02}")
}
