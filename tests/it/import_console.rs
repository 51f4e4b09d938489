//! End to end (issue 10): findings from two detectors imported with the
//! real binary, a Backstage catalog and a Kubernetes manifest put in the
//! store's context folder, and the real console in a pseudo-terminal shows
//! the owner with its source, the tree from both sources, the readiness
//! and the tier of the case that uses all of them.

use std::time::Duration;

use serde_json::json;

use crate::common::pty::{Console, WAIT, pane_in};
use crate::common::{TestStore, days_ago, run};

const ROLE: &str = "arn:aws:iam::123456789012:role/svc-billing-export";

fn write(store: &TestStore, name: &str, text: &str) -> std::path::PathBuf {
    let path = store.sandbox.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// An IAM Access Analyzer get-finding-v2 answer: the role unused since
/// 180 days.
fn access_analyzer() -> String {
    json!({
        "id": "0f1e2d3c-aaaa-4bbb-8ccc-123456789abc",
        "findingType": "UnusedIAMRole",
        "resource": ROLE,
        "resourceType": "AWS::IAM::Role",
        "resourceOwnerAccount": "123456789012",
        "status": "ACTIVE",
        "createdAt": days_ago(3),
        "updatedAt": days_ago(1),
        "analyzedAt": days_ago(1),
        "findingDetails": [{"unusedIamRoleDetails": {"lastAccessed": days_ago(180)}}]
    })
    .to_string()
}

/// GitHub secret-scanning alerts: a leaked token in acme/payments.
fn secret_scanning() -> String {
    json!([{
        "number": 7, "created_at": days_ago(2), "updated_at": days_ago(2),
        "url": "https://api.github.com/repos/acme/payments/secret-scanning/alerts/7",
        "html_url": "https://github.com/acme/payments/security/secret-scanning/7",
        "locations_url": "https://api.github.com/repos/acme/payments/secret-scanning/alerts/7/locations",
        "state": "open", "resolution": null, "secret_type": "slack_incoming_webhook_url",
        "secret_type_display_name": "Slack Incoming Webhook URL",
        "secret": "https://hooks.slack.com/services/T000/B000/FAKEfakeFAKE",
        "validity": "active", "publicly_leaked": false, "multi_repo": false,
        "repository": {"full_name": "acme/payments"}
    }])
    .to_string()
}

fn catalog() -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: billing-platform
spec:
  type: team
  profile:
    email: billing-oncall@example.com
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: svc-billing-export
  annotations:
    nhi-triage.io/identity-id: {ROLE}
    nhi-triage.io/verified-at: \"{owner}\"
    nhi-triage.io/dependencies-verified-at: \"{map}\"
    nhi-triage.io/criticality: medium
spec:
  type: iam-role
  owner: group:billing-platform
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: billing-api
  title: Billing API
  annotations:
    nhi-triage.io/criticality: medium
    nhi-triage.io/external: \"false\"
    nhi-triage.io/shared: \"false\"
spec:
  type: service
  lifecycle: production
  owner: billing-platform
  dependsOn:
    - resource:default/svc-billing-export
",
        owner = days_ago(12),
        map = days_ago(1)
    )
}

fn manifest() -> String {
    format!(
        "apiVersion: v1
kind: ServiceAccount
metadata:
  name: billing-export
  namespace: billing
  annotations:
    eks.amazonaws.com/role-arn: {ROLE}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-export
  namespace: billing
  annotations:
    nhi-triage.io/criticality: critical
    nhi-triage.io/external: \"false\"
    nhi-triage.io/shared: \"false\"
spec:
  schedule: \"0 2 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          serviceAccountName: billing-export
          restartPolicy: OnFailure
          containers:
            - name: export
              image: example.com/export:1.0
"
    )
}

#[test]
fn findings_and_context_meet_in_the_console_with_their_sources() {
    let store = TestStore::with_cases(&[]);
    let aa = write(&store, "access-analyzer.json", &access_analyzer());
    let gh = write(&store, "alerts.json", &secret_scanning());
    for (format, file) in [
        ("aws-access-analyzer", &aa),
        ("github-secret-scanning", &gh),
    ] {
        let out = run(store.cmd().args(["import", "--from", format]).arg(file));
        assert_eq!(out.code, 0, "{format}: {out}");
        assert!(out.stdout.contains("1 new"), "{format}: {out}");
    }
    let context = store.dir.join("context");
    std::fs::write(context.join("catalog.yaml"), catalog()).expect("catalog");

    // The same facts in `show`, with their sources.
    let list = store.list_json("all");
    let role_case = list["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["identity"]["id"] == ROLE)
        .unwrap_or_else(|| panic!("the role's case: {list}"));
    let id = role_case["id"].as_str().expect("id").to_string();
    // The console at 200x50: all three panes beside the queue.
    let mut console = Console::start(&store, 200, 50);
    console.wait_for("svc-billing-export", WAIT);
    console.send(format!("/{id}\r").as_bytes());
    console.wait_selected(&id);
    console.wait_for("billing-oncall@example.com", WAIT);
    // The manifest arrives while the console is open: joined live.
    std::fs::write(context.join("billing.yaml"), manifest()).expect("manifest");
    console.wait_for("cronjob billing/nightly", WAIT);
    let cells = console.cells();
    let ownership = pane_in(&cells, " Ownership")
        .expect("ownership pane")
        .join("\n");
    assert!(ownership.contains("billing-platform"), "{ownership}");
    assert!(ownership.contains("explicit"), "{ownership}");
    assert!(ownership.contains("Backstage catalog"), "{ownership}");
    assert!(ownership.contains("12 days ago"), "{ownership}");
    let tree = pane_in(&cells, " Dependencies")
        .expect("tree pane")
        .join("\n");
    assert!(tree.contains("Billing API"), "{tree}");
    assert!(tree.contains("cronjob billing/nightly"), "{tree}");
    assert!(tree.contains("from Backstage catalog"), "{tree}");
    let readiness = pane_in(&cells, " Readiness")
        .expect("readiness pane")
        .join("\n");
    assert!(
        readiness.contains("Q1 Who depends on it? ✔ answered"),
        "{readiness}"
    );
    assert!(
        readiness.contains("HIGH"),
        "a critical dependent routes high: {readiness}"
    );
    assert!(
        readiness.contains("k8s:billing/cronjob/nightly-exp"),
        "the critical dependent, from the manifest: {readiness}"
    );
    // The tree's selected node says where it was read.
    console.send(b"\t\t");
    console.wait_for("↳ from Backstage catalog, comp", WAIT);
    console.send(b"j");
    console.wait_for("↳ from Kubernetes manifest", WAIT);
    console.send(b"q");
    let _ = console.wait_exit_within(Duration::from_secs(10));

    // The same facts in `show`, with their sources.
    let shown = store.run(&["show", &id]);
    assert_eq!(shown.code, 0, "{shown}");
    let text = &shown.stdout;
    assert!(text.contains("team billing-platform"), "{text}");
    assert!(text.contains("basis explicit"), "{text}");
    assert!(
        text.contains("source Backstage catalog, resource:default/svc-billing-export"),
        "{text}"
    );
    assert!(text.contains("component:default/billing-api"), "{text}");
    assert!(
        text.contains("k8s:billing/cronjob/nightly-export"),
        "{text}"
    );
    assert!(text.contains("Kubernetes manifest"), "{text}");
}
