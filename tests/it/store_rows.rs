//! The queue's stored rows (`queue_rows`, schema version 2; issue 9):
//! `LocalStore::queue_blocking` gives every case's row and tier window
//! without reading a case, and assesses again only the rows whose window
//! ended, whose status moved on or that were assessed under another policy.
//! Every tier is checked against `policy::assess` on the cases as
//! `snapshot_blocking` reads them; what was (not) written again is read
//! from the table itself (its `clock` column), on SQLite with rusqlite and
//! on PostgreSQL with psql. [`console`] builds an `App` on the rows and
//! loads a case's details as the runtime does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use nhi_triage::model::{Action, Case, CaseRow, CaseState, CaseStatus};
use nhi_triage::policy::{Policy, Tier, TierWindow, assess, tier_window};
use nhi_triage::store::{LocalStore, Snapshot, StoreLayout};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::common::library::LibraryStore;
use crate::common::{CaseBuilder, at, days_ago, decision, pg_set_policy, pg_sql, reviewer};

mod bounds;
mod console;

// ---------------------------------------------------------------------------
// Cases and the table.

/// The 55 demo cases rebased to the real clock (decisions are stamped with
/// it), plus cases whose windows end soon or lie in the future: a change
/// window opening in two days, a use dated tomorrow, an owner verification
/// a day from going stale, a map verified in the future.
fn varied_cases() -> Vec<Value> {
    let text = nhi_triage::demo::rebased_cases(OffsetDateTime::now_utc()).expect("demo rebases");
    let mut cases: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("demo line"))
        .collect();
    cases.extend([
        CaseBuilder::low("VAR-WINDOW")
            .set(
                "/change_window",
                json!({"start": at(Duration::days(2)), "end": at(Duration::days(3))}),
            )
            .build(),
        CaseBuilder::low("VAR-FUTURE-USE")
            .set("/identity/last_used_at", json!(at(Duration::days(1))))
            .build(),
        CaseBuilder::low("VAR-OWNER-89")
            .set("/owner/verified_at", json!(days_ago(89)))
            .build(),
        CaseBuilder::medium("VAR-MAP-FUTURE")
            .set("/dependencies/verified_at", json!(at(Duration::hours(5))))
            .build(),
        CaseBuilder::high("VAR-HIGH").build(),
    ]);
    cases
}

/// One `queue_rows` row as stored (`None`: NULL, or not an integer).
#[derive(Debug, Clone, PartialEq, Eq)]
struct DbRow {
    tier: Option<i64>,
    valid_after: Option<i64>,
    due_at: Option<i64>,
    policy: String,
    version: Option<i64>,
    clock: i64,
}

impl DbRow {
    /// Whether the stored window holds at `t` and `margin` either side of
    /// it (a bound that is not a time never holds).
    fn holds_around(&self, t: OffsetDateTime, margin: Duration) -> bool {
        let time = |s: i64| OffsetDateTime::from_unix_timestamp(s).ok();
        let after = match self.valid_after {
            None => true,
            Some(s) => time(s).is_some_and(|a| a < t - margin),
        };
        let due = match self.due_at {
            None => true,
            Some(s) => time(s).is_some_and(|d| t + margin < d),
        };
        after && due
    }
}

const SELECT_ROWS: &str =
    "SELECT id, tier, valid_after, due_at, policy, version, clock FROM queue_rows ORDER BY id";

/// Opens the store under its own policy, as the program does: the
/// directory's `policy.toml`, or on PostgreSQL that file's text stored as
/// the database's policy. (`LibraryStore::open` passes the policy
/// explicitly on PostgreSQL: a what-if policy, under which nothing
/// assessed is written back.)
fn open(dir: &LibraryStore) -> LocalStore {
    match &dir.database {
        Some(url) => {
            let layout = StoreLayout::new(dir.path());
            let text = std::fs::read_to_string(layout.policy_path()).expect("policy.toml");
            // The schema first (a fresh database has none), then the text.
            LocalStore::init_database(url, &Policy::default(), None).expect("init the database");
            pg_set_policy(url, &text);
            LocalStore::open_database(url, (Some(&layout.cases_dir()), None), None, None)
                .expect("open the database store")
        }
        None => LocalStore::open(dir.path()).expect("open the store"),
    }
}

/// The table `queue_rows` of the store, by id.
fn db_rows(store: &LibraryStore) -> BTreeMap<String, DbRow> {
    let mut out = BTreeMap::new();
    match &store.database {
        Some(url) => {
            for line in pg_sql(url, SELECT_ROWS).lines() {
                let f: Vec<&str> = line.split('|').collect();
                assert_eq!(f.len(), 7, "a queue_rows line: {line:?}");
                let int = |s: &str| s.parse::<i64>().ok();
                out.insert(
                    f[0].to_string(),
                    DbRow {
                        tier: int(f[1]),
                        valid_after: int(f[2]),
                        due_at: int(f[3]),
                        policy: f[4].to_string(),
                        version: int(f[5]),
                        clock: int(f[6]).expect("clock"),
                    },
                );
            }
        }
        None => {
            let conn = rusqlite::Connection::open(store.path().join("store.db")).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(30))
                .unwrap();
            let mut stmt = conn.prepare(SELECT_ROWS).unwrap();
            let mut rows = stmt.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                let int = |i: usize| r.get_ref(i).unwrap().as_i64().ok();
                out.insert(
                    r.get::<_, String>(0).unwrap(),
                    DbRow {
                        tier: int(1),
                        valid_after: int(2),
                        due_at: int(3),
                        policy: r.get(4).unwrap(),
                        version: int(5),
                        clock: int(6).expect("clock"),
                    },
                );
            }
        }
    }
    out
}

/// Runs `sql` on the store's database, as a broken tool or an older
/// version of the program would.
fn db_exec(store: &LibraryStore, sql: &str) {
    match &store.database {
        Some(url) => {
            pg_sql(url, sql);
        }
        None => crate::common::tamper(store.path(), sql),
    }
}

/// A window as the table keeps it: bounds in whole seconds, rounded
/// inwards (`valid_after` up, `due_at` down).
fn rounded(w: &TierWindow) -> (Tier, Option<i64>, Option<i64>) {
    let after = w.valid_after.map(|t| {
        let s = t.unix_timestamp();
        if OffsetDateTime::from_unix_timestamp(s).unwrap() < t {
            s + 1
        } else {
            s
        }
    });
    (w.tier, after, w.due_at.map(|t| t.unix_timestamp()))
}

fn tier_code(t: Tier) -> i64 {
    match t {
        Tier::Low => 0,
        Tier::Medium => 1,
        Tier::High => 2,
    }
}

/// The cases as `snapshot_blocking` reads them, by id, with the snapshot.
fn full(store: &LocalStore) -> (Snapshot, HashMap<String, Case>) {
    let snapshot = store.snapshot_blocking().expect("snapshot");
    let cases = snapshot
        .cases
        .iter()
        .map(|c| (c.id.clone(), c.clone()))
        .collect();
    (snapshot, cases)
}

/// Checks `queue` (from `queue_blocking(now)`) against the cases themselves:
/// no cases, one row per case in id order, each row made of its case, each
/// tier the one `assess` gives at `now` and each window holding at `now`.
/// Returns the tiers by id.
fn check_queue(
    queue: &Snapshot,
    store: &LocalStore,
    now: OffsetDateTime,
) -> BTreeMap<String, Tier> {
    let (snapshot, cases) = full(store);
    assert!(queue.cases.is_empty(), "the queue holds the cases");
    let rows = queue.rows.as_ref().expect("a queue of rows");
    assert_eq!(rows.rows.len(), rows.windows.len());
    let ids: Vec<&str> = rows.rows.iter().map(CaseRow::id).collect();
    assert!(
        ids.windows(2).all(|p| p[0] < p[1]),
        "rows in id order: {ids:?}"
    );
    let mut expected: Vec<&str> = cases.keys().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "one row per case");
    let mut tiers = BTreeMap::new();
    for (row, window) in rows.rows.iter().zip(rows.windows.iter()) {
        let id = row.id();
        let case = &cases[id];
        let mut want = CaseRow::of(case).parts();
        let mut got = row.parts();
        assert!(
            row.may_have_sha(&case.content_sha256()),
            "{id}: digest prefix"
        );
        (want.sha256, got.sha256) = (String::new(), String::new());
        assert_eq!(got, want, "{id}: the row is made of its case");
        let status = snapshot.status(id);
        let tier = assess(case, &status, &snapshot.policy, now).tier;
        assert_eq!(window.tier, tier, "{id}: tier at {now} (status {status:?})");
        assert!(window.holds_at(now), "{id}: window {window:?} at {now}");
        tiers.insert(id.to_string(), tier);
    }
    tiers
}

fn clocks(rows: &BTreeMap<String, DbRow>) -> BTreeMap<String, i64> {
    rows.iter().map(|(id, r)| (id.clone(), r.clock)).collect()
}

// ---------------------------------------------------------------------------
// The store.

/// Guards: import writing one row per case and `queue_blocking` reading
/// them (rows, not cases, in id order), with each stored tier and window the
/// one `tier_window` gives (a wrong stored tier or a window not holding at
/// `now` fails here).
#[test]
fn imported_rows_are_one_per_case_in_id_order_with_assessed_tiers() {
    let dir = LibraryStore::new(&varied_cases(), "");
    let store = open(&dir);
    let stored = db_rows(&dir);
    assert_eq!(stored.len(), 60, "import wrote one row per case");
    let now = OffsetDateTime::now_utc();
    let queue = store.queue_blocking(now).expect("queue");
    let tiers = check_queue(&queue, &store, now);
    let kinds: BTreeSet<Tier> = tiers.values().copied().collect();
    assert_eq!(kinds.len(), 3, "varied cases: every tier ({tiers:?})");
    // The table says what the snapshot says.
    for (id, tier) in &tiers {
        assert_eq!(stored[id].tier, Some(tier_code(*tier)), "{id}: stored tier");
    }
    // A second call from the same instance gives the same shared rows.
    let again = store.queue_blocking(now).expect("queue again");
    let (a, b) = (queue.rows.unwrap(), again.rows.unwrap());
    assert!(std::sync::Arc::ptr_eq(&a.rows, &b.rows), "rows re-read");
}

/// Guards: a status whose version differs from the one a row was assessed
/// with is assessed again (the quarantine's end and observation period
/// narrow the window), and the new version is written back, so a third
/// instance re-assesses nothing.
#[test]
fn a_decision_by_another_instance_reassesses_that_row_once() {
    let dir = LibraryStore::new(&varied_cases(), "");
    let first = open(&dir);
    let now = OffsetDateTime::now_utc();
    check_queue(&first.queue_blocking(now).expect("queue"), &first, now);

    // Another process's view decides: a quarantine of a case whose window
    // under the pending status outlasts the quarantine.
    let other = open(&dir);
    let (snapshot, cases) = full(&other);
    let policy = &snapshot.policy;
    let hours = Duration::hours(i64::from(policy.quarantine_default_hours) + 1);
    let id = snapshot
        .cases
        .iter()
        .find(|c| {
            let pending = CaseStatus::default();
            let a = assess(c, &pending, policy, now);
            a.verdict(Action::Quarantine).is_some_and(|v| v.allowed)
                && tier_window(c, &pending, policy, now)
                    .due_at
                    .is_none_or(|d| d > now + hours)
        })
        .map(|c| c.id.clone())
        .expect("a case to quarantine");
    other
        .decide_blocking(decision(&id, Action::Quarantine, 0), reviewer("alice"))
        .expect("quarantine");
    let before = db_rows(&dir);
    assert_eq!(
        before[&id].version,
        Some(0),
        "decide leaves the row to readers"
    );

    let now = OffsetDateTime::now_utc();
    let queue = first.queue_blocking(now).expect("queue after the decision");
    check_queue(&queue, &first, now);
    let status = queue.status(&id);
    assert!(
        matches!(status.state, CaseState::Quarantined { .. }),
        "{status:?}"
    );
    assert_eq!(status.version, 1);
    let rows = queue.rows.as_ref().unwrap();
    let i = rows.find(&id).unwrap();
    let want = tier_window(&cases[&id], &status, policy, now);
    let pending = tier_window(&cases[&id], &CaseStatus::default(), policy, now);
    assert_ne!(
        rounded(&want),
        rounded(&pending),
        "the decision moves the window"
    );
    assert_eq!(
        rounded(&rows.windows[i]),
        rounded(&want),
        "{id}: window after the decision"
    );

    let after = db_rows(&dir);
    assert_eq!(after[&id].version, Some(1), "the new version is stored");
    assert!(after[&id].clock > before[&id].clock, "{id} written again");
    let (_, want_after, want_due) = rounded(&want);
    assert_eq!(
        (after[&id].valid_after, after[&id].due_at),
        (want_after, want_due)
    );
    for (other_id, row) in &before {
        if other_id != &id && row.holds_around(now, Duration::seconds(2)) {
            assert_eq!(after[other_id].clock, row.clock, "{other_id} written again");
        }
    }

    // A third instance reads the stored assessment: nothing written.
    let third = open(&dir);
    let again = third.queue_blocking(now).expect("a third instance's queue");
    let tiers = check_queue(&again, &third, now);
    let third_rows = again.rows.as_ref().unwrap();
    assert_eq!(
        rounded(&third_rows.windows[third_rows.find(&id).unwrap()]),
        rounded(&want)
    );
    let last = db_rows(&dir);
    assert_eq!(
        clocks(&last),
        clocks(&after),
        "the third instance re-assessed"
    );
    for (id, tier) in tiers {
        assert_eq!(last[&id].tier, Some(tier_code(tier)));
    }
}

/// Guards: a row whose window ended is assessed again at the later time
/// (and written back); one whose window still holds is not touched; an
/// instance holding rows in memory picks up what another wrote
/// (`changed_since`) without assessing again.
#[test]
fn time_passing_reassesses_exactly_the_rows_whose_window_ended() {
    let dir = LibraryStore::new(&varied_cases(), "");
    let first = open(&dir);
    let now = OffsetDateTime::now_utc();
    let before_tiers = check_queue(&first.queue_blocking(now).expect("queue"), &first, now);
    let before = db_rows(&dir);

    // Minutes and seconds off whole days: no bound of the rebased cases
    // lies within a second of it.
    let later = now + Duration::days(400) + Duration::minutes(7) + Duration::seconds(13);
    let second = open(&dir);
    let queue = second.queue_blocking(later).expect("queue 400 days later");
    let later_tiers = check_queue(&queue, &second, later);
    assert_ne!(before_tiers, later_tiers, "no tier moved in 400 days");

    let after = db_rows(&dir);
    let (mut rewritten, mut kept) = (0, 0);
    for (id, row) in &before {
        if row.holds_around(later, Duration::seconds(1)) {
            assert_eq!(after[id].clock, row.clock, "{id}: window held, yet written");
            kept += 1;
        } else {
            assert!(
                after[id].clock > row.clock,
                "{id}: window ended, not written"
            );
            assert!(
                after[id].holds_around(later, Duration::ZERO),
                "{id}: {:?}",
                after[id]
            );
            assert_eq!(after[id].tier, Some(tier_code(later_tiers[id])));
            rewritten += 1;
        }
    }
    assert!(
        rewritten > 0 && kept > 0,
        "rewritten {rewritten}, kept {kept}"
    );

    // The first instance holds the rows of `now` in memory: it reads what
    // the second wrote and assesses nothing itself.
    let from_first = first
        .queue_blocking(later)
        .expect("the first instance, later");
    assert_eq!(check_queue(&from_first, &first, later), later_tiers);
    assert_eq!(clocks(&db_rows(&dir)), clocks(&after), "assessed twice");
}

/// Guards: rows assessed under another policy (their stored digest prefix)
/// are assessed again under the policy in force.
#[test]
fn a_new_policy_reassesses_every_row_under_it() {
    let dir = LibraryStore::new(&varied_cases(), "");
    let store = open(&dir);
    let now = OffsetDateTime::now_utc();
    let old = check_queue(&store.queue_blocking(now).expect("queue"), &store, now);
    let old_policy = db_rows(&dir).values().next().unwrap().policy.clone();
    drop(store);

    dir.set_policy(
        "dependency_map_max_age_days = 400\nrollback_tested_max_age_days = 400\n\
         max_restore_minutes = 1000\nowner_verified_max_age_days = 400",
    );
    let store = open(&dir);
    assert_eq!(
        store
            .snapshot_blocking()
            .unwrap()
            .policy
            .dependency_map_max_age_days,
        400
    );
    let now = OffsetDateTime::now_utc();
    let new = check_queue(&store.queue_blocking(now).expect("queue"), &store, now);
    let moved: Vec<&String> = new.keys().filter(|id| old[*id] != new[*id]).collect();
    assert!(!moved.is_empty(), "the new thresholds moved no tier");
    let rows = db_rows(&dir);
    for (id, row) in &rows {
        assert_ne!(row.policy, old_policy, "{id} still under the old policy");
        assert_eq!(row.tier, Some(tier_code(new[id])), "{id}");
    }
}

/// Guards: a store without rows (the meta key `queue_rows_complete`
/// missing, as before schema version 2) is backfilled on the first
/// `queue_blocking`, decided cases with their status, to the same rows.
#[test]
fn rows_removed_are_backfilled_equal() {
    let dir = LibraryStore::new(&varied_cases(), "");
    let store = open(&dir);
    store
        .decide_blocking(decision("VAR-HIGH", Action::Escalate, 0), reviewer("alice"))
        .expect("escalate");
    let now = OffsetDateTime::now_utc();
    let queue = store.queue_blocking(now).expect("queue");
    check_queue(&queue, &store, now);
    let before = queue.rows.unwrap();
    let stored = db_rows(&dir);
    drop(store);

    // Everything but the write clock.
    let strip = |rows: &BTreeMap<String, DbRow>| -> BTreeMap<String, DbRow> {
        rows.iter()
            .map(|(id, r)| {
                (
                    id.clone(),
                    DbRow {
                        clock: 0,
                        ..r.clone()
                    },
                )
            })
            .collect()
    };
    for wipe in [
        "DELETE FROM queue_rows; DELETE FROM meta WHERE key = 'queue_rows_complete';",
        // As a database of schema version 1 is: no table at all.
        "DROP TABLE queue_rows; DELETE FROM meta WHERE key LIKE 'queue_rows%'; \
         ALTER TABLE cases DROP COLUMN base; UPDATE schema_version SET version = 1;",
    ] {
        db_exec(&dir, wipe);
        let store = open(&dir);
        let queue = store.queue_blocking(now).expect("queue after the wipe");
        check_queue(&queue, &store, now);
        let after = queue.rows.unwrap();
        assert_eq!(after.rows, before.rows, "{wipe}: rows");
        let windows = |w: &[TierWindow]| w.iter().map(rounded).collect::<Vec<_>>();
        assert_eq!(
            windows(&after.windows),
            windows(&before.windows),
            "{wipe}: windows"
        );
        assert_eq!(strip(&db_rows(&dir)), strip(&stored), "{wipe}: the table");
    }
}
