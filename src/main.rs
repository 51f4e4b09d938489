//! `nhi-triage`: the command-line entry point.

// Every output goes through `cli::output` (a closed pipe is a normal end,
// untrusted text is sanitised): the print macros, which panic on a closed
// pipe and write raw, are not allowed in the binary.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
