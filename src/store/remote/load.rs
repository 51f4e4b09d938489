//! Loading: the policy, every evidence record, the cases (all pages, or the
//! first page and the rest in the background), catching up.

use super::*;

impl RemoteStore {
    // ----- loading ----------------------------------------------------------

    /// Loads everything from the server: the policy, every evidence record,
    /// every case. `progress` hears of each step (a slow server is never
    /// silent); an error names the step and the URL.
    pub async fn load(&self, progress: &(dyn Fn(&Progress) + Sync)) -> Result<(), StoreError> {
        self.load_with(progress, false).await
    }

    /// As [`RemoteStore::load`], but returns as soon as the policy, the
    /// evidence and the first page of cases are in; the other pages are
    /// fetched in the background, each failed one tried again with backoff
    /// until it arrives. Meanwhile [`Store::link`] carries the progress
    /// ([`LinkStatus::loading`], with the last failure) and each change of it
    /// means the case list may have grown: a snapshot then holds more. The
    /// list grows in steps (when it has grown by half, at least every
    /// second, and with the last page), so that a large queue is not copied
    /// for every page. Later reloads of this store stream too.
    ///
    /// Without a tokio runtime this is [`RemoteStore::load`].
    pub async fn load_streaming(
        &self,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(), StoreError> {
        let stream = tokio::runtime::Handle::try_current().is_ok();
        self.shared
            .streams
            .store(stream, std::sync::atomic::Ordering::Release);
        self.load_with(progress, stream).await
    }

    /// Loads again from scratch (the server's log is not the one this
    /// client saw), the way this store was loaded first.
    pub(super) async fn reload(&self) -> Result<(), StoreError> {
        let stream = self
            .shared
            .streams
            .load(std::sync::atomic::Ordering::Acquire);
        self.load_with(&|p| tracing::info!("{p}"), stream).await
    }

    pub(super) async fn load_with(
        &self,
        progress: &(dyn Fn(&Progress) + Sync),
        stream: bool,
    ) -> Result<(), StoreError> {
        let _loading = self.shared.loading.lock().await;
        progress(&Progress::Policy);
        let policy: Policy = self
            .get_json(self.endpoint(&["v1", "policy"], &[]))
            .await
            .map_err(|f| step("fetching the policy", f.into_store_error(None)))?;
        let _ = self.shared.policy.set(policy.clone());

        let mut fresh = State {
            policy,
            ..State::default()
        };
        self.fetch_records(&mut fresh, Some(progress))
            .await
            .map_err(|e| step("fetching the evidence", e))?;
        // (the cases, where the rest continues when streaming: cursor, total)
        let (cases, rest) = if stream {
            let page = self
                .case_page(None)
                .await
                .map_err(|e| step("fetching the cases", e))?;
            let mut seen = HashSet::new();
            let cases: Vec<Case> = page
                .cases
                .into_iter()
                .filter(|e| seen.insert(e.case.id.clone()))
                .map(|e| e.case)
                .collect();
            let total = page.total.max(cases.len());
            progress(&Progress::Cases {
                loaded: cases.len(),
                total,
            });
            (cases, page.next_cursor.map(|c| (c, total)))
        } else {
            let cases = self
                .fetch_cases(progress)
                .await
                .map_err(|e| step("fetching the cases", e))?;
            (cases, None)
        };
        let health: Health = self
            .get_json(self.endpoint(&["v1", "health"], &[]))
            .await
            .map_err(|f| step("fetching the server's health", f.into_store_error(None)))?;
        fresh.server_health = health.evidence;
        fresh.reviewer = health.reviewer;
        let generation = {
            let mut state = self.state();
            // Keep the cases' Arc when the set is the same.
            fresh.cases = state.cases.clone();
            fresh.index = std::mem::take(&mut state.index);
            fresh.set_cases(cases);
            fresh.loaded = true;
            fresh.streaming = rest.is_some();
            fresh.generation = state.generation + 1;
            progress(&Progress::Done {
                cases: fresh.cases.len(),
                records: fresh.replay.records.len(),
            });
            *state = fresh;
            let loading = rest.as_ref().map(|(_, total)| Loading {
                loaded: state.cases.len(),
                total: *total,
                failed: None,
            });
            // Under the state lock: a page of an older load cannot say
            // otherwise after this.
            self.shared.link.send_if_modified(|s| {
                let changed = s.loading != loading;
                s.loading = loading;
                changed
            });
            state.generation
        };
        self.set_link(Link::Connected);
        if let Some((cursor, _)) = rest {
            self.spawn_case_pages(generation, cursor);
        }
        Ok(())
    }

    pub(super) async fn ensure_loaded(&self) -> Result<(), StoreError> {
        if self.state().loaded {
            return Ok(());
        }
        self.load(&|p| tracing::debug!("{p}")).await
    }

    /// Fetches every record after the state's last one into it.
    pub(super) async fn fetch_records(
        &self,
        state: &mut State,
        progress: Option<&(dyn Fn(&Progress) + Sync)>,
    ) -> Result<(), StoreError> {
        loop {
            let after = state.replay.last_seq();
            let page = self.evidence_page(after).await?;
            if page.last_seq < after {
                return Err(StoreError::Remote(format!(
                    "the server's evidence log ends at seq {} but this client already holds seq {after}",
                    page.last_seq
                )));
            }
            // Known from the first page on, so the first long poll already
            // wakes on a case-file change; a different one means the case
            // files changed since the cases held were fetched.
            state.note_server_generation(page.cases_generation);
            let applied = state.apply(page.records);
            if let Some(p) = progress {
                p(&Progress::Evidence {
                    records: state.replay.records.len(),
                });
            }
            if applied == 0 || state.replay.last_seq() >= page.last_seq {
                return Ok(());
            }
        }
    }

    pub(super) async fn evidence_page(&self, after: u64) -> Result<EvidencePage, StoreError> {
        let url = self.endpoint(&["v1", "evidence"], &[("after_seq", after.to_string())]);
        self.get_json(url)
            .await
            .map_err(|f| f.into_store_error(None))
    }

    /// One page of every case, after `cursor`.
    pub(super) async fn case_page(&self, cursor: Option<&str>) -> Result<CasePage, StoreError> {
        let limit = self.shared.options.case_page.clamp(1, MAX_PAGE);
        let mut query = vec![("state", "all".to_string()), ("limit", limit.to_string())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        let url = self.endpoint(&["v1", "cases"], &query);
        self.get_json(url)
            .await
            .map_err(|f| f.into_store_error(None))
    }

    pub(super) async fn fetch_cases(
        &self,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<Vec<Case>, StoreError> {
        let mut cases: Vec<Case> = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.case_page(cursor.as_deref()).await?;
            if cases.is_empty() {
                cases.reserve(page.total);
            }
            for entry in page.cases {
                if seen.insert(entry.case.id.clone()) {
                    cases.push(entry.case);
                }
            }
            progress(&Progress::Cases {
                loaded: cases.len(),
                total: page.total.max(cases.len()),
            });
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => {
                    return Err(StoreError::Remote(
                        "the server returned the same case cursor twice".into(),
                    ));
                }
                None => return Ok(cases),
            }
        }
    }

    /// Fetches the pages after `cursor` in the background for the load of
    /// `generation` (a newer load stops it), growing the case list and
    /// saying how far it is in the link status. A page that fails is tried
    /// again, with backoff, for as long as the store lives; the failure is
    /// in the link status meanwhile.
    pub(super) fn spawn_case_pages(&self, generation: u64, mut cursor: String) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut seen: HashSet<String> = self.state().index.keys().cloned().collect();
        let weak = Arc::downgrade(&self.shared);
        handle.spawn(async move {
            let mut pending: Vec<Case> = Vec::new();
            let mut published = seen.len();
            let mut published_at = Instant::now();
            let mut failures = 0u32;
            loop {
                let Some(shared) = weak.upgrade() else { return };
                let store = RemoteStore { shared };
                if store.state().generation != generation {
                    return;
                }
                let page = match store.case_page(Some(&cursor)).await {
                    Ok(page) if page.next_cursor.as_ref() == Some(&cursor) => Err(
                        StoreError::Remote("the server returned the same case cursor twice".into()),
                    ),
                    other => other,
                };
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        failures += 1;
                        let error = e.to_string();
                        tracing::warn!(
                            attempt = failures,
                            "fetching the cases after {}: {error}",
                            sanitize(&cursor)
                        );
                        {
                            let state = store.state();
                            if state.generation != generation {
                                return;
                            }
                            store
                                .shared
                                .link
                                .send_if_modified(|s| match &mut s.loading {
                                    Some(l) => {
                                        l.failed = Some((failures, error));
                                        true
                                    }
                                    None => false,
                                });
                        }
                        drop(store);
                        tokio::time::sleep(backoff(failures)).await;
                        continue;
                    }
                };
                failures = 0;
                for entry in page.cases {
                    if seen.insert(entry.case.id.clone()) {
                        pending.push(entry.case);
                    }
                }
                let loaded = published + pending.len();
                let last = page.next_cursor.is_none();
                let publish = last
                    || loaded >= published + published / 2
                    || published_at.elapsed() >= Duration::from_secs(1);
                {
                    let mut state = store.state();
                    if state.generation != generation {
                        return;
                    }
                    if publish {
                        state.extend_cases(std::mem::take(&mut pending));
                        published = state.cases.len();
                        published_at = Instant::now();
                    }
                    if last {
                        state.streaming = false;
                        state.recount_orphans();
                    }
                    let loading = (!last).then(|| Loading {
                        loaded,
                        total: page.total.max(loaded),
                        failed: None,
                    });
                    store.shared.link.send_if_modified(|s| {
                        let changed = s.loading != loading;
                        s.loading = loading;
                        changed
                    });
                }
                match page.next_cursor {
                    Some(next) => cursor = next,
                    None => {
                        tracing::info!(cases = loaded, "every page of cases is in");
                        return;
                    }
                }
            }
        });
    }

    /// Brings the replay up to date with the server's log; reloads
    /// everything when the log is not the one this client saw.
    pub(super) async fn catch_up(&self) -> Result<(), StoreError> {
        loop {
            let after = self.state().replay.last_seq();
            let page = self.evidence_page(after).await?;
            if page.last_seq < after {
                tracing::warn!(
                    "the server's log ends at seq {} below this client's {after}: reloading",
                    page.last_seq
                );
                return self.reload().await;
            }
            let mut state = self.state();
            let applied = state.apply(page.records);
            if applied == 0 || state.replay.last_seq() >= page.last_seq {
                return Ok(());
            }
        }
    }
}
