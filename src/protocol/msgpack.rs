//! The msgpack encoding of Terraform values (cty's), as carried by `DynamicValue.msgpack`.
//!
//! - null is msgpack nil; unknown is extension type 0. Terraform 1.3+ may send a *refined*
//!   unknown as extension type 12 with a map payload; every extension code reads as unknown.
//! - numbers arrive as int, float or (too big/precise for both) decimal text.
//! - objects are maps that must carry every attribute; lists, sets and tuples are arrays.
//! - a `dynamic` value is a 2-array: its type as JSON bytes, then the value of that type.

use super::value::{Number, Type, Value, WireNumber};
use rmpv::Value as Mp;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed msgpack: {0}")]
    Malformed(String),
    #[error("at {path}: expected {expected}, found {found}")]
    Mismatch { path: String, expected: String, found: String },
}

pub fn decode(ty: &Type, bytes: &[u8]) -> Result<Value, DecodeError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let mut rd = bytes;
    let mp = rmpv::decode::read_value(&mut rd).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    from_mp(ty, mp, &mut String::new())
}

fn mismatch(path: &str, expected: &Type, found: &Mp) -> DecodeError {
    DecodeError::Mismatch {
        path: if path.is_empty() { "(root)".into() } else { path.to_string() },
        expected: expected.to_json().to_string(),
        found: format!("{found}").chars().take(80).collect(),
    }
}

fn from_mp(ty: &Type, mp: Mp, path: &mut String) -> Result<Value, DecodeError> {
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
            from_mp(&concrete, val, path)?
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
        (Type::List(et), Mp::Array(items)) => Value::List(elements(et, items, path)?),
        (Type::Set(et), Mp::Array(items)) => Value::Set(elements(et, items, path)?),
        (Type::Tuple(ts), Mp::Array(items)) if ts.len() == items.len() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (t, item)) in ts.iter().zip(items).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(from_mp(t, item, path)?);
                path.truncate(len);
            }
            Value::Tuple(out)
        }
        (Type::Map(et), Mp::Map(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = map_key(k, path)?;
                let len = path.len();
                path.push_str(&format!("[{key:?}]"));
                out.insert(key, from_mp(et, v, path)?);
                path.truncate(len);
            }
            Value::Map(out)
        }
        (Type::Object(attrs), Mp::Map(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = map_key(k, path)?;
                // Attributes the schema does not know are dropped rather than guessed at.
                let Some(at) = attrs.get(&key) else { continue };
                let len = path.len();
                path.push('.');
                path.push_str(&key);
                out.insert(key, from_mp(at, v, path)?);
                path.truncate(len);
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

fn elements(et: &Type, items: Vec<Mp>, path: &mut String) -> Result<Vec<Value>, DecodeError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        out.push(from_mp(et, item, path)?);
        path.truncate(len);
    }
    Ok(out)
}

/// Encodes `value` as type `ty`. Missing object attributes are written as nil, because
/// Terraform rejects an object that lacks any attribute of its type.
pub fn encode(ty: &Type, value: &Value) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    write(&mut buf, ty, value);
    buf
}

fn write(buf: &mut Vec<u8>, ty: &Type, value: &Value) {
    use rmp::encode as e;
    // Writing into a Vec cannot fail, so the io results below are ignored on purpose.
    match (ty, value) {
        (_, Value::Null) => {
            let _ = e::write_nil(buf);
        }
        (_, Value::Unknown) => {
            let _ = e::write_ext_meta(buf, 1, 0);
            buf.push(0);
        }
        (Type::Dynamic, v) => {
            let concrete = v.infer_type();
            let _ = e::write_array_len(buf, 2);
            let _ = e::write_bin(buf, concrete.to_json().to_string().as_bytes());
            write(buf, &concrete, v);
        }
        (_, Value::Bool(b)) => {
            let _ = e::write_bool(buf, *b);
        }
        // As cty writes numbers: an integer when it is one that fits, a float when that is
        // exact, the decimal text otherwise (never a rounded float).
        (_, Value::Number(n)) => match n.to_wire() {
            WireNumber::Int(i) => {
                let _ = e::write_sint(buf, i);
            }
            WireNumber::UInt(u) => {
                let _ = e::write_uint(buf, u);
            }
            WireNumber::Float(f) => {
                let _ = e::write_f64(buf, f);
            }
            WireNumber::Text(s) => {
                let _ = e::write_str(buf, &s);
            }
        },
        (_, Value::String(s)) => {
            let _ = e::write_str(buf, s);
        }
        (Type::Object(attrs), Value::Object(m) | Value::Map(m)) => {
            let _ = e::write_map_len(buf, attrs.len() as u32);
            for (name, at) in attrs {
                let _ = e::write_str(buf, name);
                write(buf, at, m.get(name).unwrap_or(&Value::Null));
            }
        }
        (Type::Map(et), Value::Map(m) | Value::Object(m)) => {
            let _ = e::write_map_len(buf, m.len() as u32);
            for (k, v) in m {
                let _ = e::write_str(buf, k);
                write(buf, et, v);
            }
        }
        // The array header and the elements written after it must agree: a tuple value of
        // another length than its type is a mismatch, written below as what it is.
        (Type::Tuple(ts), Value::Tuple(items) | Value::List(items)) if ts.len() == items.len() => {
            let _ = e::write_array_len(buf, items.len() as u32);
            for (t, item) in ts.iter().zip(items) {
                write(buf, t, item);
            }
        }
        (Type::List(et) | Type::Set(et), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
            let _ = e::write_array_len(buf, items.len() as u32);
            for item in items {
                write(buf, et, item);
            }
        }
        // A value that does not fit its type is a provider bug; encode what it is so Terraform
        // reports the mismatch instead of us panicking.
        (_, v) => write(buf, &v.infer_type(), v),
    }
}
