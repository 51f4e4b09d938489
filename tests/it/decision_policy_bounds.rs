//! Decision safety (issue 7) in the pure policy: what a reviewer types and
//! what the policy file may say. Justifications count only visible
//! characters, escalations route to a real team, and the policy file bounds
//! every number. Reviewers, usage and quarantine episodes are in
//! tests/decision_policy.rs.
//!
//! Every case starts from `base()`, tier low at `NOW` (tests/common/policy.rs).

use crate::common;

use std::path::Path;

use nhi_triage::model::{
    Action, CaseState, CaseStatus, Decision, LastUsed, OwnerBasis, validate_name,
};
use nhi_triage::policy::{
    JustificationCount, MAX_JUSTIFICATION_CHARS, Policy, Refusal, Transition, assess,
    escalation_target, precheck, quarantine_hours,
};
use time::OffsetDateTime;
use time::macros::datetime;

use common::policy::{
    NOW, REASON, TEAM, base, decide, decide_as, decision, escalated_by, has, hours, refused_with,
    status, with,
};
use common::reviewer;

/// alice's `action` on the pending base case, justified with `text`.
fn justified(action: Action, text: &str) -> Result<Transition, Refusal> {
    decide(
        &base(),
        &CaseStatus::pending(),
        &decision(action, text),
        "alice",
    )
}

// ============================================================ justification

#[test]
fn invisible_characters_do_not_count_toward_the_justification() {
    let zw = "\u{200b}".repeat(20);
    let count = JustificationCount::of(&zw);
    assert_eq!(count.visible, 0);
    assert_eq!(count.invisible, 20);
    let r = refused_with(
        justified(Action::Approve, &zw),
        "at least 20 visible characters (got 0",
    );
    assert!(has(&r.reasons, "20 invisible"), "{:?}", r.reasons);
    assert!(has(&r.reasons, "not counted"), "{:?}", r.reasons);

    // Other format characters: soft hyphens, bidi marks, joiners.
    let mixed = "\u{00ad}\u{200e}\u{200d}\u{2060}\u{feff}".repeat(8);
    let r = refused_with(justified(Action::Quarantine, &mixed), "got 0");
    assert!(has(&r.reasons, "40 invisible"), "{:?}", r.reasons);

    // 19 visible characters padded with zero-width spaces: still 19.
    let padded: String = "abcdefghijklmnopqrs"
        .chars()
        .flat_map(|c| [c, '\u{200b}'])
        .collect();
    refused_with(justified(Action::Approve, &padded), "got 19");
}

/// Characters that render as nothing, or as a blank, without being
/// whitespace, control or format (Cf): Unicode's default-ignorable fillers,
/// joiners and variation selectors (Lo, Mn), and the blank Braille pattern.
const BLANKS: [(char, &str); 8] = [
    ('\u{3164}', "HANGUL FILLER"),
    ('\u{115F}', "HANGUL CHOSEONG FILLER"),
    ('\u{FFA0}', "HALFWIDTH HANGUL FILLER"),
    ('\u{034F}', "COMBINING GRAPHEME JOINER"),
    ('\u{FE0F}', "VARIATION SELECTOR-16"),
    ('\u{E0100}', "VARIATION SELECTOR-17"),
    ('\u{17B4}', "KHMER VOWEL INHERENT AQ"),
    ('\u{2800}', "BRAILLE PATTERN BLANK"),
];

#[test]
fn characters_that_render_blank_do_not_count_toward_the_justification() {
    // Issue 7, fault 8: "an invisible justification counts". A box of 30
    // Hangul fillers looks exactly as empty as 20 zero-width spaces.
    let mut counted = Vec::new();
    for (c, what) in BLANKS {
        let text: String = std::iter::repeat_n(c, 30).collect();
        let r = justified(Action::Approve, &text);
        if r.is_ok() || JustificationCount::of(&text).visible != 0 {
            counted.push(format!(
                "U+{:04X} {what}: visible {}, decision {}",
                c as u32,
                JustificationCount::of(&text).visible,
                if r.is_ok() { "allowed" } else { "refused" }
            ));
        }
    }
    assert!(
        counted.is_empty(),
        "blank characters counted as visible:\n{}",
        counted.join("\n")
    );
}

#[test]
fn reviewer_names_padded_with_blank_characters_are_the_same_reviewer() {
    // Issue 7, fault 4: renaming oneself with an invisible character. The
    // default-ignorable fillers are dropped by the confusable skeleton; a
    // blank Braille pattern must not make a second person either.
    let s = escalated_by("alice");
    let mut passed = Vec::new();
    for (c, what) in BLANKS {
        for name in [
            format!("alice{c}"),
            format!("{c}alice"),
            format!("al{c}ice"),
        ] {
            let allowed = validate_name(&name).is_ok()
                && decide(&base(), &s, &decision(Action::Approve, REASON), &name).is_ok();
            if allowed {
                passed.push(format!(
                    "{name:?} (U+{:04X} {what}): identity key {:?}",
                    c as u32,
                    nhi_triage::model::identity_key(&name)
                ));
            }
        }
    }
    assert!(
        passed.is_empty(),
        "approved alice's escalation as another reviewer:\n{}",
        passed.join("\n")
    );
}

#[test]
fn whitespace_padding_does_not_count_toward_the_justification() {
    let padded = format!("{}fix it{}", " ".repeat(30), "\t\n ".repeat(10));
    let count = JustificationCount::of(&padded);
    assert_eq!(count.visible, 5);
    let r = refused_with(justified(Action::Approve, &padded), "(got 5");
    assert!(
        !has(&r.reasons, "not counted"),
        "nothing invisible: {:?}",
        r.reasons
    );
    // Spaces between words are not counted either.
    let spaced = "a b c d e f g h i j k l m n o p q r s";
    refused_with(justified(Action::Approve, spaced), "(got 19");
    // 20 visible characters is enough.
    let twenty = "a b c d e f g h i j k l m n o p q r s t";
    assert_eq!(JustificationCount::of(twenty).visible, 20);
    assert!(justified(Action::Approve, twenty).is_ok());
}

#[test]
fn a_justification_over_the_limit_is_refused() {
    assert_eq!(MAX_JUSTIFICATION_CHARS, 10_000);
    let long = "x".repeat(10_001);
    refused_with(justified(Action::Approve, &long), "10001 characters");
    let max = "x".repeat(10_000);
    assert!(justified(Action::Approve, &max).is_ok());
    // The check is the same in the precheck's sibling: precheck ignores text.
    let p = Policy::default();
    let a = assess(&base(), &CaseStatus::pending(), &p, NOW);
    assert!(
        precheck(
            &base(),
            &CaseStatus::pending(),
            &a,
            &decision(Action::Approve, &long),
            &reviewer("alice"),
            &p,
            NOW
        )
        .is_ok()
    );
}

// ============================================================ escalation

#[test]
fn escalation_without_a_known_owner_team_goes_to_the_default_team() {
    let p = Policy {
        default_escalation_team: "sec-oncall".into(),
        ..Policy::default()
    };
    let unknown_basis = with(|c| {
        let o = c.owner.as_mut().unwrap();
        o.basis = OwnerBasis::Unknown;
        o.team = Some("unknown".into());
    });
    let no_team = with(|c| c.owner.as_mut().unwrap().team = None);
    let blank_team = with(|c| c.owner.as_mut().unwrap().team = Some("   ".into()));
    let no_owner = with(|c| c.owner = None);
    for (what, c) in [
        ("basis unknown", &unknown_basis),
        ("no team", &no_team),
        ("blank team", &blank_team),
        ("no owner", &no_owner),
    ] {
        assert_eq!(
            escalation_target(c, None, &p).as_deref(),
            Ok("sec-oncall"),
            "{what}"
        );
        let t = decide_as(
            c,
            &CaseStatus::pending(),
            &decision(Action::Escalate, REASON),
            &reviewer("alice"),
            &p,
            NOW,
        )
        .unwrap_or_else(|r| panic!("{what}: {r}"));
        assert_eq!(
            t.state_after,
            CaseState::Escalated {
                to: "sec-oncall".into()
            },
            "{what}"
        );
    }
    // A known owner team is used; an inferred one is still known.
    assert_eq!(escalation_target(&base(), None, &p).as_deref(), Ok(TEAM));
    let inferred = with(|c| c.owner.as_mut().unwrap().basis = OwnerBasis::Inferred);
    assert_eq!(escalation_target(&inferred, None, &p).as_deref(), Ok(TEAM));
    // A requested team wins.
    assert_eq!(
        escalation_target(&unknown_basis, Some("platform-sec"), &p).as_deref(),
        Ok("platform-sec")
    );
    // The default policy's team.
    assert_eq!(
        escalation_target(&no_owner, None, &Policy::default()).as_deref(),
        Ok("security-review")
    );
}

// ============================================================ policy bounds

fn policy_error(toml: &str) -> String {
    match Policy::from_toml(toml, Path::new("policy.toml")) {
        Ok(p) => panic!("{toml:?} was accepted: {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_quarantine_of_a_hundred_million_hours_is_refused_naming_the_key() {
    let err = policy_error("quarantine_max_hours = 100000000\n");
    assert!(err.contains("quarantine_max_hours"), "{err}");
    assert!(err.contains("policy.toml"), "{err}");
}

#[test]
fn every_numeric_policy_key_is_bounded() {
    let cases: &[(&str, &[i64])] = &[
        ("dependency_map_max_age_days", &[3651, 100_000_000]),
        ("owner_verified_max_age_days", &[3651, 100_000_000]),
        ("rollback_tested_max_age_days", &[3651, 100_000_000]),
        ("unused_after_days", &[0, 3651, 100_000_000]),
        ("max_restore_minutes", &[10_081, 100_000_000]),
        ("quarantine_max_hours", &[0, 8785, 100_000_000]),
        ("quarantine_default_hours", &[0, 8785, 100_000_000]),
        ("quarantine_min_observation_hours", &[8785, 100_000_000]),
        ("justification_min_chars", &[0, 10_001, 100_000_000]),
        ("break_glass_min_chars", &[0, 10_001, 100_000_000]),
    ];
    for (key, values) in cases {
        for v in *values {
            // For the hours keys, raise the maximum to its bound so only the
            // value under test is out of range.
            let text = if *key == "quarantine_default_hours" {
                format!("quarantine_max_hours = 8784\n{key} = {v}\n")
            } else {
                format!("{key} = {v}\n")
            };
            let err = policy_error(&text);
            assert!(err.contains(key), "{key} = {v}: {err}");
        }
        // Out of u32 entirely, and negative: refused naming the key, no panic.
        for v in ["-1", "5000000000"] {
            let err = policy_error(&format!("{key} = {v}\n"));
            assert!(err.contains(key), "{key} = {v}: {err}");
        }
    }
    // Every bound itself is accepted.
    let edge = "dependency_map_max_age_days = 3650\n\
                owner_verified_max_age_days = 3650\n\
                rollback_tested_max_age_days = 3650\n\
                unused_after_days = 3650\n\
                max_restore_minutes = 10080\n\
                quarantine_max_hours = 8784\n\
                quarantine_default_hours = 8784\n\
                quarantine_min_observation_hours = 8784\n\
                justification_min_chars = 10000\n\
                break_glass_min_chars = 10000\n";
    let p = Policy::from_toml(edge, Path::new("policy.toml")).unwrap();
    assert_eq!(p.quarantine_max_hours, 8784);
    let low = "unused_after_days = 1\nquarantine_max_hours = 1\nquarantine_default_hours = 1\n\
               justification_min_chars = 1\nbreak_glass_min_chars = 1\n\
               quarantine_min_observation_hours = 0\ndependency_map_max_age_days = 0\n";
    assert!(Policy::from_toml(low, Path::new("policy.toml")).is_ok());
    // The new keys exist with their documented defaults.
    let d = Policy::from_toml("", Path::new("policy.toml")).unwrap();
    assert_eq!(d.quarantine_min_observation_hours, 24);
    assert!(!d.allow_shared_os_accounts);
    let err = policy_error("allow_shared_os_accounts = \"yes\"\n");
    assert!(err.contains("allow_shared_os_accounts"), "{err}");
}

#[test]
fn huge_quarantine_requests_are_refused_without_panicking() {
    let p = Policy::from_toml(
        "quarantine_max_hours = 8784\nquarantine_default_hours = 8784\n",
        Path::new("policy.toml"),
    )
    .unwrap();
    // alice quarantines the pending base case for `h` hours at `now`.
    let quarantine = |h: u32, now: OffsetDateTime| {
        let d = Decision {
            quarantine_hours: Some(h),
            ..decision(Action::Quarantine, REASON)
        };
        decide_as(
            &base(),
            &CaseStatus::pending(),
            &d,
            &reviewer("alice"),
            &p,
            now,
        )
    };
    for h in [80_000_000u32, 8785, u32::MAX, 0] {
        refused_with(
            quarantine(h, NOW),
            "quarantine hours must be between 1 and 8784",
        );
        assert!(quarantine_hours(Some(h), &p).is_err(), "{h}");
    }
    assert_eq!(quarantine_hours(Some(8784), &p), Ok(8784));
    assert_eq!(quarantine_hours(None, &Policy::default()), Ok(72));

    // At the end of time the longest allowed quarantine would overflow the
    // calendar: refused with a reason, never a panic.
    let late = datetime!(9999-12-31 00:00 UTC);
    let r = quarantine(8784, late);
    assert!(r.is_err(), "{r:?}");
    // Revoke checks near the end of time compute without panicking.
    let s = CaseStatus {
        quarantined_at: Some(late - hours(1)),
        quarantined_by: Some("alice".into()),
        ..status(CaseState::Quarantined {
            until: datetime!(9999-12-31 23:00 UTC),
        })
    };
    let strict = Policy {
        quarantine_min_observation_hours: 8784,
        ..p.clone()
    };
    let never = with(|c| c.identity.last_used_at = LastUsed::Never);
    assert!(
        decide_as(
            &never,
            &s,
            &decision(Action::Revoke, REASON),
            &reviewer("bob"),
            &strict,
            late
        )
        .is_err()
    );
}
