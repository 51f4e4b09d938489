//! Reading the queue (issue 8, item 6): columns sized from their content
//! and the terminal and cut with `…`, never fewer columns on a wider
//! terminal, ids that stay distinguishable, the filter ranked by match
//! quality with the selection kept on its case, a selected row in one
//! style end to end, and the problem marker.

use crate::common_tui;

use std::sync::Arc;

use common_tui::*;
use nhi_triage::model::{Case, CaseProblem};
use nhi_triage::tui::app::{App, AppEvent, View};
use nhi_triage::tui::theme::{Theme, built_in_names};
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyCode;
use unicode_width::UnicodeWidthStr;

/// One frame, as the runtime draws it (the app learns what was drawn).
fn render(app: &mut App, w: u16, h: u16) -> Buffer {
    draw_frame(app, w, h).buffer().clone()
}

/// The queue pane's part of row `y`: between its left border and the next
/// vertical border.
fn queue_part(buf: &Buffer, y: u16) -> String {
    let text = row_text(buf, y);
    let inner = text.strip_prefix('│').unwrap_or(&text);
    inner.split('│').next().unwrap_or("").to_string()
}

/// The queue's header row (the line under its top border).
const HEADER_Y: u16 = 2;

/// The column titles the queue shows (the marker column has none).
fn titles(buf: &Buffer) -> Vec<String> {
    queue_part(buf, HEADER_Y)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The queue pane's row showing case `id` (by its visible id text).
fn row_of(buf: &Buffer, needle: &str) -> Option<String> {
    (HEADER_Y + 1..buf.area.height)
        .map(|y| queue_part(buf, y))
        .find(|t| t.contains(needle))
}

/// The demo cases plus `extra`, in a console at `NOW`.
fn app_with_cases(extra: Vec<Case>, theme: Theme) -> App {
    let mut cases = cases();
    cases.extend(extra);
    let records = records();
    let report = verify_report(&records);
    let mut app = App::new(
        snapshot_with(Arc::new(cases), statuses()),
        records,
        theme,
        "local store /demo".into(),
        reviewer("alice"),
        NOW,
    );
    app.update(AppEvent::Verified(report));
    app
}

/// A copy of demo case CASE-0021 with a new id and identity name.
fn case_like(id: &str, name: &str) -> Case {
    let mut c = cases()
        .into_iter()
        .find(|c| c.id == "CASE-0021")
        .expect("CASE-0021 in the demo");
    c.id = id.into();
    c.identity.id = format!("test:{id}");
    c.identity.name = name.into();
    c
}

fn dark() -> Theme {
    Theme::load("dark").expect("dark theme")
}

// ----- columns ------------------------------------------------------------

#[test]
fn long_identity_names_are_cut_with_an_ellipsis_at_every_width() {
    let name = "svc-quarterly-revenue-reconciliation-export-to-the-finance-warehouse";
    let mut app = app_with_cases(
        vec![
            case_like("CASE-0100", name),
            case_like("CASE-0101", "svc-short"),
        ],
        dark(),
    );
    type_str(&mut app, "/CASE-010\n");
    for (w, h) in [(80, 24), (120, 40), (160, 40), (200, 50)] {
        let buf = render(&mut app, w, h);
        let row = row_of(&buf, "CASE-0100").expect("the long name is listed");
        let shown = row
            .split_whitespace()
            .find(|t| t.starts_with("svc-q"))
            .unwrap_or_default();
        assert!(shown.ends_with('…'), "{w}: a cut name ends in …: {row}");
        let kept = shown.trim_end_matches('…');
        assert!(name.starts_with(kept), "{w}: {shown}");
        if w < 120 {
            // The queue spans the terminal: room for more than 16 columns.
            assert!(kept.width() > 16, "{w}: {row}");
        }
        assert!(
            row_of(&buf, "CASE-0101").is_some_and(|r| r.contains("svc-short ")),
            "{w}: a short name stays whole"
        );
    }
}

#[test]
fn a_wider_terminal_never_shows_fewer_queue_columns() {
    let mut app = app_with_cases(Vec::new(), dark());
    let mut most = (0, 0);
    for w in 80..=200 {
        let buf = render(&mut app, w, 40);
        let shown = titles(&buf);
        assert!(
            shown.len() >= most.1,
            "{w} columns show {} ({shown:?}), {} showed {}",
            shown.len(),
            most.0,
            most.1
        );
        if shown.len() > most.1 {
            most = (w, shown.len());
        }
    }
    for w in [120, 140, 159] {
        let at_80 = titles(&render(&mut app, 80, 24)).len();
        let here = titles(&render(&mut app, w, 40)).len();
        assert!(here >= at_80, "{w}: {here} < {at_80} at 80");
    }
    // At 200 every column is there.
    let all = titles(&render(&mut app, 200, 50));
    for t in [
        "ID",
        "TIER",
        "RECOMMEND",
        "STATE",
        "AGE",
        "IDENTITY",
        "OWNER",
    ] {
        assert!(all.iter().any(|s| s == t), "{t} missing at 200: {all:?}");
    }
}

#[test]
fn ids_sharing_a_long_prefix_stay_distinguishable_at_80_columns() {
    let mut app = app_with_cases(
        vec![
            case_like("prod-payments-svc-000123", "payments-a"),
            case_like("prod-payments-svc-000124", "payments-b"),
        ],
        dark(),
    );
    type_str(&mut app, "/prod-payments\n");
    for (w, h) in [(80, 24), (120, 40)] {
        let buf = render(&mut app, w, h);
        let a = row_of(&buf, "payments-a").expect("first case listed");
        let b = row_of(&buf, "payments-b").expect("second case listed");
        let id = |row: &str| row.split_whitespace().next().unwrap_or("").to_string();
        assert!(id(&a).ends_with("000123"), "{w}: {a}");
        assert!(id(&b).ends_with("000124"), "{w}: {b}");
        assert_ne!(id(&a), id(&b));
    }
}

// ----- the filter ------------------------------------------------------------

#[test]
fn the_filter_ranks_contiguous_matches_first() {
    let mut app = app_with_cases(Vec::new(), dark());
    type_str(&mut app, "/okta");
    let ids = row_ids(&app);
    assert!(ids.len() > 1, "loose matches are still listed: {ids:?}");
    let first = app
        .queue()
        .case(app.list().expect("a queue view").rows[0] as usize)
        .expect("case held");
    assert!(
        first.identity.name.contains("okta") || first.identity.provider == "okta",
        "an Okta case first, not {} ({}/{}): {ids:?}",
        first.id,
        first.identity.name,
        first.identity.provider
    );
}

#[test]
fn the_selection_stays_on_its_case_while_the_filter_is_typed() {
    let mut app = app_with_cases(Vec::new(), dark());
    render(&mut app, 120, 40);
    let okta = row_ids(&app)
        .into_iter()
        .find(|id| {
            let i = app.queue().find(id).expect("listed case");
            app.queue().row(i).name().contains("okta")
        })
        .expect("an okta case in Pending");
    select(&mut app, &okta);
    let start = app.list().expect("queue view").selected;
    assert!(start > 0, "the okta case is not the top row unfiltered");
    app.update(AppEvent::Key(ch('/')));
    let mut positions = Vec::new();
    for c in "okta".chars() {
        app.update(AppEvent::Key(ch(c)));
        assert_eq!(
            selected_id(&app).as_deref(),
            Some(okta.as_str()),
            "after {c:?}"
        );
        positions.push(app.list().expect("queue view").selected);
    }
    // Filtered and ranked, the case moved rows and the cursor went with it.
    assert!(
        positions.iter().any(|&p| p != start),
        "{start} {positions:?}"
    );
    app.update(AppEvent::Key(key(KeyCode::Esc)));
    assert_eq!(
        selected_id(&app).as_deref(),
        Some(okta.as_str()),
        "after Esc"
    );
    assert_eq!(app.list().expect("queue view").selected, start);
}

#[test]
fn the_selection_stays_on_its_case_when_the_cases_reload() {
    let mut app = app_with_cases(Vec::new(), dark());
    render(&mut app, 120, 40);
    select(&mut app, "CASE-0021");
    // The reload brings a new case file that sorts first: every case moves
    // one index down in the case list.
    let mut cases = vec![case_like("AAA-0001", "new-first-case")];
    cases.extend(app.queue().snapshot.cases.iter().cloned());
    let snap = snapshot_with(Arc::new(cases), statuses());
    app.update(AppEvent::Snapshot {
        snapshot: Box::new(snap),
        records: Vec::new(),
        now: NOW,
    });
    assert_eq!(selected_id(&app).as_deref(), Some("CASE-0021"));
}

// ----- style and markers ---------------------------------------------------------

#[test]
fn the_selected_row_takes_the_selection_style_in_every_cell_and_theme() {
    for name in built_in_names() {
        let theme = Theme::load(name).expect("built-in theme");
        let selected = theme.selected;
        let mut app = app_with_cases(Vec::new(), theme);
        let buf = render(&mut app, 200, 50);
        // The first queue row is selected: every cell between the pane's
        // borders carries the selection's colours.
        let y = HEADER_Y + 1;
        let right = (1..buf.area.width)
            .find(|&x| buf[(x, y)].symbol() == "│")
            .expect("the queue pane's right border");
        for x in 1..right {
            let cell = &buf[(x, y)];
            let want_fg = selected.fg.unwrap_or(ratatui::style::Color::Reset);
            let want_bg = selected.bg.unwrap_or(ratatui::style::Color::Reset);
            assert_eq!(
                (cell.fg, cell.bg),
                (want_fg, want_bg),
                "{name}: cell ({x},{y}) {:?} of {:?}",
                cell.symbol(),
                queue_part(&buf, y)
            );
            assert!(
                cell.modifier.contains(selected.add_modifier),
                "{name}: ({x},{y}) lost the selection's modifiers"
            );
        }
    }
}

#[test]
fn a_case_with_problems_is_marked_in_its_row_by_a_glyph() {
    let mut flawed = case_like("CASE-0101", "flawed-case");
    flawed.problems.push(CaseProblem {
        path: "finding.severity".into(),
        value: Some("HIGHEST".into()),
        message: "is not a severity; read as unknown".into(),
    });
    let mut app = app_with_cases(
        vec![flawed, case_like("CASE-0102", "clean-case")],
        Theme::mono(),
    );
    type_str(&mut app, "/CASE-010\n");
    for (w, h) in [(80, 24), (200, 50)] {
        let buf = render(&mut app, w, h);
        let flawed = row_of(&buf, "CASE-0101").expect("flawed case listed");
        let clean = row_of(&buf, "CASE-0102").expect("clean case listed");
        assert!(flawed.starts_with('!'), "{w}: {flawed}");
        assert!(!clean.starts_with('!'), "{w}: {clean}");
    }
    assert_eq!(app.view(), View::Pending);
}
