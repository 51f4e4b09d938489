//! The rules for ids (case, identity, dependency node) and the one key that
//! every lookup of a case by id uses.
//!
//! Two ids that look the same must be the same id: `D-0001`, `D-0001 ` and
//! `D-0001` + U+200B (zero-width space) would otherwise load as three cases
//! that all display as `D-0001`. So an id with leading or trailing
//! whitespace, or with any control, format (zero-width, bidi) or other
//! invisible character, is refused, and ids are compared in Unicode NFC
//! (the loader stores them in NFC; a lookup normalises its argument with
//! [`case_id_key`]). docs/format.md, "Ids".

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Why `id` is not a valid id, in words that start with a verb, or `Ok`.
///
/// Refused: the empty id, leading or trailing whitespace (any Unicode
/// White_Space), and any character for which
/// [`crate::text::is_invisible_or_control`] holds (controls, format
/// characters such as U+200B and the bidi controls, default-ignorable,
/// private-use and unassigned code points).
pub fn check_id(id: &str) -> Result<(), String> {
    check(id).map(|_| ())
}

/// An id as the loader keeps it: checked ([`check_id`]) and in NFC.
pub(crate) fn read_id(id: String) -> Result<String, String> {
    if check(&id)? { Ok(id) } else { Ok(nfc(id)) }
}

/// [`check_id`]; `Ok(true)` when the id is printable ASCII (so in NFC).
fn check(id: &str) -> Result<bool, String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    // The common id: printable ASCII, no space at either end. (A fold
    // without early exit, which the compiler turns into vector code.)
    let bytes = id.as_bytes();
    let printable = bytes
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(0x20) < 0x5f));
    if printable && bytes.first() != Some(&b' ') && bytes.last() != Some(&b' ') {
        return Ok(true);
    }
    if id.starts_with(char::is_whitespace) || id.ends_with(char::is_whitespace) {
        return Err("has leading or trailing whitespace".into());
    }
    if let Some(c) = id
        .chars()
        .find(|&c| !plainly_visible(c) && crate::text::is_invisible_or_control(c))
    {
        return Err(format!(
            "holds an invisible or control character (U+{:04X})",
            c as u32
        ));
    }
    Ok(false)
}

/// Characters known visible without a Unicode property lookup: printable
/// ASCII, and blocks whose every code point is an assigned letter (Latin-1
/// letters and Latin Extended-A/B, Cyrillic, CJK Unified Ideographs, Hangul
/// syllables). Only a shortcut: anything else is looked up.
fn plainly_visible(c: char) -> bool {
    matches!(c, '\u{21}'..='\u{7e}' | '\u{c0}'..='\u{24f}' | '\u{400}'..='\u{4ff}'
        | '\u{4e00}'..='\u{9fff}' | '\u{ac00}'..='\u{d7a3}')
}

/// `s` in Unicode NFC (no copy when it already is: always for ASCII).
pub fn nfc<'a>(s: impl Into<Cow<'a, str>>) -> String {
    let s = s.into();
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        return s.into_owned();
    }
    s.nfc().collect()
}

/// The key a case is found by: `id` with surrounding whitespace removed, in
/// Unicode NFC. Loaded case ids are already in this form (the loader refuses
/// surrounding whitespace and stores NFC), so `show`, `decide`, the API's
/// `/v1/cases/ID` and the console find a case by any spelling of its id.
pub fn case_id_key(id: &str) -> Cow<'_, str> {
    let id = id.trim();
    if id.is_ascii() || is_nfc_quick(id.chars()) == IsNormalized::Yes {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(id.nfc().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_ids_are_refused() {
        assert!(check_id("D-0001").is_ok());
        assert!(check_id("svc:payments api").is_ok());
        assert!(check_id("café").is_ok());
        for bad in [
            "",
            " ",
            "D-0001 ",
            " D-0001",
            "D-0001\t",
            "D-0001\u{200b}",
            "D-\u{202e}0001",
            "D-0001\u{a0}",
            "D-00\u{7}01",
            "D-0001\u{2066}",
            "D\u{ad}-0001",
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        // The shortcut's blocks hold only visible letters.
        for c in ('\u{c0}'..='\u{24f}')
            .chain('\u{400}'..='\u{4ff}')
            .chain('\u{4e00}'..='\u{9fff}')
            .chain('\u{ac00}'..='\u{d7a3}')
        {
            assert!(
                plainly_visible(c) && !crate::text::is_invisible_or_control(c),
                "{c:?}"
            );
        }
        let e = check_id("D-0001\u{200b}").unwrap_err();
        assert!(e.contains("U+200B"), "{e}");
        assert!(check_id("D-0001 ").unwrap_err().contains("whitespace"));
    }

    #[test]
    fn two_spellings_are_one_key() {
        let composed = "caf\u{e9}";
        let decomposed = "cafe\u{301}";
        assert_eq!(nfc(decomposed), composed);
        assert_eq!(case_id_key(decomposed), composed);
        assert_eq!(case_id_key(" D-0001 "), "D-0001");
        assert!(matches!(case_id_key("D-0001"), Cow::Borrowed(_)));
    }
}
