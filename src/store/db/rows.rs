//! The queue's rows (`queue_rows`, schema version 2): per case, what the
//! queue lists of it ([`CaseRow`]'s parts) and its tier with the window of
//! time in which that tier holds ([`TierWindow`]), so a console or a list
//! reads a million cases without parsing one and assesses again only the
//! cases whose window has ended, whose status moved on (a decision) or that
//! were assessed under another policy (docs/store.md, *Schema*).
//!
//! Writers keep the rows in step with `cases` inside the same transaction
//! ([`put`], [`remove`]); `version` is the case's status version the tier
//! was assessed with (`-1`: assess again), `policy` the policy's digest
//! prefix, `clock` a counter bumped by each write so readers fetch only
//! what changed ([`changed_since`]). Bounds are whole Unix seconds, rounded
//! inwards (`valid_after` up, `due_at` down): a window read back is never
//! wider than the one assessed.

use time::OffsetDateTime;

use super::cases::{meta, set_meta};
use super::sql::{Param, Sql, Value};
use crate::model::{Case, CaseRow, CaseStatus, RowParts};
use crate::policy::{Policy, Tier, TierWindow, tier_window};
use crate::store::StoreError;

const CLOCK: &str = "queue_rows_clock";
const COMPLETE: &str = "queue_rows_complete";

/// What rows are assessed with: the policy, its digest and the time.
#[derive(Clone, Copy)]
pub struct Assessing<'a> {
    /// The policy in force.
    pub policy: &'a Policy,
    /// Its digest (`PolicyRef::sha256`); a prefix is stored per row.
    pub policy_sha: &'a str,
    /// The time assessed at.
    pub now: OffsetDateTime,
    /// The context files joined into each case written (docs/import.md,
    /// *Context*); `None` when the store has none.
    pub context: Option<&'a crate::context::Context>,
}

impl Assessing<'_> {
    /// The digest prefix stored with each row.
    pub fn tag(&self) -> &str {
        policy_tag(self.policy_sha)
    }
}

/// The prefix of a policy digest stored with each row: its first 16 hex
/// digits.
pub fn policy_tag(policy_sha: &str) -> &str {
    policy_sha.get(..16).unwrap_or(policy_sha)
}

/// One row as stored, read back.
pub struct StoredRow {
    /// The case id.
    pub id: String,
    /// The tier and its window.
    pub window: TierWindow,
    /// The status version assessed with (`-1`: none).
    pub version: i64,
    /// Whether it was assessed under the policy now in force.
    pub current_policy: bool,
}

impl StoredRow {
    /// Whether this stored assessment is still the case's tier at `now`
    /// for a case whose status has version `status_version`: assessed
    /// under the policy in force, with that status, and its window holds.
    /// Otherwise the case must be assessed again (the one rule every
    /// reader of the rows uses).
    pub fn holds(&self, status_version: u64, now: OffsetDateTime) -> bool {
        holds(
            &self.window,
            self.version,
            self.current_policy,
            status_version,
            now,
        )
    }
}

/// [`StoredRow::holds`] on its parts (a reader that keeps them apart).
pub fn holds(
    window: &TierWindow,
    assessed_version: i64,
    current_policy: bool,
    status_version: u64,
    now: OffsetDateTime,
) -> bool {
    current_policy
        && window.holds_at(now)
        && i64::try_from(status_version).is_ok_and(|v| v == assessed_version)
}

/// Bumps and returns the write clock (inside a write transaction).
pub fn tick(sql: &mut dyn Sql) -> Result<i64, StoreError> {
    let next = clock(sql)? + 1;
    set_meta(sql, CLOCK, &next.to_string())?;
    Ok(next)
}

/// The write clock: the `clock` of the latest row change.
pub fn clock(sql: &mut dyn Sql) -> Result<i64, StoreError> {
    Ok(meta(sql, CLOCK)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Writes `case`'s row, assessed pending when `has_records` is false (a
/// case with records is left for the reader, which knows its status).
pub fn put(
    sql: &mut dyn Sql,
    case: &Case,
    sha256: &str,
    has_records: bool,
    at: &Assessing<'_>,
    clock: i64,
) -> Result<(), StoreError> {
    let row = prepare(case, sha256, has_records, at)?;
    put_prepared(sql, &row, clock)
}

/// A case's queue row worked out ahead of its write ([`prepare`]), so a
/// large import assesses and encodes rows off the thread that writes them.
pub struct PreparedRow {
    id: String,
    parts: String,
    tier: Option<Tier>,
    after: Option<i64>,
    due: Option<i64>,
    policy: String,
    version: i64,
    severity: i64,
    privilege: i64,
    opened: i64,
}

/// What [`put`] writes for `case`, without writing it. Errors: the row's
/// parts cannot be encoded ([`StoreError::Database`]).
pub fn prepare(
    case: &Case,
    sha256: &str,
    has_records: bool,
    at: &Assessing<'_>,
) -> Result<PreparedRow, StoreError> {
    let parts = CaseRow::with_sha(case, sha256.to_string()).parts();
    let parts = encode(&parts, &case.id)?;
    let (window, version) = if has_records {
        (None, -1)
    } else {
        let status = CaseStatus::default();
        (
            Some(tier_window(case, &status, at.policy, at.now)),
            status.version as i64,
        )
    };
    let (tier, after, due) = window.map_or((Some(Tier::High), None, Some(i64::MIN)), columns);
    Ok(PreparedRow {
        id: case.id.clone(),
        parts,
        tier,
        after,
        due,
        policy: at.tag().to_string(),
        version,
        severity: case.severity().map_or(4, |l| l as i64),
        privilege: case.identity.privilege.map_or(3, |p| p as i64),
        opened: case.opened_at.unix_timestamp(),
    })
}

/// Writes a row from [`prepare`] (inside a write transaction), as [`put`].
pub fn put_prepared(sql: &mut dyn Sql, row: &PreparedRow, clock: i64) -> Result<(), StoreError> {
    sql.exec(
        "writing the case's queue row",
        "INSERT INTO queue_rows (id, parts, tier, valid_after, due_at, policy, version, clock, \
         severity, privilege, opened) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET parts = excluded.parts, tier = excluded.tier, \
         valid_after = excluded.valid_after, due_at = excluded.due_at, policy = excluded.policy, \
         version = excluded.version, clock = excluded.clock, severity = excluded.severity, \
         privilege = excluded.privilege, opened = excluded.opened",
        &[
            Param::Text(Some(&row.id)),
            Param::Text(Some(&row.parts)),
            Param::Int(row.tier.map(tier_code)),
            Param::Int(row.after),
            Param::Int(row.due),
            Param::Text(Some(&row.policy)),
            Param::Int(Some(row.version)),
            Param::Int(Some(clock)),
            Param::Int(Some(row.severity)),
            Param::Int(Some(row.privilege)),
            Param::Int(Some(row.opened)),
        ],
    )?;
    Ok(())
}

/// Writes a new assessment of a row (a reader assessing a due case).
pub fn reassess(
    sql: &mut dyn Sql,
    id: &str,
    window: &TierWindow,
    version: u64,
    at: &Assessing<'_>,
    clock: i64,
) -> Result<(), StoreError> {
    let (tier, after, due) = columns(*window);
    sql.exec(
        "writing a case's new assessment",
        "UPDATE queue_rows SET tier = $2, valid_after = $3, due_at = $4, policy = $5, \
         version = $6, clock = $7 WHERE id = $1",
        &[
            Param::Text(Some(id)),
            Param::Int(tier.map(tier_code)),
            Param::Int(after),
            Param::Int(due),
            Param::Text(Some(at.tag())),
            Param::Int(Some(version as i64)),
            Param::Int(Some(clock)),
        ],
    )?;
    Ok(())
}

/// Removes `id`'s row (the case left the store).
pub fn remove(sql: &mut dyn Sql, id: &str) -> Result<(), StoreError> {
    sql.exec(
        "removing a case's queue row",
        "DELETE FROM queue_rows WHERE id = $1",
        &[Param::Text(Some(id))],
    )?;
    Ok(())
}

/// Whether every case has its row (a store written before schema version
/// 2 gets them once, from [`backfill`]).
pub fn complete(sql: &mut dyn Sql) -> Result<bool, StoreError> {
    Ok(meta(sql, COMPLETE)?.is_some())
}

/// Writes the rows of every case that has none, in one pass (inside a
/// write transaction); returns how many.
pub fn backfill(sql: &mut dyn Sql, at: &Assessing<'_>) -> Result<usize, StoreError> {
    let decided = with_records(sql)?;
    let mut bodies = Vec::new();
    sql.each(
        "reading cases without a queue row",
        "SELECT c.id, c.body, c.sha256 FROM cases c WHERE NOT EXISTS \
         (SELECT 1 FROM queue_rows q WHERE q.id = c.id)",
        &[],
        &mut |row| {
            let mut row = row.into_iter();
            let id = row.next().and_then(Value::into_text).unwrap_or_default();
            let body = row.next().and_then(Value::into_text).unwrap_or_default();
            let sha = row.next().and_then(Value::into_text).unwrap_or_default();
            bodies.push((id, body, sha));
            Ok(())
        },
    )?;
    let clock = tick(sql)?;
    let mut written = 0;
    for (id, body, sha) in bodies {
        // A row that no longer reads is reported by the case loader; its
        // queue row waits until it reads again.
        if let Ok(case) = serde_json::from_str::<Case>(&body) {
            put(sql, &case, &sha, decided.contains(&id), at, clock)?;
            written += 1;
        }
    }
    set_meta(sql, COMPLETE, "1")?;
    Ok(written)
}

/// The ids of the cases with at least one record.
pub fn with_records(sql: &mut dyn Sql) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut ids = std::collections::HashSet::new();
    sql.each(
        "reading which cases have records",
        "SELECT DISTINCT case_id FROM evidence",
        &[],
        &mut |row| {
            if let Some(id) = row.into_iter().next().and_then(Value::into_text) {
                ids.insert(id);
            }
            Ok(())
        },
    )?;
    Ok(ids)
}

/// Every row, in id order, with its assessment.
pub fn load(
    sql: &mut dyn Sql,
    policy_tag: &str,
    row: &mut dyn FnMut(CaseRow, StoredRow),
) -> Result<(), StoreError> {
    each_row(
        sql,
        "SELECT id, tier, valid_after, due_at, policy, version, parts FROM queue_rows ORDER BY id",
        &[],
        policy_tag,
        row,
    )
}

/// The first `limit` rows in queue order as last assessed (tier, then
/// severity, privilege, oldest first, id), through the index: the top of
/// a large queue without reading the rest.
pub fn head(
    sql: &mut dyn Sql,
    limit: i64,
    policy_tag: &str,
    row: &mut dyn FnMut(CaseRow, StoredRow),
) -> Result<(), StoreError> {
    each_row(
        sql,
        "SELECT id, tier, valid_after, due_at, policy, version, parts FROM queue_rows \
         ORDER BY tier DESC, severity, privilege, opened, id LIMIT $1",
        &[Param::Int(Some(limit))],
        policy_tag,
        row,
    )
}

/// Whether there are more than `n` rows (without counting them all).
pub fn more_than(sql: &mut dyn Sql, n: i64) -> Result<bool, StoreError> {
    Ok(sql
        .first(
            "counting the queue rows",
            "SELECT id FROM queue_rows LIMIT 1 OFFSET $1",
            &[Param::Int(Some(n))],
        )?
        .is_some())
}

fn each_row(
    sql: &mut dyn Sql,
    statement: &str,
    params: &[Param<'_>],
    policy_tag: &str,
    row: &mut dyn FnMut(CaseRow, StoredRow),
) -> Result<(), StoreError> {
    sql.each("reading the queue rows", statement, params, &mut |values| {
        let mut values = values.into_iter();
        let stored = stored(&mut values, policy_tag);
        let parts = values.next().and_then(Value::into_text).unwrap_or_default();
        let parts: RowParts = serde_json::from_str(&parts).map_err(|e| StoreError::Database {
            what: format!(
                "reading the queue row of {}",
                crate::text::sanitize(&stored.id)
            ),
            message: e.to_string(),
        })?;
        row(CaseRow::from_parts(&parts), stored);
        Ok(())
    })
}

/// The assessments written after `clock`, with the clock now.
pub fn changed_since(
    sql: &mut dyn Sql,
    clock: i64,
    policy_tag: &str,
) -> Result<Vec<StoredRow>, StoreError> {
    let mut out = Vec::new();
    sql.each(
        "reading the queue rows assessed lately",
        "SELECT id, tier, valid_after, due_at, policy, version FROM queue_rows WHERE clock > $1",
        &[Param::Int(Some(clock))],
        &mut |values| {
            out.push(stored(&mut values.into_iter(), policy_tag));
            Ok(())
        },
    )?;
    Ok(out)
}

fn stored(values: &mut impl Iterator<Item = Value>, policy_tag: &str) -> StoredRow {
    let mut next = || values.next().unwrap_or(Value::Null);
    let id = next().into_text().unwrap_or_default();
    let tier = next().int().and_then(tier_of);
    let after = next();
    let due = next();
    let policy = next();
    let version = next().int().unwrap_or(-1);
    // NULL is no bound; an integer a bound; anything else (text in SQLite's
    // untyped column, a number out of range) does not read.
    let bound = |v: Value| match v {
        Value::Null => Some(None),
        Value::Int(s) => OffsetDateTime::from_unix_timestamp(s).ok().map(Some),
        Value::Text(_) => None,
    };
    let window = match (bound(after), bound(due)) {
        (Some(valid_after), Some(due_at)) => TierWindow {
            tier: tier.unwrap_or(Tier::High),
            valid_after,
            due_at,
        },
        // A bound that does not read is due now, never unbounded.
        _ => TierWindow {
            tier: Tier::High,
            valid_after: None,
            due_at: Some(OffsetDateTime::UNIX_EPOCH),
        },
    };
    StoredRow {
        id,
        // A tier that does not read is assessed again (never read as low).
        version: if tier.is_some() { version } else { -1 },
        current_policy: policy.text() == Some(policy_tag),
        window,
    }
}

fn encode(parts: &RowParts, id: &str) -> Result<String, StoreError> {
    serde_json::to_string(parts).map_err(|e| StoreError::Database {
        what: format!("encoding the queue row of {}", crate::text::sanitize(id)),
        message: e.to_string(),
    })
}

/// `(tier, valid_after, due_at)` columns of a window, bounds rounded inwards.
fn columns(w: TierWindow) -> (Option<Tier>, Option<i64>, Option<i64>) {
    let after = w.valid_after.map(|t| {
        let s = t.unix_timestamp();
        if OffsetDateTime::from_unix_timestamp(s).is_ok_and(|f| f < t) {
            s + 1
        } else {
            s
        }
    });
    let due = w.due_at.map(|t| t.unix_timestamp());
    (Some(w.tier), after, due)
}

fn tier_code(t: Tier) -> i64 {
    match t {
        Tier::Low => 0,
        Tier::Medium => 1,
        Tier::High => 2,
    }
}

fn tier_of(code: i64) -> Option<Tier> {
    match code {
        0 => Some(Tier::Low),
        1 => Some(Tier::Medium),
        2 => Some(Tier::High),
        _ => None,
    }
}
