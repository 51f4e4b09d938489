//! Importing detector output and joining context (issue 10): generated
//! trufflehog `--json` lines (each secret found in several commits), timed
//! against a bare serde_json parse of the same lines in the same run.
//!
//! `cargo bench --bench import`; `BENCH_FINDINGS` (default 200 000)
//! findings of `BENCH_SECRETS` (default 50 000) secrets.
//!
//! 1. parse + group in process (`import::parse`, `import::group`);
//! 2. `import --from trufflehog` into a fresh store (the real binary);
//! 3. the same file again (nothing changes);
//! 4. a Backstage catalog and an owners table dropped into `context/`, then
//!    `show` (the first open joins the context into every case again);
//! 5. `show` with the context unchanged (no join).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nhi_triage::import::{Fingerprinter, Format, ImportOptions, Input, group, parse};
use support::{env_usize, ms};

const BIN: &str = env!("CARGO_BIN_EXE_nhi-triage");

fn main() {
    let n = env_usize("BENCH_FINDINGS", 200_000);
    let secrets = env_usize("BENCH_SECRETS", 50_000).clamp(1, n);
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("trufflehog.jsonl");
    let text = findings(n, secrets);
    std::fs::write(&file, &text).expect("write findings");
    println!(
        "generated {n} trufflehog findings of {secrets} secrets, {:.1} MB",
        text.len() as f64 / 1e6
    );

    let t = Instant::now();
    let values: usize = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).map_or(0, |_| 1))
        .sum();
    let bare = t.elapsed();
    assert_eq!(values, n);
    println!("bare serde_json parse of every line: {}", ms(bare));

    let options = ImportOptions {
        fingerprints: Fingerprinter::new([7; 32]),
        repository: None,
        now: time::OffsetDateTime::now_utc(),
    };
    let t = Instant::now();
    let parsed = parse(Format::Trufflehog, &Input::new("bench", &text), &options);
    let grouped = group(parsed.findings);
    let in_process = t.elapsed();
    assert_eq!(grouped.len(), secrets, "{:?}", parsed.skipped.first());
    ratio("parse + group (in process)", in_process, bare);

    let root = tmp.path().join("store");
    let store = root.to_str().unwrap().to_string();
    run(&["init", &store]);
    let path = file.to_str().unwrap();
    let t = Instant::now();
    let out = Command::new(BIN)
        .args([
            "--store",
            &store,
            "import",
            "--from",
            "trufflehog",
            "--json",
            path,
        ])
        .stderr(Stdio::null())
        .output()
        .expect("run nhi-triage");
    let first = t.elapsed();
    assert!(out.status.success(), "import: {}", out.status);
    ratio("import --from trufflehog, fresh store", first, bare);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["new"], secrets);
    // The store's own fingerprint key names the cases: read an id back.
    let id = summary["outcomes"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let again = run(&["--store", &store, "import", "--from", "trufflehog", path]);
    ratio("the same file again (nothing changes)", again, bare);

    write_context(&root.join("context"), secrets);
    let joined = run(&["--store", &store, "show", &id]);
    println!(
        "show after the context changed (every case joined again): {}",
        ms(joined)
    );
    let steady = run(&["--store", &store, "show", &id]);
    println!("show with the context unchanged: {}", ms(steady));
}

/// `n` findings of `secrets` secrets, each line a trufflehog v3 result.
fn findings(n: usize, secrets: usize) -> String {
    let mut out = String::with_capacity(n * 700);
    for i in 0..n {
        let secret = i % secrets;
        let _ = writeln!(
            out,
            r#"{{"SourceMetadata":{{"Data":{{"Git":{{"commit":"{commit:040x}","file":"src/svc{dir}/config.py","email":"dev{dev} <dev{dev}@example.com>","repository":"https://github.com/acme/repo{repo}.git","timestamp":"2026-11-{day:02} 10:00:00 +0000","line":{line}}}}}}},"SourceID":1,"SourceType":7,"SourceName":"trufflehog - git","DetectorType":8,"DetectorName":"Github","DetectorDescription":"GitHub token","DecoderName":"PLAIN","Verified":{verified},"Raw":"ghp_bench{secret:031}","RawV2":"","Redacted":"","ExtraData":{{"username":"bot{secret}"}},"StructuredData":null}}"#,
            commit = i,
            dir = secret % 97,
            dev = i % 13,
            repo = secret % 50,
            day = 1 + i % 28,
            line = 1 + i % 400,
            verified = i % 3 == 0,
        );
    }
    out
}

/// A Backstage catalog owning a tenth of the identities (by fingerprint id,
/// which the bench cannot know: so by an owners table glob for all) and a
/// group.
fn write_context(dir: &Path, secrets: usize) {
    let mut csv = String::from("identity,team,contact,criticality,verified_at\n");
    csv.push_str("secret:*,appsec,appsec@example.com,medium,2026-11-20T00:00:00Z\n");
    std::fs::write(dir.join("owners.csv"), csv).expect("owners table");
    let mut yaml = String::new();
    for g in 0..(secrets / 1000).max(1) {
        let _ = write!(
            yaml,
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-{g}\nspec:\n  type: team\n  children: []\n---\n"
        );
    }
    std::fs::write(dir.join("catalog.yaml"), yaml).expect("catalog");
}

fn run(args: &[&str]) -> Duration {
    let t = Instant::now();
    let status = Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run nhi-triage");
    assert!(status.success(), "nhi-triage {args:?}: {status}");
    t.elapsed()
}

fn ratio(what: &str, took: Duration, bare: Duration) {
    println!(
        "{what}: {} = {:.1} × the bare parse",
        ms(took),
        took.as_secs_f64() / bare.as_secs_f64()
    );
}
