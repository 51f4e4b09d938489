//! The view tabs and the queue (or evidence log) list. Only the rows in the
//! viewport are built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use time::OffsetDateTime;

use crate::model::{Case, CaseState, CaseStatus, rfc3339};
use crate::policy::{Tier, days_since};
use crate::text::sanitize;

use super::pane_block;
use crate::tui::app::{App, Input, Pane, View};
use crate::tui::theme::Theme;

pub fn tabs(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let t = &app.theme;
    let counts = app.counts();
    // Below 120 columns the brand goes and the labels shorten, so all five
    // views and their counts stay on screen.
    let wide = area.width >= 120;
    let mut spans = Vec::new();
    if wide {
        spans.push(Span::styled(" nhi-triage ", t.title));
    }
    for (i, v) in View::ALL.iter().enumerate() {
        let style = if *v == app.view { t.tab_active } else { t.tab };
        let marker = if *v == app.view { "▸" } else { " " };
        let label = if wide { v.title() } else { v.short_title() };
        spans.push(Span::styled(
            format!("{marker}{} {label} ({}) ", i + 1, counts[i]),
            style,
        ));
        if wide {
            spans.push(Span::raw(" "));
        }
    }
    spans.push(Span::styled(format!(" sort: {}", app.sort.name()), t.dim));
    match (&app.input, app.filter.is_empty()) {
        (Input::Filter, _) => {
            spans.push(Span::styled("  /", t.key));
            spans.push(Span::styled(format!("{}▏", sanitize(&app.filter)), t.input));
        }
        (_, false) => spans.push(Span::styled(
            format!("  /{}", sanitize(&app.filter)),
            t.warning,
        )),
        _ => {}
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Draws the list for the current view; returns how many rows fit.
pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) -> usize {
    if app.view == View::Evidence {
        return evidence(frame, app, area);
    }
    let focused = app.focus == Pane::Queue;
    let block = pane_block(app, app.view.title(), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height.saturating_sub(1) as usize; // one line of header
    let Some(list) = app.list() else {
        return height;
    };
    if list.rows.is_empty() {
        let text = if app.filter.is_empty() {
            format!("no {} cases", app.view.title().to_lowercase())
        } else {
            "no case matches the filter (Esc clears it)".to_string()
        };
        frame.render_widget(Paragraph::new(Line::styled(text, app.theme.dim)), inner);
        return height;
    }
    let columns = columns_for(inner.width);
    let header = Row::new(columns.iter().map(|c| Cell::from(c.title))).style(app.theme.header);
    let offset = visible_offset(list.offset, list.selected, list.rows.len(), height);
    let end = (offset + height).min(list.rows.len());
    let now = app.queue.now;
    let rows: Vec<Row> = list.rows[offset..end]
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let i = i as usize;
            let selected = offset + k == list.selected;
            let row = Row::new(columns.iter().map(|c| {
                cell(
                    c.kind,
                    app.queue.case(i),
                    &app.queue.statuses[i],
                    app.queue.tiers[i],
                    now,
                    &app.theme,
                )
            }));
            if selected {
                row.style(if focused {
                    app.theme.selected
                } else {
                    app.theme
                        .selected
                        .remove_modifier(ratatui::style::Modifier::BOLD)
                })
            } else {
                row
            }
        })
        .collect();
    let widths: Vec<Constraint> = columns.iter().map(|c| c.width).collect();
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Id,
    Tier,
    Rec,
    State,
    Age,
    Identity,
    KindProvider,
    Owner,
}

struct Column {
    kind: Col,
    title: &'static str,
    width: Constraint,
}

/// The columns that fit, most important first kept.
fn columns_for(width: u16) -> Vec<Column> {
    use Col::*;
    let all = [
        (Id, "ID", 10u16, 0u8),
        (Tier, "TIER", 6, 0),
        (Identity, "IDENTITY", 16, 0),
        (State, "STATE", 12, 1),
        (Rec, "RECOMMEND", 10, 2),
        (Owner, "OWNER", 12, 3),
        (Age, "AGE", 5, 4),
        (KindProvider, "KIND/PROVIDER", 13, 5),
    ];
    let mut chosen: Vec<_> = all.iter().filter(|c| c.3 == 0).collect();
    for prio in 1..=5 {
        let used: u16 = chosen.iter().map(|c| c.2 + 1).sum();
        if let Some(c) = all.iter().find(|c| c.3 == prio)
            && used + c.2 < width
        {
            chosen.push(c);
        }
    }
    let order = [Id, Tier, Rec, State, Age, Identity, KindProvider, Owner];
    chosen.sort_by_key(|c| order.iter().position(|o| *o == c.0));
    chosen
        .into_iter()
        .map(|&(kind, title, w, _)| Column {
            kind,
            title,
            width: match kind {
                Identity | KindProvider | Owner => Constraint::Min(w),
                _ => Constraint::Length(w),
            },
        })
        .collect()
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

fn cell(
    col: Col,
    c: &Case,
    s: &CaseStatus,
    tier: Tier,
    now: OffsetDateTime,
    t: &Theme,
) -> Cell<'static> {
    match col {
        Col::Id => Cell::from(sanitize(&c.id).into_owned()),
        Col::Tier => Cell::from(Span::styled(tier_label(tier), tier_style(t, tier))),
        Col::Rec => Cell::from(tier.recommendation().name()),
        Col::State => {
            let (text, style) = state_cell(s, now, t);
            Cell::from(Span::styled(text, style))
        }
        Col::Age => Cell::from(format!("{}d", days_since(c.opened_at, now))),
        Col::Identity => Cell::from(sanitize(&c.identity.name).into_owned()),
        Col::KindProvider => Cell::from(format!(
            "{}/{}",
            sanitize(&c.identity.kind),
            sanitize(&c.identity.provider)
        )),
        Col::Owner => match c.owner_team() {
            Some(team) => Cell::from(sanitize(team).into_owned()),
            None => Cell::from(Span::styled("(unknown)", t.warning)),
        },
    }
}

/// The state in a few characters, with time left for quarantines.
pub fn state_cell(s: &CaseStatus, now: OffsetDateTime, t: &Theme) -> (String, Style) {
    match &s.state {
        CaseState::Quarantined { until } if *until <= now => ("⚠ EXPIRED".into(), t.warning),
        CaseState::Quarantined { until } => (format!("quar {}", time_left(*until - now)), t.base),
        CaseState::Escalated { to } => (format!("esc→{}", sanitize(to)), t.base),
        other => (other.name().to_string(), t.base),
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
    let focused = app.focus == Pane::Queue;
    let title = match &app.verify {
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
    let n = app.records.len();
    if n == 0 {
        frame.render_widget(
            Paragraph::new(Line::styled("no decisions recorded yet", app.theme.dim)),
            inner,
        );
        return height;
    }
    let offset = visible_offset(app.evidence.offset, app.evidence.selected, n, height);
    let end = (offset + height).min(n);
    let rows: Vec<Row> = (offset..end)
        .map(|k| {
            let r = &app.records[n - 1 - k];
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
            if k == app.evidence.selected {
                row.style(app.theme.selected)
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
    .style(app.theme.header);
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
