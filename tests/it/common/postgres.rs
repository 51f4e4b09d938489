//! A throwaway PostgreSQL cluster for the integration tests: the system's own
//! `initdb`, `pg_ctl` and `psql`, a data directory in a fresh temporary
//! directory, a private unix-socket directory and a free TCP port on
//! 127.0.0.1, trust authentication (nothing outside this machine can reach
//! it, and nothing here is secret).
//!
//! One cluster is shared by every test of a process ([`cluster_or_skip`]);
//! each test takes its own database from it ([`PgCluster::new_database`],
//! about 50 ms, where starting a cluster costs about 1.5 s). A test that
//! must stop the server (the database going away) starts a private one
//! ([`private_cluster_or_skip`]).
//!
//! Cleanup does not rely on destructors (statics are never dropped, and a
//! killed test runs none): every cluster has a watchdog, a small `sh`
//! process in its own process group that blocks reading a pipe only this
//! process holds. When the process ends for any reason, SIGKILL included,
//! the pipe closes and the watchdog runs `pg_ctl stop -m immediate` and
//! removes the temporary directory. Dropping a private cluster closes the
//! pipe too and waits for the watchdog. A cluster left behind anyway (the
//! machine lost power) cannot disturb the next run: the directory is unique
//! and the port is chosen free each time.
//!
//! PostgreSQL refuses to run as root: as root the server programs run as
//! the `postgres` OS user (or `nobody` if there is none) through `runuser`
//! (or `su`), and the temporary directory is given to that user.
//!
//! Where PostgreSQL is not installed the tests say "skipped" on stderr and
//! pass, unless `NHI_TRIAGE_REQUIRE_POSTGRES=1` (set by `.ci/run`) makes
//! that a failure. A cluster that is installed but fails to start always
//! fails the test, with the tail of the server's log.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use host::{RunAs, clean, find_bindir, ids_of, run_as_for_root};

mod host;

/// Set to `1` to turn "PostgreSQL is not installed" from a skip into a
/// failure (CI sets it once it has installed PostgreSQL).
pub const REQUIRE_ENV: &str = "NHI_TRIAGE_REQUIRE_POSTGRES";

/// A directory holding initdb, pg_ctl and psql to use instead of searching
/// (PATH, /usr/lib/postgresql/N/bin, `pg_config --bindir`).
pub const BINDIR_ENV: &str = "NHI_TRIAGE_PG_BINDIR";

/// The superuser `initdb` creates (used only for setup and tampering).
pub const SUPERUSER: &str = "postgres";

/// The ordinary role the tests connect as: LOGIN and CREATEDB, not a
/// superuser, owner of every database [`PgCluster::new_database`] makes.
pub const ROLE: &str = "nhi_triage";

/// Why no cluster: not installed (a skip, unless [`REQUIRE_ENV`]) or
/// installed but failed to start (always a failure).
#[derive(Debug, Clone)]
pub enum PgSetupError {
    /// `initdb`/`pg_ctl`/`psql` were not found.
    NotInstalled(String),
    /// Found, but setting up the cluster failed; the text says how, with
    /// the server log's tail when there is one.
    Failed(String),
}

impl fmt::Display for PgSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgSetupError::NotInstalled(why) => write!(f, "PostgreSQL is not installed: {why}"),
            PgSetupError::Failed(why) => write!(f, "PostgreSQL cluster setup failed: {why}"),
        }
    }
}

/// The process's shared cluster, started on first use; `Err` is kept too,
/// so a broken installation costs one attempt, not one per test.
static SHARED: OnceLock<Result<PgCluster, PgSetupError>> = OnceLock::new();

/// The shared cluster of this test process, or `None` (after printing
/// "skipped: …" with `test`'s name) when PostgreSQL is not installed.
///
/// Panics when PostgreSQL is not installed and `NHI_TRIAGE_REQUIRE_POSTGRES=1`,
/// and whenever an installed PostgreSQL fails to start. Use as
/// `let Some(pg) = common::postgres::cluster_or_skip("name") else { return };`.
/// Never stop or restart the shared cluster: other tests are using it.
pub fn cluster_or_skip(test: &str) -> Option<&'static PgCluster> {
    match SHARED.get_or_init(PgCluster::start) {
        Ok(pg) => Some(pg),
        Err(e) => skip_or_fail(test, e),
    }
}

/// A cluster of the caller's own (about 1.5 s to start), for tests that stop
/// or restart the server; `None`/panics exactly as [`cluster_or_skip`].
/// Stopped and removed when dropped.
pub fn private_cluster_or_skip(test: &str) -> Option<PgCluster> {
    match PgCluster::start() {
        Ok(pg) => Some(pg),
        Err(e) => skip_or_fail(test, &e),
    }
}

fn skip_or_fail<T>(test: &str, e: &PgSetupError) -> Option<T> {
    match e {
        PgSetupError::NotInstalled(_) => {
            if std::env::var_os(REQUIRE_ENV).is_some_and(|v| v == "1") {
                panic!("{test}: {e}, and {REQUIRE_ENV}=1 makes that a failure");
            }
            eprintln!(
                "{test}: skipped: PostgreSQL is not installed (initdb/pg_ctl not found; \
                 {REQUIRE_ENV}=1 makes this fail)"
            );
            None
        }
        PgSetupError::Failed(_) => panic!("{test}: {e}"),
    }
}

/// A running throwaway cluster. See the module documentation.
pub struct PgCluster {
    bindir: PathBuf,
    root: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    /// `Some(os user)` when the server programs run as another user (we are root).
    run_as: Option<RunAs>,
    /// Closing the stdin stops the cluster and removes `root`.
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
    next_db: AtomicU32,
}

impl PgCluster {
    /// Starts a new cluster (initdb, configure, `pg_ctl start -w`, create
    /// [`ROLE`] and its database). Blocks for about 1.5 s.
    pub fn start() -> Result<PgCluster, PgSetupError> {
        let bindir = find_bindir().map_err(PgSetupError::NotInstalled)?;
        let fail = PgSetupError::Failed;
        let run_as = if rustix::process::geteuid().is_root() {
            Some(run_as_for_root().map_err(fail)?)
        } else {
            None
        };

        let root = tempfile::Builder::new()
            .prefix("nhi-pg-")
            .tempdir()
            .map_err(|e| fail(format!("temporary directory: {e}")))?
            .keep();
        let mut pg = PgCluster {
            data: root.join("data"),
            socket_dir: root.join("s"),
            bindir,
            root,
            port: 0,
            run_as,
            watchdog: Mutex::new(None),
            next_db: AtomicU32::new(0),
        };
        // From here on a failure (or a kill) leaves the cleanup to the watchdog.
        pg.spawn_watchdog().map_err(fail)?;
        pg.prepare_dirs().map_err(fail)?;
        pg.initdb().map_err(fail)?;
        pg.start_on_free_port().map_err(fail)?;
        pg.admin_sql(&[
            &format!("CREATE ROLE {ROLE} LOGIN CREATEDB"),
            &format!("CREATE DATABASE {ROLE} OWNER {ROLE}"),
        ])
        .map_err(fail)?;
        Ok(pg)
    }

    /// The URL of the role's own database over TCP:
    /// `postgres://nhi_triage@127.0.0.1:PORT/nhi_triage`.
    pub fn url(&self) -> String {
        self.url_for(ROLE, ROLE)
    }

    /// Creates a fresh, empty database owned by [`ROLE`] and returns its URL
    /// (`postgres://nhi_triage@127.0.0.1:PORT/NAME`). NAME is `hint` made
    /// lower-case ASCII (other characters become `_`, at most 40 kept) plus
    /// `_N` from a counter, so two calls never share a database.
    /// Panics (with psql's error) if the database cannot be created.
    pub fn new_database(&self, hint: &str) -> String {
        let mut name: String = hint
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name.insert_str(0, "db_");
        }
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("{name}_{n}");
        if let Err(e) = self.admin_sql(&[&format!("CREATE DATABASE {name} OWNER {ROLE}")]) {
            panic!("creating database {name}: {e}");
        }
        self.url_for(ROLE, &name)
    }

    /// The same database as `url` (one this cluster gave out), connected as
    /// the superuser: for a test that tampers with rows the role may not
    /// change.
    pub fn superuser_url(&self, url: &str) -> String {
        let db = url.rsplit('/').next().unwrap_or(ROLE);
        self.url_for(SUPERUSER, db)
    }

    /// Runs `sql` with `psql` against `url` (stops at the first error) and
    /// returns its output, unaligned, tuples only, `|` between columns,
    /// trimmed. Panics with psql's stderr if it fails.
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = self.psql_output(url, sql);
        assert!(
            out.status.success(),
            "psql {url} -c {sql:?} failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Like [`PgCluster::psql`], but returns psql's whole result, for a
    /// test that expects the statement to fail.
    pub fn psql_output(&self, url: &str, sql: &str) -> Output {
        let mut cmd = clean(Command::new(self.bindir.join("psql")));
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .current_dir(&self.root)
        .stdin(Stdio::null());
        match cmd.output() {
            Ok(out) => out,
            Err(e) => panic!("running psql: {e}"),
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the PostgreSQL programs in use.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// Stops the server (`pg_ctl stop -m fast`, waiting), to test what
    /// happens when the database goes away. Only on a private cluster.
    /// Panics if pg_ctl fails.
    pub fn stop(&self) {
        if let Err(e) = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]) {
            panic!("{e}");
        }
    }

    /// Starts a server stopped by [`PgCluster::stop`] again on the same
    /// port (and data). Panics if it does not come up.
    pub fn restart(&self) {
        if let Err(e) = self.pg_ctl_start() {
            panic!("{e}");
        }
    }

    /// The last 40 lines of the server's log and of pg_ctl's output, for
    /// failure messages.
    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        for name in ["postgres.log", "pg_ctl.out"] {
            let text = fs::read_to_string(self.root.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            s.push_str(&format!(
                "--- {name} (tail) ---\n{}\n",
                lines[from..].join("\n")
            ));
        }
        s
    }

    fn url_for(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// A command running `program` from the bindir as the server's OS user.
    fn server_cmd(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        let mut cmd = match &self.run_as {
            Some(r) => {
                let mut c = Command::new(&r.prefix[0]);
                c.args(&r.prefix[1..]).arg(path);
                c
            }
            None => Command::new(path),
        };
        cmd.current_dir(&self.root).stdin(Stdio::null());
        clean(cmd)
    }

    fn spawn_watchdog(&mut self) -> Result<(), String> {
        // "$1" root, "$2" data dir, then the pg_ctl command (with any
        // runuser prefix). `cat` returns when this process's end of the
        // pipe closes: at exit, however it happens, or on drop.
        const SCRIPT: &str = r#"cat >/dev/null
root=$1; data=$2; shift 2
"$@" stop -D "$data" -m immediate -w -t 30 >/dev/null 2>&1
rm -rf "$root""#;
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", SCRIPT, "nhi-pg-watchdog"])
            .arg(&self.root)
            .arg(&self.data);
        if let Some(r) = &self.run_as {
            cmd.args(&r.prefix);
        }
        cmd.arg(self.bindir.join("pg_ctl"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C to the test run does not
            // kill it before it has cleaned up.
            .process_group(0);
        let mut child = clean(cmd)
            .spawn()
            .map_err(|e| format!("starting the watchdog: {e}"))?;
        let stdin = child.stdin.take().ok_or("watchdog without stdin")?;
        *self.watchdog.lock().map_err(|e| e.to_string())? = Some((child, stdin));
        Ok(())
    }

    fn prepare_dirs(&self) -> Result<(), String> {
        fs::create_dir(&self.socket_dir).map_err(|e| format!("socket dir: {e}"))?;
        let Some(r) = &self.run_as else { return Ok(()) };
        let (uid, gid) = ids_of(&r.user)?;
        for dir in [&self.root, &self.socket_dir] {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {} to {}: {e}", dir.display(), r.user))?;
        }
        // The user must also reach the directory (TMPDIR could be private).
        let reach = self
            .server_cmd("initdb")
            .arg("--version")
            .output()
            .map_err(|e| format!("running initdb as {}: {e}", r.user))?;
        let mut test = Command::new(&r.prefix[0]);
        test.args(&r.prefix[1..])
            .args(["/bin/sh", "-c", "test -w \"$0\""])
            .arg(&self.root)
            .current_dir("/");
        let ok = clean(test).status().is_ok_and(|s| s.success());
        if !reach.status.success() || !ok {
            return Err(format!(
                "the OS user {} cannot run initdb or write {} (set TMPDIR to a \
                 directory it can reach): {}",
                r.user,
                self.root.display(),
                String::from_utf8_lossy(&reach.stderr)
            ));
        }
        Ok(())
    }

    fn initdb(&self) -> Result<(), String> {
        let out = self
            .server_cmd("initdb")
            .arg("-D")
            .arg(&self.data)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "-N",
            ])
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // Settings go in the file, not on a command line (no quoting of paths).
        let sock = self.socket_dir.to_string_lossy().replace('\'', "''");
        self.append_conf(&format!(
            "\n# nhi-triage test cluster\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{sock}'\n\
             max_connections = 200\n\
             # a throwaway cluster: a crash of the machine may lose it, a crash\n\
             # of the server may not (WAL still reaches the kernel at commit)\n\
             fsync = off\n"
        ))
    }

    fn append_conf(&self, text: &str) -> Result<(), String> {
        let path = self.data.join("postgresql.conf");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Picks a free port and starts; another process may take the port
    /// between our probe and the server's bind, so a failed start is
    /// retried on a new port twice.
    fn start_on_free_port(&mut self) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("finding a free port: {e}"))?
                .port();
            // A later `port =` line overrides an earlier one.
            self.append_conf(&format!("port = {port}\n"))?;
            self.port = port;
            match self.pg_ctl_start() {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let log = self.root.join("postgres.log");
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log.to_string_lossy()])
    }

    /// Runs `pg_ctl ARGS -D data`; its own output goes to a file (the
    /// server it starts must not hold a pipe of ours).
    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out_path = self.root.join("pg_ctl.out");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .and_then(|f| Ok((f.try_clone()?, f)))
            .map_err(|e| format!("{}: {e}", out_path.display()))?;
        let status = self
            .server_cmd("pg_ctl")
            .args(args)
            .arg("-D")
            .arg(&self.data)
            .stdout(out.0)
            .stderr(out.1)
            .status()
            .map_err(|e| format!("running pg_ctl: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {} failed ({status})\n{}",
                args.join(" "),
                self.log_tail()
            ))
        }
    }

    /// Runs statements as the superuser over the private socket.
    fn admin_sql(&self, statements: &[&str]) -> Result<(), String> {
        let mut cmd = clean(Command::new(self.bindir.join("psql")));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .current_dir(&self.root)
            .stdin(Stdio::null());
        for s in statements {
            cmd.args(["-c", s]);
        }
        let out = cmd.output().map_err(|e| format!("running psql: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "psql {statements:?} failed ({}): {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.log_tail()
            ))
        }
    }
}

impl Drop for PgCluster {
    /// Closes the watchdog's pipe and waits while it stops the server and
    /// removes the directory.
    fn drop(&mut self) {
        let taken = match self.watchdog.get_mut() {
            Ok(w) => w.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some((mut child, stdin)) = taken {
            drop(stdin);
            let _ = child.wait();
        }
    }
}
