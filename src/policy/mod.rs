//! The decision policy: pure functions from a case, its state, the policy and
//! `now` to an assessment. No clocks, files or terminals in here.

mod age;
mod assess;
mod config;
pub mod controls;
mod lifecycle;
mod readiness;
mod window;

pub use age::{CLOCK_SKEW_TOLERANCE, Freshness, ago, days_since};
pub use assess::{
    Assessment, Checks, QueueKey, RoutingFlag, RoutingKind, RowOrderKey, Tier, UsageCheck,
    WindowCheck, assess, queue_order, row_queue_order, used_during_quarantine,
};
pub use config::{Policy, PolicyError, PolicyRef};
pub use lifecycle::{
    ActionVerdict, JustificationCount, MAX_JUSTIFICATION_CHARS, Refusal, Transition,
    check_decision, escalation_target, justification_len, precheck, quarantine_hours,
    required_justification_chars, verdicts,
};
pub use readiness::{BlastRadius, Question, Status};
pub use window::{TierWindow, tier_window};
