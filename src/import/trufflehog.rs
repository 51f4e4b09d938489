//! Placeholder: being written (issue 10).

use super::{ImportOptions, Input, Parsed};

/// Reads `input`; see docs/import.md.
pub(super) fn parse(input: &Input<'_>, _options: &ImportOptions) -> Parsed {
    let mut parsed = Parsed::default();
    parsed.invalid(input.label, None, "this format is not implemented yet");
    parsed
}
