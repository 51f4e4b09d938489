//! `nhi-triage`: the command-line entry point.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
