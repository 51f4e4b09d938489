//! The formats `import --from` reads.

use std::fmt;
use std::str::FromStr;

/// A detector output format (docs/import.md, one section each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The IAM credential report (CSV).
    AwsCredentialReport,
    /// IAM Access Analyzer unused-access findings (`list-findings-v2`,
    /// `get-finding-v2`, EventBridge events).
    AwsAccessAnalyzer,
    /// trufflehog v3 `--json` lines.
    Trufflehog,
    /// The gitleaks JSON report.
    Gitleaks,
    /// GitHub's REST secret-scanning alerts (a JSON array).
    GithubSecretScanning,
    /// GitGuardian API incidents (with occurrences) and ggshield's JSON.
    Gitguardian,
    /// OCSF 1.x Detection Finding (class 2004).
    Ocsf,
    /// The AWS Security Finding Format.
    Asff,
}

impl Format {
    /// Every format, in the order docs/import.md lists them.
    pub const ALL: [Format; 8] = [
        Format::AwsCredentialReport,
        Format::AwsAccessAnalyzer,
        Format::Trufflehog,
        Format::Gitleaks,
        Format::GithubSecretScanning,
        Format::Gitguardian,
        Format::Ocsf,
        Format::Asff,
    ];

    /// The name `--from` takes: `aws-credential-report`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Format::AwsCredentialReport => "aws-credential-report",
            Format::AwsAccessAnalyzer => "aws-access-analyzer",
            Format::Trufflehog => "trufflehog",
            Format::Gitleaks => "gitleaks",
            Format::GithubSecretScanning => "github-secret-scanning",
            Format::Gitguardian => "gitguardian",
            Format::Ocsf => "ocsf",
            Format::Asff => "asff",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;

    /// # Errors
    /// A name that is none of [`Format::ALL`]; the message lists them.
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                format!("unknown format {s:?}; one of: {}", names.join(", "))
            })
    }
}
