//! Wide and ambiguous characters cannot corrupt the screen (issue 8, item
//! 4): identity names with emoji sequences (`♻️`, `👍🏽`, joiners), a soft
//! hyphen, combining marks, a flag and East-Asian-ambiguous letters, shown
//! by the real binary in a pseudo-terminal (`vt100`) and in tmux, and frames
//! drawn through the lean backend into `vt100`. ASCII text and borders must
//! stay exactly where the layout put them.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use nhi_triage::tui::backend::LeanBackend;
use ratatui::Terminal;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use serde_json::json;
use unicode_width::UnicodeWidthChar;

use common::pty::{Console, REVIEWER, WAIT, cells_of};
use common::{CaseBuilder, TestStore};

/// Identity names whose width terminals disagree on (tmux 3.3: `♻️` one
/// column, `👍🏽` four, where `unicode-width` says two), and plain ones.
const NAMES: [&str; 9] = [
    "♻\u{fe0f}-recycler",
    "👍\u{1f3fd}-thumbs",
    "👨\u{200d}👩\u{200d}👧-family",
    "soft\u{ad}hyphen-name",
    "αβγ-ambiguous",
    "e\u{301}-combining",
    "🇩🇪-flag",
    "日本-wide",
    "tm-ascii",
];

/// Characters that must never reach the terminal: variation selectors,
/// skin tones, joiners, the soft hyphen.
fn never_shown(c: char) -> bool {
    matches!(
        c,
        '\u{fe0e}' | '\u{fe0f}' | '\u{200d}' | '\u{ad}' | '\u{1f3fb}'..='\u{1f3ff}'
    )
}

fn width_store() -> TestStore {
    let cases: Vec<_> = NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            CaseBuilder::low(&format!("W-{i}"))
                .set("/identity/name", json!(name))
                .set("/owner/team", json!("ops"))
                .build()
        })
        .collect();
    TestStore::with_cases(&cases)
}

/// Every bordered box on the screen is intact: from each `┌`, its `┐` on
/// the same row, then every row down to its `└` has a vertical at both
/// columns and the bottom ends in `┘`. Every row holding `tm-ascii` holds
/// it whole, and no character of [`never_shown`] is anywhere.
fn assert_screen_intact(cells: &[Vec<String>], when: &str) {
    let screen: Vec<String> = cells.iter().map(|r| r.concat()).collect();
    let dump = screen.join("\n");
    let left = ["│", "├", "└"];
    let right = ["│", "┤", "┘"];
    let mut boxes = 0;
    for (r, row) in cells.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if cell != "┌" {
                continue;
            }
            let Some(c2) = (c + 1..row.len()).find(|&x| row[x] == "┐") else {
                panic!("{when}: a box at row {r} column {c} has no top-right corner\n{dump}");
            };
            boxes += 1;
            let mut bottom = None;
            for (r2, below) in cells.iter().enumerate().skip(r + 1) {
                assert!(
                    left.contains(&below[c].as_str()) && right.contains(&below[c2].as_str()),
                    "{when}: the box from row {r} columns {c}-{c2} is broken at row {r2}: \
                     {:?} … {:?}\n{dump}",
                    below[c],
                    below[c2]
                );
                if below[c] == "└" {
                    assert_eq!(below[c2], "┘", "{when}: row {r2}\n{dump}");
                    bottom = Some(r2);
                    break;
                }
            }
            assert!(
                bottom.is_some(),
                "{when}: the box from row {r} never closes\n{dump}"
            );
        }
    }
    assert!(boxes > 0, "{when}: no box on the screen\n{dump}");
    for line in &screen {
        // (The filter line shows what was typed: "/ascii".)
        if line.contains("tm-") || (line.contains("ascii") && !line.contains("/ascii")) {
            assert!(
                line.contains("tm-ascii"),
                "{when}: altered text: {line:?}\n{dump}"
            );
        }
    }
    assert!(
        !dump.chars().any(never_shown),
        "{when}: shown raw: {dump:?}"
    );
}

/// How many of the names other than `tm-ascii` show (by their ASCII part).
fn others_shown(screen: &str) -> usize {
    let parts = [
        "-recycler",
        "-thumbs",
        "-family",
        "hyphen-name",
        "-ambiguous",
        "-combining",
        "-flag",
        "-wide",
    ];
    parts.iter().filter(|p| screen.contains(*p)).count()
}

/// The `/ascii` filter is applied: only `tm-ascii` is listed.
fn filtered(screen: &str) -> bool {
    screen.contains("/ascii") && screen.contains("tm-ascii") && others_shown(screen) == 0
}

/// No filter: the queue is full again (at 80x24 it shows six rows).
fn unfiltered(screen: &str) -> bool {
    !screen.contains("/ascii") && others_shown(screen) >= 5
}

/// The column where `needle` starts in a row of cells.
fn column_of(row: &[String], needle: &str) -> Option<usize> {
    let n: Vec<String> = needle.chars().map(String::from).collect();
    (0..row.len().saturating_sub(n.len() - 1)).find(|&c| row[c..c + n.len()] == n[..])
}

/// The queue's ASCII columns line up with their headings on every row: the
/// owner (`ops`) under OWNER, `tm-ascii` under IDENTITY.
fn assert_columns_aligned(cells: &[Vec<String>], when: &str) {
    let dump = || {
        cells
            .iter()
            .map(|r| r.concat())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let Some((header, owner_col)) = cells
        .iter()
        .enumerate()
        .find_map(|(r, row)| Some((r, column_of(row, "OWNER")?)))
    else {
        panic!("{when}: no OWNER heading\n{}", dump());
    };
    let identity_col = column_of(&cells[header], "IDENTITY").expect("an IDENTITY heading");
    let mut rows = 0;
    for row in &cells[header + 1..] {
        if !row.concat().contains("W-") {
            break;
        }
        rows += 1;
        assert_eq!(
            column_of(row, "ops"),
            Some(owner_col),
            "{when}: the owner moved in {:?}\n{}",
            row.concat(),
            dump()
        );
        if let Some(c) = column_of(row, "tm-ascii") {
            assert_eq!(c, identity_col, "{when}: tm-ascii moved\n{}", dump());
        }
    }
    assert!(rows > 0, "{when}: no case rows\n{}", dump());
}

#[test]
fn wide_and_ambiguous_names_leave_text_and_borders_in_place() {
    let store = width_store();
    let mut c = Console::start(&store, 80, 24);
    let check = |c: &Console, when: &str| {
        let cells = c.cells();
        assert_screen_intact(&cells, when);
        assert_columns_aligned(&cells, when);
    };
    check(&c, "first frame");
    // Move through every row: the detail panes redraw with each name.
    for _ in 0..NAMES.len() {
        c.send(b"j");
        std::thread::sleep(Duration::from_millis(30));
    }
    c.wait_quiet(Duration::from_millis(150));
    check(&c, "after moving down");
    // Filter down to the ASCII name: its row is drawn over the others.
    c.type_text("/ascii");
    c.wait_until("the filter to leave one case", WAIT, filtered);
    c.wait_quiet(Duration::from_millis(150));
    check(&c, "filtered");
    // And back: the other names are drawn over it. (Esc is sent alone and
    // seen handled before the next key: ESC g would be Alt-g.)
    c.send(b"\x1b");
    c.wait_until("the filter to be cleared", WAIT, unfiltered);
    c.send(b"g");
    c.wait_for("recycler", WAIT);
    c.wait_quiet(Duration::from_millis(150));
    check(&c, "filter cleared");
    c.resize(200, 50);
    c.wait_quiet(Duration::from_millis(200));
    check(&c, "200x50");
}

/// A private tmux server, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// `None` (with a note) when tmux is not installed, unless
    /// NHI_TRIAGE_REQUIRE_TMUX=1 makes that a failure.
    fn start(command: &str, cols: u16, rows: u16) -> Option<Tmux> {
        let installed = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            assert!(
                std::env::var_os("NHI_TRIAGE_REQUIRE_TMUX").is_none_or(|v| v != "1"),
                "tmux is not installed and NHI_TRIAGE_REQUIRE_TMUX=1"
            );
            eprintln!("SKIPPED: tmux is not installed (NHI_TRIAGE_REQUIRE_TMUX=1 makes this fail)");
            return None;
        }
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmux = Tmux {
            socket: format!("nhi-triage-test-{}-{n}", std::process::id()),
        };
        let (x, y) = (cols.to_string(), rows.to_string());
        let out = tmux.run(&["new-session", "-d", "-x", &x, "-y", &y, command]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        Some(tmux)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success(), "tmux send-keys {keys:?}");
    }

    /// The pane as a grid of cells, by tmux's own widths: a character of
    /// width 2 takes its cell and a "" after it; one of width 0 joins the
    /// cell before.
    fn cells(&self) -> Vec<Vec<String>> {
        let out = self.run(&["capture-pane", "-p"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| {
                let mut row: Vec<String> = Vec::new();
                for ch in line.chars() {
                    match ch.width().unwrap_or(0) {
                        0 => match row.iter_mut().rev().find(|c| !c.is_empty()) {
                            Some(last) => last.push(ch),
                            None => row.push(ch.to_string()),
                        },
                        w => {
                            row.push(ch.to_string());
                            row.extend((1..w).map(|_| String::new()));
                        }
                    }
                }
                row.resize(80, " ".to_string());
                row
            })
            .collect()
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> Vec<Vec<String>> {
        let deadline = Instant::now() + WAIT;
        loop {
            let cells = self.cells();
            let text = cells
                .iter()
                .map(|r| r.concat())
                .collect::<Vec<_>>()
                .join("\n");
            if ok(&text) {
                // Let the frame finish.
                std::thread::sleep(Duration::from_millis(200));
                return self.cells();
            }
            assert!(
                Instant::now() < deadline,
                "tmux: timed out waiting for {what}\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn wide_and_ambiguous_names_leave_text_and_borders_in_place_in_tmux() {
    let store = width_store();
    let sandbox = &store.sandbox;
    let env = [
        ("HOME", sandbox.home()),
        ("XDG_DATA_HOME", sandbox.data_home()),
        ("XDG_CONFIG_HOME", sandbox.config_home()),
        ("XDG_STATE_HOME", sandbox.state_home()),
    ];
    let mut command = String::from("env -u NHI_TRIAGE_STORE -u NO_COLOR LANG=C.UTF-8");
    for (k, v) in env {
        command += &format!(" {k}={}", sh_quote(&v.to_string_lossy()));
    }
    command += &format!(
        " {} --store {} --reviewer {REVIEWER}",
        sh_quote(env!("CARGO_BIN_EXE_nhi-triage")),
        sh_quote(&store.dir.to_string_lossy())
    );
    let Some(tmux) = Tmux::start(&command, 80, 24) else {
        return;
    };
    let check = |cells: &[Vec<String>], when: &str| {
        let when = format!("tmux, {when}");
        assert_screen_intact(cells, &when);
        assert_columns_aligned(cells, &when);
    };
    check(
        &tmux.wait_for("the first frame", |t| t.contains("evidence ✓")),
        "first frame",
    );
    for _ in 0..NAMES.len() {
        tmux.keys(&["j"]);
    }
    check(
        &tmux.wait_for("the last row selected", |t| t.contains("tm-ascii")),
        "after moving down",
    );
    tmux.keys(&["/", "ascii"]);
    check(&tmux.wait_for("the filter", filtered), "filtered");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", unfiltered);
    tmux.keys(&["g"]);
    check(
        &tmux.wait_for("the first row", |t| t.contains("recycler")),
        "filter cleared",
    );
}

/// Frames drawn through the backend into `vt100`: after every frame, each
/// cell ratatui laid out with a symbol of certain width (ASCII, box
/// drawing) is exactly there on the emulated screen, whatever came before
/// it on its row.
#[test]
fn the_backend_keeps_every_plain_cell_in_place_after_disputed_widths() {
    let (w, h) = (60u16, 12u16);
    let mut term = Terminal::new(LeanBackend::with_size(Vec::new(), w, h)).expect("terminal");
    let nz = |n: u16| std::num::NonZeroU16::new(n).expect("non-zero size");
    let mut parser = vt100::Parser::new(nz(h), nz(w), 0);
    let mut fed = 0;
    let frames: [&[&str]; 4] = [
        &NAMES,
        &["tm-ascii", "plain", "x"],
        &[NAMES[1], NAMES[0], NAMES[3], NAMES[2], "tm-ascii"],
        &[
            "a\u{ad}b\u{ad}c",
            "👍\u{1f3fd}👍\u{1f3fd}👍\u{1f3fd}|",
            "♻\u{fe0f}♻\u{fe0f}|",
            "|",
        ],
    ];
    for (n, names) in frames.iter().enumerate() {
        let buffer: Buffer = term
            .draw(|f| {
                let [left, right] =
                    Layout::horizontal([Constraint::Length(30), Constraint::Fill(1)])
                        .areas(f.area());
                let lines: Vec<Line> = names
                    .iter()
                    .map(|s| Line::from(format!("{s} end")))
                    .collect();
                f.render_widget(
                    Paragraph::new(lines.clone()).block(Block::default().borders(Borders::ALL)),
                    left,
                );
                let shifted: Vec<Line> = lines
                    .into_iter()
                    .map(|l| Line::from(format!("> {l}")))
                    .collect();
                f.render_widget(
                    Paragraph::new(shifted).block(Block::default().borders(Borders::ALL)),
                    right,
                );
            })
            .expect("draw")
            .buffer
            .clone();
        let out = term.backend().writer();
        parser.process(&out[fed..]);
        fed = out.len();
        let cells = cells_of(parser.screen());
        let mut covered_until = 0;
        for y in 0..h {
            for x in 0..w {
                let symbol = buffer[(x, y)].symbol();
                let plain = symbol.chars().all(|c| c.is_ascii_graphic() || c == ' ')
                    || symbol
                        .chars()
                        .all(|c| ('\u{2500}'..='\u{257f}').contains(&c));
                if x == 0 {
                    covered_until = 0;
                }
                if plain && x >= covered_until {
                    assert_eq!(
                        cells[y as usize][x as usize],
                        symbol,
                        "frame {n}: cell ({x}, {y})\n{}",
                        parser.screen().contents()
                    );
                }
                let width = unicode_width::UnicodeWidthStr::width(symbol).max(1) as u16;
                if width > 1 {
                    covered_until = x + width;
                }
            }
        }
        assert!(
            !parser.screen().contents().chars().any(never_shown),
            "frame {n}: {:?}",
            parser.screen().contents()
        );
    }
}
