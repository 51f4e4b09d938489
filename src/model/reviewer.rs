//! Who decided: the reviewer's name, where from, and (on a local store) the
//! operating-system account that ran the command.
//!
//! Separation of duties compares people, not spellings: `alice`, `Alice`,
//! `ＡＬＩＣＥ` and a Cyrillic `аlice` are one person. Names are compared in a
//! normalised form ([`identity_key`]) and names that could hide a difference
//! (control, format or bidi characters, surrounding spaces) are refused
//! outright ([`validate_name`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Who decided, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewer {
    pub name: String,
    pub host: String,
    /// `ssh`, `local` or `api`.
    pub via: String,
    /// The OS account that ran the command, from the process's uid (never
    /// from `$USER`). Recorded on local stores; `None` through the API, where
    /// the token names the reviewer.
    #[serde(default)]
    pub os_account: Option<OsAccount>,
}

/// An operating-system account: uid and its login name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsAccount {
    pub uid: u32,
    /// From the password database; `uid-N` when the uid has no entry.
    pub name: String,
}

impl fmt::Display for Reviewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} via {}", self.name, self.host, self.via)
    }
}

impl fmt::Display for OsAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (uid {})", self.name, self.uid)
    }
}

/// Longest reviewer name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a reviewer name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reviewer name {shown}: {reason}")]
pub struct NameError {
    /// The name with invisible characters made visible.
    pub shown: String,
    pub reason: String,
}

/// Refuses names that could make two people look like one or one person look
/// like two: empty, longer than [`MAX_NAME_CHARS`], leading or trailing
/// whitespace, or any control (Cc), format (Cf, e.g. U+200B) or bidi
/// character. Used for `--reviewer`, `$USER`, the config file and API tokens.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    let refuse = |reason: String| {
        Err(NameError {
            shown: format!("{:?}", crate::text::sanitize(name)),
            reason,
        })
    };
    if name.trim().is_empty() {
        return refuse("must not be empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return refuse(format!("longer than {MAX_NAME_CHARS} characters"));
    }
    if name.trim() != name {
        return refuse("leading or trailing whitespace".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| crate::text::is_invisible_or_control(c))
    {
        return refuse(format!(
            "contains U+{:04X}, a control, format or bidi character",
            c as u32
        ));
    }
    Ok(())
}

/// The forms two names are compared in. Two names are the same reviewer
/// when either form matches:
/// 1. NFKC, Unicode default case folding, then the UTS #39 confusable
///    skeleton (`Alice`, `ALICE`, `ａｌｉｃｅ`, Cyrillic `аlice`);
/// 2. NFKC, the skeleton, then case folding — skeletons are case-sensitive
///    (a capital `I` looks like `l`, so `aIice` is `alice`), and folding
///    first would hide that.
///
/// Whitespace in a skeleton is trimmed and collapsed, since the skeleton may
/// map a blank-looking character to a space.
pub fn identity_keys(name: &str) -> [String; 2] {
    let nfkc: String = name.nfkc().collect();
    let folded_first = skeleton(&caseless::default_case_fold_str(&nfkc));
    let skeleton_first = caseless::default_case_fold_str(&skeleton(&nfkc));
    [folded_first, skeleton_first]
}

/// The first of [`identity_keys`], for indexing (lists of names, files).
pub fn identity_key(name: &str) -> String {
    let [key, _] = identity_keys(name);
    key
}

fn skeleton(s: &str) -> String {
    let raw: String = unicode_security::skeleton(s).collect();
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True when `a` and `b` name the same reviewer ([`identity_keys`]).
pub fn same_reviewer(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (x, y) = (identity_keys(a), identity_keys(b));
    x[0] == y[0] || x[1] == y[1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_share_a_key() {
        for alias in [
            "Alice",
            "ALICE",
            "ａｌｉｃｅ",
            "\u{0430}lice",
            " alice ",
            "aIice",
        ] {
            assert!(same_reviewer("alice", alias), "{alias:?}");
        }
        assert!(!same_reviewer("alice", "bob"));
        assert!(!same_reviewer("alice", "alicia"));
    }

    #[test]
    fn hidden_characters_and_padding_are_refused() {
        for bad in [
            "",
            "  ",
            "alice ",
            " alice",
            "alice\u{200b}",
            "al\u{202e}ice",
            "ali\x1bce",
            "alice\n",
            "al\u{00ad}ice",
            "alice\u{2800}",
            "al\u{3164}ice",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "alice",
            "Bob Smith",
            "müller",
            "o'brien",
            "svc-ci@example.com",
        ] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
    }
}
