//! The case files of a local store as they are on disk *now*.
//!
//! A long-running process (the console, `serve`) must never decide on a case
//! file it read an hour ago: the pipeline may have rewritten it since. This
//! keeps the loaded cases with a signature of every file (size, mtime,
//! ctime, inode) and reloads when any file was created, changed, renamed or
//! deleted. Before a decision, the file holding the case is also re-read
//! outright, because two writes within one timestamp tick can leave the
//! signature unchanged.

use std::collections::{HashMap, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{
    Case, LoadError, LoadProblem, LoadReport, has_case_extension, load_dir, load_file,
};

/// How many replaced case versions are kept to explain conflicts.
const PREVIOUS_KEPT: usize = 1024;

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileSig {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    dev: u64,
}

impl FileSig {
    fn of(meta: &std::fs::Metadata) -> Self {
        FileSig {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

pub(super) struct CaseFiles {
    dir: PathBuf,
    pub cases: Arc<Vec<Case>>,
    pub index: HashMap<String, usize>,
    pub problems: Vec<LoadProblem>,
    /// Bumped on every reload that changed something.
    pub generation: u64,
    /// The file each case came from, parallel to `cases`.
    origin: Vec<u32>,
    files: Vec<PathBuf>,
    sigs: Vec<(PathBuf, FileSig)>,
    /// Replaced versions by content digest, to say what changed.
    previous: HashMap<String, Case>,
    previous_order: VecDeque<String>,
}

impl CaseFiles {
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let sigs = signatures(dir)?;
        let report = load_dir(dir)?;
        let mut files = CaseFiles {
            dir: dir.to_path_buf(),
            cases: Arc::new(Vec::new()),
            index: HashMap::new(),
            problems: Vec::new(),
            generation: 0,
            origin: Vec::new(),
            files: Vec::new(),
            sigs,
            previous: HashMap::new(),
            previous_order: VecDeque::new(),
        };
        files.install(report);
        Ok(files)
    }

    /// Reloads when a case file was created, changed, renamed or deleted
    /// since the last look. Returns whether anything was reloaded.
    pub fn sync(&mut self) -> Result<bool, LoadError> {
        let sigs = signatures(&self.dir)?;
        if sigs == self.sigs {
            return Ok(false);
        }
        self.reload(sigs)
    }

    /// Re-reads the file holding `case_id` and reloads everything if that
    /// case differs from the one held. Call after [`CaseFiles::sync`].
    pub fn sync_case(&mut self, case_id: &str) -> Result<bool, LoadError> {
        let Some(&i) = self.index.get(case_id) else {
            return Ok(false);
        };
        let Some(path) = self.files.get(self.origin[i] as usize) else {
            return Ok(false);
        };
        let mut fresh = LoadReport::default();
        load_file(path, &mut fresh);
        let same = fresh
            .cases
            .iter()
            .find(|c| c.id == case_id)
            .is_some_and(|c| *c == self.cases[i]);
        if same {
            return Ok(false);
        }
        let sigs = signatures(&self.dir)?;
        self.reload(sigs)
    }

    /// A version of a case held earlier, by its content digest.
    pub fn previous(&self, sha256: &str) -> Option<&Case> {
        self.previous.get(sha256)
    }

    fn reload(&mut self, sigs: Vec<(PathBuf, FileSig)>) -> Result<bool, LoadError> {
        let report = load_dir(&self.dir)?;
        self.sigs = sigs;
        let old_cases = Arc::clone(&self.cases);
        let old_index = std::mem::take(&mut self.index);
        self.install(report);
        let mut changed = old_cases.len() != self.cases.len();
        for new in self.cases.iter() {
            let Some(&j) = old_index.get(&new.id) else {
                changed = true;
                continue;
            };
            let old = &old_cases[j];
            if old != new {
                changed = true;
                let sha = old.content_sha256();
                if !self.previous.contains_key(&sha) {
                    self.previous_order.push_back(sha.clone());
                    self.previous.insert(sha, old.clone());
                }
            }
        }
        while self.previous_order.len() > PREVIOUS_KEPT {
            if let Some(sha) = self.previous_order.pop_front() {
                self.previous.remove(&sha);
            }
        }
        if changed {
            self.generation += 1;
        }
        Ok(true)
    }

    fn install(&mut self, report: LoadReport) {
        self.index = report
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        self.origin = report.origins.iter().map(|o| o.file).collect();
        self.files = report.files;
        self.problems = report.problems;
        self.cases = Arc::new(report.cases);
    }
}

/// Signatures of the case files (`*.jsonl`, `*.json`) in `dir`, by name.
fn signatures(dir: &Path) -> Result<Vec<(PathBuf, FileSig)>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut sigs: Vec<(PathBuf, FileSig)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| has_case_extension(p))
        .filter_map(|p| {
            // One stat a file: its signature, and whether it is a regular
            // file at all (a FIFO is never read).
            let meta = std::fs::metadata(&p).ok().filter(|m| m.is_file())?;
            Some((p, FileSig::of(&meta)))
        })
        .collect();
    sigs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(sigs)
}
