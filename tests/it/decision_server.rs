//! Decision safety (issue 7) through `nhi-triage serve`: the real binary on
//! port 0 over a temporary store. A running server decides on the case
//! files as they are on disk and shows rewritten cases within two seconds;
//! a decision on content that changed is a 409 naming the change; an
//! Idempotency-Key belongs to one reviewer and one request; `--policy` is
//! refused. The server harness is tests/common/server.rs.

use crate::common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::server::{Api, Server, add_token, decision, send, tokens_path};
use common::{CaseBuilder, TestStore, at, low_case, with_critical_partner};
use nhi_triage::model::Case;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How soon a running server must show a rewritten case (issue 7).
const RELOAD_WITHIN: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// What these tests read through the shared client (tests/common/server.rs).

impl Api {
    /// The tier `GET /v1/cases/ID` shows.
    async fn tier(&self, id: &str) -> String {
        let (status, body) = self.get(&format!("/v1/cases/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["assessment"]["tier"]
            .as_str()
            .expect("tier")
            .to_string()
    }

    /// Polls `GET /v1/cases/ID` until it shows `tier`; how long that took.
    async fn wait_for_tier(&self, id: &str, tier: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let now = self.tier(id).await;
            if now == tier {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "{id} still shows tier {now}, not {tier}, {limit:?} after the rewrite"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `case_sha256` of `id` in `GET /v1/cases`.
    async fn listed_sha(&self, id: &str) -> String {
        let (status, page) = self.get("/v1/cases?state=all").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .find(|e| e["case"]["id"] == id)
            .and_then(|e| e["case_sha256"].as_str())
            .unwrap_or_else(|| panic!("no case_sha256 for {id}: {page}"))
            .to_string()
    }
}

/// A store holding each case in its own file `cases/<id>.jsonl`, so a test
/// can rewrite one without touching the others.
fn store_of(cases: &[Value]) -> TestStore {
    let store = TestStore::with_cases(&[]);
    for c in cases {
        store.write_cases(&file_of(c["id"].as_str().unwrap()), std::slice::from_ref(c));
    }
    store
}

fn file_of(id: &str) -> String {
    format!("{}.jsonl", id.to_lowercase())
}

/// The digest of case `id` as its file on disk holds it, parsed here.
fn sha_on_disk(store: &TestStore, id: &str) -> String {
    let text = std::fs::read_to_string(store.cases_dir().join(file_of(id))).unwrap();
    serde_json::from_str::<Case>(text.trim())
        .expect("case")
        .content_sha256()
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_decides_on_the_case_files_as_they_are_now() {
    let store = store_of(&[low_case("LOW-1"), low_case("LOW-2"), low_case("LOW-3")]);
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let server = Server::start(&store, &tokens, &[]);
    let api = Api::new(&server, &alice);
    for id in ["LOW-1", "LOW-2", "LOW-3"] {
        assert_eq!(api.tier(id).await, "low", "{id}");
    }

    // The pipeline adds a critical, external dependent to LOW-1; the very
    // next approve (no waiting for any watcher) is refused on the new tier.
    store.write_cases(&file_of("LOW-1"), &[with_critical_partner("LOW-1")]);
    let (status, body) = api.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "refused", "{body}");
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("tier is high"), "{body}");
    assert_eq!(api.tier("LOW-1").await, "high");

    // LOW-2 gains a recent use: GET shows the new tier within 2 s, with no
    // decision in between to trigger a reload.
    let seen = api.listed_sha("LOW-2").await;
    assert_eq!(seen, sha_on_disk(&store, "LOW-2"));
    store.write_cases(
        &file_of("LOW-2"),
        &[CaseBuilder::low("LOW-2")
            .set(
                "/identity/last_used_at",
                json!(at(-time::Duration::hours(1))),
            )
            .build()],
    );
    api.wait_for_tier("LOW-2", "medium", RELOAD_WITHIN).await;
    assert_eq!(api.listed_sha("LOW-2").await, sha_on_disk(&store, "LOW-2"));

    // Approving with the digest of what the reviewer saw: 409, naming the change.
    let mut body = decision("approve", 0);
    body["expected_case_sha256"] = json!(seen);
    let (status, conflict) = api.decide("LOW-2", &body, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["error"], "case_changed", "{conflict}");
    let change = &conflict["change"];
    assert_eq!(change["case_id"], "LOW-2", "{conflict}");
    assert_eq!(change["seen_sha256"], json!(seen), "{conflict}");
    assert_eq!(
        change["current_sha256"],
        json!(sha_on_disk(&store, "LOW-2")),
        "{conflict}"
    );
    assert_eq!(change["tier_before"], "low", "{conflict}");
    assert_eq!(change["tier_after"], "medium", "{conflict}");
    let fields: Vec<&str> = change["fields"]
        .as_array()
        .expect("change.fields")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(fields.contains(&"identity.last_used_at"), "{conflict}");
    // Without the digest: evaluated on the new content, refused.
    let (status, body) = api.decide("LOW-2", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        store.evidence_bytes().is_empty(),
        "a refused decision was recorded"
    );

    // An allowed decision names the content it was made on.
    store.write_cases(
        &file_of("LOW-3"),
        &[CaseBuilder::low("LOW-3")
            .set("/title", json!("retitled by the pipeline"))
            .build()],
    );
    let (status, record) = api.decide("LOW-3", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    let on_disk = sha_on_disk(&store, "LOW-3");
    assert_eq!(record["case_sha256"], json!(on_disk), "{record}");
    assert_eq!(record["readiness"]["tier"], "low");
    let records = store.evidence_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["case_sha256"], json!(on_disk));
    let (_, detail) = api.get("/v1/cases/LOW-3").await;
    assert_eq!(detail["case"]["title"], "retitled by the pipeline");
    let shown: Case = serde_json::from_value(detail["case"].clone()).unwrap();
    assert_eq!(shown.content_sha256(), on_disk);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_deleted_or_renamed_case_file_shows_within_two_seconds() {
    let store = store_of(&[low_case("LOW-1")]);
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let server = Server::start(&store, &tokens, &[]);
    let api = Api::new(&server, &alice);

    // A client long-polling the evidence with the case generation it holds
    // (how a remote console follows) is woken by a case file change.
    let (status, page) = api.get("/v1/evidence?after_seq=0").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let generation = page["cases_generation"].as_u64().expect("cases_generation");
    let poll = {
        let client = api.client.clone();
        let url = format!(
            "{}/v1/evidence?after_seq=0&wait=20&cases_generation={generation}",
            api.base
        );
        let token = api.token.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let got = send(client.get(url).bearer_auth(token)).await;
            (got, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Created.
    store.write_cases("new.jsonl", &[with_critical_partner("NEW-1")]);
    let ((status, page), waited) = poll.await.expect("long poll");
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_ne!(page["cases_generation"], json!(generation), "{page}");
    assert!(
        waited < Duration::from_millis(300) + RELOAD_WITHIN,
        "the long poll woke after {waited:?}"
    );
    let start = Instant::now();
    loop {
        let (status, body) = api.get("/v1/cases/NEW-1").await;
        if status == StatusCode::OK {
            assert_eq!(body["assessment"]["tier"], "high", "{body}");
            break;
        }
        assert!(start.elapsed() < RELOAD_WITHIN, "NEW-1 not shown: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Renamed into place (how pipelines write atomically).
    let tmp = store.cases_dir().join("low-1.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_string(&with_critical_partner("LOW-1")).unwrap() + "\n",
    )
    .unwrap();
    std::fs::rename(&tmp, store.cases_dir().join(file_of("LOW-1"))).unwrap();
    api.wait_for_tier("LOW-1", "high", RELOAD_WITHIN).await;
    // Deleted.
    std::fs::remove_file(store.cases_dir().join("new.jsonl")).unwrap();
    let start = Instant::now();
    loop {
        let (status, _) = api.get("/v1/cases/NEW-1").await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(start.elapsed() < RELOAD_WITHIN, "NEW-1 still shown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_belongs_to_one_reviewer_and_one_request() {
    let store = store_of(&[low_case("LOW-1"), low_case("LOW-2")]);
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let bob = add_token(&store, &tokens, "bob");
    let server = Server::start(&store, &tokens, &[]);
    let api = Api::new(&server, &alice);
    let bob_api = Api::new(&server, &bob);
    let key = "0193f2c4-approve-low-1";

    let (s1, first) = api
        .decide("LOW-1", &decision("approve", 0), Some(key))
        .await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    let after_first = store.evidence_bytes();

    // The same body: the first record again, nothing new.
    let (s2, again) = api
        .decide("LOW-1", &decision("approve", 0), Some(key))
        .await;
    assert!(
        s2 == StatusCode::CREATED || s2 == StatusCode::OK,
        "{s2}: {again}"
    );
    assert_eq!(again, first);
    assert_eq!(store.evidence_bytes(), after_first);

    // A different body with the key: 422 idempotency_key_reused.
    let mut other_justification = decision("approve", 0);
    other_justification["justification"] =
        json!("A different reason for a different decision entirely.");
    let other_version = decision("approve", 1);
    let mut with_hours = decision("approve", 0);
    with_hours["quarantine_hours"] = json!(48);
    let mut with_digest = decision("approve", 0);
    with_digest["expected_case_sha256"] = json!(sha_on_disk(&store, "LOW-1"));
    for (what, body, id) in [
        ("another justification", other_justification, "LOW-1"),
        ("another expected_version", other_version, "LOW-1"),
        ("quarantine hours", with_hours, "LOW-1"),
        ("an expected digest", with_digest, "LOW-1"),
        ("another action", decision("quarantine", 0), "LOW-1"),
        ("another case", decision("approve", 0), "LOW-2"),
    ] {
        let (status, body) = api.decide(id, &body, Some(key)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(body["error"], "idempotency_key_reused", "{what}: {body}");
        assert_eq!(store.evidence_bytes(), after_first, "{what}: recorded");
    }

    // bob with alice's key and alice's exact body: 422, nothing recorded.
    let (status, body) = bob_api
        .decide("LOW-1", &decision("approve", 0), Some(key))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "idempotency_key_reused", "{body}");
    assert_ne!(body, first);
    // ... and on a case alice never touched with that key.
    let (status, body) = bob_api
        .decide("LOW-2", &decision("approve", 0), Some(key))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(store.evidence_bytes(), after_first);

    // A quarantine retried with other hours.
    let mut q = decision("quarantine", 0);
    q["quarantine_hours"] = json!(24);
    let (status, qr) = api.decide("LOW-2", &q, Some("q-key")).await;
    assert_eq!(status, StatusCode::CREATED, "{qr}");
    let after_q = store.evidence_bytes();
    q["quarantine_hours"] = json!(48);
    let (status, body) = api.decide("LOW-2", &q, Some("q-key")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "idempotency_key_reused", "{body}");
    assert_eq!(store.evidence_bytes(), after_q);

    let (_, health) = api.get("/v1/health").await;
    assert_eq!(health["evidence"]["records"], 2, "{health}");
    assert_eq!(store.evidence_records().len(), 2);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separation_of_duties_holds_for_look_alike_token_names() {
    let store = store_of(&[CaseBuilder::high("HIGH-1").build()]);
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let bob = add_token(&store, &tokens, "bob");
    // One person, one name: look-alikes and hidden characters get no token.
    for name in ["Alice", "\u{0430}lice", "alice\u{200b}", "alice "] {
        let out = common::run(
            store
                .sandbox
                .cmd()
                .args(["token", "add", name, "--tokens"])
                .arg(&tokens),
        );
        assert_ne!(out.code, 0, "token for {name:?}: {out}");
    }
    let server = Server::start(&store, &tokens, &[]);
    let (status, body) = Api::new(&server, &alice)
        .decide("HIGH-1", &decision("escalate", 0), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for action in ["approve", "quarantine", "close"] {
        let (status, body) = Api::new(&server, &alice)
            .decide("HIGH-1", &decision(action, 1), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{action}: {body}");
        assert!(
            body["reasons"].to_string().contains("separation of duties"),
            "{action}: {body}"
        );
    }
    // Through the API no OS account is known: bob's token is bob.
    let (status, record) = Api::new(&server, &bob)
        .decide("HIGH-1", &decision("approve", 1), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    assert_eq!(record["escalated_by"], "alice");
    assert_eq!(record["shared_os_account"], false);
    drop(server);
}

#[test]
fn serve_with_a_swapped_policy_is_refused() {
    let store = store_of(&[low_case("LOW-1")]);
    let tokens = tokens_path(&store);
    add_token(&store, &tokens, "alice");
    let lax = store.sandbox.path().join("lax.toml");
    std::fs::write(&lax, "dependency_map_max_age_days = 60\n").unwrap();
    let mut child = store
        .cmd()
        .arg("--policy")
        .arg(&lax)
        .args(["serve", "--bind", "127.0.0.1:0", "--tokens"])
        .arg(&tokens)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve --policy kept running: it must refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--policy"), "{stderr}");
    assert!(!stdout.contains("listening on"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_quarantine_request_is_refused_not_a_server_error() {
    let store = store_of(&[low_case("LOW-1")]);
    store.set_policy("quarantine_max_hours", "8784");
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let server = Server::start(&store, &tokens, &[]);
    let api = Api::new(&server, &alice);
    for hours in [80_000_000u64, u64::from(u32::MAX), 8785] {
        let mut body = decision("quarantine", 0);
        body["quarantine_hours"] = json!(hours);
        let (status, body) = api.decide("LOW-1", &body, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{hours}: {body}");
        assert!(
            body["reasons"].to_string().contains("quarantine hours"),
            "{hours}: {body}"
        );
    }
    // Still serving.
    let (status, _) = api.get("/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert!(store.evidence_bytes().is_empty());
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
    drop(server);
}

/// A store named by a relative path (`--store store`) is watched as well as
/// an absolute one: the watcher's event paths are absolute, so the store's
/// own path must be too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_given_by_a_relative_path_is_watched_too() {
    let store = store_of(&[low_case("LOW-1")]);
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let server = Server::start_relative(&store, &tokens);
    let api = Api::new(&server, &alice);
    assert_eq!(api.tier("LOW-1").await, "low");
    store.write_cases(&file_of("LOW-1"), &[with_critical_partner("LOW-1")]);
    api.wait_for_tier("LOW-1", "high", RELOAD_WITHIN).await;
}
