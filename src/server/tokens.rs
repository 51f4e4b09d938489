//! The tokens file: reviewer names and the SHA-256 of their tokens. Plain
//! tokens are printed once, when made, and never stored.
//!
//! ```toml
//! [tokens]
//! alice = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! ```
//!
//! The server re-reads the file when it changes, so a revoked token stops
//! working at once; a file it cannot read or parse denies everyone (fail
//! closed) until it is fixed.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil::{self, Access};

/// Why the tokens file or a token command failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file cannot be read, parsed, locked or written.
    #[error("tokens file {path}: {message}")]
    File {
        /// The tokens file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A name or request that cannot be honoured (bad name, a second token
    /// for one person, no such token).
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFileContents {
    #[serde(default)]
    tokens: BTreeMap<String, String>,
}

/// The SHA-256 of a token, as 64 lower-case hex digits (what the file keeps).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn file_error(path: &Path, message: impl ToString) -> TokenError {
    TokenError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read(path: &Path) -> Result<TokenFileContents, TokenError> {
    if !path.exists() {
        return Ok(TokenFileContents::default());
    }
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    let contents: TokenFileContents =
        toml::from_str(&text).map_err(|e| file_error(path, e.to_string().trim_end()))?;
    // Keys of the normalised names seen so far: two entries for one person
    // (`alice` and `Alice`) would let them pass separation of duties.
    let mut people = BTreeMap::new();
    for (name, hash) in &contents.tokens {
        if let Err(e) = crate::model::validate_name(name) {
            return Err(file_error(path, e));
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(file_error(
                path,
                format!(
                    "the hash for {:?} is not 64 hex digits",
                    crate::text::sanitize(name)
                ),
            ));
        }
        if let Some(other) = people.insert(crate::model::identity_key(name), name) {
            return Err(file_error(
                path,
                format!(
                    "{} and {} are the same reviewer (names are compared without case and look-alike characters); keep one",
                    crate::text::quoted(other),
                    crate::text::quoted(name)
                ),
            ));
        }
    }
    Ok(contents)
}

/// Writes the file atomically with mode 0600 ([`crate::fsutil::write_atomic`]:
/// a fresh exclusive temporary file, fsync, rename, fsync of the directory).
fn write(path: &Path, contents: &TokenFileContents) -> Result<(), TokenError> {
    let text = format!(
        "# nhi-triage API tokens: reviewer = SHA-256 of the token (hex).\n\
         # Plain tokens are never stored. Manage with `nhi-triage token add|revoke|list`.\n{}",
        toml::to_string(contents).map_err(|e| file_error(path, e))?
    );
    fsutil::write_atomic(path, text.as_bytes(), Access::Private).map_err(|e| file_error(path, e))
}

/// Holds `tokens.toml.lock` for a read-modify-write of the tokens file, so
/// that two `token add` at once both land.
fn lock(path: &Path) -> Result<fsutil::FileLock, TokenError> {
    fsutil::lock_beside(path).map_err(|e| file_error(path, e))
}

fn valid_name(name: &str) -> bool {
    crate::model::validate_name(name).is_ok()
        && (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// Creates a token for `name`; returns it (the only time it exists in plain).
pub fn add(path: &Path, name: &str) -> Result<String, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::Invalid(format!(
            "reviewer name {}: use 1 to 64 letters, digits, '.', '_', '-' or '@'",
            crate::text::quoted(name)
        )));
    }
    let _lock = lock(path)?;
    let mut contents = read(path)?;
    if let Some(other) = contents
        .tokens
        .keys()
        .find(|other| crate::model::same_reviewer(other, name) && other.as_str() != name)
    {
        return Err(TokenError::Invalid(format!(
            "{name} is the same reviewer as {other}, who already has a token (names are compared \
             without case and look-alike characters): one person, one name"
        )));
    }
    if contents.tokens.contains_key(name) {
        return Err(TokenError::Invalid(format!(
            "{name} already has a token; revoke it first (`nhi-triage token revoke {name} --tokens {}`)",
            path.display()
        )));
    }
    let secret: [u8; 32] = rand::random();
    let token = format!("nhi_{}", hex::encode(secret));
    contents.tokens.insert(name.to_string(), hash_token(&token));
    write(path, &contents)?;
    Ok(token)
}

/// Removes `name`'s token (under the same lock as [`add`]).
pub fn revoke(path: &Path, name: &str) -> Result<(), TokenError> {
    let _lock = lock(path)?;
    let mut contents = read(path)?;
    if contents.tokens.remove(name).is_none() {
        return Err(TokenError::Invalid(format!(
            "{} has no token",
            crate::text::sanitize(name)
        )));
    }
    write(path, &contents)
}

/// The names holding a token, sorted.
pub fn list(path: &Path) -> Result<Vec<String>, TokenError> {
    Ok(read(path)?.tokens.into_keys().collect())
}

/// The server's view of the tokens file, re-read when it changes.
pub struct Tokens {
    path: PathBuf,
    cache: Mutex<Cached>,
}

struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    /// hash → reviewer name; `None` when the file is unusable (deny all).
    by_hash: Option<BTreeMap<String, String>>,
}

impl Tokens {
    /// Loads the file; an unusable file at start-up is an error.
    pub fn open(path: &Path) -> Result<Self, TokenError> {
        let contents = read(path)?;
        let shown = crate::text::sanitize(&path.display().to_string()).into_owned();
        if contents.tokens.is_empty() {
            tracing::warn!(path = %shown, "no tokens: every request will be refused");
        }
        let meta = std::fs::metadata(path).ok();
        if let Some(warning) = meta.as_ref().and_then(|m| exposure_warning(&shown, m)) {
            tracing::warn!("{warning}");
        }
        Ok(Tokens {
            path: path.to_path_buf(),
            cache: Mutex::new(Cached {
                modified: meta.as_ref().and_then(|m| m.modified().ok()),
                len: meta.map_or(0, |m| m.len()),
                by_hash: Some(invert(contents)),
            }),
        })
    }

    /// The reviewer a bearer token belongs to.
    pub fn reviewer(&self, token: &str) -> Option<String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let meta = std::fs::metadata(&self.path).ok();
        let modified = meta.as_ref().and_then(|m| m.modified().ok());
        let len = meta.map_or(0, |m| m.len());
        if modified != cache.modified || len != cache.len {
            cache.modified = modified;
            cache.len = len;
            cache.by_hash = match read(&self.path) {
                Ok(contents) => Some(invert(contents)),
                Err(e) => {
                    tracing::error!("{e}: refusing every token until it is fixed");
                    None
                }
            };
        }
        cache.by_hash.as_ref()?.get(&hash_token(token)).cloned()
    }
}

/// A warning when group or others may read or write the tokens file
/// (`token add` writes it 0600): anyone who can write it can give themselves
/// a token, anyone who can read it learns who holds one. `shown` is the
/// path, already sanitised.
pub fn exposure_warning(shown: &str, meta: &std::fs::Metadata) -> Option<String> {
    let mode = meta.permissions().mode() & 0o777;
    let what = match (mode & 0o044 != 0, mode & 0o022 != 0) {
        (false, false) => return None,
        (true, false) => "readable",
        (false, true) => "writable",
        (true, true) => "readable and writable",
    };
    Some(format!(
        "tokens file {shown} is {what} by group or others (mode {mode:03o}); run `chmod 600 {shown}`"
    ))
}

fn invert(contents: TokenFileContents) -> BTreeMap<String, String> {
    contents
        .tokens
        .into_iter()
        .map(|(name, hash)| (hash.to_ascii_lowercase(), name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_verify_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let token = add(&path, "alice").unwrap();
        assert!(token.starts_with("nhi_") && token.len() == 68);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&token),
            "the plain token must never be stored"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let tokens = Tokens::open(&path).unwrap();
        assert_eq!(tokens.reviewer(&token).as_deref(), Some("alice"));
        assert_eq!(tokens.reviewer("nhi_wrong"), None);
        assert!(add(&path, "alice").is_err());
        assert!(add(&path, "bad name").is_err());
        let err = add(&path, "ALICE").unwrap_err().to_string();
        assert!(err.contains("same reviewer"), "{err}");
        revoke(&path, "alice").unwrap();
        // A later write, even in the same second, changes the length.
        assert_eq!(tokens.reviewer(&token), None);
        assert_eq!(list(&path).unwrap(), Vec::<String>::new());
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn a_hand_edited_file_with_hidden_or_duplicate_names_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let hash = hash_token("nhi_x");
        for (names, needle) in [
            (vec!["alice "], "whitespace"),
            (vec!["ali\\u200Bce"], "U+200B"),
            (vec!["alice", "Alice"], "same reviewer"),
        ] {
            let body: String = names
                .iter()
                .map(|n| format!("\"{n}\" = \"{hash}\"\n"))
                .collect();
            std::fs::write(&path, format!("[tokens]\n{body}")).unwrap();
            let err = Tokens::open(&path).err().expect("refused").to_string();
            assert!(err.contains(needle), "{names:?}: {err}");
        }
    }
}
