//! The integration and end-to-end tests, one binary (one link of the crate
//! instead of one per file). Each module is one area; `common` and
//! `common_tui` are the shared harness.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod common_tui;

mod atomic_files;
mod canonical_bytes;
mod cli;
mod context_sources;
mod decision_cli;
mod decision_policy;
mod decision_policy_bounds;
mod decision_policy_property;
mod decision_server;
mod decision_store;
mod decision_store_property;
mod evidence_log;
mod huge_fields;
mod import_cloud_findings;
mod import_console;
mod import_secret_scanners;
mod import_store;
mod loading;
mod loading_degrade;
mod outbox_console;
mod outputs;
mod policy_rules;
mod policy_window;
mod postgres_harness;
mod postgres_suites;
mod postgres_two_servers;
mod remote;
mod remote_console;
mod remote_stream;
mod server;
mod server_shutdown;
mod store;
mod store_crash;
mod store_db;
mod store_rows;
mod store_scale;
mod tui_console;
mod tui_decision_safety;
mod tui_pty;
mod tui_pty_80;
mod tui_queue;
mod tui_render;
mod tui_state;
mod tui_terminal;
mod tui_width;
