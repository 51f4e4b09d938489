//! How far a terminal can be trusted to agree with `unicode-width` (and so
//! with ratatui's layout) about the width of a cell's symbol, and how to
//! print a symbol it may not agree on without disturbing its neighbours.
//!
//! Terminals disagree about emoji sequences (`♻️` is one column in tmux 3.3
//! and two for `unicode-width`; `👍🏽` four and two), variation selectors,
//! zero-width joiners, combining marks, format characters (the soft hyphen)
//! and, in a CJK setting, East-Asian-ambiguous characters. The backend
//! ([`super::backend`]) asks [`fit`] about every cell's symbol and, for one
//! that is not [`Fit::Exact`], places the next cell absolutely instead of
//! trusting where the cursor went; an [`Fit::Unsafe`] symbol is also
//! reduced by [`safe_form`] to characters whose width terminals agree on,
//! printed over blanks that cover every column the layout gave it.

use icu_properties::props::{
    EastAsianWidth, EmojiModifier, EmojiPresentation, ExtendedPictographic, RegionalIndicator,
};
use icu_properties::{CodePointMapData, CodePointSetData};
use unicode_width::UnicodeWidthChar;

/// What a terminal can be trusted to do with a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Its width is the same in every terminal: printable ASCII, box drawing
    /// and block elements (U+2500–U+259F, without which no text interface
    /// can be drawn), and single characters whose width is not ambiguous
    /// (CJK ideographs are two columns everywhere).
    Exact,
    /// One printable character of East-Asian-ambiguous width (`α`, `é`,
    /// `…`, `→`) or a pictograph shown as text by default (`⚠`): one column
    /// in every terminal's default setting, two where ambiguous characters
    /// are set wide. Printed as is; the next cell is placed absolutely.
    Ambiguous,
    /// Anything else: a sequence of several code points (an emoji with a
    /// variation selector, a skin tone or joiners, a letter with combining
    /// marks, a flag), an emoji shown as emoji by default (one column in
    /// older terminals, two in newer ones), and zero-width, format, control
    /// or unassigned characters. Printed as [`safe_form`] over blanks.
    Unsafe,
}

/// How `symbol` (one cell's grapheme, as ratatui lays it out) fits.
pub fn fit(symbol: &str) -> Fit {
    let mut chars = symbol.chars();
    let Some(c) = chars.next() else {
        return Fit::Exact;
    };
    if chars.next().is_some() {
        return Fit::Unsafe;
    }
    if c.is_ascii() {
        return if c.is_ascii_graphic() || c == ' ' {
            Fit::Exact
        } else {
            Fit::Unsafe
        };
    }
    if ('\u{2500}'..='\u{259f}').contains(&c) {
        return Fit::Exact;
    }
    if crate::text::is_invisible_or_control(c)
        || matches!(c.width(), None | Some(0))
        || CodePointSetData::new::<EmojiPresentation>().contains(c)
        || CodePointSetData::new::<EmojiModifier>().contains(c)
        || CodePointSetData::new::<RegionalIndicator>().contains(c)
    {
        return Fit::Unsafe;
    }
    if CodePointMapData::<EastAsianWidth>::new().get(c) == EastAsianWidth::Ambiguous
        || CodePointSetData::new::<ExtendedPictographic>().contains(c)
    {
        return Fit::Ambiguous;
    }
    Fit::Exact
}

/// What to print for an [`Fit::Unsafe`] `symbol` that the layout gave
/// `columns` columns: characters every terminal shows no wider than that.
///
/// - An emoji sequence (a pictograph followed by a skin tone, a variation
///   selector, joiners and more pictographs, a keycap or tag characters)
///   becomes its first pictograph: `👍🏽` → `👍`, `♻️` → `♻`, `👨‍👩‍👧` → `👨`.
/// - A flag (two regional indicators) stays as it is.
/// - Otherwise zero-width, format, control, private-use and unassigned
///   characters (the soft hyphen, zero-width spaces, variation selectors)
///   and stray skin tones are dropped; letters and combining marks stay.
///
/// Characters are then kept only while their widths (by `unicode-width`,
/// one character at a time, as most terminals count) fit in `columns`. The
/// result may be empty: the blanks under it are then all that shows.
pub fn safe_form(symbol: &str, columns: u16) -> String {
    let pictograph = CodePointSetData::new::<ExtendedPictographic>();
    let regional = CodePointSetData::new::<RegionalIndicator>();
    let modifier = CodePointSetData::new::<EmojiModifier>();
    let mut kept: Vec<char> = Vec::new();
    match symbol.chars().next() {
        Some(first) if pictograph.contains(first) => kept.push(first),
        Some(first) if regional.contains(first) => {
            kept.extend(symbol.chars().filter(|&c| regional.contains(c)));
        }
        _ => kept.extend(
            symbol
                .chars()
                .filter(|&c| !crate::text::is_invisible_or_control(c) && !modifier.contains(c)),
        ),
    }
    let mut out = String::new();
    let mut used = 0u16;
    for c in kept {
        let w = c.width().unwrap_or(0) as u16;
        if used + w > columns {
            break;
        }
        used += w;
        out.push(c);
    }
    // A combining mark with nothing before it would join whatever the
    // terminal shows to its left.
    if out.chars().next().is_some_and(|c| c.width() == Some(0)) {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_borders_are_exact() {
        for s in ["a", " ", "~", "│", "─", "┌", "▏", "█", "日", "ñ", "ç"] {
            assert_eq!(fit(s), Fit::Exact, "{s:?}");
        }
    }

    #[test]
    fn ambiguous_and_text_pictographs_are_placed_absolutely_after() {
        for s in ["α", "ж", "é", "ß", "…", "·", "→", "①", "°", "⚠", "▶", "♻"] {
            assert_eq!(fit(s), Fit::Ambiguous, "{s:?}");
        }
    }

    #[test]
    fn sequences_emoji_and_invisible_characters_are_unsafe() {
        for s in [
            "♻\u{fe0f}",
            "👍\u{1f3fd}",
            "👍",
            "👨\u{200d}👩\u{200d}👧",
            "\u{ad}",
            "e\u{301}",
            "🇩🇪",
            "\u{1f3fd}",
            "\u{e000}",
            "\x1b",
        ] {
            assert_eq!(fit(s), Fit::Unsafe, "{s:?}");
        }
    }

    #[test]
    fn safe_forms_are_what_terminals_agree_on() {
        assert_eq!(safe_form("♻\u{fe0f}", 2), "♻");
        assert_eq!(safe_form("👍\u{1f3fd}", 2), "👍");
        assert_eq!(safe_form("👨\u{200d}👩\u{200d}👧", 2), "👨");
        assert_eq!(safe_form("🇩🇪", 2), "🇩🇪");
        assert_eq!(safe_form("\u{ad}", 1), "");
        assert_eq!(safe_form("e\u{301}", 1), "e\u{301}");
        assert_eq!(safe_form("\u{1f3fd}", 2), "");
        assert_eq!(safe_form("\x1b", 1), "");
        // Never wider than the columns given.
        assert_eq!(safe_form("👍\u{1f3fd}", 1), "");
    }
}
