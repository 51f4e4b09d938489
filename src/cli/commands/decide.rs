//! `decide`: records one decision, on the local store or through `--api`.

use std::io::Write;

use anyhow::{Context, Result};
use nhi_triage::model::Decision;
use nhi_triage::store::{Store, StoreError};
use nhi_triage::text::sanitize;
use time::OffsetDateTime;

use super::refuse_policy_override;
use crate::cli::args::{DecideArgs, Global};
use crate::cli::context::{open_local, paths, reviewer};
use crate::cli::output::{Out, errln};
use crate::cli::text::history_line;
use crate::cli::{EXIT_OK, UsageError};

/// `decide`: records the decision; the result is printed only once the
/// record is durable (a reader gone by then changes nothing: exit 0).
pub async fn decide(global: &Global, args: DecideArgs, out: &mut Out) -> Result<i32> {
    if global.now.is_some() {
        return Err(UsageError(
            "--now cannot be used with decide: decisions are stamped with the real time".into(),
        )
        .into());
    }
    refuse_policy_override(global, "decide")?;
    let decision = |expected_version: u64| Decision {
        case_id: nhi_triage::model::case_id_key(&args.id).into_owned(),
        action: args.action,
        justification: args.justification.clone(),
        expected_version,
        quarantine_hours: args.hours,
        escalate_to: args.to.clone(),
        override_: args.override_,
        expected_case_sha256: args.case_sha256.clone(),
        idempotency_key: None,
    };
    let (store, decision): (std::sync::Arc<dyn Store>, Decision) = if global.api.is_some() {
        // Nothing is loaded: the server checks the decision, and one that
        // cannot be sent goes to the outbox (exit 6).
        let remote = crate::cli::remote::open_remote(global)?;
        if global.reviewer.is_some() {
            errln!(
                "note: --reviewer is ignored with --api: the server records the name its token maps to"
            );
        }
        crate::cli::remote::send_outbox(&remote).await?;
        // A decision that may wait in the outbox names the content it was
        // made on: sent later, it must not apply to a case rewritten since.
        let (expected_version, case_sha256) = match (args.expected_version, &args.case_sha256) {
            (Some(v), Some(sha)) => (v, sha.clone()),
            (given, _) => {
                let detail = remote.case_detail(&args.id).await.with_context(|| {
                    format!(
                        "cannot learn the current version and content of {} from the server; to \
                         queue the decision while it is unreachable, pass --expected-version V and \
                         --case-sha256 HEX (what `show` printed for the case you reviewed)",
                        sanitize(&args.id)
                    )
                })?;
                let sha = match &args.case_sha256 {
                    Some(sha) => sha.clone(),
                    None => detail.case.content_sha256(),
                };
                (given.unwrap_or(detail.status.version), sha)
            }
        };
        let mut decision = decision(expected_version);
        decision.expected_case_sha256 = Some(case_sha256);
        (std::sync::Arc::new(remote), decision)
    } else {
        let store = open_local(global)?;
        let expected_version = match args.expected_version {
            Some(v) => v,
            None => store.status_blocking(&args.id)?.version,
        };
        (std::sync::Arc::new(store), decision(expected_version))
    };
    if args.supersede && global.api.is_none() {
        return Err(UsageError(
            "--supersede replaces a decision queued in the outbox of --api URL; a local store \
             has no outbox"
                .into(),
        )
        .into());
    }
    let decided = if args.supersede {
        store.decide_superseding(decision, reviewer(global)?).await
    } else {
        store.decide(decision, reviewer(global)?).await
    };
    let record = match decided {
        Ok(record) => record,
        Err(StoreError::CaseChanged(mut change)) => {
            // This process never held the content the reviewer saw; `show`
            // kept it, so the conflict can still say what changed.
            if change.fields.is_empty()
                && let Ok(p) = paths()
                && let Some(seen) = crate::cli::seen::recall(&p.seen_dir, &change.seen_sha256)
                && let Ok(snapshot) = store.snapshot().await
            {
                crate::cli::seen::explain(&mut change, &seen, &snapshot, OffsetDateTime::now_utc());
            }
            return Err(StoreError::CaseChanged(change).into());
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        out.json(&record)?;
    } else {
        writeln!(out, "recorded {}", history_line(&record))?;
        writeln!(
            out,
            "  case version {} → {}; hash {}",
            record.case_version,
            record.case_version + 1,
            record.hash
        )?;
        if global.api.is_some() {
            writeln!(
                out,
                "  reviewer {}: the name the server records for this token",
                sanitize(&record.reviewer.name)
            )?;
        }
    }
    Ok(EXIT_OK)
}
