//! Stored bounds that do not read as a time: the row is due now, never
//! read as holding for ever with the tier stored beside it.

use std::collections::BTreeMap;

use nhi_triage::policy::Tier;
use time::{Duration, OffsetDateTime};

use super::{check_queue, db_exec, db_rows, open, tier_code, varied_cases};
use crate::common::library::LibraryStore;
use crate::common::on_postgres;

/// Guards: a stored bound that does not read as a time makes the row due
/// now, never unbounded: the stored (wrong) tier is not believed.
#[test]
fn a_row_with_unreadable_bounds_is_assessed_again() {
    let dir = LibraryStore::new(&varied_cases(), "");
    let store = open(&dir);
    let now = OffsetDateTime::now_utc();
    let tiers = check_queue(&store.queue_blocking(now).expect("queue"), &store, now);
    drop(store);
    // Three rows told a wrong tier that would hold for ever, but for a
    // bound no time can be.
    let wrong = |id: &str| {
        tier_code(if tiers[id] == Tier::Low {
            Tier::High
        } else {
            Tier::Low
        })
    };
    let cases = [
        (
            "VAR-HIGH",
            format!("valid_after = NULL, due_at = {}", i64::MAX),
        ),
        (
            "VAR-WINDOW",
            format!("valid_after = {}, due_at = NULL", i64::MIN),
        ),
        (
            "CASE-0001",
            format!("valid_after = {}, due_at = {}", i64::MIN, i64::MAX),
        ),
    ];
    check_tampered(
        &dir,
        &cases.map(|(id, set)| (id, format!("tier = {}, {set}", wrong(id)))),
        now,
        &tiers,
    );
    // A tier code that is no tier, with bounds that hold for ever.
    check_tampered(
        &dir,
        &[(
            "CASE-0002",
            "tier = 7, valid_after = NULL, due_at = NULL".into(),
        )],
        now,
        &tiers,
    );
}

/// Text where a bound should be (SQLite keeps what it is given in an
/// integer column): read as no bound at all, the row would hold for ever.
#[test]
fn a_row_with_text_for_a_bound_is_assessed_again() {
    if on_postgres() {
        return; // a BIGINT column refuses text
    }
    let dir = LibraryStore::new(&varied_cases(), "");
    let store = open(&dir);
    let now = OffsetDateTime::now_utc();
    let tiers = check_queue(&store.queue_blocking(now).expect("queue"), &store, now);
    drop(store);
    let wrong = |id: &str| {
        tier_code(if tiers[id] == Tier::Low {
            Tier::High
        } else {
            Tier::Low
        })
    };
    let sets = [
        (
            "VAR-HIGH",
            format!(
                "tier = {}, valid_after = NULL, due_at = 'garbage'",
                wrong("VAR-HIGH")
            ),
        ),
        (
            "CASE-0001",
            format!(
                "tier = {}, valid_after = 'garbage', due_at = NULL",
                wrong("CASE-0001")
            ),
        ),
    ];
    // One at a time: a failure names the bound.
    for set in sets {
        check_tampered(&dir, std::slice::from_ref(&set), now, &tiers);
    }
}

/// Applies each `(id, SET …)` to `queue_rows`, opens a fresh instance and
/// checks every tier against `assess` and that each tampered row was
/// written again with a sound window.
fn check_tampered(
    dir: &LibraryStore,
    sets: &[(&str, String)],
    now: OffsetDateTime,
    tiers: &BTreeMap<String, Tier>,
) {
    for (id, set) in sets {
        db_exec(
            dir,
            &format!("UPDATE queue_rows SET {set} WHERE id = '{id}'"),
        );
    }
    let before = db_rows(dir);
    let store = open(dir);
    let queue = store.queue_blocking(now).expect("queue after tampering");
    assert_eq!(&check_queue(&queue, &store, now), tiers, "{sets:?}");
    let after = db_rows(dir);
    for (id, _) in sets {
        assert!(
            after[*id].clock > before[*id].clock,
            "{id}: not assessed again"
        );
        assert_eq!(after[*id].tier, Some(tier_code(tiers[*id])), "{id}");
        assert!(
            after[*id].holds_around(now, Duration::ZERO),
            "{id}: {:?}",
            after[*id]
        );
    }
}
