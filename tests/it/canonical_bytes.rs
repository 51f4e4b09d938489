//! The direct canonical writer (`model::canonical_json_of`, issue 9) gives
//! byte for byte what the `Value` path gave (`canonical_json(to_value(..))`,
//! kept here as the reference): on the demo cases, on generated cases, on
//! cases full of escapes and non-ASCII text, and on arbitrary JSON values.

use nhi_triage::model::{Case, LoadReport, canonical_json, canonical_json_of, parse_jsonl};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// The bench's generator, also loaded by `store_scale` (private there).
#[allow(clippy::duplicate_mod)]
#[path = "../../benches/support/generate.rs"]
mod generate;

/// The reference: the canonical bytes as `content_sha256` made them before.
fn reference<T: serde::Serialize>(value: &T) -> Vec<u8> {
    canonical_json(serde_json::to_value(value).unwrap_or(Value::Null))
}

fn assert_same(case: &Case) {
    let old = reference(case);
    assert_eq!(
        String::from_utf8_lossy(&canonical_json_of(case)),
        String::from_utf8_lossy(&old),
        "case {}",
        case.id
    );
    assert_eq!(case.content_sha256(), hex::encode(Sha256::digest(&old)));
}

fn cases_of(text: &str) -> Vec<Case> {
    let mut report = LoadReport::default();
    parse_jsonl(std::path::Path::new("t.jsonl"), text, &mut report);
    report.cases
}

#[test]
fn demo_cases_have_the_same_canonical_bytes() {
    let text = nhi_triage::demo::rebased_cases(time::OffsetDateTime::now_utc()).unwrap();
    let cases = cases_of(&text);
    assert!(cases.len() >= 5, "the demo cases load");
    cases.iter().for_each(assert_same);
}

#[test]
fn generated_cases_have_the_same_canonical_bytes() {
    let mut rng = generate::Rng::new(42);
    let text: String = (0..2_000)
        .map(|i| generate::case(i, &mut rng).to_string() + "\n")
        .collect();
    let cases = cases_of(&text);
    assert_eq!(cases.len(), 2_000);
    cases.iter().for_each(assert_same);
}

#[test]
fn escapes_non_ascii_problems_and_unknowns_have_the_same_canonical_bytes() {
    let line = json!({
        "id": "ESC-\u{e9}t\u{e9}-\u{1F600}",
        "opened_at": "2026-11-27T12:00:00.123456789+02:00",
        "title": "quote \" backslash \\ nl \n tab \t nul \u{0} esc \u{1b} del \u{7f} ls \u{2028} ps \u{2029} bom \u{feff} \u{d55c}\u{ad6d}\u{c5b4}",
        "identity": {
            "id": "ID-\u{212b}",
            "name": "</script>",
            "kind": "token",
            "provider": "\u{4e2d}\u{6587}",
            "created_at": "2026-01-01T00:00:00",
            "last_used_at": "never",
            "privilege": "GODMODE"
        },
        "finding": {"type": "leaked_secret", "severity": "HIGHEST", "refs": ["a", "\u{10FFFF}"]},
        "owner": {"basis": "explicit", "team": null},
        "dependencies": {"nodes": [
            {"id": "n\u{301}", "uses": ["x", "y"], "shared": "yes", "external": true},
            {"id": "x", "name": "\u{1}\u{1f}"}
        ]},
        "action": {"kind": "reduce_scope", "rollback": {"restore_minutes": 4294967295u64}},
        "change_window": {"start": "2026-11-27T00:00:00Z", "end": "2026-11-28T00:00:00-00:30"},
        "tags": ["", " ", "\u{a0}"],
        "zzz_unknown": {"b": 1, "a": 2}
    });
    let cases = cases_of(&format!("{line}\n"));
    assert_eq!(cases.len(), 1);
    assert!(
        !cases[0].problems.is_empty(),
        "lenient values leave problems"
    );
    assert_same(&cases[0]);
    let bare = json!({"id": "BARE", "opened_at": "2026-11-27T12:00:00Z", "title": "",
        "identity": {"id": "i", "name": "n", "kind": "k", "provider": "p"}});
    let cases = cases_of(&format!("{bare}\n"));
    assert_same(&cases[0]);
}

#[derive(serde::Serialize)]
enum Shapes {
    Unit,
    Newtype(u8),
    Tuple(i8, &'static str),
    Struct {
        z: f64,
        a: Option<char>,
        m: std::collections::BTreeMap<i32, bool>,
    },
}

#[test]
fn other_shapes_have_the_same_canonical_bytes() {
    let map: std::collections::BTreeMap<i32, bool> = [(2, true), (-1, false)].into();
    let values = vec![
        Shapes::Unit,
        Shapes::Newtype(7),
        Shapes::Tuple(-3, "t\u{e9}"),
        Shapes::Struct {
            z: 0.1,
            a: Some('\u{1F600}'),
            m: map,
        },
        Shapes::Struct {
            z: f64::NAN,
            a: None,
            m: Default::default(),
        },
    ];
    for v in &values {
        assert_eq!(canonical_json_of(v), reference(v));
    }
    let floats = (
        1.5f32,
        -0.0f64,
        1e300f64,
        u128::MAX,
        i128::MIN,
        b"by".as_slice(),
    );
    assert_eq!(canonical_json_of(&floats), reference(&floats));
    let keyed: std::collections::HashMap<String, u64> = [
        ("b".into(), 1),
        ("a".into(), 2),
        ("\u{e9}".into(), 3),
        ("Z".into(), 4),
    ]
    .into();
    assert_eq!(canonical_json_of(&keyed), reference(&keyed));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[\\x00-\\x7f\u{80}-\u{10ffff}\"\\\\]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_json_value_has_the_same_canonical_bytes(v in arb_json()) {
        prop_assert_eq!(canonical_json_of(&v), reference(&v));
    }
}
