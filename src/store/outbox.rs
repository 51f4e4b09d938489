//! The outbox of a remote store: decisions made while the server could not
//! be reached, kept durably on this machine until the server acknowledges
//! them.
//!
//! One JSON object a line (`outbox-<host>_<port>.jsonl` in the data
//! directory, mode 0600):
//!
//! ```json
//! {"idempotency_key":"0193…","decision":{…},"reviewer_hint":"alice",
//!  "queued_at":"2026-11-27T10:00:00Z","state":"waiting","reason":"…"}
//! ```
//!
//! Every append is fsync'd (and the directory, when the file is created);
//! removing or marking an entry rewrites the file atomically
//! ([`crate::fsutil::write_atomic`]: fresh temporary file, fsync, rename,
//! fsync of the directory). A lock file beside it (`….jsonl.lock`,
//! [`crate::fsutil::lock_beside`]) serialises processes sharing one outbox;
//! the lock is never held across a network request. A line that cannot be
//! read (a torn write) is kept as it is and reported, never dropped.
//!
//! At most one decision per case waits: a second one is refused
//! ([`StoreError::AlreadyQueued`]) unless it explicitly replaces the first
//! ([`Outbox::supersede`]), so a decision made on a case whose earlier
//! decision has not reached the server yet cannot be sent after it and fail
//! as a conflict.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreError;
use crate::fsutil::{self, Access};
use crate::model::{Action, Decision};

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Not yet acknowledged by the server; sent again (same key) when it
    /// answers.
    Waiting,
    /// The server refused it (409 conflict, 422 refusal, …): kept and shown
    /// until a person deals with it.
    Rejected,
}

impl EntryState {
    /// `waiting` or `rejected`, as in the file.
    pub fn name(self) -> &'static str {
        match self {
            EntryState::Waiting => "waiting",
            EntryState::Rejected => "rejected",
        }
    }
}

/// One queued decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Sent with every attempt: the server records the entry once.
    pub idempotency_key: String,
    /// The decision as made (its `idempotency_key` is the entry's).
    pub decision: Decision,
    /// Who decided here; the server records the name its token maps to.
    pub reviewer_hint: String,
    /// When it was queued (UTC, RFC 3339 in the file).
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    /// Waiting to be sent, or refused by the server.
    pub state: EntryState,
    /// Waiting: why it could not be sent. Rejected: the server's answer.
    pub reason: String,
}

/// A line of the file: an entry, or bytes that are not one (kept as they
/// are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxLine {
    /// A queued decision.
    Entry(Box<OutboxEntry>),
    /// A line that is not an entry (a torn write): written back as it is.
    Unreadable {
        /// Its line number in the file (from 1).
        line: usize,
        /// Its bytes, as text (invalid UTF-8 replaced).
        text: String,
    },
}

/// What the file holds, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxContents {
    /// Every non-blank line, in file order.
    pub lines: Vec<OutboxLine>,
}

impl OutboxContents {
    /// The entries, in file (queue) order.
    pub fn entries(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.lines.iter().filter_map(|l| match l {
            OutboxLine::Entry(e) => Some(e.as_ref()),
            OutboxLine::Unreadable { .. } => None,
        })
    }

    /// The entries still to be sent, oldest first.
    pub fn waiting(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.entries().filter(|e| e.state == EntryState::Waiting)
    }

    /// The lines that are not entries: (line number, text).
    pub fn unreadable(&self) -> impl Iterator<Item = (usize, &str)> {
        self.lines.iter().filter_map(|l| match l {
            OutboxLine::Unreadable { line, text } => Some((*line, text.as_str())),
            OutboxLine::Entry(_) => None,
        })
    }

    /// How many entries wait, were refused, cannot be read.
    pub fn counts(&self) -> OutboxCounts {
        let mut c = OutboxCounts::default();
        for l in &self.lines {
            match l {
                OutboxLine::Entry(e) if e.state == EntryState::Waiting => c.waiting += 1,
                OutboxLine::Entry(_) => c.rejected += 1,
                OutboxLine::Unreadable { .. } => c.unreadable += 1,
            }
        }
        c
    }

    fn find(&self, key: &str) -> Option<&OutboxEntry> {
        self.entries().find(|e| e.idempotency_key == key)
    }

    /// The waiting entry for `case_id`, if any (there is at most one).
    pub fn waiting_for(&self, case_id: &str) -> Option<&OutboxEntry> {
        self.waiting().find(|e| e.decision.case_id == case_id)
    }

    /// What the console shows: the cases with a waiting or refused entry.
    pub fn summary(&self) -> OutboxSummary {
        let mut summary = OutboxSummary::default();
        for l in &self.lines {
            match l {
                OutboxLine::Entry(e) => {
                    let q = QueuedEntry::of(e);
                    match e.state {
                        EntryState::Waiting => summary.queued.push(q),
                        EntryState::Rejected => summary.refused.push(q),
                    }
                }
                OutboxLine::Unreadable { .. } => summary.unreadable += 1,
            }
        }
        summary
    }
}

/// One entry of an [`OutboxSummary`]: which case, what, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEntry {
    /// The case decided on.
    pub case_id: String,
    /// What was decided.
    pub action: Action,
    /// When it was queued (UTC, millisecond precision).
    pub queued_at: OffsetDateTime,
    /// The entry's key (`nhi-triage outbox dismiss KEY` for a refused one).
    pub idempotency_key: String,
    /// Waiting: why the last send failed. Refused: the server's answer.
    pub reason: String,
}

impl QueuedEntry {
    fn of(e: &OutboxEntry) -> Self {
        QueuedEntry {
            case_id: e.decision.case_id.clone(),
            action: e.decision.action,
            queued_at: e.queued_at,
            idempotency_key: e.idempotency_key.clone(),
            reason: e.reason.clone(),
        }
    }
}

/// The outbox as the console shows it (`Store::outbox_summary`): the
/// decisions still waiting to be sent, those the server refused, in the
/// order they were queued, and how many lines could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    /// Waiting to be sent: at most one per case.
    pub queued: Vec<QueuedEntry>,
    /// Refused by the server (409/422): shown until dismissed.
    pub refused: Vec<QueuedEntry>,
    /// Lines that are not entries (torn writes), kept as they are.
    pub unreadable: usize,
}

impl OutboxSummary {
    /// The decision waiting for `case_id`, if one does.
    pub fn queued_for(&self, case_id: &str) -> Option<&QueuedEntry> {
        self.queued.iter().find(|q| q.case_id == case_id)
    }

    /// The refused decisions on `case_id`, oldest first.
    pub fn refused_for<'a>(&'a self, case_id: &'a str) -> impl Iterator<Item = &'a QueuedEntry> {
        self.refused.iter().filter(move |q| q.case_id == case_id)
    }

    /// The numbers alone.
    pub fn counts(&self) -> OutboxCounts {
        OutboxCounts {
            waiting: self.queued.len(),
            rejected: self.refused.len(),
            unreadable: self.unreadable,
        }
    }
}

/// How many entries the outbox holds, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Entries still to be sent.
    pub waiting: usize,
    /// Entries the server refused, kept until dismissed.
    pub rejected: usize,
    /// Lines that are not entries.
    pub unreadable: usize,
}

/// The outbox file of one server.
#[derive(Debug, Clone)]
pub struct Outbox {
    path: PathBuf,
}

impl Outbox {
    /// The outbox kept in `path` (nothing is touched until it is used).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `outbox-<host>_<port>.jsonl` for a server's base URL (the port is the
    /// scheme's default when the URL has none).
    pub fn file_name_for(base_url: &str) -> Result<String, StoreError> {
        let url = reqwest::Url::parse(base_url).map_err(|e| {
            StoreError::Setup(format!(
                "{} is not a URL ({e}); e.g. https://triage.example.com:8787",
                crate::text::sanitize(base_url)
            ))
        })?;
        let host = url.host_str().ok_or_else(|| {
            StoreError::Setup(format!("{} has no host", crate::text::sanitize(base_url)))
        })?;
        let port = url.port_or_known_default().unwrap_or(0);
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        Ok(format!("outbox-{host}_{port}.jsonl"))
    }

    /// The outbox file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, what: &str, source: std::io::Error) -> StoreError {
        StoreError::Io {
            context: format!("{what} the outbox {}", self.path.display()),
            source,
        }
    }

    /// Takes the exclusive lock shared by every process using this outbox.
    fn lock(&self) -> Result<fsutil::FileLock, StoreError> {
        fsutil::lock_beside(&self.path).map_err(|e| self.io("locking", e))
    }

    /// Everything in the file (empty when there is none).
    pub fn read(&self) -> Result<OutboxContents, StoreError> {
        // No file, nothing queued: no need to create the lock file either.
        if !self.path.exists() {
            return Ok(OutboxContents::default());
        }
        let _lock = self.lock()?;
        self.read_unlocked()
    }

    /// How many entries wait, were refused, cannot be read.
    pub fn counts(&self) -> Result<OutboxCounts, StoreError> {
        Ok(self.read()?.counts())
    }

    /// The cases with a waiting or refused decision ([`OutboxSummary`]).
    pub fn summary(&self) -> Result<OutboxSummary, StoreError> {
        Ok(self.read()?.summary())
    }

    fn read_unlocked(&self) -> Result<OutboxContents, StoreError> {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(OutboxContents::default());
            }
            Err(e) => return Err(self.io("reading", e)),
        };
        let mut lines = Vec::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<OutboxEntry>(raw) {
                Ok(entry) => lines.push(OutboxLine::Entry(Box::new(entry))),
                Err(_) => lines.push(OutboxLine::Unreadable {
                    line: i + 1,
                    text: String::from_utf8_lossy(raw).into_owned(),
                }),
            }
        }
        Ok(OutboxContents { lines })
    }

    /// Appends an entry durably (fsync'd before returning). An entry with the
    /// same key already there is not added twice. Returns the outbox after.
    ///
    /// Errors: [`StoreError::AlreadyQueued`] when another decision on the
    /// same case is still waiting (nothing is added: the caller supersedes it
    /// explicitly, [`Outbox::supersede`], or leaves it); the file.
    pub fn append(&self, entry: &OutboxEntry) -> Result<OutboxSummary, StoreError> {
        let _lock = self.lock()?;
        let contents = self.read_unlocked()?;
        if contents.find(&entry.idempotency_key).is_some() {
            return Ok(contents.summary());
        }
        if entry.state == EntryState::Waiting
            && let Some(first) = contents.waiting_for(&entry.decision.case_id)
        {
            return Err(StoreError::AlreadyQueued(Box::new(AlreadyQueued::of(
                first,
            ))));
        }
        let mut line = serde_json::to_vec(entry)
            .map_err(|e| StoreError::Setup(format!("cannot encode an outbox entry: {e}")))?;
        line.push(b'\n');
        let created = !self.path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| self.io("opening", e))?;
        // After a torn write the file may not end with a newline: start a
        // fresh line rather than glue this entry to the torn bytes.
        let len = file.metadata().map_err(|e| self.io("reading", e))?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| self.io("reading", e))?;
            if last[0] != b'\n' {
                line.insert(0, b'\n');
            }
        }
        file.write_all(&line)
            .and_then(|_| file.sync_all())
            .map_err(|e| self.io("writing", e))?;
        if created {
            fsutil::sync_dir(&self.path).map_err(|e| self.io("syncing the directory of", e))?;
        }
        let mut after = contents;
        after.lines.push(OutboxLine::Entry(Box::new(entry.clone())));
        Ok(after.summary())
    }

    /// Queues `entry` in place of the decision waiting on the same case, in
    /// one atomic rewrite (the old entry is never sent once this returns, and
    /// there is no moment with neither); with none waiting, appends it.
    /// Returns the entry replaced, if any, and the outbox after.
    ///
    /// A decision another process is sending at this very moment may still
    /// be recorded: the replacement then names a stale version and the
    /// server refuses it as a conflict, so nothing is recorded twice.
    pub fn supersede(
        &self,
        entry: &OutboxEntry,
    ) -> Result<(Option<OutboxEntry>, OutboxSummary), StoreError> {
        let lock = self.lock()?;
        let mut contents = self.read_unlocked()?;
        let Some(old) = contents.waiting_for(&entry.decision.case_id).cloned() else {
            drop(lock);
            return Ok((None, self.append(entry)?));
        };
        contents.lines.retain(|l| {
            !matches!(l, OutboxLine::Entry(e) if e.idempotency_key == old.idempotency_key
                || e.idempotency_key == entry.idempotency_key)
        });
        contents
            .lines
            .push(OutboxLine::Entry(Box::new(entry.clone())));
        self.write_all(&contents)?;
        drop(lock);
        Ok((Some(old), contents.summary()))
    }

    /// Removes the entry with this key (the server acknowledged it).
    pub fn remove(&self, key: &str) -> Result<OutboxSummary, StoreError> {
        self.rewrite(|lines| {
            lines.retain(|l| !matches!(l, OutboxLine::Entry(e) if e.idempotency_key == key))
        })
    }

    /// Removes a rejected entry a person has dealt with; returns it. A
    /// waiting entry is never dismissed (it may still be recorded).
    pub fn dismiss(&self, key: &str) -> Result<OutboxEntry, StoreError> {
        let _lock = self.lock()?;
        let mut contents = self.read_unlocked()?;
        let entry = contents.find(key).cloned().ok_or_else(|| {
            StoreError::Setup(format!(
                "no outbox entry with key {} in {}",
                crate::text::sanitize(key),
                self.path.display()
            ))
        })?;
        if entry.state == EntryState::Waiting {
            return Err(StoreError::Setup(format!(
                "entry {} is still waiting to be sent; only entries the server refused can be dismissed",
                crate::text::sanitize(key)
            )));
        }
        contents
            .lines
            .retain(|l| !matches!(l, OutboxLine::Entry(e) if e.idempotency_key == key));
        self.write_all(&contents)?;
        Ok(entry)
    }

    /// Marks the entry with this key as refused by the server, with why.
    pub fn reject(&self, key: &str, reason: &str) -> Result<OutboxSummary, StoreError> {
        self.rewrite(|lines| {
            for l in lines.iter_mut() {
                if let OutboxLine::Entry(e) = l
                    && e.idempotency_key == key
                {
                    e.state = EntryState::Rejected;
                    e.reason = reason.to_string();
                }
            }
        })
    }

    /// Records why a waiting entry could not be sent this time.
    pub fn note_failure(&self, key: &str, reason: &str) -> Result<OutboxSummary, StoreError> {
        self.rewrite(|lines| {
            for l in lines.iter_mut() {
                if let OutboxLine::Entry(e) = l
                    && e.idempotency_key == key
                    && e.state == EntryState::Waiting
                {
                    e.reason = reason.to_string();
                }
            }
        })
    }

    fn rewrite(
        &self,
        change: impl FnOnce(&mut Vec<OutboxLine>),
    ) -> Result<OutboxSummary, StoreError> {
        let _lock = self.lock()?;
        let mut contents = self.read_unlocked()?;
        let before = contents.clone();
        change(&mut contents.lines);
        if contents != before {
            self.write_all(&contents)?;
        }
        Ok(contents.summary())
    }

    /// Replaces the file atomically ([`fsutil::write_atomic`], mode 0600).
    /// Unreadable lines are written back as they were.
    fn write_all(&self, contents: &OutboxContents) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        for l in &contents.lines {
            match l {
                OutboxLine::Entry(e) => {
                    let line = serde_json::to_vec(e).map_err(|e| {
                        StoreError::Setup(format!("cannot encode an outbox entry: {e}"))
                    })?;
                    bytes.extend_from_slice(&line);
                }
                OutboxLine::Unreadable { text, .. } => bytes.extend_from_slice(text.as_bytes()),
            }
            bytes.push(b'\n');
        }
        fsutil::write_atomic(&self.path, &bytes, Access::Private)
            .map_err(|e| self.io("rewriting", e))
    }
}

/// A decision already waiting in the outbox for a case, named when a second
/// one is refused ([`StoreError::AlreadyQueued`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadyQueued {
    /// The case both decisions are on.
    pub case_id: String,
    /// The waiting decision's action.
    pub action: Action,
    /// When it was queued (UTC).
    pub queued_at: OffsetDateTime,
    /// The waiting entry's key.
    pub idempotency_key: String,
}

impl AlreadyQueued {
    fn of(e: &OutboxEntry) -> Self {
        AlreadyQueued {
            case_id: e.decision.case_id.clone(),
            action: e.decision.action,
            queued_at: e.queued_at,
            idempotency_key: e.idempotency_key.clone(),
        }
    }
}

impl std::fmt::Display for AlreadyQueued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} queued at {} is still waiting to reach the server: this decision was NOT \
             queued (it would be sent after that one and refused as a conflict). Wait for it to \
             sync, or replace it: decide again with --supersede",
            self.action,
            crate::text::sanitize(&self.case_id),
            crate::model::rfc3339(self.queued_at)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entry(key: &str) -> OutboxEntry {
        entry_on(key, &format!("CASE-{key}"))
    }

    fn entry_on(key: &str, case_id: &str) -> OutboxEntry {
        OutboxEntry {
            idempotency_key: key.into(),
            decision: Decision {
                case_id: case_id.into(),
                action: Action::Quarantine,
                justification: "a justification long enough".into(),
                expected_version: 0,
                quarantine_hours: None,
                escalate_to: None,
                override_: false,
                expected_case_sha256: None,
                idempotency_key: Some(key.into()),
            },
            reviewer_hint: "alice".into(),
            queued_at: OffsetDateTime::UNIX_EPOCH,
            state: EntryState::Waiting,
            reason: "connection refused".into(),
        }
    }

    #[test]
    fn file_names_name_the_host_and_port() {
        assert_eq!(
            Outbox::file_name_for("https://Triage.example.com/").unwrap(),
            "outbox-triage.example.com_443.jsonl"
        );
        assert_eq!(
            Outbox::file_name_for("http://127.0.0.1:8787").unwrap(),
            "outbox-127.0.0.1_8787.jsonl"
        );
        assert_eq!(
            Outbox::file_name_for("http://[::1]:9000/api").unwrap(),
            "outbox-___1__9000.jsonl"
        );
        assert!(Outbox::file_name_for("not a url").is_err());
    }

    #[test]
    fn append_remove_reject_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("sub/outbox-x_1.jsonl"));
        assert_eq!(outbox.counts().unwrap(), OutboxCounts::default());
        let c = outbox.append(&entry("k1")).unwrap().counts();
        assert_eq!(c.waiting, 1);
        let mode = std::fs::metadata(outbox.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The same key twice is one entry.
        assert_eq!(outbox.append(&entry("k1")).unwrap().counts().waiting, 1);
        // A torn write, then another append: the torn bytes are kept apart.
        let mut f = OpenOptions::new().append(true).open(outbox.path()).unwrap();
        f.write_all(b"{\"idempotency_key\":\"to").unwrap();
        drop(f);
        let c = outbox.append(&entry("k2")).unwrap().counts();
        assert_eq!((c.waiting, c.unreadable), (2, 1));
        let c = outbox.reject("k1", "conflict").unwrap().counts();
        assert_eq!((c.waiting, c.rejected, c.unreadable), (1, 1, 1));
        let c = outbox.remove("k2").unwrap().counts();
        assert_eq!((c.waiting, c.rejected, c.unreadable), (0, 1, 1));
        let contents = outbox.read().unwrap();
        let rejected: Vec<_> = contents.entries().collect();
        assert_eq!(rejected[0].reason, "conflict");
        assert!(outbox.dismiss("nope").is_err());
        assert_eq!(outbox.dismiss("k1").unwrap().idempotency_key, "k1");
        let mode = std::fs::metadata(outbox.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "rewrites keep 0600");
        assert_eq!(outbox.counts().unwrap().unreadable, 1);
    }

    #[test]
    fn one_waiting_decision_per_case_unless_superseded() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("outbox-x_1.jsonl"));
        outbox.append(&entry_on("k1", "A")).unwrap();
        outbox.append(&entry_on("k2", "B")).unwrap();
        let Err(StoreError::AlreadyQueued(q)) = outbox.append(&entry_on("k3", "A")) else {
            panic!("a second waiting decision on A must be refused");
        };
        assert_eq!(
            (q.case_id.as_str(), q.idempotency_key.as_str()),
            ("A", "k1")
        );
        assert!(q.to_string().contains("--supersede"), "{q}");
        assert_eq!(outbox.counts().unwrap().waiting, 2, "nothing added");
        // A refused one does not block a new decision.
        outbox.reject("k2", "conflict").unwrap();
        outbox.append(&entry_on("k4", "B")).unwrap();

        let (old, summary) = outbox.supersede(&entry_on("k5", "A")).unwrap();
        assert_eq!(old.unwrap().idempotency_key, "k1");
        let queued: Vec<_> = summary
            .queued
            .iter()
            .map(|q| (q.case_id.as_str(), q.idempotency_key.as_str()))
            .collect();
        assert_eq!(queued, [("B", "k4"), ("A", "k5")], "replaced, newest last");
        assert_eq!(summary.refused.len(), 1);
        assert_eq!(summary.queued_for("A").unwrap().idempotency_key, "k5");
        assert_eq!(outbox.summary().unwrap(), summary, "on disk as returned");
        // Nothing waiting for C: superseding is appending.
        let (old, summary) = outbox.supersede(&entry_on("k6", "C")).unwrap();
        assert!(old.is_none());
        assert_eq!(summary.counts().waiting, 3);
    }
}
