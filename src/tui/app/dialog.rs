//! The decision dialog: what will happen, a justification editor, the
//! quarantine duration or escalation target, and a preview of the record.
//!
//! It re-implements no rule: it builds a draft [`Decision`] and asks the
//! same pure checks the store applies ([`precheck`], [`check_decision`]).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use time::OffsetDateTime;

use super::QueueModel;
use crate::evidence::EvidenceRecord;
use crate::model::{Action, Case, CaseState, CaseStatus, Decision, Reviewer};
use crate::policy::{
    Assessment, JustificationCount, Policy, Refusal, Transition, assess, check_decision,
    controls::controls_for, escalation_target, precheck, required_justification_chars,
};
use crate::store::Snapshot;
use crate::text::sanitize;

/// The dialog's fields, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The justification editor (required text).
    Justification,
    /// Quarantine hours or escalation target.
    Parameter,
    /// The break-glass override checkbox (when the policy offers one).
    Override,
}

/// What a "discard the typed justification?" question would do on `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Close the dialog (Esc).
    Cancel,
    /// Quit the console (Ctrl-C, `Q`).
    Quit,
}

/// Where the dialog stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// The reviewer is typing.
    Editing,
    /// Sent to the store; waiting for it to be durable.
    Submitting,
    /// The store refused or conflicted: shown plainly, nothing recorded.
    Failed(String),
}

/// The decision dialog's state: the draft decision and what it shows.
pub struct DecisionDialog {
    /// The case decided on.
    pub case_id: String,
    /// Its index in the queue model when the dialog opened.
    pub case_index: usize,
    /// The identity's name (untrusted: sanitise to draw).
    pub identity: String,
    /// The action being decided.
    pub action: Action,
    /// The case version the reviewer saw (a change since is a conflict).
    pub expected_version: u64,
    /// The state before the decision.
    pub state_before: CaseState,
    /// The justification editor.
    pub justification: TextArea<'static>,
    /// Hours for quarantine, team for escalate.
    pub parameter: String,
    /// Offered when the action needs a break-glass override the policy allows.
    pub override_offered: bool,
    /// The break-glass override is ticked.
    pub override_: bool,
    /// The field with the keyboard.
    pub focus: Field,
    /// Editing, sent, or refused.
    pub phase: Phase,
    /// Set when another reviewer changed the case while the dialog was open.
    pub changed_underneath: Option<String>,
    /// Asking whether to throw the typed text away (Esc or quit with text).
    pub discard: Option<Discard>,
    /// The decision on this case still waiting in the outbox, which this
    /// one replaces when confirmed.
    pub supersedes: Option<crate::store::QueuedEntry>,
    /// Visible characters a break-glass justification needs (policy).
    pub break_glass_min_chars: usize,
    /// The longest quarantine the policy allows, in hours.
    pub quarantine_max_hours: u32,
    /// The control references the record will carry (NIST CSF 2.0, …).
    pub controls: Vec<String>,
    /// "Q1 … · Q2 … · Q3 … · tier … · recommend …", as the record keeps it.
    pub readiness_line: String,
    /// The store policy's `version`.
    pub policy_version: String,
    /// What the checks run on: the case as the reviewer sees it now.
    case: Case,
    status: CaseStatus,
    policy: Policy,
    reviewer: Reviewer,
    /// The content digest the decision names (a change since is a conflict).
    case_sha256: String,
}

/// The store's own check of `action` on this case by this reviewer before
/// any justification is typed (`policy::precheck` on a draft with the default
/// duration and target): a refusal no text could change.
pub fn refusal_before_typing(
    case: &Case,
    status: &CaseStatus,
    a: &Assessment,
    action: Action,
    policy: &Policy,
    reviewer: &Reviewer,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    let override_offered = a
        .verdict(action)
        .is_some_and(|v| !v.allowed && v.needs_override);
    let mut draft = Decision {
        case_id: case.id.clone(),
        action,
        justification: String::new(),
        expected_version: status.version,
        quarantine_hours: None,
        escalate_to: None,
        // With the override on, whatever precheck still refuses cannot be
        // broken through.
        override_: override_offered,
        expected_case_sha256: None,
        idempotency_key: None,
    };
    if let Err(refusal) = precheck(case, status, a, &draft, reviewer, policy, now) {
        // Show everything in the way, the overridable reasons included.
        draft.override_ = false;
        return Err(precheck(case, status, a, &draft, reviewer, policy, now)
            .err()
            .unwrap_or(refusal));
    }
    Ok(())
}

impl DecisionDialog {
    /// Opens the dialog, or returns the refusal when no justification could
    /// change the answer (wrong state, tier, separation of duties, lifecycle):
    /// the reviewer sees it before typing anything.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        case: &Case,
        index: usize,
        status: &CaseStatus,
        a: &Assessment,
        action: Action,
        policy: &Policy,
        reviewer: &Reviewer,
        now: OffsetDateTime,
    ) -> Result<Self, Refusal> {
        let parameter = match action {
            Action::Quarantine => policy.quarantine_default_hours.to_string(),
            Action::Escalate => escalation_target(case, None, policy).unwrap_or_default(),
            _ => String::new(),
        };
        let override_offered = a
            .verdict(action)
            .is_some_and(|v| !v.allowed && v.needs_override);
        let mut justification = TextArea::default();
        justification.set_placeholder_text(
            "Why? (required) — what you checked, who you asked, what happens next",
        );
        let dialog = DecisionDialog {
            case_id: case.id.clone(),
            case_index: index,
            identity: case.identity.name.clone(),
            action,
            expected_version: status.version,
            state_before: status.state.clone(),
            justification,
            parameter,
            override_offered,
            override_: false,
            focus: Field::Justification,
            phase: Phase::Editing,
            changed_underneath: None,
            discard: None,
            supersedes: None,
            break_glass_min_chars: policy.break_glass_min_chars as usize,
            quarantine_max_hours: policy.quarantine_max_hours,
            controls: controls_for(
                action,
                case.action.as_ref().map(|x| x.kind),
                case.finding.as_ref(),
            ),
            readiness_line: format!(
                "Q1 {} · Q2 {} · Q3 {} · tier {} · recommend {}",
                a.q1.status.name(),
                a.q2.status.name(),
                a.q3.status.name(),
                a.tier.name(),
                a.recommendation
            ),
            policy_version: policy.version.clone(),
            case_sha256: case.content_sha256(),
            case: case.clone(),
            status: status.clone(),
            policy: policy.clone(),
            reviewer: reviewer.clone(),
        };
        refusal_before_typing(case, status, a, action, policy, reviewer, now)?;
        Ok(dialog)
    }

    /// Whether the action takes hours (quarantine) or a target (escalate).
    pub fn has_parameter(&self) -> bool {
        matches!(self.action, Action::Quarantine | Action::Escalate)
    }

    /// The fields this dialog has, in Tab order.
    pub fn fields(&self) -> Vec<Field> {
        let mut f = vec![Field::Justification];
        if self.has_parameter() {
            f.push(Field::Parameter);
        }
        if self.override_offered {
            f.push(Field::Override);
        }
        f
    }

    /// Whether closing would lose something the reviewer typed.
    pub fn has_unsaved_text(&self) -> bool {
        self.justification
            .lines()
            .iter()
            .any(|l| !l.trim().is_empty())
    }

    /// The justification as typed, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.justification.lines().join("\n")
    }

    /// The justification counted as the policy counts it.
    pub fn count(&self) -> JustificationCount {
        JustificationCount::of(&self.text())
    }

    /// Visible characters typed (what the policy counts).
    pub fn chars(&self) -> usize {
        self.count().visible
    }

    /// The minimum the justification must reach (the store's rule).
    pub fn required_chars(&self) -> usize {
        required_justification_chars(&self.policy, self.override_)
    }

    /// The quarantine hours typed, if they are a number.
    pub fn hours(&self) -> Option<u32> {
        self.parameter.trim().parse().ok()
    }

    /// What stops confirming right now, if anything: the store's own check
    /// on the draft, at `now` (nothing is written).
    pub fn blocker(&self, now: OffsetDateTime) -> Option<String> {
        if self.override_offered && !self.override_ {
            return Some(
                "refused by policy: this needs the break-glass override (Tab to it, Space to tick)"
                    .into(),
            );
        }
        if self.action == Action::Quarantine && self.hours().is_none() {
            return Some(format!(
                "quarantine hours must be 1 to {}",
                self.quarantine_max_hours
            ));
        }
        self.check(now).err().map(|r| r.reasons.join("; "))
    }

    /// The digest of the case content this dialog decides on.
    pub fn case_sha256(&self) -> &str {
        &self.case_sha256
    }

    /// The case as the dialog holds it (what the reviewer saw).
    pub fn case(&self) -> &Case {
        &self.case
    }

    /// The store's check of the draft decision, as it stands.
    pub fn check(&self, now: OffsetDateTime) -> Result<Transition, Refusal> {
        let a = assess(&self.case, &self.status, &self.policy, now);
        check_decision(
            &self.case,
            &self.status,
            &a,
            &self.decision(),
            &self.reviewer,
            &self.policy,
            now,
        )
    }

    /// The typed decision to send to the store.
    pub fn decision(&self) -> Decision {
        Decision {
            case_id: self.case_id.clone(),
            action: self.action,
            justification: self.text(),
            expected_version: self.expected_version,
            quarantine_hours: (self.action == Action::Quarantine)
                .then(|| self.hours())
                .flatten(),
            escalate_to: (self.action == Action::Escalate)
                .then(|| self.parameter.trim().to_string()),
            override_: self.override_,
            expected_case_sha256: Some(self.case_sha256.clone()),
            idempotency_key: None,
        }
    }

    /// The state the case will be in: the words shown in "before → after".
    pub fn state_after_label(&self) -> String {
        match self.action {
            Action::Approve => "approved".into(),
            Action::Revoke => "revoked".into(),
            Action::Restore => "restored".into(),
            Action::Close => "closed".into(),
            Action::Quarantine => format!("quarantined for {}h", self.parameter.trim()),
            Action::Escalate => format!("escalated to {}", self.parameter.trim()),
        }
    }

    /// Moves the focus to the next (or previous) field.
    pub fn next_field(&mut self, back: bool) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        let n = fields.len();
        self.focus = fields[if back { (at + n - 1) % n } else { (at + 1) % n }];
    }

    /// A key for the focused field (Tab, Ctrl-S and Esc are handled above).
    pub fn input(&mut self, key: KeyEvent) {
        if self.phase == Phase::Submitting {
            return;
        }
        if matches!(self.phase, Phase::Failed(_)) {
            self.phase = Phase::Editing;
        }
        match self.focus {
            Field::Justification => {
                self.justification.input(key);
            }
            Field::Parameter => match key.code {
                KeyCode::Backspace => {
                    self.parameter.pop();
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    let digits_only = self.action == Action::Quarantine;
                    if (!digits_only || c.is_ascii_digit()) && self.parameter.chars().count() < 64 {
                        self.parameter.push(c);
                    }
                }
                _ => {}
            },
            Field::Override => {
                if matches!(key.code, KeyCode::Char(' ') | KeyCode::Enter) {
                    self.override_ = !self.override_;
                }
            }
        }
    }
}

/// Warns in an open dialog when its case changed underneath: another
/// reviewer's record, or new content on disk. Confirming would then be a
/// conflict; the reviewer keeps the text and decides what to do.
pub(super) fn warn_if_changed(
    d: &mut DecisionDialog,
    snapshot: &Snapshot,
    queue: &QueueModel,
    new_records: &[EvidenceRecord],
) {
    if let Some(r) = new_records.iter().rev().find(|r| r.case_id == d.case_id)
        && r.case_version + 1 != d.expected_version
    {
        d.changed_underneath = Some(format!(
            "{} changed while this dialog was open: {} recorded {} (now {}). Confirming will be refused as a conflict; Esc and review it again.",
            sanitize(&d.case_id),
            sanitize(&r.reviewer.name),
            r.action,
            r.state_after.name()
        ));
    }
    if d.changed_underneath.is_none() && !queue.same_data(snapshot) {
        if let Some(now_case) = snapshot.find(&d.case_id)
            && now_case.content_sha256() != d.case_sha256()
        {
            let status = snapshot.status(&d.case_id);
            let policy = &snapshot.policy;
            let before = crate::policy::assess(d.case(), &status, policy, queue.now).tier;
            let after = crate::policy::assess(now_case, &status, policy, queue.now).tier;
            d.changed_underneath = Some(format!(
                "{} changed on disk while this dialog was open (tier {} → {}; changed: {}). Confirming will be refused as a conflict; Esc and review it again.",
                sanitize(&d.case_id),
                before.name(),
                after.name(),
                sanitize(&crate::model::changed_fields(d.case(), now_case).join(", "))
            ));
        } else if let Some(rows) = &snapshot.rows
            && let Some(i) = rows.find(&d.case_id)
            && !rows.rows[i].may_have_sha(d.case_sha256())
        {
            // Only the row is held: the content changed, the fields are
            // named by the conflict when confirming.
            d.changed_underneath = Some(format!(
                "{} changed on disk while this dialog was open (tier now {}). Confirming will be refused as a conflict; Esc and review it again.",
                sanitize(&d.case_id),
                rows.windows[i].tier.name(),
            ));
        }
    }
}
