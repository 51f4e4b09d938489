//! What the CLI and the server write (issue 8, items 8, 9 and 14): a closed
//! standard output is a normal end; untrusted text reaches no terminal,
//! spreadsheet or JSON reader raw; the documented JSON formats are the real
//! ones. Everything runs the real binary (and the real server) on a
//! temporary store.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use common::server::{Server, add_token, client, tokens_path};
use common::{JUSTIFICATION, Out, TestStore, decide_args, high_case, low_case, run, tamper_line};
use nhi_triage::evidence::{EvidenceRecord, GENESIS_HASH};
use nhi_triage::model::CaseState;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Item 8: a closed standard output.

/// Runs `cmd` with standard output a pipe whose reader reads `lines` lines
/// (0: none) and then closes it, as `| head -N` does. Returns the exit and
/// standard error, and the lines read.
fn run_until_reader_closes(cmd: &mut Command, lines: usize) -> (Out, Vec<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nhi-triage");
    let stdout = child.stdout.take().expect("stdout pipe");
    let mut read = Vec::new();
    if lines > 0 {
        let mut reader = BufReader::new(stdout);
        for _ in 0..lines {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("read stdout") == 0 {
                break;
            }
            read.push(line);
        }
        drop(reader);
    } else {
        drop(stdout);
    }
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .expect("stderr pipe")
        .read_to_end(&mut stderr)
        .expect("read stderr");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("nhi-triage did not exit after its reader closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Out {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        raw_stdout: Vec::new(),
        raw_stderr: stderr,
    };
    (out, read)
}

/// A store with `n` low cases: `list` writes far more than a pipe holds.
fn big_store(n: usize) -> TestStore {
    let cases: Vec<Value> = (0..n).map(|i| low_case(&format!("BIG-{i:05}"))).collect();
    TestStore::with_cases(&cases)
}

fn ends_normally(out: &Out, what: &str) {
    assert_eq!(out.code, 0, "{what}: {out}");
    assert!(
        !out.stderr.contains("panicked") && !out.stderr.contains("failed printing"),
        "{what}: {out}"
    );
}

#[test]
fn list_into_a_pipe_closed_after_one_line_ends_normally() {
    let store = big_store(5000);
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["list", "--state", "all"],
    ] {
        let (out, read) = run_until_reader_closes(store.cmd().args(args), 1);
        ends_normally(&out, &args.join(" "));
        assert_eq!(read.len(), 1, "{args:?}: the first line arrived");
        let first = &read[0];
        assert!(
            first.starts_with("ID ") || first.starts_with('{'),
            "{args:?}: {first:?}"
        );
    }
}

#[test]
fn decide_into_a_closed_pipe_is_recorded_and_exits_0() {
    let store = TestStore::with_cases(&[low_case("LOW-1"), low_case("LOW-2")]);
    for (id, json) in [("LOW-1", false), ("LOW-2", true)] {
        let mut cmd = store.cmd();
        cmd.args(["--reviewer", "alice"])
            .args(decide_args(id, "approve", JUSTIFICATION));
        if json {
            cmd.arg("--json");
        }
        let (out, _) = run_until_reader_closes(&mut cmd, 0);
        ends_normally(&out, &format!("decide {id} (json {json})"));
    }
    // Both records are durable: a retry would be a conflict, not a success.
    let records = store.evidence_records();
    assert_eq!(records.len(), 2, "{records:?}");
    let list = store.list_json("all");
    for id in ["LOW-1", "LOW-2"] {
        assert_eq!(common::case_entry(&list, id)["version"], 1);
    }
    let again = store.decide("alice", "LOW-1", "approve", &["--expected-version", "0"]);
    assert_eq!(again.code, 3, "{again}");
}

#[test]
fn every_command_ends_normally_on_a_closed_stdout() {
    let store = TestStore::with_cases(&[low_case("LOW-1"), high_case("HIGH-1")]);
    let decided = store.decide("alice", "LOW-1", "approve", &[]);
    assert_eq!(decided.code, 0, "{decided}");
    let tokens = tokens_path(&store);
    add_token(&store, &tokens, "alice");
    let tokens_arg = tokens.to_string_lossy().into_owned();
    let init_dir = store.sandbox.path().join("fresh");
    let init_arg = init_dir.to_string_lossy().into_owned();
    let commands: Vec<Vec<&str>> = vec![
        vec!["show", "LOW-1"],
        vec!["show", "HIGH-1", "--json"],
        vec!["info"],
        vec!["info", "--json"],
        vec!["evidence", "verify"],
        vec!["evidence", "verify", "--json"],
        vec!["evidence", "export", "--format", "csv"],
        vec!["evidence", "export", "--format", "json"],
        vec!["outbox", "list"],
        vec!["outbox", "list", "--json"],
        vec!["token", "list", "--tokens", &tokens_arg],
        vec!["--help"],
        vec!["--version"],
    ];
    for args in &commands {
        let (out, _) = run_until_reader_closes(store.cmd().args(args), 0);
        ends_normally(&out, &args.join(" "));
    }
    let (out, _) = run_until_reader_closes(store.sandbox.cmd().args(["init", &init_arg]), 0);
    ends_normally(&out, "init");
    assert!(init_dir.join("cases").is_dir());
}

/// The exit code is the command's own, whoever reads the output: a broken
/// log still exits 5 when nobody reads the report.
#[test]
fn a_closed_stdout_keeps_the_commands_own_exit_code() {
    let store = TestStore::with_cases(&[low_case("LOW-1")]);
    assert_eq!(store.decide("alice", "LOW-1", "approve", &[]).code, 0);
    let log = String::from_utf8(store.evidence_bytes()).unwrap();
    let edited = log
        .trim_end()
        .replace("\"justification\":\"Reviewed", "\"justification\":\"Edited");
    tamper_line(&store.dir, 1, &edited);
    let (out, _) = run_until_reader_closes(store.cmd().args(["evidence", "verify"]), 0);
    assert_eq!(out.code, 5, "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
}

// ---------------------------------------------------------------------------
// Item 9: one sanitising policy.

/// What must never reach a terminal raw, as raw bytes.
const RAW_DANGER: [&[u8]; 5] = [
    b"\x1b",               // ESC: CSI, OSC 52, ESC [2J
    b"\x07",               // BEL
    "\u{9b}".as_bytes(),   // C1 CSI
    "\u{85}".as_bytes(),   // C1 NEL
    "\u{202e}".as_bytes(), // bidi override
];

fn has_raw_danger(bytes: &[u8]) -> Option<&'static str> {
    let names = ["ESC", "BEL", "U+009B", "U+0085", "U+202E"];
    RAW_DANGER
        .iter()
        .zip(names)
        .find(|(needle, _)| bytes.windows(needle.len()).any(|w| w == **needle))
        .map(|(_, name)| name)
}

const HOSTILE_JUSTIFICATION: &str =
    "=HYPERLINK(\"http://x\") owner gone \x1b]52;c;SGVsbG8=\x07\x1b[2J\u{9b}31m \u{202e}drowssap";
const HOSTILE_REVIEWER: &str = "mallory\x1b]52;c;SGk=\x07";
const HOSTILE_TEAM: &str = "sec\x1b[2J\u{85}team";

/// A store whose log holds one valid, sealed record with escape sequences
/// in the justification, the reviewer name and the escalation target, as a
/// log written by another tool or an older version could: the CLI refuses
/// such names and targets today, but the export must be safe for any log.
fn store_with_hostile_record() -> TestStore {
    let store = TestStore::with_cases(&[low_case("LOW-1")]);
    let out = store.decide("alice", "LOW-1", "escalate", &["--to", "sec-team"]);
    assert_eq!(out.code, 0, "{out}");
    let line = String::from_utf8(store.evidence_bytes()).unwrap();
    let mut record: EvidenceRecord = serde_json::from_str(line.trim()).expect("record");
    record.justification = HOSTILE_JUSTIFICATION.into();
    record.reviewer.name = HOSTILE_REVIEWER.into();
    record.escalate_to = Some(HOSTILE_TEAM.into());
    record.state_after = CaseState::Escalated {
        to: HOSTILE_TEAM.into(),
    };
    let sealed = record.seal(1, GENESIS_HASH).expect("seal");
    let sealed = String::from_utf8(sealed).unwrap();
    tamper_line(&store.dir, 1, sealed.trim_end());
    let verify = store.run(&["evidence", "verify"]);
    assert_eq!(verify.code, 0, "the crafted log is a valid chain: {verify}");
    store
}

fn assert_csv_is_safe(out: &Out, what: &str) {
    assert_eq!(out.code, 0, "{what}: {out}");
    assert_eq!(has_raw_danger(&out.raw_stdout), None, "{what}: {out}");
    let text = &out.stdout;
    assert!(text.starts_with("seq,id,ts,"), "{what}: {text}");
    // The escapes are visible text; the formula is defused.
    assert!(
        text.contains(r"\x1b]52;c;SGVsbG8=\x07\x1b[2J\x9b31m \u{202e}drowssap"),
        "{what}: {text}"
    );
    assert!(
        text.contains(r"mallory\x1b]52;c;SGk=\x07"),
        "{what}: {text}"
    );
    assert!(text.contains(r"sec\x1b[2J\x85team"), "{what}: {text}");
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://x\"\")"),
        "{what}: {text}"
    );
    assert!(text.ends_with("\r\n"), "{what}: RFC 4180 line ends");
}

#[test]
fn csv_export_shows_escape_sequences_as_text_local_and_over_the_api() {
    let store = store_with_hostile_record();
    let local = store.run(&["evidence", "export", "--format", "csv"]);
    assert_csv_is_safe(&local, "local");

    let file = store.sandbox.path().join("export.csv");
    let to_file = store.run(&[
        "evidence",
        "export",
        "--format",
        "csv",
        "--output",
        &file.to_string_lossy(),
    ]);
    assert_eq!(to_file.code, 0, "{to_file}");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(has_raw_danger(&bytes), None);
    assert_eq!(bytes, local.raw_stdout, "the file holds what stdout shows");

    let tokens = tokens_path(&store);
    let token = add_token(&store, &tokens, "alice");
    let server = Server::start(&store, &tokens, &[]);
    let remote = run(store
        .sandbox
        .cmd()
        .args([
            "--api",
            &server.base,
            "evidence",
            "export",
            "--format",
            "csv",
        ])
        .env("NHI_TRIAGE_TOKEN", &token));
    assert_csv_is_safe(&remote, "--api");
    assert_eq!(remote.stdout, local.stdout);
}

#[test]
fn text_output_and_stderr_show_escape_sequences_as_text() {
    let store = store_with_hostile_record();
    // show and its history line, and list.
    for args in [&["show", "LOW-1"][..], &["list", "--state", "all"]] {
        let out = store.run(args);
        assert_eq!(out.code, 0, "{out}");
        assert_eq!(has_raw_danger(&out.raw_stdout), None, "{args:?}: {out}");
        assert_eq!(has_raw_danger(&out.raw_stderr), None, "{args:?}: {out}");
    }
    // A case file whose name holds an escape sequence, with a bad line:
    // the loader's warning names the file.
    common::write_case(
        &store.cases_dir().join("evil\x1b[31m\u{202e}.jsonl"),
        &[json!({"id": "BAD-1"})],
    );
    let out = store.run(&["list"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(has_raw_danger(&out.raw_stderr), None, "{out}");
    assert!(
        out.stderr.contains(r"evil\x1b[31m\u{202e}.jsonl"),
        "the name is shown, escaped: {out}"
    );
}

#[test]
fn info_never_prints_a_reviewer_name_raw() {
    let store = TestStore::with_cases(&[low_case("LOW-1")]);
    let hostile = "eve\x1b]52;c;SGk=\x07\x1b[2J\u{9b}";
    let by_flag = store.run(&["--reviewer", hostile, "info"]);
    let mut env_cmd = store.cmd();
    env_cmd.env("USER", hostile).arg("info");
    let by_env = run(&mut env_cmd);
    let mut json_cmd = store.cmd();
    json_cmd.env("USER", hostile).args(["info", "--json"]);
    let json_out = run(&mut json_cmd);
    for out in [&by_flag, &by_env, &json_out] {
        assert_eq!(out.code, 0, "{out}");
        assert_eq!(has_raw_danger(&out.raw_stdout), None, "{out}");
        assert_eq!(has_raw_danger(&out.raw_stderr), None, "{out}");
    }
    for out in [&by_flag, &by_env] {
        assert!(out.stdout.contains("reviewer       none: "), "{out}");
        assert!(out.stdout.contains("eve"), "{out}");
    }
    assert!(
        json_out.json()["reviewer"]["error"].is_string(),
        "{json_out}"
    );
}

/// Characters serde_json passes through raw, and JSON outputs must not.
const INVISIBLE: &str = "t\u{85}i\u{9b}2J\u{202e}t\u{2066}l\u{200b}e\u{7f}";

fn assert_json_escaped(raw: &[u8], what: &str) {
    let text = std::str::from_utf8(raw).expect("UTF-8");
    for c in [
        '\u{85}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{7f}',
    ] {
        assert!(!text.contains(c), "{what}: raw {c:?} in {text}");
    }
    for esc in [
        r"\u0085", r"\u009b", r"\u202e", r"\u2066", r"\u200b", r"\u007f",
    ] {
        assert!(text.contains(esc), "{what}: no {esc} in {text}");
    }
}

#[test]
fn json_outputs_escape_c1_bidi_and_format_characters_and_keep_the_values() {
    let mut case = low_case("LOW-1");
    case["title"] = json!(INVISIBLE);
    let store = TestStore::with_cases(&[case]);
    let list = store.run(&["list", "--json"]);
    assert_json_escaped(&list.raw_stdout, "list --json");
    assert_eq!(list.json()["cases"][0]["title"], INVISIBLE);
    let show = store.run(&["show", "LOW-1", "--json"]);
    assert_json_escaped(&show.raw_stdout, "show --json");
    assert_eq!(show.json()["case"]["title"], INVISIBLE);

    let justification = format!("{JUSTIFICATION} {INVISIBLE}");
    let mut cmd = store.cmd();
    cmd.args(["--reviewer", "alice"])
        .args(decide_args("LOW-1", "approve", &justification))
        .arg("--json");
    let decided = run(&mut cmd);
    assert_eq!(decided.code, 0, "{decided}");
    assert_json_escaped(&decided.raw_stdout, "decide --json");
    let record = decided.json();
    assert_eq!(record["justification"], justification.as_str());

    // The log keeps its canonical bytes (serde_json's escaping): its hash
    // covers them, and they are never re-written.
    let log = store.evidence_bytes();
    assert!(std::str::from_utf8(&log).unwrap().contains('\u{202e}'));
    assert_eq!(store.run(&["evidence", "verify"]).code, 0);
    // The export: the same values, escaped.
    let export = store.run(&["evidence", "export", "--format", "json"]);
    assert_eq!(export.code, 0, "{export}");
    assert_json_escaped(&export.raw_stdout, "evidence export --format json");
    assert_eq!(export.json(), json!(store.evidence_records()));
    assert_eq!(export.json()[0], record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_escape_c1_bidi_and_format_characters() {
    let mut case = low_case("LOW-1");
    case["title"] = json!(INVISIBLE);
    let store = TestStore::with_cases(&[case]);
    let tokens = tokens_path(&store);
    let token = add_token(&store, &tokens, "alice");
    let server = Server::start(&store, &tokens, &[]);
    for path in ["/v1/cases", "/v1/cases/LOW-1"] {
        let resp = client()
            .get(server.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let body = resp.bytes().await.expect("body");
        assert_json_escaped(&body, path);
        let v: Value = serde_json::from_slice(&body).expect("valid JSON");
        let title = if path == "/v1/cases" {
            &v["cases"][0]["case"]["title"]
        } else {
            &v["case"]["title"]
        };
        assert_eq!(title, INVISIBLE, "{path}");
    }
}

// ---------------------------------------------------------------------------
// Item 14: the documented formats are the real ones.

/// The `### …` sections of docs/cli.md's "JSON outputs" and the JSON
/// examples of each, parsed.
fn documented_json() -> Vec<(String, Vec<Value>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md"))
        .expect("docs/cli.md");
    let section = doc
        .split("\n## JSON outputs")
        .nth(1)
        .expect("a JSON outputs section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut found = Vec::new();
    for part in section.split("\n### ").skip(1) {
        let heading = part.lines().next().unwrap_or("").to_string();
        let examples: Vec<Value> = part
            .split("```json\n")
            .skip(1)
            .map(|block| {
                let text = block.split("```").next().unwrap_or("");
                serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("{heading}: example is not JSON ({e}):\n{text}"))
            })
            .collect();
        found.push((heading, examples));
    }
    found
}

/// Compares a documented example with a real output: every documented key
/// must be in the output (where the output has that object), and every key
/// of the output must be documented, except under an object whose example
/// holds a `"…"` key (documented elsewhere) or a placeholder string or
/// `null` (its shape given in words).
fn compare(doc: &Value, real: &Value, path: &str, errors: &mut Vec<String>) {
    match (doc, real) {
        (Value::Object(d), Value::Object(r)) => {
            let open = d.contains_key("…");
            for key in d.keys().filter(|k| *k != "…") {
                match r.get(key) {
                    None => errors.push(format!("{path}.{key}: documented, not in the output")),
                    Some(rv) => compare(&d[key], rv, &format!("{path}.{key}"), errors),
                }
            }
            if !open {
                for key in r.keys().filter(|k| !d.contains_key(*k)) {
                    errors.push(format!("{path}.{key}: in the output, not documented"));
                }
            }
        }
        (Value::Array(d), Value::Array(r)) => {
            if let Some(template) = d.first() {
                for (i, item) in r.iter().enumerate().take(5) {
                    compare(template, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

/// Real outputs of every documented format, on a store that exercises
/// their fields: a case with problems, a line that does not load, a
/// dependency map with a cycle and a dangling id, a decision in the
/// history, a queued decision in an outbox.
fn real_outputs() -> Vec<(&'static str, Vec<Value>)> {
    let mut odd = high_case("HIGH-1");
    odd["colour"] = json!("blue");
    odd["finding"]["severity"] = json!("HIGHEST");
    let identity = odd["identity"]["id"].clone();
    let nodes = odd["dependencies"]["nodes"].as_array_mut().unwrap();
    nodes.push(
        json!({"id": "svc:a", "name": "a", "kind": "service", "criticality": "low",
                      "uses": ["svc:b", "svc:gone"]}),
    );
    nodes.push(
        json!({"id": "svc:b", "name": "b", "kind": "service", "criticality": "low",
                      "uses": ["svc:a", identity]}),
    );
    let store = TestStore::with_cases(&[low_case("LOW-1"), odd]);
    std::fs::write(store.cases_dir().join("broken.jsonl"), "{\"id\": \"X\"}\n").unwrap();
    // A decision for the history and the evidence counts. (On LOW-1: an
    // approved state has no variant fields, which the prose documents.)
    let decided = store.decide("alice", "LOW-1", "approve", &[]);
    assert_eq!(decided.code, 0, "{decided}");
    let json_of = |args: &[&str]| {
        let out = store.run(args);
        assert_eq!(out.code, 0, "{args:?}: {out}");
        out.json()
    };
    let remote = |args: &[&str]| {
        let mut cmd = store.sandbox.cmd();
        cmd.args(["--api", "http://127.0.0.1:9"])
            .args(args)
            .env("NHI_TRIAGE_TOKEN", "nhi_test");
        run(&mut cmd)
    };
    let sha = "a".repeat(64);
    let queued = remote(&[
        "decide",
        "HIGH-1",
        "--action",
        "quarantine",
        "--justification",
        JUSTIFICATION,
        "--expected-version",
        "0",
        "--case-sha256",
        &sha,
    ]);
    assert_eq!(queued.code, 6, "queued in the outbox: {queued}");
    let info_remote = remote(&["info", "--json"]);
    assert_eq!(info_remote.code, 0, "{info_remote}");
    vec![
        (
            "`list --json`",
            vec![json_of(&["list", "--json", "--state", "all"])],
        ),
        // HIGH-1: routing, cycles, dangling, problems; LOW-1: a history.
        (
            "`show --json`",
            vec![
                json_of(&["show", "HIGH-1", "--json"]),
                json_of(&["show", "LOW-1", "--json"]),
            ],
        ),
        (
            "`evidence verify --json`",
            vec![json_of(&["evidence", "verify", "--json"])],
        ),
        (
            "`info --json`",
            vec![json_of(&["info", "--json"]), info_remote.json()],
        ),
        (
            "`outbox list --json`",
            vec![json_of(&["outbox", "list", "--json"])],
        ),
    ]
}

#[test]
fn every_documented_json_field_is_in_the_real_output_and_back() {
    let documented = documented_json();
    let real = real_outputs();
    let mut errors = Vec::new();
    let with_examples: Vec<&(String, Vec<Value>)> =
        documented.iter().filter(|(_, ex)| !ex.is_empty()).collect();
    for (heading, examples) in &with_examples {
        let Some((name, outputs)) = real.iter().find(|(name, _)| heading.starts_with(name)) else {
            errors.push(format!("{heading}: documented, but no test produces it"));
            continue;
        };
        // One example per output shape (info: local and --api); several
        // outputs of one shape are each compared with its example.
        assert!(
            examples.len() <= outputs.len(),
            "{heading}: an example without output"
        );
        for (i, out) in outputs.iter().enumerate() {
            let doc = &examples[i.min(examples.len() - 1)];
            compare(doc, out, name, &mut errors);
            // The schema the heading and the example name is the program's.
            assert_eq!(doc["format"], out["format"], "{heading}");
            assert_eq!(doc["schema_version"], out["schema_version"], "{heading}");
            let format = out["format"].as_str().unwrap_or_default();
            assert!(heading.contains(format), "{heading} names {format}");
            assert!(
                format.ends_with(&format!("/{}", out["schema_version"])),
                "{format} and schema_version agree"
            );
        }
    }
    for (name, _) in &real {
        assert!(
            with_examples.iter().any(|(h, _)| h.starts_with(name)),
            "{name}: produced, but docs/cli.md has no example"
        );
    }
    assert!(
        errors.is_empty(),
        "docs/cli.md and the output differ:\n{}",
        errors.join("\n")
    );
}
