//! Making untrusted text safe to show: the one sanitising policy.
//!
//! Case files come from detection pipelines we do not control, and reviewer
//! names, justifications and escalation targets are typed by people. A name
//! holding `ESC [ 2 J`, a BEL or an OSC 52 sequence (which writes the
//! clipboard) must be shown as text, never interpreted by a terminal or a
//! spreadsheet. The policy, applied to every human-facing output:
//!
//! - **Terminal text** (the console, the CLI's text output, standard error,
//!   log lines, CSV cells): every character of [`is_terminal_unsafe`] (C0
//!   controls, DEL, C1 controls, the bidi controls) is replaced by a visible
//!   escape (`\x1b`, `\x9b`, `\u{202e}`, `\n`). One-line fields use
//!   [`sanitize`]; text that may span lines (messages, CSV cells, whole
//!   output streams) uses [`sanitize_block`] or the streaming
//!   [`SafeWriter`], which keep line ends (`\n`, `\r\n`) and escape the rest.
//! - **JSON** (every `--json` output, the export, the HTTP API): the same
//!   value, but every character of [`needs_json_escape`] (a superset of the
//!   above: also format characters such as zero-width spaces, line and
//!   paragraph separators, private-use and unassigned code points) is
//!   written as a `\uXXXX` escape ([`crate::output::json`]). The JSON stays
//!   valid and parses to the same strings.
//!
//! The evidence log itself is not an output: its bytes are what its hashes
//! cover and are never re-written (docs/format.md).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

/// `s` with control, escape and bidi-override characters made visible
/// (`\x1b`, `\n`, `\u{202e}`, ...), for one-line fields (table cells, names,
/// ids). Borrowed when nothing needed changing. Idempotent: its output
/// holds no character it would change.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    escape_where(s, is_terminal_unsafe)
}

/// `s` with every character `escaped` selects written as its visible
/// escape (`\x1b`, `\n`, `\u{200b}`); borrowed when there is none. The one
/// loop behind [`sanitize`] and stricter displays (a case problem shows
/// every invisible character: [`is_invisible_or_control`]).
pub fn escape_where(s: &str, escaped: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escaped(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` sanitised and in double quotes, for naming a value in a message
/// (`reviewer name "bad\x1b[31m"`). Unlike `{:?}`, it does not escape the
/// escapes again (`\\x1b`): what the reader sees is what was typed.
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", sanitize(s))
}

/// As [`sanitize`], for text that may span lines (a message, a CSV cell, a
/// log line): line feeds and CR LF pairs are kept, every other character of
/// [`is_terminal_unsafe`] (a lone CR, which would let text overwrite its
/// own line, included) is made visible.
pub fn sanitize_block(s: &str) -> Cow<'_, str> {
    let keeps = |i: usize, c: char| match c {
        '\n' => true,
        '\r' => s.as_bytes().get(i + 1) == Some(&b'\n'),
        c => !is_terminal_unsafe(c),
    };
    if s.char_indices().all(|(i, c)| keeps(i, c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        if keeps(i, c) {
            out.push(c);
        } else {
            push_escape(&mut out, c);
        }
    }
    Cow::Owned(out)
}

/// The visible escape of `c`: `\n`, `\r`, `\t`, `\xNN` below U+0100,
/// `\u{N}` above.
fn push_escape(out: &mut String, c: char) {
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

/// Whether `c` must never reach a terminal raw: a control character (C0,
/// DEL, C1: `char::is_control`), a bidi control (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069), which reorders the text around it, or
/// any other format character (Unicode category Cf: zero-width space, soft
/// hyphen, word joiner, byte-order mark, the invisible tag characters that
/// can hide text from a reader), which draws as nothing. The two joiners
/// U+200C/U+200D are kept: they hide nothing, and scripts (Persian, the
/// Indic scripts) and emoji sequences need them to be spelt right.
pub fn is_terminal_unsafe(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control() || is_bidi_control(c) || (is_format(c) && !matches!(c, '\u{200c}' | '\u{200d}'))
}

/// Unicode general category Cf (format).
fn is_format(c: char) -> bool {
    use icu_properties::CodePointMapData;
    use icu_properties::props::GeneralCategory;
    CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// Whether a JSON output writes `c` as a `\uXXXX` escape although JSON
/// allows it raw: everything of [`is_invisible_or_control`] (controls, C1,
/// bidi and other format characters, default-ignorables, private-use and
/// unassigned code points, blank symbols) and the line and paragraph
/// separators U+2028/U+2029. A superset of [`is_terminal_unsafe`], so JSON
/// passes [`SafeWriter`] unchanged.
pub fn needs_json_escape(c: char) -> bool {
    if c < '\u{7f}' {
        // JSON's own escaping covers U+0000–U+001F; the rest is printable.
        return c < ' ';
    }
    matches!(c, '\u{2028}' | '\u{2029}') || is_invisible_or_control(c)
}

/// A writer that applies [`sanitize_block`] to a byte stream on its way to
/// `W`: line ends pass, every other character of [`is_terminal_unsafe`] is
/// written as its visible escape, and bytes that are not UTF-8 as `\xNN`.
/// A character or a CR LF split across two writes is handled whole; what is
/// held back is written by [`flush`](io::Write::flush) (a lone trailing CR
/// or an incomplete sequence then escaped).
///
/// Standard output and standard error of the CLI and the server's log
/// lines go through one, so no code path can put a raw escape sequence on a
/// terminal, whatever it forgot to sanitise.
#[derive(Debug)]
pub struct SafeWriter<W: io::Write> {
    inner: W,
    /// Bytes held back: an incomplete UTF-8 sequence or a CR whose next
    /// byte is not known yet (at most 4 bytes).
    held: Vec<u8>,
    /// The sanitised bytes of one write, reused.
    scratch: Vec<u8>,
}

impl<W: io::Write> SafeWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        SafeWriter {
            inner,
            held: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The wrapped writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Writes `data` sanitised, in one write to the inner writer (so a log
    /// line is never interleaved with another's); with `end`, nothing is
    /// held back.
    fn process(&mut self, data: &[u8], end: bool) -> io::Result<()> {
        let mut data_owned = std::mem::take(&mut self.held);
        let data: &[u8] = if data_owned.is_empty() {
            data
        } else {
            data_owned.extend_from_slice(data);
            &data_owned
        };
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let mut start = 0; // the first byte not copied yet
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            if (0x20..0x7f).contains(&b) || b == b'\n' {
                i += 1;
                continue;
            }
            if b == b'\r' {
                match data.get(i + 1) {
                    Some(b'\n') => {
                        i += 2;
                        continue;
                    }
                    None if !end => {
                        self.held.push(b'\r');
                        break;
                    }
                    _ => {}
                }
            }
            let (len, escape) = match b {
                0..0x80 => (1, Some(b as char)),
                _ => match utf8_width(b) {
                    0 => (1, None),
                    w if i + w > data.len() && !end => {
                        self.held.extend_from_slice(&data[i..]);
                        break;
                    }
                    w => match data
                        .get(i..i + w)
                        .and_then(|s| std::str::from_utf8(s).ok())
                        .and_then(|s| s.chars().next())
                    {
                        Some(c) if is_terminal_unsafe(c) => (w, Some(c)),
                        Some(_) => {
                            i += w;
                            continue;
                        }
                        None => (1, None),
                    },
                },
            };
            out.extend_from_slice(&data[start..i]);
            let mut shown = String::new();
            match escape {
                Some(c) => push_escape(&mut shown, c),
                None => {
                    let _ = write!(shown, "\\x{b:02x}");
                }
            }
            out.extend_from_slice(shown.as_bytes());
            i += len;
            start = i;
        }
        let result = if start == 0 && out.is_empty() {
            // Nothing to escape: no copy.
            self.inner.write_all(&data[..i])
        } else {
            out.extend_from_slice(&data[start..i]);
            self.inner.write_all(&out)
        };
        self.scratch = out;
        result
    }
}

/// The length of the UTF-8 sequence a lead byte starts; 0 when `b` cannot
/// start one.
fn utf8_width(b: u8) -> usize {
    match b {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

impl<W: io::Write> io::Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.process(buf, false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.held.is_empty() {
            self.process(&[], true)?;
        }
        self.inner.flush()
    }
}

/// What is held back is written (escaped) when the writer goes; errors
/// then have nowhere to go.
impl<W: io::Write> Drop for SafeWriter<W> {
    fn drop(&mut self) {
        if !self.held.is_empty() {
            let _ = self.process(&[], true);
        }
    }
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
        // Joiners spell scripts and emoji sequences: kept.
        assert!(matches!(
            sanitize("👩\u{200d}💻 می\u{200c}خواهم"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn format_characters_that_draw_as_nothing_become_visible() {
        assert_eq!(sanitize("a\u{200b}b"), "a\\u{200b}b");
        assert_eq!(sanitize("tm\u{ad}ascii"), "tm\\xadascii");
        assert_eq!(sanitize("x\u{feff}y\u{2060}z"), "x\\u{feff}y\\u{2060}z");
        assert_eq!(sanitize("hi\u{e0041}"), "hi\\u{e0041}");
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

    #[test]
    fn blocks_keep_line_ends_only() {
        assert!(matches!(sanitize_block("a\nb\r\nc"), Cow::Borrowed(_)));
        assert_eq!(
            sanitize_block("a\rb\x1b]52;c;SGk=\x07\n\u{85}\u{2067}"),
            "a\\rb\\x1b]52;c;SGk=\\x07\n\\x85\\u{2067}"
        );
    }

    /// Everything written through a `SafeWriter`, in chunks split at every
    /// possible byte, comes out as `sanitize_block` of the whole.
    #[test]
    fn the_writer_matches_sanitize_block_whatever_the_chunking() {
        use std::io::Write;
        let text = "ok \x1b[2J\r\nnext\u{9b}31m\u{202e}é🔑\r";
        let expected = sanitize_block(text).into_owned();
        for cut in 0..=text.len() {
            let mut w = SafeWriter::new(Vec::new());
            let (a, b) = text.as_bytes().split_at(cut);
            w.write_all(a).unwrap();
            w.write_all(b).unwrap();
            w.flush().unwrap();
            assert_eq!(
                String::from_utf8(std::mem::take(w.get_mut())).unwrap(),
                expected,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn the_writer_escapes_bytes_that_are_not_utf8() {
        use std::io::Write;
        let mut w = SafeWriter::new(Vec::new());
        w.write_all(b"a\x9b2Jb\xe2\x80").unwrap();
        w.flush().unwrap();
        assert_eq!(
            String::from_utf8(std::mem::take(w.get_mut())).unwrap(),
            "a\\x9b2Jb\\xe2\\x80"
        );
    }

    #[test]
    fn json_escapes_cover_the_terminal_ones() {
        for c in [
            '\u{7f}', '\u{85}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{2028}',
            '\u{feff}',
        ] {
            assert!(needs_json_escape(c), "{c:?}");
        }
        for c in ['a', ' ', 'é', '日', '🔑', '"'] {
            assert!(!needs_json_escape(c), "{c:?}");
        }
        for c in (0..0x3000u32).filter_map(char::from_u32) {
            if is_terminal_unsafe(c) && c >= ' ' {
                assert!(needs_json_escape(c), "{c:?}");
            }
        }
    }
}
