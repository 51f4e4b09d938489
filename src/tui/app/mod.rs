//! The console's state and how input changes it. No terminal, file or
//! socket in here: keys and store results come in, [`Effect`]s go out, and
//! every handler says whether anything visible changed (no change, no redraw).

mod dialog;
mod queue;
mod tree;

pub use dialog::{DecisionDialog, Field, Phase};
pub use queue::{QueueModel, SortKey, View, new_matcher, views_of};
pub use tree::{TreeState, VisibleRow, outline_of};

use nucleo_matcher::Matcher;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use time::OffsetDateTime;

use crate::evidence::{EvidenceRecord, VerifyReport};
use crate::model::{Action, Decision, OutlineRow, Reviewer};
use crate::policy::Assessment;
use crate::store::{Link, LinkStatus, Snapshot};
use crate::text::sanitize;

use super::keymap::{self, Context, KeyAction};
use super::theme::Theme;

/// What the app asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Decide(Decision),
    LoadTheme(String),
    Quit,
}

/// The panes that can hold focus, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Queue,
    Ownership,
    Tree,
    Readiness,
}

impl Pane {
    const ORDER: [Pane; 4] = [Pane::Queue, Pane::Ownership, Pane::Tree, Pane::Readiness];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Queue => "Queue",
            Pane::Ownership => "Ownership",
            Pane::Tree => "Dependencies",
            Pane::Readiness => "Readiness",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Normal,
    Filter,
    Command(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Ok,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub tone: Tone,
}

/// A refused action, explained, with what can be done instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub case_id: String,
    pub action: Action,
    pub reasons: Vec<String>,
    pub alternatives: Vec<Action>,
}

/// One queue view's rows and cursor.
#[derive(Debug, Clone, Default)]
pub struct ListState {
    pub rows: Vec<u32>,
    pub selected: usize,
    pub offset: usize,
}

impl ListState {
    pub fn selected_case(&self) -> Option<usize> {
        self.rows.get(self.selected).map(|&i| i as usize)
    }

    /// Moves the cursor, keeping it on screen for a viewport of `height` rows.
    fn move_to(&mut self, target: isize, height: usize) -> bool {
        let len = self.rows.len();
        self.move_within(target, len, height)
    }

    /// As `move_to`, for a list of `len` rows held elsewhere (the evidence
    /// log is shown from the records themselves, newest first).
    fn move_within(&mut self, target: isize, len: usize, height: usize) -> bool {
        if len == 0 {
            return false;
        }
        let target = target.clamp(0, len as isize - 1) as usize;
        let before = (self.selected, self.offset);
        self.selected = target;
        self.scroll_into_view(len, height);
        before != (self.selected, self.offset)
    }

    fn scroll_into_view(&mut self, len: usize, height: usize) {
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let max_offset = len.saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }
}

pub struct App {
    pub queue: QueueModel,
    matcher: Matcher,
    pub view: View,
    pub lists: [ListState; 4],
    pub filter: String,
    pub input: Input,
    pub sort: SortKey,
    pub focus: Pane,
    /// The detail pane shown in the narrow (tabbed) layout.
    pub detail_tab: Pane,
    pub tree: TreeState,
    tree_case: Option<usize>,
    pub detail_scroll: u16,
    pub dialog: Option<DecisionDialog>,
    pub refusal: Option<Refusal>,
    pub help: Option<u16>,
    pub message: Option<Message>,
    pub records: Vec<EvidenceRecord>,
    pub evidence: ListState,
    pub verify: Option<VerifyReport>,
    pub theme: Theme,
    pub store_label: String,
    /// The connection to a remote store and its outbox (local: `Link::Local`).
    pub link: LinkStatus,
    /// Who decides here (the name may come from a server's token).
    pub reviewer: Reviewer,
    /// Rows the queue showed at the last draw (for paging).
    pub viewport: usize,
    pub quit: bool,
}

impl App {
    pub fn new(
        snapshot: Snapshot,
        records: Vec<EvidenceRecord>,
        theme: Theme,
        store_label: String,
        reviewer: Reviewer,
        now: OffsetDateTime,
    ) -> Self {
        let mut app = App {
            queue: QueueModel::new(snapshot, now),
            matcher: new_matcher(),
            view: View::Pending,
            lists: Default::default(),
            filter: String::new(),
            input: Input::Normal,
            sort: SortKey::Risk,
            focus: Pane::Queue,
            detail_tab: Pane::Readiness,
            tree: TreeState::default(),
            tree_case: None,
            detail_scroll: 0,
            dialog: None,
            refusal: None,
            help: None,
            message: None,
            records,
            evidence: ListState::default(),
            verify: None,
            theme,
            store_label,
            link: LinkStatus::local(),
            reviewer,
            viewport: 10,
            quit: false,
        };
        app.rebuild();
        app
    }

    // ----- derived state -------------------------------------------------

    pub fn list(&self) -> Option<&ListState> {
        match self.view {
            View::Evidence => None,
            v => Some(&self.lists[v.index()]),
        }
    }

    /// The case under the cursor in a queue view.
    pub fn selected_case(&self) -> Option<usize> {
        self.list().and_then(ListState::selected_case)
    }

    pub fn selected_record(&self) -> Option<&EvidenceRecord> {
        let n = self.records.len();
        (self.view == View::Evidence && self.evidence.selected < n)
            .then(|| &self.records[n - 1 - self.evidence.selected])
    }

    pub fn assessment(&self) -> Option<Assessment> {
        self.selected_case().map(|i| self.queue.assess(i))
    }

    pub fn outline(&self) -> Vec<OutlineRow> {
        self.selected_case()
            .map(|i| outline_of(self.queue.case(i)))
            .unwrap_or_default()
    }

    pub fn counts(&self) -> [usize; 5] {
        [
            self.lists[0].rows.len(),
            self.lists[1].rows.len(),
            self.lists[2].rows.len(),
            self.lists[3].rows.len(),
            self.records.len(),
        ]
    }

    /// The keymap context of the focused pane.
    pub fn context(&self) -> Context {
        match self.focus {
            Pane::Queue => Context::Queue,
            Pane::Tree => Context::Tree,
            _ => Context::Detail,
        }
    }

    /// Rebuilds the views' rows (after data, filter, sort or time changed),
    /// keeping each view's cursor on the same case.
    fn rebuild(&mut self) {
        let previous: Vec<Option<u32>> = self
            .lists
            .iter()
            .map(|l| l.rows.get(l.selected).copied())
            .collect();
        let rows = self.queue.rows(self.sort, &self.filter, &mut self.matcher);
        for (v, rows) in rows.into_iter().enumerate() {
            let list = &mut self.lists[v];
            list.rows = rows;
            if let Some(p) = previous[v].and_then(|id| list.rows.iter().position(|&r| r == id)) {
                list.selected = p;
            } else {
                list.selected = list.selected.min(list.rows.len().saturating_sub(1));
            }
            list.scroll_into_view(list.rows.len(), self.viewport);
        }
        self.sync_tree();
    }

    /// A new case under the cursor gets a fresh tree and scroll.
    fn sync_tree(&mut self) {
        let case = self.selected_case();
        if case != self.tree_case {
            self.tree_case = case;
            self.tree = TreeState::default();
            self.detail_scroll = 0;
        }
    }

    // ----- events from the runtime ---------------------------------------

    /// Fresh data from the store (our decision, or another reviewer's).
    pub fn on_snapshot(
        &mut self,
        snapshot: Snapshot,
        mut new_records: Vec<EvidenceRecord>,
    ) -> bool {
        // Records we already hold (an overlapping refresh) are not new.
        let last_seq = self.records.last().map_or(0, |r| r.seq);
        new_records.retain(|r| r.seq > last_seq);
        if new_records.is_empty()
            && std::sync::Arc::ptr_eq(&snapshot.cases, &self.queue.snapshot.cases)
            && snapshot.evidence.last_seq == self.queue.snapshot.evidence.last_seq
            && snapshot.evidence.is_ok() == self.queue.snapshot.evidence.is_ok()
        {
            return false;
        }
        let others: Vec<&EvidenceRecord> = new_records
            .iter()
            .filter(|r| r.reviewer.name != self.reviewer.name)
            .collect();
        if let Some(r) = others.last() {
            self.message = Some(Message {
                text: format!(
                    "{} {} {} ({} → {})",
                    sanitize(&r.reviewer.name),
                    r.action,
                    sanitize(&r.case_id),
                    r.state_before.name(),
                    r.state_after.name()
                ),
                tone: Tone::Info,
            });
        }
        if let Some(d) = &mut self.dialog
            && let Some(r) = new_records.iter().rev().find(|r| r.case_id == d.case_id)
            && r.case_version + 1 != d.expected_version
        {
            d.changed_underneath = Some(format!(
                "{} changed while this dialog was open: {} recorded {} (now {}). Confirming will be refused as a conflict; Esc and review it again.",
                sanitize(&d.case_id),
                sanitize(&r.reviewer.name),
                r.action,
                r.state_after.name()
            ));
        }
        if let Some(d) = &mut self.dialog
            && d.changed_underneath.is_none()
            && !std::sync::Arc::ptr_eq(&snapshot.cases, &self.queue.snapshot.cases)
            && let Some(now_case) = snapshot.find(&d.case_id)
            && now_case.content_sha256() != d.case_sha256()
        {
            let status = snapshot.status(&d.case_id);
            let policy = &snapshot.policy;
            let now = self.queue.now;
            let before = crate::policy::assess(d.case(), &status, policy, now).tier;
            let after = crate::policy::assess(now_case, &status, policy, now).tier;
            d.changed_underneath = Some(format!(
                "{} changed on disk while this dialog was open (tier {} → {}; changed: {}). Confirming will be refused as a conflict; Esc and review it again.",
                sanitize(&d.case_id),
                before.name(),
                after.name(),
                sanitize(&crate::model::changed_fields(d.case(), now_case).join(", "))
            ));
        }
        let added = new_records.len();
        self.records.extend(new_records);
        if self.view == View::Evidence && self.evidence.selected > 0 {
            // Newest first: keep the same record under the cursor.
            self.evidence.selected += added;
        }
        self.queue.update(snapshot);
        self.rebuild();
        true
    }

    pub fn on_verified(&mut self, report: VerifyReport) -> bool {
        let changed = self.verify.as_ref() != Some(&report);
        self.verify = Some(report);
        changed
    }

    /// The store's answer to our decision.
    pub fn on_decided(&mut self, result: Result<EvidenceRecord, String>) -> bool {
        match result {
            Ok(record) => {
                self.dialog = None;
                self.message = Some(Message {
                    text: format!(
                        "recorded #{}: {} {} ({} → {}), on disk",
                        record.seq,
                        record.action,
                        sanitize(&record.case_id),
                        record.state_before.name(),
                        record.state_after.name()
                    ),
                    tone: Tone::Ok,
                });
            }
            Err(error) => {
                if let Some(d) = &mut self.dialog {
                    d.phase = Phase::Failed(error);
                } else {
                    self.message = Some(Message {
                        text: error,
                        tone: Tone::Error,
                    });
                }
            }
        }
        true
    }

    /// The decision could not reach the server: it is durable in the outbox
    /// but not recorded yet. The dialog closes; the status bar keeps count.
    pub fn on_queued(&mut self, waiting: usize, reason: String) -> bool {
        let what = match self.dialog.take() {
            Some(d) => format!("{} {}", d.action, sanitize(&d.case_id)),
            None => "decision".into(),
        };
        self.message = Some(Message {
            text: format!(
                "{what} queued, NOT yet recorded: server unreachable ({}); saved in the outbox, {} to sync",
                sanitize(&reason),
                plural(waiting, "decision waiting", "decisions waiting")
            ),
            tone: Tone::Warn,
        });
        true
    }

    /// A background error (a refresh, a verification) that is not the
    /// answer to the dialog: shown, without touching an open dialog.
    pub fn on_error(&mut self, text: String) -> bool {
        self.message = Some(Message {
            text,
            tone: Tone::Error,
        });
        true
    }

    /// The connection or the outbox changed.
    pub fn on_link(&mut self, link: LinkStatus) -> bool {
        if self.link == link {
            return false;
        }
        let synced = self.link.outbox_waiting > 0
            && link.outbox_waiting == 0
            && link.outbox_rejected == self.link.outbox_rejected;
        if synced && link.link == Link::Connected {
            self.message = Some(Message {
                text: format!(
                    "{} synced with the server",
                    plural(
                        self.link.outbox_waiting,
                        "queued decision",
                        "queued decisions"
                    )
                ),
                tone: Tone::Ok,
            });
        }
        if self.link.loading.is_some() && link.loading.is_none() {
            self.message = Some(Message {
                text: "all cases loaded".into(),
                tone: Tone::Ok,
            });
        }
        if link.outbox_rejected > self.link.outbox_rejected {
            self.message = Some(Message {
                text: format!(
                    "{} refused by the server, NOT recorded — nhi-triage outbox list",
                    plural(
                        link.outbox_rejected - self.link.outbox_rejected,
                        "queued decision",
                        "queued decisions"
                    )
                ),
                tone: Tone::Error,
            });
        }
        self.link = link;
        true
    }

    /// Time moved on (a countdown or an expiry): re-evaluate what depends on it.
    pub fn on_tick(&mut self, now: OffsetDateTime) -> bool {
        self.queue.set_now(now);
        self.rebuild();
        true
    }

    pub fn set_theme(&mut self, result: Result<Theme, String>) -> bool {
        match result {
            Ok(theme) => {
                self.message = Some(Message {
                    text: format!("theme {}", theme.name),
                    tone: Tone::Info,
                });
                self.theme = theme;
            }
            Err(e) => {
                self.message = Some(Message {
                    text: e,
                    tone: Tone::Error,
                })
            }
        }
        true
    }

    // ----- keys -----------------------------------------------------------

    /// Handles one key; returns whether anything visible changed, and the
    /// effects to run.
    pub fn on_key(&mut self, key: KeyEvent) -> (bool, Vec<Effect>) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return (false, vec![Effect::Quit]);
        }
        if self.dialog.is_some() {
            return self.dialog_key(key);
        }
        if self.refusal.is_some() {
            return self.refusal_key(key);
        }
        if let Some(scroll) = self.help {
            return (self.help_key(key, scroll), vec![]);
        }
        match self.input.clone() {
            Input::Filter => return (self.filter_key(key), vec![]),
            Input::Command(line) => return self.command_key(key, line),
            Input::Normal => {}
        }
        let had_message = self.message.take().is_some();
        let Some(action) = keymap::lookup(self.context(), &key) else {
            return (had_message, vec![]);
        };
        let (changed, effects) = self.dispatch(action);
        (changed || had_message, effects)
    }

    fn dispatch(&mut self, action: KeyAction) -> (bool, Vec<Effect>) {
        let page = self.viewport.max(1) as isize;
        let changed = match action {
            KeyAction::Quit => {
                self.quit = true;
                return (false, vec![Effect::Quit]);
            }
            KeyAction::Help => {
                self.help = Some(0);
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
                self.input = Input::Filter;
                true
            }
            KeyAction::Sort => {
                self.sort = self.sort.next();
                self.rebuild();
                self.message = Some(Message {
                    text: format!("sorted by {}", self.sort.name()),
                    tone: Tone::Info,
                });
                true
            }
            KeyAction::Command => {
                self.input = Input::Command(String::new());
                true
            }
            KeyAction::Back => self.back(),
            KeyAction::Open => {
                if self.selected_case().is_some() {
                    self.focus = self.detail_tab;
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

    fn tree_op(&mut self, op: fn(&mut TreeState, &[OutlineRow])) -> bool {
        let outline = self.outline();
        let before = (self.tree.cursor, self.tree.visible(&outline).len());
        op(&mut self.tree, &outline);
        before != (self.tree.cursor, self.tree.visible(&outline).len())
    }

    fn move_cursor(&mut self, delta: isize) -> bool {
        let height = self.viewport;
        match (self.view, self.focus) {
            (View::Evidence, _) => {
                let len = self.records.len();
                let target = self.evidence.selected as isize + delta;
                self.evidence.move_within(target, len, height)
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
                let before = self.detail_scroll;
                self.detail_scroll = (self.detail_scroll as isize + delta).clamp(0, 10_000) as u16;
                before != self.detail_scroll
            }
        }
    }

    fn cycle_pane(&mut self, back: bool) -> bool {
        let at = Pane::ORDER
            .iter()
            .position(|&p| p == self.focus)
            .unwrap_or(0);
        let n = Pane::ORDER.len();
        self.focus = Pane::ORDER[if back { (at + n - 1) % n } else { (at + 1) % n }];
        if self.focus != Pane::Queue {
            self.detail_tab = self.focus;
        }
        true
    }

    pub fn set_view(&mut self, view: View) -> bool {
        if self.view == view {
            return false;
        }
        self.view = view;
        self.focus = Pane::Queue;
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

    fn help_key(&mut self, key: KeyEvent, scroll: u16) -> bool {
        match key.code {
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') => self.help = None,
            KeyCode::Char('j') | KeyCode::Down => self.help = Some(scroll.saturating_add(1)),
            KeyCode::Char('k') | KeyCode::Up => self.help = Some(scroll.saturating_sub(1)),
            KeyCode::Char('Q') => {
                self.quit = true;
            }
            _ => return false,
        }
        self.help != Some(scroll) || self.quit
    }

    fn filter_key(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Esc => {
                self.input = Input::Normal;
                self.filter.clear();
            }
            KeyCode::Enter => self.input = Input::Normal,
            KeyCode::Backspace => {
                if self.filter.pop().is_none() {
                    self.input = Input::Normal;
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
                self.input = Input::Normal;
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
            KeyCode::Esc => self.input = Input::Normal,
            KeyCode::Backspace => {
                if line.pop().is_none() {
                    self.input = Input::Normal;
                } else {
                    self.input = Input::Command(line);
                }
            }
            KeyCode::Enter => {
                self.input = Input::Normal;
                return (true, self.run_command(&line));
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                line.push(c);
                self.input = Input::Command(line);
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
            app.message = Some(Message {
                text,
                tone: Tone::Error,
            });
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
                        "no view {:?}: pending, quarantined, escalated, decided, evidence",
                        sanitize(&arg)
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
                self.help = Some(0);
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
        self.refusal = None;
        let Some(index) = self.selected_case() else {
            self.message = Some(Message {
                text: "no case selected".into(),
                tone: Tone::Warn,
            });
            return true;
        };
        let case = self.queue.case(index);
        let status = &self.queue.statuses[index];
        let a = self.queue.assess(index);
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
            self.message = Some(Message {
                text,
                tone: Tone::Warn,
            });
            return true;
        }
        // The store's own check, before any typing: a refusal no
        // justification can change is shown now.
        match DecisionDialog::open(
            case,
            index,
            status,
            &a,
            action,
            self.queue.policy(),
            &self.reviewer,
            self.queue.now,
        ) {
            Ok(dialog) => self.dialog = Some(dialog),
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
                self.refusal = Some(Refusal {
                    case_id: case.id.clone(),
                    action,
                    reasons: refused.reasons,
                    alternatives,
                });
            }
        }
        true
    }

    fn refusal_key(&mut self, key: KeyEvent) -> (bool, Vec<Effect>) {
        let Some(refusal) = &self.refusal else {
            return (false, vec![]);
        };
        if key.code == KeyCode::Esc {
            self.refusal = None;
            return (true, vec![]);
        }
        if let Some(KeyAction::Decide(a)) = keymap::lookup(Context::Global, &key)
            && refusal.alternatives.contains(&a)
        {
            self.refusal = None;
            return (self.start_decision(a), vec![]);
        }
        (false, vec![])
    }

    fn dialog_key(&mut self, key: KeyEvent) -> (bool, Vec<Effect>) {
        let Some(d) = &mut self.dialog else {
            return (false, vec![]);
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                self.dialog = None;
                self.message = Some(Message {
                    text: "cancelled: nothing recorded".into(),
                    tone: Tone::Info,
                });
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
                (true, vec![Effect::Decide(d.decision())])
            }
            _ => {
                d.input(key);
                (true, vec![])
            }
        }
    }
}

/// "1 decision", "2 decisions".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
