//! Loading cases from `*.jsonl` (one object a line) and `*.json` (an array).
//!
//! A bad line never stops the load: it becomes a [`LoadProblem`] naming the
//! file and line, and every good case still loads.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;

use super::case::Case;
use super::{CaseProblem, NODES_PATH};

/// One thing the loader reports about a case file: a case refused, or loaded
/// with problems (never tier low), or a file it could not read. Displays as
/// `FILE:LINE: MESSAGE` (`FILE: MESSAGE` for line 0), the file name sanitised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    /// The case file it concerns.
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    /// What is wrong and what the loader did, without the `FILE:LINE:`
    /// prefix (docs/format.md, *Loading rules*).
    pub message: String,
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = crate::text::sanitize(&self.file.to_string_lossy()).into_owned();
        if self.line == 0 {
            write!(f, "{file}: {}", self.message)
        } else {
            write!(f, "{file}:{}: {}", self.line, self.message)
        }
    }
}

/// The result of loading case files: every case that loaded, where each
/// came from, and every problem met on the way.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// The cases loaded, in file then line order; after [`load_dir`] ids are
    /// unique (the first of a duplicate wins).
    pub cases: Vec<Case>,
    /// Where each case came from, parallel to `cases`.
    pub origins: Vec<CaseOrigin>,
    /// The files read, indexed by [`CaseOrigin::file`].
    pub files: Vec<PathBuf>,
    /// Cases refused, cases loaded with problems, and unreadable files, in
    /// the order met (duplicate ids last).
    pub problems: Vec<LoadProblem>,
}

/// Where a loaded case was defined (see [`LoadReport::origin_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseOrigin {
    /// Index into [`LoadReport::files`].
    pub file: u32,
    /// 1-based line where the case starts in that file.
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

/// Why a whole case directory could not be loaded (one bad file or line is a
/// [`LoadProblem`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory itself could not be listed.
    #[error("cannot read case directory {path}: {source}")]
    Dir {
        /// The case directory (`STORE/cases`).
        path: PathBuf,
        /// The I/O error from listing it.
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
                note_problems(report, path, n + 1, &case);
                report.push(case, file, n + 1);
            }
            Err(e) => report.problems.push(LoadProblem {
                file: path.to_path_buf(),
                line: n + 1 + e.line_offset(),
                message: e.describe(line),
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
                note_problems(report, path, start_line, &case);
                report.push(case, file, start_line);
            }
            Err(e) => {
                report.problems.push(LoadProblem {
                    file: path.to_path_buf(),
                    line: start_line + e.line_offset(),
                    message: format!("element {}: {}", i + 1, e.describe(source)),
                });
            }
        }
    }
}

/// A case that loaded with facts it could not read is reported too: never
/// silent, and the case still loads (as unknown, never as absent).
fn note_problems(report: &mut LoadReport, path: &Path, line: usize, case: &Case) {
    if case.problems.is_empty() {
        return;
    }
    let problems: Vec<String> = case.problems.iter().map(ToString::to_string).collect();
    report.problems.push(LoadProblem {
        file: path.to_path_buf(),
        line,
        message: format!(
            "case {}: {}; loaded, never tier low",
            crate::text::sanitize(&case.id),
            problems.join("; ")
        ),
    });
}

/// Why one case could not be read at all.
#[derive(Debug)]
pub(crate) enum CaseError {
    /// Not JSON, or a key given twice in one object.
    Syntax(serde_json::Error),
    /// A required value (`id`, `identity.id`, `opened_at`, ...) that could
    /// not be read: the problem names its path; the line within the case's
    /// text when known.
    Required(CaseProblem, Option<usize>),
}

impl CaseError {
    /// Lines from the start of the case's text to the error (0 when only
    /// the case is known).
    fn line_offset(&self) -> usize {
        match self {
            CaseError::Syntax(e) => e.line().saturating_sub(1),
            CaseError::Required(_, line) => line.map_or(0, |l| l.saturating_sub(1)),
        }
    }

    /// The message, with the case id when the object got that far.
    fn describe(&self, source: &str) -> String {
        let what = match self {
            CaseError::Syntax(e) => syntax_message(e),
            CaseError::Required(p, _) => {
                format!("{p}; a required value, so the case is not loaded")
            }
        };
        let id = serde_json::from_str::<IdOnly>(source)
            .ok()
            .and_then(|c| c.id);
        match id {
            Some(id) => format!("case {}: {}", super::problem::visible(&id), what),
            None => what,
        }
    }
}

/// Parses one case: values that do not fit become unknown with a
/// [`CaseProblem`] naming their path (`super::repair`), keys the format
/// does not have are problems too, and so is a dependency map without
/// `nodes`: a fact spelt wrongly is unknown, never absent (a misspelt
/// `"node"` must not read as "no dependents").
pub(crate) fn parse_case(text: &str) -> Result<Case, CaseError> {
    let known = super::keys::only_known_keys(text);
    // The common case, every key known and every value fitting: a plain
    // parse, no path tracking, no tree.
    let fast = if known {
        serde_json::from_str(text)
    } else {
        parse_noting_unknown_keys(text)
    };
    let mut case = match fast {
        Ok(case) => case,
        Err(e) if !e.is_data() => return Err(CaseError::Syntax(e)),
        Err(_) => parse_slowly(text, known)?,
    };
    note_missing_nodes(&mut case, text);
    note_duplicate_nodes(&mut case);
    Ok(case)
}

/// The slow path for a case whose values do not all fit.
fn parse_slowly(text: &str, known: bool) -> Result<Case, CaseError> {
    let (tree, mut case, problems) = super::repair::parse(text).map_err(|e| match e {
        super::repair::Refusal::Syntax(e) => CaseError::Syntax(e),
        super::repair::Refusal::Required(p) => {
            // The line of the value, when it is the first fault in the text.
            let line = super::repair::first_fault(text)
                .filter(|(path, _)| *path == p.path)
                .map(|(_, line)| line);
            CaseError::Required(p, line)
        }
    })?;
    if !known {
        // The repaired tree parses (it just did): this only adds the
        // unknown keys' problems.
        let mut unknown = Vec::new();
        if let Ok(with_unknown) =
            serde_ignored::deserialize(&tree, |p| note_unknown(p, &mut unknown))
        {
            case = with_unknown;
        }
        case.problems.extend(unknown);
    }
    let from_file = std::mem::replace(&mut case.problems, problems);
    case.problems.extend(from_file);
    Ok(case)
}

/// The exact walk: parses with `serde_ignored`, recording in
/// [`Case::problems`] the path of every key the format does not have.
fn parse_noting_unknown_keys(text: &str) -> Result<Case, serde_json::Error> {
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let mut case: Case = serde_ignored::deserialize(&mut de, |p| note_unknown(p, &mut unknown))?;
    de.end()?;
    case.problems.extend(unknown);
    Ok(case)
}

/// A key `serde_ignored` saw and the format does not have. `x_…` keys are
/// declared extensions (a vendor's score, a region): ignored by design,
/// never a misspelling of ours.
fn note_unknown(path: serde_ignored::Path<'_>, unknown: &mut Vec<CaseProblem>) {
    fn write(path: &serde_ignored::Path<'_>, out: &mut String) {
        use serde_ignored::Path;
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                write(parent, out);
                out.push_str(&format!("[{index}]"));
            }
            Path::Map { parent, key } => {
                write(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => write(parent, out),
        }
    }
    if let serde_ignored::Path::Map { key, .. } = &path
        && key.starts_with("x_")
    {
        return;
    }
    let mut text = String::new();
    write(&path, &mut text);
    unknown.push(CaseProblem::new(text, "unknown field (misspelt?); ignored"));
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
    let twice: Vec<(usize, String)> = deps
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !seen.insert(n.id.as_str()))
        .map(|(i, n)| (i, n.id.clone()))
        .collect();
    for (i, id) in twice {
        case.problems.push(CaseProblem::with_value(
            format!("{NODES_PATH}[{i}]"),
            id,
            "is a dependency node id defined earlier too: which copy is true is unknown",
        ));
    }
}

fn note_missing_nodes(case: &mut Case, text: &str) {
    if case
        .dependencies
        .as_ref()
        .is_some_and(|d| d.nodes.is_empty())
        && !lists_nodes(text)
    {
        case.problems.push(CaseProblem::new(
            NODES_PATH,
            "the dependency map has no `nodes` list: who depends on it is unknown",
        ));
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

/// serde's message, " at line L column C" replaced by the column (the
/// caller gives the line).
fn syntax_message(e: &serde_json::Error) -> String {
    let what = e.to_string();
    match what.rfind(" at line ") {
        Some(pos) => format!("{} (column {})", &what[..pos], e.column()),
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
    // true is unknown, so the kept one carries a problem.
    for case in &mut report.cases {
        if let Some(places) = dropped.get(&case.id) {
            case.problems.push(CaseProblem::with_value(
                "id",
                &case.id,
                format!(
                    "is also defined at {}; later copies ignored",
                    places.join(", ")
                ),
            ));
        }
    }
}
