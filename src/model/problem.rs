//! What a case file says that nhi-triage could not read as a fact.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The path of a case's dependency list (docs/format.md).
pub const NODES_PATH: &str = "dependencies.nodes";

/// One value of a case file that could not be read as a fact, or a key the
/// format does not have. The case still loads: the fact is read as unknown
/// (never guessed, never "absent"), and a case with any problem is never
/// tier low (shared/DESIGN.md: unknown is never safe).
///
/// Wire form (docs/format.md, `problems`): `{"path": "finding.severity",
/// "value": "HIGHEST", "message": "is not a severity ...; read as unknown"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaseProblem {
    /// Field path in the case file: keys joined by `.`, list positions as
    /// `[i]` (0-based), e.g. `dependencies.nodes[3].last_seen_at`.
    pub path: String,
    /// The value found, when there was one: a string's text, or the JSON
    /// text of any other value (cut to [`MAX_VALUE_CHARS`] characters).
    /// Untrusted: sanitise before showing it.
    #[serde(default)]
    pub value: Option<String>,
    /// What is wrong and how the value was read, e.g. `is not a severity
    /// (critical, high, medium, low); read as unknown`.
    pub message: String,
}

/// The longest [`CaseProblem::value`] kept, in characters.
pub const MAX_VALUE_CHARS: usize = 120;

impl CaseProblem {
    /// A problem at `path` with no value (an unknown key, a missing list).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        CaseProblem {
            path: path.into(),
            value: None,
            message: message.into(),
        }
    }

    /// A problem at `path` about `value` (cut to [`MAX_VALUE_CHARS`]).
    pub fn with_value(
        path: impl Into<String>,
        value: impl AsRef<str>,
        message: impl Into<String>,
    ) -> Self {
        let value = value.as_ref();
        let value = match value.char_indices().nth(MAX_VALUE_CHARS) {
            Some((cut, _)) => format!("{}…", &value[..cut]),
            None => value.to_string(),
        };
        CaseProblem {
            path: path.into(),
            value: Some(value),
            message: message.into(),
        }
    }

    /// Whether this problem leaves who depends on the identity unknown: the
    /// dependency list itself, or a node's `id` or `uses`, could not be read.
    pub fn hides_dependents(&self) -> bool {
        let Some(rest) = self.path.strip_prefix(NODES_PATH) else {
            return false;
        };
        if rest.is_empty() {
            return true;
        }
        // `[i].id` or `[i].uses…`
        let Some(field) = rest
            .strip_prefix('[')
            .and_then(|r| r.split_once("]."))
            .map(|(_, f)| f)
        else {
            return false;
        };
        field == "id" || field == "uses" || field.starts_with("uses[")
    }
}

/// `path: "value" message`. Path and value come from the case file: every
/// control, bidi and other invisible character in them is shown as an
/// escape (`\u{200b}`), so a problem about an invisible character shows it.
impl fmt::Display for CaseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = visible(&self.path);
        let message = crate::text::sanitize(&self.message);
        match &self.value {
            Some(value) => write!(f, "{path}: \"{}\" {message}", visible(value)),
            None => write!(f, "{path}: {message}"),
        }
    }
}

/// `s` with controls and every invisible character escaped
/// ([`crate::text::is_invisible_or_control`], a superset of what
/// [`crate::text::sanitize`] escapes).
pub(crate) fn visible(s: &str) -> Cow<'_, str> {
    crate::text::escape_where(s, crate::text::is_invisible_or_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_path_value_and_message() {
        let p =
            CaseProblem::with_value("severity", "HIGHEST", "is not a severity; read as unknown");
        assert_eq!(
            p.to_string(),
            r#"severity: "HIGHEST" is not a severity; read as unknown"#
        );
        let p = CaseProblem::new("finding.severty", "unknown field (misspelt?)");
        assert_eq!(p.to_string(), "finding.severty: unknown field (misspelt?)");
        let p = CaseProblem::with_value("id", "a\u{1b}[2J", "bad");
        assert_eq!(p.to_string(), r#"id: "a\x1b[2J" bad"#);
        let p = CaseProblem::with_value("id", "D-0001\u{200b}", "bad");
        assert_eq!(p.to_string(), r#"id: "D-0001\u{200b}" bad"#);
    }

    #[test]
    fn long_values_are_cut() {
        let p = CaseProblem::with_value("title", "x".repeat(1000), "m");
        assert_eq!(p.value.unwrap().chars().count(), MAX_VALUE_CHARS + 1);
    }

    #[test]
    fn which_problems_hide_dependents() {
        let hides = |path: &str| CaseProblem::new(path, "m").hides_dependents();
        assert!(hides("dependencies.nodes"));
        assert!(hides("dependencies.nodes[3].id"));
        assert!(hides("dependencies.nodes[3].uses[0]"));
        assert!(hides("dependencies.nodes[3].uses"));
        assert!(!hides("dependencies.nodes[3].last_seen_at"));
        assert!(!hides("dependencies.nodes[3].usesx"));
        assert!(!hides("dependencies.nodes[3].criticality"));
        assert!(!hides("dependencies.verified_at"));
        assert!(!hides("finding.severity"));
    }
}
