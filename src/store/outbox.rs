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
//! removing or marking an entry rewrites the file atomically (temporary
//! file, fsync, rename, fsync of the directory). A lock file beside it
//! (`….jsonl.lock`) serialises processes sharing one outbox; the lock is
//! never held across a network request. A line that cannot be read (a torn
//! write) is kept as it is and reported, never dropped.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreError;
use crate::model::Decision;

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
    pub idempotency_key: String,
    /// The decision as made (its `idempotency_key` is the entry's).
    pub decision: Decision,
    /// Who decided here; the server records the name its token maps to.
    pub reviewer_hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    pub state: EntryState,
    /// Waiting: why it could not be sent. Rejected: the server's answer.
    pub reason: String,
}

/// A line of the file: an entry, or bytes that are not one (kept as they
/// are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxLine {
    Entry(Box<OutboxEntry>),
    Unreadable { line: usize, text: String },
}

/// What the file holds, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxContents {
    pub lines: Vec<OutboxLine>,
}

impl OutboxContents {
    pub fn entries(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.lines.iter().filter_map(|l| match l {
            OutboxLine::Entry(e) => Some(e.as_ref()),
            OutboxLine::Unreadable { .. } => None,
        })
    }

    pub fn waiting(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.entries().filter(|e| e.state == EntryState::Waiting)
    }

    pub fn unreadable(&self) -> impl Iterator<Item = (usize, &str)> {
        self.lines.iter().filter_map(|l| match l {
            OutboxLine::Unreadable { line, text } => Some((*line, text.as_str())),
            OutboxLine::Entry(_) => None,
        })
    }

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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub waiting: usize,
    pub rejected: usize,
    pub unreadable: usize,
}

/// The outbox file of one server.
#[derive(Debug, Clone)]
pub struct Outbox {
    path: PathBuf,
}

impl Outbox {
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

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    fn io(&self, what: &str, source: std::io::Error) -> StoreError {
        StoreError::Io {
            context: format!("{what} the outbox {}", self.path.display()),
            source,
        }
    }

    /// Takes the exclusive lock shared by every process using this outbox.
    fn lock(&self) -> Result<File, StoreError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io("creating the directory of", e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(self.lock_path())
            .map_err(|e| self.io("locking", e))?;
        file.lock().map_err(|e| self.io("locking", e))?;
        Ok(file)
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

    pub fn counts(&self) -> Result<OutboxCounts, StoreError> {
        Ok(self.read()?.counts())
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
    /// same key already there is not added twice. Returns the counts after.
    pub fn append(&self, entry: &OutboxEntry) -> Result<OutboxCounts, StoreError> {
        let _lock = self.lock()?;
        let contents = self.read_unlocked()?;
        if contents.find(&entry.idempotency_key).is_some() {
            return Ok(contents.counts());
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
            self.sync_dir()?;
        }
        let mut counts = contents.counts();
        counts.waiting += usize::from(entry.state == EntryState::Waiting);
        counts.rejected += usize::from(entry.state == EntryState::Rejected);
        Ok(counts)
    }

    /// Removes the entry with this key (the server acknowledged it).
    pub fn remove(&self, key: &str) -> Result<OutboxCounts, StoreError> {
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
    pub fn reject(&self, key: &str, reason: &str) -> Result<OutboxCounts, StoreError> {
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
    pub fn note_failure(&self, key: &str, reason: &str) -> Result<OutboxCounts, StoreError> {
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
    ) -> Result<OutboxCounts, StoreError> {
        let _lock = self.lock()?;
        let mut contents = self.read_unlocked()?;
        let before = contents.clone();
        change(&mut contents.lines);
        if contents != before {
            self.write_all(&contents)?;
        }
        Ok(contents.counts())
    }

    /// Replaces the file atomically: temporary file, fsync, rename, fsync
    /// of the directory. Unreadable lines are written back as they were.
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
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = self.path.with_file_name(tmp_name);
        let result = (|| {
            let mut file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.io("rewriting", e));
        }
        self.sync_dir()
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io("syncing the directory of", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;
    use std::os::unix::fs::PermissionsExt;

    fn entry(key: &str) -> OutboxEntry {
        OutboxEntry {
            idempotency_key: key.into(),
            decision: Decision {
                case_id: "CASE-1".into(),
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
        let c = outbox.append(&entry("k1")).unwrap();
        assert_eq!(c.waiting, 1);
        let mode = std::fs::metadata(outbox.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The same key twice is one entry.
        assert_eq!(outbox.append(&entry("k1")).unwrap().waiting, 1);
        // A torn write, then another append: the torn bytes are kept apart.
        let mut f = OpenOptions::new().append(true).open(outbox.path()).unwrap();
        f.write_all(b"{\"idempotency_key\":\"to").unwrap();
        drop(f);
        let c = outbox.append(&entry("k2")).unwrap();
        assert_eq!((c.waiting, c.unreadable), (2, 1));
        let c = outbox.reject("k1", "conflict").unwrap();
        assert_eq!((c.waiting, c.rejected, c.unreadable), (1, 1, 1));
        let c = outbox.remove("k2").unwrap();
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
}
