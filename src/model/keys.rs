//! A quick screen for keys the case format does not have, so the exact (and
//! slower) unknown-field walk runs only on the rare line that needs it.
//!
//! The screen looks at a line that already parsed as JSON: every string that
//! is followed by `:` is a key, and each is compared with the keys of the case
//! format at any depth. A line whose keys are all known (or `x_` extensions)
//! cannot hold an unknown field; any other line goes through `serde_ignored`,
//! which names the exact path.

use memchr::{memchr_iter, memrchr};

/// Every key of the case format (docs/format.md), at any depth. A unit test
/// checks it against what `Case` serialises, so the two cannot drift apart.
fn is_known(key: &[u8]) -> bool {
    matches!(
        key,
        b"id"
            | b"end"
            | b"name"
            | b"kind"
            | b"type"
            | b"refs"
            | b"team"
            | b"uses"
            | b"tags"
            | b"title"
            | b"owner"
            | b"basis"
            | b"nodes"
            | b"start"
            | b"owasp"
            | b"source"
            | b"shared"
            | b"action"
            | b"method"
            | b"account"
            | b"finding"
            | b"summary"
            | b"contact"
            | b"identity"
            | b"provider"
            | b"severity"
            | b"external"
            | b"rollback"
            | b"opened_at"
            | b"privilege"
            | b"problems"
            | b"tested_at"
            | b"created_at"
            | b"verifiable"
            | b"reversible"
            | b"hot_reload"
            | b"detected_at"
            | b"verified_at"
            | b"criticality"
            | b"last_used_at"
            | b"last_seen_at"
            | b"dependencies"
            | b"change_window"
            | b"restore_minutes"
    ) || key.starts_with(b"x_")
}

/// False when `json` (valid JSON) may hold a key the case format does not
/// have. Every key ends with `"` and then `:` (whitespace between allowed),
/// so each colon is looked at: one preceded by a quote ends a key (or a
/// string value that contains `":`, which only costs the exact walk). Keys
/// written with escapes count as unknown (the exact walk decides).
pub fn only_known_keys(json: &str) -> bool {
    let bytes = json.as_bytes();
    for colon in memchr_iter(b':', bytes) {
        let before = bytes[..colon]
            .iter()
            .rposition(|b| !b.is_ascii_whitespace());
        let Some(close) = before.filter(|&p| bytes[p] == b'"') else {
            continue; // a colon inside a time or other value
        };
        let Some(open) = memrchr(b'"', &bytes[..close]) else {
            return false;
        };
        let key = &bytes[open + 1..close];
        if key.contains(&b'\\') || !is_known(key) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Case;

    #[test]
    fn every_key_the_format_has_is_known() {
        // A case with every optional part present, as the demo has them.
        let mut keys = Vec::new();
        for line in crate::demo::CASES.lines() {
            let case: Case = serde_json::from_str(line).expect("demo case");
            let mut value = serde_json::to_value(&case).expect("value");
            // `problems` entries' own keys (`path`, `value`, `message`) are
            // left out of the screen on purpose: a case file rarely holds
            // them, and a top-level `message` must still be reported.
            value["problems"] = serde_json::json!([]);
            collect(&value, &mut keys);
        }
        for key in keys {
            assert!(is_known(key.as_bytes()), "{key} is missing from KNOWN");
        }
    }

    fn collect(v: &serde_json::Value, keys: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    keys.push(k.clone());
                    collect(v, keys);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, keys)),
            _ => {}
        }
    }

    #[test]
    fn strings_that_are_values_are_not_keys() {
        assert!(only_known_keys(
            r#"{"title":"a: b","opened_at":"2026-11-20T09:12:00Z","tags":["nodes:"]}"#
        ));
        // A value holding `":` only sends the line to the exact walk.
        assert!(!only_known_keys(r#"{"title":"a \"node\": b"}"#));
        assert!(!only_known_keys(r#"{"dependencies":{"node":[]}}"#));
        assert!(!only_known_keys(r#"{"Criticality" : "critical"}"#));
        assert!(!only_known_keys(r#"{"no\u0064es":[]}"#));
        assert!(only_known_keys(r#"{"x_vendor_score":7}"#));
    }
}
