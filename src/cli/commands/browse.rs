//! `list` and `show`: the views of the queue and of one case (they decide
//! nothing), with the what-if note and load warnings they share.

use std::io::Write;

use anyhow::Result;
use nhi_triage::model::StateFilter;
use nhi_triage::output::{
    FileProblem, ListCounts, ListEntry, ListOutput, Schema, ShowOutput, Streamed,
};
use nhi_triage::policy::{assess, queue_order};
use nhi_triage::store::{Snapshot, Store};
use nhi_triage::text::sanitize;
use time::OffsetDateTime;

use crate::cli::EXIT_OK;
use crate::cli::args::Global;
use crate::cli::context::{open_local, open_store, paths};
use crate::cli::output::{Out, errln};
use crate::cli::text::{ListRow, list_table, show_case};

fn now(global: &Global) -> OffsetDateTime {
    global.now.unwrap_or_else(OffsetDateTime::now_utc)
}

/// `--policy` is what-if review: say so every time, since an "approve
/// allowed" under it may not hold under the store's policy.
fn note_what_if(global: &Global) {
    if let Some(path) = &global.policy {
        errln!(
            "note: what-if review under {}, not the store's policy.toml: decisions use the store's",
            path.display()
        );
    }
}

/// Load problems and evidence health go to stderr: never silent, never in
/// the way of `--json` on stdout.
fn warn_about(snapshot: &Snapshot) {
    warn(&snapshot.problems, &snapshot.evidence);
}

fn warn(problems: &[nhi_triage::model::LoadProblem], ev: &nhi_triage::store::EvidenceHealth) {
    for p in problems {
        errln!("warning: {p}");
    }
    if let Some(b) = &ev.broken {
        errln!(
            "warning: evidence log broken at seq {} (line {}): {}; run `nhi-triage evidence verify`",
            b.seq,
            b.line,
            b.reason
        );
    }
    if ev.torn_tail.is_some() {
        errln!("warning: evidence log ends with a torn write; run `nhi-triage evidence repair`");
    }
    for id in &ev.orphan_cases {
        errln!(
            "warning: the evidence log has decisions for case {}, which no case file holds",
            sanitize(id)
        );
    }
}

/// `list`: the queue in queue order. `--json` streams the cases (each
/// entry is built as it is written), so memory does not grow with the
/// output; both forms stop early when the reader has gone.
pub async fn list(
    global: &Global,
    filter: StateFilter,
    as_json: bool,
    out: &mut Out,
) -> Result<i32> {
    if as_json && global.api.is_none() {
        return list_streaming(global, filter, out);
    }
    let store = open_store(global).await?;
    let snapshot = store.snapshot().await?;
    warn_about(&snapshot);
    note_what_if(global);
    let now = now(global);
    let mut rows: Vec<ListRow<'_>> = snapshot
        .cases
        .iter()
        .filter_map(|case| {
            let status = snapshot.status(&case.id);
            filter.matches(&status, now).then(|| {
                let assessment = assess(case, &status, &snapshot.policy, now);
                ListRow::new(case, status, &assessment)
            })
        })
        .collect();
    rows.sort_by(|a, b| queue_order((a.case, a.tier), (b.case, b.tier)));
    let mut counts = ListCounts::default();
    for r in &rows {
        counts.add(r.tier, !r.case.problems.is_empty());
    }
    if as_json {
        let cases = rows
            .iter()
            .take_while(|_| !crate::cli::output::stdout_closed())
            .map(|r| ListEntry::new(r.case, &r.status, r.tier, r.recommendation, r.q, now));
        out.json(&ListOutput {
            schema: Schema::LIST,
            now,
            store: store.describe(),
            filter: filter.name(),
            counts,
            cases: Streamed::new(cases),
            problems: snapshot.problems.iter().map(FileProblem::from).collect(),
            evidence: &snapshot.evidence,
        })?;
    } else {
        list_table(out, &rows, now)?;
        write!(
            out,
            "{} cases ({}): {} high, {} medium, {} low",
            counts.total, filter, counts.high, counts.medium, counts.low
        )?;
        match counts.with_problems {
            0 => writeln!(out)?,
            n => writeln!(
                out,
                "; {n} loaded with input problems (column !; `show ID` lists them)"
            )?,
        }
    }
    Ok(EXIT_OK)
}

/// `list --json` on a local store, streamed: the listed cases' queue keys
/// come from the stored rows one at a time (`LocalStore::queue_keys_blocking`:
/// about 45 bytes a case, the rows whose tier window ended assessed again
/// from their case), sorted in queue order; then each case is read,
/// assessed and written as it goes. Memory holds the keys, never the rows
/// or the cases. The output is `list --json`'s, the same as the in-memory
/// path gives.
fn list_streaming(global: &Global, filter: StateFilter, out: &mut Out) -> Result<i32> {
    let store = open_local(global)?;
    note_what_if(global);
    let now = now(global);
    let policy = store.policy().clone();
    let keep = |status: &nhi_triage::model::CaseStatus| filter.matches(status, now);
    let (order, queue) = store.queue_keys_blocking(now, &keep)?;
    let mut counts = ListCounts::default();
    for (_, tier, problems) in order.iter() {
        counts.add(tier, problems);
    }
    warn(&queue.problems, &queue.evidence);
    let skipped = std::cell::RefCell::new((0usize, None::<String>));
    let entries = order
        .iter()
        .take_while(|_| !crate::cli::output::stdout_closed())
        .filter_map(|(id, _, _)| match store.case_blocking(id) {
            Ok(found) => found.map(|(case, status)| {
                let a = assess(&case, &status, &policy, now);
                OwnedEntry {
                    q: [a.q1.status, a.q2.status, a.q3.status],
                    tier: a.tier,
                    recommendation: a.recommendation,
                    case,
                    status,
                    now,
                }
            }),
            // A stored case that no longer reads is skipped and counted
            // (the rest is listed).
            Err(e) => {
                let mut s = skipped.borrow_mut();
                s.0 += 1;
                s.1.get_or_insert_with(|| e.to_string());
                None
            }
        });
    out.json(&ListOutput {
        schema: Schema::LIST,
        now,
        store: store.describe(),
        filter: filter.name(),
        counts,
        cases: Streamed::new(entries),
        problems: queue.problems.iter().map(FileProblem::from).collect(),
        evidence: &queue.evidence,
    })?;
    if let (n @ 1.., Some(first)) = skipped.into_inner() {
        errln!(
            "warning: {n} stored case(s) could not be read and are not listed (the first: {first})"
        );
    }
    Ok(EXIT_OK)
}

/// A `list --json` entry that owns its case (the streamed path holds one
/// case at a time).
struct OwnedEntry {
    case: nhi_triage::model::Case,
    status: nhi_triage::model::CaseStatus,
    tier: nhi_triage::policy::Tier,
    recommendation: nhi_triage::model::Action,
    q: [nhi_triage::policy::Status; 3],
    now: OffsetDateTime,
}

impl serde::Serialize for OwnedEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ListEntry::new(
            &self.case,
            &self.status,
            self.tier,
            self.recommendation,
            self.q,
            self.now,
        )
        .serialize(s)
    }
}

/// `show ID`: one case with its readiness, actions and history, as text or
/// `--json` (docs/cli.md); remembers the content shown, to explain a later
/// `decide --case-sha256` conflict.
///
/// # Errors
/// An unknown id (`StoreError::NotFound`, exit 1), store and output errors.
pub async fn show(global: &Global, id: &str, as_json: bool, out: &mut Out) -> Result<i32> {
    let store = open_store(global).await?;
    // Just this case: never every case of the store.
    let found = store.lookup(id).await?;
    warn(&found.problems, &found.evidence);
    note_what_if(global);
    let now = now(global);
    let case = found
        .case
        .as_ref()
        .ok_or_else(|| nhi_triage::store::StoreError::NotFound(id.to_string()))?;
    let status = found.status;
    let assessment = assess(case, &status, &found.policy, now);
    let history = store.history(id).await?;
    // A decided case whose credential was seen again: its recurrence.
    let recurred_as = if status.version > 0 {
        let next = nhi_triage::import::next_recurrence_id(case);
        // Not found (or a server that cannot say) is no recurrence.
        store
            .lookup(&next)
            .await
            .ok()
            .and_then(|l| l.case)
            .map(|c| c.id)
    } else {
        None
    };
    // Computed once: on a huge case the digest is most of `show`'s time.
    let case_sha256 = case.content_sha256();
    // What the reviewer saw, for explaining a later `decide --case-sha256`.
    if let Ok(p) = paths() {
        crate::cli::seen::remember(&p.seen_dir, case, &case_sha256);
    }
    if as_json {
        out.json(&ShowOutput {
            schema: Schema::SHOW,
            now,
            case_sha256: case_sha256.clone(),
            case,
            status: &status,
            assessment: &assessment,
            problems: &case.problems,
            missing_context: nhi_triage::context::wanted(case, &found.policy, now),
            recurred_as: recurred_as.clone(),
            history: &history,
        })?;
    } else {
        let text = show_case(
            case,
            &case_sha256,
            (&status, &found.policy, recurred_as.as_deref()),
            &assessment,
            &history,
            now,
        );
        out.write_all(text.as_bytes())?;
    }
    Ok(EXIT_OK)
}
