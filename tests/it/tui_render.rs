//! The console drawn into ratatui's `TestBackend`: text and style snapshots
//! of every view, pane, dialog and overlay at 80x24, 120x40 and 200x50, in
//! the dark and the mono theme; plus assertions on what must hold whatever
//! the snapshots say (no colour in mono, escapes shown as text, no control
//! character on screen, wide characters keeping the columns aligned).

use crate::common_tui;

use std::fmt::Write as _;

use common_tui::*;
use nhi_triage::model::{Action, CaseState, CaseStatus};
use nhi_triage::tui::app::{App, Pane, View};
use nhi_triage::tui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 50)];

fn buffer(backend: &TestBackend) -> &Buffer {
    backend.buffer()
}

fn color(c: Color) -> String {
    match c {
        Color::Reset => "-".into(),
        other => format!("{other:?}"),
    }
}

fn mods(m: Modifier) -> String {
    let mut s = String::new();
    for (flag, ch) in [
        (Modifier::BOLD, 'B'),
        (Modifier::DIM, 'D'),
        (Modifier::ITALIC, 'I'),
        (Modifier::UNDERLINED, 'U'),
        (Modifier::REVERSED, 'R'),
        (Modifier::SLOW_BLINK, 'b'),
        (Modifier::RAPID_BLINK, 'b'),
        (Modifier::HIDDEN, 'H'),
        (Modifier::CROSSED_OUT, 'X'),
    ] {
        if m.contains(flag) {
            s.push(ch);
        }
    }
    s
}

/// Per row, the runs of one style that differ from the terminal default,
/// as `x0-x1 fg/bg+MODS` (`-` is the terminal's own colour). Cells hidden
/// under a wide character take the style of the character.
fn styles(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut runs: Vec<(u16, u16, String)> = Vec::new();
        let mut skip = 0usize;
        for x in 0..area.width {
            let cell = &buf[(x, y)];
            let key = if skip > 0 {
                runs.last().map(|r| r.2.clone()).unwrap_or_default()
            } else {
                let m = mods(cell.modifier);
                let k = format!("{}/{}", color(cell.fg), color(cell.bg));
                if m.is_empty() { k } else { format!("{k}+{m}") }
            };
            skip = skip.max(cell.symbol().width()).saturating_sub(1);
            match runs.last_mut() {
                Some(r) if r.2 == key => r.1 = x,
                _ => runs.push((x, x, key)),
            }
        }
        let shown: Vec<String> = runs
            .into_iter()
            .filter(|r| r.2 != "-/-")
            .map(|(a, b, k)| format!("{a}-{b} {k}"))
            .collect();
        if !shown.is_empty() {
            let _ = writeln!(out, "{y:02}: {}", shown.join(" | "));
        }
    }
    out
}

fn screen_text(buf: &Buffer) -> String {
    (0..buf.area.height)
        .map(|y| row_text(buf, y))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The screen column where `needle` starts on row `y` (cells, not bytes).
fn column_of(buf: &Buffer, y: u16, needle: &str) -> Option<u16> {
    let first = needle.chars().next()?.to_string();
    let mut skip = 0usize;
    for x in 0..buf.area.width {
        let sym = buf[(x, y)].symbol();
        if skip == 0 && sym == first {
            // Compare the visible text from here.
            let mut text = String::new();
            let mut k = 0usize;
            for xx in x..buf.area.width {
                let s = buf[(xx, y)].symbol();
                if k == 0 {
                    text.push_str(s);
                }
                k = k.max(s.width()).saturating_sub(1);
            }
            if text.starts_with(needle) {
                return Some(x);
            }
        }
        skip = skip.max(sym.width()).saturating_sub(1);
    }
    None
}

fn row_with(buf: &Buffer, needle: &str) -> Option<u16> {
    (0..buf.area.height).find(|&y| row_text(buf, y).contains(needle))
}

/// Checks that hold on every frame.
fn check_frame(buf: &Buffer, mono: bool, what: &str) {
    for (i, cell) in buf.content.iter().enumerate() {
        let (x, y) = (i as u16 % buf.area.width, i as u16 / buf.area.width);
        assert!(
            !cell.symbol().chars().any(|c| c.is_control()),
            "{what}: control character {:?} at ({x},{y})",
            cell.symbol()
        );
        if mono {
            assert_eq!(
                (cell.fg, cell.bg),
                (Color::Reset, Color::Reset),
                "{what}: mono theme drew a colour at ({x},{y}) {:?}",
                cell.symbol()
            );
        }
    }
}

/// Renders the same scenario in dark and mono at `w`x`h`; snapshots the
/// text once (themes change only styles: asserted) and the styles of both.
fn snap(name: &str, w: u16, h: u16, setup: impl Fn(&mut App)) {
    let mut frames = Vec::new();
    for (theme, mono) in [
        (Theme::load("dark").expect("dark"), false),
        (Theme::mono(), true),
    ] {
        let mut app = app_with(theme);
        // Draw once first, as the runtime does, so paging and scrolling
        // use the real viewport.
        draw_frame(&mut app, w, h);
        setup(&mut app);
        let backend = draw_frame(&mut app, w, h);
        check_frame(buffer(&backend), mono, &format!("{name} {w}x{h}"));
        frames.push(backend);
    }
    let (dark, mono) = (&frames[0], &frames[1]);
    assert_eq!(
        dark.to_string(),
        mono.to_string(),
        "{name} {w}x{h}: the theme changed the text"
    );
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), dark.to_string());
    insta::assert_snapshot!(
        format!("{name}_{w}x{h}_styles"),
        format!(
            "== dark ==\n{}== mono ==\n{}",
            styles(buffer(dark)),
            styles(buffer(mono))
        )
    );
}

fn snap_all_sizes(name: &str, setup: impl Fn(&mut App)) {
    for (w, h) in SIZES {
        snap(name, w, h, &setup);
    }
}

fn press(app: &mut App, keys: &str) {
    type_str(app, keys);
}

// ----- views ----------------------------------------------------------------

#[test]
fn pending_view() {
    snap_all_sizes("pending", |app| {
        assert_eq!(app.view(), View::Pending);
    });
}

#[test]
fn quarantined_view_shows_time_left_and_the_expired_flag() {
    snap_all_sizes("quarantined", |app| {
        press(app, "2");
        assert_eq!(app.view(), View::Quarantined);
    });
    let mut app = app();
    press(&mut app, "2");
    let backend = draw_frame(&mut app, 120, 40);
    let text = screen_text(buffer(&backend));
    assert!(text.contains("quar 1d 6h"), "{text}");
    // An expired quarantine is back in Pending only (the shared state
    // filter), flagged there.
    assert!(!text.contains(QUARANTINED_EXPIRED), "{text}");
    press(&mut app, "1");
    let backend = draw_frame(&mut app, 120, 40);
    let text = screen_text(buffer(&backend));
    assert!(text.contains("⚠ EXPIRED"), "{text}");
}

#[test]
fn escalated_view() {
    snap_all_sizes("escalated", |app| press(app, "3"));
}

#[test]
fn decided_view() {
    snap_all_sizes("decided", |app| press(app, "4"));
}

#[test]
fn evidence_view_newest_first_with_the_verify_result() {
    snap_all_sizes("evidence", |app| press(app, "5"));
    let mut app = app();
    press(&mut app, "5");
    let backend = draw_frame(&mut app, 200, 50);
    let buf = buffer(&backend);
    let text = screen_text(buf);
    assert!(text.contains("chain ✓ intact, 8 records"), "{text}");
    let newest = row_with(buf, "#8 ").expect("record 8 shown");
    let oldest = row_with(buf, "#1 ").expect("record 1 shown");
    assert!(newest < oldest, "newest first:\n{text}");
}

// ----- panes ----------------------------------------------------------------

/// CASE-0004: a dependency cycle and two dangling ids.
fn select_cycle_case(app: &mut App) {
    select(app, "CASE-0004");
}

#[test]
fn panes_side_by_side_when_wide() {
    for (w, h) in [(120, 40), (200, 50)] {
        snap("panes_cycle_case", w, h, select_cycle_case);
    }
    // CASE-0005: external partner and shared platform badges, repeats.
    snap("panes_badges_case", 200, 50, |app| select(app, "CASE-0005"));
}

#[test]
fn panes_as_tabs_when_narrow() {
    for (tab, tabs) in [("ownership", 1), ("tree", 2), ("readiness", 3)] {
        snap(&format!("tab_{tab}"), 80, 24, |app| {
            select_cycle_case(app);
            for _ in 0..tabs {
                app.on_key(key(KeyCode::Tab));
            }
        });
    }
    let mut app = app();
    draw_frame(&mut app, 80, 24);
    select_cycle_case(&mut app);
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.detail_tab(), Pane::Tree);
    let text = screen_text(buffer(&draw_frame(&mut app, 80, 24)));
    assert!(text.contains("▸Dependencies"), "{text}");
    assert!(text.contains("↺ cycle"), "{text}");
    assert!(text.contains("✗ dangling"), "{text}");
}

#[test]
fn tree_badges_are_words() {
    let mut app = app();
    draw_frame(&mut app, 200, 50);
    select(&mut app, "CASE-0005");
    let text = screen_text(buffer(&draw_frame(&mut app, 200, 50)));
    assert!(text.contains("[EXTERNAL]"), "{text}");
    assert!(text.contains("[SHARED]"), "{text}");
}

// ----- deciding ---------------------------------------------------------------

/// A low-tier case with a part-typed justification.
const LOW: &str = "CASE-0038";
/// The top of the queue: tier high.
const HIGH: &str = "CASE-0050";

#[test]
fn approve_dialog() {
    snap_all_sizes("dialog_approve", |app| {
        select(app, LOW);
        press(app, "a");
        assert!(app.dialog().is_some());
        press(app, "Unused for 120 days;\nrollback tested");
    });
}

#[test]
fn quarantine_dialog_shows_hours() {
    snap_all_sizes("dialog_quarantine", |app| {
        select(app, "CASE-0010");
        press(app, "i");
        press(app, "owner asked, contain while they check");
        app.on_key(key(KeyCode::Tab));
    });
}

#[test]
fn escalate_dialog_shows_the_target() {
    snap_all_sizes("dialog_escalate", |app| {
        select(app, HIGH);
        press(app, "e");
        assert!(app.dialog().is_some());
    });
}

#[test]
fn refused_approve_explains_and_offers_alternatives() {
    // CASE-0004: tier high with Q1 partial and Q3 unknown.
    snap_all_sizes("refusal_approve_high", |app| {
        select(app, "CASE-0004");
        press(app, "a");
        assert!(app.refusal().is_some() && app.dialog().is_none());
    });
}

#[test]
fn dialog_failure_and_changed_underneath_are_shown() {
    snap("dialog_too_short", 120, 40, |app| {
        select(app, LOW);
        press(app, "a");
        press(app, "too short");
        app.on_key(ctrl('s'));
    });
    snap("dialog_changed_underneath", 80, 24, |app| {
        select(app, LOW);
        press(app, "a");
        press(app, "looks fine to me");
        let bob = recorded(9, LOW, "bob", Action::Approve, 0, CaseState::Approved);
        let status = CaseStatus {
            state: CaseState::Approved,
            version: 1,
            ..CaseStatus::pending()
        };
        let snapshot = snapshot_after(app, LOW, status, 9);
        assert!(app.on_snapshot(snapshot, vec![bob]));
        assert!(app.dialog().is_some_and(|d| d.changed_underneath.is_some()));
    });
    // Whole, at every size: it says what happens on confirm.
    for (w, h) in SIZES {
        let mut app = app();
        draw_frame(&mut app, w, h);
        select(&mut app, LOW);
        press(&mut app, "a");
        let bob = recorded(9, LOW, "bob", Action::Approve, 0, CaseState::Approved);
        let status = CaseStatus {
            state: CaseState::Approved,
            version: 1,
            ..CaseStatus::pending()
        };
        let snapshot = snapshot_after(&app, LOW, status, 9);
        app.on_snapshot(snapshot, vec![bob]);
        let text = screen_text(buffer(&draw_frame(&mut app, w, h)));
        for part in ["Confirming", "conflict;", "again."] {
            assert!(text.contains(part), "{w}x{h}: {part}\n{text}");
        }
    }
}

// ----- overlays ------------------------------------------------------------------

#[test]
fn help_overlay() {
    snap_all_sizes("help", |app| press(app, "?"));
}

#[test]
fn command_line_and_filter_are_shown() {
    snap("command_line", 120, 40, |app| press(app, ":view quar"));
    snap("filter_typing", 120, 40, |app| press(app, "/snowflake"));
}

// ----- sizes ----------------------------------------------------------------------

#[test]
fn too_small_then_recovers() {
    let mut app = app();
    let small = draw_frame(&mut app, 60, 20);
    check_frame(buffer(&small), false, "60x20");
    let text = screen_text(buffer(&small));
    assert!(text.contains("terminal too small"), "{text}");
    assert!(text.contains("60x20"), "{text}");
    insta::assert_snapshot!("too_small_60x20", small.to_string());
    // 80 wide but one line short is still too small.
    let text = screen_text(buffer(&draw_frame(&mut app, 80, 23)));
    assert!(text.contains("terminal too small"), "{text}");
    // The same app, grown: the normal screen, as if it had never been small.
    let grown = draw_frame(&mut app, 80, 24);
    let fresh = draw_frame(&mut common_tui::app(), 80, 24);
    assert_eq!(grown.to_string(), fresh.to_string());
    assert!(!screen_text(buffer(&grown)).contains("too small"));
}

// ----- hostile and wide text ---------------------------------------------------------

#[test]
fn escapes_in_untrusted_text_are_shown_as_text() {
    for (w, h) in SIZES {
        let mut app = app();
        draw_frame(&mut app, w, h);
        // `'` makes it a substring match (the filter is fuzzy otherwise).
        app.run_command("filter 'hostile-input");
        assert_eq!(row_ids(&app), vec![EVIL_ID.to_string()]);
        let backend = draw_frame(&mut app, w, h);
        let buf = buffer(&backend);
        check_frame(buf, false, &format!("evil {w}x{h}"));
        let text = screen_text(buf);
        assert!(text.contains(r"evil\x1b[2J"), "{w}x{h}:\n{text}");
        if w >= 200 {
            // Every part of the name shows as text (where the pane wraps
            // it depends on the layout).
            for part in [r"evil\x1b[2Jname", r"\x1b]52;c;", r"\x07bell\x07"] {
                assert!(text.contains(part), "{w}x{h}: {part}\n{text}");
            }
            // The title's colour codes too.
            assert!(text.contains(r"\x1b[31mred\x1b[0m"), "{text}");
        }
        if w == 200 {
            insta::assert_snapshot!("hostile_name_200x50", backend.to_string());
        }
    }
}

#[test]
fn wide_characters_keep_the_columns_aligned() {
    let mut app = app();
    draw_frame(&mut app, 200, 50);
    app.run_command("sort id");
    press(&mut app, "g");
    let backend = draw_frame(&mut app, 200, 50);
    let buf = buffer(&backend);
    let header = row_with(buf, "OWNER").expect("header row");
    let owner_x = column_of(buf, header, "OWNER").expect("OWNER header");
    let state_x = column_of(buf, header, "STATE").expect("STATE header");
    let identity_x = column_of(buf, header, "IDENTITY").expect("IDENTITY header");
    let id_x = column_of(buf, header, "ID").expect("ID header");
    let rows = [
        ("CASE-0001", "identity"),         // ASCII
        ("CASE-0012", "決済チーム"),       // CJK identity and owner
        ("CASE-0015", "release-eng"),      // emoji first
        ("CASE-0023", "eng-productivity"), // emoji last
        ("CASE-0036", "数据平台"),         // CJK
        ("CASE-0017", "crm-platform"),     // accented
        ("CASE-0035", "équipe-paiements"),
    ];
    for (id, owner) in rows {
        // The queue row, not the panes beside it (which name the selected case).
        let y = (0..buf.area.height)
            .find(|&y| column_of(buf, y, id) == Some(id_x))
            .unwrap_or_else(|| panic!("{id} in the queue"));
        // Columns may truncate long owners: their start is what must line up.
        let owner_start: String = owner.chars().take(10).collect();
        assert_eq!(
            column_of(buf, y, &owner_start),
            Some(owner_x),
            "{id}: owner column moved:\n{}",
            row_text(buf, y)
        );
        let name = app
            .queue()
            .case(app.queue().find(id).expect("case"))
            .expect("case held")
            .identity
            .name
            .clone();
        let shown: String = name.chars().take(6).collect();
        assert_eq!(column_of(buf, y, &shown), Some(identity_x), "{id}");
        assert!(
            buf[(state_x, y)].symbol() != " ",
            "{id}: the state column is empty or shifted:\n{}",
            row_text(buf, y)
        );
    }
}

#[test]
fn mono_draws_no_colour_in_any_scenario() {
    // `snap` checks this on every frame; here also the overlays at the
    // smallest size, with the hostile case and a status message.
    let mut app = mono_app();
    for (w, h) in SIZES {
        draw_frame(&mut app, w, h);
        for keys in ["a", "\u{1b}", "e", "?", "5", "1", "s"] {
            match keys {
                "\u{1b}" => {
                    app.on_key(key(KeyCode::Esc));
                }
                k => press(&mut app, k),
            }
            check_frame(buffer(&draw_frame(&mut app, w, h)), true, keys);
            app.on_key(key(KeyCode::Esc));
        }
    }
    // The justification editor's placeholder and a Shift-selection are
    // drawn by the text area widget, whose defaults are colours.
    let mut app = mono_app();
    draw_frame(&mut app, 120, 40);
    select(&mut app, LOW);
    press(&mut app, "a");
    check_frame(buffer(&draw_frame(&mut app, 120, 40)), true, "placeholder");
    press(&mut app, "selected words");
    for _ in 0..5 {
        app.on_key(KeyEvent::new(KeyCode::Left, KeyModifiers::SHIFT));
    }
    let backend = draw_frame(&mut app, 120, 40);
    check_frame(buffer(&backend), true, "selection");
    // The selection is still visible, by reverse video.
    let y = row_with(buffer(&backend), "selected words").expect("the text");
    let x = column_of(buffer(&backend), y, "words").expect("the word");
    assert!(
        buffer(&backend)[(x, y)]
            .modifier
            .contains(Modifier::REVERSED)
    );
}

#[test]
fn rendering_is_deterministic() {
    for (w, h) in SIZES {
        let a = draw_frame(&mut app(), w, h).to_string();
        let b = draw_frame(&mut app(), w, h).to_string();
        assert_eq!(a, b);
    }
}

#[test]
fn the_cursor_stays_on_screen_when_the_terminal_shrinks() {
    let mut app = app();
    draw_frame(&mut app, 200, 50);
    select(&mut app, LOW); // row 38 of 51: on screen at 200x50 only
    for (w, h) in [(120, 40), (80, 24)] {
        let backend = draw_frame(&mut app, w, h);
        let buf = buffer(&backend);
        // The queue's row: the id in the ID column, not the panes beside.
        let id_x = column_of(buf, 2, "ID");
        let y = (0..buf.area.height).find(|&y| column_of(buf, y, LOW) == id_x);
        assert!(
            y.is_some(),
            "{w}x{h}: the selected {LOW} is not in the queue:\n{}",
            screen_text(buf)
        );
        // And it is the highlighted row.
        let y = y.unwrap_or_default();
        assert_ne!(
            buf[(1, y)].bg,
            Color::Reset,
            "{w}x{h}: {LOW} not highlighted"
        );
    }
    // Keys after the resize page from the new position.
    app.on_key(key(KeyCode::Char('k')));
    assert_eq!(selected_id(&app).as_deref(), Some("CASE-0036"));
    let buf = draw_frame(&mut app, 80, 24);
    assert!(row_with(buffer(&buf), "CASE-0036").is_some());
}

#[test]
fn the_filter_being_typed_is_visible_at_every_size() {
    for (w, h) in SIZES {
        let mut app = app();
        draw_frame(&mut app, w, h);
        press(&mut app, "/snowfl");
        let text = screen_text(buffer(&draw_frame(&mut app, w, h)));
        assert!(text.contains("/snowfl▏"), "{w}x{h}:\n{text}");
    }
    snap("filter_typing", 80, 24, |app| press(app, "/snowflake"));
}
