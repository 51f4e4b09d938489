//! `serve` stopping with clients connected: long polls are answered at once
//! (a normal page, so clients are not confused), the process exits within
//! two seconds of SIGTERM, and one log line says how it stopped.

use crate::common;

use std::time::{Duration, Instant};

use common::server::{Server, add_token, client, tokens_path};
use common::{TestStore, low_case};

#[test]
fn sigterm_with_long_polls_waiting_stops_at_once_and_says_so_once() {
    let store = TestStore::with_cases(&[low_case("LOW-1")]);
    let tokens = tokens_path(&store);
    let token = add_token(&store, &tokens, "alice");
    let mut server = Server::start(&store, &tokens, &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Two clients waiting for new records, as two consoles do (25 s waits).
    let http = client();
    let polls: Vec<_> = (0..2)
        .map(|_| {
            let req = http
                .get(server.url("/v1/evidence?after_seq=0&wait=25"))
                .bearer_auth(&token);
            rt.spawn(async move {
                let resp = req.send().await.expect("long poll answered");
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.expect("a JSON page");
                (status, body, Instant::now())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        polls.iter().all(|p| !p.is_finished()),
        "the long polls are waiting"
    );

    let signalled = Instant::now();
    server.terminate();
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("serve exits after SIGTERM");
    let took = signalled.elapsed();
    eprintln!("serve exited {took:?} after SIGTERM with two long polls waiting");
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");

    for poll in polls {
        let (status, body, answered) = rt.block_on(poll).expect("poll task");
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        assert_eq!(body["records"], serde_json::json!([]), "{body}");
        assert_eq!(body["last_seq"], 0, "{body}");
        assert!(answered.duration_since(signalled) < Duration::from_secs(2));
    }

    std::thread::sleep(Duration::from_millis(100));
    let stderr = server.stderr();
    let stopped: Vec<&str> = stderr.lines().filter(|l| l.contains("stopped")).collect();
    assert_eq!(stopped.len(), 1, "one line says it stopped: {stderr}");
    assert!(
        stopped[0].starts_with("stopped: every request finished (2 connections open at shutdown"),
        "{stderr}"
    );
    for contradiction in ["did not finish", "in-flight requests finished", "cancelled"] {
        assert!(!stderr.contains(contradiction), "{contradiction}: {stderr}");
    }
}
