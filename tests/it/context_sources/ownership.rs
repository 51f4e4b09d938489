//! Context sources: who owns an identity — CODEOWNERS, owners tables, and
//! the precedence between them, Backstage and the case file.

use nhi_triage::model::{Disagreement, Level, OwnerBasis};
use serde_json::json;

use super::{BILLING, case, disagreements, join, leaked, load, source, t};

#[test]
fn codeowners_last_matching_rule_wins_and_patterns_follow_github() {
    let (_dir, ctx, _) = load(&["codeowners"]);
    let team = |repo: &str, path: &str| {
        let joined = join(&leaked("fp:abc", &[(repo, path)]), &ctx);
        joined.owner.and_then(|o| o.team)
    };
    let other = "github.com/acme/other";
    assert_eq!(
        team(other, "config/prod.env").as_deref(),
        Some("acme/payments"),
        "last match wins"
    );
    assert_eq!(team(other, "src/app.env").as_deref(), Some("acme/security"));
    assert_eq!(team(other, "docs/guide.md").as_deref(), Some("acme/docs"));
    assert_eq!(
        team(other, "docs/build/guide.md").as_deref(),
        Some("acme/platform"),
        "docs/* is direct children only"
    );
    assert_eq!(
        team(other, "deep/apps/x.rb").as_deref(),
        Some("acme/apps"),
        "apps/ at any depth"
    );
    assert_eq!(team(other, "a/b/logs/x.log").as_deref(), Some("acme/sre"));
    assert_eq!(
        team(other, "x/config/prod.env").as_deref(),
        Some("acme/security"),
        "/config/ is anchored"
    );
    // A last matching rule without owners: no owner.
    let c = leaked("fp:abc", &[(other, "config/public.env")]);
    assert_eq!(join(&c, &ctx), c);

    let joined = join(&leaked("fp:abc", &[(other, "./config/prod.env")]), &ctx);
    let owner = joined.owner.unwrap();
    assert_eq!(owner.basis, OwnerBasis::Inferred);
    assert_eq!(owner.verified_at, None);
    let text = "CODEOWNERS (CODEOWNERS), for config/prod.env: @acme/payments @alice";
    assert_eq!(owner.source.as_deref(), Some(text));
    assert_eq!(joined.context.unwrap().sources["owner"], text);

    // acme/billing's own file replaces the top-level one.
    let billing = "https://github.com/Acme/Billing.git";
    assert_eq!(
        team(billing, "deploy/app.yaml").as_deref(),
        Some("acme/payments")
    );
    assert_eq!(
        team(billing, "deploy/prod/app.yaml").as_deref(),
        Some("acme/payments-prod")
    );
    assert_eq!(
        team(billing, "deploy/prod/deep/app.yaml").as_deref(),
        Some("acme/payments-prod")
    );
    assert_eq!(
        team(billing, "config/prod.env").as_deref(),
        Some("acme/billing")
    );
    // Only leaked secrets are owned by path.
    let unused = case(
        "fp:abc",
        json!({"finding": {"type": "unused"}, "occurrences": [{"repository": other, "path": "src/app.env"}]}),
    );
    assert_eq!(join(&unused, &ctx), unused);
}

#[test]
fn codeowners_gitlab_sections_and_several_teams_are_disagreements() {
    let (_dir, ctx, _) = load(&["codeowners"]);
    // Two sections match: the unnamed one (line 2) and [Security] (keys/, line 6).
    let joined = join(&leaked("fp:k", &[("acme/ledger", "keys/prod.pem")]), &ctx);
    assert_eq!(
        joined.owner.as_ref().unwrap().team.as_deref(),
        Some("acme/ledger")
    );
    let d = disagreements(&joined);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(
        (d[0].field.as_str(), d[0].kept.as_str(), d[0].other.as_str()),
        ("owner.team", "acme/ledger", "acme/crypto")
    );
    assert!(
        d[0].other_source
            .starts_with("CODEOWNERS (acme/ledger/CODEOWNERS), for keys/prod.pem")
    );
    // A rule without owners in a section with default owners gets them.
    let joined = join(&leaked("fp:k", &[("acme/ledger", "certs/a.pem")]), &ctx);
    assert_eq!(disagreements(&joined)[0].other, "acme/security");

    // Most frequent team wins across occurrences.
    let c = leaked(
        "fp:m",
        &[
            ("acme/billing", "README.md"),
            ("acme/billing", "deploy/prod/a.yaml"),
            ("acme/billing", "deploy/prod/b.yaml"),
        ],
    );
    let joined = join(&c, &ctx);
    let owner = joined.owner.as_ref().unwrap();
    assert_eq!(owner.team.as_deref(), Some("acme/payments-prod"));
    assert!(
        owner.source.as_deref().unwrap().ends_with("(+1 more)"),
        "{:?}",
        owner.source
    );
    let d = disagreements(&joined);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].kept.as_str(), d[0].other.as_str()),
        ("acme/payments-prod", "acme/billing")
    );
}

#[test]
fn owners_table_exact_beats_glob_and_the_most_specific_glob_wins() {
    let (_dir, ctx, _) = load(&["owners"]);
    let row = |id: &str| join(&case(id, json!({})), &ctx);

    let exact = row("arn:aws:iam::111122223333:role/ci-deploy");
    let owner = exact.owner.as_ref().unwrap();
    assert_eq!(owner.team.as_deref(), Some("release"));
    assert_eq!(owner.contact.as_deref(), Some("release@example.com"));
    assert_eq!(owner.basis, OwnerBasis::Explicit);
    assert_eq!(owner.verified_at, Some(t("2026-11-15T00:00:00Z")));
    assert_eq!(
        owner.source.as_deref(),
        Some("owners table, arn:aws:iam::111122223333:role/ci-deploy (owners.csv)")
    );
    assert_eq!(exact.criticality, Some(Level::High));
    assert_eq!(
        source(&exact, "criticality"),
        "owners table, arn:aws:iam::111122223333:role/ci-deploy (owners.csv)"
    );

    let team = |id: &str| row(id).owner.and_then(|o| o.team);
    assert_eq!(
        team("arn:aws:iam::111122223333:role/ci-build").as_deref(),
        Some("ci"),
        "longer literal prefix"
    );
    assert_eq!(
        team("arn:aws:iam::111122223333:role/other").as_deref(),
        Some("cloud-platform")
    );
    assert_eq!(
        team("arn:aws:iam::111122223333:role/path/to/x").as_deref(),
        Some("cloud-platform"),
        "* crosses /"
    );
    assert_eq!(
        team("arn:aws:iam::111122223333:user/deploy-bot").as_deref(),
        Some("bots"),
        "tie: the later row"
    );
    assert_eq!(
        team("arn:aws:iam::111122223333:user/alice").as_deref(),
        Some("humans")
    );
    // A later but shorter-prefixed pattern loses to the ones above…
    assert_eq!(
        team("arn:aws:iam::999999999999:role/ci-deploy").as_deref(),
        Some("aws-wide"),
        "…and still applies where nothing more specific matches"
    );
    assert_eq!(team("arn:aws:s3:::bucket"), None);

    // Blank optional cells stay unknown.
    let catch_all = row("arn:aws:iam::111122223333:role/other");
    assert_eq!(catch_all.owner.as_ref().unwrap().verified_at, None);
    assert_eq!(catch_all.criticality, None);
    assert!(
        !catch_all
            .context
            .as_ref()
            .unwrap()
            .sources
            .contains_key("criticality")
    );
    let bots = row("arn:aws:iam::111122223333:user/deploy-bot");
    assert_eq!(
        bots.owner.unwrap().contact.as_deref(),
        Some("bots@example.com, #bots")
    );
}

#[test]
fn explicit_beats_inferred_and_every_disagreement_is_recorded() {
    let (_dir, ctx, _) = load(&["backstage", "owners", "codeowners"]);
    let resource = "Backstage catalog, resource:default/svc-billing (catalog.yaml)";

    // The case file's inferred guess loses to Backstage's explicit owner;
    // the owners table (explicit, never verified) loses to the verified one.
    let guess = case(
        BILLING,
        json!({"owner": {"team": "finance-guess", "basis": "inferred"}}),
    );
    let joined = join(&guess, &ctx);
    assert_eq!(
        joined.owner.as_ref().unwrap().team.as_deref(),
        Some("payments")
    );
    assert_eq!(source(&joined, "owner"), resource);
    let d = disagreements(&joined);
    assert!(
        d.contains(&Disagreement {
            field: "owner.team".into(),
            kept: "payments".into(),
            kept_source: resource.into(),
            other: "finance-guess".into(),
            other_source: "case file".into(),
        }),
        "{d:#?}"
    );
    assert!(
        d.iter().any(|x| x.other == "finance"
            && x.other_source
                == "owners table, arn:aws:iam::111122223333:role/svc-billing (owners.csv)"),
        "{d:#?}"
    );
    // Criticality: Backstage before the owners table.
    assert_eq!(joined.criticality, Some(Level::High));
    assert!(
        d.iter()
            .any(|x| x.field == "criticality" && x.kept == "high" && x.other == "low")
    );

    // An explicit owners-table row beats CODEOWNERS' inference for a leaked secret.
    let c = leaked(
        "arn:aws:iam::111122223333:role/ci-deploy",
        &[("acme/other", "config/prod.env")],
    );
    let joined = join(&c, &ctx);
    assert_eq!(
        joined.owner.as_ref().unwrap().team.as_deref(),
        Some("release")
    );
    let d = disagreements(&joined);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].other, "acme/payments");
    assert!(d[0].other_source.starts_with("CODEOWNERS ("));

    // The case file's own explicit owner, verified more recently, is kept:
    // nothing is set, the disagreement is still shown.
    let own = case(
        BILLING,
        json!({"owner": {"team": "treasury", "basis": "explicit", "verified_at": "2026-11-24T00:00:00Z"}, "criticality": "low"}),
    );
    let joined = join(&own, &ctx);
    assert_eq!(joined.owner, own.owner);
    assert_eq!(
        joined.criticality,
        Some(Level::Low),
        "the case file's criticality comes first"
    );
    let notes = joined.context.as_ref().unwrap();
    assert!(!notes.sources.contains_key("owner"));
    assert!(!notes.sources.contains_key("criticality"));
    assert!(
        notes
            .disagreements
            .iter()
            .any(|x| x.kept == "treasury" && x.other == "payments")
    );
    assert!(
        notes
            .disagreements
            .iter()
            .any(|x| x.field == "criticality" && x.kept == "low" && x.other == "high")
    );

    // Joining again changes nothing.
    let once = join(&guess, &ctx);
    assert_eq!(join(&once, &ctx), once);
}
