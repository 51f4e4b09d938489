//! `nhi-triage serve` and `nhi-triage token`.

use anyhow::{Result, bail};

use super::args::{Global, ServeArgs, TokenCommand};

pub async fn serve(_global: &Global, _args: ServeArgs) -> Result<i32> {
    bail!("serve: under construction in this change")
}

pub fn token(_command: TokenCommand) -> Result<i32> {
    bail!("token: under construction in this change")
}
