//! `identity.last_used_at`: when the identity was last used, that it never
//! was, or that nobody knows.
//!
//! The three are different facts (shared/DESIGN.md, "The decision policy"):
//! most detectors cannot see usage at all (a leaked key verified live, a
//! secret-scanning alert), so an absent value must never read as "unused".

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;

#[cfg(test)]
use super::parse_rfc3339;
use super::rfc3339;

/// What the usage source says about the identity's last use.
///
/// Wire form (docs/format.md): an RFC 3339 time, the string `"never"` (any
/// case: the usage source saw no use at all), or `null`/absent for unknown.
/// The words of [`super::means_unknown`] (`N/A`, `none`, ...) read as
/// unknown: an AWS credential report's `N/A` must be turned into `"never"`
/// by the pipeline that knows it means that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastUsed {
    /// No usage source reports on this identity: a gap, never "unused".
    #[default]
    Unknown,
    /// The usage source saw no use at all.
    Never,
    /// Last used at this time.
    At(OffsetDateTime),
}

impl LastUsed {
    /// The time of the last use, when there was one and it is known.
    pub fn time(self) -> Option<OffsetDateTime> {
        match self {
            LastUsed::At(t) => Some(t),
            _ => None,
        }
    }

    /// No usage source reports on the identity: a gap, never read as unused.
    pub fn is_unknown(self) -> bool {
        self == LastUsed::Unknown
    }
}

impl fmt::Display for LastUsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LastUsed::Unknown => f.write_str("unknown"),
            LastUsed::Never => f.write_str("never"),
            LastUsed::At(t) => f.write_str(&rfc3339(*t)),
        }
    }
}

impl Serialize for LastUsed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LastUsed::Unknown => s.serialize_none(),
            LastUsed::Never => s.serialize_str("never"),
            LastUsed::At(t) => s.serialize_str(&rfc3339(*t)),
        }
    }
}

impl<'de> Deserialize<'de> for LastUsed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(LastUsedVisitor)
    }
}

struct LastUsedVisitor;

impl<'de> Visitor<'de> for LastUsedVisitor {
    type Value = LastUsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an RFC 3339 time, "never", or null (unknown)"#)
    }

    fn visit_none<E: de::Error>(self) -> Result<LastUsed, E> {
        Ok(LastUsed::Unknown)
    }

    fn visit_unit<E: de::Error>(self) -> Result<LastUsed, E> {
        Ok(LastUsed::Unknown)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LastUsed, D::Error> {
        d.deserialize_any(self)
    }

    /// `never` in any case; the words of [`super::means_unknown`] (`N/A`,
    /// `none`, ...) are unknown, never "never": a detector's `none` may mean
    /// either, and unknown is the reading that is never unsafe.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<LastUsed, E> {
        if v.trim().eq_ignore_ascii_case("never") {
            return Ok(LastUsed::Never);
        }
        if super::means_unknown(v) {
            return Ok(LastUsed::Unknown);
        }
        super::lenient::parse_time(v)
            .map(LastUsed::At)
            .map_err(|e| E::custom(format!(r#"{e}, nor "never""#)))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<LastUsed, E> {
        Err(E::custom(
            r#"is a number, not an RFC 3339 time nor "never""#,
        ))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LastUsed, E> {
        self.visit_u64(v.unsigned_abs())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<LastUsed, E> {
        self.visit_u64(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct Holder {
        #[serde(default)]
        last_used_at: LastUsed,
    }

    fn parse(json: &str) -> Result<LastUsed, serde_json::Error> {
        serde_json::from_str::<Holder>(json).map(|h| h.last_used_at)
    }

    #[test]
    fn absent_and_null_are_unknown_never_is_never() {
        assert_eq!(parse("{}").unwrap(), LastUsed::Unknown);
        assert_eq!(
            parse(r#"{"last_used_at":null}"#).unwrap(),
            LastUsed::Unknown
        );
        assert_eq!(
            parse(r#"{"last_used_at":"never"}"#).unwrap(),
            LastUsed::Never
        );
        let t = parse(r#"{"last_used_at":"2026-06-01T00:00:00Z"}"#).unwrap();
        assert_eq!(
            t.time().map(rfc3339).as_deref(),
            Some("2026-06-01T00:00:00Z")
        );
    }

    #[test]
    fn words_for_unknown_are_unknown_and_never_is_any_case() {
        for word in ["N/A", "none", "unknown", ""] {
            let json = format!(r#"{{"last_used_at":"{word}"}}"#);
            assert_eq!(parse(&json).unwrap(), LastUsed::Unknown, "{word}");
        }
        assert_eq!(
            parse(r#"{"last_used_at":"NEVER"}"#).unwrap(),
            LastUsed::Never
        );
    }

    #[test]
    fn other_strings_are_errors_saying_what_is_wrong() {
        let err = parse(r#"{"last_used_at":"yesterday"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RFC 3339") && err.contains("never"), "{err}");
        let err = parse(r#"{"last_used_at":"2026-06-01T00:00:00"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("has no time zone"), "{err}");
    }

    #[test]
    fn round_trips() {
        for v in [
            LastUsed::Unknown,
            LastUsed::Never,
            LastUsed::At(parse_rfc3339("2026-06-01T00:00:00Z").unwrap()),
        ] {
            let text = serde_json::to_string(&Holder { last_used_at: v }).unwrap();
            assert_eq!(parse(&text).unwrap(), v, "{text}");
        }
    }
}
