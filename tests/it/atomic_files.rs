//! Whole files are written one way (src/fsutil.rs): a fresh exclusive
//! temporary file, fsync, rename, fsync of the directory. The tokens file
//! through the real binary: nothing lying beside it is reused or followed,
//! concurrent `token add` lose nothing, and `serve` warns about a tokens
//! file others can read.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use common::server::Server;
use common::{Sandbox, TestStore, run};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn token_add(sandbox: &Sandbox, tokens: &Path, name: &str) -> common::Out {
    run(sandbox
        .cmd()
        .args(["token", "add", name, "--tokens"])
        .arg(tokens))
}

fn token_list(sandbox: &Sandbox, tokens: &Path) -> Vec<String> {
    let out = run(sandbox
        .cmd()
        .args(["token", "list", "--tokens"])
        .arg(tokens));
    assert_eq!(out.code, 0, "{out}");
    out.stdout.lines().map(str::to_string).collect()
}

/// The temporary name the tokens file used to be written through
/// (`tokens.tmp` beside `tokens.toml`), left there 0644 by someone else: it
/// is neither reused (its mode would carry over) nor touched.
#[test]
fn a_leftover_temp_file_is_not_reused() {
    let sandbox = Sandbox::new();
    let tokens = sandbox.path().join("tokens.toml");
    let leftover = sandbox.path().join("tokens.tmp");
    std::fs::write(&leftover, "left over\n").unwrap();
    std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = token_add(&sandbox, &tokens, "alice");
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(mode(&tokens), 0o600, "the tokens file is private");
    assert_eq!(std::fs::read_to_string(&leftover).unwrap(), "left over\n");
    assert_eq!(mode(&leftover), 0o644);
    // An existing file made readable by others is replaced private too.
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(token_add(&sandbox, &tokens, "bob").code, 0);
    assert_eq!(mode(&tokens), 0o600);
    assert_eq!(token_list(&sandbox, &tokens), ["alice", "bob"]);
}

/// A symlink where the temporary file used to go, pointing at another file:
/// that file is never written through it.
#[test]
fn a_symlink_beside_the_tokens_file_is_not_followed() {
    let sandbox = Sandbox::new();
    let tokens = sandbox.path().join("tokens.toml");
    let victim = sandbox.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&victim, sandbox.path().join("tokens.tmp")).unwrap();

    let out = token_add(&sandbox, &tokens, "alice");
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
    let meta = std::fs::symlink_metadata(&tokens).unwrap();
    assert!(meta.is_file(), "the tokens file is a file of its own");
    assert_eq!(mode(&tokens), 0o600);
    assert_eq!(token_list(&sandbox, &tokens), ["alice"]);

    // A symlink at the tokens file's own name is replaced, not written
    // through, when the file is rewritten.
    let other = sandbox.path().join("other.toml");
    std::fs::rename(&tokens, &other).unwrap();
    std::os::unix::fs::symlink(&other, &tokens).unwrap();
    let before = std::fs::read(&other).unwrap();
    assert_eq!(token_add(&sandbox, &tokens, "bob").code, 0);
    assert_eq!(std::fs::read(&other).unwrap(), before);
    assert!(std::fs::symlink_metadata(&tokens).unwrap().is_file());
    assert_eq!(token_list(&sandbox, &tokens), ["alice", "bob"]);
}

/// Eight `token add` at once, each a process of its own: every token lands
/// (each read-modify-write holds `tokens.toml.lock`).
#[test]
fn concurrent_token_adds_lose_nothing() {
    const N: usize = 8;
    let sandbox = Sandbox::new();
    let tokens = sandbox.path().join("tokens.toml");
    for round in 0..2 {
        let names: Vec<String> = (0..N).map(|i| format!("r{round}-reviewer{i}")).collect();
        let children: Vec<_> = names
            .iter()
            .map(|name| {
                sandbox
                    .cmd()
                    .args(["token", "add", name, "--tokens"])
                    .arg(&tokens)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn token add")
            })
            .collect();
        for child in children {
            let out = common::out_of(child.wait_with_output().expect("token add"));
            assert_eq!(out.code, 0, "{out}");
            assert!(out.stdout.trim().starts_with("nhi_"), "{out}");
        }
        let listed = token_list(&sandbox, &tokens);
        for name in &names {
            assert!(
                listed.contains(name),
                "round {round}: {name} lost: {listed:?}"
            );
        }
    }
    assert_eq!(token_list(&sandbox, &tokens).len(), 2 * N);
    assert_eq!(mode(&tokens), 0o600);
    // Only the file and its lock remain: no temporary file left behind.
    let mut names: Vec<String> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tokens"))
        .collect();
    names.sort();
    assert_eq!(names, ["tokens.toml", "tokens.toml.lock"]);
}

/// `serve` says when group or others can read the tokens file, naming it
/// (sanitised) and the fix; a private file draws no warning.
#[test]
fn serve_warns_about_a_tokens_file_others_can_read() {
    let store = TestStore::with_cases(&[common::low_case("LOW-1")]);
    // A name with an escape sequence in it must not reach the log raw.
    let tokens = store.sandbox.path().join("tok\x1b[2Jens.toml");
    assert_eq!(token_add(&store.sandbox, &tokens, "alice").code, 0);

    let mut private = Server::start(&store, &tokens, &[]);
    private.terminate();
    assert!(
        private
            .wait_exit(std::time::Duration::from_secs(10))
            .is_some()
    );
    assert!(
        !private.stderr().contains("by group or others"),
        "{}",
        private.stderr()
    );

    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut open = Server::start(&store, &tokens, &[]);
    open.terminate();
    assert!(open.wait_exit(std::time::Duration::from_secs(10)).is_some());
    let stderr = open.stderr();
    let warning = stderr
        .lines()
        .find(|l| l.contains("readable by group or others"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains("mode 644") && warning.contains("chmod 600"),
        "{warning}"
    );
    assert!(warning.contains("ens.toml"), "names the file: {warning}");
    assert!(!stderr.contains('\x1b'), "sanitised: {stderr:?}");
}
