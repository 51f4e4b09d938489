//! Importers: what the detectors teams run write, read into cases
//! (docs/import.md).
//!
//! Each format has its own module with one function,
//! `parse(&Input, &ImportOptions) -> Parsed`, that reads the detector's
//! output as its public documentation defines it and returns one
//! [`Detected`] per finding (or a [`Skipped`] naming the record, the field
//! and the reason). Parsers copy only the fields they name: a field that
//! carries secret material (a raw value, a match, a redacted value, a code
//! snippet) is read only to compute a keyed fingerprint ([`Fingerprinter`])
//! and never leaves the parser. A fact the format does not give stays
//! unknown (`None`), never a default.
//!
//! After parsing, [`group`] folds findings of the same credential into one
//! case with its occurrences, and [`reconcile`] decides what an imported
//! case does to the one the store holds (new, updated, unchanged, or a
//! recurrence of a decided case). The store runs that inside its write
//! transaction.

mod action;
mod asff;
mod aws_access_analyzer;
mod aws_credential_report;
mod cloud;
mod fingerprint;
mod format;
mod gitguardian;
mod github_secret_scanning;
mod gitleaks;
mod group;
mod input;
mod leak;
mod ocsf;
mod reconcile;
mod times;
pub use group::Grouped;
mod trufflehog;

pub use action::propose_action;
pub use fingerprint::Fingerprinter;
pub use format::Format;
pub use group::{case_id_for, group};
pub use input::{Input, JsonRecord, LineCounter, json_records};
pub use reconcile::{Outcome, merge, next_recurrence_id, reconcile, recurrence_id};
pub use times::{parse_time, parse_time_or_epoch};

use crate::model::Case;

/// What every parser is given besides the input.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Keys fingerprints of secrets, so the store never holds a plain hash
    /// of one (docs/import.md, *Secret material*).
    pub fingerprints: Fingerprinter,
    /// The repository (`owner/name`) the findings were scanned from, when
    /// the format does not say (`--repository`; gitleaks reports hold no
    /// repository name).
    pub repository: Option<String>,
    /// The import time: `opened_at` of a new case whose detector gives no
    /// time (re-imports keep the first `opened_at`, see [`reconcile`]).
    pub now: time::OffsetDateTime,
}

/// One finding read from a detector's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    /// Where it was read, for messages: `FILE:LINE` (the line where the
    /// record starts) or `FILE: row N`.
    pub record: String,
    /// The credential it concerns: equal keys are one credential, one case
    /// (a provider identity such as `aws-access-key:<fingerprint>`, or
    /// `secret:<fingerprint>` for a leaked secret). Never holds secret
    /// material.
    pub credential: String,
    /// The case as this record gives it; `id` is set by [`group`] from
    /// `credential`.
    pub case: Case,
}

/// Why a record was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it was read (as [`Detected::record`]).
    pub record: String,
    /// The field at fault (`access_key_1_last_rotated`, `resources[0].uid`),
    /// in the detector's own names; `None` for the record as a whole.
    pub field: Option<String>,
    /// Why, in words: `is not JSON: …`, `a compliance check that PASSED`.
    pub reason: String,
    /// A bad record, or one that is fine but holds nothing to decide.
    pub kind: SkipKind,
}

/// Whether a skipped record was bad input or simply not a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipKind {
    /// The record could not be read (not JSON, a required field missing
    /// or of the wrong type): an error worth fixing upstream.
    Invalid,
    /// The record reads, but is nothing to decide on (a PASSED compliance
    /// check, an archived finding, a key that is not active).
    NotApplicable,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let record = crate::text::sanitize(&self.record);
        let reason = crate::text::sanitize(&self.reason);
        match &self.field {
            Some(field) => write!(f, "{record}: {}: {reason}", crate::text::sanitize(field)),
            None => write!(f, "{record}: {reason}"),
        }
    }
}

/// What one parser read from one input.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed {
    /// The findings, in input order.
    pub findings: Vec<Detected>,
    /// The records not imported, in input order.
    pub skipped: Vec<Skipped>,
}

impl Parsed {
    /// The JSON records of `input` ([`json_records`]); lines or a file that
    /// are not JSON are kept here as skipped records.
    pub fn json_records<'a>(&mut self, input: &Input<'a>) -> Vec<JsonRecord<'a>> {
        match json_records(input) {
            Ok((records, skipped)) => {
                self.skipped.extend(skipped);
                records
            }
            Err(skip) => {
                self.skipped.push(skip);
                Vec::new()
            }
        }
    }

    /// Records a bad record: `field` (the detector's name) and why.
    pub fn invalid(&mut self, record: &str, field: Option<&str>, reason: impl Into<String>) {
        self.skip(record, field, reason, SkipKind::Invalid);
    }

    /// Records a record that holds nothing to decide, and why.
    pub fn not_applicable(&mut self, record: &str, field: Option<&str>, reason: impl Into<String>) {
        self.skip(record, field, reason, SkipKind::NotApplicable);
    }

    fn skip(
        &mut self,
        record: &str,
        field: Option<&str>,
        reason: impl Into<String>,
        kind: SkipKind,
    ) {
        self.skipped.push(Skipped {
            record: record.to_string(),
            field: field.map(str::to_string),
            reason: reason.into(),
            kind,
        });
    }
}

/// Reads `input` as `format`. Never fails as a whole: what cannot be read
/// is a [`Skipped`] naming the record (a file that is not the format at all
/// is one `Skipped` for the file).
pub fn parse(format: Format, input: &Input<'_>, options: &ImportOptions) -> Parsed {
    match format {
        Format::AwsCredentialReport => aws_credential_report::parse(input, options),
        Format::AwsAccessAnalyzer => aws_access_analyzer::parse(input, options),
        Format::Trufflehog => trufflehog::parse(input, options),
        Format::Gitleaks => gitleaks::parse(input, options),
        Format::GithubSecretScanning => github_secret_scanning::parse(input, options),
        Format::Gitguardian => gitguardian::parse(input, options),
        Format::Ocsf => ocsf::parse(input, options),
        Format::Asff => asff::parse(input, options),
    }
}
