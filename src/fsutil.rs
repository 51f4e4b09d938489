//! Whole-file writes and lock files: one way for every file nhi-triage
//! writes in one go (the tokens file, the outbox, the policy of a new store,
//! the demo store, the seen-cases cache, evidence side files, exports).
//!
//! A whole file is never written in place. [`write_atomic`] writes a fresh
//! temporary file beside the target — created exclusively (`O_EXCL`) under a
//! random name, so a file or symlink already lying there is never reused or
//! followed — then fsyncs it, renames it over the target and fsyncs the
//! directory. A reader sees the old content or the new, never half; a crash
//! leaves one or the other (and at worst a stray `.NAME.*.tmp`); a symlink at
//! the target is replaced, not followed. The temporary files come from the
//! `tempfile` crate (`NamedTempFile`, persisted with `rename(2)`).
//!
//! Read-modify-write of a shared file takes [`lock_beside`]: an exclusive
//! `flock` on `NAME.lock` next to it, the same advisory lock the evidence log
//! takes on itself (a file that is replaced by rename cannot be locked
//! itself: the lock would stay with the old inode).

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Who may read a file written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Mode 0600: the owner only (tokens, outbox, seen cases).
    Private,
    /// Mode 0644 less the process umask, as `std::fs::write` would create
    /// it (policy files, the demo store, exports).
    Shared,
}

impl Access {
    /// The permission bits asked for at creation (the umask still applies).
    pub fn mode(self) -> u32 {
        match self {
            Access::Private => 0o600,
            Access::Shared => 0o644,
        }
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// An error that says which step failed, keeping the kind of the original.
fn step(what: String, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Writes `bytes` to a new temporary file beside `path` and fsyncs it.
fn temp_with(path: &Path, bytes: &[u8], access: Access) -> io::Result<tempfile::NamedTempFile> {
    let dir = dir_of(path);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let prefix = format!(".{name}.");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(Permissions::from_mode(access.mode()))
        .tempfile_in(dir)
        .map_err(|e| step(format!("creating a temporary file in {}", dir.display()), e))?;
    let written = tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all());
    written.map_err(|e| step(format!("writing {}", tmp.path().display()), e))?;
    Ok(tmp)
}

/// Replaces `path` with `bytes` atomically: fresh exclusive temporary file
/// (mode per `access`), fsync, rename over `path`, fsync of the directory.
///
/// Errors: the directory cannot be written, the disk is full, `path` is a
/// directory. On error `path` is unchanged and the temporary file removed.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    let tmp = temp_with(path, bytes, access)?;
    tmp.persist(path)
        .map_err(|e| step(format!("renaming into {}", path.display()), e.error))?;
    sync_dir(path)
}

/// As [`write_atomic`], but only when nothing is at `path` yet: an existing
/// file (or symlink) there is an `AlreadyExists` error and left as it is.
pub fn write_new(path: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    let tmp = temp_with(path, bytes, access)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => sync_dir(path),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Err(e.error),
        Err(e) => Err(step(format!("renaming into {}", path.display()), e.error)),
    }
}

/// A file a person named for output (`--output FILE`): replaced atomically
/// like [`write_atomic`] (mode [`Access::Shared`]) when it is a regular file
/// or does not exist yet; written in place when it is something else that
/// takes writes (`/dev/stdout`, a FIFO), which cannot be renamed over.
pub fn write_output(path: &Path, bytes: &[u8]) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => {
            let mut f = OpenOptions::new().write(true).open(path)?;
            f.write_all(bytes)?;
            f.flush()
        }
        _ => write_atomic(path, bytes, Access::Shared),
    }
}

/// Fsyncs the directory holding `path`, so a file created or renamed there
/// survives a crash.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = dir_of(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| step(format!("syncing the directory {}", dir.display()), e))
}

/// An exclusive advisory lock, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    /// The open lock file: closing it (on drop) releases the `flock`.
    _file: File,
    /// Where the lock file is ([`lock_path`] of the protected file).
    path: PathBuf,
}

impl FileLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `NAME.lock` beside `path` (for `tokens.toml`: `tokens.toml.lock`).
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Takes the exclusive lock on [`lock_path`]`(path)`, creating the lock file
/// (mode 0600) and its directory when needed; blocks until other holders, in
/// this process or another, drop theirs. The lock file is left in place
/// afterwards (removing it would race with the next locker).
pub fn lock_beside(path: &Path) -> io::Result<FileLock> {
    let lock = lock_path(path);
    std::fs::create_dir_all(dir_of(&lock))
        .map_err(|e| step(format!("creating {}", dir_of(&lock).display()), e))?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&lock)
        .map_err(|e| step(format!("opening {}", lock.display()), e))?;
    file.lock()
        .map_err(|e| step(format!("locking {}", lock.display()), e))?;
    Ok(FileLock {
        _file: file,
        path: lock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_leftover_temp_file_or_symlink_is_neither_reused_nor_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("tokens.toml");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_atomic(&target, b"new", Access::Private).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(mode(&target), 0o600);
        // Nothing left behind but the target, the victim.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn write_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("policy.toml");
        write_new(&target, b"one", Access::Shared).unwrap();
        let err = write_new(&target, b"two", Access::Shared).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "one");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_lock_excludes_a_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/outbox.jsonl");
        let held = lock_beside(&target).unwrap();
        assert_eq!(held.path(), dir.path().join("sub/outbox.jsonl.lock"));
        let other = File::open(held.path()).unwrap();
        assert!(other.try_lock().is_err(), "held elsewhere");
        drop(held);
        assert!(other.try_lock().is_ok(), "free once dropped");
    }
}
