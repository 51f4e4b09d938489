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
    /// The reviewer's name, checked by [`validate_name`]: `--reviewer`, the
    /// config file, `$USER`/`$LOGNAME` or the OS login; through the API, the
    /// token's name.
    pub name: String,
    /// Where the decision came from: this machine's host name, or through
    /// the API the client's IP address.
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
    /// The numeric user id of the process.
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
    /// Why it is refused, as a phrase (`two spaces in a row`).
    pub reason: String,
}

/// Refuses names that could make two people look like one or one person look
/// like two: empty, longer than [`MAX_NAME_CHARS`], leading or trailing
/// whitespace, two spaces in a row, or any character that is not a letter,
/// mark, number, punctuation or a plain space (so no control, format, bidi,
/// private-use, unassigned or symbol characters, which can be invisible or
/// draw as blank). Used for `--reviewer`, `$USER`, the config file and API
/// token names.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    use icu_properties::CodePointMapData;
    use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
    let allowed = GeneralCategoryGroup::Letter
        .union(GeneralCategoryGroup::Mark)
        .union(GeneralCategoryGroup::Number)
        .union(GeneralCategoryGroup::Punctuation);
    let categories = CodePointMapData::<GeneralCategory>::new();
    check_label(name, MAX_NAME_CHARS, |c| {
        c == ' ' || allowed.contains(categories.get(c))
    })
    .map_err(|e| match e.reason.as_str() {
        r if r.starts_with("contains") => NameError {
            reason: format!(
                "{r}: only letters, marks, digits, punctuation and single spaces \
                 (no control, format, bidi, private-use, unassigned or symbol characters)"
            ),
            ..e
        },
        _ => e,
    })?;
    let refuse = |reason: &str| {
        Err(NameError {
            shown: crate::text::quoted(name),
            reason: reason.into(),
        })
    };
    if name.contains("  ") {
        return refuse("two spaces in a row");
    }
    // Marks, dots or dashes alone name nobody (and compare as nothing).
    if identity_key(name).is_empty() {
        return refuse("needs at least one letter or digit");
    }
    Ok(())
}

/// Refuses a team name (an escalation target) that is empty, padded with
/// whitespace, longer than 128 characters, or holds invisible or control
/// characters. Looser than [`validate_name`]: teams are free text
/// (`payments+billing`), and nobody's separation of duties rests on them.
pub fn validate_team(name: &str) -> Result<(), NameError> {
    check_label(name, 128, |_| true)
}

/// The checks every label shares: not empty, not padded, at most `max`
/// characters, each visible and `allowed`.
fn check_label(name: &str, max: usize, allowed: impl Fn(char) -> bool) -> Result<(), NameError> {
    let refuse = |reason: String| {
        Err(NameError {
            shown: crate::text::quoted(name),
            reason,
        })
    };
    if name.trim().is_empty() {
        return refuse("must not be empty".into());
    }
    if name.trim() != name {
        return refuse("leading or trailing whitespace".into());
    }
    if name.chars().count() > max {
        return refuse(format!("longer than {max} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !allowed(c) || crate::text::is_invisible_or_control(c))
    {
        return refuse(format!("contains U+{:04X}", c as u32));
    }
    Ok(())
}

/// The form two names are compared in, one key per name so that "same
/// reviewer" is transitive:
/// 1. NFKC;
/// 2. the UTS #39 confusable skeleton, Unicode default case folding, twice
///    over and skeleton once more (skeleton first maps capital look-alikes:
///    Greek `ΒΟΒ` is `BOB`; folding between catches `ALICE`; a capital `I`
///    looks like `l`, which the second round sees);
/// 3. only letters and digits kept (no marks, punctuation or spaces:
///    `ali̇ce`, `bob.`, `ann-lee` and `ann lee` are who they look like), and
///    `i` read as `l` (case and look-alikes together make them one letter).
///
/// It errs on the side of "same": `José` and `Jose` are one reviewer here.
pub fn identity_key(name: &str) -> String {
    use icu_properties::CodePointMapData;
    use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
    let fold = |s: &str| caseless::default_case_fold_str(s);
    let nfkc: String = name.nfkc().collect();
    let key = skeleton(&fold(&skeleton(&fold(&skeleton(&nfkc)))));
    let categories = CodePointMapData::<GeneralCategory>::new();
    let kept = GeneralCategoryGroup::Letter.union(GeneralCategoryGroup::Number);
    key.chars()
        .filter(|&c| kept.contains(categories.get(c)))
        .map(|c| if c == 'i' { 'l' } else { c })
        .collect()
}

fn skeleton(s: &str) -> String {
    unicode_security::skeleton(s).collect()
}

/// True when `a` and `b` name the same reviewer ([`identity_key`]).
pub fn same_reviewer(a: &str, b: &str) -> bool {
    a == b || identity_key(a) == identity_key(b)
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
            "ALlCE",
            "ali\u{0307}ce",
            "a1ice",
            "alice.",
            "a-lice",
        ] {
            assert!(same_reviewer("alice", alias), "{alias:?}");
        }
        // Capital look-alikes from other scripts.
        for (a, b) in [
            ("BOB", "\u{392}\u{39f}\u{392}"),
            ("PHP", "\u{420}\u{41d}\u{420}"),
            ("Bob", "\u{392}ob"),
        ] {
            assert!(same_reviewer(a, b), "{a} / {b}");
        }
        assert!(!same_reviewer("alice", "bob"));
        assert!(!same_reviewer("alice", "alicia"));
    }

    #[test]
    fn hidden_characters_and_padding_are_refused() {
        for bad in [
            "\u{301}\u{301}",
            "...",
            "-",
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
            "alice\u{e000}",
            "alice\u{f0000}",
            "alice\u{1d159}",
            "alice\u{0378}",
            "alice  smith",
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
