//! The msgpack encoding of Terraform values (cty's), as carried by `DynamicValue.msgpack`.
//!
//! - null is msgpack nil; unknown is extension type 0. Terraform 1.3+ may send a *refined*
//!   unknown as extension type 12 with a map payload; every extension code reads as unknown.
//! - numbers arrive as int, float or (too big/precise for both) decimal text.
//! - objects are maps that must carry every attribute; lists, sets and tuples are arrays.
//! - a `dynamic` value is a 2-array: its type as JSON bytes, then the value of that type; a
//!   null or unknown of no known type is bare. A `Value` does not carry its type, so
//!   [`decode_typed`] returns the concrete types found ([`DynamicTypes`]) for [`encode_typed`].

use super::value::{DynamicTypes, ELEMENT_SEGMENT, Number, Type, Value, WireNumber, attr_segment};
use rmpv::Value as Mp;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed msgpack: {0}")]
    Malformed(String),
    #[error("at {path}: expected {expected}, found {found}")]
    Mismatch { path: String, expected: String, found: String },
}

/// A value that does not fit its type (a provider bug), found by [`try_encode`].
#[derive(Debug, thiserror::Error)]
#[error("at {path}: {problem}")]
pub struct EncodeError {
    pub path: String,
    pub problem: String,
}

pub fn decode(ty: &Type, bytes: &[u8]) -> Result<Value, DecodeError> {
    decode_typed(ty, bytes).map(|(v, _)| v)
}

/// Like [`decode`], also returning the concrete types of the `dynamic` values inside, for
/// [`encode_typed`] to write a value derived from this one with the same types.
pub fn decode_typed(ty: &Type, bytes: &[u8]) -> Result<(Value, DynamicTypes), DecodeError> {
    let mut types = DynamicTypes::new();
    if bytes.is_empty() {
        return Ok((Value::Null, types));
    }
    check_well_formed(bytes)?;
    let mut rd = bytes;
    let mp = rmpv::decode::read_value(&mut rd).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let v = from_mp(ty, mp, &mut String::new(), &mut String::new(), &mut types)?;
    Ok((v, types))
}

/// Exactly one well-formed msgpack value, walked without building it. rmpv reads the reserved
/// marker 0xc1 as nil and ignores bytes after the value; a corrupt plan must not turn into a
/// null (which PlanResourceChange would read as "destroy"), so both are refused here.
fn check_well_formed(bytes: &[u8]) -> Result<(), DecodeError> {
    use rmp::Marker as M;
    let malformed = |what: String| DecodeError::Malformed(what);
    let mut rd = bytes;
    let take = |rd: &mut &[u8], n: usize| -> Result<u64, DecodeError> {
        if rd.len() < n {
            return Err(malformed("truncated value".into()));
        }
        let v = rd[..n].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        *rd = &rd[n..];
        Ok(v)
    };
    let skip = |rd: &mut &[u8], n: u64| -> Result<(), DecodeError> {
        let n = usize::try_from(n).map_err(|_| malformed("length out of range".into()))?;
        if rd.len() < n {
            return Err(malformed("truncated value".into()));
        }
        *rd = &rd[n..];
        Ok(())
    };
    // Values still to read; containers add their elements.
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let marker = rmp::decode::read_marker(&mut rd).map_err(|_| malformed("truncated value".into()))?;
        match marker {
            M::Reserved => return Err(malformed("reserved marker 0xc1".into())),
            M::FixPos(_) | M::FixNeg(_) | M::Null | M::True | M::False => {}
            M::U8 | M::I8 => skip(&mut rd, 1)?,
            M::U16 | M::I16 => skip(&mut rd, 2)?,
            M::U32 | M::I32 | M::F32 => skip(&mut rd, 4)?,
            M::U64 | M::I64 | M::F64 => skip(&mut rd, 8)?,
            M::FixStr(n) => skip(&mut rd, u64::from(n))?,
            M::Str8 | M::Bin8 => {
                let n = take(&mut rd, 1)?;
                skip(&mut rd, n)?
            }
            M::Str16 | M::Bin16 => {
                let n = take(&mut rd, 2)?;
                skip(&mut rd, n)?
            }
            M::Str32 | M::Bin32 => {
                let n = take(&mut rd, 4)?;
                skip(&mut rd, n)?
            }
            M::FixArray(n) => pending += u64::from(n),
            M::Array16 => pending += take(&mut rd, 2)?,
            M::Array32 => pending += take(&mut rd, 4)?,
            M::FixMap(n) => pending += 2 * u64::from(n),
            M::Map16 => pending += 2 * take(&mut rd, 2)?,
            M::Map32 => pending += 2 * take(&mut rd, 4)?,
            M::FixExt1 => skip(&mut rd, 2)?,
            M::FixExt2 => skip(&mut rd, 3)?,
            M::FixExt4 => skip(&mut rd, 5)?,
            M::FixExt8 => skip(&mut rd, 9)?,
            M::FixExt16 => skip(&mut rd, 17)?,
            M::Ext8 => {
                let n = take(&mut rd, 1)?;
                skip(&mut rd, n + 1)?
            }
            M::Ext16 => {
                let n = take(&mut rd, 2)?;
                skip(&mut rd, n + 1)?
            }
            M::Ext32 => {
                let n = take(&mut rd, 4)?;
                skip(&mut rd, n + 1)?
            }
        }
        // Every pending element needs at least one byte: a huge count in a short message is
        // refused here instead of being walked.
        if pending > rd.len() as u64 {
            return Err(malformed("truncated value".into()));
        }
    }
    if !rd.is_empty() {
        return Err(malformed(format!("{} bytes after the value", rd.len())));
    }
    Ok(())
}

fn mismatch(path: &str, expected: &Type, found: &Mp) -> DecodeError {
    DecodeError::Mismatch {
        path: if path.is_empty() { "(root)".into() } else { path.to_string() },
        expected: expected.to_json().to_string(),
        found: format!("{found}").chars().take(80).collect(),
    }
}

/// Runs `f` with `segment` appended to `path`, then restores it.
fn within<T>(path: &mut String, segment: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let len = path.len();
    path.push_str(segment);
    let out = f(path);
    path.truncate(len);
    out
}

/// `path` is where the value is (for messages), `tpath` where its type is in the schema type
/// (for [`DynamicTypes`]).
fn from_mp(
    ty: &Type,
    mp: Mp,
    path: &mut String,
    tpath: &mut String,
    types: &mut DynamicTypes,
) -> Result<Value, DecodeError> {
    match mp {
        Mp::Nil => return Ok(Value::Null),
        Mp::Ext(_, _) => return Ok(Value::Unknown),
        _ => {}
    }
    Ok(match (ty, mp) {
        (Type::Dynamic, Mp::Array(mut parts)) if parts.len() == 2 => {
            let val = parts.pop().unwrap_or(Mp::Nil);
            let ty_json = match parts.pop() {
                Some(Mp::Binary(b)) => b,
                Some(Mp::String(s)) => s.into_bytes(),
                other => return Err(mismatch(path, ty, &other.unwrap_or(Mp::Nil))),
            };
            let json: serde_json::Value =
                serde_json::from_slice(&ty_json).map_err(|e| DecodeError::Malformed(e.to_string()))?;
            let concrete = Type::from_json(&json).map_err(DecodeError::Malformed)?;
            types.insert(tpath, concrete.clone());
            from_mp(&concrete, val, path, tpath, types)?
        }
        (Type::Bool, Mp::Boolean(b)) => Value::Bool(b),
        (Type::Number, Mp::Integer(i)) => Value::Number(match i.as_i64() {
            Some(i) => Number::Int(i),
            None => Number::Decimal(i.to_string()),
        }),
        (Type::Number, Mp::F64(f)) => Value::Number(Number::from_f64(f)),
        (Type::Number, Mp::F32(f)) => Value::Number(Number::from_f64(f as f64)),
        (Type::Number, Mp::String(s)) => {
            let text = s.as_str().unwrap_or_default();
            match Number::parse(text) {
                Some(n) => Value::Number(n),
                None => return Err(mismatch(path, ty, &Mp::String(s))),
            }
        }
        (Type::String, Mp::String(s)) => match s.into_str() {
            Some(s) => Value::String(s),
            None => {
                return Err(DecodeError::Malformed(format!("{path}: string is not UTF-8")));
            }
        },
        (Type::List(et), Mp::Array(items)) => Value::List(elements(et, items, path, tpath, types)?),
        (Type::Set(et), Mp::Array(items)) => Value::Set(elements(et, items, path, tpath, types)?),
        (Type::Tuple(ts), Mp::Array(items)) if ts.len() == items.len() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (t, item)) in ts.iter().zip(items).enumerate() {
                let seg = format!("[{i}]");
                let v = within(path, &seg, |path| within(tpath, &seg, |tpath| from_mp(t, item, path, tpath, types)))?;
                out.push(v);
            }
            Value::Tuple(out)
        }
        (Type::Map(et), Mp::Map(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = map_key(k, path)?;
                let v = within(path, &format!("[{key:?}]"), |path| {
                    within(tpath, ELEMENT_SEGMENT, |tpath| from_mp(et, v, path, tpath, types))
                })?;
                out.insert(key, v);
            }
            Value::Map(out)
        }
        (Type::Object(attrs), Mp::Map(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = map_key(k, path)?;
                // Attributes the schema does not know are dropped rather than guessed at.
                let Some(at) = attrs.get(&key) else { continue };
                let v = within(path, &format!(".{key}"), |path| {
                    within(tpath, &attr_segment(&key), |tpath| from_mp(at, v, path, tpath, types))
                })?;
                out.insert(key, v);
            }
            for name in attrs.keys() {
                out.entry(name.clone()).or_insert(Value::Null);
            }
            Value::Object(out)
        }
        (ty, other) => return Err(mismatch(path, ty, &other)),
    })
}

fn map_key(k: Mp, path: &str) -> Result<String, DecodeError> {
    match k {
        Mp::String(s) => s.into_str().ok_or_else(|| DecodeError::Malformed(format!("{path}: map key is not UTF-8"))),
        other => Err(DecodeError::Malformed(format!("{path}: map key {other} is not a string"))),
    }
}

fn elements(
    et: &Type,
    items: Vec<Mp>,
    path: &mut String,
    tpath: &mut String,
    types: &mut DynamicTypes,
) -> Result<Vec<Value>, DecodeError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let v = within(path, &format!("[{i}]"), |path| {
            within(tpath, ELEMENT_SEGMENT, |tpath| from_mp(et, item, path, tpath, types))
        })?;
        out.push(v);
    }
    Ok(out)
}

/// Encodes `value` as type `ty`. Missing object attributes are written as nil, because
/// Terraform rejects an object that lacks any attribute of its type. `dynamic` values are written
/// with the type their value shows (see [`encode_typed`] to keep the types they arrived with).
///
/// The result is always well-formed msgpack: a value that does not fit its type (a provider bug)
/// is written as what it is, so that Terraform reports the mismatch; [`try_encode`] refuses it.
pub fn encode(ty: &Type, value: &Value) -> Vec<u8> {
    encode_typed(ty, value, &DynamicTypes::new())
}

/// Like [`encode`], writing each `dynamic` value with the type `types` recorded at its position
/// (by [`decode_typed`] or `json::decode_typed`) when the value fits that type. This is how a
/// typed null, an empty list of strings or an object with null attributes keeps its type.
pub fn encode_typed(ty: &Type, value: &Value, types: &DynamicTypes) -> Vec<u8> {
    let mut enc = Encoder { buf: Vec::with_capacity(256), types, local: BTreeMap::new(), error: None };
    enc.write(ty, value, &mut String::new(), &mut String::new());
    enc.buf
}

/// Like [`encode_typed`], but a value that does not fit its type is an error instead of bytes
/// Terraform would refuse.
pub fn try_encode(ty: &Type, value: &Value, types: &DynamicTypes) -> Result<Vec<u8>, EncodeError> {
    let mut enc = Encoder { buf: Vec::with_capacity(256), types, local: BTreeMap::new(), error: None };
    enc.write(ty, value, &mut String::new(), &mut String::new());
    match enc.error {
        Some(e) => Err(e),
        None => Ok(enc.buf),
    }
}

struct Encoder<'a> {
    buf: Vec<u8>,
    types: &'a DynamicTypes,
    /// Types inferred for the elements of a collection of `dynamic` being written, which cty
    /// requires to share one type (so a null element is a null of that type).
    local: BTreeMap<String, Type>,
    /// The first value found not to fit its type.
    error: Option<EncodeError>,
}

impl Encoder<'_> {
    fn problem(&mut self, path: &str, problem: String) {
        if self.error.is_none() {
            let path = if path.is_empty() { "(root)".into() } else { path.to_string() };
            self.error = Some(EncodeError { path, problem });
        }
    }

    fn nil(&mut self) {
        // Writing into a Vec cannot fail, so the io results here are ignored on purpose.
        let _ = rmp::encode::write_nil(&mut self.buf);
    }

    fn unknown(&mut self) {
        let _ = rmp::encode::write_ext_meta(&mut self.buf, 1, 0);
        self.buf.push(0);
    }

    fn number(&mut self, n: &Number) {
        use rmp::encode as e;
        match n.to_wire() {
            WireNumber::Int(i) => {
                let _ = e::write_sint(&mut self.buf, i);
            }
            WireNumber::UInt(u) => {
                let _ = e::write_uint(&mut self.buf, u);
            }
            WireNumber::Float(f) => {
                let _ = e::write_f64(&mut self.buf, f);
            }
            WireNumber::Text(s) => {
                let _ = e::write_str(&mut self.buf, &s);
            }
        }
    }

    fn write(&mut self, ty: &Type, value: &Value, path: &mut String, tpath: &mut String) {
        use rmp::encode as e;
        match (ty, value) {
            (Type::Dynamic, v) => self.dynamic(v, path, tpath),
            (_, Value::Null) => self.nil(),
            (_, Value::Unknown) => self.unknown(),
            (Type::Bool, Value::Bool(b)) => {
                let _ = e::write_bool(&mut self.buf, *b);
            }
            (Type::Number, Value::Number(n)) => self.number(n),
            (Type::String, Value::String(s)) => {
                let _ = e::write_str(&mut self.buf, s);
            }
            (Type::Object(attrs), Value::Object(m) | Value::Map(m)) => {
                if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                    self.problem(&format!("{path}.{extra}"), "the type has no such attribute".into());
                }
                let _ = e::write_map_len(&mut self.buf, attrs.len() as u32);
                for (name, at) in attrs {
                    let _ = e::write_str(&mut self.buf, name);
                    let v = m.get(name).unwrap_or(&Value::Null);
                    within(path, &format!(".{name}"), |path| {
                        within(tpath, &attr_segment(name), |tpath| self.write(at, v, path, tpath))
                    });
                }
            }
            (Type::Map(et), Value::Map(m) | Value::Object(m)) => {
                let saved = self.element_type(et, m.values(), tpath);
                let _ = e::write_map_len(&mut self.buf, m.len() as u32);
                for (k, v) in m {
                    let _ = e::write_str(&mut self.buf, k);
                    within(path, &format!("[{k:?}]"), |path| {
                        within(tpath, ELEMENT_SEGMENT, |tpath| self.write(et, v, path, tpath))
                    });
                }
                self.restore(saved);
            }
            // The array header and the elements written after it always agree: a tuple value of
            // another length than its type is a mismatch, written below as what it is.
            (Type::Tuple(ts), Value::Tuple(items) | Value::List(items)) if ts.len() == items.len() => {
                let _ = e::write_array_len(&mut self.buf, items.len() as u32);
                for (i, (t, item)) in ts.iter().zip(items).enumerate() {
                    let seg = format!("[{i}]");
                    within(path, &seg, |path| within(tpath, &seg, |tpath| self.write(t, item, path, tpath)));
                }
            }
            (Type::List(et) | Type::Set(et), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
                let saved = self.element_type(et, items, tpath);
                let _ = e::write_array_len(&mut self.buf, items.len() as u32);
                for (i, item) in items.iter().enumerate() {
                    within(path, &format!("[{i}]"), |path| {
                        within(tpath, ELEMENT_SEGMENT, |tpath| self.write(et, item, path, tpath))
                    });
                }
                self.restore(saved);
            }
            // A value that does not fit its type is a provider bug; encode what it is so Terraform
            // reports the mismatch instead of us panicking or writing something malformed.
            (_, v) => {
                let actual = v.infer_type();
                let problem = format!("a value of type {} does not fit {}", actual.to_json(), ty.to_json());
                self.problem(path, problem);
                self.write_inferred(&actual, v, path);
            }
        }
    }

    /// For a collection of `dynamic`, notes the one type its elements share (if they show one)
    /// for [`Encoder::dynamic`]; returns what to hand [`Encoder::restore`] afterwards.
    fn element_type<'v>(
        &mut self,
        et: &Type,
        items: impl IntoIterator<Item = &'v Value>,
        tpath: &str,
    ) -> Option<(String, Option<Type>)> {
        if *et != Type::Dynamic {
            return None;
        }
        let common = items.into_iter().map(Value::infer_type).try_fold(Type::Dynamic, Type::unify)?;
        let key = format!("{tpath}{ELEMENT_SEGMENT}");
        let previous = self.local.insert(key.clone(), common);
        Some((key, previous))
    }

    fn restore(&mut self, saved: Option<(String, Option<Type>)>) {
        if let Some((key, previous)) = saved {
            match previous {
                Some(t) => self.local.insert(key, t),
                None => self.local.remove(&key),
            };
        }
    }

    /// Writes a value whose type is not the schema's, as the type it shows. No recorded dynamic
    /// types apply here (the schema positions do not), so the type path starts afresh.
    fn write_inferred(&mut self, actual: &Type, v: &Value, path: &mut String) {
        let empty = DynamicTypes::new();
        let mut inner =
            Encoder { buf: std::mem::take(&mut self.buf), types: &empty, local: BTreeMap::new(), error: None };
        inner.write(actual, v, path, &mut String::from("(mismatch)"));
        self.buf = inner.buf;
    }

    /// A `dynamic` value: `[type JSON, value]`, except a null or unknown of no known type, which
    /// cty writes bare.
    fn dynamic(&mut self, v: &Value, path: &mut String, tpath: &mut String) {
        // The type recorded when decoding wins; then the one the collection's elements share.
        let recorded = [self.types.get(tpath), self.local.get(tpath)]
            .into_iter()
            .flatten()
            .find(|t| **t != Type::Dynamic && v.fits(t));
        let concrete = match (v, recorded) {
            (_, Some(t)) => t.clone(),
            (Value::Null, None) => return self.nil(),
            (Value::Unknown, None) => return self.unknown(),
            // Not null or unknown, so it shows a type (`dynamic` only inside it).
            (v, None) => v.infer_type(),
        };
        let _ = rmp::encode::write_array_len(&mut self.buf, 2);
        let _ = rmp::encode::write_bin(&mut self.buf, concrete.to_json().to_string().as_bytes());
        self.write(&concrete, v, path, tpath);
    }
}
