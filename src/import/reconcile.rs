//! What an imported case does to the case the store holds: the rules of
//! re-import (docs/import.md, *Re-import*).
//!
//! - A new credential is a new case.
//! - Facts merged into an open case: when they add nothing, the case is
//!   unchanged (the same file imported twice changes nothing); else the
//!   case is updated (its digest changes, so a decision made on the old
//!   content is a conflict).
//! - A decided case (any decision recorded) is never edited: new facts
//!   open a new case, `recurrence_of` the decided one.

use crate::model::{Case, Finding, Identity, LastUsed, Occurrence, Validity};

/// What importing one case does.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No case for the credential yet: this one is added.
    New(Case),
    /// The open case with the merged facts.
    Updated(Case),
    /// Nothing new: the held case stays as it is.
    Unchanged,
    /// The held case is decided and the facts are new: this case is
    /// added, its `recurrence_of` naming the decided one.
    Recurrence(Case),
}

/// The id of the `n`th recurrence (`n` ≥ 2) of the case `root`: `ROOT-R2`, …
pub fn recurrence_id(root: &str, n: usize) -> String {
    format!("{root}-R{n}")
}

/// The id the recurrence of `case` gets (or has, if it recurred): the next
/// in its chain, `ROOT-R2` for a first case, `ROOT-R(n+1)` for `ROOT-Rn`.
pub fn next_recurrence_id(case: &Case) -> String {
    let root = case
        .recurrence_of
        .as_deref()
        .map_or(case.id.as_str(), |of| {
            // `of` may itself be a recurrence: its root is before `-R`.
            of.rsplit_once("-R")
                .filter(|(_, n)| n.parse::<usize>().is_ok())
                .map_or(of, |(root, _)| root)
        });
    let n = case
        .id
        .strip_prefix(root)
        .and_then(|rest| rest.strip_prefix("-R"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    recurrence_id(root, n + 1)
}

/// Decides what `incoming` does to `held` (the latest case of its
/// credential, and whether it is decided). `next_id` is the id a
/// recurrence gets; it opens at `now` (the import) and carries everything
/// known about the credential, the decided case's facts merged with the
/// new ones.
pub fn reconcile(
    held: Option<(&Case, bool)>,
    incoming: Case,
    next_id: &str,
    now: time::OffsetDateTime,
) -> Outcome {
    let Some((held, decided)) = held else {
        return Outcome::New(incoming);
    };
    let merged = merge(held, &incoming);
    if merged == *held {
        return Outcome::Unchanged;
    }
    if !decided {
        return Outcome::Updated(merged);
    }
    let mut case = merged;
    case.id = next_id.to_string();
    case.recurrence_of = Some(held.id.clone());
    case.opened_at = now;
    case.context = None;
    Outcome::Recurrence(case)
}

/// `held` with the facts of `new` of the same credential. Built so that
/// re-reading any file already imported adds nothing, in any order:
///
/// - unions: occurrences (equal places merge their first and last seen),
///   references, tags, detector names;
/// - the earliest `opened_at`, `first_seen_at` and `created_at`; the latest
///   `detected_at` and known use (`last_used_at`: a use beats `never`);
///   the highest severity; `live` beats `inactive` (a credential any
///   detector found working is treated as working);
/// - a leak beats any other finding type; a provider identity replaces a
///   fingerprint (`secret:…`) identity;
/// - first known wins for what describes the case (title, summary,
///   account, privilege);
/// - the owner, criticality, dependency map, action and change window of
///   `new` replace `held`'s when `new` knows them (detectors rarely give
///   them; context files are joined separately).
///
/// The id, `recurrence_of` and the context notes are `held`'s.
pub fn merge(held: &Case, new: &Case) -> Case {
    let mut out = held.clone();
    // A recurrence opened when it was seen again; earlier detector times
    // belong to the decided case.
    if held.recurrence_of.is_none() {
        out.opened_at = held.opened_at.min(new.opened_at);
    }
    if held.title.trim().is_empty() {
        out.title = new.title.clone();
    }
    out.identity = merge_identity(&held.identity, &new.identity);
    out.finding = match (&held.finding, &new.finding) {
        (Some(h), Some(n)) => Some(merge_finding(h, n)),
        (h, n) => n.clone().or_else(|| h.clone()),
    };
    replace_if_known(&mut out.owner, &new.owner);
    replace_if_known(&mut out.criticality, &new.criticality);
    replace_if_known(&mut out.dependencies, &new.dependencies);
    replace_if_known(&mut out.action, &new.action);
    replace_if_known(&mut out.change_window, &new.change_window);
    union(&mut out.tags, &new.tags);
    out.occurrences = merge_occurrences(&held.occurrences, &new.occurrences);
    union(&mut out.problems, &new.problems);
    first_seen_from_occurrences(&mut out);
    out
}

fn replace_if_known<T: Clone>(held: &mut Option<T>, new: &Option<T>) {
    if new.is_some() {
        held.clone_from(new);
    }
}

fn fill_if_unknown<T: Clone>(held: &mut Option<T>, new: &Option<T>) {
    if held.is_none() {
        held.clone_from(new);
    }
}

fn union<T: Clone + PartialEq>(held: &mut Vec<T>, new: &[T]) {
    for item in new {
        if !held.contains(item) {
            held.push(item.clone());
        }
    }
}

fn min_known<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_known<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Whether the identity is a fingerprint or a detector's own key, not a
/// provider identity (an ARN, an email, a client id): the importers write
/// such ids with these prefixes when the detector names no identity.
fn is_fingerprint(identity: &Identity) -> bool {
    FINGERPRINT_PREFIXES
        .iter()
        .any(|prefix| identity.id.starts_with(prefix))
}

/// The identity id prefixes of credential keys used as identities
/// (src/import/fingerprint.rs and the parsers).
const FINGERPRINT_PREFIXES: &[&str] = &[
    "secret:",
    "aws-access-key:",
    "gitguardian:",
    "gitleaks:",
    "github-alert:",
];

fn merge_identity(held: &Identity, new: &Identity) -> Identity {
    let mut out = if is_fingerprint(held) && !is_fingerprint(new) {
        new.clone()
    } else {
        held.clone()
    };
    fill_if_unknown(&mut out.account, &new.account);
    out.created_at = min_known(out.created_at, new.created_at);
    fill_if_unknown(&mut out.privilege, &new.privilege);
    out.last_used_at = match (held.last_used_at, new.last_used_at) {
        (LastUsed::At(a), LastUsed::At(b)) => LastUsed::At(a.max(b)),
        // A use seen by one source beats "never" from another.
        (LastUsed::At(t), _) | (_, LastUsed::At(t)) => LastUsed::At(t),
        (LastUsed::Never, _) | (_, LastUsed::Never) => LastUsed::Never,
        _ => LastUsed::Unknown,
    };
    out
}

fn merge_finding(held: &Finding, new: &Finding) -> Finding {
    let mut out = held.clone();
    // A leak is the graver finding about one credential.
    if new.kind == "leaked_secret" {
        out.kind = new.kind.clone();
    }
    // `Level` orders critical first: the highest severity is the least.
    out.severity = match (held.severity, new.severity) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    out.source = match (&held.source, &new.source) {
        (Some(h), Some(n)) => {
            let mut names: Vec<&str> = h.split(", ").collect();
            for name in n.split(", ") {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            Some(names.join(", "))
        }
        (h, n) => h.clone().or_else(|| n.clone()),
    };
    out.detected_at = max_known(held.detected_at, new.detected_at);
    fill_if_unknown(&mut out.summary, &new.summary);
    fill_if_unknown(&mut out.owasp, &new.owasp);
    union(&mut out.refs, &new.refs);
    out.first_seen_at = min_known(held.first_seen_at, new.first_seen_at);
    out.validity = match (held.validity, new.validity) {
        (Some(Validity::Live), _) | (_, Some(Validity::Live)) => Some(Validity::Live),
        (a, b) => a.or(b),
    };
    out
}

fn merge_occurrences(held: &[Occurrence], new: &[Occurrence]) -> Vec<Occurrence> {
    let mut all = Vec::with_capacity(held.len() + new.len());
    all.extend_from_slice(held);
    all.extend_from_slice(new);
    coalesce_occurrences(all)
}

/// One entry per place, sorted: equal places merged (earliest first seen,
/// latest last seen). Sorting puts equal places side by side (the place's
/// fields come first in the order), so this is one pass after a sort, not a
/// search per occurrence: a secret copied into ten thousand commits stays
/// cheap.
pub(super) fn coalesce_occurrences(mut all: Vec<Occurrence>) -> Vec<Occurrence> {
    all.sort();
    let mut out: Vec<Occurrence> = Vec::with_capacity(all.len());
    for o in all {
        match out.last_mut() {
            Some(last) if last.same_place(&o) => {
                last.first_seen_at = min_known(last.first_seen_at, o.first_seen_at);
                last.last_seen_at = max_known(last.last_seen_at, o.last_seen_at);
            }
            _ => out.push(o),
        }
    }
    out
}

/// Sets `finding.first_seen_at` to the earliest of its own and the
/// occurrences' first seen.
pub(super) fn first_seen_from_occurrences(case: &mut Case) {
    let earliest = case
        .occurrences
        .iter()
        .filter_map(|o| o.first_seen_at)
        .min();
    if let Some(finding) = case.finding.as_mut() {
        finding.first_seen_at = min_known(finding.first_seen_at, earliest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_recurrence_follows_the_chain() {
        let mut case: Case =
            serde_json::from_str(crate::demo::CASES.lines().next().expect("a demo case"))
                .expect("demo case");
        case.id = "NHI-ABC".into();
        assert_eq!(next_recurrence_id(&case), "NHI-ABC-R2");
        case.id = "NHI-ABC-R2".into();
        case.recurrence_of = Some("NHI-ABC".into());
        assert_eq!(next_recurrence_id(&case), "NHI-ABC-R3");
        case.id = "NHI-ABC-R3".into();
        case.recurrence_of = Some("NHI-ABC-R2".into());
        assert_eq!(next_recurrence_id(&case), "NHI-ABC-R4");
    }
}
