//! Making untrusted text safe to show.
//!
//! Case files come from detection pipelines we do not control. A name holding
//! `ESC [ 2 J` or an OSC 52 sequence must be shown as text, never interpreted
//! by the reviewer's terminal, so every control character (C0, DEL, C1) and
//! every bidirectional override is replaced by a visible escape.

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with control, escape and bidi-override characters made visible
/// (`\x1b`, `\n`, `\u{202e}`, ...). Borrowed when nothing needed changing.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// True for characters a reader cannot see or that change how text around
/// them is shown: controls (Cc), format characters (Cf: zero-width spaces,
/// soft hyphens, joiners, bidi marks), the bidi controls, every
/// Default_Ignorable_Code_Point of Unicode (Hangul fillers, variation
/// selectors, the combining grapheme joiner, ...), private-use and
/// unassigned code points, and symbols that draw nothing or only a
/// placeholder ([`BLANK_SYMBOLS`]).
pub fn is_invisible_or_control(c: char) -> bool {
    use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
    use icu_properties::{CodePointMapData, CodePointSetData};
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    c.is_control()
        || is_bidi_control(c)
        || BLANK_SYMBOLS.contains(&c)
        || matches!(
            category,
            GeneralCategory::Format | GeneralCategory::PrivateUse | GeneralCategory::Unassigned
        )
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// Symbols (category So) that draw as blank or as a placeholder box: the
/// blank Braille pattern, the object replacement character, the musical null
/// notehead.
pub const BLANK_SYMBOLS: [char; 3] = ['\u{2800}', '\u{fffc}', '\u{1d159}'];

/// Whether a grapheme cluster (a user-perceived character) shows something
/// a reader can see: it holds a letter, number, punctuation or symbol that is
/// not invisible. A combining mark alone, whitespace or a string of
/// invisible characters does not.
pub fn is_visible_grapheme(g: &str) -> bool {
    use icu_properties::CodePointMapData;
    use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
    let categories = CodePointMapData::<GeneralCategory>::new();
    let seen = GeneralCategoryGroup::Letter
        .union(GeneralCategoryGroup::Number)
        .union(GeneralCategoryGroup::Punctuation)
        .union(GeneralCategoryGroup::Symbol);
    g.chars()
        .any(|c| seen.contains(categories.get(c)) && !is_invisible_or_control(c))
}

/// "a" or "an" before `word` (by its first letter: enough for our own words).
pub fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Characters that reorder text on screen and can disguise what is shown.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(sanitize("svc-billing 日本 🔑"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_become_visible_text() {
        let evil = "a\x1b[2Jb\x1b]52;c;SGVsbG8=\x07c\u{9b}d\u{202e}e\n";
        let shown = sanitize(evil);
        assert_eq!(
            shown,
            "a\\x1b[2Jb\\x1b]52;c;SGVsbG8=\\x07c\\x9bd\\u{202e}e\\n"
        );
        assert!(!shown.chars().any(|c| c.is_control()));
    }
}
