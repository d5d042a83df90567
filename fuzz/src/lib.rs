//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use arbitrary::{Arbitrary, Unstructured};
use shard_provider::protocol::value::Type;
use std::collections::BTreeMap;

/// The value codecs' input: a type and the bytes to decode as that type, both from the fuzz
/// input. Two layouts, so that seeds can be written by hand and the fuzzer can still build
/// types structurally:
///
/// - input starting with `[` or `"`: the type in cty's JSON type notation, a NUL byte, then the
///   payload (`["list","string"]\0<msgpack>`); the type text goes through `Type::from_json`;
/// - anything else: the type is built from the leading bytes with `arbitrary` (depth at most
///   [`MAX_DEPTH`]) and the rest is the payload.
pub fn type_and_payload(data: &[u8]) -> Option<(Type, &[u8])> {
    match data.first() {
        Some(b'[' | b'"') => {
            let nul = data.iter().position(|b| *b == 0)?;
            let json: serde_json::Value = serde_json::from_slice(&data[..nul]).ok()?;
            let ty = Type::from_json(&json).ok()?;
            Some((ty, &data[nul + 1..]))
        }
        _ => {
            let mut u = Unstructured::new(data);
            let ty = arbitrary_type(&mut u, 0).ok()?;
            let used = data.len() - u.len();
            Some((ty, &data[used..]))
        }
    }
}

/// How deep [`arbitrary_type`] nests collections and structural types.
pub const MAX_DEPTH: u32 = 4;

/// A Terraform type from unstructured bytes.
pub fn arbitrary_type(u: &mut Unstructured, depth: u32) -> arbitrary::Result<Type> {
    let kinds = if depth >= MAX_DEPTH { 4 } else { 9 };
    Ok(match u.choose_index(kinds)? {
        0 => Type::Bool,
        1 => Type::Number,
        2 => Type::String,
        3 => Type::Dynamic,
        4 => Type::list(arbitrary_type(u, depth + 1)?),
        5 => Type::set(arbitrary_type(u, depth + 1)?),
        6 => Type::map(arbitrary_type(u, depth + 1)?),
        7 => {
            let mut attrs = BTreeMap::new();
            for _ in 0..u.int_in_range(0..=4)? {
                attrs.insert(attribute_name(u)?, arbitrary_type(u, depth + 1)?);
            }
            Type::Object(attrs)
        }
        _ => {
            let n = u.int_in_range(0..=3)?;
            Type::Tuple((0..n).map(|_| arbitrary_type(u, depth + 1)).collect::<arbitrary::Result<_>>()?)
        }
    })
}

/// Mostly names from a short list (so that payloads can hit them), sometimes any string.
fn attribute_name(u: &mut Unstructured) -> arbitrary::Result<String> {
    const NAMES: [&str; 6] = ["a", "b", "id", "name", "type", "value"];
    if u.ratio(3u8, 4u8)? { Ok(NAMES[u.choose_index(NAMES.len())?].to_string()) } else { String::arbitrary(u) }
}

/// `serde_json` first (hand-written seeds are JSON), else `arbitrary` over the same bytes.
pub fn json_or_arbitrary<'a, T>(data: &'a [u8]) -> Option<T>
where
    T: serde::de::DeserializeOwned + Arbitrary<'a>,
{
    match serde_json::from_slice(data) {
        Ok(t) => Some(t),
        Err(_) => T::arbitrary_take_rest(Unstructured::new(data)).ok(),
    }
}
