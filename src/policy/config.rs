//! The policy file: every threshold the readiness check uses, with safe
//! defaults. Unknown keys are refused, so a misspelt threshold can never fall
//! back silently to a default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The decision thresholds, from `STORE/policy.toml` (docs/policy.md, *policy.toml*): every key
/// optional with the safe defaults of [`Policy::default`], unknown keys refused, every number
/// bounded (`bounds`). Its version and SHA-256 go into every evidence record
/// ([`Policy::reference`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Free text naming this policy revision; recorded in every evidence record.
    pub version: String,
    /// Q1: the dependency map's `verified_at` may be at most this many days
    /// old (0 … 3650; default 7).
    pub dependency_map_max_age_days: u32,
    /// Q1: the owner's `verified_at` may be at most this many days old (0 … 3650; default 90).
    pub owner_verified_max_age_days: u32,
    /// Q3: `action.rollback.tested_at` may be at most this many days old (0 … 3650; default 30).
    pub rollback_tested_max_age_days: u32,
    /// Q3: `action.rollback.restore_minutes` may be at most this, in minutes
    /// (0 … 10080; default 30).
    pub max_restore_minutes: u32,
    /// Usage check: a last use more than this many days ago counts as unused
    /// (1 … 3650; default 90).
    pub unused_after_days: u32,
    /// Quarantine length in hours when none is asked for (1 … `quarantine_max_hours`; default 72).
    pub quarantine_default_hours: u32,
    /// Longest quarantine, in hours, a decision may ask for (1 … 8784; default 720).
    pub quarantine_max_hours: u32,
    /// Fewest visible characters (grapheme clusters) a justification needs
    /// (1 … 10000; default 20).
    pub justification_min_chars: u32,
    /// Whether a refused approve or revoke may go through with `--override` (default `false`).
    /// Separation of duties is never overridable.
    pub allow_break_glass: bool,
    /// Fewest visible characters an override's justification needs
    /// (`justification_min_chars` … 10000; default 80).
    pub break_glass_min_chars: u32,
    /// Where an escalation goes when the case has no known owner team.
    pub default_escalation_team: String,
    /// A quarantine must have run this long, with no use seen, before the
    /// identity may be revoked (the seed's "full revocation follows only if
    /// no legitimate dependency appears").
    pub quarantine_min_observation_hours: u32,
    /// On a local store, separation of duties also needs a different OS
    /// account. `true` accepts a shared account (a demo, a shared bastion
    /// login): the evidence record then says `shared_os_account: true`.
    pub allow_shared_os_accounts: bool,
}

/// Upper bounds for the policy's numbers, so a typo cannot make a quarantine
/// run for centuries or overflow a time calculation.
pub mod bounds {
    /// Ten years, for every age in days.
    pub const MAX_AGE_DAYS: u32 = 3650;
    /// A year (366 days), for every duration in hours.
    pub const MAX_HOURS: u32 = 366 * 24;
    /// A week, for the restore time limit.
    pub const MAX_RESTORE_MINUTES: u32 = 7 * 24 * 60;
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
            quarantine_min_observation_hours: 24,
            allow_shared_os_accounts: false,
        }
    }
}

/// Why a policy file was refused. A bad policy never falls back to the defaults.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not TOML, a value of the wrong type, or an unknown key (a misspelt
    /// threshold).
    #[error("policy file {path}: {message}")]
    Parse {
        /// The policy file.
        path: PathBuf,
        /// The TOML parser's message, naming the key and position.
        message: String,
    },
    /// A value out of its bounds, or inconsistent with another key (docs/policy.md, *policy.toml*).
    #[error("policy file {path}: `{field}` {message}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// The offending key, e.g. `quarantine_default_hours`.
        field: &'static str,
        /// What is wrong, with the allowed range where there is one.
        message: String,
    },
}

/// The policy's identity as recorded in evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    /// The policy's `version` text.
    pub version: String,
    /// SHA-256 (lowercase hex) of the effective policy as TOML ([`Policy::to_toml`]).
    pub sha256: String,
}

impl Policy {
    /// Reads and validates the policy file at `path`. Errors:
    /// [`PolicyError::Read`] when it cannot be read, [`PolicyError::Parse`]
    /// for bad TOML or an unknown key, [`PolicyError::Invalid`] for a value
    /// out of bounds or inconsistent with another.
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
        use super::lifecycle::MAX_JUSTIFICATION_CHARS;
        use bounds::*;
        let invalid = |field, message: String| {
            Err(PolicyError::Invalid {
                path: path.to_path_buf(),
                field,
                message,
            })
        };
        let max_chars = MAX_JUSTIFICATION_CHARS as u32;
        let ranges: [(&'static str, u32, u32, u32, &str); 9] = [
            (
                "dependency_map_max_age_days",
                self.dependency_map_max_age_days,
                0,
                MAX_AGE_DAYS,
                "days",
            ),
            (
                "owner_verified_max_age_days",
                self.owner_verified_max_age_days,
                0,
                MAX_AGE_DAYS,
                "days",
            ),
            (
                "rollback_tested_max_age_days",
                self.rollback_tested_max_age_days,
                0,
                MAX_AGE_DAYS,
                "days",
            ),
            (
                "unused_after_days",
                self.unused_after_days,
                1,
                MAX_AGE_DAYS,
                "days",
            ),
            (
                "max_restore_minutes",
                self.max_restore_minutes,
                0,
                MAX_RESTORE_MINUTES,
                "minutes",
            ),
            (
                "quarantine_max_hours",
                self.quarantine_max_hours,
                1,
                MAX_HOURS,
                "hours",
            ),
            (
                "quarantine_min_observation_hours",
                self.quarantine_min_observation_hours,
                0,
                MAX_HOURS,
                "hours",
            ),
            (
                "justification_min_chars",
                self.justification_min_chars,
                1,
                max_chars,
                "characters",
            ),
            (
                "break_glass_min_chars",
                self.break_glass_min_chars,
                1,
                max_chars,
                "characters",
            ),
        ];
        for (field, value, min, max, unit) in ranges {
            if !(min..=max).contains(&value) {
                return invalid(
                    field,
                    format!("is {value}; it must be between {min} and {max} {unit}"),
                );
            }
        }
        if self.quarantine_default_hours == 0
            || self.quarantine_default_hours > self.quarantine_max_hours
        {
            return invalid(
                "quarantine_default_hours",
                "must be between 1 and quarantine_max_hours".into(),
            );
        }
        if self.quarantine_min_observation_hours > self.quarantine_max_hours {
            return invalid(
                "quarantine_min_observation_hours",
                format!(
                    "is {}, longer than quarantine_max_hours ({}): no quarantine could ever be revoked",
                    self.quarantine_min_observation_hours, self.quarantine_max_hours
                ),
            );
        }
        if self.version.trim().is_empty()
            || self
                .version
                .chars()
                .any(crate::text::is_invisible_or_control)
        {
            return invalid(
                "version",
                "must be visible text (it is recorded in every evidence record)".into(),
            );
        }
        if self.break_glass_min_chars < self.justification_min_chars {
            return invalid(
                "break_glass_min_chars",
                "must be at least justification_min_chars".into(),
            );
        }
        if let Err(e) = crate::model::validate_team(&self.default_escalation_team) {
            return invalid("default_escalation_team", e.reason);
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
