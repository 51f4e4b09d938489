//! The signals the console handles, and how it ends.
//!
//! SIGTERM, SIGHUP (the SSH session went away) and SIGINT end the console
//! cleanly, with the terminal restored and the shell's exit status for the
//! signal (128 + its number). SIGTSTP (`kill -TSTP`; in raw mode Ctrl-Z
//! arrives as a key instead, bound in the keymap) suspends it, and SIGCONT
//! (`fg`) resumes it with a full redraw ([`super::terminal`]).

use rustix::process::Signal;
use tokio::signal::unix::{SignalKind, signal};

/// How the console ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The reviewer quit.
    Quit,
    /// A signal ended it: its number (SIGTERM 15, SIGHUP 1, SIGINT 2).
    Signal(i32),
}

impl Ended {
    /// The process exit status, by shell convention: 0 after quitting,
    /// 128 + the signal's number after a signal (143 for SIGTERM, 129 for
    /// SIGHUP, 130 for SIGINT).
    pub fn exit_code(self) -> i32 {
        match self {
            Ended::Quit => 0,
            Ended::Signal(n) => 128 + n,
        }
    }
}

/// What a signal asks of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    /// End now (the signal's number).
    End(i32),
    /// Suspend (SIGTSTP).
    Suspend,
    /// Continued after a stop (SIGCONT): take the terminal again and redraw.
    Continue,
}

/// The handled signals, listened to while the console runs.
pub(super) struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    tstp: tokio::signal::unix::Signal,
    cont: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers. Errors: a handler could not be installed.
    pub(super) fn new() -> std::io::Result<Self> {
        let kind = |s: Signal| SignalKind::from_raw(s.as_raw());
        Ok(Signals {
            term: signal(kind(Signal::TERM))?,
            hup: signal(kind(Signal::HUP))?,
            int: signal(kind(Signal::INT))?,
            tstp: signal(kind(Signal::TSTP))?,
            cont: signal(kind(Signal::CONT))?,
        })
    }

    /// The next signal.
    pub(super) async fn recv(&mut self) -> Asked {
        tokio::select! {
            _ = self.term.recv() => Asked::End(Signal::TERM.as_raw()),
            _ = self.hup.recv() => Asked::End(Signal::HUP.as_raw()),
            _ = self.int.recv() => Asked::End(Signal::INT.as_raw()),
            _ = self.tstp.recv() => Asked::Suspend,
            _ = self.cont.recv() => Asked::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(Ended::Quit.exit_code(), 0);
        assert_eq!(Ended::Signal(Signal::TERM.as_raw()).exit_code(), 143);
        assert_eq!(Ended::Signal(Signal::HUP.as_raw()).exit_code(), 129);
        assert_eq!(Ended::Signal(Signal::INT.as_raw()).exit_code(), 130);
    }
}
