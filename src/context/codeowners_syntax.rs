//! The line syntax of CODEOWNERS files (see [`super::codeowners`]): tokens
//! with GitLab's escapes, GitLab section headers, the translation of a
//! pattern to globs, and how paths and repositories are compared.

/// `[Name]`, `^[Name]`, `[Name][2]`, each optionally followed by default
/// owners: the name and the owners.
pub(super) fn section_header(line: &str) -> Option<(String, Vec<String>)> {
    let rest = line.strip_prefix('^').unwrap_or(line).strip_prefix('[')?;
    let (name, mut rest) = rest.split_once(']')?;
    if name.trim().is_empty() {
        return None;
    }
    if let Some(r) = rest.strip_prefix('[') {
        let (n, r) = r.split_once(']')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest = r;
    }
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let owners = tokens(rest);
    if owners.iter().any(|o| !o.contains('@')) {
        return None;
    }
    Some((name.trim().to_string(), owners))
}

/// The whitespace-separated tokens of a line up to an inline `#` comment;
/// `\ ` and `\#` are a literal space and `#`, other escapes are kept for
/// the glob.
pub(super) fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ (' ' | '#')) => cur.push(n),
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            },
            '#' if cur.is_empty() => break,
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The globs a CODEOWNERS pattern stands for (see the module docs).
pub(super) fn globs_of(pattern: &str) -> Vec<String> {
    let anchored = pattern.starts_with('/');
    let dir_only = pattern.ends_with('/');
    let p = pattern.trim_matches('/');
    if p.is_empty() {
        return vec!["**".to_string()];
    }
    let p = p.replace('{', "\\{").replace('}', "\\}");
    let base = if anchored || p.contains('/') || p.starts_with("**") {
        p.clone()
    } else {
        format!("**/{p}")
    };
    let last = p.rsplit('/').next().unwrap_or(&p);
    let mut out = Vec::new();
    if !dir_only {
        out.push(base.clone());
    }
    if dir_only || !last.contains(['*', '?']) {
        out.push(format!("{base}/**"));
    }
    out
}

pub(super) fn normalize_path(p: &str) -> String {
    let p = p.replace('\\', "/");
    let mut p = p.as_str();
    while let Some(rest) = p.strip_prefix("./").or_else(|| p.strip_prefix('/')) {
        p = rest;
    }
    p.to_string()
}

/// `https://github.com/Acme/Billing.git` → `github.com/acme/billing`;
/// `git@github.com:acme/billing` → `github.com/acme/billing`.
pub(super) fn normalize_repo(r: &str) -> String {
    let r = r.trim().to_lowercase();
    let r = match r.split_once("://") {
        Some((_, rest)) => rest.to_string(),
        None => match r.split_once('@') {
            Some((_, rest)) if !rest.contains('/') || rest.contains(':') => {
                rest.replacen(':', "/", 1)
            }
            _ => r.clone(),
        },
    };
    let r = r.trim_end_matches('/');
    r.strip_suffix(".git").unwrap_or(r).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use globset::GlobBuilder;

    fn matches(pattern: &str, path: &str) -> bool {
        globs_of(pattern).iter().any(|g| {
            GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map(|g| g.compile_matcher().is_match(path))
                .unwrap_or(false)
        })
    }

    #[test]
    fn patterns_follow_the_documented_cases() {
        assert!(matches("*", "a/b/c.txt"));
        assert!(matches("*.js", "src/app/x.js"));
        assert!(!matches("*.js", "src/app/x.jsx"));
        assert!(matches("/build/logs/", "build/logs/a/b.log"));
        assert!(!matches("/build/logs/", "x/build/logs/b.log"));
        assert!(matches("docs/*", "docs/getting-started.md"));
        assert!(!matches("docs/*", "docs/build-app/troubleshooting.md"));
        assert!(matches("apps/", "apps/x.rb"));
        assert!(matches("apps/", "deep/apps/x.rb"));
        assert!(!matches("apps/", "apps"));
        assert!(matches("/docs/", "docs/a/b.md"));
        assert!(!matches("/docs/", "x/docs/a.md"));
        assert!(matches("**/logs", "deeply/nested/logs/a.log"));
        assert!(matches("config/prod.env", "config/prod.env"));
        assert!(!matches("config/prod.env", "x/config/prod.env"));
        assert!(matches("secrets", "a/secrets/x"));
        let escaped = tokens("my\\ file.txt @x");
        assert!(matches(&escaped[0], "a/my file.txt"));
    }

    #[test]
    fn tokens_read_escapes_and_comments() {
        assert_eq!(tokens("a\\ b @x # c"), vec!["a b", "@x"]);
        assert_eq!(tokens("\\#x @y"), vec!["#x", "@y"]);
    }

    #[test]
    fn section_headers() {
        assert_eq!(section_header("[Docs]"), Some(("Docs".into(), vec![])));
        assert_eq!(
            section_header("^[Docs][2] @a @b"),
            Some(("Docs".into(), vec!["@a".into(), "@b".into()]))
        );
        assert_eq!(section_header("[abc]*.rs @x"), None);
    }

    #[test]
    fn repositories_normalise() {
        assert_eq!(
            normalize_repo("https://github.com/Acme/Billing.git"),
            "github.com/acme/billing"
        );
        assert_eq!(
            normalize_repo("git@github.com:acme/billing.git"),
            "github.com/acme/billing"
        );
        assert_eq!(normalize_repo("acme/billing"), "acme/billing");
    }
}
