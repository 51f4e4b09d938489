//! The queue without the cases ([`LocalStore::queue_blocking`]): the rows
//! and tier windows of `queue_rows`, kept in memory between calls and read
//! again only where they changed, with the cases whose window ended, whose
//! status moved on or whose policy changed assessed again (and written
//! back, so the next reader need not).

use std::sync::Arc;

use time::OffsetDateTime;

use super::LocalStore;
use crate::model::{CaseRow, CaseStatus};
use crate::policy::{TierWindow, tier_window};
use crate::store::db::cases;
use crate::store::db::rows::{self, Assessing, StoredRow};
use crate::store::{QueueRows, Snapshot, StoreError};

/// The rows as last read, in id order.
pub(super) struct RowCache {
    /// The case generation they were read at.
    generation: u64,
    /// The write clock they are up to date with.
    clock: i64,
    rows: Arc<Vec<CaseRow>>,
    windows: Arc<Vec<TierWindow>>,
    /// Per row, the status version its tier was assessed with (`-1`: none).
    versions: Vec<i64>,
    /// Per row, whether it was assessed under the policy in force.
    current_policy: Vec<bool>,
}

impl RowCache {
    fn find(&self, id: &str) -> Option<usize> {
        crate::model::position_in_id_order(&self.rows, id)
    }

    fn set(&mut self, i: usize, stored: &StoredRow) {
        Arc::make_mut(&mut self.windows)[i] = stored.window;
        self.versions[i] = stored.version;
        self.current_policy[i] = stored.current_policy;
    }
}

impl LocalStore {
    /// Blocking form of [`crate::store::Store::queue`]: every case's row
    /// and tier window at `now`, without reading a case, except those whose
    /// tier must be assessed again (window ended, status changed, other
    /// policy): those are read, assessed and written back in one
    /// transaction. Errors: [`StoreError::Database`].
    pub fn queue_blocking(&self, now: OffsetDateTime) -> Result<Snapshot, StoreError> {
        self.refresh()?;
        let shared = &self.shared;
        let mut guard = self.inner();
        let inner = &mut *guard;
        let context = Arc::clone(&inner.context);
        let at = Assessing {
            now,
            ..shared.assessing(context.context.as_ref())
        };
        let tag = at.tag().to_string();
        fill_rows(&mut inner.db, &at)?;
        let clock = inner.db.read(|sql| rows::clock(sql))?;
        let mut cache = match inner.rows.take() {
            Some(c) if c.generation == inner.generation => c,
            _ => load(&mut inner.db, inner.generation, clock, &tag)?,
        };
        if cache.clock != clock {
            let since = cache.clock;
            for stored in inner.db.read(|sql| rows::changed_since(sql, since, &tag))? {
                if let Some(i) = cache.find(&stored.id) {
                    cache.set(i, &stored);
                }
            }
            cache.clock = clock;
        }
        let statuses = &inner.replay.statuses;
        let status_version = |id: &str| statuses.get(id).map_or(0, |s| s.version);
        let due: Vec<usize> = (0..cache.rows.len())
            .filter(|&i| {
                !rows::holds(
                    &cache.windows[i],
                    cache.versions[i],
                    cache.current_policy[i],
                    status_version(cache.rows[i].id()),
                    now,
                )
            })
            .collect();
        if !due.is_empty() {
            let ids: Vec<(usize, String, CaseStatus)> = due
                .iter()
                .map(|&i| {
                    let id = cache.rows[i].id().to_string();
                    let status = statuses.get(&id).cloned().unwrap_or_default();
                    (i, id, status)
                })
                .collect();
            let what_if = shared.what_if;
            let assess_again = |sql: &mut dyn crate::store::db::sql::Sql| {
                let clock = if what_if { 0 } else { rows::tick(sql)? };
                let mut fresh = Vec::with_capacity(ids.len());
                for (i, id, status) in &ids {
                    // A stored case that no longer reads keeps its row as it
                    // was (tier high when never assessed): the loader
                    // reports it.
                    let Some(case) = cases::get(sql, id)? else {
                        continue;
                    };
                    let window = tier_window(&case, status, at.policy, now);
                    if !what_if {
                        rows::reassess(sql, id, &window, status.version, &at, clock)?;
                    }
                    fresh.push((*i, window, status.version as i64));
                }
                Ok((clock, fresh))
            };
            // A what-if policy's tiers are this process's only.
            let fresh = if what_if {
                inner.db.read(assess_again)?
            } else {
                inner.db.write("assessing cases again", assess_again)?
            };
            let (clock, fresh) = fresh;
            for (i, window, version) in fresh {
                Arc::make_mut(&mut cache.windows)[i] = window;
                cache.versions[i] = version;
                cache.current_policy[i] = true;
            }
            // Our own write is the newest the cache knows of only if no
            // other process wrote in between; reading from the older clock
            // again is harmless.
            if !what_if && cache.clock + 1 == clock {
                cache.clock = clock;
            }
        }
        let rows = QueueRows {
            rows: cache.rows.clone(),
            windows: cache.windows.clone(),
            head: false,
        };
        let snapshot = without_cases(inner, shared, Some(rows))?;
        inner.rows = Some(cache);
        Ok(snapshot)
    }
}

/// The listed cases' places in the queue, as
/// [`LocalStore::queue_keys_blocking`] gives them, in queue order: about 45
/// bytes a case (the ids kept in one string, not one allocation each).
#[derive(Debug, Default)]
pub struct QueueKeys {
    entries: Vec<QueueEntry>,
    ids: String,
}

#[derive(Debug, Clone, Copy)]
struct QueueEntry {
    key: crate::policy::RowOrderKey,
    id_at: u32,
    id_len: u32,
    tier: crate::policy::Tier,
    problems: bool,
}

impl QueueKeys {
    fn push(
        &mut self,
        key: crate::policy::RowOrderKey,
        id: &str,
        tier: crate::policy::Tier,
        problems: bool,
    ) {
        let id_at = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.push_str(id);
        self.entries.push(QueueEntry {
            key,
            id_at,
            id_len: u32::try_from(id.len()).unwrap_or(0),
            tier,
            problems,
        });
    }

    fn id(&self, e: &QueueEntry) -> &str {
        let at = e.id_at as usize;
        self.ids.get(at..at + e.id_len as usize).unwrap_or("")
    }

    fn sort(&mut self) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| self.id(a).cmp(self.id(b))));
        self.entries = entries;
    }

    /// How many cases are listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Each listed case in queue order: its id, its tier at the `now`
    /// asked for, and whether the loader recorded problems for it.
    pub fn iter(&self) -> impl Iterator<Item = (&str, crate::policy::Tier, bool)> {
        self.entries
            .iter()
            .map(|e| (self.id(e), e.tier, e.problems))
    }
}

impl LocalStore {
    /// The queue's keys at `now` for the cases whose status `keep` accepts,
    /// sorted in queue order, read from the rows one at a time (never all
    /// rows or cases at once: `list --json` on a million cases). Rows whose
    /// tier window does not hold at `now`, whose status or policy changed,
    /// are assessed again from their case (not written back). With the
    /// statuses, problems and evidence health as read.
    pub fn queue_keys_blocking(
        &self,
        now: OffsetDateTime,
        keep: &(dyn Fn(&CaseStatus) -> bool + Sync),
    ) -> Result<(QueueKeys, Snapshot), StoreError> {
        self.refresh()?;
        let shared = &self.shared;
        let mut guard = self.inner();
        let inner = &mut *guard;
        let context = Arc::clone(&inner.context);
        let at = Assessing {
            now,
            ..shared.assessing(context.context.as_ref())
        };
        let tag = at.tag().to_string();
        fill_rows(&mut inner.db, &at)?;
        let statuses = &inner.replay.statuses;
        let pending = CaseStatus::default();
        let mut keys = QueueKeys::default();
        let mut due: Vec<String> = Vec::new();
        inner.db.read(|sql| {
            rows::load(sql, &tag, &mut |row, stored| {
                let status = statuses.get(row.id()).unwrap_or(&pending);
                if !keep(status) {
                    return;
                }
                if stored.holds(status.version, now) {
                    let tier = stored.window.tier;
                    let key = crate::policy::RowOrderKey::of(&row, tier);
                    keys.push(key, row.id(), tier, row.problems > 0);
                } else {
                    due.push(row.id().to_string());
                }
            })
        })?;
        for id in due {
            let status = statuses.get(&id).unwrap_or(&pending);
            let Some(case) = inner.db.read(|sql| cases::get(sql, &id))? else {
                continue;
            };
            let tier = tier_window(&case, status, &shared.policy, now).tier;
            let key = crate::policy::RowOrderKey::of(&CaseRow::of(&case), tier);
            keys.push(key, &id, tier, !case.problems.is_empty());
        }
        keys.sort();
        let snapshot = without_cases(inner, shared, None)?;
        Ok((keys, snapshot))
    }
}

/// A queue this long or shorter is read whole for the first frame.
const WHOLE_BELOW: i64 = 20_000;

impl LocalStore {
    /// Blocking form of [`crate::store::Store::queue_head`]: the top
    /// `limit` rows by the stored queue order (tiers as last assessed: the
    /// whole queue, assessed at `now`, follows), or `None` when the queue
    /// has at most 20,000 rows or its rows are not written yet.
    pub fn queue_head_blocking(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Option<Snapshot>, StoreError> {
        let _ = now;
        self.refresh()?;
        let tag = self.shared.policy_tag();
        let mut guard = self.inner();
        let inner = &mut *guard;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let head = inner.db.read(|sql| {
            if !rows::complete(sql)? || !rows::more_than(sql, WHOLE_BELOW)? {
                return Ok(None);
            }
            let mut head = Vec::new();
            rows::head(sql, limit, &tag, &mut |row, stored| {
                head.push((row, stored.window))
            })?;
            Ok(Some(head))
        })?;
        let Some(mut head) = head else {
            return Ok(None);
        };
        head.sort_unstable_by(|a, b| a.0.id().cmp(b.0.id()));
        let (rows, windows): (Vec<CaseRow>, Vec<TierWindow>) = head.into_iter().unzip();
        let rows = QueueRows {
            rows: Arc::new(rows),
            windows: Arc::new(windows),
            head: true,
        };
        without_cases(inner, &self.shared, Some(rows)).map(Some)
    }
}

/// A snapshot of the store's statuses, problems, evidence health and policy
/// with `rows` and without the cases.
fn without_cases(
    inner: &mut super::state::Inner,
    shared: &super::Shared,
    rows: Option<QueueRows>,
) -> Result<Snapshot, StoreError> {
    Ok(Snapshot {
        cases: Arc::new(Vec::new()),
        cases_generation: inner.generation,
        statuses: inner.replay.statuses.clone(),
        problems: {
            let mut problems = inner.db.read(|sql| cases::problems(sql))?;
            problems.extend(inner.context.problems.iter().cloned());
            problems
        },
        evidence: inner.health.clone(),
        policy: shared.policy.clone(),
        rows,
    })
}

/// Writes the rows of a store that has none yet (schema version 1), once.
fn fill_rows(db: &mut crate::store::db::Db, at: &Assessing<'_>) -> Result<(), StoreError> {
    if !db.read(|sql| rows::complete(sql))? {
        db.write("filling the queue rows", |sql| rows::backfill(sql, at))?;
    }
    Ok(())
}

/// Reads every row.
fn load(
    db: &mut crate::store::db::Db,
    generation: u64,
    clock: i64,
    tag: &str,
) -> Result<RowCache, StoreError> {
    let mut rows = Vec::new();
    let mut windows = Vec::new();
    let mut versions = Vec::new();
    let mut current_policy = Vec::new();
    db.read(|sql| {
        rows::load(sql, tag, &mut |row, stored| {
            rows.push(row);
            windows.push(stored.window);
            versions.push(stored.version);
            current_policy.push(stored.current_policy);
        })
    })?;
    Ok(RowCache {
        generation,
        clock,
        rows: Arc::new(rows),
        windows: Arc::new(windows),
        versions,
        current_policy,
    })
}
