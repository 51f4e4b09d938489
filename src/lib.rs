//! nhi-triage: decide what to do about risky non-human identities, on the record.
//!
//! The core (`model`, `policy`, `evidence`, `store`) knows nothing of
//! terminals or HTTP.

pub mod api;
pub mod demo;
pub mod evidence;
pub mod fsutil;
pub mod model;
pub mod output;
pub mod policy;
pub mod server;
pub mod store;
pub mod text;
pub mod tui;
