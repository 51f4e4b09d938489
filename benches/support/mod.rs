//! What the benchmarks share: a heap counter, timing helpers and the
//! generated case files.
#![allow(dead_code)]

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
/// into `dir/bench.jsonl`. Each clone gets its own id and identity, as in a
/// real estate (100k copies of 55 names would be an artificial queue).
pub fn write_cases(dir: &Path, n: usize) -> PathBuf {
    let demo = demo_cases();
    std::fs::create_dir_all(dir).expect("cases dir");
    let file = dir.join("bench.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("case file"));
    for i in 0..n {
        let mut case = demo[i % demo.len()].clone();
        case.id = format!("BENCH-{i:07}");
        case.identity.name = format!("{}-{i:x}", case.identity.name);
        case.identity.id = format!("{}/{i}", case.identity.id);
        serde_json::to_writer(&mut out, &case).expect("write case");
        out.write_all(b"\n").expect("write case");
    }
    out.flush().expect("flush");
    file
}
