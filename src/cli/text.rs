//! Plain-text rendering for the CLI. Every untrusted string goes through
//! `sanitize` before it is printed.

use std::fmt::Write as _;
use std::io::Write as _;

use nhi_triage::evidence::EvidenceRecord;
use nhi_triage::model::{
    Action, Case, CaseState, CaseStatus, DependencyGraph, LastUsed, RowKind, rfc3339,
};
use nhi_triage::policy::{
    Assessment, Question, Status, Tier, UsageCheck, WindowCheck, ago, days_since,
};
use nhi_triage::text::sanitize;
use time::OffsetDateTime;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::output::Out;

/// `s` sanitized, cut to `width` columns (with `…`) and padded to it.
pub fn fit(s: &str, width: usize) -> String {
    let s = sanitize(s);
    let mut out = String::new();
    let mut used = 0;
    if s.width() <= width {
        out.push_str(&s);
        used = s.width();
    } else {
        for c in s.chars() {
            let w = c.width().unwrap_or(0);
            if used + w + 1 > width {
                break;
            }
            out.push(c);
            used += w;
        }
        out.push('…');
        used += 1;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// A table column: `fit` to one less than `width`, then a separating space.
fn col(s: &str, width: usize) -> String {
    let mut c = fit(s, width - 1);
    c.push(' ');
    c
}

/// `YYYY-MM-DD` of `t` at its own UTC offset (not converted to UTC).
pub fn date(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The state as a reviewer reads it, with expiry flagged.
pub fn state_label(status: &CaseStatus, now: OffsetDateTime) -> String {
    if status.quarantine_expired(now) {
        return "pending (quarantine expired)".into();
    }
    match &status.state {
        CaseState::Quarantined { until } => {
            let left = *until - now;
            format!("quarantined ({}h left)", left.whole_hours())
        }
        CaseState::Escalated { to } => format!("escalated to {}", sanitize(to)),
        other => other.name().into(),
    }
}

/// A readiness answer with its check-box glyph: `[x] answered`,
/// `[~] partial` or `[?] unknown`.
pub fn status_glyph(s: Status) -> &'static str {
    match s {
        Status::Answered => "[x] answered",
        Status::Partial => "[~] partial",
        Status::Unknown => "[?] unknown",
    }
}

/// One row of `list`: the case, its status and what the list shows of its
/// assessment (the full assessment is not kept: 100k of them would be most
/// of the memory `list` uses).
pub struct ListRow<'a> {
    /// The case as loaded.
    pub case: &'a Case,
    /// Its lifecycle status, replayed from the evidence log.
    pub status: CaseStatus,
    /// The assessment's tier (`TIER` column).
    pub tier: Tier,
    /// The action the tier recommends (`RECOMMEND` column).
    pub recommendation: Action,
    /// Q1–Q3 statuses.
    pub q: [Status; 3],
}

impl<'a> ListRow<'a> {
    /// Keeps what `list` shows of `a`, the case's assessment.
    pub fn new(case: &'a Case, status: CaseStatus, a: &Assessment) -> Self {
        ListRow {
            case,
            status,
            tier: a.tier,
            recommendation: a.recommendation,
            q: [a.q1.status, a.q2.status, a.q3.status],
        }
    }
}

/// The `list` table, a row at a time; stops early when the reader of
/// standard output has gone. The `!` column counts the case's input
/// problems (`show ID` lists them).
pub fn list_table(out: &mut Out, rows: &[ListRow<'_>], now: OffsetDateTime) -> std::io::Result<()> {
    // Wide enough for every id (up to 30 columns): an id cut short cannot
    // be given to `show` or `decide`.
    let id_width = rows
        .iter()
        .map(|r| sanitize(&r.case.id).chars().count() + 2)
        .max()
        .unwrap_or(0)
        .clamp(12, 30);
    writeln!(
        out,
        "{}{}{}{}{}{}{}{}{}IDENTITY",
        col("ID", id_width),
        col("!", 4),
        col("TIER", 7),
        col("RECOMMEND", 11),
        col("STATE", 24),
        col("SEVERITY", 9),
        col("PRIV", 6),
        col("AGE", 6),
        col("OWNER", 20),
    )?;
    for r in rows {
        if out.closed() {
            break;
        }
        let c = r.case;
        let identity = format!(
            "{} ({}/{})",
            c.identity.name, c.identity.kind, c.identity.provider
        );
        let problems = match c.problems.len() {
            0 => String::new(),
            n => format!("!{n}"),
        };
        writeln!(
            out,
            "{}{}{}{}{}{}{}{}{}{}",
            col(&c.id, id_width),
            col(&problems, 4),
            col(r.tier.name(), 7),
            col(r.recommendation.name(), 11),
            col(&state_label(&r.status, now), 24),
            col(c.severity().map_or("-", |s| s.as_str()), 9),
            col(c.identity.privilege.map_or("-", |p| p.as_str()), 6),
            col(&format!("{}d", days_since(c.opened_at, now)), 6),
            col(c.owner_team().unwrap_or("(unknown)"), 20),
            sanitize(&identity)
        )?;
    }
    Ok(())
}

/// The text of `show ID` at `now`: header (state, version, content digest,
/// finding), problems, identity, ownership, dependency tree, readiness
/// Q1–Q3 with facts and gaps, checks, routing flags, tier, the actions with
/// their verdicts, and the history; every untrusted string sanitised.
/// `case_sha256` is the case's content digest, computed once by the caller.
pub fn show_case(
    case: &Case,
    case_sha256: &str,
    (status, policy, recurred_as): (&CaseStatus, &nhi_triage::policy::Policy, Option<&str>),
    a: &Assessment,
    history: &[EvidenceRecord],
    now: OffsetDateTime,
) -> String {
    let mut o = String::new();
    let s = |t: &str| sanitize(t).into_owned();
    let _ = writeln!(o, "{}  {}", s(&case.id), s(&case.title));
    let _ = writeln!(
        o,
        "  state {} (version {}) · opened {} ({})",
        state_label(status, now),
        status.version,
        date(case.opened_at),
        ago(days_since(case.opened_at, now))
    );
    // What `decide --case-sha256` names to decide on exactly this content.
    let _ = writeln!(o, "  content sha256 {case_sha256}");
    if let Some(f) = &case.finding {
        let _ = writeln!(
            o,
            "  finding {} · severity {} · source {}{}",
            s(&f.kind),
            f.severity.map_or("unknown", |l| l.as_str()),
            s(f.source.as_deref().unwrap_or("unknown")),
            f.summary
                .as_deref()
                .map(|x| format!(" — {}", s(x)))
                .unwrap_or_default()
        );
    }
    if let Some(f) = &case.finding
        && (f.validity.is_some() || f.first_seen_at.is_some())
    {
        let _ = writeln!(
            o,
            "  validity {} · first seen {}",
            f.validity
                .map_or("unknown (not checked, or the check failed)", |v| v.as_str()),
            f.first_seen_at.map_or("unknown".into(), |t| format!(
                "{} ({})",
                date(t),
                ago(days_since(t, now))
            ))
        );
    }
    if let Some(next) = recurred_as {
        let _ = writeln!(
            o,
            "  recurred as {}: the same credential seen again after this decision",
            s(next)
        );
    }
    if let Some(of) = &case.recurrence_of {
        let _ = writeln!(
            o,
            "  recurrence of {} (decided): the same credential seen again",
            s(of)
        );
    }
    if !case.tags.is_empty() {
        let _ = writeln!(o, "  tags {}", s(&case.tags.join(", ")));
    }
    write_occurrences(&mut o, case, now);
    if !case.problems.is_empty() {
        let _ = writeln!(
            o,
            "\nProblems ({}: the case loaded; these facts are read as unknown)",
            case.problems.len()
        );
        for p in &case.problems {
            // Display sanitises the path, the value and the message.
            let _ = writeln!(o, "  ! {p}");
        }
    }

    let id = &case.identity;
    let _ = writeln!(o, "\nIdentity");
    let _ = writeln!(
        o,
        "  {} · {} on {}{}",
        s(&id.name),
        s(&id.kind),
        s(&id.provider),
        id.account
            .as_deref()
            .map(|x| format!(" (account {})", s(x)))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "  id {}", s(&id.id));
    let _ = writeln!(
        o,
        "  created {} · last used {} · privilege {}",
        id.created_at.map_or("unknown".into(), |t| format!(
            "{} ({})",
            date(t),
            ago(days_since(t, now))
        )),
        match id.last_used_at {
            LastUsed::Unknown => "unknown".into(),
            LastUsed::Never => "never".into(),
            LastUsed::At(t) => format!("{} ({})", date(t), ago(days_since(t, now))),
        },
        id.privilege.map_or("unknown", |p| p.as_str())
    );

    let _ = writeln!(o, "\nOwnership");
    match &case.owner {
        None => {
            let _ = writeln!(o, "  no owner recorded");
        }
        Some(owner) => {
            let _ = writeln!(
                o,
                "  team {} · contact {} · basis {} · verified {}",
                s(owner.team.as_deref().unwrap_or("(not named)")),
                s(owner.contact.as_deref().unwrap_or("(none)")),
                owner.basis.as_str(),
                owner
                    .verified_at
                    .map_or("never".into(), |t| ago(days_since(t, now)))
            );
            if let Some(source) = &owner.source {
                let _ = writeln!(o, "  source {}", s(source));
            }
        }
    }
    write_context_notes(&mut o, case);

    write_tree(&mut o, case, now);

    let _ = writeln!(o, "\nReadiness");
    for (q, text, ans) in [
        ("Q1", "Who depends on this identity?", &a.q1),
        ("Q2", "What breaks if it is removed?", &a.q2),
        (
            "Q3",
            "How quickly can restoration occur if the decision was wrong?",
            &a.q3,
        ),
    ] {
        write_question(&mut o, q, text, ans);
    }
    let wanted = nhi_triage::context::wanted(case, policy, now);
    if !wanted.is_empty() {
        let _ = writeln!(o, "\nMissing context (which source would answer it)");
        for w in wanted {
            let _ = writeln!(o, "  ? {} {}: {}", w.field, w.problem, w.answered_by);
        }
    }

    let c = &a.checks;
    let _ = writeln!(o, "\nChecks");
    let _ = writeln!(
        o,
        "  identity age {} · privilege {} · usage {} · criticality {}",
        c.identity_age_days
            .map_or("unknown".into(), |d| format!("{d} days")),
        c.privilege.map_or("unknown", |p| p.as_str()),
        match c.usage {
            UsageCheck::Unknown => "unknown (a gap)".to_string(),
            UsageCheck::Recent { .. } => format!("{} (in use)", c.usage.describe()),
            other => other.describe(),
        },
        c.criticality.map_or("unknown", |l| l.as_str())
    );
    let _ = writeln!(
        o,
        "  change window {}",
        match &c.change_window {
            WindowCheck::None => "none (no constraint)".to_string(),
            WindowCheck::Open { ends_at } => format!("open until {}", rfc3339(*ends_at)),
            WindowCheck::Closed { start, end } =>
                format!("CLOSED ({} to {})", rfc3339(*start), rfc3339(*end)),
        }
    );
    for gap in c.gaps.iter().filter(|g| !g.starts_with("usage unknown")) {
        let _ = writeln!(o, "  - {}", sanitize(gap));
    }
    if a.quarantine_expired {
        let _ = writeln!(o, "  ! quarantine expired without a decision");
    }
    if a.used_during_quarantine {
        let _ = writeln!(
            o,
            "  ! used during quarantine: a legitimate dependency may exist"
        );
    }

    let _ = writeln!(o, "\nRouting flags");
    if a.routing.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for flag in &a.routing {
        let _ = writeln!(
            o,
            "  ! {}: {}",
            flag.kind.name(),
            s(&flag.raised_by.join(", "))
        );
    }

    let _ = writeln!(
        o,
        "\nTier {} → recommend {}",
        a.tier.name().to_uppercase(),
        a.recommendation
    );
    for r in &a.tier_reasons {
        let _ = writeln!(o, "  · {r}");
    }

    let _ = writeln!(o, "\nActions");
    if a.actions.is_empty() {
        let _ = writeln!(o, "  none: the case is {}", status.state.name());
    }
    for v in &a.actions {
        let verdict = match (v.allowed, v.needs_override) {
            (true, _) => "allowed",
            (false, true) => "REFUSED (break-glass override possible)",
            (false, false) => "REFUSED",
        };
        let _ = writeln!(o, "  {:<11}{verdict}", v.action.name());
        for r in &v.reasons {
            let _ = writeln!(o, "             - {r}");
        }
    }

    let _ = writeln!(o, "\nHistory");
    if history.is_empty() {
        let _ = writeln!(o, "  no decisions yet");
    }
    for r in history {
        let _ = writeln!(o, "  {}", history_line(r));
    }
    o
}

/// One evidence record on one line: `#SEQ TS REVIEWER ACTION (BEFORE →
/// AFTER)[ [BREAK-GLASS OVERRIDE]]: "JUSTIFICATION"`, sanitised.
pub fn history_line(r: &EvidenceRecord) -> String {
    format!(
        "#{} {} {} {} ({} → {}){}: \"{}\"",
        r.seq,
        rfc3339(r.ts),
        sanitize(&r.reviewer.to_string()),
        r.action,
        sanitize(&r.state_before.to_string()),
        sanitize(&r.state_after.to_string()),
        if r.override_ {
            " [BREAK-GLASS OVERRIDE]"
        } else {
            ""
        },
        sanitize(&r.justification)
    )
}

fn write_question(o: &mut String, q: &str, text: &str, ans: &Question) {
    let _ = writeln!(o, "  {q} {text:<62} {}", status_glyph(ans.status));
    for f in &ans.facts {
        let _ = writeln!(o, "       + {f}");
    }
    for g in &ans.gaps {
        let _ = writeln!(o, "       - {g}");
    }
}

/// The dependency tree under the identity. Each node is printed once; a
/// node reached again is a back-reference (`↑ see ID above`, or `↺` when it
/// closes a cycle). Indentation stops at `MAX_INDENT` levels and deeper rows
/// say their depth (`[depth 12345]`), so the output is O(nodes + edges) in
/// time, memory and bytes whatever the shape of the map.
/// Where the credential was seen, at most [`OCCURRENCES_SHOWN`] places.
fn write_occurrences(o: &mut String, case: &Case, now: OffsetDateTime) {
    if case.occurrences.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nSeen at ({})", case.occurrences.len());
    for occ in case.occurrences.iter().take(OCCURRENCES_SHOWN) {
        let _ = writeln!(o, "  {}", occurrence_line(occ, now));
    }
    if case.occurrences.len() > OCCURRENCES_SHOWN {
        let _ = writeln!(
            o,
            "  … and {} more (show --json lists them all)",
            case.occurrences.len() - OCCURRENCES_SHOWN
        );
    }
}

/// Places listed by `show` (all of them are in `show --json`).
const OCCURRENCES_SHOWN: usize = 10;

/// `REPO PATH:LINE @COMMIT (SOURCE, seen DATE)`, sanitised; what is not
/// known is left out.
fn occurrence_line(occ: &nhi_triage::model::Occurrence, now: OffsetDateTime) -> String {
    let place = sanitize(&occ.place_text()).into_owned();
    let mut about: Vec<String> = Vec::new();
    if let Some(source) = &occ.source {
        about.push(sanitize(source).into_owned());
    }
    if let Some(t) = occ.last_seen_at.or(occ.first_seen_at) {
        about.push(format!("seen {}", ago(days_since(t, now))));
    }
    if about.is_empty() {
        place
    } else {
        format!("{place} ({})", about.join(", "))
    }
}

/// The context's provenance of criticality and its disagreements.
fn write_context_notes(o: &mut String, case: &Case) {
    let Some(notes) = &case.context else {
        return;
    };
    if let Some(source) = notes.sources.get("criticality") {
        let _ = writeln!(
            o,
            "  criticality {} · source {}",
            case.criticality.map_or("unknown", |l| l.as_str()),
            sanitize(source)
        );
    }
    for d in &notes.disagreements {
        let _ = writeln!(
            o,
            "  ! sources disagree on {}: kept {} ({}), not {} ({})",
            sanitize(&d.field),
            sanitize(&d.kept),
            sanitize(&d.kept_source),
            sanitize(&d.other),
            sanitize(&d.other_source)
        );
    }
}

fn write_tree(o: &mut String, case: &Case, now: OffsetDateTime) {
    let Some(deps) = &case.dependencies else {
        let _ = writeln!(o, "\nDependency tree\n  no dependency map");
        return;
    };
    let verified = deps.verified_at.map_or("never verified".into(), |t| {
        format!("verified {}", ago(days_since(t, now)))
    });
    let _ = writeln!(o, "\nDependency tree (map {verified})");
    if let Some(source) = case
        .context
        .as_ref()
        .and_then(|n| n.sources.get("dependencies"))
    {
        let _ = writeln!(o, "  source {}", sanitize(source));
    }
    let _ = writeln!(o, "  {} [identity]", sanitize(&case.identity.name));
    let Some(graph) = DependencyGraph::of(case) else {
        return;
    };
    let rows = graph.outline();
    if rows.is_empty() {
        let _ = writeln!(o, "  (no dependents)");
    }
    // Per depth: whether more siblings follow (a `│` guide under it).
    let mut open: Vec<bool> = Vec::new();
    for row in &rows {
        open.truncate(row.depth - 1);
        open.resize(row.depth - 1, false);
        o.push_str("  ");
        // Guides for the drawn levels above this row; deeper levels are
        // summarised by the depth note.
        for &more in open.iter().take(row.indent() - 1) {
            o.push_str(if more { "│  " } else { "   " });
        }
        o.push_str(if row.last { "└─ " } else { "├─ " });
        open.push(!row.last);
        if let Some(note) = row.depth_note() {
            o.push_str(&note);
        }
        let node = graph.node(row.node);
        match row.kind {
            RowKind::Repeat => {
                let _ = writeln!(o, "↑ see {} above", sanitize(&node.id));
                continue;
            }
            RowKind::Cycle => {
                let _ = writeln!(
                    o,
                    "↺ {} (cycle: already above on this path)",
                    sanitize(&node.id)
                );
                continue;
            }
            RowKind::First => {}
        }
        let mut badges = String::new();
        if node.external == Some(true) {
            badges.push_str(" [external partner]");
        }
        if node.shared == Some(true) {
            badges.push_str(" [shared platform]");
        }
        let from = node
            .source
            .as_deref()
            .map(|x| format!(" — {}", sanitize(x)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "{} {} ({}, {}){badges}{from}",
            sanitize(&node.id),
            sanitize(node.name.as_deref().unwrap_or("")),
            sanitize(node.kind.as_deref().unwrap_or("?")),
            node.criticality
                .map_or("criticality unknown", |l| l.as_str()),
        );
    }
    for d in &graph.dangling {
        let _ = writeln!(
            o,
            "  ✗ dangling: {} uses {}, which is not in the map",
            sanitize(&d.from),
            sanitize(&d.missing)
        );
    }
}
