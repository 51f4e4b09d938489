//! `nhi-triage serve`: the HTTP(S) API over a local store, with the same
//! locking and hash chain as every other writer of that store.
//!
//! Plain HTTP or TLS (rustls); bearer tokens from a file of hashes; request
//! size limits, header and request timeouts; an access log; graceful
//! shutdown: long polls are answered at once, in-flight decisions finish
//! (up to [`DRAIN_TIMEOUT`]), and one line says how it stopped ([`Stopped`]).

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
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the server could not start (every one is found before serving).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address cannot be bound (in use, not local, not permitted).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address as given (`--bind`).
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The certificate or key cannot be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The tokens file cannot be read or parsed.
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    /// The store cannot be watched.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The access log cannot be opened for appending.
    #[error("access log {path}: {source}")]
    AccessLog {
        /// The access log file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What `serve` serves, and how.
pub struct ServerConfig {
    /// `HOST:PORT` to listen on (port 0 picks a free one).
    pub bind: String,
    /// The tokens file (docs/api.md).
    pub tokens: PathBuf,
    /// Certificate chain and private key (PEM files), for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Where the access log is appended.
    pub access_log: PathBuf,
}

/// How the server stopped, in one sentence for its log (`Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Connections open when the shutdown began (long polls included: they
    /// are answered at once).
    pub open: usize,
    /// Connections still busy when the drain deadline ([`DRAIN_TIMEOUT`])
    /// passed, cut off; 0 when everything finished.
    pub cut_off: usize,
    /// From the shutdown signal to the last connection closed (or the
    /// deadline).
    pub took: Duration,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.took.as_secs_f64();
        if self.cut_off == 0 {
            write!(
                f,
                "stopped: every request finished ({} connection{} open at shutdown, closed in {secs:.1} s)",
                self.open,
                if self.open == 1 { "" } else { "s" }
            )
        } else {
            write!(
                f,
                "stopped after waiting {secs:.0} s: {} of {} connection{} still busy were cut off \
                 (a decision cut off is recorded or not as its client will find out; the \
                 client's idempotency key makes a retry safe)",
                self.cut_off,
                self.open,
                if self.open == 1 { "" } else { "s" }
            )
        }
    }
}

/// Counts the connections being served; each [`Open`] guard is one.
#[derive(Clone, Default)]
struct Connections(Arc<std::sync::atomic::AtomicUsize>);

/// One connection being served, until dropped.
struct Open(Connections);

impl Connections {
    fn open(&self) -> Open {
        self.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Open(self.clone())
    }

    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Serves until `shutdown` resolves, then stops: no new connections, long
/// polls answered at once, in-flight requests (decisions) given up to
/// [`DRAIN_TIMEOUT`] to finish. `on_listening` is told the bound address
/// (port 0 picks a free one). Returns how it stopped, for one log line.
///
/// Errors: the tokens file, TLS files, access log, store or address cannot
/// be used (all before serving starts).
pub async fn run(
    store: LocalStore,
    config: ServerConfig,
    on_listening: impl FnOnce(SocketAddr, bool),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Stopped, ServerError> {
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

    let (stop, stopping) = tokio::sync::watch::channel(false);
    let state = Arc::new(AppState {
        store,
        tokens,
        changes,
        stopping,
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
        return Ok(Stopped {
            open: 0,
            cut_off: 0,
            took: Duration::ZERO,
        });
    }
    on_listening(local, tls.is_some());

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let builder = Arc::new(builder);
    let connections = Connections::default();
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
        let open = connections.open();
        match &tls {
            None => {
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    serve_with_deadline(conn, first_request, peer).await;
                    drop(open);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _open = open;
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
    let began = std::time::Instant::now();
    let open = connections.count();
    // Long polls answer now; idle keep-alive connections close; requests
    // being served (a decision being written) finish.
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_ok();
    Ok(Stopped {
        open,
        cut_off: if drained {
            0
        } else {
            connections.count().max(1)
        },
        took: began.elapsed(),
    })
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
    use rustls::pki_types::pem::{self, PemObject};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_error = |path: &std::path::Path, e: pem::Error| {
        ServerError::Tls(match e {
            pem::Error::NoItemsFound => format!("{}: no private key found", path.display()),
            other => format!("{}: {other}", path.display()),
        })
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| tls_error(cert, e))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no certificate found",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e))?;
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
