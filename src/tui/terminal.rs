//! Taking over the terminal and always giving it back: on quit, on an
//! error, on a signal, on a panic, and while the console is suspended
//! (Ctrl-Z, `kill -TSTP`) until the shell continues it (`fg`).

use std::io::{self, IsTerminal, Stdout, Write};

use ratatui::Terminal;
use ratatui::crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use ratatui::crossterm::{cursor, execute, terminal};
use rustix::process::Signal;

/// The console's terminal: ratatui over the lean backend on standard output.
pub type Term = Terminal<super::backend::LeanBackend<Stdout>>;

/// Why the console cannot run on this process's standard streams, as a
/// message that names what to use instead; `None` when it can. It needs a
/// terminal on standard input and output, and one that can move the
/// cursor: `TERM=dumb` (Emacs shell buffers, some CI logs) is refused as a
/// pipe is.
pub fn unusable() -> Option<String> {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Some(
            "the console needs a terminal; use `nhi-triage list` or `show` in scripts and pipes"
                .into(),
        );
    }
    if std::env::var_os("TERM").is_some_and(|t| t == "dumb") {
        return Some(
            "the console needs a terminal that can move the cursor, and TERM=dumb cannot; \
             use `nhi-triage list` or `show` here"
                .into(),
        );
    }
    None
}

/// Raw mode, the alternate screen, a hidden cursor; and a panic hook that
/// undoes them before the panic message is printed.
pub fn enter() -> io::Result<Term> {
    install_panic_hook();
    take_over()?;
    Terminal::new(super::backend::LeanBackend::on_blank_screen(io::stdout())?)
}

/// Raw mode, the alternate screen, a hidden cursor, bracketed paste (pasted
/// text arrives as one event for the justification editor, never as keys
/// that could trigger actions) and no autowrap (a character a terminal draws
/// wider than expected at the right edge cannot wrap or scroll the screen).
fn take_over() -> io::Result<()> {
    terminal::enable_raw_mode()?;
    let mut out = io::stdout();
    if let Err(e) = execute!(
        out,
        terminal::EnterAlternateScreen,
        cursor::Hide,
        EnableBracketedPaste,
        terminal::DisableLineWrap
    ) {
        restore();
        return Err(e);
    }
    Ok(())
}

/// Leaves the alternate screen, shows the cursor, turns autowrap back on
/// and ends raw mode. Safe to call more than once. Does nothing from the
/// background: changing the terminal's modes there would stop the process
/// (SIGTTOU), and the terminal was given back when it was suspended.
pub fn restore() {
    if in_background() {
        return;
    }
    let mut out = io::stdout();
    let _ = execute!(
        out,
        DisableBracketedPaste,
        terminal::EnableLineWrap,
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

/// What [`suspend`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspend {
    /// The terminal was given back and the process group stopped; this
    /// process has been continued since (SIGCONT): the caller takes the
    /// terminal again with [`resume`] once it is in the foreground.
    Stopped,
    /// Nothing was done: no shell with job control could continue a stopped
    /// console (the console is not part of a shell's job).
    NoJobControl,
}

/// Gives the terminal back and stops this process's group, as Ctrl-Z does
/// in a shell, returning once the group is continued. Stopping uses
/// SIGSTOP: our own SIGTSTP handler would only catch a SIGTSTP. The whole
/// group stops, so a wrapper script waiting for the console stops with it
/// and the shell sees the job stopped.
///
/// Errors: the stop could not be sent (the terminal is taken back first).
pub fn suspend() -> io::Result<Suspend> {
    if !job_control() {
        return Ok(Suspend::NoJobControl);
    }
    restore();
    if let Err(e) = rustix::process::kill_current_process_group(Signal::STOP) {
        take_over()?;
        return Err(e.into());
    }
    Ok(Suspend::Stopped)
}

/// Takes the terminal again after a suspension (ours, or a SIGSTOP from
/// elsewhere after which the shell reset the terminal) and makes the next
/// frame a full redraw on a cleared screen: everything the backend believed
/// about the screen is forgotten.
pub fn resume(term: &mut Term) -> io::Result<()> {
    // Raw mode is re-applied even if it was never ended here: the shell may
    // have reset the terminal while the console was stopped.
    let _ = terminal::disable_raw_mode();
    take_over()?;
    term.backend_mut().invalidate();
    term.clear()
}

/// Whether another process group owns the terminal: this is a background
/// job, which must not touch the terminal (changing its modes would stop
/// the job with SIGTTOU). False when that cannot be told.
pub fn in_background() -> bool {
    let Some(own) = ProcessIds::of("self") else {
        return false;
    };
    rustix::termios::tcgetpgrp(io::stdin())
        .is_ok_and(|owner| owner.as_raw_nonzero().get() != own.group)
}

/// Whether a shell with job control can continue this process group once
/// stopped: some ancestor in the group has a parent in another group of the
/// same session (POSIX: the group is not orphaned). An orphaned group (a
/// console started by `ssh host nhi-triage`, or as the session leader of a
/// pseudo-terminal) would stay stopped for good, so it is never stopped; the
/// kernel likewise ignores a terminal's SIGTSTP for such a group. When it
/// cannot be told (a group or session outside this pid namespace, as in
/// containers), the answer is no: refusing Ctrl-Z is safe, a console stopped
/// for good is not.
fn job_control() -> bool {
    let Some(own) = ProcessIds::of("self") else {
        return false;
    };
    let mut parent = own.parent;
    // The chain of ancestors within the group is short; the bound only
    // guards against a cycle from /proc read as processes come and go.
    for _ in 0..64 {
        let Some(p) = ProcessIds::of(&parent.to_string()) else {
            return false;
        };
        if p.group != own.group {
            return p.session == own.session;
        }
        parent = p.parent;
    }
    false
}

/// A process's parent, group and session ids as `/proc/PID/stat` gives
/// them (Linux). The kernel writes 0 for an id outside the reader's pid
/// namespace; such a process is `None` here, as is one that cannot be read,
/// so no caller ever compares an unknown id. (The getpgid/getsid system
/// calls also answer 0 there, which a `Pid` cannot hold.)
#[derive(Debug, Clone, Copy)]
struct ProcessIds {
    parent: i32,
    group: i32,
    session: i32,
}

impl ProcessIds {
    fn of(pid: &str) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Self::parse(&stat)
    }

    /// "PID (COMMAND) STATE PPID PGRP SESSION ...": the command may hold
    /// spaces and parentheses, so fields are counted from the last ')'.
    fn parse(stat: &str) -> Option<Self> {
        let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(1);
        let mut next = || fields.next()?.parse::<i32>().ok().filter(|id| *id > 0);
        Some(Self {
            parent: next()?,
            group: next()?,
            session: next()?,
        })
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::ProcessIds;

    #[test]
    fn process_ids_are_read_after_the_command_and_zero_is_unknown() {
        let ids = ProcessIds::parse("42 (a (b) c) S 7 40 30 34816 0").unwrap();
        assert_eq!((ids.parent, ids.group, ids.session), (7, 40, 30));
        // Outside the pid namespace: the kernel writes 0 for the ids.
        assert!(ProcessIds::parse("1 (nhi-triage) S 0 0 0 34816 0").is_none());
        assert!(ProcessIds::parse("1 (nhi-triage) S 5 7 0 34816 0").is_none());
        assert!(ProcessIds::parse("garbage").is_none());
    }
}
