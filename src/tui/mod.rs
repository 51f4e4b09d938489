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
mod terminal;
pub mod theme;
pub mod views;

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

use app::{App, Effect, View};
use theme::Theme;

/// What background work reports back to the loop.
enum Msg {
    Refreshed(Result<(Snapshot, Vec<EvidenceRecord>), StoreError>),
    Decided(Result<Box<EvidenceRecord>, StoreError>),
    Verified(Result<VerifyReport, StoreError>),
    Theme(Result<Theme, String>),
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = TuiError> = std::result::Result<T, E>;

pub struct Options {
    pub theme: Theme,
    /// Who decides here. With a store that names the reviewer itself (a
    /// server, from the token: [`Store::reviewer_name`]) that name is used
    /// instead, so the console shows the name the evidence will carry.
    pub reviewer: Reviewer,
}

/// Runs the console until the reviewer quits (or a signal ends it). A
/// remote store may still be loading cases in the background
/// ([`crate::store::RemoteStore::load_streaming`]): the queue grows as they
/// arrive, with the progress in the status bar.
pub async fn run(store: Arc<dyn Store>, options: Options) -> Result<()> {
    // Subscribed before the first snapshot: cases that arrive after it are
    // a change of the link the loop hears of.
    let mut link = store.link();
    let status = link.borrow_and_update().clone();
    let snapshot = store.snapshot().await?;
    let records = store.records_since(0).await?;
    let now = OffsetDateTime::now_utc();
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
    app.link = status;
    let mut term = terminal::enter()?;
    let result = Runtime::new(store, reviewer, app)
        .run(&mut term, link)
        .await;
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
        }
    }

    async fn run(
        mut self,
        term: &mut terminal::Term,
        link: tokio::sync::watch::Receiver<LinkStatus>,
    ) -> Result<()> {
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
        let mut signals = Signals::new()?;
        self.verify();
        let mut dirty = true;
        loop {
            if dirty {
                let mut visible = 0;
                term.draw(|f| visible = views::draw(f, &self.app))?;
                if visible > 0 {
                    self.app.viewport = visible;
                }
                dirty = false;
            }
            if self.app.quit {
                return Ok(());
            }
            let timer = self.next_timer(feed.is_none());
            tokio::select! {
                event = events.next() => {
                    let Some(event) = event else { return Ok(()) };
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
                    dirty |= self.app.on_tick(OffsetDateTime::now_utc());
                }
                alive = link_changed(&mut link) => {
                    match link.as_mut() {
                        Some(rx) if alive => {
                            let status = rx.borrow_and_update().clone();
                            // More cases arrived (or the last page): fetch
                            // the longer list.
                            let grew = status.loading.as_ref().map(|l| l.loaded)
                                != self.app.link.loading.as_ref().map(|l| l.loaded);
                            dirty |= self.app.on_link(status);
                            if grew {
                                self.refresh();
                            }
                        }
                        _ => link = None,
                    }
                }
                _ = signals.recv() => return Ok(()),
            }
        }
    }

    fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                let (changed, effects) = self.app.on_key(key);
                for effect in effects {
                    self.run_effect(effect);
                }
                changed
            }
            Event::Resize(_, _) => true,
            Event::Paste(text) => {
                // Pasted text goes into the justification editor only.
                if let Some(d) = &mut self.app.dialog
                    && d.focus == app::Field::Justification
                {
                    // Pasted text may come from anywhere: keep line breaks
                    // and tabs, drop every other control character.
                    let clean: String = text
                        .replace("\r\n", "\n")
                        .chars()
                        .map(|c| if c == '\r' { '\n' } else { c })
                        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
                        .collect();
                    d.justification.insert_str(clean);
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    fn on_msg(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Refreshed(result) => {
                self.refreshing = false;
                let changed = match result {
                    Ok((snapshot, records)) => {
                        if let Some(name) = self.store.reviewer_name()
                            && name != self.reviewer.name
                        {
                            self.reviewer.name = name.clone();
                            self.reviewer.os_account = None;
                            self.app.reviewer = self.reviewer.clone();
                        }
                        let new_records = !records.is_empty();
                        self.app.queue.set_now(OffsetDateTime::now_utc());
                        let changed = self.app.on_snapshot(snapshot, records);
                        if new_records {
                            self.verify();
                        }
                        changed
                    }
                    Err(e) => self.app.on_error(format!("refresh failed: {e}")),
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
                self.app.on_queued(waiting, reason)
            }
            Msg::Decided(result) => {
                self.refresh();
                self.app
                    .on_decided(result.map(|r| *r).map_err(|e| explain(&e)))
            }
            Msg::Verified(result) => {
                self.verifying = false;
                if std::mem::take(&mut self.verify_again) {
                    self.verify();
                }
                match result {
                    Ok(report) => self.app.on_verified(report),
                    Err(e) => self.app.on_error(format!("verify failed: {e}")),
                }
            }
            Msg::Theme(result) => self.app.set_theme(result),
        }
    }

    fn run_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Quit => self.app.quit = true,
            Effect::Decide(decision) => self.decide(decision),
            Effect::LoadTheme(name) => {
                let _ = self
                    .tx
                    .send(Msg::Theme(Theme::load(&name).map_err(|e| e.to_string())));
            }
        }
    }

    fn decide(&self, decision: Decision) {
        let (store, tx, reviewer) = (self.store.clone(), self.tx.clone(), self.reviewer.clone());
        tokio::spawn(async move {
            let result = store.decide(decision, reviewer).await.map(Box::new);
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
        let after = self.app.records.last().map_or(0, |r| r.seq);
        let (store, tx) = (self.store.clone(), self.tx.clone());
        tokio::spawn(async move {
            let result = async {
                let snapshot = store.snapshot().await?;
                let records = store.records_since(after).await?;
                Ok((snapshot, records))
            }
            .await;
            let _ = tx.send(Msg::Refreshed(result));
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
        if let Some(expiry) = self.app.queue.next_expiry() {
            consider(to_std(expiry - now));
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
        if self.app.view == View::Quarantined && !list.rows.is_empty() {
            return true;
        }
        let end = (list.offset + self.app.viewport).min(list.rows.len());
        list.rows[list.offset.min(end)..end].iter().any(|&i| {
            matches!(
                self.app.queue.statuses[i as usize].state,
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

/// SIGTERM, SIGHUP (the SSH session went away) and SIGINT end the console
/// cleanly; Ctrl-C in raw mode arrives as a key instead.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
