//! What changed between two versions of a case, named by field path, so a
//! conflict can tell the reviewer what they did not see.

use serde_json::Value;

use super::Case;

/// Most paths [`changed_fields`] lists; the rest are counted.
const MAX_PATHS: usize = 12;

/// Dotted paths of the fields that differ between `before` and `after`
/// (`identity.last_used_at`, `dependencies.nodes[2].criticality`); arrays of
/// different lengths are named whole. At most a dozen, then "and N more".
pub fn changed_fields(before: &Case, after: &Case) -> Vec<String> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(before), serde_json::to_value(after)) else {
        return vec!["(the case)".into()];
    };
    let mut paths = Vec::new();
    walk(&a, &b, String::new(), &mut paths);
    if paths.len() > MAX_PATHS {
        let more = paths.len() - MAX_PATHS;
        paths.truncate(MAX_PATHS);
        paths.push(format!("and {more} more"));
    }
    paths
}

fn walk(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    child,
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                walk(p, q, format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(path),
    }
}
