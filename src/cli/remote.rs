//! The client side of a remote queue: `--api URL`, and `nhi-triage outbox`.

use anyhow::{Result, bail};

use super::args::{Global, OutboxCommand};

pub async fn outbox(_global: &Global, _command: OutboxCommand) -> Result<i32> {
    bail!("outbox: under construction in this change")
}
