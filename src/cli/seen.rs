//! The case contents a reviewer was shown, kept by digest in the XDG state
//! directory, so that a later `decide --case-sha256` that conflicts can say
//! what changed since (tier before → after, the changed fields), even though
//! the deciding process never saw the old content itself.
//!
//! A cache, not a record: losing it only makes the conflict message shorter
//! (it then names the two digests). At most [`KEEP`] files are kept.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use nhi_triage::fsutil::{self, Access};

use nhi_triage::model::Case;
use nhi_triage::store::{CaseChange, Snapshot};
use time::OffsetDateTime;

/// Most case contents kept; the oldest go first.
const KEEP: usize = 500;

/// Keeps `case` under its digest `case_sha256`. Failures are logged, never
/// fatal: `show` must work on a read-only home directory.
pub fn remember(dir: &Path, case: &Case, case_sha256: &str) {
    let path = dir.join(format!("{case_sha256}.json"));
    if path.exists() {
        return;
    }
    // Case content can be sensitive: only the user reads it (0700, 0600).
    let written = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| serde_json::to_vec(case).map_err(std::io::Error::other))
        .and_then(|bytes| fsutil::write_atomic(&path, &bytes, Access::Private));
    if let Err(e) = written {
        tracing::debug!("cannot keep the case shown in {}: {e}", dir.display());
        return;
    }
    prune(dir);
}

/// The content shown earlier under `sha256`, if it is still kept.
pub fn recall(dir: &Path, sha256: &str) -> Option<Case> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = std::fs::read(dir.join(format!("{sha256}.json"))).ok()?;
    let case: Case = serde_json::from_slice(&bytes).ok()?;
    // A file edited by hand is not what was shown.
    (case.content_sha256() == sha256).then_some(case)
}

/// Completes a conflict the store could not explain (it never held the old
/// content) from the content `show` displayed, with the same pure functions.
pub fn explain(change: &mut CaseChange, seen: &Case, snapshot: &Snapshot, now: OffsetDateTime) {
    let Some(current) = snapshot.find(&change.case_id) else {
        return;
    };
    let status = snapshot.status(&change.case_id);
    *change = CaseChange::between(
        &change.seen_sha256,
        Some(seen),
        current,
        &status,
        &snapshot.policy,
        now,
    );
}

fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, e.path()))
        })
        .collect();
    if files.len() <= KEEP {
        return;
    }
    files.sort();
    for (_, path) in files.iter().take(files.len() - KEEP) {
        let _ = std::fs::remove_file(path);
    }
}
