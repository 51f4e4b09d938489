//! Reading a detector's output: the text, and its JSON records with the
//! line each starts on (for messages that name the record).

use serde_json::value::RawValue;

use super::Skipped;

/// One input to import: a file (or standard input) as text.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The file name as given (`-` reads standard input: `(stdin)`).
    pub label: &'a str,
    /// The whole text, UTF-8, a leading BOM removed.
    pub text: &'a str,
}

impl<'a> Input<'a> {
    /// An input over `text` (a leading UTF-8 BOM is dropped).
    pub fn new(label: &'a str, text: &'a str) -> Self {
        Input {
            label,
            text: text.strip_prefix('\u{feff}').unwrap_or(text),
        }
    }

    /// The 1-based line that `part` (a slice of this text) starts on.
    pub fn line_of(&self, part: &str) -> Option<usize> {
        let start = (part.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        let before = self.text.get(..start)?;
        Some(memchr::memchr_iter(b'\n', before.as_bytes()).count() + 1)
    }
}

/// One JSON record of an input: its text (borrowed) and where it starts.
#[derive(Debug, Clone, Copy)]
pub struct JsonRecord<'a> {
    /// `FILE:LINE` of the record's first character.
    pub line: usize,
    /// The record's JSON text, exactly as in the input.
    pub raw: &'a RawValue,
}

impl<'a> JsonRecord<'a> {
    /// `FILE:LINE`, for [`Skipped::record`] and [`super::Detected::record`].
    pub fn label(&self, input: &Input<'_>) -> String {
        format!("{}:{}", input.label, self.line)
    }

    /// The record as a JSON tree.
    ///
    /// # Errors
    /// None in practice: the text was read as JSON already.
    pub fn value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.raw.get())
    }

    /// The elements of the array under `key` in this record (an object),
    /// each with its own line; `None` when the record is not an object or
    /// `key` is not an array in it.
    pub fn array_under(&self, input: &Input<'a>, key: &str) -> Option<Vec<JsonRecord<'a>>> {
        let fields: std::collections::HashMap<&str, &'a RawValue> =
            serde_json::from_str(self.raw.get()).ok()?;
        let inner = fields.get(key)?;
        let elements: Vec<&'a RawValue> = serde_json::from_str(inner.get()).ok()?;
        Some(records_of(input, elements))
    }
}

/// Records with their lines, counted in one pass ([`LineCounter`]).
fn records_of<'a>(input: &Input<'a>, raws: Vec<&'a RawValue>) -> Vec<JsonRecord<'a>> {
    let base = input.text.as_ptr() as usize;
    let mut lines = LineCounter::new(input.text);
    raws.into_iter()
        .map(|raw| {
            let start = (raw.get().as_ptr() as usize).saturating_sub(base);
            JsonRecord {
                line: lines.line_at(start),
                raw,
            }
        })
        .collect()
}

/// The 1-based line of byte offsets in a text, asked in increasing order:
/// each count starts where the last ended (counting from the start for
/// every record would be quadratic in a large file). An offset before the
/// last one is counted from the start.
pub struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    /// A counter over `text`, at its start (line 1).
    pub fn new(text: &'a str) -> Self {
        LineCounter {
            bytes: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    /// The line the byte at `offset` is on (offsets past the end: the
    /// last line).
    pub fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.bytes.len());
        if offset < self.at {
            self.at = 0;
            self.line = 1;
        }
        let between = self.bytes.get(self.at..offset).unwrap_or_default();
        self.line += memchr::memchr_iter(b'\n', between).count();
        self.at = offset;
        self.line
    }
}

/// The JSON records of `input`, whichever way the detector wrote them:
///
/// - a JSON array (`[` first): one record per element;
/// - one JSON value (an object spanning any number of lines): one record
///   (the parser then looks inside it, e.g. `{"findings": [...]}`);
/// - JSON values one after another (JSON lines, or pretty-printed objects
///   in a row): one record per value.
///
/// Lines of JSON lines that are not JSON are returned as [`Skipped`]
/// (`FILE:LINE: is not JSON: …`) and the rest still read.
///
/// # Errors
/// An array or single value that is not JSON: one [`Skipped`] for the file,
/// naming the line and column where reading stopped.
pub fn json_records<'a>(input: &Input<'a>) -> Result<(Vec<JsonRecord<'a>>, Vec<Skipped>), Skipped> {
    let text = input.text;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let elements: Vec<&'a RawValue> =
            serde_json::from_str(text).map_err(|e| not_json(input, &e))?;
        return Ok((records_of(input, elements), Vec::new()));
    }
    if let Ok(one) = serde_json::from_str::<&'a RawValue>(text) {
        return Ok((records_of(input, vec![one]), Vec::new()));
    }
    // Values one after another, each over any number of lines (what
    // `xargs aws … get-finding-v2` or `jq .` print): read them all, or
    // fall back to one value a line to name the lines that are not JSON.
    let stream = serde_json::Deserializer::from_str(text).into_iter::<&'a RawValue>();
    if let Ok(values) = stream.collect::<Result<Vec<_>, _>>() {
        return Ok((records_of(input, values), Vec::new()));
    }
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let json = line.trim();
        if json.is_empty() {
            continue;
        }
        match serde_json::from_str::<&'a RawValue>(json) {
            Ok(raw) => records.push(JsonRecord { line: i + 1, raw }),
            Err(e) => skipped.push(Skipped {
                record: format!("{}:{}", input.label, i + 1),
                field: None,
                reason: format!("is not JSON: {}", e),
                kind: super::SkipKind::Invalid,
            }),
        }
    }
    if records.is_empty() && !skipped.is_empty() && !trimmed.starts_with('{') {
        // Not JSON at all (a CSV given to a JSON format): one message.
        return Err(Skipped {
            record: input.label.to_string(),
            field: None,
            reason: "is not JSON (an array, an object or JSON lines)".to_string(),
            kind: super::SkipKind::Invalid,
        });
    }
    Ok((records, skipped))
}

fn not_json(input: &Input<'_>, e: &serde_json::Error) -> Skipped {
    Skipped {
        record: format!("{}:{}", input.label, e.line()),
        field: None,
        reason: format!("is not JSON: {}", e),
        kind: super::SkipKind::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_objects_and_lines_give_records_with_their_lines() {
        let array = "[\n {\"a\": 1},\n\n {\"a\": 2}\n]";
        let input = Input::new("f.json", array);
        let (records, skipped) = json_records(&input).expect("array");
        assert!(skipped.is_empty());
        assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);

        let object = "{\n \"findings\": [\n  {\"id\": 1},\n  {\"id\": 2}\n ]\n}";
        let input = Input::new("f.json", object);
        let (records, _) = json_records(&input).expect("object");
        assert_eq!(records.len(), 1);
        let inner = records[0]
            .array_under(&input, "findings")
            .expect("findings");
        assert_eq!(inner.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4]);

        let objects = "{\n \"a\": 1\n}\n{\n \"a\": 2\n}\n";
        let input = Input::new("f.json", objects);
        let (records, skipped) = json_records(&input).expect("objects in a row");
        assert!(skipped.is_empty());
        assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 4]);

        let lines = "{\"a\":1}\nnot json\n\n{\"a\":2}\n";
        let input = Input::new("f.jsonl", lines);
        let (records, skipped) = json_records(&input).expect("lines");
        assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].record, "f.jsonl:2");
    }

    #[test]
    fn a_broken_array_is_one_message_naming_the_line() {
        let input = Input::new("f.json", "[\n{\"a\":1},\n{\"a\":\n");
        let e = json_records(&input).expect_err("broken");
        assert!(e.record.starts_with("f.json:"), "{e}");
        let input = Input::new("f.csv", "user,arn\nx,y\n");
        assert!(json_records(&input).is_err());
    }
}
