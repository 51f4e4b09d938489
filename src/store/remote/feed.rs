//! The live feed: long polls for new records, quick probes while the link
//! is down or decisions wait.

use super::*;

/// Aborts the watching task when the change feed is dropped.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RemoteStore {
    // ----- live updates -------------------------------------------------------

    /// The live feed: long polls for new records; while the link is down,
    /// or decisions wait in the outbox, quick probes with backoff instead,
    /// so a server that comes back is noticed at the next probe (not after
    /// a long poll) and the outbox is sent at once.
    pub(super) async fn watch_loop(self, tx: tokio::sync::mpsc::UnboundedSender<()>) {
        let long_wait = self.shared.options.watch_wait_seconds.min(MAX_WAIT_SECONDS);
        let mut failures: u32 = 0;
        loop {
            if tx.is_closed() {
                return;
            }
            let recovering = failures > 0
                || !self.is_connected()
                || self.shared.link.borrow().outbox_waiting > 0;
            let wait = if recovering { 0 } else { long_wait };
            let after = self.state().replay.last_seq();
            let started = Instant::now();
            let mut query = vec![("after_seq", after.to_string()), ("wait", wait.to_string())];
            if let Some(generation) = self.state().server_cases_generation {
                query.push(("cases_generation", generation.to_string()));
            }
            let url = self.endpoint(&["v1", "evidence"], &query);
            let timeout = self.shared.options.request_timeout + Duration::from_secs(wait);
            let polled = tokio::select! {
                polled = self.get_once::<EvidencePage>(&url, timeout) => polled,
                // A decision was queued: probe and send it now.
                _ = self.shared.wake.notified() => continue,
            };
            let failure = match polled {
                Ok(page) => {
                    let mut changed = recovering && !self.is_connected();
                    // The server reloaded changed case files: the cases (and
                    // their tiers) we hold are stale.
                    changed |= self.state().note_server_generation(page.cases_generation);
                    if page.last_seq < after {
                        changed = true;
                        if let Err(e) = self.reload().await {
                            tracing::warn!("reloading after the server's log changed: {e}");
                        }
                    } else {
                        changed |= self.state().apply(page.records) > 0;
                    }
                    self.set_link(Link::Connected);
                    let mut failure = None;
                    if self.shared.link.borrow().outbox_waiting > 0 {
                        match self.flush_outbox().await {
                            Ok(r) => {
                                changed |= !r.sent.is_empty() || !r.rejected.is_empty();
                                failure = r.unreachable;
                            }
                            Err(e) => failure = Some(format!("sending the outbox: {e}")),
                        }
                    }
                    if changed && tx.send(()).is_err() {
                        return;
                    }
                    if failure.is_none() {
                        failures = 0;
                        // A server that ignores `wait` must not be polled
                        // in a tight loop.
                        if wait > 0 && !changed && started.elapsed() < Duration::from_secs(1) {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    failure
                }
                Err(f) => Some(f.message().to_string()),
            };
            if let Some(error) = failure {
                failures += 1;
                tracing::info!(attempt = failures, "live updates: {error}");
                self.set_link(if failures <= 3 {
                    Link::Retrying {
                        attempt: failures,
                        error,
                    }
                } else {
                    Link::Offline { error }
                });
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
}
