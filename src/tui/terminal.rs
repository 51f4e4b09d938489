//! Taking over the terminal and always giving it back: on quit, on an
//! error, on a signal and on a panic.

use std::io::{self, Stdout, Write};

use ratatui::Terminal;
use ratatui::crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use ratatui::crossterm::{cursor, execute, terminal};

pub type Term = Terminal<super::backend::LeanBackend<Stdout>>;

/// Raw mode, the alternate screen, a hidden cursor; and a panic hook that
/// undoes them before the panic message is printed.
pub fn enter() -> io::Result<Term> {
    install_panic_hook();
    terminal::enable_raw_mode()?;
    let mut out = io::stdout();
    // Bracketed paste: pasted text arrives as one event for the
    // justification editor, never as keys that could trigger actions.
    if let Err(e) = execute!(
        out,
        terminal::EnterAlternateScreen,
        cursor::Hide,
        EnableBracketedPaste
    ) {
        restore();
        return Err(e);
    }
    Terminal::new(super::backend::LeanBackend::on_blank_screen(out)?)
}

/// Leaves the alternate screen, shows the cursor and ends raw mode. Safe to
/// call more than once.
pub fn restore() {
    let mut out = io::stdout();
    let _ = execute!(
        out,
        DisableBracketedPaste,
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}
