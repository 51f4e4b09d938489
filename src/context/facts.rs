//! The facts the context sources share: the `nhi-triage.io/*` annotations,
//! levels, node facts, times, and which source answers which gap.

use super::yaml;

/// Which kind of context source would answer a fact the policy needs, for
/// the readiness pane's gaps. `field` is one of `owner`, `owner.team`,
/// `owner.basis`, `owner.verified_at`, `criticality`, `dependencies`,
/// `dependencies.verified_at`, and the node facts `node.criticality`,
/// `node.external`, `node.shared` (also spelt `nodes.…` or
/// `dependencies.nodes.…`). Anything else: no context source gives it.
pub fn sources_that_answer(field: &str) -> &'static str {
    let field = field
        .strip_prefix("dependencies.nodes.")
        .or_else(|| field.strip_prefix("nodes."))
        .map_or(field, |rest| match rest {
            "criticality" => "node.criticality",
            "external" => "node.external",
            "shared" => "node.shared",
            _ => field,
        });
    match field {
        "owner" | "owner.team" => {
            "a Backstage Resource with nhi-triage.io/identity-id and spec.owner, an owners table row with a team, or for a leaked secret a CODEOWNERS rule matching its file"
        }
        "owner.basis" => {
            "an explicit source: a Backstage Resource's spec.owner or an owners table row (CODEOWNERS only infers)"
        }
        "owner.verified_at" => {
            "a Backstage Resource with spec.owner and nhi-triage.io/verified-at, or an owners table row with verified_at"
        }
        "criticality" => {
            "nhi-triage.io/criticality on the identity's Backstage Resource, or an owners table row with criticality"
        }
        "dependencies" => {
            "Backstage entities whose spec.dependsOn names the identity's Resource (or its spec.dependencyOf), or Kubernetes workloads whose ServiceAccount has a workload identity annotation naming the identity"
        }
        "dependencies.verified_at" => {
            "nhi-triage.io/dependencies-verified-at on the identity's Backstage Resource"
        }
        "node.criticality" => {
            "nhi-triage.io/criticality on the dependent's Backstage entity or Kubernetes workload"
        }
        "node.external" => {
            "nhi-triage.io/external on the dependent's Backstage entity or Kubernetes workload"
        }
        "node.shared" => {
            "nhi-triage.io/shared on the dependent's Backstage entity or Kubernetes workload"
        }
        _ => "no context source gives it: the case file must",
    }
}

/// The `nhi-triage.io/*` annotations read from Backstage entities and
/// Kubernetes workloads (docs/import.md, *Context*).
pub mod annotations {
    /// On a Backstage Resource: the case `identity.id` it stands for.
    pub const IDENTITY_ID: &str = "nhi-triage.io/identity-id";
    /// On the identity's Resource: when ownership was last confirmed (RFC 3339).
    pub const VERIFIED_AT: &str = "nhi-triage.io/verified-at";
    /// On the identity's Resource: when its dependency map was last verified.
    pub const DEPENDENCIES_VERIFIED_AT: &str = "nhi-triage.io/dependencies-verified-at";
    /// `critical`, `high`, `medium` or `low`: the identity's criticality on
    /// its Resource, a dependent's on its entity or workload.
    pub const CRITICALITY: &str = "nhi-triage.io/criticality";
    /// `true`/`false`: the dependent is run by an outside partner.
    pub const EXTERNAL: &str = "nhi-triage.io/external";
    /// `true`/`false`: the dependent is a platform shared by many teams.
    pub const SHARED: &str = "nhi-triage.io/shared";
}

/// Reads a level (`critical`, `high`, `medium`, `low`, any case).
pub(super) fn parse_level(s: &str) -> Option<crate::model::Level> {
    use crate::model::Level;
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" => Some(Level::Critical),
        "high" => Some(Level::High),
        "medium" => Some(Level::Medium),
        "low" => Some(Level::Low),
        _ => None,
    }
}

/// The `nhi-triage.io/*` node facts of a Backstage entity or Kubernetes
/// workload's annotations; a bad value is a problem and stays unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct NodeFacts {
    pub criticality: Option<crate::model::Level>,
    pub external: Option<bool>,
    pub shared: Option<bool>,
}

impl NodeFacts {
    pub(super) fn read(annotations: Option<&yaml::Y>, mut bad: impl FnMut(String)) -> Self {
        let get = |key: &str| annotations.and_then(|a| a.get(key)).and_then(yaml::Y::text);
        let criticality = get(annotations::CRITICALITY).and_then(|v| {
            let level = parse_level(&v);
            if level.is_none() {
                bad(format!(
                    "{} {} is not critical, high, medium or low; criticality unknown",
                    annotations::CRITICALITY,
                    crate::text::quoted(&v)
                ));
            }
            level
        });
        let mut flag = |key: &str| {
            get(key).and_then(|v| match v.trim() {
                "true" => Some(true),
                "false" => Some(false),
                _ => {
                    bad(format!(
                        "{key} {} is not true or false; unknown",
                        crate::text::quoted(&v)
                    ));
                    None
                }
            })
        };
        let external = flag(annotations::EXTERNAL);
        let shared = flag(annotations::SHARED);
        NodeFacts {
            criticality,
            external,
            shared,
        }
    }
}

/// Reads an RFC 3339 time with a zone from an annotation value; a bad one
/// is a problem (`what` says what stays unverified).
pub(super) fn annotation_time(
    annotations: Option<&yaml::Y>,
    key: &str,
    what: &str,
    mut bad: impl FnMut(String),
) -> Option<time::OffsetDateTime> {
    let text = annotations
        .and_then(|a| a.get(key))
        .and_then(yaml::Y::text)?;
    match crate::model::parse_rfc3339(text.trim()) {
        Ok(t) => Some(t),
        Err(_) => {
            bad(format!(
                "{key} {} is not an RFC 3339 time with a zone; {what}",
                crate::text::quoted(&text)
            ));
            None
        }
    }
}
