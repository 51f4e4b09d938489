//! The bundled demo cases, rebased to the moment a demo store is seeded so
//! they tell the same story whenever they are run.

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::model::{parse_rfc3339, rfc3339};

/// The demo cases, written as if "now" were [`ANCHOR`].
pub const CASES: &str = include_str!("../fixtures/demo/cases.jsonl");
/// The moment the demo's times are written against.
pub const ANCHOR: &str = "2026-11-27T12:00:00Z";

/// Why the bundled demo cases could not be rebased.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A line that is not JSON, or a time that shifted out of range.
    #[error("bundled demo case line {line}: {message}")]
    Bad {
        /// 1-based line of the JSON-lines text; 0 for [`ANCHOR`] itself.
        line: usize,
        /// What is wrong (the JSON parser's or the time arithmetic's message).
        message: String,
    },
}

/// The demo cases with every timestamp shifted by `seeded_at - ANCHOR`.
pub fn rebased_cases(seeded_at: OffsetDateTime) -> Result<String, DemoError> {
    let anchor = parse_rfc3339(ANCHOR).map_err(|e| DemoError::Bad {
        line: 0,
        message: e.to_string(),
    })?;
    rebase_jsonl(CASES, seeded_at - anchor)
}

/// Shifts every timestamp field (`*_at`, `start`, `end`) of JSON-lines text.
pub fn rebase_jsonl(text: &str, shift: Duration) -> Result<String, DemoError> {
    // Whole seconds keep the rebased text as tidy as the original.
    let shift = Duration::seconds(shift.whole_seconds());
    let mut out = String::with_capacity(text.len() + 1024);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut value: Value = serde_json::from_str(line).map_err(|e| DemoError::Bad {
            line: n + 1,
            message: e.to_string(),
        })?;
        shift_times(&mut value, shift).map_err(|message| DemoError::Bad {
            line: n + 1,
            message,
        })?;
        out.push_str(&value.to_string());
        out.push('\n');
    }
    Ok(out)
}

fn shift_times(value: &mut Value, shift: Duration) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let is_time_key = key.ends_with("_at") || key == "start" || key == "end";
                if let (true, Value::String(s)) = (is_time_key, &*v)
                    && let Ok(t) = parse_rfc3339(s)
                {
                    let shifted = t
                        .checked_add(shift)
                        .ok_or_else(|| format!("{key} {s} shifted by {shift} is out of range"))?;
                    *v = Value::String(rfc3339(shifted));
                } else {
                    shift_times(v, shift)?;
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                shift_times(v, shift)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebasing_shifts_every_timestamp_and_nothing_else() {
        let text = r#"{"id":"X","opened_at":"2026-11-20T00:00:00Z","change_window":{"start":"2026-11-27T00:00:00Z","end":"2026-11-28T00:00:00Z"},"title":"2026-11-20T00:00:00Z"}"#;
        let out = rebase_jsonl(text, Duration::days(10)).unwrap();
        assert!(
            out.contains(r#""opened_at":"2026-11-30T00:00:00Z""#),
            "{out}"
        );
        assert!(out.contains(r#""start":"2026-12-07T00:00:00Z""#), "{out}");
        assert!(out.contains(r#""end":"2026-12-08T00:00:00Z""#), "{out}");
        assert!(out.contains(r#""title":"2026-11-20T00:00:00Z""#), "{out}");
    }
}
