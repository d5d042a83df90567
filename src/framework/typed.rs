//! Typed access to Terraform values through serde, and `Attr<T>`, the three-state value
//! (null / unknown / known) for attributes that may be unknown during planning.
//!
//! Resources declare plain structs (`#[derive(Deserialize, Serialize)]`) and convert with
//! [`from_value`] / [`to_value`]. Plain `T` fields require a known value, `Option<T>` accepts
//! null, and `Attr<T>` also accepts unknown.

use crate::protocol::value::{Number, Value};
use serde::de::{self, DeserializeSeed, IntoDeserializer, SeqAccess, Visitor};
use serde::ser::{self, Serialize};
use serde::{Deserialize, Deserializer, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Newtype-struct name by which `Attr<T>` recognises our (de)serializer.
const ATTR_TOKEN: &str = "$shard_provider::Attr";

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ValueError(pub String);

impl de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}
impl ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

/// A value that Terraform may not know yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Attr<T> {
    #[default]
    Null,
    Unknown,
    Known(T),
}

impl<T> Attr<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Attr::Known(v) => Some(v),
            _ => None,
        }
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Attr::Unknown)
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Attr::Null)
    }
}

impl<T> From<Option<T>> for Attr<T> {
    fn from(o: Option<T>) -> Attr<T> {
        o.map_or(Attr::Null, Attr::Known)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Attr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Attr<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Terraform value")
            }
            // Our deserializer: (state tag, value).
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attr<T>, A::Error> {
                let tag: u8 = seq.next_element()?.ok_or_else(|| de::Error::custom("missing state"))?;
                Ok(match tag {
                    0 => Attr::Null,
                    1 => Attr::Unknown,
                    _ => Attr::Known(seq.next_element()?.ok_or_else(|| de::Error::custom("missing value"))?),
                })
            }
            // Any other deserializer: null or a value.
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Attr<T>, D::Error> {
                Ok(Option::<T>::deserialize(d)?.into())
            }
        }
        d.deserialize_newtype_struct(ATTR_TOKEN, V(std::marker::PhantomData))
    }
}

impl<T: Serialize> Serialize for Attr<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let repr: (u8, Option<&T>) = match self {
            Attr::Null => (0, None),
            Attr::Unknown => (1, None),
            Attr::Known(v) => (2, Some(v)),
        };
        s.serialize_newtype_struct(ATTR_TOKEN, &repr)
    }
}

/// Decodes a Terraform value into a typed struct.
pub fn from_value<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, ValueError> {
    T::deserialize(ValueDe(value))
}

/// Encodes a typed struct as a Terraform value (conform it to the schema type before sending).
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ValueSer)
}

struct ValueDe(Value);

impl<'de> IntoDeserializer<'de, ValueError> for ValueDe {
    type Deserializer = ValueDe;
    fn into_deserializer(self) -> ValueDe {
        self
    }
}

impl<'de> Deserializer<'de> for ValueDe {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Null => v.visit_unit(),
            Value::Unknown => Err(ValueError("value is not known until apply".into())),
            Value::Bool(b) => v.visit_bool(b),
            Value::Number(Number::Int(i)) => v.visit_i64(i),
            Value::Number(Number::Float(f)) => v.visit_f64(f),
            Value::Number(Number::Decimal(s)) => v.visit_string(s),
            Value::String(s) => v.visit_string(s),
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                v.visit_seq(de::value::SeqDeserializer::new(items.into_iter().map(ValueDe)))
            }
            Value::Map(m) | Value::Object(m) => {
                v.visit_map(de::value::MapDeserializer::new(m.into_iter().map(|(k, val)| (k, ValueDe(val)))))
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Null => v.visit_none(),
            Value::Unknown => Err(ValueError("value is not known until apply".into())),
            other => v.visit_some(ValueDe(other)),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Number(Number::Decimal(s)) => {
                v.visit_u64(s.parse().map_err(|_| ValueError(format!("{s} is not a whole number in range")))?)
            }
            other => ValueDe(other).deserialize_any(v),
        }
    }

    /// Any number reads as a float, a decimal kept as text ("0.1") included.
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Number(n) => v.visit_f64(n.as_f64()),
            other => ValueDe(other).deserialize_any(v),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        self.deserialize_f64(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, v: V) -> Result<V::Value, ValueError> {
        if name == ATTR_TOKEN {
            v.visit_seq(AttrAccess { value: Some(self.0), sent_tag: false })
        } else {
            v.visit_newtype_struct(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::String(s) => v.visit_enum(s.into_deserializer()),
            other => Err(ValueError(format!("expected a string naming a variant, found {other:?}"))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u128 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// Presents a value to `Attr`'s visitor as (state tag, value).
struct AttrAccess {
    value: Option<Value>,
    sent_tag: bool,
}

impl<'de> SeqAccess<'de> for AttrAccess {
    type Error = ValueError;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, ValueError> {
        if !self.sent_tag {
            self.sent_tag = true;
            let tag: u8 = match &self.value {
                Some(Value::Null) | None => 0,
                Some(Value::Unknown) => 1,
                Some(_) => 2,
            };
            return seed.deserialize(tag.into_deserializer()).map(Some);
        }
        match self.value.take() {
            Some(v) => seed.deserialize(ValueDe(v)).map(Some),
            None => Ok(None),
        }
    }
}

struct ValueSer;

fn number(n: Number) -> Result<Value, ValueError> {
    Ok(Value::Number(n))
}

impl Serializer for ValueSer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = ser::Impossible<Value, ValueError>;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = ser::Impossible<Value, ValueError>;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        number(Number::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        number(Number::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        number(Number::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        number(Number::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        number(Number::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        number(Number::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        number(Number::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        number(i64::try_from(v).map(Number::Int).unwrap_or_else(|_| Number::Decimal(v.to_string())))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        number(Number::from_f64(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        if !v.is_finite() {
            return Err(ValueError(format!("{v} is not a Terraform number")));
        }
        number(Number::from_f64(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Value, ValueError> {
        Err(ValueError("bytes have no Terraform type; encode them as a string".into()))
    }
    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, ValueError> {
        v.serialize(ValueSer)
    }
    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<Value, ValueError> {
        Ok(Value::String(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> Result<Value, ValueError> {
        let inner = v.serialize(ValueSer)?;
        if name != ATTR_TOKEN {
            return Ok(inner);
        }
        match inner {
            Value::List(mut parts) if parts.len() == 2 => {
                let val = parts.pop().unwrap_or_default();
                Ok(match parts[0].as_i64() {
                    Some(0) => Value::Null,
                    Some(1) => Value::Unknown,
                    _ => val,
                })
            }
            other => Err(ValueError(format!("malformed Attr encoding {other:?}"))),
        }
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, ValueError> {
        let mut m = BTreeMap::new();
        m.insert(variant.to_string(), v.serialize(ValueSer)?);
        Ok(Value::Object(m))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, ValueError> {
        Ok(SeqSer(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqSer, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        Err(ValueError(format!("{name}: tuple variants have no Terraform type")))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapSer, ValueError> {
        Ok(MapSer { map: BTreeMap::new(), key: None, is_struct: false })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapSer, ValueError> {
        Ok(MapSer { map: BTreeMap::new(), key: None, is_struct: true })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        Err(ValueError(format!("{name}: struct variants have no Terraform type")))
    }
}

struct SeqSer(Vec<Value>);

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        self.0.push(v.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::List(self.0))
    }
}
impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, ValueError> {
        ser::SerializeSeq::end(self)
    }
}
impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, ValueError> {
        ser::SerializeSeq::end(self)
    }
}

struct MapSer {
    map: BTreeMap<String, Value>,
    key: Option<String>,
    is_struct: bool,
}

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), ValueError> {
        match k.serialize(ValueSer)? {
            Value::String(s) => {
                self.key = Some(s);
                Ok(())
            }
            other => Err(ValueError(format!("map keys must be strings, got {other:?}"))),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        let key = self.key.take().ok_or_else(|| ValueError("map value without a key".into()))?;
        self.map.insert(key, v.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(if self.is_struct { Value::Object(self.map) } else { Value::Map(self.map) })
    }
}
impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> Result<(), ValueError> {
        self.map.insert(k.to_string(), v.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Object(self.map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Model {
        name: String,
        weight: i64,
        note: Option<String>,
        id: Attr<String>,
        tags: Vec<String>,
    }

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    #[test]
    fn three_states_round_trip() {
        for id in [Value::Null, Value::Unknown, Value::str("abc")] {
            let v = obj(vec![
                ("name", Value::str("a")),
                ("weight", Value::int(7)),
                ("note", Value::Null),
                ("id", id.clone()),
                ("tags", Value::List(vec![Value::str("x")])),
            ]);
            let m: Model = from_value(v.clone()).unwrap();
            assert_eq!(
                m.id,
                match &id {
                    Value::Null => Attr::Null,
                    Value::Unknown => Attr::Unknown,
                    _ => Attr::Known("abc".into()),
                }
            );
            assert_eq!(to_value(&m).unwrap(), v);
        }
    }

    #[test]
    fn a_decimal_kept_as_text_reads_as_a_float() {
        #[derive(Deserialize)]
        struct F {
            ratio: f64,
        }
        let v = Value::Object([("ratio".to_string(), Value::Number(Number::Decimal("0.1".into())))].into());
        assert_eq!(from_value::<F>(v).unwrap().ratio, 0.1);
    }

    #[test]
    fn unknown_where_a_known_value_is_required_is_an_error() {
        let v = obj(vec![
            ("name", Value::Unknown),
            ("weight", Value::int(1)),
            ("note", Value::Null),
            ("id", Value::Null),
            ("tags", Value::List(vec![])),
        ]);
        let err = from_value::<Model>(v).unwrap_err();
        assert!(err.0.contains("not known"), "{err}");
    }
}
