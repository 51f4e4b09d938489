//! Two `nhi-triage serve` processes on one PostgreSQL database (issue 9):
//! the real binary twice, `--database URL --cases DIR`, one tokens file
//! with a token per client, many concurrent reqwest clients spread over
//! both servers, every decision with its own `Idempotency-Key`.
//!
//! Load size: `NHI_TRIAGE_TWO_SERVERS_LOAD=CLIENTSxEACH`, default `40x8`
//! (40 concurrent clients, 320 decisions a run: about 20 s per test
//! in a debug build on 2 cores, the CI budget). The issue's full form, 40 ×
//! 25 = 1,000 decisions:
//!
//! ```sh
//! NHI_TRIAGE_TWO_SERVERS_LOAD=40x25 cargo test --release --test it postgres_two_servers:: -- --nocapture --test-threads 1
//! ```
//!
//! Below about `10x5` the kill may not land mid-load, which the kill test
//! reports as a failure rather than passing without a kill. The decisions/s
//! and p99 figures are printed (see them with `--nocapture`);
//! docs/benchmarks.md ("Issue 9: two servers on one PostgreSQL") has them.
//!
//! Skipped (passes with a message) without PostgreSQL, unless
//! `NHI_TRIAGE_REQUIRE_POSTGRES=1`.

use crate::common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::postgres::{PgCluster, cluster_or_skip};
use common::server::{Api, Server, add_token, client, decision, tokens_path};
use common::{Sandbox, TestStore, low_case};
use reqwest::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

/// `CLIENTSxEACH`: how many concurrent clients, and decisions each.
const LOAD_ENV: &str = "NHI_TRIAGE_TWO_SERVERS_LOAD";

/// The clients and decisions per client of a run (default 40 × 8).
fn load() -> (usize, usize) {
    let Ok(text) = std::env::var(LOAD_ENV) else {
        return (40, 8);
    };
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(c, e)| Some((c.trim().parse().ok()?, e.trim().parse().ok()?)));
    match parsed {
        Some((c, e)) if c >= 2 && e >= 1 => (c, e),
        _ => panic!("{LOAD_ENV}={text:?}: expected CLIENTSxEACH, at least 2 clients, e.g. 40x25"),
    }
}

/// How soon a long poll (`wait=10`) on one server must answer after a
/// decision through the other: well under the 10 s it would wait without
/// the NOTIFY. Loose, because the first look after a quiet spell re-checks
/// every decided case for orphans, one query each while the server has not
/// loaded its case list (about 2 ms a decided case in a debug build).
const WAKE_BOUND: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// A database, its case folder, one token per client, servers on it.

struct Deployment {
    store: TestStore,
    url: String,
    tokens: PathBuf,
    /// `client_tokens[i]` is client i's token (reviewer `client-NN`).
    client_tokens: Vec<String>,
    /// The load's cases, `clients × each` of them, all low tier.
    ids: Vec<String>,
}

impl Deployment {
    /// A fresh database prepared with `init`, a case folder holding the
    /// load's low-tier cases plus `extra` ones, and a token per client.
    fn new(pg: &PgCluster, hint: &str, clients: usize, each: usize, extra: &[&str]) -> Deployment {
        let url = pg.new_database(hint);
        let sandbox = Sandbox::new();
        let dir = sandbox.path().join("store");
        std::fs::create_dir_all(dir.join("cases")).expect("case folder");
        let store = TestStore {
            sandbox,
            dir,
            database: Some(url.clone()),
        };
        let out = common::run(store.sandbox.cmd().args(["--database", &url, "init"]));
        assert_eq!(out.code, 0, "init --database: {out}");

        let ids: Vec<String> = (0..clients * each).map(|i| format!("TWO-{i:05}")).collect();
        let mut cases: Vec<Value> = ids.iter().map(|id| low_case(id)).collect();
        cases.extend(extra.iter().map(|id| low_case(id)));
        store.write_cases("load.jsonl", &cases);

        let tokens = tokens_path(&store);
        let client_tokens = (0..clients)
            .map(|i| add_token(&store, &tokens, &format!("client-{i:02}")))
            .collect();
        Deployment {
            store,
            url,
            tokens,
            client_tokens,
            ids,
        }
    }

    /// `serve --database URL --cases DIR --tokens FILE`, with an access log
    /// of its own.
    fn start_server(&self, n: usize) -> Server {
        let log = self.store.sandbox.path().join(format!("access-{n}.log"));
        let log = log.to_string_lossy().into_owned();
        Server::start(&self.store, &self.tokens, &["--access-log", &log])
    }

    /// Client `i`'s view of `server`.
    fn api(&self, server: &Server, i: usize) -> Api {
        Api {
            client: client(),
            base: server.base.clone(),
            token: self.client_tokens[i].clone(),
        }
    }

    /// `nhi-triage --database URL evidence verify` exits 0.
    fn assert_cli_verify(&self) {
        let out = self.store.run(&["evidence", "verify"]);
        assert_eq!(out.code, 0, "evidence verify on {}: {out}", self.url);
    }
}

/// The idempotency key of the decision on case `id` in run `run`.
fn key_for(run: &str, id: &str) -> String {
    format!("{run}-{id}-approve")
}

/// `POST /v1/cases/ID/decisions` with an `Idempotency-Key`; `Err` when no
/// complete answer came back (refused connection, reset, cut-off body).
async fn try_decide(api: &Api, id: &str, key: &str) -> Result<(StatusCode, Value), String> {
    let resp = api
        .client
        .post(format!("{}/v1/cases/{id}/decisions", api.base))
        .bearer_auth(&api.token)
        .header("Idempotency-Key", key)
        .json(&decision("approve", 0))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{e:?}"))?;
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"));
    Ok((status, body))
}

/// One decision's outcome.
#[derive(Debug, Clone)]
struct Answer {
    id: String,
    key: String,
    status: StatusCode,
    record: Value,
    /// From the first attempt to the final answer (retries included).
    latency: Duration,
    /// Which server answered.
    server: usize,
    /// The attempts that got no answer (when, which server, the error),
    /// before the one that did.
    failed_attempts: Vec<(Instant, String)>,
}

/// Decisions/s and latency percentiles of a run.
struct Figures {
    decisions: usize,
    took: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Figures {
    fn of(answers: &[Answer], took: Duration) -> Figures {
        let mut lat: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
        lat.sort_unstable();
        let at = |q: f64| lat[((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1];
        Figures {
            decisions: answers.len(),
            took,
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    fn rate(&self) -> f64 {
        self.decisions as f64 / self.took.as_secs_f64()
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what}: {} decisions in {:.2?} = {:.0} decisions/s; latency p50 {:.1?}, p99 {:.1?}, max {:.1?}",
            self.decisions,
            self.took,
            self.rate(),
            self.p50,
            self.p99,
            self.max
        )
    }
}

/// Every client decides its `each` cases in turn, client `i` on server
/// `i % servers.len()`; all clients at once. Panics on a transport error.
async fn run_load(dep: &Deployment, servers: &[&Server], run: &str) -> (Vec<Answer>, Duration) {
    let each = dep.ids.len() / dep.client_tokens.len();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, chunk) in dep.ids.chunks(each).enumerate() {
        let n = i % servers.len();
        let api = dep.api(servers[n], i);
        let chunk = chunk.to_vec();
        let run = run.to_string();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for id in chunk {
                let key = key_for(&run, &id);
                let t = Instant::now();
                let (status, record) = try_decide(&api, &id, &key)
                    .await
                    .unwrap_or_else(|e| panic!("{id} on server {n}: no answer: {e}"));
                answers.push(Answer {
                    id,
                    key,
                    status,
                    record,
                    latency: t.elapsed(),
                    server: n,
                    failed_attempts: Vec::new(),
                });
            }
            answers
        }));
    }
    let answers = join_all(tasks).await;
    (answers, started.elapsed())
}

/// The clients' answers, each client within two minutes.
async fn join_all(tasks: Vec<tokio::task::JoinHandle<Vec<Answer>>>) -> Vec<Answer> {
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(
            tokio::time::timeout(Duration::from_secs(120), task)
                .await
                .expect("a client took over two minutes (a deadlock?)")
                .expect("client task"),
        );
    }
    answers
}

/// Every record `server` serves from `/v1/evidence`, paged from the start.
async fn served_evidence(dep: &Deployment, server: &Server) -> Vec<Value> {
    let api = dep.api(server, 0);
    let mut records: Vec<Value> = Vec::new();
    loop {
        let after = records
            .last()
            .map_or(0, |r| r["seq"].as_u64().expect("seq"));
        let (status, page) = api.get(&format!("/v1/evidence?after_seq={after}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page["records"].as_array().expect("records").clone();
        if page.is_empty() {
            return records;
        }
        records.extend(page);
    }
}

/// The chain holds exactly the acknowledged decisions, once each: `answers`
/// all 201, seqs 1..=N without gaps, one record per case and per key, each
/// acknowledged record the one at its seq.
fn assert_chain_is_exactly(dep: &Deployment, answers: &[Answer]) -> Vec<Value> {
    let n = dep.ids.len();
    assert_eq!(answers.len(), n);
    for a in answers {
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "{} ({}): {}",
            a.id,
            a.key,
            a.record
        );
        assert_eq!(a.record["case_id"], a.id.as_str(), "{}", a.record);
        assert_eq!(a.record["idempotency_key"], a.key.as_str(), "{}", a.record);
    }
    let records = dep.store.evidence_records();
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=n as u64).collect::<Vec<_>>(),
        "seqs with gaps or extras"
    );
    let cases: BTreeSet<&str> = records
        .iter()
        .map(|r| r["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(cases.len(), n, "a case was decided twice (doubled record)");
    let keys: BTreeSet<&str> = records
        .iter()
        .map(|r| {
            r["idempotency_key"]
                .as_str()
                .expect("every record has its key")
        })
        .collect();
    assert_eq!(keys.len(), n, "an idempotency key is on record twice");
    let sent: BTreeSet<&str> = answers.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, sent, "the chain's keys are not the keys sent");
    for a in answers {
        let seq = a.record["seq"].as_u64().expect("seq") as usize;
        assert_eq!(
            records[seq - 1],
            a.record,
            "{}: the acknowledged record is not the one in the chain",
            a.id
        );
    }
    records
}

// ---------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_share_the_queue() {
    let name = "two_servers_on_one_database_share_the_queue";
    let Some(pg) = cluster_or_skip(name) else {
        return;
    };
    let test_started = Instant::now();
    let (clients, each) = load();

    // The same load against one server, for the comparison.
    let one = Deployment::new(pg, "one_server", clients, each, &[]);
    let server = one.start_server(0);
    let setup = test_started.elapsed();
    let (answers, took) = run_load(&one, &[&server], "one").await;
    let single = Figures::of(&answers, took);
    assert_chain_is_exactly(&one, &answers);
    drop(server);

    // Two servers on one database; two more cases for the live check.
    let dep = Deployment::new(pg, "two_servers", clients, each, &["LIVE-A", "LIVE-B"]);
    let servers = [dep.start_server(0), dep.start_server(1)];
    let (answers, took) = run_load(&dep, &[&servers[0], &servers[1]], "two").await;
    let double = Figures::of(&answers, took);
    let records = assert_chain_is_exactly(&dep, &answers);
    let by_0 = answers.iter().filter(|a| a.server == 0).count();
    assert!(by_0 > 0 && by_0 < answers.len(), "one server took it all");

    // Each server serves the whole chain, the other's decisions included.
    for (n, server) in servers.iter().enumerate() {
        let served = served_evidence(&dep, server).await;
        assert_eq!(
            served, records,
            "server {n} does not serve the database's chain"
        );
    }

    // Live: a long poll on one server wakes on a decision made through the
    // other (LISTEN/NOTIFY), not at the end of its wait.
    let mut wakes = Vec::new();
    for (from, to, id) in [(0, 1, "LIVE-A"), (1, 0, "LIVE-B")] {
        let last = dep.store.evidence_records().len();
        let watcher = dep.api(&servers[to], 1);
        let poll = tokio::spawn(async move {
            let answer = watcher
                .get(&format!("/v1/evidence?after_seq={last}&wait=10"))
                .await;
            (answer, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !poll.is_finished(),
            "the long poll on server {to} returned early"
        );
        let (status, record) = try_decide(&dep.api(&servers[from], 0), id, &key_for("live", id))
            .await
            .expect("live decision answered");
        assert_eq!(status, StatusCode::CREATED, "{record}");
        let decided = Instant::now();
        let ((status, page), answered) = tokio::time::timeout(Duration::from_secs(12), poll)
            .await
            .expect("the long poll never returned")
            .expect("poll task");
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["records"][0], record, "server {to} did not serve {id}");
        let wake = answered.saturating_duration_since(decided);
        assert!(
            wake < WAKE_BOUND,
            "server {to} heard of server {from}'s decision after {wake:?} (wait was 10 s)"
        );
        wakes.push(wake);
    }

    for server in &servers {
        let (status, check) = dep.api(server, 0).get("/v1/evidence/verify").await;
        assert_eq!(status, StatusCode::OK, "{check}");
        assert!(check["first_bad"].is_null(), "{check}");
        assert_eq!(check["records"], dep.ids.len() + 2, "{check}");
    }
    dep.assert_cli_verify();

    eprintln!("load: {clients} clients x {each} decisions ({LOAD_ENV}=CxE to change)");
    eprintln!("{}", single.line("one server "));
    eprintln!("{}", double.line("two servers"));
    eprintln!(
        "two/one: {:.2} x the decisions/s; a long poll on one server woke {:.1?} / {:.1?} \
         after a decision through the other; setup of one deployment {setup:.1?}; test {:.1?}",
        double.rate() / single.rate(),
        wakes[0],
        wakes[1],
        test_started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_one_server_mid_load_loses_no_acknowledged_decision() {
    let name = "killing_one_server_mid_load_loses_no_acknowledged_decision";
    let Some(pg) = cluster_or_skip(name) else {
        return;
    };
    let test_started = Instant::now();
    let (clients, each) = load();
    let dep = Deployment::new(pg, "kill_one", clients, each, &[]);
    let survivor = dep.start_server(0);
    let victim = dep.start_server(1);
    let bases = [survivor.base.clone(), victim.base.clone()];
    let n = dep.ids.len();

    // Server 1 dies (SIGKILL) once a third of the decisions are
    // acknowledged, and at least one of them by server 1.
    let acked = Arc::new(AtomicUsize::new(0));
    let acked_by_victim = Arc::new(AtomicUsize::new(0));
    let kill_at = (n / 3).max(1);
    let killer = {
        let (acked, acked_by_victim) = (Arc::clone(&acked), Arc::clone(&acked_by_victim));
        let mut victim = victim;
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            while (acked.load(Ordering::SeqCst) < kill_at
                || acked_by_victim.load(Ordering::SeqCst) == 0)
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let before = acked.load(Ordering::SeqCst);
            let (wall, instant) = (OffsetDateTime::now_utc(), Instant::now());
            victim.kill(); // std's Child::kill: SIGKILL, then wait
            (victim, before, wall, instant)
        })
    };

    // Client i starts on server i % 2; a request without an answer moves
    // the client to the survivor, sending the same decision with the same key.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, chunk) in dep.ids.chunks(each).enumerate() {
        let apis: Vec<Api> = bases
            .iter()
            .map(|base| Api {
                client: client(),
                base: base.clone(),
                token: dep.client_tokens[i].clone(),
            })
            .collect();
        let chunk = chunk.to_vec();
        let (acked, acked_by_victim) = (Arc::clone(&acked), Arc::clone(&acked_by_victim));
        tasks.push(tokio::spawn(async move {
            let mut at = i % 2;
            let mut answers = Vec::new();
            for id in chunk {
                let key = key_for("kill", &id);
                let t = Instant::now();
                let mut failed = Vec::new();
                let (status, record) = loop {
                    match try_decide(&apis[at], &id, &key).await {
                        Ok(answer) => break answer,
                        Err(e) => {
                            failed.push((Instant::now(), format!("server {at}: {e}")));
                            assert!(
                                failed.len() < 5,
                                "{id}: no answer in 5 attempts: {failed:#?}"
                            );
                            if at == 1 {
                                at = 0;
                            } else {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                };
                if status.is_success() {
                    acked.fetch_add(1, Ordering::SeqCst);
                    if at == 1 {
                        acked_by_victim.fetch_add(1, Ordering::SeqCst);
                    }
                }
                answers.push(Answer {
                    id,
                    key,
                    status,
                    record,
                    latency: t.elapsed(),
                    server: at,
                    failed_attempts: failed,
                });
            }
            answers
        }));
    }
    let answers = join_all(tasks).await;
    let took = started.elapsed();
    let (_victim, acked_before_kill, killed_at, kill_instant) = killer.await.expect("killer task");

    // The kill came mid-load: some decisions were acknowledged before it,
    // and some of server 1's clients had to move.
    assert!(
        (kill_at..n).contains(&acked_before_kill),
        "the kill did not come mid-load: {acked_before_kill} of {n} acknowledged before it"
    );
    let failed_on_survivor: Vec<&Answer> = answers
        .iter()
        .filter(|a| {
            a.failed_attempts
                .iter()
                .any(|(at, f)| f.starts_with("server 0") || *at < kill_instant)
        })
        .collect();
    assert!(
        failed_on_survivor.is_empty(),
        "requests left unanswered by the survivor, or before the kill: {failed_on_survivor:#?}"
    );
    let moved: Vec<&Answer> = answers
        .iter()
        .filter(|a| !a.failed_attempts.is_empty())
        .collect();
    assert!(
        !moved.is_empty(),
        "no client of the killed server had to retry"
    );
    let by_victim: Vec<&Answer> = answers.iter().filter(|a| a.server == 1).collect();
    assert!(
        !by_victim.is_empty(),
        "server 1 acknowledged nothing before it died"
    );

    // Every acknowledged decision is in the chain exactly once.
    let records = assert_chain_is_exactly(&dep, &answers);

    // A moved decision the killed server had committed without answering:
    // the retry got that first record (stamped before the kill).
    let committed_unanswered = moved
        .iter()
        .filter(|a| {
            let ts = a.record["ts"].as_str().expect("ts");
            let ts = OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
                .expect("ts is RFC 3339");
            ts < killed_at
        })
        .count();

    // Any decision sent again with its key (the answer lost, a client
    // retrying late) returns the first record from the survivor, and
    // records nothing new: every one server 1 acknowledged, and every
    // moved one.
    let again = dep.api(&survivor, 0);
    let mut replayed = 0;
    for a in by_victim.iter().chain(moved.iter()) {
        let client_no: usize = a.id["TWO-".len()..].parse::<usize>().unwrap() / each;
        let api = dep.api(&survivor, client_no);
        let (status, record) = try_decide(&api, &a.id, &a.key)
            .await
            .unwrap_or_else(|e| panic!("replay of {}: {e}", a.id));
        assert_eq!(status, StatusCode::CREATED, "replay of {}: {record}", a.id);
        assert_eq!(
            record, a.record,
            "a retry of {} did not return the first record",
            a.id
        );
        replayed += 1;
    }
    assert_eq!(
        dep.store.evidence_records(),
        records,
        "a replay recorded something"
    );
    let (status, check) = again.get("/v1/evidence/verify").await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert!(check["first_bad"].is_null(), "{check}");
    assert_eq!(check["records"], n, "{check}");
    dep.assert_cli_verify();

    eprintln!(
        "{clients} clients x {each} decisions over two servers; server 1 killed (SIGKILL) after \
         {acked_before_kill} acknowledgements; {} decisions moved to server 0 ({committed_unanswered} \
         of them committed by server 1 before it died and answered with that record); {} acknowledged \
         by server 1; {replayed} replays returned the first record; {}; test {:.1?}",
        moved.len(),
        by_victim.len(),
        Figures::of(&answers, took).line("all"),
        test_started.elapsed()
    );
}
