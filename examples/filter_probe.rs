//! Temporary probe (helper for issue 8): per-keystroke filter times at 100k.
#[path = "../benches/support/mod.rs"]
mod support;

use std::time::Instant;

use nhi_triage::model::Reviewer;
use nhi_triage::store::{LocalStore, StoreLayout};
use nhi_triage::tui::app::{App, AppEvent};
use nhi_triage::tui::theme::Theme;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use time::OffsetDateTime;

fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let store_dir = dir.path().join("s");
    StoreLayout::new(&store_dir).init().expect("init");
    support::write_cases(&store_dir.join("cases"), 100_000);
    let store = LocalStore::open(&store_dir).expect("store");
    let snapshot = store.snapshot_blocking().expect("snapshot");
    let reviewer = Reviewer { name: "b".into(), host: "h".into(), via: "local".into(), os_account: None };
    let mut app = App::new(snapshot, Vec::new(), Theme::dark(), "x".into(), reviewer, OffsetDateTime::now_utc());
    for round in 0..3 {
        app.update(AppEvent::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE)));
        let mut line = format!("round {round}:");
        for c in "platform".chars() {
            let t = Instant::now();
            app.update(AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
            line += &format!(" {c}={:.1}ms", t.elapsed().as_secs_f64() * 1e3);
        }
        let t = Instant::now();
        app.update(AppEvent::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
        line += &format!(" esc={:.1}ms", t.elapsed().as_secs_f64() * 1e3);
        println!("{line}");
    }
}
