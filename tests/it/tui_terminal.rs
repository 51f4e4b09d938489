//! The console's terminal runtime, end to end: the real binary in a real
//! pseudo-terminal, against a real server where it matters.
//!
//! - Idle means idle: no CPU and no output, for the console and for `serve`
//!   with remote consoles long-polling it (issue 8, item 1).
//! - Ctrl-Z and `kill -TSTP` give the terminal back to the shell, `fg`
//!   redraws everything; signals end the console with the shell's status
//!   and the terminal restored; `TERM=dumb` is refused (item 3).
//!
//! Characters of disputed width are in `tui_width`.

use crate::common;

use std::ffi::OsString;
use std::time::{Duration, Instant};

use common::pty::{
    ALT_ENTER, ALT_LEAVE, CURSOR_SHOW, Console, REVIEWER, SHELL_PROMPT, WAIT, cpu_ticks,
    process_state, send_signal, ticks_per_second,
};
use common::server::{Server, add_token, tokens_path};
use common::{Sandbox, TestStore, high_case, low_case, medium_case};

/// Autowrap back on, and bracketed paste off: part of a restored terminal.
const AUTOWRAP_ON: &[u8] = b"\x1b[?7h";
const PASTE_OFF: &[u8] = b"\x1b[?2004l";
const CLEAR_SCREEN: &[u8] = b"\x1b[2J";

fn three_cases() -> TestStore {
    TestStore::with_cases(&[
        low_case("TT-LOW"),
        medium_case("TT-MED"),
        high_case("TT-HIGH"),
    ])
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The terminal is as the shell needs it: off the alternate screen, cursor
/// shown, cooked mode (canonical input, echo); and `written` (the output
/// since the console gave it back) says so too.
fn assert_given_back(c: &Console, written: &[u8], how: &str) {
    let text = String::from_utf8_lossy(written);
    for (seq, what) in [
        (ALT_LEAVE, "leave the alternate screen"),
        (CURSOR_SHOW, "show the cursor"),
        (AUTOWRAP_ON, "turn autowrap back on"),
        (PASTE_OFF, "turn bracketed paste off"),
    ] {
        assert!(contains(written, seq), "{how}: did not {what}: {text:?}");
    }
    let (alternate, hidden) = c.with_screen(|s| (s.alternate_screen(), s.hide_cursor()));
    assert!(!alternate, "{how}: still on the alternate screen");
    assert!(!hidden, "{how}: cursor still hidden");
    match c.termios_cooked() {
        Some(cooked) => assert!(cooked, "{how}: the terminal is still in raw mode"),
        None => eprintln!("{how}: stty cannot read the pty; raw-mode check skipped"),
    }
}

// ---------------------------------------------------------------------------
// 1. Idle means no output and no CPU: the console, and `serve` with two
//    remote consoles long-polling it, on a store with an evidence log.

#[test]
fn idle_console_and_server_use_no_cpu_and_write_nothing() {
    const IDLE: Duration = Duration::from_secs(10);
    const LIMIT_SECONDS: f64 = 0.05;
    let store = three_cases();
    // The evidence log exists: the console and the server read it, and
    // their own reads must not wake their watchers.
    let out = store.decide("bob", "TT-LOW", "approve", &[]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!store.evidence_bytes().is_empty());
    let tokens = tokens_path(&store);
    let token = add_token(&store, &tokens, "carol");
    let server = Server::start(&store, &tokens, &[]);

    let local = Console::start(&store, 80, 24);
    let remotes: Vec<(Sandbox, Console)> = (0..2)
        .map(|_| {
            let sandbox = Sandbox::new();
            let env = [("NHI_TRIAGE_TOKEN", OsString::from(&token))];
            let c = Console::spawn(&sandbox, &["--api", &server.base], &env, 80, 24);
            (sandbox, c)
        })
        .collect();
    for (_, c) in &remotes {
        c.wait_for("evidence ✓", WAIT);
        c.wait_for(" connected ", WAIT);
    }
    let consoles: Vec<(&str, &Console)> = [("console", &local)]
        .into_iter()
        .chain(remotes.iter().map(|(_, c)| ("remote console", c)))
        .collect();
    // Start-up done: first frames drawn, evidence checked, polls waiting.
    for (_, c) in &consoles {
        c.wait_quiet(Duration::from_millis(500));
    }

    let hz = ticks_per_second() as f64;
    let processes: Vec<(&str, u32)> = consoles
        .iter()
        .map(|(name, c)| (*name, c.pid()))
        .chain([("serve", server.child.id())])
        .collect();
    let ticks: Vec<u64> = processes.iter().map(|&(_, pid)| cpu_ticks(pid)).collect();
    let marks: Vec<usize> = consoles.iter().map(|(_, c)| c.mark()).collect();
    std::thread::sleep(IDLE);
    for (&(name, pid), before) in processes.iter().zip(&ticks) {
        let seconds = (cpu_ticks(pid) - before) as f64 / hz;
        eprintln!("{name}: {seconds:.3} CPU s in {} s idle", IDLE.as_secs());
        assert!(
            seconds < LIMIT_SECONDS,
            "{name} used {seconds:.3} CPU s while idle (limit {LIMIT_SECONDS})"
        );
    }
    for ((name, c), mark) in consoles.iter().zip(marks) {
        let written = c.bytes_since(mark);
        eprintln!("{name}: {} bytes written while idle", written.len());
        assert!(
            written.is_empty(),
            "{name} wrote {} bytes while idle: {:?}",
            written.len(),
            String::from_utf8_lossy(&written)
        );
    }
}

// ---------------------------------------------------------------------------
// 3. Ctrl-Z, `kill -TSTP` and `fg`; signals; TERM=dumb.

#[test]
fn ctrl_z_gives_the_shell_its_terminal_and_fg_redraws_everything() {
    let store = three_cases();
    let mut sh = Console::shell(&store.sandbox, 80, 24);
    let pid = sh.run_in_shell(&store);
    for how in ["Ctrl-Z", "kill -TSTP"] {
        sh.wait_quiet(Duration::from_millis(200));
        let console_screen = sh.screen_text();
        let mark = sh.mark();
        match how {
            "Ctrl-Z" => sh.send(b"\x1a"),
            _ => send_signal(pid, "TSTP"),
        }
        wait_until(&format!("{how}: the console stopped"), WAIT, || {
            process_state(pid) == Some('T')
        });
        sh.wait_until(&format!("{how}: the prompt"), WAIT, |t| {
            t.trim_end().ends_with(SHELL_PROMPT.trim_end())
        });
        assert_given_back(&sh, &sh.bytes_since(mark), how);

        // The shell is usable: what is typed is echoed, and runs.
        sh.type_text("echo shell-$((6*7))\r");
        sh.wait_for("shell-42", WAIT);
        assert!(
            sh.text().contains("echo shell-$((6*7))"),
            "{how}: the typed command was not echoed\n{}",
            sh.text()
        );

        let mark = sh.mark();
        sh.type_text("fg\r");
        sh.wait_until(&format!("{how}: the console back"), WAIT, |t| {
            t == console_screen
        });
        let redraw = sh.bytes_since(mark);
        assert!(contains(&redraw, ALT_ENTER), "{how}: no alternate screen");
        assert!(contains(&redraw, CLEAR_SCREEN), "{how}: no clear screen");
        assert!(
            sh.with_screen(|s| s.alternate_screen() && s.hide_cursor()),
            "{how}: not back on the alternate screen with the cursor hidden"
        );
        if let Some(cooked) = sh.termios_cooked() {
            assert!(!cooked, "{how}: raw mode not taken again");
        }
        assert_ne!(process_state(pid), Some('T'), "{how}: still stopped");
        eprintln!("{how}: fg redrew {} bytes", redraw.len());
    }
    // Keys reach the console again: a move redraws.
    let mark = sh.mark();
    sh.send(b"j");
    wait_until("j to draw", WAIT, || !sh.bytes_since(mark).is_empty());

    // Continued in the background, it leaves the terminal alone until fg.
    sh.wait_quiet(Duration::from_millis(200));
    sh.send(b"\x1a");
    wait_until("Ctrl-Z", WAIT, || process_state(pid) == Some('T'));
    sh.wait_until("the prompt", WAIT, |t| {
        t.trim_end().ends_with(SHELL_PROMPT.trim_end())
    });
    let mark = sh.mark();
    sh.type_text("bg\r");
    wait_until("bg to continue it", WAIT, || {
        process_state(pid).is_some_and(|s| s != 'T')
    });
    std::thread::sleep(Duration::from_millis(300));
    let written = sh.bytes_since(mark);
    assert!(
        !contains(&written, ALT_ENTER) && sh.with_screen(|s| !s.alternate_screen()),
        "a background console took the terminal: {:?}",
        String::from_utf8_lossy(&written)
    );
    sh.type_text("fg\r");
    sh.wait_for("evidence ✓", WAIT);
    assert!(sh.with_screen(|s| s.alternate_screen()));

    // The console quits through the shell's job with the SIGTERM status.
    send_signal(pid, "TERM");
    sh.wait_until("the prompt after SIGTERM", WAIT, |t| {
        t.trim_end().ends_with(SHELL_PROMPT.trim_end())
    });
    sh.type_text("echo status=$?\r");
    sh.wait_for("status=143", WAIT);
}

#[test]
fn ctrl_z_without_job_control_keeps_the_console_running() {
    // The console as a session leader (no shell): a stopped console could
    // never be continued, so Ctrl-Z says so and changes nothing.
    let store = three_cases();
    let mut c = Console::start(&store, 80, 24);
    c.send(b"\x1a");
    c.wait_for("no job control", WAIT);
    assert_ne!(process_state(c.pid()), Some('T'), "the console stopped");
    assert!(c.with_screen(|s| s.alternate_screen()));
    if let Some(cooked) = c.termios_cooked() {
        assert!(!cooked, "raw mode was given up");
    }
    send_signal(c.pid(), "TERM");
    assert_eq!(c.wait_exit().exit_code(), 143);
}

#[test]
fn ctrl_z_in_a_pid_namespace_whose_groups_are_outside_it_is_refused_not_a_crash() {
    // In a container the console's process group and session can lie outside
    // its pid namespace, where the kernel reports their ids as 0. Checking
    // for job control there once crashed the console (a zero process id);
    // now the unknown is read as "no job control".
    let probe = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: `unshare --pid` is not available here (needs root or user namespaces)");
        return;
    }
    let store = three_cases();
    let mut c = Console::start_under(
        &store,
        &["unshare", "--pid", "--fork", "--mount-proc"],
        80,
        24,
    );
    c.send(b"\x1a");
    c.wait_for("no job control", WAIT);
    c.send(b"q");
    assert_eq!(c.wait_exit().exit_code(), 0);
}

#[test]
fn signals_end_the_console_with_the_shell_status_and_the_terminal_restored() {
    let store = three_cases();
    for (signal, code) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let how = format!("SIG{signal}");
        let mut c = Console::start(&store, 80, 24);
        let mark = c.mark();
        send_signal(c.pid(), signal);
        let status = c.wait_exit();
        assert_eq!(status.exit_code(), code, "{how}: {status:?}");
        let written = c.bytes_since(mark);
        assert_given_back(&c, &written, &how);
        assert!(
            written.ends_with(CURSOR_SHOW),
            "{how}: output does not end with the cursor shown: {:?}",
            String::from_utf8_lossy(&written)
        );
    }
}

#[test]
fn term_dumb_is_refused_with_a_pointer_to_list_and_show() {
    let store = three_cases();
    let dir = store.dir.to_str().expect("a UTF-8 store path").to_string();
    let env = [("TERM", OsString::from("dumb"))];
    let mut c = Console::spawn(
        &store.sandbox,
        &["--store", &dir, "--reviewer", REVIEWER],
        &env,
        80,
        24,
    );
    let status = c.wait_exit();
    let text = String::from_utf8_lossy(&c.raw()).into_owned();
    assert_eq!(status.exit_code(), 2, "{text}");
    assert!(text.contains("TERM=dumb"), "{text}");
    assert!(text.contains("nhi-triage list"), "{text}");
    assert!(
        !contains(&c.raw(), ALT_ENTER),
        "entered the alternate screen"
    );
}
