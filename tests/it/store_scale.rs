//! The store benchmark's scenario at 20,000 generated cases, in CI
//! (`cargo bench --bench store` runs it at a million and measures times):
//! import, `show`, `decide` and a streamed `list --json` on the real binary,
//! checking what they answer and that `list --json`'s memory stays flat —
//! it holds a small key per case, never the cases.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::TestStore;

#[path = "../../benches/support/generate.rs"]
pub(crate) mod generate;

const N: usize = 20_000;

/// Peak resident memory (VmHWM) of `cmd` while it runs, and its stdout.
fn peak_rss(mut cmd: Command) -> (u64, Vec<u8>) {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdout(Stdio::from(out_file.reopen().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            assert!(s.success(), "{s}");
            break;
        }
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (peak, std::fs::read(out_file.path()).unwrap())
}

#[test]
fn twenty_thousand_cases_import_show_decide_and_stream_their_list() {
    let store = TestStore::with_cases(&[]);
    let file = store.dir.join("generated.jsonl");
    let bytes = generate::write_jsonl(&file, N, 42);
    assert!(
        bytes / N as u64 > 1500,
        "realistic sizes: {} bytes/case",
        bytes / N as u64
    );

    let import = store.run(&["import", file.to_str().unwrap(), "--json"]);
    assert_eq!(import.code, 0, "{import}");
    assert_eq!(import.json()["new"], N);

    let show = store.run(&["show", "GEN-0012345", "--json"]);
    assert_eq!(show.code, 0, "{show}");
    assert_eq!(show.json()["case"]["id"], "GEN-0012345");
    let decide = store.decide("alice", "GEN-0012345", "quarantine", &["--hours", "24"]);
    assert_eq!(decide.code, 0, "{decide}");

    let mut cmd = store.cmd();
    cmd.args(["list", "--state", "all", "--json"]);
    let (peak, stdout) = peak_rss(cmd);
    let list: serde_json::Value = serde_json::from_slice(&stdout).expect("list --json");
    let cases = list["cases"].as_array().unwrap();
    assert_eq!(cases.len(), N);
    assert_eq!(list["counts"]["total"], N);
    let tiers: Vec<u8> = cases
        .iter()
        .map(|c| match c["tier"].as_str().unwrap() {
            "high" => 0,
            "medium" => 1,
            _ => 2,
        })
        .collect();
    assert!(tiers.is_sorted(), "queue order: high, medium, low");
    let quarantined = cases.iter().find(|c| c["id"] == "GEN-0012345").unwrap();
    assert_eq!(quarantined["state"]["state"], "quarantined");
    // The file is ~50 MB and the output ~20 MB; holding the cases would
    // take hundreds of MB. The keys take ~2 MB.
    eprintln!(
        "list --json of {N} cases: peak resident {} MB",
        peak / 1_000_000
    );
    assert!(peak < 100_000_000, "list --json peaked at {peak} bytes");
}
