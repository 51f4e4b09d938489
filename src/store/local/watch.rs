//! The change feed of a [`LocalStore`](super::LocalStore): a file watcher on
//! `store.db` (and its `-wal`) and the case folder, and for a PostgreSQL
//! store a task listening for its notifications.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Shared;
use crate::store::{ChangeFeed, StoreError};

/// The feed behind [`Store::watch`](crate::store::Store::watch) for the
/// store `shared`.
pub(super) fn change_feed(shared: &Shared) -> Result<ChangeFeed, StoreError> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut keep: Vec<Box<dyn Send>> = Vec::new();
    // SQLite: a commit by any process writes the database's write-ahead
    // log (or, at a checkpoint, the database itself).
    let database_files: Vec<PathBuf> = match &shared.layout {
        Some(layout) => {
            let database = layout.database_path();
            let mut wal = database.clone().into_os_string();
            wal.push("-wal");
            vec![database, PathBuf::from(wal)]
        }
        None => Vec::new(),
    };
    let mut watched: Vec<PathBuf> = shared.layout.iter().map(|l| l.root.clone()).collect();
    watched.extend(shared.cases_dir.iter().cloned());
    // The context folder, at any depth (CODEOWNERS sit in OWNER/REPO/);
    // one created later is seen as a whole at the next refresh.
    let context_dir = shared.context_dir.clone().filter(|d| d.is_dir());
    if !watched.is_empty() || context_dir.is_some() {
        keep.push(Box::new(watch_files(
            &watched,
            database_files,
            (shared.cases_dir.clone(), context_dir),
            (
                Arc::clone(&shared.cases_dirty),
                Arc::clone(&shared.context_dirty),
            ),
            tx.clone(),
        )?));
    }
    // PostgreSQL: every write transaction notifies; one listener hears
    // all of them, from every process and server.
    if let Some(pg) = &shared.postgres {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            StoreError::Setup(format!("cannot listen for changes outside a runtime: {e}"))
        })?;
        let task = runtime.spawn(Arc::clone(pg).listen(tx.clone()));
        keep.push(Box::new(AbortOnDrop(task)));
    }
    // Anything that changed before the watch began is picked up now.
    shared.cases_dirty.store(true, Ordering::Release);
    shared.context_dirty.store(true, Ordering::Release);
    Ok(ChangeFeed::new(rx, Box::new(keep)))
}

/// Stops a background task when the feed holding it is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watches `dirs` (and the context folder, recursively) for
/// modifications: one to `database_files`, to a file in the case folder or
/// under the context folder sends a hint (the latter two also mark their
/// folder dirty, to be read at the next refresh).
fn watch_files(
    dirs: &[PathBuf],
    database_files: Vec<PathBuf>,
    (cases_dir, context_dir): (Option<PathBuf>, Option<PathBuf>),
    (cases_dirty, context_dirty): (Arc<AtomicBool>, Arc<AtomicBool>),
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher, StoreError> {
    use notify::Watcher;
    let context_root = context_dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let (database_changed, cases_changed, context_changed) = match &event {
            // An error (a missed event, an overflow) is a reason to look
            // again at everything, not to stop.
            Err(_) => (true, true, true),
            Ok(e) if !is_modification(&e.kind) => (false, false, false),
            Ok(e) => (
                e.paths.iter().any(|p| database_files.contains(p)),
                e.paths
                    .iter()
                    .any(|p| cases_dir.is_some() && p.parent() == cases_dir.as_deref()),
                e.paths.iter().any(|p| {
                    context_root
                        .as_deref()
                        .is_some_and(|root| p.starts_with(root))
                }),
            ),
        };
        if cases_changed {
            cases_dirty.store(true, Ordering::Release);
        }
        if context_changed {
            context_dirty.store(true, Ordering::Release);
        }
        if database_changed || cases_changed || context_changed {
            let _ = tx.send(());
        }
    })
    .map_err(|e| StoreError::Setup(format!("cannot watch the store for changes: {e}")))?;
    for dir in dirs {
        watcher
            .watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| StoreError::Setup(format!("cannot watch {}: {e}", dir.display())))?;
    }
    if let Some(dir) = &context_dir {
        watcher
            .watch(dir, notify::RecursiveMode::Recursive)
            .map_err(|e| StoreError::Setup(format!("cannot watch {}: {e}", dir.display())))?;
    }
    Ok(watcher)
}

/// Creation, writes, renames and deletions: the events that change what a
/// store holds. Opens, reads and closes after reading do not (our own reads
/// of the log must never wake us up again).
pub(in crate::store) fn is_modification(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Any | EventKind::Other => true,
    }
}
