//! The outbox as a console sees it, against the real server: one waiting
//! decision per case (a second is refused, or explicitly supersedes the
//! first), the summary of queued and refused cases, and changes other
//! processes make to the outbox reaching a running store and the real
//! console.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::pty::Console;
use common::server::{Server, add_token, tokens_path};
use common::{Sandbox, TestStore, high_case, low_case, medium_case, run};
use nhi_triage::model::Action;
use nhi_triage::store::{RemoteOptions, RemoteStore, Store, StoreError};

/// A URL nothing listens on (a port just freed): every request is refused
/// at once.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn quick() -> RemoteOptions {
    RemoteOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        get_backoff: vec![],
        ..RemoteOptions::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A store with three cases, its server, alice's and bob's tokens.
struct Setup {
    store: TestStore,
    server: Server,
    alice: String,
    bob: String,
}

impl Setup {
    fn new() -> Setup {
        let store =
            TestStore::with_cases(&[low_case("LOW-1"), medium_case("MED-1"), high_case("HIGH-1")]);
        let tokens = tokens_path(&store);
        let alice = add_token(&store, &tokens, "alice");
        let bob = add_token(&store, &tokens, "bob");
        let server = Server::start(&store, &tokens, &[]);
        Setup {
            store,
            server,
            alice,
            bob,
        }
    }

    /// (case, action) of every record on the server's store, in order.
    fn recorded(&self) -> Vec<(String, String)> {
        self.store
            .evidence_records()
            .iter()
            .map(|r| {
                (
                    r["case_id"].as_str().unwrap().to_string(),
                    r["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Where the CLI of `sandbox` keeps its outbox for this server.
    fn cli_outbox(&self, sandbox: &Sandbox) -> PathBuf {
        let port = self.server.addr.port();
        sandbox
            .data_home()
            .join(format!("nhi-triage/outbox-127.0.0.1_{port}.jsonl"))
    }

    /// alice's decision on `case_id` at version 0, queued in `outbox` while
    /// no server answers, then refused by the server because bob decided
    /// the case first. Returns the refused entry's key.
    fn refused_entry(
        &self,
        rt: &tokio::runtime::Runtime,
        outbox: &PathBuf,
        case_id: &str,
    ) -> String {
        rt.block_on(async {
            let offline = RemoteStore::open(&dead_url(), &self.alice, outbox, quick()).unwrap();
            let decision = common::decision(case_id, Action::Quarantine, 0);
            match offline.decide(decision, common::reviewer("alice")).await {
                Err(StoreError::Queued { .. }) => {}
                other => panic!("expected Queued, got {other:?}"),
            }
            let bob = RemoteStore::open(
                &self.server.base,
                &self.bob,
                outbox.with_extension("bob"),
                quick(),
            )
            .unwrap();
            bob.decide(
                common::decision(case_id, Action::Escalate, 0),
                common::reviewer("bob"),
            )
            .await
            .expect("bob decides first");
            let online =
                RemoteStore::open(&self.server.base, &self.alice, outbox, quick()).unwrap();
            let report = online.flush_outbox().await.expect("flush");
            assert_eq!(report.rejected.len(), 1, "{report:?}");
            report.rejected[0].idempotency_key.clone()
        })
    }
}

#[test]
fn a_second_queued_decision_is_refused_and_supersede_replaces_the_first() {
    let setup = Setup::new();
    let dir = Sandbox::new();
    let outbox = dir.path().join("outbox.jsonl");
    let rt = runtime();
    rt.block_on(async {
        let alice = common::reviewer("alice");
        let offline = RemoteStore::open(&dead_url(), &setup.alice, &outbox, quick()).unwrap();
        let queue = |case_id: &str, action: Action| common::decision(case_id, action, 0);

        match offline
            .decide(queue("LOW-1", Action::Quarantine), alice.clone())
            .await
        {
            Err(StoreError::Queued { waiting: 1, .. }) => {}
            other => panic!("expected Queued, got {other:?}"),
        }
        // A second decision on LOW-1 while the first waits: refused, typed,
        // naming the waiting one; nothing added.
        match offline
            .decide(queue("LOW-1", Action::Escalate), alice.clone())
            .await
        {
            Err(StoreError::AlreadyQueued(q)) => {
                assert_eq!(
                    (q.case_id.as_str(), q.action),
                    ("LOW-1", Action::Quarantine)
                );
                let message = q.to_string();
                assert!(
                    message.contains("NOT queued") && message.contains("--supersede"),
                    "{message}"
                );
            }
            other => panic!("expected AlreadyQueued, got {other:?}"),
        }
        // Another case queues as before.
        match offline
            .decide(queue("MED-1", Action::Quarantine), alice.clone())
            .await
        {
            Err(StoreError::Queued { waiting: 2, .. }) => {}
            other => panic!("expected Queued, got {other:?}"),
        }
        let summary = offline.outbox_summary();
        assert_eq!(summary.queued.len(), 2, "{summary:?}");
        assert_eq!(
            summary.queued_for("LOW-1").unwrap().action,
            Action::Quarantine
        );

        // Superseding replaces the waiting decision, still offline.
        let mut escalate = queue("LOW-1", Action::Escalate);
        escalate.idempotency_key = Some("supersedes-low-1".into());
        match offline.decide_superseding(escalate, alice.clone()).await {
            Err(StoreError::Queued { waiting: 2, .. }) => {}
            other => panic!("expected Queued, got {other:?}"),
        }
        let summary = offline.outbox_summary();
        let low = summary.queued_for("LOW-1").expect("LOW-1 queued");
        assert_eq!(
            (low.action, low.idempotency_key.as_str()),
            (Action::Escalate, "supersedes-low-1")
        );
        assert_eq!(summary.queued.len(), 2, "{summary:?}");

        // The server back: the replacement is recorded, the replaced one
        // never; nothing is refused.
        let online = RemoteStore::open(&setup.server.base, &setup.alice, &outbox, quick()).unwrap();
        let report = online.flush_outbox().await.unwrap();
        assert_eq!(
            (report.sent.len(), report.rejected.len()),
            (2, 0),
            "{report:?}"
        );

        // Superseding while the server answers sends the replacement at
        // once and returns its record.
        match offline
            .decide(queue("HIGH-1", Action::Quarantine), alice.clone())
            .await
        {
            Err(StoreError::Queued { waiting: 1, .. }) => {}
            other => panic!("expected Queued, got {other:?}"),
        }
        let record = online
            .decide_superseding(queue("HIGH-1", Action::Escalate), alice.clone())
            .await
            .expect("recorded");
        assert_eq!(
            (record.case_id.as_str(), record.action),
            ("HIGH-1", Action::Escalate)
        );
        assert!(online.outbox_summary().queued.is_empty());
        assert_eq!(online.outbox().counts().unwrap().waiting, 0);
    });
    assert_eq!(
        setup.recorded(),
        [
            ("MED-1".to_string(), "quarantine".to_string()),
            ("LOW-1".to_string(), "escalate".to_string()),
            ("HIGH-1".to_string(), "escalate".to_string()),
        ]
    );
}

/// `nhi-triage outbox dismiss` in another process: a running store that
/// watches hears of it and its summary and link counts follow.
#[test]
fn outbox_dismiss_from_another_process_reaches_a_running_store() {
    let setup = Setup::new();
    let client = Sandbox::new();
    let outbox = setup.cli_outbox(&client);
    let rt = runtime();
    let key = setup.refused_entry(&rt, &outbox, "LOW-1");
    rt.block_on(async {
        let store = RemoteStore::open(&setup.server.base, &setup.alice, &outbox, quick()).unwrap();
        store.load(&|_| {}).await.unwrap();
        let mut feed = store.watch().unwrap();
        let summary = store.outbox_summary();
        assert_eq!(summary.refused.len(), 1, "{summary:?}");
        assert_eq!(summary.refused[0].case_id, "LOW-1");
        assert_eq!(store.link().borrow().outbox_rejected, 1);

        let dismissed = tokio::task::spawn_blocking({
            let (token, url, key) = (setup.alice.clone(), setup.server.base.clone(), key.clone());
            let mut cmd = client.cmd();
            cmd.env("NHI_TRIAGE_TOKEN", token)
                .args(["--api", &url, "outbox", "dismiss", &key]);
            move || run(&mut cmd)
        })
        .await
        .unwrap();
        assert_eq!(dismissed.code, 0, "{dismissed}");

        tokio::time::timeout(Duration::from_secs(5), async {
            while !store.outbox_summary().refused.is_empty() {
                feed.changes.recv().await.expect("feed open");
            }
        })
        .await
        .expect("the dismissal is heard within 5 s");
        assert_eq!(store.link().borrow().outbox_rejected, 0);
        assert!(store.outbox_summary().queued.is_empty());
    });
}

/// The real console at 80x24 and 200x50: "1 refused" in its status bar goes
/// away when the refused decision is dismissed from the command line
/// meanwhile.
#[test]
fn the_console_drops_the_refused_count_after_a_cli_dismiss() {
    let setup = Setup::new();
    for ((cols, rows), case_id) in [((80, 24), "MED-1"), ((200, 50), "HIGH-1")] {
        let client = Sandbox::new();
        let outbox = setup.cli_outbox(&client);
        let key = setup.refused_entry(&runtime(), &outbox, case_id);
        let env = [("NHI_TRIAGE_TOKEN", setup.alice.clone().into())];
        let mut console = Console::spawn(&client, &["--api", &setup.server.base], &env, cols, rows);
        // Said once as a message (which wins over the status line); a key
        // press clears it and the count stays in the status bar.
        console.wait_for("refused by the server, NOT recorded", common::pty::WAIT);
        console.send(b"j");
        console.wait_for("1 refused", common::pty::WAIT);
        console.wait_for(" connected", common::pty::WAIT);

        let dismissed = run(client.cmd().env("NHI_TRIAGE_TOKEN", &setup.alice).args([
            "--api",
            &setup.server.base,
            "outbox",
            "dismiss",
            &key,
        ]));
        assert_eq!(dismissed.code, 0, "{dismissed}");
        console.wait_gone("1 refused", common::pty::WAIT);
        assert!(
            console.text().contains(" connected"),
            "{cols}x{rows}: {}",
            console.text()
        );
        console.quit(common::pty::WAIT);
    }
}

/// The same through the command line: exit 3 for a second queued decision
/// on a case, `--supersede` replaces it (exit 6: still queued), and a local
/// store has no outbox to supersede in (exit 2).
#[test]
fn decide_supersede_on_the_command_line() {
    let client = Sandbox::new();
    let url = dead_url();
    let decide = |action: &str, extra: &[&str]| {
        run(client
            .cmd()
            .env("NHI_TRIAGE_TOKEN", "nhi_test")
            .args(["--api", &url])
            .args(common::decide_args("MED-1", action, common::JUSTIFICATION))
            .args(["--expected-version", "0", "--case-sha256", &"a".repeat(64)])
            .args(extra))
    };
    let first = decide("quarantine", &[]);
    assert_eq!(first.code, 6, "{first}");
    let second = decide("escalate", &[]);
    assert_eq!(second.code, 3, "{second}");
    assert!(
        second.stderr.contains("quarantine on MED-1 queued at")
            && second.stderr.contains("NOT queued")
            && second.stderr.contains("--supersede"),
        "{second}"
    );
    let replaced = decide("escalate", &["--supersede"]);
    assert_eq!(replaced.code, 6, "{replaced}");
    let listed = run(client
        .cmd()
        .env("NHI_TRIAGE_TOKEN", "nhi_test")
        .args(["--api", &url, "outbox", "list", "--json"]));
    assert_eq!(listed.code, 0, "{listed}");
    let entries = &listed.json()["outboxes"][0]["entries"];
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "{entries}");
    assert_eq!(entries[0]["decision"]["action"], "escalate", "{entries}");

    let store = TestStore::with_cases(&[medium_case("MED-1")]);
    let local = store.decide("alice", "MED-1", "quarantine", &["--supersede"]);
    assert_eq!(local.code, 2, "{local}");
}
