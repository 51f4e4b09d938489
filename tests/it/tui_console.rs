//! Issue 8 in the console's state and frames: `q` quits and `i`
//! quarantines, a typed justification is never lost without asking, every
//! pane (and the help) scrolls to its end and no further, the Evidence
//! record scrolls at 80x24, the key line shows only keys that work here,
//! messages win over the status line, a resize keeps the selection visible,
//! and a huge field is cut, not wrapped whole.

use std::sync::Arc;

use crate::common_tui::{self, *};
use nhi_triage::model::{Action, CaseState};
use nhi_triage::store::{OutboxSummary, QueuedEntry};
use nhi_triage::tui::app::{App, AppEvent, Discard, Effect, Mode, Pane, Phase, View};
use nhi_triage::tui::theme::Theme;
use ratatui::crossterm::event::KeyCode;

/// Draws one frame at `w`x`h` and hands the app what it measured, as the
/// runtime does; returns the screen's text, one string per row.
fn frame(app: &mut App, w: u16, h: u16) -> Vec<String> {
    let backend = draw_frame(app, w, h);
    (0..h).map(|y| row_text(backend.buffer(), y)).collect()
}

/// Draws until the app stops changing (a frame may clamp a scroll).
fn settle(app: &mut App, w: u16, h: u16) -> Vec<String> {
    let mut screen = frame(app, w, h);
    for _ in 0..3 {
        screen = frame(app, w, h);
    }
    screen
}

fn keys(app: &mut App, s: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in s.chars() {
        effects.extend(app.update(AppEvent::Key(ch(c))).effects);
    }
    effects
}

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(AppEvent::Key(key(code))).effects
}

fn status(screen: &[String]) -> &str {
    screen.last().map(String::as_str).unwrap_or("")
}

fn hint_line(screen: &[String]) -> &str {
    &screen[screen.len() - 2]
}

fn discard(app: &App) -> Option<Discard> {
    app.dialog().and_then(|d| d.discard)
}

// ----- 3. conventions ------------------------------------------------------

#[test]
fn q_quits_and_i_quarantines() {
    let mut app = common_tui::app();
    select(&mut app, "CASE-0010");
    assert!(keys(&mut app, "i").is_empty());
    assert_eq!(app.dialog().map(|d| d.action), Some(Action::Quarantine));
    // Inside the dialog, q is text.
    keys(&mut app, "q");
    assert!(!app.quitting());
    assert_eq!(app.dialog().map(|d| d.text()), Some("q".into()));

    let mut app = common_tui::app();
    assert_eq!(keys(&mut app, "q"), vec![Effect::Quit]);
    assert!(app.quitting());
    let mut app = common_tui::app();
    assert_eq!(keys(&mut app, "Q"), vec![Effect::Quit]);
}

#[test]
fn esc_with_a_typed_justification_asks_before_throwing_it_away() {
    let mut app = common_tui::app();
    select(&mut app, "CASE-0010");
    keys(&mut app, "i");
    type_str(&mut app, "owner asked us to contain it");
    press(&mut app, KeyCode::Esc);
    assert_eq!(discard(&app), Some(Discard::Cancel), "Esc asks first");
    let screen = frame(&mut app, 80, 24);
    assert!(
        screen
            .iter()
            .any(|r| r.contains("Throw away the justification")),
        "{screen:#?}"
    );
    // Anything but y keeps the text.
    keys(&mut app, "n");
    assert_eq!(discard(&app), None);
    assert_eq!(
        app.dialog().map(|d| d.text()),
        Some("owner asked us to contain it".into())
    );
    // Esc then y throws it away.
    press(&mut app, KeyCode::Esc);
    keys(&mut app, "y");
    assert!(app.dialog().is_none());
    assert!(matches!(app.mode(), Mode::Normal));
    assert!(!app.quitting());
}

#[test]
fn an_empty_dialog_closes_on_esc_at_once() {
    let mut app = common_tui::app();
    select(&mut app, "CASE-0010");
    keys(&mut app, "i");
    press(&mut app, KeyCode::Esc);
    assert!(app.dialog().is_none());
}

#[test]
fn ctrl_c_with_a_typed_justification_asks_then_quits_on_y() {
    let mut app = common_tui::app();
    select(&mut app, "CASE-0010");
    keys(&mut app, "i");
    type_str(&mut app, "containing while payments check");
    let effects = app.update(AppEvent::Key(ctrl('c'))).effects;
    assert!(effects.is_empty(), "asks, does not quit: {effects:?}");
    assert_eq!(discard(&app), Some(Discard::Quit));
    press(&mut app, KeyCode::Esc);
    assert_eq!(discard(&app), None, "Esc answers no");
    assert!(app.dialog().is_some_and(|d| !d.text().is_empty()));
    app.update(AppEvent::Key(ctrl('c')));
    assert_eq!(keys(&mut app, "y"), vec![Effect::Quit]);
    assert!(app.quitting());
}

#[test]
fn a_conflict_keeps_the_dialog_and_its_text() {
    let mut app = common_tui::app();
    select(&mut app, "CASE-0010");
    keys(&mut app, "i");
    type_str(&mut app, "owner asked us to contain it first");
    let effects = app.update(AppEvent::Key(ctrl('s'))).effects;
    assert!(
        matches!(effects.as_slice(), [Effect::Decide(_)]),
        "{effects:?}"
    );
    app.update(AppEvent::Decided(Err(
        "conflict: CASE-0010 changed (version 3, you saw 2)".into(),
    )));
    let d = app.dialog().expect("the dialog stays open");
    assert!(matches!(d.phase, Phase::Failed(_)));
    assert_eq!(d.text(), "owner asked us to contain it first");
}

// ----- 2. 80x24 first-class -------------------------------------------------

#[test]
fn messages_and_the_command_line_win_over_a_long_store_path_at_80() {
    let long = format!(
        "local store /{}/nhi-triage/store",
        "very-long-directory".repeat(6)
    );
    let mut app = app_labelled(Theme::mono(), &long);
    let screen = frame(&mut app, 80, 24);
    let line = status(&screen);
    assert!(line.contains("…"), "the path is shortened: {line:?}");
    assert!(line.contains("nhi-triage/store"), "from the left: {line:?}");

    let mut r = common_tui::record(
        42,
        NOW,
        "CASE-0010",
        "alice",
        Action::Quarantine,
        2,
        CaseState::Pending,
        CaseState::Quarantined { until: LIVE_UNTIL },
        "owner asked us to contain it first",
    );
    r.seq = 42;
    app.update(AppEvent::Decided(Ok(Box::new(r))));
    let screen = frame(&mut app, 80, 24);
    assert!(
        status(&screen).contains("recorded #42: quarantine CASE-0010"),
        "{:?}",
        status(&screen)
    );

    keys(&mut app, ":");
    keys(&mut app, "view quarantined");
    let screen = frame(&mut app, 80, 24);
    assert!(
        status(&screen).contains(":view quarantined"),
        "{:?}",
        status(&screen)
    );

    press(&mut app, KeyCode::Enter);
    keys(&mut app, ":");
    keys(&mut app, "nonsense");
    press(&mut app, KeyCode::Enter);
    let screen = frame(&mut app, 80, 24);
    assert!(
        status(&screen).contains("unknown command :nonsense"),
        "{:?}",
        status(&screen)
    );
}

#[test]
fn the_key_line_offers_what_works_here_and_fits_80() {
    let mut app = common_tui::app();
    let screen = frame(&mut app, 80, 24);
    let pending = hint_line(&screen).to_string();
    assert!(pending.contains("i quarantine"), "{pending:?}");
    assert!(pending.trim_end().ends_with("? help"), "{pending:?}");

    keys(&mut app, "2");
    select(&mut app, QUARANTINED_LIVE);
    let screen = frame(&mut app, 80, 24);
    let quarantined = hint_line(&screen);
    assert!(quarantined.contains("r revoke"), "{quarantined:?}");
    assert!(quarantined.contains("u restore"), "{quarantined:?}");
    assert!(!quarantined.contains("a approve"), "{quarantined:?}");

    keys(&mut app, "4");
    let screen = frame(&mut app, 80, 24);
    let decided = hint_line(&screen);
    assert!(!decided.contains("approve"), "{decided:?}");
    assert!(!decided.contains("quarantine"), "{decided:?}");

    keys(&mut app, "5");
    let screen = frame(&mut app, 80, 24);
    let evidence = hint_line(&screen);
    assert!(!evidence.contains("approve"), "{evidence:?}");
    assert!(evidence.trim_end().ends_with("? help"), "{evidence:?}");
}

#[test]
fn g_in_ownership_scrolls_to_the_end_and_no_further() {
    let mut app = common_tui::app();
    select(&mut app, "CASE-0010");
    press(&mut app, KeyCode::Tab); // Ownership
    assert_eq!(app.focus(), Pane::Ownership);
    frame(&mut app, 80, 24);
    keys(&mut app, "G");
    let screen = settle(&mut app, 80, 24);
    let end = app.detail_scroll();
    assert!(end > 0, "the ownership pane is longer than 80x24 shows");
    // One more line down changes nothing: the end is the end.
    keys(&mut app, "j");
    assert_eq!(app.detail_scroll(), end);
    // And k moves up at once (no hidden scroll past the end).
    keys(&mut app, "k");
    assert_eq!(app.detail_scroll(), end - 1);
    assert!(!screen.is_empty());
}

#[test]
fn the_evidence_record_scrolls_to_the_justification_and_hashes_at_80x24() {
    let mut app = common_tui::app();
    keys(&mut app, "5");
    let screen = frame(&mut app, 80, 24);
    assert!(
        !screen.iter().any(|r| r.contains("hash ")),
        "not visible at first"
    );
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus(), Pane::Record);
    keys(&mut app, "G");
    let screen = settle(&mut app, 80, 24);
    let text = screen.join("\n");
    assert!(text.contains("justification"), "{text}");
    assert!(text.contains("hash"), "{text}");
    // Moving in the record pane does not move the evidence cursor.
    let selected = app.evidence().selected;
    keys(&mut app, "k");
    assert_eq!(app.evidence().selected, selected);
}

#[test]
fn help_pages_and_stops_at_its_end() {
    let mut app = common_tui::app();
    keys(&mut app, "?");
    frame(&mut app, 80, 24);
    press(&mut app, KeyCode::PageDown);
    let after_page = app.help().expect("help open");
    assert!(after_page > 1, "PgDn pages: {after_page}");
    keys(&mut app, "G");
    settle(&mut app, 80, 24);
    let end = app.help().expect("help open");
    keys(&mut app, "j");
    assert_eq!(app.help(), Some(end), "no scrolling past the end");
    press(&mut app, KeyCode::PageUp);
    assert!(app.help() < Some(end));
    keys(&mut app, "g");
    assert_eq!(app.help(), Some(0));
    keys(&mut app, "q");
    assert!(app.help().is_none(), "q closes the help, as in less");
    assert!(!app.quitting());
}

#[test]
fn after_a_resize_the_selection_stays_visible() {
    let mut app = common_tui::app();
    frame(&mut app, 200, 50);
    keys(&mut app, "G");
    frame(&mut app, 200, 50);
    let id = selected_id(&app).expect("a case");
    let screen = frame(&mut app, 80, 24);
    // Drawn once at the new size, the list has scrolled to the cursor.
    let screen = if screen.iter().any(|r| r.contains(&id)) {
        screen
    } else {
        frame(&mut app, 80, 24)
    };
    assert!(
        screen.iter().any(|r| r.contains(&id)),
        "{id} not on screen after the resize:\n{}",
        screen.join("\n")
    );
    assert_eq!(selected_id(&app).as_deref(), Some(id.as_str()));
}

// ----- 5. huge fields -------------------------------------------------------

#[test]
fn a_five_megabyte_title_is_cut_not_wrapped_whole() {
    let mut cases = common_tui::cases();
    let big = "x".repeat(5 * 1024 * 1024);
    cases[0].title = big;
    let id = cases[0].id.clone();
    let snapshot = snapshot_with(Arc::new(cases), statuses());
    let mut app = App::new(
        snapshot,
        records(),
        Theme::mono(),
        "local store /demo".into(),
        reviewer("alice"),
        NOW,
    );
    select(&mut app, &id);
    let screen = frame(&mut app, 200, 50);
    let text = screen.join("\n");
    assert!(text.contains(&id), "{text}");
    let mut app2 = app;
    app2.update(AppEvent::Key(key(KeyCode::Tab)));
    let screen = settle(&mut app2, 200, 50);
    keys(&mut app2, "G");
    let screen2 = settle(&mut app2, 200, 50);
    assert!(
        screen2.join("\n").contains("more bytes") || screen.join("\n").contains("more bytes"),
        "the cut says how much is left: {}",
        screen2.join("\n")
    );
}

#[test]
fn views_are_unchanged_by_the_mode_enum() {
    // The mode is one value: opening help closes nothing else and leaves
    // the view as it was.
    let mut app = common_tui::app();
    keys(&mut app, "2?");
    assert_eq!(app.view(), View::Quarantined);
    assert!(matches!(app.mode(), Mode::Help { .. }));
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.mode(), Mode::Normal));
}

// ----- 7. the outbox in the console ------------------------------------------

fn waiting(case_id: &str, action: Action) -> QueuedEntry {
    QueuedEntry {
        case_id: case_id.into(),
        action,
        queued_at: NOW,
        idempotency_key: format!("key-{case_id}"),
        reason: "server unreachable".into(),
    }
}

#[test]
fn a_second_decision_on_a_queued_case_says_it_replaces_the_first() {
    let mut app = common_tui::app();
    let summary = OutboxSummary {
        queued: vec![waiting("CASE-0010", Action::Quarantine)],
        ..OutboxSummary::default()
    };
    assert!(app.update(AppEvent::Outbox(summary.clone())).changed);
    assert!(
        !app.update(AppEvent::Outbox(summary)).changed,
        "no change, no redraw"
    );
    let i = app.queue().find("CASE-0010").expect("case");
    assert!(app.queue().is_queued(i), "the queue marks it");

    select(&mut app, "CASE-0010");
    let screen = frame(&mut app, 200, 50).join("\n");
    assert!(screen.contains("⏳ quarantine queued"), "{screen}");

    keys(&mut app, "e");
    let d = app.dialog().expect("dialog");
    assert_eq!(
        d.supersedes.as_ref().map(|q| q.action),
        Some(Action::Quarantine)
    );
    let screen = frame(&mut app, 80, 24).join("\n");
    assert!(screen.contains("REPLACES"), "{screen}");
    type_str(
        &mut app,
        "owner unreachable, routing to the platform team now",
    );
    let effects = app.update(AppEvent::Key(ctrl('s'))).effects;
    assert!(
        matches!(effects.as_slice(), [Effect::Supersede(d)] if d.case_id == "CASE-0010"),
        "{effects:?}"
    );
}

#[test]
fn a_refused_entry_dismissed_elsewhere_goes_away() {
    let mut app = common_tui::app();
    let refused = OutboxSummary {
        refused: vec![waiting("CASE-0010", Action::Quarantine)],
        ..OutboxSummary::default()
    };
    app.update(AppEvent::Outbox(refused));
    select(&mut app, "CASE-0010");
    let screen = frame(&mut app, 200, 50).join("\n");
    assert!(screen.contains("✗ queued quarantine"), "{screen}");
    // `nhi-triage outbox dismiss` in another process: the store's summary
    // no longer has it.
    assert!(
        app.update(AppEvent::Outbox(OutboxSummary::default()))
            .changed
    );
    let screen = frame(&mut app, 200, 50).join("\n");
    assert!(!screen.contains("✗ queued quarantine"), "{screen}");
    let i = app.queue().find("CASE-0010").expect("case");
    assert!(!app.queue().is_queued(i));
}
