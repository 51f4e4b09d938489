//! Colour themes: `themes/*.toml`, built into the binary, or a file path.
//!
//! Themes use the 16 named ANSI colours by default so they look right in any
//! terminal; `#rrggbb` is accepted too. Status is never shown by colour
//! alone: every styled status also has a word or glyph.

use std::collections::HashMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// The names of the built-in themes.
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// No built-in theme has this name and it is not a `.toml` path or an
    /// existing file: the name asked for, and the built-in names joined by
    /// `, `.
    #[error("no theme named {0:?} (built in: {1}); a path to a .toml file works too")]
    Unknown(String, String),
    /// The theme file could not be read, is not valid TOML, lacks a style,
    /// has an unknown style or field, or names an unknown colour.
    #[error("theme {source_name}: {message}")]
    Invalid {
        /// The built-in name or file path the theme came from.
        source_name: String,
        /// What is wrong, naming the style (and colour) at fault.
        message: String,
    },
}

/// Every style the views use, by role.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The theme's `name` from its file (a built-in's name, e.g. `dark`).
    pub name: String,
    /// Ordinary text and the background of the panes.
    pub base: Style,
    /// Secondary text: field labels, versions, hints, verification ages.
    pub dim: Style,
    /// The console's title and headings inside dialogs.
    pub title: Style,
    /// Pane borders of unfocused panes.
    pub border: Style,
    /// The border of the focused pane, and overlay frames and their titles.
    pub border_focus: Style,
    /// The queue table's column headers and section headings.
    pub header: Style,
    /// The selected queue row, drawn alone (its cells drop their own
    /// styles), so it must set both colours or reverse video.
    pub selected: Style,
    /// The tab of the view shown.
    pub tab_active: Style,
    /// The tabs of the other views.
    pub tab: Style,
    /// Key names in hints and the help (`y`, `Ctrl-S`, …).
    pub key: Style,
    /// Tier `low` (may be approved).
    pub tier_low: Style,
    /// Tier `medium` (contain while context is found).
    pub tier_medium: Style,
    /// Tier `high` (a person decides).
    pub tier_high: Style,
    /// A readiness question answered (`✔ answered`).
    pub answered: Style,
    /// A readiness question partly answered (`◐ partial`).
    pub partial: Style,
    /// A readiness question blocked (`? unknown`).
    pub unknown: Style,
    /// Good states: a requirement met, an explicit owner, a connected link.
    pub ok: Style,
    /// Something to check: stale data, a missing owner, an expired
    /// quarantine.
    pub warning: Style,
    /// Failures and blockers.
    pub error: Style,
    /// Markers on dependency nodes and flags (`[EXTERNAL]`, `[SHARED]`,
    /// `⚑`).
    pub badge: Style,
    /// The background and text of overlay windows (dialogs, help).
    pub dialog: Style,
    /// Text being typed: dialog fields, the command line, the filter.
    pub input: Style,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    styles: HashMap<String, StyleSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
}

impl Theme {
    /// A built-in theme by name, or a theme file by path (a name ending in
    /// `.toml` or naming an existing file).
    ///
    /// # Errors
    /// [`ThemeError::Unknown`] for a name that is neither;
    /// [`ThemeError::Invalid`] when the file cannot be read or parsed.
    pub fn load(name_or_path: &str) -> Result<Theme, ThemeError> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            return Theme::parse(text, name_or_path);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| ThemeError::Invalid {
                source_name: name_or_path.to_string(),
                message: e.to_string(),
            })?;
            return Theme::parse(&text, name_or_path);
        }
        Err(ThemeError::Unknown(
            name_or_path.to_string(),
            built_in_names().join(", "),
        ))
    }

    /// The built-in `mono` theme: no colours, only bold, dim, underline
    /// and reverse video.
    pub fn mono() -> Theme {
        // The built-in mono theme is tested to parse; this cannot fail.
        Theme::load("mono").unwrap_or_else(|_| Theme::fallback())
    }

    /// The built-in `dark` theme, for dark terminal backgrounds.
    pub fn dark() -> Theme {
        Theme::load("dark").unwrap_or_else(|_| Theme::fallback())
    }

    /// Plain styles, for the impossible case of a broken built-in theme.
    fn fallback() -> Theme {
        let s = Style::default();
        let b = Style::default().add_modifier(Modifier::BOLD);
        let r = Style::default().add_modifier(Modifier::REVERSED);
        Theme {
            name: "fallback".into(),
            base: s,
            dim: s,
            title: b,
            border: s,
            border_focus: b,
            header: b,
            selected: r,
            tab_active: r,
            tab: s,
            key: b,
            tier_low: s,
            tier_medium: b,
            tier_high: b,
            answered: s,
            partial: b,
            unknown: b,
            ok: s,
            warning: b,
            error: b,
            badge: b,
            dialog: s,
            input: b,
        }
    }

    /// A theme from TOML text: a `name` and a `[styles]` table with exactly
    /// one entry per role (`fg`/`bg`: an ANSI colour name such as
    /// `light_red`, `reset`, or `#rrggbb`; `bold`, `dim`, `italic`,
    /// `underlined`, `reversed`: booleans). `source_name` only labels errors.
    ///
    /// # Errors
    /// [`ThemeError::Invalid`] for bad TOML, a missing or unknown style, an
    /// unknown field or an unknown colour.
    pub fn parse(text: &str, source_name: &str) -> Result<Theme, ThemeError> {
        let invalid = |message: String| ThemeError::Invalid {
            source_name: source_name.to_string(),
            message,
        };
        let file: ThemeFile =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        let mut styles = file.styles;
        let mut take = |role: &str| -> Result<Style, ThemeError> {
            let spec = styles
                .remove(role)
                .ok_or_else(|| invalid(format!("missing style `{role}`")))?;
            spec.to_style()
                .map_err(|m| invalid(format!("style `{role}`: {m}")))
        };
        let theme = Theme {
            name: file.name.clone(),
            base: take("base")?,
            dim: take("dim")?,
            title: take("title")?,
            border: take("border")?,
            border_focus: take("border_focus")?,
            header: take("header")?,
            selected: take("selected")?,
            tab_active: take("tab_active")?,
            tab: take("tab")?,
            key: take("key")?,
            tier_low: take("tier_low")?,
            tier_medium: take("tier_medium")?,
            tier_high: take("tier_high")?,
            answered: take("answered")?,
            partial: take("partial")?,
            unknown: take("unknown")?,
            ok: take("ok")?,
            warning: take("warning")?,
            error: take("error")?,
            badge: take("badge")?,
            dialog: take("dialog")?,
            input: take("input")?,
        };
        if let Some(extra) = styles.keys().next() {
            return Err(invalid(format!("unknown style `{extra}`")));
        }
        Ok(theme)
    }
}

impl StyleSpec {
    fn to_style(&self) -> Result<Style, String> {
        let mut style = Style::default();
        if let Some(fg) = &self.fg {
            style = style.fg(parse_color(fg)?);
        }
        if let Some(bg) = &self.bg {
            style = style.bg(parse_color(bg)?);
        }
        for (on, m) in [
            (self.bold, Modifier::BOLD),
            (self.dim, Modifier::DIM),
            (self.italic, Modifier::ITALIC),
            (self.underlined, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
        ] {
            if on {
                style = style.add_modifier(m);
            }
        }
        Ok(style)
    }
}

fn parse_color(name: &str) -> Result<Color, String> {
    Ok(match name {
        "reset" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" => Color::Gray,
        "dark_gray" => Color::DarkGray,
        "light_red" => Color::LightRed,
        "light_green" => Color::LightGreen,
        "light_yellow" => Color::LightYellow,
        "light_blue" => Color::LightBlue,
        "light_magenta" => Color::LightMagenta,
        "light_cyan" => Color::LightCyan,
        "white" => Color::White,
        hex if hex.len() == 7 && hex.starts_with('#') => {
            let v =
                u32::from_str_radix(&hex[1..], 16).map_err(|_| format!("bad colour {hex:?}"))?;
            Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)
        }
        other => {
            return Err(format!(
                "unknown colour {other:?} (use an ANSI name or #rrggbb)"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_parses() {
        for name in built_in_names() {
            let t = Theme::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.name, name);
        }
    }

    /// The selected queue row is drawn in `selected` alone (its cells drop
    /// their own styles), so the style must stand on its own: both colours,
    /// or reversed video.
    #[test]
    fn every_selection_style_sets_both_colours_or_reverses() {
        for name in built_in_names() {
            let t = Theme::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let s = t.selected;
            assert!(
                (s.fg.is_some() && s.bg.is_some()) || s.add_modifier.contains(Modifier::REVERSED),
                "{name}: {s:?}"
            );
        }
    }

    #[test]
    fn mono_uses_no_colour() {
        let t = Theme::mono();
        for s in [t.selected, t.tier_high, t.error, t.key] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
    }

    #[test]
    fn a_bad_theme_names_the_problem() {
        let err = Theme::parse(
            "name = \"x\"\n[styles]\nbase = { fg = \"mauve\" }",
            "x.toml",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("mauve") || err.to_string().contains("missing"),
            "{err}"
        );
        let err = Theme::load("nope").unwrap_err();
        assert!(err.to_string().contains("dark"), "{err}");
    }
}
