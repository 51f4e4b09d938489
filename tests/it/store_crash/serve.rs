//! The server under load, killed: decisions through the API from 6
//! concurrent clients, `serve` SIGKILLed 0.1–0.6 s into the load and
//! restarted on the same store, the unanswered decisions sent again with
//! their `Idempotency-Key`. Backend-agnostic: the store is a [`TestStore`]
//! (a folder, or a database with `database: Some(URL)`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::StdRng;
use reqwest::StatusCode;
use serde_json::Value;

use super::Target;
use super::ledger::{Ack, Ledger};
use crate::common::TestStore;
use crate::common::server::{Api, Server, add_token, decision, tokens_path};

/// One decision through the API with its own `Idempotency-Key`; `None` when
/// the answer never fully arrived (the server died first).
async fn post(api: &Api, case: &str) -> Option<(StatusCode, Value)> {
    let resp = api
        .client
        .post(format!("{}/v1/cases/{case}/decisions", api.base))
        .bearer_auth(&api.token)
        .header("Idempotency-Key", format!("crash-{case}"))
        .json(&decision("approve", 0))
        .send()
        .await
        .ok()?;
    let status = resp.status();
    let text = resp.text().await.ok()?;
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"));
    Some((status, body))
}

/// The answer to a decision must be a 201 with its record.
fn created(case: &str, (status, body): (StatusCode, Value)) -> Ack {
    assert_eq!(status, StatusCode::CREATED, "decision on {case}: {body}");
    Ack::of(case, &body)
}

/// What a run of [`serve_trials`] saw.
#[derive(Debug, Default)]
pub(super) struct ServeStats {
    /// Decisions in flight at a kill (no complete answer).
    pub(super) killed_in_flight: usize,
    /// Of those, committed before the kill: the retry with the same key
    /// returned that very record.
    pub(super) replayed: usize,
    /// Of those, not committed: recorded (once) on the retry.
    pub(super) recorded_on_retry: usize,
}

/// `rounds` kills of `serve` on `store` (holding at least `rounds × 400`
/// approvable `cases`), the store checked after each (module docs of
/// `store_crash`); prints the figures under `label`. Panics on the first
/// lost, changed or duplicated record, or a replay that is not the
/// committed record.
pub(super) async fn serve_trials(
    store: &TestStore,
    cases: Vec<String>,
    rounds: usize,
    rng: &mut StdRng,
    label: &str,
) -> ServeStats {
    let target = Target::of(store);
    let tokens = tokens_path(store);
    let token = add_token(store, &tokens, "crash-api");
    let queue = Arc::new(Mutex::new(cases.into_iter().collect::<VecDeque<_>>()));
    let mut ledger = Ledger::default();
    let mut unacked: Vec<String> = Vec::new();
    let mut stats = ServeStats::default();
    let started = Instant::now();
    for round in 0..=rounds {
        let mut server = Server::start(store, &tokens, &[]);
        let api = Arc::new(Api::new(&server, &token));
        // The decisions the last kill left unanswered, sent again with the
        // same key: the committed record itself, or a new one; never two.
        for case in std::mem::take(&mut unacked) {
            let answer = post(&api, &case).await.unwrap_or_else(|| {
                panic!(
                    "the restarted server gave no answer for {case} within the \
                     client's 30 s; server stderr:\n{}\n{}",
                    server.stderr(),
                    target.sessions()
                )
            });
            let ack = created(&case, answer);
            match ledger.chain.get(&case) {
                Some(committed) => {
                    assert_eq!(&ack, committed, "replay of {case} is not its first record");
                    stats.replayed += 1;
                }
                None => stats.recorded_on_retry += 1,
            }
            ledger.acknowledge(&case, ack);
        }
        if round == rounds {
            server.kill();
            break;
        }
        let acked = Arc::new(Mutex::new(Vec::new()));
        let lost = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let (api, queue) = (api.clone(), queue.clone());
                let (acked, lost) = (acked.clone(), lost.clone());
                tokio::spawn(async move {
                    loop {
                        let Some(case) = queue.lock().unwrap().pop_front() else {
                            return;
                        };
                        match post(&api, &case).await {
                            Some(answer) => {
                                let ack = created(&case, answer);
                                acked.lock().unwrap().push((case, ack));
                            }
                            None => {
                                lost.lock().unwrap().push(case);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..600))).await;
        server.kill();
        assert!(
            !queue.lock().unwrap().is_empty(),
            "the decisions ran out before the kill: not a kill under load"
        );
        for w in workers {
            w.await.expect("worker");
        }
        for (case, ack) in std::mem::take(&mut *acked.lock().unwrap()) {
            ledger.acknowledge(&case, ack);
        }
        unacked = std::mem::take(&mut *lost.lock().unwrap());
        stats.killed_in_flight += unacked.len();
        ledger.check(&target);
    }
    ledger.check(&target);
    println!(
        "{label}: {rounds} kills in {:?}; {} decisions acknowledged, {} in flight at a kill \
         ({} had committed: replayed by key; {} recorded on retry); {} records in the chain",
        started.elapsed(),
        ledger.acked.len(),
        stats.killed_in_flight,
        stats.replayed,
        stats.recorded_on_retry,
        ledger.lines.len()
    );
    assert!(
        stats.killed_in_flight > 0,
        "no kill caught a decision in flight"
    );
    stats
}
