//! Drawing: a pure function of the app state into a frame. Only what is on
//! screen is built; every untrusted string goes through `sanitize` first.

mod detail;
mod overlay;
mod queue;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::app::{App, Input, Pane, Tone, View, plural};
use super::keymap::{self, BINDINGS};
use crate::store::Link;

/// The smallest terminal the console draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
/// From this width the three panes sit beside the queue.
pub const WIDE: u16 = 120;

/// Draws the whole screen; returns the number of queue rows visible (for
/// paging).
pub fn draw(frame: &mut Frame<'_>, app: &App) -> usize {
    let area = frame.area();
    // Painting every cell costs a tenth of a frame: only when the theme
    // has a base colour of its own.
    let plain =
        |c: Option<ratatui::style::Color>| matches!(c, None | Some(ratatui::style::Color::Reset));
    let base = app.theme.base;
    if !(plain(base.fg) && plain(base.bg) && base.add_modifier.is_empty()) {
        frame.render_widget(Block::default().style(app.theme.base), area);
    }
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, app, area);
        return 0;
    }
    let [tabs, main, context, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(10),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    queue::tabs(frame, app, tabs);
    let visible = if area.width >= WIDE {
        wide(frame, app, main)
    } else {
        narrow(frame, app, main)
    };
    context_line(frame, app, context);
    status_bar(frame, app, status);
    overlay::draw(frame, app, area);
    visible
}

fn wide(frame: &mut Frame<'_>, app: &App, area: Rect) -> usize {
    // The evidence log's table needs ~70 columns to show whole case ids
    // and times; the record beside it wraps.
    // From 160 columns the queue can show all eight of its columns and the
    // three panes still fit side by side.
    let queue_share = match (app.view, area.width) {
        (View::Evidence, _) => 60,
        (_, w) if w >= 160 => 48,
        _ => 44,
    };
    let [left, right] = Layout::horizontal([
        Constraint::Percentage(queue_share),
        Constraint::Percentage(100 - queue_share),
    ])
    .areas(area);
    let visible = queue::draw(frame, app, left);
    if app.view == View::Evidence {
        detail::record(frame, app, right);
        return visible;
    }
    if right.width >= 96 {
        let [own, tree, ready] = Layout::horizontal([
            Constraint::Percentage(30),
            Constraint::Percentage(33),
            Constraint::Percentage(37),
        ])
        .areas(right);
        detail::ownership(frame, app, own);
        detail::tree(frame, app, tree);
        detail::readiness(frame, app, ready);
    } else {
        let [col1, ready] =
            Layout::horizontal([Constraint::Percentage(48), Constraint::Percentage(52)])
                .areas(right);
        let [own, tree] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(col1);
        detail::ownership(frame, app, own);
        detail::tree(frame, app, tree);
        detail::readiness(frame, app, ready);
    }
    visible
}

fn narrow(frame: &mut Frame<'_>, app: &App, area: Rect) -> usize {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let visible = queue::draw(frame, app, top);
    if app.view == View::Evidence {
        detail::record(frame, app, bottom);
        return visible;
    }
    let [tabs, pane] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(bottom);
    let mut spans = vec![Span::raw(" ")];
    for p in [Pane::Ownership, Pane::Tree, Pane::Readiness] {
        let style = if p == app.detail_tab {
            app.theme.tab_active
        } else {
            app.theme.tab
        };
        let marker = if p == app.detail_tab { "▸" } else { " " };
        spans.push(Span::styled(format!("{marker}{} ", p.title()), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled("(Tab switches)", app.theme.dim));
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
    match app.detail_tab {
        Pane::Ownership => detail::ownership(frame, app, pane),
        Pane::Tree => detail::tree(frame, app, pane),
        _ => detail::readiness(frame, app, pane),
    }
    visible
}

fn too_small(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let text = vec![
        Line::styled("terminal too small", app.theme.warning),
        Line::raw(format!(
            "{}x{} — needs at least {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::styled("enlarge the window (Q quits)", app.theme.dim),
    ];
    let h = (text.len() as u16).min(area.height);
    let y = area.y + area.height.saturating_sub(h) / 2;
    frame.render_widget(
        Paragraph::new(text)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(Wrap { trim: true }),
        Rect {
            y,
            height: h,
            ..area
        },
    );
}

/// The keys that work here, always on screen.
fn context_line(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let t = &app.theme;
    let pairs: Vec<(String, String)> = if app.dialog.is_some() {
        vec![
            ("Tab".into(), "next field".into()),
            ("Ctrl-S".into(), "confirm".into()),
            ("Esc".into(), "cancel".into()),
            ("Enter".into(), "new line".into()),
        ]
    } else if app.refusal.is_some() {
        let mut v: Vec<(String, String)> = app
            .refusal
            .iter()
            .flat_map(|r| r.alternatives.iter())
            .filter_map(|a| {
                BINDINGS
                    .iter()
                    .find(|b| b.action == keymap::KeyAction::Decide(*a))
                    .map(|b| (keymap::keys_label(b), a.name().to_string()))
            })
            .collect();
        v.push(("Esc".into(), "back".into()));
        v
    } else if app.help.is_some() {
        vec![
            ("j/k".into(), "scroll".into()),
            ("Esc".into(), "close help".into()),
        ]
    } else {
        match &app.input {
            Input::Filter => vec![
                ("type".into(), "to filter".into()),
                ("Enter".into(), "keep".into()),
                ("Esc".into(), "clear".into()),
            ],
            Input::Command(_) => vec![
                ("Enter".into(), "run".into()),
                ("Esc".into(), "cancel".into()),
            ],
            Input::Normal => {
                let ctx = app.context();
                let mut v: Vec<(String, String)> = vec![("j/k".into(), "move".into())];
                v.extend(
                    BINDINGS
                        .iter()
                        .filter(|b| {
                            b.short && (b.context == ctx || b.context == keymap::Context::Global)
                        })
                        .map(|b| (keymap::keys_label(b), short_help(b.help))),
                );
                v.push(("1-5".into(), "views".into()));
                v
            }
        }
    };
    let mut spans = Vec::new();
    for (k, what) in pairs {
        spans.push(Span::styled(k, t.key));
        spans.push(Span::styled(format!(" {what}  "), t.dim));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn short_help(help: &str) -> String {
    help.split([' ', ':', '('])
        .next()
        .unwrap_or(help)
        .to_string()
}

fn status_bar(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let t = &app.theme;
    let ev = &app.queue.snapshot.evidence;
    let evidence = match (&app.verify, ev.is_ok()) {
        (_, false) => Span::styled(
            " evidence BROKEN — run `nhi-triage evidence verify` ",
            t.error,
        ),
        (Some(r), true) if !r.is_ok() => Span::styled(" evidence BROKEN ", t.error),
        // The count verified may lag the log by a record or two while a
        // verification runs; say so rather than claim more than was checked.
        (Some(r), true) if r.records as usize == app.records.len() => {
            Span::styled(format!(" evidence ✓ {} records ", r.records), t.ok)
        }
        (Some(_), true) => Span::styled(
            format!(" evidence {} records (verifying…) ", app.records.len()),
            t.dim,
        ),
        (None, true) => Span::styled(format!(" evidence {} records ", ev.records), t.dim),
    };
    let mut left = vec![
        Span::styled(
            format!(" {} ", crate::text::sanitize(&app.store_label)),
            t.title,
        ),
        evidence,
    ];
    if !app.queue.snapshot.problems.is_empty() {
        left.push(Span::styled(
            format!(
                " {} input problems (nhi-triage list shows them) ",
                app.queue.snapshot.problems.len()
            ),
            t.warning,
        ));
    }
    if app.link.link != Link::Local {
        link_spans(app, area.width, &mut left);
    }
    let message = match (&app.input, &app.message) {
        (Input::Command(line), _) => {
            Span::styled(format!(":{}▏", crate::text::sanitize(line)), t.input)
        }
        // Below WIDE the view tabs fill the top line and clip the filter
        // prompt: show what is being typed here instead.
        (Input::Filter, _) if area.width < WIDE => {
            Span::styled(format!("/{}▏", crate::text::sanitize(&app.filter)), t.input)
        }
        (_, Some(m)) => Span::styled(
            format!("{} ", m.text),
            match m.tone {
                Tone::Info => t.base,
                Tone::Ok => t.ok,
                Tone::Warn => t.warning,
                Tone::Error => t.error,
            },
        ),
        _ => Span::styled(
            format!("reviewer {} ", crate::text::sanitize(&app.reviewer.name)),
            t.dim,
        ),
    };
    let left_width: usize = left.iter().map(|s| s.width()).sum();
    let [l, r] =
        Layout::horizontal([Constraint::Length(left_width as u16), Constraint::Min(1)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(left)), l);
    frame.render_widget(
        Paragraph::new(Line::from(message)).alignment(ratatui::layout::Alignment::Right),
        r,
    );
}

/// A remote store's connection and outbox, after the store label: always
/// in words (never colour alone). When the line is tight the store label and
/// then the evidence summary give way, then the loading progress; the outbox
/// counts never do.
fn link_spans(app: &App, width: u16, left: &mut Vec<Span<'static>>) {
    let t = &app.theme;
    // Level 0 says the most; each level after it is shorter.
    let build = |level: u8| -> Vec<Span<'static>> {
        let detail = |e: &str| {
            if level == 0 {
                let e = crate::text::sanitize(e);
                let short: String = e.chars().take(40).collect();
                let more = if e.chars().count() > 40 { "…" } else { "" };
                format!(": {short}{more}")
            } else {
                String::new()
            }
        };
        let mut spans = vec![match &app.link.link {
            Link::Local => return Vec::new(),
            Link::Connected => Span::styled(" connected ", t.ok),
            Link::Retrying { attempt, error } => Span::styled(
                format!(" reconnecting (try {attempt}){} ", detail(error)),
                t.warning,
            ),
            Link::Offline { error } => Span::styled(format!(" OFFLINE{} ", detail(error)), t.error),
        }];
        // Cases still arriving: how far, and a page that failed (it is
        // tried again until it arrives). Level 3: no room beside the outbox
        // counts, which come first.
        if let Some(l) = app.link.loading.as_ref().filter(|_| level < 3) {
            let counts = format!("{}/{}", l.loaded, l.total);
            spans.push(match (&l.failed, level) {
                (None, 0 | 1) => Span::styled(format!(" loading cases {counts} "), t.dim),
                (None, _) => Span::styled(format!(" loading {counts} "), t.dim),
                (Some((n, e)), 0 | 1) => Span::styled(
                    format!(
                        " loading cases {counts}: a page failed, retrying (try {n}){} ",
                        detail(e)
                    ),
                    t.warning,
                ),
                (Some(_), _) => Span::styled(format!(" loading {counts}, retrying "), t.warning),
            });
        }
        if app.link.outbox_waiting > 0 {
            spans.push(Span::styled(
                format!(
                    " {} to sync ",
                    plural(
                        app.link.outbox_waiting,
                        "decision waiting",
                        "decisions waiting"
                    )
                ),
                t.warning,
            ));
        }
        if app.link.outbox_rejected > 0 {
            let text = if level < 2 {
                format!(
                    " {} refused by the server — nhi-triage outbox list ",
                    app.link.outbox_rejected
                )
            } else {
                format!(
                    " {} refused: nhi-triage outbox list ",
                    app.link.outbox_rejected
                )
            };
            spans.push(Span::styled(text, t.error));
        }
        spans
    };
    let width_of = |s: &[Span<'_>]| s.iter().map(|x| x.width()).sum::<usize>();
    // Leave about a third of the line for messages.
    let budget = (width as usize * 2 / 3).max(width.saturating_sub(20) as usize / 2);
    let mut level = 0;
    let mut spans = build(level);
    while level < 2 && width_of(&spans) > budget {
        level += 1;
        spans = build(level);
    }
    if width_of(&spans) > width as usize {
        spans = build(3);
    }
    // Then the store label gives way, then the evidence summary.
    while width_of(left) + width_of(&spans) > budget && !left.is_empty() {
        left.remove(0);
    }
    left.extend(spans);
}

/// A bordered block, highlighted when focused.
pub(crate) fn pane_block<'a>(app: &App, title: &'a str, focused: bool) -> Block<'a> {
    let (border, title_style) = if focused {
        (app.theme.border_focus, app.theme.border_focus)
    } else {
        (app.theme.border, app.theme.title)
    };
    let marker = if focused { "▶ " } else { "" };
    Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(format!(" {marker}{title} "), title_style))
}
