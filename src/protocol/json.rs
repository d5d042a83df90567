//! JSON decoding of stored state (UpgradeResourceState's `raw_state.json`), guided by the
//! current schema type: attributes the schema no longer has are ignored, missing ones are null.

use super::value::{Number, Type, Value};
use serde_json::Value as J;

pub fn decode(ty: &Type, bytes: &[u8]) -> Result<Value, String> {
    let json: J = serde_json::from_slice(bytes).map_err(|e| format!("malformed state JSON: {e}"))?;
    from_json(ty, json, "")
}

pub fn from_json(ty: &Type, json: J, path: &str) -> Result<Value, String> {
    let bad =
        |j: &J| format!("at {}: expected {}, found {j}", if path.is_empty() { "(root)" } else { path }, ty.to_json());
    Ok(match (ty, json) {
        (_, J::Null) => Value::Null,
        (Type::Dynamic, J::Object(mut m)) if m.contains_key("type") && m.contains_key("value") => {
            let concrete = Type::from_json(&m.remove("type").unwrap_or(J::Null))?;
            from_json(&concrete, m.remove("value").unwrap_or(J::Null), path)?
        }
        (Type::Bool, J::Bool(b)) => Value::Bool(b),
        (Type::Number, J::Number(n)) => Value::Number(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Number::Int(i),
            (None, _) if n.is_u64() => Number::Decimal(n.to_string()),
            (None, Some(f)) => Number::from_f64(f),
            (None, None) => Number::Decimal(n.to_string()),
        }),
        (Type::Number, J::String(s)) => Value::Number(Number::parse(&s).ok_or_else(|| bad(&J::String(s.clone())))?),
        (Type::String, J::String(s)) => Value::String(s),
        (Type::Bool, J::String(s)) if s == "true" || s == "false" => Value::Bool(s == "true"),
        (Type::List(et), J::Array(items)) => Value::List(items_of(et, items, path)?),
        (Type::Set(et), J::Array(items)) => Value::Set(items_of(et, items, path)?),
        (Type::Tuple(ts), J::Array(items)) if ts.len() == items.len() => Value::Tuple(
            ts.iter()
                .zip(items)
                .enumerate()
                .map(|(i, (t, j))| from_json(t, j, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Map(et), J::Object(m)) => Value::Map(
            m.into_iter()
                .map(|(k, j)| {
                    let v = from_json(et, j, &format!("{path}[{k:?}]"))?;
                    Ok((k, v))
                })
                .collect::<Result<_, String>>()?,
        ),
        (Type::Object(attrs), J::Object(mut m)) => Value::Object(
            attrs
                .iter()
                .map(|(name, at)| {
                    let j = m.remove(name).unwrap_or(J::Null);
                    Ok((name.clone(), from_json(at, j, &format!("{path}.{name}"))?))
                })
                .collect::<Result<_, String>>()?,
        ),
        (_, other) => return Err(bad(&other)),
    })
}

fn items_of(et: &Type, items: Vec<J>, path: &str) -> Result<Vec<Value>, String> {
    items.into_iter().enumerate().map(|(i, j)| from_json(et, j, &format!("{path}[{i}]"))).collect()
}
