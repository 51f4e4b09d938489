//! The real binary in a pseudo-terminal at 80x24 and 200x50 (issue 8,
//! items 2 and 3): messages and the command line are readable whatever the
//! store path, the Evidence record scrolls to the hashes, `q` quits and `i`
//! quarantines, and a typed justification survives Esc until confirmed.

use crate::common;

use common::pty::{ALT_LEAVE, Console, WAIT};
use common::{CaseBuilder, JUSTIFICATION, Sandbox, TestStore, run};

const LOW: &str = "NHI-LOW";
const MED: &str = "NHI-MED";

/// A store at a path far longer than 80 columns.
fn deep_store() -> TestStore {
    let sandbox = Sandbox::new();
    let dir = sandbox
        .path()
        .join("srv")
        .join("security-operations-shared-queues")
        .join("non-human-identities-triage-production")
        .join("store");
    let out = run(sandbox.cmd().arg("init").arg(&dir));
    assert_eq!(out.code, 0, "init: {out}");
    let store = TestStore {
        sandbox,
        dir,
        database: None,
    };
    store.write_cases(
        "cases.jsonl",
        &[
            CaseBuilder::low(LOW).build(),
            CaseBuilder::medium(MED).build(),
        ],
    );
    store
}

/// Filters the queue down to `id` (so it is the selected row).
fn pick(c: &mut Console, id: &str, cols: u16) {
    c.send(format!("/{id}\r").as_bytes());
    if cols >= 120 {
        c.wait_selected(id);
    } else {
        // Tabbed below 120 columns: the queue shows only `id`.
        c.wait_for("Pend (1)  2", WAIT);
        c.settle();
    }
}

fn bottom_row(c: &Console) -> String {
    c.screen_text()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn approve_low_and_read_the_evidence(cols: u16, rows: u16) {
    let store = deep_store();
    let mut c = Console::start(&store, cols, rows);
    pick(&mut c, LOW, cols);
    c.send(b"a");
    c.wait_for(&format!("Approve {LOW}"), WAIT);
    c.type_text(JUSTIFICATION);
    c.wait_for("characters ✔", WAIT);
    c.send(b"\x13");
    c.wait_for("recorded #1", WAIT);
    let status = bottom_row(&c);
    assert!(
        status.contains(&format!("recorded #1: approve {LOW}")),
        "{cols}x{rows}: the message is readable on the status line: {status:?}"
    );

    // A command line being typed is visible too.
    c.send(b":view evid");
    c.wait_for(":view evid", WAIT);
    assert!(
        bottom_row(&c).contains(":view evid"),
        "{:?}",
        bottom_row(&c)
    );
    c.send(b"ence\r");
    c.wait_for("Record", WAIT);

    // The record scrolls down to its hashes and the justification.
    c.send(b"\t");
    c.send(b"G");
    c.wait_for("prev_hash", WAIT);
    c.wait_for(&JUSTIFICATION[..30], WAIT);

    c.send(b"q");
    let status = c.wait_exit_within(WAIT);
    assert!(status.success(), "q quits: {status:?}");
    assert!(c.raw().windows(ALT_LEAVE.len()).any(|w| w == ALT_LEAVE));
}

#[test]
fn at_80x24_messages_commands_and_the_record_are_readable() {
    approve_low_and_read_the_evidence(80, 24);
}

#[test]
fn at_200x50_messages_commands_and_the_record_are_readable() {
    approve_low_and_read_the_evidence(200, 50);
}

#[test]
fn i_quarantines_and_esc_keeps_a_typed_justification_until_confirmed() {
    let store = deep_store();
    let mut c = Console::start(&store, 80, 24);
    pick(&mut c, MED, 80);
    c.send(b"i");
    c.wait_for(&format!("Quarantine {MED}"), WAIT);
    c.type_text("owner asked us to contain it");
    c.send(b"\x1b");
    c.wait_for("Throw away the justification", WAIT);
    c.send(b"n");
    c.wait_gone("Throw away the justification", WAIT);
    assert!(c.screen_text().contains("owner asked us to contain it"));
    // q in the dialog is text, not quit.
    c.send(b" quickly");
    c.wait_for("contain it quickly", WAIT);
    c.send(b"\x1b");
    c.wait_for("Throw away the justification", WAIT);
    c.send(b"y");
    c.wait_for("justification discarded", WAIT);
    assert!(store.evidence_bytes().is_empty(), "nothing was recorded");
    c.send(b"q");
    assert!(c.wait_exit_within(WAIT).success());
}
