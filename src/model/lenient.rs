//! How the case format reads typed values: what a detector writes in the
//! wild (`HIGH`, `informational`, `N/A`) next to what the format says.
//!
//! These deserializers run on the fast path (a plain typed parse) and accept,
//! without a problem:
//!
//! - enumeration names in any letter case, with surrounding spaces
//!   (`HIGH`, ` Revoke `);
//! - for an optional value, a word that says "not known" ([`means_unknown`]):
//!   read as `null`, never guessed.
//!
//! Anything else that does not fit fails the fast parse; the slow path
//! (`super::repair`) then reads the field as unknown with a
//! [`super::CaseProblem`] naming its path, or rejects the case when the
//! field is required. The error messages written here become the problem's
//! message, so each starts with a verb: `is not a level (…)`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BoolDeserializer, F64Deserializer, I64Deserializer, U64Deserializer};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use time::OffsetDateTime;

use super::case::{ActionKind, Level, OwnerBasis, Privilege, Validity};

/// Whether `s` says "not known" for an optional typed value (enumeration,
/// time, boolean, number): empty or blank, `unknown`, `none`, `n/a`, `null`
/// (any case, surrounding spaces ignored). docs/format.md, "Leniency".
pub fn means_unknown(s: &str) -> bool {
    let s = s.trim();
    s.is_empty()
        || ["unknown", "none", "n/a", "null"]
            .iter()
            .any(|w| s.eq_ignore_ascii_case(w))
}

/// An enumeration of the case format, read by name in any letter case.
pub(crate) trait Named: Sized + Copy + 'static {
    /// Every value with its wire name (lowercase).
    const ALL: &'static [(&'static str, Self)];
    /// What the value is, for messages: `a level`.
    const WHAT: &'static str;
    /// Extra words that mean "not known" for an optional value of this type.
    const UNKNOWN_WORDS: &'static [&'static str] = &[];

    /// The value named `s` (any case, surrounding spaces ignored).
    fn from_name(s: &str) -> Option<Self> {
        // The wire name as written (the common case), then any case.
        if let Some((_, v)) = Self::ALL.iter().find(|(name, _)| *name == s) {
            return Some(*v);
        }
        let s = s.trim();
        Self::ALL
            .iter()
            .find(|(name, _)| s.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// `is not a level (critical, high, medium, low)`.
    fn not_one() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
        format!("is not {} ({})", Self::WHAT, names.join(", "))
    }
}

impl Named for Level {
    const ALL: &'static [(&'static str, Self)] = &[
        ("critical", Level::Critical),
        ("high", Level::High),
        ("medium", Level::Medium),
        ("low", Level::Low),
    ];
    const WHAT: &'static str = "a level";
    /// Detectors' "informational" severity is no level of ours: unknown.
    const UNKNOWN_WORDS: &'static [&'static str] = &["info", "informational"];
}

impl Named for Privilege {
    const ALL: &'static [(&'static str, Self)] = &[
        ("admin", Privilege::Admin),
        ("write", Privilege::Write),
        ("read", Privilege::Read),
    ];
    const WHAT: &'static str = "a privilege";
}

impl Named for OwnerBasis {
    const ALL: &'static [(&'static str, Self)] = &[
        ("explicit", OwnerBasis::Explicit),
        ("inferred", OwnerBasis::Inferred),
        ("unknown", OwnerBasis::Unknown),
    ];
    const WHAT: &'static str = "an owner basis";
}

impl Named for ActionKind {
    const ALL: &'static [(&'static str, Self)] = &[
        ("rotate", ActionKind::Rotate),
        ("revoke", ActionKind::Revoke),
        ("disable", ActionKind::Disable),
        ("delete", ActionKind::Delete),
        ("reduce_scope", ActionKind::ReduceScope),
    ];
    const WHAT: &'static str = "an action kind";
}

macro_rules! deserialize_named {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(NamedVisitor::<$t>(PhantomData))
            }
        }
    )*};
}
impl Named for Validity {
    const ALL: &'static [(&'static str, Self)] =
        &[("live", Validity::Live), ("inactive", Validity::Inactive)];
    const WHAT: &'static str = "a validity";
}

deserialize_named!(Level, Privilege, OwnerBasis, ActionKind, Validity);

struct NamedVisitor<T>(PhantomData<T>);

impl<T: Named> Visitor<'_> for NamedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::WHAT)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        T::from_name(s).ok_or_else(|| E::custom(T::not_one()))
    }
}

/// An optional value and the words that mean "not known" for it.
pub(crate) trait Optional: DeserializeOwned {
    fn means_unknown(s: &str) -> bool {
        means_unknown(s)
    }
}

impl Optional for bool {}
impl Optional for u32 {}
impl Optional for Privilege {}
impl Optional for Validity {}
impl Optional for Level {
    fn means_unknown(s: &str) -> bool {
        means_unknown(s)
            || Self::UNKNOWN_WORDS
                .iter()
                .any(|w| s.trim().eq_ignore_ascii_case(w))
    }
}

/// `deserialize_with` for an optional enumeration, boolean or number:
/// `null`, absent and the words of [`Optional::means_unknown`] are `None`.
pub(crate) fn option<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Optional,
{
    d.deserialize_any(OptionVisitor::<T>(PhantomData))
}

struct OptionVisitor<T>(PhantomData<T>);

impl<'de, T: Optional> Visitor<'de> for OptionVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<T>, E> {
        // A value first (the common case), the words for unknown after.
        match T::deserialize(Text::<E>(s, PhantomData)) {
            Ok(v) => Ok(Some(v)),
            Err(_) if T::means_unknown(s) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<T>, E> {
        T::deserialize(BoolDeserializer::<E>::new(v)).map(Some)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        T::deserialize(U64Deserializer::<E>::new(v)).map(Some)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        T::deserialize(I64Deserializer::<E>::new(v)).map(Some)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        T::deserialize(F64Deserializer::<E>::new(v)).map(Some)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Option<T>, A::Error> {
        Err(de::Error::custom("is a list, not a single value"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Option<T>, A::Error> {
        Err(de::Error::custom("is an object, not a single value"))
    }
}

/// A string handed to a type that is not a string (a boolean, a number): a
/// message in the problem's words, instead of serde's `invalid type`.
struct Text<'a, E>(&'a str, PhantomData<E>);

impl<'de, E: de::Error> Deserializer<'de> for Text<'_, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, E> {
        v.visit_str(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
        Err(E::custom("is a string, not true or false"))
    }

    fn deserialize_u32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
        Err(E::custom("is a string, not a whole number"))
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// `deserialize_with` for an optional RFC 3339 time: `null`, absent and the
/// words of [`means_unknown`] are `None`. A time without a zone is never
/// read as UTC.
pub(crate) fn option_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    d.deserialize_any(TimeVisitor { optional: true })
}

/// `deserialize_with` for a required RFC 3339 time.
pub(crate) fn time<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    d.deserialize_any(TimeVisitor { optional: false })?
        .ok_or_else(|| de::Error::custom("is required, and no time was given"))
}

struct TimeVisitor {
    optional: bool,
}

impl<'de> Visitor<'de> for TimeVisitor {
    type Value = Option<OffsetDateTime>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 time")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        if self.optional {
            Ok(None)
        } else {
            Err(E::custom("is null; a time is required"))
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        match parse_time(s) {
            Ok(t) => Ok(Some(t)),
            Err(_) if self.optional && means_unknown(s) => Ok(None),
            Err(e) => Err(E::custom(e)),
        }
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_A_TIME_NUMBER))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_A_TIME_NUMBER))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_A_TIME_NUMBER))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom("is true or false, not a time"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom("is a list, not a time"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom("is an object, not a time"))
    }
}

const NOT_A_TIME_NUMBER: &str =
    "is a number, not an RFC 3339 time (epoch seconds are not guessed at)";

/// RFC 3339 text as a time, or what is wrong with it, in words that start
/// with a verb.
pub(crate) fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    match super::parse_rfc3339(s) {
        Ok(t) => Ok(t),
        Err(e) => {
            // A local time with no zone: the reading would be a guess.
            let zoneless = time::PrimitiveDateTime::parse(
                s,
                &time::format_description::well_known::Iso8601::DEFAULT,
            )
            .is_ok();
            Err(if zoneless {
                "has no time zone (a local time is not assumed to be UTC)".to_string()
            } else {
                format!(
                    "is not an RFC 3339 time such as 2026-11-27T12:00:00Z or \
                     2026-11-27T04:00:00-08:00 ({e})"
                )
            })
        }
    }
}

/// `deserialize_with` for an id (case, identity, dependency node): checked
/// by [`super::ids::check_id`] and read in Unicode NFC.
pub(crate) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    super::ids::read_id(String::deserialize(d)?).map_err(de::Error::custom)
}

/// `deserialize_with` for a list of node ids (`uses`): each checked and read
/// in NFC as [`id`] is.
pub(crate) fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_seq(IdsVisitor)
}

struct IdsVisitor;

impl<'de> Visitor<'de> for IdsVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of node ids")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(Id(id)) = seq.next_element()? {
            out.push(id);
        }
        Ok(out)
    }
}

struct Id(String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        id(d).map(Id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "option")]
        level: Option<Level>,
        #[serde(default, deserialize_with = "option")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "option")]
        minutes: Option<u32>,
        #[serde(default, deserialize_with = "option_time")]
        at: Option<OffsetDateTime>,
    }

    fn parse(json: &str) -> Result<Holder, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn enumerations_match_in_any_case() {
        for (text, want) in [
            ("high", Level::High),
            ("HIGH", Level::High),
            (" Critical ", Level::Critical),
        ] {
            let h = parse(&format!(r#"{{"level":"{text}"}}"#)).unwrap();
            assert_eq!(h.level, Some(want), "{text}");
        }
        let kind: ActionKind = serde_json::from_str(r#""REDUCE_SCOPE""#).unwrap();
        assert_eq!(kind, ActionKind::ReduceScope);
        let basis: OwnerBasis = serde_json::from_str(r#""Explicit""#).unwrap();
        assert_eq!(basis, OwnerBasis::Explicit);
    }

    #[test]
    fn words_for_unknown_are_null() {
        for word in ["unknown", "None", "N/A", "", " ", "null"] {
            let h = parse(&format!(
                r#"{{"level":"{word}","flag":"{word}","at":"{word}"}}"#
            ));
            let h = h.unwrap_or_else(|e| panic!("{word:?}: {e}"));
            assert!(h.level.is_none() && h.flag.is_none() && h.at.is_none());
        }
        for word in ["info", "INFORMATIONAL"] {
            let h = parse(&format!(r#"{{"level":"{word}"}}"#));
            assert!(
                h.unwrap_or_else(|e| panic!("{word:?}: {e}"))
                    .level
                    .is_none()
            );
        }
        // `info` is a severity word only.
        assert!(parse(r#"{"flag":"info"}"#).is_err());
    }

    #[test]
    fn other_values_are_errors_in_the_problem_s_words() {
        let e = parse(r#"{"level":"HIGHEST"}"#).unwrap_err();
        assert!(
            e.starts_with("is not a level (critical, high, medium, low)"),
            "{e}"
        );
        let e = parse(r#"{"flag":"yes"}"#).unwrap_err();
        assert!(e.starts_with("is a string, not true or false"), "{e}");
        let e = parse(r#"{"minutes":"5"}"#).unwrap_err();
        assert!(e.starts_with("is a string, not a whole number"), "{e}");
        assert_eq!(parse(r#"{"minutes":5}"#).unwrap().minutes, Some(5));
        assert!(parse(r#"{"minutes":-5}"#).is_err());
        assert!(parse(r#"{"level":["high"]}"#).is_err());
    }

    #[test]
    fn times_need_a_zone_and_rfc_3339() {
        let at = |s: &str| parse(&format!(r#"{{"at":"{s}"}}"#)).map(|h| h.at);
        assert!(at("2026-11-27T12:00:00Z").unwrap().is_some());
        assert!(at("2026-11-27T04:00:00-08:00").unwrap().is_some());
        let e = at("2026-11-27T12:00:00").unwrap_err();
        assert!(e.starts_with("has no time zone"), "{e}");
        let e = at("2026-11-27T04:00:00-8:00").unwrap_err();
        assert!(e.starts_with("is not an RFC 3339 time"), "{e}");
        assert!(e.contains("offset hour"), "{e}");
        let e = parse(r#"{"at":1764244800}"#).unwrap_err();
        assert!(e.starts_with("is a number"), "{e}");
    }
}
