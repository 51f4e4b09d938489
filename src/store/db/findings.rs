//! Findings imported from detectors (`import --from`, docs/import.md) and
//! the context join made again when the context files change.
//!
//! The rules of re-import are pure (`import::reconcile`); here they run
//! inside one write transaction, against the latest case of each
//! credential's chain (`ID`, `ID-R2`, `ID-R3`, …).

use std::collections::HashSet;

use super::Db;
use super::cases::{self, Encoded, GENERATION, encode, keep_version, meta, set_meta};
use super::rows::{self, Assessing};
use super::sql::{Param, Sql, Value};
use crate::import::{Grouped, Outcome, reconcile, recurrence_id};
use crate::model::Case;
use crate::store::StoreError;

/// Where the store keeps the fingerprint key (hex).
const FINGERPRINT_KEY: &str = "fingerprint_key";
/// Where the store keeps the signature of the context files last joined.
const CONTEXT_SIGNATURE: &str = "context_signature";

/// What importing one grouped case did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingOutcome {
    /// The case written or compared: the credential's case, or the new
    /// recurrence's id.
    pub case_id: String,
    /// What happened.
    pub kind: OutcomeKind,
    /// The decided case a recurrence links to.
    pub recurrence_of: Option<String>,
}

/// What importing one grouped case did (see `import::Outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// A case for a credential the store did not hold.
    New,
    /// An open case with new facts.
    Updated,
    /// Nothing new.
    Unchanged,
    /// New facts for a decided case: a new case linked to it.
    Recurrence,
}

/// The store's fingerprint key, made (32 random bytes) and kept on first
/// use, so one secret always has one fingerprint in this store.
pub fn fingerprint_key(db: &mut Db) -> Result<[u8; 32], StoreError> {
    let read = |sql: &mut dyn Sql| -> Result<Option<[u8; 32]>, StoreError> {
        Ok(meta(sql, FINGERPRINT_KEY)?
            .and_then(|hex_key| hex::decode(hex_key).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()))
    };
    if let Some(key) = db.read(|sql| read(sql))? {
        return Ok(key);
    }
    db.write("making the fingerprint key", |sql| {
        // Another process may have made it meanwhile: theirs stands.
        if let Some(key) = read(sql)? {
            return Ok(key);
        }
        let key: [u8; 32] = rand::random();
        set_meta(sql, FINGERPRINT_KEY, &hex::encode(key))?;
        Ok(key)
    })
}

/// Imports grouped findings in one transaction: each case is reconciled
/// with the latest case of its chain (new, updated, unchanged, or a
/// recurrence of a decided case) and written with its queue row.
pub fn import(
    db: &mut Db,
    grouped: &[Grouped],
    at: &Assessing<'_>,
) -> Result<Vec<FindingOutcome>, StoreError> {
    db.write("importing findings", |sql| {
        let generation = cases::generation(sql)? + 1;
        let decided = rows::with_records(sql)?;
        let clock = rows::tick(sql)?;
        let mut outcomes = Vec::with_capacity(grouped.len());
        for g in grouped {
            let (held_id, next_id) = chain_end(sql, &g.case.id)?;
            let held = match &held_id {
                Some(id) => base_of(sql, id)?,
                None => None,
            };
            let held_pair = held.as_ref().map(|c| (c, decided.contains(&c.id)));
            let outcome = match reconcile(held_pair, g.case.clone(), &next_id, at.now) {
                Outcome::New(case) => {
                    insert(sql, &case, at, generation, clock)?;
                    FindingOutcome {
                        case_id: case.id,
                        kind: OutcomeKind::New,
                        recurrence_of: None,
                    }
                }
                Outcome::Recurrence(case) => {
                    insert(sql, &case, at, generation, clock)?;
                    FindingOutcome {
                        case_id: case.id,
                        kind: OutcomeKind::Recurrence,
                        recurrence_of: case.recurrence_of,
                    }
                }
                Outcome::Updated(case) => {
                    let has_records = decided.contains(&case.id);
                    replace(
                        sql,
                        &case,
                        encode(&case, has_records, at),
                        generation,
                        clock,
                    )?;
                    FindingOutcome {
                        case_id: case.id,
                        kind: OutcomeKind::Updated,
                        recurrence_of: None,
                    }
                }
                Outcome::Unchanged => FindingOutcome {
                    case_id: held_id.unwrap_or_default(),
                    kind: OutcomeKind::Unchanged,
                    recurrence_of: None,
                },
            };
            outcomes.push(outcome);
        }
        if outcomes.iter().any(|o| o.kind != OutcomeKind::Unchanged) {
            set_meta(sql, GENERATION, &generation.to_string())?;
        }
        Ok(outcomes)
    })
}

/// The latest case of the chain rooted at `root` (`None`: no case yet) and
/// the id its next recurrence would get.
fn chain_end(sql: &mut dyn Sql, root: &str) -> Result<(Option<String>, String), StoreError> {
    if !cases::exists(sql, root)? {
        return Ok((None, recurrence_id(root, 2)));
    }
    let mut latest = root.to_string();
    let mut n = 2;
    loop {
        let id = recurrence_id(root, n);
        if !cases::exists(sql, &id)? {
            return Ok((Some(latest), id));
        }
        latest = id;
        n += 1;
    }
}

/// The case `id` as imported, before the context was joined in.
pub fn base_of(sql: &mut dyn Sql, id: &str) -> Result<Option<Case>, StoreError> {
    cases::read_one(
        sql,
        "reading a case as imported",
        "SELECT COALESCE(base, body) FROM cases WHERE id = $1",
        id,
    )
}

fn insert(
    sql: &mut dyn Sql,
    case: &Case,
    at: &Assessing<'_>,
    generation: u64,
    clock: i64,
) -> Result<(), StoreError> {
    let Encoded {
        sha,
        body,
        base,
        row,
    } = encode(case, false, at);
    let (body, base) = (body?, base?);
    let position = sql
        .value(
            "importing findings",
            "SELECT COALESCE(MAX(position), 0) FROM cases",
            &[],
        )?
        .and_then(|v| v.int())
        .unwrap_or(0)
        + 1;
    sql.exec(
        "importing findings",
        "INSERT INTO cases (id, position, body, sha256, source_file, source_line, generation, base) \
         VALUES ($1, $2, $3, $4, NULL, NULL, $5, $6)",
        &[
            Param::Text(Some(&case.id)),
            Param::Int(Some(position)),
            Param::Text(Some(&body)),
            Param::Text(Some(&sha)),
            Param::Int(Some(generation as i64)),
            Param::Text(base.as_deref()),
        ],
    )?;
    rows::put_prepared(sql, &row?, clock)
}

/// Replaces the stored case `case.id` with `encoded` (its old content kept
/// in `case_versions`, so a conflict can name what changed).
fn replace(
    sql: &mut dyn Sql,
    case: &Case,
    encoded: Encoded,
    generation: u64,
    clock: i64,
) -> Result<(), StoreError> {
    let Encoded {
        sha,
        body,
        base,
        row,
    } = encoded;
    let (body, base) = (body?, base?);
    keep_version(sql, &case.id)?;
    sql.exec(
        "writing a case",
        "UPDATE cases SET body = $2, sha256 = $3, generation = $4, base = $5 WHERE id = $1",
        &[
            Param::Text(Some(&case.id)),
            Param::Text(Some(&body)),
            Param::Text(Some(&sha)),
            Param::Int(Some(generation as i64)),
            Param::Text(base.as_deref()),
        ],
    )?;
    rows::put_prepared(sql, &row?, clock)
}

/// How many cases one pass of [`sync_context`] reads at a time.
const REJOIN_PAGE: i64 = 2_000;

/// Joins the context into every case again when the context files'
/// `signature` (`context::signature`, empty when the store has no context
/// directory) differs from the one last joined. Cases whose joined content
/// changed get the new content (the old kept, so a decision made on it is
/// a conflict that names what changed); cases the context no longer speaks
/// about go back to their content as imported. Returns how many changed.
pub fn sync_context(db: &mut Db, signature: &str, at: &Assessing<'_>) -> Result<usize, StoreError> {
    let current = |sql: &mut dyn Sql| -> Result<bool, StoreError> {
        Ok(meta(sql, CONTEXT_SIGNATURE)?.unwrap_or_default() == signature)
    };
    if db.read(|sql| current(sql))? {
        return Ok(0);
    }
    db.write("joining the context files with the cases", |sql| {
        if current(sql)? {
            return Ok(0);
        }
        let generation = cases::generation(sql)? + 1;
        let decided = rows::with_records(sql)?;
        let clock = rows::tick(sql)?;
        let mut changed = 0;
        let mut after = String::new();
        loop {
            let page = rejoin_page(sql, &after, &decided, at)?;
            let Some(last) = page.last_id else { break };
            for (case, encoded) in page.changed {
                replace(sql, &case, encoded, generation, clock)?;
                changed += 1;
            }
            after = last;
        }
        if changed > 0 {
            set_meta(sql, GENERATION, &generation.to_string())?;
        }
        set_meta(sql, CONTEXT_SIGNATURE, signature)?;
        Ok(changed)
    })
}

struct RejoinPage {
    last_id: Option<String>,
    changed: Vec<(Case, Encoded)>,
}

fn rejoin_page(
    sql: &mut dyn Sql,
    after: &str,
    decided: &HashSet<String>,
    at: &Assessing<'_>,
) -> Result<RejoinPage, StoreError> {
    let mut page = RejoinPage {
        last_id: None,
        changed: Vec::new(),
    };
    sql.each(
        "joining the context files with the cases",
        "SELECT id, COALESCE(base, body), sha256 FROM cases WHERE id > $1 ORDER BY id LIMIT $2",
        &[Param::Text(Some(after)), Param::Int(Some(REJOIN_PAGE))],
        &mut |row| {
            let mut row = row.into_iter();
            let id = row.next().and_then(Value::into_text).unwrap_or_default();
            let base = row.next().and_then(Value::into_text).unwrap_or_default();
            let sha = row.next().and_then(Value::into_text).unwrap_or_default();
            // A stored case that no longer reads is reported by the queue;
            // the join leaves it as it is.
            if let Ok(case) = serde_json::from_str::<Case>(&base) {
                let encoded = encode(&case, decided.contains(&id), at);
                if encoded.sha != sha {
                    page.changed.push((case, encoded));
                }
            }
            page.last_id = Some(id);
            Ok(())
        },
    )?;
    Ok(page)
}
