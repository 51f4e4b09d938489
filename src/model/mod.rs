//! Serde types for cases, their dependency graphs and lifecycle states.

mod case;
mod graph;
mod load;
mod state;

pub use case::*;
pub use graph::{CycleEdge, DanglingRef, DependencyGraph, OutlineRow, RowKind, Target};
pub use load::{
    CaseOrigin, LoadError, LoadProblem, LoadReport, load_dir, load_file, parse_json_array,
    parse_jsonl,
};
pub use state::{Action, CaseState, CaseStatus, Decision, LastDecision, Reviewer};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 text of a timestamp (our one display and wire form).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Parses RFC 3339 text.
pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}
