//! Huge inputs (issue 8, item 5): output and time linear in the input.
//!
//! `show` on a dependency chain 20,000 deep printed 600 MB in 3 s (26 s in
//! a debug build) because every row was indented by its depth; a 100,000
//! chain did not finish. Each node is now printed once, indentation stops
//! at a fixed depth (deeper rows say `[depth N]`), and repeats are
//! back-references.

use crate::common::*;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A case whose dependency map is a chain `n` deep: node 0 uses the
/// identity, node k uses node k-1.
fn chain_case(id: &str, n: usize) -> Value {
    let base = low_case(id);
    let identity = base["identity"]["id"].clone();
    let nodes: Vec<Value> = (0..n)
        .map(|k| {
            let uses = if k == 0 {
                identity.clone()
            } else {
                json!(format!("svc:n{:06}", k - 1))
            };
            json!({
                "id": format!("svc:n{k:06}"), "name": format!("node {k}"), "kind": "service",
                "criticality": "medium", "external": false, "shared": false,
                "last_seen_at": null, "uses": [uses]
            })
        })
        .collect();
    CaseBuilder::low(id)
        .set("/dependencies/nodes", Value::Array(nodes))
        .build()
}

/// Runs `cmd`, killing it after `limit`; its output and how long it took.
fn run_within(cmd: &mut Command, limit: Duration) -> (Out, Duration) {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nhi-triage");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => (out_of(output.expect("wait")), start.elapsed()),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("nhi-triage did not finish within {limit:?}");
        }
    }
}

/// `show ID` on a store holding one chain case `n` deep: output bytes and
/// the time taken.
fn show_chain(n: usize, limit: Duration) -> (Out, Duration) {
    let store = TestStore::with_cases(&[chain_case("CHAIN-1", n)]);
    run_within(store.cmd().args(["show", "CHAIN-1"]), limit)
}

#[test]
fn show_prints_a_deep_chain_in_output_linear_in_its_nodes() {
    let (small, _) = show_chain(2_000, Duration::from_secs(60));
    let (out, took) = show_chain(20_000, Duration::from_secs(60));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bytes = out.raw_stdout.len();
    assert!(bytes < 200 * 20_000, "{bytes} bytes for 20,000 nodes");
    // Ten times the nodes, about ten times the bytes (quadratic was 100 ×).
    let ratio = bytes as f64 / small.raw_stdout.len() as f64;
    assert!(ratio < 12.0, "20k/2k output ratio {ratio:.1}");
    // Every node once, the deepest with its depth written out.
    assert_eq!(out.stdout.matches(" (service, medium)").count(), 20_000);
    assert!(
        out.stdout.contains("[depth 20000] svc:n019999 node 19999"),
        "{}",
        &out.stdout[out.stdout.len().saturating_sub(2000)..]
    );
    // No row is wider than the cap allows, however deep.
    let widest = out.stdout.lines().map(|l| l.chars().count()).max();
    assert!(widest < Some(120), "{widest:?}");
    // 26 s before (debug build); the time left is reading and hashing the
    // 3 MB case, linear too.
    eprintln!("show, 20,000-deep chain: {took:?}, {bytes} bytes");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn show_finishes_on_a_chain_100000_deep() {
    let (out, took) = show_chain(100_000, Duration::from_secs(120));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bytes = out.raw_stdout.len();
    eprintln!("show, 100,000-deep chain: {took:?}, {bytes} bytes");
    assert!(bytes < 200 * 100_000, "{bytes} bytes");
    assert!(out.stdout.contains("[depth 100000] svc:n099999"));
}

#[test]
fn show_prints_repeats_and_cycles_as_back_references() {
    // root ← a ← b, a ← c, {b, c} ← d, and d ← e ← d (a cycle).
    let base = low_case("DIAMOND-1");
    let root = base["identity"]["id"]
        .as_str()
        .expect("identity id")
        .to_string();
    let node = |id: &str, uses: &[&str]| {
        json!({"id": id, "name": format!("{id} name"), "kind": "service",
               "criticality": "high", "external": false, "shared": false,
               "last_seen_at": null, "uses": uses})
    };
    let case = CaseBuilder::low("DIAMOND-1")
        .set(
            "/dependencies/nodes",
            json!([
                node("a", &[&root]),
                node("b", &["a"]),
                node("c", &["a"]),
                node("d", &["b", "c", "e"]),
                node("e", &["d"]),
            ]),
        )
        .build();
    let store = TestStore::with_cases(&[case]);
    let out = store.run(&["show", "DIAMOND-1"]);
    assert_eq!(out.code, 0, "{out}");
    let tree: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Dependency tree"))
        .take_while(|l| !l.is_empty())
        .collect();
    let text = tree.join("\n");
    // Each node's details once.
    for id in ["a", "b", "c", "d", "e"] {
        assert_eq!(
            text.matches(&format!(" {id} {id} name (service, high)"))
                .count(),
            1,
            "{id}:\n{text}"
        );
    }
    // d is reached again through c: a back-reference, not a second subtree.
    assert_eq!(text.matches("↑ see d above").count(), 1, "{text}");
    // d is above e on the path: a cycle.
    assert_eq!(text.matches("↺ d (cycle").count(), 1, "{text}");
}
