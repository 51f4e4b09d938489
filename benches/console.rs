//! Console benchmarks against the DESIGN.md targets, in process: the real
//! app state, the real views and ratatui's crossterm backend writing into a
//! counting sink (the bytes a terminal would receive), at 200x50.
//!
//! - first frame on the demo store ≤ 50 ms (store open included);
//! - keystroke to frame at 100k cases: median ≤ 1 ms, p99 ≤ 5 ms;
//! - filter 100k cases ≤ 30 ms a keystroke;
//! - memory for 100k cases ≤ 2 × the case file;
//! - bytes per keystroke ≤ 1.5 × changed cells + 32; a no-op key writes 0;
//! - key to first byte ≤ 1 ms.
//!
//! `cargo bench --bench console`; `BENCH_CASES` changes the size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nhi_triage::model::{Action, Reviewer};
use nhi_triage::store::{LocalStore, StoreLayout};
use nhi_triage::tui::app::{App, AppEvent, Drawn, QueueModel, SortKey};
use nhi_triage::tui::backend::LeanBackend;
use nhi_triage::tui::theme::Theme;
use nhi_triage::tui::views;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use time::OffsetDateTime;

#[path = "support/generate.rs"]
mod generate;
mod support;
use support::{LIVE, env_usize, ms, verdict, write_cases};

const W: u16 = 200;
const H: u16 = 50;

/// Counts bytes and notes when the first byte of a frame arrives.
#[derive(Default)]
struct Sink {
    bytes: usize,
    first_byte: Option<Instant>,
    /// The frame's bytes, kept when `BENCH_DUMP` is set.
    dump: Option<Vec<u8>>,
}

#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Sink>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut s = self.0.borrow_mut();
        if s.first_byte.is_none() && !buf.is_empty() {
            s.first_byte = Some(Instant::now());
        }
        s.bytes += buf.len();
        if let Some(d) = s.dump.as_mut() {
            d.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Console {
    app: App,
    term: Terminal<LeanBackend<Shared>>,
    sink: Shared,
    last: Buffer,
    /// The store the runtime would read case details from (the queue
    /// holds rows only): after each key, the wanted details are read and
    /// drawn, as the console's runtime does, outside the key's timing.
    store: Option<LocalStore>,
    /// Each time details were read and drawn after a key: how long.
    details: Vec<Duration>,
}

/// One keystroke's cost.
struct Stroke {
    time: Duration,
    to_first_byte: Option<Duration>,
    bytes: usize,
    changed_cells: usize,
}

impl Console {
    fn new(app: App) -> Self {
        let sink = Shared::default();
        let term = Terminal::with_options(
            LeanBackend::with_size(sink.clone(), W, H),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, W, H)),
            },
        )
        .expect("terminal");
        Console {
            app,
            term,
            sink,
            last: Buffer::empty(Rect::new(0, 0, W, H)),
            store: None,
            details: Vec::new(),
        }
    }

    fn with_store(mut self, store: LocalStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Reads the details the app wants (the selected case, then its
    /// neighbours) and draws once, as the runtime does between keys.
    fn settle(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        let start = Instant::now();
        let mut changed = false;
        while let Some(id) = self.app.wanted_case().map(str::to_string) {
            let Some(case) = store.lookup_blocking(&id).expect("lookup").case else {
                break;
            };
            changed |= self
                .app
                .update(AppEvent::CaseLoaded(Box::new(case)))
                .changed;
        }
        if changed {
            self.draw();
            self.details.push(start.elapsed());
        }
    }

    fn draw(&mut self) {
        let app = &mut self.app;
        let mut drawn = Drawn::default();
        let frame = self
            .term
            .draw(|f| drawn = views::draw(f, app))
            .expect("draw");
        self.last = frame.buffer.clone();
        app.update(AppEvent::Drawn(drawn));
    }

    /// A key as the runtime handles it: update, and draw only if changed.
    fn key(&mut self, code: KeyCode, mods: KeyModifiers) -> Stroke {
        *self.sink.0.borrow_mut() = Sink {
            dump: std::env::var_os("BENCH_DUMP").map(|_| Vec::new()),
            ..Sink::default()
        };
        let before = self.last.clone();
        let start = Instant::now();
        let (changed, _effects) = self.app.on_key(KeyEvent::new(code, mods));
        if changed {
            self.draw();
        }
        let time = start.elapsed();
        let sink = self.sink.0.borrow();
        let changed_cells = before
            .content
            .iter()
            .zip(self.last.content.iter())
            .filter(|(a, b)| a != b)
            .count();
        if let Some(d) = &sink.dump {
            eprintln!(
                "{code:?}: {changed_cells} cells, {} bytes: {}",
                d.len(),
                String::from_utf8_lossy(d).escape_debug()
            );
        }
        let stroke = Stroke {
            time,
            to_first_byte: sink.first_byte.map(|t| t - start),
            bytes: sink.bytes,
            changed_cells,
        };
        drop(sink);
        self.settle();
        stroke
    }
}

/// A console on the store at `root`, as `nhi-triage console` opens it.
fn open_console(root: &std::path::Path) -> Console {
    let (app, store) = open_app(root);
    Console::new(app).with_store(store)
}

fn open_app(root: &std::path::Path) -> (App, LocalStore) {
    let store = LocalStore::open(root).expect("store");
    let snapshot = store
        .queue_blocking(OffsetDateTime::now_utc())
        .expect("snapshot");
    let records = store.records_since_blocking(0).expect("records");
    let app = App::new(
        snapshot,
        records,
        Theme::dark(),
        "local store bench".into(),
        Reviewer {
            name: "bench".into(),
            host: "bench-host".into(),
            via: "local".into(),
            os_account: None,
        },
        OffsetDateTime::now_utc(),
    );
    (app, store)
}

fn pct(mut v: Vec<Duration>, p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("# nhi-triage console benchmarks ({W}x{H})\n");
    first_frame_demo(dir.path());
    real_terminal(dir.path());
    huge_field(dir.path());
    large_queue(dir.path());
    store_rows(dir.path());
}

/// Issue 8 item 5: moving onto a case whose title is 5 MB on one line costs
/// about what moving onto a normal case does (only what can be visible is
/// wrapped and measured). Ratio of the two, same run.
fn huge_field(root: &std::path::Path) {
    let store_dir = root.join("huge");
    StoreLayout::new(&store_dir).init().expect("init");
    write_cases(&store_dir.join("cases"), 200);
    let mut case = support::demo_cases().remove(0);
    case.id = "HUGE-TITLE".into();
    case.title = "a very long title ".repeat(5 * 1024 * 1024 / 18);
    let line = serde_json::to_string(&case).expect("case json") + "\n";
    std::fs::write(store_dir.join("cases/huge.jsonl"), &line).expect("write");
    let mut console = open_console(&store_dir);
    console.draw();
    console.settle();
    // Each stroke is Tab (a redraw of every pane for the selected case).
    let strokes = |console: &mut Console| -> Vec<Duration> {
        (0..40)
            .map(|_| console.key(KeyCode::Tab, KeyModifiers::NONE).time)
            .collect()
    };
    let select = |console: &mut Console, id: &str| {
        console.key(KeyCode::Char('/'), KeyModifiers::NONE);
        for c in id.chars() {
            console.key(KeyCode::Char(c), KeyModifiers::NONE);
        }
        console.key(KeyCode::Enter, KeyModifiers::NONE);
    };
    select(&mut console, "BENCH-0000001");
    let normal = pct(strokes(&mut console), 50);
    console.key(KeyCode::Esc, KeyModifiers::NONE);
    console.key(KeyCode::Esc, KeyModifiers::NONE);
    select(&mut console, "HUGE-TITLE");
    let on_huge = console
        .app
        .selected_case()
        .map(|i| console.app.queue().row(i).id().to_string());
    let huge = pct(strokes(&mut console), 50);
    let ratio = huge.as_secs_f64() / normal.as_secs_f64().max(1e-9);
    println!("## A 5 MB title on one line (issue 8)\n");
    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!(
        "| redraw on a normal case / on the 5 MB-title case ({}) | median {} / {} = {:.2} × | ≤ 2 ×: {} |\n",
        on_huge.as_deref().unwrap_or("not selected!"),
        us(normal),
        us(huge),
        ratio,
        verdict(ratio <= 2.0)
    );
}

/// The real binary in a real pseudo-terminal on the demo store: process
/// start to first frame, key to first byte, and bytes written while idle.
fn real_terminal(root: &std::path::Path) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    let data_home = root.join("xdg-data");
    let spawn = || {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: H,
                cols: W,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_nhi-triage"));
        cmd.env("TERM", "xterm-256color");
        cmd.env("XDG_DATA_HOME", &data_home);
        cmd.env("XDG_STATE_HOME", root.join("xdg-state"));
        cmd.env("XDG_CONFIG_HOME", root.join("xdg-config"));
        cmd.env_remove("NO_COLOR");
        cmd.arg("--demo");
        let start = Instant::now();
        let child = pair.slave.spawn_command(cmd).expect("spawn");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let log: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::default();
        let text: Arc<Mutex<Vec<u8>>> = Arc::default();
        let (log2, text2) = (log.clone(), text.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log2.lock().expect("log").push((Instant::now(), n));
                text2.lock().expect("text").extend_from_slice(&buf[..n]);
            }
        });
        (pair.master, child, writer, start, log, text)
    };
    let wait_for = |text: &Arc<Mutex<Vec<u8>>>, needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if String::from_utf8_lossy(&text.lock().expect("text")).contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        false
    };

    // The first run seeds the demo store; measure the ones after.
    let mut first_frames = Vec::new();
    for run in 0..11 {
        let (_master, mut child, _w, start, log, text) = spawn();
        assert!(wait_for(&text, "evidence"), "no first frame");
        let first = log.lock().expect("log")[0].0;
        let frame_done = log
            .lock()
            .expect("log")
            .last()
            .map(|l| l.0)
            .unwrap_or(first);
        if run > 0 {
            first_frames.push(frame_done - start);
        }
        let _ = child.kill();
    }

    let (_master, mut child, mut writer, _start, log, text) = spawn();
    assert!(wait_for(&text, "evidence ✓"), "no verified frame");
    std::thread::sleep(Duration::from_millis(500));
    let mark = log.lock().expect("log").len();
    std::thread::sleep(Duration::from_secs(3));
    let idle_bytes: usize = log.lock().expect("log")[mark..].iter().map(|l| l.1).sum();
    let mut key_to_byte = Vec::new();
    for i in 0..40 {
        let key: &[u8] = if i % 2 == 0 { b"j" } else { b"k" };
        let before = log.lock().expect("log").len();
        let sent = Instant::now();
        writer.write_all(key).expect("key");
        writer.flush().expect("flush");
        let deadline = sent + Duration::from_secs(2);
        while Instant::now() < deadline && log.lock().expect("log").len() == before {
            std::thread::sleep(Duration::from_micros(50));
        }
        if let Some(&(t, _)) = log.lock().expect("log").get(before) {
            key_to_byte.push(t - sent);
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let _ = writer.write_all(b"Q");
    let _ = child.wait();

    let ff = pct(first_frames, 50);
    let kb = pct(key_to_byte.clone(), 50);
    println!("## The real binary in a pseudo-terminal (demo store)\n");
    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!(
        "| process start to first frame (median of 10) | {} | ≤ 50 ms: {} |",
        ms(ff),
        verdict(ff <= Duration::from_millis(50))
    );
    println!(
        "| key to first byte back, through the pty (median of {}, includes the pty round trip) | {} | ≤ 1 ms: {} |",
        key_to_byte.len(),
        us(kb),
        verdict(kb <= Duration::from_millis(1))
    );
    println!(
        "| bytes written in 3 s idle | {idle_bytes} | 0: {} |\n",
        verdict(idle_bytes == 0)
    );
}

fn first_frame_demo(root: &std::path::Path) {
    let store_dir = root.join("demo");
    StoreLayout::new(&store_dir).init().expect("init");
    let cases = nhi_triage::demo::rebased_cases(OffsetDateTime::now_utc()).expect("demo");
    std::fs::write(store_dir.join("cases/demo.jsonl"), cases).expect("write");
    let times: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            let mut console = open_console(&store_dir);
            console.draw();
            // The selected case's details follow the first frame.
            console.settle();
            start.elapsed()
        })
        .collect();
    let median = pct(times, 50);
    println!("## First frame, demo store (55 cases)\n");
    println!("| measure | median of 20 | target |");
    println!("|---|---|---|");
    println!(
        "| open store + build the queue + first frame + the selected case's details read and drawn | {} | ≤ 50 ms: {} |\n",
        ms(median),
        verdict(median <= Duration::from_millis(50))
    );
}

fn large_queue(root: &std::path::Path) {
    let n = env_usize("BENCH_CASES", 100_000);
    let store_dir = root.join("large");
    StoreLayout::new(&store_dir).init().expect("init");
    let file = write_cases(&store_dir.join("cases"), n);
    let file_bytes = std::fs::metadata(&file).expect("size").len() as f64;

    let heap_before = LIVE.load(Ordering::Relaxed);
    let start = Instant::now();
    let mut console = open_console(&store_dir);
    console.draw();
    let first = start.elapsed();
    console.settle();
    let heap = LIVE.load(Ordering::Relaxed).saturating_sub(heap_before) as f64;

    // Moving down the queue.
    let down: Vec<Stroke> = (0..1000)
        .map(|_| console.key(KeyCode::Char('j'), KeyModifiers::NONE))
        .collect();
    let pages: Vec<Stroke> = (0..200)
        .map(|_| console.key(KeyCode::PageDown, KeyModifiers::NONE))
        .collect();
    console.key(KeyCode::Char('g'), KeyModifiers::NONE);
    let noop = console.key(KeyCode::Char('k'), KeyModifiers::NONE);

    // Filtering as you type, then clearing.
    console.key(KeyCode::Char('/'), KeyModifiers::NONE);
    let filter: Vec<Stroke> = "platform"
        .chars()
        .map(|c| console.key(KeyCode::Char(c), KeyModifiers::NONE))
        .collect();
    let matched = console.app.counts()[0];
    let clear = console.key(KeyCode::Esc, KeyModifiers::NONE);

    // Opening a decision dialog and typing into it.
    console.key(KeyCode::Char('g'), KeyModifiers::NONE);
    console.key(KeyCode::Char('e'), KeyModifiers::NONE);
    let typing: Vec<Stroke> = "owner unreachable, routing to the platform team"
        .chars()
        .map(|c| console.key(KeyCode::Char(c), KeyModifiers::NONE))
        .collect();
    let dialog_open = console
        .app
        .dialog()
        .is_some_and(|d| d.action == Action::Escalate);
    console.key(KeyCode::Esc, KeyModifiers::NONE);

    let times = |s: &[Stroke]| s.iter().map(|k| k.time).collect::<Vec<_>>();
    let worst_ratio = |s: &[Stroke]| {
        s.iter()
            .map(|k| k.bytes as f64 / (1.5 * k.changed_cells as f64 + 32.0))
            .fold(0.0, f64::max)
    };
    let mean = |s: &[Stroke], f: fn(&Stroke) -> usize| {
        s.iter().map(f).sum::<usize>() as f64 / s.len() as f64
    };
    let first_byte: Vec<Duration> = down.iter().filter_map(|k| k.to_first_byte).collect();

    println!("## {n} cases ({:.1} MB case file)\n", file_bytes / 1e6);
    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!(
        "| open store + build queue + first frame | {} | |",
        ms(first)
    );
    println!(
        "| heap held (store + console) | {:.1} MB = {:.2} × file | ≤ 2 ×: {} |",
        heap / 1e6,
        heap / file_bytes,
        verdict(heap / file_bytes <= 2.0)
    );
    let (p50, p99) = (pct(times(&down), 50), pct(times(&down), 99));
    println!(
        "| `j` keystroke to frame (1000 keys) | median {}, p99 {} | ≤ 1 ms / ≤ 5 ms: {} |",
        us(p50),
        us(p99),
        verdict(p50 <= Duration::from_millis(1) && p99 <= Duration::from_millis(5))
    );
    let (pg50, pg99) = (pct(times(&pages), 50), pct(times(&pages), 99));
    println!(
        "| PgDn keystroke to frame (200 keys) | median {}, p99 {} | ≤ 1 ms / ≤ 5 ms: {} |",
        us(pg50),
        us(pg99),
        verdict(pg50 <= Duration::from_millis(1) && pg99 <= Duration::from_millis(5))
    );
    let fb = pct(first_byte, 50);
    if !console.details.is_empty() {
        let d = console.details.clone();
        println!(
            "| after a key, the wanted details read (selected case and neighbours ahead) and drawn | median {}, p99 {} ({} times) | |",
            us(pct(d.clone(), 50)),
            us(pct(d.clone(), 99)),
            d.len()
        );
    }
    println!(
        "| key to first byte written (`j`) | median {} | ≤ 1 ms: {} |",
        us(fb),
        verdict(fb <= Duration::from_millis(1))
    );
    let fmax = times(&filter).into_iter().max().unwrap_or_default();
    println!(
        "| filter keystroke (\"platform\", 8 keys; {matched} match) | max {}, clear {} | ≤ 30 ms: {} |",
        ms(fmax),
        ms(clear.time),
        verdict(fmax <= Duration::from_millis(30) && clear.time <= Duration::from_millis(30))
    );
    println!(
        "| typing in the dialog (justification) | median {} | {} |",
        us(pct(times(&typing), 50)),
        if dialog_open {
            ""
        } else {
            "(dialog did not open!)"
        }
    );
    println!(
        "| bytes per `j` | mean {:.0} B for {:.0} changed cells; worst bytes / (1.5 × cells + 32) = {:.2} | ≤ 1: {} |",
        mean(&down, |k| k.bytes),
        mean(&down, |k| k.changed_cells),
        worst_ratio(&down),
        verdict(worst_ratio(&down) <= 1.0)
    );
    println!(
        "| bytes per PgDn | mean {:.0} B for {:.0} changed cells; worst ratio {:.2} | ≤ 1: {} |",
        mean(&pages, |k| k.bytes),
        mean(&pages, |k| k.changed_cells),
        worst_ratio(&pages),
        verdict(worst_ratio(&pages) <= 1.0)
    );
    println!(
        "| bytes per typed character | mean {:.0} B for {:.0} changed cells; worst ratio {:.2} | ≤ 1: {} |",
        mean(&typing, |k| k.bytes),
        mean(&typing, |k| k.changed_cells),
        worst_ratio(&typing),
        verdict(worst_ratio(&typing) <= 1.0)
    );
    println!(
        "| a key that changes nothing (`k` at the top) | {} bytes | 0: {} |",
        noop.bytes,
        verdict(noop.bytes == 0)
    );
}

/// Issue 9: the console on a store of `BENCH_ROWS` (default 1,000,000)
/// generated realistic cases, imported by the real binary beforehand. The
/// console holds the queue's rows and tier windows (never the cases) and
/// reads the selected case's details from the store. Measured: store open +
/// rows + first frame, heap and resident memory, `G` (every row reachable),
/// `j` key to frame, the details of a newly selected case, and a filter
/// keystroke. `BENCH_ROWS=0` skips it.
fn store_rows(root: &std::path::Path) {
    let n = env_usize("BENCH_ROWS", 1_000_000);
    if n == 0 {
        return;
    }
    // `BENCH_ROWS_STORE=DIR` keeps the imported store there and reuses it
    // on the next run (the import of a million cases takes minutes).
    let kept = std::env::var_os("BENCH_ROWS_STORE").map(std::path::PathBuf::from);
    let dir = kept.clone().unwrap_or_else(|| root.join("rows"));
    let reuse = kept.is_some() && dir.join("store.db").exists();
    let mut bytes = 0;
    let mut import = Duration::ZERO;
    if !reuse {
        StoreLayout::new(&dir).init().expect("init");
        let file = root.join("rows.jsonl");
        bytes = generate::write_jsonl(&file, n, 42);
        let t = Instant::now();
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_nhi-triage"))
            .args(["--store", dir.to_str().expect("utf-8 path"), "import"])
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("import");
        assert!(status.success(), "import failed");
        import = t.elapsed();
    }
    // A first open migrates nothing and fills nothing: the rows are written
    // by the import. The console's open is what is measured.
    let heap_before = LIVE.load(Ordering::Relaxed);
    let rss_before = vm_rss();
    let start = Instant::now();
    let store = LocalStore::open(&dir).expect("store");
    let now = OffsetDateTime::now_utc();
    // As the console starts: the top of the queue first, when it is large.
    let head = store.queue_head_blocking(now, 500).expect("head");
    let head_rows = head
        .as_ref()
        .map_or(0, |h| h.rows.as_ref().map_or(0, |r| r.rows.len()));
    let snapshot = match head {
        Some(h) => h,
        None => store.queue_blocking(now).expect("queue"),
    };
    let records = store.records_since_blocking(0).expect("records");
    let app = App::new(
        snapshot,
        records,
        Theme::dark(),
        "rows bench".into(),
        Reviewer {
            name: "bench".into(),
            host: "bench-host".into(),
            via: "local".into(),
            os_account: None,
        },
        now,
    );
    let mut console = Console::new(app);
    console.draw();
    let first = start.elapsed();
    // The whole queue, read and built as the console's runtime does it in
    // the background, then taken in.
    let t = Instant::now();
    let whole = store.queue_blocking(now).expect("queue");
    let read = t.elapsed();
    let mut model = QueueModel::new(whole, now);
    model.warm(SortKey::Risk);
    let built = t.elapsed();
    console.app.update(AppEvent::Rebuilt {
        model: Box::new(model),
        records: Vec::new(),
    });
    console.draw();
    let reachable = start.elapsed();
    let details = |console: &mut Console| -> Option<Duration> {
        let id = console.app.wanted_case()?.to_string();
        let t = Instant::now();
        let case = store.lookup_blocking(&id).expect("lookup").case?;
        console.app.update(AppEvent::CaseLoaded(Box::new(case)));
        console.draw();
        Some(t.elapsed())
    };
    details(&mut console);
    let heap = LIVE.load(Ordering::Relaxed).saturating_sub(heap_before) as f64;
    let rss = vm_rss().saturating_sub(rss_before) as f64;
    let bottom = console.key(KeyCode::Char('G'), KeyModifiers::NONE);
    let top = console.key(KeyCode::Char('g'), KeyModifiers::NONE);
    let mut shown = Vec::new();
    let down: Vec<Stroke> = (0..300)
        .map(|_| {
            let k = console.key(KeyCode::Char('j'), KeyModifiers::NONE);
            shown.extend(details(&mut console));
            k
        })
        .collect();
    console.key(KeyCode::Char('/'), KeyModifiers::NONE);
    let filter: Vec<Stroke> = "ledger"
        .chars()
        .map(|c| console.key(KeyCode::Char(c), KeyModifiers::NONE))
        .collect();
    let matched = console.app.counts()[0];
    let clear = console.key(KeyCode::Esc, KeyModifiers::NONE);
    let times = |s: &[Stroke]| s.iter().map(|k| k.time).collect::<Vec<_>>();
    println!(
        "## The console on the store: {n} generated cases ({:.0} bytes each), issue 9\n",
        bytes as f64 / n as f64
    );
    println!(
        "Imported by the real binary in {} beforehand.\n",
        ms(import)
    );
    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!(
        "| first frame: open store + top {head_rows} rows + queue + draw | {} | ≤ 250 ms: {} |",
        ms(first),
        verdict(first <= Duration::from_millis(250))
    );
    println!(
        "| whole queue: rows and tiers read / model built (background) | {} / {} | |",
        ms(read),
        ms(built)
    );
    println!(
        "| heap held (store + console) | {:.1} MB ({:.0} bytes a case); resident +{:.1} MB | ≤ 400 MB: {} |",
        heap / 1e6,
        heap / n as f64,
        rss / 1e6,
        verdict(heap.max(rss) <= 400e6)
    );
    println!(
        "| every row reachable: start to whole queue drawn; then `G` / `g` | {}; {} / {} | ≤ 2 s: {} |",
        ms(reachable),
        ms(bottom.time),
        ms(top.time),
        verdict(reachable + bottom.time <= Duration::from_secs(2))
    );
    let (p50, p99) = (pct(times(&down), 50), pct(times(&down), 99));
    println!(
        "| `j` keystroke to frame (300 keys) | median {}, p99 {} | p99 ≤ 5 ms: {} |",
        us(p50),
        us(p99),
        verdict(p99 <= Duration::from_millis(5))
    );
    let (d50, d99) = (pct(shown.clone(), 50), pct(shown, 99));
    println!(
        "| selected case's details read and drawn | median {}, p99 {} | |",
        us(d50),
        us(d99)
    );
    let fmax = times(&filter).into_iter().max().unwrap_or_default();
    println!(
        "| filter keystroke (\"ledger\", 6 keys; {matched} match) | max {}, clear {} | ≤ 100 ms: {} |",
        ms(fmax),
        ms(clear.time),
        verdict(fmax.max(clear.time) <= Duration::from_millis(100))
    );
}

/// This process's resident memory in bytes (VmRSS), 0 when unknown.
fn vm_rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
