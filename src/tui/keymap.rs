//! Every key binding, as data: the dispatcher, the `?` overlay and the
//! context line are all generated from this one table.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. Lookups try the focused context, then `Global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere (unless the focused context binds the key itself).
    Global,
    /// The case list (or the evidence list) has the focus.
    Queue,
    /// The dependency tree has the focus.
    Tree,
    /// A text pane (ownership, readiness, the evidence record) has the focus.
    Detail,
}

/// What a key asks the app to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// Leave the console (asking first if typed text would be lost).
    Quit,
    /// Open the `?` overlay.
    Help,
    /// Give the terminal back to the shell (Ctrl-Z; `fg` resumes).
    Suspend,
    /// One row (or line) up.
    Up,
    /// One row (or line) down.
    Down,
    /// To the first row (or line).
    Top,
    /// To the last row (or line).
    Bottom,
    /// One screenful up (the rows the last frame showed).
    PageUp,
    /// One screenful down.
    PageDown,
    /// Focus the next pane (Tab).
    NextPane,
    /// Focus the previous pane (Shift-Tab).
    PrevPane,
    /// Show a view: the index into [`crate::tui::app::View::ALL`].
    View(usize),
    /// Start typing the filter.
    Filter,
    /// Cycle the sort order.
    Sort,
    /// Start typing a `:` command.
    Command,
    /// Back: leave a pane, clear the filter.
    Back,
    /// Open the selected case's (or record's) panes.
    Open,
    /// Expand or collapse the tree node under the cursor.
    Toggle,
    /// Expand the tree node under the cursor.
    Expand,
    /// Collapse the tree node (or go to its parent).
    Collapse,
    /// Open the decision dialog for this action on the selected case.
    Decide(crate::model::Action),
}

/// One key as bound: a key code and the modifiers that must be held
/// (Shift is ignored: shifted letters arrive as upper case).
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Control, Alt, … that must be held.
    pub mods: KeyModifiers,
}

const fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

/// One row of the key table: where it applies, its keys, what they do.
pub struct Binding {
    /// Where the binding applies.
    pub context: Context,
    /// The keys, the first being the one the key line shows.
    pub keys: &'static [Key],
    /// What the keys do.
    pub action: KeyAction,
    /// The `?` overlay's description (its first word is the key line's).
    pub help: &'static str,
    /// Shown in the context line (the rest only in `?`); a decision key
    /// only where its action applies to the selected case.
    pub short: bool,
}

use crate::model::Action as A;
use Context::*;
use KeyAction::*;

/// Every binding: dispatch, the `?` overlay and the key line all read it.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    Binding { context: Global, keys: &[k('q'), k('Q'), ctrl('c')], action: Quit, help: "quit (asks first if a typed justification would be lost)", short: true },
    Binding { context: Global, keys: &[k('?')], action: Help, help: "help: every key", short: true },
    Binding { context: Global, keys: &[ctrl('z')], action: Suspend, help: "suspend to the shell (fg resumes, everything redrawn)", short: false },
    Binding { context: Global, keys: &[k('j'), code(KeyCode::Down)], action: Down, help: "move down", short: false },
    Binding { context: Global, keys: &[k('k'), code(KeyCode::Up)], action: Up, help: "move up", short: false },
    Binding { context: Global, keys: &[k('g'), code(KeyCode::Home)], action: Top, help: "go to the top", short: false },
    Binding { context: Global, keys: &[k('G'), code(KeyCode::End)], action: Bottom, help: "go to the bottom", short: false },
    Binding { context: Global, keys: &[code(KeyCode::PageUp)], action: PageUp, help: "page up", short: false },
    Binding { context: Global, keys: &[code(KeyCode::PageDown)], action: PageDown, help: "page down", short: false },
    Binding { context: Global, keys: &[code(KeyCode::Tab)], action: NextPane, help: "next pane", short: true },
    Binding { context: Global, keys: &[code(KeyCode::BackTab)], action: PrevPane, help: "previous pane", short: false },
    Binding { context: Global, keys: &[k('1')], action: View(0), help: "view: pending", short: false },
    Binding { context: Global, keys: &[k('2')], action: View(1), help: "view: quarantined", short: false },
    Binding { context: Global, keys: &[k('3')], action: View(2), help: "view: escalated", short: false },
    Binding { context: Global, keys: &[k('4')], action: View(3), help: "view: decided", short: false },
    Binding { context: Global, keys: &[k('5')], action: View(4), help: "view: evidence log", short: false },
    Binding { context: Global, keys: &[k('/')], action: Filter, help: "filter (fuzzy: id, identity, owner, provider, tags)", short: true },
    Binding { context: Global, keys: &[k('s')], action: Sort, help: "cycle the sort order", short: false },
    Binding { context: Global, keys: &[k(':')], action: Command, help: "command line (:view quarantined, :theme light, :q)", short: false },
    Binding { context: Global, keys: &[code(KeyCode::Esc)], action: Back, help: "back / clear the filter", short: false },
    Binding { context: Global, keys: &[k('a')], action: Decide(A::Approve), help: "approve (only tier low, or an escalated case)", short: true },
    Binding { context: Global, keys: &[k('i')], action: Decide(A::Quarantine), help: "quarantine: isolate, time-boxed", short: true },
    Binding { context: Global, keys: &[k('e')], action: Decide(A::Escalate), help: "escalate to a person", short: true },
    Binding { context: Global, keys: &[k('r')], action: Decide(A::Revoke), help: "revoke (a quarantined case)", short: true },
    Binding { context: Global, keys: &[k('u')], action: Decide(A::Restore), help: "restore (undo a quarantine)", short: true },
    Binding { context: Global, keys: &[k('c')], action: Decide(A::Close), help: "close (an escalated case)", short: true },
    Binding { context: Queue, keys: &[code(KeyCode::Enter)], action: Open, help: "open the case's panes", short: true },
    Binding { context: Tree, keys: &[code(KeyCode::Enter), k(' ')], action: Toggle, help: "expand / collapse a node", short: true },
    Binding { context: Tree, keys: &[k('l'), code(KeyCode::Right)], action: Expand, help: "expand", short: false },
    Binding { context: Tree, keys: &[k('h'), code(KeyCode::Left)], action: Collapse, help: "collapse", short: false },
];

/// The binding for `key`, looked up in `context` first, then globally.
pub fn lookup(context: Context, key: &KeyEvent) -> Option<KeyAction> {
    let hit = |b: &&Binding| b.keys.iter().any(|k| matches(k, key));
    BINDINGS
        .iter()
        .filter(|b| b.context == context)
        .find(hit)
        .or_else(|| BINDINGS.iter().filter(|b| b.context == Global).find(hit))
        .map(|b| b.action)
}

fn matches(k: &Key, e: &KeyEvent) -> bool {
    // Shifted letters arrive as uppercase chars, with or without SHIFT.
    let mods = e.modifiers - KeyModifiers::SHIFT;
    k.code == e.code && k.mods == mods
}

/// "Q", "Ctrl-C", "PgDn", "Space", …
pub fn key_name(k: &Key) -> String {
    let base = match k.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Down => "↓".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Home => "Home".into(),
        KeyCode::End => "End".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "Shift-Tab".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        other => format!("{other:?}"),
    };
    if k.mods.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{}", base.to_uppercase())
    } else {
        base
    }
}

/// The keys of a binding, joined: "j/↓".
pub fn keys_label(b: &Binding) -> String {
    b.keys.iter().map(key_name).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn context_bindings_win_over_global_ones() {
        let enter = key(KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(lookup(Context::Tree, &enter), Some(KeyAction::Toggle));
        assert_eq!(lookup(Context::Queue, &enter), Some(KeyAction::Open));
        assert_eq!(
            lookup(Context::Queue, &key(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(KeyAction::Down)
        );
    }

    #[test]
    fn shifted_and_control_keys_match() {
        assert_eq!(
            lookup(
                Context::Queue,
                &key(KeyCode::Char('G'), KeyModifiers::SHIFT)
            ),
            Some(KeyAction::Bottom)
        );
        assert_eq!(
            lookup(
                Context::Queue,
                &key(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(KeyAction::Quit)
        );
        assert_eq!(
            lookup(Context::Queue, &key(KeyCode::Char('c'), KeyModifiers::NONE)),
            Some(KeyAction::Decide(crate::model::Action::Close))
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.context != b.context {
                    continue;
                }
                for ka in a.keys {
                    for kb in b.keys {
                        assert!(
                            !(ka.code == kb.code && ka.mods == kb.mods),
                            "{:?} bound twice",
                            ka.code
                        );
                    }
                }
            }
        }
    }
}
