//! The queue table's columns: which fit, how wide each is, and how a value
//! too wide for its column is cut.
//!
//! Widths come from the content (the widest value of each column over all
//! cases, measured once per snapshot by the queue model) and the room on
//! screen. Columns are taken in priority order while their minimum widths
//! fit, so a wider pane never shows fewer columns; what room is left grows
//! each column toward its content width, most important first. Text too
//! wide is cut by display width on grapheme boundaries and ends in `…`; an
//! id keeps the part that tells it apart from its neighbours
//! (`…svc-000124`).

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use crate::tui::app::ColumnWidths;

/// A column of the queue table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// Two one-glyph markers: `!` the case has problems, `↑` a decision
    /// for it waits in the outbox.
    Marks,
    /// The case id, cut to keep what tells it apart.
    Id,
    /// Tier as glyph and word.
    Tier,
    /// The recommended action (a function of the tier).
    Rec,
    /// The state, with a quarantine's time left.
    State,
    /// Days since the case was opened.
    Age,
    /// The identity's name.
    Identity,
    /// `kind/provider` of the identity.
    KindProvider,
    /// The owner team.
    Owner,
}

/// A column chosen for the table, with its width in terminal columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Which column.
    pub kind: Col,
    /// Its header.
    pub title: &'static str,
    /// Its width in terminal columns (its content is cut to it).
    pub width: u16,
}

/// Columns in the order they are given room (and dropped last to first).
const PRIORITY: [Col; 9] = [
    Col::Marks,
    Col::Id,
    Col::Tier,
    Col::Identity,
    Col::State,
    Col::Owner,
    Col::Age,
    Col::KindProvider,
    Col::Rec,
];

/// Columns in the order they are drawn, left to right.
const ORDER: [Col; 9] = [
    Col::Marks,
    Col::Id,
    Col::Tier,
    Col::Rec,
    Col::State,
    Col::Age,
    Col::Identity,
    Col::Owner,
    Col::KindProvider,
];

/// Blank columns between two columns.
pub const SPACING: u16 = 1;

struct Spec {
    title: &'static str,
    min: u16,
    natural: u16,
}

fn spec(col: Col, w: &ColumnWidths) -> Spec {
    // A flexible column never asks for less than its title or more than its
    // content; its minimum is what still reads (an id's distinguishing
    // tail, the start of a name).
    let flex = |title: &'static str, content: u16, min: u16| {
        let natural = content.max(title.width() as u16);
        Spec {
            title,
            min: min.min(natural),
            natural,
        }
    };
    let fixed = |title: &'static str, width: u16| Spec {
        title,
        min: width,
        natural: width,
    };
    match col {
        Col::Marks => fixed("", 2),
        Col::Id => flex("ID", w.id, 10),
        Col::Tier => fixed("TIER", 6),
        Col::Rec => fixed("RECOMMEND", 10),
        // `quar 1d 6h`: the time left of a quarantine stays whole.
        Col::State => flex("STATE", w.state, 10),
        Col::Age => fixed("AGE", w.age.max(3)),
        Col::Identity => flex("IDENTITY", w.identity, 10),
        Col::KindProvider => flex("KIND/PROVIDER", w.kind_provider, 8),
        Col::Owner => flex("OWNER", w.owner, 8),
    }
}

/// The columns shown and their widths. Which columns: those whose minimum
/// widths fit in `basis` columns, in priority order, stopping at the first
/// that does not (so more room never means fewer columns). Their widths:
/// the minimum, then what is left of `width` goes to short content first
/// (whole), then to long content in proportion to what it lacks. `basis`
/// is at most `width`.
pub fn layout(widths: &ColumnWidths, basis: u16, width: u16) -> Vec<Column> {
    let basis = basis.min(width);
    let specs: Vec<(Col, Spec)> = PRIORITY.iter().map(|&c| (c, spec(c, widths))).collect();
    let mut used = 0u16;
    let mut count = 0;
    for (_, s) in &specs {
        let need = s.min + if count == 0 { 0 } else { SPACING };
        if used + need > basis {
            break;
        }
        used += need;
        count += 1;
    }
    let mut chosen: Vec<Column> = specs[..count]
        .iter()
        .map(|(kind, s)| Column {
            kind: *kind,
            title: s.title,
            width: s.min,
        })
        .collect();
    let mut spare = width.saturating_sub(used);
    let naturals: Vec<u16> = specs[..count].iter().map(|(_, s)| s.natural).collect();
    // Short content first, whole (an id, a state, an age), in priority
    // order; then what is left is shared by the long columns in proportion
    // to what each still lacks.
    for (column, &natural) in chosen.iter_mut().zip(&naturals) {
        if natural <= SHORT {
            let grow = natural.saturating_sub(column.width).min(spare);
            column.width += grow;
            spare -= grow;
        }
    }
    share_out(&mut chosen, &naturals, spare);
    chosen.sort_by_key(|c| ORDER.iter().position(|o| *o == c.kind));
    chosen
}

/// A column whose content is at most this wide gets its whole width
/// before longer content gets more than its minimum.
const SHORT: u16 = 12;

/// Shares `spare` columns among `columns` in proportion to what each lacks
/// of its natural width (largest remainders first), none beyond it.
fn share_out(columns: &mut [Column], naturals: &[u16], mut spare: u16) {
    loop {
        let lack: Vec<u16> = columns
            .iter()
            .zip(naturals)
            .map(|(c, &n)| n.saturating_sub(c.width))
            .collect();
        let total: u32 = lack.iter().map(|&l| u32::from(l)).sum();
        if spare == 0 || total == 0 {
            return;
        }
        if total <= u32::from(spare) {
            for (c, l) in columns.iter_mut().zip(&lack) {
                c.width += l;
            }
            return;
        }
        // Whole shares first; then one more each, in priority order, to
        // the columns still short, until the spare runs out.
        let mut given = 0;
        for (c, &l) in columns.iter_mut().zip(&lack) {
            let share = (u32::from(l) * u32::from(spare) / total) as u16;
            c.width += share;
            given += share;
        }
        spare -= given;
        for (c, &n) in columns.iter_mut().zip(naturals) {
            if spare > 0 && c.width < n {
                c.width += 1;
                spare -= 1;
            }
        }
    }
}

/// `s` cut to `width` display columns: whole when it fits, else as many
/// leading graphemes as fit before a `…`.
pub fn fit_end(s: &str, width: usize) -> Cow<'_, str> {
    // No character is wider than its UTF-8 bytes: short text fits as is.
    if s.len() <= width || s.width() <= width {
        return Cow::Borrowed(s);
    }
    if width == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = g.width();
        if used + w + 1 > width {
            break;
        }
        out.push_str(g);
        used += w;
    }
    out.push('…');
    Cow::Owned(out)
}

/// `s` cut to `width` display columns from the left: whole when it fits,
/// else `…` and as many trailing graphemes as fit.
pub fn fit_start(s: &str, width: usize) -> Cow<'_, str> {
    if s.width() <= width {
        return Cow::Borrowed(s);
    }
    if width == 0 {
        return Cow::Borrowed("");
    }
    let mut tail: Vec<&str> = Vec::new();
    let mut used = 0;
    for g in s.graphemes(true).rev() {
        let w = g.width();
        if used + w + 1 > width {
            break;
        }
        tail.push(g);
        used += w;
    }
    let mut out = String::from("…");
    out.extend(tail.into_iter().rev());
    Cow::Owned(out)
}

/// `s` cut to `width` display columns in the middle: whole when it fits,
/// else its start, `…`, and its end (the end gets the odd column).
pub fn fit_middle(s: &str, width: usize) -> Cow<'_, str> {
    if s.width() <= width {
        return Cow::Borrowed(s);
    }
    if width < 3 {
        return fit_end(s, width);
    }
    let room = width - 1;
    let head_room = room / 2;
    let head = fit_end(s, head_room + 1);
    let head = head.strip_suffix('…').unwrap_or(&head);
    let tail = fit_start(s, width - head.width());
    Cow::Owned(format!("{head}{tail}"))
}

/// An id cut to `width` columns so that it stays distinguishable: `shared`
/// is how many leading characters it has in common with the nearest other
/// ids. When the rest fits, the start goes (`…svc-000124`); when not, the
/// rest is cut in the middle (`…paym…000124`), keeping where it starts to
/// differ and its end.
pub fn fit_id(id: &str, shared: usize, width: usize) -> Cow<'_, str> {
    if id.width() <= width {
        return Cow::Borrowed(id);
    }
    let rest = id
        .char_indices()
        .nth(shared)
        .map_or("", |(at, _)| &id[at..]);
    if rest.width() < width {
        return fit_start(id, width);
    }
    if width < 4 {
        return fit_start(id, width);
    }
    Cow::Owned(format!("…{}", fit_middle(rest, width - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widths(id: u16, identity: u16, owner: u16, kind: u16, state: u16) -> ColumnWidths {
        ColumnWidths {
            id,
            identity,
            owner,
            kind_provider: kind,
            state,
            age: 4,
        }
    }

    fn used(cols: &[Column]) -> u16 {
        cols.iter().map(|c| c.width).sum::<u16>() + SPACING * (cols.len() as u16 - 1)
    }

    #[test]
    fn more_room_never_means_fewer_columns_and_nothing_overflows() {
        let w = widths(24, 36, 20, 26, 19);
        let mut last = 0;
        for width in 20..=220 {
            let cols = layout(&w, width, width);
            assert!(cols.len() >= last, "{width}: {} < {last}", cols.len());
            assert!(used(&cols) <= width, "{width}: {cols:?}");
            last = cols.len();
        }
        assert_eq!(last, 9);
    }

    #[test]
    fn the_basis_picks_the_columns_and_the_width_sizes_them() {
        let w = widths(9, 36, 20, 26, 19);
        let narrow = layout(&w, 50, 50);
        let capped = layout(&w, 50, 100);
        let kinds = |c: &[Column]| c.iter().map(|c| c.kind).collect::<Vec<_>>();
        assert_eq!(kinds(&narrow), kinds(&capped));
        assert!(used(&capped) > used(&narrow));
        let identity = |c: &[Column]| c.iter().find(|c| c.kind == Col::Identity).map(|c| c.width);
        assert_eq!(identity(&capped), Some(36), "{capped:?}");
    }

    #[test]
    fn cuts_end_in_an_ellipsis_by_display_width_on_grapheme_boundaries() {
        assert_eq!(fit_end("partner-saml-acmecorp-2019", 10), "partner-s…");
        assert_eq!(fit_end("short", 10), "short");
        assert_eq!(fit_end("決済バッチ用サービス", 7), "決済バ…");
        assert_eq!(fit_end("e\u{301}e\u{301}e\u{301}", 2), "e\u{301}…");
        assert_eq!(fit_end("👍🏽👍🏽", 3), "👍🏽…");
        assert_eq!(fit_start("prod-payments-svc-000123", 8), "…-000123");
        assert_eq!(fit_middle("abcdefghij", 7), "abc…hij");
        for s in ["決済バッチ用サービス", "abcdefghij", "👍🏽👍🏽👍🏽a"] {
            for w in 0..12 {
                assert!(fit_end(s, w).width() <= w);
                assert!(fit_start(s, w).width() <= w);
                assert!(fit_middle(s, w).width() <= w);
            }
        }
    }

    #[test]
    fn ids_keep_what_tells_them_apart() {
        let shared = "prod-payments-svc-00012".chars().count();
        assert_eq!(
            fit_id("prod-payments-svc-000123", shared, 11),
            "…svc-000123"
        );
        assert_eq!(
            fit_id("prod-payments-svc-000124", shared, 11),
            "…svc-000124"
        );
        assert_eq!(fit_id("prod-payments-svc-000124", shared, 3), "…24");
        // Differing early: the start of the difference and the end stay.
        let a = fit_id("prod-payments-svc-000123", 5, 12);
        let b = fit_id("prod-identity-svc-000123", 5, 12);
        assert_ne!(a, b);
        assert!(a.starts_with("…pay") && a.ends_with("123"), "{a}");
        assert_eq!(fit_id("CASE-0001", 8, 10), "CASE-0001");
    }
}
