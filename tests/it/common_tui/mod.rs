//! A deterministic console for the TUI tests: the demo cases rebased to a
//! fixed `NOW`, a hand-built snapshot with cases in every state, a few sealed
//! evidence records, and one case whose name carries terminal escapes. No
//! terminal, no store, no real clock.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use nhi_triage::evidence::{EvidenceRecord, GENESIS_HASH, ReadinessSummary, VerifyReport};
use nhi_triage::model::{
    Action, Case, CaseState, CaseStatus, LastDecision, LoadReport, Reviewer, parse_jsonl,
};
use nhi_triage::policy::{Policy, Status, Tier};
use nhi_triage::store::{EvidenceHealth, Snapshot};
use nhi_triage::tui::app::{App, AppEvent, Drawn};
use nhi_triage::tui::theme::Theme;
use nhi_triage::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use unicode_width::UnicodeWidthStr;

/// The fixed "now" every test runs at (the demo's own anchor).
pub const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

/// The id of the extra case whose identity name carries escape sequences.
pub const EVIL_ID: &str = "CASE-0099";
/// Its identity name: a clear-screen CSI, an OSC 52 clipboard write and a bell.
pub const EVIL_NAME: &str = "evil\x1b[2Jname\x1b]52;c;SGVsbG8=\x07bell\x07";

/// Quarantined until 30 hours from `NOW`.
pub const QUARANTINED_LIVE: &str = "CASE-0003";
/// Quarantined until 2 hours before `NOW`: expired, back in Pending.
pub const QUARANTINED_EXPIRED: &str = "CASE-0008";
/// Escalated by bob to security-review.
pub const ESCALATED: &str = "CASE-0002";
pub const APPROVED: &str = "CASE-0006";
pub const REVOKED: &str = "CASE-0011";
pub const CLOSED: &str = "CASE-0013";

pub const LIVE_UNTIL: OffsetDateTime = datetime!(2026-11-28 18:00 UTC);
pub const EXPIRED_UNTIL: OffsetDateTime = datetime!(2026-11-27 10:00 UTC);

/// The demo cases at `NOW`, plus the escape-laden one.
pub fn cases() -> Vec<Case> {
    let text = nhi_triage::demo::rebased_cases(NOW).expect("demo cases rebase");
    let mut report = LoadReport::default();
    parse_jsonl(Path::new("demo/cases.jsonl"), &text, &mut report);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let mut cases = report.cases;
    let mut evil = cases
        .iter()
        .find(|c| c.id == "CASE-0021")
        .expect("CASE-0021 in the demo")
        .clone();
    evil.id = EVIL_ID.into();
    evil.title = "title with a bell\x07 and \x1b[31mred\x1b[0m".into();
    evil.identity.id = "slack:app/evil".into();
    evil.identity.name = EVIL_NAME.into();
    evil.tags = vec!["hostile-input".into()];
    cases.push(evil);
    cases
}

fn last(action: Action, reviewer: &str, ts: OffsetDateTime) -> Option<LastDecision> {
    Some(LastDecision {
        action,
        reviewer: reviewer.into(),
        ts,
    })
}

/// Statuses putting a few cases in every non-pending state.
pub fn statuses() -> HashMap<String, CaseStatus> {
    let mut m = HashMap::new();
    m.insert(
        QUARANTINED_LIVE.to_string(),
        CaseStatus {
            state: CaseState::Quarantined { until: LIVE_UNTIL },
            version: 1,
            escalated_by: None,
            escalated_by_os: None,
            quarantined_at: Some(datetime!(2026-11-25 18:00 UTC)),
            quarantined_by: Some("bob".into()),
            quarantined_by_os: None,
            used_during_quarantine: false,
            last_decision: last(Action::Quarantine, "bob", datetime!(2026-11-25 18:00 UTC)),
        },
    );
    m.insert(
        QUARANTINED_EXPIRED.to_string(),
        CaseStatus {
            state: CaseState::Quarantined {
                until: EXPIRED_UNTIL,
            },
            version: 1,
            escalated_by: None,
            escalated_by_os: None,
            quarantined_at: Some(datetime!(2026-11-24 10:00 UTC)),
            quarantined_by: Some("carol".into()),
            quarantined_by_os: None,
            used_during_quarantine: false,
            last_decision: last(Action::Quarantine, "carol", datetime!(2026-11-24 10:00 UTC)),
        },
    );
    m.insert(
        ESCALATED.to_string(),
        CaseStatus {
            state: CaseState::Escalated {
                to: "security-review".into(),
            },
            version: 1,
            escalated_by: Some("bob".into()),
            escalated_by_os: None,
            quarantined_at: None,
            quarantined_by: None,
            quarantined_by_os: None,
            used_during_quarantine: false,
            last_decision: last(Action::Escalate, "bob", datetime!(2026-11-26 09:00 UTC)),
        },
    );
    m.insert(
        APPROVED.to_string(),
        CaseStatus {
            state: CaseState::Approved,
            version: 1,
            escalated_by: None,
            escalated_by_os: None,
            quarantined_at: None,
            quarantined_by: None,
            quarantined_by_os: None,
            used_during_quarantine: false,
            last_decision: last(Action::Approve, "alice", datetime!(2026-11-26 10:00 UTC)),
        },
    );
    m.insert(
        REVOKED.to_string(),
        CaseStatus {
            state: CaseState::Revoked,
            version: 2,
            escalated_by: None,
            escalated_by_os: None,
            quarantined_at: None,
            quarantined_by: None,
            quarantined_by_os: None,
            used_during_quarantine: false,
            last_decision: last(Action::Revoke, "carol", datetime!(2026-11-26 15:00 UTC)),
        },
    );
    m.insert(
        CLOSED.to_string(),
        CaseStatus {
            state: CaseState::Closed,
            version: 2,
            escalated_by: Some("bob".into()),
            escalated_by_os: None,
            quarantined_at: None,
            quarantined_by: None,
            quarantined_by_os: None,
            used_during_quarantine: false,
            last_decision: last(Action::Close, "dave", datetime!(2026-11-27 08:00 UTC)),
        },
    );
    m
}

/// One unsealed record, ready for `seal`.
#[allow(clippy::too_many_arguments)]
pub fn record(
    n: u128,
    ts: OffsetDateTime,
    case_id: &str,
    reviewer: &str,
    action: Action,
    case_version: u64,
    before: CaseState,
    after: CaseState,
    justification: &str,
) -> EvidenceRecord {
    let policy = Policy::default();
    EvidenceRecord {
        seq: 0,
        id: uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n),
        ts,
        case_id: case_id.into(),
        case_sha256: None,
        identity_id: format!("identity-of-{case_id}"),
        reviewer: Reviewer {
            name: reviewer.into(),
            host: "ws-01".into(),
            via: "local".into(),
            os_account: None,
        },
        action,
        justification: justification.into(),
        quarantine_until: match &after {
            CaseState::Quarantined { until } => Some(*until),
            _ => None,
        },
        escalate_to: match &after {
            CaseState::Escalated { to } => Some(to.clone()),
            _ => None,
        },
        override_: false,
        escalated_by: None,
        quarantined_by: None,
        shared_os_account: false,
        idempotency_key: None,
        request_sha256: None,
        readiness: ReadinessSummary {
            q1: Status::Answered,
            q2: Status::Partial,
            q3: Status::Unknown,
            tier: Tier::Medium,
            recommendation: Action::Quarantine,
            gaps: vec!["Q3: no rollback tested".into()],
        },
        used_during_quarantine: false,
        policy: policy.reference(),
        case_version,
        state_before: before,
        state_after: after,
        controls: vec!["NIST-800-53:AC-2".into()],
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// The evidence log behind [`statuses`], sealed into a chain (oldest first).
pub fn records() -> Vec<EvidenceRecord> {
    use CaseState::*;
    let esc = || Escalated {
        to: "security-review".into(),
    };
    let mut recs = vec![
        record(
            1,
            datetime!(2026-11-24 10:00 UTC),
            QUARANTINED_EXPIRED,
            "carol",
            Action::Quarantine,
            0,
            Pending,
            Quarantined {
                until: EXPIRED_UNTIL,
            },
            "still in use by the mail relay; contain for 72h while the owner answers",
        ),
        record(
            2,
            datetime!(2026-11-25 11:00 UTC),
            REVOKED,
            "carol",
            Action::Quarantine,
            0,
            Pending,
            Quarantined {
                until: datetime!(2026-11-28 11:00 UTC),
            },
            "owner unreachable; quarantine first",
        ),
        record(
            3,
            datetime!(2026-11-25 18:00 UTC),
            QUARANTINED_LIVE,
            "bob",
            Action::Quarantine,
            0,
            Pending,
            Quarantined { until: LIVE_UNTIL },
            "shared CI platform: contain while devex confirms",
        ),
        record(
            4,
            datetime!(2026-11-26 09:00 UTC),
            ESCALATED,
            "bob",
            Action::Escalate,
            0,
            Pending,
            esc(),
            "admin key with no owner; a person must decide",
        ),
        record(
            5,
            datetime!(2026-11-26 10:00 UTC),
            APPROVED,
            "alice",
            Action::Approve,
            0,
            Pending,
            Approved,
            "unused for a year, all questions answered, rollback tested",
        ),
        record(
            6,
            datetime!(2026-11-26 11:00 UTC),
            CLOSED,
            "bob",
            Action::Escalate,
            0,
            Pending,
            esc(),
            "vendor-risk tag: escalate to security review",
        ),
        record(
            7,
            datetime!(2026-11-26 15:00 UTC),
            REVOKED,
            "carol",
            Action::Revoke,
            1,
            Quarantined {
                until: datetime!(2026-11-28 11:00 UTC),
            },
            Revoked,
            "nothing broke during quarantine; revoking",
        ),
        record(
            8,
            datetime!(2026-11-27 08:00 UTC),
            CLOSED,
            "dave",
            Action::Close,
            1,
            esc(),
            Closed,
            "vendor confirmed the integration was retired",
        ),
    ];
    let mut prev = GENESIS_HASH.to_string();
    for (i, r) in recs.iter_mut().enumerate() {
        r.seal(i as u64 + 1, &prev).expect("seal");
        prev = r.hash.clone();
    }
    recs
}

pub fn snapshot_with(cases: Arc<Vec<Case>>, statuses: HashMap<String, CaseStatus>) -> Snapshot {
    Snapshot {
        cases,
        cases_generation: 0,
        statuses,
        problems: Vec::new(),
        evidence: EvidenceHealth {
            records: 8,
            last_seq: 8,
            ..Default::default()
        },
        policy: Policy::default(),
        rows: None,
    }
}

pub fn snapshot() -> Snapshot {
    snapshot_with(Arc::new(cases()), statuses())
}

/// The verify report for [`records`]: intact.
pub fn verify_report(records: &[EvidenceRecord]) -> VerifyReport {
    VerifyReport {
        records: records.len() as u64,
        last_seq: records.last().map_or(0, |r| r.seq),
        head_hash: records
            .last()
            .map_or(GENESIS_HASH.to_string(), |r| r.hash.clone()),
        first_bad: None,
        torn_tail: None,
    }
}

/// A reviewer deciding at a local console (no OS account: the tests compare
/// by name).
pub fn reviewer(name: &str) -> Reviewer {
    Reviewer {
        name: name.into(),
        host: "ws-01".into(),
        via: "local".into(),
        os_account: None,
    }
}

/// The console at `NOW`, with the given theme, verified evidence.
pub fn app_with(theme: Theme) -> App {
    app_labelled(theme, "local store /demo")
}

/// As [`app_with`], with the status bar naming the store `label`.
pub fn app_labelled(theme: Theme, label: &str) -> App {
    let records = records();
    let report = verify_report(&records);
    let mut app = App::new(
        snapshot(),
        records,
        theme,
        label.into(),
        reviewer("alice"),
        NOW,
    );
    app.on_verified(report);
    app
}

pub fn app() -> App {
    app_with(Theme::load("dark").expect("dark theme"))
}

pub fn mono_app() -> App {
    app_with(Theme::mono())
}

// ----- keys ---------------------------------------------------------------

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn ch(c: char) -> KeyEvent {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(KeyCode::Char(c), mods)
}

pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Presses each character of `s` in turn.
pub fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        let k = if c == '\n' {
            key(KeyCode::Enter)
        } else {
            ch(c)
        };
        app.on_key(k);
    }
}

/// The case id under the cursor.
pub fn selected_id(app: &App) -> Option<String> {
    app.selected_case()
        .map(|i| app.queue().row(i).id().to_string())
}

/// The ids of the current view's rows, in order.
pub fn row_ids(app: &App) -> Vec<String> {
    app.list()
        .map(|l| {
            l.rows
                .iter()
                .map(|&i| app.queue().row(i as usize).id().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Moves the cursor of the current view onto `id` (j/k only, like a user).
pub fn select(app: &mut App, id: &str) {
    let ids = row_ids(app);
    let target = ids
        .iter()
        .position(|x| x == id)
        .unwrap_or_else(|| panic!("{id} not in {:?}: {ids:?}", app.view()));
    app.on_key(ch('g'));
    for _ in 0..target {
        app.on_key(ch('j'));
    }
    assert_eq!(selected_id(app).as_deref(), Some(id));
}

/// The tier of a case at `NOW`.
pub fn tier_of(app: &App, id: &str) -> Tier {
    let i = app.queue().find(id).expect("case");
    app.queue().tiers[i]
}

pub fn hours(h: i64) -> Duration {
    Duration::hours(h)
}

/// A record as the store would return it: the next in the chain after
/// [`records`].
pub fn recorded(
    seq: u64,
    case_id: &str,
    reviewer: &str,
    action: Action,
    version: u64,
    after: CaseState,
) -> EvidenceRecord {
    let prev = records().last().map(|r| r.hash.clone()).unwrap_or_default();
    let mut r = record(
        100 + seq as u128,
        datetime!(2026-11-27 12:05 UTC),
        case_id,
        reviewer,
        action,
        version,
        CaseState::Pending,
        after,
        "recorded in a test",
    );
    r.seal(seq, &prev).expect("seal");
    r
}

/// The app's snapshot with one case's status replaced and the log at
/// `last_seq`.
pub fn snapshot_after(app: &App, case_id: &str, status: CaseStatus, last_seq: u64) -> Snapshot {
    let mut statuses = app.queue().snapshot.statuses.clone();
    statuses.insert(case_id.to_string(), status);
    let mut s = snapshot_with(Arc::clone(&app.queue().snapshot.cases), statuses);
    s.evidence.records = last_seq;
    s.evidence.last_seq = last_seq;
    s
}

// ----- frames ---------------------------------------------------------------

/// One frame at `w`x`h`, drawn as the runtime draws it: the app is then told
/// what the frame measured (rows on screen, scroll limits).
pub fn draw_frame(app: &mut App, w: u16, h: u16) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    let mut drawn = Drawn::default();
    terminal
        .draw(|f| drawn = views::draw(f, app))
        .expect("draw");
    app.update(AppEvent::Drawn(drawn));
    terminal.backend().clone()
}

/// The text of row `y`, as a person sees it (cells under a wide character
/// skipped).
pub fn row_text(buf: &Buffer, y: u16) -> String {
    let mut s = String::new();
    let mut skip = 0usize;
    for x in 0..buf.area.width {
        let sym = buf[(x, y)].symbol();
        if skip == 0 {
            s.push_str(sym);
        }
        skip = skip.max(sym.width()).saturating_sub(1);
    }
    s
}
