//! Context: ownership, criticality and dependencies from where teams keep
//! them (docs/import.md, *Context*).
//!
//! Context files live in one directory (`STORE/context/` or `--context
//! DIR`) and are joined with the cases when the store loads them, so
//! findings and context change independently. Four sources:
//!
//! - Backstage catalogs (`*.yaml`/`*.yml` whose documents have
//!   `apiVersion: backstage.io/…`): owners, criticality and dependency maps
//!   (`backstage.rs`);
//! - `CODEOWNERS` files (GitHub/GitLab syntax): inferred owners of leaked
//!   secrets by the path they were found at (`codeowners.rs`);
//! - owners tables (`*.csv`): owner, contact, criticality and verification
//!   by identity id or glob (`owners_table.rs`);
//! - Kubernetes manifests (the other `*.yaml`/`*.yml` documents):
//!   workloads using a cloud identity through a ServiceAccount's workload
//!   identity annotation (`kubernetes.rs`).
//!
//! [`Context::load`] reads them all and never fails as a whole; [`join`]
//! is the pure function that applies them to one case. Every fact keeps
//! its source; a file's modification time is never read as a verification.

mod backstage;
mod codeowners;
mod codeowners_syntax;
mod facts;
mod join;
mod kubernetes;
mod owners_table;
mod wanted;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use facts::{annotations, sources_that_answer};
pub use join::join;
pub use wanted::{Wanted, wanted};

use facts::{NodeFacts, annotation_time, parse_level};

/// Files read from a context directory at most; the rest are reported.
pub const MAX_FILES: usize = 10_000;
/// A YAML or CSV context file larger than this (bytes) is not read.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// Directory depth walked at most under the context directory.
const MAX_DEPTH: usize = 16;

/// Something in a context file that could not be read as a fact: the file,
/// the 1-based line (0 when the problem is the file as a whole) and what is
/// wrong. The rest of the file still loads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContextProblem {
    /// The file, as found under the context directory.
    pub file: PathBuf,
    /// The 1-based line; 0 for the whole file.
    pub line: usize,
    /// What is wrong, and what was done instead (untrusted text included:
    /// sanitise before display, as `Display` does).
    pub message: String,
}

impl fmt::Display for ContextProblem {
    /// `FILE:LINE: message` (`FILE: message` for a whole-file problem),
    /// file and message sanitised for a terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display().to_string();
        let file = crate::text::sanitize(&file);
        let message = crate::text::sanitize(&self.message);
        if self.line == 0 {
            write!(f, "{file}: {message}")
        } else {
            write!(f, "{file}:{}: {message}", self.line)
        }
    }
}

/// A context file being read: its path and the name its facts cite (the
/// path relative to the context directory, with `/` separators).
#[derive(Debug, Clone)]
struct FileRef {
    path: PathBuf,
    rel: String,
}

/// Collects problems for one load.
#[derive(Debug, Default)]
struct Problems(Vec<ContextProblem>);

impl Problems {
    fn push(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.0.push(ContextProblem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        });
    }
}

/// All the context facts loaded from one directory, indexed for [`join`].
#[derive(Debug, Clone, Default)]
pub struct Context {
    files: Vec<PathBuf>,
    catalog: backstage::Catalog,
    codeowners: codeowners::Codeowners,
    table: owners_table::OwnersTable,
    workloads: kubernetes::Workloads,
}

/// What kind of context file a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Yaml,
    Codeowners,
    Csv,
}

fn kind_of(name: &str) -> Option<FileKind> {
    if name == "CODEOWNERS" {
        return Some(FileKind::Codeowners);
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Some(FileKind::Yaml)
    } else if lower.ends_with(".csv") {
        Some(FileKind::Csv)
    } else {
        None
    }
}

impl Context {
    /// Reads every context file under `dir` (recursively, in name order;
    /// `.git` directories and symbolic links to directories are not
    /// entered): `*.yaml`/`*.yml` (Backstage entities or Kubernetes
    /// objects, told apart by `apiVersion`), files named `CODEOWNERS`, and
    /// `*.csv` (owners tables). Other files are ignored. A missing `dir` is
    /// an empty context.
    ///
    /// Never fails as a whole: an unreadable file, a bad YAML document, a
    /// bad CSV row or CODEOWNERS line is a [`ContextProblem`] naming the
    /// file and line, and everything else loads. Bounds: [`MAX_FILES`]
    /// files, [`MAX_FILE_BYTES`] per YAML/CSV file, 3 MB per CODEOWNERS
    /// (GitHub's limit), and per YAML document 8 MiB and a budget on alias
    /// expansion.
    pub fn load(dir: &Path) -> (Context, Vec<ContextProblem>) {
        let mut problems = Problems::default();
        let mut ctx = Context::default();
        for (file, kind) in walk(dir, &mut problems) {
            ctx.read_file(&file, kind, &mut problems);
        }
        ctx.catalog.finish(&mut problems);
        ctx.codeowners.finish(&mut problems);
        ctx.table.finish(&mut problems);
        ctx.workloads.finish(&mut problems);
        (ctx, problems.0)
    }

    /// Whether no file gave any fact (then [`join`] changes nothing).
    pub fn is_empty(&self) -> bool {
        self.catalog.is_empty()
            && self.codeowners.is_empty()
            && self.table.is_empty()
            && self.workloads.is_empty()
    }

    /// The context files read, in load order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn read_file(&mut self, file: &FileRef, kind: FileKind, problems: &mut Problems) {
        let limit = match kind {
            FileKind::Codeowners => codeowners::MAX_BYTES,
            _ => MAX_FILE_BYTES,
        };
        let size = match std::fs::metadata(&file.path) {
            Ok(m) => m.len(),
            Err(e) => {
                problems.push(&file.path, 0, format!("cannot read: {e}"));
                return;
            }
        };
        if size > limit {
            problems.push(
                &file.path,
                0,
                format!(
                    "{size} bytes is over the limit of {limit} for this kind of file; not read"
                ),
            );
            return;
        }
        let bytes = match std::fs::read(&file.path) {
            Ok(b) => b,
            Err(e) => {
                problems.push(&file.path, 0, format!("cannot read: {e}"));
                return;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let line = 1 + e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
                problems.push(&file.path, line, "not UTF-8 text; file not read");
                return;
            }
        };
        self.files.push(file.path.clone());
        match kind {
            FileKind::Yaml => {
                let (docs, bad) = yaml::documents(&text);
                for (line, message) in bad {
                    problems.push(&file.path, line, message);
                }
                for doc in &docs {
                    self.add_yaml(file, doc.line, &doc.value, true, problems);
                }
            }
            FileKind::Codeowners => self.codeowners.add_file(file, &text, problems),
            FileKind::Csv => self.table.add_file(file, &text, problems),
        }
    }

    /// One YAML document (or one item of a Kubernetes `List`).
    fn add_yaml(
        &mut self,
        file: &FileRef,
        line: usize,
        value: &yaml::Y,
        top: bool,
        problems: &mut Problems,
    ) {
        use yaml::Y;
        if matches!(value, Y::Null) {
            return;
        }
        if !matches!(value, Y::Map(_)) {
            problems.push(
                &file.path,
                line,
                format!(
                    "a document that is {}, not a mapping: not a Backstage entity or Kubernetes object; ignored",
                    value.shape()
                ),
            );
            return;
        }
        let api = value.get("apiVersion").and_then(Y::as_str).unwrap_or("");
        let kind = value.get("kind").and_then(Y::as_str).unwrap_or("");
        if api.trim().is_empty() || kind.trim().is_empty() {
            problems.push(
                &file.path,
                line,
                "no apiVersion and kind: not a Backstage entity or Kubernetes object; ignored",
            );
        } else if api.starts_with("backstage.io/") {
            self.catalog.add(file, line, value, problems);
        } else if kind == "List" && top {
            for item in value.get("items").map(Y::items).unwrap_or_default() {
                self.add_yaml(file, line, item, false, problems);
            }
        } else {
            self.workloads.add(file, line, value, problems);
        }
    }
}

/// The context files under `dir`, in name order, with their kind.
fn walk(dir: &Path, problems: &mut Problems) -> Vec<(FileRef, FileKind)> {
    let mut out = Vec::new();
    if std::fs::symlink_metadata(dir).is_err() {
        return out;
    }
    walk_into(dir, "", 0, &mut out, problems);
    out
}

fn walk_into(
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut Vec<(FileRef, FileKind)>,
    problems: &mut Problems,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(dir, 0, format!("cannot read the directory: {e}"));
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            problems.push(&entry.path(), 0, "file name is not UTF-8; ignored");
            continue;
        };
        let path = entry.path();
        let child_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if name == ".git" {
                continue;
            }
            if depth + 1 >= MAX_DEPTH {
                problems.push(
                    &path,
                    0,
                    format!("deeper than {MAX_DEPTH} directories; not read"),
                );
                continue;
            }
            walk_into(&path, &child_rel, depth + 1, out, problems);
            continue;
        }
        let Some(kind) = kind_of(name) else { continue };
        // A symbolic link counts when it leads to a file.
        if file_type.is_symlink() && !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if out.len() >= MAX_FILES {
            problems.push(
                &path,
                0,
                format!("more than {MAX_FILES} context files; the rest are not read"),
            );
            return;
        }
        out.push((
            FileRef {
                path,
                rel: child_rel,
            },
            kind,
        ));
    }
}

/// A signature of the context files under `dir`: their names, sizes and
/// modification times (SHA-256, hex), to notice a change cheaply without
/// reading them. The empty string for a missing directory. Modification
/// times are only ever used here, never as a verification date.
pub fn signature(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    if std::fs::symlink_metadata(dir).is_err() {
        return String::new();
    }
    let mut problems = Problems::default();
    let mut hasher = Sha256::new();
    for (file, _) in walk(dir, &mut problems) {
        let (size, mtime) = match std::fs::metadata(&file.path) {
            Ok(m) => {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                (m.len(), mtime)
            }
            Err(_) => (0, 0),
        };
        hasher.update(format!("{}\0{size}\0{mtime}\n", file.rel).as_bytes());
    }
    for p in problems.0 {
        hasher.update(format!("!{}\n", p).as_bytes());
    }
    hex::encode(hasher.finalize())
}
