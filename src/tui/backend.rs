//! A ratatui backend that writes as few bytes as it can: reviewers work over
//! SSH on slow links, and every redraw crosses the wire.
//!
//! Compared with the stock crossterm backend it keeps the terminal's cursor
//! and colour state across frames (no reset at the end of each draw), picks
//! the shortest cursor movement (CUF, CHA, VPA, CR LF or CUP), writes one
//! combined SGR sequence per style change using the short 16-colour codes,
//! hides the cursor only when it is shown, and sends a frame in one write.
//!
//! Relative moves trust that the terminal advanced the cursor by the width
//! ratatui laid each symbol out with. Where terminals disagree about a
//! width (`tui::width::fit`: emoji sequences, combining and format
//! characters, ambiguous-width characters) the backend never lets the
//! disagreement carry past the symbol: it places the next cell absolutely,
//! and prints an unsafe symbol in a width-safe form over blanks covering the
//! columns it was given. Autowrap is off while the console runs
//! (`tui::terminal`), so even a terminal that draws a symbol wider
//! cannot wrap or scroll the screen.

use std::io::{self, Write};

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::crossterm::terminal;
use ratatui::layout::{Position, Size};
use unicode_width::UnicodeWidthStr;

use super::width::{Fit, fit, safe_form};

mod sequences;

use sequences::{DEFAULT_PEN, Pen, column, movements, sgr};

/// A ratatui [`Backend`] writing to `W` (the terminal's standard output, or
/// a buffer in tests and benchmarks) with as few bytes as it can; see the
/// module documentation.
pub struct LeanBackend<W: Write> {
    writer: W,
    out: Vec<u8>,
    /// Where the terminal's cursor is, when we know.
    cursor: Option<Position>,
    /// The cursor's row when only the row is known (after a symbol whose
    /// width terminals disagree on): the next move on it is a CHA.
    row: Option<u16>,
    /// The terminal's current SGR state, when we know.
    pen: Option<Pen>,
    cursor_visible: Option<bool>,
    /// A fixed size (tests, benchmarks); otherwise the terminal is asked.
    fixed_size: Option<Size>,
    /// What the screen shows, as far as we wrote it: lets a short gap of
    /// unchanged cells be re-printed instead of jumped over, when cheaper.
    shadow: Shadow,
}

/// Our copy of the screen's cells.
#[derive(Default)]
struct Shadow {
    width: u16,
    cells: Vec<(String, Pen)>,
}

impl Shadow {
    fn reset(&mut self, size: Size) {
        self.width = size.width;
        self.cells.clear();
        self.cells.resize(
            size.width as usize * size.height as usize,
            (" ".to_string(), DEFAULT_PEN),
        );
    }

    fn get(&self, x: u16, y: u16) -> Option<&(String, Pen)> {
        if x >= self.width {
            return None;
        }
        self.cells
            .get(y as usize * self.width as usize + x as usize)
    }

    fn set(&mut self, x: u16, y: u16, symbol: &str, pen: Pen) {
        if x >= self.width {
            return;
        }
        if let Some(cell) = self
            .cells
            .get_mut(y as usize * self.width as usize + x as usize)
        {
            cell.0.clear();
            cell.0.push_str(symbol);
            cell.1 = pen;
        }
    }
}

impl<W: Write> LeanBackend<W> {
    /// A backend that knows nothing yet about the terminal behind
    /// `writer`: the first frame positions and colours absolutely, and the
    /// size is asked of the terminal.
    pub fn new(writer: W) -> Self {
        Self {
            writer,
            out: Vec::with_capacity(16 * 1024),
            cursor: None,
            row: None,
            pen: None,
            cursor_visible: None,
            fixed_size: None,
            shadow: Shadow::default(),
        }
    }

    /// A backend of a fixed size that never queries a terminal.
    pub fn with_size(writer: W, width: u16, height: u16) -> Self {
        let mut b = Self {
            fixed_size: Some(Size { width, height }),
            ..Self::new(writer)
        };
        b.shadow.reset(Size { width, height });
        b
    }

    /// A backend on a freshly cleared screen (the alternate screen starts
    /// blank), so unchanged cells can be re-printed from the start.
    pub fn on_blank_screen(writer: W) -> io::Result<Self> {
        let mut b = Self::new(writer);
        let size = b.size()?;
        b.shadow.reset(size);
        Ok(b)
    }

    /// What the frames were written to (the bytes, in tests).
    pub fn writer(&self) -> &W {
        &self.writer
    }

    /// Forget what we believe about the terminal (after something else
    /// wrote to it, or after the console was suspended): the cursor, the
    /// colours, the cursor's visibility and the screen's contents.
    pub fn invalidate(&mut self) {
        self.cursor = None;
        self.row = None;
        self.pen = None;
        self.cursor_visible = None;
        self.shadow.reset(Size::default());
    }

    fn width(&self) -> u16 {
        self.size().map(|s| s.width).unwrap_or(u16::MAX)
    }

    fn height(&self) -> u16 {
        self.size().map(|s| s.height).unwrap_or(u16::MAX)
    }

    fn move_to(&mut self, x: u16, y: u16) {
        if self.cursor == Some(Position { x, y }) {
            return;
        }
        if self.cursor.is_none() && self.row == Some(y) {
            // Only the row is known: an absolute column on it.
            self.out.extend_from_slice(column(x).as_bytes());
        } else {
            let best = movements(self.cursor, x, y, self.height());
            if let Some(reprint) = self.reprint_gap(x, y).filter(|r| r.len() <= best.len()) {
                self.out.extend_from_slice(reprint.as_bytes());
            } else {
                self.out.extend_from_slice(best.as_bytes());
            }
        }
        self.cursor = Some(Position { x, y });
        self.row = Some(y);
    }

    /// Prints `symbol`, which the layout gave `columns` columns from column
    /// `x` (where the cursor is) and whose width terminals may disagree on:
    /// blanks over all its columns first (so a terminal that draws it narrower shows no stale
    /// cell), then its [`safe_form`] from the first column. Where the cursor
    /// ends up is not trusted: only its row is.
    fn put_unsafe(&mut self, x: u16, symbol: &str, columns: u16) {
        for _ in 0..columns {
            self.out.push(b' ');
        }
        self.out.extend_from_slice(column(x).as_bytes());
        self.out
            .extend_from_slice(safe_form(symbol, columns).as_bytes());
    }

    /// Spaces over columns `xs` of row `y` in `pen`.
    fn blank(&mut self, xs: std::ops::Range<u16>, y: u16, pen: Pen) {
        let (start, end) = (xs.start, xs.end.min(self.width()));
        if start >= end {
            return;
        }
        self.move_to(start, y);
        for x in start..end {
            self.out.push(b' ');
            self.shadow.set(x, y, " ", pen);
        }
        self.cursor = (end < self.width()).then_some(Position { x: end, y });
    }

    /// The unchanged cells between the cursor and `x` on the same row, when
    /// they are plain single-width cells in the current pen.
    fn reprint_gap(&self, x: u16, y: u16) -> Option<String> {
        let (from, pen) = (self.cursor?, self.pen?);
        if from.y != y || x <= from.x || x - from.x > 8 {
            return None;
        }
        let mut text = String::new();
        for cx in from.x..x {
            let (symbol, cell_pen) = self.shadow.get(cx, y)?;
            if *cell_pen != pen || symbol.width() != 1 || !symbol.is_ascii() {
                return None;
            }
            text.push_str(symbol);
        }
        Some(text)
    }

    fn set_pen(&mut self, pen: Pen) {
        if self.pen == Some(pen) {
            return;
        }
        let seq = sgr(self.pen, pen);
        self.out.extend_from_slice(seq.as_bytes());
        self.pen = Some(pen);
    }
}

/// The columns ratatui gives `symbol` at column `x` of a `width`-column
/// screen: its width, at least one, cut at the right edge.
fn columns_at(symbol: &str, x: u16, width: u16) -> u16 {
    (symbol.width().max(1) as u16).min(width.saturating_sub(x).max(1))
}

impl<W: Write> Backend for LeanBackend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let width = self.width();
        // The columns a wide symbol drawn in this frame covers, as
        // (row, first column after it): a cell there (ratatui sends the
        // blank after an emoji with a variation selector) would overwrite
        // the symbol in a terminal that draws it wide.
        let mut covered: Option<(u16, u16)> = None;
        for (x, y, cell) in content {
            if covered.is_some_and(|(row, end)| row == y && x < end) {
                continue;
            }
            let symbol = cell.symbol();
            let advance = columns_at(symbol, x, width);
            // A disputed symbol the terminal may have drawn as several
            // cells (a flag as two letters) is not cleared by writing over
            // its first column: what is left of it is blanked below.
            let leftover = self
                .shadow
                .get(x, y)
                .filter(|(old, _)| fit(old) == Fit::Unsafe)
                .map(|(old, _)| columns_at(old, x, width))
                .filter(|&old| old > advance);
            self.move_to(x, y);
            let pen = Pen {
                fg: cell.fg,
                bg: cell.bg,
                modifier: cell.modifier,
            };
            self.set_pen(pen);
            let fit = fit(symbol);
            if fit == Fit::Unsafe {
                self.put_unsafe(x, symbol, advance);
            } else {
                self.out.extend_from_slice(symbol.as_bytes());
            }
            self.shadow.set(x, y, symbol, pen);
            // The columns a wide character covers are never re-printed.
            for c in 1..advance {
                self.shadow.set(x + c, y, "", pen);
            }
            if advance > 1 {
                covered = Some((y, x + advance));
            }
            // At the right edge terminals differ (pending wrap), and after a
            // symbol of disputed width the column is unknown: the next move
            // is absolute. Autowrap is off, so the row is still known.
            self.cursor = (fit == Fit::Exact && x + advance < width)
                .then_some(Position { x: x + advance, y });
            self.row = Some(y);
            if let Some(old) = leftover {
                self.blank(x + advance..x + old, y, pen);
            }
        }
        Ok(())
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        if self.cursor_visible != Some(false) {
            self.out.extend_from_slice(b"\x1b[?25l");
            self.cursor_visible = Some(false);
        }
        Ok(())
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        if self.cursor_visible != Some(true) {
            self.out.extend_from_slice(b"\x1b[?25h");
            self.cursor_visible = Some(true);
        }
        Ok(())
    }

    /// Where the cursor is. When that is not known the cursor is sent home
    /// first (asking the terminal would block on a reply that may never
    /// come, and would race with the input reader for it).
    fn get_cursor_position(&mut self) -> io::Result<Position> {
        if let Some(p) = self.cursor {
            return Ok(p);
        }
        self.move_to(0, 0);
        Ok(Position { x: 0, y: 0 })
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        let p = position.into();
        self.move_to(p.x, p.y);
        Ok(())
    }

    fn clear(&mut self) -> io::Result<()> {
        // Clear with the default colours, so the cleared screen is blank.
        self.set_pen(DEFAULT_PEN);
        self.out.extend_from_slice(b"\x1b[2J");
        let size = self.size()?;
        self.shadow.reset(size);
        Ok(())
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        if clear_type == ClearType::All {
            return self.clear();
        }
        self.set_pen(DEFAULT_PEN);
        // Partial clears leave a screen we do not track cell by cell.
        self.shadow.reset(Size::default());
        let seq: &[u8] = match clear_type {
            ClearType::All => b"\x1b[2J",
            ClearType::AfterCursor => b"\x1b[J",
            ClearType::BeforeCursor => b"\x1b[1J",
            ClearType::CurrentLine => b"\x1b[2K",
            ClearType::UntilNewLine => b"\x1b[K",
        };
        self.out.extend_from_slice(seq);
        Ok(())
    }

    fn size(&self) -> io::Result<Size> {
        if let Some(s) = self.fixed_size {
            return Ok(s);
        }
        let (width, height) = terminal::size()?;
        Ok(Size { width, height })
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        let columns_rows = self.size()?;
        let pixels = terminal::window_size().map(|w| Size {
            width: w.width,
            height: w.height,
        });
        Ok(WindowSize {
            columns_rows,
            pixels: pixels.unwrap_or_default(),
        })
    }

    /// Sends the frame in one write.
    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out)?;
            self.out.clear();
        }
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_goes_out_in_one_write_and_state_carries_over() {
        let mut b = LeanBackend::with_size(Vec::new(), 10, 2);
        let cell = Cell::new("a");
        b.draw([(0u16, 0u16, &cell), (1, 0, &cell)].into_iter())
            .unwrap();
        assert!(b.writer().is_empty(), "nothing before flush");
        b.flush().unwrap();
        assert_eq!(b.writer().as_slice(), b"\x1b[1H\x1b[0maa");
        b.hide_cursor().unwrap();
        b.hide_cursor().unwrap();
        b.flush().unwrap();
        assert!(b.writer().ends_with(b"aa\x1b[?25l"));
    }

    #[test]
    fn after_a_disputed_width_the_next_cell_is_placed_absolutely() {
        let mut b = LeanBackend::with_size(Vec::new(), 20, 2);
        let (alpha, a) = (Cell::new("α"), Cell::new("a"));
        b.draw([(0u16, 0u16, &alpha), (1, 0, &a)].into_iter())
            .unwrap();
        b.flush().unwrap();
        // Printed as is; then a CHA to column 2, not trust in the advance.
        assert_eq!(b.writer().as_slice(), "\x1b[1H\x1b[0mα\x1b[2Ga".as_bytes());
    }

    #[test]
    fn an_emoji_sequence_is_its_first_emoji_over_blanks() {
        let mut b = LeanBackend::with_size(Vec::new(), 20, 2);
        let (thumb, a) = (Cell::new("👍\u{1f3fd}"), Cell::new("a"));
        b.draw([(3u16, 0u16, &thumb), (5, 0, &a)].into_iter())
            .unwrap();
        b.flush().unwrap();
        // Blanks over both columns, back to the first, the base emoji
        // alone, then the next cell placed absolutely.
        assert_eq!(
            b.writer().as_slice(),
            "\x1b[1;4H\x1b[0m  \x1b[4G👍\x1b[6Ga".as_bytes()
        );
    }

    #[test]
    fn an_unknown_cursor_is_sent_home_not_asked_for() {
        let mut b = LeanBackend::with_size(Vec::new(), 20, 2);
        assert_eq!(b.get_cursor_position().unwrap(), Position { x: 0, y: 0 });
        b.flush().unwrap();
        assert_eq!(b.writer().as_slice(), b"\x1b[1H");
    }

    #[test]
    fn a_short_gap_of_unchanged_cells_is_reprinted_not_jumped() {
        let mut b = LeanBackend::with_size(Vec::new(), 20, 2);
        let (a, z) = (Cell::new("a"), Cell::new("z"));
        b.draw([(0u16, 0u16, &a), (1, 0, &a), (2, 0, &a)].into_iter())
            .unwrap();
        b.flush().unwrap();
        let before = b.writer().len();
        // Change cells 0 and 2: re-printing cell 1 ("a") beats a cursor move.
        b.draw([(0u16, 0u16, &z), (2, 0, &z)].into_iter()).unwrap();
        b.flush().unwrap();
        assert_eq!(&b.writer()[before..], b"\rzaz");
    }
}
