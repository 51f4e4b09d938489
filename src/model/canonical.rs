//! Canonical JSON written straight from a `Serialize` value, without the
//! `serde_json::Value` tree [`super::canonical_json`] is given (issue 9: the
//! tree cost a quarter of a large import). The bytes are the same: object
//! keys sorted by byte order (a repeated key keeps its last value, as a
//! `Value` object does), no whitespace, strings escaped and integers
//! written by serde_json itself. Leaves a `Value` would change (floats,
//! 128-bit integers, bytes, chars) are written through a `Value`, and
//! anything a `Value` cannot hold is an error: [`super::canonical_json_of`]
//! then takes the `Value` path, so its output never differs from it.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Why a value cannot be written directly (the caller falls back to the
/// `Value` path, which decides what such a value becomes).
#[derive(Debug)]
pub(super) struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, Unsupported>;

/// Appends the canonical bytes of `value` to `out` (on error `out` holds a
/// partial value: the caller discards it).
pub(super) fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    value.serialize(Canon(out))
}

/// A leaf written exactly as its `serde_json::Value` would be.
fn via_value<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result<()> {
    let value = serde_json::to_value(v).map_err(|e| Unsupported(e.to_string()))?;
    serde_json::to_writer(out, &value).map_err(|e| Unsupported(e.to_string()))
}

fn json<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result<()> {
    serde_json::to_writer(out, v).map_err(|e| Unsupported(e.to_string()))
}

struct Canon<'a>(&'a mut Vec<u8>);

/// An object being written: each value's bytes in `scratch`, the keys and
/// ranges in `entries`; sorted and written out at the end.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    scratch: Vec<u8>,
    entries: Vec<(Cow<'static, str>, usize, usize)>,
    /// The key of the entry being written (maps give key and value apart).
    key: Option<Cow<'static, str>>,
    /// For an enum variant's object: the variant name wrapping this object.
    variant: Option<&'static str>,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, len: Option<usize>, variant: Option<&'static str>) -> Self {
        Object {
            out,
            scratch: Vec::with_capacity(256),
            entries: Vec::with_capacity(len.unwrap_or(8)),
            key: None,
            variant,
        }
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: Cow<'static, str>, value: &T) -> Result<()> {
        let start = self.scratch.len();
        value.serialize(Canon(&mut self.scratch))?;
        self.entries.push((key, start, self.scratch.len()));
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        if let Some(variant) = self.variant {
            self.out.push(b'{');
            json(self.out, variant)?;
            self.out.push(b':');
        }
        // Stable: of equal keys the last written stays last, and is kept.
        self.entries
            .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.out.push(b'{');
        let mut first = true;
        for (i, (key, start, end)) in self.entries.iter().enumerate() {
            if self.entries.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            json(self.out, key.as_ref())?;
            self.out.push(b':');
            self.out.extend_from_slice(&self.scratch[*start..*end]);
        }
        self.out.push(b'}');
        if self.variant.is_some() {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// An array being written, straight into `out`.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// For an enum variant's array: close the wrapping object too.
    variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Canon(self.out))
    }

    fn finish(self) -> Result<()> {
        self.out.push(b']');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

macro_rules! integers {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<()> {
            json(self.0, &v)
        })*
    };
}

impl<'a> ser::Serializer for Canon<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.0.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<()> {
        via_value(self.0, &v)
    }
    fn serialize_u128(self, v: u128) -> Result<()> {
        via_value(self.0, &v)
    }
    fn serialize_f32(self, v: f32) -> Result<()> {
        via_value(self.0, &v)
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        via_value(self.0, &v)
    }
    fn serialize_char(self, v: char) -> Result<()> {
        via_value(self.0, &v)
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        json(self.0, v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        via_value(self.0, v)
    }
    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        json(self.0, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.0.push(b'{');
        json(self.0, variant)?;
        self.0.push(b':');
        value.serialize(Canon(self.0))?;
        self.0.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>> {
        self.0.push(b'[');
        Ok(Array {
            out: self.0,
            first: true,
            variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>> {
        self.0.push(b'{');
        json(self.0, variant)?;
        self.0.extend_from_slice(b":[");
        Ok(Array {
            out: self.0,
            first: true,
            variant: true,
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Object<'a>> {
        Ok(Object::new(self.0, len, None))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Object<'a>> {
        // serde_json's own markers (a `RawValue`) mean something to a `Value`.
        if name.starts_with("$serde_json::") {
            return Err(Unsupported(format!("serde_json's {name}")));
        }
        Ok(Object::new(self.0, Some(len), None))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Object<'a>> {
        Ok(Object::new(self.0, Some(len), Some(variant)))
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(Cow::Owned(key.serialize(KeyText)?));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Unsupported("a map value without its key".into()))?;
        self.entry(key, value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.entry(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.entry(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

/// A map key as text: strings (and what serializes as one) only; any other
/// key is left to the `Value` path, which knows its own rules for them.
struct KeyText;

fn other_key<T>() -> Result<T> {
    Err(Unsupported("a map key that is not a string".into()))
}

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = Unsupported;
    type SerializeSeq = Impossible<String, Unsupported>;
    type SerializeTuple = Impossible<String, Unsupported>;
    type SerializeTupleStruct = Impossible<String, Unsupported>;
    type SerializeTupleVariant = Impossible<String, Unsupported>;
    type SerializeMap = Impossible<String, Unsupported>;
    type SerializeStruct = Impossible<String, Unsupported>;
    type SerializeStructVariant = Impossible<String, Unsupported>;

    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String> {
        value.serialize(self)
    }
    fn serialize_bool(self, _v: bool) -> Result<String> {
        other_key()
    }
    fn serialize_i8(self, _v: i8) -> Result<String> {
        other_key()
    }
    fn serialize_i16(self, _v: i16) -> Result<String> {
        other_key()
    }
    fn serialize_i32(self, _v: i32) -> Result<String> {
        other_key()
    }
    fn serialize_i64(self, _v: i64) -> Result<String> {
        other_key()
    }
    fn serialize_u8(self, _v: u8) -> Result<String> {
        other_key()
    }
    fn serialize_u16(self, _v: u16) -> Result<String> {
        other_key()
    }
    fn serialize_u32(self, _v: u32) -> Result<String> {
        other_key()
    }
    fn serialize_u64(self, _v: u64) -> Result<String> {
        other_key()
    }
    fn serialize_f32(self, _v: f32) -> Result<String> {
        other_key()
    }
    fn serialize_f64(self, _v: f64) -> Result<String> {
        other_key()
    }
    fn serialize_char(self, _v: char) -> Result<String> {
        other_key()
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String> {
        other_key()
    }
    fn serialize_none(self) -> Result<String> {
        other_key()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String> {
        other_key()
    }
    fn serialize_unit(self) -> Result<String> {
        other_key()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String> {
        other_key()
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String> {
        other_key()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        other_key()
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        other_key()
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        other_key()
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        other_key()
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        other_key()
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        other_key()
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        other_key()
    }
}
