//! `nhi-triage serve`: the HTTP(S) API over a local store, with the same
//! locking and hash chain as every other writer of that store.
//!
//! Plain HTTP or TLS (rustls); bearer tokens from a file of hashes; request
//! size limits, header and request timeouts; an access log; graceful
//! shutdown that lets in-flight decisions finish.

mod access_log;
mod routes;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::store::{LocalStore, Store};

pub use routes::AppState;

/// A request (long polls included) may take at most this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);
/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// In-flight requests get this long to finish on shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("access log {path}: {source}")]
    AccessLog {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct ServerConfig {
    pub bind: String,
    pub tokens: PathBuf,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub access_log: PathBuf,
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
/// `on_listening` is told the bound address (port 0 picks a free one).
pub async fn run(
    store: LocalStore,
    config: ServerConfig,
    on_listening: impl FnOnce(SocketAddr, bool),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    let tokens = tokens::Tokens::open(&config.tokens)?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let log = access_log::AccessLog::open(&config.access_log).map_err(|source| {
        ServerError::AccessLog {
            path: config.access_log.clone(),
            source,
        }
    })?;
    // Long polls wake on any change to the evidence log, ours or another
    // process's on the same store.
    let (bump, changes) = tokio::sync::watch::channel(0u64);
    let mut feed = store.watch()?;
    tokio::spawn(async move {
        let mut n = 0u64;
        while feed.changes.recv().await.is_some() {
            n += 1;
            if bump.send(n).is_err() {
                break;
            }
        }
    });

    let state = Arc::new(AppState {
        store,
        tokens,
        changes,
        by_id: std::sync::Mutex::new(None),
    });
    let app = routes::router(state)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(log),
            access_log::record,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));

    let listener = TcpListener::bind(&config.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.bind.clone(),
        source,
    })?;
    // Start the shutdown future before announcing the address: it may set up
    // signal handlers on its first poll, and a signal sent on seeing the
    // address must stop the server gracefully, not kill it.
    tokio::pin!(shutdown);
    if futures_util::poll!(shutdown.as_mut()).is_ready() {
        return Ok(());
    }
    on_listening(local, tls.is_some());

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let builder = Arc::new(builder);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app.clone().layer(axum::Extension(routes::Peer(peer)));
        let first_request = Arc::new(tokio::sync::Notify::new());
        let seen = first_request.clone();
        let service = TowerToHyperService::new(service.map_request(
            move |req: hyper::Request<hyper::body::Incoming>| {
                seen.notify_one();
                req.map(axum::body::Body::new)
            },
        ));
        let builder = builder.clone();
        match &tls {
            None => {
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(serve_with_deadline(conn, first_request, peer));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    serve_with_deadline(watcher.watch(conn), first_request, peer).await;
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests did not finish within {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// Drives a connection, closing it when no request arrives within
/// `HEADER_TIMEOUT`. hyper's header read timeout only starts once the
/// connection is known to be HTTP/1: without this, a client that sends
/// nothing, or part of the HTTP/2 preface, would hold its socket forever.
async fn serve_with_deadline<E: std::fmt::Display>(
    conn: impl std::future::Future<Output = Result<(), E>>,
    first_request: Arc<tokio::sync::Notify>,
    peer: SocketAddr,
) {
    enum First<E> {
        Ended(Result<(), E>),
        Request,
        TimedOut,
    }
    tokio::pin!(conn);
    let first = tokio::select! {
        biased;
        result = conn.as_mut() => First::Ended(result),
        () = first_request.notified() => First::Request,
        () = tokio::time::sleep(HEADER_TIMEOUT) => First::TimedOut,
    };
    let result = match first {
        First::Ended(result) => result,
        First::Request => conn.await,
        First::TimedOut => {
            return tracing::debug!(%peer, "no request within {HEADER_TIMEOUT:?}: closed");
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| ServerError::Tls(format!("{}: {e}", p.display())))
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no certificate found",
            cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| ServerError::Tls(format!("{}: {e}", key.display())))?
        .ok_or_else(|| ServerError::Tls(format!("{}: no private key found", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
