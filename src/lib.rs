//! nhi-triage: decide what to do about risky non-human identities, on the record.
//!
//! A *case* is one risky non-human identity (a service account, API key,
//! token, secret, certificate, ...) as detection hands it over: its owner,
//! dependency map, finding and proposed action (docs/format.md). The policy
//! answers three readiness questions from the case file — Q1 who depends on
//! the identity, Q2 what breaks if it is removed, Q3 how quickly access can
//! be restored if the decision was wrong — and from them a tier (low,
//! medium, high), a recommendation and the actions allowed
//! (docs/policy.md). Every decision is one record in an append-only,
//! SHA-256 hash-chained evidence log, tagged with the NIST CSF 2.0 outcomes
//! and the OWASP NHI Top 10 (2025) risk it evidences.
//!
//! - [`model`]: the case format, lenient loading, ids, reviewers, lifecycle
//!   states and decisions.
//! - [`policy`]: the readiness check, tiers and the lifecycle's guardrails,
//!   as pure functions of a case, its state, the policy and `now`.
//! - [`evidence`]: the hash-chained decision log (append, verify, export,
//!   repair).
//! - [`store`]: cases and decisions in a local directory or behind the API,
//!   with an outbox for decisions made while the server is unreachable.
//! - [`api`] and [`server`]: the HTTP(S) API's wire types and server
//!   (docs/api.md).
//! - [`tui`]: the full-screen console (docs/console.md).
//! - [`output`] and [`text`]: the documented JSON formats and the one
//!   sanitising policy for untrusted text.
//! - [`fsutil`]: atomic whole-file writes and lock files; [`demo`]: the
//!   bundled demo cases.
//!
//! The core (`model`, `policy`, `evidence`) knows nothing of terminals or
//! HTTP; `store` speaks HTTP only in its remote store.

pub mod api;
pub mod context;
pub mod demo;
pub mod evidence;
pub mod fsutil;
pub mod import;
pub mod model;
pub mod output;
pub mod policy;
pub mod server;
pub mod store;
pub mod text;
pub mod tui;
