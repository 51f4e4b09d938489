//! A remote queue larger than one page: the console opens with the first
//! page, the rest streams in with the progress in the status bar (a failed
//! page retried and reported), the CLI still loads every page first, and
//! the console names the reviewer the server records for the token.
//!
//! A fake server (canned JSON, a gate before the second page) makes "before
//! the last page" deterministic; the real server checks the reviewer's name.

use crate::common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::pty::Console;
use common::server::{Server, add_token, tokens_path};
use common::{JUSTIFICATION, Sandbox, TestStore, low_case, run};
use nhi_triage::api::{CaseEntry, CasePage, EvidencePage, Health, Summary};
use nhi_triage::evidence::VerifyReport;
use nhi_triage::model::{Action, Case, CaseStatus};
use nhi_triage::policy::{Policy, Status, Tier};
use nhi_triage::store::EvidenceHealth;

const WAIT: Duration = Duration::from_secs(15);
/// The name the fake server has for the token (the local user is `tester`).
const TOKEN_NAME: &str = "alice-from-token";

// ---------------------------------------------------------------------------
// A fake server with cases in pages and a gate before every page but the first.

#[derive(Default)]
struct Gate {
    /// Page requests after the first wait while this is set.
    hold: bool,
    /// Page requests after the first answer 500 while this is above zero;
    /// the last failure sets `hold` again, so a test sees the failure
    /// reported before the page can arrive.
    fail: usize,
    /// The request lines of every page request.
    pages: Vec<String>,
}

struct FakeServer {
    url: String,
    gate: Arc<(Mutex<Gate>, Condvar)>,
}

impl FakeServer {
    fn start(ids: &[String], hold: bool, fail: usize) -> FakeServer {
        let cases: Vec<Case> = ids
            .iter()
            .map(|id| serde_json::from_value(low_case(id)).expect("a case"))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let gate = Arc::new((
            Mutex::new(Gate {
                hold,
                fail,
                pages: Vec::new(),
            }),
            Condvar::new(),
        ));
        let cases = Arc::new(cases);
        let g = gate.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (g, cases) = (g.clone(), cases.clone());
                std::thread::spawn(move || serve(stream, &cases, &g));
            }
        });
        FakeServer { url, gate }
    }

    /// Lets the waiting page request (and later ones) through.
    fn release(&self) {
        let (lock, cv) = &*self.gate;
        lock.lock().unwrap().hold = false;
        cv.notify_all();
    }

    fn page_requests(&self) -> Vec<String> {
        self.gate.0.lock().unwrap().pages.clone()
    }

    /// Waits until `n` page requests have arrived.
    fn wait_for_pages(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.page_requests().len() < n {
            assert!(Instant::now() < deadline, "{:?}", self.page_requests());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.release();
    }
}

fn serve(mut stream: TcpStream, cases: &[Case], gate: &(Mutex<Gate>, Condvar)) {
    loop {
        let Some((head, _body)) = common::read_request(&mut stream) else {
            return;
        };
        let request_line = head.lines().next().unwrap_or("").to_string();
        let target = request_line.split(' ').nth(1).unwrap_or("/").to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let param = |name: &str| {
            query.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == name).then(|| v.to_string())
            })
        };
        let (status, body) = match path {
            "/v1/policy" => ("200 OK", serde_json::to_string(&Policy::default()).unwrap()),
            "/v1/health" => (
                "200 OK",
                serde_json::to_string(&Health {
                    status: "ok".into(),
                    version: "0.0.0-fake".into(),
                    store: "local".into(),
                    cases: cases.len(),
                    evidence: EvidenceHealth::default(),
                    reviewer: Some(TOKEN_NAME.into()),
                })
                .unwrap(),
            ),
            "/v1/evidence/verify" => (
                "200 OK",
                serde_json::to_string(&VerifyReport::empty()).unwrap(),
            ),
            "/v1/evidence" => {
                // A short long poll: nothing ever happens here.
                if param("wait").is_some_and(|w| w != "0") {
                    std::thread::sleep(Duration::from_millis(500));
                }
                (
                    "200 OK",
                    serde_json::to_string(&EvidencePage {
                        records: Vec::new(),
                        last_seq: 0,
                        cases_generation: 0,
                    })
                    .unwrap(),
                )
            }
            "/v1/cases" => {
                let cursor = param("cursor");
                let limit: usize = param("limit").and_then(|l| l.parse().ok()).unwrap_or(500);
                let mut failed = false;
                {
                    let (lock, cv) = gate;
                    let mut g = lock.lock().unwrap();
                    g.pages.push(request_line.clone());
                    if cursor.is_some() {
                        while g.hold {
                            g = cv.wait(g).unwrap();
                        }
                        if g.fail > 0 {
                            g.fail -= 1;
                            g.hold = g.fail == 0;
                            failed = true;
                        }
                    }
                }
                if failed {
                    (
                        "500 Internal Server Error",
                        r#"{"error":"internal","message":"disk on fire"}"#.to_string(),
                    )
                } else {
                    let start = cursor.map_or(0, |c| cases.partition_point(|k| k.id <= c));
                    let end = (start + limit).min(cases.len());
                    let page = CasePage {
                        cases: cases[start..end]
                            .iter()
                            .map(|case| CaseEntry {
                                case: case.clone(),
                                status: CaseStatus::pending(),
                                summary: Summary {
                                    tier: Tier::Low,
                                    recommendation: Action::Approve,
                                    q1: Status::Answered,
                                    q2: Status::Answered,
                                    q3: Status::Answered,
                                },
                                case_sha256: Some(case.content_sha256()),
                            })
                            .collect(),
                        next_cursor: (end < cases.len()).then(|| cases[end - 1].id.clone()),
                        total: cases.len(),
                    };
                    ("200 OK", serde_json::to_string(&page).unwrap())
                }
            }
            _ => (
                "404 Not Found",
                r#"{"error":"not_found","message":"no such route"}"#.to_string(),
            ),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("CASE-{i:02}")).collect()
}

// ---------------------------------------------------------------------------
// The console in a pseudo-terminal.

/// The console on a server at `url`, loading `page` cases a request.
fn start_console(sandbox: &Sandbox, url: &str, token: &str, page: usize) -> Console {
    Console::spawn(
        sandbox,
        &["--api", url],
        &[
            ("NHI_TRIAGE_TOKEN", token.into()),
            ("NHI_TRIAGE_API_PAGE", page.to_string().into()),
        ],
        120,
        40,
    )
}

// ---------------------------------------------------------------------------

#[test]
fn the_console_opens_with_the_first_page_and_streams_the_rest() {
    // 12 cases in pages of 5: the console may open after CASE-05; the next
    // page is held, then fails three times (one failed fetch after the
    // client's own retries), then is held again until released.
    let fake = FakeServer::start(&ids(12), true, 3);
    let sandbox = Sandbox::new();
    let t0 = Instant::now();
    let mut console = start_console(&sandbox, &fake.url, "nhi_test", 5);

    console.wait_for("loading cases 5/12", WAIT);
    console.wait_for("Pending (5)", WAIT);
    let first = console.text();
    assert!(first.contains("CASE-01"), "{first}");
    assert!(
        !first.contains("CASE-06") && !first.contains("CASE-12"),
        "only the first page before the second arrives:\n{first}"
    );
    // The reviewer is the server's name for the token, not $USER.
    assert!(first.contains(&format!("reviewer {TOKEN_NAME}")), "{first}");
    assert!(!first.contains("reviewer tester"), "{first}");
    eprintln!("first page on screen at {:?}", t0.elapsed());

    // The queue works meanwhile.
    console.send(b"/CASE-03\r");
    console.wait_for("Pending (1)", WAIT);
    console.send(b"\x1b");
    console.wait_for("Pending (5)", WAIT);

    // The second page fails: retried, and the status bar says so.
    fake.release();
    console.wait_for("a page failed, retrying (try 1)", WAIT);
    let failing = console.text();
    assert!(failing.contains("loading cases 5/12"), "{failing}");
    assert!(failing.contains("Pending (5)"), "{failing}");
    eprintln!("failure reported at {:?}", t0.elapsed());

    // It arrives: every case, the progress gone.
    fake.release();
    console.wait_for("Pending (12)", WAIT);
    console.wait_for("CASE-12", WAIT);
    console.wait_for("all cases loaded", WAIT);
    let all = console.text();
    assert!(!all.contains("loading cases"), "{all}");
    assert!(!all.contains("retrying"), "{all}");
    eprintln!("all cases at {:?}", t0.elapsed());
    console.quit(WAIT);

    let pages = fake.page_requests();
    let after = |c: &str| {
        pages
            .iter()
            .filter(|p| p.contains(&format!("cursor={c}")))
            .count()
    };
    assert_eq!(after("CASE-05"), 4, "3 failures, then the page: {pages:?}");
    assert_eq!(after("CASE-10"), 1, "{pages:?}");
    assert!(
        pages.iter().all(|p| p.contains("limit=5")),
        "NHI_TRIAGE_API_PAGE: {pages:?}"
    );
}

#[test]
fn the_remote_store_streams_pages_and_the_cli_loads_them_all() {
    use nhi_triage::store::{Loading, RemoteOptions, RemoteStore, Store};

    let fake = FakeServer::start(&ids(12), true, 0);
    let sandbox = Sandbox::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = RemoteOptions {
            case_page: 5,
            ..RemoteOptions::default()
        };
        let outbox = sandbox.path().join("outbox.jsonl");
        let store = RemoteStore::open(&fake.url, "nhi_test", &outbox, options).unwrap();
        assert_eq!(store.reviewer_name(), None, "nothing asked yet");
        let steps = Mutex::new(Vec::new());
        store
            .load_streaming(&|p| steps.lock().unwrap().push(p.to_string()))
            .await
            .unwrap();
        let steps = steps.into_inner().unwrap();
        assert!(
            steps.iter().any(|s| s == "fetching cases: 5/12"),
            "{steps:?}"
        );
        assert_eq!(store.reviewer_name().as_deref(), Some(TOKEN_NAME));

        let snapshot = || async {
            tokio::time::timeout(WAIT, store.snapshot())
                .await
                .expect("a snapshot in time")
                .unwrap()
        };
        let first = snapshot().await;
        let first_ids: Vec<&str> = first.cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(first_ids, ids(5), "the first page only");
        assert!(
            first.evidence.orphan_cases.is_empty(),
            "no orphans while loading"
        );
        let mut link = store.link();
        assert_eq!(
            link.borrow_and_update().loading,
            Some(Loading {
                loaded: 5,
                total: 12,
                failed: None
            })
        );
        // The second page is asked for (and held). A snapshot while pages
        // are missing does not fetch every page again.
        fake.wait_for_pages(2);
        let again = snapshot().await;
        assert!(Arc::ptr_eq(&first.cases, &again.cases));
        assert_eq!(fake.page_requests().len(), 2, "{:?}", fake.page_requests());

        fake.release();
        tokio::time::timeout(WAIT, async {
            while link.borrow_and_update().loading.is_some() {
                link.changed().await.unwrap();
            }
        })
        .await
        .expect("every page within the timeout");
        let all = snapshot().await;
        let all_ids: Vec<&str> = all.cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(all_ids, ids(12));
        assert!(!Arc::ptr_eq(&first.cases, &all.cases), "a new list");
        assert_eq!(all.status("CASE-12").version, 0);
        // Whole now: the next snapshot keeps it.
        let kept = snapshot().await;
        assert!(Arc::ptr_eq(&all.cases, &kept.cases));
        assert_eq!(fake.page_requests().len(), 3, "{:?}", fake.page_requests());
    });

    // The CLI needs the whole set: `list` answers only with every page in.
    let out = run(sandbox
        .cmd()
        .env("NHI_TRIAGE_TOKEN", "nhi_test")
        .env("NHI_TRIAGE_API_PAGE", "5")
        .args(["--api", &fake.url, "list", "--json", "--state", "all"]));
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.json()["cases"].as_array().unwrap().len(), 12, "{out}");
    let bad = run(sandbox
        .cmd()
        .env("NHI_TRIAGE_TOKEN", "nhi_test")
        .env("NHI_TRIAGE_API_PAGE", "5000")
        .args(["--api", &fake.url, "list"]));
    assert_eq!(bad.code, 2, "{bad}");
    assert!(bad.stderr.contains("NHI_TRIAGE_API_PAGE=5000"), "{bad}");
}

// ---------------------------------------------------------------------------
// The real server: the reviewer's own name, in pages of two.

#[test]
fn the_console_names_the_reviewer_the_server_records() {
    let cases: Vec<_> = ids(7).iter().map(|id| low_case(id)).collect();
    let store = TestStore::with_cases(&cases);
    let tokens = tokens_path(&store);
    let alice = add_token(&store, &tokens, "alice");
    let bob = add_token(&store, &tokens, "bob");
    let server = Server::start(&store, &tokens, &[]);
    let decide = |token: &str, id: &str| {
        let sandbox = Sandbox::new();
        run(sandbox.cmd().env("NHI_TRIAGE_TOKEN", token).args([
            "--api",
            &server.base,
            "decide",
            id,
            "--action",
            "quarantine",
            "--justification",
            JUSTIFICATION,
            "--expected-version",
            "0",
        ]))
    };

    let sandbox = Sandbox::new();
    let mut console = start_console(&sandbox, &server.base, &alice, 2);
    console.wait_for("Pending (7)", WAIT);
    console.wait_for(" connected ", WAIT);
    // A key clears any message (`all cases loaded` may come late): then
    // the status bar names the reviewer.
    let deadline = Instant::now() + WAIT;
    while !console.text().contains("reviewer alice ") {
        assert!(Instant::now() < deadline, "{}", console.text());
        console.send(b"j");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!console.text().contains("reviewer tester"));

    // The dialog's preview names her too.
    console.send(b"i");
    console.wait_for("Evidence record preview", WAIT);
    assert!(console.text().contains(" by alice · case version"));
    console.send(b"\x1b");
    console.wait_for("cancelled: nothing recorded", WAIT);

    // Her own decision from another terminal (the same token, `tester` as
    // the local user) is not announced as someone else's.
    let out = decide(&alice, "CASE-03");
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("alice@127.0.0.1 via api quarantine"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("reviewer alice: the name the server records for this token"),
        "{out}"
    );
    console.wait_for("evidence ✓ 1 record ", WAIT);
    assert!(
        !console.text().contains("alice quarantine CASE-03"),
        "{}",
        console.text()
    );
    // Someone else's is.
    assert_eq!(decide(&bob, "CASE-04").code, 0);
    console.wait_for("bob quarantine CASE-04", WAIT);
    console.quit(WAIT);
}
