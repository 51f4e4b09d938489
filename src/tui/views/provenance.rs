//! Where the facts beside the queue came from: the owner's and the map's
//! sources, sources that disagree, where a leaked credential was seen, and
//! which kind of source would answer what is still unknown.

use ratatui::text::Line;
use time::OffsetDateTime;

use super::detail::{hanging, kv, s};
use crate::model::Case;
use crate::policy::{ago, days_since};
use crate::tui::app::App;

/// Places of a credential listed in the ownership pane (`show` lists more).
const OCCURRENCES_SHOWN: usize = 3;

/// The owner's source and every disagreement between sources.
pub(super) fn owner_notes(app: &App, case: &Case, lines: &mut Vec<Line<'static>>) {
    let t = app.theme();
    if let Some(source) = case.owner.as_ref().and_then(|o| o.source.as_deref()) {
        lines.push(kv(app, "source", s(source)));
    }
    let Some(notes) = &case.context else {
        return;
    };
    if let Some(source) = notes.sources.get("criticality") {
        lines.push(kv(
            app,
            "criticality",
            format!(
                "{} — {}",
                case.criticality.map_or("unknown", |l| l.as_str()),
                s(source)
            ),
        ));
    }
    for d in &notes.disagreements {
        lines.push(Line::styled(
            format!(
                "⚠ sources disagree on {}: kept {} ({}), not {} ({})",
                s(&d.field),
                s(&d.kept),
                s(&d.kept_source),
                s(&d.other),
                s(&d.other_source)
            ),
            t.warning,
        ));
    }
}

/// Validity, first seen, the decided case this one recurs, and where the
/// credential was seen.
pub(super) fn finding_notes(
    app: &App,
    case: &Case,
    now: OffsetDateTime,
    lines: &mut Vec<Line<'static>>,
) {
    let t = app.theme();
    if let Some(f) = &case.finding {
        match f.validity {
            Some(crate::model::Validity::Live) => lines.push(Line::styled(
                "⚠ validity: LIVE (a detector's check worked)",
                t.warning,
            )),
            Some(v) => lines.push(kv(app, "validity", v.as_str())),
            None if f.kind == "leaked_secret" => lines.push(kv(
                app,
                "validity",
                "unknown (not checked, or the check failed)",
            )),
            None => {}
        }
        if let Some(first) = f.first_seen_at {
            lines.push(kv(
                app,
                "found",
                format!("first {}", ago(days_since(first, now))),
            ));
        }
    }
    if let Some(of) = &case.recurrence_of {
        lines.push(Line::styled(
            format!("↻ recurrence of {} (decided): seen again", s(of)),
            t.warning,
        ));
    }
    if case.occurrences.is_empty() {
        return;
    }
    lines.push(kv(
        app,
        "seen at",
        crate::tui::app::plural(case.occurrences.len(), "place", "places"),
    ));
    for occ in case.occurrences.iter().take(OCCURRENCES_SHOWN) {
        let source = occ
            .source
            .as_deref()
            .map(|x| format!(" ({})", s(x)))
            .unwrap_or_default();
        lines.push(Line::raw(format!("  {}{source}", s(&occ.place_text()))));
    }
    if case.occurrences.len() > OCCURRENCES_SHOWN {
        lines.push(Line::styled(
            format!(
                "  … {} more (`nhi-triage show {}`)",
                case.occurrences.len() - OCCURRENCES_SHOWN,
                s(&case.id)
            ),
            t.dim,
        ));
    }
}

/// The context facts the case lacks, each with the kind of source that
/// would answer it (`context::wanted`).
pub(super) fn wanted_lines(app: &App, case: &Case, width: usize, lines: &mut Vec<Line<'static>>) {
    let wanted = crate::context::wanted(case, app.queue().policy(), app.queue().now);
    if wanted.is_empty() {
        return;
    }
    let t = app.theme();
    lines.push(Line::styled("Context that would answer", t.header));
    for w in wanted {
        let text = format!("{} {} → {}", w.field, w.problem, w.answered_by_short);
        lines.extend(hanging("   ? ", &text, width, t.dim));
    }
}
