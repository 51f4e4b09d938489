//! JSON as every output writes it: serde_json, plus `\uXXXX` escapes for the
//! characters of [`needs_json_escape`] (C1 controls, bidi and other format
//! characters, ...), which serde_json passes through raw. The document stays
//! valid JSON and parses to the same values; viewed raw (a terminal, a log
//! viewer, a code review) it can no longer reorder or hide text.
//!
//! What is *not* written this way: the evidence log and the case digest's
//! canonical bytes, which are defined with serde_json's own escaping
//! (docs/format.md) and never change.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use crate::text::needs_json_escape;

/// A serde_json [`Formatter`] that escapes [`needs_json_escape`] characters
/// in strings and object keys, delegating layout to `F`
/// ([`PrettyFormatter`] or [`CompactFormatter`]).
#[derive(Debug, Clone, Default)]
pub struct SafeFormatter<F> {
    inner: F,
}

impl<F> SafeFormatter<F> {
    /// Escapes on top of `inner`'s layout.
    pub fn new(inner: F) -> Self {
        SafeFormatter { inner }
    }
}

/// Writes `fragment` with each [`needs_json_escape`] character as `\uXXXX`
/// (a surrogate pair above U+FFFF). Everything else passes unchanged.
fn write_escaped<W: ?Sized + Write>(writer: &mut W, fragment: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in fragment.char_indices() {
        // ASCII below DEL never needs more than JSON's own escaping, which
        // serde_json has done before a fragment gets here.
        if c < '\u{7f}' || !needs_json_escape(c) {
            continue;
        }
        writer.write_all(&fragment.as_bytes()[start..i])?;
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            write!(writer, "\\u{unit:04x}")?;
        }
        start = i + c.len_utf8();
    }
    writer.write_all(&fragment.as_bytes()[start..])
}

impl<F: Formatter> Formatter for SafeFormatter<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_escaped(writer, fragment)
    }

    /// A raw JSON fragment (a `RawValue`): in valid JSON a character beyond
    /// ASCII can only stand inside a string, so escaping it in place keeps
    /// the fragment valid and its value the same.
    fn write_raw_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_escaped(writer, fragment)
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.inner.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.inner.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object_value(w)
    }
}

/// Writes `value` as pretty-printed JSON (two-space indent, as
/// `serde_json::to_writer_pretty`) with the escapes above. Streams: nothing
/// but `value` itself is held in memory.
///
/// # Errors
/// The writer's I/O errors and the value's own serialisation errors.
pub fn to_writer_pretty<W: Write, T: ?Sized + Serialize>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser =
        serde_json::Serializer::with_formatter(writer, SafeFormatter::new(PrettyFormatter::new()));
    value.serialize(&mut ser)
}

/// As [`to_writer_pretty`], compact (one line, no spaces).
///
/// # Errors
/// As [`to_writer_pretty`].
pub fn to_writer<W: Write, T: ?Sized + Serialize>(writer: W, value: &T) -> serde_json::Result<()> {
    let mut ser =
        serde_json::Serializer::with_formatter(writer, SafeFormatter::new(CompactFormatter));
    value.serialize(&mut ser)
}

/// `value` as compact JSON bytes with the escapes above.
///
/// # Errors
/// The value's serialisation errors (a map with non-string keys, ...).
pub fn to_vec<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    to_writer(&mut out, value)?;
    Ok(out)
}

/// An HTTP response body of JSON written with the escapes above
/// (`Content-Type: application/json`): the server's answers, which a
/// client may print or log. As a request extractor it is axum's `Json`
/// (same rejection), so one name serves both directions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        use axum::http::{HeaderValue, StatusCode, header};
        match to_vec(&self.0) {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                e.to_string(),
            )
                .into_response(),
        }
    }
}

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    axum::Json<T>:
        axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = axum::extract::rejection::JsonRejection;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Json(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(v: &serde_json::Value) -> String {
        let mut out = Vec::new();
        to_writer_pretty(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn c1_bidi_and_format_characters_are_escaped_and_the_value_kept() {
        let evil = "a\u{85}b\u{9b}2J\u{202e}c\u{2066}d\u{200b}e\u{7f}f\u{2028}g\u{e0001}h\u{1b}";
        let v = serde_json::json!({"k\u{202e}": evil, "plain": "é 日本 🔑"});
        let text = pretty(&v);
        assert!(
            text.contains(
                r#""a\u0085b\u009b2J\u202ec\u2066d\u200be\u007ff\u2028g\udb40\udc01h\u001b""#
            ),
            "{text}"
        );
        assert!(text.contains(r#""k\u202e""#), "{text}");
        assert!(text.contains("é 日本 🔑"), "{text}");
        assert!(
            !text.chars().any(|c| c != '\n' && needs_json_escape(c)),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        // The layout is serde_json's.
        assert_eq!(
            pretty(&serde_json::json!({"a": [1, {"b": null}]})),
            serde_json::to_string_pretty(&serde_json::json!({"a": [1, {"b": null}]})).unwrap()
        );
    }

    #[test]
    fn raw_fragments_are_escaped_too() {
        let raw = serde_json::value::RawValue::from_string("{\"t\":\"x\u{9b}y\"}".into()).unwrap();
        let text = String::from_utf8(to_vec(&raw).unwrap()).unwrap();
        assert_eq!(text, r#"{"t":"x\u009by"}"#);
    }
}
