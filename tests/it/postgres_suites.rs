//! The store and server suites again, on PostgreSQL: this test runs the
//! test binary itself with `NHI_TRIAGE_TEST_BACKEND=postgres`, under which
//! every `TestStore` and `LibraryStore` is a fresh database on the test
//! cluster (`--database URL --cases DIR`), so the very same tests check the
//! second backend.

use std::process::Command;

use crate::common::{BACKEND_ENV, on_postgres, postgres};

/// The suites that run on both backends (libtest filters).
const SUITES: &[&str] = &[
    "store::",
    "store_db::",
    "store_rows::",
    "import_store::",
    "decision_store::",
    "server::",
    "decision_server::",
];

#[test]
fn store_and_server_suites_pass_on_postgresql() {
    if on_postgres() {
        return; // the child run itself
    }
    let Some(_) = postgres::cluster_or_skip("store_and_server_suites_pass_on_postgresql") else {
        return;
    };
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args(SUITES)
        .args(["--test-threads", "2"])
        .env(BACKEND_ENV, "postgres")
        .output()
        .expect("run the suites on PostgreSQL");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("test result") || l.contains("FAILED") || l.contains("panicked"))
        .collect();
    assert!(
        out.status.success(),
        "the suites failed on PostgreSQL:\n{}\n--- stderr ---\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let ran = stdout
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with(" ok"))
        .count();
    assert!(
        ran > 30,
        "too few tests ran on PostgreSQL ({ran}): {summary:?}"
    );
    eprintln!("on PostgreSQL: {ran} tests passed ({})", summary.join("; "));
}
