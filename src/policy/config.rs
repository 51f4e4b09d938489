//! The policy file: every threshold the readiness check uses, with safe
//! defaults. Unknown keys are refused, so a misspelt threshold can never fall
//! back silently to a default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Free text naming this policy revision; recorded in every evidence record.
    pub version: String,
    pub dependency_map_max_age_days: u32,
    pub owner_verified_max_age_days: u32,
    pub rollback_tested_max_age_days: u32,
    pub max_restore_minutes: u32,
    pub unused_after_days: u32,
    pub quarantine_default_hours: u32,
    pub quarantine_max_hours: u32,
    pub justification_min_chars: u32,
    pub allow_break_glass: bool,
    pub break_glass_min_chars: u32,
    /// Where an escalation goes when the case has no owner team.
    pub default_escalation_team: String,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: "default-1".into(),
            dependency_map_max_age_days: 7,
            owner_verified_max_age_days: 90,
            rollback_tested_max_age_days: 30,
            max_restore_minutes: 30,
            unused_after_days: 90,
            quarantine_default_hours: 72,
            quarantine_max_hours: 720,
            justification_min_chars: 20,
            allow_break_glass: false,
            break_glass_min_chars: 80,
            default_escalation_team: "security-review".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("policy file {path}: `{field}` {message}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        message: String,
    },
}

/// The policy's identity as recorded in evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub version: String,
    pub sha256: String,
}

impl Policy {
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates TOML; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        policy.validate(path)?;
        Ok(policy)
    }

    fn validate(&self, path: &Path) -> Result<(), PolicyError> {
        let invalid = |field, message: &str| {
            Err(PolicyError::Invalid {
                path: path.to_path_buf(),
                field,
                message: message.to_string(),
            })
        };
        if self.quarantine_max_hours == 0 {
            return invalid("quarantine_max_hours", "must be at least 1");
        }
        if self.quarantine_default_hours == 0
            || self.quarantine_default_hours > self.quarantine_max_hours
        {
            return invalid(
                "quarantine_default_hours",
                "must be between 1 and quarantine_max_hours",
            );
        }
        if self.justification_min_chars == 0 {
            return invalid(
                "justification_min_chars",
                "must be at least 1: every decision needs a reason",
            );
        }
        if self.break_glass_min_chars < self.justification_min_chars {
            return invalid(
                "break_glass_min_chars",
                "must be at least justification_min_chars",
            );
        }
        if self.default_escalation_team.trim().is_empty() {
            return invalid("default_escalation_team", "must not be empty");
        }
        Ok(())
    }

    /// The effective policy as TOML (defaults written out).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Version and SHA-256 of the effective policy, so a record shows exactly
    /// which thresholds it was decided under.
    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            version: self.version.clone(),
            sha256: hex::encode(Sha256::digest(self.to_toml().as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_safe_defaults() {
        let p = Policy::from_toml("", Path::new("p.toml")).unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.dependency_map_max_age_days, 7);
        assert!(!p.allow_break_glass);
    }

    #[test]
    fn a_misspelt_key_is_refused_with_its_name() {
        let err = Policy::from_toml("max_restore_minute = 5\n", Path::new("p.toml")).unwrap_err();
        assert!(err.to_string().contains("max_restore_minute"), "{err}");
        assert!(err.to_string().contains("p.toml"), "{err}");
    }

    #[test]
    fn inconsistent_quarantine_bounds_are_refused() {
        let err = Policy::from_toml(
            "quarantine_default_hours = 800\nquarantine_max_hours = 720\n",
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("quarantine_default_hours"),
            "{err}"
        );
    }

    #[test]
    fn the_reference_changes_with_any_threshold() {
        let a = Policy::default().reference();
        let b = Policy {
            max_restore_minutes: 31,
            ..Policy::default()
        }
        .reference();
        assert_eq!(a.version, b.version);
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(a.sha256.len(), 64);
    }
}
