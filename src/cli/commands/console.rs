//! With no command: the full-screen console.

use anyhow::Result;

use super::refuse_policy_override;
use crate::cli::UsageError;
use crate::cli::args::Global;
use crate::cli::context::reviewer;

/// With no command: the full-screen console on the chosen store.
pub async fn console(global: &Global) -> Result<i32> {
    if global.now.is_some() {
        return Err(UsageError(
            "--now is for list and show; the console runs on the real clock".into(),
        )
        .into());
    }
    refuse_policy_override(global, "the console")?;
    if let Some(why) = nhi_triage::tui::unusable() {
        return Err(UsageError(why).into());
    }
    let config = crate::cli::config::load()?;
    let theme = crate::cli::config::theme(global.theme.as_deref(), &config)?;
    let _log_guard = crate::cli::config::start_logging();
    let store = crate::cli::context::open_store_streaming(global).await?;
    let options = nhi_triage::tui::Options {
        theme,
        reviewer: reviewer(global)?,
    };
    tracing::info!(store = %store.describe(), "console started");
    let ended = nhi_triage::tui::run(store, options).await?;
    Ok(ended.exit_code())
}
