//! The action an imported finding proposes, from what the provider
//! documents about it: never a guess about the team's own facts.

use crate::model::{ActionKind, Case, ProposedAction, Rollback};

/// Sets `case.action` when it has none, from the identity and finding:
///
/// - an AWS access key (`provider` `aws`, `kind` `api_key`): `disable`
///   (make the key Inactive). AWS documents that an inactive key can be made
///   Active again (IAM `UpdateAccessKey`), so it is `reversible` and
///   `verifiable` (the key's status and last use are visible); the rollback
///   was never tested by the team (`tested_at` unknown) and its time is
///   unknown, so Q3 stays open until the team's facts say otherwise;
/// - any other leaked secret: `rotate`, every other fact unknown;
/// - any other unused identity: `disable`, every other fact unknown;
/// - anything else: nothing proposed (tier high).
pub fn propose_action(case: &mut Case) {
    if case.action.is_some() {
        return;
    }
    let kind = case.finding.as_ref().map(|f| f.kind.as_str()).unwrap_or("");
    let aws_key = case.identity.provider == "aws" && case.identity.kind == "api_key";
    case.action = if aws_key && matches!(kind, "leaked_secret" | "unused" | "long_lived") {
        Some(ProposedAction {
            kind: ActionKind::Disable,
            reversible: Some(true),
            verifiable: Some(true),
            rollback: Some(Rollback {
                method: Some(
                    "make the key Active again (aws iam update-access-key --status Active)".into(),
                ),
                tested_at: None,
                restore_minutes: None,
            }),
            hot_reload: None,
        })
    } else if kind == "leaked_secret" {
        Some(unknown_facts(ActionKind::Rotate))
    } else if kind == "unused" {
        Some(unknown_facts(ActionKind::Disable))
    } else {
        None
    };
}

fn unknown_facts(kind: ActionKind) -> ProposedAction {
    ProposedAction {
        kind,
        reversible: None,
        verifiable: None,
        rollback: None,
        hot_reload: None,
    }
}
