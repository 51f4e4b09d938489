//! A store made through the library, without the binary: `StoreLayout`
//! init in a temporary directory, cases in `cases/cases.jsonl`, opened as a
//! `LocalStore` (as another process would).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use nhi_triage::model::Case;
use nhi_triage::policy::Policy;
use nhi_triage::store::{LocalStore, StoreLayout};
use serde_json::Value;
use tempfile::TempDir;

use super::write_case;

/// A store made by the library, holding `cases` in `cases/cases.jsonl`, with
/// `policy` appended to its policy.toml.
pub struct LibraryStore {
    pub tmp: TempDir,
    /// The PostgreSQL store's URL under `NHI_TRIAGE_TEST_BACKEND=postgres`.
    pub database: Option<String>,
}

impl LibraryStore {
    pub fn new(cases: &[Value], policy: &str) -> LibraryStore {
        let tmp = tempfile::tempdir().expect("tempdir");
        StoreLayout::new(tmp.path()).init().expect("init");
        let database = super::on_postgres().then(|| super::fresh_database("library"));
        let dir = LibraryStore { tmp, database };
        if !policy.is_empty() {
            dir.set_policy(policy);
        }
        dir.write(cases);
        dir
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn case_file(&self) -> PathBuf {
        self.path().join("cases").join("cases.jsonl")
    }

    /// Replaces the policy file with the defaults plus `extra` keys.
    pub fn set_policy(&self, extra: &str) {
        let path = StoreLayout::new(self.path()).policy_path();
        let mut p: toml::Table = toml::from_str(&Policy::default().to_toml()).unwrap();
        let extra: toml::Table = toml::from_str(extra).expect("policy keys");
        p.extend(extra);
        std::fs::write(&path, toml::to_string(&p).unwrap()).expect("write policy.toml");
    }

    /// Replaces `cases/cases.jsonl` with `cases`.
    pub fn write(&self, cases: &[Value]) {
        write_case(&self.case_file(), cases);
    }

    /// Opens the store as another process would.
    pub fn open(&self) -> LocalStore {
        match &self.database {
            Some(url) => {
                // The store's policy lives in the database, as `init
                // --database` puts it (a policy given at open is what-if).
                let layout = StoreLayout::new(self.path());
                let text = std::fs::read_to_string(layout.policy_path()).expect("policy.toml");
                // The schema first (a new database has none), then this
                // test's policy over whatever is stored.
                let policy = Policy::from_file(&layout.policy_path()).expect("policy.toml");
                LocalStore::init_database(url, &policy, None).expect("init the database");
                super::pg_set_policy(url, &text);
                LocalStore::open_database(url, (Some(&layout.cases_dir()), None), None, None)
                    .expect("open the database store")
            }
            None => LocalStore::open(self.path()).expect("open the store"),
        }
    }

    /// The evidence log's bytes (empty when it does not exist yet).
    pub fn evidence(&self) -> Vec<u8> {
        match &self.database {
            Some(url) => super::pg_evidence(url),
            None => super::evidence_in(self.path()),
        }
    }

    /// The evidence log's lines, each parsed as JSON.
    pub fn evidence_lines(&self) -> Vec<Value> {
        String::from_utf8(self.evidence())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("evidence line"))
            .collect()
    }

    /// The case `id` as the file on disk holds it, parsed here.
    pub fn case_on_disk(&self, id: &str) -> Case {
        let text = std::fs::read_to_string(self.case_file()).unwrap();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Case>(l).expect("case line"))
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no case {id} on disk"))
    }
}
