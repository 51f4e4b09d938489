//! Realistic generated cases for the store benchmarks (issue 9): about
//! 2.4 KB each, dependency maps of 0–25 nodes (most small, a few large),
//! owners known, inferred or missing, every field kind the loader reads.
//! Deterministic: the same `n` and seed give the same file. Shared by
//! `benches/store.rs` and the 20k-case CI test (`tests/it/store_scale.rs`).

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

/// A small, fast, deterministic pseudo-random sequence (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// A sequence from `seed` (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
    /// The next value.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const PROVIDERS: &[(&str, &str)] = &[
    ("aws", "api_key"),
    ("aws", "service_account"),
    ("gcp", "service_account"),
    ("azure", "service_account"),
    ("github", "token"),
    ("okta", "certificate"),
    ("vault", "token"),
    ("slack", "token"),
    ("kubernetes", "service_account"),
];
const TEAMS: &[&str] = &[
    "payments", "identity", "platform", "data", "search", "billing", "growth", "security",
    "mobile", "infra",
];
const WORDS: &[&str] = &[
    "billing", "ledger", "search", "ingest", "metrics", "reports", "payments", "auth", "export",
    "backup", "deploy", "sync", "etl", "gateway", "partner", "audit",
];
const SEVERITY: &[&str] = &["low", "medium", "high", "critical"];
const CRITICALITY: &[&str] = &["low", "medium", "high"];
const PRIVILEGE: &[&str] = &["read", "write", "admin"];
const ACTIONS: &[&str] = &["rotate", "disable", "revoke", "reduce_scope", "delete"];
const FINDINGS: &[(&str, &str, &str)] = &[
    ("unused", "NHI1:2025", "access-analyzer"),
    ("long_lived", "NHI7:2025", "okta-ispm"),
    ("leaked", "NHI2:2025", "trufflehog"),
    ("overprivileged", "NHI5:2025", "prowler"),
    ("shared", "NHI9:2025", "wiz"),
];
const NODE_KINDS: &[&str] = &["service", "job", "platform", "partner", "database", "queue"];

/// An RFC 3339 time `days` before 2026-11-30T00:00:00Z (minutes added for variety).
fn days_ago(days: u64, minutes: u64) -> String {
    let t = time::macros::datetime!(2026-11-30 00:00 UTC) - time::Duration::days(days as i64)
        + time::Duration::minutes(minutes as i64);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Case number `i`, as JSON.
pub fn case(i: usize, rng: &mut Rng) -> Value {
    let (provider, kind) = PROVIDERS[rng.below(PROVIDERS.len() as u64) as usize];
    let (finding, owasp, source) = FINDINGS[rng.below(FINDINGS.len() as u64) as usize];
    let name = format!(
        "{}-{}-{}-{:x}",
        rng.pick(&["svc", "app", "job", "bot", "ci", "sa"]),
        rng.pick(WORDS),
        rng.pick(WORDS),
        rng.next() & 0xffff
    );
    let identity_id = format!("{provider}:{kind}/{name}/{i}");
    // Most maps are small, a few large: 0–25 nodes, mean about 6.
    let r = rng.below(1000) as f64 / 1000.0;
    let nodes_n = ((r * r * r * 26.0) as usize).min(25);
    let nodes: Vec<Value> = (0..nodes_n)
        .map(|n| {
            json!({
                "id": format!("{}:{}-{n}", rng.pick(NODE_KINDS), rng.pick(WORDS)),
                "kind": rng.pick(NODE_KINDS),
                "name": format!("{} {} {}", rng.pick(WORDS), rng.pick(WORDS), rng.pick(&["api", "worker", "cron", "portal", "pipeline"])),
                "criticality": rng.pick(CRITICALITY),
                "external": rng.below(10) == 0,
                "shared": rng.below(8) == 0,
                "last_seen_at": days_ago(rng.below(90), rng.below(1440)),
                "uses": [identity_id.clone()],
            })
        })
        .collect();
    let owner = match rng.below(10) {
        0..=1 => Value::Null,
        2..=4 => {
            json!({"team": rng.pick(TEAMS), "basis": "inferred", "contact": null, "verified_at": null})
        }
        _ => json!({
            "team": rng.pick(TEAMS),
            "basis": "explicit",
            "contact": format!("{}-oncall@example.com", rng.pick(TEAMS)),
            "verified_at": days_ago(rng.below(200), rng.below(1440)),
        }),
    };
    let rollback = if rng.below(3) == 0 {
        Value::Null
    } else {
        json!({
            "method": format!("re-activate the previous {} credential from the vault", rng.pick(WORDS)),
            "restore_minutes": 5 + rng.below(120),
            "tested_at": days_ago(rng.below(120), rng.below(1440)),
        })
    };
    let last_used = match rng.below(10) {
        0 => Value::Null,
        1 => json!("never"),
        _ => json!(days_ago(rng.below(400), rng.below(1440))),
    };
    json!({
        "id": format!("GEN-{i:07}"),
        "title": format!(
            "{} credential {name} for the {} {} flagged by {source}: {} since {} days; review owner and dependents before acting",
            provider, rng.pick(WORDS), rng.pick(&["service", "pipeline", "integration", "batch job"]),
            finding.replace('_', " "), 30 + rng.below(900)
        ),
        "opened_at": days_ago(30 + rng.below(300), rng.below(1440)),
        "criticality": rng.pick(CRITICALITY),
        "identity": {
            "id": identity_id,
            "name": name,
            "kind": kind,
            "provider": provider,
            "account": format!("{:012}", rng.below(1_000_000_000_000)),
            "privilege": rng.pick(PRIVILEGE),
            "created_at": days_ago(400 + rng.below(2000), rng.below(1440)),
            "last_used_at": last_used,
        },
        "finding": {
            "type": finding,
            "severity": rng.pick(SEVERITY),
            "source": source,
            "owasp": owasp,
            "detected_at": days_ago(rng.below(300), rng.below(1440)),
            "summary": format!("{} {} credential with {} access; {}", finding.replace('_', " "), provider, rng.pick(PRIVILEGE), rng.pick(&["no recent owner review", "used from two networks", "present in a public repository", "broader than its use"])),
            "refs": [format!("finding/{source}-{i}")],
        },
        "owner": owner,
        "action": {
            "kind": rng.pick(ACTIONS),
            "reversible": rng.below(4) != 0,
            "verifiable": rng.below(5) != 0,
            "hot_reload": if rng.below(2) == 0 { json!(true) } else { Value::Null },
            "rollback": rollback,
        },
        "dependencies": if nodes_n == 0 && rng.below(2) == 0 { Value::Null } else {
            json!({"verified_at": days_ago(rng.below(60), rng.below(1440)), "nodes": nodes})
        },
        "change_window": if rng.below(3) == 0 { Value::Null } else {
            json!({"start": days_ago(10, 0), "end": days_ago(0, 0)})
        },
        "tags": [rng.pick(WORDS), rng.pick(TEAMS)],
    })
}

/// Writes `n` generated cases as JSON lines to `path`; returns the bytes written.
pub fn write_jsonl(path: &Path, n: usize, seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let file = std::fs::File::create(path).expect("create the case file");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut bytes = 0u64;
    for i in 0..n {
        let line = serde_json::to_string(&case(i, &mut rng)).expect("encode a case");
        out.write_all(line.as_bytes()).expect("write a case");
        out.write_all(b"\n").expect("write a case");
        bytes += line.len() as u64 + 1;
    }
    out.flush().expect("flush the case file");
    bytes
}
