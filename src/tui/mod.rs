//! The full-screen console: app state and update (`app`, no IO), drawing
//! (`views`), keys (`keymap`), colours (`theme`), and this runtime, which
//! connects them to the terminal and the store.
//!
//! The loop redraws only when something changed: a key that changed state,
//! a resize, new data, or a timer with visible work (a quarantine countdown,
//! an expiry). Idle, it waits without waking.

pub mod app;
pub mod backend;
pub mod keymap;
mod signals;
mod terminal;
pub mod theme;
pub mod views;
mod width;

pub use signals::Ended;

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::evidence::{EvidenceRecord, VerifyReport};
use crate::model::{CaseState, Decision, Reviewer};
use crate::store::{LinkStatus, Snapshot, Store, StoreError};

use app::{App, AppEvent, Drawn, Effect, Update, View};
use theme::Theme;

/// What background work reports back to the loop.
enum Msg {
    /// A fresh snapshot (or the queue model built from it, when its cases
    /// changed) and the evidence records after the last one held.
    Refreshed(Box<Result<(Refreshed, Vec<EvidenceRecord>), StoreError>>),
    /// A decision's record, or why it was not recorded (refused, conflict,
    /// queued in the outbox).
    Decided(Result<Box<EvidenceRecord>, StoreError>),
    /// The evidence chain's verification report.
    Verified(Result<VerifyReport, StoreError>),
    /// A theme loaded for `:theme`, or the error text to show.
    Theme(Result<Box<Theme>, String>),
    /// A case's details, read because the queue holds only its row.
    Loaded(String, Result<Option<Box<crate::model::Case>>, StoreError>),
}

/// What a refresh brings: a snapshot, or the model already built from it.
enum Refreshed {
    Snapshot(Box<Snapshot>),
    Built(Box<app::QueueModel>),
}

/// Rows read at once for the first frame of a console on a large store.
const HEAD_ROWS: usize = 500;

/// Why the console stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be set up, read or written.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The store failed before the first frame (opening, first snapshot).
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = TuiError> = std::result::Result<T, E>;

/// How to run the console.
pub struct Options {
    /// The colours to start with (`:theme` changes them).
    pub theme: Theme,
    /// Who decides here. With a store that names the reviewer itself (a
    /// server, from the token: [`Store::reviewer_name`]) that name is used
    /// instead, so the console shows the name the evidence will carry.
    pub reviewer: Reviewer,
}

/// Runs the console until the reviewer quits or a signal ends it (see
/// [`Ended`] for the exit status), with the terminal restored either way. A
/// remote store may still be loading cases in the background
/// ([`crate::store::RemoteStore::load_streaming`]): the queue grows as they
/// arrive, with the progress in the status bar.
///
/// Call [`unusable`] first: the console needs a terminal.
pub async fn run(store: Arc<dyn Store>, options: Options) -> Result<Ended> {
    // Subscribed before the first snapshot: cases that arrive after it are
    // a change of the link the loop hears of.
    let mut link = store.link();
    let status = link.borrow_and_update().clone();
    let now = OffsetDateTime::now_utc();
    // On a large store the first frame shows the top of the queue at once;
    // the whole queue follows from a refresh.
    let head = store.queue_head(now, HEAD_ROWS).await?;
    let whole_to_read = head.is_some();
    let snapshot = match head {
        Some(head) => head,
        None => store.queue(now).await?,
    };
    let records = store.records_since(0).await?;
    let mut reviewer = options.reviewer;
    if status.link != crate::store::Link::Local {
        reviewer.os_account = None;
    }
    if let Some(name) = store.reviewer_name() {
        // A server names the reviewer from the token and records no OS
        // account: this machine's account says nothing about who decides.
        reviewer.name = name;
        reviewer.os_account = None;
    }
    let mut app = App::new(
        snapshot,
        records,
        options.theme,
        store.describe(),
        reviewer.clone(),
        now,
    );
    app.update(AppEvent::Link(status));
    let mut term = terminal::enter()?;
    let mut runtime = Runtime::new(store, reviewer, app);
    if whole_to_read {
        runtime.refresh();
    }
    let result = runtime.run(&mut term, link).await;
    terminal::restore();
    result
}

struct Runtime {
    store: Arc<dyn Store>,
    reviewer: Reviewer,
    app: App,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    refreshing: bool,
    refresh_again: bool,
    verifying: bool,
    verify_again: bool,
    /// Ctrl-Z or SIGTSTP asked to suspend, before the next frame.
    suspend_asked: bool,
    /// Suspended (or continued in the background): nothing is drawn until
    /// SIGCONT finds the console in the foreground.
    stopped: bool,
    /// The case whose details are being read from the store.
    loading_case: Option<String>,
}

impl Runtime {
    fn new(store: Arc<dyn Store>, reviewer: Reviewer, app: App) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Runtime {
            store,
            reviewer,
            app,
            tx,
            rx,
            refreshing: false,
            refresh_again: false,
            verifying: false,
            verify_again: false,
            suspend_asked: false,
            stopped: false,
            loading_case: None,
        }
    }

    async fn run(
        mut self,
        term: &mut terminal::Term,
        link: tokio::sync::watch::Receiver<LinkStatus>,
    ) -> Result<Ended> {
        let mut events = EventStream::new();
        let mut feed = match self.store.watch() {
            Ok(feed) => Some(feed),
            Err(e) => {
                tracing::warn!("live updates by polling: {e}");
                None
            }
        };
        // A local store's link never changes (its sender is gone at once).
        let mut link = Some(link);
        let mut signals = signals::Signals::new()?;
        self.verify();
        let mut dirty = true;
        loop {
            dirty |= self.suspend_if_asked()?;
            // Whatever woke the loop may have changed the outbox (our
            // decision queued or sent, another process's `outbox dismiss`):
            // cheap, no I/O.
            let outbox = self.store.outbox_summary();
            dirty |= self.app.update(AppEvent::Outbox(outbox)).changed;
            self.load_wanted_case();
            if self.app.take_due() {
                self.refresh();
            }
            if dirty && !self.stopped {
                let mut drawn = Drawn::default();
                term.draw(|f| drawn = views::draw(f, &self.app))?;
                // A frame that moved a cursor or clamped a scroll (after a
                // resize) is drawn again at once.
                dirty = self.app.update(AppEvent::Drawn(drawn)).changed;
                if dirty {
                    continue;
                }
            }
            if self.app.quitting() {
                return Ok(Ended::Quit);
            }
            let timer = self.next_timer(feed.is_none());
            tokio::select! {
                event = events.next() => {
                    let Some(event) = event else { return Ok(Ended::Quit) };
                    dirty |= self.on_event(event?);
                    // Coalesce: handle whatever else is already waiting
                    // before drawing once. Polled with this task's waker:
                    // crossterm's stream keeps the waker of the poll that
                    // found nothing, so a no-op waker (`now_or_never`) would
                    // leave the next key unnoticed until something else woke
                    // the loop.
                    for _ in 0..256 {
                        let next = std::future::poll_fn(|cx| {
                            Poll::Ready(events.poll_next_unpin(cx))
                        })
                        .await;
                        match next {
                            Poll::Ready(Some(event)) => dirty |= self.on_event(event?),
                            _ => break,
                        }
                    }
                }
                Some(msg) = self.rx.recv() => dirty |= self.on_msg(msg),
                Some(()) = recv_change(&mut feed) => {
                    // Drain a burst of file events into one refresh.
                    if let Some(f) = feed.as_mut() {
                        while f.changes.try_recv().is_ok() {}
                    }
                    self.refresh();
                }
                _ = sleep_for(timer), if timer.is_some() => {
                    if feed.is_none() {
                        self.refresh();
                    }
                    dirty |= self.app.update(AppEvent::Tick(OffsetDateTime::now_utc())).changed;
                }
                alive = link_changed(&mut link) => {
                    match link.as_mut() {
                        Some(rx) if alive => {
                            let status = rx.borrow_and_update().clone();
                            // More cases arrived (or the last page): fetch
                            // the longer list.
                            let grew = status.loading.as_ref().map(|l| l.loaded)
                                != self.app.link().loading.as_ref().map(|l| l.loaded);
                            dirty |= self.app.update(AppEvent::Link(status)).changed;
                            if grew {
                                self.refresh();
                            }
                        }
                        _ => link = None,
                    }
                }
                asked = signals.recv() => match self.on_signal(asked, term)? {
                    Some(ended) => return Ok(ended),
                    None => dirty = true,
                },
            }
        }
    }

    fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                let Update { changed, effects } = self.app.update(AppEvent::Key(key));
                for effect in effects {
                    self.run_effect(effect);
                }
                changed
            }
            Event::Resize(_, _) => true,
            Event::Paste(text) => self.app.update(AppEvent::Paste(text)).changed,
            _ => false,
        }
    }

    fn on_msg(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Refreshed(result) => {
                self.refreshing = false;
                let changed = match *result {
                    Ok((fresh, records)) => {
                        if let Some(name) = self.store.reviewer_name()
                            && name != self.reviewer.name
                        {
                            self.reviewer.name = name.clone();
                            self.reviewer.os_account = None;
                            self.app.update(AppEvent::Reviewer(self.reviewer.clone()));
                        }
                        let new_records = !records.is_empty();
                        let event = match fresh {
                            Refreshed::Snapshot(snapshot) => AppEvent::Snapshot {
                                snapshot,
                                records,
                                now: OffsetDateTime::now_utc(),
                            },
                            Refreshed::Built(model) => AppEvent::Rebuilt { model, records },
                        };
                        let changed = self.app.update(event).changed;
                        if new_records {
                            self.verify();
                        }
                        changed
                    }
                    Err(e) => {
                        self.app
                            .update(AppEvent::Error(format!("refresh failed: {e}")))
                            .changed
                    }
                };
                // Only now, with this result applied, does a follow-up
                // refresh know which records it still needs.
                if std::mem::take(&mut self.refresh_again) {
                    self.refresh();
                }
                changed
            }
            // Durable in the outbox, not recorded: nothing new to fetch.
            Msg::Decided(Err(StoreError::Queued { waiting, reason })) => {
                self.app
                    .update(AppEvent::Queued { waiting, reason })
                    .changed
            }
            Msg::Decided(result) => {
                self.refresh();
                let result = result.map_err(|e| explain(&e));
                self.app.update(AppEvent::Decided(result)).changed
            }
            Msg::Verified(result) => {
                self.verifying = false;
                if std::mem::take(&mut self.verify_again) {
                    self.verify();
                }
                match result {
                    Ok(report) => self.app.update(AppEvent::Verified(report)).changed,
                    Err(e) => {
                        self.app
                            .update(AppEvent::Error(format!("verify failed: {e}")))
                            .changed
                    }
                }
            }
            Msg::Theme(result) => self.app.update(AppEvent::Theme(result)).changed,
            Msg::Loaded(id, result) => {
                if self.loading_case.as_deref() == Some(id.as_str()) {
                    self.loading_case = None;
                }
                match result {
                    Ok(Some(case)) => self.app.update(AppEvent::CaseLoaded(case)).changed,
                    // Gone meanwhile: the refresh the store's change brings
                    // takes its row away.
                    Ok(None) => {
                        self.refresh();
                        false
                    }
                    Err(e) => {
                        self.app
                            .update(AppEvent::Error(format!(
                                "reading {} failed: {e}",
                                crate::text::sanitize(&id)
                            )))
                            .changed
                    }
                }
            }
        }
    }

    /// Reads the selected case's details when the queue holds only its
    /// row; one read at a time (the next selection is read after it).
    fn load_wanted_case(&mut self) {
        if self.loading_case.is_some() {
            return;
        }
        let Some(id) = self.app.wanted_case().map(str::to_string) else {
            return;
        };
        self.loading_case = Some(id.clone());
        let (store, tx) = (self.store.clone(), self.tx.clone());
        tokio::spawn(async move {
            let result = store.lookup(&id).await.map(|l| l.case.map(Box::new));
            let _ = tx.send(Msg::Loaded(id, result));
        });
    }

    fn run_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Quit => {}
            Effect::Suspend => self.suspend_asked = true,
            Effect::Decide(decision) => self.decide(decision, false),
            Effect::Supersede(decision) => self.decide(decision, true),
            Effect::LoadTheme(name) => {
                let _ = self.tx.send(Msg::Theme(
                    Theme::load(&name).map(Box::new).map_err(|e| e.to_string()),
                ));
            }
        }
    }

    fn decide(&self, decision: Decision, supersede: bool) {
        let (store, tx, reviewer) = (self.store.clone(), self.tx.clone(), self.reviewer.clone());
        tokio::spawn(async move {
            let result = if supersede {
                store.decide_superseding(decision, reviewer).await
            } else {
                store.decide(decision, reviewer).await
            };
            let result = result.map(Box::new);
            let _ = tx.send(Msg::Decided(result));
        });
    }

    /// Fetches new data; at most one fetch at a time, the rest coalesced.
    fn refresh(&mut self) {
        if self.refreshing {
            self.refresh_again = true;
            return;
        }
        self.refreshing = true;
        let after = self.app.records().last().map_or(0, |r| r.seq);
        let (store, tx) = (self.store.clone(), self.tx.clone());
        let held = self
            .app
            .queue()
            .snapshot
            .rows
            .as_ref()
            .map(|q| q.rows.clone());
        let sort = self.app.sort();
        tokio::spawn(async move {
            let result = async {
                let now = OffsetDateTime::now_utc();
                let snapshot = store.queue(now).await?;
                let records = store.records_since(after).await?;
                // Other rows: the model is built here, not on the loop.
                let other_rows = match (&snapshot.rows, &held) {
                    (Some(new), Some(old)) => !std::sync::Arc::ptr_eq(&new.rows, old),
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if !other_rows {
                    return Ok((Refreshed::Snapshot(Box::new(snapshot)), records));
                }
                let model = tokio::task::spawn_blocking(move || {
                    let mut model = app::QueueModel::new(snapshot, now);
                    model.warm(sort);
                    model
                })
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?;
                Ok((Refreshed::Built(Box::new(model)), records))
            }
            .await;
            let _ = tx.send(Msg::Refreshed(Box::new(result)));
        });
    }

    fn verify(&mut self) {
        if self.verifying {
            self.verify_again = true;
            return;
        }
        self.verifying = true;
        let (store, tx) = (self.store.clone(), self.tx.clone());
        tokio::spawn(async move {
            let _ = tx.send(Msg::Verified(store.verify().await));
        });
    }

    /// The next wake-up with visible work: the minute boundary while a
    /// countdown is on screen, the next quarantine expiry, or the polling
    /// interval when the store cannot be watched. `None`: sleep until input.
    fn next_timer(&self, polling: bool) -> Option<Duration> {
        let now = OffsetDateTime::now_utc();
        let mut next: Option<Duration> = polling.then_some(Duration::from_secs(1));
        let mut consider = |d: Duration| next = Some(next.map_or(d, |n| n.min(d)));
        if let Some(expiry) = self.app.queue().next_expiry() {
            consider(to_std(expiry - now));
        }
        // A tier window ends: the tier may change.
        if let Some(due) = self.app.queue().next_due() {
            consider(to_std(due - now));
        }
        if self.countdown_visible() {
            let into_minute = now.second() as u64 * 1000 + now.millisecond() as u64;
            consider(Duration::from_millis(60_000 - into_minute.min(59_999)));
        }
        next
    }

    fn countdown_visible(&self) -> bool {
        let Some(list) = self.app.list() else {
            return false;
        };
        if self.app.view() == View::Quarantined && !list.rows.is_empty() {
            return true;
        }
        let end = (list.offset + self.app.viewport()).min(list.rows.len());
        list.rows[list.offset.min(end)..end].iter().any(|&i| {
            matches!(
                self.app.queue().status(i as usize).state,
                CaseState::Quarantined { .. }
            )
        })
    }
}

fn to_std(d: time::Duration) -> Duration {
    Duration::from_millis(d.whole_milliseconds().clamp(0, u64::MAX as i128) as u64 + 5)
}

async fn sleep_for(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// True when the link changed, false when it never will again.
async fn link_changed(link: &mut Option<tokio::sync::watch::Receiver<LinkStatus>>) -> bool {
    match link {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

async fn recv_change(feed: &mut Option<crate::store::ChangeFeed>) -> Option<()> {
    match feed {
        Some(f) => f.changes.recv().await,
        None => std::future::pending().await,
    }
}

/// A store error as the reviewer should read it.
fn explain(e: &StoreError) -> String {
    match e {
        StoreError::Refused(r) => format!("refused: {}", r.reasons.join("; ")),
        other => other.to_string(),
    }
}

/// Whether the console can run here: `Some(why not)` when standard input
/// or output is not a terminal or TERM is `dumb`, with a message pointing to
/// `list` and `show`.
pub fn unusable() -> Option<String> {
    terminal::unusable()
}

// Suspending and resuming (Ctrl-Z, SIGTSTP, SIGCONT) and ending on a signal.
impl Runtime {
    /// Suspends if Ctrl-Z or SIGTSTP asked to: the terminal is given back
    /// and the process group stopped; nothing is drawn until SIGCONT finds
    /// the console in the foreground again ([`Runtime::on_signal`]). Where
    /// no shell could resume it, says so instead. True: redraw.
    fn suspend_if_asked(&mut self) -> Result<bool> {
        if !std::mem::take(&mut self.suspend_asked) {
            return Ok(false);
        }
        match terminal::suspend()? {
            terminal::Suspend::Stopped => {
                self.stopped = true;
                Ok(false)
            }
            terminal::Suspend::NoJobControl => {
                tracing::info!("suspend refused: no job control");
                let why = "Ctrl-Z: no job control here, so nothing could resume the console";
                Ok(self.app.update(AppEvent::Error(why.into())).changed)
            }
        }
    }

    /// What a signal does: end (with its exit status), ask to suspend, or,
    /// on SIGCONT, take the terminal again and redraw everything when in the
    /// foreground (a job continued in the background waits for `fg`).
    fn on_signal(
        &mut self,
        asked: signals::Asked,
        term: &mut terminal::Term,
    ) -> Result<Option<Ended>> {
        match asked {
            signals::Asked::End(n) => {
                tracing::info!(signal = n, "console ended by a signal");
                return Ok(Some(Ended::Signal(n)));
            }
            signals::Asked::Suspend => self.suspend_asked = true,
            signals::Asked::Continue if !terminal::in_background() => {
                terminal::resume(term)?;
                self.stopped = false;
            }
            signals::Asked::Continue => self.stopped = true,
        }
        Ok(None)
    }
}
