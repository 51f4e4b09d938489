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
//! `--store DIR` for SQLite, `--database URL --cases DIR` for PostgreSQL (a
//! fresh database on the shared test cluster). On SQLite the write-ahead
//! log is also read after each kill, to count kills in the middle of a
//! commit; on PostgreSQL a kill is before or after the commit by whether
//! its record is in the chain afterwards (the server rolls back the
//! transaction of a connection that drops, releasing the writers' advisory
//! lock). Every command of the checks must end within [`HANG`]: one still
//! running then (a decision waiting on a lock a killed process still holds)
//! fails the test with the database's sessions and locks.
//!
//! Only the client processes (`decide`, `serve`) are killed, never the
//! PostgreSQL server; the test cluster runs with `fsync = off`, so the
//! server's own crash safety is not what these tests show. They are
//! skipped (pass with a message) where PostgreSQL is not installed, unless
//! `NHI_TRIAGE_REQUIRE_POSTGRES=1`.
//!
//! Short form (CI): `NHI_TRIAGE_CRASH_TRIALS` trials, default 25. The full
//! run (docs/benchmarks.md, *Issue 9: crash durability*):
//! `NHI_TRIAGE_CRASH_TRIALS=200 cargo test --release --test it store_crash -- --nocapture`.
//! `NHI_TRIAGE_CRASH_SEED=N` replays the kill delays of a run (each test
//! prints its seed and figures).

use crate::common;

mod hang;
mod ledger;
mod serve;
mod wal;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use common::{JUSTIFICATION, Out, Sandbox, TestStore, decide_args, low_case, out_of};
use ledger::{Ack, Ledger};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use serve::serve_trials;
use wal::wal_frames;

/// The longest justification a record keeps (10,000 characters), four
/// bytes each: a 40 KB record, whose commit writes a dozen SQLite WAL
/// frames instead of a few, so a kill can fall between its first page and
/// its commit frame (on PostgreSQL just a larger row).
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

/// How long one command of the checks may run (a `decide` takes well under
/// a second, even in a debug build on a busy machine) before the test
/// calls it hung.
const HANG: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// The store under test.

/// Which backend a test runs on.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Where the trials run: the sandboxed binary plus the global options that
/// select the store (`--store DIR`, or `--database URL --cases DIR`).
struct Target<'a> {
    sandbox: &'a Sandbox,
    select: Vec<OsString>,
    /// SQLite's write-ahead log, read after each kill (before anything
    /// reopens the store) to tell a kill in the middle of a commit.
    wal: Option<PathBuf>,
    /// The PostgreSQL store's URL (to show its sessions and locks when a
    /// command hangs).
    database: Option<String>,
}

impl<'a> Target<'a> {
    /// The store `store` is (its `store_args`).
    fn of(store: &'a TestStore) -> Self {
        Target {
            sandbox: &store.sandbox,
            select: store.store_args(),
            wal: store
                .database
                .is_none()
                .then(|| store.dir.join("store.db-wal")),
            database: store.database.clone(),
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

    /// Runs `cmd` to its end, or for [`HANG`] at most: a process still
    /// running then fails the test, with the database's sessions and locks
    /// ([`hang::run_within`]).
    fn run(&self, cmd: &mut Command) -> Out {
        hang::run_within(cmd, HANG, self.database.as_deref())
            .unwrap_or_else(|hung| panic!("{hung}"))
    }

    /// The chain's records, one JSON line each, in `seq` order: `evidence
    /// export --format jsonl` on SQLite; on PostgreSQL the stored lines read
    /// with psql (`common::pg_evidence`: the same lines, without paying for
    /// another start of the binary on every check).
    fn chain(&self) -> Vec<String> {
        let text = match &self.database {
            Some(url) => String::from_utf8(common::pg_evidence(url)).expect("chain is UTF-8"),
            None => {
                let mut cmd = self.cmd();
                let out = self.run(cmd.args(["evidence", "export", "--format", "jsonl"]));
                assert_eq!(out.code, 0, "evidence export after a kill: {out}");
                out.stdout
            }
        };
        text.lines().map(str::to_string).collect()
    }

    /// The store's database sessions and locks (PostgreSQL), for a
    /// failure message; empty on SQLite.
    fn sessions(&self) -> String {
        hang::describe_sessions(self.database.as_deref())
    }
}

/// A store on `backend` holding `n` low-tier cases (`CRASH-0`…), 50 to a
/// file in its case folder, each approvable once: the store and the case
/// ids. On PostgreSQL: a fresh database on the shared test cluster,
/// prepared with `--database URL init`, the folder imported on open
/// (`--cases DIR`); `None` (after printing "skipped") when PostgreSQL is not
/// installed, and a panic then under `NHI_TRIAGE_REQUIRE_POSTGRES=1`.
fn crash_store(backend: Backend, n: usize, test: &str) -> Option<(TestStore, Vec<String>)> {
    let store = match backend {
        Backend::Sqlite => TestStore::with_cases(&[]),
        Backend::Postgres => {
            let pg = common::postgres::cluster_or_skip(test)?;
            let url = pg.new_database(test);
            let sandbox = Sandbox::new();
            let dir = sandbox.path().join("store");
            std::fs::create_dir_all(dir.join("cases")).expect("case folder");
            let out = common::run(sandbox.cmd().args(["--database", &url, "init"]));
            assert_eq!(out.code, 0, "init --database {url}: {out}");
            TestStore {
                sandbox,
                dir,
                database: Some(url),
            }
        }
    };
    let ids: Vec<String> = (0..n).map(|i| format!("CRASH-{i}")).collect();
    for (k, chunk) in ids.chunks(50).enumerate() {
        let cases: Vec<Value> = chunk.iter().map(|id| low_case(id)).collect();
        store.write_cases(&format!("batch-{k:03}.jsonl"), &cases);
    }
    Some((store, ids))
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
    /// commit: inside the commit's fsync or the checkpoint that follows it
    /// (SQLite only: `None` on PostgreSQL).
    killed_committed_before_checkpoint: Option<usize>,
    /// Kills that left a transaction's pages in the WAL without its commit
    /// frame: the kill came while the commit was being written (SQLite
    /// only: `None` on PostgreSQL).
    wal_cut_mid_commit: Option<usize>,
    /// The slowest retry of a killed decision, spawn to exit: a retry kept
    /// waiting by something the killed process left behind (a lock) would
    /// show here.
    slowest_retry: Duration,
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
    let sqlite = target.wal.as_ref().map(|_| 0);
    let mut stats = Stats {
        killed_committed_before_checkpoint: sqlite,
        wal_cut_mid_commit: sqlite,
        ..Stats::default()
    };
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
        let out = target.run(&mut target.decide(&case, JUSTIFICATION));
        took.push(started.elapsed());
        assert_eq!(out.code, 0, "calibration decide: {out}");
        ledger.acknowledge(&case, Ack::of(&case, &out.json()));
    }
    took.sort();
    // Where the commit seems to be, from the spawn; nudged after each
    // trial aimed at it, so about half of those kills land on each side.
    let mut commit_at = took[1].mul_f64(0.9);
    // Halved whenever the kills change sides, down to 0.2 ms; doubled
    // (up to a quarter of a decision) after three kills in a row on one
    // side, to follow a commit that moves: it comes later as the chain
    // grows (on PostgreSQL opening the store reads the whole chain, and
    // looks up each decided case).
    let mut step = took[1] / 10;
    let max_step = took[1] / 4;
    let mut last_side = None;
    let mut streak = 0;
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
        if let Some(n) = stats.wal_cut_mid_commit.as_mut() {
            *n += usize::from(!killed.is_empty() && wal.uncommitted > 0);
        }
        ledger.check(target);
        if aimed {
            // Committed (acknowledged or not): the commit came before the kill.
            let committed = ledger.chain.contains_key(&plan[0].case);
            if last_side.is_some_and(|side| side != committed) {
                step = (step / 2).max(Duration::from_micros(200));
                streak = 0;
            } else {
                streak += 1;
                if streak == 3 {
                    step = (step * 2).min(max_step);
                    streak = 0;
                }
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
            let started = Instant::now();
            let out = target.run(&mut target.decide(&case, text));
            stats.slowest_retry = stats.slowest_retry.max(started.elapsed());
            if ledger.chain.contains_key(&case) {
                stats.killed_committed += 1;
                // One process, and the one before it closed the store (its
                // WAL checkpointed and gone): a WAL holding a commit now is
                // this process's, killed before its own close.
                if let Some(n) = stats.killed_committed_before_checkpoint.as_mut() {
                    *n += usize::from(!concurrent && wal.committed > 0);
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
    let out = target.run(&mut target.decide(&case, JUSTIFICATION));
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

/// The `decide` trials on `backend` (see [`run_trials`]); skipped as
/// [`crash_store`] says.
fn decide_trials(backend: Backend, label: &str) {
    let trials = trials();
    let Some((store, cases)) = crash_store(backend, trials * 6 + 10, label) else {
        return;
    };
    let mut rng = rng(label);
    let started = Instant::now();
    let stats = run_trials(&Target::of(&store), &cases, trials, &mut rng);
    println!("{label}: {trials} trials in {:?}", started.elapsed());
    assert_eq!(stats.trials, trials);
    assert!(
        stats.killed_uncommitted + stats.killed_committed > 0,
        "no kill landed before a decision finished: {stats:?}"
    );
}

/// `serve` killed under load on `backend` (see [`serve_trials`]):
/// `NHI_TRIAGE_CRASH_TRIALS / 10` kills, at least 3.
async fn serve_kills(backend: Backend, label: &str) {
    let rounds = (trials() / 10).max(3);
    let Some((store, cases)) = crash_store(backend, rounds * 400, label) else {
        return;
    };
    let mut rng = rng(label);
    serve_trials(&store, cases, rounds, &mut rng, label).await;
}

#[test]
fn kill_9_during_decide_loses_no_acknowledged_record_sqlite() {
    decide_trials(Backend::Sqlite, "sqlite decide");
}

#[test]
fn kill_9_during_decide_loses_no_acknowledged_record_postgres() {
    decide_trials(Backend::Postgres, "postgres decide");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_serve_under_load_loses_no_acknowledged_decision_sqlite() {
    serve_kills(Backend::Sqlite, "sqlite serve").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_serve_under_load_loses_no_acknowledged_decision_postgres() {
    serve_kills(Backend::Postgres, "postgres serve").await;
}
