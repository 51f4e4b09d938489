//! What this machine has for the test cluster: where the PostgreSQL
//! programs are, and (as root, which PostgreSQL refuses to run as) which OS
//! user runs them and how.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::BINDIR_ENV;

/// How to run the server programs as another OS user (we are root).
#[derive(Debug, Clone)]
pub(super) struct RunAs {
    pub(super) user: String,
    /// The command prefix that runs a program as `user`.
    pub(super) prefix: Vec<String>,
}

/// No inherited `PG*` variable (PGHOST, PGSSLMODE, PGSERVICE…) may point a
/// program at another server or change how it connects.
pub(super) fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The directory holding initdb, pg_ctl and psql: `NHI_TRIAGE_PG_BINDIR`
/// when set (to choose among installed versions), else `initdb` on PATH (its
/// real location), else the newest `/usr/lib/postgresql/N/bin` (Debian's
/// packages put nothing on PATH), else `pg_config --bindir`. `Err` says
/// where it looked.
pub(super) fn find_bindir() -> Result<PathBuf, String> {
    let complete = |d: &Path| {
        ["initdb", "pg_ctl", "psql"]
            .iter()
            .all(|p| d.join(p).is_file())
    };
    if let Some(dir) = std::env::var_os(BINDIR_ENV) {
        let dir = PathBuf::from(dir);
        return if complete(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "{BINDIR_ENV}={} has no initdb, pg_ctl and psql",
                dir.display()
            ))
        };
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("initdb"))
            .find(|p| p.is_file())
            .and_then(|p| fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
    });
    let debian = fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let v: u32 = e.file_name().to_str()?.parse().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .filter(|(_, d)| complete(d))
                .max_by_key(|(v, _)| *v)
                .map(|(_, d)| d)
        });
    let pg_config = || {
        Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    };
    on_path
        .filter(|d| complete(d))
        .or(debian)
        .or_else(|| pg_config().filter(|d| complete(d)))
        .ok_or_else(|| {
            "no initdb, pg_ctl and psql on PATH, in /usr/lib/postgresql/*/bin \
             or in `pg_config --bindir`"
                .into()
        })
}

/// As root: the `postgres` user (else `nobody`) and a way to run as it.
pub(super) fn run_as_for_root() -> Result<RunAs, String> {
    let user = ["postgres", "nobody"]
        .into_iter()
        .find(|u| ids_of(u).is_ok())
        .ok_or("running as root, and there is neither a `postgres` nor a `nobody` user")?;
    let find = |name: &str| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    };
    let prefix = if let Some(runuser) = find("runuser") {
        vec![
            runuser.to_string_lossy().into_owned(),
            "-u".into(),
            user.into(),
            "--".into(),
        ]
    } else if let Some(su) = find("su") {
        // su -s /bin/sh -c 'exec "$@"' -- USER sh PROGRAM ARGS… (after `--`
        // the program's own options are not taken for su's)
        let exec = "exec \"$@\"";
        [
            &*su.to_string_lossy(),
            "-s",
            "/bin/sh",
            "-c",
            exec,
            "--",
            user,
            "sh",
        ]
        .map(String::from)
        .to_vec()
    } else {
        return Err(
            "running as root (PostgreSQL refuses to), and neither runuser nor su \
                    is installed to run it as another user"
                .into(),
        );
    };
    Ok(RunAs {
        user: user.into(),
        prefix,
    })
}

/// The uid and gid of an OS user, from `id` (which asks NSS, not just /etc/passwd).
pub(super) fn ids_of(user: &str) -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .map_err(|e| format!("running id: {e}"))?;
        if !out.status.success() {
            return Err(format!("no OS user {user}"));
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("id {flag} {user}: {e}"))
    };
    Ok((id("-u")?, id("-g")?))
}
