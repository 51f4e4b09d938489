//! End-to-end tests of `nhi-triage serve`: the real binary on port 0 over a
//! temporary store, driven with reqwest (and raw TCP where byte-level control
//! matters). Every wait is bounded; every server is killed when its test ends.

use crate::common;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::server::{Api, Server, add_token, client, client_builder, decision, send, tokens_path};
use common::{JUSTIFICATION, TestStore, high_case, low_case, medium_case};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

/// The server's drain window (src/server/mod.rs DRAIN_TIMEOUT), plus slack.
const DRAIN_WINDOW: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Stores, fixtures, raw reads. (The server process, tokens and the client
// are in tests/common/server.rs.)

/// A store with one case of each tier plus two more low ones.
fn tiered_store() -> TestStore {
    TestStore::with_cases(&[
        low_case("LOW-1"),
        low_case("LOW-2"),
        low_case("LOW-3"),
        medium_case("MED-1"),
        high_case("HIGH-1"),
    ])
}

/// A store, its tokens file with a token for alice, and a server on it.
struct Fixture {
    store: TestStore,
    tokens: PathBuf,
    alice: String,
    server: Server,
}

impl Fixture {
    fn new(store: TestStore) -> Fixture {
        let tokens = tokens_path(&store);
        let alice = add_token(&store, &tokens, "alice");
        let server = Server::start(&store, &tokens, &[]);
        Fixture {
            store,
            tokens,
            alice,
            server,
        }
    }

    fn api(&self) -> Api {
        Api::new(&self.server, &self.alice)
    }

    fn evidence_lines(&self) -> usize {
        self.store.evidence_records().len()
    }

    /// `nhi-triage --store DIR evidence verify` exits 0.
    fn assert_cli_verify(&self) {
        let out = self.store.run(&["evidence", "verify"]);
        assert_eq!(out.code, 0, "evidence verify: {out}");
    }
}

/// Reads from a raw connection until EOF, an error or `limit`.
fn read_all(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("set_read_timeout");
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    break false;
                }
            }
            Err(_) => break true,
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// Reads one HTTP/1.1 response with a `content-length` (keep-alive: the
/// connection may stay open), within `limit`; what came when it closes.
fn read_response(stream: &mut TcpStream, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("set_read_timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "no full response: {text:?}");
        match stream.read(&mut buf) {
            Ok(0) => return text,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return text,
        }
    }
}

// ---------------------------------------------------------------------------
// Authentication.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_refused_and_record_nothing() {
    let fx = Fixture::new(tiered_store());
    let bob = add_token(&fx.store, &fx.tokens, "bob");
    let http = client();
    let post = |auth: Option<HeaderValue>| {
        let mut req = http
            .post(fx.server.url("/v1/cases/LOW-1/decisions"))
            .json(&decision("approve", 0));
        if let Some(v) = auth {
            req = req.header("Authorization", v);
        }
        req
    };
    let before = fx.store.evidence_bytes();

    let bad: Vec<(&str, Option<HeaderValue>)> = vec![
        ("missing", None),
        (
            "wrong token",
            Some(HeaderValue::from_str(&format!("Bearer nhi_{}", "0".repeat(64))).unwrap()),
        ),
        (
            "token with a byte more",
            Some(HeaderValue::from_str(&format!("Bearer {}x", fx.alice)).unwrap()),
        ),
        (
            "basic scheme",
            Some(HeaderValue::from_static("Basic YWxpY2U6cGFzc3dvcmQ=")),
        ),
        (
            "other scheme",
            Some(HeaderValue::from_str(&format!("Token {}", fx.alice)).unwrap()),
        ),
        ("scheme only", Some(HeaderValue::from_static("Bearer"))),
        ("empty", Some(HeaderValue::from_static(""))),
        (
            "not ASCII",
            Some(HeaderValue::from_bytes(b"Bearer nhi_\xff\xfe").unwrap()),
        ),
    ];
    for (what, auth) in bad {
        let resp = post(auth.clone()).send().await.expect("request");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            resp.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..]),
            "{what}"
        );
        let body: Value = resp.json().await.expect("JSON body");
        assert_eq!(body["error"], "unauthorized", "{what}: {body}");

        // Reads are refused the same way.
        let mut get = http.get(fx.server.url("/v1/cases"));
        if let Some(v) = auth {
            get = get.header("Authorization", v);
        }
        let (status, body) = send(get).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(body["error"], "unauthorized", "{what}: {body}");
    }
    assert_eq!(
        fx.store.evidence_bytes(),
        before,
        "a refused request recorded something"
    );

    // A token revoked while the server runs stops working at once.
    let alice = fx.api();
    let (status, _) = alice.get("/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    let out = common::run(
        fx.store
            .sandbox
            .cmd()
            .args(["token", "revoke", "alice", "--tokens"])
            .arg(&fx.tokens),
    );
    assert_eq!(out.code, 0, "token revoke: {out}");
    let (status, body) = alice.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized", "{body}");
    let (status, _) = alice.get("/v1/health").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        fx.store.evidence_bytes(),
        before,
        "a revoked token recorded something"
    );

    // Other reviewers are unaffected.
    let bob = Api::new(&fx.server, &bob);
    let (status, body) = bob.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["reviewer"]["name"], "bob");
    assert_eq!(fx.evidence_lines(), 1);
}

// ---------------------------------------------------------------------------
// Health, policy, cases.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_policy_have_their_documented_shape() {
    let fx = Fixture::new(tiered_store());
    let api = fx.api();
    let (status, health) = api.get("/v1/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["store"], "local", "{health}");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"), "{health}");
    assert_eq!(health["cases"], 5, "{health}");
    assert_eq!(health["evidence"]["records"], 0, "{health}");
    assert_eq!(health["evidence"]["last_seq"], 0, "{health}");
    assert!(health["evidence"]["broken"].is_null(), "{health}");

    let (status, policy) = api.get("/v1/policy").await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    assert!(policy["version"].is_string(), "{policy}");
    for field in [
        "justification_min_chars",
        "quarantine_default_hours",
        "quarantine_max_hours",
        "dependency_map_max_age_days",
    ] {
        assert!(policy[field].is_u64(), "{field} missing: {policy}");
    }
    assert!(policy["allow_break_glass"].is_boolean(), "{policy}");

    // After a decision the health counts it.
    let (status, _) = api.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, health) = api.get("/v1/health").await;
    assert_eq!(health["evidence"]["records"], 1, "{health}");
    assert_eq!(health["evidence"]["last_seq"], 1, "{health}");

    // An unknown endpoint is a JSON 404.
    let (status, body) = api.get("/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found", "{body}");
}

/// 23 cases P-01..P-23, written out of id order across two files; every
/// fifth is high tier and every seventh medium, the rest low.
fn paging_store() -> TestStore {
    let case = |i: usize| {
        let id = format!("P-{i:02}");
        if i.is_multiple_of(5) {
            high_case(&id)
        } else if i.is_multiple_of(7) {
            medium_case(&id)
        } else {
            low_case(&id)
        }
    };
    let store = TestStore::with_cases(&[]);
    store.write_cases("b.jsonl", &(1..=11).rev().map(case).collect::<Vec<_>>());
    store.write_cases("a.jsonl", &(12..=23).rev().map(case).collect::<Vec<_>>());
    store
}

fn page_ids(page: &Value) -> Vec<String> {
    page["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|e| e["case"]["id"].as_str().expect("case id").to_string())
        .collect()
}

fn p(i: usize) -> String {
    format!("P-{i:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_page_in_id_order_with_a_stable_cursor() {
    let fx = Fixture::new(paging_store());
    let api = fx.api();
    let all: Vec<String> = (1..=23).map(p).collect();

    // Limits and filters are checked.
    for query in [
        "limit=0",
        "limit=2001",
        "limit=-1",
        "limit=many",
        "state=bogus",
        "state=",
    ] {
        let (status, body) = api.get(&format!("/v1/cases?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"], "bad_request", "{query}: {body}");
    }
    for query in ["limit=1", "limit=2000", "state=all", "state=open"] {
        let (status, body) = api.get(&format!("/v1/cases?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
    }

    // The default page holds everything, in id order, with summaries.
    let (status, page) = api.get("/v1/cases").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page_ids(&page), all);
    assert_eq!(page["total"], 23);
    assert!(page["next_cursor"].is_null(), "{}", page["next_cursor"]);
    let entry = &page["cases"][0];
    assert_eq!(entry["status"]["state"], "pending", "{entry}");
    assert_eq!(entry["status"]["version"], 0, "{entry}");
    assert_eq!(entry["summary"]["tier"], "low", "{entry}");
    assert_eq!(page["cases"][4]["summary"]["tier"], "high");
    assert_eq!(page["cases"][6]["summary"]["tier"], "medium");

    // Walking the cursor visits every case exactly once, in id order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/cases?limit=4&cursor={c}"),
            None => "/v1/cases?limit=4".to_string(),
        };
        let (status, page) = api.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["total"], 23);
        let ids = page_ids(&page);
        assert!(ids.len() <= 4);
        seen.extend(ids);
        pages += 1;
        assert!(pages <= 10, "the cursor does not end");
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 6);
    assert_eq!(seen, all);

    // A page that ends exactly at the last case has no next cursor.
    let (_, page) = api.get("/v1/cases?limit=23").await;
    assert_eq!(page_ids(&page).len(), 23);
    assert!(page["next_cursor"].is_null());

    // Decisions between page fetches neither skip nor repeat a case: the
    // cursor is the last id seen, not an offset.
    let (_, first) = api.get("/v1/cases?state=pending&limit=5").await;
    assert_eq!(page_ids(&first), (1..=5).map(p).collect::<Vec<_>>());
    assert_eq!(first["total"], 23);
    for id in [p(2), p(4)] {
        let (status, body) = api.decide(&id, &decision("approve", 0), None).await;
        assert_eq!(status, StatusCode::CREATED, "{id}: {body}");
    }
    let mut seen = page_ids(&first);
    let mut cursor = first["next_cursor"]
        .as_str()
        .expect("next_cursor")
        .to_string();
    assert_eq!(cursor, p(5));
    let mut decided_ahead = false;
    for _ in 0..10 {
        let (status, page) = api
            .get(&format!("/v1/cases?state=pending&limit=5&cursor={cursor}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(page_ids(&page));
        if !decided_ahead {
            assert_eq!(page_ids(&page), (6..=10).map(p).collect::<Vec<_>>());
            assert_eq!(page["total"], 21, "two cases left the pending queue");
            // A case not yet reached is decided: it leaves the queue.
            let (status, body) = api.decide(&p(12), &decision("approve", 0), None).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            decided_ahead = true;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=23).filter(|&i| i != 12).map(p).collect();
    assert_eq!(seen, expected, "pending walk skipped or repeated a case");

    // The filters see the decisions.
    let (_, decided) = api.get("/v1/cases?state=decided").await;
    assert_eq!(page_ids(&decided), vec![p(2), p(4), p(12)]);
    assert_eq!(decided["total"], 3);
    assert_eq!(decided["cases"][0]["status"]["state"], "approved");
    let (_, open) = api.get("/v1/cases?state=open&limit=2000").await;
    assert_eq!(open["total"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_detail_has_history_and_assessment() {
    let fx = Fixture::new(tiered_store());
    let api = fx.api();
    let (status, detail) = api.get("/v1/cases/LOW-1").await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["case"]["id"], "LOW-1");
    assert_eq!(detail["status"]["state"], "pending");
    assert_eq!(detail["status"]["version"], 0);
    assert_eq!(detail["history"], json!([]));
    assert_eq!(detail["assessment"]["tier"], "low", "{detail}");
    assert!(detail["assessment"]["q1"].is_object(), "{detail}");
    assert!(
        detail["assessment"]["recommendation"].is_string(),
        "{detail}"
    );

    let (status, record) = api.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    let (_, detail) = api.get("/v1/cases/LOW-1").await;
    assert_eq!(detail["status"]["state"], "approved");
    assert_eq!(detail["status"]["version"], 1);
    assert_eq!(detail["status"]["last_decision"]["reviewer"], "alice");
    assert_eq!(detail["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(detail["history"][0], record);

    let (_, high) = api.get("/v1/cases/HIGH-1").await;
    assert_eq!(high["assessment"]["tier"], "high", "{high}");

    for id in ["NOPE-1", "low-1", "%2e%2e"] {
        let (status, body) = api.get(&format!("/v1/cases/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
        assert_eq!(body["error"], "not_found", "{id}: {body}");
    }
}

// ---------------------------------------------------------------------------
// Decisions.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_sealed_as_the_token_reviewer_and_bad_ones_refused() {
    let fx = Fixture::new(tiered_store());
    let api = fx.api();

    // Low tier approve: a sealed record naming the token's reviewer.
    let (status, record) = api.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    assert_eq!(record["seq"], 1);
    assert_eq!(record["case_id"], "LOW-1");
    assert_eq!(record["action"], "approve");
    assert_eq!(record["reviewer"]["name"], "alice");
    assert_eq!(record["reviewer"]["via"], "api");
    assert_eq!(record["reviewer"]["host"], "127.0.0.1");
    assert_eq!(record["state_after"]["state"], "approved");
    assert_eq!(record["hash"].as_str().map(str::len), Some(64), "{record}");
    assert_eq!(fx.store.evidence_records(), vec![record.clone()]);

    // The client cannot name the reviewer.
    let mut spoof = decision("approve", 0);
    spoof["reviewer"] = json!({"name": "mallory", "host": "x", "via": "local"});
    let (status, body) = api.decide("LOW-2", &spoof, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "bad_request");
    assert!(
        body["message"].as_str().unwrap_or("").contains("reviewer"),
        "{body}"
    );

    // Policy refuses approving a high-tier case.
    let (status, body) = api.decide("HIGH-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "refused");
    assert!(
        !body["reasons"].as_array().expect("reasons").is_empty(),
        "{body}"
    );

    // A stale expected_version conflicts and says where the case is now.
    let (status, body) = api.decide("LOW-2", &decision("quarantine", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api.decide("LOW-2", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["current"]["state"], "quarantined", "{body}");
    assert_eq!(body["current"]["version"], 1, "{body}");
    assert_eq!(body["current"]["last_decision"]["action"], "quarantine");

    // Decisions on an unknown case.
    let (status, body) = api.decide("NOPE-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let records = fx.evidence_lines();
    assert_eq!(records, 2);

    // Malformed bodies are 400s (422 is kept for policy refusals).
    let url = fx.server.url("/v1/cases/LOW-3/decisions");
    let raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = api.client.post(&url).bearer_auth(&fx.alice).body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req
    };
    let json_type = Some("application/json");
    let bad = [
        ("not JSON", raw("{\"action\": \"approve\",", json_type)),
        ("empty", raw("", json_type)),
        (
            "wrong type",
            raw(
                r#"{"action":"approve","justification":"Reviewed the dependency map with the owner team.","expected_version":"zero"}"#,
                json_type,
            ),
        ),
        (
            "unknown action",
            raw(
                r#"{"action":"nuke","justification":"Reviewed the dependency map with the owner team.","expected_version":0}"#,
                json_type,
            ),
        ),
        (
            "missing field",
            raw(r#"{"action":"approve","expected_version":0}"#, json_type),
        ),
        (
            "array",
            raw(r#"[{"action":"approve","expected_version":0}]"#, json_type),
        ),
        (
            "no content type",
            raw(
                r#"{"action":"approve","justification":"Reviewed the dependency map with the owner team.","expected_version":0}"#,
                None,
            ),
        ),
    ];
    for (what, req) in bad {
        let (status, body) = send(req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"], "bad_request", "{what}: {body}");
    }

    // A body over 64 KiB is refused before it is parsed.
    let mut big = decision("approve", 0);
    big["justification"] = json!("x".repeat(70 * 1024));
    let (status, body) = api.decide("LOW-3", &big, None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "too_large");

    // So is one sent in chunks, without a length up front.
    let body = serde_json::to_vec(&big).unwrap();
    let mut raw = TcpStream::connect(fx.server.addr).expect("connect");
    write!(
        raw,
        "POST /v1/cases/LOW-3/decisions HTTP/1.1\r\nHost: test\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        fx.alice
    )
    .expect("write head");
    // The server may answer and close before it has read every chunk: stop
    // writing then, and read its answer.
    let mut chunked = Vec::new();
    for chunk in body.chunks(8192) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    for piece in chunked.chunks(8192) {
        if raw.write_all(piece).is_err() {
            break;
        }
    }
    let response = read_response(&mut raw, Duration::from_secs(10));
    assert!(
        response.starts_with("HTTP/1.1 413") && response.contains("too_large"),
        "chunked body over the limit: {response:?}"
    );

    // A bad Idempotency-Key is a 400.
    for key in ["x".repeat(201), "has space".to_string()] {
        let (status, body) = api
            .decide("LOW-3", &decision("approve", 0), Some(&key))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key:?}: {body}");
    }

    assert_eq!(
        fx.evidence_lines(),
        records,
        "a refused decision was recorded"
    );
    let (_, check) = api.get("/v1/evidence/verify").await;
    assert!(check["first_bad"].is_null(), "{check}");
    fx.assert_cli_verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_records_once_even_across_a_restart() {
    let mut fx = Fixture::new(tiered_store());
    let api = fx.api();
    let key = "0193f2c4-retry-me";

    let (s1, first) = api
        .decide("LOW-1", &decision("approve", 0), Some(key))
        .await;
    let (s2, second) = api
        .decide("LOW-1", &decision("approve", 0), Some(key))
        .await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    assert_eq!(s2, StatusCode::CREATED, "{second}");
    assert_eq!(first, second, "a retry must return the first record");
    assert_eq!(first["idempotency_key"], key);
    assert_eq!(fx.evidence_lines(), 1);

    // The retry wins even though the case's version has moved on.
    assert_eq!(api.version("LOW-1").await, 1);

    // The same key for a different action, or a different case, is refused.
    let (status, body) = api.decide("LOW-1", &decision("revoke", 0), Some(key)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "idempotency_key_reused");
    assert!(
        body["message"].as_str().unwrap_or("").contains(key),
        "{body}"
    );
    let (status, body) = api
        .decide("LOW-2", &decision("approve", 0), Some(key))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fx.evidence_lines(), 1);

    // A restarted server still knows the key: idempotency is durable.
    fx.server.kill();
    fx.server = Server::start(&fx.store, &fx.tokens, &[]);
    let api = fx.api();
    let (status, again) = api
        .decide("LOW-1", &decision("approve", 0), Some(key))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again, first);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["hash"], first["hash"]);
    assert_eq!(fx.evidence_lines(), 1);

    // Other keys still record new decisions.
    let (status, other) = api
        .decide("LOW-2", &decision("approve", 0), Some("another-key"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_eq!(other["seq"], 2);
    assert_eq!(fx.evidence_lines(), 2);
    fx.assert_cli_verify();
}

// ---------------------------------------------------------------------------
// Evidence.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_long_polls_wake_on_another_process_decision() {
    let fx = Fixture::new(tiered_store());
    let api = fx.api();

    // Without wait: at once, empty.
    let t = Instant::now();
    let (status, page) = api.get("/v1/evidence?after_seq=0").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"], json!([]));
    assert_eq!(page["last_seq"], 0);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());

    let (status, body) = api.get("/v1/evidence?after_seq=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // With wait and nothing happening: empty after the wait.
    let t = Instant::now();
    let (status, page) = api.get("/v1/evidence?after_seq=0&wait=2").await;
    let waited = t.elapsed();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"], json!([]));
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "wait=2 took {waited:?}"
    );

    // A decision by another process on the same store wakes a long poll.
    let poll = {
        let client = api.client.clone();
        let url = fx.server.url("/v1/evidence?after_seq=0&wait=10");
        let token = fx.alice.clone();
        tokio::spawn(async move {
            let answer = send(client.get(url).bearer_auth(token)).await;
            (answer, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "the long poll returned early");
    let started = Instant::now();
    let out = fx.store.decide("carol", "LOW-1", "approve", &[]);
    assert_eq!(out.code, 0, "decide: {out}");
    let decided = Instant::now();
    let ((status, page), answered) = tokio::time::timeout(Duration::from_secs(12), poll)
        .await
        .expect("the long poll never returned")
        .expect("poll task");
    eprintln!(
        "`decide` ran {:?}; the long poll answered {:?} after it started",
        decided - started,
        answered.saturating_duration_since(started)
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    let latency = answered.saturating_duration_since(decided);
    assert!(
        latency < Duration::from_secs(1),
        "the long poll answered {latency:?} after the decision was made"
    );
    let records = page["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{page}");
    assert_eq!(records[0]["case_id"], "LOW-1");
    assert_eq!(records[0]["reviewer"]["name"], "carol");
    assert_eq!(page["last_seq"], 1);

    // Past the end, a long poll with wait times out empty.
    let (status, body) = api.decide("LOW-2", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, page) = api.get("/v1/evidence?after_seq=1").await;
    assert_eq!(page["records"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["records"][0]["seq"], 2);
    let t = Instant::now();
    let (_, page) = api.get("/v1/evidence?after_seq=2&wait=2").await;
    assert_eq!(page["records"], json!([]));
    assert_eq!(page["last_seq"], 2);
    assert!(t.elapsed() >= Duration::from_millis(1900));

    let (status, check) = api.get("/v1/evidence/verify").await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert!(check["first_bad"].is_null(), "{check}");
    assert!(check["torn_tail"].is_null(), "{check}");
    assert_eq!(check["records"], 2, "{check}");
    assert_eq!(check["last_seq"], 2, "{check}");
    let records = fx.store.evidence_records();
    assert_eq!(check["head_hash"], records[1]["hash"]);
    fx.assert_cli_verify();
}

// ---------------------------------------------------------------------------
// Misbehaving clients, shutdown.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_block_others_and_is_cut_off() {
    let fx = Fixture::new(tiered_store());
    let api = fx.api();

    // Half a request line; nothing at all; part of the HTTP/2 preface.
    let opened = Instant::now();
    let mut stalled: Vec<(&str, TcpStream)> = Vec::new();
    for (what, bytes) in [
        ("half a request line", &b"GET /v1/hea"[..]),
        ("nothing", &b""[..]),
        ("part of the HTTP/2 preface", &b"PRI * HTTP/2.0\r\n"[..]),
    ] {
        let mut stream = TcpStream::connect(fx.server.addr).expect("connect");
        stream.write_all(bytes).expect("write");
        stalled.push((what, stream));
    }

    for _ in 0..3 {
        let (status, _) = api.get("/v1/health").await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) = api.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The header read timeout (10 s) closes them.
    for (what, mut stream) in stalled {
        let left = Duration::from_secs(15).saturating_sub(opened.elapsed());
        let (_, closed) = read_all(&mut stream, left);
        let after = opened.elapsed();
        eprintln!("stalled connection ({what}) closed after {after:?}");
        assert!(closed, "{what}: still open after {after:?}");
        assert!(
            after >= Duration::from_secs(9),
            "{what}: closed at {after:?}"
        );
    }

    let (status, _) = api.get("/v1/health").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let mut fx = Fixture::new(tiered_store());
    let api = fx.api();

    // A decision acknowledged before the signal.
    let (status, before) = api.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{before}");

    // A long poll in flight.
    let poll = {
        let client = api.client.clone();
        let url = fx.server.url("/v1/evidence?after_seq=1&wait=10");
        let token = fx.alice.clone();
        tokio::spawn(async move { send(client.get(url).bearer_auth(token)).await })
    };

    // A decision in flight: headers and half the body sent.
    let body = serde_json::to_string(&decision("approve", 0)).unwrap();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut raw = TcpStream::connect(fx.server.addr).expect("connect");
    write!(
        raw,
        "POST /v1/cases/LOW-2/decisions HTTP/1.1\r\nHost: test\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{head}",
        fx.alice,
        body.len()
    )
    .expect("write request head");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "the long poll returned early");

    fx.server.terminate();
    let signalled = Instant::now();
    // The long poll is answered at once, normally, with what there is.
    let (status, page) = tokio::time::timeout(Duration::from_secs(2), poll)
        .await
        .expect("the long poll is answered at once on shutdown")
        .expect("poll task");
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"], serde_json::json!([]), "{page}");
    assert_eq!(page["last_seq"], 1, "{page}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        fx.server.child.try_wait().expect("try_wait").is_none(),
        "the server exited with requests in flight"
    );
    assert!(
        TcpStream::connect(fx.server.addr).is_err(),
        "the server still accepts connections after SIGTERM"
    );

    // The in-flight decision completes and is recorded.
    raw.write_all(tail.as_bytes()).expect("write the rest");
    let (response, _) = read_all(&mut raw, Duration::from_secs(10));
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "in-flight decision: {response:?}"
    );

    let status = fx
        .server
        .wait_exit(DRAIN_WINDOW + Duration::from_secs(2))
        .unwrap_or_else(|| {
            panic!(
                "the server did not exit within the drain window; stderr:\n{}",
                fx.server.stderr()
            )
        });
    eprintln!("server exited {:?} after SIGTERM", signalled.elapsed());
    assert_eq!(status.code(), Some(0), "stderr:\n{}", fx.server.stderr());
    // The stderr reader may lag the exit a little.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fx.server.stderr().contains("stopped") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        fx.server.stderr().contains("stopped"),
        "stderr:\n{}",
        fx.server.stderr()
    );

    let records = fx.store.evidence_records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0], before);
    assert_eq!(records[1]["case_id"], "LOW-2");
    assert_eq!(records[1]["reviewer"]["via"], "api");
    fx.assert_cli_verify();
}

/// Starts `serve` under `sh`, sends SIGTERM from the shell the moment the
/// `listening on` line is read (no process spawn in between), and returns
/// the server's exit code as `wait` reports it (143 when the signal killed it).
fn serve_and_terminate_at_once(store: &TestStore, tokens: &Path, fifo: &Path) -> (String, i32) {
    const SCRIPT: &str = r#"
fifo="$1"; shift
rm -f "$fifo"; mkfifo "$fifo" || exit 100
"$@" > "$fifo" 2>/dev/null &
pid=$!
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep 30 & sleeper=$!
  wait "$sleeper"
  kill -KILL "$pid"
) >/dev/null 2>&1 &
watchdog=$!
IFS= read -r line < "$fifo"
kill -TERM "$pid"
wait "$pid"
code=$?
kill "$watchdog" 2>/dev/null
wait "$watchdog"
echo "$line"
echo "$code"
"#;
    let mut server = store.cmd();
    server
        .args(["serve", "--bind", "127.0.0.1:0", "--tokens"])
        .arg(tokens);
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c").arg(SCRIPT).arg("sh").arg(fifo);
    sh.arg(server.get_program()).args(server.get_args());
    for (name, value) in server.get_envs() {
        match value {
            Some(v) => sh.env(name, v),
            None => sh.env_remove(name),
        };
    }
    let out = common::run(&mut sh);
    let mut lines = out.stdout.lines();
    let line = lines.next().unwrap_or_default().to_string();
    let code = lines
        .next()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or_else(|| panic!("the script failed: {out}"));
    (line, code)
}

#[test]
fn sigterm_right_after_the_listening_line_is_still_graceful() {
    let store = tiered_store();
    let tokens = tokens_path(&store);
    add_token(&store, &tokens, "alice");
    let fifo = store.sandbox.path().join("stdout.fifo");
    // The signal handlers must be in place before the address is printed.
    for attempt in 1..=10 {
        let (line, code) = serve_and_terminate_at_once(&store, &tokens, &fifo);
        assert!(line.starts_with("listening on http://"), "{line:?}");
        assert_eq!(code, 0, "attempt {attempt}: SIGTERM killed the server");
    }
}

// ---------------------------------------------------------------------------
// TLS.

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key) paths.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let config = dir.join("openssl.cnf");
    std::fs::write(
        &config,
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = localhost\n\
         [v3]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write openssl.cnf");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-extensions", "v3", "-config"])
        .arg(&config)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_only() {
    let store = tiered_store();
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let (cert, key) = self_signed(store.sandbox.path());
    let server = Server::start(
        &store,
        &tokens,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );

    let pem = std::fs::read(&cert).expect("read cert");
    let trusting = client_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("parse cert")])
        .build()
        .expect("TLS client");
    let resp = trusting
        .get(server.url("/v1/health"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("https request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2, "ALPN picks h2");
    let health: Value = resp.json().await.expect("JSON");
    assert_eq!(health["status"], "ok");

    let api = Api {
        client: trusting.clone(),
        base: server.base.clone(),
        token: alice.clone(),
    };
    let (status, record) = api.decide("LOW-1", &decision("approve", 0), None).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    assert_eq!(record["reviewer"]["name"], "alice");

    // Without the token, TLS or not, the answer is 401.
    let (status, _) = send(trusting.get(server.url("/v1/health"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Plain HTTP to the TLS port fails.
    let plain = format!("http://{}/v1/health", server.addr);
    let result = client().get(&plain).bearer_auth(&alice).send().await;
    assert!(result.is_err(), "plain HTTP got an answer: {result:?}");

    // A client that does not trust the certificate fails too.
    let untrusting = client_builder().tls_certs_only([]).build().expect("client");
    let result = untrusting
        .get(server.url("/v1/health"))
        .bearer_auth(&alice)
        .send()
        .await;
    assert!(result.is_err(), "untrusted certificate accepted");

    // And the server keeps serving.
    let (status, _) = api.get("/v1/health").await;
    assert_eq!(status, StatusCode::OK);
}

// ---------------------------------------------------------------------------
// Access log.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_a_line_per_request_and_no_tokens() {
    let store = tiered_store();
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let log = store.sandbox.path().join("access.log");
    let server = Server::start(&store, &tokens, &["--access-log", log.to_str().unwrap()]);
    let api = Api::new(&server, &alice);
    let wrong = format!("nhi_{}", "ab".repeat(32));

    let mut expected: Vec<(&str, &str, &str, u16)> = Vec::new();
    let (s, _) = api.get("/v1/health").await;
    expected.push(("alice", "GET", "/v1/health", s.as_u16()));
    let (s, _) = api.get("/v1/cases/NOPE-1").await;
    expected.push(("alice", "GET", "/v1/cases/NOPE-1", s.as_u16()));
    let (s, _) = api.decide("LOW-1", &decision("approve", 0), None).await;
    expected.push(("alice", "POST", "/v1/cases/LOW-1/decisions", s.as_u16()));
    let (s, _) = api.decide("HIGH-1", &decision("approve", 0), None).await;
    expected.push(("alice", "POST", "/v1/cases/HIGH-1/decisions", s.as_u16()));
    let (s, _) = send(api.client.get(server.url("/v1/cases")).bearer_auth(&wrong)).await;
    expected.push(("-", "GET", "/v1/cases", s.as_u16()));
    let (s, _) = send(api.client.get(server.url("/v1/policy"))).await;
    expected.push(("-", "GET", "/v1/policy", s.as_u16()));
    let statuses: Vec<u16> = expected.iter().map(|e| e.3).collect();
    assert_eq!(statuses, vec![200, 404, 201, 422, 401, 401]);

    let text = std::fs::read_to_string(&log).expect("read access log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "access log:\n{text}");
    for (line, (who, method, path, status)) in lines.iter().zip(&expected) {
        // time peer reviewer method path status duration
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 7, "{line}");
        assert!(fields[1].starts_with("127.0.0.1:"), "{line}");
        assert_eq!(fields[2], *who, "{line}");
        assert_eq!(fields[3], *method, "{line}");
        assert_eq!(fields[4], *path, "{line}");
        assert_eq!(fields[5], status.to_string(), "{line}");
        assert!(fields[6].ends_with("ms"), "{line}");
    }
    for secret in [&alice, &wrong] {
        assert!(!text.contains(secret.as_str()), "a token is in the log");
        assert!(
            !text.contains(&secret["nhi_".len()..]),
            "a token is in the log"
        );
    }
    assert!(!text.contains(JUSTIFICATION), "a body is in the log");
}

// ---------------------------------------------------------------------------
// Load.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_clients_record_five_hundred_decisions() {
    const CLIENTS: usize = 20;
    const EACH: usize = 25;
    let ids: Vec<String> = (0..CLIENTS * EACH)
        .map(|i| format!("BULK-{i:04}"))
        .collect();
    let cases: Vec<Value> = ids.iter().map(|id| low_case(id)).collect();
    let fx = Fixture::new(TestStore::with_cases(&cases));

    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in ids.chunks(EACH) {
        let api = fx.api();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for id in chunk {
                let (status, record) = api.decide(&id, &decision("approve", 0), None).await;
                answers.push((id, status, record));
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(
            tokio::time::timeout(Duration::from_secs(120), task)
                .await
                .expect("a client took over two minutes")
                .expect("client task"),
        );
    }
    let took = started.elapsed();
    eprintln!(
        "{} decisions by {CLIENTS} concurrent clients in {took:?} ({:.0}/s)",
        answers.len(),
        answers.len() as f64 / took.as_secs_f64()
    );

    assert_eq!(answers.len(), CLIENTS * EACH);
    for (id, status, record) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{id}: {record}");
        assert_eq!(record["case_id"], id.as_str());
    }
    let mut answered_seqs: Vec<u64> = answers
        .iter()
        .map(|(_, _, r)| r["seq"].as_u64().expect("seq"))
        .collect();
    answered_seqs.sort_unstable();
    assert_eq!(answered_seqs, (1..=500).collect::<Vec<u64>>());

    let records = fx.store.evidence_records();
    assert_eq!(records.len(), 500);
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=500).collect::<Vec<u64>>(), "seqs with gaps");
    let decided: BTreeSet<&str> = records
        .iter()
        .map(|r| r["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(decided.len(), 500, "a case was decided twice");

    let (status, check) = fx.api().get("/v1/evidence/verify").await;
    assert_eq!(status, StatusCode::OK);
    assert!(check["first_bad"].is_null(), "{check}");
    assert_eq!(check["records"], 500);
    fx.assert_cli_verify();
}
