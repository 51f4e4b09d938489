//! End-to-end tests of the full-screen console: the real binary in a real
//! pseudo-terminal, its output fed into a terminal emulator (`vt100`) and
//! kept as raw bytes, keys sent as a person would type them.
//!
//! Every wait has a deadline, so a hang fails instead of blocking CI, and the
//! child is always killed when a test ends (pass or panic). The harness is
//! tests/common/pty.rs.

use crate::common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::pty::{ALT_ENTER, ALT_LEAVE, CURSOR_SHOW, Console, REVIEWER, WAIT};
use common::{CaseBuilder, JUSTIFICATION, TestStore};

const HIGH: &str = "NHI-HIGH";
const MED: &str = "NHI-MED";
const LOW: &str = "NHI-LOW";

// ---------------------------------------------------------------------------
// Stores and small helpers.

/// A store with one high, one medium and one low case (the medium one
/// tagged "zebra", a word no other case has).
fn three_cases() -> TestStore {
    TestStore::with_cases(&[
        CaseBuilder::low(LOW).build(),
        CaseBuilder::high(HIGH).build(),
        CaseBuilder::medium(MED)
            .set("/tags", json!(["test", "zebra"]))
            .build(),
    ])
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

fn records_for(store: &TestStore, id: &str) -> Vec<Value> {
    store
        .evidence_records()
        .into_iter()
        .filter(|r| r["case_id"] == id)
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

// ---------------------------------------------------------------------------
// 1. Navigate, filter, open.

#[test]
fn navigate_filter_and_open_a_case() {
    let store = three_cases();
    let mut c = Console::start(&store, 120, 40);
    c.wait_for("1 Pending (3)", WAIT);

    // Highest tier first, each row with its tier.
    let screen = c.screen_text();
    let queue = c.pane(" ▶ Pending ").expect("queue pane");
    let rows: Vec<usize> = [(HIGH, "▲ HIGH"), (MED, "◇ med"), (LOW, "▽ low")]
        .iter()
        .map(|(id, tier)| {
            queue
                .iter()
                .position(|l| l.contains(id) && l.contains(tier))
                .unwrap_or_else(|| panic!("{id} ({tier}) not listed\n{screen}"))
        })
        .collect();
    assert!(
        rows[0] < rows[1] && rows[1] < rows[2],
        "queue not highest tier first: rows {rows:?}\n{screen}"
    );
    assert_eq!(c.pane_head(" Ownership "), HIGH, "{screen}");

    // j: the next case is selected and the detail panes follow it.
    c.send(b"j");
    c.wait_selected(MED);
    c.send(b"j");
    c.wait_selected(LOW);

    // /zebra: only the tagged case is left; the tab count says so.
    c.send(b"/");
    c.wait_for("/▏", WAIT);
    c.type_text("zebra");
    c.wait_for("1 Pending (1)", WAIT);
    c.wait_for("/zebra▏", WAIT);
    let screen = c.screen_text();
    let queue = c.pane(" ▶ Pending ").expect("queue pane").join("\n");
    assert!(queue.contains(MED), "{screen}");
    assert!(
        !queue.contains(HIGH) && !queue.contains(LOW),
        "filtered out cases still listed\n{screen}"
    );
    assert_eq!(c.pane_head(" Ownership "), MED);

    // Esc clears the filter.
    c.send(b"\x1b");
    c.wait_until("the filter to be cleared", WAIT, |s| {
        let tabs = s.lines().next().unwrap_or("");
        tabs.contains("1 Pending (3)") && !tabs.contains("zebra")
    });
    for id in [HIGH, MED, LOW] {
        assert!(c.screen_text().contains(id));
    }

    // Enter focuses the detail panes (Readiness by default).
    assert!(c.screen_text().contains("▶ Pending"));
    c.send(b"\r");
    c.wait_for("▶ Readiness", WAIT);
    let screen = c.screen_text();
    assert!(
        !screen.contains("▶ Pending"),
        "queue still focused\n{screen}"
    );
    // Esc hands focus back to the queue.
    c.send(b"\x1b");
    c.wait_for("▶ Pending", WAIT);

    c.send(b"Q");
    assert!(c.wait_exit().success());
}

// ---------------------------------------------------------------------------
// 2. Approve a low-tier case.

#[test]
fn approve_a_low_tier_case_records_evidence() {
    let store = three_cases();
    let mut c = Console::start(&store, 120, 40);
    c.send(b"G");
    c.wait_selected(LOW);
    c.send(b"a");
    c.wait_for(&format!("Approve {LOW}"), WAIT);
    c.wait_for("(too short)", WAIT);
    // Too short: Ctrl-S says why and writes nothing.
    c.type_text("too short");
    // Only visible characters count: the space does not.
    c.wait_for("8/20 characters", WAIT);
    c.send(b"\x13");
    c.wait_for("needs at least 20 visible characters (got 8)", WAIT);
    assert!(store.evidence_bytes().is_empty());
    // Clear it (Ctrl-U may not be bound in the editor: backspace each char).
    c.send(&[0x7f; 9]);
    c.wait_for("0/20 characters", WAIT);
    c.type_text(JUSTIFICATION);
    c.wait_for("characters ✔", WAIT);
    c.send(b"\x13");
    c.wait_for("recorded #1", WAIT);
    let screen = c.screen_text();
    assert!(
        screen.contains(&format!("recorded #1: approve {LOW}")),
        "{screen}"
    );
    assert!(
        !screen.contains(&format!("Approve {LOW}")),
        "dialog still open"
    );
    c.wait_for("2 Quarantined (0)", WAIT);
    c.wait_for("4 Decided (1)", WAIT);
    c.wait_for("evidence ✓ 1 record ", WAIT);

    let records = store.evidence_records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["case_id"], LOW);
    assert_eq!(records[0]["action"], "approve");
    assert_eq!(records[0]["reviewer"]["name"], REVIEWER);
    assert_eq!(records[0]["justification"], JUSTIFICATION);
    let verify = store.run(&["evidence", "verify"]);
    assert_eq!(verify.code, 0, "{verify}");

    c.send(b"Q");
    assert!(c.wait_exit().success());
}

// ---------------------------------------------------------------------------
// 3. Approving a high-tier case is refused, and nothing is written.

#[test]
fn approving_a_high_tier_case_is_refused_and_writes_nothing() {
    let store = three_cases();
    let before = store.evidence_bytes();
    let existed = store.evidence_path().exists();
    let mut c = Console::start(&store, 120, 40);
    assert_eq!(c.pane_head(" Ownership "), HIGH);
    c.send(b"a");
    c.wait_for("Approve refused", WAIT);
    c.wait_for("tier is high", WAIT);
    let screen = c.screen_text();
    assert!(
        screen.contains(&format!(
            "approve is refused for {HIGH}: nothing was recorded"
        )),
        "{screen}"
    );
    assert!(screen.contains("approve needs tier low"), "{screen}");
    // The alternatives are offered.
    assert!(screen.contains("Instead:"), "{screen}");

    c.send(b"\x1b");
    c.wait_gone("Approve refused", WAIT);
    assert_eq!(store.evidence_path().exists(), existed);
    assert_eq!(store.evidence_bytes(), before, "evidence changed");
    c.send(b"Q");
    assert!(c.wait_exit().success());
    assert_eq!(store.evidence_bytes(), before, "evidence changed");
}

// ---------------------------------------------------------------------------
// 4. Quarantine, then the Quarantined view with time left.

#[test]
fn quarantine_shows_the_case_with_time_left() {
    let store = three_cases();
    let mut c = Console::start(&store, 120, 40);
    c.send(b"j");
    c.wait_selected(MED);
    c.send(b"i");
    c.wait_for(&format!("Quarantine {MED}"), WAIT);
    c.wait_for("Hours [72]", WAIT);
    c.type_text(JUSTIFICATION);
    c.wait_for("characters ✔", WAIT);
    c.send(b"\x13");
    c.wait_for("recorded #1: quarantine", WAIT);
    c.wait_for("2 Quarantined (1)", WAIT);

    c.send(b"2");
    c.wait_for("▶ Quarantined", WAIT);
    let screen = c.screen_text();
    let queue = c.pane(" ▶ Quarantined ").expect("quarantined pane");
    let row = queue
        .iter()
        .find(|l| l.contains(MED))
        .unwrap_or_else(|| panic!("{MED} not in the Quarantined view\n{screen}"));
    // 72 hours minus the seconds this test took: "quar 2d 23h".
    assert!(
        row.contains("quar 2d 23h"),
        "no time left in {row:?}\n{screen}"
    );
    assert!(!queue.iter().any(|l| l.contains(HIGH) || l.contains(LOW)));

    let records = records_for(&store, MED);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["action"], "quarantine");

    c.send(b"Q");
    assert!(c.wait_exit().success());
}

// ---------------------------------------------------------------------------
// 5. Another process decides: the console shows it without a key.

#[test]
fn another_reviewers_decision_appears_without_a_key() {
    let store = three_cases();
    let c = Console::start(&store, 120, 40);
    c.wait_for("3 Escalated (0)", WAIT);
    c.wait_quiet(Duration::from_millis(100));

    let t0 = Instant::now();
    let out = store.decide("bob", HIGH, "escalate", &["--expected-version", "0"]);
    let t1 = Instant::now();
    assert_eq!(out.code, 0, "{out}");
    let seen = c.wait_for(&format!("bob escalate {HIGH}"), WAIT);
    let count_seen = c.wait_for("3 Escalated (1)", WAIT);
    let latency = seen.saturating_duration_since(t1);
    eprintln!(
        "live update: shown {} after the decide process exited ({} after it started; decide took {})",
        ms(latency),
        ms(seen - t0),
        ms(t1 - t0)
    );
    assert!(
        latency < Duration::from_secs(2),
        "live update took {latency:?}"
    );
    assert!(count_seen.saturating_duration_since(t1) < Duration::from_secs(2));
    assert!(c.screen_text().contains("1 Pending (2)"));
    c.wait_for("evidence ✓ 1 record ", WAIT);
}

// ---------------------------------------------------------------------------
// 6. A dialog open on a case another process decides warns by itself.

#[test]
fn a_dialog_warns_when_its_case_changes_underneath() {
    let store = three_cases();
    let mut c = Console::start(&store, 120, 40);
    c.send(b"j");
    c.wait_selected(MED);
    c.send(b"i");
    c.wait_for(&format!("Quarantine {MED}"), WAIT);
    c.type_text(JUSTIFICATION);
    c.wait_for("characters ✔", WAIT);
    c.wait_quiet(Duration::from_millis(100));

    let out = store.decide("bob", MED, "escalate", &["--expected-version", "0"]);
    assert_eq!(out.code, 0, "{out}");
    let t1 = Instant::now();
    let seen = c.wait_for("changed while this dialog was open", WAIT);
    eprintln!(
        "dialog warning shown {} after the other decision",
        ms(seen - t1)
    );
    let screen = c.screen_text();
    assert!(
        screen.contains(&format!("Quarantine {MED}")),
        "dialog closed\n{screen}"
    );
    assert!(screen.contains("bob recorded escalate"), "{screen}");

    // Confirming anyway is refused; only bob's record exists.
    c.send(b"\x13");
    c.wait_for("✗ conflict", WAIT);
    let records = store.evidence_records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["reviewer"]["name"], "bob");
    // The conflict kept the text: Esc asks before throwing it away.
    c.send(b"\x1b");
    c.wait_for("Throw away the justification", WAIT);
    c.send(b"y");
    c.wait_for("cancelled: justification discarded, nothing recorded", WAIT);
    c.send(b"Q");
    assert!(c.wait_exit().success());
}

// ---------------------------------------------------------------------------
// 7. Every way out gives the terminal back.

fn assert_restored(c: &Console, how: &str) {
    let raw = c.raw();
    let enter = find_last(&raw, ALT_ENTER).unwrap_or_else(|| panic!("{how}: never entered"));
    let after = &raw[enter..];
    assert!(
        find_last(after, ALT_LEAVE).is_some(),
        "{how}: no alternate-screen exit after the last enter"
    );
    assert!(
        find_last(after, CURSOR_SHOW).is_some(),
        "{how}: no cursor show after the last enter"
    );
    // Nothing but cursor-shows after leaving the alternate screen (the
    // terminal library shows the cursor again when it is dropped).
    let leave = enter + find_last(after, ALT_LEAVE).unwrap();
    let mut rest = &raw[leave + ALT_LEAVE.len()..];
    let mut shows = 0;
    while let Some(r) = rest.strip_prefix(CURSOR_SHOW) {
        rest = r;
        shows += 1;
    }
    assert!(
        shows >= 1 && rest.is_empty(),
        "{how}: output does not end with leave-alternate-screen + show-cursor: {:?}",
        String::from_utf8_lossy(&raw[raw.len().saturating_sub(40)..])
    );
    let (alternate, hidden) = c.with_screen(|s| (s.alternate_screen(), s.hide_cursor()));
    assert!(!alternate, "{how}: still on the alternate screen");
    assert!(!hidden, "{how}: cursor still hidden");
    match c.termios_cooked() {
        Some(cooked) => assert!(cooked, "{how}: the terminal is still in raw mode"),
        None => eprintln!("{how}: stty cannot read the pty; raw-mode check skipped"),
    }
}

#[test]
fn quit_keys_and_sigterm_restore_the_terminal() {
    let store = three_cases();
    for (how, key) in [
        ("Q", Some(&b"Q"[..])),
        ("Ctrl-C", Some(&b"\x03"[..])),
        ("SIGTERM", None),
    ] {
        let mut c = Console::start(&store, 120, 40);
        if let Some(cooked) = c.termios_cooked() {
            assert!(!cooked, "{how}: the console is not in raw mode");
        }
        match key {
            Some(k) => c.send(k),
            None => {
                let status = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(c.pid().to_string())
                    .status()
                    .expect("run kill");
                assert!(status.success());
            }
        }
        let status = c.wait_exit();
        // A signal ends the console with the shell's status for it
        // (128 + 15); the keys end it normally.
        let expected = if key.is_some() { 0 } else { 143 };
        assert_eq!(
            status.exit_code(),
            expected,
            "{how}: exit {status:?}\n{}",
            c.screen_text()
        );
        assert_restored(&c, how);
    }
}

// ---------------------------------------------------------------------------
// 8. Escape sequences in a case's data are shown, never sent.

#[test]
fn escape_sequences_in_names_are_shown_not_sent() {
    let evil = "evil\x1b[2J\x1b]52;c;SGVsbG8=\x07\x07";
    let shown = r"evil\x1b[2J\x1b]52;c;SGVsbG8=\x07\x07";
    let store = TestStore::with_cases(&[
        CaseBuilder::high(HIGH).build(),
        CaseBuilder::medium(MED)
            .set("/identity/name", json!(evil))
            .build(),
        CaseBuilder::low(LOW).build(),
    ]);
    let mut c = Console::start(&store, 120, 40);
    c.wait_for("1 Pending (3)", WAIT);
    // The queue cuts the name to its column (with `…`); the escape is
    // shown as text either way.
    c.wait_for(r"evil\x1b[2", WAIT);
    // The row is drawn and the others are still listed after it.
    let screen = c.screen_text();
    let queue = c.pane(" ▶ Pending ").expect("queue").join("\n");
    for id in [HIGH, MED, LOW] {
        assert!(queue.contains(id), "{id} missing\n{screen}");
    }
    // The escalate dialog shows the whole name as text.
    c.send(b"j");
    c.wait_selected(MED);
    c.send(b"e");
    c.wait_for(&format!("Escalate {MED}"), WAIT);
    c.wait_for(&format!("identity  {shown}"), WAIT);
    c.send(b"\x1b");
    c.wait_for("cancelled: nothing recorded", WAIT);
    let screen = c.screen_text();
    for id in [HIGH, MED, LOW] {
        assert!(screen.contains(id), "{id} missing\n{screen}");
    }
    c.send(b"Q");
    assert!(c.wait_exit().success());

    let raw = c.raw();
    assert!(!raw.contains(&0x07), "a BEL byte reached the terminal");
    assert_eq!(count(&raw, b"\x1b]52"), 0, "OSC 52 reached the terminal");
    assert_eq!(
        count(&raw, b"\x1b]"),
        0,
        "an OSC sequence reached the terminal"
    );
    // The console never clears the screen this way (no resize happened).
    assert_eq!(count(&raw, b"\x1b[2J"), 0, "ESC [2J reached the terminal");
    // The literal text did go out.
    assert!(count(&raw, br"\x1b[2J") > 0);
}

// ---------------------------------------------------------------------------
// 9. Resizing.

#[test]
fn resizing_below_the_minimum_and_back() {
    let store = three_cases();
    let mut c = Console::start(&store, 120, 40);
    c.wait_for("1 Pending (3)", WAIT);
    assert!(
        c.pane(" Ownership ").is_some(),
        "wide layout: panes side by side"
    );

    c.resize(70, 20);
    c.wait_for("terminal too small", WAIT);
    c.wait_for("70x20 — needs at least 80x24", WAIT);
    c.wait_gone("1 Pending (3)", WAIT);

    c.resize(100, 30);
    c.wait_for("1 Pend (3)", WAIT); // narrow: short tab labels
    c.wait_for("(Tab switches)", WAIT);
    let screen = c.screen_text();
    assert!(!screen.contains("terminal too small"), "{screen}");
    let tabs = screen
        .lines()
        .find(|l| l.contains("(Tab switches)"))
        .expect("pane tabs");
    for label in ["Ownership", "Dependencies", "Readiness"] {
        assert!(
            tabs.contains(label),
            "{label} missing from {tabs:?}\n{screen}"
        );
    }
    for id in [HIGH, MED, LOW] {
        assert!(screen.contains(id), "{id} missing after resize\n{screen}");
    }
    // Tab switches the detail pane in the narrow layout.
    c.send(b"\t");
    c.wait_for("▶ Ownership", WAIT);
    c.send(b"Q");
    assert!(c.wait_exit().success());
}

// ---------------------------------------------------------------------------
// 10. Idle means silent.

#[test]
fn idle_and_no_op_keys_write_nothing() {
    let store = three_cases();
    let mut c = Console::start(&store, 120, 40);
    c.wait_for("1 Pending (3)", WAIT);
    c.wait_for("2 Quarantined (0)", WAIT);
    c.wait_quiet(Duration::from_millis(300));

    let mark = c.mark();
    std::thread::sleep(Duration::from_secs(2));
    let idle = c.bytes_since(mark);
    eprintln!("idle 2 s: {} bytes", idle.len());
    assert!(
        idle.is_empty(),
        "idle console wrote {} bytes: {:?}",
        idle.len(),
        String::from_utf8_lossy(&idle)
    );

    // Keys that change nothing: up at the top, top at the top, the view
    // already shown.
    for key in [&b"k"[..], b"g", b"1"] {
        let mark = c.mark();
        c.send(key);
        std::thread::sleep(Duration::from_millis(300));
        let written = c.bytes_since(mark);
        eprintln!(
            "no-op key {:?}: {} bytes in 300 ms",
            String::from_utf8_lossy(key),
            written.len()
        );
        assert!(
            written.is_empty(),
            "{:?} wrote {} bytes: {:?}",
            String::from_utf8_lossy(key),
            written.len(),
            String::from_utf8_lossy(&written)
        );
    }
    // A key that does change something is drawn (the harness sees output).
    let mark = c.mark();
    c.send(b"j");
    let deadline = Instant::now() + WAIT;
    while c.bytes_since(mark).is_empty() {
        assert!(Instant::now() < deadline, "j drew nothing");
        std::thread::sleep(Duration::from_millis(5));
    }
    c.wait_quiet(Duration::from_millis(100));
    eprintln!("j (a real move): {} bytes", c.bytes_since(mark).len());
    c.send(b"Q");
    assert!(c.wait_exit().success());
}
