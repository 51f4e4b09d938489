//! Keys and store events in, state and effects out: the console's update
//! logic, with no terminal and no real clock.

use crate::common_tui;

use common_tui::*;
use nhi_triage::model::{Action, CaseState, CaseStatus, Decision, LastDecision};
use nhi_triage::policy::Tier;
use nhi_triage::tui::app::{
    App, AppEvent, Drawn, Effect, Field, Input, Pane, Phase, SortKey, Tone, View,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use time::macros::datetime;

const LOW: &str = "CASE-0038";
const HIGH: &str = "CASE-0050";
/// Tier high with a 39-row dependency tree (badges, repeats).
const BIG_TREE: &str = "CASE-0005";

fn press(app: &mut App, k: KeyEvent) -> (bool, Vec<Effect>) {
    app.on_key(k)
}

fn chr(app: &mut App, c: char) -> (bool, Vec<Effect>) {
    app.on_key(ch(c))
}

fn command(app: &mut App, line: &str) -> (bool, Vec<Effect>) {
    chr(app, ':');
    type_str(app, line);
    press(app, key(KeyCode::Enter))
}

fn message(app: &App) -> (String, Tone) {
    let m = app.message().expect("a message");
    (m.text.clone(), m.tone)
}

fn decide(effects: &[Effect]) -> &Decision {
    match effects {
        [Effect::Decide(d)] => d,
        other => panic!("expected exactly one Decide effect, got {other:?}"),
    }
}

// ----- moving -----------------------------------------------------------------

#[test]
fn j_k_g_g_and_paging_move_and_clamp() {
    let mut app = app();
    let n = app.counts()[0];
    assert_eq!(n, 51);
    assert_eq!(selected_id(&app).as_deref(), Some(HIGH));

    // k at the top: nothing changes, nothing to redraw.
    assert_eq!(chr(&mut app, 'k'), (false, vec![]));
    assert_eq!(app.lists()[0].selected, 0);

    assert_eq!(chr(&mut app, 'j'), (true, vec![]));
    assert_eq!(app.lists()[0].selected, 1);
    press(&mut app, key(KeyCode::Down));
    assert_eq!(app.lists()[0].selected, 2);
    press(&mut app, key(KeyCode::Up));
    assert_eq!(app.lists()[0].selected, 1);

    assert!(chr(&mut app, 'G').0);
    assert_eq!(app.lists()[0].selected, n - 1);
    assert_eq!(selected_id(&app).as_deref(), Some("CASE-0044"));
    assert_eq!(chr(&mut app, 'j'), (false, vec![]), "j at the bottom");
    assert!(!press(&mut app, key(KeyCode::PageDown)).0);

    assert!(chr(&mut app, 'g').0);
    assert_eq!(app.lists()[0].selected, 0);
    assert!(!chr(&mut app, 'g').0);

    // PgDn moves by the viewport (the rows the last draw showed).
    app.update(AppEvent::Drawn(Drawn {
        list_rows: 10,
        ..Drawn::default()
    }));
    assert!(press(&mut app, key(KeyCode::PageDown)).0);
    assert_eq!(app.lists()[0].selected, 10);
    assert!(app.lists()[0].offset <= 10 && 10 < app.lists()[0].offset + 10);
    for _ in 0..10 {
        press(&mut app, key(KeyCode::PageDown));
    }
    assert_eq!(
        app.lists()[0].selected,
        n - 1,
        "PgDn clamps at the last row"
    );
    assert_eq!(
        app.lists()[0].offset,
        n - 10,
        "the last page fills the view"
    );
    press(&mut app, key(KeyCode::PageUp));
    assert_eq!(app.lists()[0].selected, n - 11);
    press(&mut app, key(KeyCode::Home));
    assert_eq!((app.lists()[0].selected, app.lists()[0].offset), (0, 0));
    press(&mut app, key(KeyCode::End));
    assert_eq!(app.lists()[0].selected, n - 1);

    // An unbound key changes nothing.
    assert_eq!(chr(&mut app, 'x'), (false, vec![]));
}

#[test]
fn number_keys_switch_views_each_with_its_own_cursor() {
    let mut app = app();
    assert_eq!(app.counts(), [51, 1, 1, 3, 8]);
    chr(&mut app, 'j');
    assert_eq!(chr(&mut app, '1'), (false, vec![]), "already there");

    assert!(chr(&mut app, '2').0);
    assert_eq!(app.view(), View::Quarantined);
    // An expired quarantine is back in Pending only (the shared state filter).
    assert_eq!(row_ids(&app), [QUARANTINED_LIVE]);

    assert!(chr(&mut app, '3').0);
    assert_eq!(app.view(), View::Escalated);
    assert_eq!(row_ids(&app), [ESCALATED]);

    assert!(chr(&mut app, '4').0);
    assert_eq!(app.view(), View::Decided);
    let mut decided = row_ids(&app);
    decided.sort();
    assert_eq!(decided, [APPROVED, REVOKED, CLOSED]);

    assert!(chr(&mut app, '5').0);
    assert_eq!(app.view(), View::Evidence);
    assert_eq!(app.selected_case(), None);
    assert_eq!(
        app.selected_record().map(|r| r.seq),
        Some(8),
        "newest first"
    );
    chr(&mut app, 'j');
    assert_eq!(app.selected_record().map(|r| r.seq), Some(7));
    chr(&mut app, 'G');
    assert_eq!(app.selected_record().map(|r| r.seq), Some(1));

    // Back to Pending: the cursor is where it was left.
    chr(&mut app, '1');
    assert_eq!(app.lists()[0].selected, 1);
}

#[test]
fn tab_and_shift_tab_cycle_the_panes() {
    let mut app = app();
    assert_eq!(app.focus(), Pane::Queue);
    let order = [Pane::Ownership, Pane::Tree, Pane::Readiness, Pane::Queue];
    for want in order {
        assert!(press(&mut app, key(KeyCode::Tab)).0);
        assert_eq!(app.focus(), want);
    }
    assert_eq!(
        app.detail_tab(),
        Pane::Readiness,
        "the last detail pane stays the tab"
    );
    for want in [Pane::Readiness, Pane::Tree, Pane::Ownership, Pane::Queue] {
        press(
            &mut app,
            KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
        );
        assert_eq!(app.focus(), want);
    }
    assert_eq!(app.detail_tab(), Pane::Ownership);
    // Enter opens the case's panes at the current tab; Esc goes back.
    assert!(press(&mut app, key(KeyCode::Enter)).0);
    assert_eq!(app.focus(), Pane::Ownership);
    assert!(press(&mut app, key(KeyCode::Esc)).0);
    assert_eq!(app.focus(), Pane::Queue);
    assert_eq!(press(&mut app, key(KeyCode::Esc)), (false, vec![]));
}

// ----- filter and sort ----------------------------------------------------------

#[test]
fn the_filter_narrows_as_you_type_and_esc_clears_it() {
    let mut app = app();
    assert!(chr(&mut app, '/').0);
    assert_eq!(app.input(), Input::Filter);

    // Typing `s` does not sort while filtering: it is text.
    type_str(&mut app, "snowflake");
    assert_eq!(app.filter(), "snowflake");
    assert_eq!(app.sort(), SortKey::Risk);
    let pending = row_ids(&app);
    assert!(pending.len() < 51, "{pending:?}");
    for id in ["CASE-0004", "CASE-0027", "CASE-0031"] {
        assert!(pending.contains(&id.to_string()), "{id} not in {pending:?}");
    }
    for id in &pending {
        let c = app
            .queue()
            .case(app.queue().find(id).expect("case"))
            .expect("case held");
        assert_eq!(c.identity.provider, "snowflake", "{id} matched snowflake");
    }
    assert_eq!(app.counts()[3], 1, "the decided snowflake case (CASE-0011)");
    let narrowed = app.counts();

    // Backspace widens.
    for _ in 0.."snowflake".len() - 2 {
        press(&mut app, key(KeyCode::Backspace));
    }
    assert_eq!(app.filter(), "sn");
    assert!(app.counts()[0] > narrowed[0], "{:?}", app.counts());

    // Esc clears and leaves filter mode.
    assert!(press(&mut app, key(KeyCode::Esc)).0);
    assert_eq!(app.input(), Input::Normal);
    assert_eq!(app.filter(), "");
    assert_eq!(app.counts(), [51, 1, 1, 3, 8]);
}

#[test]
fn the_filter_matches_tags_owners_and_ids_and_enter_keeps_it() {
    let mut app = app();
    chr(&mut app, '/');
    type_str(&mut app, "hostile-input"); // a tag
    assert_eq!(row_ids(&app), [EVIL_ID]);
    assert!(press(&mut app, key(KeyCode::Enter)).0);
    assert_eq!(app.input(), Input::Normal);
    assert_eq!(app.filter(), "hostile-input", "Enter keeps the filter");
    assert_eq!(app.counts()[0], 1);
    // Esc in normal mode clears a kept filter.
    assert!(press(&mut app, key(KeyCode::Esc)).0);
    assert_eq!(app.counts()[0], 51);

    chr(&mut app, '/');
    type_str(&mut app, "finance-eng"); // an owner team
    let rows = row_ids(&app);
    assert!(rows.contains(&"CASE-0004".to_string()), "{rows:?}");
    assert!(rows.contains(&"CASE-0025".to_string()), "{rows:?}");
    assert!(rows.len() < 10, "{rows:?}");

    // Backspace on an empty filter leaves filter mode.
    for _ in 0.."finance-eng".len() {
        press(&mut app, key(KeyCode::Backspace));
    }
    assert_eq!(app.input(), Input::Filter);
    press(&mut app, key(KeyCode::Backspace));
    assert_eq!(app.input(), Input::Normal);

    // A filter that matches nothing empties the views, and says so when drawn.
    chr(&mut app, '/');
    type_str(&mut app, "zzzzqqq");
    assert_eq!(app.counts()[..4], [0, 0, 0, 0]);
    assert_eq!(app.selected_case(), None);
}

fn first(app: &App) -> String {
    row_ids(app).first().cloned().expect("a row")
}

#[test]
fn s_cycles_the_sort_and_reorders_the_rows() {
    let mut app = app();
    assert_eq!(app.sort(), SortKey::Risk);
    assert_eq!(first(&app), HIGH);
    let tiers: Vec<Tier> = row_ids(&app).iter().map(|id| tier_of(&app, id)).collect();
    assert!(tiers.windows(2).all(|w| w[0] >= w[1]), "highest risk first");

    let risk_order = row_ids(&app);
    assert!(chr(&mut app, 's').0);
    assert_eq!(app.sort(), SortKey::Age);
    assert_eq!(message(&app).0, "sorted by age");
    assert_eq!(first(&app), "CASE-0001", "the oldest case");
    assert_eq!(row_ids(&app).last().map(String::as_str), Some("CASE-0055"));
    let opened: Vec<_> = row_ids(&app)
        .iter()
        .map(|id| {
            app.queue()
                .case(app.queue().find(id).expect("case"))
                .expect("case held")
                .opened_at
        })
        .collect();
    assert!(opened.windows(2).all(|w| w[0] <= w[1]));
    assert_ne!(row_ids(&app), risk_order);

    chr(&mut app, 's');
    assert_eq!(app.sort(), SortKey::Id);
    assert_eq!(first(&app), "CASE-0001");
    assert_eq!(row_ids(&app).last().map(String::as_str), Some(EVIL_ID));
    let ids = row_ids(&app);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    chr(&mut app, 's');
    assert_eq!(app.sort(), SortKey::Owner);
    assert_eq!(first(&app), "CASE-0031", "analytics-eng sorts first");
    let owners: Vec<Option<String>> = row_ids(&app)
        .iter()
        .map(|id| {
            app.queue()
                .case(app.queue().find(id).expect("case"))
                .expect("case held")
                .owner_team()
                .map(str::to_string)
        })
        .collect();
    let key = |o: &Option<String>| (o.is_none(), o.clone());
    assert!(owners.windows(2).all(|w| key(&w[0]) <= key(&w[1])));
    assert_eq!(owners.last(), Some(&None), "no owner sorts last");

    chr(&mut app, 's');
    assert_eq!(app.sort(), SortKey::Risk);
    assert_eq!(row_ids(&app), risk_order);
}

#[test]
fn sorting_keeps_the_cursor_on_the_same_case() {
    let mut app = app();
    select(&mut app, "CASE-0010");
    chr(&mut app, 's');
    assert_eq!(selected_id(&app).as_deref(), Some("CASE-0010"));
    assert_ne!(app.lists()[0].selected, 17);
}

// ----- the command line ------------------------------------------------------------

#[test]
fn commands_switch_views_sort_and_report_errors() {
    let mut app = app();
    assert!(chr(&mut app, ':').0);
    assert_eq!(app.input(), Input::Command(String::new()));
    type_str(&mut app, "view quarantinedx");
    press(&mut app, key(KeyCode::Backspace));
    assert_eq!(app.input(), Input::Command("view quarantined".into()));
    assert_eq!(press(&mut app, key(KeyCode::Enter)), (true, vec![]));
    assert_eq!(app.input(), Input::Normal);
    assert_eq!(app.view(), View::Quarantined);

    assert_eq!(command(&mut app, "sort age"), (true, vec![]));
    assert_eq!(app.sort(), SortKey::Age);
    command(&mut app, "view Pending");
    assert_eq!(app.view(), View::Pending);
    assert_eq!(first(&app), "CASE-0001");

    command(&mut app, "frobnicate now");
    let (text, tone) = message(&app);
    assert_eq!(tone, Tone::Error);
    assert!(text.contains("unknown command :frobnicate"), "{text}");
    command(&mut app, "view nowhere");
    assert_eq!(message(&app).1, Tone::Error);
    assert_eq!(app.view(), View::Pending);
    command(&mut app, "sort colour");
    assert_eq!(message(&app).1, Tone::Error);
    assert_eq!(app.sort(), SortKey::Age);

    // A hostile argument is shown escaped.
    app.run_command("view \x1b[2J");
    assert!(message(&app).0.contains("\\x1b[2J"), "{:?}", message(&app));

    assert_eq!(
        command(&mut app, "theme light").1,
        vec![Effect::LoadTheme("light".into())]
    );
    command(&mut app, "filter snowflake");
    assert_eq!(app.filter(), "snowflake");
    command(&mut app, "help");
    assert_eq!(app.help(), Some(0));
    press(&mut app, key(KeyCode::Esc));

    // Esc abandons a command line without running it.
    chr(&mut app, ':');
    type_str(&mut app, "q");
    press(&mut app, key(KeyCode::Esc));
    assert!(!app.quitting());
    assert_eq!(app.input(), Input::Normal);

    assert_eq!(command(&mut app, "q").1, vec![Effect::Quit]);
    assert!(app.quitting());
}

// ----- deciding ----------------------------------------------------------------------

#[test]
fn approve_on_a_low_case_needs_enough_justification_then_emits_one_decision() {
    let mut app = app();
    select(&mut app, LOW);
    assert_eq!(tier_of(&app, LOW), Tier::Low);
    assert_eq!(chr(&mut app, 'a'), (true, vec![]));
    let d = app.dialog().expect("the approve dialog");
    assert_eq!(d.action, Action::Approve);
    assert_eq!(d.case_id, LOW);
    assert_eq!(d.expected_version, 0);
    assert_eq!(d.focus, Field::Justification);
    assert_eq!((d.chars(), d.required_chars()), (0, 20));

    type_str(&mut app, "unused 120d");
    // Only visible characters count: the space does not.
    assert_eq!(app.dialog().map(|d| d.chars()), Some(10));

    // Too short: no effect, and the dialog says why.
    let (changed, effects) = press(&mut app, ctrl('s'));
    assert!(changed);
    assert!(effects.is_empty(), "{effects:?}");
    let d = app.dialog().expect("still open");
    match &d.phase {
        Phase::Failed(why) => assert!(
            why.contains("at least 20 visible characters (got 10)"),
            "{why}"
        ),
        other => panic!("expected the reason, got {other:?}"),
    }

    // Typing again clears the complaint; a new line counts as text.
    type_str(&mut app, ";\nrollback tested");
    let d = app.dialog().expect("still open");
    assert_eq!(d.phase, Phase::Editing);
    assert_eq!(d.text(), "unused 120d;\nrollback tested");
    assert!(d.chars() >= 20, "{}", d.chars());

    let (changed, effects) = press(&mut app, ctrl('s'));
    assert!(changed);
    let decision = decide(&effects);
    assert_eq!(
        decision,
        &Decision {
            case_id: LOW.into(),
            action: Action::Approve,
            justification: "unused 120d;\nrollback tested".into(),
            expected_version: 0,
            quarantine_hours: None,
            escalate_to: None,
            override_: false,
            expected_case_sha256: Some(
                app.queue()
                    .case(app.queue().find(LOW).expect("case"))
                    .expect("case held")
                    .content_sha256()
            ),
            idempotency_key: None,
        }
    );
    assert_eq!(
        app.dialog().map(|d| d.phase.clone()),
        Some(Phase::Submitting)
    );
    // A second Ctrl-S while waiting for the store sends nothing more.
    assert_eq!(press(&mut app, ctrl('s')), (false, vec![]));
    // Nor do keys edit the text meanwhile.
    type_str(&mut app, "zzz");
    assert_eq!(
        app.dialog().map(|d| d.text()),
        Some("unused 120d;\nrollback tested".into())
    );
}

#[test]
fn approving_an_escalated_case_sends_the_version_seen() {
    let mut app = app();
    chr(&mut app, '3');
    assert_eq!(selected_id(&app).as_deref(), Some(ESCALATED));
    chr(&mut app, 'a');
    let d = app.dialog().expect("alice may approve what bob escalated");
    assert_eq!(d.expected_version, 1);
    type_str(&mut app, "checked with the owner: retire it now");
    let (_, effects) = press(&mut app, ctrl('s'));
    let d = decide(&effects);
    assert_eq!(
        (d.case_id.as_str(), d.action, d.expected_version),
        (ESCALATED, Action::Approve, 1)
    );
}

#[test]
fn esc_cancels_the_dialog_without_an_effect() {
    let mut app = app();
    select(&mut app, LOW);
    chr(&mut app, 'a');
    type_str(&mut app, "a perfectly long enough justification");
    assert_eq!(press(&mut app, key(KeyCode::Esc)), (true, vec![]));
    assert!(app.dialog().is_some(), "typed text: Esc asks first");
    assert_eq!(chr(&mut app, 'y'), (true, vec![]));
    assert!(app.dialog().is_none());
    let (text, tone) = message(&app);
    assert!(text.contains("nothing recorded"), "{text}");
    assert_eq!(tone, Tone::Info);
    // The next key clears the message (and redraws for it).
    assert_eq!(chr(&mut app, 'k'), (true, vec![]));
    assert!(app.message().is_none());
}

#[test]
fn approve_on_a_high_case_is_refused_with_alternatives() {
    let mut app = app();
    select(&mut app, "CASE-0004");
    assert_eq!(tier_of(&app, "CASE-0004"), Tier::High);
    assert_eq!(chr(&mut app, 'a'), (true, vec![]));
    assert!(app.dialog().is_none(), "no dialog for a refused approve");
    let r = app.refusal().expect("the refusal");
    assert_eq!(
        (r.case_id.as_str(), r.action),
        ("CASE-0004", Action::Approve)
    );
    let reasons = r.reasons.join("\n");
    assert!(reasons.contains("tier is high"), "{reasons}");
    assert!(reasons.contains("Q1 is partial"), "{reasons}");
    assert!(reasons.contains("Q3 is unknown"), "{reasons}");
    assert!(!reasons.contains("Q2 is"), "Q2 is answered: {reasons}");
    assert_eq!(r.alternatives, [Action::Quarantine, Action::Escalate]);

    // Keys other than the alternatives do nothing; approve again neither.
    assert_eq!(chr(&mut app, 'a'), (false, vec![]));
    assert_eq!(chr(&mut app, 'j'), (false, vec![]));
    assert_eq!(selected_id(&app).as_deref(), Some("CASE-0004"));

    // i from the refusal opens the quarantine dialog with the policy default.
    assert!(chr(&mut app, 'i').0);
    assert!(app.refusal().is_none());
    let d = app.dialog().expect("the quarantine dialog");
    assert_eq!(d.action, Action::Quarantine);
    assert_eq!(d.parameter, "72");
    assert_eq!(d.hours(), Some(72));
    assert_eq!(d.state_after_label(), "quarantined for 72h");

    // Esc from a refusal goes back to the queue.
    press(&mut app, key(KeyCode::Esc));
    chr(&mut app, 'a');
    assert!(app.refusal().is_some());
    assert_eq!(press(&mut app, key(KeyCode::Esc)), (true, vec![]));
    assert!(app.refusal().is_none() && app.dialog().is_none());
}

#[test]
fn quarantine_hours_are_edited_in_their_own_field() {
    let mut app = app();
    select(&mut app, "CASE-0010");
    chr(&mut app, 'i');
    type_str(&mut app, "owner asked us to contain it first");
    {
        let d = app.dialog().expect("dialog");
        assert_eq!(d.fields(), [Field::Justification, Field::Parameter]);
    }
    press(&mut app, key(KeyCode::Tab));
    assert_eq!(app.dialog().map(|d| d.focus), Some(Field::Parameter));
    press(&mut app, key(KeyCode::Backspace));
    press(&mut app, key(KeyCode::Backspace));
    assert_eq!(app.dialog().map(|d| d.parameter.as_str()), Some(""));
    type_str(&mut app, "4h8"); // only digits go in
    assert_eq!(app.dialog().map(|d| d.parameter.as_str()), Some("48"));
    // The justification did not change while the hours had focus.
    assert_eq!(
        app.dialog().map(|d| d.text()),
        Some("owner asked us to contain it first".into())
    );

    // Too many hours: refused before any write.
    type_str(&mut app, "00");
    let (_, effects) = press(&mut app, ctrl('s'));
    assert!(effects.is_empty());
    match app.dialog().map(|d| &d.phase) {
        Some(Phase::Failed(why)) => assert!(why.contains("between 1 and 720"), "{why}"),
        other => panic!("{other:?}"),
    }
    press(&mut app, key(KeyCode::Backspace));
    press(&mut app, key(KeyCode::Backspace));

    // Shift-Tab goes back to the text.
    press(
        &mut app,
        KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
    );
    assert_eq!(app.dialog().map(|d| d.focus), Some(Field::Justification));
    let (_, effects) = press(&mut app, ctrl('s'));
    let d = decide(&effects);
    assert_eq!(d.case_id, "CASE-0010");
    assert_eq!(d.action, Action::Quarantine);
    assert_eq!(d.quarantine_hours, Some(48));
    assert_eq!(d.escalate_to, None);
}

#[test]
fn escalation_goes_to_the_owner_team_by_default() {
    let mut app = app();
    assert_eq!(selected_id(&app).as_deref(), Some(HIGH));
    chr(&mut app, 'e');
    let d = app.dialog().expect("dialog");
    assert_eq!(d.action, Action::Escalate);
    assert_eq!(d.parameter, "payments");
    assert_eq!(d.state_after_label(), "escalated to payments");
    press(&mut app, key(KeyCode::Esc));

    // No owner: the policy's default team.
    select(&mut app, "CASE-0053");
    chr(&mut app, 'e');
    assert_eq!(
        app.dialog().map(|d| d.parameter.as_str()),
        Some("security-review")
    );
    // The target is free text (letters allowed), edited in its field.
    type_str(&mut app, "no owner; the token is live in an incident");
    press(&mut app, key(KeyCode::Tab));
    for _ in 0.."security-review".len() {
        press(&mut app, key(KeyCode::Backspace));
    }
    let (_, effects) = press(&mut app, ctrl('s'));
    assert!(effects.is_empty(), "an empty target is refused");
    type_str(&mut app, "sre-oncall");
    let (_, effects) = press(&mut app, ctrl('s'));
    let d = decide(&effects);
    assert_eq!(d.escalate_to.as_deref(), Some("sre-oncall"));
    assert_eq!(d.quarantine_hours, None);
}

#[test]
fn the_store_answer_closes_the_dialog_or_keeps_it_with_the_error() {
    let mut app = app();
    select(&mut app, LOW);
    chr(&mut app, 'a');
    type_str(&mut app, "all three questions answered; bounded");
    let (_, effects) = press(&mut app, ctrl('s'));
    decide(&effects);

    // A failure keeps the dialog and its text, with the error shown.
    assert!(app.on_decided(Err("conflict: CASE-0038 is at version 1".into())));
    let d = app.dialog().expect("kept open");
    assert_eq!(
        d.phase,
        Phase::Failed("conflict: CASE-0038 is at version 1".into())
    );
    assert_eq!(d.text(), "all three questions answered; bounded");

    // It can be sent again; success closes it with a message.
    let (_, effects) = press(&mut app, ctrl('s'));
    decide(&effects);
    assert!(app.on_decided(Ok(recorded(
        9,
        LOW,
        "alice",
        Action::Approve,
        0,
        CaseState::Approved
    ))));
    assert!(app.dialog().is_none());
    let (text, tone) = message(&app);
    assert_eq!(tone, Tone::Ok);
    assert!(text.contains("recorded #9"), "{text}");
    assert!(text.contains("pending → approved"), "{text}");

    // An error with no dialog open becomes a message.
    assert!(app.on_decided(Err("store unavailable".into())));
    assert_eq!(message(&app), ("store unavailable".into(), Tone::Error));
}

#[test]
fn another_reviewer_deciding_the_open_case_is_flagged_in_the_dialog() {
    let mut app = app();
    select(&mut app, LOW);
    chr(&mut app, 'a');
    type_str(&mut app, "looks fine to me");

    let until = datetime!(2026-11-30 12:00 UTC);
    let bob = recorded(
        9,
        LOW,
        "bob",
        Action::Quarantine,
        0,
        CaseState::Quarantined { until },
    );
    let status = CaseStatus {
        state: CaseState::Quarantined { until },
        version: 1,
        escalated_by: None,
        escalated_by_os: None,
        quarantined_at: Some(datetime!(2026-11-27 12:05 UTC)),
        quarantined_by: Some("bob".into()),
        quarantined_by_os: None,
        used_during_quarantine: false,
        last_decision: Some(LastDecision {
            action: Action::Quarantine,
            reviewer: "bob".into(),
            ts: datetime!(2026-11-27 12:05 UTC),
        }),
    };
    let snapshot = snapshot_after(&app, LOW, status, 9);
    assert!(app.on_snapshot(snapshot, vec![bob]));

    let d = app.dialog().expect("the dialog stays open");
    let warning = d.changed_underneath.as_deref().expect("flagged");
    assert!(warning.contains("bob"), "{warning}");
    assert!(warning.contains("quarantine"), "{warning}");
    assert_eq!(d.text(), "looks fine to me", "nothing typed is lost");
    let (text, tone) = message(&app);
    assert!(text.contains("bob quarantine CASE-0038"), "{text}");
    assert_eq!(tone, Tone::Info);
    assert_eq!(app.records().len(), 9);
    // The case moved views underneath.
    assert_eq!(app.counts()[..2], [50, 2]);

    // The same snapshot again: nothing new.
    let same = snapshot_after(
        &app,
        LOW,
        app.queue()
            .status(app.queue().find(LOW).expect("case"))
            .clone(),
        9,
    );
    assert!(!app.on_snapshot(same, vec![]));
}

#[test]
fn a_record_on_another_case_does_not_flag_the_dialog() {
    let mut app = app();
    select(&mut app, LOW);
    chr(&mut app, 'a');
    let other = recorded(
        9,
        "CASE-0026",
        "bob",
        Action::Approve,
        0,
        CaseState::Approved,
    );
    let status = CaseStatus {
        state: CaseState::Approved,
        version: 1,
        escalated_by: None,
        escalated_by_os: None,
        quarantined_at: None,
        quarantined_by: None,
        quarantined_by_os: None,
        used_during_quarantine: false,
        last_decision: None,
    };
    let snapshot = snapshot_after(&app, "CASE-0026", status, 9);
    assert!(app.on_snapshot(snapshot, vec![other]));
    assert_eq!(
        app.dialog().map(|d| d.changed_underneath.is_none()),
        Some(true)
    );
    assert_eq!(app.counts()[3], 4);
}

#[test]
fn a_quarantine_that_runs_out_returns_to_pending_and_stays_listed() {
    let mut app = app();
    let pending = row_ids(&app);
    assert!(
        pending.contains(&QUARANTINED_EXPIRED.to_string()),
        "already expired"
    );
    assert!(!pending.contains(&QUARANTINED_LIVE.to_string()));
    assert_eq!(app.queue().next_expiry(), Some(LIVE_UNTIL));

    assert!(app.on_tick(LIVE_UNTIL - hours(1)));
    assert!(!row_ids(&app).contains(&QUARANTINED_LIVE.to_string()));

    app.on_tick(LIVE_UNTIL + hours(1));
    assert!(row_ids(&app).contains(&QUARANTINED_LIVE.to_string()));
    // Both expired quarantines are pending again, and only pending: the
    // console's views use the same state filter as `list --state` and the API.
    assert_eq!(app.counts()[..2], [52, 0]);
    chr(&mut app, '2');
    assert!(row_ids(&app).is_empty());
    assert_eq!(app.queue().next_expiry(), None);
    // Back in the queue, the lifecycle offers a decision again.
    chr(&mut app, '1');
    select(&mut app, QUARANTINED_LIVE);
    let a = app.assessment().expect("assessment");
    assert!(a.quarantine_expired);
    assert!(a.verdict(Action::Restore).is_some());
}

// ----- the dependency tree ---------------------------------------------------------

fn visible_rows(app: &App) -> usize {
    app.tree().visible(&app.outline()).len()
}

#[test]
fn the_tree_expands_collapses_and_goes_to_the_parent() {
    let mut app = app();
    select(&mut app, BIG_TREE);
    let all = visible_rows(&app);
    assert_eq!(all, 39);
    press(&mut app, key(KeyCode::Tab));
    press(&mut app, key(KeyCode::Tab));
    assert_eq!(app.focus(), Pane::Tree);
    assert_eq!(app.tree().cursor, 0);

    // Enter collapses the node under the cursor, Enter again expands it.
    assert!(press(&mut app, key(KeyCode::Enter)).0);
    let collapsed = visible_rows(&app);
    assert!(collapsed < all, "{collapsed}");
    assert!(press(&mut app, key(KeyCode::Enter)).0);
    assert_eq!(visible_rows(&app), all);
    // Space does the same.
    chr(&mut app, ' ');
    assert_eq!(visible_rows(&app), collapsed);
    chr(&mut app, 'l');
    assert_eq!(visible_rows(&app), all);
    assert_eq!(chr(&mut app, 'l'), (false, vec![]), "already expanded");

    // j moves in the tree, not the queue.
    chr(&mut app, 'j');
    assert_eq!(app.tree().cursor, 1);
    assert_eq!(selected_id(&app).as_deref(), Some(BIG_TREE));
    let outline = app.outline();
    let child = app.tree().visible(&outline)[1];
    assert!(child.has_children && child.row.depth == 2, "{child:?}");

    // h collapses a node, then goes to its parent.
    assert!(chr(&mut app, 'h').0);
    assert_eq!(app.tree().cursor, 1);
    let fewer = visible_rows(&app);
    assert!(fewer < all);
    assert!(chr(&mut app, 'h').0);
    assert_eq!(
        app.tree().cursor,
        0,
        "h on a collapsed node goes to the parent"
    );
    assert_eq!(visible_rows(&app), fewer);
    chr(&mut app, 'j');
    chr(&mut app, 'l');
    assert_eq!(visible_rows(&app), all);

    // The tree cursor clamps.
    chr(&mut app, 'G');
    assert_eq!(app.tree().cursor, all - 1);
    assert_eq!(chr(&mut app, 'j'), (false, vec![]));

    // Another case gets a fresh tree.
    press(&mut app, key(KeyCode::Esc));
    chr(&mut app, 'j');
    assert_eq!(app.tree().cursor, 0);
}

// ----- quitting and help ----------------------------------------------------------

#[test]
fn ctrl_c_and_shift_q_quit_from_anywhere() {
    let mut app = app();
    assert_eq!(press(&mut app, ctrl('c')).1, vec![Effect::Quit]);
    assert!(app.quitting());

    let mut app = app_in_dialog();
    assert_eq!(press(&mut app, ctrl('c')).1, vec![Effect::Quit]);
    assert!(app.quitting(), "Ctrl-C quits even from the dialog");

    let mut app = common_tui::app();
    assert_eq!(chr(&mut app, 'Q').1, vec![Effect::Quit]);
    assert!(app.quitting());

    // In the dialog, Q is text.
    let mut app = app_in_dialog();
    chr(&mut app, 'Q');
    assert!(!app.quitting());
    assert_eq!(app.dialog().map(|d| d.text()), Some("Q".into()));
}

fn app_in_dialog() -> App {
    let mut app = common_tui::app();
    select(&mut app, LOW);
    chr(&mut app, 'a');
    assert!(app.dialog().is_some());
    app
}

#[test]
fn help_opens_scrolls_and_closes() {
    let mut app = app();
    assert_eq!(chr(&mut app, '?'), (true, vec![]));
    assert_eq!(app.help(), Some(0));
    // Keys go to the help, not the queue.
    assert!(chr(&mut app, 'j').0);
    assert_eq!(app.help(), Some(1));
    assert_eq!(app.lists()[0].selected, 0);
    assert!(chr(&mut app, 'k').0);
    assert_eq!(chr(&mut app, 'k'), (false, vec![]));
    assert_eq!(chr(&mut app, 'a'), (false, vec![]));
    assert!(app.dialog().is_none());
    assert_eq!(press(&mut app, key(KeyCode::Esc)), (true, vec![]));
    assert_eq!(app.help(), None);
    chr(&mut app, '?');
    chr(&mut app, '?');
    assert_eq!(app.help(), None, "? toggles");
}
