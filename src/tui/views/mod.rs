//! Drawing: a pure function of the app state into a frame. Only what is on
//! screen is built; every untrusted string goes through `sanitize` first.

mod detail;
mod overlay;
mod provenance;
mod queue;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::app::{App, Drawn, Input, Mode, Pane, Tone, View, plural};
use super::keymap::{self, BINDINGS};
use crate::store::Link;

/// The smallest terminal the console draws in.
pub const MIN_WIDTH: u16 = 80;
/// The fewest rows the console draws in.
pub const MIN_HEIGHT: u16 = 24;
/// From this width the three panes sit beside the queue.
pub const WIDE: u16 = 120;

/// Draws the whole screen; returns what it measured (rows of the list on
/// screen for paging, how far the focused pane and the help can scroll).
pub fn draw(frame: &mut Frame<'_>, app: &App) -> Drawn {
    let area = frame.area();
    // Painting every cell costs a tenth of a frame: only when the theme
    // has a base colour of its own.
    let plain =
        |c: Option<ratatui::style::Color>| matches!(c, None | Some(ratatui::style::Color::Reset));
    let base = app.theme().base;
    if !(plain(base.fg) && plain(base.bg) && base.add_modifier.is_empty()) {
        frame.render_widget(Block::default().style(app.theme().base), area);
    }
    let mut drawn = Drawn::default();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, app, area);
        return drawn;
    }
    let [tabs, main, context, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(10),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    queue::tabs(frame, app, tabs);
    drawn.list_rows = if area.width >= WIDE {
        wide(frame, app, main, &mut drawn)
    } else {
        narrow(frame, app, main, &mut drawn)
    };
    context_line(frame, app, context);
    status_bar(frame, app, status);
    if let Some((max, rows)) = overlay::draw(frame, app, area) {
        drawn.help_scroll_max = Some(max);
        drawn.help_rows = Some(rows);
    }
    drawn
}

fn wide(frame: &mut Frame<'_>, app: &App, area: Rect, drawn: &mut Drawn) -> usize {
    // One rule for the split, shared with the queue's choice of columns.
    let [left, right] = queue::side_by_side(app.view(), area);
    let visible = queue::draw(frame, app, left);
    if app.view() == View::Evidence {
        drawn.pane_scroll_max = detail::record(frame, app, right);
        return visible;
    }
    let (own, tree, ready) = if right.width >= 96 {
        let [own, tree, ready] = Layout::horizontal([
            Constraint::Percentage(30),
            Constraint::Percentage(33),
            Constraint::Percentage(37),
        ])
        .areas(right);
        (own, tree, ready)
    } else {
        let [col1, ready] =
            Layout::horizontal([Constraint::Percentage(48), Constraint::Percentage(52)])
                .areas(right);
        let [own, tree] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(col1);
        (own, tree, ready)
    };
    drawn.pane_scroll_max = [
        detail::ownership(frame, app, own),
        detail::tree(frame, app, tree),
        detail::readiness(frame, app, ready),
    ]
    .into_iter()
    .flatten()
    .next();
    visible
}

fn narrow(frame: &mut Frame<'_>, app: &App, area: Rect, drawn: &mut Drawn) -> usize {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let visible = queue::draw(frame, app, top);
    if app.view() == View::Evidence {
        drawn.pane_scroll_max = detail::record(frame, app, bottom);
        return visible;
    }
    let [tabs, pane] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(bottom);
    let mut spans = vec![Span::raw(" ")];
    for p in [Pane::Ownership, Pane::Tree, Pane::Readiness] {
        let style = if p == app.detail_tab() {
            app.theme().tab_active
        } else {
            app.theme().tab
        };
        let marker = if p == app.detail_tab() { "▸" } else { " " };
        spans.push(Span::styled(format!("{marker}{} ", p.title()), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled("(Tab switches)", app.theme().dim));
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
    drawn.pane_scroll_max = match app.detail_tab() {
        Pane::Ownership => detail::ownership(frame, app, pane),
        Pane::Tree => detail::tree(frame, app, pane),
        _ => detail::readiness(frame, app, pane),
    };
    visible
}

fn too_small(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let text = vec![
        Line::styled("terminal too small", app.theme().warning),
        Line::raw(format!(
            "{}x{} — needs at least {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::styled("enlarge the window (q quits)", app.theme().dim),
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

/// The keys that work here, always on screen: only keys that do something
/// in this view, for this case, most useful first, cut to the width with
/// `? help` always kept.
fn context_line(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let t = &app.theme();
    let mut pairs = hints(app);
    let pinned = ("?".to_string(), "help".to_string());
    let cost = |(k, w): &(String, String)| Span::raw(k).width() + Span::raw(w).width() + 3;
    if !matches!(app.mode(), Mode::Normal) {
        // Overlays and line editors list their own keys, all of them.
    } else {
        let room = (area.width as usize).saturating_sub(cost(&pinned));
        let mut used = 0;
        pairs.retain(|p| {
            used += cost(p);
            used <= room
        });
        pairs.push(pinned);
    }
    let mut spans = Vec::new();
    for (k, what) in pairs {
        spans.push(Span::styled(k, t.key));
        spans.push(Span::styled(format!(" {what}  "), t.dim));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The key hints for where the reviewer is, most useful first.
fn hints(app: &App) -> Vec<(String, String)> {
    let pair = |k: &str, w: &str| (k.to_string(), w.to_string());
    match app.mode() {
        Mode::Dialog(d) if d.discard.is_some() => {
            vec![pair("y", "discard the text"), pair("n/Esc", "keep editing")]
        }
        Mode::Dialog(_) => vec![
            pair("Ctrl-S", "confirm"),
            pair("Esc", "cancel"),
            pair("Tab", "next field"),
            pair("Enter", "new line"),
        ],
        Mode::Refusal(r) => {
            let mut v: Vec<(String, String)> = r
                .alternatives
                .iter()
                .filter_map(|a| {
                    BINDINGS
                        .iter()
                        .find(|b| b.action == keymap::KeyAction::Decide(*a))
                        .map(|b| (first_key(b), a.name().to_string()))
                })
                .collect();
            v.push(pair("Esc", "back"));
            v
        }
        Mode::Help { .. } => vec![
            pair("j/k", "scroll"),
            pair("PgUp/PgDn", "page"),
            pair("g/G", "top/end"),
            pair("q/Esc", "close help"),
        ],
        Mode::Filter => vec![
            pair("type", "to filter"),
            pair("Enter", "keep"),
            pair("Esc", "clear"),
        ],
        Mode::Command(_) => vec![pair("Enter", "run"), pair("Esc", "cancel")],
        Mode::Normal => normal_hints(app),
    }
}

fn normal_hints(app: &App) -> Vec<(String, String)> {
    let ctx = app.context();
    let offered = if app.view() == View::Evidence {
        Vec::new()
    } else {
        app.offered_actions()
    };
    let evidence = app.view() == View::Evidence;
    let something_selected = app.selected_case().is_some() || app.selected_record().is_some();
    let applies = |b: &&keymap::Binding| {
        b.short
            && (b.context == ctx || b.context == keymap::Context::Global)
            && match b.action {
                keymap::KeyAction::Help => false,
                // The filter narrows the case views, not the evidence log.
                keymap::KeyAction::Filter => !evidence,
                keymap::KeyAction::Open => something_selected,
                _ => true,
            }
    };
    let shown = |b: &keymap::Binding| (first_key(b), short_help(b.help));
    // Decisions this case can take first, then what this pane does, then
    // the rest.
    let mut v: Vec<(String, String)> = BINDINGS
        .iter()
        .filter(applies)
        .filter(|b| matches!(b.action, keymap::KeyAction::Decide(a) if offered.contains(&a)))
        .map(shown)
        .collect();
    v.extend(
        BINDINGS
            .iter()
            .filter(applies)
            .filter(|b| b.context != keymap::Context::Global)
            .map(shown),
    );
    let scrolling = evidence && app.focus() != Pane::Queue;
    if scrolling {
        v.push(("j/k".into(), "scroll".into()));
    }
    v.extend(
        BINDINGS
            .iter()
            .filter(applies)
            .filter(|b| {
                b.context == keymap::Context::Global
                    && !matches!(b.action, keymap::KeyAction::Decide(_))
            })
            .map(shown),
    );
    if !scrolling {
        v.push(("j/k".into(), "move".into()));
    }
    v.push(("1-5".into(), "views".into()));
    v
}

/// The first key of a binding, as the hint line shows it.
fn first_key(b: &keymap::Binding) -> String {
    b.keys.first().map(keymap::key_name).unwrap_or_default()
}

fn short_help(help: &str) -> String {
    help.split([' ', ':', '('])
        .next()
        .unwrap_or(help)
        .to_string()
}

/// The bottom line. What the reviewer is typing and the last message win:
/// they get the room they need, and the store label (shortened from the
/// left), the problems count and the evidence summary give way in that
/// order. Without a message, the reviewer's name is shown when it fits.
fn status_bar(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let t = &app.theme();
    let width = area.width as usize;
    let message = match (app.input(), &app.message()) {
        (Input::Command(line), _) => Some(Span::styled(
            format!(":{}▏", crate::text::sanitize(&line)),
            t.input,
        )),
        // Below WIDE the view tabs fill the top line and clip the filter
        // prompt: show what is being typed here instead.
        (Input::Filter, _) if area.width < WIDE => Some(Span::styled(
            format!("/{}▏", crate::text::sanitize(app.filter())),
            t.input,
        )),
        (_, Some(m)) => Some(Span::styled(
            format!("{} ", m.text),
            match m.tone {
                Tone::Info => t.base,
                Tone::Ok => t.ok,
                Tone::Warn => t.warning,
                Tone::Error => t.error,
            },
        )),
        _ => None,
    };
    let message = message.map(|m| {
        let text = if matches!(app.input(), Input::Normal) {
            queue::fit_end(&m.content, width)
        } else {
            // A line being typed keeps its end (the cursor) in view.
            queue::fit_start(&m.content, width)
        };
        Span::styled(text.into_owned(), m.style)
    });
    // Without a message the reviewer's name comes last: shown if it fits.
    let (right, left) = match message {
        Some(m) => {
            let left = left_spans(app, width.saturating_sub(m.width() + 1));
            (m, left)
        }
        None => {
            let left = left_spans(app, width);
            let used: usize = left.iter().map(|s| s.width()).sum();
            let name = Span::styled(
                format!("reviewer {} ", crate::text::sanitize(&app.reviewer().name)),
                t.dim,
            );
            let name = if used + name.width() < width {
                name
            } else {
                Span::raw("")
            };
            (name, left)
        }
    };
    let left_width: usize = left.iter().map(|s| s.width()).sum();
    let [l, r] = Layout::horizontal([
        Constraint::Length(left_width.min(width) as u16),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(Line::from(left)), l);
    frame.render_widget(
        Paragraph::new(Line::from(right)).alignment(ratatui::layout::Alignment::Right),
        r,
    );
}

/// The status line's left part, fitted to `room` columns: the remote link
/// and outbox counts first (never dropped while they fit), then the
/// evidence summary, the problems count, and the store label shortened
/// from the left.
fn left_spans(app: &App, room: usize) -> Vec<Span<'static>> {
    let t = &app.theme();
    let ev = &app.queue().snapshot.evidence;
    let evidence = match (&app.verify(), ev.is_ok()) {
        (_, false) => Span::styled(
            " evidence BROKEN — run `nhi-triage evidence verify` ",
            t.error,
        ),
        (Some(r), true) if !r.is_ok() => Span::styled(" evidence BROKEN ", t.error),
        // The count verified may lag the log by a record or two while a
        // verification runs; say so rather than claim more than was checked.
        (Some(r), true) if r.records as usize == app.records().len() => Span::styled(
            format!(
                " evidence ✓ {} ",
                plural(r.records as usize, "record", "records")
            ),
            t.ok,
        ),
        (Some(_), true) => Span::styled(
            format!(
                " evidence {} (verifying…) ",
                plural(app.records().len(), "record", "records")
            ),
            t.dim,
        ),
        (None, true) => Span::styled(
            format!(
                " evidence {} ",
                plural(ev.records as usize, "record", "records")
            ),
            t.dim,
        ),
    };
    let width_of = |s: &[Span<'_>]| s.iter().map(|x| x.width()).sum::<usize>();
    let mut link = Vec::new();
    if app.link().link != Link::Local {
        link_spans(app, room as u16, &mut link);
    }
    let mut evidence = Some(evidence);
    let mut problems = (!app.queue().snapshot.problems.is_empty()).then(|| {
        Span::styled(
            format!(" {} input problems ", app.queue().snapshot.problems.len()),
            t.warning,
        )
    });
    let fixed = loop {
        let parts: Vec<Span<'static>> = evidence
            .iter()
            .chain(problems.iter())
            .chain(link.iter())
            .cloned()
            .collect();
        if width_of(&parts) <= room {
            break parts;
        }
        // Whatever does not fit gives way, least important first.
        if problems.take().is_none() && evidence.take().is_none() {
            return Vec::new();
        }
    };
    let label_room = room - width_of(&fixed);
    let mut left = Vec::new();
    // The label needs room for something recognisable, or it goes.
    if label_room >= 12 {
        let label = crate::text::sanitize(app.store_label());
        left.push(Span::styled(
            format!(" {} ", queue::fit_start(&label, label_room - 2)),
            t.title,
        ));
    }
    left.extend(fixed);
    left
}

/// A remote store's connection and outbox, after the store label: always
/// in words (never colour alone). When the line is tight the store label and
/// then the evidence summary give way, then the loading progress; the outbox
/// counts never do.
fn link_spans(app: &App, width: u16, left: &mut Vec<Span<'static>>) {
    let t = &app.theme();
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
        let mut spans = vec![match &app.link().link {
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
        if let Some(l) = app.link().loading.as_ref().filter(|_| level < 3) {
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
        if app.link().outbox_waiting > 0 {
            spans.push(Span::styled(
                format!(
                    " {} to sync ",
                    plural(
                        app.link().outbox_waiting,
                        "decision waiting",
                        "decisions waiting"
                    )
                ),
                t.warning,
            ));
        }
        if app.link().outbox_rejected > 0 {
            let text = if level < 2 {
                format!(
                    " {} refused by the server — nhi-triage outbox list ",
                    app.link().outbox_rejected
                )
            } else {
                format!(
                    " {} refused: nhi-triage outbox list ",
                    app.link().outbox_rejected
                )
            };
            spans.push(Span::styled(text, t.error));
        }
        spans
    };
    let width_of = |s: &[Span<'_>]| s.iter().map(|x| x.width()).sum::<usize>();
    // The caller has kept the message's room already.
    let budget = width as usize;
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
        (app.theme().border_focus, app.theme().border_focus)
    } else {
        (app.theme().border, app.theme().title)
    };
    let marker = if focused { "▶ " } else { "" };
    Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(format!(" {marker}{title} "), title_style))
}
