//! Issue 9: `kill -9` in the middle of appends loses no acknowledged record.
//!
//! The real binary decides on a real store and is killed with SIGKILL at
//! random moments: anywhere in its life, around the moment its decision
//! commits (the delay homes in on that moment as the trials go), and while
//! several `decide` processes run at once. A decision is *acknowledged* only
//! when `decide --json` exited 0 having printed its record (or, for
//! `serve`, when the answer was a 201 with the record). After every kill:
//!
//! - the store opens and `evidence verify` finds the chain intact;
//! - the chain read before the kill is a prefix of the chain now (nothing
//!   lost or rewritten), `seq` runs 1..n, record ids are unique and no case
//!   is decided twice (every decision here is an `approve` at version 0 of
//!   its own case);
//! - every acknowledged record is present with the same `id`, `seq`, `hash`;
//! - the killed decision, tried again, is recorded once: exit 0 and a new
//!   record when the kill came before its commit, exit 3 (conflict: version
//!   0 is gone) when it had committed; through the API, the same
//!   `Idempotency-Key` returns the committed record itself.
//!
//! The driver takes the global options that select the store ([`Target`]):
//! `--store DIR` here; a PostgreSQL variant builds a `Target` with
//! `--database URL` and calls the same [`run_trials`].
//!
//! Short form (CI): `NHI_TRIAGE_CRASH_TRIALS` trials, default 25. The full
//! run (docs/benchmarks.md, *Issue 9: crash durability*):
//! `NHI_TRIAGE_CRASH_TRIALS=200 cargo test --release --test it store_crash -- --nocapture`.
//! `NHI_TRIAGE_CRASH_SEED=N` replays the kill delays of a run (each test
//! prints its seed and figures).

use crate::common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use common::server::{Api, Server, add_token, decision, tokens_path};
use common::{JUSTIFICATION, Sandbox, TestStore, decide_args, low_case, out_of, run};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::Value;

/// The longest justification a record keeps (10,000 characters), four
/// bytes each: a 40 KB record, whose commit writes a dozen WAL frames
/// instead of a few, so a kill can fall between its first page and its
/// commit frame.
static LONG: LazyLock<String> =
    LazyLock::new(|| format!("{JUSTIFICATION} {}", "\u{1F511}".repeat(9_000)));

/// SIGKILL's number: what `Child::kill` sends on Unix.
const SIGKILL: i32 = 9;

/// The reviewer every decision here is recorded under.
const REVIEWER: &str = "crash-tester";

/// How many trials to run: `NHI_TRIAGE_CRASH_TRIALS`, default 25.
fn trials() -> usize {
    std::env::var("NHI_TRIAGE_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25)
}

/// A seeded generator: `NHI_TRIAGE_CRASH_SEED`, else a fresh seed (printed).
fn rng(test: &str) -> StdRng {
    let seed = std::env::var("NHI_TRIAGE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("{test}: NHI_TRIAGE_CRASH_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

// ---------------------------------------------------------------------------
// The store under test.

/// Where the trials run: the sandboxed binary plus the global options that
/// select the store (`--store DIR`, later `--database URL`).
struct Target<'a> {
    sandbox: &'a Sandbox,
    select: Vec<OsString>,
    /// SQLite's write-ahead log, read after each kill (before anything
    /// reopens the store) to tell a kill in the middle of a commit.
    wal: Option<PathBuf>,
}

impl<'a> Target<'a> {
    fn sqlite(store: &'a TestStore) -> Self {
        Target {
            sandbox: &store.sandbox,
            select: vec!["--store".into(), store.dir.clone().into()],
            wal: Some(store.dir.join("store.db-wal")),
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = self.sandbox.cmd();
        cmd.args(&self.select);
        cmd
    }

    /// `decide CASE --action approve --justification TEXT
    /// --expected-version 0 --json`.
    fn decide(&self, case: &str, text: &str) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["--reviewer", REVIEWER])
            .args(decide_args(case, "approve", text))
            .args(["--expected-version", "0", "--json"])
            .stdin(Stdio::null());
        cmd
    }
}

/// A store holding `n` low-tier cases (`CRASH-0`…), 50 to a file, each
/// approvable once: the case ids.
fn sqlite_store(n: usize) -> (TestStore, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|i| format!("CRASH-{i}")).collect();
    let store = TestStore::with_cases(&[]);
    for (k, chunk) in ids.chunks(50).enumerate() {
        let cases: Vec<Value> = chunk.iter().map(|id| low_case(id)).collect();
        store.write_cases(&format!("batch-{k:03}.jsonl"), &cases);
    }
    (store, ids)
}

// ---------------------------------------------------------------------------
// What was acknowledged, and what the chain holds.

/// A record as acknowledged (or as found in the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    seq: u64,
    id: String,
    hash: String,
}

impl Ack {
    /// From a record's JSON (`decide --json`, a 201 body, an exported line)
    /// that must be about `case`.
    fn of(case: &str, record: &Value) -> Ack {
        assert_eq!(record["case_id"], case, "record for another case: {record}");
        let field = |k: &str| {
            record[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k} in {record}"))
                .to_string()
        };
        Ack {
            seq: record["seq"].as_u64().expect("seq"),
            id: field("id"),
            hash: field("hash"),
        }
    }
}

/// Every acknowledged decision, and the chain as last checked.
#[derive(Default)]
struct Ledger {
    acked: HashMap<String, Ack>,
    lines: Vec<String>,
    /// case id → its record, in the chain as last checked.
    chain: HashMap<String, Ack>,
    /// Acknowledged records compared with the chain, over all checks.
    compared: usize,
}

impl Ledger {
    fn acknowledge(&mut self, case: &str, ack: Ack) {
        if let Some(first) = self.acked.insert(case.to_string(), ack.clone()) {
            panic!("{case} acknowledged twice: {first:?} then {ack:?}");
        }
    }

    /// Opens the store, verifies the chain and checks it against what was
    /// acknowledged and what the last check saw (see the module docs).
    fn check(&mut self, target: &Target<'_>) {
        let out = run(target.cmd().args(["evidence", "verify", "--json"]));
        assert_eq!(out.code, 0, "evidence verify after a kill: {out}");
        let report = out.json();
        assert!(report["first_bad"].is_null(), "{report}");
        assert!(report["torn_tail"].is_null(), "{report}");
        let out = run(target
            .cmd()
            .args(["evidence", "export", "--format", "jsonl"]));
        assert_eq!(out.code, 0, "evidence export after a kill: {out}");
        let lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
        assert_eq!(report["records"].as_u64(), Some(lines.len() as u64));
        if let Some(i) = (0..self.lines.len()).find(|&i| lines.get(i) != Some(&self.lines[i])) {
            panic!(
                "record {} changed or vanished: was {}, now {:?}",
                i + 1,
                self.lines[i],
                lines.get(i)
            );
        }
        let mut chain = HashMap::new();
        let mut ids = HashSet::new();
        for (i, line) in lines.iter().enumerate() {
            let record: Value = serde_json::from_str(line).expect("exported line is JSON");
            let case = record["case_id"].as_str().expect("case_id").to_string();
            let ack = Ack::of(&case, &record);
            assert_eq!(ack.seq, i as u64 + 1, "seq out of order: {line}");
            assert!(ids.insert(ack.id.clone()), "record id twice: {line}");
            if let Some(first) = chain.insert(case.clone(), ack) {
                panic!("{case} decided twice: first {first:?}, again {line}");
            }
        }
        for (case, ack) in &self.acked {
            assert_eq!(
                chain.get(case),
                Some(ack),
                "acknowledged decision on {case} is not in the chain as acknowledged"
            );
        }
        self.compared += self.acked.len();
        self.lines = lines;
        self.chain = chain;
    }
}

// ---------------------------------------------------------------------------
// The trials.

/// What the trials did (printed at the end of a run).
#[derive(Default, Debug)]
struct Stats {
    trials: usize,
    concurrent_trials: usize,
    processes: usize,
    /// Exited 0 with their record before the kill came.
    acked: usize,
    /// Killed before their decision committed (retried: recorded anew).
    killed_uncommitted: usize,
    /// Killed after the commit reached the log but before acknowledging:
    /// inside the fsync, the checkpoint, or the printing (retried: exit 3).
    killed_committed: usize,
    /// Of those, single processes killed while the WAL still held their
    /// commit: inside the commit's fsync or the checkpoint that follows it.
    killed_committed_before_checkpoint: usize,
    /// Kills that left a transaction's pages in the WAL without its commit
    /// frame: the kill came while the commit was being written.
    wal_cut_mid_commit: usize,
}

/// How a `decide` process ended.
enum Outcome {
    Acked(Ack),
    Killed,
}

fn outcome(case: &str, out: std::process::Output) -> Outcome {
    if out.status.signal() == Some(SIGKILL) {
        return Outcome::Killed;
    }
    let out = out_of(out);
    assert_eq!(
        out.code, 0,
        "decide {case} failed without being killed: {out}"
    );
    Outcome::Acked(Ack::of(case, &out.json()))
}

/// One `decide` of a trial: the case, the justification, and when to kill
/// it (from its spawn).
struct Attempt {
    case: String,
    text: &'static str,
    kill_at: Duration,
}

/// Spawns every attempt at once, SIGKILLs each at its `kill_at` (a process
/// already done is not touched) and returns how each ended.
fn spawn_and_kill(target: &Target<'_>, plan: &[Attempt]) -> Vec<Outcome> {
    let mut children: Vec<(Child, Instant)> = plan
        .iter()
        .map(|a| {
            let child = target
                .decide(&a.case, a.text)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn decide");
            (child, Instant::now())
        })
        .collect();
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&i| plan[i].kill_at);
    for i in order {
        let (child, started) = &mut children[i];
        let at = *started + plan[i].kill_at;
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        // Not yet waited for, so the pid is still this child's.
        child.kill().expect("kill -9 decide");
    }
    children
        .into_iter()
        .zip(plan)
        .map(|((child, _), a)| outcome(&a.case, child.wait_with_output().expect("wait")))
        .collect()
}

/// Runs `trials` kill trials on `target`, deciding on `cases` in order (each
/// once), checking the store after each (module docs). Panics on the first
/// lost, changed or duplicated record.
fn run_trials(target: &Target<'_>, cases: &[String], trials: usize, rng: &mut StdRng) -> Stats {
    let mut stats = Stats::default();
    let mut ledger = Ledger::default();
    let mut fresh = cases.iter();
    let mut next_case = || fresh.next().expect("enough cases for the trials").clone();
    let attempt = |case, text, kill_at| Attempt {
        case,
        text,
        kill_at,
    };
    // Calibrate: how long an undisturbed decision takes, spawn to exit.
    let mut took = Vec::new();
    for _ in 0..3 {
        let case = next_case();
        let started = Instant::now();
        let out = run(&mut target.decide(&case, JUSTIFICATION));
        took.push(started.elapsed());
        assert_eq!(out.code, 0, "calibration decide: {out}");
        ledger.acknowledge(&case, Ack::of(&case, &out.json()));
    }
    took.sort();
    // Where the commit seems to be, from the spawn; nudged after each
    // trial aimed at it, so about half of those kills land on each side.
    let mut commit_at = took[1].mul_f64(0.9);
    // Halved whenever the kills change sides, down to 0.2 ms.
    let mut step = took[1] / 10;
    let mut last_side = None;
    ledger.check(target);
    for _ in 0..trials {
        stats.trials += 1;
        let concurrent = rng.random_ratio(1, 4);
        let aimed = !concurrent && rng.random_ratio(3, 4);
        let plan: Vec<Attempt> = if concurrent {
            stats.concurrent_trials += 1;
            let k = rng.random_range(3..=6usize);
            let span = commit_at.mul_f64(k as f64 / 1.5);
            (0..k)
                .map(|_| {
                    let at = span.mul_f64(rng.random_range(0.0..1.0));
                    attempt(next_case(), JUSTIFICATION, at)
                })
                .collect()
        } else if aimed {
            let jitter = rng.random_range(-2000i64..=2000);
            let at = commit_at.as_micros() as i64 + jitter;
            // Half of them with a long record (more frames to cut).
            let text = if rng.random_ratio(1, 2) {
                LONG.as_str()
            } else {
                JUSTIFICATION
            };
            let at = Duration::from_micros(at.max(0) as u64);
            vec![attempt(next_case(), text, at)]
        } else {
            let at = commit_at.mul_f64(rng.random_range(0.0..1.25));
            vec![attempt(next_case(), JUSTIFICATION, at)]
        };
        stats.processes += plan.len();
        let outcomes = spawn_and_kill(target, &plan);
        let mut killed = Vec::new();
        for (a, outcome) in plan.iter().zip(outcomes) {
            match outcome {
                Outcome::Acked(ack) => {
                    stats.acked += 1;
                    ledger.acknowledge(&a.case, ack);
                }
                Outcome::Killed => killed.push((a.case.clone(), a.text)),
            }
        }
        // Before anything reopens the store (which would recover the WAL).
        let wal = target
            .wal
            .as_deref()
            .and_then(wal_frames)
            .unwrap_or_default();
        if !killed.is_empty() && wal.uncommitted > 0 {
            stats.wal_cut_mid_commit += 1;
        }
        ledger.check(target);
        if aimed {
            // Committed (acknowledged or not): the commit came before the kill.
            let committed = ledger.chain.contains_key(&plan[0].case);
            if last_side.is_some_and(|side| side != committed) {
                step = (step / 2).max(Duration::from_micros(200));
            }
            last_side = Some(committed);
            if committed {
                commit_at = commit_at.saturating_sub(step);
            } else {
                commit_at += step;
            }
        }
        // The same decision again: recorded once, whichever side of the
        // commit the kill fell on; and the store still takes decisions.
        for (case, text) in killed {
            let out = run(&mut target.decide(&case, text));
            if ledger.chain.contains_key(&case) {
                stats.killed_committed += 1;
                // One process, and the one before it closed the store (its
                // WAL checkpointed and gone): a WAL holding a commit now is
                // this process's, killed before its own close.
                if !concurrent && wal.committed > 0 {
                    stats.killed_committed_before_checkpoint += 1;
                }
                assert_eq!(
                    out.code, 3,
                    "retry of a committed decision on {case}: {out}"
                );
            } else {
                stats.killed_uncommitted += 1;
                assert_eq!(
                    out.code, 0,
                    "retry of an unrecorded decision on {case}: {out}"
                );
                ledger.acknowledge(&case, Ack::of(&case, &out.json()));
            }
        }
    }
    let case = next_case();
    let out = run(&mut target.decide(&case, JUSTIFICATION));
    assert_eq!(out.code, 0, "a decision after the trials: {out}");
    ledger.acknowledge(&case, Ack::of(&case, &out.json()));
    ledger.check(target);
    println!(
        "{stats:?}; commit ≈ {commit_at:?} after spawn; {} records in the chain, all {} \
         acknowledged present; {} acknowledged-record comparisons",
        ledger.lines.len(),
        ledger.acked.len(),
        ledger.compared
    );
    stats
}

/// What SQLite's write-ahead log holds: frames up to its last commit frame
/// (committed, not yet checkpointed away), and frames after it (pages of a
/// transaction whose commit frame was never written).
#[derive(Debug, Default, PartialEq, Eq)]
struct Wal {
    committed: usize,
    uncommitted: usize,
}

/// The frames of the current generation of the WAL at `path`; `None` when
/// there is no WAL. Frames count only while their salts match the header
/// and their cumulative checksums hold (sqlite.org/fileformat2.html, *WAL
/// File Format*), so the stale tail of an earlier cut transaction,
/// overwritten in part since, is not counted again.
fn wal_frames(path: &Path) -> Option<Wal> {
    let bytes = std::fs::read(path).ok()?;
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    if bytes.len() < 32 || be(0) & !1 != 0x377f_0682 {
        return None;
    }
    let big_endian = be(0) & 1 == 1;
    let page = match be(8) {
        1 => 65536,
        n => n as usize,
    };
    let checksum = |seed: (u32, u32), data: &[u8]| {
        let (mut s0, mut s1) = seed;
        for pair in data.chunks_exact(8) {
            let word = |b: &[u8]| {
                let w: [u8; 4] = b.try_into().unwrap();
                if big_endian {
                    u32::from_be_bytes(w)
                } else {
                    u32::from_le_bytes(w)
                }
            };
            s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
            s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
        }
        (s0, s1)
    };
    let mut sum = checksum((0, 0), &bytes[..24]);
    let mut wal = Wal::default();
    if sum != (be(24), be(28)) {
        return Some(wal);
    }
    let mut at = 32;
    while at + 24 + page <= bytes.len() {
        if (be(at + 8), be(at + 12)) != (be(16), be(20)) {
            break;
        }
        let next = checksum(
            checksum(sum, &bytes[at..at + 8]),
            &bytes[at + 24..at + 24 + page],
        );
        if next != (be(at + 16), be(at + 20)) {
            break;
        }
        sum = next;
        wal.uncommitted += 1;
        if be(at + 4) != 0 {
            wal.committed += wal.uncommitted;
            wal.uncommitted = 0;
        }
        at += 24 + page;
    }
    Some(wal)
}

#[test]
fn kill_9_during_decide_loses_no_acknowledged_record_sqlite() {
    let trials = trials();
    let (store, cases) = sqlite_store(trials * 6 + 10);
    let mut rng = rng("sqlite decide");
    let started = Instant::now();
    let stats = run_trials(&Target::sqlite(&store), &cases, trials, &mut rng);
    println!("sqlite decide: {trials} trials in {:?}", started.elapsed());
    assert_eq!(stats.trials, trials);
    assert!(
        stats.killed_uncommitted + stats.killed_committed > 0,
        "no kill landed before a decision finished: {stats:?}"
    );
}

// ---------------------------------------------------------------------------
// The server: decisions through the API, the process killed under load.

/// One decision through the API with its own `Idempotency-Key`; `None` when
/// the answer never fully arrived (the server died first).
async fn post(api: &Api, case: &str) -> Option<(StatusCode, Value)> {
    let resp = api
        .client
        .post(format!("{}/v1/cases/{case}/decisions", api.base))
        .bearer_auth(&api.token)
        .header("Idempotency-Key", format!("crash-{case}"))
        .json(&decision("approve", 0))
        .send()
        .await
        .ok()?;
    let status = resp.status();
    let text = resp.text().await.ok()?;
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"));
    Some((status, body))
}

/// The answer to a decision must be a 201 with its record.
fn created(case: &str, (status, body): (StatusCode, Value)) -> Ack {
    assert_eq!(status, StatusCode::CREATED, "decision on {case}: {body}");
    Ack::of(case, &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_serve_under_load_loses_no_acknowledged_decision_sqlite() {
    let rounds = (trials() / 10).max(3);
    let (store, cases) = sqlite_store(rounds * 400);
    let target = Target::sqlite(&store);
    let tokens = tokens_path(&store);
    let token = add_token(&store, &tokens, "crash-api");
    let mut rng = rng("sqlite serve");
    let queue = Arc::new(Mutex::new(cases.into_iter().collect::<VecDeque<_>>()));
    let mut ledger = Ledger::default();
    let mut unacked: Vec<String> = Vec::new();
    let (mut replayed, mut recorded_on_retry, mut killed_in_flight) = (0, 0, 0);
    let started = Instant::now();
    for round in 0..=rounds {
        let mut server = Server::start(&store, &tokens, &[]);
        let api = Arc::new(Api::new(&server, &token));
        // The decisions the last kill left unanswered, sent again with the
        // same key: the committed record itself, or a new one; never two.
        for case in std::mem::take(&mut unacked) {
            let answer = post(&api, &case).await.expect("restarted server answers");
            let ack = created(&case, answer);
            match ledger.chain.get(&case) {
                Some(committed) => {
                    assert_eq!(&ack, committed, "replay of {case} is not its first record");
                    replayed += 1;
                }
                None => recorded_on_retry += 1,
            }
            ledger.acknowledge(&case, ack);
        }
        if round == rounds {
            server.kill();
            break;
        }
        let acked = Arc::new(Mutex::new(Vec::new()));
        let lost = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let (api, queue) = (api.clone(), queue.clone());
                let (acked, lost) = (acked.clone(), lost.clone());
                tokio::spawn(async move {
                    loop {
                        let Some(case) = queue.lock().unwrap().pop_front() else {
                            return;
                        };
                        match post(&api, &case).await {
                            Some(answer) => {
                                let ack = created(&case, answer);
                                acked.lock().unwrap().push((case, ack));
                            }
                            None => {
                                lost.lock().unwrap().push(case);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..600))).await;
        server.kill();
        assert!(
            !queue.lock().unwrap().is_empty(),
            "the decisions ran out before the kill: not a kill under load"
        );
        for w in workers {
            w.await.expect("worker");
        }
        for (case, ack) in std::mem::take(&mut *acked.lock().unwrap()) {
            ledger.acknowledge(&case, ack);
        }
        unacked = std::mem::take(&mut *lost.lock().unwrap());
        killed_in_flight += unacked.len();
        ledger.check(&target);
    }
    ledger.check(&target);
    println!(
        "sqlite serve: {rounds} kills in {:?}; {} decisions acknowledged, {killed_in_flight} \
         in flight at a kill ({replayed} had committed: replayed by key; \
         {recorded_on_retry} recorded on retry); {} records in the chain",
        started.elapsed(),
        ledger.acked.len(),
        ledger.lines.len()
    );
    assert!(killed_in_flight > 0, "no kill caught a decision in flight");
}

/// The WAL reader behind the `wal_*` figures counts the pages of a
/// transaction whose commit frame is not written yet, and nothing once it
/// is: a zero in the figures means no kill fell there, not a blind reader.
#[test]
fn the_wal_reader_sees_a_transaction_cut_before_its_commit_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(tmp.path().join("t.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch("CREATE TABLE t (b BLOB)").unwrap();
    let wal = tmp.path().join("t.db-wal");
    let empty = wal_frames(&wal).unwrap();
    assert_eq!(empty.uncommitted, 0, "{empty:?}");
    // A small page cache spills the open transaction's pages into the WAL.
    conn.pragma_update(None, "cache_size", 10).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for _ in 0..100 {
        conn.execute("INSERT INTO t VALUES (zeroblob(4000))", [])
            .unwrap();
    }
    // The WAL as a kill at this moment would leave it.
    let cut = tmp.path().join("cut-wal");
    std::fs::copy(&wal, &cut).unwrap();
    let open = wal_frames(&cut).unwrap();
    assert!(open.uncommitted > 10, "{open:?}");
    assert_eq!(open.committed, empty.committed, "{open:?}");
    conn.execute_batch("COMMIT").unwrap();
    let done = wal_frames(&wal).unwrap();
    assert_eq!(done.uncommitted, 0, "{done:?}");
    assert!(done.committed > open.uncommitted, "{done:?}");
    assert_eq!(wal_frames(&tmp.path().join("none")), None);
}
