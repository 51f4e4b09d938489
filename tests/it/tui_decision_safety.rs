//! Issue 7 (decision safety) as the console sees it.
//!
//! State-level tests drive the `App` with keys and snapshots (no terminal,
//! fixed clock): separation of duties and the quarantine observation period
//! are refused before the editor opens, the dialog counts only visible
//! characters and applies the store's own bounds, a case rewritten under an
//! open dialog is flagged and the decision names the content it was made on,
//! and the views use the shared state filter.
//!
//! End-to-end tests run the real binary in a pseudo-terminal: a case file
//! rewritten on disk shows its new tier within 2 s with no keypress, the
//! console refuses `--policy` before it takes the terminal, and approving
//! one's own escalation is refused on screen with no editor.

use crate::common;
use crate::common_tui;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common_tui::{
    ESCALATED, NOW, QUARANTINED_EXPIRED, QUARANTINED_LIVE, cases, ch, ctrl, hours, key, records,
    reviewer, row_ids, select, selected_id, snapshot_with, statuses, tier_of, type_str,
    verify_report,
};
use nhi_triage::model::{
    Action, Case, CaseState, CaseStatus, DependencyNode, LastDecision, LastUsed, Level, StateFilter,
};
use nhi_triage::policy::{MAX_JUSTIFICATION_CHARS, Tier, assess, check_decision};
use nhi_triage::store::Snapshot;
use nhi_triage::tui::app::{App, Effect, Phase, View};
use nhi_triage::tui::theme::Theme;
use ratatui::crossterm::event::KeyCode;

use common::pty::{ALT_ENTER, Console, WAIT, pane_in};
use common::{CaseBuilder, TestStore, with_critical_partner};

/// A tier-low demo case (pending, nothing on record).
const LOW: &str = "CASE-0038";
/// A tier-high demo case (pending in the shared fixture).
const HIGH: &str = "CASE-0004";

// ===========================================================================
// State level: the App, no terminal.

/// The console at `NOW` on `snapshot`, deciding as `name`.
fn app_as(name: &str, snapshot: Snapshot) -> App {
    let records = records();
    let report = verify_report(&records);
    let mut app = App::new(
        snapshot,
        records,
        Theme::mono(),
        "local store /test".into(),
        reviewer(name),
        NOW,
    );
    app.on_verified(report);
    app
}

/// The fixture's statuses with `id`'s replaced.
fn statuses_with(id: &str, status: CaseStatus) -> std::collections::HashMap<String, CaseStatus> {
    let mut s = statuses();
    s.insert(id.to_string(), status);
    s
}

/// [`ESCALATED`] escalated by `alice` (instead of bob).
fn escalated_by_alice() -> Snapshot {
    let at = NOW - hours(20);
    let status = CaseStatus {
        state: CaseState::Escalated {
            to: "security-review".into(),
        },
        version: 1,
        escalated_by: Some("alice".into()),
        escalated_by_os: None,
        quarantined_at: None,
        quarantined_by: None,
        quarantined_by_os: None,
        used_during_quarantine: false,
        last_decision: Some(LastDecision {
            action: Action::Escalate,
            reviewer: "alice".into(),
            ts: at,
        }),
    };
    snapshot_with(Arc::new(cases()), statuses_with(ESCALATED, status))
}

/// [`HIGH`] quarantined by `alice`, `ago` before `NOW`, for 72 hours; its
/// identity last used long before the quarantine (no use seen during it).
fn high_quarantined_by_alice(ago: time::Duration) -> Snapshot {
    let start = NOW - ago;
    let mut cases = cases();
    let case = cases.iter_mut().find(|c| c.id == HIGH).expect("HIGH case");
    case.identity.last_used_at = LastUsed::At(NOW - time::Duration::days(40));
    let status = CaseStatus {
        state: CaseState::Quarantined {
            until: start + hours(72),
        },
        version: 1,
        escalated_by: None,
        escalated_by_os: None,
        quarantined_at: Some(start),
        quarantined_by: Some("alice".into()),
        quarantined_by_os: None,
        used_during_quarantine: false,
        last_decision: Some(LastDecision {
            action: Action::Quarantine,
            reviewer: "alice".into(),
            ts: start,
        }),
    };
    snapshot_with(Arc::new(cases), statuses_with(HIGH, status))
}

fn reasons(app: &App) -> String {
    app.refusal()
        .map(|r| r.reasons.join("\n"))
        .unwrap_or_default()
}

#[test]
fn leaving_ones_own_escalation_is_refused_at_the_key_before_any_typing() {
    for name in ["alice", "Alice"] {
        for (k, action) in [
            ('a', Action::Approve),
            ('c', Action::Close),
            ('i', Action::Quarantine),
        ] {
            let mut app = app_as(name, escalated_by_alice());
            app.on_key(ch('3'));
            assert_eq!(app.view(), View::Escalated);
            assert_eq!(selected_id(&app).as_deref(), Some(ESCALATED));

            let (changed, effects) = app.on_key(ch(k));
            assert!(changed, "{name} {action}: the refusal is drawn");
            assert!(effects.is_empty(), "{name} {action}: {effects:?}");
            assert!(
                app.dialog().is_none(),
                "{name} {action}: the editor opened on alice's own escalation"
            );
            let r = app
                .refusal()
                .unwrap_or_else(|| panic!("{name} {action}: no refusal shown"));
            assert_eq!((r.case_id.as_str(), r.action), (ESCALATED, action));
            let why = reasons(&app);
            assert!(
                why.contains("separation of duties"),
                "{name} {action}: {why}"
            );
            assert!(why.contains("alice"), "{name} {action}: {why}");
            // Typing now changes nothing: there is no editor to type into.
            type_str(&mut app, "x");
            assert!(app.dialog().is_none(), "{name} {action}");
        }
    }

    // Another reviewer may take each of those decisions: the dialog opens.
    for (k, action) in [
        ('a', Action::Approve),
        ('c', Action::Close),
        ('i', Action::Quarantine),
    ] {
        let mut app = app_as("bob", escalated_by_alice());
        app.on_key(ch('3'));
        app.on_key(ch(k));
        assert!(app.refusal().is_none(), "bob {action}: {}", reasons(&app));
        let d = app
            .dialog()
            .unwrap_or_else(|| panic!("bob {action}: no dialog"));
        assert_eq!((d.case_id.as_str(), d.action), (ESCALATED, action));
    }
}

/// The quarantined tier-high case, selected in the Quarantined view.
fn on_quarantined_high(name: &str, ago: time::Duration) -> App {
    let mut app = app_as(name, high_quarantined_by_alice(ago));
    assert_eq!(tier_of(&app, HIGH), Tier::High, "the case is tier high");
    app.on_key(ch('2'));
    assert_eq!(app.view(), View::Quarantined);
    select(&mut app, HIGH);
    app
}

#[test]
fn revoke_within_the_observation_period_is_refused_at_the_key() {
    let mut app = on_quarantined_high("bob", hours(1));
    let (changed, effects) = app.on_key(ch('r'));
    assert!(changed);
    assert!(effects.is_empty(), "{effects:?}");
    assert!(
        app.dialog().is_none(),
        "the editor opened for an early revoke"
    );
    let r = app.refusal().expect("the refusal, at once");
    assert_eq!((r.case_id.as_str(), r.action), (HIGH, Action::Revoke));
    let why = reasons(&app);
    assert!(why.contains("observed for 1h"), "{why}");
    assert!(why.contains("at least 24h"), "{why}");
    assert!(
        !why.contains("separation of duties"),
        "bob did not quarantine it: {why}"
    );
}

#[test]
fn revoke_by_the_quarantiner_within_the_observation_period_names_both_reasons() {
    let mut app = on_quarantined_high("alice", hours(1));
    let (changed, effects) = app.on_key(ch('r'));
    assert!(changed);
    assert!(effects.is_empty(), "{effects:?}");
    assert!(
        app.dialog().is_none(),
        "the editor opened for alice's revoke"
    );
    let why = reasons(&app);
    assert!(
        app.refusal().is_some(),
        "no refusal shown for alice's own early revoke"
    );
    assert!(
        why.contains("observed for 1h"),
        "the observation period is not named: {why}"
    );
    assert!(
        why.contains("separation of duties"),
        "separation of duties is not named: {why}"
    );
}

#[test]
fn revoke_by_the_quarantiner_after_the_observation_period_is_refused_at_the_key() {
    let mut app = on_quarantined_high("Alice", hours(30));
    app.on_key(ch('r'));
    assert!(
        app.dialog().is_none(),
        "the editor opened for alice's revoke"
    );
    let why = reasons(&app);
    assert!(why.contains("separation of duties"), "{why}");
    assert!(!why.contains("observed for"), "30h is enough: {why}");

    // Another reviewer, after the observation period: the dialog opens.
    let mut app = on_quarantined_high("bob", hours(30));
    app.on_key(ch('r'));
    assert!(app.refusal().is_none(), "{}", reasons(&app));
    assert_eq!(app.dialog().map(|d| d.action), Some(Action::Revoke));
}

/// The approve dialog on [`LOW`] as alice.
fn approve_dialog() -> App {
    let mut app = app_as("alice", snapshot_with(Arc::new(cases()), statuses()));
    select(&mut app, LOW);
    assert_eq!(tier_of(&app, LOW), Tier::Low);
    app.on_key(ch('a'));
    assert!(
        app.dialog().is_some(),
        "no approve dialog: {}",
        reasons(&app)
    );
    app
}

fn failed(app: &App) -> String {
    match app.dialog().map(|d| &d.phase) {
        Some(Phase::Failed(why)) => why.clone(),
        other => panic!("expected a refusal in the dialog, got {other:?}"),
    }
}

#[test]
fn invisible_characters_do_not_count_and_ctrl_s_names_the_visible_count() {
    let mut app = approve_dialog();
    for _ in 0..20 {
        app.on_key(ch('\u{200B}'));
    }
    let d = app.dialog().expect("dialog");
    assert_eq!(d.text().chars().count(), 20, "the characters went in");
    assert_eq!(d.chars(), 0, "zero-width spaces counted as visible");
    assert_eq!(d.count().visible, 0);
    assert_eq!(d.count().invisible, 20);

    let (_, effects) = app.on_key(ctrl('s'));
    assert!(effects.is_empty(), "sent: {effects:?}");
    let why = failed(&app);
    assert!(why.contains("at least 20 visible characters"), "{why}");
    assert!(why.contains("(got 0"), "the visible count: {why}");
    assert!(why.contains("20 invisible"), "what was not counted: {why}");
}

#[test]
fn an_over_long_justification_is_refused_by_the_stores_check() {
    let mut app = approve_dialog();
    let n = MAX_JUSTIFICATION_CHARS + 1;
    assert_eq!(n, 10_001);
    // 10,000 characters go in at once, like a paste (typing them one key at
    // a time takes seconds in a debug build); the last one is typed.
    let pasted = "x".repeat(n - 1);
    assert!(app.on_paste(&pasted), "pasted into the justification");
    app.on_key(ch('y'));
    let text = format!("{pasted}y");
    let d = app.dialog().expect("dialog");
    assert_eq!(d.text(), text, "everything typed went in");
    assert_eq!(d.count().total, n);

    let (_, effects) = app.on_key(ctrl('s'));
    assert!(
        effects.is_empty(),
        "a 10,001-character justification was sent"
    );
    let why = failed(&app);
    assert!(why.contains("10000"), "{why}");
    assert!(why.contains("10001"), "{why}");

    // Word for word what the store's check says about the same draft.
    let d = app.dialog().expect("dialog");
    let i = app.queue().find(LOW).expect("case");
    let case = app.queue().case(i).expect("case held");
    let status = app.queue().status(i).clone();
    let policy = app.queue().policy().clone();
    let a = assess(case, &status, &policy, NOW);
    let store = check_decision(
        case,
        &status,
        &a,
        &d.decision(),
        app.reviewer(),
        &policy,
        NOW,
    )
    .expect_err("the store refuses it too");
    assert_eq!(why, store.reasons.join("; "));

    // At the bound itself (10,000) it goes to the store.
    app.on_key(key(KeyCode::Backspace));
    assert_eq!(app.dialog().map(|d| d.count().total), Some(n - 1));
    let (_, effects) = app.on_key(ctrl('s'));
    match effects.as_slice() {
        [Effect::Decide(d)] => assert_eq!(d.justification, pasted),
        other => panic!("10,000 characters not sent: {other:?}"),
    }
}

/// `case` with a critical, external dependent that uses the identity.
fn with_critical_external_dependent(case: &mut Case) {
    let deps = case.dependencies.as_mut().expect("a dependency map");
    deps.nodes.push(DependencyNode {
        id: "partner:globex".into(),
        name: Some("Globex partner API".into()),
        kind: Some("partner".into()),
        criticality: Some(Level::Critical),
        external: Some(true),
        shared: Some(false),
        last_seen_at: Some(NOW - hours(2)),
        uses: vec![case.identity.id.clone()],
        source: None,
    });
}

#[test]
fn a_case_rewritten_under_the_dialog_is_flagged_and_the_decision_names_what_was_seen() {
    let mut app = approve_dialog();
    let old_sha = {
        let i = app.queue().find(LOW).expect("case");
        app.queue().case(i).expect("case held").content_sha256()
    };
    assert_eq!(
        app.dialog().map(|d| d.case_sha256().to_string()),
        Some(old_sha.clone())
    );
    type_str(
        &mut app,
        "unused 120 days; owner confirmed; rollback tested",
    );

    // The pipeline rewrites the case: a critical, external dependent.
    let mut now_cases = cases();
    let case = now_cases.iter_mut().find(|c| c.id == LOW).expect("LOW");
    with_critical_external_dependent(case);
    let new_sha = case.content_sha256();
    assert_ne!(new_sha, old_sha);
    let mut snapshot = snapshot_with(Arc::new(now_cases), statuses());
    snapshot.cases_generation = 1;
    assert!(app.on_snapshot(snapshot, vec![]), "the reload is drawn");
    assert_eq!(
        tier_of(&app, LOW),
        Tier::High,
        "the queue shows the new tier"
    );

    let d = app.dialog().expect("the dialog stays open");
    let warning = d
        .changed_underneath
        .as_deref()
        .expect("the change is flagged in the dialog");
    assert!(warning.contains(LOW), "{warning}");
    assert!(
        warning.contains("low → high"),
        "tier before → after: {warning}"
    );
    assert!(
        warning.contains("dependencies.nodes"),
        "the changed field: {warning}"
    );
    assert_eq!(
        d.text(),
        "unused 120 days; owner confirmed; rollback tested",
        "nothing typed is lost"
    );

    // What is sent names the content the reviewer saw, so the store can
    // refuse it as a conflict.
    let (_, effects) = app.on_key(ctrl('s'));
    let decision = match effects.as_slice() {
        [Effect::Decide(d)] => d,
        other => panic!("expected one Decide effect, got {other:?}"),
    };
    assert_eq!(decision.case_id, LOW);
    assert_eq!(decision.action, Action::Approve);
    assert_eq!(decision.expected_case_sha256.as_deref(), Some(&*old_sha));
}

#[test]
fn an_expired_quarantine_is_listed_in_pending_not_quarantined() {
    let mut app = app_as("alice", snapshot_with(Arc::new(cases()), statuses()));
    let i = app.queue().find(QUARANTINED_EXPIRED).expect("case");
    let status = app.queue().status(i).clone();
    assert!(matches!(status.state, CaseState::Quarantined { .. }));
    assert!(StateFilter::Pending.matches(&status, NOW));
    assert!(!StateFilter::Quarantined.matches(&status, NOW));

    assert!(row_ids(&app).contains(&QUARANTINED_EXPIRED.to_string()));
    app.on_key(ch('2'));
    let quarantined = row_ids(&app);
    assert!(
        !quarantined.contains(&QUARANTINED_EXPIRED.to_string()),
        "{quarantined:?}"
    );
    assert!(quarantined.contains(&QUARANTINED_LIVE.to_string()));
}

// ===========================================================================
// End to end: the real binary in a pseudo-terminal (tests/common/pty.rs).

/// Whether the Pending queue lists `id` with the tier marker `tier`.
fn queue_row_shows(cells: &[Vec<String>], id: &str, tier: &str) -> bool {
    pane_in(cells, " ▶ Pending ")
        .is_some_and(|rows| rows.iter().any(|l| l.contains(id) && l.contains(tier)))
}

const REWRITTEN: &str = "NHI-RW";

#[test]
fn pty_a_case_rewritten_on_disk_shows_its_new_tier_within_two_seconds() {
    let before = CaseBuilder::low(REWRITTEN).build();
    let store = TestStore::with_cases(std::slice::from_ref(&before));
    let c = Console::start(&store, 120, 40);
    c.wait_until_at(
        "the case listed as tier low",
        Instant::now() + WAIT,
        |_, cells| queue_row_shows(cells, REWRITTEN, "▽ low"),
    );

    // The pipeline adds a critical, external dependent (docs/format.md).
    let after = with_critical_partner(REWRITTEN);
    let written = Instant::now();
    store.write_cases("cases.jsonl", &[after]);
    let deadline = written + Duration::from_secs(2);
    let seen = c.wait_until_at(
        "the new tier within 2 s of the write, with no keypress",
        deadline,
        |_, cells| queue_row_shows(cells, REWRITTEN, "▲ HIGH"),
    );
    let took = seen.duration_since(written);
    eprintln!("time to new tier on screen: {} ms", took.as_millis());
    assert!(took <= Duration::from_secs(2), "{} ms", took.as_millis());
    // The CLI agrees about the case as it is on disk now.
    let show = store.run(&["show", REWRITTEN, "--json"]);
    assert_eq!(show.code, 0, "{show}");
    assert_eq!(show.json()["assessment"]["tier"], "high", "{show}");
}

/// A valid policy file next to the store (a copy of the store's own).
fn policy_copy(store: &TestStore) -> std::path::PathBuf {
    let path = store.sandbox.path().join("x.toml");
    std::fs::copy(store.dir.join("policy.toml"), &path).expect("copy policy.toml");
    // It is a valid policy: what-if review accepts it.
    let out = store.run(&["--policy", path.to_str().expect("utf-8"), "list"]);
    assert_eq!(out.code, 0, "the policy file is not valid: {out}");
    path
}

#[test]
fn pty_the_console_with_policy_is_refused_before_taking_the_terminal() {
    let store = TestStore::with_cases(&[CaseBuilder::low("NHI-LOW").build()]);
    let policy = policy_copy(&store);
    let policy = policy.to_str().expect("utf-8");

    // In a terminal: exit 2, the reason on screen, no alternate screen.
    let mut c = Console::open(
        &store,
        &["--reviewer", "alice", "--policy", policy],
        120,
        40,
    );
    let status = c.wait_exit();
    let raw = c.raw();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    assert_eq!(status.exit_code(), 2, "{shown}");
    assert!(shown.contains("--policy"), "{shown}");
    assert!(
        !raw.windows(ALT_ENTER.len()).any(|w| w == ALT_ENTER),
        "the console took the alternate screen first: {shown:?}"
    );

    // Without a terminal: the same refusal, not "needs a terminal".
    let out = store.run(&["--reviewer", "alice", "--policy", policy]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--policy"), "{out}");
    assert!(!out.stderr.contains("needs a terminal"), "{out}");
    assert!(
        !out.raw_stdout
            .windows(ALT_ENTER.len())
            .any(|w| w == ALT_ENTER),
        "{out}"
    );
}

const ESCALATED_CASE: &str = "NHI-ESC";

#[test]
fn pty_approving_ones_own_escalation_shows_the_refusal_and_no_editor() {
    let store = TestStore::with_cases(&[
        CaseBuilder::high(ESCALATED_CASE).build(),
        CaseBuilder::low("NHI-LOW").build(),
    ]);
    let out = store.decide("alice", ESCALATED_CASE, "escalate", &[]);
    assert_eq!(out.code, 0, "escalate: {out}");
    let records = store.evidence_records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["reviewer"]["name"], "alice");

    let mut c = Console::start(&store, 200, 50);
    c.wait_for("3 Escalated (1)", WAIT);
    c.send(b"3");
    c.wait_until_at(
        "the escalated case selected",
        Instant::now() + WAIT,
        |_, cells| {
            pane_in(cells, " Ownership ")
                .is_some_and(|l| l.first().is_some_and(|h| h.trim() == ESCALATED_CASE))
        },
    );
    c.send(b"a");
    c.wait_for("separation of duties", WAIT);
    let screen = c.screen_text();
    assert!(screen.contains("Approve refused"), "{screen}");
    assert!(!screen.contains("Justification"), "an editor: {screen}");
    assert!(!screen.contains("Why? (required)"), "an editor: {screen}");
    // Esc and Q apart: "Esc Q" in one read is Alt-Q.
    c.send(b"\x1b");
    c.wait_until_at("the refusal to close", Instant::now() + WAIT, |s, _| {
        !s.contains("Approve refused")
    });
    c.send(b"Q");
    assert!(c.wait_exit().success());
    assert_eq!(store.evidence_records().len(), 1);
}
