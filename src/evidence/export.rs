//! Exporting the log for auditors: CSV (one row a record) and JSON (an array).

use std::borrow::Cow;
use std::io::{self, Write};

use super::record::EvidenceRecord;
use crate::model::rfc3339;
use crate::text::sanitize_block;

const CSV_HEADER: &[&str] = &[
    "seq",
    "id",
    "ts",
    "case_id",
    "identity_id",
    "reviewer",
    "host",
    "via",
    "action",
    "justification",
    "quarantine_until",
    "escalate_to",
    "override",
    "escalated_by",
    "q1",
    "q2",
    "q3",
    "tier",
    "recommendation",
    "gaps",
    "policy_version",
    "policy_sha256",
    "case_version",
    "state_before",
    "state_after",
    "controls",
    "prev_hash",
    "hash",
];

/// RFC 4180 CSV (the `csv` crate: CRLF line ends, a cell quoted when it
/// holds `,`, `"` or a line break), one row a record after a header row.
///
/// Cells are text for people and spreadsheets, so two rules apply to every
/// cell (docs/cli.md, "evidence export"):
///
/// - **terminal safety**: control and bidi characters are written as
///   visible escapes ([`crate::text::sanitize_block`]: `ESC` as `\x1b`,
///   BEL as `\x07`, U+202E as `\u{202e}`), so neither `cat` nor a
///   spreadsheet sees an escape sequence; line breaks inside a cell stay
///   (a multi-line justification);
/// - **formula injection** (OWASP "CSV injection"): a cell that a
///   spreadsheet would run as a formula — starting with `=`, `+`, `-`, `@`,
///   a tab or a carriage return — gets a leading `'`, which spreadsheets
///   show as text. None of our own cells (numbers, times, hashes, enums)
///   starts with those, so only reviewer-typed and case-file text is ever
///   changed.
///
/// The JSON export ([`to_json`]) is the faithful form: the same values,
/// unchanged.
///
/// # Errors
/// Errors of `out`.
pub fn to_csv(records: &[EvidenceRecord], out: impl Write) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out);
    w.write_record(CSV_HEADER)?;
    for r in records {
        let cells = [
            r.seq.to_string(),
            r.id.to_string(),
            rfc3339(r.ts),
            r.case_id.clone(),
            r.identity_id.clone(),
            r.reviewer.name.clone(),
            r.reviewer.host.clone(),
            r.reviewer.via.clone(),
            r.action.to_string(),
            r.justification.clone(),
            r.quarantine_until.map(rfc3339).unwrap_or_default(),
            r.escalate_to.clone().unwrap_or_default(),
            r.override_.to_string(),
            r.escalated_by.clone().unwrap_or_default(),
            r.readiness.q1.name().into(),
            r.readiness.q2.name().into(),
            r.readiness.q3.name().into(),
            r.readiness.tier.name().into(),
            r.readiness.recommendation.to_string(),
            r.readiness.gaps.join("; "),
            r.policy.version.clone(),
            r.policy.sha256.clone(),
            r.case_version.to_string(),
            r.state_before.to_string(),
            r.state_after.to_string(),
            r.controls.join(" "),
            r.prev_hash.clone(),
            r.hash.clone(),
        ];
        w.write_record(cells.iter().map(|c| csv_cell(c).into_owned()))?;
    }
    w.flush()
}

/// One cell's text: sanitised for terminals, then defused for
/// spreadsheets (see [`to_csv`]).
fn csv_cell(cell: &str) -> Cow<'_, str> {
    let safe = sanitize_block(cell);
    match safe.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{safe}")),
        _ => safe,
    }
}

/// A JSON array of the records, one record a line, written with the
/// escapes of every JSON output ([`crate::output::json`]: C1, bidi and
/// format characters as `\uXXXX`). The values are the log's, unchanged;
/// the bytes can differ from the log's lines where a string holds such a
/// character, so check hashes on `evidence.jsonl` itself (`evidence
/// verify`, or docs/format.md on a copy of it).
///
/// # Errors
/// Errors of `out`.
pub fn to_json(records: &[EvidenceRecord], mut out: impl Write) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, r) in records.iter().enumerate() {
        out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        crate::output::json::to_writer(&mut out, r)?;
    }
    out.write_all(if records.is_empty() { b"]\n" } else { b"\n]\n" })?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn cells_are_made_safe_for_terminals_and_spreadsheets() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "\\tx");
        assert_eq!(csv_cell("\r\n=x"), "'\r\n=x");
        assert_eq!(
            csv_cell("ok\x1b]52;c;SGk=\x07\x1b[2J\nline 2"),
            "ok\\x1b]52;c;SGk=\\x07\\x1b[2J\nline 2"
        );
    }
}
