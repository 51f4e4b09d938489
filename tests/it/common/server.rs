//! `nhi-triage serve` for the end-to-end tests: the real binary on
//! `127.0.0.1:0` over a temporary store, its tokens, and a reqwest client
//! for it. Every wait is bounded; every server is killed when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::{JUSTIFICATION, TestStore};

/// How long the server may take to print its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The server process.

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// `http://ADDR` or `https://ADDR`.
    pub base: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// `nhi-triage --store DIR serve --bind 127.0.0.1:0 --tokens FILE EXTRA…`,
    /// once it has printed where it listens.
    pub fn start(store: &TestStore, tokens: &Path, extra: &[&str]) -> Server {
        Self::start_with(store.cmd(), tokens, extra)
    }

    /// As [`Server::start`], with `--store` given relative to the working
    /// directory (the store's parent), as a reviewer often types it.
    pub fn start_relative(store: &TestStore, tokens: &Path) -> Server {
        let mut cmd = store.sandbox.cmd();
        let parent = store.dir.parent().expect("store has a parent");
        let name = store.dir.file_name().expect("store has a name");
        cmd.current_dir(parent).arg("--store").arg(name);
        Self::start_with(cmd, tokens, &[])
    }

    fn start_with(mut cmd: std::process::Command, tokens: &Path, extra: &[&str]) -> Server {
        let mut child = cmd
            .args(["serve", "--bind", "127.0.0.1:0", "--tokens"])
            .arg(tokens)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nhi-triage serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut pipe = child.stderr.take().expect("stderr piped");
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock().unwrap().push_str(&text);
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        {
            let pipe = child.stdout.take().expect("stdout piped");
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let line = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("listening on ") => break line,
                Ok(_) => continue,
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    panic!(
                        "serve printed no `listening on` line ({status:?}); stderr:\n{}",
                        stderr.lock().unwrap()
                    );
                }
            }
        };
        let base = line["listening on ".len()..].trim().to_string();
        let addr = base
            .split_once("://")
            .and_then(|(_, a)| a.parse().ok())
            .unwrap_or_else(|| panic!("bad listening line: {line:?}"));
        Server {
            child,
            addr,
            base,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the server has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `kill -TERM PID`.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// The exit status, if the server exits within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server and waits for it (for restarts on the same store).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Tokens, clients, requests.

/// `nhi-triage token add NAME --tokens FILE`: the plain token.
pub fn add_token(store: &TestStore, tokens: &Path, name: &str) -> String {
    let out = super::run(
        store
            .sandbox
            .cmd()
            .args(["token", "add", name, "--tokens"])
            .arg(tokens),
    );
    assert_eq!(out.code, 0, "token add failed: {out}");
    let token = out.stdout.trim().to_string();
    assert!(token.starts_with("nhi_"), "unexpected token: {out}");
    token
}

/// The tokens file of a test: `tokens.toml` in the store's sandbox.
pub fn tokens_path(store: &TestStore) -> PathBuf {
    store.sandbox.path().join("tokens.toml")
}

pub fn client() -> reqwest::Client {
    client_builder().build().expect("build client")
}

/// A client builder with bounded connect and request times.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
}

/// Sends a request: the status and the body as JSON (`Null` when empty).
pub async fn send(req: RequestBuilder) -> (StatusCode, Value) {
    let resp = req.send().await.expect("request failed");
    let status = resp.status();
    let text = resp.text().await.expect("read body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"))
    };
    (status, body)
}

/// A client, a server and one reviewer's token.
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(server: &Server, token: &str) -> Api {
        Api {
            client: client(),
            base: server.base.clone(),
            token: token.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token),
        )
        .await
    }

    /// `POST /v1/cases/ID/decisions` with `body`, and an `Idempotency-Key`
    /// when `key` is given.
    pub async fn decide(&self, id: &str, body: &Value, key: Option<&str>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}/v1/cases/{id}/decisions", self.base))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        send(req).await
    }

    /// The case's status `version`.
    pub async fn version(&self, id: &str) -> u64 {
        let (status, body) = self.get(&format!("/v1/cases/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["status"]["version"].as_u64().expect("version")
    }
}

/// The JSON body of a decision: `action` at `expected_version`, justified
/// with [`JUSTIFICATION`].
pub fn decision(action: &str, expected_version: u64) -> Value {
    json!({
        "action": action,
        "justification": JUSTIFICATION,
        "expected_version": expected_version,
    })
}
