//! Owners tables: CSV (RFC 4180, read with the `csv` crate) with a header
//! row naming the columns `identity`, `team`, `contact`, `criticality`,
//! `verified_at` (any order and case; extra columns ignored; only
//! `identity` is required) — exported from cloud tags, a CMDB or a
//! spreadsheet.
//!
//! `identity` is an identity id or a pattern where `*` matches any
//! characters, `/` included (`arn:aws:iam::111122223333:role/ci-*`). For a
//! case, an exact row beats a pattern; among patterns the one with the
//! longest literal prefix (the text before its first `*`) wins; ties go to
//! the later row (files in name order). The winning row gives all its
//! facts; a blank cell is unknown. A bad cell (a `verified_at` without a
//! zone, a criticality that is not a level) is a problem naming the line
//! and column and that value stays unknown; the row still applies.
//!
//! A row with a team gives an owner with basis `explicit`: a table of
//! record is a recorded owner, not a deduction; without `verified_at` the
//! ownership is unverified, so Q1 stays partial.

use std::collections::HashMap;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use time::OffsetDateTime;

use super::{FileRef, Problems, parse_level};
use crate::model::{Level, Owner, OwnerBasis};

/// One row as read.
#[derive(Debug, Clone)]
pub(super) struct Row {
    identity: String,
    pub team: Option<String>,
    pub contact: Option<String>,
    pub criticality: Option<Level>,
    pub verified_at: Option<OffsetDateTime>,
    /// `owners table, IDENTITY (FILE)`.
    pub source: String,
    path: std::path::PathBuf,
    line: usize,
}

impl Row {
    /// The row's owner, when it names a team.
    pub fn owner(&self) -> Option<Owner> {
        Some(Owner {
            team: Some(self.team.clone()?),
            contact: self.contact.clone(),
            basis: OwnerBasis::Explicit,
            verified_at: self.verified_at,
            source: Some(self.source.clone()),
        })
    }
}

/// The rows of every owners table, indexed after [`OwnersTable::finish`].
#[derive(Debug, Clone, Default)]
pub(super) struct OwnersTable {
    rows: Vec<Row>,
    exact: HashMap<String, usize>,
    /// Glob index → (row index, literal prefix length).
    patterns: Vec<(usize, usize)>,
    set: GlobSet,
}

/// The column indices of a table's header.
struct Columns {
    identity: usize,
    team: Option<usize>,
    contact: Option<usize>,
    criticality: Option<usize>,
    verified_at: Option<usize>,
}

impl OwnersTable {
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Reads one table; bad rows and cells are problems.
    pub(super) fn add_file(&mut self, file: &FileRef, text: &str, problems: &mut Problems) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(text.as_bytes());
        let header = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                problems.push(
                    &file.path,
                    1,
                    format!("header row cannot be read ({e}); file ignored"),
                );
                return;
            }
        };
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let Some(identity) = find("identity") else {
            problems.push(
                &file.path,
                1,
                "no `identity` column in the header (expected identity, team, contact, criticality, verified_at); file ignored",
            );
            return;
        };
        let cols = Columns {
            identity,
            team: find("team"),
            contact: find("contact"),
            criticality: find("criticality"),
            verified_at: find("verified_at"),
        };
        let mut record = csv::StringRecord::new();
        loop {
            let line = reader.position().line() as usize;
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map_or(line, |p| p.line() as usize);
                    self.add_row(file, line, &record, &cols, problems);
                }
                Err(e) => {
                    let line = e.position().map_or(line, |p| p.line() as usize);
                    problems.push(
                        &file.path,
                        line,
                        format!("row cannot be read ({e}); skipped"),
                    );
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        break;
                    }
                }
            }
        }
    }

    fn add_row(
        &mut self,
        file: &FileRef,
        line: usize,
        record: &csv::StringRecord,
        cols: &Columns,
        problems: &mut Problems,
    ) {
        let cell = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            return;
        }
        let Some(identity) = cell(Some(cols.identity)) else {
            problems.push(&file.path, line, "column identity is empty; row skipped");
            return;
        };
        let criticality = cell(cols.criticality).and_then(|v| {
            let level = parse_level(&v);
            if level.is_none() {
                problems.push(
                    &file.path,
                    line,
                    format!(
                        "column criticality: {} is not critical, high, medium or low; criticality unknown",
                        crate::text::quoted(&v)
                    ),
                );
            }
            level
        });
        let verified_at = cell(cols.verified_at).and_then(|v| match crate::model::parse_rfc3339(&v) {
            Ok(t) => Some(t),
            Err(_) => {
                problems.push(
                    &file.path,
                    line,
                    format!(
                        "column verified_at: {} is not an RFC 3339 time with a zone; ownership unverified",
                        crate::text::quoted(&v)
                    ),
                );
                None
            }
        });
        self.rows.push(Row {
            identity: identity.clone(),
            team: cell(cols.team),
            contact: cell(cols.contact),
            criticality,
            verified_at,
            // The row's key, not its line: a row added above must not
            // change every joined case's content.
            source: format!("owners table, {identity} ({})", file.rel),
            path: file.path.clone(),
            line,
        });
    }

    /// Indexes the rows: exact ids, and the patterns in one glob set.
    pub(super) fn finish(&mut self, problems: &mut Problems) {
        let mut builder = GlobSetBuilder::new();
        for (i, row) in self.rows.iter().enumerate() {
            if !row.identity.contains('*') {
                // The later row wins a tie.
                self.exact.insert(row.identity.clone(), i);
                continue;
            }
            let glob: String = row
                .identity
                .split('*')
                .map(globset::escape)
                .collect::<Vec<_>>()
                .join("*");
            match GlobBuilder::new(&glob).literal_separator(false).build() {
                Ok(g) => {
                    builder.add(g);
                    let prefix = row.identity.find('*').unwrap_or(row.identity.len());
                    self.patterns.push((i, prefix));
                }
                Err(e) => problems.push(
                    &row.path,
                    row.line,
                    format!("pattern cannot be read ({e}); row skipped"),
                ),
            }
        }
        match builder.build() {
            Ok(set) => self.set = set,
            Err(e) => {
                if let Some(&(row, _)) = self.patterns.first() {
                    let row = &self.rows[row];
                    problems.push(
                        &row.path,
                        0,
                        format!("patterns cannot be compiled ({e}); patterns ignored"),
                    );
                }
                self.patterns.clear();
            }
        }
    }

    /// The row for identity `id`: the exact one, else the most specific
    /// pattern (the later row on a tie).
    pub(super) fn row_for(&self, id: &str) -> Option<&Row> {
        if let Some(&i) = self.exact.get(id.trim()) {
            return Some(&self.rows[i]);
        }
        self.set
            .matches(id.trim())
            .into_iter()
            .map(|g| self.patterns[g])
            .max_by_key(|&(row, prefix)| (prefix, row))
            .map(|(row, _)| &self.rows[row])
    }
}
