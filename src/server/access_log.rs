//! One line per request: time, client, reviewer, method, path, status,
//! duration. Never the token or the body.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::routes::{Authenticated, Peer};

pub struct AccessLog {
    file: Mutex<File>,
}

impl AccessLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AccessLog {
            file: Mutex::new(file),
        })
    }

    fn write(&self, line: &str) {
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::warn!("access log: {e}");
        }
    }
}

pub async fn record(State(log): State<Arc<AccessLog>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let peer = req
        .extensions()
        .get::<Peer>()
        .map(|p| p.0.to_string())
        .unwrap_or_else(|| "-".into());
    let resp = next.run(req).await;
    let who = resp
        .extensions()
        .get::<Authenticated>()
        .map(|a| a.0.clone())
        .unwrap_or_else(|| "-".into());
    let line = format!(
        "{} {} {} {} {} {} {:.1}ms\n",
        crate::model::rfc3339(time::OffsetDateTime::now_utc()),
        peer,
        crate::text::sanitize(&who),
        method,
        crate::text::sanitize(&path),
        resp.status().as_u16(),
        start.elapsed().as_secs_f64() * 1e3
    );
    log.write(&line);
    resp
}
