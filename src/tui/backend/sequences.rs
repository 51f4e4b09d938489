//! The escape sequences the lean backend writes: cursor moves (the
//! shortest of CUP, CHA, VPA, CUF/CUB/CUU/CUD, CR and LF) and SGR colour
//! and attribute changes (only what changed, short 16-colour codes).

use ratatui::layout::Position;
use ratatui::style::{Color, Modifier};

/// The terminal's colours and attributes (its SGR state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pen {
    /// Foreground colour (`Color::Reset`: the terminal's default).
    pub(super) fg: Color,
    /// Background colour (`Color::Reset`: the terminal's default).
    pub(super) bg: Color,
    /// Bold, italic, underline and the other attributes on.
    pub(super) modifier: Modifier,
}

/// The default colours, no attributes: what SGR 0 sets.
pub(super) const DEFAULT_PEN: Pen = Pen {
    fg: Color::Reset,
    bg: Color::Reset,
    modifier: Modifier::empty(),
};

/// The cursor to column `x` of its row: CR for the first, else CHA.
pub(super) fn column(x: u16) -> String {
    if x == 0 {
        "\r".into()
    } else {
        format!("\x1b[{}G", x as u32 + 1)
    }
}

/// The shortest escape sequence (or control characters) moving the cursor
/// from `from` to `(x, y)`: absolute CUP, or a vertical step (LF, CUD, CUU,
/// VPA) combined with a horizontal one (CR, CUF, CUB, CHA). In raw mode LF
/// moves straight down; it is never used from the last row, where it would
/// scroll.
pub(super) fn movements(from: Option<Position>, x: u16, y: u16, height: u16) -> String {
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
pub(super) fn sgr(from: Option<Pen>, to: Pen) -> String {
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
}
