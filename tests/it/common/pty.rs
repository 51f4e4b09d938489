//! The real console in a pseudo-terminal: its output fed into a terminal
//! emulator (`vt100`) and kept as raw bytes, keys sent as a person would
//! type them. Every wait has a deadline, so a hang fails instead of blocking
//! CI, and the child is killed when the console is dropped (pass or panic).

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use super::{Sandbox, TestStore};

/// The longest any single wait may take.
pub const WAIT: Duration = Duration::from_secs(10);
/// Who [`Console::start`] decides as.
pub const REVIEWER: &str = "alice";

/// What ratatui writes last in every frame drawn without a cursor.
pub const FRAME_END: &[u8] = b"\x1b[?25l";
pub const ALT_ENTER: &[u8] = b"\x1b[?1049h";
pub const ALT_LEAVE: &[u8] = b"\x1b[?1049l";
pub const CURSOR_SHOW: &[u8] = b"\x1b[?25h";

/// What the child has written so far: parsed into a screen, and raw.
struct Output {
    parser: vt100::Parser,
    raw: Vec<u8>,
    /// (arrival time, raw length after the chunk), one per read.
    chunks: Vec<(Instant, usize)>,
    /// The child closed its side (it exited).
    eof: bool,
}

/// The console running in a pseudo-terminal.
pub struct Console {
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    pub child: Box<dyn Child + Send + Sync>,
    out: Arc<Mutex<Output>>,
    started: Instant,
}

fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("non-zero terminal size")
}

fn pty_size(rows: u16, cols: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// The prompt of [`Console::shell`].
pub const SHELL_PROMPT: &str = "shell> ";

/// A process's state letter from `/proc/PID/stat` (`S` sleeping, `R`
/// running, `T` stopped, `Z` zombie), or `None` when it is gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// The CPU time a process has used (user + system), in clock ticks, from
/// `/proc/PID/stat` (fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat has a command") + 1..]
        .split_whitespace()
        .collect();
    // After the command: state is field 3, utime 14 and stime 15.
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a tick count") };
    field(14) + field(15)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
pub fn ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("run getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("getconf CLK_TCK prints a number")
}

/// The processes whose parent is `pid` (from /proc).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// `kill -SIGNAL PID`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// The screen as a grid of cells (a wide character's second cell is "").
pub fn cells_of(screen: &vt100::Screen) -> Vec<Vec<String>> {
    let (rows, cols) = screen.size();
    (0..rows.get())
        .map(|r| {
            (0..cols.get())
                .map(|c| match screen.cell(r, c) {
                    Some(cell) if cell.is_wide_continuation() => String::new(),
                    Some(cell) if cell.has_contents() => cell.contents().to_string(),
                    _ => " ".to_string(),
                })
                .collect()
        })
        .collect()
}

/// The text inside the bordered pane whose title starts with `title` (as
/// drawn: " Ownership ", " ▶ Readiness "), one line per row.
pub fn pane_in(cells: &[Vec<String>], title: &str) -> Option<Vec<String>> {
    let want: Vec<String> = title.chars().map(|c| c.to_string()).collect();
    for (r, row) in cells.iter().enumerate() {
        for c in 1..row.len() {
            if row[c - 1] != "┌" || row.len() < c + want.len() || row[c..c + want.len()] != want {
                continue;
            }
            let left = c - 1;
            let right = (c..row.len()).find(|&x| row[x] == "┐")?;
            let mut lines = Vec::new();
            for below in &cells[r + 1..] {
                if below[left] == "└" {
                    break;
                }
                lines.push(below[left + 1..right].concat().trim_end().to_string());
            }
            return Some(lines);
        }
    }
    None
}

impl Console {
    /// `nhi-triage ARGS` in a `cols`x`rows` terminal, with nothing inherited
    /// but PATH (no NO_COLOR, no store, no real home): home and XDG
    /// directories in the sandbox, plus `env`.
    pub fn spawn(
        sandbox: &Sandbox,
        args: &[&str],
        env: &[(&str, OsString)],
        cols: u16,
        rows: u16,
    ) -> Console {
        Console::spawn_os(sandbox, args, env, cols, rows)
    }

    fn spawn_os(
        sandbox: &Sandbox,
        args: &[impl AsRef<OsStr>],
        env: &[(&str, OsString)],
        cols: u16,
        rows: u16,
    ) -> Console {
        Console::spawn_program(
            sandbox,
            OsStr::new(env!("CARGO_BIN_EXE_nhi-triage")),
            args,
            env,
            cols,
            rows,
        )
    }

    /// An interactive POSIX shell (`sh -i`, with job control) in the
    /// sandbox's environment, its prompt [`SHELL_PROMPT`]: for what a
    /// reviewer does at a shell (Ctrl-Z, `fg`). Run the console in it with
    /// [`Console::run_in_shell`].
    pub fn shell(sandbox: &Sandbox, cols: u16, rows: u16) -> Console {
        let env = [
            ("PS1", OsString::from(SHELL_PROMPT)),
            ("ENV", OsString::new()),
        ];
        let c = Console::spawn_program(sandbox, OsStr::new("sh"), &["-i"], &env, cols, rows);
        c.wait_for(SHELL_PROMPT.trim_end(), WAIT);
        c
    }

    /// Types `nhi-triage --store DIR --reviewer alice` at the shell and
    /// waits for the console's first full frame; returns the console's pid.
    pub fn run_in_shell(&mut self, store: &TestStore) -> u32 {
        let line = format!(
            "'{}' --store '{}' --reviewer {REVIEWER}\r",
            env!("CARGO_BIN_EXE_nhi-triage"),
            store.dir.display()
        );
        self.type_text(&line);
        self.wait_for("evidence ✓", WAIT);
        let shell = self.pid();
        let deadline = Instant::now() + WAIT;
        loop {
            if let [pid] = children_of(shell)[..] {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no console process under the shell"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `program ARGS` in a `cols`x`rows` terminal, environment as for
    /// [`Console::spawn`].
    fn spawn_program(
        sandbox: &Sandbox,
        program: &OsStr,
        args: &[impl AsRef<OsStr>],
        env: &[(&str, OsString)],
        cols: u16,
        rows: u16,
    ) -> Console {
        let pair = native_pty_system()
            .openpty(pty_size(rows, cols))
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(program);
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        cmd.env("USER", "tester");
        cmd.env("LOGNAME", "tester");
        cmd.env("HOME", sandbox.home());
        cmd.env("XDG_DATA_HOME", sandbox.data_home());
        cmd.env("XDG_CONFIG_HOME", sandbox.config_home());
        cmd.env("XDG_STATE_HOME", sandbox.state_home());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.cwd(sandbox.path());
        cmd.args(args);
        let child = pair.slave.spawn_command(cmd).expect("spawn the console");
        // Only the child holds the slave side now: its exit ends our reads.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let out = Arc::new(Mutex::new(Output {
            parser: vt100::Parser::new(nz(rows), nz(cols), 0),
            raw: Vec::new(),
            chunks: Vec::new(),
            eof: false,
        }));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break, // EIO once the child is gone
                    Ok(n) => {
                        let mut o = sink.lock().unwrap();
                        o.parser.process(&buf[..n]);
                        o.raw.extend_from_slice(&buf[..n]);
                        let len = o.raw.len();
                        o.chunks.push((Instant::now(), len));
                    }
                }
            }
            sink.lock().unwrap().eof = true;
        });
        Console {
            master: pair.master,
            writer,
            child,
            out,
            started: Instant::now(),
        }
    }

    /// `nhi-triage --store DIR ARGS` on `store`, in its sandbox.
    pub fn open(store: &TestStore, args: &[&str], cols: u16, rows: u16) -> Console {
        let mut all: Vec<OsString> = vec!["--store".into(), store.dir.clone().into()];
        all.extend(args.iter().map(OsString::from));
        Console::spawn_os(&store.sandbox, &all, &[], cols, rows)
    }

    /// The console on `store` as [`REVIEWER`], once its first full frame is
    /// up (the evidence check finished, so nothing more is pending).
    pub fn start(store: &TestStore, cols: u16, rows: u16) -> Console {
        let c = Console::open(store, &["--reviewer", REVIEWER], cols, rows);
        c.wait_for("evidence ✓", WAIT);
        c
    }

    /// As [`Console::start`], with the console run by a wrapper command
    /// (`wrapper[0] wrapper[1..] nhi-triage --store DIR --reviewer alice`),
    /// e.g. `unshare` for a console in its own pid namespace.
    pub fn start_under(store: &TestStore, wrapper: &[&str], cols: u16, rows: u16) -> Console {
        let (program, first) = wrapper.split_first().expect("a wrapper command");
        let mut all: Vec<OsString> = first.iter().map(OsString::from).collect();
        all.push(env!("CARGO_BIN_EXE_nhi-triage").into());
        all.extend(["--store".into(), store.dir.clone().into_os_string()]);
        all.extend(["--reviewer", REVIEWER].map(OsString::from));
        let c = Console::spawn_program(&store.sandbox, OsStr::new(program), &all, &[], cols, rows);
        c.wait_for("evidence ✓", WAIT);
        c
    }

    /// Whether the last frame is complete: ratatui ends every frame by
    /// hiding the cursor, and a frame arrives in many small writes, so a
    /// screen read between two of them is a torn frame. A long enough pause
    /// (a frame that shows the cursor) or the end of output also counts.
    fn settled(o: &Output) -> bool {
        o.eof
            || o.raw.ends_with(FRAME_END)
            || o.chunks
                .last()
                .is_none_or(|c| c.0.elapsed() >= Duration::from_millis(100))
    }

    /// Waits (bounded) until the last frame is complete.
    pub fn settle(&self) {
        let deadline = Instant::now() + WAIT;
        while !Console::settled(&self.out.lock().unwrap()) {
            assert!(Instant::now() < deadline, "output never settled");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The screen's text as it is now (a frame may be half drawn).
    pub fn text(&self) -> String {
        self.out.lock().unwrap().parser.screen().contents()
    }

    /// The screen's text, once the last frame is complete.
    pub fn screen_text(&self) -> String {
        self.settle();
        self.text()
    }

    /// The screen as a grid of cells, once the last frame is complete.
    pub fn cells(&self) -> Vec<Vec<String>> {
        self.settle();
        cells_of(self.out.lock().unwrap().parser.screen())
    }

    /// `f` of the emulated screen as it is now.
    pub fn with_screen<R>(&self, f: impl FnOnce(&vt100::Screen) -> R) -> R {
        f(self.out.lock().unwrap().parser.screen())
    }

    /// Where the raw output stands now.
    pub fn mark(&self) -> usize {
        self.out.lock().unwrap().raw.len()
    }

    pub fn bytes_since(&self, mark: usize) -> Vec<u8> {
        self.out.lock().unwrap().raw[mark..].to_vec()
    }

    pub fn raw(&self) -> Vec<u8> {
        self.out.lock().unwrap().raw.clone()
    }

    /// When the last byte arrived.
    pub fn last_output(&self) -> Option<Instant> {
        self.out.lock().unwrap().chunks.last().map(|c| c.0)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    pub fn type_text(&mut self, text: &str) {
        self.send(text.as_bytes());
    }

    /// Polls until `pred(screen text, screen)` holds on a complete frame;
    /// returns when it was first seen to hold (for latencies). Panics with
    /// the screen at `deadline` or if the console exits first.
    fn wait_on(
        &self,
        what: &str,
        deadline: Instant,
        pred: impl Fn(&str, &vt100::Screen) -> bool,
    ) -> Instant {
        let mut first_seen = None;
        loop {
            let (text, ok, eof, settled) = {
                let o = self.out.lock().unwrap();
                let text = o.parser.screen().contents();
                let ok = pred(&text, o.parser.screen());
                (text, ok, o.eof, Console::settled(&o))
            };
            if ok {
                let seen = *first_seen.get_or_insert_with(Instant::now);
                if settled {
                    return seen;
                }
            } else {
                first_seen = None;
            }
            if eof || Instant::now() >= deadline {
                panic!(
                    "{} waiting for {what} ({:.1}s after start)\n--- screen ---\n{text}\n--------------",
                    if eof { "console exited" } else { "timed out" },
                    self.started.elapsed().as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// [`Console::wait_on`] the screen text, for at most `timeout`.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Instant {
        self.wait_on(what, Instant::now() + timeout, |text, _| pred(text))
    }

    /// [`Console::wait_on`] the screen text and cells, until `deadline`.
    pub fn wait_until_at(
        &self,
        what: &str,
        deadline: Instant,
        pred: impl Fn(&str, &[Vec<String>]) -> bool,
    ) -> Instant {
        self.wait_on(what, deadline, |text, screen| pred(text, &cells_of(screen)))
    }

    pub fn wait_for(&self, text: &str, timeout: Duration) -> Instant {
        self.wait_until(&format!("{text:?}"), timeout, |s| s.contains(text))
    }

    pub fn wait_gone(&self, text: &str, timeout: Duration) -> Instant {
        self.wait_until(&format!("{text:?} to go"), timeout, |s| !s.contains(text))
    }

    /// Waits until no output has arrived for `quiet`.
    pub fn wait_quiet(&self, quiet: Duration) {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = self.last_output().unwrap_or(self.started);
            if last.elapsed() >= quiet {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the console never went quiet for {quiet:?}\n{}",
                self.screen_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The text inside the bordered pane whose title starts with `title`.
    pub fn pane(&self, title: &str) -> Option<Vec<String>> {
        pane_in(&self.cells(), title)
    }

    /// The first line inside a pane, trimmed.
    pub fn pane_head(&self, title: &str) -> String {
        self.pane(title)
            .and_then(|l| l.into_iter().next())
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Waits until the Ownership pane shows case `id` (it is selected).
    pub fn wait_selected(&self, id: &str) -> Instant {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.pane_head(" Ownership ") == id {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "{id} never selected\n{}",
                self.screen_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.out
            .lock()
            .unwrap()
            .parser
            .screen_mut()
            .set_size(nz(rows), nz(cols));
        self.master.resize(pty_size(rows, cols)).expect("resize");
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("child pid")
    }

    /// Waits for the child to exit and for all of its output to be read.
    pub fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        self.wait_exit_within(WAIT)
    }

    /// [`Console::wait_exit`], for at most `limit`.
    pub fn wait_exit_within(&mut self, limit: Duration) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "console did not exit\n{}",
                self.screen_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        while !self.out.lock().unwrap().eof {
            assert!(Instant::now() < deadline, "pty output never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        status
    }

    /// Quits with `Q` and waits (at most `limit`) for a successful exit.
    pub fn quit(mut self, limit: Duration) {
        self.send(b"Q");
        let status = self.wait_exit_within(limit);
        assert!(status.success(), "the console exited with {status:?}");
    }

    /// Whether the terminal's line discipline is back in cooked mode
    /// (canonical input, echo): raw mode was undone.
    pub fn termios_cooked(&self) -> Option<bool> {
        let tty = self.master.tty_name()?;
        let out = std::process::Command::new("stty")
            .arg("-a")
            .arg("-F")
            .arg(&tty)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let words: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split(|c: char| c.is_whitespace() || c == ';')
            .map(str::to_string)
            .collect();
        Some(words.iter().any(|w| w == "icanon") && words.iter().any(|w| w == "echo"))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
