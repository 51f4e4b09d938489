//! CODEOWNERS files, GitHub and GitLab syntax:
//! <https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners>,
//! <https://docs.gitlab.com/user/project/codeowners/reference/>.
//!
//! Each line is `pattern owner…`; the **last** matching rule wins (GitLab:
//! within each `[Section]`, every section applying on its own); a rule
//! without owners means "no owner" (in a GitLab section with default
//! owners, the defaults). Patterns follow gitignore rules as GitHub
//! documents them, matched with `globset` (`*` never crosses `/`): a
//! leading `/` anchors at the repository root; a pattern with no `/` but a
//! trailing one matches at any depth; a trailing `/` matches everything
//! under a directory; `dir/*` matches direct children only; a pattern whose
//! last part has no wildcard also matches everything under it. GitHub
//! rejects `!` negation and `[ ]` ranges: such a line is a problem and is
//! skipped. GitLab's `\ ` and `\#` escapes are read.
//!
//! Where a file applies: `CODEOWNERS`, `.github/CODEOWNERS`,
//! `docs/CODEOWNERS` or `.gitlab/CODEOWNERS` directly in the context
//! directory apply to every repository; the same under `OWNER/REPO/` (any
//! depth of groups, at least two parts) only to occurrences whose
//! `repository` is that path or ends with `/OWNER/REPO` (case-insensitive;
//! a URL's scheme and host and a trailing `.git` are ignored). A
//! repository's own file replaces the top-level one. Of several files for
//! one place, the first in GitHub's order (`.github/`, root, `docs/`, then
//! `.gitlab/`) is used.

use std::collections::HashMap;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::codeowners_syntax::{globs_of, normalize_path, normalize_repo, section_header, tokens};
use super::{FileRef, Problems};
use crate::model::{Case, Owner, OwnerBasis};

/// GitHub ignores a CODEOWNERS file over 3 MB; so do we.
pub const MAX_BYTES: u64 = 3 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Rule {
    section: usize,
    owners: Vec<String>,
}

#[derive(Debug, Clone)]
struct File {
    path: std::path::PathBuf,
    rel: String,
    /// Lower-case `owner/repo…`; empty: every repository.
    scope: String,
    /// 0 `.github/`, 1 root, 2 `docs/`, 3 `.gitlab/`.
    priority: u8,
    rules: Vec<Rule>,
    /// Glob index → rule index.
    glob_rule: Vec<usize>,
    set: GlobSet,
}

/// Every CODEOWNERS file read, by the repositories it applies to.
#[derive(Debug, Clone, Default)]
pub(super) struct Codeowners {
    files: Vec<File>,
}

/// One occurrence's owner by one rule.
struct Vote<'a> {
    team: String,
    file: &'a File,
    rule: &'a Rule,
    path: String,
}

impl Codeowners {
    pub(super) fn is_empty(&self) -> bool {
        self.files.iter().all(|f| f.rules.is_empty())
    }

    /// Reads one CODEOWNERS file; bad lines are problems and skipped.
    pub(super) fn add_file(&mut self, file: &FileRef, text: &str, problems: &mut Problems) {
        let mut parts: Vec<&str> = file.rel.split('/').collect();
        parts.pop();
        let priority = match parts.last() {
            Some(&".github") => 0,
            Some(&"docs") => 2,
            Some(&".gitlab") => 3,
            _ => 1,
        };
        if priority != 1 {
            parts.pop();
        }
        if parts.len() == 1 {
            problems.push(
                &file.path,
                0,
                "a CODEOWNERS file goes directly in the context directory (every repository) or under OWNER/REPO/ (that repository); ignored",
            );
            return;
        }
        let scope = parts.join("/").to_lowercase();
        let mut rules = Vec::new();
        let mut builder = GlobSetBuilder::new();
        let mut glob_rule = Vec::new();
        let mut sections: HashMap<String, usize> = HashMap::from([(String::new(), 0)]);
        let mut section = 0;
        let mut defaults: Vec<String> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut bad = |m: &str| problems.push(&file.path, line_no, m.to_string());
            if line.starts_with('[') || line.starts_with("^[") {
                match section_header(line) {
                    Some((name, owners)) => {
                        let next = sections.len();
                        section = *sections.entry(name.to_lowercase()).or_insert(next);
                        defaults = owners;
                    }
                    None => bad(
                        "not a section header ([Name], ^[Name] or [Name][N], then optional owners), and `[ ]` patterns are not supported; line ignored",
                    ),
                }
                continue;
            }
            let tokens = tokens(line);
            let Some((pattern, owners)) = tokens.split_first() else {
                continue;
            };
            if pattern.starts_with('!') {
                bad(
                    "`!` negation is not supported in CODEOWNERS (GitHub rejects the line); line ignored",
                );
                continue;
            }
            if pattern.contains(['[', ']']) {
                bad(
                    "`[ ]` character ranges are not supported in CODEOWNERS (GitHub rejects the line); line ignored",
                );
                continue;
            }
            let mut kept = Vec::new();
            for owner in owners {
                if (owner.starts_with('@') && owner.len() > 1) || owner.contains('@') {
                    kept.push(owner.clone());
                } else {
                    bad(&format!(
                        "owner {} is not @user, @org/team or an email; ignored",
                        crate::text::quoted(owner)
                    ));
                }
            }
            if owners.is_empty() {
                kept = defaults.clone();
            }
            let globs = globs_of(pattern);
            let mut built = Vec::new();
            for g in &globs {
                match GlobBuilder::new(g)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                {
                    Ok(glob) => built.push(glob),
                    Err(e) => {
                        bad(&format!(
                            "pattern {} cannot be read ({e}); line ignored",
                            crate::text::quoted(pattern)
                        ));
                        built.clear();
                        break;
                    }
                }
            }
            if built.is_empty() {
                continue;
            }
            for glob in built {
                builder.add(glob);
                glob_rule.push(rules.len());
            }
            rules.push(Rule {
                section,
                owners: kept,
            });
        }
        let set = match builder.build() {
            Ok(set) => set,
            Err(e) => {
                problems.push(
                    &file.path,
                    0,
                    format!("patterns cannot be compiled ({e}); file ignored"),
                );
                return;
            }
        };
        self.files.push(File {
            path: file.path.clone(),
            rel: file.rel.clone(),
            scope,
            priority,
            rules,
            glob_rule,
            set,
        });
    }

    /// Keeps one file per place (the first in GitHub's order).
    pub(super) fn finish(&mut self, problems: &mut Problems) {
        self.files
            .sort_by(|a, b| a.scope.cmp(&b.scope).then(a.priority.cmp(&b.priority)));
        let mut kept: Vec<File> = Vec::new();
        for f in std::mem::take(&mut self.files) {
            if let Some(used) = kept.iter().find(|k| k.scope == f.scope) {
                problems.push(
                    &f.path,
                    0,
                    format!(
                        "ignored: {} is the CODEOWNERS file for this place (read first: .github/, the root, docs/, .gitlab/)",
                        used.rel
                    ),
                );
                continue;
            }
            kept.push(f);
        }
        self.files = kept;
    }

    /// The inferred owner of a leaked secret by the paths it was found at:
    /// the team most of its occurrences' winning rules name (ties: the
    /// first), and one owner per other team named (for the disagreements).
    /// `None` when the case is not a leaked secret or no rule with owners
    /// matches. Each distinct (repository, path) counts once.
    pub(super) fn owners(&self, case: &Case) -> Option<(Owner, Vec<Owner>)> {
        if case.finding.as_ref().map(|f| f.kind.as_str()) != Some("leaked_secret") {
            return None;
        }
        let mut votes: Vec<Vote> = Vec::new();
        let mut seen: Vec<(Option<String>, String)> = Vec::new();
        for occ in &case.occurrences {
            let Some(path) = occ.path.as_deref().map(normalize_path) else {
                continue;
            };
            let repo = occ.repository.as_deref().map(normalize_repo);
            if path.is_empty() || seen.contains(&(repo.clone(), path.clone())) {
                continue;
            }
            seen.push((repo.clone(), path.clone()));
            let Some(file) = self.file_for(repo.as_deref()) else {
                continue;
            };
            for rule in file.winners(&path) {
                if let Some(first) = rule.owners.first() {
                    votes.push(Vote {
                        team: first.trim_start_matches('@').to_string(),
                        file,
                        rule,
                        path: path.clone(),
                    });
                }
            }
        }
        let mut teams: Vec<(&str, usize, &Vote)> = Vec::new();
        for v in &votes {
            match teams
                .iter_mut()
                .find(|(t, _, _)| t.eq_ignore_ascii_case(&v.team))
            {
                Some(entry) => entry.1 += 1,
                None => teams.push((&v.team, 1, v)),
            }
        }
        let best = teams
            .iter()
            .enumerate()
            .max_by(|(i, a), (j, b)| a.1.cmp(&b.1).then(j.cmp(i)))?
            .0;
        let owner = |v: &Vote, more: usize| Owner {
            team: Some(v.team.clone()),
            contact: None,
            basis: OwnerBasis::Inferred,
            verified_at: None,
            source: Some(format!(
                "CODEOWNERS ({}), for {}: {}{}",
                v.file.rel,
                v.path,
                v.rule.owners.join(" "),
                if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                }
            )),
        };
        let kept = owner(teams[best].2, teams[best].1 - 1);
        let others = teams
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != best)
            .map(|(_, (_, n, v))| owner(v, n - 1))
            .collect();
        Some((kept, others))
    }

    /// The file for a repository: its own (the longest matching scope),
    /// else the top-level one.
    fn file_for(&self, repo: Option<&str>) -> Option<&File> {
        let own = repo.and_then(|r| {
            self.files
                .iter()
                .filter(|f| {
                    !f.scope.is_empty() && (r == f.scope || r.ends_with(&format!("/{}", f.scope)))
                })
                .max_by_key(|f| f.scope.len())
        });
        own.or_else(|| self.files.iter().find(|f| f.scope.is_empty()))
    }
}

impl File {
    /// The winning rule of each section matching `path`, in section order.
    fn winners(&self, path: &str) -> Vec<&Rule> {
        let mut best: Vec<(usize, usize)> = Vec::new();
        for g in self.set.matches(path) {
            let r = self.glob_rule[g];
            let section = self.rules[r].section;
            match best.iter_mut().find(|(s, _)| *s == section) {
                Some(entry) => entry.1 = entry.1.max(r),
                None => best.push((section, r)),
            }
        }
        best.sort();
        best.into_iter().map(|(_, r)| &self.rules[r]).collect()
    }
}
