//! Exporting the log for auditors: CSV (one row a record) and JSON (an array).

use std::io::{self, Write};

use super::record::EvidenceRecord;
use crate::model::rfc3339;

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

/// RFC 4180 CSV. Cells that a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, tab or CR) get a leading `'`.
pub fn to_csv(records: &[EvidenceRecord], mut out: impl Write) -> io::Result<()> {
    write_row(&mut out, CSV_HEADER.iter().map(|s| s.to_string()))?;
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
        write_row(&mut out, cells.into_iter())?;
    }
    out.flush()
}

fn write_row(out: &mut impl Write, cells: impl Iterator<Item = String>) -> io::Result<()> {
    let mut first = true;
    for cell in cells {
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        out.write_all(csv_cell(&cell).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

fn csv_cell(cell: &str) -> String {
    let defused = match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// A JSON array of the records exactly as logged (hashes included).
pub fn to_json(records: &[EvidenceRecord], mut out: impl Write) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, r) in records.iter().enumerate() {
        out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        serde_json::to_writer(&mut out, r)?;
    }
    out.write_all(if records.is_empty() { b"]\n" } else { b"\n]\n" })?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
    }
}
