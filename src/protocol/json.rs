//! JSON decoding of stored state (UpgradeResourceState's `raw_state.json`), guided by the
//! current schema type: attributes the schema no longer has are ignored, missing ones are null.
//!
//! Decoding follows go-cty's `cty/json` unmarshaller, which is what wrote the state:
//! - numbers keep their exact decimal value (cty numbers are 512-bit floats; 0.1 is not an f64
//!   and 12345678901234567890 is not an i64), see [`parse`];
//! - where a string is expected, a JSON number gives its literal text and a bool "true"/"false";
//! - where a number is expected, a string holding a number is that number;
//! - where a bool is expected, the strings "true"/"1" and "false"/"0" are that bool;
//! - a `dynamic` value is `{"value": ..., "type": ...}`.

use super::value::{DynamicTypes, ELEMENT_SEGMENT, Number, Type, Value, attr_segment};
use serde_json::Value as J;

/// Decodes stored state JSON as type `ty`, numbers exactly.
pub fn decode(ty: &Type, bytes: &[u8]) -> Result<Value, String> {
    from_json(ty, parse(bytes)?, "")
}

/// Like [`decode`], also returning the concrete types of the `dynamic` values inside (for
/// `msgpack::encode_typed`).
pub fn decode_typed(ty: &Type, bytes: &[u8]) -> Result<(Value, DynamicTypes), String> {
    from_json_typed(ty, parse(bytes)?)
}

/// Converts parsed JSON to a value of type `ty`; `path` prefixes the positions in messages.
/// Use [`parse`] rather than `serde_json::from_slice` to get the JSON, or numbers that are not
/// i64, u64 or f64 will have been rounded already (they are recovered where serde_json's
/// shortest form of the float is the text that was written, as for 0.1).
pub fn from_json(ty: &Type, json: J, path: &str) -> Result<Value, String> {
    let mut types = DynamicTypes::new();
    convert(ty, json, &mut path.to_string(), &mut String::new(), &mut types)
}

/// Like [`from_json`], also returning the concrete types of the `dynamic` values inside.
pub fn from_json_typed(ty: &Type, json: J) -> Result<(Value, DynamicTypes), String> {
    let mut types = DynamicTypes::new();
    let v = convert(ty, json, &mut String::new(), &mut String::new(), &mut types)?;
    Ok((v, types))
}

/// Parses JSON like `serde_json::from_slice`, except that a number serde_json would not keep
/// exactly becomes a JSON string of its text, which [`from_json`] reads back as that number (or,
/// where a string is expected, as that text — what cty does with a number there).
///
/// Kept as numbers: integers that fit i64 or u64 and floats whose f64 is exactly the written
/// value, written as serde_json writes them (so `0.5` and `1e300`, but not `0.1`, `1.50` or
/// `123456789012345678901234567890`). serde_json's `arbitrary_precision` feature would do the
/// same for every number, but it changes serde_json for every crate in the build.
pub fn parse(bytes: &[u8]) -> Result<J, String> {
    // serde_json checks the syntax (and nesting depth) and words the errors; the reader below
    // can then rely on well-formed input.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| format!("malformed state JSON: {e}"))?;
    let mut r = Reader { s: bytes, i: 0 };
    let v = r.value()?;
    Ok(v)
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn err(&self) -> String {
        format!("malformed state JSON at byte {}", self.i)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn literal(&mut self, word: &[u8], v: J) -> Result<J, String> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err())
        }
    }

    fn value(&mut self) -> Result<J, String> {
        match self.peek().ok_or_else(|| self.err())? {
            b'n' => self.literal(b"null", J::Null),
            b't' => self.literal(b"true", J::Bool(true)),
            b'f' => self.literal(b"false", J::Bool(false)),
            b'"' => self.string().map(J::String),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(J::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(J::Array(items));
                        }
                        _ => return Err(self.err()),
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut members = serde_json::Map::new();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(J::Object(members));
                }
                loop {
                    if self.peek() != Some(b'"') {
                        return Err(self.err());
                    }
                    let key = self.string()?;
                    if self.peek() != Some(b':') {
                        return Err(self.err());
                    }
                    self.i += 1;
                    let v = self.value()?;
                    members.insert(key, v);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(J::Object(members));
                        }
                        _ => return Err(self.err()),
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err())?;
                Ok(number(text))
            }
            _ => Err(self.err()),
        }
    }

    /// A string token, escapes decoded by serde_json.
    fn string(&mut self) -> Result<String, String> {
        let start = self.i;
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return serde_json::from_slice(&self.s[start..self.i]).map_err(|e| e.to_string());
                }
                _ => self.i += 1,
            }
        }
        Err(self.err())
    }
}

/// A JSON number token: a serde_json number when that is exact (see [`parse`]), else its text.
fn number(text: &str) -> J {
    if let Ok(n) = text.parse::<serde_json::Number>() {
        let exact = n.is_i64() || n.is_u64() || matches!(Number::parse(text), Some(Number::Float(_)));
        if exact && n.to_string() == text {
            return J::Number(n);
        }
    }
    J::String(text.to_string())
}

/// A serde_json number as a Terraform number, as exactly as it still can be.
fn from_serde_number(n: &serde_json::Number) -> Number {
    if let Some(i) = n.as_i64() {
        return Number::Int(i);
    }
    if n.is_u64() {
        return Number::Decimal(n.to_string());
    }
    // A float: its shortest text is what was written whenever that had at most 17 digits.
    Number::parse(&n.to_string()).unwrap_or_else(|| Number::from_f64(n.as_f64().unwrap_or(f64::NAN)))
}

fn convert(
    ty: &Type,
    json: J,
    path: &mut String,
    tpath: &mut String,
    types: &mut DynamicTypes,
) -> Result<Value, String> {
    let bad = |j: &J, path: &str| {
        let found: String = j.to_string().chars().take(80).collect();
        format!("at {}: expected {}, found {found}", if path.is_empty() { "(root)" } else { path }, ty.to_json())
    };
    let mut within = |seg: &str, tseg: &str, ty: &Type, j: J| {
        let (len, tlen) = (path.len(), tpath.len());
        path.push_str(seg);
        tpath.push_str(tseg);
        let out = convert(ty, j, path, tpath, types);
        path.truncate(len);
        tpath.truncate(tlen);
        out
    };
    Ok(match (ty, json) {
        (_, J::Null) => Value::Null,
        (Type::Dynamic, J::Object(mut m)) if m.contains_key("type") && m.contains_key("value") => {
            let concrete = Type::from_json(&m.remove("type").unwrap_or(J::Null))?;
            let v = within("", "", &concrete, m.remove("value").unwrap_or(J::Null))?;
            types.insert(tpath, concrete);
            v
        }
        (Type::Bool, J::Bool(b)) => Value::Bool(b),
        // cty converts a string to a bool: "true" or "1", "false" or "0".
        (Type::Bool, J::String(s)) => match s.as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(bad(&J::String(s), path)),
        },
        (Type::Number, J::Number(n)) => Value::Number(from_serde_number(&n)),
        (Type::Number, J::String(s)) => match Number::parse(&s) {
            Some(n) => Value::Number(n),
            None => return Err(bad(&J::String(s), path)),
        },
        (Type::String, J::String(s)) => Value::String(s),
        // cty keeps a number's literal text where a string is expected.
        (Type::String, J::Number(n)) => Value::String(n.to_string()),
        (Type::String, J::Bool(b)) => Value::String(b.to_string()),
        (Type::List(et), J::Array(items)) => Value::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, j)| within(&format!("[{i}]"), ELEMENT_SEGMENT, et, j))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Set(et), J::Array(items)) => Value::Set(
            items
                .into_iter()
                .enumerate()
                .map(|(i, j)| within(&format!("[{i}]"), ELEMENT_SEGMENT, et, j))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Tuple(ts), J::Array(items)) if ts.len() == items.len() => Value::Tuple(
            ts.iter()
                .zip(items)
                .enumerate()
                .map(|(i, (t, j))| {
                    let seg = format!("[{i}]");
                    within(&seg, &seg, t, j)
                })
                .collect::<Result<_, _>>()?,
        ),
        (Type::Map(et), J::Object(m)) => Value::Map(
            m.into_iter()
                .map(|(k, j)| {
                    let v = within(&format!("[{k:?}]"), ELEMENT_SEGMENT, et, j)?;
                    Ok((k, v))
                })
                .collect::<Result<_, String>>()?,
        ),
        (Type::Object(attrs), J::Object(mut m)) => Value::Object(
            attrs
                .iter()
                .map(|(name, at)| {
                    let j = m.remove(name).unwrap_or(J::Null);
                    Ok((name.clone(), within(&format!(".{name}"), &attr_segment(name), at, j)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        (_, other) => return Err(bad(&other, path)),
    })
}
