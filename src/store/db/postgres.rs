//! PostgreSQL for teams: a connection pool (r2d2), TLS with rustls, one
//! advisory lock serialising writers across servers, and LISTEN/NOTIFY so
//! every process hears every other's writes (docs/store.md).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::sql::{Postgres, Sql, pg_message};
use crate::store::StoreError;

/// The channel every write transaction notifies and every watcher listens on.
pub const CHANNEL: &str = "nhi_triage";

/// The advisory lock key writers hold for their whole transaction: one
/// writer at a time on the chain head, on every server.
const WRITER_LOCK: i64 = 0x6e68_695f_7472_6961; // "nhi_tria"

/// Connections a process keeps at most.
const POOL_SIZE: u32 = 8;

/// How long to wait for a connection (a server that is down fails then).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;

/// An open PostgreSQL store database.
pub struct PgDb {
    describe: String,
    /// Always `Some` until dropped (taken in `Drop`, see there).
    pool: Option<Pool>,
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
}

impl PgDb {
    /// Parses `url` (a libpq URL: `postgres://user:password@host:port/db?sslmode=require`),
    /// builds the pool and opens its first connection. `ca_file`: PEM
    /// certificates trusted besides the system's. Errors: [`StoreError::Setup`]
    /// for a URL that does not parse, [`StoreError::Database`] when the
    /// server cannot be reached or refuses us.
    pub fn connect(url: &str, ca_file: Option<&Path>) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Setup(format!(
                "the database URL does not parse ({e}); expected postgres://USER@HOST:PORT/DATABASE"
            ))
        })?;
        let describe = describe(&config);
        let tls = MakeRustlsConnect::new(tls_config(ca_file)?);
        let manager = PostgresConnectionManager::new(config.clone().into(), tls.clone());
        let pool = on_own_thread(|| {
            r2d2::Pool::builder()
                .max_size(POOL_SIZE)
                .min_idle(Some(1))
                .connection_timeout(CONNECT_TIMEOUT)
                .build(manager)
                .map_err(|e| StoreError::Database {
                    what: format!("connecting to {describe}"),
                    message: e.to_string(),
                })
        })?;
        Ok(PgDb {
            describe,
            pool: Some(pool),
            config,
            tls,
        })
    }

    /// The URL without its password.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    fn client(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>, StoreError>
    {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| StoreError::Task("the database pool is closed".into()))?;
        pool.get().map_err(|e| StoreError::Database {
            what: format!("connecting to {}", self.describe),
            message: e.to_string(),
        })
    }

    /// See [`super::Db::read`].
    pub fn read<T: Send>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        on_own_thread(|| {
            let mut client = self.client()?;
            f(&mut Postgres(&mut *client))
        })
    }

    /// See [`super::Db::write`]: the advisory lock is taken first and held
    /// until the commit; the `NOTIFY` is delivered at the commit.
    pub fn write<T: Send>(
        &self,
        what: &str,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        on_own_thread(|| {
            let failed = |e: postgres::Error| StoreError::Database {
                what: what.to_string(),
                message: pg_message(&e),
            };
            let mut client = self.client()?;
            let mut tx = client.transaction().map_err(failed)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])
                .map_err(failed)?;
            let out = f(&mut Postgres(&mut tx))?;
            tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
                .map_err(failed)?;
            tx.commit().map_err(failed)?;
            Ok(out)
        })
    }

    /// Listens for other processes' writes: each `NOTIFY` (and each lost and
    /// re-made connection, after which anything may have changed) sends a
    /// hint. Runs until `hints` is closed; reconnects with backoff.
    pub async fn listen(self: Arc<Self>, hints: tokio::sync::mpsc::UnboundedSender<()>) {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.listen_once(&hints).await {
                Ok(()) => return, // the feed was dropped
                Err(e) => {
                    tracing::warn!("listening on {}: {e}; reconnecting", self.describe);
                    if hints.send(()).is_err() {
                        return;
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    async fn listen_once(
        &self,
        hints: &tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Result<(), tokio_postgres::Error> {
        use futures_util::StreamExt;
        let (client, mut connection) = self.config.connect(self.tls.clone()).await?;
        let (tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = stream.next().await {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        // Whatever happened while we were not listening.
        let _ = hints.send(());
        let result = loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                        if hints.send(()).is_err() {
                            break Ok(());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break Err(e),
                    None => break Ok(()),
                },
                () = hints.closed() => break Ok(()),
            }
        };
        driver.abort();
        result
    }
}

impl Drop for PgDb {
    /// Each pooled `postgres::Client` owns a small runtime of its own, which
    /// must not be dropped on a thread that runs async code (tokio refuses):
    /// the pool is dropped on a thread of its own.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

/// Runs `f` on a short-lived thread of its own and waits for it. The sync
/// `postgres` client drives its connection with a runtime of its own, which
/// tokio refuses to start from a thread already running async code (the
/// CLI's and the server's); a fresh thread is never such a thread. Costs a
/// thread start (tens of microseconds) per call.
fn on_own_thread<T: Send>(
    f: impl FnOnce() -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(StoreError::Task("a database call panicked".into())))
    })
}

/// `postgres://user@host:port/db`: what a message may show (no password).
fn describe(config: &tokio_postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

/// rustls with the system's trust store (as the remote client uses) plus
/// `ca_file`'s certificates; ring as the crypto provider.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let setup = |e: &dyn std::fmt::Display| StoreError::Setup(format!("TLS for the database: {e}"));
    let extra: Vec<CertificateDer<'static>> = match ca_file {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .map_err(|e| setup(&format!("{}: {e}", path.display())))?,
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| setup(&e))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}
