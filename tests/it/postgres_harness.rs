//! The throwaway PostgreSQL cluster the store and server tests stand on
//! (tests/it/common/postgres.rs): it starts, hands out distinct fresh
//! databases, answers over TCP on 127.0.0.1 as the ordinary test role, and
//! is gone (server stopped, directory removed) after it is dropped.

use std::path::PathBuf;
use std::process::Command;

use crate::common::postgres::{self, BINDIR_ENV, PgCluster, REQUIRE_ENV, ROLE, SUPERUSER};

/// `psql -c 'select 1'` against `url()` answers over TCP, as the test role
/// (not a superuser) in its own database.
#[test]
fn shared_cluster_answers_over_tcp_as_the_test_role() {
    let Some(pg) = postgres::cluster_or_skip("shared_cluster_answers_over_tcp_as_the_test_role")
    else {
        return;
    };
    let url = pg.url();
    assert_eq!(
        url,
        format!("postgres://{ROLE}@127.0.0.1:{}/{ROLE}", pg.port())
    );
    assert_eq!(pg.psql(&url, "select 1"), "1");
    let who = pg.psql(
        &url,
        "select current_user, current_database(), inet_server_addr(), \
         (select rolsuper from pg_roles where rolname = current_user)",
    );
    // inet_server_addr() is NULL over a unix socket: this went over TCP.
    assert_eq!(who, format!("{ROLE}|{ROLE}|127.0.0.1|f"));
}

/// Two fresh databases are distinct and empty: a table made in one is not
/// in the other, and the same hint twice still gives two databases.
#[test]
fn fresh_databases_are_distinct() {
    let Some(pg) = postgres::cluster_or_skip("fresh_databases_are_distinct") else {
        return;
    };
    let a = pg.new_database("fresh Databases/are-distinct");
    let b = pg.new_database("fresh Databases/are-distinct");
    assert_ne!(a, b);
    assert!(
        a.starts_with(&format!(
            "postgres://{ROLE}@127.0.0.1:{}/fresh_databases_are_distinct_",
            pg.port()
        )),
        "{a}"
    );

    pg.psql(&a, "create table t (x int); insert into t values (7)");
    assert_eq!(pg.psql(&a, "select x from t"), "7");
    let out = pg.psql_output(&b, "select x from t");
    assert!(!out.status.success(), "the table leaked into {b}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        pg.psql(
            &b,
            "select count(*) from pg_tables where schemaname = 'public'"
        ),
        "0"
    );
    // Owned by the test role, and reachable as the superuser for tampering.
    assert_eq!(
        pg.psql(&pg.superuser_url(&a), "select current_user, pg_get_userbyid(datdba) from pg_database where datname = current_database()"),
        format!("{SUPERUSER}|{ROLE}")
    );
}

/// A private cluster stops and starts again on its port, and dropping it
/// stops the server and removes its directory (nothing outlives a test run).
#[test]
fn private_cluster_stops_restarts_and_is_removed_on_drop() {
    let Some(pg) =
        postgres::private_cluster_or_skip("private_cluster_stops_restarts_and_is_removed_on_drop")
    else {
        return;
    };
    let url = pg.new_database("private");
    pg.psql(&url, "create table t (x int); insert into t values (1)");

    pg.stop();
    let down = pg.psql_output(&url, "select 1");
    assert!(!down.status.success(), "the stopped server still answered");
    pg.restart();
    assert_eq!(pg.psql(&url, "select x from t"), "1");

    let data = data_dir(&pg);
    assert!(data.join("PG_VERSION").is_file(), "{}", data.display());
    let (port, bindir) = (pg.port(), pg.bindir().to_path_buf());
    drop(pg);
    assert!(!data.exists(), "{} left behind", data.display());
    let ready = Command::new(bindir.join("pg_isready"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "2"])
        .output()
        .expect("pg_isready");
    // pg_isready: 0 accepting, 1 rejecting, 2 no response.
    assert_eq!(ready.status.code(), Some(2), "{ready:?}");
}

/// Without PostgreSQL a test says "skipped" and passes; with
/// NHI_TRIAGE_REQUIRE_POSTGRES=1 the same test fails. Runs this test binary
/// again, on one test, with PostgreSQL hidden (NHI_TRIAGE_PG_BINDIR names an
/// empty directory), so it holds whether or not PostgreSQL is installed here.
#[test]
fn missing_postgres_skips_unless_required() {
    let empty = tempfile::tempdir().unwrap();
    let run = |require: bool| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "postgres_harness::shared_cluster_answers_over_tcp_as_the_test_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(BINDIR_ENV, empty.path())
        .env_remove(REQUIRE_ENV);
        if require {
            cmd.env(REQUIRE_ENV, "1");
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };

    let (ok, text) = run(false);
    assert!(ok, "{text}");
    assert!(text.contains("1 passed"), "the test did not run: {text}");
    assert!(
        text.contains(
            "shared_cluster_answers_over_tcp_as_the_test_role: skipped: PostgreSQL is not installed"
        ),
        "{text}"
    );

    let (ok, text) = run(true);
    assert!(
        !ok,
        "a missing PostgreSQL passed with {REQUIRE_ENV}=1: {text}"
    );
    assert!(text.contains("1 failed"), "{text}");
    assert!(
        text.contains(&format!("{REQUIRE_ENV}=1 makes that a failure")),
        "{text}"
    );
}

/// The data directory of a running cluster, as the server reports it.
fn data_dir(pg: &PgCluster) -> PathBuf {
    PathBuf::from(pg.psql(&pg.superuser_url(&pg.url()), "show data_directory"))
}
