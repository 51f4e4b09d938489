//! The case format (docs/format.md) and what is built on it: cases and their
//! lenient loading (a bad optional value is read as unknown, with a
//! problem, instead of dropping the case), ids, dependency graphs,
//! reviewers, lifecycle states and decisions. Times are [`OffsetDateTime`],
//! read and written as RFC 3339 with a zone.

mod canonical;
mod case;
mod diff;
mod graph;
mod ids;
mod keys;
mod lenient;
mod load;
mod problem;
mod repair;
mod reviewer;
mod row;
mod state;
mod usage;

pub use case::*;
pub use diff::changed_fields;
pub use graph::{CycleEdge, DanglingRef, DependencyGraph, OutlineRow, RowKind, Target};
pub use ids::{case_id_key, check_id};
pub use lenient::means_unknown;
pub use load::{
    CaseOrigin, LoadError, LoadProblem, LoadReport, has_case_extension, is_case_file, load_dir,
    load_file, parse_json_array, parse_jsonl,
};
pub use problem::{CaseProblem, MAX_VALUE_CHARS, NODES_PATH};
pub use reviewer::{
    MAX_NAME_CHARS, NameError, OsAccount, Reviewer, identity_key, same_reviewer, validate_name,
    validate_team,
};
pub use row::{CaseRow, RowParts, position_in_id_order};
pub use state::{Action, CaseState, CaseStatus, Decision, LastDecision, StateFilter};
pub use usage::LastUsed;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 text of a timestamp at its own offset (`Z` for UTC, fractional
/// seconds only when present): our one display and wire form.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Parses RFC 3339 text (`2026-11-27T12:00:00Z`, `...+02:00`).
///
/// # Errors
/// Anything else, including a time without a zone or a `-8:00` offset.
pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

/// The canonical bytes of a JSON value: object keys sorted (by UTF-16 code
/// units, which for our keys is byte order), no whitespace, serde_json's
/// string escaping. For the values nhi-triage writes (strings, integers,
/// booleans, null; no floats) this is the JSON Canonicalization Scheme,
/// RFC 8785.
pub fn canonical_json(mut value: serde_json::Value) -> Vec<u8> {
    value.sort_all_objects();
    // Infallible: a Value always serialises.
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The canonical bytes of any serialisable value: the same bytes as
/// `canonical_json(serde_json::to_value(value))` (`null` when it has no
/// `Value`), written without building the `Value` tree (issue 9; see
/// `model/canonical.rs`). A value the direct writer does not handle
/// (non-string map keys, serde_json's own markers) takes the `Value` path.
pub fn canonical_json_of<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    match canonical::write(value, &mut out) {
        Ok(()) => out,
        Err(_) => canonical_json(serde_json::to_value(value).unwrap_or(serde_json::Value::Null)),
    }
}
