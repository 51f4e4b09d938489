//! The three panes beside the queue: ownership, dependency tree, readiness;
//! and the evidence record view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::model::{RowKind, rfc3339};
use crate::policy::{Freshness, Status, UsageCheck, WindowCheck, ago, days_since};
use crate::text::sanitize;

use super::pane_block;
use super::queue::{state_cell, tier_label, tier_style};
use crate::tui::app::{App, Pane};

/// The most of one field a pane shows: more than any pane can hold, far
/// less than a pathological field (a 5 MB title must not be wrapped and
/// measured on every frame). `show` prints the whole field.
const FIELD_MAX_CHARS: usize = 10_000;

/// An untrusted field, made safe to draw and cut to [`FIELD_MAX_CHARS`].
pub(super) fn s(text: &str) -> String {
    match text.char_indices().nth(FIELD_MAX_CHARS) {
        None => sanitize(text).into_owned(),
        Some((cut, _)) => format!(
            "{}… (+{} more bytes; `nhi-triage show` prints it all)",
            sanitize(&text[..cut]),
            text.len() - cut
        ),
    }
}

/// Draws a text pane; when it has the focus it is scrolled (to its end
/// and no further) and returns how far it can scroll.
fn paragraph<'a>(
    app: &App,
    pane: Pane,
    title: &'a str,
    lines: Vec<Line<'a>>,
    frame: &mut Frame<'_>,
    area: Rect,
) -> Option<u16> {
    let focused = app.focus() == pane;
    let p = Paragraph::new(lines)
        .block(pane_block(app, title, focused))
        .wrap(Wrap { trim: false });
    if !focused {
        frame.render_widget(p, area);
        return None;
    }
    let max = scroll_max(&p, area);
    let scroll = app.detail_scroll().min(max);
    frame.render_widget(p.scroll((scroll, 0)), area);
    Some(max)
}

/// How many lines a bordered, wrapped paragraph can scroll in `area`.
fn scroll_max(p: &Paragraph<'_>, area: Rect) -> u16 {
    let total = p.line_count(area.width.saturating_sub(2));
    u16::try_from(total.saturating_sub(area.height as usize)).unwrap_or(u16::MAX)
}

fn none_selected(
    app: &App,
    pane: Pane,
    title: &str,
    frame: &mut Frame<'_>,
    area: Rect,
) -> Option<u16> {
    paragraph(
        app,
        pane,
        title,
        vec![Line::styled("no case selected", app.theme().dim)],
        frame,
        area,
    )
}

/// A pane for a case whose details are still being read from the store.
fn loading(
    app: &App,
    i: usize,
    pane: Pane,
    title: &str,
    frame: &mut Frame<'_>,
    area: Rect,
) -> Option<u16> {
    let text = format!("loading {}…", s(app.queue().row(i).id()));
    paragraph(
        app,
        pane,
        title,
        vec![Line::styled(text, app.theme().dim)],
        frame,
        area,
    )
}

pub(super) fn kv<'a>(app: &App, key: &'a str, value: impl Into<String>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{key:<9} "), app.theme().dim),
        Span::raw(value.into()),
    ])
}

/// Who owns the identity; returns the scroll limit when focused.
pub fn ownership(frame: &mut Frame<'_>, app: &App, area: Rect) -> Option<u16> {
    let Some(i) = app.selected_case() else {
        return none_selected(app, Pane::Ownership, "Ownership", frame, area);
    };
    let Some(case) = app.queue().case(i) else {
        return loading(app, i, Pane::Ownership, "Ownership", frame, area);
    };
    let status = app.queue().status(i);
    let now = app.queue().now;
    let t = &app.theme();
    let policy = app.queue().policy();
    let mut lines = vec![
        Line::styled(s(&case.id), t.title),
        Line::raw(s(&case.title)),
        Line::raw(""),
    ];
    // What the outbox holds for this case comes first: not recorded yet.
    if let Some(q) = app.outbox().queued_for(&case.id) {
        lines.push(Line::styled(
            format!(
                "⏳ {} queued {}, NOT yet recorded (waiting for the server)",
                q.action,
                rfc3339(q.queued_at)
            ),
            t.warning,
        ));
    }
    for r in app.outbox().refused_for(&case.id) {
        lines.push(Line::styled(
            format!(
                "✗ queued {} refused by the server, NOT recorded: {}",
                r.action,
                s(&r.reason)
            ),
            t.error,
        ));
    }
    if !case.problems.is_empty() {
        // Facts the case file states unreadably: read as unknown, listed
        // first so nobody mistakes a blank for a fact.
        lines.push(Line::styled(
            format!(
                "⚠ {} in the case file (read as unknown):",
                crate::tui::app::plural(case.problems.len(), "problem", "problems")
            ),
            t.warning,
        ));
        for p in &case.problems {
            lines.push(Line::styled(
                format!("  − {}", s(&p.to_string())),
                t.warning,
            ));
        }
        lines.push(Line::raw(""));
    }
    match &case.owner {
        None => lines.push(Line::styled("⚠ no owner recorded", t.warning)),
        Some(o) => {
            lines.push(kv(
                app,
                "team",
                o.team
                    .as_deref()
                    .map(s)
                    .unwrap_or_else(|| "(not named)".into()),
            ));
            lines.push(kv(
                app,
                "contact",
                o.contact
                    .as_deref()
                    .map(s)
                    .unwrap_or_else(|| "(none)".into()),
            ));
            let basis_style = match o.basis {
                crate::model::OwnerBasis::Explicit => t.ok,
                _ => t.warning,
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{:<10}", "basis"), t.dim),
                Span::styled(o.basis.as_str(), basis_style),
            ]));
            let limit = policy.owner_verified_max_age_days;
            let verified = match Freshness::of(o.verified_at, now, limit) {
                Freshness::Missing => Span::styled("⚠ never verified", t.warning),
                Freshness::Future => Span::styled("⚠ dated in the future (clock skew?)", t.warning),
                Freshness::Within { days } => Span::raw(ago(days)),
                Freshness::Older { days } => Span::styled(
                    format!("⚠ {} — stale (limit {limit}d)", ago(days)),
                    t.warning,
                ),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{:<10}", "verified"), t.dim),
                verified,
            ]));
        }
    }
    super::provenance::owner_notes(app, case, &mut lines);
    lines.push(Line::raw(""));
    let id = &case.identity;
    lines.push(kv(app, "identity", s(&id.name)));
    lines.push(kv(
        app,
        "kind",
        format!("{} on {}", s(&id.kind), s(&id.provider)),
    ));
    if let Some(acct) = &id.account {
        lines.push(kv(app, "account", s(acct)));
    }
    lines.push(kv(
        app,
        "privilege",
        id.privilege.map_or("unknown", |p| p.as_str()),
    ));
    lines.push(kv(
        app,
        "created",
        id.created_at
            .map_or("unknown".into(), |t| ago(days_since(t, now))),
    ));
    lines.push(kv(
        app,
        "last used",
        match id.last_used_at {
            crate::model::LastUsed::Unknown => "unknown".into(),
            crate::model::LastUsed::Never => "never".into(),
            crate::model::LastUsed::At(t) => ago(days_since(t, now)),
        },
    ));
    let (state, style) = state_cell(status, now, t);
    lines.push(Line::from(vec![
        Span::styled(format!("{:<10}", "state"), t.dim),
        Span::styled(state, style),
        Span::styled(format!("  (version {})", status.version), t.dim),
    ]));
    if let (crate::model::CaseState::Escalated { to }, Some(by)) =
        (&status.state, &status.escalated_by)
    {
        lines.push(kv(
            app,
            "escalated",
            format!("to {} by {} (another reviewer must approve)", s(to), s(by)),
        ));
    }
    if let Some(last) = &status.last_decision {
        lines.push(kv(
            app,
            "last",
            format!(
                "{} by {} {}",
                last.action,
                s(&last.reviewer),
                ago(days_since(last.ts, now))
            ),
        ));
    }
    if let Some(f) = &case.finding {
        lines.push(Line::raw(""));
        lines.push(kv(
            app,
            "finding",
            format!(
                "{} · {}",
                s(&f.kind),
                f.severity.map_or("severity unknown", |l| l.as_str())
            ),
        ));
        if let Some(summary) = &f.summary {
            lines.push(Line::raw(s(summary)));
        }
    }
    super::provenance::finding_notes(app, case, now, &mut lines);
    if !case.tags.is_empty() {
        lines.push(kv(app, "tags", s(&case.tags.join(", "))));
    }
    paragraph(app, Pane::Ownership, "Ownership", lines, frame, area)
}

/// The dependency tree (moved by its cursor, not scrolled).
pub fn tree(frame: &mut Frame<'_>, app: &App, area: Rect) -> Option<u16> {
    let Some(i) = app.selected_case() else {
        return none_selected(app, Pane::Tree, "Dependencies", frame, area);
    };
    let (Some(case), Some(tree)) = (app.queue().case(i), app.queue().tree(i)) else {
        return loading(app, i, Pane::Tree, "Dependencies", frame, area);
    };
    let t = &app.theme();
    let now = app.queue().now;
    let focused = app.focus() == Pane::Tree;
    let mut lines = Vec::new();
    let Some(deps) = &case.dependencies else {
        lines.push(Line::styled(
            "⚠ no dependency map: who depends on it is unknown",
            t.warning,
        ));
        return paragraph(app, Pane::Tree, "Dependencies", lines, frame, area);
    };
    let limit = app.queue().policy().dependency_map_max_age_days;
    lines.push(match Freshness::of(deps.verified_at, now, limit) {
        Freshness::Missing => Line::styled("⚠ map never verified", t.warning),
        Freshness::Future => Line::styled("⚠ map verification dated in the future", t.warning),
        Freshness::Within { days } => Line::styled(format!("map verified {}", ago(days)), t.dim),
        Freshness::Older { days } => Line::styled(
            format!("⚠ map verified {} (stale, limit {limit}d)", ago(days)),
            t.warning,
        ),
    });
    if let Some(source) = case
        .context
        .as_ref()
        .and_then(|n| n.sources.get("dependencies"))
    {
        lines.push(Line::styled(format!("from {}", s(source)), t.dim));
    }
    lines.push(Line::from(vec![
        Span::styled(format!("◉ {}", s(&case.identity.name)), t.title),
        Span::styled(" (identity)", t.dim),
    ]));
    // Walked once per case (the queue model keeps it): a map 100,000 deep
    // is not re-walked on every frame.
    let visible = app.tree().visible(&tree.outline);
    if visible.is_empty() {
        lines.push(Line::styled("  no dependents: nothing uses it", t.dim));
    }
    // Keep the cursor row on screen: skip rows above it when the pane is short.
    // The selected node's source, under the rows, when the tree has the focus.
    let selected_source = if focused {
        visible
            .get(app.tree().cursor)
            .and_then(|v| deps.nodes[v.row.node].source.as_deref())
    } else {
        None
    };
    // Borders, and the lines above and below the rows.
    let around = 2 + lines.len() + tree.dangling.len() + usize::from(selected_source.is_some());
    let room = (area.height as usize).saturating_sub(around);
    let first = if focused && app.tree().cursor >= room {
        app.tree().cursor + 1 - room
    } else {
        0
    };
    for (k, v) in visible.iter().enumerate().skip(first).take(room.max(1)) {
        let node = &deps.nodes[v.row.node];
        let indent = v.indent();
        let marker = match (v.has_children, v.collapsed) {
            (true, true) => "▸ ",
            (true, false) => "▾ ",
            _ => "· ",
        };
        // Badges and back-reference marks come before the name: rows are
        // not wrapped, and a narrow pane must clip the name, not the badge.
        let mut spans = vec![Span::raw(format!("{indent}{marker}"))];
        if node.external == Some(true) {
            spans.push(Span::styled("[EXTERNAL] ", t.badge));
        }
        if node.shared == Some(true) {
            spans.push(Span::styled("[SHARED] ", t.badge));
        }
        match v.row.kind {
            RowKind::Cycle => spans.push(Span::styled("↺ cycle (above) ", t.warning)),
            RowKind::Repeat => spans.push(Span::styled("↑ shown above ", t.dim)),
            RowKind::First => {}
        }
        spans.push(Span::raw(s(node.name.as_deref().unwrap_or(&node.id))));
        spans.push(Span::styled(
            format!(" {}", s(node.kind.as_deref().unwrap_or("?"))),
            t.dim,
        ));
        spans.push(match node.criticality {
            Some(crate::model::Level::Critical) => Span::styled(" CRITICAL", t.tier_high),
            Some(l) => Span::styled(format!(" {}", l.as_str()), t.dim),
            None => Span::styled(" criticality?", t.warning),
        });
        let mut line = Line::from(spans);
        if focused && k == app.tree().cursor {
            line = line.style(t.selected);
        }
        lines.push(line);
    }
    if let Some(source) = selected_source {
        lines.push(Line::styled(format!("↳ from {}", s(source)), t.dim));
    }
    for d in &tree.dangling {
        lines.push(Line::styled(
            // The missing id first: the line is clipped, not wrapped.
            format!(
                "✗ dangling: {} (not in map, used by {})",
                s(&d.missing),
                s(&d.from)
            ),
            t.warning,
        ));
    }
    let title = format!("Dependencies ({})", tree.dependents);
    let p = Paragraph::new(lines).block(pane_block(app, &title, focused));
    frame.render_widget(p, area);
    None
}

fn status_span(app: &App, st: Status) -> Span<'static> {
    let t = &app.theme();
    match st {
        Status::Answered => Span::styled("✔ answered", t.answered),
        Status::Partial => Span::styled("◐ partial", t.partial),
        Status::Unknown => Span::styled("? unknown", t.unknown),
    }
}

/// The three questions and the tier; returns the scroll limit when focused.
pub fn readiness(frame: &mut Frame<'_>, app: &App, area: Rect) -> Option<u16> {
    let Some(a) = app.assessment() else {
        return match app.selected_case() {
            Some(i) => loading(app, i, Pane::Readiness, "Readiness", frame, area),
            None => none_selected(app, Pane::Readiness, "Readiness", frame, area),
        };
    };
    let t = &app.theme();
    // Wrap items ourselves so a long fact keeps its indent under its marker.
    let width = area.width.saturating_sub(2) as usize;
    let item = |lines: &mut Vec<Line<'static>>, marker: &str, text: &str, style: Style| {
        lines.extend(hanging(marker, text, width, style));
    };
    let mut lines = vec![Line::from(vec![
        Span::styled("tier ", t.dim),
        Span::styled(tier_label(a.tier), tier_style(t, a.tier)),
        Span::styled("  → recommend ", t.dim),
        Span::styled(a.recommendation.name(), t.title),
    ])];
    for (q, text, ans) in [
        ("Q1", "Who depends on it?", &a.q1),
        ("Q2", "What breaks if removed?", &a.q2),
        ("Q3", "How fast can we restore?", &a.q3),
    ] {
        lines.push(Line::from(vec![
            Span::styled(format!("{q} {text} "), t.header),
            status_span(app, ans.status),
        ]));
        for f in &ans.facts {
            item(&mut lines, "   + ", f, t.base);
        }
        for g in &ans.gaps {
            item(&mut lines, "   − ", g, t.warning);
        }
    }
    lines.push(Line::styled("Checks", t.header));
    let c = &a.checks;
    let age = format!(
        "age {} · privilege {} · criticality {}",
        c.identity_age_days.map_or("?".into(), |d| format!("{d}d")),
        c.privilege.map_or("?", |p| p.as_str()),
        c.criticality.map_or("?", |l| l.as_str())
    );
    item(&mut lines, "   ", &age, t.base);
    let usage = match c.usage {
        UsageCheck::Unknown => "usage: unknown (a gap, never read as unused)".to_string(),
        UsageCheck::Recent { .. } => format!("usage: {} (IN USE)", c.usage.describe()),
        other => format!("usage: {}", other.describe()),
    };
    item(&mut lines, "   ", &usage, t.base);
    match &c.change_window {
        WindowCheck::None => item(
            &mut lines,
            "   ",
            "change window: none (no constraint)",
            t.base,
        ),
        WindowCheck::Open { ends_at } => item(
            &mut lines,
            "   ",
            &format!("change window: open until {}", rfc3339(*ends_at)),
            t.base,
        ),
        WindowCheck::Closed { start, .. } => item(
            &mut lines,
            "   ",
            &format!("change window: CLOSED (opens {})", rfc3339(*start)),
            t.warning,
        ),
    }
    // Usage unknown is already said on the usage line.
    for gap in c.gaps.iter().filter(|g| !g.starts_with("usage unknown")) {
        item(&mut lines, " - ", &sanitize(gap), t.warning);
    }
    if a.quarantine_expired {
        lines.push(Line::styled(
            "   ⚠ quarantine expired without a decision",
            t.warning,
        ));
    }
    if a.used_during_quarantine {
        lines.push(Line::styled(
            "   ⚠ used during quarantine: a legitimate dependency may exist",
            t.warning,
        ));
    }
    lines.push(Line::styled("Routing", t.header));
    if a.routing.is_empty() {
        lines.push(Line::styled("   none", t.dim));
    }
    for flag in &a.routing {
        let text = format!("{}: {}", flag.kind.name(), s(&flag.raised_by.join(", ")));
        item(&mut lines, "   ⚑ ", &text, t.badge);
    }
    lines.push(Line::styled("Why this tier", t.header));
    for r in &a.tier_reasons {
        item(&mut lines, "   · ", r, t.base);
    }
    lines.push(Line::styled("Actions", t.header));
    if a.actions.is_empty() {
        lines.push(Line::styled("   none: the case is decided", t.dim));
    }
    for v in &a.actions {
        let (mark, style): (&str, Style) = if v.allowed {
            ("✔", t.ok)
        } else {
            ("✗", t.error)
        };
        let word = if v.allowed {
            "allowed"
        } else if v.needs_override {
            "refused (break-glass possible)"
        } else {
            "refused"
        };
        lines.push(Line::from(vec![
            Span::styled(format!("   {mark} {:<11}", v.action.name()), style),
            Span::styled(word, style),
        ]));
        for r in &v.reasons {
            item(&mut lines, "       ", r, t.dim);
        }
    }
    // What context would close the gaps: last, so the tier, its reasons
    // and the actions stay at the top of a short pane.
    if let Some(case) = app.selected_case().and_then(|i| app.queue().case(i)) {
        super::provenance::wanted_lines(app, case, width, &mut lines);
    }
    paragraph(app, Pane::Readiness, "Readiness", lines, frame, area)
}

/// The evidence record under the cursor, in full.
/// Returns the scroll limit when the record pane has the focus.
pub fn record(frame: &mut Frame<'_>, app: &App, area: Rect) -> Option<u16> {
    let t = &app.theme();
    let Some(r) = app.selected_record() else {
        let p = Paragraph::new(Line::styled("no record selected", t.dim))
            .block(pane_block(app, "Record", false));
        frame.render_widget(p, area);
        return None;
    };
    let mut lines = vec![
        kv(app, "seq", format!("#{}  ({})", r.seq, r.id)),
        kv(app, "time", rfc3339(r.ts)),
        kv(
            app,
            "case",
            format!("{}  {}", s(&r.case_id), s(&r.identity_id)),
        ),
        kv(app, "reviewer", s(&r.reviewer.to_string())),
        kv(app, "action", r.action.name()),
        kv(
            app,
            "state",
            format!(
                "{} → {}",
                s(&r.state_before.to_string()),
                s(&r.state_after.to_string())
            ),
        ),
    ];
    if r.override_ {
        lines.push(Line::styled("⚠ BREAK-GLASS OVERRIDE", t.error));
    }
    if let Some(by) = &r.escalated_by {
        lines.push(kv(
            app,
            "escalated",
            format!("by {} (separation of duties)", s(by)),
        ));
    }
    lines.push(kv(
        app,
        "readiness",
        format!(
            "Q1 {} · Q2 {} · Q3 {} · tier {} · recommended {}",
            r.readiness.q1.name(),
            r.readiness.q2.name(),
            r.readiness.q3.name(),
            r.readiness.tier.name(),
            r.readiness.recommendation
        ),
    ));
    for g in &r.readiness.gaps {
        lines.push(Line::styled(format!("          − {}", s(g)), t.warning));
    }
    lines.push(kv(app, "controls", r.controls.join(" ")));
    lines.push(kv(
        app,
        "policy",
        format!("{} sha256 {}", s(&r.policy.version), &r.policy.sha256),
    ));
    lines.push(kv(
        app,
        "version",
        format!("case version {} → {}", r.case_version, r.case_version + 1),
    ));
    lines.push(kv(app, "prev_hash", r.prev_hash.clone()));
    lines.push(kv(app, "hash", r.hash.clone()));
    lines.push(Line::raw(""));
    lines.push(Line::styled("justification", t.header));
    for l in r.justification.lines() {
        lines.push(Line::raw(s(l)));
    }
    paragraph(app, Pane::Record, "Record", lines, frame, area)
}

/// `marker` then `text` word-wrapped to `width` columns, continuation lines
/// indented under the text (a word longer than a line is cut).
pub(super) fn hanging(marker: &str, text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let indent = marker.width();
    let room = width.saturating_sub(indent).max(8);
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    let mut used = 0;
    for word in text.split_whitespace() {
        if used > 0 && used + 1 + word.width() > room {
            rows.push(std::mem::take(&mut row));
            used = 0;
        }
        if used > 0 {
            row.push(' ');
            used += 1;
        }
        for c in word.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > room {
                rows.push(std::mem::take(&mut row));
                used = 0;
            }
            row.push(c);
            used += cw;
        }
    }
    rows.push(row);
    rows.into_iter()
        .enumerate()
        .map(|(k, row)| {
            let lead = if k == 0 {
                marker.to_string()
            } else {
                " ".repeat(indent)
            };
            Line::styled(format!("{lead}{row}"), style)
        })
        .collect()
}
