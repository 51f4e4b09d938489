//! The one way the CLI writes.
//!
//! **Standard output** goes through [`Out`], which every command is handed:
//! buffered, sanitised ([`SafeWriter`]: no raw control or bidi character
//! reaches a terminal, whatever a renderer forgot), and tolerant of a reader
//! that goes away. When the reader closes the pipe (`nhi-triage list | head
//! -1`), the write fails with `EPIPE` (Rust ignores `SIGPIPE`); `Out` then
//! marks standard output closed and drops everything written after. A closed
//! standard output is a normal end, as in ripgrep: the command finishes
//! what it was doing (a decision is already durable when its result is
//! printed), long outputs stop early ([`Out::closed`]), and the exit code is
//! the one the command would have had — 0 on success. Other write errors
//! (a full disk) are errors.
//!
//! **Standard error** goes through [`errln!`]: sanitised the same way, and
//! never fatal (there is nowhere left to report a failure to write it).
//!
//! No `println!`/`eprintln!` in the CLI: both panic on a closed pipe.

use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use nhi_triage::text::SafeWriter;
use serde::Serialize;

/// Set once a write to standard output found the reader gone.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether standard output's reader has gone (see [`Out::closed`]), for
/// code that cannot borrow the `Out` while it writes (a streamed sequence).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Standard output, with `EPIPE` read as "the reader has gone": the write
/// is reported as done and every later one is dropped.
struct PipeEnd(io::Stdout);

impl PipeEnd {
    fn gone(e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::BrokenPipe
    }
}

impl Write for PipeEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        match self.0.write(buf) {
            Err(e) if Self::gone(&e) => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        match self.0.flush() {
            Err(e) if Self::gone(&e) => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }
}

/// Standard output for a command: see the module docs. Flushed by
/// [`Out::finish`] (the CLI's `main` does it after every command).
pub struct Out {
    /// Buffered first, so the sanitiser sees large chunks (serde_json
    /// writes a token at a time), then one write per chunk to stdout.
    inner: BufWriter<SafeWriter<PipeEnd>>,
}

impl Out {
    /// The process's standard output.
    pub fn stdout() -> Out {
        Out {
            inner: BufWriter::with_capacity(64 * 1024, SafeWriter::new(PipeEnd(io::stdout()))),
        }
    }

    /// Whether the reader has gone: loops over many rows stop early.
    pub fn closed(&self) -> bool {
        STDOUT_CLOSED.load(Ordering::Relaxed)
    }

    /// `value` as pretty JSON (the escapes of `nhi_triage::output::json`)
    /// and a newline.
    pub fn json<T: ?Sized + Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        nhi_triage::output::json::to_writer_pretty(&mut *self, value)?;
        self.write_all(b"\n")?;
        Ok(())
    }

    /// `value` as one line of compact JSON.
    pub fn json_line<T: ?Sized + Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        nhi_triage::output::json::to_writer(&mut *self, value)?;
        self.write_all(b"\n")?;
        Ok(())
    }

    /// Writes out what is buffered. A reader that has gone is not an error.
    pub fn finish(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one line to standard error, sanitised ([`SafeWriter`]); a
/// failure to write is ignored. Use through [`errln!`].
pub fn stderr_line(args: std::fmt::Arguments<'_>) {
    let mut w = SafeWriter::new(io::stderr().lock());
    let _ = w.write_fmt(args);
    let _ = w.write_all(b"\n");
    let _ = w.flush();
}

/// Writes our own terminal control text (a progress line's `\r` and
/// erase-line) to standard error unsanitised: only for constant text and
/// text already passed through `sanitize`.
pub fn stderr_raw(text: &str) {
    let mut e = io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.flush();
}

/// `eprintln!` for the CLI: one sanitised line on standard error, never a
/// panic.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::stderr_line(format_args!($($arg)*))
    };
}
pub(crate) use errln;

/// A `MakeWriter` for `tracing_subscriber`: log lines to standard error,
/// sanitised like everything else the CLI writes there.
pub fn stderr_log_writer() -> SafeWriter<io::Stderr> {
    SafeWriter::new(io::stderr())
}
