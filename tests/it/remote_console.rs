//! The console with a remote store: the link and the outbox in the status
//! bar, a queued decision in the dialog. App state and `TestBackend` only.

use crate::common_tui;

use common_tui::*;
use nhi_triage::store::{Link, LinkStatus};
use nhi_triage::tui::app::{App, Effect, Phase, Tone};
use nhi_triage::tui::theme::Theme;
use ratatui::crossterm::event::KeyCode;

/// The bottom line of one frame, as text.
fn status_line(app: &mut App, w: u16, h: u16) -> String {
    row_text(draw_frame(app, w, h).buffer(), h - 1)
}

fn link(link: Link, waiting: usize, rejected: usize) -> LinkStatus {
    LinkStatus {
        link,
        outbox_waiting: waiting,
        outbox_rejected: rejected,
        ..LinkStatus::local()
    }
}

#[test]
fn the_status_bar_shows_the_link_and_the_outbox_in_words() {
    let mut app = app_labelled(Theme::mono(), "api https://triage.example.com:8787/");
    let local = status_line(&mut app, 120, 40);
    assert!(!local.contains("connected"), "{local}");

    assert!(app.on_link(link(Link::Connected, 0, 0)));
    assert!(
        !app.on_link(link(Link::Connected, 0, 0)),
        "no change, no redraw"
    );
    let line = status_line(&mut app, 120, 40);
    assert!(line.contains(" connected "), "{line}");
    assert!(
        line.contains("api https://triage.example.com:8787/"),
        "{line}"
    );

    app.on_link(link(
        Link::Offline {
            error: "GET https://triage.example.com:8787/v1/evidence: cannot connect (Connection refused)"
                .into(),
        },
        2,
        1,
    ));
    // The refusal is news: at 80 columns its message takes the line whole;
    // once read (the next key clears it) the counts are back.
    let line = status_line(&mut app, 80, 24);
    assert!(
        line.contains("refused by the server, NOT recorded"),
        "{line}"
    );
    app.on_key(ch('x'));
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let line = status_line(&mut app, w, h);
        assert!(line.contains("OFFLINE"), "{w}x{h}: {line}");
        assert!(
            line.contains("2 decisions waiting to sync"),
            "{w}x{h}: {line}"
        );
        assert!(line.contains("1 refused"), "{w}x{h}: {line}");
        assert!(line.contains("nhi-triage outbox list"), "{w}x{h}: {line}");
    }
    let wide = status_line(&mut app, 200, 50);
    assert!(
        wide.contains("1 refused by the server — nhi-triage outbox list"),
        "{wide}"
    );
    assert!(
        wide.contains("OFFLINE: GET https://triage"),
        "the error, shortened: {wide}"
    );

    app.on_link(link(
        Link::Retrying {
            attempt: 2,
            error: "no answer within 15 s".into(),
        },
        1,
        0,
    ));
    let line = status_line(&mut app, 120, 40);
    assert!(line.contains("reconnecting (try 2)"), "{line}");
    assert!(line.contains("1 decision waiting to sync"), "{line}");
}

#[test]
fn the_status_bar_shows_cases_still_loading_and_a_failed_page() {
    use nhi_triage::store::Loading;
    let mut app = app_labelled(Theme::mono(), "api https://triage.example.com:8787/");
    let loading = |failed: Option<(u32, String)>| LinkStatus {
        loading: Some(Loading {
            loaded: 2000,
            total: 100_000,
            failed,
        }),
        ..link(Link::Connected, 2, 1)
    };
    assert!(app.on_link(loading(None)));
    app.on_key(ch('x')); // read the "refused" message
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let line = status_line(&mut app, w, h);
        assert!(line.contains("2 decisions waiting"), "{w}x{h}: {line}");
        assert!(line.contains("1 refused"), "{w}x{h}: {line}");
        if w > 80 {
            assert!(line.contains("2000/100000"), "{w}x{h}: {line}");
        }
    }
    let wide = status_line(&mut app, 200, 50);
    assert!(wide.contains(" loading cases 2000/100000 "), "{wide}");

    app.on_link(loading(Some((3, "server error: GET \x1b[2J…".into()))));
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let line = status_line(&mut app, w, h);
        assert!(!line.contains('\x1b'), "{w}x{h}: {line:?}");
        assert!(line.contains("2 decisions waiting"), "{w}x{h}: {line}");
        assert!(line.contains("1 refused"), "{w}x{h}: {line}");
        if w > 80 {
            assert!(line.contains("2000/100000"), "{w}x{h}: {line}");
            assert!(line.contains("retrying"), "{w}x{h}: {line}");
        }
    }
    // At 80 columns the outbox counts come first; without them the
    // progress and the failure fit.
    let mut alone = loading(Some((3, "HTTP 500".into())));
    (alone.outbox_waiting, alone.outbox_rejected) = (0, 0);
    app.on_link(alone);
    let narrow = status_line(&mut app, 80, 24);
    assert!(
        narrow.contains("2000/100000") && narrow.contains("retrying"),
        "{narrow}"
    );
    let wide = status_line(&mut app, 200, 50);
    assert!(
        wide.contains("loading cases 2000/100000: a page failed, retrying (try 3): HTTP 500"),
        "{wide}"
    );
    app.on_link(loading(Some((3, "server error: GET \x1b[2J…".into()))));

    // The last page: the progress goes, and the console says so.
    assert!(app.on_link(link(Link::Connected, 2, 1)));
    let line = status_line(&mut app, 200, 50);
    assert!(!line.contains("loading"), "{line}");
    assert!(line.contains("all cases loaded"), "{line}");
}

#[test]
fn an_error_from_the_server_cannot_write_escapes_to_the_terminal() {
    let mut app = mono_app();
    app.on_link(link(
        Link::Offline {
            error: "evil\x1b[2J\x07".into(),
        },
        0,
        0,
    ));
    let line = status_line(&mut app, 200, 50);
    assert!(!line.contains('\x1b'), "{line:?}");
    assert!(line.contains("evil\\x1b[2J"), "{line:?}");
}

#[test]
fn syncing_and_refusals_are_announced() {
    let mut app = mono_app();
    app.on_link(link(
        Link::Offline {
            error: "down".into(),
        },
        2,
        0,
    ));
    app.on_link(link(Link::Connected, 0, 0));
    let m = app.message().expect("a message");
    assert_eq!(m.text, "2 queued decisions synced with the server");
    assert_eq!(m.tone, Tone::Ok);

    app.on_link(link(Link::Connected, 1, 0));
    app.on_link(link(Link::Connected, 0, 1));
    let m = app.message().expect("a message");
    assert!(
        m.text
            .contains("1 queued decision refused by the server, NOT recorded"),
        "{}",
        m.text
    );
    assert_eq!(m.tone, Tone::Error);
}

#[test]
fn a_queued_decision_closes_the_dialog_and_says_it_is_not_recorded() {
    let mut app = mono_app();
    select(&mut app, "CASE-0010");
    app.on_key(ch('i'));
    type_str(&mut app, "owner asked us to contain it first");
    let (_, effects) = app.on_key(ctrl('s'));
    assert!(
        matches!(effects.as_slice(), [Effect::Decide(_)]),
        "{effects:?}"
    );
    assert_eq!(
        app.dialog().map(|d| d.phase.clone()),
        Some(Phase::Submitting)
    );

    assert!(app.on_queued(3, "POST …: cannot connect".into()));
    assert!(
        app.dialog().is_none(),
        "the decision is durable: the dialog closes"
    );
    let m = app.message().expect("a message");
    assert_eq!(m.tone, Tone::Warn);
    assert!(
        m.text
            .starts_with("quarantine CASE-0010 queued, NOT yet recorded"),
        "{}",
        m.text
    );
    assert!(m.text.contains("3 decisions waiting to sync"), "{}", m.text);

    // A background error never turns into the dialog's answer.
    app.on_key(ch('e'));
    assert!(app.dialog().is_some());
    app.on_error("refresh failed: server error".into());
    assert_eq!(app.dialog().map(|d| d.phase.clone()), Some(Phase::Editing));
    app.on_key(key(KeyCode::Esc));
}
