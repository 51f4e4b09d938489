//! The join of a case with the context facts: pure and deterministic.
//!
//! Precedence for the owner (docs/import.md, *Context*): the case file's
//! own owner counts as a source (its basis as written). An `explicit`
//! owner beats an `inferred` one (and both beat `unknown`); among equals
//! the one verified more recently (a verification beats none); then the
//! case file, the Backstage catalog, the owners table and CODEOWNERS, in
//! that order. Criticality: the case file, Backstage, the owners table, in
//! that order. Every other source naming a different value is recorded in
//! `context.disagreements`; every fact the join set names its source in
//! `context.sources`.

use std::cmp::Reverse;

use super::Context;
use super::backstage::IDENTITY_MARK;
use crate::model::{
    Case, ContextNotes, Dependencies, DependencyNode, Disagreement, Level, Owner, OwnerBasis,
};

/// What the case file's own facts are called as a source.
const CASE_FILE: &str = "case file";

/// How many node sources `context.sources.dependencies` names before
/// counting the rest.
const MAX_NAMED_SOURCES: usize = 3;

/// The case with the context facts joined in: owner, criticality and
/// dependency nodes, each with its source; disagreements recorded;
/// `case.context` set when any context fact applied or disagreed. A case
/// no source speaks about is returned unchanged (equal, so its content
/// digest does not change), and joining a joined case again changes
/// nothing. What no source gives stays `None`.
///
/// Dependencies: a case without a map gets one from the context
/// (`verified_at` from the identity's Backstage Resource
/// `nhi-triage.io/dependencies-verified-at`, else `None`); a case with a
/// map keeps it and gains the context nodes whose id it lacks.
pub fn join(case: &Case, context: &Context) -> Case {
    let id = case.identity.id.as_str();
    let catalog = context.catalog.facts(id);
    let row = context.table.row_for(id);
    let code = context.codeowners.owners(case);
    let k8s = context.workloads.nodes_for(id);
    if catalog.is_empty() && row.is_none() && code.is_none() && k8s.is_empty() {
        return case.clone();
    }
    let mut out = case.clone();
    let mut notes = case.context.clone().unwrap_or_default();
    let before = notes.clone();

    // Owner.
    let mut owners: Vec<(Owner, u8, bool)> = Vec::new();
    if let Some(o) = &case.owner {
        owners.push((o.clone(), 0, true));
    }
    owners.extend(
        catalog
            .iter()
            .filter_map(|f| f.owner.clone())
            .map(|o| (o, 1, true)),
    );
    owners.extend(row.and_then(|r| r.owner()).map(|o| (o, 2, true)));
    if let Some((kept, others)) = code {
        owners.push((kept, 3, true));
        owners.extend(others.into_iter().map(|o| (o, 3, false)));
    }
    let best = owners
        .iter()
        .enumerate()
        .filter(|(_, (_, _, contender))| *contender)
        .min_by_key(|(i, (o, rank, _))| (basis_rank(o.basis), Reverse(o.verified_at), *rank, *i))
        .map(|(i, _)| i);
    if let Some(best) = best {
        let (kept, rank, _) = &owners[best];
        let kept_source = source_of(kept);
        for (i, (other, _, _)) in owners.iter().enumerate() {
            let Some(team) = other.team.as_deref() else {
                continue;
            };
            // A team named under basis `unknown` may be a placeholder: no disagreement.
            if i == best
                || other.basis == OwnerBasis::Unknown
                || kept.team.as_deref().is_some_and(|k| same_team(k, team))
            {
                continue;
            }
            record(
                &mut notes,
                Disagreement {
                    field: "owner.team".into(),
                    kept: kept.team.clone().unwrap_or_else(|| "none".into()),
                    kept_source: kept_source.clone(),
                    other: team.to_string(),
                    other_source: source_of(other),
                },
            );
        }
        if *rank != 0 {
            notes.sources.insert("owner".into(), kept_source);
            out.owner = Some(kept.clone());
        }
    }

    // Criticality.
    let mut levels: Vec<(Level, String, u8)> = Vec::new();
    if let Some(level) = case.criticality {
        // A criticality an earlier join set keeps the source it named.
        let source = before.sources.get("criticality").cloned();
        levels.push((level, source.unwrap_or_else(|| CASE_FILE.into()), 0));
    }
    levels.extend(
        catalog
            .iter()
            .filter_map(|f| Some((f.criticality?, f.source.clone(), 1))),
    );
    levels.extend(row.and_then(|r| Some((r.criticality?, r.source.clone(), 2))));
    if let Some((kept, kept_source, rank)) = levels.first() {
        for (other, other_source, _) in &levels[1..] {
            if other != kept {
                record(
                    &mut notes,
                    Disagreement {
                        field: "criticality".into(),
                        kept: kept.as_str().into(),
                        kept_source: kept_source.clone(),
                        other: other.as_str().into(),
                        other_source: other_source.clone(),
                    },
                );
            }
        }
        if *rank != 0 {
            out.criticality = Some(*kept);
            notes
                .sources
                .insert("criticality".into(), kept_source.clone());
        }
    }

    // Dependencies.
    let mut nodes: Vec<DependencyNode> = Vec::new();
    let mut push = |mut node: DependencyNode| {
        for used in &mut node.uses {
            if used == IDENTITY_MARK {
                *used = id.to_string();
            }
        }
        if node.id != id && !nodes.iter().any(|n| n.id == node.id) {
            nodes.push(node);
        }
    };
    catalog
        .iter()
        .flat_map(|f| f.nodes.iter().cloned())
        .for_each(&mut push);
    k8s.iter()
        .cloned()
        .map(|mut n| {
            n.uses = vec![id.to_string()];
            n
        })
        .for_each(&mut push);
    let verified = catalog.iter().find(|f| f.deps_verified_at.is_some());
    match &mut out.dependencies {
        None if !nodes.is_empty() || verified.is_some() => {
            let mut sources: Vec<String> = verified.map(|f| f.source.clone()).into_iter().collect();
            sources.extend(nodes.iter().filter_map(|n| n.source.clone()));
            notes
                .sources
                .insert("dependencies".into(), summary(sources));
            out.dependencies = Some(Dependencies {
                verified_at: verified.and_then(|f| f.deps_verified_at),
                nodes,
            });
        }
        None => {}
        Some(map) => {
            let added: Vec<DependencyNode> = nodes
                .into_iter()
                .filter(|n| !map.nodes.iter().any(|m| m.id == n.id))
                .collect();
            if !added.is_empty() {
                let sources = added.iter().filter_map(|n| n.source.clone()).collect();
                let text = format!("{CASE_FILE}; added: {}", summary(sources));
                notes.sources.insert("dependencies".into(), text);
                map.nodes.extend(added);
            }
        }
    }

    if notes != before {
        out.context = Some(notes);
    }
    out
}

fn basis_rank(basis: OwnerBasis) -> u8 {
    match basis {
        OwnerBasis::Explicit => 0,
        OwnerBasis::Inferred => 1,
        OwnerBasis::Unknown => 2,
    }
}

fn source_of(owner: &Owner) -> String {
    owner.source.clone().unwrap_or_else(|| CASE_FILE.into())
}

/// Teams compare trimmed and ignoring ASCII case (`Payments` = `payments`).
fn same_team(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Adds a disagreement unless it is already recorded.
fn record(notes: &mut ContextNotes, d: Disagreement) {
    if !notes.disagreements.contains(&d) {
        notes.disagreements.push(d);
    }
}

/// The distinct sources, the first few named and the rest counted.
fn summary(sources: Vec<String>) -> String {
    let mut distinct: Vec<String> = Vec::new();
    for s in sources {
        if !distinct.contains(&s) {
            distinct.push(s);
        }
    }
    let more = distinct.len().saturating_sub(MAX_NAMED_SOURCES);
    distinct.truncate(MAX_NAMED_SOURCES);
    let mut text = distinct.join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn context(files: &[(&str, &str)]) -> Context {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (ctx, problems) = Context::load(dir.path());
        assert!(problems.is_empty(), "{problems:?}");
        ctx
    }

    fn case(extra: serde_json::Value) -> Case {
        let mut v = serde_json::json!({
            "id": "c", "opened_at": "2026-11-01T00:00:00Z", "title": "t",
            "identity": {"id": "svc-x", "name": "x", "kind": "service_account", "provider": "gcp"},
        });
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        serde_json::from_value(v).unwrap()
    }

    const RESOURCE: &str = "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: svc-x\n  annotations:\n    nhi-triage.io/dependencies-verified-at: \"2026-11-21T00:00:00Z\"\n    nhi-triage.io/criticality: high\nspec:\n  type: service-account\n  owner: payments\n";

    #[test]
    fn a_verified_resource_without_dependents_is_a_verified_empty_map() {
        let ctx = context(&[("c.yaml", RESOURCE)]);
        let joined = join(&case(serde_json::json!({})), &ctx);
        let deps = joined.dependencies.unwrap();
        assert!(deps.nodes.is_empty());
        assert!(deps.verified_at.is_some());
    }

    #[test]
    fn a_placeholder_team_under_basis_unknown_is_no_disagreement() {
        let ctx = context(&[("c.yaml", RESOURCE)]);
        let c = case(serde_json::json!({"owner": {"team": "unknown", "basis": "unknown"}}));
        let joined = join(&c, &ctx);
        assert_eq!(joined.owner.unwrap().team.as_deref(), Some("payments"));
        assert!(joined.context.unwrap().disagreements.is_empty());
    }

    #[test]
    fn joining_twice_changes_nothing() {
        let table = "identity,team,criticality\nsvc-x,finance,low\n";
        let ctx = context(&[("c.yaml", RESOURCE), ("t.csv", table)]);
        let once = join(&case(serde_json::json!({})), &ctx);
        assert_eq!(once.criticality, Some(Level::High));
        assert_eq!(once.context.as_ref().unwrap().disagreements.len(), 2);
        assert_eq!(join(&once, &ctx), once);
    }
}
