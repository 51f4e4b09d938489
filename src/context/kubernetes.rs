//! Kubernetes manifests: workloads that use a cloud identity through their
//! ServiceAccount's workload identity annotation.
//!
//! - EKS IAM roles for service accounts: `eks.amazonaws.com/role-arn`
//!   (<https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html>);
//! - GKE Workload Identity: `iam.gke.io/gcp-service-account`
//!   (<https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity>);
//! - Azure Workload Identity: `azure.workload.identity/client-id`, which
//!   applies only to pods labelled `azure.workload.identity/use: "true"`
//!   (<https://azure.github.io/azure-workload-identity/docs/topics/service-account-labels-and-annotations.html>).
//!
//! Workloads: Deployment, StatefulSet, DaemonSet, ReplicaSet and Job
//! (`spec.template.spec.serviceAccountName`), CronJob
//! (`spec.jobTemplate.spec.template.spec.serviceAccountName`) and Pod
//! (`spec.serviceAccountName`); the deprecated `serviceAccount` is read
//! when the name is absent, and without either the pod runs as its
//! namespace's `default` ServiceAccount. A missing `metadata.namespace` is
//! `default`. ServiceAccounts and workloads are matched across all files.
//! EKS Pod Identity associations and GKE grants to the Kubernetes
//! principal are not in manifests: such uses stay unknown.

use std::collections::HashMap;

use super::yaml::Y;
use super::{FileRef, NodeFacts, Problems};
use crate::model::DependencyNode;

/// The ServiceAccount annotations naming a cloud identity, and whether the
/// pod must opt in with `azure.workload.identity/use: "true"`.
const IDENTITY_ANNOTATIONS: &[(&str, bool)] = &[
    ("eks.amazonaws.com/role-arn", false),
    ("iam.gke.io/gcp-service-account", false),
    ("azure.workload.identity/client-id", true),
];

const AZURE_USE_LABEL: &str = "azure.workload.identity/use";

#[derive(Debug, Clone)]
struct Account {
    /// (cloud identity id, needs the Azure pod label).
    identities: Vec<(String, bool)>,
    at: String,
}

#[derive(Debug, Clone)]
struct Workload {
    /// Lower case: `deployment`, `cronjob`, ...
    kind: String,
    namespace: String,
    name: String,
    account: String,
    azure_use: bool,
    facts: NodeFacts,
    at: String,
}

/// The ServiceAccounts and workloads of every manifest; after
/// [`Workloads::finish`], the dependency nodes by cloud identity.
#[derive(Debug, Clone, Default)]
pub(super) struct Workloads {
    accounts: HashMap<(String, String), Account>,
    workloads: Vec<Workload>,
    by_identity: HashMap<String, Vec<DependencyNode>>,
}

/// How identities are compared: ARNs exactly, other ids (emails, GUIDs)
/// ignoring ASCII case.
pub(super) fn identity_key(id: &str) -> String {
    let id = id.trim();
    if id.starts_with("arn:") {
        id.to_string()
    } else {
        id.to_ascii_lowercase()
    }
}

fn text(v: &Y, path: &[&str]) -> Option<String> {
    v.at(path)
        .and_then(Y::text)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Workloads {
    pub(super) fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.workloads.is_empty()
    }

    /// Reads one object; kinds other than ServiceAccount and the workloads
    /// are ignored.
    pub(super) fn add(&mut self, file: &FileRef, line: usize, v: &Y, problems: &mut Problems) {
        let kind = text(v, &["kind"]).unwrap_or_default();
        let pod_spec: &[&str] = match kind.as_str() {
            "ServiceAccount" => &[],
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                &["spec", "template"]
            }
            "CronJob" => &["spec", "jobTemplate", "spec", "template"],
            "Pod" => &[],
            _ => return,
        };
        let Some(name) = text(v, &["metadata", "name"]) else {
            problems.push(
                &file.path,
                line,
                format!("{kind} without metadata.name; ignored"),
            );
            return;
        };
        let namespace = text(v, &["metadata", "namespace"]).unwrap_or_else(|| "default".into());
        // The file, not the line: a document added above must not change
        // every joined case's content.
        let at = file.rel.clone();
        if kind == "ServiceAccount" {
            let annotations = v.at(&["metadata", "annotations"]);
            let identities = IDENTITY_ANNOTATIONS
                .iter()
                .filter_map(|(key, azure)| {
                    let id = annotations.and_then(|a| a.get(key)).and_then(Y::text)?;
                    let id = id.trim().to_string();
                    (!id.is_empty()).then_some((id, *azure))
                })
                .collect();
            let key = (namespace.clone(), name.clone());
            if let Some(first) = self.accounts.get(&key) {
                problems.push(
                    &file.path,
                    line,
                    format!(
                        "ServiceAccount {namespace}/{name} is defined again; the first definition ({}) is used",
                        first.at
                    ),
                );
                return;
            }
            self.accounts.insert(key, Account { identities, at });
            return;
        }
        let pod = if pod_spec.is_empty() {
            Some(v)
        } else {
            v.at(pod_spec)
        };
        let Some(pod) = pod else {
            problems.push(
                &file.path,
                line,
                format!(
                    "{kind} {namespace}/{name} has no {}; ignored",
                    pod_spec.join(".")
                ),
            );
            return;
        };
        let account = text(pod, &["spec", "serviceAccountName"])
            .or_else(|| text(pod, &["spec", "serviceAccount"]))
            .unwrap_or_else(|| "default".into());
        let azure_use = pod
            .at(&["metadata", "labels", AZURE_USE_LABEL])
            .and_then(Y::text)
            .is_some_and(|v| v.trim() == "true");
        let label = format!("{} {namespace}/{name}", kind.to_lowercase());
        let facts = NodeFacts::read(v.at(&["metadata", "annotations"]), |m| {
            problems.push(&file.path, line, format!("{label}: {m}"));
        });
        self.workloads.push(Workload {
            kind: kind.to_lowercase(),
            namespace,
            name,
            account,
            azure_use,
            facts,
            at,
        });
    }

    /// Links each workload to the cloud identities of its ServiceAccount.
    pub(super) fn finish(&mut self, _problems: &mut Problems) {
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for w in &self.workloads {
            let id = format!("k8s:{}/{}/{}", w.namespace, w.kind, w.name);
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(account) = self.accounts.get(&(w.namespace.clone(), w.account.clone())) else {
                continue;
            };
            for (cloud_id, azure) in &account.identities {
                if *azure && !w.azure_use {
                    continue;
                }
                let label = format!("{} {}/{}", w.kind, w.namespace, w.name);
                let node = DependencyNode {
                    id: id.clone(),
                    name: Some(label.clone()),
                    kind: Some(w.kind.clone()),
                    criticality: w.facts.criticality,
                    external: w.facts.external,
                    shared: w.facts.shared,
                    last_seen_at: None,
                    uses: vec![cloud_id.clone()],
                    source: Some(format!(
                        "Kubernetes manifest, {label} ({}), via ServiceAccount {}/{} ({})",
                        w.at, w.namespace, w.account, account.at
                    )),
                };
                self.by_identity
                    .entry(identity_key(cloud_id))
                    .or_default()
                    .push(node);
            }
        }
    }

    /// The workloads that use the cloud identity `id`.
    pub(super) fn nodes_for(&self, id: &str) -> &[DependencyNode] {
        self.by_identity
            .get(&identity_key(id))
            .map_or(&[], Vec::as_slice)
    }
}
