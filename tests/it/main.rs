//! The integration and end-to-end tests, one binary (one link of the crate
//! instead of one per file). Each module is one area; `common` and
//! `common_tui` are the shared harness.

mod common;
mod common_tui;

mod cli;
mod decision_cli;
mod decision_policy;
mod decision_policy_bounds;
mod decision_policy_property;
mod decision_server;
mod decision_store;
mod decision_store_property;
mod evidence_log;
mod loading;
mod policy_rules;
mod remote;
mod remote_console;
mod remote_stream;
mod server;
mod store;
mod tui_decision_safety;
mod tui_pty;
mod tui_render;
mod tui_state;
