//! Shared helpers for the integration tests: an isolated environment for the
//! real binary, a temporary store, and case JSON built relative to the real
//! clock (decisions are always stamped with the real time).
//!
//! Submodules: `server` (the real `serve` process and an HTTP client for
//! it), `pty` (the real console in a pseudo-terminal), `library` (a store
//! made and opened through the library) and `policy` (typed cases at a
//! fixed `NOW` for the pure policy tests).

#![allow(dead_code)]

pub mod library;
pub mod policy;
pub mod postgres;
pub mod pty;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nhi_triage::model::{Action, Decision, OsAccount, Reviewer};
use serde_json::{Value, json};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

/// The real binary, with no store chosen and nothing inherited that could
/// point it at the real home or a real store.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nhi-triage"));
    cmd.env_remove("NHI_TRIAGE_STORE")
        .env_remove("SSH_CONNECTION")
        .env("NO_COLOR", "1")
        .env("USER", "tester")
        .env("LOGNAME", "tester");
    cmd
}

/// A temporary home for one test: HOME and the XDG dirs point inside it.
pub struct Sandbox {
    pub tmp: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("nhi-triage-test")
            .tempdir()
            .expect("tempdir");
        for d in ["home", "data", "config", "state"] {
            std::fs::create_dir_all(tmp.path().join(d)).expect("create sandbox dir");
        }
        Sandbox { tmp }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }
    pub fn data_home(&self) -> PathBuf {
        self.path().join("data")
    }
    pub fn config_home(&self) -> PathBuf {
        self.path().join("config")
    }
    pub fn state_home(&self) -> PathBuf {
        self.path().join("state")
    }

    /// The binary with HOME and XDG_* inside the sandbox (no store chosen).
    pub fn cmd(&self) -> Command {
        let mut cmd = bin();
        cmd.env("HOME", self.home())
            .env("XDG_DATA_HOME", self.data_home())
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("XDG_STATE_HOME", self.state_home());
        cmd
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// A store made by `nhi-triage init` inside a sandbox. Under
/// `NHI_TRIAGE_TEST_BACKEND=postgres` (see `postgres_suites`) the same
/// directory holds the case folder and policy.toml, and the store itself is
/// a fresh database on the test cluster (`--database URL --cases DIR/cases`).
pub struct TestStore {
    pub sandbox: Sandbox,
    pub dir: PathBuf,
    /// The PostgreSQL store's URL, when the tests run on PostgreSQL.
    pub database: Option<String>,
}

/// The environment variable that runs the store tests on PostgreSQL.
pub const BACKEND_ENV: &str = "NHI_TRIAGE_TEST_BACKEND";

/// Whether this test process runs the stores on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os(BACKEND_ENV).is_some_and(|v| v == "postgres")
}

/// A fresh database on the test cluster, for a store under
/// [`on_postgres`] (PostgreSQL is required there: a skip would be a pass).
pub fn fresh_database(hint: &str) -> String {
    let pg =
        postgres::cluster_or_skip(hint).expect("PostgreSQL for NHI_TRIAGE_TEST_BACKEND=postgres");
    pg.new_database(hint)
}

/// `sql` on a PostgreSQL store's database (as its owner).
pub fn pg_sql(url: &str, sql: &str) -> String {
    let pg = postgres::cluster_or_skip("pg_sql").expect("PostgreSQL");
    pg.psql(url, sql)
}

/// Stores `text` as a PostgreSQL store's policy.
pub fn pg_set_policy(url: &str, text: &str) {
    pg_sql(
        url,
        &format!(
            "INSERT INTO meta (key, value) VALUES ('policy_toml', $policy${text}$policy$) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ),
    );
}

/// A PostgreSQL store's chain as JSON lines, read straight from the table.
pub fn pg_evidence(url: &str) -> Vec<u8> {
    let out = pg_sql(url, "SELECT line FROM evidence ORDER BY seq");
    if out.is_empty() {
        return Vec::new();
    }
    (out + "\n").into_bytes()
}

impl TestStore {
    /// `nhi-triage init DIR`, then `cases` written to `DIR/cases/cases.jsonl`.
    pub fn with_cases(cases: &[Value]) -> Self {
        let sandbox = Sandbox::new();
        let dir = sandbox.path().join("store");
        let out = run(sandbox.cmd().arg("init").arg(&dir));
        assert_eq!(out.code, 0, "init failed: {out}");
        let database = on_postgres().then(|| {
            let url = fresh_database("store");
            let out = run(sandbox.cmd().args(["--database", &url, "init"]));
            assert_eq!(out.code, 0, "init --database failed: {out}");
            url
        });
        let store = TestStore {
            sandbox,
            dir,
            database,
        };
        store.push_policy();
        if !cases.is_empty() {
            store.write_cases("cases.jsonl", cases);
        }
        store
    }

    pub fn cases_dir(&self) -> PathBuf {
        self.dir.join("cases")
    }

    /// Where a file store kept its log (migrated into store.db on open).
    pub fn evidence_path(&self) -> PathBuf {
        self.dir.join("evidence.jsonl")
    }

    pub fn write_cases(&self, file_name: &str, cases: &[Value]) {
        write_case(&self.cases_dir().join(file_name), cases);
    }

    /// Sets `key = value` (`value` in TOML) in the store's `policy.toml`,
    /// for tests about something other than the rule the key relaxes.
    pub fn set_policy(&self, key: &str, value: &str) {
        let path = self.dir.join("policy.toml");
        let text = std::fs::read_to_string(&path).expect("read policy.toml");
        let line = format!("{key} = {value}");
        let mut found = false;
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| {
                if l.split('=').next().is_some_and(|k| k.trim() == key) {
                    found = true;
                    line.clone()
                } else {
                    l.to_string()
                }
            })
            .collect();
        if !found {
            lines.push(line);
        }
        std::fs::write(&path, lines.join("\n") + "\n").expect("write policy.toml");
        self.push_policy();
    }

    /// A PostgreSQL store keeps its policy in the database: policy.toml's
    /// text goes there.
    fn push_policy(&self) {
        if let Some(url) = &self.database {
            let text = std::fs::read_to_string(self.dir.join("policy.toml")).expect("policy.toml");
            pg_set_policy(url, &text);
        }
    }

    /// The global options that select this store.
    pub fn store_args(&self) -> Vec<std::ffi::OsString> {
        match &self.database {
            Some(url) => vec![
                "--database".into(),
                url.into(),
                "--cases".into(),
                self.cases_dir().into(),
            ],
            None => vec!["--store".into(), self.dir.clone().into()],
        }
    }

    /// The binary with the sandbox environment and `--store DIR`.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.sandbox.cmd();
        cmd.args(self.store_args());
        cmd
    }

    /// Runs the binary on this store with `args`.
    pub fn run(&self, args: &[&str]) -> Out {
        run(self.cmd().args(args))
    }

    /// `decide ID --action A --justification J` as `reviewer`, plus `extra`.
    pub fn decide(&self, reviewer: &str, id: &str, action: &str, extra: &[&str]) -> Out {
        let mut cmd = self.cmd();
        cmd.args(["--reviewer", reviewer])
            .args(decide_args(id, action, JUSTIFICATION))
            .args(extra);
        run(&mut cmd)
    }

    /// The evidence chain as JSON lines, as `evidence export --format
    /// jsonl` writes it (empty when there is no record yet).
    pub fn evidence_bytes(&self) -> Vec<u8> {
        match &self.database {
            Some(url) => pg_evidence(url),
            None => evidence_in(&self.dir),
        }
    }

    /// The store's database (`STORE/store.db`).
    pub fn database_path(&self) -> PathBuf {
        self.dir.join("store.db")
    }

    /// The evidence log's records as JSON values.
    pub fn evidence_records(&self) -> Vec<Value> {
        let text = String::from_utf8(self.evidence_bytes()).expect("evidence is UTF-8");
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).expect("evidence line is JSON"))
            .collect()
    }

    /// `list --state all --json`, parsed.
    pub fn list_json(&self, state: &str) -> Value {
        let out = self.run(&["list", "--json", "--state", state]);
        assert_eq!(out.code, 0, "list --json failed: {out}");
        out.json()
    }
}

/// A store with one case of each tier: LOW-1, MED-1, HIGH-1.
pub fn three_tiers() -> TestStore {
    TestStore::with_cases(&[low_case("LOW-1"), medium_case("MED-1"), high_case("HIGH-1")])
}

/// A justification comfortably over the default minimum (20 characters).
pub const JUSTIFICATION: &str = "Reviewed the dependency map with the owner team; safe to proceed.";

/// `decide ID --action A --justification J`: the arguments, for a test that
/// sets the reviewer (or leaves it out) and the environment itself.
pub fn decide_args<'a>(id: &'a str, action: &'a str, justification: &'a str) -> [&'a str; 6] {
    [
        "decide",
        id,
        "--action",
        action,
        "--justification",
        justification,
    ]
}

/// The entry for case `id` in the output of `list --json`.
pub fn case_entry<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in list: {list:#}"))
}

/// Writes cases as JSON lines (one object a line).
pub fn write_case(path: &Path, cases: &[Value]) {
    let mut text = String::new();
    for c in cases {
        text.push_str(&serde_json::to_string(c).expect("case to JSON"));
        text.push('\n');
    }
    std::fs::write(path, text).expect("write case file");
}

/// What a run of the binary produced.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
    pub raw_stderr: Vec<u8>,
}

impl Out {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn out_of(o: Output) -> Out {
    Out {
        // A signal has no code: -1 never matches an expected exit code.
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        raw_stdout: o.stdout,
        raw_stderr: o.stderr,
    }
}

pub fn run(cmd: &mut Command) -> Out {
    out_of(cmd.output().expect("run nhi-triage"))
}

// ---------------------------------------------------------------------------
// Decisions through the library.

/// A reviewer deciding on this host, with no OS account known (as through
/// the API).
pub fn reviewer(name: &str) -> Reviewer {
    Reviewer {
        name: name.into(),
        host: "test-host".into(),
        via: "local".into(),
        os_account: None,
    }
}

/// `name` deciding from OS account `uid`.
pub fn reviewer_os(name: &str, uid: u32) -> Reviewer {
    Reviewer {
        os_account: Some(os_account(uid)),
        ..reviewer(name)
    }
}

/// OS account `uid`, named `user<uid>`.
pub fn os_account(uid: u32) -> OsAccount {
    OsAccount {
        uid,
        name: format!("user{uid}"),
    }
}

/// `action` on `case_id` at `expected_version`, justified with
/// [`JUSTIFICATION`], nothing else set.
pub fn decision(case_id: &str, action: Action, expected_version: u64) -> Decision {
    Decision {
        case_id: case_id.into(),
        action,
        justification: JUSTIFICATION.into(),
        expected_version,
        quarantine_hours: None,
        escalate_to: None,
        override_: false,
        expected_case_sha256: None,
        idempotency_key: None,
    }
}

// ---------------------------------------------------------------------------
// Cases, relative to the real clock.

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 text of `now + offset`.
pub fn at(offset: Duration) -> String {
    nhi_triage::model::rfc3339(now() + offset)
}

pub fn days_ago(d: i64) -> String {
    at(-Duration::days(d))
}

/// A case builder: starts from a complete low-tier case and lets a test
/// change any field by JSON pointer.
pub struct CaseBuilder {
    value: Value,
}

impl CaseBuilder {
    /// Low tier: explicit fresh owner, fresh map with one medium dependent,
    /// reversible and verifiable revoke of an unused identity, a fresh fast
    /// rollback, no change window.
    pub fn low(id: &str) -> Self {
        let identity_id = format!("aws:iam/user/{}", id.to_lowercase());
        let value = json!({
            "id": id,
            "opened_at": days_ago(3),
            "title": format!("Unused key {id}"),
            "identity": {
                "id": identity_id,
                "name": format!("svc-{}", id.to_lowercase()),
                "kind": "api_key",
                "provider": "aws",
                "account": "123456789012",
                "created_at": days_ago(800),
                "last_used_at": days_ago(200),
                "privilege": "read"
            },
            "finding": {
                "type": "unused",
                "severity": "low",
                "source": "access-analyzer",
                "detected_at": days_ago(3),
                "summary": "No use for 200 days",
                "owasp": "NHI1:2025",
                "refs": []
            },
            "owner": {
                "team": "billing-platform",
                "contact": "billing-oncall@example.com",
                "basis": "explicit",
                "verified_at": days_ago(10)
            },
            "criticality": "medium",
            "dependencies": {
                "verified_at": days_ago(1),
                "nodes": [{
                    "id": "job:nightly-export",
                    "name": "nightly export",
                    "kind": "job",
                    "criticality": "medium",
                    "external": false,
                    "shared": false,
                    "last_seen_at": days_ago(200),
                    "uses": [identity_id]
                }]
            },
            "action": {
                "kind": "revoke",
                "reversible": true,
                "verifiable": true,
                "rollback": {"method": "re-enable key", "tested_at": days_ago(5), "restore_minutes": 5},
                "hot_reload": true
            },
            "change_window": null,
            "tags": ["test"]
        });
        CaseBuilder { value }
    }

    /// Medium tier: the low case with a stale dependency map (Q1 partial).
    pub fn medium(id: &str) -> Self {
        Self::low(id)
            .set("/dependencies/verified_at", json!(days_ago(30)))
            .set("/finding/severity", json!("medium"))
            .set("/identity/privilege", json!("write"))
            .set("/title", json!(format!("Stale map for {id}")))
    }

    /// High tier: an external partner depends on it (routing flag), the
    /// owner is only inferred, one dependent's criticality is unknown and the
    /// rollback was never tested: Q1, Q2 and Q3 are all partial.
    pub fn high(id: &str) -> Self {
        let identity_id = format!("aws:iam/user/{}", id.to_lowercase());
        Self::low(id)
            .set("/owner/basis", json!("inferred"))
            .set("/action/rollback/tested_at", Value::Null)
            .set("/finding/severity", json!("high"))
            .set("/identity/privilege", json!("admin"))
            .set("/title", json!(format!("Partner-facing admin key {id}")))
            .set(
                "/dependencies/nodes",
                json!([
                    {"id": "partner:acme", "name": "Acme partner portal", "kind": "partner",
                     "criticality": "high", "external": true, "shared": false,
                     "last_seen_at": days_ago(200), "uses": [identity_id]},
                    {"id": "svc:reporting", "name": "reporting", "kind": "service",
                     "criticality": null, "external": false, "shared": false,
                     "last_seen_at": null, "uses": ["partner:acme"]}
                ]),
            )
    }

    /// Sets the value at a JSON pointer (the parent must exist).
    pub fn set(mut self, pointer: &str, v: Value) -> Self {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a /");
        let target = self
            .value
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("no parent {parent} for {pointer}"));
        match target {
            Value::Object(map) => {
                map.insert(key.to_string(), v);
            }
            other => panic!("{parent} is not an object: {other}"),
        }
        self
    }

    pub fn build(self) -> Value {
        self.value
    }
}

pub fn low_case(id: &str) -> Value {
    CaseBuilder::low(id).build()
}

pub fn medium_case(id: &str) -> Value {
    CaseBuilder::medium(id).build()
}

pub fn high_case(id: &str) -> Value {
    CaseBuilder::high(id).build()
}

/// The low case with a critical, external partner depending on it as well:
/// tier high.
pub fn with_critical_partner(id: &str) -> Value {
    let mut v = low_case(id);
    let identity = v["identity"]["id"].clone();
    v["dependencies"]["nodes"]
        .as_array_mut()
        .expect("nodes")
        .push(json!({
            "id": "partner:bank", "name": "bank partner", "kind": "partner",
            "criticality": "critical", "external": true, "shared": false,
            "last_seen_at": days_ago(0), "uses": [identity]
        }));
    v
}

/// Reads one HTTP/1.1 request from `stream` for a test's fake server: the
/// head (request line and headers) and its `Content-Length` body. `None`
/// when the client closed the connection.
pub fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// The evidence chain of the store at `dir`, read straight from its
/// database (read-only, as another process would): every record's line and
/// a newline, in `seq` order; empty when there is no database or no record.
pub fn evidence_in(dir: &Path) -> Vec<u8> {
    let path = dir.join("store.db");
    if !path.exists() {
        return Vec::new();
    }
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open store.db read-only");
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT line FROM evidence ORDER BY seq")
        .unwrap();
    let mut out = Vec::new();
    let mut rows = stmt.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        out.extend_from_slice(row.get_ref(0).unwrap().as_bytes().unwrap());
        out.push(b'\n');
    }
    out
}

/// Runs `sql` on the store's database, as an attacker or a broken tool
/// with write access to store.db would.
pub fn tamper(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("store.db")).expect("open store.db");
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    conn.execute_batch(sql).expect("tamper with store.db");
}

/// Replaces the stored line of record `seq` in the store's database.
pub fn tamper_line(dir: &Path, seq: u64, line: &str) {
    let conn = rusqlite::Connection::open(dir.join("store.db")).expect("open store.db");
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    let n = conn
        .execute(
            "UPDATE evidence SET line = ?2 WHERE seq = ?1",
            rusqlite::params![seq as i64, line],
        )
        .expect("tamper with store.db");
    assert_eq!(n, 1, "no record {seq} to tamper with");
}
