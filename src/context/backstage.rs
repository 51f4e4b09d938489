//! Backstage catalog entities (descriptor format:
//! <https://backstage.io/docs/features/software-catalog/descriptor-format>).
//!
//! Read: `Group` and `User` (name, `spec.profile.email`), and every
//! entity's `spec.owner`, `spec.dependsOn`, `spec.dependencyOf`,
//! `metadata.title`, `spec.type` and `nhi-triage.io/*` annotations. A
//! `Resource` stands for a case's identity when its
//! `nhi-triage.io/identity-id` annotation is the case's `identity.id`, or —
//! without that annotation — when its `spec.type` is one of
//! [`IDENTITY_TYPES`] and its `metadata.name` equals the `identity.id`
//! (case-insensitively, as Backstage compares names).
//!
//! Entity references are `[kind:][namespace/]name`, compared
//! case-insensitively; the namespace defaults to the referring entity's
//! (Backstage's rule, usually `default`); `spec.owner`'s kind defaults to
//! `group`; `dependsOn`/`dependencyOf` need the kind (a ref without one is
//! a problem and is skipped).

use std::collections::{HashMap, HashSet, VecDeque};

use time::OffsetDateTime;

use super::yaml::Y;
use super::{FileRef, NodeFacts, Problems, annotation_time, annotations};
use crate::model::{DependencyNode, Level, Owner, OwnerBasis};

/// `spec.type` values of a Resource that may stand for an identity by name
/// (without the `nhi-triage.io/identity-id` annotation).
pub const IDENTITY_TYPES: &[&str] = &[
    "service-account",
    "iam-user",
    "iam-role",
    "api-key",
    "access-key",
    "token",
    "secret",
    "certificate",
    "oauth-app",
    "workload-identity",
];

/// One entity as read.
#[derive(Debug, Clone)]
struct Entity {
    /// `kind:namespace/name`, lower case.
    eref: String,
    kind: String,
    name: String,
    title: Option<String>,
    spec_type: Option<String>,
    owner: Option<String>,
    email: Option<String>,
    depends_on: Vec<String>,
    dependency_of: Vec<String>,
    identity_id: Option<String>,
    verified_at: Option<OffsetDateTime>,
    deps_verified_at: Option<OffsetDateTime>,
    facts: NodeFacts,
    path: std::path::PathBuf,
    rel: String,
    line: usize,
}

impl Entity {
    /// `file:line`, the file relative to the context directory.
    fn at(&self) -> String {
        format!("{}:{}", self.rel, self.line)
    }

    /// The fact's source: the entity and its file, without the line (a
    /// line added above it must not change every joined case's content).
    fn source(&self) -> String {
        format!("Backstage catalog, {} ({})", self.eref, self.rel)
    }
}

/// The entities of every catalog file, indexed after [`Catalog::finish`].
#[derive(Debug, Clone, Default)]
pub(super) struct Catalog {
    entities: Vec<Entity>,
    by_ref: HashMap<String, usize>,
    /// `identity-id` annotation → identity Resources.
    by_identity: HashMap<String, Vec<usize>>,
    /// lower-case name → Resources of an identity type without the annotation.
    by_name: HashMap<String, Vec<usize>>,
    /// ref → the refs of what depends on it (in entity order).
    users: HashMap<String, Vec<String>>,
    /// ref → the refs of what it depends on.
    uses: HashMap<String, Vec<String>>,
}

/// What the catalog says about one identity, through one Resource.
#[derive(Debug, Clone)]
pub(super) struct IdentityFacts {
    /// The Resource: `Backstage catalog, resource:default/x (file:line)`.
    pub source: String,
    pub owner: Option<Owner>,
    pub criticality: Option<Level>,
    pub deps_verified_at: Option<OffsetDateTime>,
    /// Its transitive dependents; `uses` name the identity as
    /// [`IDENTITY_MARK`] (replaced by the case's id in the join).
    pub nodes: Vec<DependencyNode>,
}

/// Stands for the identity in the `uses` of the nodes [`Catalog::facts`]
/// returns; the join writes the case's `identity.id` there.
pub(super) const IDENTITY_MARK: &str = "\u{0}identity";

/// Parses an entity reference into `kind:namespace/name` (lower case).
fn parse_ref(v: &Y, default_kind: Option<&str>, default_ns: &str) -> Result<String, String> {
    let (kind, ns, name) = match v {
        Y::Str(s) => {
            let s = s.trim();
            let (kind, rest) = match s.split_once(':') {
                Some((k, rest)) => (Some(k.trim().to_string()), rest),
                None => (None, s),
            };
            let (ns, name) = match rest.split_once('/') {
                Some((ns, name)) => (Some(ns.trim().to_string()), name.trim().to_string()),
                None => (None, rest.trim().to_string()),
            };
            (kind, ns, name)
        }
        Y::Map(_) => {
            let field = |k: &str| v.get(k).and_then(Y::as_str).map(|s| s.trim().to_string());
            (
                field("kind"),
                field("namespace"),
                field("name").unwrap_or_default(),
            )
        }
        other => {
            return Err(format!(
                "an entity reference is {}, not a string",
                other.shape()
            ));
        }
    };
    let kind = match kind.filter(|k| !k.is_empty()) {
        Some(k) => k,
        None => match default_kind {
            Some(k) => k.to_string(),
            None => return Err("an entity reference without a kind (write kind:name)".into()),
        },
    };
    if name.is_empty() {
        return Err("an entity reference without a name".into());
    }
    let ns = ns
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| default_ns.to_string());
    Ok(format!("{kind}:{ns}/{name}").to_lowercase())
}

fn text_at(v: &Y, path: &[&str]) -> Option<String> {
    v.at(path)
        .and_then(Y::text)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Catalog {
    pub(super) fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Reads one entity document.
    pub(super) fn add(&mut self, file: &FileRef, line: usize, v: &Y, problems: &mut Problems) {
        let kind = text_at(v, &["kind"]).unwrap_or_default();
        let Some(name) = text_at(v, &["metadata", "name"]) else {
            problems.push(
                &file.path,
                line,
                format!("{kind} entity without metadata.name; ignored"),
            );
            return;
        };
        let ns = text_at(v, &["metadata", "namespace"]).unwrap_or_else(|| "default".into());
        let eref = format!("{kind}:{ns}/{name}").to_lowercase();
        let mut bad = |m: String| problems.push(&file.path, line, format!("{eref}: {m}"));
        let annotations = v.at(&["metadata", "annotations"]);
        let identity_id = annotations
            .and_then(|a| a.get(annotations::IDENTITY_ID))
            .and_then(Y::text)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let verified_at = annotation_time(
            annotations,
            annotations::VERIFIED_AT,
            "ownership unverified",
            &mut bad,
        );
        let deps_verified_at = annotation_time(
            annotations,
            annotations::DEPENDENCIES_VERIFIED_AT,
            "dependency map unverified",
            &mut bad,
        );
        let facts = NodeFacts::read(annotations, &mut bad);
        let owner = match v.at(&["spec", "owner"]) {
            None | Some(Y::Null) => None,
            Some(o) => match parse_ref(o, Some("group"), &ns) {
                Ok(r) => Some(r),
                Err(m) => {
                    bad(format!("spec.owner: {m}; owner unknown"));
                    None
                }
            },
        };
        let mut refs = |key: &str| -> Vec<String> {
            let mut out = Vec::new();
            match v.at(&["spec", key]) {
                None | Some(Y::Null) => {}
                Some(Y::Seq(items)) => {
                    for item in items {
                        match parse_ref(item, None, &ns) {
                            Ok(r) => out.push(r),
                            Err(m) => bad(format!("spec.{key}: {m}; skipped")),
                        }
                    }
                }
                Some(other) => bad(format!(
                    "spec.{key} is {}, not a list; ignored",
                    other.shape()
                )),
            }
            out
        };
        let depends_on = refs("dependsOn");
        let dependency_of = refs("dependencyOf");
        self.entities.push(Entity {
            eref,
            kind: kind.to_lowercase(),
            name,
            title: text_at(v, &["metadata", "title"]),
            spec_type: text_at(v, &["spec", "type"]),
            owner,
            email: text_at(v, &["spec", "profile", "email"]),
            depends_on,
            dependency_of,
            identity_id,
            verified_at,
            deps_verified_at,
            facts,
            path: file.path.clone(),
            rel: file.rel.clone(),
            line,
        });
    }

    /// Indexes the entities; an entity defined twice keeps its first
    /// definition (a problem names the second).
    pub(super) fn finish(&mut self, problems: &mut Problems) {
        let mut keep = Vec::with_capacity(self.entities.len());
        let mut seen: HashMap<String, String> = HashMap::new();
        for e in std::mem::take(&mut self.entities) {
            if let Some(first) = seen.get(&e.eref) {
                problems.push(
                    &e.path,
                    e.line,
                    format!(
                        "{} is defined again; the first definition ({first}) is used",
                        e.eref
                    ),
                );
                continue;
            }
            seen.insert(e.eref.clone(), e.at());
            keep.push(e);
        }
        self.entities = keep;
        for (i, e) in self.entities.iter().enumerate() {
            self.by_ref.insert(e.eref.clone(), i);
            if e.kind != "resource" {
                continue;
            }
            if let Some(id) = &e.identity_id {
                self.by_identity.entry(id.clone()).or_default().push(i);
            } else if e
                .spec_type
                .as_deref()
                .is_some_and(|t| IDENTITY_TYPES.contains(&t.to_ascii_lowercase().as_str()))
            {
                self.by_name
                    .entry(e.name.to_lowercase())
                    .or_default()
                    .push(i);
            }
        }
        // `a dependsOn b` and `b dependencyOf a` are the same edge: a uses b.
        // Either end may be missing from the catalog.
        for e in &self.entities {
            for used in &e.depends_on {
                push_unique(self.users.entry(used.clone()).or_default(), &e.eref);
                push_unique(self.uses.entry(e.eref.clone()).or_default(), used);
            }
            for user in &e.dependency_of {
                push_unique(self.users.entry(e.eref.clone()).or_default(), user);
                push_unique(self.uses.entry(user.clone()).or_default(), &e.eref);
            }
        }
    }

    /// The catalog's facts about the identity `id`: one entry per Resource
    /// that stands for it (annotated ones first, then name matches).
    pub(super) fn facts(&self, id: &str) -> Vec<IdentityFacts> {
        let annotated = self.by_identity.get(id.trim()).into_iter().flatten();
        let named = self
            .by_name
            .get(&id.trim().to_lowercase())
            .into_iter()
            .flatten();
        annotated.chain(named).map(|&i| self.facts_of(i)).collect()
    }

    fn facts_of(&self, i: usize) -> IdentityFacts {
        let r = &self.entities[i];
        let owner = r.owner.as_ref().map(|oref| {
            let owner_entity = self.by_ref.get(oref).map(|&o| &self.entities[o]);
            let (kind_ns, name) = oref.rsplit_once('/').unwrap_or(("", oref));
            let team = match (owner_entity, kind_ns.split_once(':')) {
                // The entity's own spelling of its name.
                (Some(e), Some((_, "default")) | None) => e.name.clone(),
                (None, Some((_, "default")) | None) => name.to_string(),
                (_, Some((_, ns))) => format!("{ns}/{name}"),
            };
            Owner {
                team: Some(team),
                contact: owner_entity.and_then(|e| e.email.clone()),
                basis: OwnerBasis::Explicit,
                verified_at: r.verified_at,
                source: Some(r.source()),
            }
        });
        IdentityFacts {
            source: r.source(),
            owner,
            criticality: r.facts.criticality,
            deps_verified_at: r.deps_verified_at,
            nodes: self.dependents(i),
        }
    }

    /// The transitive dependents of entity `root`, breadth first.
    fn dependents(&self, root: usize) -> Vec<DependencyNode> {
        let root_ref = self.entities[root].eref.as_str();
        let mut order: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::from([root_ref]);
        let mut queue: VecDeque<&str> = VecDeque::from([root_ref]);
        while let Some(used) = queue.pop_front() {
            for user in self.users.get(used).into_iter().flatten() {
                if seen.insert(user) {
                    order.push(user);
                    queue.push_back(user);
                }
            }
        }
        order
            .iter()
            .map(|eref| self.node(eref, root_ref, &seen))
            .collect()
    }

    /// The node for entity `eref` of a map around `root_ref`, whose nodes
    /// are `in_map`; its `uses` keep only edges inside the map.
    fn node(&self, eref: &str, root_ref: &str, in_map: &HashSet<&str>) -> DependencyNode {
        let entity = self.by_ref.get(eref).map(|&i| &self.entities[i]);
        let uses = self
            .uses
            .get(eref)
            .into_iter()
            .flatten()
            .filter(|used| in_map.contains(used.as_str()))
            .map(|used| {
                if used == root_ref {
                    IDENTITY_MARK.to_string()
                } else {
                    used.clone()
                }
            })
            .collect();
        let (kind, name) = match entity {
            Some(e) => (
                match &e.spec_type {
                    Some(t) => format!("{}/{t}", e.kind),
                    None => e.kind.clone(),
                },
                e.title.clone().unwrap_or_else(|| e.name.clone()),
            ),
            None => {
                let (kind, rest) = eref.split_once(':').unwrap_or(("", eref));
                let name = rest.rsplit_once('/').map_or(rest, |(_, n)| n);
                (kind.to_string(), name.to_string())
            }
        };
        let facts = entity.map(|e| e.facts).unwrap_or_default();
        let source = match entity {
            Some(e) => e.source(),
            // Named by a dependencyOf but not in the catalog: cite who named it.
            None => self
                .entities
                .iter()
                .find(|e| e.dependency_of.iter().any(|r| r == eref))
                .map_or_else(
                    || "Backstage catalog".to_string(),
                    |e| format!("{}, spec.dependencyOf", e.source()),
                ),
        };
        DependencyNode {
            id: eref.to_string(),
            name: Some(name),
            kind: Some(kind),
            criticality: facts.criticality,
            external: facts.external,
            shared: facts.shared,
            last_seen_at: None,
            uses,
            source: Some(source),
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_level;
    use super::*;

    #[test]
    fn refs_default_their_kind_and_namespace() {
        let s = |t: &str| Y::Str(t.to_string());
        assert_eq!(
            parse_ref(&s("payments"), Some("group"), "default").as_deref(),
            Ok("group:default/payments")
        );
        assert_eq!(
            parse_ref(&s("User:Ops/JDoe"), Some("group"), "default").as_deref(),
            Ok("user:ops/jdoe")
        );
        assert_eq!(
            parse_ref(&s("billing-api"), None, "prod").map_err(|_| ()),
            Err(())
        );
        assert_eq!(
            parse_ref(&s("component:billing-api"), None, "prod").as_deref(),
            Ok("component:prod/billing-api")
        );
    }

    #[test]
    fn level_parsing_is_case_insensitive() {
        assert_eq!(parse_level(" Critical "), Some(Level::Critical));
        assert_eq!(parse_level("urgent"), None);
    }
}
