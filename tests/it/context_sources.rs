//! Context sources (issue 10, part 2): Backstage catalogs, CODEOWNERS,
//! owners tables and Kubernetes manifests, loaded from real fixture files
//! (tests/fixtures/context/) copied into a temporary directory, and joined
//! with cases through the public API.

use std::path::{Path, PathBuf};

use nhi_triage::context::{Context, ContextProblem, join, signature, sources_that_answer};
use nhi_triage::model::{
    Case, CaseStatus, DependencyGraph, Disagreement, Level, OwnerBasis, parse_rfc3339,
};
use nhi_triage::policy::{Policy, Status, assess};
use serde_json::{Value, json};
use tempfile::TempDir;

mod ownership;

const BILLING: &str = "arn:aws:iam::111122223333:role/svc-billing";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/context")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A context directory holding the contents of the named fixture
/// directories (merged at its root).
fn context_dir(sources: &[&str]) -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for source in sources {
        copy_tree(&fixtures().join(source), tmp.path());
    }
    tmp
}

fn load(sources: &[&str]) -> (TempDir, Context, Vec<ContextProblem>) {
    let dir = context_dir(sources);
    let (ctx, problems) = Context::load(dir.path());
    (dir, ctx, problems)
}

/// A case for identity `id`, with `extra` top-level fields.
fn case(id: &str, extra: Value) -> Case {
    let mut v = json!({
        "id": "case-1",
        "opened_at": "2026-11-01T00:00:00Z",
        "title": "a risky identity",
        "identity": {"id": id, "name": "some identity", "kind": "service_account", "provider": "aws"},
    });
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    serde_json::from_value(v).unwrap()
}

fn leaked(id: &str, occurrences: &[(&str, &str)]) -> Case {
    let occ: Vec<Value> = occurrences
        .iter()
        .map(|(repo, path)| json!({"source": "gitleaks", "repository": repo, "path": path}))
        .collect();
    case(
        id,
        json!({"finding": {"type": "leaked_secret"}, "occurrences": occ}),
    )
}

fn t(s: &str) -> time::OffsetDateTime {
    parse_rfc3339(s).unwrap()
}

fn source(c: &Case, key: &str) -> String {
    c.context
        .as_ref()
        .and_then(|n| n.sources.get(key))
        .cloned()
        .unwrap_or_else(|| panic!("no source for {key}: {:#?}", c.context))
}

fn disagreements(c: &Case) -> Vec<Disagreement> {
    c.context
        .as_ref()
        .map(|n| n.disagreements.clone())
        .unwrap_or_default()
}

fn node_ids(c: &Case) -> Vec<&str> {
    c.dependencies
        .as_ref()
        .map_or(vec![], |d| d.nodes.iter().map(|n| n.id.as_str()).collect())
}

fn has_problem(problems: &[ContextProblem], file_end: &str, line: usize, words: &str) -> bool {
    problems
        .iter()
        .any(|p| p.file.ends_with(file_end) && p.line == line && p.message.contains(words))
}

#[test]
fn backstage_joins_owner_criticality_and_transitive_dependents_with_their_source() {
    let (_dir, ctx, problems) = load(&["backstage"]);
    assert!(
        problems
            .iter()
            .all(|p| p.file.ends_with("catalog-bad.yaml")),
        "{problems:#?}"
    );
    let joined = join(&case(BILLING, json!({})), &ctx);

    let resource = "Backstage catalog, resource:default/svc-billing (catalog.yaml)";
    let owner = joined.owner.as_ref().expect("owner joined");
    assert_eq!(owner.team.as_deref(), Some("payments"));
    assert_eq!(
        owner.contact.as_deref(),
        Some("payments-oncall@example.com")
    );
    assert_eq!(owner.basis, OwnerBasis::Explicit);
    assert_eq!(owner.verified_at, Some(t("2026-11-20T09:00:00Z")));
    assert_eq!(owner.source.as_deref(), Some(resource));
    assert_eq!(source(&joined, "owner"), resource);
    assert_eq!(joined.criticality, Some(Level::High));
    assert_eq!(source(&joined, "criticality"), resource);

    let deps = joined.dependencies.as_ref().expect("map joined");
    assert_eq!(deps.verified_at, Some(t("2026-11-21T09:00:00Z")));
    assert_eq!(
        node_ids(&joined),
        vec![
            "component:default/ledger-sync",
            "component:default/billing-api",
            "component:default/billing-web"
        ]
    );
    let api = &deps.nodes[1];
    assert_eq!(api.name.as_deref(), Some("Billing API"));
    assert_eq!(api.kind.as_deref(), Some("component/service"));
    assert_eq!(
        (api.criticality, api.external, api.shared),
        (Some(Level::Critical), Some(false), Some(false))
    );
    assert_eq!(api.uses, vec![BILLING.to_string()]);
    assert_eq!(
        api.source.as_deref(),
        Some("Backstage catalog, component:default/billing-api (catalog.yaml)")
    );
    // ledger-sync is a dependent through the Resource's own dependencyOf.
    assert_eq!(deps.nodes[0].uses, vec![BILLING.to_string()]);
    assert_eq!(deps.nodes[0].external, Some(true));
    // billing-web uses the identity only through billing-api: transitive, facts unknown.
    let web = &deps.nodes[2];
    assert_eq!(web.uses, vec!["component:default/billing-api".to_string()]);
    assert_eq!(
        (web.criticality, web.external, web.shared),
        (None, None, None)
    );
    assert!(source(&joined, "dependencies").contains(resource));

    let graph = DependencyGraph::of(&joined).unwrap();
    assert_eq!(graph.transitive_dependents().len(), 3);
    assert!(graph.dangling.is_empty());

    // Verified owner and map: Q1 answered; billing-web's unknown criticality: Q2 partial.
    let a = assess(
        &joined,
        &CaseStatus::pending(),
        &Policy::default(),
        t("2026-11-25T00:00:00Z"),
    );
    assert_eq!(a.q1.status, Status::Answered, "{:?}", a.q1.gaps);
    assert_eq!(a.q2.status, Status::Partial);
}

#[test]
fn a_file_modification_time_is_never_a_verification() {
    let (dir, _, _) = load(&["backstage"]);
    // The files were just written; make sure they look freshly modified.
    let now = std::time::SystemTime::now();
    let file = std::fs::File::options()
        .append(true)
        .open(dir.path().join("catalog.yaml"))
        .unwrap();
    file.set_modified(now).unwrap();
    let (ctx, _) = Context::load(dir.path());

    // svc-reports: matched by name (spec.type service-account), no nhi-triage.io annotations.
    let joined = join(&case("svc-reports", json!({})), &ctx);
    let owner = joined.owner.as_ref().unwrap();
    assert_eq!(owner.team.as_deref(), Some("platform"));
    assert_eq!(owner.contact.as_deref(), Some("platform@example.com"));
    assert_eq!(owner.basis, OwnerBasis::Explicit);
    assert_eq!(owner.verified_at, None, "mtime read as a verification");
    let deps = joined.dependencies.as_ref().unwrap();
    assert_eq!(deps.verified_at, None, "mtime read as a map verification");
    assert_eq!(node_ids(&joined), vec!["component:default/reports-job"]);
    assert_eq!(joined.criticality, None);

    let today = time::OffsetDateTime::now_utc();
    let a = assess(&joined, &CaseStatus::pending(), &Policy::default(), today);
    assert_eq!(
        a.q1.status,
        Status::Unknown,
        "an unverified map is never answered"
    );
    // A database Resource's name matches nothing.
    let db = case("orders-db", json!({}));
    assert_eq!(join(&db, &ctx), db);
}

#[test]
fn kubernetes_workloads_become_nodes_cronjob_default_sa_and_azure_label() {
    let (_dir, ctx, problems) = load(&["kubernetes"]);
    let joined = join(&case(BILLING, json!({})), &ctx);
    assert_eq!(
        node_ids(&joined),
        vec![
            "k8s:prod/deployment/billing-api",
            "k8s:prod/cronjob/nightly-invoices"
        ]
    );
    let deps = joined.dependencies.as_ref().unwrap();
    assert_eq!(deps.verified_at, None, "manifests do not verify a map");
    let api = &deps.nodes[0];
    assert_eq!(api.name.as_deref(), Some("deployment prod/billing-api"));
    assert_eq!(api.kind.as_deref(), Some("deployment"));
    assert_eq!(api.uses, vec![BILLING.to_string()]);
    assert_eq!(
        (api.criticality, api.external, api.shared),
        (Some(Level::Critical), None, Some(false))
    );
    assert!(
        api.source
            .as_deref()
            .unwrap()
            .starts_with("Kubernetes manifest, deployment prod/billing-api (prod.yaml)"),
        "{:?}",
        api.source
    );
    assert_eq!(deps.nodes[1].criticality, None);
    assert!(
        source(&joined, "dependencies")
            .contains("Kubernetes manifest, deployment prod/billing-api")
    );
    assert_eq!(joined.owner, None);

    // No serviceAccountName: the namespace's default ServiceAccount (GKE).
    let gke = join(
        &case("reports@acme-prod.iam.gserviceaccount.com", json!({})),
        &ctx,
    );
    assert_eq!(node_ids(&gke), vec!["k8s:reports/pod/report-once"]);
    // Azure needs the pod label; client ids compare ignoring case.
    let azure = join(
        &case("7F3C2A10-1B2C-4D5E-8F90-A1B2C3D4E5F6", json!({})),
        &ctx,
    );
    assert_eq!(node_ids(&azure), vec!["k8s:fin/statefulset/ledger-db-sync"]);
    assert_eq!(
        azure.dependencies.as_ref().unwrap().nodes[0].uses,
        vec!["7F3C2A10-1B2C-4D5E-8F90-A1B2C3D4E5F6".to_string()]
    );
    // kind: List, DaemonSet and a Job with the deprecated serviceAccount.
    let ci = join(
        &case("arn:aws:iam::111122223333:role/ci-deploy", json!({})),
        &ctx,
    );
    assert_eq!(
        node_ids(&ci),
        vec!["k8s:ci/daemonset/node-agent", "k8s:ci/job/migrate"]
    );
    // The good objects of bad.yaml load.
    let exporter = join(
        &case("exporter@acme-prod.iam.gserviceaccount.com", json!({})),
        &ctx,
    );
    assert_eq!(node_ids(&exporter), vec!["k8s:data/deployment/exporter"]);
    assert!(
        problems.iter().all(|p| p.file.ends_with("bad.yaml")),
        "{problems:#?}"
    );
}

#[test]
fn backstage_and_kubernetes_nodes_merge_and_an_existing_map_gains_only_new_ids() {
    let (_dir, ctx, _) = load(&["backstage", "kubernetes"]);
    let joined = join(&case(BILLING, json!({})), &ctx);
    assert_eq!(node_ids(&joined).len(), 5);
    assert_eq!(
        joined.dependencies.as_ref().unwrap().verified_at,
        Some(t("2026-11-21T09:00:00Z"))
    );

    let mapped = case(
        BILLING,
        json!({"dependencies": {"verified_at": "2026-10-01T00:00:00Z", "nodes": [
            {"id": "k8s:prod/deployment/billing-api", "name": "billing api (case file)", "criticality": "low", "uses": [BILLING]}
        ]}}),
    );
    let joined = join(&mapped, &ctx);
    let deps = joined.dependencies.as_ref().unwrap();
    assert_eq!(
        deps.verified_at,
        Some(t("2026-10-01T00:00:00Z")),
        "the case file's map keeps its date"
    );
    assert_eq!(deps.nodes.len(), 5);
    assert_eq!(
        deps.nodes[0].name.as_deref(),
        Some("billing api (case file)")
    );
    assert_eq!(deps.nodes[0].source, None);
    assert!(deps.nodes[1..].iter().all(|n| n.source.is_some()));
    assert!(source(&joined, "dependencies").starts_with("case file; added: "));
}

#[test]
fn a_case_no_source_mentions_is_returned_unchanged() {
    let (_dir, ctx, _) = load(&["backstage", "codeowners", "owners", "kubernetes"]);
    assert!(!ctx.is_empty());
    let c = case(
        "projects/nobody/serviceAccounts/nobody@nobody.iam.gserviceaccount.com",
        json!({"owner": {"team": "x", "basis": "inferred"}, "finding": {"type": "unused"}}),
    );
    let joined = join(&c, &ctx);
    assert_eq!(joined, c);
    assert_eq!(joined.content_sha256(), c.content_sha256());
    // A leaked secret without occurrences is not owned by any path.
    let bare = leaked("fp:none", &[]);
    assert_eq!(join(&bare, &ctx), bare);
    // An empty (or missing) context changes nothing.
    let (empty, problems) = Context::load(&fixtures().join("does-not-exist"));
    assert!(empty.is_empty() && problems.is_empty());
    let billing = case(BILLING, json!({}));
    assert_eq!(join(&billing, &empty), billing);
}

#[test]
fn malformed_files_give_problems_naming_file_and_line_and_the_rest_loads() {
    let (dir, ctx, problems) = load(&["backstage", "codeowners", "owners", "kubernetes"]);
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let yaml_error = problems
        .iter()
        .find(|p| {
            p.file.ends_with("catalog-bad.yaml") && p.message.starts_with("YAML document not read")
        })
        .unwrap_or_else(|| panic!("{listed:#?}"));
    assert!((17..=20).contains(&yaml_error.line), "{yaml_error}");
    assert!(
        has_problem(
            &problems,
            "catalog-bad.yaml",
            1,
            "nhi-triage.io/verified-at \"2026-11-20\""
        ),
        "{listed:#?}"
    );
    assert!(
        has_problem(
            &problems,
            "catalog-bad.yaml",
            1,
            "nhi-triage.io/criticality \"urgent\""
        ),
        "{listed:#?}"
    );
    assert!(
        has_problem(&problems, "catalog-bad.yaml", 21, "without metadata.name"),
        "{listed:#?}"
    );
    assert!(
        has_problem(&problems, "catalog-bad.yaml", 28, "without a kind"),
        "{listed:#?}"
    );
    assert!(
        has_problem(
            &problems,
            "catalog-bad.yaml",
            28,
            "nhi-triage.io/external \"maybe\""
        ),
        "{listed:#?}"
    );
    assert!(
        has_problem(&problems, "CODEOWNERS", 3, "`!` negation"),
        "{listed:#?}"
    );
    assert!(
        has_problem(&problems, "CODEOWNERS", 4, "`[ ]`"),
        "{listed:#?}"
    );
    assert!(
        has_problem(
            &problems,
            "owners-bad.csv",
            2,
            "column criticality: \"HIGHEST\""
        ),
        "{listed:#?}"
    );
    assert!(
        has_problem(
            &problems,
            "owners-bad.csv",
            2,
            "column verified_at: \"2026-11-01 10:00:00\""
        ),
        "{listed:#?}"
    );
    assert!(
        has_problem(&problems, "owners-bad.csv", 3, "identity is empty"),
        "{listed:#?}"
    );
    assert!(
        problems.iter().any(|p| p.file.ends_with("bad.yaml")
            && (9..=14).contains(&p.line)
            && p.message.starts_with("YAML document not read")),
        "{listed:#?}"
    );
    assert!(
        has_problem(&problems, "bad.yaml", 16, "no apiVersion and kind"),
        "{listed:#?}"
    );
    // Display: FILE:LINE: message, with the full path.
    let shown = problems
        .iter()
        .find(|p| p.file.ends_with("owners-bad.csv") && p.line == 3)
        .unwrap()
        .to_string();
    assert_eq!(
        shown,
        format!(
            "{}:3: column identity is empty; row skipped",
            dir.path().join("owners-bad.csv").display()
        )
    );

    // The good parts of the same files still load.
    let audit = join(
        &case("svc-audit@acme-prod.iam.gserviceaccount.com", json!({})),
        &ctx,
    );
    let owner = audit.owner.as_ref().unwrap();
    assert_eq!(
        (owner.team.as_deref(), owner.verified_at),
        (Some("platform"), None)
    );
    assert_eq!(audit.criticality, None, "a bad level is unknown");
    assert_eq!(node_ids(&audit), vec!["component:default/audit-exporter"]);
    assert_eq!(audit.dependencies.as_ref().unwrap().nodes[0].external, None);
    let legacy = join(
        &case("arn:aws:iam::444455556666:user/legacy", json!({})),
        &ctx,
    );
    let owner = legacy.owner.as_ref().unwrap();
    assert_eq!(
        (owner.team.as_deref(), owner.verified_at, legacy.criticality),
        (Some("legacy-team"), None, None)
    );
    let data = join(
        &case("svc-data@acme-prod.iam.gserviceaccount.com", json!({})),
        &ctx,
    );
    assert_eq!(data.criticality, Some(Level::Critical));
    assert_eq!(
        data.owner.unwrap().verified_at,
        Some(t("2026-09-30T22:00:00Z"))
    );
    let billing = join(
        &leaked("fp:b", &[("acme/billing", "deploy/prod/x.yaml")]),
        &ctx,
    );
    assert_eq!(
        billing.owner.unwrap().team.as_deref(),
        Some("acme/payments-prod")
    );
}

#[test]
fn yaml_alias_bombs_and_oversized_input_are_refused_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a0: &a0 [\"lol\"]\n",
    );
    for i in 1..40 {
        let p = i - 1;
        bomb.push_str(&format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    std::fs::write(tmp.path().join("bomb.yaml"), bomb).unwrap();
    copy_tree(&fixtures().join("kubernetes"), &tmp.path().join("k8s"));
    let started = std::time::Instant::now();
    let (ctx, problems) = Context::load(tmp.path());
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        problems
            .iter()
            .any(|p| p.file.ends_with("bomb.yaml")
                && p.message.starts_with("YAML document not read")),
        "{problems:#?}"
    );
    // Files in subdirectories load, and cite their relative path.
    let joined = join(&case(BILLING, json!({})), &ctx);
    let node = &joined.dependencies.as_ref().unwrap().nodes[0];
    assert!(
        node.source.as_deref().unwrap().contains("(k8s/prod.yaml)"),
        "{:?}",
        node.source
    );
}

#[test]
fn signature_notices_changes_and_is_empty_for_a_missing_dir() {
    assert_eq!(signature(&fixtures().join("does-not-exist")), "");
    let dir = context_dir(&["owners"]);
    let first = signature(dir.path());
    assert!(!first.is_empty());
    assert_eq!(signature(dir.path()), first);
    std::fs::write(dir.path().join("more.csv"), "identity,team\nx,y\n").unwrap();
    let second = signature(dir.path());
    assert_ne!(second, first);
    std::fs::write(dir.path().join("notes.txt"), "not a context file").unwrap();
    assert_eq!(signature(dir.path()), second, "other files are not context");
}

#[test]
fn the_readiness_pane_can_name_the_source_that_would_answer() {
    assert!(sources_that_answer("owner.verified_at").contains("nhi-triage.io/verified-at"));
    assert!(sources_that_answer("owner.verified_at").contains("owners table row with verified_at"));
    assert!(
        sources_that_answer("dependencies.verified_at")
            .contains("nhi-triage.io/dependencies-verified-at")
    );
    assert!(
        sources_that_answer("dependencies.nodes.criticality").contains("nhi-triage.io/criticality")
    );
    assert!(sources_that_answer("node.external").contains("nhi-triage.io/external"));
    assert!(sources_that_answer("dependencies").contains("Kubernetes"));
    assert!(sources_that_answer("action.rollback").contains("case file"));
}
