//! The client side of the remote queue against the real server: the real
//! binary (`nhi-triage serve` on a loopback port, clients with `--api`), the
//! library's `RemoteStore`, and fake servers that hang, fail or lie.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pty::Console;
use common::{JUSTIFICATION, Out, Sandbox, TestStore, high_case, low_case, medium_case, run};
use serde_json::Value;

// ---------------------------------------------------------------------------
// The real server.

/// `nhi-triage --store DIR serve` on a loopback port; killed when dropped.
struct Server {
    child: Child,
    url: String,
    port: u16,
}

impl Server {
    /// Starts on a free port (`--bind 127.0.0.1:0`).
    fn start(store: &TestStore, tokens: &Path) -> Server {
        Self::start_on(store, tokens, 0)
    }

    /// Starts on `port`, retrying a few seconds while the port is still held
    /// by the server that just stopped.
    fn start_on(store: &TestStore, tokens: &Path, port: u16) -> Server {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Self::try_start(store, tokens, port) {
                Ok(s) => return s,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("server did not start ({e}); again");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("server did not start: {e}"),
            }
        }
    }

    fn try_start(store: &TestStore, tokens: &Path, port: u16) -> Result<Server, String> {
        let mut child = store
            .cmd()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--tokens"])
            .arg(tokens)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = child.wait();
            return Err(format!("no `listening on` line: {line:?} {err}"));
        };
        // Drain stderr so the server never blocks on a full pipe.
        if let Some(mut e) = child.stderr.take() {
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = e.read_to_end(&mut sink);
            });
        }
        let url = url.to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .expect("port in the url");
        Ok(Server { child, url, port })
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token for `name` in `tokens` (`nhi-triage token add`).
fn add_token(sandbox: &Sandbox, tokens: &Path, name: &str) -> String {
    let out = run(sandbox
        .cmd()
        .args(["token", "add", name, "--tokens"])
        .arg(tokens));
    assert_eq!(out.code, 0, "token add: {out}");
    out.stdout.trim().to_string()
}

/// A reviewer on their own machine: their own HOME (and outbox), a token.
struct Client {
    sandbox: Sandbox,
    token: String,
    url: String,
    /// The content digest of each case as this reviewer saw it: a decision
    /// that may wait in the outbox names it (`--case-sha256`).
    digests: std::collections::HashMap<String, String>,
}

impl Client {
    fn new(url: &str, token: &str) -> Client {
        Client {
            sandbox: Sandbox::new(),
            token: token.to_string(),
            url: url.to_string(),
            digests: Default::default(),
        }
    }

    /// The digest to name for `id`: the one seen, else any well-formed one
    /// (for fake servers that never check it).
    fn digest(&self, id: &str) -> String {
        self.digests
            .get(id)
            .cloned()
            .unwrap_or_else(|| "0".repeat(64))
    }

    fn cmd(&self) -> Command {
        let mut cmd = self.sandbox.cmd();
        cmd.env("NHI_TRIAGE_TOKEN", &self.token)
            .env_remove("NHI_TRIAGE_API")
            .env_remove("NHI_TRIAGE_API_TIMEOUT")
            .arg("--api")
            .arg(&self.url);
        cmd
    }

    fn run(&self, args: &[&str]) -> Out {
        run(self.cmd().args(args))
    }

    fn decide(&self, id: &str, action: &str, extra: &[&str]) -> Out {
        let mut cmd = self.cmd();
        cmd.args([
            "decide",
            id,
            "--action",
            action,
            "--justification",
            JUSTIFICATION,
        ])
        .args(extra);
        // Queued offline, a decision must name the content it was made on.
        if extra.contains(&"--expected-version") && !extra.contains(&"--case-sha256") {
            cmd.args(["--case-sha256", &self.digest(id)]);
        }
        run(&mut cmd)
    }

    fn outbox_dir(&self) -> PathBuf {
        self.sandbox.data_home().join("nhi-triage")
    }

    /// The outbox file of this client's server.
    fn outbox_path(&self) -> PathBuf {
        let rest = self.url.trim_start_matches("http://").trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':').expect("host:port");
        self.outbox_dir()
            .join(format!("outbox-{host}_{port}.jsonl"))
    }

    fn outbox_entries(&self) -> Vec<Value> {
        std::fs::read_to_string(self.outbox_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("outbox line is JSON"))
            .collect()
    }
}

/// A store, its tokens file, a running server.
struct Setup {
    store: TestStore,
    tokens: PathBuf,
    server: Option<Server>,
}

impl Setup {
    fn new(cases: &[Value]) -> Setup {
        let store = TestStore::with_cases(cases);
        let tokens = store.sandbox.path().join("tokens.toml");
        let server = Server::start(&store, &tokens);
        Setup {
            store,
            tokens,
            server: Some(server),
        }
    }

    fn url(&self) -> String {
        self.server.as_ref().expect("server running").url.clone()
    }

    fn client(&self, name: &str) -> Client {
        let token = add_token(&self.store.sandbox, &self.tokens, name);
        let mut client = Client::new(&self.url(), &token);
        let loaded = nhi_triage::model::load_dir(&self.store.cases_dir()).expect("cases");
        client.digests = loaded
            .cases
            .iter()
            .map(|c| (c.id.clone(), c.content_sha256()))
            .collect();
        client
    }

    fn stop(&mut self) -> u16 {
        self.server.take().expect("server running").stop()
    }

    fn restart_on(&mut self, port: u16) {
        assert!(self.server.is_none());
        self.server = Some(Server::start_on(&self.store, &self.tokens, port));
    }

    /// `--store DIR evidence verify --json` on the server's store.
    fn verify_local(&self) -> Value {
        let out = self.store.run(&["evidence", "verify", "--json"]);
        assert_eq!(out.code, 0, "the server's chain must verify: {out}");
        out.json()
    }
}

fn no_panic(out: &Out) {
    assert!(
        !out.stderr.contains("panicked"),
        "the binary panicked: {out}"
    );
}

// ---------------------------------------------------------------------------
// The CLI over the API.

#[test]
fn every_command_works_over_the_api() {
    let setup = Setup::new(&[low_case("LOW-1"), medium_case("MED-1"), high_case("HIGH-1")]);
    let alice = setup.client("alice");

    let list = alice.run(&["list", "--json", "--state", "all"]);
    assert_eq!(list.code, 0, "{list}");
    let list = list.json();
    let ids: Vec<&str> = list["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["HIGH-1", "MED-1", "LOW-1"], "highest risk first");
    assert!(
        list["store"]
            .as_str()
            .unwrap()
            .starts_with("api http://127.0.0.1:")
    );

    let show = alice.run(&["show", "LOW-1", "--json"]);
    assert_eq!(show.code, 0, "{show}");
    assert_eq!(show.json()["assessment"]["tier"], "low");
    let missing = alice.run(&["show", "NOPE-9"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(
        missing.stderr.contains("no case with id NOPE-9"),
        "{missing}"
    );

    let decided = alice.decide("MED-1", "quarantine", &["--json"]);
    assert_eq!(decided.code, 0, "{decided}");
    let record = decided.json();
    // The server names the reviewer from the token, never the client.
    assert_eq!(record["reviewer"]["name"], "alice");
    assert_eq!(record["reviewer"]["via"], "api");
    assert!(
        record["idempotency_key"]
            .as_str()
            .is_some_and(|k| k.len() == 36)
    );

    // Approve of a high-tier case: refused by the server's policy, exit 4,
    // every reason shown.
    let refused = alice.decide("HIGH-1", "approve", &[]);
    assert_eq!(refused.code, 4, "{refused}");
    assert!(
        refused.stderr.contains("refused: approve is not allowed"),
        "{refused}"
    );
    assert!(refused.stderr.contains("tier is high"), "{refused}");

    let after = alice
        .run(&["list", "--json", "--state", "quarantined"])
        .json();
    assert_eq!(after["cases"][0]["id"], "MED-1");
    assert_eq!(after["cases"][0]["version"], 1);

    let verify = alice.run(&["evidence", "verify", "--json"]);
    assert_eq!(verify.code, 0, "{verify}");
    assert_eq!(verify.json()["records"], 1);
    let export = alice.run(&["evidence", "export", "--format", "json"]);
    assert_eq!(export.code, 0, "{export}");
    let local_export = setup.store.run(&["evidence", "export", "--format", "json"]);
    assert_eq!(
        export.stdout, local_export.stdout,
        "the same records either way"
    );

    // Local-only commands say so.
    let repair = alice.run(&["evidence", "repair"]);
    assert_eq!(repair.code, 2, "{repair}");
    assert!(repair.stderr.contains("local store only"), "{repair}");
    let init = alice.run(&["init", "/nonexistent/x"]);
    assert_eq!(init.code, 2, "{init}");
    let policy = run(alice.cmd().args(["--policy", "/x.toml", "list"]));
    assert_eq!(policy.code, 2, "{policy}");

    // The server's log, read directly, verifies and holds exactly one record.
    let report = setup.verify_local();
    assert_eq!(report["records"], 1);
    assert_eq!(setup.store.evidence_records().len(), 1);
}

#[test]
fn two_reviewers_deciding_one_case_at_one_version_one_wins() {
    let setup = Setup::new(&[low_case("LOW-1")]);
    let alice = setup.client("alice");
    let bob = setup.client("bob");
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| alice.decide("LOW-1", "quarantine", &["--expected-version", "0"]));
        let b = s.spawn(|| bob.decide("LOW-1", "escalate", &["--expected-version", "0"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut codes = [a.code, b.code];
    codes.sort();
    assert_eq!(codes, [0, 3], "one records, one conflicts:\n{a}\n{b}");
    let loser = if a.code == 3 { &a } else { &b };
    let winner = if a.code == 3 { "bob" } else { "alice" };
    assert!(loser.stderr.contains("conflict on LOW-1"), "{loser}");
    assert!(
        loser.stderr.contains(&format!("{winner} recorded")),
        "the conflict names who decided first: {loser}"
    );
    // Nothing of the loser's went to an outbox: a conflict is an answer.
    assert!(alice.outbox_entries().is_empty() && bob.outbox_entries().is_empty());
    assert_eq!(setup.verify_local()["records"], 1);
}

#[test]
fn a_token_file_readable_by_others_is_refused() {
    let setup = Setup::new(&[low_case("LOW-1")]);
    let alice = setup.client("alice");
    let token_file = alice.sandbox.path().join("token");
    std::fs::write(&token_file, format!("{}\n", alice.token)).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config_dir = alice.sandbox.config_home().join("nhi-triage");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!("token_file = {:?}\n", token_file.display().to_string()),
    )
    .unwrap();
    let mut cmd = alice.cmd();
    cmd.env_remove("NHI_TRIAGE_TOKEN").arg("list");
    let out = run(&mut cmd);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains(&token_file.display().to_string()),
        "{out}"
    );
    assert!(out.stderr.contains("chmod 600"), "{out}");

    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = alice.cmd();
    cmd.env_remove("NHI_TRIAGE_TOKEN").arg("list");
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "a 0600 token file works: {out}");

    // A wrong token: unauthorized, with where the token comes from.
    let mut cmd = alice.cmd();
    cmd.env("NHI_TRIAGE_TOKEN", "nhi_wrong").arg("list");
    let out = run(&mut cmd);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("unauthorized"), "{out}");
    assert!(out.stderr.contains("NHI_TRIAGE_TOKEN"), "{out}");
    // No token at all.
    let mut cmd = alice.cmd();
    cmd.env_remove("NHI_TRIAGE_TOKEN").arg("list");
    std::fs::remove_file(config_dir.join("config.toml")).unwrap();
    let out = run(&mut cmd);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("no API token"), "{out}");
}

// ---------------------------------------------------------------------------
// The outbox.

#[test]
fn a_decision_made_while_the_server_is_down_arrives_exactly_once() {
    let mut setup = Setup::new(&[low_case("LOW-1"), medium_case("MED-1"), high_case("HIGH-1")]);
    let alice = setup.client("alice");
    let port = setup.stop();

    // The server is down: queued, exit 6, the file is private.
    let queued = alice.decide("MED-1", "quarantine", &["--expected-version", "0"]);
    assert_eq!(queued.code, 6, "{queued}");
    assert!(queued.stderr.contains("NOT yet recorded"), "{queued}");
    assert!(
        queued.stderr.contains("1 decision(s) waiting to sync"),
        "{queued}"
    );
    let entries = alice.outbox_entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["state"], "waiting");
    assert_eq!(entries[0]["decision"]["case_id"], "MED-1");
    let key = entries[0]["idempotency_key"].as_str().unwrap().to_string();
    let mode = std::fs::metadata(alice.outbox_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the outbox is private");

    // Without --expected-version the version cannot be known: a clear
    // error, nothing queued (a blind decision is never queued).
    let blind = alice.decide("LOW-1", "quarantine", &[]);
    assert_eq!(blind.code, 1, "{blind}");
    assert!(blind.stderr.contains("--expected-version"), "{blind}");
    // A second decision queues behind the first.
    let second = alice.decide("LOW-1", "escalate", &["--expected-version", "0"]);
    assert_eq!(second.code, 6, "{second}");
    assert_eq!(alice.outbox_entries().len(), 2);

    let listed = alice.run(&["outbox", "list"]);
    assert_eq!(listed.code, 0, "{listed}");
    assert!(listed.stdout.contains("2 waiting to sync"), "{listed}");
    assert!(listed.stdout.contains(&key), "{listed}");

    // Retry while still down: exit 6, both still there.
    let still_down = alice.run(&["outbox", "retry"]);
    assert_eq!(still_down.code, 6, "{still_down}");
    assert_eq!(alice.outbox_entries().len(), 2);

    // Back on the same port and store.
    setup.restart_on(port);
    let retry = alice.run(&["outbox", "retry"]);
    assert_eq!(retry.code, 0, "{retry}");
    assert!(
        retry.stdout.contains("2 sent, 0 refused, 0 waiting"),
        "{retry}"
    );
    assert!(alice.outbox_entries().is_empty());
    let records = setup.store.evidence_records();
    assert_eq!(records.len(), 2);
    // In the order they were made, each with its key.
    assert_eq!(records[0]["case_id"], "MED-1");
    assert_eq!(records[0]["idempotency_key"], key.as_str());
    assert_eq!(records[1]["case_id"], "LOW-1");

    // Sent again (a response lost on the way, an outbox restored from a
    // backup): the server answers with the first record, records nothing.
    std::fs::write(
        alice.outbox_path(),
        format!("{}\n", serde_json::to_string(&entries[0]).unwrap()),
    )
    .unwrap();
    let again = alice.run(&["outbox", "retry"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.stdout.contains("sent: #1 quarantine MED-1"),
        "{again}"
    );
    assert_eq!(setup.store.evidence_records().len(), 2, "exactly once");
    assert_eq!(setup.verify_local()["records"], 2);
}

/// A decision queued offline names the content it was made on: the case
/// rewritten before the outbox is sent makes it a conflict, never a decision
/// on content the reviewer did not see. Without a digest nothing is queued.
#[test]
fn a_queued_decision_on_a_case_rewritten_meanwhile_is_refused_as_a_conflict() {
    let mut setup = Setup::new(&[low_case("LOW-1")]);
    let alice = setup.client("alice");
    let port = setup.stop();
    let blind = run(alice
        .cmd()
        .args(common::decide_args("LOW-1", "approve", JUSTIFICATION))
        .args(["--expected-version", "0"]));
    assert_eq!(blind.code, 1, "{blind}");
    assert!(blind.stderr.contains("--case-sha256"), "{blind}");
    assert!(alice.outbox_entries().is_empty());
    let queued = alice.decide("LOW-1", "approve", &["--expected-version", "0"]);
    assert_eq!(queued.code, 6, "{queued}");
    // The pipeline rewrites the case meanwhile: still tier low, but what
    // approving does is no longer what alice read.
    setup.store.write_cases(
        "cases.jsonl",
        &[common::CaseBuilder::low("LOW-1")
            .set("/action/kind", serde_json::json!("disable"))
            .build()],
    );
    setup.restart_on(port);
    let list = alice.run(&["list"]);
    assert!(
        list.stderr.contains("refused by the server")
            && list.stderr.contains("changed since you reviewed it"),
        "{list}"
    );
    assert_eq!(setup.verify_local()["records"], 0, "nothing recorded");
    assert_eq!(alice.outbox_entries()[0]["state"], "rejected");
}

#[test]
fn the_next_command_sends_the_outbox_and_a_refusal_is_kept() {
    let mut setup = Setup::new(&[low_case("LOW-1"), medium_case("MED-1")]);
    let alice = setup.client("alice");
    let bob = setup.client("bob");
    let port = setup.stop();
    assert_eq!(
        alice
            .decide("LOW-1", "quarantine", &["--expected-version", "0"])
            .code,
        6
    );
    assert_eq!(
        alice
            .decide("MED-1", "quarantine", &["--expected-version", "0"])
            .code,
        6
    );
    setup.restart_on(port);
    // Meanwhile bob decides LOW-1: alice's queued decision is now stale.
    assert_eq!(
        bob.decide("LOW-1", "escalate", &["--expected-version", "0"])
            .code,
        0
    );

    // Any command against the server sends what waits, in order.
    let list = alice.run(&["list", "--json", "--state", "all"]);
    assert_eq!(list.code, 0, "{list}");
    assert!(
        list.stderr.contains("refused by the server") && list.stderr.contains("conflict on LOW-1"),
        "{list}"
    );
    assert!(
        list.stderr
            .contains("queued decision sent: #2 quarantine MED-1"),
        "{list}"
    );
    let entries = alice.outbox_entries();
    assert_eq!(entries.len(), 1, "the refusal is kept: {entries:?}");
    assert_eq!(entries[0]["state"], "rejected");
    assert!(
        entries[0]["reason"]
            .as_str()
            .unwrap()
            .contains("bob recorded escalate")
    );

    // Shown until dealt with: every command reminds, `outbox list` explains.
    let again = alice.run(&["list"]);
    assert!(
        again
            .stderr
            .contains("1 queued decision(s) refused by the server"),
        "{again}"
    );
    let shown = alice.run(&["outbox", "list", "--json"]);
    assert_eq!(shown.code, 0, "{shown}");
    let shown = shown.json();
    assert_eq!(shown["outboxes"][0]["counts"]["rejected"], 1);
    let key = shown["outboxes"][0]["entries"][0]["idempotency_key"]
        .as_str()
        .unwrap()
        .to_string();
    let dismissed = alice.run(&["outbox", "dismiss", &key]);
    assert_eq!(dismissed.code, 0, "{dismissed}");
    assert!(
        dismissed.stdout.contains(&key),
        "the entry is printed: {dismissed}"
    );
    assert!(alice.outbox_entries().is_empty());
    assert_eq!(setup.verify_local()["records"], 2);
}

// ---------------------------------------------------------------------------
// Servers that hang, fail or lie.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Misbehave {
    /// Reads the request, never answers.
    Hang,
    /// 500 with an error body to everything.
    Fail,
    /// 200/201 with a body that is not JSON.
    Garbage,
}

/// A tiny HTTP server that misbehaves; stops when dropped (connections it
/// holds are closed then).
struct FakeServer {
    url: String,
    held: Arc<Mutex<Vec<TcpStream>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeServer {
    fn start(mode: Misbehave) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let held = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (h, r) = (held.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (h, r) = (h.clone(), r.clone());
                std::thread::spawn(move || serve_one(stream, mode, h, r));
            }
        });
        FakeServer {
            url,
            held,
            requests,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn serve_one(
    mut stream: TcpStream,
    mode: Misbehave,
    held: Arc<Mutex<Vec<TcpStream>>>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    loop {
        let Some((head, _body)) = common::read_request(&mut stream) else {
            return;
        };
        let request_line = head.lines().next().unwrap_or("").to_string();
        requests.lock().unwrap().push(request_line.clone());
        let (status, body) = match mode {
            Misbehave::Hang => {
                if let Ok(s) = stream.try_clone() {
                    held.lock().unwrap().push(s);
                }
                // Keep the connection open, silent, until the test ends.
                std::thread::sleep(Duration::from_secs(120));
                return;
            }
            Misbehave::Fail => (
                "500 Internal Server Error",
                r#"{"error":"internal","message":"disk on fire"}"#.to_string(),
            ),
            Misbehave::Garbage if request_line.starts_with("POST") => {
                ("201 Created", "{\"seq\": 1, \"oops".to_string())
            }
            Misbehave::Garbage => ("200 OK", "<html>a captive portal</html>".to_string()),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A client of a fake server, with a short request timeout.
fn fake_client(fake: &FakeServer) -> Client {
    Client::new(&fake.url, "nhi_test")
}

fn timed(f: impl FnOnce() -> Out) -> (Out, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

#[test]
fn a_server_that_hangs_times_out_and_the_decision_is_queued() {
    let fake = FakeServer::start(Misbehave::Hang);
    let client = fake_client(&fake);
    let (out, took) = timed(|| {
        run(client
            .cmd()
            .env("NHI_TRIAGE_API_TIMEOUT", "2")
            .args(["list"]))
    });
    no_panic(&out);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("no answer within 2 s"), "{out}");
    assert!(
        out.stderr.contains(&format!("{}/v1/policy", fake.url)),
        "names the URL: {out}"
    );
    assert!(out.stderr.contains("after 3 attempts"), "{out}");
    // 3 attempts of 2 s, plus 0.25 s and 1 s of backoff.
    assert!(took < Duration::from_secs(15), "took {took:?}");

    // A decision: one POST, no blind retry; queued when no answer comes.
    let (out, took) = timed(|| {
        let mut cmd = client.cmd();
        cmd.env("NHI_TRIAGE_API_TIMEOUT", "2").args([
            "decide",
            "CASE-1",
            "--action",
            "quarantine",
            "--justification",
            JUSTIFICATION,
            "--expected-version",
            "0",
            "--case-sha256",
            &"0".repeat(64),
        ]);
        run(&mut cmd)
    });
    no_panic(&out);
    assert_eq!(out.code, 6, "{out}");
    assert!(out.stderr.contains("no answer within 2 s"), "{out}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(posts, 1, "a POST is never retried blindly");
    assert_eq!(client.outbox_entries().len(), 1, "nothing lost");
}

#[test]
fn the_default_timeout_bounds_a_hanging_decision() {
    let fake = FakeServer::start(Misbehave::Hang);
    let client = fake_client(&fake);
    let (out, took) = timed(|| client.decide("CASE-1", "quarantine", &["--expected-version", "0"]));
    no_panic(&out);
    assert_eq!(out.code, 6, "{out}");
    assert!(out.stderr.contains("no answer within 15 s"), "{out}");
    assert!(
        took >= Duration::from_secs(14) && took < Duration::from_secs(25),
        "took {took:?}"
    );
    assert_eq!(client.outbox_entries().len(), 1);
}

#[test]
fn a_server_that_fails_is_retried_then_reported_and_decisions_are_queued() {
    let fake = FakeServer::start(Misbehave::Fail);
    let client = fake_client(&fake);
    let (out, took) = timed(|| client.run(&["list"]));
    no_panic(&out);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("HTTP 500 Internal Server Error: disk on fire"),
        "{out}"
    );
    assert!(out.stderr.contains("after 3 attempts"), "{out}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let gets = fake.requests().len();
    assert_eq!(gets, 3, "a GET is tried three times: {:?}", fake.requests());

    let out = client.decide("CASE-1", "quarantine", &["--expected-version", "0"]);
    no_panic(&out);
    assert_eq!(out.code, 6, "{out}");
    assert!(out.stderr.contains("HTTP 500"), "{out}");
    assert_eq!(client.outbox_entries().len(), 1, "nothing lost");
    // The retry tries again, with the same key, and keeps it waiting.
    let retry = client.run(&["outbox", "retry"]);
    assert_eq!(retry.code, 6, "{retry}");
    let entries = client.outbox_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["state"], "waiting");
}

#[test]
fn a_server_that_answers_garbage_gets_a_clear_error_and_nothing_is_lost() {
    let fake = FakeServer::start(Misbehave::Garbage);
    let client = fake_client(&fake);
    let out = client.run(&["list"]);
    no_panic(&out);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("not what an nhi-triage server sends")
            && out.stderr.contains("a captive portal"),
        "{out}"
    );
    let out = client.run(&["show", "CASE-1"]);
    no_panic(&out);
    assert_eq!(out.code, 1, "{out}");

    // A 201 whose body is not a record: maybe recorded, maybe not: kept in
    // the outbox (its key makes sending it again safe).
    let out = client.decide("CASE-1", "quarantine", &["--expected-version", "0"]);
    no_panic(&out);
    assert_eq!(out.code, 6, "{out}");
    assert!(out.stderr.contains("not an evidence record"), "{out}");
    assert_eq!(client.outbox_entries().len(), 1);
}

// ---------------------------------------------------------------------------
// Many reviewers at once.

#[test]
fn twenty_clients_deciding_at_once_make_one_valid_chain() {
    const CLIENTS: usize = 20;
    const EACH: usize = 25;
    let cases: Vec<Value> = (0..CLIENTS * EACH)
        .map(|i| low_case(&format!("C{:02}-{:02}", i / EACH, i % EACH)))
        .collect();
    let setup = Setup::new(&cases);
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|i| setup.client(&format!("reviewer{i:02}")))
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (i, client) in clients.iter().enumerate() {
            s.spawn(move || {
                for j in 0..EACH {
                    let id = format!("C{i:02}-{j:02}");
                    let out = client.decide(&id, "quarantine", &["--expected-version", "0"]);
                    assert_eq!(out.code, 0, "{id}: {out}");
                }
            });
        }
    });
    eprintln!(
        "{} decisions by {CLIENTS} clients in {:?}",
        CLIENTS * EACH,
        start.elapsed()
    );
    let report = setup.verify_local();
    assert_eq!(report["records"], (CLIENTS * EACH) as u64);
    let records = setup.store.evidence_records();
    let mut ids: Vec<&str> = records
        .iter()
        .map(|r| r["case_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), CLIENTS * EACH, "every case decided once");
    let quarantined = clients[0].run(&["list", "--json", "--state", "quarantined"]);
    assert_eq!(
        quarantined.json()["counts"]["total"],
        (CLIENTS * EACH) as u64
    );
}

// ---------------------------------------------------------------------------
// The library's RemoteStore, as the console uses it.

#[test]
fn the_remote_store_keeps_its_cases_watches_and_syncs_after_an_outage() {
    use nhi_triage::model::Action;
    use nhi_triage::store::{Link, RemoteOptions, RemoteStore, Store, StoreError};

    let mut setup = Setup::new(&[low_case("LOW-1"), medium_case("MED-1")]);
    let alice = setup.client("alice");
    let bob = setup.client("bob");
    let url = setup.url();
    let outbox = alice.sandbox.path().join("outbox-test.jsonl");
    let rt = runtime();
    rt.block_on(async {
        let options = RemoteOptions {
            watch_wait_seconds: 2,
            ..RemoteOptions::default()
        };
        let store = RemoteStore::open(&url, &alice.token, &outbox, options).unwrap();
        let mut steps = Vec::new();
        let seen = Mutex::new(&mut steps);
        store
            .load(&|p| seen.lock().unwrap().push(p.to_string()))
            .await
            .unwrap();
        assert!(
            steps.iter().any(|s| s.contains("fetching cases: 2/2")),
            "{steps:?}"
        );
        let first = store.snapshot().await.unwrap();
        let again = store.snapshot().await.unwrap();
        assert!(
            Arc::ptr_eq(&first.cases, &again.cases),
            "the same Arc while the case set is the same"
        );
        let mut link = store.link();
        assert_eq!(link.borrow().link, Link::Connected);
        let mut feed = store.watch().unwrap();

        // Another reviewer decides: the feed says so within the long poll.
        let out = tokio::task::spawn_blocking(move || {
            bob.decide("LOW-1", "quarantine", &["--expected-version", "0"])
        })
        .await
        .unwrap();
        assert_eq!(out.code, 0, "{out}");
        tokio::time::timeout(Duration::from_secs(10), feed.changes.recv())
            .await
            .expect("a change within the long poll")
            .expect("feed open");
        let after = store.snapshot().await.unwrap();
        assert!(Arc::ptr_eq(&first.cases, &after.cases));
        assert_eq!(after.status("LOW-1").version, 1);
        assert_eq!(store.records_since(0).await.unwrap().len(), 1);

        // The server goes away: the link says so.
        let port = setup.stop();
        tokio::time::timeout(Duration::from_secs(10), async {
            while !matches!(
                link.borrow_and_update().link,
                Link::Retrying { .. } | Link::Offline { .. }
            ) {
                link.changed().await.unwrap();
            }
        })
        .await
        .expect("retrying after the server stopped");
        let decision = common::decision("MED-1", Action::Quarantine, 0);
        let reviewer = common::reviewer("alice");
        match store.decide(decision, reviewer).await {
            Err(StoreError::Queued { waiting: 1, .. }) => {}
            other => panic!("expected Queued, got {other:?}"),
        }
        assert_eq!(link.borrow().outbox_waiting, 1);

        // Back: the watcher reconnects, sends the outbox, says so.
        setup.restart_on(port);
        tokio::time::timeout(Duration::from_secs(40), async {
            loop {
                {
                    let s = link.borrow_and_update();
                    if s.link == Link::Connected && s.outbox_waiting == 0 {
                        break;
                    }
                }
                link.changed().await.unwrap();
            }
        })
        .await
        .expect("reconnected and synced");
        let synced = store.snapshot().await.unwrap();
        assert_eq!(synced.status("MED-1").version, 1);
        assert_eq!(synced.evidence.records, 2);
        assert!(synced.evidence.broken.is_none());
        assert!(Arc::ptr_eq(&first.cases, &synced.cases));
        drop(feed);
    });
    assert_eq!(setup.verify_local()["records"], 2);
}

// ---------------------------------------------------------------------------
// The console on a remote queue, in a real pseudo-terminal.

/// The console on `client`'s server, in a pty.
fn remote_console(client: &Client, cols: u16, rows: u16) -> Console {
    Console::spawn(
        &client.sandbox,
        &["--api", &client.url],
        &[("NHI_TRIAGE_TOKEN", client.token.clone().into())],
        cols,
        rows,
    )
}

#[test]
fn the_console_follows_the_server_and_queues_while_it_is_down() {
    const WAIT: Duration = Duration::from_secs(10);
    let mut setup = Setup::new(&[low_case("LOW-1"), medium_case("MED-1"), high_case("HIGH-1")]);
    let alice = setup.client("alice");
    let bob = setup.client("bob");
    let t0 = Instant::now();
    let mut console = remote_console(&alice, 120, 40);
    console.wait_for(" connected ", WAIT);
    console.wait_for("api http://127.0.0.1:", WAIT);

    // Another reviewer decides: the console shows it without a key press.
    assert_eq!(
        bob.decide("LOW-1", "quarantine", &["--expected-version", "0"])
            .code,
        0
    );
    console.wait_for("bob quarantine LOW-1", WAIT);
    console.wait_for("evidence ✓ 1 record ", WAIT);

    // The server goes away.
    let port = setup.stop();
    console.wait_for("reconnecting (try", WAIT);
    eprintln!("offline seen at {:?}", t0.elapsed());

    // A decision made now is queued, and the console says so.
    console.send(b"/MED-1\r");
    std::thread::sleep(Duration::from_millis(200));
    console.send(b"i");
    console.wait_for("Justification", WAIT);
    console.send(JUSTIFICATION.as_bytes());
    console.send(b"\x13");
    console.wait_for("NOT yet recorded", Duration::from_secs(20));
    console.wait_for("1 decision waiting to sync", WAIT);
    assert_eq!(alice.outbox_entries().len(), 1);
    eprintln!("queued at {:?}", t0.elapsed());

    // Back: it reconnects on its own, sends the outbox, shows the record.
    setup.restart_on(port);
    // (The message says "synced", then the record's arrival replaces it.)
    console.wait_for("evidence ✓ 2 records", Duration::from_secs(40));
    eprintln!("synced at {:?}", t0.elapsed());
    if std::env::var_os("SHOW_LOG").is_some() {
        let log = alice
            .sandbox
            .state_home()
            .join("nhi-triage/logs/nhi-triage.log");
        eprintln!("{}", std::fs::read_to_string(log).unwrap_or_default());
    }
    console.wait_for(" connected ", WAIT);
    assert!(
        !console.text().contains("waiting to sync"),
        "{}",
        console.text()
    );
    assert!(alice.outbox_entries().is_empty());
    console.send(b"Q");
    drop(console);
    let records = setup.store.evidence_records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["case_id"], "MED-1");
    assert_eq!(records[1]["reviewer"]["name"], "alice");
    assert_eq!(setup.verify_local()["records"], 2);
}

#[test]
fn a_client_notices_when_the_servers_log_is_not_the_one_it_saw() {
    use nhi_triage::store::{RemoteOptions, RemoteStore, Store};

    let mut setup = Setup::new(&[low_case("LOW-1"), medium_case("MED-1")]);
    let alice = setup.client("alice");
    assert_eq!(
        alice
            .decide("LOW-1", "quarantine", &["--expected-version", "0"])
            .code,
        0
    );
    let url = setup.url();
    let rt = runtime();
    let outbox = alice.sandbox.path().join("outbox-test.jsonl");
    let store = RemoteStore::open(&url, &alice.token, &outbox, RemoteOptions::default()).unwrap();
    let before = rt.block_on(store.snapshot()).unwrap();
    assert_eq!(before.evidence.records, 1);

    // Another store behind the same URL, with an empty log: the client
    // loads everything again (new cases, no records).
    let port = setup.stop();
    let other = TestStore::with_cases(&[low_case("OTHER-1")]);
    let server = Server::start_on(&other, &setup.tokens, port);
    let replaced = rt.block_on(store.snapshot()).unwrap();
    assert_eq!(replaced.evidence.records, 0);
    assert_eq!(replaced.cases.len(), 1);
    assert_eq!(replaced.cases[0].id, "OTHER-1");
    assert!(!Arc::ptr_eq(&before.cases, &replaced.cases));

    // That store gets two records of its own: the client, holding none,
    // takes them. Then the first store comes back behind the URL: its
    // record 1 is not the one the client holds, and record 2 does not link.
    let other_client = Client::new(&server.url, &alice.token);
    // The server is up: the version and content digest come from it.
    assert_eq!(other_client.decide("OTHER-1", "quarantine", &[]).code, 0);
    assert_eq!(rt.block_on(store.snapshot()).unwrap().evidence.records, 1);
    drop(server);
    setup.restart_on(port);
    let bob = setup.client("bob");
    assert_eq!(
        bob.decide("MED-1", "quarantine", &["--expected-version", "0"])
            .code,
        0
    );
    let lied = rt.block_on(store.snapshot()).unwrap();
    let brk = lied.evidence.broken.expect("a break the client saw itself");
    assert_eq!(brk.seq, 2);
    assert!(brk.reason.contains("does not link"), "{}", brk.reason);
    assert_eq!(
        lied.evidence.records, 1,
        "nothing after the break is applied"
    );
    // Every record the server sends is still checked by the server itself.
    assert!(rt.block_on(store.verify()).unwrap().is_ok());
}

#[test]
fn without_a_live_feed_a_background_task_still_sends_the_outbox() {
    use nhi_triage::model::{Action, Decision};
    use nhi_triage::store::{RemoteStore, Store, StoreError};

    let mut setup = Setup::new(&[low_case("LOW-1")]);
    let alice = setup.client("alice");
    let url = setup.url();
    let outbox = alice.sandbox.path().join("outbox-bg.jsonl");
    let rt = runtime();
    let store = rt
        .block_on(RemoteStore::connect(&url, &alice.token, &outbox))
        .unwrap();
    let port = setup.stop();
    let decision = Decision {
        idempotency_key: Some("fixed-key-1".into()),
        ..common::decision("LOW-1", Action::Escalate, 0)
    };
    let reviewer = common::reviewer("alice");
    match rt.block_on(store.decide(decision.clone(), reviewer.clone())) {
        Err(StoreError::Queued { waiting: 1, .. }) => {}
        other => panic!("expected Queued, got {other:?}"),
    }
    // The same decision again (a retried click): still one entry.
    assert!(matches!(
        rt.block_on(store.decide(decision, reviewer)),
        Err(StoreError::Queued { waiting: 1, .. })
    ));
    setup.restart_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.link().borrow().outbox_waiting > 0 {
        assert!(Instant::now() < deadline, "the outbox was never sent");
        std::thread::sleep(Duration::from_millis(50));
    }
    let records = setup.store.evidence_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["idempotency_key"], "fixed-key-1");
    drop(store);
    drop(rt);
}

/// A client on the API hears of a case file the server reloaded from its
/// very first long poll on (it learns the server's case generation while
/// loading): the snapshot then holds the rewritten case.
#[test]
fn a_remote_client_sees_a_rewritten_case_from_its_first_long_poll() {
    use nhi_triage::policy::{Tier, assess};
    use nhi_triage::store::{RemoteOptions, RemoteStore, Store};

    let setup = Setup::new(&[low_case("LOW-1")]);
    let alice = setup.client("alice");
    let rt = runtime();
    let outbox = alice.sandbox.path().join("outbox-test.jsonl");
    let store = RemoteStore::open(
        &setup.url(),
        &alice.token,
        &outbox,
        RemoteOptions::default(),
    )
    .unwrap();
    let tier = |s: &nhi_triage::store::Snapshot| {
        let case = s.find("LOW-1").expect("LOW-1");
        assess(
            case,
            &s.status("LOW-1"),
            &s.policy,
            time::OffsetDateTime::now_utc(),
        )
        .tier
    };
    let first = rt.block_on(store.snapshot()).unwrap();
    assert_eq!(tier(&first), Tier::Low);
    let mut feed = {
        let _in_runtime = rt.enter();
        store.watch().unwrap()
    };
    // Let the first long poll start, then rewrite the case on the server.
    std::thread::sleep(Duration::from_millis(300));
    setup
        .store
        .write_cases("cases.jsonl", &[common::with_critical_partner("LOW-1")]);
    let started = Instant::now();
    let heard = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), feed.changes.recv()).await
    });
    assert!(matches!(heard, Ok(Some(()))), "no change heard in 5 s");
    let after = rt.block_on(store.snapshot()).unwrap();
    assert_eq!(tier(&after), Tier::High, "after {:?}", started.elapsed());
}

/// A two-thread runtime for driving the library client directly.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
