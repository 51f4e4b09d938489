//! Resolving where things are: the store, the policy, the reviewer, the paths.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use directories::ProjectDirs;
use nhi_triage::fsutil::{self, Access};
use nhi_triage::model::{OsAccount, Reviewer};
use nhi_triage::policy::Policy;
use nhi_triage::store::{LocalStore, Store, StoreLayout};
use time::OffsetDateTime;

use super::UsageError;
use super::args::Global;

/// Every path the program uses, for `info` and for opening stores (the
/// type is `info --json`'s `paths`).
pub use nhi_triage::output::Paths;

/// Checks that `path`, named on the command line, is a file that exists:
/// otherwise an error naming it (exit 1), so a missing file is never read
/// as empty input.
pub fn named_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    Ok(())
}

/// Checks that `path`, named on the command line, is a directory that
/// exists (`--context DIR`): otherwise an error naming it (exit 1).
pub fn named_dir(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    Ok(())
}

/// The paths under the XDG directories of the user running the program.
pub fn paths() -> Result<Paths> {
    let dirs = ProjectDirs::from("", "", "nhi-triage").context(
        "cannot find a home directory for the data, config and state paths (is $HOME set?)",
    )?;
    let data_dir = dirs.data_dir().to_path_buf();
    let state_dir = dirs.state_dir().unwrap_or(dirs.data_local_dir());
    let log_dir = state_dir.join("logs");
    Ok(Paths {
        seen_dir: state_dir.join("seen-cases"),
        default_store: data_dir.join("store"),
        demo_store: data_dir.join("demo"),
        config_file: dirs.config_dir().join("config.toml"),
        log_dir,
        data_dir,
    })
}

/// The store directory the global options select.
pub fn store_dir(global: &Global) -> Result<PathBuf> {
    if let Some(dir) = &global.store {
        return Ok(dir.clone());
    }
    let paths = paths()?;
    if global.demo {
        ensure_demo_store(&paths.demo_store)?;
        return Ok(paths.demo_store);
    }
    Ok(paths.default_store)
}

/// The store the global options select: `--api URL` (loaded, its outbox
/// sent) or a local directory.
pub async fn open_store(global: &Global) -> Result<Arc<dyn Store>> {
    if global.api.is_some() {
        return Ok(Arc::new(super::remote::connect(global, false).await?));
    }
    Ok(Arc::new(open_local(global)?))
}

/// As [`open_store`], for the console: a remote queue opens with its first
/// page of cases, the rest arriving in the background.
pub async fn open_store_streaming(global: &Global) -> Result<Arc<dyn Store>> {
    if global.api.is_some() {
        return Ok(Arc::new(super::remote::connect(global, true).await?));
    }
    Ok(Arc::new(open_local(global)?))
}

/// The local store the global options select (never a remote one).
pub fn open_local(global: &Global) -> Result<LocalStore> {
    if let Some(url) = &global.api {
        return Err(super::UsageError(format!(
            "this works on a local store only (--store DIR), not --api {}: run it where the \
             server's store is",
            nhi_triage::text::sanitize(url)
        ))
        .into());
    }
    let policy = match &global.policy {
        Some(path) => Some(Policy::from_file(path)?),
        None => None,
    };
    if let Some(url) = database_url(global)? {
        let ca = database_ca_file()?;
        return Ok(LocalStore::open_database(
            &url,
            (global.cases.as_deref(), global.context.as_deref()),
            policy,
            ca.as_deref(),
        )?);
    }
    if global.cases.is_some() {
        return Err(UsageError(
            "--cases DIR is for a PostgreSQL store (--database URL); a store directory reads its own cases/".into(),
        )
        .into());
    }
    let dir = store_dir(global)?;
    if global.store.is_none() && !global.demo && !dir.exists() {
        bail!(
            "no store at {} (the default store); create it with `nhi-triage init {}`, \
             choose one with --store DIR, or try the demo with --demo",
            dir.display(),
            dir.display()
        );
    }
    if let Some(context) = &global.context {
        named_dir(context)?;
    }
    let store = LocalStore::open_with(&dir, policy, global.context.as_deref())?;
    if let Some(m) = store.migration() {
        super::output::errln!(
            "migrated the file store's evidence log into {}: {} records, chain verified before \
             and after (head {}); the old log is kept as {}",
            store.database(),
            m.records,
            m.head_hash,
            m.kept_as.display()
        );
    }
    Ok(store)
}

/// The PostgreSQL store the options select: `--database`, else
/// `NHI_TRIAGE_DATABASE_URL` (folded into `--database` by
/// `Global::apply_environment`), else the config file's `database_url` when
/// no other store was chosen.
pub fn database_url(global: &Global) -> Result<Option<String>> {
    if let Some(url) = &global.database {
        return Ok(Some(url.clone()));
    }
    if global.store.is_some() || global.demo || global.api.is_some() {
        return Ok(None);
    }
    Ok(super::config::load()?.database_url)
}

/// `init --database URL`: the schema, and the default policy when the
/// database holds none. Returns whether the policy was stored.
pub fn init_database(url: &str) -> Result<bool> {
    let ca = database_ca_file()?;
    Ok(LocalStore::init_database(
        url,
        &Policy::default(),
        ca.as_deref(),
    )?)
}

/// The config file's `ca_file`, resolved: trusted for TLS to the database
/// as for `--api`.
fn database_ca_file() -> Result<Option<PathBuf>> {
    let config_file = paths()?.config_file;
    Ok(super::config::load()?
        .ca_file
        .map(|p| super::remote::resolve(&p, &config_file)))
}

/// A database URL without its password, for messages.
pub fn describe_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => format!(
                "{scheme}://{}@{host}",
                user.split_once(':').map_or(user, |(name, _)| name)
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Seeds the demo store on first use. It is built beside its final place
/// and renamed in, so two first runs at once cannot leave half a store.
fn ensure_demo_store(dir: &Path) -> Result<()> {
    if dir.join("cases").is_dir() {
        return Ok(());
    }
    let parent = dir.parent().context("demo store path has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = parent.join(format!(".demo-seeding-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    seed_demo(&staging, OffsetDateTime::now_utc())?;
    if let Err(e) = std::fs::rename(&staging, dir) {
        let _ = std::fs::remove_dir_all(&staging);
        if !dir.join("cases").is_dir() {
            return Err(e).with_context(|| format!("creating the demo store at {}", dir.display()));
        }
    }
    Ok(())
}

/// Creates a store at `dir` holding the demo cases rebased to `seeded_at`.
pub fn seed_demo(dir: &Path, seeded_at: OffsetDateTime) -> Result<()> {
    let layout = StoreLayout::new(dir);
    layout.init()?;
    // One person tries the demo from one OS account, playing alice and bob:
    // separation of duties then rests on the reviewer names, and every
    // record where that happens says so (`shared_os_account: true`).
    let policy = Policy {
        version: "demo-1".into(),
        allow_shared_os_accounts: true,
        ..Policy::default()
    };
    let text = format!(
        "# nhi-triage demo policy: the defaults, except that one OS account may act\n\
         # as several reviewers (--reviewer alice, --reviewer bob), so the demo can\n\
         # show separation of duties. Records say so: shared_os_account = true.\n\
         # Real stores keep allow_shared_os_accounts = false. See docs/policy.md.\n{}",
        policy.to_toml()
    );
    fsutil::write_atomic(&layout.policy_path(), text.as_bytes(), Access::Shared)
        .with_context(|| format!("writing {}", layout.policy_path().display()))?;
    let cases = nhi_triage::demo::rebased_cases(seeded_at)?;
    let file = layout.cases_dir().join("demo.jsonl");
    fsutil::write_atomic(&file, cases.as_bytes(), Access::Shared)
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

/// The reviewer decisions are recorded under: `--reviewer`, else the config
/// file's `reviewer`, else `$USER`/`$LOGNAME`, else the login name of the
/// process's uid. A name with hidden characters is refused, not cleaned up.
pub fn reviewer(global: &Global) -> Result<Reviewer> {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let account = os_account();
    let configured = super::config::load()?.reviewer;
    let (name, source) = if let Some(n) = &global.reviewer {
        (n.clone(), "--reviewer")
    } else if let Some(n) = configured {
        (n, "the config file's reviewer")
    } else if let Some(n) = std::env::var("USER").ok().filter(|n| !n.is_empty()) {
        (n, "$USER")
    } else if let Some(n) = std::env::var("LOGNAME").ok().filter(|n| !n.is_empty()) {
        (n, "$LOGNAME")
    } else {
        (account.name.clone(), "the OS account")
    };
    nhi_triage::model::validate_name(&name).map_err(|e| UsageError(format!("{source}: {e}")))?;
    let via = if std::env::var_os("SSH_CONNECTION").is_some() {
        "ssh"
    } else {
        "local"
    };
    Ok(Reviewer {
        name,
        host,
        via: via.into(),
        os_account: Some(account),
    })
}

/// The OS account running this process: its uid (the owner of
/// `/proc/self`, never `$USER`) and login name from `/etc/passwd`, else `uid-N`.
fn os_account() -> OsAccount {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return OsAccount {
            uid: u32::MAX,
            name: "unknown".into(),
        };
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id: u32 = fields.nth(1)?.parse().ok()?;
            (id == uid).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| format!("uid-{uid}"));
    OsAccount { uid, name }
}
