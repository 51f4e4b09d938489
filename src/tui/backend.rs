//! A ratatui backend that writes as few bytes as it can: reviewers work over
//! SSH on slow links, and every redraw crosses the wire.
//!
//! Compared with the stock crossterm backend it keeps the terminal's cursor
//! and colour state across frames (no reset at the end of each draw), picks
//! the shortest cursor movement (CUF, CHA, VPA, CR LF or CUP), writes one
//! combined SGR sequence per style change using the short 16-colour codes,
//! hides the cursor only when it is shown, and sends a frame in one write.

use std::io::{self, Write};

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::crossterm::{cursor, terminal};
use ratatui::layout::{Position, Size};
use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pen {
    fg: Color,
    bg: Color,
    modifier: Modifier,
}

const DEFAULT_PEN: Pen = Pen {
    fg: Color::Reset,
    bg: Color::Reset,
    modifier: Modifier::empty(),
};

pub struct LeanBackend<W: Write> {
    writer: W,
    out: Vec<u8>,
    /// Where the terminal's cursor is, when we know.
    cursor: Option<Position>,
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
    pub fn new(writer: W) -> Self {
        Self {
            writer,
            out: Vec::with_capacity(16 * 1024),
            cursor: None,
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

    pub fn writer(&self) -> &W {
        &self.writer
    }

    /// Forget what we believe about the terminal (after something else wrote).
    pub fn invalidate(&mut self) {
        self.cursor = None;
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
        let best = movements(self.cursor, x, y, self.height());
        if let Some(reprint) = self.reprint_gap(x, y).filter(|r| r.len() <= best.len()) {
            self.out.extend_from_slice(reprint.as_bytes());
        } else {
            self.out.extend_from_slice(best.as_bytes());
        }
        self.cursor = Some(Position { x, y });
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

/// The shortest escape sequence (or control characters) moving the cursor
/// from `from` to `(x, y)`: absolute CUP, or a vertical step (LF, CUD, CUU,
/// VPA) combined with a horizontal one (CR, CUF, CUB, CHA). In raw mode LF
/// moves straight down; it is never used from the last row, where it would
/// scroll.
fn movements(from: Option<Position>, x: u16, y: u16, height: u16) -> String {
    let (row, col) = (y as u32 + 1, x as u32 + 1);
    let cup = if x == 0 {
        format!("\x1b[{row}H")
    } else {
        format!("\x1b[{row};{col}H")
    };
    let Some(p) = from else { return cup };
    let n = |k: u16, c: char| {
        if k == 1 {
            format!("\x1b[{c}")
        } else {
            format!("\x1b[{k}{c}")
        }
    };
    let mut vertical = Vec::new();
    if y == p.y {
        vertical.push(String::new());
    } else if y > p.y {
        let dy = y - p.y;
        vertical.push(n(dy, 'B'));
        if dy <= 3 && y < height {
            vertical.push("\n".repeat(dy as usize));
        }
    } else {
        vertical.push(n(p.y - y, 'A'));
    }
    if y != p.y {
        vertical.push(format!("\x1b[{row}d"));
    }
    let mut horizontal = vec![format!("\x1b[{col}G")];
    if x == p.x {
        horizontal.push(String::new());
    } else if x > p.x {
        horizontal.push(n(x - p.x, 'C'));
    } else {
        horizontal.push(n(p.x - x, 'D'));
    }
    if x == 0 {
        horizontal.push("\r".into());
    } else {
        horizontal.push(format!("\r{}", n(x, 'C')));
    }
    let shortest = |v: &[String]| {
        v.iter()
            .min_by_key(|s| s.len())
            .cloned()
            .unwrap_or_default()
    };
    let relative = shortest(&vertical) + &shortest(&horizontal);
    if relative.len() < cup.len() {
        relative
    } else {
        cup
    }
}

/// One SGR sequence taking the terminal from `from` to `to`: either only the
/// differences, or a reset followed by everything, whichever is shorter.
fn sgr(from: Option<Pen>, to: Pen) -> String {
    let full = {
        let mut p = vec!["0".to_string()];
        p.extend(modifier_on_codes(to.modifier));
        if to.fg != Color::Reset {
            p.push(color_code(to.fg, false));
        }
        if to.bg != Color::Reset {
            p.push(color_code(to.bg, true));
        }
        format!("\x1b[{}m", p.join(";"))
    };
    let Some(from) = from else { return full };
    let mut p = Vec::new();
    let removed = from.modifier - to.modifier;
    let added = to.modifier - from.modifier;
    // 22 turns off both bold and dim: re-add the one that stays.
    if removed.intersects(Modifier::BOLD | Modifier::DIM) {
        p.push("22".to_string());
        for (m, code) in [(Modifier::BOLD, "1"), (Modifier::DIM, "2")] {
            if to.modifier.contains(m) && !added.contains(m) {
                p.push(code.into());
            }
        }
    }
    for (m, off) in [
        (Modifier::ITALIC, "23"),
        (Modifier::UNDERLINED, "24"),
        (Modifier::SLOW_BLINK | Modifier::RAPID_BLINK, "25"),
        (Modifier::REVERSED, "27"),
        (Modifier::HIDDEN, "28"),
        (Modifier::CROSSED_OUT, "29"),
    ] {
        if removed.intersects(m) {
            p.push(off.into());
        }
    }
    p.extend(modifier_on_codes(added));
    if from.fg != to.fg {
        p.push(color_code(to.fg, false));
    }
    if from.bg != to.bg {
        p.push(color_code(to.bg, true));
    }
    let diff = format!("\x1b[{}m", p.join(";"));
    if diff.len() <= full.len() { diff } else { full }
}

fn modifier_on_codes(m: Modifier) -> Vec<String> {
    [
        (Modifier::BOLD, "1"),
        (Modifier::DIM, "2"),
        (Modifier::ITALIC, "3"),
        (Modifier::UNDERLINED, "4"),
        (Modifier::SLOW_BLINK, "5"),
        (Modifier::RAPID_BLINK, "6"),
        (Modifier::REVERSED, "7"),
        (Modifier::HIDDEN, "8"),
        (Modifier::CROSSED_OUT, "9"),
    ]
    .into_iter()
    .filter(|(flag, _)| m.contains(*flag))
    .map(|(_, code)| code.to_string())
    .collect()
}

fn color_code(c: Color, background: bool) -> String {
    let (base, bright, extended, default) = if background {
        (40, 100, 48, 49)
    } else {
        (30, 90, 38, 39)
    };
    let named = |n: u8| (base + n).to_string();
    let light = |n: u8| (bright + n).to_string();
    match c {
        Color::Reset => default.to_string(),
        Color::Black => named(0),
        Color::Red => named(1),
        Color::Green => named(2),
        Color::Yellow => named(3),
        Color::Blue => named(4),
        Color::Magenta => named(5),
        Color::Cyan => named(6),
        Color::Gray => named(7),
        Color::DarkGray => light(0),
        Color::LightRed => light(1),
        Color::LightGreen => light(2),
        Color::LightYellow => light(3),
        Color::LightBlue => light(4),
        Color::LightMagenta => light(5),
        Color::LightCyan => light(6),
        Color::White => light(7),
        Color::Indexed(i) => format!("{extended};5;{i}"),
        Color::Rgb(r, g, b) => format!("{extended};2;{r};{g};{b}"),
    }
}

impl<W: Write> Backend for LeanBackend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let width = self.width();
        for (x, y, cell) in content {
            self.move_to(x, y);
            self.set_pen(Pen {
                fg: cell.fg,
                bg: cell.bg,
                modifier: cell.modifier,
            });
            let symbol = cell.symbol();
            self.out.extend_from_slice(symbol.as_bytes());
            let advance = symbol.width().max(1) as u16;
            if let Some(pen) = self.pen {
                self.shadow.set(x, y, symbol, pen);
                // The columns a wide character covers are never re-printed.
                for covered in 1..advance {
                    self.shadow.set(x + covered, y, "", pen);
                }
            }
            // At the right edge terminals differ (pending wrap): stop guessing.
            self.cursor = (x + advance < width).then_some(Position { x: x + advance, y });
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

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        if let Some(p) = self.cursor {
            return Ok(p);
        }
        let (x, y) = cursor::position()?;
        Ok(Position { x, y })
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
    fn moving_right_on_a_row_is_cheap() {
        let from = Some(Position { x: 10, y: 3 });
        assert_eq!(movements(from, 11, 3, 50), "\x1b[C");
        assert_eq!(movements(from, 15, 3, 50), "\x1b[5C");
        assert_eq!(movements(from, 0, 4, 50), "\n\r");
        assert_eq!(movements(from, 9, 4, 50), "\n\x1b[D");
        assert_eq!(movements(from, 10, 49, 50), "\x1b[46B");
        assert_eq!(movements(Some(Position { x: 10, y: 48 }), 10, 49, 50), "\n");
        assert_eq!(movements(from, 0, 3, 50), "\r");
        assert_eq!(movements(None, 0, 0, 50), "\x1b[1H");
        assert_eq!(movements(None, 9, 4, 50), "\x1b[5;10H");
    }

    #[test]
    fn sgr_sends_only_what_changed() {
        let plain = DEFAULT_PEN;
        let cyan_bold = Pen {
            fg: Color::Cyan,
            bg: Color::Reset,
            modifier: Modifier::BOLD,
        };
        assert_eq!(sgr(Some(plain), cyan_bold), "\x1b[1;36m");
        assert_eq!(sgr(Some(cyan_bold), plain), "\x1b[0m");
        let bold_dim_to_dim = sgr(
            Some(Pen {
                modifier: Modifier::BOLD | Modifier::DIM,
                ..plain
            }),
            Pen {
                modifier: Modifier::DIM,
                ..plain
            },
        );
        assert!(
            bold_dim_to_dim == "\x1b[22;2m" || bold_dim_to_dim == "\x1b[0;2m",
            "{bold_dim_to_dim:?}"
        );
        assert_eq!(sgr(None, plain), "\x1b[0m");
    }

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
