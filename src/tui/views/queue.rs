//! The view tabs and the queue (or evidence log) list. Only the rows in the
//! viewport are built; what the columns need from all cases is measured by
//! the queue model once per snapshot (`columns`).

mod columns;

use std::borrow::Cow;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use time::OffsetDateTime;

use crate::model::{CaseState, CaseStatus, rfc3339};
use crate::policy::{Tier, days_since};
use crate::text::sanitize;

use super::{WIDE, pane_block};
use crate::tui::app::{App, Input, Pane, UNKNOWN_OWNER, View};
use crate::tui::theme::Theme;
use columns::{Col, Column, fit_id};
// Cutting text to a width with `…` serves the status line too.
pub(super) use columns::{fit_end, fit_start};

pub fn tabs(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let t = &app.theme();
    let counts = app.counts();
    // Below 120 columns the brand goes and the labels shorten, so all five
    // views and their counts stay on screen.
    let wide = area.width >= 120;
    let mut spans = Vec::new();
    if wide {
        spans.push(Span::styled(" nhi-triage ", t.title));
    }
    for (i, v) in View::ALL.iter().enumerate() {
        let style = if *v == app.view() {
            t.tab_active
        } else {
            t.tab
        };
        let marker = if *v == app.view() { "▸" } else { " " };
        let label = if wide { v.title() } else { v.short_title() };
        spans.push(Span::styled(
            format!("{marker}{} {label} ({}) ", i + 1, counts[i]),
            style,
        ));
        if wide {
            spans.push(Span::raw(" "));
        }
    }
    spans.push(Span::styled(format!(" sort: {}", app.sort().name()), t.dim));
    match (&app.input(), app.filter().is_empty()) {
        (Input::Filter, _) => {
            spans.push(Span::styled("  /", t.key));
            spans.push(Span::styled(
                format!("{}▏", sanitize(app.filter())),
                t.input,
            ));
        }
        (_, false) => spans.push(Span::styled(
            format!("  /{}", sanitize(app.filter())),
            t.warning,
        )),
        _ => {}
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The queue's and the detail panes' areas in the side-by-side layout
/// (from [`WIDE`] columns): the evidence log's table needs ~70 columns to
/// show whole case ids and times; a queue view gets 44 %, 48 % from 160
/// columns, where the three panes still fit beside it.
pub fn side_by_side(view: View, area: Rect) -> [Rect; 2] {
    let share = match (view, area.width) {
        (View::Evidence, _) => 60,
        (_, w) if w >= 160 => 48,
        _ => 44,
    };
    Layout::horizontal([
        Constraint::Percentage(share),
        Constraint::Percentage(100 - share),
    ])
    .areas(area)
}

/// The width the columns are chosen for in a pane `inner` columns wide,
/// on a terminal `terminal` columns wide. Below [`WIDE`] the queue spans
/// the terminal, but only shows the columns it shows beside the detail
/// panes at [`WIDE`] (the extra room widens them): so a wider terminal
/// never shows fewer columns.
fn column_basis(view: View, inner: u16, terminal: u16) -> u16 {
    if terminal >= WIDE {
        return inner;
    }
    let [queue, _] = side_by_side(view, Rect::new(0, 0, WIDE, 1));
    inner.min(queue.width.saturating_sub(2))
}

/// Draws the list for the current view; returns how many rows fit.
pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) -> usize {
    if app.view() == View::Evidence {
        return evidence(frame, app, area);
    }
    let focused = app.focus() == Pane::Queue;
    let block = pane_block(app, app.view().title(), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height.saturating_sub(1) as usize; // one line of header
    let Some(list) = app.list() else {
        return height;
    };
    if list.rows.is_empty() {
        let text = if app.filter().is_empty() {
            format!("no {} cases", app.view().title().to_lowercase())
        } else {
            "no case matches the filter (Esc clears it)".to_string()
        };
        frame.render_widget(Paragraph::new(Line::styled(text, app.theme().dim)), inner);
        return height;
    }
    let basis = column_basis(app.view(), inner.width, frame.area().width);
    let columns = columns::layout(&app.queue().widths(app.view().index()), basis, inner.width);
    let header = Row::new(
        columns
            .iter()
            .map(|c| Cell::from(fit_end(c.title, c.width as usize).into_owned())),
    )
    .style(app.theme().header);
    let offset = visible_offset(list.offset, list.selected, list.rows.len(), height);
    let end = (offset + height).min(list.rows.len());
    let rows: Vec<Row> = list.rows[offset..end]
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let selected = offset + k == list.selected;
            // The selected row is one style end to end: its cells carry no
            // colours of their own (glyphs and words still say the tier
            // and the state), so no cell keeps the default background.
            let cells = columns
                .iter()
                .map(|c| cell(c, app, i as usize, (!selected).then_some(app.theme())));
            let row = Row::new(cells);
            if selected {
                row.style(if focused {
                    app.theme().selected
                } else {
                    app.theme()
                        .selected
                        .remove_modifier(ratatui::style::Modifier::BOLD)
                })
            } else {
                row
            }
        })
        .collect();
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|c| Constraint::Length(c.width))
        .collect();
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(columns::SPACING),
        inner,
    );
    height
}

/// The first row to draw: the stored offset, moved just enough to keep the
/// cursor on screen (the stored one was computed for the previous size, so
/// after the terminal shrinks it can leave the cursor below the last row).
fn visible_offset(offset: usize, selected: usize, len: usize, height: usize) -> usize {
    let height = height.max(1);
    let mut offset = offset.min(len.saturating_sub(1));
    if selected >= offset + height {
        offset = selected + 1 - height;
    }
    offset.min(selected)
}

pub fn tier_style(t: &Theme, tier: Tier) -> Style {
    match tier {
        Tier::Low => t.tier_low,
        Tier::Medium => t.tier_medium,
        Tier::High => t.tier_high,
    }
}

/// Tier as glyph + word: never colour alone.
pub fn tier_label(tier: Tier) -> &'static str {
    match tier {
        Tier::Low => "▽ low",
        Tier::Medium => "◇ med",
        Tier::High => "▲ HIGH",
    }
}

/// One cell of case `i`, cut to its column with `…`; styled by `theme`,
/// or plain (the row's style shows) when `theme` is `None`. Text that
/// fits and needs no escaping is borrowed, not copied.
fn cell<'a>(column: &Column, app: &'a App, i: usize, theme: Option<&Theme>) -> Cell<'a> {
    let width = column.width as usize;
    let c = app.queue().row(i);
    let now = app.queue().now;
    // Cut a (sanitised) text to the column, still borrowed when it fits.
    fn cut(text: Cow<'_, str>, width: usize) -> Cow<'_, str> {
        match text {
            Cow::Borrowed(b) => fit_end(b, width),
            Cow::Owned(o) => Cow::Owned(fit_end(&o, width).into_owned()),
        }
    }
    let styled = |text: Cow<'a, str>, style: Style| match theme {
        Some(_) => Cell::from(Span::styled(text, style)),
        None => Cell::from(text),
    };
    let base = theme.map_or(Style::default(), |t| t.base);
    match column.kind {
        Col::Marks => {
            let problems = c.problems > 0;
            let queued = app.queue().is_queued(i);
            if !problems && !queued {
                return Cell::from("  ");
            }
            let mark = |on: bool, glyph: &'static str, style: fn(&Theme) -> Style| match theme {
                Some(t) if on => Span::styled(glyph, style(t)),
                _ => Span::raw(if on { glyph } else { " " }),
            };
            Cell::from(Line::from(vec![
                mark(problems, "!", |t| t.warning),
                mark(queued, "↑", |t| t.key),
            ]))
        }
        Col::Id => Cell::from(match sanitize(c.id()) {
            Cow::Borrowed(id) => fit_id(id, app.queue().id_shared(i), width),
            Cow::Owned(id) => Cow::Owned(fit_id(&id, app.queue().id_shared(i), width).into_owned()),
        }),
        Col::Tier => {
            let tier = app.queue().tiers[i];
            let style = theme.map_or(base, |t| tier_style(t, tier));
            styled(fit_end(tier_label(tier), width), style)
        }
        Col::Rec => Cell::from(fit_end(app.queue().tiers[i].recommendation().name(), width)),
        Col::State => {
            let (text, style) = match theme {
                Some(t) => state_cell(app.queue().status(i), now, t),
                None => (state_text(app.queue().status(i), now), base),
            };
            styled(cut(Cow::Owned(text), width), style)
        }
        Col::Age => Cell::from(cut(
            Cow::Owned(format!("{}d", days_since(c.opened_at, now))),
            width,
        )),
        Col::Identity => Cell::from(cut(sanitize(c.name()), width)),
        Col::KindProvider => Cell::from(cut(
            Cow::Owned(format!("{}/{}", sanitize(c.kind()), sanitize(c.provider()))),
            width,
        )),
        Col::Owner => match c.owner_team() {
            Some(team) => Cell::from(cut(sanitize(team), width)),
            None => styled(
                fit_end(UNKNOWN_OWNER, width),
                theme.map_or(base, |t| t.warning),
            ),
        },
    }
}

/// The state in a few characters, with time left for quarantines, and its
/// style (an expired quarantine is a warning).
pub fn state_cell(s: &CaseStatus, now: OffsetDateTime, t: &Theme) -> (String, Style) {
    let style = match &s.state {
        CaseState::Quarantined { until } if *until <= now => t.warning,
        _ => t.base,
    };
    (state_text(s, now), style)
}

/// The state in a few characters: `quar 1d 6h`, `⚠ EXPIRED`, `esc→team`,
/// `pending` (the queue model measures the same texts).
fn state_text(s: &CaseStatus, now: OffsetDateTime) -> String {
    match &s.state {
        CaseState::Quarantined { until } if *until <= now => "⚠ EXPIRED".into(),
        CaseState::Quarantined { until } => format!("quar {}", time_left(*until - now)),
        CaseState::Escalated { to } => format!("esc→{}", sanitize(to)),
        other => other.name().to_string(),
    }
}

/// "3d 4h", "5h 12m", "12m".
pub fn time_left(d: time::Duration) -> String {
    let mins = d.whole_minutes().max(0);
    let (days, hours, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {m}m")
    } else {
        format!("{m}m")
    }
}

fn evidence(frame: &mut Frame<'_>, app: &App, area: Rect) -> usize {
    let focused = app.focus() == Pane::Queue;
    let title = match &app.verify() {
        Some(r) if r.is_ok() => format!(
            "Evidence log (newest first) — chain ✓ intact, {} records",
            r.records
        ),
        Some(r) => format!("Evidence log — ✗ {}", r.summary()),
        None => "Evidence log (newest first) — verifying…".to_string(),
    };
    let block = pane_block(app, &title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height.saturating_sub(1) as usize;
    let n = app.records().len();
    if n == 0 {
        frame.render_widget(
            Paragraph::new(Line::styled("no decisions recorded yet", app.theme().dim)),
            inner,
        );
        return height;
    }
    let offset = visible_offset(app.evidence().offset, app.evidence().selected, n, height);
    let end = (offset + height).min(n);
    let rows: Vec<Row> = (offset..end)
        .map(|k| {
            let r = &app.records()[n - 1 - k];
            let row = Row::new(vec![
                Cell::from(format!("#{}", r.seq)),
                Cell::from(rfc3339(r.ts).chars().take(16).collect::<String>()),
                Cell::from(sanitize(&r.reviewer.name).into_owned()),
                Cell::from(r.action.name()),
                Cell::from(sanitize(&r.case_id).into_owned()),
                Cell::from(format!(
                    "{} → {}",
                    r.state_before.name(),
                    r.state_after.name()
                )),
            ]);
            if k == app.evidence().selected {
                row.style(app.theme().selected)
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(vec![
        "SEQ",
        "TIME (UTC)",
        "REVIEWER",
        "ACTION",
        "CASE",
        "STATE",
    ])
    .style(app.theme().header);
    let widths = [
        Constraint::Length(6),
        Constraint::Length(16),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
    height
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use time::macros::datetime;

    use crate::model::{LoadReport, Reviewer, parse_jsonl};
    use crate::store::Snapshot;
    use crate::tui::app::App;
    use crate::tui::theme::Theme;

    /// The first queue row's text at `w`x24.
    fn first_row(app: &App, w: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, 24)).expect("terminal");
        terminal
            .draw(|f| {
                super::draw(f, app, f.area());
            })
            .expect("draw");
        let buf = terminal.backend().buffer();
        (0..w).map(|x| buf[(x, 2)].symbol()).collect()
    }

    #[test]
    fn a_case_with_a_queued_decision_is_marked_by_a_glyph() {
        let now = datetime!(2026-11-27 12:00 UTC);
        let text = crate::demo::rebased_cases(now).expect("demo cases");
        let mut report = LoadReport::default();
        parse_jsonl(Path::new("demo"), &text, &mut report);
        let snapshot = Snapshot {
            cases: Arc::new(report.cases),
            cases_generation: 0,
            statuses: Default::default(),
            rows: None,
            problems: Vec::new(),
            evidence: Default::default(),
            policy: Default::default(),
        };
        let reviewer = Reviewer {
            name: "alice".into(),
            host: "ws".into(),
            via: "local".into(),
            os_account: None,
        };
        let mut app = App::new(
            snapshot,
            Vec::new(),
            Theme::mono(),
            "t".into(),
            reviewer,
            now,
        );
        let Some(first) = app.selected_case() else {
            panic!("no case selected");
        };
        for w in [80, 200] {
            assert!(
                first_row(&app, w).starts_with("│  "),
                "{}",
                first_row(&app, w)
            );
        }
        let id = app.queue().row(first).id().to_string();
        let waiting = crate::store::QueuedEntry {
            case_id: id,
            action: crate::model::Action::Quarantine,
            queued_at: now,
            idempotency_key: "k".into(),
            reason: "offline".into(),
        };
        app.update(crate::tui::app::AppEvent::Outbox(
            crate::store::OutboxSummary {
                queued: vec![waiting],
                ..Default::default()
            },
        ));
        for w in [80, 200] {
            let row = first_row(&app, w);
            assert!(row.starts_with("│ ↑"), "{w}: {row}");
        }
    }
}
