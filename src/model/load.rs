//! Loading cases from `*.jsonl` (one object a line) and `*.json` (an array).
//!
//! A bad line never stops the load: it becomes a [`LoadProblem`] naming the
//! file and line, and every good case still loads.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;

use super::case::Case;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

#[derive(Debug, Default)]
pub struct LoadReport {
    pub cases: Vec<Case>,
    /// Where each case came from, parallel to `cases`.
    pub origins: Vec<CaseOrigin>,
    /// The files read, indexed by [`CaseOrigin::file`].
    pub files: Vec<PathBuf>,
    pub problems: Vec<LoadProblem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseOrigin {
    pub file: u32,
    pub line: u32,
}

impl LoadReport {
    fn file_index(&mut self, path: &Path) -> u32 {
        if self.files.last().map(PathBuf::as_path) != Some(path) {
            self.files.push(path.to_path_buf());
        }
        (self.files.len() - 1) as u32
    }

    fn push(&mut self, case: Case, file: u32, line: usize) {
        self.cases.push(case);
        self.origins.push(CaseOrigin {
            file,
            line: line as u32,
        });
    }

    /// `file:line` where a loaded case was defined.
    pub fn origin_of(&self, index: usize) -> Option<(&Path, usize)> {
        let o = self.origins.get(index)?;
        Some((self.files.get(o.file as usize)?.as_path(), o.line as usize))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read case directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads every `*.jsonl` and `*.json` file of `dir`, in name order; duplicate
/// case ids are reported and the first one wins.
pub fn load_dir(dir: &Path) -> Result<LoadReport, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_case_file(p))
        .collect();
    files.sort();
    let mut report = LoadReport::default();
    for file in files {
        load_file(&file, &mut report);
    }
    drop_duplicate_ids(&mut report);
    Ok(report)
}

/// A `*.jsonl` or `*.json` regular file (symlinks followed). A FIFO or a
/// device named `x.jsonl` is not read: reading it could block forever.
pub fn is_case_file(path: &Path) -> bool {
    has_case_extension(path) && std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// `*.jsonl` or `*.json`, by name alone (no file system access).
pub fn has_case_extension(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "json")
    )
}

/// Loads one file into `report` (problems included).
pub fn load_file(path: &Path, report: &mut LoadReport) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            report.problems.push(LoadProblem {
                file: path.to_path_buf(),
                line: 0,
                message: format!("cannot read: {e}"),
            });
            return;
        }
    };
    let is_array = path.extension().and_then(|e| e.to_str()) == Some("json");
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) if is_array => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            report.problems.push(LoadProblem {
                file: path.to_path_buf(),
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                message: "not valid UTF-8".into(),
            });
            return;
        }
        // One bad line must not cost the file's good ones.
        Err(e) => utf8_lines(path, e.as_bytes(), report),
    };
    if is_array {
        parse_json_array(path, &text, report);
    } else {
        parse_jsonl(path, &text, report);
    }
}

/// JSON-lines bytes as text, each line that is not UTF-8 reported and left
/// blank (so the line numbers stay right).
fn utf8_lines(path: &Path, bytes: &[u8], report: &mut LoadReport) -> String {
    let mut text = String::with_capacity(bytes.len());
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if n > 0 {
            text.push('\n');
        }
        match std::str::from_utf8(line) {
            Ok(line) => text.push_str(line),
            Err(e) => report.problems.push(LoadProblem {
                file: path.to_path_buf(),
                line: n + 1,
                message: format!(
                    "not valid UTF-8 (at byte {} of the line)",
                    e.valid_up_to() + 1
                ),
            }),
        }
    }
    text
}

/// Parses JSON-lines text; blank lines are allowed.
pub fn parse_jsonl(path: &Path, text: &str, report: &mut LoadReport) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let file = report.file_index(path);
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        match parse_case(line) {
            Ok(case) => {
                note_file_gaps(report, path, n + 1, &case);
                report.push(case, file, n + 1);
            }
            Err(e) => report.problems.push(LoadProblem {
                file: path.to_path_buf(),
                line: n + 1,
                message: describe(&e, line),
            }),
        }
    }
}

/// Parses a JSON array of cases; each bad element is reported at the line
/// where it starts.
pub fn parse_json_array(path: &Path, text: &str, report: &mut LoadReport) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let elements: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(elements) => elements,
        Err(e) => {
            report.problems.push(LoadProblem {
                file: path.to_path_buf(),
                line: e.line(),
                message: format!("not a JSON array of cases: {e}"),
            });
            return;
        }
    };
    let file = report.file_index(path);
    for (i, raw) in elements.into_iter().enumerate() {
        let source = raw.get();
        // RawValue borrows from `text`, so its offset gives the line.
        let offset = (source.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        let start_line = line_of(text, offset);
        match parse_case(source) {
            Ok(case) => {
                note_file_gaps(report, path, start_line, &case);
                report.push(case, file, start_line);
            }
            Err(e) => {
                report.problems.push(LoadProblem {
                    file: path.to_path_buf(),
                    line: start_line + e.line().saturating_sub(1),
                    message: format!("element {}: {}", i + 1, describe(&e, source)),
                });
            }
        }
    }
}

/// A case that loaded with facts it could not read is reported too: never
/// silent, and the case still loads (as unknown, never as absent).
fn note_file_gaps(report: &mut LoadReport, path: &Path, line: usize, case: &Case) {
    if case.file_gaps.is_empty() {
        return;
    }
    report.problems.push(LoadProblem {
        file: path.to_path_buf(),
        line,
        message: format!(
            "case {}: {}; loaded, read as unknown (never tier low)",
            crate::text::sanitize(&case.id),
            case.file_gaps.join("; ")
        ),
    });
}

/// Parses one case, noting in [`Case::file_gaps`] every key it does not know
/// and a dependency map without `nodes`: a fact spelt wrongly is unknown,
/// never absent (a misspelt `"node"` must not read as "no dependents").
pub fn parse_case(text: &str) -> Result<Case, serde_json::Error> {
    // The common case, every key known: a plain parse, no path tracking.
    let mut case = if super::keys::only_known_keys(text) {
        serde_json::from_str(text)?
    } else {
        parse_noting_unknown_keys(text)?
    };
    note_missing_nodes(&mut case, text);
    note_duplicate_nodes(&mut case);
    Ok(case)
}

/// The exact walk: parses with `serde_ignored`, recording in
/// [`Case::file_gaps`] the path of every key the format does not have.
fn parse_noting_unknown_keys(text: &str) -> Result<Case, serde_json::Error> {
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let mut case: Case = serde_ignored::deserialize(&mut de, |path| {
        // serde_ignored writes `?` for an Option's `Some`: not a key.
        let path = path.to_string();
        let segments: Vec<&str> = path.split('.').filter(|s| *s != "?").collect();
        // `x_…` keys are declared extensions (a vendor's score, a region):
        // ignored by design, never a misspelling of ours.
        if !segments.last().is_some_and(|k| k.starts_with("x_")) {
            unknown.push(segments.join("."));
        }
    })?;
    de.end()?;
    for path in unknown {
        case.file_gaps.push(format!(
            "unknown field {} (misspelt?)",
            crate::text::sanitize(&path)
        ));
    }
    Ok(case)
}

/// A node id given twice: the copies may disagree (one critical, one not),
/// so which is true is unknown.
fn note_duplicate_nodes(case: &mut Case) {
    let Some(deps) = &case.dependencies else {
        return;
    };
    if deps.nodes.len() < 2 {
        return;
    }
    let mut seen = HashSet::with_capacity(deps.nodes.len());
    let mut twice: Vec<&str> = deps
        .nodes
        .iter()
        .filter(|n| !seen.insert(n.id.as_str()))
        .map(|n| n.id.as_str())
        .collect();
    if twice.is_empty() {
        return;
    }
    twice.dedup();
    let gap = format!(
        "dependency node ids defined twice: {}",
        crate::text::sanitize(&twice.join(", "))
    );
    case.file_gaps.push(gap);
}

fn note_missing_nodes(case: &mut Case, text: &str) {
    if case
        .dependencies
        .as_ref()
        .is_some_and(|d| d.nodes.is_empty())
        && !lists_nodes(text)
    {
        case.file_gaps.push(super::NO_NODES_GAP.into());
    }
}

/// Whether `dependencies.nodes` is present (checked only for an empty map).
fn lists_nodes(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        dependencies: Option<Deps>,
    }
    #[derive(serde::Deserialize)]
    struct Deps {
        nodes: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Probe>(text)
        .ok()
        .and_then(|p| p.dependencies)
        .is_some_and(|d| d.nodes.is_some())
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// serde's message, with the case id when the object got that far.
fn describe(e: &serde_json::Error, source: &str) -> String {
    let id = serde_json::from_str::<IdOnly>(source)
        .ok()
        .and_then(|c| c.id);
    let what = e.to_string();
    // serde appends " at line L column C"; the caller gives the line already.
    let what = match what.rfind(" at line ") {
        Some(pos) => format!("{} (column {})", &what[..pos], e.column()),
        None => what,
    };
    match id {
        Some(id) => format!("case {}: {}", crate::text::sanitize(&id), what),
        None => what,
    }
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: Option<String>,
}

fn drop_duplicate_ids(report: &mut LoadReport) {
    let mut keep = vec![true; report.cases.len()];
    {
        let mut seen: HashSet<&str> = HashSet::with_capacity(report.cases.len());
        for (i, case) in report.cases.iter().enumerate() {
            keep[i] = seen.insert(case.id.as_str());
        }
    }
    if keep.iter().all(|&k| k) {
        return;
    }
    let cases = std::mem::take(&mut report.cases);
    let origins = std::mem::take(&mut report.origins);
    let mut dropped: HashMap<String, Vec<String>> = HashMap::new();
    for ((case, origin), keep) in cases.into_iter().zip(origins).zip(keep) {
        if keep {
            report.cases.push(case);
            report.origins.push(origin);
        } else {
            let file = report.files[origin.file as usize].clone();
            dropped.entry(case.id.clone()).or_default().push(format!(
                "{}:{}",
                file.display(),
                origin.line
            ));
            report.problems.push(LoadProblem {
                file,
                line: origin.line as usize,
                message: format!(
                    "duplicate case id {}: skipped, the first one loaded is kept (and is never tier low)",
                    crate::text::sanitize(&case.id)
                ),
            });
        }
    }
    // The copies may disagree (a pipeline appending an update): which one is
    // true is unknown, so the kept one carries a file gap.
    for case in &mut report.cases {
        if let Some(places) = dropped.get(&case.id) {
            case.file_gaps.push(format!(
                "case id also defined at {}; later copies ignored",
                crate::text::sanitize(&places.join(", "))
            ));
        }
    }
}
