//! The config file (`config.toml` in the XDG config directory) and logging.

use anyhow::{Context, Result};
use nhi_triage::tui::theme::Theme;
use serde::Deserialize;

use super::context::paths;

/// Settings a reviewer keeps between sessions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// dark, light, high-contrast, mono or a .toml path.
    pub theme: Option<String>,
    /// The reviewer name recorded in evidence (instead of `$USER`);
    /// `--reviewer` wins. Validated like every reviewer name.
    pub reviewer: Option<String>,
    /// A file holding the API token for `--api` (mode 600; `~/` and paths
    /// relative to the config file's directory work). NHI_TRIAGE_TOKEN wins.
    pub token_file: Option<std::path::PathBuf>,
    /// Extra trusted root certificates (PEM) for `--api`, for a server whose
    /// certificate comes from a private CA.
    pub ca_file: Option<std::path::PathBuf>,
    /// A PostgreSQL store used when no other store is chosen
    /// (`postgres://USER[:PASSWORD]@HOST:PORT/DB`); keep the file mode 600
    /// when it holds a password. `--database` and NHI_TRIAGE_DATABASE_URL win.
    pub database_url: Option<String>,
}

/// Reads the config file; absent, the defaults (every setting `None`).
///
/// # Errors
/// No home directory; the file unreadable, not TOML, or with a key this
/// version does not know.
pub fn load() -> Result<Config> {
    let path = paths()?.config_file;
    if !path.exists() {
        return Ok(Config::default());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

/// `--theme` wins, then `NO_COLOR` (mono), then the config file, then dark.
pub fn theme(flag: Option<&str>, config: &Config) -> Result<Theme> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let name = match (flag, no_color, config.theme.as_deref()) {
        (Some(name), _, _) => name,
        (None, true, _) => "mono",
        (None, false, Some(name)) => name,
        (None, false, None) => "dark",
    };
    Ok(Theme::load(name)?)
}

/// Logs go to a file under the XDG state directory, never to the screen,
/// each line sanitised like every other output (`nhi_triage::text`: a case
/// id with an escape sequence is logged as `\x1b[...`, so `tail -f` on the
/// log cannot drive the terminal). Returns a guard that flushes the log
/// when dropped.
pub fn start_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = paths().ok()?.log_dir;
    std::fs::create_dir_all(&dir).ok()?;
    let file = tracing_appender::rolling::never(&dir, "nhi-triage.log");
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("NHI_TRIAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(move || nhi_triage::text::SafeWriter::new(writer.clone()))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
