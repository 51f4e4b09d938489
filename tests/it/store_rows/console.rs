//! The console on stored rows: an `App` built from `queue_blocking` holds
//! no case until the runtime loads the selected one (`wanted_case`,
//! `AppEvent::CaseLoaded`), and at 20,000 rows imported by the real binary
//! its Pending view is in `row_queue_order`.

use nhi_triage::policy::{assess, row_queue_order};
use nhi_triage::store::LocalStore;
use nhi_triage::tui::app::{App, AppEvent};
use nhi_triage::tui::theme::Theme;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use time::OffsetDateTime;

use super::{check_queue, open, varied_cases};
use crate::common::library::LibraryStore;
use crate::common::{TestStore, on_postgres, reviewer};
use crate::common_tui::{draw_frame, row_text};

// The same generator as `store_scale`.
use crate::store_scale::generate;

fn console_on(store: &LocalStore, now: OffsetDateTime) -> App {
    let queue = store.queue_blocking(now).expect("queue");
    let records = store.records_since_blocking(0).expect("records");
    App::new(
        queue,
        records,
        Theme::mono(),
        "rows test".into(),
        reviewer("alice"),
        now,
    )
}

fn press(app: &mut App, c: char) {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    app.update(AppEvent::Key(KeyEvent::new(KeyCode::Char(c), mods)));
}

fn screen(app: &mut App) -> String {
    let backend = draw_frame(app, 200, 50);
    let buf = backend.buffer();
    (0..buf.area.height)
        .map(|y| row_text(buf, y) + "\n")
        .collect()
}

/// Guards: the console built on rows holds no case until one is loaded
/// (`wanted_case` asks for the selected one), takes the stored tiers, and
/// draws the details once `CaseLoaded` brings them.
#[test]
fn the_console_on_rows_loads_the_selected_case_on_demand() {
    let dir = LibraryStore::new(&varied_cases(), "");
    let store = open(&dir);
    let now = OffsetDateTime::now_utc();
    let tiers = check_queue(&store.queue_blocking(now).unwrap(), &store, now);
    let mut app = console_on(&store, now);
    let queue = app.queue();
    assert_eq!(queue.len(), tiers.len());
    for i in 0..queue.len() {
        assert!(queue.case(i).is_none(), "case {i} held before any load");
        assert_eq!(
            queue.tiers[i],
            tiers[queue.row(i).id()],
            "{}",
            queue.row(i).id()
        );
    }
    let selected = app.selected_case().expect("a selection");
    let id = app.queue().row(selected).id().to_string();
    assert_eq!(app.wanted_case(), Some(id.as_str()));
    assert!(app.assessment().is_none(), "assessed without the case");
    let text = screen(&mut app);
    assert!(text.contains(&format!("loading {id}")), "{text}");

    let case = store.lookup_blocking(&id).unwrap().case.expect("the case");
    let title: String = case.title.chars().take(24).collect();
    assert!(
        !text.contains(&title),
        "the title shown before loading: {text}"
    );
    app.update(AppEvent::CaseLoaded(Box::new(case.clone())));
    // Held now: what is wanted next is a neighbour's (read ahead).
    assert_ne!(app.wanted_case(), Some(id.as_str()), "loaded, still wanted");
    assert!(app.queue().case(selected).is_some_and(|c| c.id == id));
    let a = app.assessment().expect("an assessment once loaded");
    assert_eq!(a.tier, tiers[&id]);
    let text = screen(&mut app);
    assert!(text.contains(&title), "{title:?} not drawn:\n{text}");
    assert!(!text.contains(&format!("loading {id}")), "{text}");

    // Moving on wants the next case first; coming back finds the loaded one.
    press(&mut app, 'j');
    let next = app
        .queue()
        .row(app.selected_case().unwrap())
        .id()
        .to_string();
    assert_ne!(next, id);
    assert_eq!(app.wanted_case(), Some(next.as_str()));
    press(&mut app, 'k');
    assert_ne!(
        app.wanted_case(),
        Some(id.as_str()),
        "the loaded case forgotten"
    );
    assert!(app.assessment().is_some());
}

/// Guards: at scale, rows imported by the real binary come back as one
/// row per case with the tiers `assess` gives, and the Pending view is in
/// `row_queue_order` of those tiers: `G` lands on its last row and `j`
/// steps through it in that order.
#[test]
fn twenty_thousand_imported_rows_are_ordered_in_the_console() {
    if on_postgres() {
        return; // the SQLite run covers the console at scale
    }
    const N: usize = 20_000;
    let start = std::time::Instant::now();
    let store = TestStore::with_cases(&[]);
    let file = store.dir.join("generated.jsonl");
    generate::write_jsonl(&file, N, 7);
    let generated = start.elapsed();
    let import = store.run(&["import", file.to_str().unwrap()]);
    assert_eq!(import.code, 0, "{import}");
    let imported = start.elapsed();

    let local = LocalStore::open(&store.dir).expect("open");
    let now = OffsetDateTime::now_utc();
    let mut app = console_on(&local, now);
    let opened = start.elapsed();
    assert_eq!(app.queue().len(), N);
    // Every tenth tier is the one `assess` gives on the case as stored
    // (the stored windows hold); the small tests check every one.
    for i in (0..N).step_by(10) {
        let id = app.queue().row(i).id().to_string();
        let found = local.lookup_blocking(&id).expect("lookup");
        let case = found.case.expect("the case");
        let tier = assess(&case, &found.status, &found.policy, now).tier;
        assert_eq!(app.queue().tiers[i], tier, "{id}");
        assert!(app.queue().case(i).is_none());
    }
    let checked = start.elapsed();

    let mut order: Vec<u32> = (0..N as u32).collect();
    let queue = app.queue();
    order.sort_by(|&a, &b| {
        row_queue_order(
            (queue.row(a as usize), queue.tiers[a as usize]),
            (queue.row(b as usize), queue.tiers[b as usize]),
        )
    });
    assert_eq!(app.list().unwrap().rows, order, "the Pending view's order");
    press(&mut app, 'G');
    assert_eq!(
        app.selected_case(),
        Some(*order.last().unwrap() as usize),
        "G"
    );
    let last = app
        .queue()
        .row(app.selected_case().unwrap())
        .id()
        .to_string();
    assert_eq!(app.wanted_case(), Some(last.as_str()));
    press(&mut app, 'g');
    for (k, &want) in order.iter().enumerate().take(50) {
        assert_eq!(
            app.selected_case(),
            Some(want as usize),
            "row {k} after j×{k}"
        );
        press(&mut app, 'j');
    }
    eprintln!(
        "{N} rows: generate {generated:?}, import {:?}, queue + console {:?}, check {:?}, all {:?}",
        imported - generated,
        opened - imported,
        checked - opened,
        start.elapsed()
    );
}
