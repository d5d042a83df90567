//! The typed models of configuration, plan and state that every kind of type (resource, data
//! source, ephemeral resource, provider) shares: decoding a value into its serde model and back,
//! the request every `validate` receives, and the check that a model's fields are its schema's
//! attributes ([`shape_of`], [`differences`]).

use super::diag::{AttrPath, Diagnostics};
use super::schema::{AttrKind, Block};
use super::timeouts::Op;
use super::typed::{self, Attr};
use crate::protocol::value::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Decodes a value into a typed model, as a diagnostic on failure (a provider bug or a value
/// not yet known).
pub fn decode<T: DeserializeOwned>(what: &str, value: &Value) -> Result<T, Diagnostics> {
    typed::from_value(value.clone())
        .map_err(|e| Diagnostics::error(format!("Could not read the {what}"), e.to_string()))
}

/// Encodes a model as a value; a failure is an error diagnostic (never a silent null state,
/// which would tell Terraform the object is gone).
pub fn encode<T: Serialize>(model: &T) -> Result<Value, Diagnostics> {
    typed::to_value(model).map_err(|e| {
        Diagnostics::error("Could not encode the resource state", format!("{e}; this is a bug in the provider"))
    })
}

/// Resolves an `Attr` that must be known by now (at apply), naming the attribute otherwise.
pub fn require_known<'a, T>(attr: &'a Attr<T>, name: &str) -> Result<&'a T, Diagnostics> {
    attr.known().ok_or_else(|| {
        Diagnostics::attr_error(
            AttrPath::attr(name),
            format!("{name} is not known"),
            format!("{name} must be known when this operation runs"),
        )
    })
}

/// What every `validate` receives.
pub struct ValidateRequest {
    /// May contain unknown values (references to other resources not yet created).
    pub config: Value,
}

/// The field names of a serde model, with those of the struct each field holds (directly or as
/// the element of an `Option`, `Attr`, list or map), as serde (de)serializes them: after
/// `rename`, without `skip` fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFields(pub BTreeMap<String, Option<ModelFields>>);

/// A model's fields as decoding reads them and, for a model that is also written back (state,
/// a result), as encoding writes them (`skip_serializing` fields are absent there).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelShape {
    pub reads: ModelFields,
    pub writes: Option<ModelFields>,
}

/// The fields `T` reads: its derived `Deserialize` names them to the deserializer
/// (`deserialize_struct(name, fields, visitor)`), which here records them and hands each field
/// a placeholder value, descending into nested structs.
pub fn reads_of<T: DeserializeOwned>() -> Result<ModelFields, String> {
    reads_and_sample::<T>().map(|(fields, _)| fields)
}

/// What `T` reads and writes. The written names come from encoding the placeholder model the
/// recording decode produced (every `Option` and `Attr` in it set, so no field is left out).
pub fn shape_of<T: DeserializeOwned + Serialize>() -> Result<ModelShape, String> {
    let (reads, sample) = reads_and_sample::<T>()?;
    let written = typed::to_value(&sample).map_err(|e| format!("encoding a placeholder model: {e}"))?;
    Ok(ModelShape { reads, writes: Some(written_fields(&written).unwrap_or_default()) })
}

fn reads_and_sample<T: DeserializeOwned>() -> Result<(ModelFields, T), String> {
    let slot = recorder::Slot::default();
    let sample = T::deserialize(recorder::Recorder { slot: slot.clone() }).map_err(|e| e.0)?;
    let fields = slot.take().ok_or("the model is not a struct")?;
    Ok((fields, sample))
}

/// The struct fields an encoded value shows (None when it holds no struct).
fn written_fields(v: &Value) -> Option<ModelFields> {
    match v {
        Value::Object(m) => Some(ModelFields(m.iter().map(|(k, v)| (k.clone(), written_fields(v))).collect())),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => items.first().and_then(written_fields),
        Value::Map(m) => m.values().next().and_then(written_fields),
        _ => None,
    }
}

/// How a model must cover a schema block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every attribute and nested block has a field and every field is one (a resource's model,
    /// an ephemeral resource's, a data source's state, the provider's configuration).
    All,
    /// Every attribute the configuration can set has a field and every field is an attribute; a
    /// computed-only attribute may have none (a data source's configuration).
    Configurable,
}

/// Where `fields` and `block` disagree, one sentence each, naming the dotted path. Nested blocks
/// and nested attributes are compared where the model holds a struct for them.
pub fn differences(block: &Block, fields: &ModelFields, coverage: Coverage) -> Vec<String> {
    let mut out = Vec::new();
    compare(block, fields, coverage, "", &mut out);
    out
}

fn compare(block: &Block, fields: &ModelFields, coverage: Coverage, prefix: &str, out: &mut Vec<String>) {
    let mut names = BTreeMap::new();
    for a in &block.attributes {
        let needed = coverage == Coverage::All || a.required || a.optional;
        let nested = match &a.kind {
            AttrKind::Nested(_, attrs) => Some(Block { attributes: attrs.clone(), ..Block::default() }),
            AttrKind::Typed(_) => None,
        };
        names.insert(a.name.as_str(), (needed, nested));
    }
    for b in &block.blocks {
        names.insert(b.name.as_str(), (true, Some(b.block.clone())));
    }
    for (name, (needed, nested)) in &names {
        match fields.0.get(*name) {
            None if *needed => {
                out.push(format!("{prefix}{name}: a schema attribute or block the model has no field for"))
            }
            None => {}
            Some(Some(inner)) => {
                if let Some(nested) = nested {
                    compare(nested, inner, coverage, &format!("{prefix}{name}."), out);
                }
            }
            Some(None) => {}
        }
    }
    for name in fields.0.keys() {
        // The framework's `Timeouts` has a field for every operation; a type's `timeouts` block
        // declares the ones it limits.
        let unused_timeout = prefix == "timeouts." && Op::ALL.iter().any(|op| op.name() == name);
        if !names.contains_key(name.as_str()) && !unused_timeout {
            out.push(format!("{prefix}{name}: a model field that is no schema attribute or block"));
        }
    }
}

/// A deserializer that records the field names a derived `Deserialize` asks for and feeds it
/// placeholder values (`Some`, zero, empty string, one element per collection).
mod recorder {
    use super::ModelFields;
    use crate::framework::typed::ValueError;
    use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    /// Integers of any width read a zero.
    macro_rules! placeholder_ints {
        ($($method:ident)*) => {$(
            fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
                v.visit_u64(0)
            }
        )*};
    }

    /// Where a struct's recorded fields go.
    #[derive(Clone, Default)]
    pub struct Slot(Rc<RefCell<Option<ModelFields>>>);

    impl Slot {
        pub fn take(&self) -> Option<ModelFields> {
            self.0.borrow_mut().take()
        }
        fn put(&self, fields: ModelFields) {
            *self.0.borrow_mut() = Some(fields);
        }
    }

    pub struct Recorder {
        pub slot: Slot,
    }

    struct Fields {
        names: std::slice::Iter<'static, &'static str>,
        current: Option<&'static str>,
        recorded: BTreeMap<String, Option<ModelFields>>,
    }

    impl<'de> MapAccess<'de> for Fields {
        type Error = ValueError;
        fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ValueError> {
            let Some(name) = self.names.next() else { return Ok(None) };
            self.current = Some(name);
            seed.deserialize(name.into_deserializer()).map(Some)
        }
        fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ValueError> {
            let slot = Slot::default();
            let value = seed.deserialize(Recorder { slot: slot.clone() })?;
            if let Some(name) = self.current.take() {
                self.recorded.insert(name.to_string(), slot.take());
            }
            Ok(value)
        }
    }

    /// `n` placeholder elements, each recorded into the same slot (a list of structs: the
    /// struct's fields).
    struct Elements {
        left: usize,
        slot: Slot,
    }

    impl<'de> SeqAccess<'de> for Elements {
        type Error = ValueError;
        fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, ValueError> {
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            seed.deserialize(Recorder { slot: self.slot.clone() }).map(Some)
        }
    }

    /// One placeholder entry `"k" = <value>`.
    struct Entry {
        key_sent: bool,
        done: bool,
        slot: Slot,
    }

    impl<'de> MapAccess<'de> for Entry {
        type Error = ValueError;
        fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ValueError> {
            if self.key_sent {
                return Ok(None);
            }
            self.key_sent = true;
            seed.deserialize("k".into_deserializer()).map(Some)
        }
        fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ValueError> {
            if self.done {
                return Err(de::Error::custom("one entry only"));
            }
            self.done = true;
            seed.deserialize(Recorder { slot: self.slot.clone() })
        }
    }

    impl<'de> de::Deserializer<'de> for Recorder {
        type Error = ValueError;

        fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_unit()
        }
        fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_bool(false)
        }
        fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_i64(0)
        }
        fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_u64(0)
        }
        fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_f64(0.0)
        }
        fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_char('x')
        }
        fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_str("")
        }
        fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_bytes(&[])
        }
        fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_some(self)
        }
        fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_unit()
        }
        fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, ValueError> {
            v.visit_unit()
        }
        fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, ValueError> {
            v.visit_newtype_struct(self)
        }
        fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_seq(Elements { left: 1, slot: self.slot })
        }
        fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, ValueError> {
            v.visit_seq(Elements { left: len, slot: self.slot })
        }
        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            len: usize,
            v: V,
        ) -> Result<V::Value, ValueError> {
            self.deserialize_tuple(len, v)
        }
        fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_map(Entry { key_sent: false, done: false, slot: self.slot })
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, ValueError> {
            let mut access = Fields { names: fields.iter(), current: None, recorded: BTreeMap::new() };
            let value = v.visit_map(&mut access)?;
            // Fields the visitor did not ask a value for are still fields.
            let mut recorded = access.recorded;
            for name in fields {
                recorded.entry(name.to_string()).or_insert(None);
            }
            self.slot.put(ModelFields(recorded));
            Ok(value)
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, ValueError> {
            let first = variants.first().copied().unwrap_or_default();
            v.visit_enum(first.into_deserializer())
        }
        fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_str("")
        }
        fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_unit()
        }

        fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_f64(0.0)
        }
        fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_str("")
        }
        fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
            v.visit_bytes(&[])
        }
        placeholder_ints!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i128
            deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u128);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, NestedBlock, Nesting, Schema};
    use crate::framework::timeouts::{Timeouts, timeouts_block};
    use serde::Deserialize;

    #[derive(Deserialize, Serialize)]
    struct Inner {
        step: i64,
        #[serde(rename = "pause")]
        pause_seconds: Option<u32>,
    }

    #[derive(Deserialize, Serialize)]
    enum Mode {
        #[serde(rename = "remove")]
        Remove,
    }

    #[derive(Deserialize, Serialize)]
    #[allow(dead_code)]
    struct M {
        id: Attr<String>,
        name: String,
        mode: Mode,
        ratio: f32,
        tags: Option<BTreeMap<String, String>>,
        ramp: Option<Inner>,
        steps: Attr<Vec<Inner>>,
        #[serde(default, skip_serializing)]
        secret: Option<String>,
        #[serde(skip)]
        cache: u8,
        timeouts: Option<Timeouts>,
    }

    fn names(f: &ModelFields) -> Vec<&str> {
        f.0.keys().map(String::as_str).collect()
    }

    #[test]
    fn the_recording_decode_names_fields_as_serde_does() {
        let shape = shape_of::<M>().unwrap();
        let reads = &shape.reads;
        assert_eq!(
            names(reads),
            ["id", "mode", "name", "ramp", "ratio", "secret", "steps", "tags", "timeouts"],
            "skip leaves `cache` out"
        );
        assert_eq!(names(reads.0["ramp"].as_ref().unwrap()), ["pause", "step"], "rename counts");
        assert_eq!(names(reads.0["steps"].as_ref().unwrap()), ["pause", "step"], "through Attr and a list");
        assert_eq!(reads.0["tags"], None, "a map of strings holds no struct");
        let writes = shape.writes.unwrap();
        assert!(!writes.0.contains_key("secret"), "skip_serializing fields are not written");
        assert_eq!(names(writes.0["steps"].as_ref().unwrap()), ["pause", "step"]);
    }

    fn schema() -> Schema {
        Schema::new(
            "t",
            vec![
                Attribute::string("id").computed(),
                Attribute::string("name").required(),
                Attribute::string("mode").optional(),
                Attribute::number("ratio").optional(),
                Attribute::new("tags", crate::protocol::value::Type::map(crate::protocol::value::Type::String))
                    .optional(),
                Attribute::nested(
                    "steps",
                    Nesting::List,
                    vec![Attribute::number("step").computed(), Attribute::number("pause").computed()],
                )
                .computed(),
                Attribute::string("secret").optional().write_only(),
            ],
        )
        .with_block(NestedBlock::single(
            "ramp",
            "",
            vec![Attribute::number("step").required(), Attribute::number("pause").optional()],
        ))
        .with_block(timeouts_block(&[Op::Create]))
    }

    #[test]
    fn a_matching_model_has_no_differences_and_a_misspelled_field_is_named() {
        let shape = shape_of::<M>().unwrap();
        assert_eq!(differences(&schema().block, &shape.reads, Coverage::All), Vec::<String>::new());

        // A nested misspelling: the model reads `pause`, the schema says `pause_seconds`.
        let mut s = schema();
        s.block.blocks[0].block.attributes[1].name = "pause_seconds".into();
        assert_eq!(
            differences(&s.block, &shape.reads, Coverage::All),
            [
                "ramp.pause_seconds: a schema attribute or block the model has no field for",
                "ramp.pause: a model field that is no schema attribute or block"
            ]
        );
        // Inside a nested attribute too.
        let mut s = schema();
        if let AttrKind::Nested(_, attrs) = &mut s.block.attributes[5].kind {
            attrs[0].name = "stepp".into();
        }
        assert_eq!(differences(&s.block, &shape.reads, Coverage::All).len(), 2);
    }

    #[test]
    fn a_configuration_model_may_leave_computed_only_attributes_out() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Config {
            name: String,
            mode: Option<String>,
        }
        let fields = reads_of::<Config>().unwrap();
        let block = Schema::new(
            "t",
            vec![
                Attribute::string("name").required(),
                Attribute::string("mode").optional(),
                Attribute::string("out").computed(),
            ],
        )
        .block;
        assert!(differences(&block, &fields, Coverage::Configurable).is_empty());
        assert_eq!(differences(&block, &fields, Coverage::All).len(), 1);
        let block =
            Schema::new("t", vec![Attribute::string("name").required(), Attribute::string("moed").optional()]).block;
        assert_eq!(
            differences(&block, &fields, Coverage::Configurable),
            [
                "moed: a schema attribute or block the model has no field for",
                "mode: a model field that is no schema attribute or block"
            ]
        );
    }
}
