//! Overlays: the decision dialog, a refusal explained, and the help screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::model::Action;
use crate::text::sanitize;

use crate::tui::app::{App, DecisionDialog, Discard, Field, Mode, Phase, Refusal};
use crate::tui::keymap::{self, BINDINGS, Context};

/// Draws the overlay of the current mode, if any; returns how far the help
/// can scroll and how many of its lines are on screen, when it is open.
pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) -> Option<(u16, u16)> {
    match app.mode() {
        Mode::Dialog(d) => dialog(frame, app, d, area),
        Mode::Refusal(r) => refusal(frame, app, r, area),
        Mode::Help { scroll } => return Some(help(frame, app, area, *scroll)),
        _ => {}
    }
    None
}

/// A `width`x`height` box in the middle of `area`; when it would leave only
/// a sliver of the screen behind it (a border showing through beside it),
/// it takes the whole width or height instead.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let fit = |want: u16, have: u16| {
        if want.saturating_add(4) <= have {
            want
        } else {
            have
        }
    };
    let w = fit(width, area.width);
    let h = fit(height, area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Clears `rect` for an overlay. A wide character (CJK, emoji) just left of
/// it would spill its second column over the overlay's border, so it is
/// blanked too.
fn clear(frame: &mut Frame<'_>, rect: Rect) {
    frame.render_widget(Clear, rect);
    if rect.x == 0 {
        return;
    }
    let buf = frame.buffer_mut();
    for y in rect.y..rect.y + rect.height {
        if let Some(cell) = buf.cell_mut((rect.x - 1, y))
            && unicode_width::UnicodeWidthStr::width(cell.symbol()) > 1
        {
            cell.set_symbol(" ");
        }
    }
}

fn frame_block<'a>(app: &App, title: String) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme().border_focus)
        .title(Span::styled(title, app.theme().border_focus))
        .style(app.theme().dialog)
}

fn dialog(frame: &mut Frame<'_>, app: &App, d: &DecisionDialog, area: Rect) {
    let t = &app.theme();
    let rect = centered(area, 100, 30);
    clear(frame, rect);
    let block = frame_block(
        app,
        format!(" {} {} ", title_case(d.action), sanitize(&d.case_id)),
    );
    let inner = block.inner(rect);
    frame.render_widget(block, rect);

    let param_rows = u16::from(d.has_parameter()) + u16::from(d.override_offered);
    // The "changed underneath" warning is long and must be read whole.
    let warning_rows = d.changed_underneath.as_ref().map_or(1, |w| {
        wrapped_rows(Line::raw(format!("⚠ {w}")).width(), inner.width as usize)
    }) as u16
        + if d.supersedes.is_some() { 2 } else { 0 };
    let [what, editor_label, editor, params, preview, status] = Layout::vertical([
        Constraint::Length(2 + warning_rows),
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(param_rows),
        Constraint::Length(6),
        Constraint::Length(2),
    ])
    .areas(inner);

    let mut what_lines = vec![
        Line::from(vec![
            Span::styled("identity  ", t.dim),
            Span::raw(sanitize(&d.identity).into_owned()),
        ]),
        Line::from(vec![
            Span::styled("state     ", t.dim),
            Span::raw(sanitize(&d.state_before.to_string()).into_owned()),
            Span::styled(" → ", t.dim),
            Span::styled(sanitize(&d.state_after_label()).into_owned(), t.title),
        ]),
    ];
    if let Some(q) = &d.supersedes {
        what_lines.push(Line::styled(
            format!(
                "⚠ {} queued {} is still waiting to reach the server: confirming REPLACES it",
                q.action,
                crate::model::rfc3339(q.queued_at)
            ),
            t.warning,
        ));
    }
    if let Some(warning) = &d.changed_underneath {
        what_lines.push(Line::styled(format!("⚠ {warning}"), t.error));
    } else {
        what_lines.push(Line::styled(d.readiness_line.clone(), t.dim));
    }
    frame.render_widget(Paragraph::new(what_lines).wrap(Wrap { trim: true }), what);

    let count = d.count();
    let (have, need) = (count.visible, d.required_chars());
    let too_long = count.total > crate::policy::MAX_JUSTIFICATION_CHARS;
    let count_style = if have >= need && !too_long {
        t.ok
    } else {
        t.warning
    };
    let focus_mark = |f: Field| if d.focus == f { "▶ " } else { "  " };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!("{}Justification ", focus_mark(Field::Justification)),
                t.header,
            ),
            Span::styled(
                if too_long {
                    format!(
                        "{} characters: over the {} a record keeps",
                        count.total,
                        crate::policy::MAX_JUSTIFICATION_CHARS
                    )
                } else {
                    format!(
                        "{have}/{need} characters {}",
                        if have >= need { "✔" } else { "(too short)" }
                    )
                },
                count_style,
            ),
        ])),
        editor_label,
    );
    let mut ta = d.justification.clone();
    ta.set_block(Block::default().borders(Borders::ALL).border_style(
        if d.focus == Field::Justification {
            t.border_focus
        } else {
            t.border
        },
    ));
    ta.set_style(t.input);
    // The widget's own defaults are colours (dark gray placeholder, light
    // blue selection): take them from the theme so mono stays colourless.
    ta.set_placeholder_style(t.dim);
    ta.set_selection_style(t.selected);
    // No underlined cursor line: the reversed cursor cell is enough, and
    // each keystroke then redraws one cell, not a restyled line.
    ta.set_cursor_line_style(t.input);
    if d.focus != Field::Justification {
        ta.set_cursor_style(t.input);
    }
    frame.render_widget(&ta, editor);

    let mut param_lines = Vec::new();
    // The text cursor only where typing goes.
    let caret = if d.focus == Field::Parameter {
        "▏"
    } else {
        ""
    };
    match d.action {
        Action::Quarantine => param_lines.push(Line::from(vec![
            Span::styled(format!("{}Hours ", focus_mark(Field::Parameter)), t.header),
            Span::styled(
                format!("[{}{caret}]", d.parameter),
                if d.focus == Field::Parameter {
                    t.selected
                } else {
                    t.input
                },
            ),
            Span::styled(format!("  1 to {} (policy)", d.quarantine_max_hours), t.dim),
        ])),
        Action::Escalate => param_lines.push(Line::from(vec![
            Span::styled(
                format!("{}Escalate to ", focus_mark(Field::Parameter)),
                t.header,
            ),
            Span::styled(
                format!("[{}{caret}]", sanitize(&d.parameter)),
                if d.focus == Field::Parameter {
                    t.selected
                } else {
                    t.input
                },
            ),
        ])),
        _ => {}
    }
    if d.override_offered {
        param_lines.push(Line::from(vec![
            Span::styled(
                format!("{}Break-glass override ", focus_mark(Field::Override)),
                t.error,
            ),
            Span::styled(if d.override_ { "[x]" } else { "[ ]" }, t.error),
            Span::styled(
                format!(
                    "  refused by policy; needs ≥ {} characters and is flagged",
                    d.break_glass_min_chars
                ),
                t.dim,
            ),
        ]));
    }
    frame.render_widget(Paragraph::new(param_lines), params);

    let preview_lines = vec![
        Line::styled("Evidence record preview", t.header),
        Line::raw(format!(
            "{} {} by {} · case version {} → {}",
            d.action,
            sanitize(&d.case_id),
            sanitize(&app.reviewer().name),
            d.expected_version,
            d.expected_version + 1
        )),
        Line::raw(format!("readiness: {}", d.readiness_line)),
        Line::raw(format!(
            "controls: {} · policy {}",
            d.controls.join(" "),
            sanitize(&d.policy_version)
        )),
        Line::styled(
            "hash-chained, fsync'd to the evidence log before success is shown",
            t.dim,
        ),
    ];
    frame.render_widget(
        Paragraph::new(preview_lines).wrap(Wrap { trim: true }),
        preview,
    );

    let status_line = match &d.phase {
        _ if d.discard.is_some() => Line::from(vec![
            Span::styled(
                match d.discard {
                    Some(Discard::Quit) => "Quit and throw away the justification you typed? ",
                    _ => "Throw away the justification you typed? ",
                },
                t.warning,
            ),
            Span::styled("y", t.key),
            Span::styled(" discard  ", t.dim),
            Span::styled("n/Esc", t.key),
            Span::styled(" keep editing", t.dim),
        ]),
        Phase::Editing => Line::from(vec![
            Span::styled("Ctrl-S", t.key),
            Span::styled(" confirm  ", t.dim),
            Span::styled("Tab", t.key),
            Span::styled(" next field  ", t.dim),
            Span::styled("Enter", t.key),
            Span::styled(" new line  ", t.dim),
            Span::styled("Esc", t.key),
            Span::styled(" cancel (nothing is written)", t.dim),
        ]),
        Phase::Submitting => Line::styled(
            "recording… (waiting for the evidence log to be on disk)",
            t.warning,
        ),
        Phase::Failed(why) => Line::styled(format!("✗ {}", sanitize(why)), t.error),
    };
    frame.render_widget(
        Paragraph::new(status_line).wrap(Wrap { trim: true }),
        status,
    );
}

/// Rows a line of `width` columns takes when word-wrapped into `inner`
/// columns: an estimate with room for the space lost at word breaks.
fn wrapped_rows(width: usize, inner: usize) -> usize {
    let inner = inner.max(1);
    if width <= inner {
        1
    } else {
        width.div_ceil((inner * 4 / 5).max(1))
    }
}

fn title_case(a: Action) -> String {
    let name = a.name();
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn refusal(frame: &mut Frame<'_>, app: &App, r: &Refusal, area: Rect) {
    let t = &app.theme();
    let mut lines = vec![Line::styled(
        format!(
            "✗ {} is refused for {}: nothing was recorded",
            r.action,
            sanitize(&r.case_id)
        ),
        t.error,
    )];
    lines.push(Line::raw(""));
    for reason in &r.reasons {
        lines.push(Line::raw(format!("• {reason}")));
    }
    let mut offer = vec![Span::styled("Instead: ", t.header)];
    for a in &r.alternatives {
        if let Some(b) = BINDINGS
            .iter()
            .find(|b| b.action == keymap::KeyAction::Decide(*a))
        {
            offer.push(Span::styled(
                b.keys.first().map(keymap::key_name).unwrap_or_default(),
                t.key,
            ));
            offer.push(Span::raw(format!(" {a}   ")));
        }
    }
    offer.push(Span::styled("Esc", t.key));
    offer.push(Span::raw(" back"));
    // Reasons wrap: size the box by their wrapped height (estimated with
    // room for word breaks), and keep the offer on its own last row so it
    // is never the part cut off.
    let inner_width = 90u16
        .min(area.width.saturating_sub(2))
        .saturating_sub(2)
        .max(1) as usize;
    let body_rows: usize = lines
        .iter()
        .map(|l| wrapped_rows(l.width(), inner_width))
        .sum();
    let height = (body_rows as u16).saturating_add(4).min(24);
    let rect = centered(area, 90, height);
    clear(frame, rect);
    let block = frame_block(app, format!(" {} refused ", title_case(r.action)));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [body, _, offer_row] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
    frame.render_widget(Paragraph::new(Line::from(offer)), offer_row);
}

/// The help overlay; returns how far it can scroll and its rows on screen.
fn help(frame: &mut Frame<'_>, app: &App, area: Rect, scroll: u16) -> (u16, u16) {
    let t = &app.theme();
    let rect = centered(area, 84, area.height.saturating_sub(2));
    clear(frame, rect);
    let mut lines = vec![Line::styled("Keys (from the keymap)", t.title)];
    for (ctx, name) in [
        (Context::Global, "Everywhere"),
        (Context::Queue, "Queue"),
        (Context::Tree, "Dependency tree"),
    ] {
        lines.push(Line::raw(""));
        lines.push(Line::styled(name, t.header));
        for b in BINDINGS.iter().filter(|b| b.context == ctx) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<16}", keymap::keys_label(b)), t.key),
                Span::raw(b.help),
            ]));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Decision dialog", t.header));
    for (k, what) in [
        (
            "Tab/Shift-Tab",
            "move between the justification, hours/target and override",
        ),
        (
            "Ctrl-S",
            "confirm: shown as recorded only once the record is on disk",
        ),
        ("Enter", "new line in the justification"),
        (
            "Esc",
            "cancel: nothing is written (asks first if text would be lost)",
        ),
    ] {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<16}"), t.key),
            Span::raw(what),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Commands (:)", t.header));
    for (k, what) in [
        (
            ":view NAME",
            "pending, quarantined, escalated, decided, evidence",
        ),
        (
            ":theme NAME",
            "dark, light, high-contrast, mono, or a .toml path",
        ),
        (":sort KEY", "risk, age, id, owner"),
        (":filter TEXT", "set the filter"),
        (":q", "quit"),
    ] {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<16}"), t.key),
            Span::raw(what),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Tiers: ▲ HIGH → escalate · ◇ med → quarantine · ▽ low → approve",
        t.dim,
    ));
    lines.push(Line::styled(
        "Questions: ✔ answered · ◐ partial · ? unknown",
        t.dim,
    ));
    // Clamp the scroll, and say when there is more below.
    let room = rect.height.saturating_sub(2);
    let max_scroll = (lines.len() as u16).saturating_sub(room);
    let scroll = scroll.min(max_scroll);
    let title = if scroll < max_scroll {
        " Help — j/k PgDn scroll (more below) · q/Esc closes "
    } else {
        " Help — q/Esc closes "
    };
    let p = Paragraph::new(lines)
        .block(frame_block(app, title.to_string()))
        .scroll((scroll, 0));
    frame.render_widget(p, rect);
    (max_scroll, room)
}
