//! The IAM credential report (docs/import.md, *aws-credential-report*): the
//! CSV that `aws iam get-credential-report` returns base64-encoded in
//! `Content`, as the IAM User Guide's "Generate credential reports for your
//! AWS account" defines its columns.
//!
//! One case per active access key (`access_key_N_active` `TRUE`). Columns
//! are read by header name, so added columns and any order are fine. The
//! report holds no secret material and no access key id: the credential
//! key is the user's ARN, the slot and `access_key_N_last_rotated`, so
//! re-importing a report is stable, a rotated key is a new credential, and
//! these cases never group with another detector's (nothing else knows the
//! slot).

use csv::{ErrorKind, ReaderBuilder, StringRecord, Trim};
use time::OffsetDateTime;
use time::macros::datetime;

use super::cloud::{arn_account, new_case, quoted};
use super::input::LineCounter;
use super::{Detected, ImportOptions, Input, Parsed, parse_time};
use crate::model::{Finding, Identity, LastUsed, Privilege, rfc3339};

const SOURCE: &str = "aws-credential-report";

/// When IAM began tracking access key use (IAM User Guide: `N/A` in
/// `access_key_N_last_used_date` also means "not used since IAM began
/// tracking this information on April 22, 2015").
const TRACKING_BEGAN: OffsetDateTime = datetime!(2015-04-22 00:00 UTC);

/// The columns of one access key slot (`access_key_1_…`, `access_key_2_…`).
struct Slot {
    n: u8,
    active: usize,
    last_rotated: usize,
    last_used: usize,
    region: Option<usize>,
    service: Option<usize>,
}

struct Columns {
    user: usize,
    arn: usize,
    slots: Vec<Slot>,
}

impl Columns {
    /// The columns by header name.
    ///
    /// # Errors
    /// The name of a required column the header lacks.
    fn of(header: &StringRecord) -> Result<Columns, String> {
        let find = |name: &str| header.iter().position(|h| h == name);
        let need = |name: &str| find(name).ok_or_else(|| name.to_string());
        let user = need("user")?;
        let arn = need("arn")?;
        let mut slots = Vec::new();
        for n in 1..=2u8 {
            let name = |what: &str| format!("access_key_{n}_{what}");
            // A slot is read only when its three key columns are there.
            let Some(active) = find(&name("active")) else {
                continue;
            };
            slots.push(Slot {
                n,
                active,
                last_rotated: need(&name("last_rotated"))?,
                last_used: need(&name("last_used_date"))?,
                region: find(&name("last_used_region")),
                service: find(&name("last_used_service")),
            });
        }
        if slots.is_empty() {
            return Err("access_key_1_active".to_string());
        }
        Ok(Columns { user, arn, slots })
    }
}

/// Reads `input` (the decoded CSV): one case per active access key.
pub(super) fn parse(input: &Input<'_>, _options: &ImportOptions) -> Parsed {
    let mut parsed = Parsed::default();
    if input.text.trim().is_empty() {
        parsed.invalid(input.label, None, "is empty: not an IAM credential report");
        return parsed;
    }
    let mut reader = ReaderBuilder::new()
        .trim(Trim::All)
        .from_reader(input.text.as_bytes());
    let columns = match reader.headers().map(Columns::of) {
        Ok(Ok(columns)) => columns,
        Ok(Err(column)) => {
            let record = format!("{}:1", input.label);
            parsed.invalid(
                &record,
                Some(&column),
                "is not a column of the header: not an IAM credential report",
            );
            return parsed;
        }
        Err(e) => {
            parsed.invalid(
                input.label,
                None,
                format!("has no readable header row: {}", error_words(&e)),
            );
            return parsed;
        }
    };
    let mut lines = LineCounter::new(input.text);
    for row in reader.records() {
        match row {
            Ok(row) => {
                let line = row
                    .position()
                    .map(|p| line_at(&mut lines, input.text, p.byte()))
                    .unwrap_or(0);
                read_row(input, line, &columns, &row, &mut parsed)
            }
            Err(e) => {
                let line = e
                    .position()
                    .map(|p| line_at(&mut lines, input.text, p.byte()))
                    .unwrap_or(0);
                let record = format!("{}:{line}", input.label);
                parsed.invalid(&record, None, error_words(&e));
            }
        }
    }
    parsed
}

/// The 1-based line of the row that starts at `byte`. The reader places a
/// row that follows a CRLF at the CRLF's `\n` (and counts lines so), so
/// line ends there are skipped first.
fn line_at(lines: &mut LineCounter<'_>, text: &str, byte: u64) -> usize {
    let bytes = text.as_bytes();
    let mut at = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
    while matches!(bytes.get(at), Some(b'\n' | b'\r')) {
        at += 1;
    }
    lines.line_at(at)
}

/// Why a row could not be read, without its content.
fn error_words(e: &csv::Error) -> String {
    match e.kind() {
        ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} fields where the header has {expected_len}")
        }
        ErrorKind::Utf8 { .. } => "is not UTF-8 text".to_string(),
        _ => "is not a CSV row".to_string(),
    }
}

fn read_row(
    input: &Input<'_>,
    line: usize,
    columns: &Columns,
    row: &StringRecord,
    parsed: &mut Parsed,
) {
    let record = format!("{}:{line}", input.label);
    let user = row.get(columns.user).unwrap_or("");
    let arn = row.get(columns.arn).unwrap_or("");
    if user.is_empty() {
        parsed.invalid(&record, Some("user"), "is empty");
        return;
    }
    if !arn.starts_with("arn:") {
        let why = if arn.is_empty() {
            "is empty".to_string()
        } else {
            format!("is {}, not an ARN", quoted(arn))
        };
        parsed.invalid(&record, Some("arn"), why);
        return;
    }
    for slot in &columns.slots {
        if let Some(case) = read_slot(slot, row, user, arn, &record, parsed) {
            parsed.findings.push(case);
        }
    }
}

fn read_slot(
    slot: &Slot,
    row: &StringRecord,
    user: &str,
    arn: &str,
    record: &str,
    parsed: &mut Parsed,
) -> Option<Detected> {
    let n = slot.n;
    let field = |what: &str| format!("access_key_{n}_{what}");
    let active = row.get(slot.active).unwrap_or("");
    if active.eq_ignore_ascii_case("FALSE") {
        parsed.not_applicable(
            record,
            Some(&field("active")),
            format!("is {active}: access key {n} is not active"),
        );
        return None;
    }
    if !active.eq_ignore_ascii_case("TRUE") {
        parsed.invalid(
            record,
            Some(&field("active")),
            format!("is {}, not TRUE or FALSE", quoted(active)),
        );
        return None;
    }
    let rotated_text = row.get(slot.last_rotated).unwrap_or("");
    let Some(rotated) = parse_time(rotated_text) else {
        let why = format!(
            "is {}, not a time (RFC 3339 with a zone) for an active key",
            quoted(rotated_text)
        );
        parsed.invalid(record, Some(&field("last_rotated")), why);
        return None;
    };
    let used_text = row.get(slot.last_used).unwrap_or("");
    let last_used_at = match parse_time(used_text) {
        Some(t) => LastUsed::At(t),
        // N/A: no such key, never used, or not used since tracking began.
        // The key is active, so "never" when it was made after that day.
        None if used_text == "N/A" && rotated >= TRACKING_BEGAN => LastUsed::Never,
        None if used_text == "N/A" => LastUsed::Unknown,
        None => {
            let why = format!("is {}, not a time or N/A", quoted(used_text));
            parsed.invalid(record, Some(&field("last_used_date")), why);
            return None;
        }
    };
    let known = |i: Option<usize>| {
        i.and_then(|i| row.get(i))
            .filter(|v| !v.is_empty() && *v != "N/A")
    };
    let place = match (known(slot.service), known(slot.region)) {
        (Some(service), Some(region)) => format!(" ({service} in {region})"),
        (Some(service), None) => format!(" ({service})"),
        _ => String::new(),
    };
    let root = user == "<root_account>" || arn.ends_with(":root");
    let whose = if root {
        "the root account".to_string()
    } else {
        user.to_string()
    };
    let use_words = match last_used_at {
        LastUsed::At(t) => format!("last used {}{place}", rfc3339(t)),
        LastUsed::Never => "never used".to_string(),
        LastUsed::Unknown => {
            "last use unknown (N/A for a key from before IAM tracked use, April 22, 2015)"
                .to_string()
        }
    };
    // No last use in the title: the first title stays on re-import, and
    // the last use changes with every report.
    let title = format!("Access key {n} of {whose}");
    let summary = format!(
        "IAM credential report: access key {n} of {whose} is active; created or last rotated {}; {use_words}",
        rfc3339(rotated)
    );
    let identity = Identity {
        id: arn.to_string(),
        name: user.to_string(),
        kind: "api_key".to_string(),
        provider: "aws".to_string(),
        account: arn_account(arn),
        created_at: Some(rotated),
        last_used_at,
        // The root user has full access to the account (IAM User Guide).
        privilege: root.then_some(Privilege::Admin),
    };
    let finding = Finding {
        kind: "long_lived".to_string(),
        severity: None,
        source: Some(SOURCE.to_string()),
        detected_at: None,
        summary: Some(summary),
        owasp: None,
        refs: Vec::new(),
        first_seen_at: None,
        validity: None,
    };
    let mut case = new_case(rotated, title, identity, finding);
    if root {
        case.tags.push("root".to_string());
    }
    let rotated_utc = rfc3339(rotated.to_offset(time::UtcOffset::UTC));
    Some(Detected {
        record: record.to_string(),
        credential: format!("{SOURCE}:{arn}#access_key_{n}#{rotated_utc}"),
        case,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_read_by_name_and_needs_a_key_slot() {
        let header = StringRecord::from(vec![
            "arn",
            "extra",
            "user",
            "access_key_1_active",
            "access_key_1_last_rotated",
            "access_key_1_last_used_date",
        ]);
        let columns = Columns::of(&header).expect("columns");
        assert_eq!((columns.user, columns.arn, columns.slots.len()), (2, 0, 1));
        let header = StringRecord::from(vec!["user", "arn"]);
        assert_eq!(
            Columns::of(&header).err().as_deref(),
            Some("access_key_1_active")
        );
    }

    #[test]
    fn rows_are_named_by_their_line_with_lf_or_crlf() {
        for text in ["h\nrow 2\nrow 3\n", "h\r\nrow 2\r\nrow 3\r\n"] {
            let third = text.find("row 3").expect("row");
            let mut lines = LineCounter::new(text);
            assert_eq!(line_at(&mut lines, text, third as u64), 3);
            // Where the reader places a row after a CRLF: at its `\n`.
            assert_eq!(line_at(&mut lines, text, (third - 1) as u64), 3);
            assert_eq!(line_at(&mut lines, text, 0), 1);
        }
    }
}
