//! The slow path of reading a case: a line the plain typed parse refused.
//!
//! The line is read as a JSON tree, then parsed from the tree with
//! `serde_path_to_error`, which names the path of the first value that does
//! not fit. That value is made unknown by removing it (an absent optional
//! value is `null`, an absent list empty), or, when the format requires it
//! ([`REQUIRED`]), by removing the nearest enclosing optional object (a bad
//! `owner.basis` makes the whole `owner` unknown). Each repair becomes a
//! [`CaseProblem`] naming the path and the value, and the tree is parsed
//! again. When only the case itself encloses the bad value (`id`,
//! `opened_at`, `identity.id`, ...) the case is refused with that problem.
//! List positions are never dropped one by one: a list with a hole would
//! read as complete.
//!
//! Each repair parses the tree again, so each dependency node is repaired on
//! its own first (a map of 20,000 nodes with a bad date in each costs 20,000
//! small parses, not 20,000 parses of the map). The fast path never comes
//! here (see `load::parse_case`).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::{Map, Value};

use super::case::{Case, DependencyNode};
use super::{CaseProblem, NODES_PATH};

/// Repairs per object parsed (a case, or one dependency node) before the
/// case is refused as too broken to read.
const MAX_REPAIRS: usize = 64;

/// Why the slow path refused a case.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Not JSON, or a key given twice in one object.
    Syntax(serde_json::Error),
    /// A required value that could not be read (`problem.path` names it).
    Required(CaseProblem),
}

/// Reads one case that the plain typed parse refused. Returns the repaired
/// tree (the caller looks for unknown keys in it), the case, and its
/// problems (dependency nodes first, then in key order).
pub(crate) fn parse(text: &str) -> Result<(Value, Case, Vec<CaseProblem>), Refusal> {
    let StrictValue(mut tree) = serde_json::from_str(text).map_err(Refusal::Syntax)?;
    let mut problems = Vec::new();
    repair_nodes(&mut tree, &mut problems);
    let case = repair::<Case>(&mut tree, &[], &mut problems).map_err(Refusal::Required)?;
    Ok((tree, case, problems))
}

/// The path and 1-based line (within `text`) of the first value of `text`
/// that does not fit, in text order, as a plain parse meets it.
pub(crate) fn first_fault(text: &str) -> Option<(String, usize)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let e = serde_path_to_error::deserialize::<_, Case>(&mut de).err()?;
    let line = e.inner().line();
    Some((path_text(&segments(e.path())?), line))
}

/// Repairs each dependency node on its own; a node that cannot be read at
/// all (no id, a bad id, not an object) makes the whole list unknown.
fn repair_nodes(tree: &mut Value, problems: &mut Vec<CaseProblem>) {
    let Some(Value::Array(nodes)) = tree.pointer_mut("/dependencies/nodes") else {
        return;
    };
    let mut unreadable = None;
    for (i, node) in nodes.iter_mut().enumerate() {
        let base = [
            Seg::Key("dependencies".into()),
            Seg::Key("nodes".into()),
            Seg::Index(i),
        ];
        if let Err(mut p) = repair::<DependencyNode>(node, &base, problems) {
            if p.path == path_text(&base) {
                // Not a node at all: the problem is the list's.
                p.path = NODES_PATH.into();
                p.message = format!("has element {i} that {}", p.message);
                p.message.push_str("; read as unknown");
            } else {
                p.message
                    .push_str(&format!("; {NODES_PATH} read as unknown"));
            }
            unreadable = Some(p);
            break;
        }
    }
    if let Some(p) = unreadable {
        problems.push(p);
        if let Some(nodes) = tree.pointer_mut("/dependencies/nodes") {
            *nodes = Value::Null;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_text(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The paths the case format requires (docs/format.md), list positions
/// left out: every other key may be absent. A unit test checks the list
/// against what `Case` itself refuses, so the two cannot drift apart.
const REQUIRED: &[&str] = &[
    "id",
    "opened_at",
    "title",
    "identity",
    "identity.id",
    "identity.name",
    "identity.kind",
    "identity.provider",
    "finding.type",
    "owner.basis",
    "dependencies.nodes.id",
    "action.kind",
    "change_window.start",
    "change_window.end",
];

/// Whether the key path `segs` (list positions skipped) is required.
fn is_required(segs: &[Seg]) -> bool {
    let mut keys = String::new();
    for seg in segs {
        if let Seg::Key(k) = seg {
            if !keys.is_empty() {
                keys.push('.');
            }
            keys.push_str(k);
        }
    }
    REQUIRED.contains(&keys.as_str())
}

/// The path's segments; `None` when a segment cannot be followed in a tree.
fn segments(path: &serde_path_to_error::Path) -> Option<Vec<Seg>> {
    use serde_path_to_error::Segment;
    path.iter()
        .map(|s| match s {
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Seq { index } => Some(Seg::Index(*index)),
            _ => None,
        })
        .collect()
}

/// serde's `missing field `name``.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde's built-in messages in the problem's words (ours start with a verb
/// already): `invalid type: integer `5`, expected a sequence` becomes
/// `is a number, expected a list`.
fn in_words(message: &str, value: &Value) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        let found = match value {
            Value::Null => "null",
            Value::Bool(_) => "true or false",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        };
        return format!("is {found}, expected {}", serde_words(expected));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        return format!("is out of range, expected {}", serde_words(expected));
    }
    message.to_string()
}

/// serde's names of shapes in the case format's words.
fn serde_words(expected: &str) -> String {
    match expected {
        "a sequence" => "a list".into(),
        "a map" => "an object".into(),
        "u32" => "a whole number".into(),
        e if e.starts_with("struct ") => "an object".into(),
        e => e.into(),
    }
}

fn get<'a>(tree: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    segs.iter().try_fold(tree, |v, seg| match seg {
        Seg::Key(k) => v.as_object()?.get(k),
        Seg::Index(i) => v.as_array()?.get(*i),
    })
}

fn get_mut<'a>(tree: &'a mut Value, segs: &[Seg]) -> Option<&'a mut Value> {
    segs.iter().try_fold(tree, |v, seg| match seg {
        Seg::Key(k) => v.as_object_mut()?.get_mut(k),
        Seg::Index(i) => v.as_array_mut()?.get_mut(*i),
    })
}

/// Removes the key at `segs`; whether there was one.
fn remove(tree: &mut Value, segs: &[Seg]) -> bool {
    let Some((Seg::Key(key), parent)) = segs.split_last() else {
        return false;
    };
    get_mut(tree, parent)
        .and_then(Value::as_object_mut)
        .and_then(|object| object.remove(key))
        .is_some()
}

/// Parses `tree` as a `T`, making each value that does not fit unknown
/// (module docs). `base` is where `tree` sits in the case, for the paths.
/// `Err` is the problem that only refusing the whole `T` would resolve.
fn repair<T: DeserializeOwned>(
    tree: &mut Value,
    base: &[Seg],
    problems: &mut Vec<CaseProblem>,
) -> Result<T, CaseProblem> {
    let full = |segs: &[Seg]| {
        let mut all = base.to_vec();
        all.extend_from_slice(segs);
        all
    };
    for _ in 0..MAX_REPAIRS {
        let error = match serde_path_to_error::deserialize::<_, T>(&*tree) {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        let raw = error.inner().to_string();
        let Some(at) = segments(error.path()) else {
            return Err(CaseProblem::new(path_text(base), raw));
        };
        // What is at fault: the value at `at`, or the field missing there.
        let (bad, value, message) = match missing_field(&raw) {
            Some(field) => {
                let mut bad = at.clone();
                bad.push(Seg::Key(field.to_string()));
                (bad, None, "is missing".to_string())
            }
            None => {
                let found = get(tree, &at);
                let value = found.map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                let message = found.map_or(raw.clone(), |v| in_words(&raw, v));
                (at.clone(), value, message)
            }
        };
        let problem = |message: String| {
            let mut p = CaseProblem::new(path_text(&full(&bad)), message);
            if let Some(v) = &value {
                p = CaseProblem::with_value(p.path, v, p.message);
            }
            p
        };
        // The nearest key that may be absent: the value itself, or the
        // object holding a required one (list positions skipped).
        let target = (1..=bad.len())
            .rev()
            .map(|k| &bad[..k])
            .filter(|t| matches!(t.last(), Some(Seg::Key(_))))
            .find(|t| !is_required(&full(t)));
        let Some(target) = target.map(<[Seg]>::to_vec) else {
            return Err(problem(message));
        };
        if !remove(tree, &target) {
            // Nothing to remove: the fault is not where it was reported.
            return Err(problem(message));
        }
        let outcome = if target == bad {
            "read as unknown".to_string()
        } else {
            format!("{} read as unknown", path_text(&full(&target)))
        };
        problems.push(problem(format!("{message}; {outcome}")));
    }
    Err(CaseProblem::new(
        path_text(base),
        format!("has more than {MAX_REPAIRS} values that could not be read"),
    ))
}

/// A JSON tree like `serde_json::Value`, refusing a key given twice in one
/// object (the typed parse does the same for the format's own keys; a tree
/// would keep only the last copy, silently).
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate field `{}`",
                    crate::text::sanitize(&key)
                )));
            }
            object.insert(key, v);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key path of `v` (list positions as `[0]`), objects only.
    fn key_paths(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    here.push(Seg::Key(k.clone()));
                    out.push(here.clone());
                    key_paths(v, here, out);
                    here.pop();
                }
            }
            Value::Array(items) => {
                if let Some(first) = items.first() {
                    here.push(Seg::Index(0));
                    key_paths(first, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }

    /// [`REQUIRED`] is exactly what `Case` refuses to do without: each key
    /// of the demo cases removed on its own, the case parses unless the key
    /// is in the list, and then it fails for that key.
    #[test]
    fn the_required_list_matches_the_case_type() {
        let mut seen_required = std::collections::HashSet::new();
        for line in crate::demo::CASES.lines() {
            let case: Case = serde_json::from_str(line).expect("demo case");
            let full = serde_json::to_value(&case).expect("value");
            let mut paths = Vec::new();
            key_paths(&full, &mut Vec::new(), &mut paths);
            for path in paths {
                let mut tree = full.clone();
                assert!(remove(&mut tree, &path));
                let parsed = serde_json::from_value::<Case>(tree);
                let text = path_text(&path);
                if is_required(&path) {
                    seen_required.insert(text.clone());
                    let e = parsed.expect_err(&text).to_string();
                    assert!(e.starts_with("missing field"), "{text}: {e}");
                } else {
                    assert!(parsed.is_ok(), "{text} is required: add it to REQUIRED");
                }
            }
        }
        assert_eq!(seen_required.len(), REQUIRED.len(), "{seen_required:?}");
    }

    fn parse_one(json: Value) -> Result<(Case, Vec<CaseProblem>), String> {
        match parse(&json.to_string()) {
            Ok((_, case, problems)) => Ok((case, problems)),
            Err(Refusal::Syntax(e)) => Err(e.to_string()),
            Err(Refusal::Required(p)) => Err(p.to_string()),
        }
    }

    fn demo() -> Value {
        let line = crate::demo::CASES.lines().next().expect("a demo case");
        serde_json::from_str(line).expect("json")
    }

    #[test]
    fn each_bad_value_is_one_problem_and_the_rest_is_kept() {
        let mut v = demo();
        v["finding"]["detected_at"] = "yesterday".into();
        v["tags"] = 5.into();
        v["owner"]["basis"] = "confirmed".into();
        let (case, problems) = parse_one(v).expect("loads");
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["finding.detected_at", "owner.basis", "tags"]);
        assert!(case.finding.is_some_and(|f| f.detected_at.is_none()));
        assert!(case.owner.is_none() && case.tags.is_empty());
        assert!(problems[1].message.ends_with("; owner read as unknown"));
        assert_eq!(problems[2].value.as_deref(), Some("5"));
    }

    #[test]
    fn a_bad_required_value_refuses_with_its_path() {
        let mut v = demo();
        v["identity"]["name"] = json_null();
        v["finding"]["severity"] = "HIGHEST".into();
        let e = parse_one(v).expect_err("refused");
        assert!(e.starts_with("identity.name: "), "{e}");
        let mut v = demo();
        v.as_object_mut().expect("object").remove("title");
        assert_eq!(parse_one(v).expect_err("refused"), "title: is missing");
    }

    fn json_null() -> Value {
        Value::Null
    }

    #[test]
    fn a_node_that_cannot_be_read_makes_the_list_unknown() {
        let mut v = demo();
        let nodes = v["dependencies"]["nodes"].as_array_mut().expect("nodes");
        assert!(!nodes.is_empty(), "the first demo case has a map");
        nodes[0].as_object_mut().expect("node").remove("id");
        let (case, problems) = parse_one(v).expect("loads");
        assert!(case.dependencies.is_some_and(|d| d.nodes.is_empty()));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].path, "dependencies.nodes[0].id");
        assert!(problems[0].hides_dependents());
    }

    #[test]
    fn many_bad_node_values_cost_linear_time() {
        let mut v = demo();
        let template = v["dependencies"]["nodes"][0].clone();
        let nodes: Vec<Value> = (0..5_000)
            .map(|i| {
                let mut n = template.clone();
                n["id"] = format!("n{i}").into();
                n["last_seen_at"] = "2026-01-01T00:00:00".into();
                n
            })
            .collect();
        v["dependencies"]["nodes"] = Value::Array(nodes);
        let started = std::time::Instant::now();
        let (_, problems) = parse_one(v).expect("loads");
        assert_eq!(problems.len(), 5_000);
        // Quadratic would be 25M node parses: minutes, not this.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn a_list_element_that_is_no_node_makes_the_list_unknown() {
        let mut v = demo();
        v["dependencies"]["nodes"][0] = "svc:a".into();
        let (case, problems) = parse_one(v).expect("loads");
        assert!(case.dependencies.is_some_and(|d| d.nodes.is_empty()));
        assert_eq!(
            problems[0].to_string(),
            r#"dependencies.nodes: "svc:a" has element 0 that is a string, expected an object; read as unknown"#
        );
        assert!(problems[0].hides_dependents());
    }

    #[test]
    fn a_key_twice_is_refused() {
        let text = r#"{"id":"A","id":"B"}"#;
        assert!(matches!(parse(text), Err(Refusal::Syntax(_))));
    }
}
