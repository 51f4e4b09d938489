//! The outbox glue: queueing a decision the server cannot take now (at most
//! one per case, or explicitly superseding the one waiting), sending the
//! outbox (in order, each exactly once), in the background too, and
//! following changes other processes make to the outbox file.

use super::*;

/// The outcome of the caller's own entry in a flush, when it was reached.
type Own = Option<Result<EvidenceRecord, StoreError>>;

impl RemoteStore {
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Outbox) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let outbox = self.shared.outbox.clone();
        tokio::task::spawn_blocking(move || f(&outbox))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Holds the outbox as it is now, and puts its counts in the link status.
    /// True when it differs from what was held.
    pub(super) fn set_outbox(&self, summary: OutboxSummary) -> bool {
        let counts = summary.counts();
        let changed = {
            let mut held = self
                .shared
                .outbox_summary
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let changed = *held != summary;
            *held = summary;
            changed
        };
        self.shared.link.send_if_modified(|s| {
            let changed =
                s.outbox_waiting != counts.waiting || s.outbox_rejected != counts.rejected;
            s.outbox_waiting = counts.waiting;
            s.outbox_rejected = counts.rejected;
            changed
        });
        changed
    }

    /// Sends the waiting decisions, oldest first, each with its own key (so
    /// each is recorded exactly once however often it is sent). Stops at the
    /// first that cannot be delivered (keeping the order); a refused one is
    /// kept as `rejected` with the server's reason. Errors: the outbox file,
    /// a refused token, a broken evidence log on the server.
    pub async fn flush_outbox(&self) -> Result<FlushReport, StoreError> {
        Ok(self.flush(None).await?.0)
    }

    /// As [`RemoteStore::flush_outbox`]; the entry keyed `own` (a decision
    /// the caller is waiting on) is not kept when the server refuses it: its
    /// outcome is returned instead, once it is reached.
    async fn flush(&self, own: Option<&str>) -> Result<(FlushReport, Own), StoreError> {
        let _flushing = self.shared.flushing.lock().await;
        let contents = self.blocking(|o| o.read()).await?;
        let mut summary = contents.summary();
        let mut report = FlushReport {
            counts: summary.counts(),
            ..FlushReport::default()
        };
        let mut outcome = None;
        let waiting: Vec<OutboxEntry> = contents.waiting().cloned().collect();
        for entry in waiting {
            let key = entry.idempotency_key.clone();
            let mine = own == Some(key.as_str());
            match self.post_decision(&entry.decision, &key).await {
                Posted::Recorded(record) => {
                    tracing::info!(key, seq = record.seq, "queued decision recorded");
                    summary = self.blocking(move |o| o.remove(&key)).await?;
                    if mine {
                        outcome = Some(Ok((*record).clone()));
                    }
                    report.sent.push(*record);
                }
                Posted::Rejected(e) if mine => {
                    // The caller hears of it now: nothing to keep.
                    summary = self.blocking(move |o| o.remove(&key)).await?;
                    outcome = Some(Err(e));
                }
                Posted::Rejected(e) => {
                    let reason = e.to_string();
                    tracing::warn!(key, "queued decision refused: {reason}");
                    let mut rejected = entry.clone();
                    rejected.state = EntryState::Rejected;
                    rejected.reason = reason.clone();
                    summary = self.blocking(move |o| o.reject(&key, &reason)).await?;
                    report.rejected.push(rejected);
                }
                Posted::Retry(reason) => {
                    let r = reason.clone();
                    summary = self.blocking(move |o| o.note_failure(&key, &r)).await?;
                    report.unreachable = Some(reason);
                    break;
                }
                Posted::Fatal(e) => {
                    self.set_outbox(summary);
                    return Err(e);
                }
            }
        }
        report.counts = summary.counts();
        self.set_outbox(summary);
        if report.unreachable.is_none()
            && (!report.sent.is_empty() || !report.rejected.is_empty() || outcome.is_some())
        {
            self.set_link(Link::Connected);
        }
        Ok((report, outcome))
    }

    /// Sends the outbox in the background, with backoff, until nothing
    /// waits (or the token is refused, or the store is dropped). One at a
    /// time; needs a tokio runtime (without one, the next command sends).
    pub(super) fn spawn_flusher(&self) {
        use std::sync::atomic::Ordering;
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.shared.flusher.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.shared);
        handle.spawn(async move {
            let mut failures = 0u32;
            loop {
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                let Some(shared) = weak.upgrade() else { return };
                let store = RemoteStore { shared };
                // (finished, may go on): a refused token stops it for good.
                let (finished, again) = match store.flush_outbox().await {
                    Ok(r) => (r.unreachable.is_none() || r.counts.waiting == 0, true),
                    Err(StoreError::Unauthorized(e)) => {
                        tracing::warn!("the outbox waits: {e}");
                        (true, false)
                    }
                    Err(e) => {
                        tracing::info!("sending the outbox: {e}");
                        (false, true)
                    }
                };
                if finished {
                    store.shared.flusher.store(false, Ordering::Release);
                    // A decision queued during the last flush found this
                    // flusher still running: start another for it.
                    if again && store.shared.link.borrow().outbox_waiting > 0 {
                        store.spawn_flusher();
                    }
                    return;
                }
            }
        });
    }

    /// The outbox entry for a decision made now.
    fn entry(decision: Decision, reviewer: &Reviewer, key: String, reason: String) -> OutboxEntry {
        OutboxEntry {
            idempotency_key: key,
            decision,
            reviewer_hint: reviewer.name.clone(),
            queued_at: {
                let t = OffsetDateTime::now_utc();
                t.replace_nanosecond(u32::from(t.millisecond()) * 1_000_000)
                    .unwrap_or(t)
            },
            state: EntryState::Waiting,
            reason,
        }
    }

    /// A decision is queued: say so in the link, wake the live feed and the
    /// background sender.
    fn queued(&self, summary: OutboxSummary, reason: String) -> StoreError {
        let waiting = summary.counts().waiting;
        self.set_outbox(summary);
        self.set_link(Link::Retrying {
            attempt: 1,
            error: reason.clone(),
        });
        self.shared.wake.notify_one();
        self.spawn_flusher();
        StoreError::Queued { waiting, reason }
    }

    /// Queues a decision the server could not take. Returns the error the
    /// caller reports: [`StoreError::Queued`] when it is durably in the
    /// outbox, [`StoreError::AlreadyQueued`] when another decision on the
    /// case waits there (nothing queued), else an error saying it was NOT
    /// recorded.
    pub(super) async fn enqueue(
        &self,
        decision: Decision,
        reviewer: &Reviewer,
        key: String,
        reason: String,
    ) -> StoreError {
        let entry = Self::entry(decision, reviewer, key, reason.clone());
        match self.blocking(move |o| o.append(&entry)).await {
            Ok(summary) => self.queued(summary, reason),
            Err(e @ StoreError::AlreadyQueued(_)) => e,
            // Not durable: say so, never claim it is queued.
            Err(e) => StoreError::Remote(format!(
                "{reason}; and the decision could not be queued: {e}. It was NOT recorded."
            )),
        }
    }

    /// [`Store::decide_superseding`]: the waiting decision on the case is
    /// replaced in the outbox in one atomic rewrite, then the outbox is sent
    /// (this decision in its turn).
    pub(super) async fn supersede(
        &self,
        mut decision: Decision,
        reviewer: Reviewer,
    ) -> Result<EvidenceRecord, StoreError> {
        let key = super::idempotency_key(&mut decision);
        let case_id = decision.case_id.clone();
        let entry = Self::entry(
            decision.clone(),
            &reviewer,
            key.clone(),
            "replaces the decision that waited for this case".into(),
        );
        // Not while this process sends the outbox: the old entry could be
        // on its way.
        let replaced = {
            let _flushing = self.shared.flushing.lock().await;
            let waiting = self.blocking(|o| o.read()).await?;
            if waiting.waiting_for(&case_id).is_none() {
                None
            } else {
                Some(self.blocking(move |o| o.supersede(&entry)).await?)
            }
        };
        let Some((old, summary)) = replaced else {
            return self.decide(decision, reviewer).await;
        };
        if let Some(old) = &old {
            tracing::info!(
                case = %sanitize(&case_id),
                replaced = %sanitize(&old.idempotency_key),
                by = %sanitize(&key),
                "queued decision superseded"
            );
        }
        self.set_outbox(summary);
        let (report, own) = self.flush(Some(&key)).await?;
        match own {
            Some(Ok(record)) => {
                self.hold(&record);
                Ok(record)
            }
            Some(Err(e)) => Err(e),
            None => {
                let reason = report
                    .unreachable
                    .unwrap_or_else(|| "not sent yet".to_string());
                let summary = self.outbox_summary();
                Err(self.queued(summary, reason))
            }
        }
    }

    /// Follows the outbox file: a change by any process (an entry dismissed
    /// by `nhi-triage outbox dismiss`, queued or sent by another console) is
    /// read into [`Store::outbox_summary`] and the link's counts, and heard
    /// on `tx` when the summary changed. Only modifications of the file
    /// count (reads, ours included, never wake it). `None` (and a warning in
    /// the log) when the directory cannot be watched: the outbox is then
    /// read again only when this process uses it.
    pub(super) fn follow_outbox(
        &self,
        handle: &tokio::runtime::Handle,
        tx: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Option<(notify::RecommendedWatcher, AbortOnDrop)> {
        use notify::Watcher;
        let path = self.shared.outbox.path();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let name = path.file_name()?.to_os_string();
        let (events, mut heard) = tokio::sync::mpsc::unbounded_channel::<()>();
        let watched = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                    let relevant = match &event {
                        // A missed event: look again.
                        Err(_) => true,
                        Ok(e) => {
                            super::super::local::is_modification(&e.kind)
                                && e.paths.iter().any(|p| p.file_name() == Some(&name))
                        }
                    };
                    if relevant {
                        let _ = events.send(());
                    }
                })
                .map_err(|e| e.to_string())
            })
            .and_then(|mut w| {
                w.watch(&dir, notify::RecursiveMode::NonRecursive)
                    .map(|()| w)
                    .map_err(|e| e.to_string())
            });
        let watcher = match watched {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(
                    "cannot watch {} for outbox changes by other processes: {}",
                    sanitize(&dir.display().to_string()),
                    sanitize(&e)
                );
                return None;
            }
        };
        let weak = Arc::downgrade(&self.shared);
        let task = handle.spawn(async move {
            while heard.recv().await.is_some() {
                // A rewrite is a burst of events (temporary file, rename):
                // one read for all of them.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while heard.try_recv().is_ok() {}
                let Some(shared) = weak.upgrade() else { return };
                let store = RemoteStore { shared };
                match store.blocking(|o| o.summary()).await {
                    Ok(summary) => {
                        if store.set_outbox(summary) && tx.send(()).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!("reading the outbox after a change: {e}"),
                }
            }
        });
        Some((watcher, AbortOnDrop(task)))
    }
}
