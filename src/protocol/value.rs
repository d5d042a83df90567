//! Terraform's value model (cty) as plain Rust data: types, numbers and values that may be null
//! or unknown at any depth. The msgpack and JSON codecs translate these to and from the wire.

use std::collections::BTreeMap;
use std::fmt;

/// A Terraform type constraint. Serialised as cty's JSON type notation in schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    Number,
    String,
    /// `dynamic`: the concrete type travels with the value.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

impl Type {
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }
    pub fn object<I: IntoIterator<Item = (S, Type)>, S: Into<String>>(attrs: I) -> Type {
        Type::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// cty's JSON type notation, e.g. `"string"` or `["list","number"]`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Value as J, json};
        match self {
            Type::Bool => J::from("bool"),
            Type::Number => J::from("number"),
            Type::String => J::from("string"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Object(attrs) => {
                let m: serde_json::Map<String, J> = attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
                json!(["object", m])
            }
            Type::Tuple(ts) => json!(["tuple", ts.iter().map(Type::to_json).collect::<Vec<_>>()]),
        }
    }

    /// The most specific type both `a` and `b` are, where `dynamic` stands for "not known yet":
    /// `list(dynamic)` and `list(string)` give `list(string)`; `string` and `number` give `None`.
    pub fn unify(a: Type, b: Type) -> Option<Type> {
        Some(match (a, b) {
            (Type::Dynamic, t) | (t, Type::Dynamic) => t,
            (Type::List(x), Type::List(y)) => Type::list(Type::unify(*x, *y)?),
            (Type::Set(x), Type::Set(y)) => Type::set(Type::unify(*x, *y)?),
            (Type::Map(x), Type::Map(y)) => Type::map(Type::unify(*x, *y)?),
            (Type::Object(x), Type::Object(mut y)) if x.len() == y.len() => {
                let mut out = BTreeMap::new();
                for (k, t) in x {
                    let other = y.remove(&k)?;
                    out.insert(k, Type::unify(t, other)?);
                }
                Type::Object(out)
            }
            (Type::Tuple(x), Type::Tuple(y)) if x.len() == y.len() => {
                Type::Tuple(x.into_iter().zip(y).map(|(a, b)| Type::unify(a, b)).collect::<Option<_>>()?)
            }
            (a, b) if a == b => a,
            _ => return None,
        })
    }

    pub fn from_json(v: &serde_json::Value) -> Result<Type, String> {
        use serde_json::Value as J;
        match v {
            J::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(format!("unknown primitive type {other:?}")),
            },
            J::Array(parts) if parts.len() >= 2 => {
                let kind = parts[0].as_str().ok_or("type kind must be a string")?;
                match kind {
                    "list" => Ok(Type::list(Type::from_json(&parts[1])?)),
                    "set" => Ok(Type::set(Type::from_json(&parts[1])?)),
                    "map" => Ok(Type::map(Type::from_json(&parts[1])?)),
                    "object" => {
                        let attrs = parts[1].as_object().ok_or("object attributes must be a map")?;
                        let mut out = BTreeMap::new();
                        for (k, t) in attrs {
                            out.insert(k.clone(), Type::from_json(t)?);
                        }
                        Ok(Type::Object(out))
                    }
                    "tuple" => {
                        let elems = parts[1].as_array().ok_or("tuple elements must be a list")?;
                        Ok(Type::Tuple(elems.iter().map(Type::from_json).collect::<Result<_, _>>()?))
                    }
                    other => Err(format!("unknown type kind {other:?}")),
                }
            }
            other => Err(format!("malformed type {other}")),
        }
    }
}

/// A Terraform number. cty numbers are 512-bit binary floats parsed from decimal text, so a
/// number is kept as an `Int`, as a `Float` only when that f64 is *exactly* its value (0.5, not
/// 0.1), and otherwise as its decimal text (0.1, 18446744073709551616, 1e400). Equality compares
/// the exact values, whatever the representation.
#[derive(Debug, Clone)]
pub enum Number {
    Int(i64),
    Float(f64),
    /// Arbitrary-precision decimal text, e.g. "18446744073709551616" or "0.1000000000000000000001".
    Decimal(String),
}

/// How a number goes onto the wire, chosen like cty's msgpack encoder: an integer when it is
/// one that fits, a float when that is exact, the decimal text otherwise. Never a rounded float.
#[derive(Debug, Clone, PartialEq)]
pub enum WireNumber {
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
}

/// The exact value of a decimal number: ±`digits` × 10^`exp`, with no leading or trailing zeros
/// in `digits` (empty for zero, which is never negative).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exact {
    negative: bool,
    digits: String,
    exp: i64,
}

impl Exact {
    /// Decimal text: optional sign, digits with an optional point, optional exponent.
    fn parse(text: &str) -> Option<Exact> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int.is_empty() && frac.is_empty()) || !(int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())) {
            return None;
        }
        let all = format!("{int}{frac}");
        let lead = all.trim_start_matches('0');
        let digits = lead.trim_end_matches('0');
        if digits.is_empty() {
            return Some(Exact { negative: false, digits: String::new(), exp: 0 });
        }
        let frac_len = i64::try_from(frac.len()).ok()?;
        let trailing = i64::try_from(lead.len() - digits.len()).ok()?;
        let exp = exp.checked_sub(frac_len)?.checked_add(trailing)?;
        Some(Exact { negative, digits: digits.to_string(), exp })
    }

    /// The exact value of a finite f64 (every f64 is a finite decimal of at most 1074 places).
    fn of_f64(f: f64) -> Option<Exact> {
        if !f.is_finite() {
            return None;
        }
        Exact::parse(&format!("{f:.1074}"))
    }

    fn is_integer(&self) -> bool {
        self.exp >= 0
    }

    /// The value as an i128 when it is an integer of at most 38 digits.
    fn to_i128(&self) -> Option<i128> {
        // Checked: a hostile exponent such as `1e9223372036854775807` must not overflow here
        // (nor ask for a string of 2^63 zeros below).
        if self.digits.is_empty() {
            return Some(0); // zero, however it was written ("0.000", "0e5")
        }
        let places = i64::try_from(self.digits.len()).ok()?.checked_add(self.exp)?;
        if !self.is_integer() || places > 38 {
            return None;
        }
        let zeros = usize::try_from(self.exp).ok()?;
        let magnitude: i128 = format!("{}{}", self.digits, "0".repeat(zeros)).parse().ok()?;
        Some(if self.negative { -magnitude } else { magnitude })
    }
}

impl Number {
    pub fn from_f64(f: f64) -> Number {
        if f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63) {
            Number::Int(f as i64)
        } else {
            Number::Float(f)
        }
    }

    /// Parses decimal text the way cty does (Terraform sends numbers that fit neither int64 nor
    /// float64 as text; stored state has them as JSON numbers of any length). The result is exact:
    /// an `Int` for integers that fit, a `Float` only when the f64 is exactly the written value,
    /// otherwise the text itself.
    pub fn parse(text: &str) -> Option<Number> {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Number::Int(i));
        }
        // Rust's float parser also takes "inf" and "NaN"; Terraform numbers are finite decimals.
        let exact = Exact::parse(text)?;
        if exact.is_integer() {
            if let Some(i) = exact.to_i128().and_then(|i| i64::try_from(i).ok()) {
                return Some(Number::Int(i));
            }
            return Some(Number::Decimal(text.to_string()));
        }
        match text.parse::<f64>() {
            Ok(f) if Exact::of_f64(f).as_ref() == Some(&exact) => Some(Number::Float(f)),
            _ => Some(Number::Decimal(text.to_string())),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(_) | Number::Decimal(_) => None,
        }
    }

    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Float(f) => *f,
            Number::Decimal(s) => s.parse().unwrap_or(f64::NAN),
        }
    }

    fn exact(&self) -> Option<Exact> {
        match self {
            Number::Int(i) => Exact::parse(&i.to_string()),
            Number::Float(f) => Exact::of_f64(*f),
            Number::Decimal(s) => Exact::parse(s),
        }
    }

    /// The wire form cty's msgpack encoder would choose for this value.
    pub fn to_wire(&self) -> WireNumber {
        match self {
            Number::Int(i) => return WireNumber::Int(*i),
            // Infinities are what cty sends as floats too; NaN is no Terraform number at all.
            Number::Float(f) if !f.is_finite() => return WireNumber::Float(*f),
            Number::Float(f) if f.fract() != 0.0 => return WireNumber::Float(*f),
            _ => {}
        }
        let Some(exact) = self.exact() else { return WireNumber::Text(self.to_string()) };
        if let Some(i) = exact.to_i128() {
            if let Ok(i) = i64::try_from(i) {
                return WireNumber::Int(i);
            }
            if let Ok(u) = u64::try_from(i) {
                return WireNumber::UInt(u);
            }
        }
        match self {
            Number::Float(f) => WireNumber::Text(format!("{f:.0}")),
            Number::Decimal(s) => match Number::parse(s) {
                Some(Number::Float(f)) => WireNumber::Float(f),
                _ => WireNumber::Text(s.clone()),
            },
            Number::Int(_) => unreachable!("handled above"),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a.to_bits() == b.to_bits() || a == b,
            (Number::Decimal(a), Number::Decimal(b)) if a == b => true,
            _ => match (self.exact(), other.exact()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Decimal(s) => f.write_str(s),
        }
    }
}

/// A Terraform value. `Unknown` is "known after apply"; refinements Terraform attaches to
/// unknowns are accepted on input and not reproduced (they are optional hints).
///
/// Equality is cty's: sets are equal when they hold the same elements in any order, numbers when
/// their values are (whatever their representation).
#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Null,
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Tuple(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) | (Value::Unknown, Value::Unknown) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => a == b,
            // A set has no order (cty sorts its elements by its own rules, not ours), and holds
            // each element once.
            (Value::Set(a), Value::Set(b)) => a.iter().all(|x| b.contains(x)) && b.iter().all(|y| a.contains(y)),
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }
    /// True when no unknown appears anywhere inside.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => v.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// An object's attribute, or a map's element; `Null` for anything else.
    pub fn get(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Object(m) | Value::Map(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self {
            Value::Object(m) | Value::Map(m) => m.get_mut(name),
            _ => None,
        }
    }
    /// Elements of a list, set or tuple (empty for anything else).
    pub fn elements(&self) -> &[Value] {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => v,
            _ => &[],
        }
    }

    /// The most specific type this value can be encoded as, for `dynamic` attributes whose type
    /// was not recorded when decoding (see [`DynamicTypes`]). Nulls, unknowns and empty
    /// collections say nothing of their type; the elements of a collection lend theirs to one
    /// another (`[{a = null}, {a = "x"}]` is a list of `object({a = string})`).
    pub fn infer_type(&self) -> Type {
        fn common<'a>(values: impl IntoIterator<Item = &'a Value>) -> Type {
            values
                .into_iter()
                .map(Value::infer_type)
                .try_fold(Type::Dynamic, Type::unify)
                // Elements that share no type cannot form a collection; a provider bug.
                .unwrap_or(Type::Dynamic)
        }
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(v) => Type::list(common(v)),
            Value::Set(v) => Type::set(common(v)),
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::infer_type).collect()),
            Value::Map(m) => Type::map(common(m.values())),
            Value::Object(m) => Type::Object(m.iter().map(|(k, v)| (k.clone(), v.infer_type())).collect()),
        }
    }

    /// A value of type `ty` with every nested object attribute present (null where missing),
    /// which is what Terraform requires of every object it receives.
    pub fn conform(self, ty: &Type) -> Value {
        match (self, ty) {
            (Value::Object(mut m) | Value::Map(mut m), Type::Object(attrs)) => {
                let mut out = BTreeMap::new();
                for (name, at) in attrs {
                    let v = m.remove(name).unwrap_or(Value::Null);
                    out.insert(name.clone(), v.conform(at));
                }
                Value::Object(out)
            }
            (Value::List(v) | Value::Set(v), Type::Set(t)) => Value::Set(v.into_iter().map(|e| e.conform(t)).collect()),
            (Value::List(v) | Value::Set(v), Type::List(t)) => {
                Value::List(v.into_iter().map(|e| e.conform(t)).collect())
            }
            (Value::Map(m) | Value::Object(m), Type::Map(t)) => {
                Value::Map(m.into_iter().map(|(k, e)| (k, e.conform(t))).collect())
            }
            (Value::Tuple(v) | Value::List(v), Type::Tuple(ts)) if v.len() == ts.len() => {
                Value::Tuple(v.into_iter().zip(ts).map(|(e, t)| e.conform(t)).collect())
            }
            (v, _) => v,
        }
    }

    /// True when this value can be encoded as type `ty` as it is (nulls and unknowns fit any type).
    pub fn fits(&self, ty: &Type) -> bool {
        match (self, ty) {
            (Value::Null | Value::Unknown, _) | (_, Type::Dynamic) => true,
            (Value::Bool(_), Type::Bool) | (Value::Number(_), Type::Number) | (Value::String(_), Type::String) => true,
            (Value::List(v), Type::List(t)) | (Value::Set(v), Type::Set(t)) => v.iter().all(|e| e.fits(t)),
            (Value::Map(m), Type::Map(t)) => m.values().all(|e| e.fits(t)),
            (Value::Tuple(v), Type::Tuple(ts)) => v.len() == ts.len() && v.iter().zip(ts).all(|(e, t)| e.fits(t)),
            (Value::Object(m), Type::Object(attrs)) => {
                m.keys().all(|k| attrs.contains_key(k)) && attrs.iter().all(|(k, t)| m.get(k).is_none_or(|e| e.fits(t)))
            }
            _ => false,
        }
    }
}

/// The concrete types found at `dynamic` positions while decoding a value, so that a value derived
/// from it encodes with the same types. A value alone cannot say that it is a *string* null, an
/// empty list *of strings* or an object whose null attribute is a number; Terraform compares
/// types as well as values, and cty writes a dynamic value as `[type, value]`.
///
/// Positions are paths in the schema type: `."name"` for an object attribute, `[*]` for the
/// elements of a list, set or map (which share one type), `[i]` for a tuple element. Inside a
/// dynamic value, the path goes on into its concrete type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DynamicTypes(BTreeMap<String, Type>);

impl DynamicTypes {
    pub fn new() -> DynamicTypes {
        DynamicTypes::default()
    }
    pub fn get(&self, path: &str) -> Option<&Type> {
        self.0.get(path)
    }
    /// Records the type at `path`; `dynamic` itself (an untyped null or unknown) records nothing.
    pub fn insert(&mut self, path: &str, ty: Type) {
        if ty != Type::Dynamic {
            self.0.insert(path.to_string(), ty);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Forgets the type at `path` and at every position inside it, e.g. for a computed dynamic
    /// attribute planned as unknown whose type may change on apply.
    pub fn remove(&mut self, path: &str) {
        self.0.retain(|k, _| !k.starts_with(path));
    }
    /// Adds the positions of `other` this one does not have (this one wins where both do).
    pub fn merge(&mut self, other: &DynamicTypes) {
        for (k, t) in &other.0 {
            self.0.entry(k.clone()).or_insert_with(|| t.clone());
        }
    }
}

/// Path segments of [`DynamicTypes`].
pub(crate) fn attr_segment(name: &str) -> String {
    format!(".{name:?}")
}
pub(crate) const ELEMENT_SEGMENT: &str = "[*]";

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::int(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz target `number`: zero written with a fraction or an exponent was kept as
    /// decimal text and went onto the wire as the string "0.000" instead of the integer 0.
    #[test]
    fn zero_written_any_way_is_the_integer_zero() {
        for text in ["0.000", "0.0", "-0.0", "0e5", "-0E-3", ".0", "00.00"] {
            let n = Number::parse(text).unwrap();
            assert!(matches!(n, Number::Int(0)), "{text:?} read as {n:?}");
            assert_eq!(n.to_wire(), WireNumber::Int(0), "{text:?}");
        }
        assert_eq!(Number::Decimal("0.000".into()).to_wire(), WireNumber::Int(0));
    }
}
