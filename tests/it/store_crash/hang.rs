//! Bounded runs: every command of the crash checks must end within a limit,
//! and one that does not is reported with what the database's sessions are
//! doing (on PostgreSQL: a decision left waiting on a lock that a killed
//! process's session still holds would show here as a hang, not as a test
//! run that never ends).

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use super::{Backend, Target, crash_store};
use crate::common::{self, Out, out_of};

/// Runs `cmd` (stdout and stderr captured) to its end, for `limit` at most.
/// `Err` when it was still running then: the command, what it had written,
/// and [`describe_sessions`] of `database` taken while it hung; the process
/// is SIGKILLed.
pub(super) fn run_within(
    cmd: &mut Command,
    limit: Duration,
    database: Option<&str>,
) -> Result<Out, String> {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nhi-triage");
    let pid = Pid::from_child(&child);
    let (done, finished) = mpsc::channel::<()>();
    let database = database.map(str::to_string);
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(limit) != Err(mpsc::RecvTimeoutError::Timeout) {
            return None;
        }
        // Not reaped yet (the other thread is still waiting for it): the
        // pid is still the child's.
        let seen = describe_sessions(database.as_deref());
        let _ = kill_process(pid, Signal::KILL);
        Some(seen)
    });
    let output = child.wait_with_output().expect("wait for nhi-triage");
    let _ = done.send(());
    let out = out_of(output);
    match watchdog.join().expect("watchdog thread") {
        None => Ok(out),
        Some(seen) => Err(format!(
            "{cmd:?} was still running after {limit:?} (killed): hung\n{out}\n{seen}"
        )),
    }
}

/// The other sessions on the database at `url` (pid, state, what they wait
/// on, how long their transaction has run, the query) and the advisory and
/// table locks held or awaited; empty without a URL.
pub(super) fn describe_sessions(url: Option<&str>) -> String {
    let Some(url) = url else {
        return String::new();
    };
    let Some(pg) = common::postgres::cluster_or_skip("store_crash sessions") else {
        return String::new();
    };
    let query = |sql: &str| {
        let out = pg.psql_output(url, sql);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    format!(
        "--- pg_stat_activity (pid|state|wait|transaction age|query) ---\n{}\
         --- locks (pid|type|relation|mode|granted) ---\n{}",
        query(
            "SELECT pid, state, wait_event_type || ':' || wait_event, now() - xact_start, \
             left(query, 100) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ),
        query(
            "SELECT pid, locktype, relation::regclass, mode, granted FROM pg_locks \
             WHERE pid <> pg_backend_pid() AND (locktype = 'advisory' \
             OR (locktype = 'relation' AND (NOT granted OR mode = 'AccessExclusiveLock')))"
        )
    )
}

/// The detector is not blind: a `decide` kept waiting by a session that
/// holds the evidence table locked is reported as hung, with the waiting
/// session and the lock in the report (what a lock left behind by a killed
/// process would look like).
#[test]
fn a_decision_kept_waiting_on_a_lock_is_reported_hung_postgres() {
    let test = "a_decision_kept_waiting_on_a_lock_is_reported_hung_postgres";
    let Some((store, cases)) = crash_store(Backend::Postgres, 1, test) else {
        return;
    };
    let pg = common::postgres::cluster_or_skip(test).expect("the cluster of crash_store");
    let url = store.database.clone().expect("a PostgreSQL store");
    let target = Target::of(&store);
    // The store imports its cases on first open: before the lock.
    let out = target.run(target.cmd().args(["evidence", "verify"]));
    assert_eq!(out.code, 0, "{out}");
    let mut holder = Command::new(pg.bindir().join("psql"))
        .args(["-X", "-q", "-d", &url, "-c"])
        .arg(
            "BEGIN; LOCK TABLE evidence IN ACCESS EXCLUSIVE MODE; \
             SELECT pg_sleep(60); COMMIT;",
        )
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn psql");
    let locked = "SELECT count(*) FROM pg_locks WHERE relation = 'evidence'::regclass \
                  AND mode = 'AccessExclusiveLock' AND granted";
    let deadline = Instant::now() + Duration::from_secs(20);
    while pg.psql(&url, locked) != "1" {
        assert!(Instant::now() < deadline, "psql never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let hung = run_within(
        &mut target.decide(&cases[0], common::JUSTIFICATION),
        Duration::from_secs(2),
        Some(&url),
    );
    let took = started.elapsed();
    // Killing psql would not end its session: the server notices a client
    // gone only when it next talks to it, after the sleep.
    pg.psql(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE '%pg_sleep(60)%' \
         AND pid <> pg_backend_pid()",
    );
    let _ = holder.wait();
    let report = match hung {
        Ok(out) => panic!("a decide behind a held lock finished: {out}"),
        Err(report) => report,
    };
    println!("{report}");
    assert!(took < Duration::from_secs(10), "reported after {took:?}");
    assert!(report.contains("hung"), "{report}");
    assert!(
        report.contains("Lock:relation"),
        "no waiting session: {report}"
    );
    assert!(
        report.contains("|evidence|AccessExclusiveLock|t"),
        "no lock holder: {report}"
    );
    // Once the holder is gone the same decision goes through, at once.
    let out = run_within(
        &mut target.decide(&cases[0], common::JUSTIFICATION),
        Duration::from_secs(20),
        Some(&url),
    )
    .unwrap_or_else(|hung| panic!("{hung}"));
    assert_eq!(out.code, 0, "{out}");
}
