//! The console's state and how input changes it. No terminal, file or
//! socket in here: [`AppEvent`]s come in (keys, store results, what the last
//! frame measured), [`Effect`]s go out, and every handler says whether
//! anything visible changed (no change, no redraw).

mod dialog;
mod keys;
mod list;
mod queue;
mod tree;

pub use dialog::{DecisionDialog, Discard, Field, Phase};
pub use list::ListState;
pub use queue::{ColumnWidths, QueueModel, SortKey, UNKNOWN_OWNER, View, new_matcher, views_of};
pub use tree::{TreeState, VisibleRow, outline_of};

use nucleo_matcher::Matcher;
use ratatui::crossterm::event::KeyEvent;
use time::OffsetDateTime;

use crate::evidence::{EvidenceRecord, VerifyReport};
use crate::model::{Action, Case, Decision, OutlineRow, Reviewer};
use crate::policy::Assessment;
use crate::store::{Link, LinkStatus, OutboxSummary, QueuedEntry, Snapshot};
use crate::text::sanitize;

use super::keymap::Context;
use super::theme::Theme;

/// What the app asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Record this decision (the answer comes back as [`AppEvent::Decided`]
    /// or [`AppEvent::Queued`]).
    Decide(Decision),
    /// Record this decision in place of the one still waiting in the outbox
    /// for the same case (the reviewer was told, and confirmed).
    Supersede(Decision),
    /// Load the named theme (answer: [`AppEvent::Theme`]).
    LoadTheme(String),
    /// Leave the console: restore the terminal and exit.
    Quit,
    /// Give the terminal back and stop (Ctrl-Z); resume with a full redraw.
    Suspend,
}

/// Everything the runtime tells the app. [`App::update`] takes one.
#[derive(Debug)]
pub enum AppEvent {
    /// A key press (or repeat).
    Key(KeyEvent),
    /// Text pasted with bracketed paste.
    Paste(String),
    /// What the last frame measured (rows and scroll limits).
    Drawn(Drawn),
    /// Fresh data from the store, with the evidence records it did not
    /// send before, read at `now`.
    Snapshot {
        /// The cases, their statuses and the evidence health.
        snapshot: Box<Snapshot>,
        /// Records after the last one the app holds (duplicates are dropped).
        records: Vec<EvidenceRecord>,
        /// When it was read: tiers and countdowns are evaluated at it.
        now: OffsetDateTime,
    },
    /// As [`AppEvent::Snapshot`], with the queue model already built from
    /// the snapshot (off the event loop: a million rows take a second).
    Rebuilt {
        /// The model of the new snapshot, built at `now`.
        model: Box<QueueModel>,
        /// Records after the last one the app holds (duplicates are dropped).
        records: Vec<EvidenceRecord>,
    },
    /// The store's answer to [`Effect::Decide`]: the durable record, or
    /// why nothing was recorded.
    Decided(Result<Box<EvidenceRecord>, String>),
    /// The decision is durable in the outbox, not recorded yet.
    Queued {
        /// Decisions now waiting in the outbox.
        waiting: usize,
        /// Why the server could not be reached.
        reason: String,
    },
    /// A background error that is not the answer to the dialog.
    Error(String),
    /// The connection or the outbox changed.
    Link(LinkStatus),
    /// Time moved on (a countdown or an expiry).
    Tick(OffsetDateTime),
    /// The answer to [`Effect::LoadTheme`].
    Theme(Result<Box<Theme>, String>),
    /// A fresh verification of the evidence chain.
    Verified(VerifyReport),
    /// The server named the reviewer differently (a token's name).
    Reviewer(Reviewer),
    /// A case's details, read from the store because the queue holds only
    /// its row ([`App::wanted_case`]).
    CaseLoaded(Box<Case>),
    /// What waits in the outbox, or was refused (this process's decisions
    /// or another process's `outbox dismiss`).
    Outbox(OutboxSummary),
}

/// The result of one event: whether to redraw, and what to run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Something visible changed: draw a frame.
    pub changed: bool,
    /// Effects for the runtime, in order.
    pub effects: Vec<Effect>,
}

/// What a frame measured, sent back so keys can page by what is visible
/// and panes scroll to their end and no further.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drawn {
    /// Rows of the queue (or evidence list) on screen; 0 when nothing was
    /// drawn (the terminal is too small).
    pub list_rows: usize,
    /// How far the focused text pane can scroll (lines), if one is focused.
    pub pane_scroll_max: Option<u16>,
    /// How far the help overlay can scroll, when it is open.
    pub help_scroll_max: Option<u16>,
    /// Lines of the help overlay on screen (its page), when it is open.
    pub help_rows: Option<u16>,
}

/// The panes that can hold focus, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The list of cases (or of evidence records).
    Queue,
    /// Who owns the identity.
    Ownership,
    /// The dependency tree.
    Tree,
    /// The three-question readiness check.
    Readiness,
    /// The evidence record under the cursor (Evidence view).
    Record,
}

impl Pane {
    const CASE_ORDER: [Pane; 4] = [Pane::Queue, Pane::Ownership, Pane::Tree, Pane::Readiness];
    const EVIDENCE_ORDER: [Pane; 2] = [Pane::Queue, Pane::Record];

    /// The pane's title as drawn.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Queue => "Queue",
            Pane::Ownership => "Ownership",
            Pane::Tree => "Dependencies",
            Pane::Readiness => "Readiness",
            Pane::Record => "Record",
        }
    }
}

/// What has the keyboard: one mode at a time.
pub enum Mode {
    /// Moving around the queue and panes.
    Normal,
    /// Typing the filter (`/`).
    Filter,
    /// Typing a `:` command.
    Command(String),
    /// The `?` overlay.
    Help {
        /// Lines scrolled from the top.
        scroll: u16,
    },
    /// The decision dialog.
    Dialog(Box<DecisionDialog>),
    /// A refused action, explained.
    Refusal(Refusal),
}

/// The text-entry modes, for views that only need to know which one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// No line is being typed.
    Normal,
    /// The filter line has the keyboard.
    Filter,
    /// The command line has the keyboard, with this text so far.
    Command(String),
}

/// How a message reads: never by colour alone, the words say it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Neutral news (another reviewer's decision, a sort order).
    Info,
    /// Something durable happened.
    Ok,
    /// Needs attention (queued, not recorded).
    Warn,
    /// Failed or refused.
    Error,
}

/// A one-line message for the status bar; cleared by the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The text, already sanitised.
    pub text: String,
    /// How it reads.
    pub tone: Tone,
}

/// A refused action, explained, with what can be done instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The case the action was refused on.
    pub case_id: String,
    /// The action refused.
    pub action: Action,
    /// Why, one reason per line.
    pub reasons: Vec<String>,
    /// What this reviewer could do instead.
    pub alternatives: Vec<Action>,
}

/// The console's whole state. Fields are readable through accessors; only
/// [`App::update`] (and the `on_*` handlers it calls) change them.
pub struct App {
    queue: QueueModel,
    matcher: Matcher,
    view: View,
    lists: [ListState; 4],
    filter: String,
    mode: Mode,
    sort: SortKey,
    focus: Pane,
    /// The detail pane shown in the narrow (tabbed) layout.
    detail_tab: Pane,
    tree: TreeState,
    tree_case: Option<usize>,
    detail_scroll: u16,
    message: Option<Message>,
    records: Vec<EvidenceRecord>,
    evidence: ListState,
    verify: Option<VerifyReport>,
    theme: Theme,
    store_label: String,
    /// The connection to a remote store and its outbox (local: `Link::Local`).
    link: LinkStatus,
    /// Who decides here (the name may come from a server's token).
    reviewer: Reviewer,
    /// Decisions waiting in the outbox and those the server refused.
    outbox: OutboxSummary,
    /// What the last frame measured.
    drawn: Drawn,
    quit: bool,
}

impl App {
    /// A console on `snapshot` and the evidence `records` so far, at `now`.
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
            mode: Mode::Normal,
            sort: SortKey::Risk,
            focus: Pane::Queue,
            detail_tab: Pane::Readiness,
            tree: TreeState::default(),
            tree_case: None,
            detail_scroll: 0,
            message: None,
            records,
            evidence: ListState::default(),
            verify: None,
            theme,
            store_label,
            link: LinkStatus::local(),
            reviewer,
            outbox: OutboxSummary::default(),
            drawn: Drawn {
                list_rows: 10,
                ..Drawn::default()
            },
            quit: false,
        };
        if app.queue.is_head() {
            let n = app.queue.len();
            app.say(
                format!("showing the top {n} cases while the whole queue is read…"),
                Tone::Info,
            );
        }
        app.rebuild();
        app
    }

    /// The one way in: an event, and what it changed and asks for.
    pub fn update(&mut self, event: AppEvent) -> Update {
        let (changed, effects) = match event {
            AppEvent::Key(key) => self.on_key(key),
            AppEvent::Paste(text) => (self.on_paste(&text), vec![]),
            AppEvent::Drawn(drawn) => (self.on_drawn(drawn), vec![]),
            AppEvent::Snapshot {
                snapshot,
                records,
                now,
            } => {
                self.queue.set_now(now);
                (self.on_snapshot(*snapshot, records), vec![])
            }
            AppEvent::Rebuilt { model, records } => {
                (self.on_fresh(Fresh::Built(model), records), vec![])
            }
            AppEvent::Decided(result) => (self.on_decided(result.map(|r| *r)), vec![]),
            AppEvent::Queued { waiting, reason } => (self.on_queued(waiting, reason), vec![]),
            AppEvent::Error(text) => (self.on_error(text), vec![]),
            AppEvent::Link(link) => (self.on_link(link), vec![]),
            AppEvent::Tick(now) => (self.on_tick(now), vec![]),
            AppEvent::Theme(result) => (self.set_theme(result.map(|t| *t)), vec![]),
            AppEvent::Verified(report) => (self.on_verified(report), vec![]),
            AppEvent::Reviewer(reviewer) => {
                let changed = self.reviewer != reviewer;
                self.reviewer = reviewer;
                (changed, vec![])
            }
            AppEvent::Outbox(summary) => (self.on_outbox(summary), vec![]),
            AppEvent::CaseLoaded(case) => {
                let shown = self
                    .selected_case()
                    .map(|i| self.queue.row(i).id() == case.id);
                let listed = self.queue.loaded(*case);
                (listed && shown == Some(true), vec![])
            }
        };
        Update { changed, effects }
    }

    // ----- read access (views and tests) ---------------------------------

    /// The cases, their statuses and assessments.
    pub fn queue(&self) -> &QueueModel {
        &self.queue
    }
    /// The view shown (Pending, …, Evidence).
    pub fn view(&self) -> View {
        self.view
    }
    /// The rows and cursor of each case view, in [`View::ALL`] order.
    pub fn lists(&self) -> &[ListState; 4] {
        &self.lists
    }
    /// The filter text.
    pub fn filter(&self) -> &str {
        &self.filter
    }
    /// What has the keyboard.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }
    /// Which line is being typed, if any.
    pub fn input(&self) -> Input {
        match &self.mode {
            Mode::Filter => Input::Filter,
            Mode::Command(line) => Input::Command(line.clone()),
            _ => Input::Normal,
        }
    }
    /// The decision dialog, when open.
    pub fn dialog(&self) -> Option<&DecisionDialog> {
        match &self.mode {
            Mode::Dialog(d) => Some(d),
            _ => None,
        }
    }
    /// The refusal overlay, when shown.
    pub fn refusal(&self) -> Option<&Refusal> {
        match &self.mode {
            Mode::Refusal(r) => Some(r),
            _ => None,
        }
    }
    /// The help overlay's scroll, when it is open.
    pub fn help(&self) -> Option<u16> {
        match self.mode {
            Mode::Help { scroll } => Some(scroll),
            _ => None,
        }
    }
    /// The sort order of the case views.
    pub fn sort(&self) -> SortKey {
        self.sort
    }
    /// The focused pane.
    pub fn focus(&self) -> Pane {
        self.focus
    }
    /// The detail pane shown in the tabbed (narrow) layout.
    pub fn detail_tab(&self) -> Pane {
        self.detail_tab
    }
    /// The dependency tree's cursor and expansion.
    pub fn tree(&self) -> &TreeState {
        &self.tree
    }
    /// How far the focused text pane is scrolled (lines).
    pub fn detail_scroll(&self) -> u16 {
        self.detail_scroll
    }
    /// The status-bar message, if any.
    pub fn message(&self) -> Option<&Message> {
        self.message.as_ref()
    }
    /// Every evidence record known, oldest first.
    pub fn records(&self) -> &[EvidenceRecord] {
        &self.records
    }
    /// The evidence view's cursor (row 0 is the newest record).
    pub fn evidence(&self) -> &ListState {
        &self.evidence
    }
    /// The last verification of the chain, if one finished.
    pub fn verify(&self) -> Option<&VerifyReport> {
        self.verify.as_ref()
    }
    /// The colours in use.
    pub fn theme(&self) -> &Theme {
        &self.theme
    }
    /// The store, as the status bar names it.
    pub fn store_label(&self) -> &str {
        &self.store_label
    }
    /// The remote connection and outbox counts (`Link::Local` locally).
    pub fn link(&self) -> &LinkStatus {
        &self.link
    }
    /// Who decides in this console.
    pub fn reviewer(&self) -> &Reviewer {
        &self.reviewer
    }
    /// What waits in the outbox and what the server refused.
    pub fn outbox(&self) -> &OutboxSummary {
        &self.outbox
    }
    /// The decision waiting in the outbox for the selected case, if any.
    pub fn queued_for_selected(&self) -> Option<&QueuedEntry> {
        let i = self.selected_case()?;
        self.outbox.queued_for(self.queue.row(i).id())
    }
    /// Rows the list showed at the last draw (for paging).
    pub fn viewport(&self) -> usize {
        self.drawn.list_rows.max(1)
    }
    /// Whether the app asked to quit.
    pub fn quitting(&self) -> bool {
        self.quit
    }

    // ----- derived state -------------------------------------------------

    /// The case view's list (None in the Evidence view).
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

    /// The record under the cursor in the Evidence view.
    pub fn selected_record(&self) -> Option<&EvidenceRecord> {
        let n = self.records.len();
        (self.view == View::Evidence && self.evidence.selected < n)
            .then(|| &self.records[n - 1 - self.evidence.selected])
    }

    /// The id of a case whose details the console wants and the queue does
    /// not hold (it holds only its row): the selected case first, then its
    /// neighbours in the list (so moving the cursor finds them read). The
    /// runtime reads it from the store ([`AppEvent::CaseLoaded`]) and asks
    /// again.
    pub fn wanted_case(&self) -> Option<&str> {
        let list = self.list()?;
        PREFETCH.iter().find_map(|&d| {
            let at = list.selected.checked_add_signed(d)?;
            self.queue.wanted(*list.rows.get(at)? as usize)
        })
    }

    /// Whether some case's tier must be assessed again by the store (its
    /// tier window ended): the runtime refreshes. Reading it clears it.
    pub fn take_due(&mut self) -> bool {
        self.queue.take_due()
    }

    /// The assessment of the selected case.
    pub fn assessment(&self) -> Option<Assessment> {
        self.selected_case().and_then(|i| self.queue.assess(i))
    }

    /// The actions that apply to the selected case in its state (allowed
    /// or not): what the key hints offer.
    pub fn offered_actions(&self) -> Vec<Action> {
        self.assessment()
            .map(|a| a.actions.iter().map(|v| v.action).collect())
            .unwrap_or_default()
    }

    /// The selected case's dependency outline.
    pub fn outline(&self) -> Vec<OutlineRow> {
        self.selected_case()
            .and_then(|i| self.queue.tree(i))
            .map(|t| t.outline.clone())
            .unwrap_or_default()
    }

    /// Rows in each view: Pending, Quarantined, Escalated, Decided, Evidence.
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

    /// The panes Tab cycles through in this view.
    fn pane_order(&self) -> &'static [Pane] {
        if self.view == View::Evidence {
            &Pane::EVIDENCE_ORDER
        } else {
            &Pane::CASE_ORDER
        }
    }

    /// Rebuilds the views' rows (after data, filter, sort or time changed),
    /// keeping each view's cursor on the same case.
    fn rebuild(&mut self) {
        let previous: Vec<Option<u32>> = self
            .lists
            .iter()
            .map(|l| l.rows.get(l.selected).and_then(|&i| self.queue.carried(i)))
            .collect();
        let rows = self.queue.rows(self.sort, &self.filter, &mut self.matcher);
        let height = self.viewport();
        for (v, rows) in rows.into_iter().enumerate() {
            let list = &mut self.lists[v];
            list.rows = rows;
            if let Some(p) = previous[v].and_then(|id| list.rows.iter().position(|&r| r == id)) {
                list.selected = p;
            } else if !self.filter.is_empty() {
                // The case no longer matches: the best match (the top
                // row, ranked), as fzf does.
                list.selected = 0;
            } else {
                // Gone (decided elsewhere): the next case in line.
                list.selected = list.selected.min(list.rows.len().saturating_sub(1));
            }
            list.scroll_into_view(list.rows.len(), height);
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

    fn say(&mut self, text: String, tone: Tone) {
        self.message = Some(Message { text, tone });
    }

    // ----- events from the runtime ---------------------------------------

    /// What the last frame measured: keep every cursor on screen (after a
    /// resize) and every scroll within its pane.
    pub fn on_drawn(&mut self, drawn: Drawn) -> bool {
        if drawn.list_rows == 0 {
            // Too small to draw: keep the last layout for when it grows.
            return false;
        }
        self.drawn = drawn;
        let height = self.viewport();
        let mut changed = false;
        for list in &mut self.lists {
            let before = list.offset;
            list.scroll_into_view(list.rows.len(), height);
            changed |= before != list.offset;
        }
        let before = self.evidence.offset;
        self.evidence.scroll_into_view(self.records.len(), height);
        changed |= before != self.evidence.offset;
        if let Some(max) = drawn.pane_scroll_max
            && self.detail_scroll > max
        {
            self.detail_scroll = max;
            changed = true;
        }
        if let (Mode::Help { scroll }, Some(max)) = (&mut self.mode, drawn.help_scroll_max)
            && *scroll > max
        {
            *scroll = max;
            changed = true;
        }
        changed
    }

    /// The outbox changed: queued cases get their marker, and a refused
    /// count that another process dismissed goes away.
    pub fn on_outbox(&mut self, summary: OutboxSummary) -> bool {
        if self.outbox == summary {
            return false;
        }
        self.queue.queued = summary.queued.iter().map(|q| q.case_id.clone()).collect();
        self.outbox = summary;
        true
    }

    /// Pasted text goes into the justification editor only. It may come
    /// from anywhere: line breaks and tabs stay, every other control
    /// character is dropped.
    pub fn on_paste(&mut self, text: &str) -> bool {
        let Mode::Dialog(d) = &mut self.mode else {
            return false;
        };
        if d.focus != Field::Justification || d.phase == Phase::Submitting {
            return false;
        }
        let clean: String = text
            .replace("\r\n", "\n")
            .chars()
            .map(|c| if c == '\r' { '\n' } else { c })
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
            .collect();
        d.justification.insert_str(clean);
        true
    }

    /// Fresh data from the store (our decision, or another reviewer's).
    pub fn on_snapshot(&mut self, snapshot: Snapshot, new_records: Vec<EvidenceRecord>) -> bool {
        self.on_fresh(Fresh::Snapshot(Box::new(snapshot)), new_records)
    }

    fn on_fresh(&mut self, fresh: Fresh, mut new_records: Vec<EvidenceRecord>) -> bool {
        let snapshot = match &fresh {
            Fresh::Snapshot(s) => s,
            Fresh::Built(m) => &m.snapshot,
        };
        // Records we already hold (an overlapping refresh) are not new.
        let last_seq = self.records.last().map_or(0, |r| r.seq);
        new_records.retain(|r| r.seq > last_seq);
        if new_records.is_empty()
            && self.queue.same_data(snapshot)
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
            let text = format!(
                "{} {} {} ({} → {})",
                sanitize(&r.reviewer.name),
                r.action,
                sanitize(&r.case_id),
                r.state_before.name(),
                r.state_after.name()
            );
            self.say(text, Tone::Info);
        }
        if let Mode::Dialog(d) = &mut self.mode {
            dialog::warn_if_changed(d, snapshot, &self.queue, &new_records);
        }
        let added = new_records.len();
        self.records.extend(new_records);
        if self.view == View::Evidence && self.evidence.selected > 0 {
            // Newest first: keep the same record under the cursor.
            self.evidence.selected += added;
        }
        let whole = match fresh {
            Fresh::Snapshot(s) => {
                self.queue.update(*s);
                false
            }
            Fresh::Built(m) => {
                let was_head = self.queue.is_head();
                self.queue.adopt(*m);
                was_head && !self.queue.is_head()
            }
        };
        if whole {
            let n = self.queue.len();
            self.say(format!("queue read: {n} cases"), Tone::Info);
        }
        self.rebuild();
        true
    }

    /// A fresh verification of the chain.
    pub fn on_verified(&mut self, report: VerifyReport) -> bool {
        let changed = self.verify.as_ref() != Some(&report);
        self.verify = Some(report);
        changed
    }

    /// The store's answer to our decision. A failure keeps the dialog and
    /// its text: a conflict never throws a typed justification away.
    pub fn on_decided(&mut self, result: Result<EvidenceRecord, String>) -> bool {
        match result {
            Ok(record) => {
                if matches!(self.mode, Mode::Dialog(_)) {
                    self.mode = Mode::Normal;
                }
                let text = format!(
                    "recorded #{}: {} {} ({} → {}), on disk",
                    record.seq,
                    record.action,
                    sanitize(&record.case_id),
                    record.state_before.name(),
                    record.state_after.name()
                );
                self.say(text, Tone::Ok);
            }
            Err(error) => {
                if let Mode::Dialog(d) = &mut self.mode {
                    d.phase = Phase::Failed(error);
                } else {
                    self.say(error, Tone::Error);
                }
            }
        }
        true
    }

    /// The decision could not reach the server: it is durable in the outbox
    /// but not recorded yet. The dialog closes (its text is in the outbox);
    /// the status bar keeps count.
    pub fn on_queued(&mut self, waiting: usize, reason: String) -> bool {
        let what = match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Dialog(d) => format!("{} {}", d.action, sanitize(&d.case_id)),
            other => {
                self.mode = other;
                "decision".into()
            }
        };
        // Most important first: a narrow status line cuts the end.
        let text = format!(
            "{what} queued, NOT yet recorded; {} to sync (saved in the outbox; server unreachable: {})",
            plural(waiting, "decision waiting", "decisions waiting"),
            sanitize(&reason)
        );
        self.say(text, Tone::Warn);
        true
    }

    /// A background error (a refresh, a verification) that is not the
    /// answer to the dialog: shown, without touching an open dialog.
    pub fn on_error(&mut self, text: String) -> bool {
        self.say(sanitize(&text).into_owned(), Tone::Error);
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
            let text = format!(
                "{} synced with the server",
                plural(
                    self.link.outbox_waiting,
                    "queued decision",
                    "queued decisions"
                )
            );
            self.say(text, Tone::Ok);
        }
        if self.link.loading.is_some() && link.loading.is_none() {
            self.say("all cases loaded".into(), Tone::Ok);
        }
        if link.outbox_rejected > self.link.outbox_rejected {
            let text = format!(
                "{} refused by the server, NOT recorded — nhi-triage outbox list",
                plural(
                    link.outbox_rejected - self.link.outbox_rejected,
                    "queued decision",
                    "queued decisions"
                )
            );
            self.say(text, Tone::Error);
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

    /// A theme loaded (or failed to).
    pub fn set_theme(&mut self, result: Result<Theme, String>) -> bool {
        match result {
            Ok(theme) => {
                self.say(format!("theme {}", theme.name), Tone::Info);
                self.theme = theme;
            }
            Err(e) => self.say(sanitize(&e).into_owned(), Tone::Error),
        }
        true
    }
}

/// The rows around the cursor whose details are read ahead, nearest first
/// (fewer than the queue model keeps).
const PREFETCH: [isize; 9] = [0, 1, -1, 2, 3, -2, 4, 5, -3];

/// New data for the queue: a snapshot, or a model already built from one.
enum Fresh {
    Snapshot(Box<Snapshot>),
    Built(Box<QueueModel>),
}

/// "1 decision", "2 decisions".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
