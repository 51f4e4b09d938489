//! Keys: one handler per mode. The bindings themselves are data in
//! [`crate::tui::keymap`]; here is only what each action does.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::model::Action;
use crate::text::sanitize;
use crate::tui::keymap::{self, Context, KeyAction};

use super::dialog::{self, DecisionDialog, Discard, Phase};
use super::{App, Effect, Mode, Pane, Refusal, SortKey, Tone, TreeState, View};

fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    key.code == KeyCode::Char(c) && key.modifiers.contains(KeyModifiers::CONTROL)
}

impl App {
    /// Handles one key; returns whether anything visible changed, and the
    /// effects to run.
    pub fn on_key(&mut self, key: KeyEvent) -> (bool, Vec<Effect>) {
        if is_ctrl(&key, 'c') {
            return self.quit_asking();
        }
        // Suspending keeps everything, a dialog's text included: anywhere.
        if is_ctrl(&key, 'z') {
            return (false, vec![Effect::Suspend]);
        }
        match &self.mode {
            Mode::Dialog(_) => return self.dialog_key(key),
            Mode::Refusal(_) => return self.refusal_key(key),
            Mode::Help { scroll } => {
                let scroll = *scroll;
                return self.help_key(key, scroll);
            }
            Mode::Filter => return (self.filter_key(key), vec![]),
            Mode::Command(line) => {
                let line = line.clone();
                return self.command_key(key, line);
            }
            Mode::Normal => {}
        }
        let had_message = self.message.take().is_some();
        let Some(action) = keymap::lookup(self.context(), &key) else {
            return (had_message, vec![]);
        };
        let (changed, effects) = self.dispatch(action);
        (changed || had_message, effects)
    }

    /// Quits, unless a typed justification would be lost: then asks.
    fn quit_asking(&mut self) -> (bool, Vec<Effect>) {
        if let Mode::Dialog(d) = &mut self.mode
            && d.has_unsaved_text()
        {
            d.discard = Some(Discard::Quit);
            return (true, vec![]);
        }
        self.quit = true;
        (false, vec![Effect::Quit])
    }

    fn dispatch(&mut self, action: KeyAction) -> (bool, Vec<Effect>) {
        let page = self.viewport() as isize;
        let changed = match action {
            KeyAction::Quit => return self.quit_asking(),
            KeyAction::Suspend => return (false, vec![Effect::Suspend]),
            KeyAction::Help => {
                self.mode = Mode::Help { scroll: 0 };
                true
            }
            KeyAction::Down => self.move_cursor(1),
            KeyAction::Up => self.move_cursor(-1),
            KeyAction::PageDown => self.move_cursor(page),
            KeyAction::PageUp => self.move_cursor(-page),
            KeyAction::Top => self.move_cursor(isize::MIN / 2),
            KeyAction::Bottom => self.move_cursor(isize::MAX / 2),
            KeyAction::NextPane => self.cycle_pane(false),
            KeyAction::PrevPane => self.cycle_pane(true),
            KeyAction::View(i) => self.set_view(View::ALL[i]),
            KeyAction::Filter => {
                self.mode = Mode::Filter;
                true
            }
            KeyAction::Sort => {
                self.sort = self.sort.next();
                self.rebuild();
                self.say(format!("sorted by {}", self.sort.name()), Tone::Info);
                true
            }
            KeyAction::Command => {
                self.mode = Mode::Command(String::new());
                true
            }
            KeyAction::Back => self.back(),
            KeyAction::Open => {
                if self.selected_case().is_some() {
                    self.focus = self.detail_tab;
                    true
                } else if self.view == View::Evidence && self.selected_record().is_some() {
                    self.focus = Pane::Record;
                    true
                } else {
                    false
                }
            }
            KeyAction::Toggle => self.tree_op(TreeState::toggle),
            KeyAction::Expand => self.tree_op(TreeState::expand),
            KeyAction::Collapse => self.tree_op(TreeState::collapse),
            KeyAction::Decide(a) => self.start_decision(a),
        };
        (changed, vec![])
    }

    fn tree_op(&mut self, op: fn(&mut TreeState, &[crate::model::OutlineRow])) -> bool {
        let outline = self.outline();
        let before = (self.tree.cursor, self.tree.visible(&outline).len());
        op(&mut self.tree, &outline);
        before != (self.tree.cursor, self.tree.visible(&outline).len())
    }

    fn move_cursor(&mut self, delta: isize) -> bool {
        let height = self.viewport();
        match (self.view, self.focus) {
            (View::Evidence, Pane::Queue) => {
                let len = self.records.len();
                let target = self.evidence.selected as isize + delta;
                let changed = self.evidence.move_within(target, len, height);
                if changed {
                    self.detail_scroll = 0;
                }
                changed
            }
            (_, Pane::Queue) => {
                let list = &mut self.lists[self.view.index()];
                let target = list.selected as isize + delta;
                let changed = list.move_to(target, height);
                self.sync_tree();
                changed
            }
            (_, Pane::Tree) => {
                let len = self.tree.visible(&self.outline()).len();
                let before = self.tree.cursor;
                self.tree
                    .move_by(delta.clamp(-(len as isize), len as isize), len);
                before != self.tree.cursor
            }
            _ => {
                // A text pane: to its end (as the last frame measured it)
                // and no further.
                let max = self.drawn.pane_scroll_max.unwrap_or(u16::MAX);
                let before = self.detail_scroll;
                self.detail_scroll =
                    (self.detail_scroll as isize + delta).clamp(0, max as isize) as u16;
                before != self.detail_scroll
            }
        }
    }

    fn cycle_pane(&mut self, back: bool) -> bool {
        let order = self.pane_order();
        let at = order.iter().position(|&p| p == self.focus).unwrap_or(0);
        let n = order.len();
        self.focus = order[if back { (at + n - 1) % n } else { (at + 1) % n }];
        if !matches!(self.focus, Pane::Queue | Pane::Record) {
            self.detail_tab = self.focus;
        }
        true
    }

    /// Shows `view`, with the focus back on its list.
    pub fn set_view(&mut self, view: View) -> bool {
        if self.view == view {
            return false;
        }
        self.view = view;
        self.focus = Pane::Queue;
        self.detail_scroll = 0;
        self.sync_tree();
        true
    }

    fn back(&mut self) -> bool {
        if self.focus != Pane::Queue {
            self.focus = Pane::Queue;
            return true;
        }
        if !self.filter.is_empty() {
            self.filter.clear();
            self.rebuild();
            return true;
        }
        false
    }

    /// The help overlay: scrolls like a pager (`q`/Esc/`?` close it, as in
    /// less), to its end and no further.
    fn help_key(&mut self, key: KeyEvent, scroll: u16) -> (bool, Vec<Effect>) {
        let page = self.drawn.help_rows.unwrap_or(10).max(2) - 1;
        let max = self.drawn.help_scroll_max.unwrap_or(u16::MAX);
        let next = match key.code {
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') => {
                self.mode = Mode::Normal;
                return (true, vec![]);
            }
            KeyCode::Char('Q') => return self.quit_asking(),
            KeyCode::Char('j') | KeyCode::Down => scroll.saturating_add(1),
            KeyCode::Char('k') | KeyCode::Up => scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => scroll.saturating_add(page),
            KeyCode::PageUp => scroll.saturating_sub(page),
            KeyCode::Char('g') | KeyCode::Home => 0,
            KeyCode::Char('G') | KeyCode::End => max,
            _ => return (false, vec![]),
        }
        .min(max);
        self.mode = Mode::Help { scroll: next };
        (next != scroll, vec![])
    }

    fn filter_key(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                self.filter.clear();
            }
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                if self.filter.pop().is_none() {
                    self.mode = Mode::Normal;
                    return true;
                }
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if self.filter.chars().count() >= 200 {
                    return false;
                }
                self.filter.push(c);
            }
            KeyCode::Down | KeyCode::Up => {
                self.mode = Mode::Normal;
                self.move_cursor(if key.code == KeyCode::Down { 1 } else { -1 });
                return true;
            }
            _ => return false,
        }
        self.rebuild();
        true
    }

    fn command_key(&mut self, key: KeyEvent, mut line: String) -> (bool, Vec<Effect>) {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                self.mode = match line.pop() {
                    None => Mode::Normal,
                    Some(_) => Mode::Command(line),
                };
            }
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                return (true, self.run_command(&line));
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if line.chars().count() < 200 {
                    line.push(c);
                }
                self.mode = Mode::Command(line);
            }
            _ => return (false, vec![]),
        }
        (true, vec![])
    }

    /// `:view quarantined`, `:theme light`, `:sort age`, `:filter text`, `:help`, `:q`.
    pub fn run_command(&mut self, line: &str) -> Vec<Effect> {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg = words.collect::<Vec<_>>().join(" ");
        let error = |app: &mut App, text: String| {
            app.say(text, Tone::Error);
            vec![]
        };
        match cmd {
            "q" | "quit" | "q!" => {
                self.quit = true;
                vec![Effect::Quit]
            }
            "view" | "v" => match View::parse(&arg) {
                Some(v) => {
                    self.set_view(v);
                    vec![]
                }
                None => error(
                    self,
                    format!(
                        "no view {}: pending, quarantined, escalated, decided, evidence",
                        crate::text::quoted(&arg)
                    ),
                ),
            },
            "theme" if !arg.is_empty() => vec![Effect::LoadTheme(arg)],
            "sort" => match [SortKey::Risk, SortKey::Age, SortKey::Id, SortKey::Owner]
                .into_iter()
                .find(|k| k.name() == arg)
            {
                Some(k) => {
                    self.sort = k;
                    self.rebuild();
                    vec![]
                }
                None => error(self, "sort by: risk, age, id, owner".into()),
            },
            "filter" => {
                self.filter = arg;
                self.rebuild();
                vec![]
            }
            "help" => {
                self.mode = Mode::Help { scroll: 0 };
                vec![]
            }
            "" => vec![],
            other => error(
                self,
                format!(
                    "unknown command :{} (try :view, :theme, :sort, :filter, :help, :q)",
                    sanitize(other)
                ),
            ),
        }
    }

    // ----- deciding -------------------------------------------------------

    fn start_decision(&mut self, action: Action) -> bool {
        if matches!(self.mode, Mode::Refusal(_)) {
            self.mode = Mode::Normal;
        }
        let Some(index) = self.selected_case() else {
            self.say("no case selected".into(), Tone::Warn);
            return true;
        };
        let (Some(case), Some(a)) = (self.queue.case(index), self.queue.assess(index)) else {
            let id = sanitize(self.queue.row(index).id()).into_owned();
            self.say(
                format!("{id}: its details are still loading; try again in a moment"),
                Tone::Warn,
            );
            return true;
        };
        let status = self.queue.status(index);
        if a.verdict(action).is_none() {
            let offered: Vec<&str> = a.actions.iter().map(|v| v.action.name()).collect();
            let text = if offered.is_empty() {
                format!(
                    "{} is {}: no further decisions",
                    sanitize(&case.id),
                    status.state.name()
                )
            } else {
                format!(
                    "cannot {action} {} {} case here (allowed: {})",
                    crate::text::article(status.state.name()),
                    status.state.name(),
                    offered.join(", ")
                )
            };
            self.say(text, Tone::Warn);
            return true;
        }
        // The store's own check, before any typing: a refusal no
        // justification can change is shown now.
        let opened = DecisionDialog::open(
            case,
            index,
            status,
            &a,
            action,
            self.queue.policy(),
            &self.reviewer,
            self.queue.now,
        );
        let waiting = self.outbox.queued_for(&case.id).cloned();
        self.mode = match opened {
            Ok(mut dialog) => {
                // A decision on this case still waits in the outbox: this one
                // replaces it, and the dialog says so before anything is typed.
                dialog.supersedes = waiting;
                Mode::Dialog(Box::new(dialog))
            }
            Err(refused) => {
                // Offer only what this reviewer could actually do instead.
                let alternatives = a
                    .actions
                    .iter()
                    .filter(|v| v.allowed && v.action != action)
                    .map(|v| v.action)
                    .filter(|&other| {
                        dialog::refusal_before_typing(
                            case,
                            status,
                            &a,
                            other,
                            self.queue.policy(),
                            &self.reviewer,
                            self.queue.now,
                        )
                        .is_ok()
                    })
                    .collect();
                Mode::Refusal(Refusal {
                    case_id: case.id.clone(),
                    action,
                    reasons: refused.reasons,
                    alternatives,
                })
            }
        };
        true
    }

    fn refusal_key(&mut self, key: KeyEvent) -> (bool, Vec<Effect>) {
        let Mode::Refusal(refusal) = &self.mode else {
            return (false, vec![]);
        };
        if key.code == KeyCode::Esc {
            self.mode = Mode::Normal;
            return (true, vec![]);
        }
        match keymap::lookup(Context::Global, &key) {
            Some(KeyAction::Decide(a)) if refusal.alternatives.contains(&a) => {
                (self.start_decision(a), vec![])
            }
            Some(KeyAction::Quit) => self.quit_asking(),
            _ => (false, vec![]),
        }
    }

    fn dialog_key(&mut self, key: KeyEvent) -> (bool, Vec<Effect>) {
        let Mode::Dialog(d) = &mut self.mode else {
            return (false, vec![]);
        };
        if let Some(intent) = d.discard {
            return self.discard_key(key, intent);
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                if d.has_unsaved_text() {
                    d.discard = Some(Discard::Cancel);
                    return (true, vec![]);
                }
                self.mode = Mode::Normal;
                self.say("cancelled: nothing recorded".into(), Tone::Info);
                (true, vec![])
            }
            KeyCode::Tab => {
                d.next_field(false);
                (true, vec![])
            }
            KeyCode::BackTab => {
                d.next_field(true);
                (true, vec![])
            }
            KeyCode::Char('s') if ctrl => {
                if d.phase == Phase::Submitting {
                    return (false, vec![]);
                }
                if let Some(blocker) = d.blocker(self.queue.now) {
                    d.phase = Phase::Failed(blocker);
                    return (true, vec![]);
                }
                d.phase = Phase::Submitting;
                let decision = d.decision();
                let effect = if d.supersedes.is_some() {
                    Effect::Supersede(decision)
                } else {
                    Effect::Decide(decision)
                };
                (true, vec![effect])
            }
            _ => {
                d.input(key);
                (true, vec![])
            }
        }
    }

    /// The "discard the justification?" question: `y` discards, anything
    /// else goes back to the text, unchanged.
    fn discard_key(&mut self, key: KeyEvent, intent: Discard) -> (bool, Vec<Effect>) {
        let confirmed = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'));
        if !confirmed {
            if let Mode::Dialog(d) = &mut self.mode {
                d.discard = None;
            }
            return (true, vec![]);
        }
        match intent {
            Discard::Quit => {
                self.quit = true;
                (false, vec![Effect::Quit])
            }
            Discard::Cancel => {
                self.mode = Mode::Normal;
                self.say(
                    "cancelled: justification discarded, nothing recorded".into(),
                    Tone::Info,
                );
                (true, vec![])
            }
        }
    }
}
