//! Huge inputs (issue 8, item 5): `show` and the console's dependency tree
//! on dependency chains 1,000, 10,000 and 100,000 deep. A chain is the
//! worst shape for a tree printer (every row one level deeper than the
//! last); the target is time and output linear in nodes + edges, so the
//! cost per node must stay flat as the chain grows.
//!
//! - `show` (the real release binary, text output): wall time and bytes,
//!   per node;
//! - the console (in process, the real app and views at 200x50): opening
//!   the tree pane on the case and moving in it (`j`, `G`), per node.
//!
//! `cargo bench --bench huge`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nhi_triage::model::{Case, LoadReport, Reviewer, parse_jsonl};
use nhi_triage::store::{Snapshot, StoreLayout};
use nhi_triage::tui::app::{App, AppEvent, Drawn};
use nhi_triage::tui::theme::Theme;
use nhi_triage::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};
use time::OffsetDateTime;

mod support;
use support::{median, ms};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("# nhi-triage huge-input benchmarks\n");
    show(dir.path());
    console();
}

/// One case whose map is a chain `n` deep (node 0 uses the identity).
fn chain_case(n: usize) -> Value {
    let identity = "aws:iam/user/chain";
    let nodes: Vec<Value> = (0..n)
        .map(|k| {
            let uses = if k == 0 {
                identity.to_string()
            } else {
                format!("svc:n{:06}", k - 1)
            };
            json!({"id": format!("svc:n{k:06}"), "name": format!("node {k}"),
                   "kind": "service", "criticality": "medium", "external": false,
                   "shared": false, "last_seen_at": null, "uses": [uses]})
        })
        .collect();
    json!({
        "id": "CHAIN-1", "opened_at": "2026-11-01T00:00:00Z", "title": "a deep chain",
        "identity": {"id": identity, "name": "svc-chain", "kind": "api_key",
                     "provider": "aws", "created_at": "2024-01-01T00:00:00Z",
                     "last_used_at": null, "privilege": "read"},
        "finding": {"type": "unused", "severity": "low"},
        "owner": null,
        "dependencies": {"verified_at": "2026-11-01T00:00:00Z", "nodes": nodes},
        "tags": []
    })
}

fn per_node(d: Duration, n: usize) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6 / n as f64)
}

fn show(root: &Path) {
    println!("## `show CHAIN-1` (release binary, text to a pipe)\n");
    println!("| chain depth | wall time (median of 5) | per node | output | per node |");
    println!("|---|---|---|---|---|");
    let mut per = Vec::new();
    for n in SIZES {
        let store = root.join(format!("show-{n}"));
        StoreLayout::new(&store).init().expect("init store");
        std::fs::write(
            store.join("cases/chain.jsonl"),
            format!("{}\n", chain_case(n)),
        )
        .expect("write case");
        let mut bytes = 0;
        let time = median(5, || {
            let out = Command::new(env!("CARGO_BIN_EXE_nhi-triage"))
                .env("NO_COLOR", "1")
                .env("XDG_STATE_HOME", root.join("state"))
                .arg("--store")
                .arg(&store)
                .args(["show", "CHAIN-1"])
                .output()
                .expect("run show");
            assert!(out.status.success(), "{out:?}");
            bytes = out.stdout.len();
        });
        per.push(time.as_secs_f64() / n as f64);
        println!(
            "| {n} | {} | {} | {:.1} MB | {:.0} B |",
            ms(time),
            per_node(time, n),
            bytes as f64 / 1e6,
            bytes as f64 / n as f64
        );
    }
    println!(
        "\nTime per node, 100k vs 1k: **{:.2} ×** (1 × = linear; quadratic would be 100 ×).\n",
        per[2] / per[0]
    );
}

fn key(app: &mut App, code: KeyCode) {
    app.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn draw(app: &mut App, terminal: &mut Terminal<TestBackend>) {
    let mut drawn = Drawn::default();
    terminal
        .draw(|f| drawn = views::draw(f, app))
        .expect("draw");
    app.update(AppEvent::Drawn(drawn));
}

fn console() {
    println!("## The console's dependency tree (in process, 200x50)\n");
    println!(
        "| chain depth | open the tree pane (Tab to frame) | per node | `j` in the tree to frame (median of 20) | per node | `G` to frame | per node |"
    );
    println!("|---|---|---|---|---|---|---|");
    let now = OffsetDateTime::now_utc();
    let mut per = Vec::new();
    for n in SIZES {
        let mut report = LoadReport::default();
        parse_jsonl(
            Path::new("chain.jsonl"),
            &chain_case(n).to_string(),
            &mut report,
        );
        let cases: Vec<Case> = report.cases;
        assert_eq!(cases.len(), 1, "{:?}", report.problems);
        let snapshot = Snapshot {
            cases: Arc::new(cases),
            cases_generation: 0,
            statuses: Default::default(),
            problems: Vec::new(),
            evidence: Default::default(),
            policy: Default::default(),
            rows: None,
        };
        let reviewer = Reviewer {
            name: "bench".into(),
            host: "bench-host".into(),
            via: "local".into(),
            os_account: None,
        };
        let mut app = App::new(
            snapshot,
            Vec::new(),
            Theme::dark(),
            "bench".into(),
            reviewer,
            now,
        );
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
        draw(&mut app, &mut terminal);
        // Queue → Ownership → Dependencies.
        key(&mut app, KeyCode::Tab);
        draw(&mut app, &mut terminal);
        let start = Instant::now();
        key(&mut app, KeyCode::Tab);
        draw(&mut app, &mut terminal);
        let open = start.elapsed();
        let mut moves: Vec<Duration> = (0..20)
            .map(|_| {
                let start = Instant::now();
                key(&mut app, KeyCode::Char('j'));
                draw(&mut app, &mut terminal);
                start.elapsed()
            })
            .collect();
        moves.sort();
        let step = moves[moves.len() / 2];
        let start = Instant::now();
        key(&mut app, KeyCode::Char('G'));
        draw(&mut app, &mut terminal);
        let bottom = start.elapsed();
        let screen = format!("{:?}", terminal.backend().buffer());
        assert!(
            screen.contains(&format!("[depth {n}]")),
            "the deepest row is on screen after G"
        );
        per.push(step.as_secs_f64() / n as f64);
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} |",
            ms(open),
            per_node(open, n),
            ms(step),
            per_node(step, n),
            ms(bottom),
            per_node(bottom, n)
        );
    }
    println!(
        "\n`j` time per node, 100k vs 1k: **{:.2} ×** (1 × = linear).\n",
        per[2] / per[0]
    );
}
