//! Multi-document YAML read with bounds, for Backstage catalogs and
//! Kubernetes manifests.
//!
//! The stream is split at its document markers (`---` and `...` at the
//! start of a line, where YAML 1.2 §9.1 makes them markers wherever they
//! occur) and each document is parsed on its own with `yaml_serde`, so one
//! bad document is a problem naming its line and the others still load.
//! Each document is read into a small tree ([`Y`]) under a budget that
//! counts every value *after* alias expansion: a "billion laughs" document
//! is refused after [`MAX_DOC_COST`] units of work, never expanded.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Documents larger than this (bytes) are refused with a problem.
pub const MAX_DOC_BYTES: usize = 8 * 1024 * 1024;
/// Documents per file read at most; the rest of the file is refused.
pub const MAX_DOCS: usize = 10_000;
/// The budget of one document once aliases are expanded: every value costs
/// 32 units plus the bytes of its text. A document over it is refused.
pub const MAX_DOC_COST: usize = 96 * 1024 * 1024;

/// A YAML value as the context sources read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    /// `null`, `~` or empty.
    Null,
    /// A plain `true`/`false`.
    Bool(bool),
    /// A plain number, as its text.
    Num(String),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Y>),
    /// A mapping: keys as text, in document order (a repeated key is an
    /// error of the document).
    Map(Vec<(String, Y)>),
}

impl Y {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Y> {
        match self {
            Y::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a path of mapping keys.
    pub fn at(&self, path: &[&str]) -> Option<&Y> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    /// A string value (not a number or boolean).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Y::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text: strings, numbers, `true`/`false`.
    pub fn text(&self) -> Option<String> {
        match self {
            Y::Str(s) | Y::Num(s) => Some(s.clone()),
            Y::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The items of a sequence; empty for anything else.
    pub fn items(&self) -> &[Y] {
        match self {
            Y::Seq(items) => items,
            _ => &[],
        }
    }

    /// A short name of the value's shape, for messages.
    pub fn shape(&self) -> &'static str {
        match self {
            Y::Null => "null",
            Y::Bool(_) => "a boolean",
            Y::Num(_) => "a number",
            Y::Str(_) => "a string",
            Y::Seq(_) => "a list",
            Y::Map(_) => "a mapping",
        }
    }
}

/// One document of a stream and the 1-based line of its first content
/// (the line after its `---`, usually).
#[derive(Debug)]
pub struct Doc {
    /// The line of the document's start in the file.
    pub line: usize,
    /// Its content.
    pub value: Y,
}

/// Every document of `text`, and a (line, message) problem for each one
/// that could not be read. Empty documents (only comments, as Helm writes)
/// are skipped.
pub fn documents(text: &str) -> (Vec<Doc>, Vec<(usize, String)>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs = Vec::new();
    let mut problems = Vec::new();
    for (count, chunk) in chunks(text).into_iter().enumerate() {
        if count >= MAX_DOCS {
            problems.push((
                chunk.first_line,
                format!("more than {MAX_DOCS} documents in one file; the rest is not read"),
            ));
            break;
        }
        let body = &text[chunk.start..chunk.end];
        if body.len() > MAX_DOC_BYTES {
            problems.push((
                chunk.first_line,
                format!(
                    "document of {} bytes is over the limit of {MAX_DOC_BYTES}; not read",
                    body.len()
                ),
            ));
            continue;
        }
        match parse(body) {
            Ok(value) => docs.push(Doc {
                line: chunk.first_line,
                value,
            }),
            Err(e) => {
                let offset = chunk.start_line - 1;
                let line = e
                    .location()
                    .map(|l| l.line() + offset)
                    .unwrap_or(chunk.first_line);
                problems.push((
                    line,
                    format!(
                        "YAML document not read: {}",
                        shift_lines(&e.to_string(), offset)
                    ),
                ));
            }
        }
    }
    (docs, problems)
}

/// A document's place in the stream: byte range, the line its text starts
/// on, and the line of its first content.
struct Chunk {
    start: usize,
    end: usize,
    start_line: usize,
    first_line: usize,
    marked: bool,
}

impl Chunk {
    fn at(start: usize, start_line: usize) -> Self {
        Chunk {
            start,
            end: 0,
            start_line,
            first_line: 0,
            marked: false,
        }
    }
}

/// Splits a stream at its document markers. A `---` line after content
/// starts a new document (directives and comments before it stay with
/// it); a `...` line ends one. Chunks without content are dropped.
fn chunks(text: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut cur = Chunk::at(0, 1);
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches(['\n', '\r']);
        let next = offset + raw.len();
        if is_marker(line, "---") {
            if cur.first_line != 0 || cur.marked {
                push_chunk(&mut out, cur, offset);
                cur = Chunk::at(offset, line_no);
            }
            cur.marked = true;
        }
        if is_marker(line, "...") {
            push_chunk(&mut out, cur, next);
            cur = Chunk::at(next, line_no + 1);
        } else if cur.first_line == 0 && has_content(line) {
            cur.first_line = line_no;
        }
        offset = next;
    }
    push_chunk(&mut out, cur, text.len());
    out
}

fn push_chunk(out: &mut Vec<Chunk>, mut chunk: Chunk, end: usize) {
    if chunk.first_line != 0 {
        chunk.end = end;
        out.push(chunk);
    }
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// A line that is more than blank, a comment, a directive or a bare `---`.
fn has_content(line: &str) -> bool {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') || line.starts_with('%') {
        return false;
    }
    if is_marker(line, "---") {
        let rest = line[3..].trim_start();
        return !(rest.is_empty() || rest.starts_with('#'));
    }
    true
}

/// `msg` with every "line N" made "line N+offset" (yaml_serde counts from
/// the start of the document's text, the file from its first line).
fn shift_lines(msg: &str, offset: usize) -> String {
    if offset == 0 {
        return msg.to_string();
    }
    let mut out = String::with_capacity(msg.len() + 8);
    let mut rest = msg;
    while let Some(at) = rest.find("line ") {
        let (head, tail) = rest.split_at(at + 5);
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        match tail[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&tail[..digits]),
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Parses one document under the budget.
fn parse(body: &str) -> Result<Y, yaml_serde::Error> {
    let spent = Cell::new(0usize);
    let value = Seed { spent: &spent }.deserialize(yaml_serde::Deserializer::from_str(body))?;
    Ok(value)
}

/// Builds a [`Y`], charging every value to a shared budget.
#[derive(Clone, Copy)]
struct Seed<'a> {
    spent: &'a Cell<usize>,
}

impl Seed<'_> {
    fn charge<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let spent = self.spent.get().saturating_add(32).saturating_add(bytes);
        self.spent.set(spent);
        if spent > MAX_DOC_COST {
            return Err(E::custom(format!(
                "document too large once its aliases are expanded (over {MAX_DOC_COST} units); not read"
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Y;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Y, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Y;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Y, E> {
        self.charge(0)?;
        Ok(Y::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Y, E> {
        self.charge(0)?;
        Ok(Y::Num(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Y, E> {
        self.charge(0)?;
        Ok(Y::Num(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Y, E> {
        self.charge(0)?;
        Ok(Y::Num(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Y, E> {
        self.charge(0)?;
        Ok(Y::Num(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Y, E> {
        self.charge(0)?;
        Ok(Y::Num(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Y, E> {
        self.charge(v.len())?;
        Ok(Y::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Y, E> {
        self.charge(v.len())?;
        Ok(Y::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Y, E> {
        self.charge(0)?;
        Ok(Y::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Y, E> {
        self.visit_unit()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Y, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Y, A::Error> {
        self.charge(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Y::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Y, A::Error> {
        self.charge(0)?;
        let mut entries: Vec<(String, Y)> = Vec::new();
        while let Some(key) = map.next_key_seed(self)? {
            let key = match key {
                Y::Str(s) | Y::Num(s) => s,
                Y::Bool(b) => b.to_string(),
                Y::Null => "null".to_string(),
                other => {
                    return Err(de::Error::custom(format!(
                        "a mapping key is {}; keys must be scalars",
                        other.shape()
                    )));
                }
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let value = map.next_value_seed(self)?;
            entries.push((key, value));
        }
        Ok(Y::Map(entries))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Y, A::Error> {
        // A tagged value (`!Tag value`): the tag is dropped, the value kept.
        use de::VariantAccess as _;
        let (_tag, variant): (Y, _) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_keeps_lines() {
        let text = "# head\n---\na: 1\n---\n\n---\nb: [x, y]\n...\n%YAML 1.2\n---\nc: true\n";
        let (docs, problems) = documents(text);
        assert!(problems.is_empty(), "{problems:?}");
        let lines: Vec<usize> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![3, 7, 11]);
        assert_eq!(docs[1].value.get("b").map(|b| b.items().len()), Some(2));
        assert_eq!(docs[2].value.get("c"), Some(&Y::Bool(true)));
    }

    #[test]
    fn a_bad_document_names_its_file_line_and_the_rest_loads() {
        let text = "a: 1\n---\nb: [1, 2\nc: 3\n---\nd: 4\n";
        let (docs, problems) = documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(problems.len(), 1);
        let (line, msg) = &problems[0];
        assert!((3..=5).contains(line), "{line} {msg}");
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let (docs, problems) = documents("a: 1\na: 2\n");
        assert!(docs.is_empty());
        assert!(problems[0].1.contains("duplicate key"), "{problems:?}");
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        let mut text = String::from("a0: &a0 [\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]\n");
        for i in 1..30 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let (docs, problems) = documents(&text);
        assert!(docs.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn line_numbers_in_messages_are_shifted() {
        assert_eq!(
            shift_lines("x at line 2 column 3, while at line 1 column 1", 10),
            "x at line 12 column 3, while at line 11 column 1"
        );
    }
}
