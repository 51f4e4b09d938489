//! The CLI commands, one module per command family. Each returns the
//! process exit code on success.

mod browse;
mod console;
mod decide;
mod evidence;
mod importing;
mod info;
mod setup;

use anyhow::Result;

use super::UsageError;
use super::args::Global;

pub use browse::{list, show};
pub use console::console;
pub use decide::decide;
pub use evidence::evidence;
pub use importing::import_findings;
pub use info::info;
pub use setup::{import, init, migrate};

/// `--policy` is for what-if review: a decision under a swapped policy would
/// look like one made under the store's (same version string, looser
/// thresholds). Decisions always use the store's policy.toml.
pub fn refuse_policy_override(global: &Global, what: &str) -> Result<()> {
    if let Some(path) = &global.policy {
        return Err(UsageError(format!(
            "--policy {} cannot be used with {what}: decisions always use the store's own \
             policy.toml; --policy is for what-if review with list and show",
            path.display()
        ))
        .into());
    }
    Ok(())
}
